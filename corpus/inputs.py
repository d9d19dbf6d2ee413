"""Where WARC files come from: a path, a glob, a directory, or a Common Crawl `warc.paths(.gz)` manifest
joined with a prefix (a local directory, https://data.commoncrawl.org/ or s3://commoncrawl/).

Resolution runs on the driver and only lists names; executors open and stream each file themselves.
"""
import glob
import gzip
import os
import urllib.request
from dataclasses import dataclass

from corpus.errors import UserError

REMOTE_SCHEMES = ("http://", "https://", "s3://")
WARC_SUFFIXES = (".warc", ".warc.gz")
HTTP_TIMEOUT_S = 60


@dataclass(frozen=True)
class WarcInput:
    name: str  # how the file is named in `warc_file`: as the user or the manifest wrote it
    uri: str  # what an executor opens: an absolute local path or a URL


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def is_manifest(path: str) -> bool:
    base = os.path.basename(path)
    return base.endswith((".paths", ".paths.gz")) or base in ("warc.paths", "warc.paths.gz")


def _join_prefix(prefix: str, line: str) -> str:
    if is_remote(prefix):
        return prefix.rstrip("/") + "/" + line.lstrip("/")
    return os.path.abspath(os.path.join(prefix, line))


def _manifest_lines(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise UserError(f"cannot read the WARC manifest {path}: {error}") from None


def _from_manifest(path: str, prefix: str | None) -> list[WarcInput]:
    lines = _manifest_lines(path)
    if not lines:
        raise UserError(f"the WARC manifest {path} lists no files")
    base = prefix if prefix is not None else os.path.dirname(os.path.abspath(path))
    return [WarcInput(line, line if is_remote(line) else _join_prefix(base, line)) for line in lines]


def _local(path: str) -> WarcInput:
    return WarcInput(os.path.normpath(path), os.path.abspath(path))


def resolve_warc_inputs(specs: list[str], prefix: str | None = None) -> list[WarcInput]:
    """Every WARC file named by `specs`, in a stable order. A path that names nothing is a user error."""
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
    unique = list(dict.fromkeys(found))
    if any(i.uri.startswith("s3://") for i in unique):
        _require_boto3()
    return unique


def _require_boto3():
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise UserError("s3:// inputs need boto3: pip install -e '.[s3]', or use the prefix "
                        "https://data.commoncrawl.org/ for Common Crawl") from None


def open_warc(uri: str, s3_client=None):
    """A readable binary stream. http(s) and s3 are streamed as they are read, never downloaded first."""
    if uri.startswith(("http://", "https://")):
        request = urllib.request.Request(uri, headers={"User-Agent": "gpt3-corpus/0.1 (extract stage)"})
        return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://"):].partition("/")
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    return open(uri, "rb")


def make_s3_client():
    """One client per partition: boto3 clients are not safe to share across processes (cc-pyspark)."""
    import boto3
    return boto3.client("s3")
