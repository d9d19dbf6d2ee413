"""Where WARCs come from: paths, globs, directories, manifests with a prefix, and http(s) streaming."""
import functools
import gzip
import http.server
import threading

import pytest

from corpus.config import ExtractConfig
from corpus.errors import UserError
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline
from corpus.warc import UNREADABLE_WARC
from warc_factory import article_html, page, write_warc


@pytest.fixture
def crawl(tmp_path):
    root = tmp_path / "mirror" / "crawl-data" / "CC-TEST" / "warc"
    root.mkdir(parents=True)
    for n in range(3):
        write_warc(root / f"CC-TEST-{n}.warc.gz", [page(f"http://s{n}.example/{i}", article_html(f"S{n}", salt=i))
                                                   for i in range(3)])
    return tmp_path


def test_path_glob_and_directory(crawl):
    root = crawl / "mirror" / "crawl-data" / "CC-TEST" / "warc"
    assert [w.name for w in resolve_warc_inputs([str(root)])] == [str(root / f"CC-TEST-{n}.warc.gz") for n in range(3)]
    assert len(resolve_warc_inputs([str(root / "*-1.warc.gz")])) == 1
    assert len(resolve_warc_inputs([str(root / "CC-TEST-2.warc.gz"), str(root)])) == 3  # no file twice


def _manifest(crawl, name="warc.paths.gz", lines=None):
    lines = lines if lines is not None else [f"crawl-data/CC-TEST/warc/CC-TEST-{n}.warc.gz" for n in range(3)]
    path = crawl / name
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_manifest_with_local_and_remote_prefixes(crawl):
    manifest = _manifest(crawl)
    local = resolve_warc_inputs([str(manifest)], str(crawl / "mirror"))
    assert [w.name for w in local][0] == "crawl-data/CC-TEST/warc/CC-TEST-0.warc.gz"
    assert local[0].uri == str(crawl / "mirror" / "crawl-data/CC-TEST/warc/CC-TEST-0.warc.gz")
    remote = resolve_warc_inputs([str(manifest)], "https://data.commoncrawl.org/")
    assert remote[2].uri == "https://data.commoncrawl.org/crawl-data/CC-TEST/warc/CC-TEST-2.warc.gz"


@pytest.mark.parametrize("spec, message", [
    ("/no/such/file.warc.gz", "does not exist"),
    ("/no/such/*.warc.gz", "matches no file"),
    ("/no/such/warc.paths.gz", "does not exist"),
])
def test_a_path_that_names_nothing_is_a_user_error(spec, message):
    with pytest.raises(UserError, match=message):
        resolve_warc_inputs([spec])


def test_an_empty_manifest_is_a_user_error(crawl):
    with pytest.raises(UserError, match="lists no files"):
        resolve_warc_inputs([str(_manifest(crawl, lines=[]))])


def test_an_empty_directory_and_a_bad_prefix_are_user_errors(tmp_path, crawl):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no .warc"):
        resolve_warc_inputs([str(tmp_path / "empty")])
    with pytest.raises(UserError, match="neither a URL"):
        resolve_warc_inputs([str(_manifest(crawl))], str(tmp_path / "nowhere"))


@pytest.fixture
def http_mirror(crawl):
    """The mirror served over http on loopback, as data.commoncrawl.org serves the crawl."""
    handler = functools.partial(_QuietHandler, directory=str(crawl / "mirror"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_manifest_over_http_streams_through_executors(spark, crawl, http_mirror):
    lines = [f"crawl-data/CC-TEST/warc/CC-TEST-{n}.warc.gz" for n in range(3)] + ["crawl-data/missing.warc.gz"]
    warcs = tuple(resolve_warc_inputs([str(_manifest(crawl, lines=lines))], http_mirror))
    [entry] = run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=crawl / "out", warcs=warcs, extract=ExtractConfig()),
                           log=lambda *_: None)
    assert entry["out"] == 9
    assert entry["dropped"] == {UNREADABLE_WARC: 1}  # the manifest's file the mirror does not have
    documents = spark.read.parquet(str(crawl / "out" / "extract" / "documents")).collect()
    assert {d.warc_file for d in documents} == set(lines[:3])  # named as the manifest names them
