"""WARC and HTTP headers read under caps on a line's length and on the number of lines.

warcio's StatusAndHeadersParser calls `stream.readline()` with no limit, and its buffered reader grows a
line until a newline arrives: a 1 MB .warc.gz can hold a gigabyte line. These parsers read each line with a
cap, so a worker's memory stays bounded by the caps, not by what a stranger wrote.
"""
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser


class HeaderLimitExceeded(Exception):
    """A header line longer than the cap, or more header lines than the cap (the message says which)."""


def read_bounded_line(stream, max_line_bytes: int, what: str) -> bytes:
    """One line (with its newline) of at most max_line_bytes, or b'' at the end of the stream.

    warcio's BufferedReader.readline(n) may return fewer than n bytes without a newline at a buffer
    boundary, so the line is gathered over several calls, each asking only for what the cap still allows."""
    parts = []
    length = 0
    while True:
        part = stream.readline(max_line_bytes + 1 - length)
        if not part:
            break
        parts.append(part)
        length += len(part)
        if part.endswith(b"\n"):
            break
        if length > max_line_bytes:
            raise HeaderLimitExceeded(f"{what} header line longer than {max_line_bytes} bytes")
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _BoundedLines:
    """What a StatusAndHeadersParser reads from: its stream, a line at a time, under both caps."""

    def __init__(self, stream, max_line_bytes: int, max_lines: int, what: str):
        self.stream = stream
        self.max_line_bytes = max_line_bytes
        self.max_lines = max_lines
        self.lines_read = 0
        self.what = what

    def readline(self, size=None):  # warcio's parser never passes a size: the caps here are the limit
        self.lines_read += 1
        if self.lines_read > self.max_lines:
            raise HeaderLimitExceeded(f"{self.what} headers of more than {self.max_lines} lines")
        return read_bounded_line(self.stream, self.max_line_bytes, self.what)


class BoundedHeadersParser(StatusAndHeadersParser):
    """warcio's parser over a stream whose lines are capped; over a cap it raises HeaderLimitExceeded."""

    def __init__(self, statuslist, verify: bool, max_line_bytes: int, max_lines: int, what: str):
        super().__init__(statuslist, verify)
        self.max_line_bytes = max_line_bytes
        self.max_lines = max_lines
        self.what = what

    def parse(self, stream, full_statusline=None):
        lines = _BoundedLines(stream, self.max_line_bytes, self.max_lines, self.what)
        if full_statusline is not None:
            lines.lines_read += 1  # the status line, already read by the caller under the same cap
        return super().parse(lines, full_statusline)


class OversizedHttpHeaders(StatusAndHeaders):
    """Stands in for the HTTP headers of a record whose headers broke a cap; `problem` says which.

    Falsy like an empty StatusAndHeaders, so warcio treats the record as one without HTTP headers; the
    rest of the record stays unread in its length-limited stream and is skipped in bounded chunks."""

    def __init__(self, problem: str):
        super().__init__(statusline="", headers=[], protocol="")
        self.problem = problem


class BoundedHttpParser(BoundedHeadersParser):
    """HTTP headers: over a cap, only this record is lost (its WARC Content-Length still frames it)."""

    def parse(self, stream, full_statusline=None):
        try:
            return super().parse(stream, full_statusline)
        except HeaderLimitExceeded as error:
            return OversizedHttpHeaders(str(error))


def install_bounded_parsers(loader, max_line_bytes: int, max_lines: int) -> None:
    """Replace the header parsers of a warcio ArcWarcRecordLoader with capped ones (same prefixes, same checks)."""
    loader.warc_parser = BoundedHeadersParser(loader.WARC_TYPES, True, max_line_bytes, max_lines, "WARC")
    loader.http_parser = BoundedHttpParser(loader.HTTP_TYPES, loader.http_parser.verify, max_line_bytes,
                                           max_lines, "HTTP")
    loader.http_req_parser = BoundedHttpParser(loader.HTTP_VERBS, loader.http_req_parser.verify,
                                               max_line_bytes, max_lines, "HTTP")
