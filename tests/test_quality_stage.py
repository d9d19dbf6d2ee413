"""The quality stage on the default demo crawl: the classifier separates good prose from spam, the kept set
follows the Lomax survival (2 - s) ** -9, it is the same for any partitioning, and every document is
accounted for."""
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import REPO_ROOT
from corpus import quality
from corpus.errors import UserError
from corpus.pipeline import run_pipeline
from corpus.quality_stage import PARETO
from corpus.quality_twin import fit_twin, twin_scores
from corpus.resample import keep_probability

SPAMMY_KINDS = ("spam", "boilerplate")


def scores_by_doc(spark, out):
    """quality_score of every crawl document: kept ones carry it as a column, dropped ones in the fate detail."""
    kept = spark.read.parquet(str(out / "quality" / "documents")).where("dataset = 'common_crawl'")
    scores = {r["doc_id"]: (r["quality_score"], True) for r in kept.select("doc_id", "quality_score").collect()}
    for r in spark.read.parquet(str(out / "quality" / "fate")).where(f"reason = '{PARETO}'").collect():
        scores[r["doc_id"]] = (float(r["detail"].split()[0].split("=")[1]), False)
    return scores


def test_every_document_is_accounted_for(spark, demo_run):
    out = demo_run["out"]
    funnel = {e["stage"]: e for e in json.loads((out / "reports" / "funnel.json").read_text())}
    extracted = funnel["extract"]["out"]
    reference_records = sum(1 for p in demo_run["demo"]["reference"].values() for _ in open(p))
    entry = funnel["quality"]
    assert entry["in"] == extracted + reference_records == entry["out"] + sum(entry["dropped"].values())
    assert set(entry["dropped"]) == {PARETO}
    documents = spark.read.parquet(str(out / "quality" / "documents"))
    assert documents.where("dataset != 'common_crawl'").count() == reference_records  # never resampled
    assert documents.where("quality_score IS NULL").count() == 0
    assert documents.select("doc_id").distinct().count() == documents.count()


def test_classifier_separates_good_prose_from_spam(spark, demo_run):
    kinds = {r["doc_id"]: r["kind"] for r in demo_run["truth"]["records"]}
    scores = scores_by_doc(spark, demo_run["out"])
    good = [s for d, (s, _) in scores.items() if kinds[d] == "good"]
    spammy = [s for d, (s, _) in scores.items() if kinds[d] in SPAMMY_KINDS]
    assert len(good) > 1000 and len(spammy) > 400
    assert roc_auc_score([1] * len(good) + [0] * len(spammy), good + spammy) >= 0.95


def test_kept_rate_follows_the_lomax_survival_in_every_score_bucket(spark, demo_run):
    scored = list(scores_by_doc(spark, demo_run["out"]).values())
    scores = np.array([s for s, _ in scored])
    kept = np.array([k for _, k in scored])
    edges = np.quantile(scores, np.linspace(0, 1, 9))
    buckets = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, 7)
    checked = 0
    for b in range(8):
        inside = buckets == b
        if inside.sum() < 50:
            continue
        p = keep_probability(scores[inside], 9)
        expected, spread = p.mean(), np.sqrt((p * (1 - p)).sum()) / inside.sum()
        assert abs(kept[inside].mean() - expected) <= 3 * max(spread, 1e-9) + 1e-12, (b, kept[inside].mean(), expected)
        checked += 1
    assert checked >= 5


def test_report_holds_what_a_user_chooses_alpha_from(spark, demo_run):
    report = json.loads((demo_run["out"] / "reports" / "quality.json").read_text())
    classifier, resampling = report["classifier"], report["resampling"]
    assert classifier["params"]["num_features"] == 2**20 and classifier["source"] == "trained"
    assert set(classifier["training_set"]["train"]) == {"books", "common_crawl", "webtext2", "wikipedia"}
    assert 0.5 < classifier["held_out"]["auc"] <= 1 and len(classifier["held_out"]["at_thresholds"]) == 3
    alphas = [row["alpha"] for row in resampling["alpha_table"]]
    assert 9.0 in alphas
    crawl_kept = [row["kept_fraction"]["common_crawl"] for row in resampling["alpha_table"]]
    assert crawl_kept == sorted(crawl_kept, reverse=True)  # a larger alpha keeps less
    assert all(row["kept_fraction"]["webtext2"] > row["kept_fraction"]["common_crawl"]
               for row in resampling["alpha_table"])
    assert sum(d["documents"] for d in resampling["score_deciles"]) == resampling["crawl_documents"]
    kept = spark.read.parquet(str(demo_run["out"] / "quality" / "documents")).where("dataset = 'common_crawl'")
    assert resampling["kept"] == kept.count() and resampling["dropped"] == report["counts"]["dropped"][PARETO]
    assert resampling["examples"]["kept"] and resampling["examples"]["dropped"]


def test_sklearn_twin_agrees_with_the_spark_model(spark, demo_run):
    cfg = demo_run["cfg"].quality
    out = demo_run["out"]
    documents = spark.read.parquet(str(out / "extract" / "documents"))
    references = spark.read.parquet(str(out / "quality" / "documents")).where("dataset != 'common_crawl'")
    rows, _ = quality.training_set(documents, references.drop("quality_score"), cfg)
    collected = rows.select("text", "label", "held_out").collect()
    rows.unpersist()
    train = [r for r in collected if not r["held_out"]]
    held_out = [r for r in collected if r["held_out"]]
    twin = fit_twin([r["text"] for r in train], [r["label"] for r in train], cfg)
    twin_auc = roc_auc_score([r["label"] for r in held_out], twin_scores(twin, [r["text"] for r in held_out]))
    spark_auc = json.loads((out / "reports" / "quality.json").read_text())["classifier"]["held_out"]["auc"]
    assert abs(twin_auc - spark_auc) < 0.03, (twin_auc, spark_auc)


def test_saved_classifier_scores_another_run_identically(spark, demo_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_run["out"] / "extract", out / "extract")
    cfg = replace(demo_run["cfg"], out_dir=out, stages=("quality",), references=(),
                  classifier=str(demo_run["out"] / "models" / "quality"))
    run_pipeline(spark, cfg, log=lambda line: None)
    ours = spark.read.parquet(str(out / "quality" / "documents"))
    theirs = spark.read.parquet(str(demo_run["out"] / "quality" / "documents")).where("dataset = 'common_crawl'")
    assert ours.count() == theirs.count() > 0
    assert ours.select("doc_id", "quality_score").subtract(theirs.select("doc_id", "quality_score")).count() == 0
    report = json.loads((out / "reports" / "quality.json").read_text())
    assert report["classifier"]["source"].startswith("loaded from")


def test_other_parallelism_keeps_the_same_documents_byte_for_byte(demo_run, tmp_path):
    """A separate spark-submit with another spark.default.parallelism (so other input splits) and shuffle
    partition count: the same documents, in the same bytes."""
    out = tmp_path / "out"
    shutil.copytree(demo_run["out"] / "extract", out / "extract")
    references = [f"--reference={name}={path}" for name, path in demo_run["cfg"].references]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "spark-submit") if (REPO_ROOT / ".venv").exists() else "spark-submit",
         "--master", "local[2]", "--conf", "spark.default.parallelism=5", "--conf", "spark.sql.shuffle.partitions=3",
         "jobs/filter.py", "--warc", str(demo_run["demo"]["out"] / "crawl"), "--out", str(out),
         "--stages", "quality", *references],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for folder in ("documents", "fate"):
        ours = sorted(p.name for p in (out / "quality" / folder).glob("*.parquet"))
        theirs = sorted(p.name for p in (demo_run["out"] / "quality" / folder).glob("*.parquet"))
        assert ours == theirs and ours
        for name in ours:
            assert (out / "quality" / folder / name).read_bytes() == \
                (demo_run["out"] / "quality" / folder / name).read_bytes(), name


def test_empty_and_null_texts_score_without_crashing(spark, demo_run):
    model = quality.load_classifier(str(demo_run["out"] / "models" / "quality"))
    frame = spark.createDataFrame([("a", ""), ("b", None), ("c", "   ")], "doc_id string, text string")
    scores = [r["quality_score"] for r in quality.score(model, frame).collect()]
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)


def test_bad_reference_and_classifier_inputs_are_user_errors(spark, demo_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_run["out"] / "extract", out / "extract")
    (tmp_path / "blank.jsonl").write_text('{"text": ""}\n{"text": "  "}\n')
    (tmp_path / "small.jsonl").write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(5)))
    base = replace(demo_run["cfg"], out_dir=out, stages=("quality",))
    cases = [
        (replace(base, references=(("wiki", str(tmp_path / "blank.jsonl")),)), "holds no text"),
        (replace(base, references=(("wiki", str(tmp_path / "small.jsonl")),)), "hold 5 documents; training"),
        (replace(base, references=(), classifier=str(tmp_path)), "is not a saved Spark PipelineModel"),
        (replace(base, references=()), "needs reference corpora"),
    ]
    for cfg, message in cases:
        with pytest.raises(UserError, match=message):
            run_pipeline(spark, replace(cfg, redo=frozenset({"quality"})), log=lambda line: None)
    assert not (out / "quality").exists()  # nothing half-written was committed


def test_html_report_shows_the_funnel_and_quality_sections_self_contained(demo_run):
    page = (demo_run["out"] / "reports" / "index.html").read_text()
    assert 'id="funnel"' in page and 'id="quality"' in page and "Choosing alpha" in page
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    quality_section = page.split('id="quality"', 1)[1].split("<section", 1)[0]  # later stages add their own
    assert quality_section.count("<img") == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in page and not re.search(r'(src|href)="https?:', page)  # no network
