"""Inputs stay where the user put them (issue 16, item 3) and a remote file has a deadline (item 7): manifest lines
that leave their prefix are refused before Spark starts, a file reached twice is read once, a doc_id two records
share is kept once, and a server that trickles bytes ends its file with a fate row."""
import gzip
import http.server
import os
import re
import threading
import time
import tracemalloc

import pyarrow.parquet as pq
import pytest

from conftest import load_filter_job
from corpus.config import ExtractConfig
from corpus.errors import UserError
from corpus.extract_stage import (DUPLICATE_DOC_ID, REMOTE_READ_DEADLINE, extract_partition, outcomes_of,
                                  run_extract)
from corpus.extract import HtmlToText
from corpus.ids import doc_id_for_record
from corpus.inputs import MANIFEST_MAX_LINE_BYTES, WarcInput, resolve_warc_inputs
from warc_factory import Record, article_html, page, write_warc

CFG = ExtractConfig(extract_timeout_s=2.0)


def _pages(site: str, count: int, **kwargs) -> list[Record]:
    return [page(f"http://{site}.example/{i}", article_html(f"{site} {i}", salt=i), **kwargs) for i in range(count)]


@pytest.fixture
def mirror(tmp_path):
    """A local Common Crawl mirror with one real WARC, and a folder beside it that no manifest may reach."""
    warc_dir = tmp_path / "mirror" / "crawl-data" / "CC-TEST" / "warc"
    warc_dir.mkdir(parents=True)
    write_warc(warc_dir / "CC-TEST-0.warc.gz", _pages("inside", 2))
    (tmp_path / "outside").mkdir()
    write_warc(tmp_path / "outside" / "secret.warc.gz", _pages("outside", 1))
    return tmp_path


def _manifest(root, lines: list[str], name: str = "warc.paths.gz"):
    path = root / name
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def _one_sentence(error: UserError) -> str:
    message = str(error)
    assert "\n" not in message and len(message) < 400 and "Traceback" not in message
    return message


# 1. Manifest lines are relative paths that stay under their prefix.

GOOD_LINE = "crawl-data/CC-TEST/warc/CC-TEST-0.warc.gz"
REFUSED_LINES = [
    ("/etc/passwd", "is an absolute path"),
    ("//evil.example/crawl.warc.gz", "is an absolute path"),
    ("../outside/secret.warc.gz", "'..' segment"),
    ("crawl-data/../../outside/secret.warc.gz", "'..' segment"),
    ("crawl-data/%2e%2e/%2E%2E/outside/secret.warc.gz", "'..' segment"),
    ("crawl-data\\..\\..\\outside\\secret.warc.gz", "'..' segment"),
    ("https://evil.example/crawl.warc.gz", "URL scheme 'https:'"),
    ("s3://another-bucket/crawl.warc.gz", "URL scheme 's3:'"),
    ("file:///etc/passwd", "URL scheme 'file:'"),
    ("file:secret.warc.gz", "URL scheme 'file:'"),
    ("crawl-data/CC-TEST/warc/CC-TEST-0.warc.gz\x00.txt", "unprintable character"),
]


@pytest.mark.parametrize("prefix_kind", ["local", "https", "s3"])
@pytest.mark.parametrize("line, why", REFUSED_LINES)
def test_a_manifest_line_that_leaves_its_prefix_is_refused(mirror, line, why, prefix_kind):
    prefix = {"local": str(mirror / "mirror"), "https": "https://data.commoncrawl.org/",
              "s3": "s3://commoncrawl/"}[prefix_kind]
    manifest = _manifest(mirror, [GOOD_LINE, "# a comment", line])
    with pytest.raises(UserError) as refused:
        resolve_warc_inputs([str(manifest)], prefix)
    message = _one_sentence(refused.value)
    assert message.startswith(f"the WARC manifest {manifest}, line 3: ") and why in message
    assert "relative to --warc-prefix" in message


def test_a_symlink_out_of_the_prefix_is_refused(mirror):
    (mirror / "mirror" / "crawl-data" / "elsewhere").symlink_to(mirror / "outside", target_is_directory=True)
    manifest = _manifest(mirror, [GOOD_LINE, "crawl-data/elsewhere/secret.warc.gz"])
    escape = r"line 2: .* resolves to \S*/outside/secret\.warc\.gz, outside \S*/mirror;"
    with pytest.raises(UserError, match=escape) as refused:
        resolve_warc_inputs([str(manifest)], str(mirror / "mirror"))
    _one_sentence(refused.value)
    inside = mirror / "mirror" / "crawl-data" / "CC-TEST" / "alias"  # a symlink that stays inside is fine
    inside.symlink_to(mirror / "mirror" / "crawl-data" / "CC-TEST" / "warc", target_is_directory=True)
    [warc] = resolve_warc_inputs([str(_manifest(mirror, ["crawl-data/CC-TEST/alias/CC-TEST-0.warc.gz"]))],
                                 str(mirror / "mirror"))
    assert warc.name == "crawl-data/CC-TEST/alias/CC-TEST-0.warc.gz"


def test_a_manifest_without_prefix_stays_in_its_own_folder(mirror):
    manifest = _manifest(mirror / "mirror", [GOOD_LINE, "../outside/secret.warc.gz"])
    refusal = "line 2: '../outside/secret.warc.gz' climbs out with a '..' segment; manifest lines must be paths " \
              "relative to the manifest's folder"
    with pytest.raises(UserError, match=re.escape(refusal)):
        resolve_warc_inputs([str(manifest)])
    [warc] = resolve_warc_inputs([str(_manifest(mirror / "mirror", [GOOD_LINE]))])
    assert warc.uri == str(mirror / "mirror" / GOOD_LINE)


@pytest.mark.parametrize("name, content, message", [
    ("warc.paths", b"crawl-data/" + b"a" * (16 * 1024 * 1024), 
     f"line 1, is longer than {MANIFEST_MAX_LINE_BYTES}"),
    ("warc.paths", GOOD_LINE.encode() + b"\n" + bytes(range(128, 256)) * 8, "line 2, is not UTF-8 text"),
    ("warc.paths", b"\x00\x01\x02\x03" * 100, "unprintable character"),
    ("warc.paths.gz", b"\x89PNG\r\n\x1a\n" + bytes(500), "cannot read the WARC manifest"),
    ("warc.paths.gz", gzip.compress("".join(f"crawl-data/{n}.warc.gz\n" for n in range(5000)).encode())[:5000],
     "cannot read the WARC"),  # a truncated download
])
def test_hostile_manifest_bytes_are_one_sentence_in_bounded_memory(mirror, name, content, message):
    path = mirror / name
    path.write_bytes(content)
    tracemalloc.start()
    try:
        with pytest.raises(UserError) as refused:
            resolve_warc_inputs([str(path)], str(mirror / "mirror"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message in _one_sentence(refused.value) and str(path) in str(refused.value)
    assert peak < 4 * 1024 * 1024, f"reading the manifest took {peak} bytes"  # the 16 MiB line is never held


@pytest.mark.parametrize("line", ["/etc/passwd", "../outside/secret.warc.gz", "file:///etc/passwd",
                                  "https://evil.example/x.warc.gz"])
def test_the_job_exits_2_before_spark_starts(mirror, line, capsys):
    manifest = _manifest(mirror, [GOOD_LINE, line])
    code = load_filter_job().main(["--warc", str(manifest), "--warc-prefix", str(mirror / "mirror"),
                               "--stages", "extract", "--out", str(mirror / "out")])
    stderr = capsys.readouterr().err.strip()
    assert code == 2
    assert stderr.startswith(f"error: the WARC manifest {manifest}, line 2: ") and len(stderr.splitlines()) == 1
    assert not (mirror / "out" / "extract").exists()


# 2. The same file reached twice is read once.

def test_the_same_file_under_several_spellings_is_listed_once(mirror, monkeypatch):
    warc_dir = mirror / "mirror" / "crawl-data" / "CC-TEST" / "warc"
    write_warc(warc_dir / "CC-TEST-1.warc", _pages("second", 1), compress=False)
    (mirror / "link.warc.gz").symlink_to(warc_dir / "CC-TEST-0.warc.gz")
    monkeypatch.chdir(warc_dir)
    manifest = _manifest(mirror, [GOOD_LINE, "crawl-data/CC-TEST/warc/./CC-TEST-0.warc.gz"])
    specs = ["CC-TEST-1.warc", "./CC-TEST-1.warc", str(warc_dir), str(warc_dir / "*.warc*"),
             str(mirror / "link.warc.gz"), str(manifest), "../warc/CC-TEST-0.warc.gz"]
    warcs = resolve_warc_inputs(specs, str(mirror / "mirror"))
    assert [w.name for w in warcs] == ["CC-TEST-1.warc", str(warc_dir / "CC-TEST-0.warc.gz")]  # first spellings
    assert [os.path.realpath(w.uri) for w in warcs] == [os.path.realpath(warc_dir / "CC-TEST-1.warc"),
                                                         os.path.realpath(warc_dir / "CC-TEST-0.warc.gz")]
    assert resolve_warc_inputs(list(reversed(specs)), str(mirror / "mirror"))[0].name == "../warc/CC-TEST-0.warc.gz"


def test_the_same_url_under_several_spellings_is_listed_once(mirror):
    host = "https://data.commoncrawl.org"
    urls = [f"{host}/crawl-data/a.warc.gz", "https://Data.CommonCrawl.org:443/crawl-data/a.warc.gz",
            f"{host}//crawl-data/./a.warc.gz", f"{host}/crawl-data/%61.warc.gz", f"{host}/crawl-data/b.warc.gz",
            "https://data.commoncrawl.org:8443/crawl-data/a.warc.gz"]
    manifest = _manifest(mirror, ["crawl-data/a.warc.gz", "crawl-data/c.warc.gz"])
    warcs = resolve_warc_inputs(urls + [str(manifest)], "https://data.commoncrawl.org/")
    assert [w.uri for w in warcs] == [urls[0], urls[4], urls[5], f"{host}/crawl-data/c.warc.gz"]


# 3. A doc_id two records share is kept once.

SHARED = "<urn:uuid:00000000-0000-4000-8000-00000000d0d0>"
SHARED_IN_ONE_FILE = "<urn:uuid:00000000-0000-4000-8000-00000000d1d1>"


def _duplicated_crawl(root):
    """a.warc.gz and b.warc both hold a record with id SHARED; b.warc also holds SHARED_IN_ONE_FILE twice;
    c.warc.gz has no duplicate. Returns every good page."""
    crawl = root / "crawl"
    crawl.mkdir()
    a = _pages("a", 3) + [page("http://a.example/shared", article_html("A shared", salt=7), record_id=SHARED)]
    b = ([page("http://b.example/shared", article_html("B shared", salt=8), record_id=SHARED)] + _pages("b", 2)
         + [page(f"http://b.example/twice-{n}", article_html(f"B twice {n}", salt=n), record_id=SHARED_IN_ONE_FILE)
            for n in range(2)])
    c = _pages("c", 3)
    write_warc(crawl / "a.warc.gz", a)
    write_warc(crawl / "b.warc", b, compress=False)
    write_warc(crawl / "c.warc.gz", c)
    return crawl


@pytest.fixture(scope="module")
def duplicated_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("duplicated")
    crawl = _duplicated_crawl(root)
    # the folder, a second spelling of b.warc and a glob over the other two: each file is still read once
    warcs = resolve_warc_inputs([str(crawl), os.path.join(crawl, ".", "b.warc"), str(crawl / "*.warc.gz")])
    runs = []
    for name in ("first", "second"):
        stage_dir = root / name / "extract"
        counts = run_extract(spark, warcs, stage_dir, CFG)
        runs.append((stage_dir, counts))
    return root, crawl, warcs, runs


def test_a_shared_doc_id_is_kept_once_and_the_copies_are_accounted_for(duplicated_run):
    root, crawl, warcs, [(stage_dir, counts), _] = duplicated_run
    assert counts["in"] == counts["out"] + sum(counts["dropped"].values()) and counts["warc_files"] == 3
    assert counts["dropped"] == {DUPLICATE_DOC_ID: 2} and counts["out"] == 10  # 12 pages, two copies moved
    documents = pq.read_table(stage_dir / "documents").to_pylist()
    assert len({d["doc_id"] for d in documents}) == len(documents) == 10
    by_id = {d["doc_id"]: d for d in documents}
    kept = by_id[doc_id_for_record(SHARED)]  # the smallest (warc_file, warc_offset): a.warc.gz before b.warc
    assert (kept["warc_file"], kept["url"]) == (str(crawl / "a.warc.gz"), "http://a.example/shared")
    assert by_id[doc_id_for_record(SHARED_IN_ONE_FILE)]["url"] == "http://b.example/twice-0"  # the earlier record
    fate = sorted(pq.read_table(stage_dir / "fate").to_pylist(), key=lambda r: r["warc_offset"])
    assert [(r["reason"], r["url"], r["warc_file"]) for r in fate] == [
        (DUPLICATE_DOC_ID, "http://b.example/shared", str(crawl / "b.warc")),
        (DUPLICATE_DOC_ID, "http://b.example/twice-1", str(crawl / "b.warc"))]
    assert fate[0]["detail"] == f"the same doc_id as the record kept in {crawl / 'a.warc.gz'} at offset " \
                                f"{kept['warc_offset']}"
    twice = by_id[doc_id_for_record(SHARED_IN_ONE_FILE)]
    assert fate[1]["detail"].endswith(f"kept in {crawl / 'b.warc'} at offset {twice['warc_offset']}")
    assert all(r["stage"] == "extract" and r["doc_id"] for r in fate)
    assert not (stage_dir / "_duplicate_doc_ids").exists()  # the scratch table is the stage's own, and gone


def test_deduplicated_output_is_byte_identical_and_untouched_parts_are_as_extracted(duplicated_run, tmp_path):
    root, crawl, warcs, [(first, _), (second, _)] = duplicated_run
    files = sorted(p.relative_to(first) for p in first.rglob("*.parquet"))
    assert [str(p) for p in files] == ["documents/part-00000.parquet", "documents/part-00001.parquet",
                                       "documents/part-00002.parquet", "fate/duplicate_doc_id-00001.parquet",
                                       "fate/part-00000.parquet", "fate/part-00001.parquet", "fate/part-00002.parquet"]
    assert all((first / p).read_bytes() == (second / p).read_bytes() for p in files)
    # c.warc.gz has no duplicate, and a.warc.gz holds only the kept copy: their parts are what the per-file
    # task writes, byte for byte
    extract_partition([(0, warcs[0]), (2, warcs[2])], str(tmp_path), CFG)
    for name in ("part-00000.parquet", "part-00002.parquet"):
        assert (first / "documents" / name).read_bytes() == (tmp_path / "documents" / name).read_bytes()


# 4. A remote file has a deadline, not only a socket timeout.

class _TricklingHandler(http.server.BaseHTTPRequestHandler):
    """Serves one WARC: its first `fast_bytes` at once, then a few bytes at a time, each well within any socket
    timeout, the whole far beyond the test's deadline."""
    body = b""
    fast_bytes = 0
    piece_bytes, pause_s = 64, 0.05

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            self.wfile.write(self.body[:self.fast_bytes])
            self.wfile.flush()
            for start in range(self.fast_bytes, len(self.body), self.piece_bytes):
                time.sleep(self.pause_s)
                self.wfile.write(self.body[start:start + self.piece_bytes])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the reader gave up: that is the point
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def trickling_server(tmp_path):
    records = _pages("slow", 20)
    path = tmp_path / "slow.warc"
    write_warc(path, records, compress=False)
    head = tmp_path / "head.warc"
    write_warc(head, records[:3], compress=False)
    body = path.read_bytes()
    assert body.startswith(head.read_bytes())
    handler = type("Handler", (_TricklingHandler,), {"body": body, "fast_bytes": head.stat().st_size})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    total_s = (len(body) - handler.fast_bytes) / handler.piece_bytes * handler.pause_s
    yield f"http://127.0.0.1:{server.server_address[1]}/slow.warc", records, total_s
    server.shutdown()
    server.server_close()


def test_a_remote_file_read_past_its_deadline_ends_with_its_fate_row(trickling_server, tmp_path):
    url, records, trickle_s = trickling_server
    cfg = ExtractConfig(extract_timeout_s=2.0, remote_read_deadline_s=1.0)
    assert trickle_s > 20 * cfg.remote_read_deadline_s  # the server would take this long to send the file
    started = time.monotonic()
    outcomes = list(outcomes_of(WarcInput("slow.warc", url), cfg, HtmlToText(cfg)))
    assert time.monotonic() - started < trickle_s / 4
    *kept, last = outcomes
    assert last["reason"] == REMOTE_READ_DEADLINE and last["warc_file"] == "slow.warc"
    assert f"the {len(kept)} records before this point" in last["detail"] and "over 1 s" in last["detail"]
    assert all(o["reason"] is None for o in kept) and len(kept) >= 3  # the bytes that came in time are kept
    assert [o["url"] for o in kept] == [r.url for r in records[:len(kept)]] and len(kept) < len(records)
    extract_partition([(0, WarcInput("slow.warc", url))], str(tmp_path), cfg)  # the same through the task's writers
    documents, fate = (pq.read_table(tmp_path / table).to_pylist() for table in ("documents", "fate"))
    assert [r["reason"] for r in fate] == [REMOTE_READ_DEADLINE] and len(documents) >= 3
