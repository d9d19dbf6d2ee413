"""One WARC stream → one outcome per record: a document, or a drop with its reason.

Pure functions over warcio; no Spark here. The Spark wrapper (corpus.extract_stage) runs
`iter_warc_outcomes` once per WARC file and writes what it yields.
"""
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Callable, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed

from corpus.bounded_read import (HeaderLimitExceeded, OversizedHttpHeaders, install_bounded_parsers,
                                 read_bounded_line)
from corpus.config import ExtractConfig
from corpus.content_encoding import OverCap, Undecodable, content_encodings, decode_body
from corpus.extract import ExtractTimeout, decode_html
from corpus.ids import doc_id_for_location, doc_id_for_record

STAGE = "extract"

# Drop reasons of the extract stage, as funnel.json and the fate table spell them.
NOT_RESPONSE = "not_response"  # request, metadata, warcinfo, revisit, resource records
NOT_HTTP_200 = "not_http_200"  # redirects, errors, or no HTTP status line at all
NOT_HTML = "not_html"  # another content type, or binary bytes served as text/html
OVER_SIZE_CAP = "over_size_cap"
EMPTY_PAYLOAD = "empty_payload"
UNDECODABLE = "undecodable"  # no charset fits, or a broken, truncated or unknown Content-Encoding
OVERSIZED_HEADERS = "oversized_headers"  # HTTP headers over the line-length or line-count cap
RECORD_ERROR = "record_error"  # turning the record into an outcome raised (the exception type is in detail)
EXTRACTOR_EMPTY = "extractor_empty"  # trafilatura found no main text
EXTRACTOR_ERROR = "extractor_error"
EXTRACTOR_TIMEOUT = "extractor_timeout"
CORRUPT_WARC = "corrupt_warc"  # the file breaks off here; records before the break are kept
EMPTY_WARC = "empty_warc"  # a file with no record at all
UNREADABLE_WARC = "unreadable_warc"  # the file could not be opened or fetched

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BINARY_SIGNATURES = {b"%PDF": "PDF", b"\x89PNG": "PNG", b"GIF8": "GIF", b"\xff\xd8\xff": "JPEG",
                      b"PK\x03\x04": "ZIP", b"\x1f\x8b": "gzip", b"\x00\x00\x01\x00": "ICO"}
_HTTP_HEADER_ALLOWANCE = 64 * 1024  # a record's length includes its HTTP headers
_DETAIL_CHARS = 300
_QUOTED_BYTES_CHARS = 40  # at most this much of a stranger's bytes is quoted in a fate detail
_EARLIEST_FETCH_YEAR = 1991  # the first web page; a WARC-Date before it is no crawl's fetch time

OUTCOME_FIELDS = ("doc_id", "dataset", "url", "warc_file", "warc_offset", "warc_record_id",
                  "fetch_time", "charset", "text", "reason", "detail")


class _BoundedWarcIterator(ArchiveIterator):
    """warcio's iterator, WARC only, reading every header line under the caps (corpus.bounded_read).

    It also remembers whether the stream stopped mid gzip member: warcio then ends silently."""

    stopped_mid_gzip_member = False

    def __init__(self, stream, max_line_bytes: int, max_lines: int):
        super().__init__(stream)
        self.known_format = "warc"  # ARC is not read; its parser would read lines with no cap
        self.max_line_bytes = max_line_bytes
        self.max_lines = max_lines
        install_bounded_parsers(self.loader, max_line_bytes, max_lines)

    def _consume_blanklines(self):
        """warcio's own, under the caps: the blank lines after a record, then the next record's first line."""
        empty_size = 0
        for line_number in range(self.max_lines):
            line = read_bounded_line(self.reader, self.max_line_bytes, "WARC")
            if not line:
                return None, empty_size
            if line_number == 0 or not line.rstrip():
                empty_size += len(line)  # warcio counts a non-blank first line too (a wrong Content-Length)
                if line.rstrip():
                    self.err_count += 1
                continue
            return line, empty_size
        raise HeaderLimitExceeded(f"more than {self.max_lines} lines between two WARC records")

    def close(self):
        decompressor = self.reader.decompressor if self.reader else None
        if decompressor is not None and not getattr(decompressor, "eof", True):
            self.stopped_mid_gzip_member = True
        super().close()


class _CountingReader:
    """Counts the raw bytes read, to tell an empty file from a truncated one."""

    def __init__(self, stream):
        self.stream = stream
        self.bytes_read = 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.bytes_read += len(data)
        return data

    def tell(self):
        return self.bytes_read


def printable(text: str, max_chars: int) -> str:
    """Printable ASCII only, at most max_chars: fate details quote strangers' bytes, and readers print them."""
    if len(text) > max_chars:
        text = text[:max_chars]
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _outcome(warc_file: str, offset: int | None, record=None, **fields) -> dict:
    row = dict.fromkeys(OUTCOME_FIELDS)
    row.update(warc_file=warc_file, warc_offset=offset)
    if record is not None:
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        row["warc_record_id"] = record_id
        row["doc_id"] = doc_id_for_record(record_id) if record_id else doc_id_for_location(warc_file, offset)
        row["url"] = _target_uri(record)
    row.update(fields)
    if row["detail"] is not None:
        row["detail"] = printable(row["detail"], _DETAIL_CHARS)
    return row


def _target_uri(record) -> str | None:
    return (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>") or None


def file_failure(warc_file: str, reason: str, detail: str, offset: int | None = None) -> dict:
    """A fate row for a whole file (or its unreadable remainder): no record, so no doc_id."""
    return _outcome(warc_file, offset, reason=reason, detail=detail)


def _parse_warc_date(value: str | None) -> datetime | None:
    """WARC-Date as aware UTC, or None if it is no date. A date that UTC cannot hold raises OverflowError:
    such a record becomes a record_error."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # aware UTC: Spark would read a naive datetime in the executor's local time zone
    parsed = parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    # Python cannot turn a year-1 timestamp back into a local datetime: a reader's collect() would fail
    return parsed if parsed.year >= _EARLIEST_FETCH_YEAR else None


def _mime_and_charset(record) -> tuple[str | None, str | None]:
    content_type = record.http_headers.get_header("Content-Type") or \
        record.rec_headers.get_header("WARC-Identified-Payload-Type")
    if not content_type:
        return None, None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip()
    return mime.strip().lower(), charset


def _looks_like_html(payload: bytes) -> bool:
    head = payload[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--")) or b"<html" in head


def _binary_kind(payload: bytes, charset: str | None) -> str | None:
    for signature, kind in _BINARY_SIGNATURES.items():
        if payload.startswith(signature):
            return kind
    if b"\x00" in payload[:1024] and not (charset or "").lower().startswith("utf-16"):
        return "binary"
    return None


def record_outcome(record, warc_file: str, offset: int, cfg: ExtractConfig,
                   html_to_text: Callable[[str, str | None], str | None]) -> dict:
    """Decide one record: a document row (reason None) or a drop row with reason and detail."""
    def drop(reason: str, detail: str) -> dict:
        return _outcome(warc_file, offset, record, dataset=cfg.dataset, reason=reason, detail=detail)

    if record.rec_type != "response":
        return drop(NOT_RESPONSE, f"WARC-Type {record.rec_type}")
    if isinstance(record.http_headers, OversizedHttpHeaders):
        return drop(OVERSIZED_HEADERS, record.http_headers.problem)
    if record.http_headers is None or not record.http_headers.protocol.upper().startswith("HTTP"):
        return drop(NOT_HTTP_200, "no HTTP status line")
    status = record.http_headers.get_statuscode()
    if status != "200":
        return drop(NOT_HTTP_200, f"HTTP {record.http_headers.statusline}")
    mime, http_charset = _mime_and_charset(record)
    if mime is not None and mime not in HTML_TYPES:
        return drop(NOT_HTML, f"Content-Type {mime}")
    if record.length is not None and record.length > cfg.max_payload_bytes + _HTTP_HEADER_ALLOWANCE:
        return drop(OVER_SIZE_CAP, f"record of {record.length} bytes, cap {cfg.max_payload_bytes}")
    try:
        payload = _payload(record, cfg.max_payload_bytes)
    except OverCap:
        return drop(OVER_SIZE_CAP, f"payload over the cap of {cfg.max_payload_bytes} bytes")
    except Undecodable as error:
        return drop(UNDECODABLE, str(error))
    except Exception as error:  # zlib and warcio errors on a broken WARC-level gzip or chunking
        return drop(UNDECODABLE, f"payload could not be read: {type(error).__name__}: {error}")
    if not payload.strip():
        return drop(EMPTY_PAYLOAD, f"{len(payload)}-byte payload")
    binary = _binary_kind(payload, http_charset)
    if binary:
        return drop(NOT_HTML, f"{binary} bytes served as {mime or 'no content type'}")
    if mime is None and not _looks_like_html(payload):
        return drop(NOT_HTML, "no Content-Type and the payload does not look like HTML")
    decoded = decode_html(payload, http_charset)
    if decoded is None:
        return drop(UNDECODABLE, f"no charset decodes it (HTTP header said {http_charset!r})")
    html, codec = decoded
    url = _target_uri(record)
    try:
        text = html_to_text(html, url)
    except ExtractTimeout as error:
        return drop(EXTRACTOR_TIMEOUT, str(error))
    except RecursionError as error:
        return drop(EXTRACTOR_ERROR, f"RecursionError: {error}")
    except Exception as error:  # trafilatura and lxml raise many types on hostile HTML; one page never kills a task
        return drop(EXTRACTOR_ERROR, f"{type(error).__name__}: {error}")
    if not text or not text.strip():
        return drop(EXTRACTOR_EMPTY, "trafilatura found no main text")
    return _outcome(warc_file, offset, record, dataset=cfg.dataset, charset=codec, text=text,
                    fetch_time=_parse_warc_date(record.rec_headers.get_header("WARC-Date")))


def _payload(record, max_bytes: int) -> bytes:
    """The HTTP body with chunking and Content-Encoding undone, at most max_bytes (else OverCap).

    The encoded body is at most max_bytes too: compression only shrinks a page, so a larger one decodes
    over the cap anyway. Decoding is capped as it inflates (a zip bomb never fills memory)."""
    stream = record.raw_stream
    if record.http_headers.get_header("Transfer-Encoding") == "chunked":  # warcio's test, kept as it was
        stream = ChunkedDataReader(stream)
    body = stream.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise OverCap()
    return decode_body(body, content_encodings(record.http_headers.get_header("Content-Encoding")), max_bytes)


def _record_error(record, warc_file: str, offset: int, cfg: ExtractConfig, error: Exception) -> dict:
    """The fate row of a record whose processing raised; only the fields that cannot raise again."""
    try:
        return _outcome(warc_file, offset, record, dataset=cfg.dataset, reason=RECORD_ERROR,
                        detail=f"{type(error).__name__}: {error}")
    except Exception:  # its headers are what raised: keep the location, which identifies it
        return _outcome(warc_file, offset, dataset=cfg.dataset, reason=RECORD_ERROR,
                        doc_id=doc_id_for_location(warc_file, offset), detail=type(error).__name__)


def _broken_after(complete_records: int, error: Exception) -> str:
    return f"{complete_records} records read before: {_stream_error_detail(error)}"


def _stream_error_detail(error: Exception) -> str:
    """Why the stream broke, quoting at most a short, labelled, printable prefix of its bytes."""
    if isinstance(error, HeaderLimitExceeded):
        return str(error)
    message = str(error).strip()
    if isinstance(error, ArchiveLoadFailed):
        _, found, first_line = message.partition("first line: ")
        if found:
            return f"not a WARC record, its first line begins {printable(first_line, _QUOTED_BYTES_CHARS)!r}"
        message = message.splitlines()[0] if message else ""
    return f"{type(error).__name__}: {printable(message, _QUOTED_BYTES_CHARS)}"


def _ended_inside(record) -> bool:
    """True if the stream ended before the record's declared Content-Length."""
    limit = getattr(record.raw_stream, "limit", 0)
    return limit > 0


@dataclass
class ReadSpan:
    """The part of a file one task reads (corpus.warc_ranges): its stream starts at `offset_base`, a record start,
    and reading stops before a record starting at or past `end`, unless that is where the file ends."""

    offset_base: int = 0  # the file offset of the stream's first byte; offsets written stay the file's
    end: int | None = None  # None: read to the end of the file
    file_size: int | None = None
    # (complete records, offset of the last) before offset_base in the whole file's read: a break's fate row
    # says them as the unsplit read would. Called only when such a row is written past offset 0.
    records_before: Callable[[], tuple[int, int]] | None = None
    next_start: int | None = None  # set when reading stopped at `end`: the first record start at or past it

    def stops_at(self, offset: int) -> bool:
        return self.end is not None and self.end <= offset and (self.file_size is None or offset < self.file_size)

    def before(self) -> tuple[int, int]:
        return self.records_before() if self.offset_base else (0, 0)


def iter_warc_outcomes(stream, warc_file: str, cfg: ExtractConfig,
                       html_to_text: Callable[[str, str | None], str | None],
                       span: ReadSpan | None = None) -> Iterator[dict]:
    """Yield one outcome per WARC record, then one file-level row if the file breaks off or is empty.

    A broken file keeps every record before the break: cc-pyspark's rule that a corrupt WARC is
    counted, never fatal. With a span, the stream is that part of the file: rows are those the whole
    file's read gives for the records starting in it, file-level rows belong to the span at offset 0."""
    span = span or ReadSpan()
    counting = _CountingReader(stream)
    iterator = _BoundedWarcIterator(counting, cfg.max_header_line_bytes, cfg.max_header_lines)
    records = iter(iterator)
    complete_records = 0  # in this span; the records before it are counted only if a break row says them
    offset = None if span.offset_base else 0  # the last record's offset

    def before(records_here: int, last_offset: int | None) -> tuple[int, int]:
        """(complete records, last record's offset) as the whole file's read has them at this point."""
        count, last = span.before()
        return count + records_here, last if last_offset is None else last_offset

    while True:
        if span.stops_at(span.offset_base + iterator.offset):
            span.next_start = span.offset_base + iterator.offset
            return
        try:
            record = next(records)
        except StopIteration:
            break
        except Exception as error:  # warcio raises AttributeError, KeyError, zlib.error ... on broken bytes
            count, last = before(complete_records, offset)
            yield file_failure(warc_file, CORRUPT_WARC, _broken_after(count, error), last)
            return
        offset = span.offset_base + iterator.offset
        if not record.rec_type or record.rec_headers.get_header("Content-Length") is None:
            yield _outcome(warc_file, offset, record, dataset=cfg.dataset, reason=CORRUPT_WARC,
                           detail=f"record headers incomplete (no WARC-Type or Content-Length); "
                                  f"{before(complete_records, offset)[0]} complete records read before it")
            return
        try:
            outcome = record_outcome(record, warc_file, offset, cfg, html_to_text)
        except Exception as error:  # one record never ends a file or a task: what it raises is its fate
            outcome = _record_error(record, warc_file, offset, cfg, error)
        unframed_next = None
        try:
            iterator.read_to_end()
            ended_inside = _ended_inside(record)
        except HeaderLimitExceeded as error:  # the line after this record: the next one cannot be framed
            unframed_next, ended_inside = error, _ended_inside(record)
        except Exception:  # the rest of this record is broken
            ended_inside = True
        if ended_inside:
            yield _outcome(warc_file, offset, record, dataset=cfg.dataset, reason=CORRUPT_WARC,
                           detail=f"file ends inside this record; {before(complete_records, offset)[0]} "
                                  f"complete records read before it")
            return
        complete_records += 1
        yield outcome
        if unframed_next is not None:
            count, _ = before(complete_records, offset)
            yield file_failure(warc_file, CORRUPT_WARC, _broken_after(count, unframed_next), offset)
            return
    if counting.bytes_read == 0 and not span.offset_base:
        yield file_failure(warc_file, EMPTY_WARC, "the file is empty")
    elif iterator.stopped_mid_gzip_member:
        count, last = before(complete_records, offset)
        yield file_failure(warc_file, CORRUPT_WARC, f"{count} records read before the gzip "
                           f"stream broke off (truncated file)", last)
    elif complete_records == 0 and not span.offset_base:
        yield file_failure(warc_file, EMPTY_WARC, "the file holds no WARC record")


def count_records_before(stream, stop_offset: int, cfg: ExtractConfig) -> tuple[int, int]:
    """(complete records, offset of the last) the whole file's read finds before stop_offset, a record start
    it reaches: their headers are framed, nothing is extracted."""
    iterator = _BoundedWarcIterator(_CountingReader(stream), cfg.max_header_line_bytes, cfg.max_header_lines)
    count, last = 0, 0
    records = iter(iterator)
    while iterator.offset < stop_offset:
        try:
            next(records)
        except Exception:  # StopIteration too: the read breaks before stop_offset: what it counted is all there is
            break
        last = iterator.offset
        try:
            iterator.read_to_end()
        except Exception:
            break
        count += 1
    return count, last
