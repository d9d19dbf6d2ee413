"""The extract stage on real Spark: hostile files survived, everything counted, output deterministic."""
import json
from pathlib import Path

import pytest

from corpus import warc as W
from corpus.config import ExtractConfig
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline
from warc_factory import Record, article_html, no_text_html, page, slow_html, write_warc

CFG = ExtractConfig(max_payload_bytes=2_000_000, extract_timeout_s=0.3)


def _crawl(root: Path) -> dict:
    """A small hostile crawl: expected document URLs and expected drop counts per reason."""
    crawl = root / "crawl"
    crawl.mkdir()
    good = [page(f"http://site{i % 3}.example/post/{i}", article_html(f"Post {i}", salt=i)) for i in range(12)]
    bad = [
        Record(url="http://x.example/req", rec_type="request", expect=W.NOT_RESPONSE),
        page("http://x.example/404", "<html>gone</html>", status="404 Not Found", expect=W.NOT_HTTP_200),
        Record(url="http://x.example/logo.png", body=b"\x89PNG\r\n\x1a\n" + bytes(40), content_type="image/png",
               expect=W.NOT_HTML),
        Record(url="http://x.example/fake", body=b"%PDF-1.7\n" + bytes(100), content_type="text/html",
               expect=W.NOT_HTML),
        Record(url="http://x.example/empty", body=b"", expect=W.EMPTY_PAYLOAD),
        page("http://x.example/huge", article_html("Huge", paragraphs=8000), expect=W.OVER_SIZE_CAP),
        Record(url="http://x.example/noise", body=bytes(range(128, 256)) * 20, content_type="text/html",
               expect=W.UNDECODABLE),
        page("http://x.example/shell", no_text_html(), expect=W.EXTRACTOR_EMPTY),
        page("http://x.example/slow", slow_html(), expect=W.EXTRACTOR_TIMEOUT),
    ]
    write_warc(crawl / "a.warc.gz", good[:4] + bad)
    write_warc(crawl / "b.warc", good[4:8], compress=False)
    whole = root / "whole.warc.gz"
    write_warc(whole, good[8:])
    data = whole.read_bytes()
    (crawl / "c-truncated.warc.gz").write_bytes(data[: int(len(data) * 0.7)])
    (crawl / "d-empty.warc.gz").write_bytes(b"")
    (crawl / "e-not-a-warc.warc.gz").write_bytes(b"<html>this is a web page, not a WARC</html>\n" * 30)
    dropped = {}
    for record in bad:
        dropped[record.expect] = dropped.get(record.expect, 0) + 1
    return {"good": good, "dropped": dropped}


@pytest.fixture(scope="module")
def hostile_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    expected = _crawl(root)
    warcs = tuple(resolve_warc_inputs([str(root / "crawl")]))
    funnel = run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=root / "out", warcs=warcs, extract=CFG), log=lambda *_: None)
    return root, expected, funnel


def test_funnel_accounts_for_every_record(hostile_run, spark):
    root, expected, funnel = hostile_run
    [entry] = funnel
    assert entry["in"] == entry["out"] + sum(entry["dropped"].values())
    dropped = dict(entry["dropped"])
    assert dropped.pop(W.CORRUPT_WARC) == 2  # the truncated file and the one that is not a WARC
    assert dropped.pop(W.EMPTY_WARC) == 1
    assert dropped == expected["dropped"]
    assert json.loads((root / "out" / "reports" / "funnel.json").read_text()) == funnel


def test_good_records_kept_including_those_before_a_break(hostile_run, spark):
    root, expected, funnel = hostile_run
    documents = spark.read.parquet(str(root / "out" / "extract" / "documents"))
    urls = sorted(r.url for r in documents.select("url").collect())
    readable = [r.url for r in expected["good"][:8]] + ["http://site2.example/post/8", "http://site0.example/post/9"]
    assert set(readable) <= set(urls)  # the truncated file keeps its records before the break
    assert set(urls) <= {r.url for r in expected["good"]}
    assert funnel[0]["out"] == len(urls)
    assert documents.columns[:7] == ["doc_id", "dataset", "url", "warc_file", "warc_offset", "fetch_time", "text"]


def test_fate_table_says_why(hostile_run, spark):
    root, _, _ = hostile_run
    fate = {(r.warc_file.split("/")[-1], r.reason): r for r in
            spark.read.parquet(str(root / "out" / "extract" / "fate")).collect()}
    truncated = fate[("c-truncated.warc.gz", W.CORRUPT_WARC)]
    assert "records read before" in truncated.detail or "complete records read before it" in truncated.detail
    assert fate[("e-not-a-warc.warc.gz", W.CORRUPT_WARC)].doc_id is None
    assert fate[("a.warc.gz", W.EXTRACTOR_TIMEOUT)].url == "http://x.example/slow"
    assert all(r.stage == "extract" for r in fate.values())


def test_rerun_skips_a_completed_stage(hostile_run, spark):
    root, _, funnel = hostile_run
    warcs = tuple(resolve_warc_inputs([str(root / "crawl")]))
    messages = []
    again = run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=root / "out", warcs=warcs, extract=CFG), log=messages.append)
    assert again == funnel and "skipped" in messages[0]


def _rows(spark, path):
    return sorted(tuple(r) for r in spark.read.parquet(str(path)).collect())


def test_same_input_gives_identical_output_in_any_order(spark, tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    for n in range(3):
        write_warc(crawl / f"{n}.warc.gz", [page(f"http://d{n}.example/{i}", article_html(f"D{n} {i}", salt=i),
                                                 record_id=f"<urn:uuid:00000000-0000-4000-8000-00000000{n}{i:03d}>")
                                            for i in range(5)] + [Record(url="http://d.example/r", rec_type="request",
                                            record_id=f"<urn:uuid:00000000-0000-4000-8000-10000000{n}000>")])
    inputs = resolve_warc_inputs([str(crawl)])
    first, second = tmp_path / "first", tmp_path / "second"
    run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=first, warcs=tuple(inputs), extract=CFG), log=lambda *_: None)
    run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=second, warcs=tuple(reversed(inputs)), extract=CFG),
                 log=lambda *_: None)
    third = tmp_path / "third"
    run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=third, warcs=tuple(inputs), extract=CFG), log=lambda *_: None)
    for table in ("documents", "fate"):
        assert _rows(spark, first / "extract" / table) == _rows(spark, second / "extract" / table)
        parts = sorted((first / "extract" / table).glob("part-*.parquet"))
        assert len(parts) == 3  # one part per WARC file, named by its place in the input list
        assert all(p.read_bytes() == (third / "extract" / table / p.name).read_bytes() for p in parts)
    assert len(_rows(spark, first / "extract" / "documents")) == 15
