"""bench/real_crawl.py: a crawl built from real page templates is valid WARC in Common Crawl's layout, holds its
planted copies, and is the same bytes for a seed. Templates: the real pages in tests/data (no Spark here)."""
import gzip
import hashlib
import importlib.util
import json
import sys
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import REAL_WARC_DIR
from corpus.config import ExtractConfig
from corpus.extract import HtmlToText
from corpus.warc import NOT_RESPONSE, iter_warc_outcomes

PAGES = 20
_SPEC = importlib.util.spec_from_file_location("real_crawl", Path(__file__).parent.parent / "bench" / "real_crawl.py")
real_crawl = sys.modules["real_crawl"] = importlib.util.module_from_spec(_SPEC)  # by path: the root is not on sys.path
_SPEC.loader.exec_module(real_crawl)


@pytest.fixture(scope="module")
def sources():
    return real_crawl.load_sources([REAL_WARC_DIR / "dolma__sample-0000.warc.gz",
                                    REAL_WARC_DIR / "resiliparse__warcfile.warc.gz"])


@pytest.fixture(scope="module")
def crawl(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("real-crawl")
    return real_crawl.write_crawl(out, sources, PAGES, files=(1, 2), seed=0, processes=1)


def records_of(path: Path) -> list[dict]:
    with open(path, "rb") as stream:
        return [{"type": r.rec_type, "id": r.rec_headers.get_header("WARC-Record-ID"),
                 "url": r.rec_headers.get_header("WARC-Target-URI"),
                 "body": r.content_stream().read() if r.rec_type == "response" else None}
                for r in ArchiveIterator(stream)]


def responses(crawl, layout: int) -> dict[str, dict]:
    return {r["id"]: r for path in crawl["layouts"][layout] for r in records_of(path) if r["type"] == "response"}


def gzip_member_starts(data: bytes) -> list[int]:
    starts, offset = [], 0
    while offset < len(data):
        starts.append(offset)
        decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
        decompressor.decompress(data[offset:])
        assert decompressor.eof, f"a gzip member breaks off at {offset}"
        offset = len(data) - len(decompressor.unused_data)
    return starts


def test_warcio_reads_every_record_in_common_crawls_layout(crawl):
    for layout, paths in crawl["layouts"].items():
        types = [r["type"] for path in paths for r in records_of(path)]
        assert types == (["warcinfo"] + ["request", "response", "metadata"] * (PAGES // layout)) * layout


def test_one_gzip_member_per_record(crawl):
    for path in crawl["layouts"][2]:
        data = path.read_bytes()
        with open(path, "rb") as stream:
            iterator = ArchiveIterator(stream)
            offsets = [iterator.offset for _ in iterator]
        assert gzip_member_starts(data) == offsets
        assert gzip.decompress(data).count(b"WARC/1.0\r\n") == len(offsets)


def test_page_offsets_point_at_each_pages_request_record(crawl):
    files = json.loads(crawl["truth"].read_text())["files"]["2"]
    truth = json.loads(crawl["truth"].read_text())["pages_truth"]
    urls = iter(page["url"] for page in truth)
    for entry, path in zip(files, crawl["layouts"][2]):
        assert entry["name"] == path.name and entry["bytes"] == path.stat().st_size
        for offset in entry["page_offsets"]:
            with open(path, "rb") as stream:
                stream.seek(offset)
                first = next(iter(ArchiveIterator(stream)))
            assert first.rec_type == "request" and first.rec_headers.get_header("WARC-Target-URI") == next(urls)


def test_record_ids_are_unique_across_every_file_of_a_layout(crawl):
    for paths in crawl["layouts"].values():
        ids = [r["id"] for path in paths for r in records_of(path)]
        assert len(ids) == 1 + 3 * PAGES + len(paths) - 1 and len(set(ids)) == len(ids)


def test_every_layout_holds_the_same_pages(crawl):
    one, two = responses(crawl, 1), responses(crawl, 2)
    assert len(one) == PAGES and {k: v["body"] for k, v in one.items()} == {k: v["body"] for k, v in two.items()}
    assert len({r["url"] for r in one.values()}) == PAGES  # copies too are on their own URL


def test_planted_copies_are_there(crawl, sources):
    truth = json.loads(crawl["truth"].read_text())["pages_truth"]
    pages = responses(crawl, 1)
    body = {t["index"]: pages[t["record_id"]]["body"] for t in truth}
    kinds = {t["kind"] for t in truth}
    assert kinds == {"original", "near_copy", "exact_copy"}
    for page in truth:
        original = body[page["original"]]
        if page["kind"] == "exact_copy":
            assert body[page["index"]] == original and page["original"] < page["index"]
        elif page["kind"] == "near_copy":
            mine = set(" ".join(real_crawl.page_texts(sources, 0, page["index"])).split())
            theirs = set(" ".join(real_crawl.page_texts(sources, 0, page["original"])).split())
            assert body[page["index"]] != original and 0.5 < len(mine & theirs) / len(mine | theirs) < 1
    originals = [body[t["index"]] for t in truth if t["kind"] == "original"]
    assert len(set(originals)) == len(originals)  # refilled text makes each original unique


def test_the_extract_stage_reads_every_page_as_a_document(crawl):
    cfg = ExtractConfig()
    extractor = HtmlToText(cfg)
    for path in crawl["layouts"][2]:
        with open(path, "rb") as stream:
            outcomes = list(iter_warc_outcomes(stream, path.name, cfg, extractor))
        assert {o["reason"] for o in outcomes} == {NOT_RESPONSE, None}
        assert sum(o["reason"] is None for o in outcomes) == PAGES // 2


def test_same_seed_same_bytes_whatever_the_process_count(sources, crawl, tmp_path):
    def digests(paths):
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]

    again = real_crawl.write_crawl(tmp_path / "again", sources, PAGES, files=(1, 2), seed=0, processes=2)
    for layout in (1, 2):
        assert digests(again["layouts"][layout]) == digests(crawl["layouts"][layout])
    other = real_crawl.write_crawl(tmp_path / "other", sources, PAGES, files=(1,), seed=1, processes=1)
    assert digests(other["layouts"][1]) != digests(crawl["layouts"][1])
