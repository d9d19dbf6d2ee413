"""A large WARC file cut into byte ranges, each read by its own task, with the same rows as one read of the file.

A range task [start, end) owns every record whose start lies in it: it finds the first record start at or after
`start` (range 0 starts at 0 and looks for nothing), reads on past `end` to finish its last record, and says where
the next record starts. Finding a record start from the middle of a file is a guess: a page can hold bytes that
look like one (a WARC served as text, a .warc.gz stored inside a record). So the guess is checked on the driver: a
range is valid only if it started where the valid range before it says the next record starts (`check_chain`);
one that did not is read again from that offset. The unsplit read is range 0 of a file cut once, so split and
unsplit give the same rows: a break that ends the whole file's read ends the chain, and ranges after it own nothing.
"""
import zlib
from dataclasses import dataclass

GZIP_MEMBER_START = b"\x1f\x8b\x08"  # gzip magic and deflate method: where a member (in Common Crawl, a record) starts
WARC_VERSION_LINES = (b"WARC/1.0", b"WARC/1.1")
_SCAN_PIECE_BYTES = 1 << 20  # read while looking for a record start; only a small tail is kept between pieces
_CHECKED_HEADER_BYTES = 64 * 1024  # a candidate's WARC header must end within this much (decompressed) data
_CHECKED_MEMBER_BYTES = 256 * 1024  # compressed bytes fed to check a gzip candidate's header
_KEPT_TAIL_BYTES = 16  # bytes kept between scan pieces, so a signature across two pieces is found


def plan_ranges(size: int | None, split_bytes: int) -> list[tuple[int, int | None]]:
    """[(start, end)] cutting a file of `size` bytes into the fewest equal ranges of at most split_bytes; end None =
    to the end of the file. An unknown size or split_bytes 0 is one range: the file read whole. Equal ranges, not
    split_bytes and a remainder: a small last range would leave the other cores idle while the one before it ends."""
    if not size or split_bytes <= 0 or size <= split_bytes:
        return [(0, None)]
    count = -(-size // split_bytes)
    starts = [k * size // count for k in range(count)]
    return [(start, starts[i + 1] if i + 1 < count else None) for i, start in enumerate(starts)]


def looks_like_record_header(head: bytes, max_lines: int) -> bool:
    """True if `head` begins with a WARC header: a version line, then header lines up to a blank line, among them
    WARC-Type and a numeric Content-Length."""
    lines = head.split(b"\n", max_lines + 1)
    if lines[0].rstrip(b"\r") not in WARC_VERSION_LINES:
        return False
    names = set()
    for line in lines[1:max_lines]:
        line = line.rstrip(b"\r")
        if not line:
            return b"warc-type" in names and b"content-length" in names
        name, colon, value = line.partition(b":")
        if not colon:
            return False
        name = name.strip().lower()
        if name == b"content-length" and not value.strip().isdigit():
            return False
        names.add(name)
    return False  # no blank line within the data: not a header we can check


def _gzip_head(data: bytes) -> bytes | None:
    """The first decompressed bytes of a gzip member starting at data[0], or None if it is no gzip member."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return decompressor.decompress(data, _CHECKED_HEADER_BYTES)
    except zlib.error:
        return None


class PrefixedStream:
    """Bytes already read, then the rest of a stream: the record reader starts at the record start found."""

    def __init__(self, prefix: bytes, stream):
        self.prefix = prefix
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self.prefix:
            return self.stream.read(size)
        if size < 0:
            data, self.prefix = self.prefix + self.stream.read(), b""
            return data
        data, self.prefix = self.prefix[:size], self.prefix[size:]
        return data

    def close(self) -> None:
        self.stream.close()

    def __getattr__(self, name):  # what the stream tells its reader (a remote stream's deadline flags)
        return getattr(self.stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Window:
    """A sliding view of a stream read from `start`: bytes are appended by piece and dropped once scanned."""

    def __init__(self, stream, start: int):
        self.stream = stream
        self.start = start  # file offset of data[0]
        self.data = b""
        self.at_eof = False

    def ensure(self, offset: int) -> None:
        """Read until the window holds the file's bytes up to `offset` (or the stream ends)."""
        pieces = [self.data]
        have = self.start + len(self.data)
        while have < offset and not self.at_eof:
            piece = self.stream.read(_SCAN_PIECE_BYTES)
            self.at_eof = not piece
            pieces.append(piece)
            have += len(piece)
        self.data = b"".join(pieces)

    def drop_before(self, offset: int) -> None:
        if offset > self.start:
            self.data = self.data[offset - self.start:]
            self.start = offset


def find_record_start(stream, stream_offset: int, start: int, end: int, compressed: bool,
                      max_header_lines: int) -> tuple[int | None, PrefixedStream | None]:
    """The first offset in [start, end) where a record seems to start, and a stream from there; (None, None) if
    none does. `stream` reads the file from stream_offset (start, or start - 1 for an uncompressed file, whose
    record starts follow a newline). A .warc.gz record starts a gzip member whose data begins with a WARC header;
    an uncompressed one is a WARC version line at a line start, followed by a WARC header."""
    window = _Window(stream, stream_offset)
    signature = GZIP_MEMBER_START if compressed else b"\nWARC/1."
    skip = 0 if compressed else 1  # the newline before an uncompressed record is not part of it
    scanned = stream_offset  # candidates before this offset were checked
    while scanned < end:
        window.drop_before(scanned)
        window.ensure(scanned + _SCAN_PIECE_BYTES)
        found = window.data.find(signature, scanned - window.start)
        if found < 0:
            if window.at_eof:
                return None, None
            scanned = max(scanned, window.start + len(window.data) - _KEPT_TAIL_BYTES)
            continue
        candidate = window.start + found + skip
        if candidate >= end:
            return None, None
        if candidate >= start and _is_record_start(window, candidate, compressed, max_header_lines):
            return candidate, PrefixedStream(window.data[candidate - window.start:], stream)
        scanned = window.start + found + 1
    return None, None


def _is_record_start(window: _Window, candidate: int, compressed: bool, max_header_lines: int) -> bool:
    window.ensure(candidate + (_CHECKED_MEMBER_BYTES if compressed else _CHECKED_HEADER_BYTES))
    data = window.data[candidate - window.start:]
    head = _gzip_head(data[:_CHECKED_MEMBER_BYTES]) if compressed else data[:_CHECKED_HEADER_BYTES]
    return head is not None and looks_like_record_header(head, max_header_lines)


@dataclass(frozen=True)
class RangeResult:
    """What a range task read: the record start it began at (None: it owns no record) and the first record start
    at or past its end where it stopped (None: the file's read ended inside it, at its end or at a break)."""

    first: int | None
    next_start: int | None


@dataclass(frozen=True)
class Fix:
    """A range to read again: from `first`, a record start the chain reached (None: it owns nothing)."""

    range_index: int
    first: int | None


def check_chain(ranges: list[tuple[int, int | None]], results: list[RangeResult]) -> Fix | None:
    """The first range of one file whose start is not where the valid ranges before it lead, or None if the
    chain holds: then the ranges together own exactly the records of the whole file's read."""
    reached: int | None = results[0].next_start  # range 0 starts at offset 0, as the whole file's read does
    for index in range(1, len(ranges)):
        _, end = ranges[index]
        expected = reached if reached is not None and (end is None or reached < end) else None
        if results[index].first != expected:
            return Fix(index, expected)
        if expected is not None:
            reached = results[index].next_start
    return None
