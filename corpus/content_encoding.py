"""An HTTP body's Content-Encoding undone under a size cap, strictly: an encoded body must end where its
encoding says it ends, or it is undecodable (a body cut midway would otherwise become a shorter page)."""
import struct
import zlib

try:  # Google's binding: from 1.2 it caps a decompression's output (pyproject asks for >= 1.2)
    import brotli
except ImportError:  # brotli is a dependency; without it, `br` bodies are undecodable
    brotli = None

IDENTITY = "identity"


class Undecodable(Exception):
    """The body does not decode under its Content-Encoding (broken, truncated, or unknown)."""


class OverCap(Exception):
    """Decoding produced more bytes than the cap."""


def content_encodings(header: str | None) -> list[str]:
    """Content-Encoding values in the order they were applied, lowercased, without `identity`."""
    if not header:
        return []
    names = [name.strip().lower() for name in header.split(",")]
    return [name for name in names if name and name != IDENTITY]


def decode_body(body: bytes, encodings: list[str], max_bytes: int) -> bytes:
    """`body` with every encoding undone (the last applied first), at most max_bytes; raises
    Undecodable or OverCap. An empty body is empty under any encoding (a server's empty reply)."""
    for name in reversed(encodings):
        if not body:
            break
        decoder = _DECODERS.get(name)
        if decoder is None or (name == "br" and brotli is None):
            raise Undecodable(f"Content-Encoding {name} is not supported")
        body = decoder(body, max_bytes)
    return body


def _gzip(body: bytes, max_bytes: int) -> bytes:
    return _inflate(zlib.decompressobj(16 + zlib.MAX_WBITS), body, max_bytes, "gzip", _gzip_trailer)


def _deflate(body: bytes, max_bytes: int) -> bytes:
    """HTTP `deflate` is zlib-wrapped by the RFC and raw deflate from many servers; browsers accept both,
    telling them apart by the zlib header (compression method 8 and a header checksum divisible by 31)."""
    if len(body) >= 2 and body[0] & 0x0F == 8 and ((body[0] << 8) | body[1]) % 31 == 0:
        return _inflate(zlib.decompressobj(), body, max_bytes, "deflate", _zlib_trailer)
    return _inflate(zlib.decompressobj(-zlib.MAX_WBITS), body, max_bytes, "deflate", None)


def _inflate(decompressor, body: bytes, max_bytes: int, name: str, trailer_of) -> bytes:
    try:
        decoded = decompressor.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise Undecodable(f"Content-Encoding {name}: {error}") from None
    if len(decoded) > max_bytes:
        raise OverCap()
    if decompressor.eof:
        return decoded
    if trailer_of is not None and _ends_in_cut_trailer(decompressor, body, decoded, trailer_of):
        return decoded
    raise Undecodable(f"Content-Encoding {name}: the body ends before its compressed stream does (truncated)")


def _gzip_trailer(decoded: bytes) -> bytes:
    return struct.pack("<II", zlib.crc32(decoded), len(decoded) & 0xFFFFFFFF)


def _zlib_trailer(decoded: bytes) -> bytes:
    return struct.pack(">I", zlib.adler32(decoded))


def _ends_in_cut_trailer(decompressor, body: bytes, decoded: bytes, trailer_of) -> bool:
    """True if only (part of) the checksum trailer is missing: every compressed byte arrived, so the text is
    whole (warcio's own example-trunc.warc is a real page cut 2 bytes into its gzip trailer). Tested by
    handing zlib the missing trailer bytes, computed from the output: zlib then checks them and ends."""
    trailer = trailer_of(decoded)
    for present in range(len(trailer) - 1, -1, -1):
        if present and not body.endswith(trailer[:present]):
            continue
        probe = decompressor.copy()
        try:
            if not probe.decompress(trailer[present:], 1) and probe.eof:
                return True
        except zlib.error:
            continue
    return False


def _brotli(body: bytes, max_bytes: int) -> bytes:
    decompressor = brotli.Decompressor()
    try:
        decoded = decompressor.process(body, output_buffer_limit=max_bytes + 1)
    except brotli.error as error:
        raise Undecodable(f"Content-Encoding br: {error}") from None
    if len(decoded) > max_bytes or not decompressor.can_accept_more_data():
        raise OverCap()
    if not decompressor.is_finished():
        raise Undecodable("Content-Encoding br: the body ends before its compressed stream does (truncated)")
    return decoded


_DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli}
