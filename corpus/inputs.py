"""Where WARC files come from: a path, a glob, a directory, or a Common Crawl `warc.paths(.gz)` manifest
joined with a prefix (a local directory, https://data.commoncrawl.org/ or s3://commoncrawl/).

Resolution runs on the driver and only lists names; executors open and stream each file themselves.
A manifest is untrusted: each line must be a relative path that stays under its prefix (DESIGN.md,
"Trust and ownership"), and a file reached twice under two spellings is read once.
"""
import glob
import gzip
import os
import posixpath
import re
import time
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


class DeadlineStream:
    """A remote stream whose reads, all together, may take at most `deadline_s` seconds.

    The socket timeout bounds one read only: a server that trickles a byte a minute would hold a task for
    ever. Each read is made of pieces (one socket read each where the stream offers `read1`), and the time
    is checked before every piece. The read that passes the deadline returns what it has (so the records
    those bytes complete are kept); every read after it raises ReadDeadlineExceeded."""

    def __init__(self, stream, deadline_s: float):
        self.stream = stream
        self.deadline_s = deadline_s
        self.seconds_reading = 0.0
        self.overdue = False  # the deadline has passed: the next read raises
        self.raised = False  # a read has raised ReadDeadlineExceeded
        self._read_piece = getattr(stream, "read1", None) or stream.read

    def read(self, size: int = -1) -> bytes:
        pieces, wanted = [], size
        started = time.monotonic()
        try:
            while size < 0 or wanted > 0:
                self.overdue = self.overdue or self.seconds_reading + time.monotonic() - started > self.deadline_s
                if self.overdue and pieces:
                    break
                if self.overdue:
                    self.raised = True
                    raise ReadDeadlineExceeded(f"reading the file took over {self.deadline_s:g} s")
                piece = self._read_piece(_REMOTE_READ_PIECE_BYTES if size < 0 else
                                         min(wanted, _REMOTE_READ_PIECE_BYTES))
                if not piece:
                    break
                pieces.append(piece)
                wanted -= len(piece)
        finally:
            self.seconds_reading += time.monotonic() - started
        return b"".join(pieces)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_warc(uri: str, s3_client=None, deadline_s: float | None = None):
    """A readable binary stream. http(s) and s3 are streamed as they are read, never downloaded first; with
    `deadline_s`, reading a remote file for longer than that raises ReadDeadlineExceeded."""
    if uri.startswith(("http://", "https://")):
        request = urllib.request.Request(uri, headers={"User-Agent": "gpt3-corpus/0.1 (extract stage)"})
        stream = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
    elif uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://"):].partition("/")
        stream = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    else:
        return open(uri, "rb")
    return stream if deadline_s is None else DeadlineStream(stream, deadline_s)


def make_s3_client():
    """One client per partition: boto3 clients are not safe to share across processes (cc-pyspark)."""
    import boto3
    return boto3.client("s3")
