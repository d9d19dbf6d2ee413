"""Where WARC files come from: a path, a glob, a directory, or a Common Crawl `warc.paths(.gz)` manifest
joined with a prefix (a local directory, https://data.commoncrawl.org/ or s3://commoncrawl/).

Resolution runs on the driver and only lists names; executors open and stream each file themselves.
A manifest is untrusted: each line must be a relative path that stays under its prefix (docs/security.md,
"Security and failure model"), and a file reached twice under two spellings is read once.

Opening runs on the executors: open_warc streams a file from any byte (a ranged GET for http(s) and s3), and a
remote read survives what a crawl's servers do under load (503s, throttling, resets, a body cut short): it is
retried with backoff and resumed at the byte reached, within the file's read deadline (ResumingStream).
"""
import datetime
import email.utils
import functools
import glob
import gzip
import http
import http.client
import math
import os
import posixpath
import random
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass

from corpus.errors import UserError

REMOTE_SCHEMES = ("http://", "https://", "s3://")
WARC_SUFFIXES = (".warc", ".warc.gz")
HTTP_TIMEOUT_S = 60  # per socket read; a whole file has its own deadline (ExtractConfig.remote_read_deadline_s)
# Common Crawl's manifest lines are ~140 bytes and a snapshot lists ~100,000 files; these caps are far above
# both and only bound what a hostile or mistaken manifest (a binary file, a gzip bomb) can make the driver hold.
MANIFEST_MAX_LINE_BYTES = 4096
MANIFEST_MAX_LINES = 1_000_000
_SHOWN_LINE_CHARS = 80  # of a refused manifest line (as Python writes it, escaped), in its error message
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986; also Windows drive letters (C:)
_REMOTE_READ_PIECE_BYTES = 64 * 1024  # the deadline is checked between reads of at most this much
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class WarcInput:
    name: str  # how the file is named in `warc_file`: as the user or the manifest wrote it
    uri: str  # what an executor opens: an absolute local path or a URL


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def is_manifest(path: str) -> bool:
    base = os.path.basename(path)
    return base.endswith((".paths", ".paths.gz")) or base in ("warc.paths", "warc.paths.gz")


def _manifest_error(path: str, number: int, line: str, problem: str, prefix: str | None) -> UserError:
    shown = repr(line)  # escapes what a terminal would act on
    shown = shown if len(shown) <= _SHOWN_LINE_CHARS else shown[:_SHOWN_LINE_CHARS - 3] + "..."
    base = "--warc-prefix" if prefix is not None else "the manifest's folder (or to --warc-prefix)"
    return UserError(f"the WARC manifest {path}, line {number}: {shown} {problem}; "
                     f"manifest lines must be paths relative to {base}")


def line_problem(line: str) -> str | None:
    """Why a manifest line may not be joined with a prefix, or None: it must be a relative path below it."""
    if not line.isprintable():
        return "holds an unprintable character"
    scheme = _URL_SCHEME.match(line)
    if scheme:
        return f"starts with the URL scheme {scheme.group(0)!r}"
    if line.startswith(("/", "\\")):
        return "is an absolute path"
    # %2e%2e is '..' to an http server, and a backslash separates folders to some
    if ".." in re.split(r"[/\\]", urllib.parse.unquote(line)):
        return "climbs out with a '..' segment"
    return None


def _join_local(base: str, line: str) -> tuple[str, str | None]:
    """(absolute path, None) or (path, why it is refused): a symlink may not lead out of `base`."""
    joined = os.path.abspath(os.path.join(base, line))
    root = os.path.realpath(base)
    real = os.path.realpath(joined)
    if os.path.commonpath([root, real]) != root:
        return joined, f"resolves to {real}, outside {root}"
    return joined, None


def _url_path(path: str) -> str:
    """A URL path as a server reads it: percent-decoded, '.', '..' and repeated slashes resolved."""
    return posixpath.normpath(re.sub("/+", "/", "/" + urllib.parse.unquote(path)))


def _join_remote(prefix: str, line: str) -> tuple[str, str | None]:
    """(URL, None) or (URL, why it is refused): the URL must stay on the prefix's host, below its path."""
    joined = prefix.rstrip("/") + "/" + line.lstrip("/")
    base, url = urllib.parse.urlsplit(prefix), urllib.parse.urlsplit(joined)
    base_path, path = _url_path(base.path), _url_path(url.path)
    inside = path == base_path or path.startswith(base_path.rstrip("/") + "/")
    if (url.scheme, url.netloc) != (base.scheme, base.netloc) or not inside:
        return joined, f"leads to {joined}, outside {prefix}"
    return joined, None


def _manifest_lines(path: str):
    """(line number, stripped line) of every path a manifest lists; bytes are read a capped line at a time."""
    opener = gzip.open if path.endswith(".gz") else open
    number = 0
    try:
        with opener(path, "rb") as handle:
            while raw := handle.readline(MANIFEST_MAX_LINE_BYTES + 1):
                number += 1
                if len(raw) > MANIFEST_MAX_LINE_BYTES:
                    raise UserError(f"the WARC manifest {path}, line {number}, is longer than "
                                    f"{MANIFEST_MAX_LINE_BYTES} bytes, so it is not a list of WARC paths")
                if number > MANIFEST_MAX_LINES:
                    raise UserError(f"the WARC manifest {path} has more than {MANIFEST_MAX_LINES:,} lines; "
                                    f"split it into several manifests")
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    raise UserError(f"the WARC manifest {path}, line {number}, is not UTF-8 text, "
                                    f"so it is not a list of WARC paths") from None
                if line and not line.startswith("#"):
                    yield number, line
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"cannot read the WARC manifest {path}: {error}") from None


def _from_manifest(path: str, prefix: str | None) -> list[WarcInput]:
    base = prefix if prefix is not None else os.path.dirname(os.path.abspath(path))
    join = _join_remote if is_remote(base) else _join_local
    found = []
    for number, line in _manifest_lines(path):
        uri, problem = None, line_problem(line)
        if problem is None:
            uri, problem = join(base, line)
        if problem:
            raise _manifest_error(path, number, line, problem, prefix)
        found.append(WarcInput(line, uri))
    if not found:
        raise UserError(f"the WARC manifest {path} lists no files")
    return found


def _local(path: str) -> WarcInput:
    return WarcInput(os.path.normpath(path), os.path.abspath(path))


def same_file_key(uri: str) -> str:
    """One key per file however it is spelled: the real path of a local file (symlinks, './', '..'), or a URL
    with its scheme and host lowercased, the default port dropped and its path normalised."""
    if not is_remote(uri):
        return os.path.realpath(uri)
    parts = urllib.parse.urlsplit(uri)
    try:
        port = parts.port
    except ValueError:  # not a number: leave the URL as written
        return uri
    scheme = parts.scheme.lower()
    netloc = (parts.hostname or "") if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{parts.hostname}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urllib.parse.urlunsplit((scheme, netloc, _url_path(parts.path), parts.query, ""))


def _once_each(found: list[WarcInput]) -> list[WarcInput]:
    """The first spelling of each file, in the order first reached."""
    unique: dict[str, WarcInput] = {}
    for warc in found:
        unique.setdefault(same_file_key(warc.uri), warc)
    return list(unique.values())


def resolve_warc_inputs(specs: list[str], prefix: str | None = None) -> list[WarcInput]:
    """Every WARC file named by `specs`, each once, in a stable order. A path that names nothing is a user error."""
    if prefix is not None and not is_remote(prefix) and not os.path.isdir(prefix):
        raise UserError(f"--warc-prefix {prefix} is neither a URL (https://, s3://) nor a directory")
    found: list[WarcInput] = []
    for spec in specs:
        if is_remote(spec):
            found.append(WarcInput(spec, spec))
        elif is_manifest(spec):
            if not os.path.isfile(spec):
                raise UserError(f"the WARC manifest {spec} does not exist")
            found.extend(_from_manifest(spec, prefix))
        elif os.path.isdir(spec):
            files = sorted(p for p in glob.glob(os.path.join(spec, "**", "*"), recursive=True)
                           if p.endswith(WARC_SUFFIXES) and os.path.isfile(p))
            if not files:
                raise UserError(f"the directory {spec} holds no .warc or .warc.gz file")
            found.extend(_local(p) for p in files)
        elif glob.has_magic(spec):
            files = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
            if not files:
                raise UserError(f"the pattern {spec} matches no file")
            found.extend(_local(p) for p in files)
        elif os.path.isfile(spec):
            found.append(_local(spec))
        else:
            raise UserError(f"the WARC input {spec} does not exist")
    unique = _once_each(found)
    if any(i.uri.startswith("s3://") for i in unique):
        _require_boto3()
    return unique


def _require_boto3():
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise UserError("s3:// inputs need boto3: pip install -e '.[s3]', or use the prefix "
                        "https://data.commoncrawl.org/ for Common Crawl") from None


class ReadDeadlineExceeded(TimeoutError):
    """A remote file took longer to read than its deadline allows."""


class RemoteReadError(OSError):
    """A remote read that failed for good: a status not worth retrying (HTTP 404, 403), the retries used up, or a
    resumed answer that is not the same file. The message names the last status ("HTTP 503 after 6 attempts"), so
    the fate row says it."""


# Retries of remote reads. A transient failure (a reset or refused connection, a timeout, a body cut short, HTTP
# 429 or 5xx, S3 throttling) is retried after a backoff drawn with "full jitter" (a uniform draw below
# min(cap, base * 2**failures), so many tasks throttled at once do not come back in step); a Retry-After header is
# honoured up to the cap. Failures are counted since the last byte came in: a file read for an hour through a few
# resets is not given up on, and the file's read deadline bounds a server that keeps failing after a byte or two.
RETRY_ATTEMPTS = 6  # requests per failure (the first included) before a read is given up
RETRY_BASE_S = 1.0  # upper bound of the first backoff; it doubles with each failure
RETRY_CAP_S = 60.0  # upper bound of any backoff, and of a Retry-After that is honoured
USER_AGENT = "gpt3-corpus/0.1 (extract stage)"
_VALIDATORS = ("ETag", "Last-Modified")  # what a resumed answer must repeat to be spliced onto the bytes before it
_S3_TRANSIENT_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                                 "RequestTimeout", "InternalError", "ServiceUnavailable"})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_JITTER = random.Random()  # its own generator: backoff draws must not move the global one anything else seeds


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = RETRY_ATTEMPTS
    base_s: float = RETRY_BASE_S
    cap_s: float = RETRY_CAP_S

    def backoff_s(self, failures: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.cap_s)
        return _JITTER.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (failures - 1)))


DEFAULT_RETRY = RetryPolicy()  # what open_warc and remote_size use unless given one (tests make it small)


@dataclass(frozen=True)
class _Failure:
    status: str  # as a message names it: "HTTP 503 Service Unavailable", "ConnectionResetError",
    #             "SlowDown (HTTP 503)"
    transient: bool
    http_status: int | None = None
    retry_after_s: float | None = None


def _http_phrase(code: int) -> str:
    """The standard phrase of a status (a server's own reason phrase is a stranger's text in a fate row)."""
    try:
        return f"HTTP {code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _retry_after_s(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (a number of seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


@functools.cache
def _transient_types() -> tuple[type[BaseException], ...]:
    found: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, http.client.IncompleteRead,
                                              ssl.SSLEOFError)
    try:  # what botocore's streamed body may let through from the library under it
        from urllib3.exceptions import ProtocolError, ReadTimeoutError
        found += (ProtocolError, ReadTimeoutError)
    except ImportError:
        pass
    try:
        from botocore import exceptions as boto
        found += tuple(getattr(boto, name) for name in ("ConnectionError", "HTTPClientError", "IncompleteReadError",
                                                        "ResponseStreamingError") if hasattr(boto, name))
    except ImportError:
        pass
    return found


def _s3_failure(error: BaseException) -> _Failure | None:
    response = getattr(error, "response", None)  # botocore's ClientError: the parsed error answer
    if not isinstance(response, dict) or "Error" not in response:
        return None
    code = re.sub(r"[^A-Za-z0-9]", "", str(response["Error"].get("Code", "")))[:40] or "error"
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    status = status if isinstance(status, int) else None
    transient = code in _S3_TRANSIENT_CODES or status == 429 or (status is not None and 500 <= status < 600)
    return _Failure(f"{code} (HTTP {status})" if status else code, transient, http_status=status)


def _classify(error: BaseException) -> _Failure | None:
    """What a failed request or read was; None for an error this module does not know (it is raised as it is)."""
    if isinstance(error, urllib.error.HTTPError):
        code = error.code
        return _Failure(_http_phrase(code), code == 429 or 500 <= code < 600, http_status=code,
                        retry_after_s=_retry_after_s(error.headers.get("Retry-After") if error.headers else None))
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason  # a connection refused, reset or timed out before any answer
    if isinstance(error, ssl.SSLCertVerificationError):  # will not pass on a second try
        return None
    if isinstance(error, _transient_types()):
        return _Failure(type(error).__name__, True)
    return _s3_failure(error)


class _Attempts:
    """The failures of one read since its last byte: each is slept off with a backoff, or raised for good."""

    def __init__(self, retry: RetryPolicy, seconds_left=lambda: math.inf):
        self.retry = retry
        self.seconds_left = seconds_left  # of the file's read deadline
        self.failures = 0

    def failed(self, error: Exception) -> _Failure:
        """Sleep before the next attempt, or raise RemoteReadError (or `error` itself, if it is not known)."""
        failure = _classify(error)
        if failure is None:
            raise error
        self.failures += 1
        if not failure.transient:
            raise RemoteReadError(failure.status) from error
        tried = f"{failure.status} after {self.failures} attempt{'s' if self.failures > 1 else ''}"
        if self.failures >= self.retry.attempts:
            raise RemoteReadError(tried) from error
        backoff_s = self.retry.backoff_s(self.failures, failure.retry_after_s)
        if backoff_s > self.seconds_left():
            raise RemoteReadError(f"{tried}; waiting {backoff_s:.1f} s "
                                  f"for another would pass the file's read deadline") from error
        time.sleep(backoff_s)
        return failure


@dataclass
class _Answer:
    """One response to a (ranged) request for a file's bytes."""
    body: object  # read1(n) or read(n)
    first_byte: int  # the file offset of the body's first byte: 0 when a server ignored Range
    end: int | None  # the file offset after the body's last byte, when known
    size: int | None  # of the whole file, when known
    validators: dict[str, str]  # ETag, Last-Modified as given

    def close(self) -> None:
        try:
            self.body.close()
        except Exception:  # a connection that already broke: nothing is left to release
            pass

    def can_be_resumed(self) -> bool:
        return bool(self.validators) or self.size is not None

    def differs_from(self, first: "_Answer") -> str | None:
        """Why this answer is not the same file as `first`, or None."""
        for name, value in first.validators.items():
            if self.validators.get(name) != value:
                return f"its {name} changed"
        if first.size is not None and self.size is not None and first.size != self.size:
            return f"its size changed from {first.size:,} to {self.size:,} bytes"
        return None


class _EmptyBody:
    def read1(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _ranged_answer(body, offset: int, length: int | None, content_range: str | None, validators) -> _Answer:
    """The answer to a request from `offset`: partial (it has a Content-Range) or the whole file."""
    if content_range is None:  # the whole file, Range or no Range
        return _Answer(body, 0, length, length, validators)
    match = _CONTENT_RANGE.fullmatch(content_range.strip())
    if not match or int(match.group(1)) != offset:
        raise RemoteReadError(f"asked for the bytes from {offset:,}, the server answered a different range")
    size = None if match.group(3) == "*" else int(match.group(3))
    return _Answer(body, offset, int(match.group(2)) + 1, size, validators)


class _HttpFile:
    def __init__(self, uri: str):
        self.uri = uri

    def open(self, offset: int) -> _Answer:
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        response = urllib.request.urlopen(urllib.request.Request(self.uri, headers=headers), timeout=HTTP_TIMEOUT_S)
        try:
            validators = {name: response.headers[name] for name in _VALIDATORS if response.headers.get(name)}
            content_range = response.headers.get("Content-Range") if response.status == 206 else None
            if response.status == 206 and content_range is None:
                raise RemoteReadError("the server answered 206 Partial Content without a Content-Range")
            return _ranged_answer(response, offset, _int_or_none(response.headers.get("Content-Length")),
                                  content_range, validators)
        except BaseException:
            response.close()
            raise

    def size(self) -> int | None:
        request = urllib.request.Request(self.uri, headers={"User-Agent": USER_AGENT}, method="HEAD")
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return _int_or_none(response.headers.get("Content-Length"))


class _S3File:
    def __init__(self, uri: str, client):
        self.bucket, _, self.key = uri[len("s3://"):].partition("/")
        self.client = client

    def open(self, offset: int) -> _Answer:
        ranged = {"Range": f"bytes={offset}-"} if offset else {}
        answer = self.client.get_object(Bucket=self.bucket, Key=self.key, **ranged)
        try:
            validators = {name: str(answer[field]) for name, field in zip(_VALIDATORS, ("ETag", "LastModified"))
                          if answer.get(field)}
            return _ranged_answer(answer["Body"], offset, _int_or_none(answer.get("ContentLength")),
                                  answer.get("ContentRange"), validators)
        except BaseException:
            answer["Body"].close()
            raise

    def size(self) -> int | None:
        return _int_or_none(self.client.head_object(Bucket=self.bucket, Key=self.key).get("ContentLength"))


def _is_past_the_end(error: Exception) -> bool:
    failure = _classify(error)
    return failure is not None and failure.http_status == 416  # Range Not Satisfiable


class ResumingStream:
    """A remote file's bytes from `start` as one unbroken stream: a transient failure, on open or in the middle of
    the body, is retried (RetryPolicy) by asking again from the byte reached (Range: bytes=offset-), and the bytes
    are spliced on only if the new answer is the same file (the first answer's ETag, Last-Modified and size
    agree). A server that ignores Range sends the file from its start; the bytes before `offset` are skipped."""

    def __init__(self, remote, start: int, retry: RetryPolicy, seconds_left=lambda: math.inf):
        self.remote = remote
        self.offset = start  # the file offset of the next byte this stream returns
        self.attempts = _Attempts(retry, seconds_left)
        self._first: _Answer | None = None  # what a resumed answer must agree with
        self._answer: _Answer | None = None
        self._skip_bytes = 0
        self._read_body = None
        self._open_retrying()

    @property
    def seconds_left(self):
        return self.attempts.seconds_left

    @seconds_left.setter
    def seconds_left(self, seconds_left) -> None:
        self.attempts.seconds_left = seconds_left

    def _open_retrying(self) -> None:
        while True:
            try:
                answer = self.remote.open(self.offset)
                break
            except Exception as error:
                if self._first is None and self.offset > 0 and _is_past_the_end(error):
                    # nothing from there on, as a local file read past its end
                    answer = _Answer(_EmptyBody(), self.offset, self.offset, None, {})
                    break
                self.attempts.failed(error)
        if self._first is None:
            self._first = answer
        elif problem := answer.differs_from(self._first):
            answer.close()
            raise RemoteReadError(f"the file changed while it was read ({problem}): the bytes from offset "
                                  f"{self.offset:,} on were not spliced onto those before")
        self._answer, self._skip_bytes = answer, self.offset - answer.first_byte
        self._read_body = getattr(answer.body, "read1", None) or answer.body.read

    def _body_piece(self, size: int) -> bytes:
        while self._skip_bytes > 0:  # a server that ignored Range: its bytes before the offset are not ours
            if self.seconds_left() < 0:
                raise ReadDeadlineExceeded("the file's read deadline passed while skipping to the offset reached")
            skipped = self._read_body(min(self._skip_bytes, _REMOTE_READ_PIECE_BYTES))
            if not skipped:
                raise http.client.IncompleteRead(b"", self._skip_bytes)
            self._skip_bytes -= len(skipped)
        piece = self._read_body(size)
        end = self._answer.end
        if not piece and size and end is not None and self.offset < end:  # http.client returns b"" when cut short
            raise http.client.IncompleteRead(b"", end - self.offset)
        return piece

    def read1(self, size: int = -1) -> bytes:
        size = _REMOTE_READ_PIECE_BYTES if size < 0 else size
        while True:
            if self._answer is None:
                self._open_retrying()
            try:
                piece = self._body_piece(size)
            except ReadDeadlineExceeded:
                raise
            except Exception as error:
                self._answer.close()
                self._answer = None
                failure = _classify(error)
                if failure is not None and failure.transient and not self._first.can_be_resumed():
                    raise RemoteReadError(f"{failure.status} at byte {self.offset:,}, and the server gave no ETag, "
                                          f"Last-Modified or size to check a resumed read against") from error
                self.attempts.failed(error)
                continue
            if piece:
                self.attempts.failures = 0
                self.offset += len(piece)
            return piece

    def read(self, size: int = -1) -> bytes:
        pieces, wanted = [], size
        while size < 0 or wanted > 0:
            piece = self.read1(_REMOTE_READ_PIECE_BYTES if size < 0 else wanted)
            if not piece:
                break
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    def close(self) -> None:
        if self._answer is not None:
            self._answer.close()
            self._answer = None


class DeadlineStream:
    """A remote stream whose reads, all together, may take at most `deadline_s` seconds.

    The socket timeout bounds one read only: a server that trickles a byte a minute would hold a task for
    ever. Each read is made of pieces (one socket read each where the stream offers `read1`), and the time
    is checked before every piece. The read that passes the deadline returns what it has (so the records
    those bytes complete are kept); every read after it raises ReadDeadlineExceeded. A piece that raises
    (a ResumingStream out of retries) is handled the same way: the read returns the pieces before it, and
    the next read raises the error; `failure` holds it once raised (as `raised` tells a deadline raised).

    The time counted is time spent in reads (and `seconds_reading`, the time the open took): with a
    ResumingStream that includes its reconnects and backoff sleeps, never the time the reader spends on
    the bytes it was given."""

    def __init__(self, stream, deadline_s: float, seconds_reading: float = 0.0):
        self.stream = stream
        self.deadline_s = deadline_s
        self.seconds_reading = seconds_reading
        self.overdue = False  # the deadline has passed: the next read raises
        self.raised = False  # a read has raised ReadDeadlineExceeded
        self.failure: Exception | None = None  # another error a read has raised
        self._pending: Exception | None = None  # the error the next read raises: its bytes were returned first
        self._read_piece = getattr(stream, "read1", None) or stream.read
        self._read_started: float | None = None

    def seconds_left(self) -> float:
        running_s = time.monotonic() - self._read_started if self._read_started is not None else 0.0
        return self.deadline_s - self.seconds_reading - running_s

    def _raise(self, error: Exception):
        if isinstance(error, ReadDeadlineExceeded):
            self.raised = True
        else:
            self.failure = self._pending = error  # every later read raises it too
        raise error

    def read(self, size: int = -1) -> bytes:
        if self._pending is not None:
            self._raise(self._pending)
        pieces, wanted = [], size
        self._read_started = time.monotonic()
        try:
            while size < 0 or wanted > 0:
                self.overdue = self.overdue or self.seconds_left() < 0
                if self.overdue and pieces:
                    break
                if self.overdue:
                    self._raise(ReadDeadlineExceeded(f"reading the file took over {self.deadline_s:g} s"))
                try:
                    piece = self._read_piece(_REMOTE_READ_PIECE_BYTES if size < 0 else
                                             min(wanted, _REMOTE_READ_PIECE_BYTES))
                except ReadDeadlineExceeded as error:  # the stream below saw the deadline pass (a long skip)
                    self.overdue = True
                    if pieces:
                        break
                    self._raise(error)
                except Exception as error:
                    if pieces:
                        self._pending = error
                        break
                    self._raise(error)
                if not piece:
                    break
                pieces.append(piece)
                wanted -= len(piece)
        finally:
            self.seconds_reading += time.monotonic() - self._read_started
            self._read_started = None
        return b"".join(pieces)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _remote_file(uri: str, s3_client):
    return _S3File(uri, s3_client) if uri.startswith("s3://") else _HttpFile(uri)


def open_warc(uri: str, s3_client=None, deadline_s: float | None = None, start: int = 0,
              retry: RetryPolicy | None = None):
    """A readable binary stream of the file's bytes from byte `start`. http(s) and s3 are streamed as they are
    read, never downloaded first, with retries (ResumingStream); with `deadline_s`, reading a remote file for
    longer than that, the open, reconnects and backoff sleeps included, raises ReadDeadlineExceeded."""
    if not is_remote(uri):
        handle = open(uri, "rb")
        handle.seek(start)
        return handle
    limit_s = math.inf if deadline_s is None else deadline_s
    opened = time.monotonic()
    stream = ResumingStream(_remote_file(uri, s3_client), start, retry or DEFAULT_RETRY,
                            seconds_left=lambda: limit_s - (time.monotonic() - opened))
    timed = DeadlineStream(stream, limit_s, seconds_reading=time.monotonic() - opened)
    stream.seconds_left = timed.seconds_left
    return timed


def remote_size(uri: str, s3_client=None, retry: RetryPolicy | None = None) -> int | None:
    """The file's size in bytes (HEAD's Content-Length; s3's head_object), None when the server does not say;
    transient failures are retried as reads are."""
    if not is_remote(uri):
        return os.path.getsize(uri)
    remote, attempts = _remote_file(uri, s3_client), _Attempts(retry or DEFAULT_RETRY)
    while True:
        try:
            return remote.size()
        except Exception as error:
            attempts.failed(error)


def make_s3_client():
    """One client per partition: boto3 clients are not safe to share across processes (cc-pyspark)."""
    import boto3
    return boto3.client("s3")
