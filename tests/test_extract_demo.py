"""The extract stage against the demo crawl's planted truth (truth.json), on real Spark."""
import json
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

import corpus_demo as demo
from corpus.config import ExtractConfig
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-run")
    paths = demo.generate(root / "demo", pages=300, files=3, seed=7)
    truth = json.loads(paths["truth"].read_text())
    truth["crawl_dir"] = str(root / "demo" / "crawl")
    warcs = tuple(resolve_warc_inputs([str(root / "demo" / "crawl")]))
    funnel = run_pipeline(spark, PipelineConfig(stages=("extract",), out_dir=root / "out", warcs=warcs, extract=ExtractConfig()),
                          log=lambda *_: None)
    documents = spark.read.parquet(str(root / "out" / "extract" / "documents")).collect()
    fate = spark.read.parquet(str(root / "out" / "extract" / "fate")).collect()
    return truth, funnel, documents, fate


def test_documents_are_exactly_the_pages_truth_expects(demo_run):
    truth, _, documents, _ = demo_run
    expected = {r["doc_id"] for r in truth["records"] if r["expected_reason"] is None}
    assert {d.doc_id for d in documents} == expected
    assert len(documents) == len(expected)  # no document twice


def test_every_planted_bad_record_has_its_reason(demo_run):
    truth, _, _, fate = demo_run
    by_doc = {f.doc_id: f.reason for f in fate if f.doc_id}
    for record in truth["records"]:
        if record["expected_reason"] not in (None, "corrupt_warc"):
            assert by_doc[record["doc_id"]] == record["expected_reason"], record["url"]


def test_truncated_file_is_one_corrupt_warc_after_its_readable_records(demo_run):
    truth, _, documents, fate = demo_run
    [truncated] = [f for f in truth["files"] if f["truncated"]]
    corrupt = [f for f in fate if f.reason == "corrupt_warc"]
    assert [f.warc_file.split("/")[-1] for f in corrupt] == [truncated["warc_file"]]
    readable = [r for r in truth["records"] if r["warc_file"] == truncated["warc_file"] and r["readable"]]
    kept = [d for d in documents if d.warc_file.endswith(truncated["warc_file"])]
    assert len(kept) == len(readable) > 0


def _records_warcio_iterates(path) -> int:
    count = 0
    with open(path, "rb") as stream:
        try:
            for _ in ArchiveIterator(stream):
                count += 1
        except ArchiveLoadFailed:
            pass
    return count


def test_funnel_in_equals_records_plus_file_failures(demo_run):
    truth, funnel, documents, fate = demo_run
    [entry] = funnel
    assert entry["out"] == len(documents) and entry["in"] == len(documents) + len(fate)
    crawl_dir = truth["crawl_dir"]
    records = sum(_records_warcio_iterates(f"{crawl_dir}/{f['warc_file']}") for f in truth["files"])
    assert entry["in"] == records + 1  # + the truncated file's unreadable remainder
    reasons = Counter(r["expected_reason"] for r in truth["records"] if r["expected_reason"] not in (None, "corrupt_warc"))
    for reason, n in reasons.items():
        if reason != "not_response":
            assert entry["dropped"][reason] == n, reason
