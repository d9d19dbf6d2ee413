"""The decontam stage on the default demo crawl, against truth.json's planted benchmark quotations.

The stage that runs after quality (in `demo_run`) sees only the ~4% of the crawl Pareto resampling keeps,
so recall is measured on the extract stage's documents: `extract` is copied to a fresh OUT and the decontam
stage alone runs there (previous_output then reads the extract stage's documents)."""
import json
import shutil
from dataclasses import replace

import pytest
from pyspark.sql import functions as F

from corpus.benchmarks import load_benchmarks
from corpus.decontam import WordHasher, build_index, document_grams, words
from corpus.decontam_stage import REPORT_FILE
from corpus.pipeline import run_pipeline


@pytest.fixture(scope="module")
def extract_run(spark, demo_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("decontam-on-extract") / "out"
    shutil.copytree(demo_run["out"] / "extract", out / "extract")
    cfg = replace(demo_run["cfg"], out_dir=out, stages=("decontam",))
    run_pipeline(spark, cfg, log=lambda line: None)
    report = json.loads((out / "reports" / REPORT_FILE).read_text())
    return {"out": out, "cfg": cfg, "report": report, "truth": demo_run["truth"]}


def planted(truth: dict, extracted: set[str]) -> dict[str, set[str]]:
    """benchmark -> ids of the items quoted by a page that became a document."""
    items: dict[str, set[str]] = {}
    for record in truth["records"]:
        if record["doc_id"] in extracted:
            for item in record["benchmark_items"] or []:
                items.setdefault(item["task"], set()).add(str(item["index"]))
    return items


def test_every_planted_quotation_is_found_and_only_those(spark, extract_run):
    out, report, truth = extract_run["out"], extract_run["report"], extract_run["truth"]
    extracted = {r["doc_id"] for r in spark.read.parquet(str(out / "extract" / "documents")).select("doc_id").collect()}
    quoted = planted(truth, extracted)
    assert sum(map(len, quoted.values())) > 250
    benchmarks = {b.name: b for b in load_benchmarks(extract_run["cfg"].benchmarks)}
    index, hasher = build_index(list(benchmarks.values()), extract_run["cfg"].decontam), WordHasher()
    for name, entry in report["benchmarks"].items():
        dirty = set(entry["dirty_ids_before"])
        assert quoted.get(name, set()) <= dirty, name  # recall 1.0
        # Anything else flagged shares an N-gram with a quoted item of the same benchmark (random_insertion's
        # N is 5 single letters, so "p r o d u" of 'produce' also dirties 'product'): the paper's rule, not a miss.
        quoted_grams = {int(g) for i in quoted.get(name, ()) for n, grams, _, _ in
                        document_grams(benchmarks[name].examples[int(i)].text, [entry["n"]], hasher) for g in grams}
        for extra in dirty - quoted.get(name, set()):
            text = benchmarks[name].examples[int(extra)].text
            assert quoted_grams & {int(g) for _, grams, _, _ in document_grams(text, [entry["n"]], hasher)
                                   for g in grams}, (name, extra)
        if name != "random_insertion":
            assert dirty == quoted.get(name, set()), name  # the demo's dirty lists equal the planted items
    assert index.measure_n["prose_cloze"] == 13 and index.measure_n["arithmetic_2d_plus"] == 8
    assert index.measure_n["cycle_letters"] == 2  # synthetic: below 8


def test_filter_touches_every_quoting_page_it_can_and_no_clean_page(spark, extract_run):
    out, truth, cfg = extract_run["out"], extract_run["truth"], extract_run["cfg"].decontam
    benchmarks = {b.name: b for b in load_benchmarks(extract_run["cfg"].benchmarks)}
    fate = spark.read.parquet(str(out / "decontam" / "fate"))
    touched = {r["doc_id"] for r in fate.where("reason IN ('contaminated_span', 'too_many_pieces')").collect()}
    extracted = {r["doc_id"] for r in spark.read.parquet(str(out / "extract" / "documents")).select("doc_id").collect()}
    filterable = {r["doc_id"] for r in truth["records"] if r["doc_id"] in extracted and any(
        len(words(benchmarks[i["task"]].examples[i["index"]].text)[0]) >= cfg.min_ngram for i in r["benchmark_items"])}
    assert len(filterable) > 100
    assert touched == filterable  # recall 1.0, 0 false positives
    kinds = {r["doc_id"]: r["kind"] for r in truth["records"]}
    assert {kinds[d] for d in touched} == {"benchmark_quote"}
    after = extract_run["report"]["benchmarks"]
    assert all(after[name]["dirty_after"] == 0 for name in ("prose_cloze", "arithmetic_2d_plus", "arithmetic_1dc"))


def test_pieces_name_their_parent_and_the_funnel_adds_up(spark, extract_run):
    out = extract_run["out"]
    documents = spark.read.parquet(str(out / "decontam" / "documents"))
    fate = spark.read.parquet(str(out / "decontam" / "fate"))
    extracted = spark.read.parquet(str(out / "extract" / "documents"))
    pieces = documents.where("parent_doc_id IS NOT NULL")
    assert pieces.count() > 100 and pieces.where(F.length("doc_id") != 16).count() == 0
    assert pieces.where(F.length("text") < 200).count() == 0
    assert documents.select("doc_id").distinct().count() == documents.count()
    parents = {r["parent_doc_id"] for r in pieces.select("parent_doc_id").distinct().collect()}
    untouched = documents.where("parent_doc_id IS NULL").count()
    touched = extracted.count() - untouched
    assert len(parents) <= touched and parents <= {r["doc_id"] for r in extracted.select("doc_id").collect()}
    counts = json.loads((out / "decontam" / "counts.json").read_text())
    assert counts["in"] == counts["out"] + sum(counts["dropped"].values()) == documents.count() + fate.count()
    spans = fate.where("reason = 'contaminated_span'").collect()
    assert spans and all("matched=" in r["detail"] and "#" in r["detail"] for r in spans)
    report = extract_run["report"]["datasets"]["common_crawl"]
    assert report["touched"] == touched and report["spans_removed"] == len(spans)


def test_clean_and_dirty_subsets_partition_each_benchmark(extract_run):
    out, report = extract_run["out"], extract_run["report"]
    for name, entry in report["benchmarks"].items():
        source = [line for line in open(entry["path"], encoding="utf-8")]
        clean = (out / "benchmarks" / f"{name}.clean.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        dirty = (out / "benchmarks" / f"{name}.dirty.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        assert len(dirty) == entry["dirty_after"] and sorted(clean + dirty) == sorted(source)
        assert dirty == [source[int(i)] for i in entry["dirty_ids"]]


def test_the_stage_after_quality_carries_quality_score(spark, demo_run):
    out = demo_run["out"]
    documents = spark.read.parquet(str(out / "decontam" / "documents"))
    assert "quality_score" in documents.columns and "parent_doc_id" in documents.columns
    assert documents.where("quality_score IS NULL").count() == 0
    funnel = {e["stage"]: e for e in json.loads((out / "reports" / "funnel.json").read_text())}
    assert funnel["decontam"]["in"] >= funnel["dedup"]["out"]
    page = (out / "reports" / "index.html").read_text()
    section = page[page.index('<section id="contamination">'):]
    assert "<img" in section and "dirty before" in section
