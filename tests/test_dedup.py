"""The dedup stage: pure functions on inline texts, components and the keep rule on a few crafted documents
(every engine), and the acceptance on the whole demo crawl against truth.json.

The stage that runs after quality in `demo_run` sees only the ~4% of the crawl that Pareto resampling keeps, so
the acceptance fixture re-runs quality with demo_run's classifier and alpha = 1e-9 (every document kept, scored)
on a copy of the extract stage: dedup then sees every extracted page plus the reference corpora."""
import itertools
import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from corpus import dedup
from corpus.config import DedupConfig
from corpus.dedup_stage import EXACT_DUP, NEAR_DUP, bucket_pairs, connected_components, run_dedup
from corpus.ids import stable_hash
from corpus.pipeline import run_pipeline
from corpus.references import reference_doc_id
from corpus.schema import DOCUMENT_ARROW

THRESHOLD = DedupConfig().threshold


def read(path: Path, columns=None) -> list[dict]:
    return ds.dataset(str(path)).to_table(columns=columns).to_pylist()


def co_clustered(stage_dir: Path) -> dict[str, str]:
    """doc_id -> the doc_id its cluster kept, for every document in a cluster (kept ones map to themselves)."""
    keeper = {d["doc_id"]: d["dup_cluster"] for d in read(stage_dir / "documents", ["doc_id", "dup_cluster"])
              if d["dup_cluster"]}
    keeper.update({f["doc_id"]: f["detail"].removeprefix("kept=") for f in read(stage_dir / "fate")})
    return keeper


def confirmed(stage_dir: Path) -> set[tuple[str, str]]:
    return {(p["a"], p["b"]) for p in read(stage_dir / "pairs", ["a", "b"])}


def agreement(first: set, second: set) -> float:
    return len(first & second) / max(1, len(first | second))


# --------------------------------------------------------------------------------------------- pure functions

def test_paper_features_are_the_distinct_lowercased_words_and_shingles_their_ngrams():
    texts = ["Hello world, hello   Spark!", "", "  \n ", None, "Café crème déjà-vu café", "one two three four five six"]
    paper = dedup.feature_sets(texts)
    assert [len(f) for f in paper] == [len(set((t or "").lower().split())) for t in texts] == [3, 0, 0, 0, 3, 6]
    assert all(np.all(np.diff(f.astype(np.float64)) > 0) for f in paper)  # sorted, unique
    assert set(dedup.feature_sets(["zeta"])[0]) <= set(dedup.feature_sets(["alpha ZETA"])[0])  # same word, same hash
    shingles = dedup.feature_sets(texts, dedup.SHINGLES, 3)
    # punctuation breaks words: "déjà-vu" is two; 'café crème déjà', 'crème déjà vu', 'déjà vu café'
    assert [len(f) for f in shingles] == [2, 0, 0, 0, 3, 4]
    assert len(dedup.feature_sets(["a b"], dedup.SHINGLES, 3)[0]) == 0  # fewer words than a shingle: no feature
    # a huge batch is hashed in chunks, with the same result as one text at a time
    many = [f"document {i} " + "words " * 3000 for i in range(400)]
    assert all(np.array_equal(a, b) for a, b in zip(dedup.feature_sets(many), [dedup.feature_sets([t])[0] for t in many]))


def _edited(words: list[str], fraction: float, rng: random.Random) -> list[str]:
    edited = list(words)
    for position in rng.sample(range(len(words)), round(fraction * len(words))):
        edited[position] = f"new{rng.randrange(10**9)}"
    return edited


def test_minhash_estimates_jaccard_as_well_as_datasketch():
    from datasketch import MinHash
    rng = random.Random(0)
    family = dedup.HashFamily.create(128, seed=0)
    ours, theirs = [], []
    for _ in range(60):
        words = [f"w{rng.randrange(10**9)}" for _ in range(300)]
        a, b = dedup.feature_sets([" ".join(words), " ".join(_edited(words, rng.uniform(0.05, 0.7), rng))])
        exact = dedup.jaccard(a, b)
        signature = dedup.signatures([a, b], family)
        ours.append(abs(np.mean(signature[0] == signature[1]) - exact))
        sketches = [MinHash(num_perm=128, seed=1) for _ in range(2)]
        for sketch, values in zip(sketches, (a, b)):
            sketch.update_batch([v.tobytes() for v in values])
        theirs.append(abs(sketches[0].jaccard(sketches[1]) - exact))
    assert np.mean(ours) < 0.05 and np.mean(ours) < 1.3 * np.mean(theirs), (np.mean(ours), np.mean(theirs))
    assert dedup.candidate_probability(THRESHOLD, 40, 4) > 0.9 > 0.1 > dedup.candidate_probability(0.2, 40, 4)


def test_bucket_jaccards_give_every_pair_of_a_bucket_exactly_as_jaccard():
    rng = np.random.default_rng(3)
    for size in (2, dedup.SMALL_BUCKET, dedup.SMALL_BUCKET + 1, 150):  # pair by pair, and by the sparse product
        features = [np.unique(rng.integers(0, 400, rng.integers(1, 150)).astype(np.uint64)) for _ in range(size)]
        features[-1] = features[0].copy()  # one identical pair at least
        i, j, similarity = dedup.bucket_jaccards(features, 0.3)
        expected = {(a, b): dedup.jaccard(features[a], features[b])
                    for a, b in itertools.combinations(range(size), 2)}
        assert dict(zip(zip(i.tolist(), j.tolist()), similarity.tolist())) == \
            {pair: value for pair, value in expected.items() if value >= 0.3}  # the same doubles, bit for bit
        assert (0, size - 1) in set(zip(i.tolist(), j.tolist()))


# ------------------------------------------------------------------------------------ components (Spark)

def test_connected_components_match_scipy(spark):
    rng = random.Random(1)
    nodes = [stable_hash(str(i)) for i in range(400)]
    edges = {tuple(sorted(rng.sample(nodes[:300], 2))) for _ in range(220)}
    edges |= {tuple(sorted(p)) for p in zip(nodes[300:340], nodes[301:340])}  # a chain: rounds of pointer jumps
    frame = spark.createDataFrame(sorted(edges), "a string, b string")
    found = {r["doc_id"]: r["cluster"] for r in connected_components(frame, max_iterations=50).collect()}
    index = {n: i for i, n in enumerate(nodes)}
    rows, cols = zip(*[(index[a], index[b]) for a, b in edges])
    _, labels = scipy_components(coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(400, 400)), directed=False)
    members = {n for edge in edges for n in edge}
    assert set(found) == members and len(members) > 200
    for a, b in itertools.combinations(sorted(members), 2):
        assert (found[a] == found[b]) == (labels[index[a]] == labels[index[b]])
    assert all(found[n] == min(m for m in members if found[m] == found[n]) for n in members)  # label = smallest id


def test_an_oversized_bucket_is_split_by_the_next_bands_and_what_no_band_splits_is_compared_in_windows(spark, tmp_path):
    """Three bands, a cap of 3. d0 and d1 (identical) share only buckets over the cap: band 0's (six documents)
    and band 1's (four); band 0's split by band 1 leaves them alone together. d2 and d3 (identical too) share
    band 0's bucket and band 2's, the last band: nothing splits the latter, so it is compared in overlapping
    windows of its members in doc_id order (d2-d3, d3-d4, d4-d5), where they meet."""
    first, second, third = ("d0", "d1", "d2", "d3", "d4", "d5"), ("d0", "d1", "d6", "d7"), ("d2", "d3", "d4", "d5")
    rows = [(0, 7, d) for d in first]
    rows += [(1, 1, d) for d in second] + [(1, 100 + i, d) for i, d in enumerate(third)]
    rows += [(2, 50 + i, d) for i, d in enumerate(second)] + [(2, 9, d) for d in third]
    features = {"d0": [1, 2, 3], "d1": [1, 2, 3], "d2": [4, 5, 6], "d3": [4, 5, 6]}
    sketches = spark.createDataFrame([(d, "common_crawl", features.get(d, [10 + i]))
                                      for i, d in enumerate(sorted({d for *_, d in rows}))],
                                     "doc_id string, dataset string, features array<bigint>")
    frame = spark.createDataFrame(rows, "band int, bucket long, doc_id string")
    pairs, stats = bucket_pairs(frame, sketches, DedupConfig(max_bucket_size=3), 3, tmp_path)
    assert sorted((r["a"], r["b"], r["jaccard"]) for r in pairs.collect()) == [("d0", "d1", 1.0), ("d2", "d3", 1.0)]
    assert stats["oversized_buckets"] == 3 and stats["split_rounds"] == 1
    assert (stats["stuck_buckets"], stats["stuck_memberships"]) == (1, 4)  # band 2's bucket 9
    assert stats["pairs_compared"] == 1 + 3  # d0-d1 in band 0's bucket split by band 1, then the three windows


def test_more_near_identical_documents_than_the_cap_end_in_one_cluster_in_a_few_rounds(spark, tmp_path):
    """Fifteen copies of a page, one word edited in each, and a cap of 4: they share nearly every band, so no band
    splits them (without the stop for a split that separates nothing, rounds would run band after band); the
    overlapping windows connect all fifteen."""
    rng = random.Random(5)
    words = [f"w{rng.randrange(10**9)}" for _ in range(300)]
    texts = [" ".join(_edited(words, 1 / 300, rng)) for _ in range(15)]
    table = pa.table({name: [None] * 15 for name in DOCUMENT_ARROW.names}, schema=DOCUMENT_ARROW)
    table = table.set_column(0, "doc_id", pa.array([stable_hash(t) for t in texts]))
    table = table.set_column(table.schema.get_field_index("dataset"), "dataset", pa.array(["common_crawl"] * 15))
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "part-00000.parquet")
    counts = run_dedup(spark, tmp_path / "in", tmp_path / "stage", DedupConfig(engine="bands", max_bucket_size=4))
    engine = json.loads((tmp_path / "stage" / "dedup.json").read_text())["engine"]
    assert counts["out"] == 1 and counts["dropped"] == {NEAR_DUP: 14}, counts
    assert engine["stuck_buckets"] > 0 and engine["split_rounds"] <= 3, engine  # of 39 possible


# ----------------------------------------------------------------------------- keep rule on crafted documents

def _crafted(directory: Path, with_scores: bool = True, files: int = 1) -> dict[str, str]:
    """A handful of documents whose duplicates and scopes are known; returns name -> doc_id."""
    rng = random.Random(7)
    base = {name: [f"{name}{rng.randrange(10**9)}" for _ in range(200)] for name in "ABDE"}
    text = lambda words: " ".join(words)
    docs = [  # name, dataset, text, quality_score
        ("C1", "common_crawl", text(base["A"]), 0.90),
        ("C2", "common_crawl", text(_edited(base["A"], 0.10, rng)), 0.50),
        ("C3", "common_crawl", "  " + text(base["A"]).upper().replace(" ", " \n "), 0.99),  # C1 after normalising
        ("W1", "webtext2", text(base["B"]), 0.70),
        ("C4", "common_crawl", text(_edited(base["B"], 0.05, rng)), 0.99),  # crawl copy of a reference document
        ("K1", "wikipedia", text(_edited(base["B"], 0.08, rng)), 0.80),  # a reference twin in another dataset
        ("W2", "webtext2", text(base["D"]), 0.60),
        ("W3", "webtext2", text(_edited(base["D"], 0.10, rng)), 0.40),
        ("C5", "common_crawl", "   ", 0.30),  # no feature at all
        ("C6", "common_crawl", "\n", 0.30),
        ("C7", "common_crawl", None, 0.30),
        ("C8", "common_crawl", text(base["E"]), 0.20),  # no duplicate
    ]
    ids = {name: stable_hash(name) for name, *_ in docs}
    columns = {name: [] for name in DOCUMENT_ARROW.names}
    for name, dataset, body, _ in docs:
        row = {"doc_id": ids[name], "dataset": dataset, "url": f"https://example.com/{name}", "text": body}
        for column in DOCUMENT_ARROW.names:
            columns[column].append(row.get(column))
    table = pa.table(columns, schema=DOCUMENT_ARROW)
    if with_scores:
        table = table.append_column("quality_score", pa.array([score for *_, score in docs], pa.float64()))
    directory.mkdir(parents=True)
    for index, rows in enumerate(np.array_split(np.arange(len(docs)), files)):
        pq.write_table(table.take(rows), directory / f"part-{index:05d}.parquet")
    return ids


@pytest.mark.parametrize("engine", ["spark-ml", "datasketch"])  # bands: below, and on the whole demo
def test_one_document_kept_per_cluster_reference_first_then_score(spark, tmp_path, engine):
    ids = _crafted(tmp_path / "in")
    counts = run_dedup(spark, tmp_path / "in", tmp_path / "stage", DedupConfig(engine=engine))
    keeper = co_clustered(tmp_path / "stage")
    name = {doc_id: n for n, doc_id in ids.items()}
    fate = {name[f["doc_id"]]: (f["reason"], name[f["detail"].removeprefix("kept=")])
            for f in read(tmp_path / "stage" / "fate")}
    lowest_empty = min(("C5", "C6", "C7"), key=ids.get)
    assert fate == {
        "C1": (EXACT_DUP, "C3"),  # same text once lowercased and whitespace collapsed; C3 scores higher
        "C2": (NEAR_DUP, "C3"),
        "C4": (NEAR_DUP, "K1"),  # removed for a reference twin despite its higher score (K1 outscores W1)
        "W3": (NEAR_DUP, "W2"),  # within a reference dataset, the higher score stays
        **{n: (EXACT_DUP, lowest_empty) for n in ("C5", "C6", "C7") if n != lowest_empty},  # equal scores: doc_id
    }
    kept = {name[d["doc_id"]]: d["dup_cluster"] for d in read(tmp_path / "stage" / "documents")}
    assert set(kept) == {"C3", "W1", "K1", "W2", "C8", lowest_empty}  # W1 and K1 are never removed for each other
    assert kept["C8"] is None and kept["C3"] == ids["C3"] and keeper[ids["C1"]] == ids["C3"]
    assert counts["in"] == 12 and counts["out"] == 6 and counts["dropped"] == {EXACT_DUP: 3, NEAR_DUP: 3}
    report = json.loads((tmp_path / "stage" / "dedup.json").read_text())
    assert report["datasets"]["common_crawl"]["exact_dups_removed"] == 3
    assert {(r["removed_from"], r["kept_in"]) for r in report["cross_dataset"]} == {("common_crawl", "wikipedia")}
    across, *largest = report["clusters"]  # the cluster across datasets first, then the largest
    assert across["kept"] == ids["K1"] and [(m["doc_id"], m["fate"]) for m in across["members"]] == \
        [(ids["K1"], "kept"), (ids["C4"], NEAR_DUP)] and 0.5 <= across["members"][1]["jaccard_with_kept"] < 1
    assert largest[0]["size"] == 3 and [m["fate"] for m in largest[0]["members"]][0] == "kept"


@pytest.mark.parametrize("engine", ["bands", "spark-ml"])
def test_output_is_byte_identical_however_spark_splits_the_input_and_smaller_doc_id_wins_without_scores(
        spark, tmp_path, engine):
    """A cap of 2 documents per bucket: the three-document buckets are split by later bands, on every partitioning."""
    ids = _crafted(tmp_path / "in", with_scores=False, files=4)
    outputs = []
    for shuffle, split_bytes in (("3", "128MB"), ("4", "2KB")):  # 1-2 input partitions, then one per 2 KB
        previous = {key: spark.conf.get(key) for key in ("spark.sql.shuffle.partitions", "spark.sql.files.maxPartitionBytes",
                                                         "spark.sql.files.openCostInBytes")}
        spark.conf.set("spark.sql.shuffle.partitions", shuffle)
        spark.conf.set("spark.sql.files.maxPartitionBytes", split_bytes)
        spark.conf.set("spark.sql.files.openCostInBytes", split_bytes)
        try:
            run_dedup(spark, tmp_path / "in", tmp_path / f"stage{shuffle}", DedupConfig(engine=engine, max_bucket_size=2))
        finally:
            for key, value in previous.items():
                spark.conf.set(key, value)
        stage = tmp_path / f"stage{shuffle}"
        buckets = json.loads((stage / "dedup.json").read_text())["engine"]
        assert buckets["oversized_buckets"] > 0 and buckets["split_rounds"] >= 1, buckets
        outputs.append({str(p.relative_to(stage)): p.read_bytes() for kind in ("documents", "fate", "pairs")
                        for p in sorted((stage / kind).glob("*.parquet"))})
        fate = {f["doc_id"]: f["detail"] for f in read(stage / "fate")}
        first, *others = sorted(ids[name] for name in ("C1", "C2", "C3"))  # no score: the smallest doc_id is kept
        assert first not in fate and all(fate[other] == f"kept={first}" for other in others)
    assert len(outputs[0]) == 12 and outputs[0] == outputs[1]  # 4 parts each of documents, fate, pairs


# ------------------------------------------------------------------------------- acceptance: the whole demo

@pytest.fixture(scope="module")
def whole_demo(spark, demo_run, tmp_path_factory):
    """quality (demo_run's classifier, alpha 1e-9: every page kept and scored) then dedup with the bands engine."""
    out = tmp_path_factory.mktemp("dedup-whole-demo") / "out"
    shutil.copytree(demo_run["out"] / "extract", out / "extract")
    cfg = replace(demo_run["cfg"], out_dir=out, stages=("quality", "dedup"),
                  classifier=str(demo_run["out"] / "models" / "quality"),
                  quality=replace(demo_run["cfg"].quality, alpha=1e-9), dedup=DedupConfig(engine="bands"))
    run_pipeline(spark, cfg, log=lambda line: None)
    documents = read(out / "quality" / "documents", ["doc_id", "dataset", "text"])
    features = dict(zip([d["doc_id"] for d in documents], dedup.feature_sets([d["text"] for d in documents])))
    return {"out": out, "truth": demo_run["truth"], "documents": documents, "features": features,
            "stage": out / "dedup", "report": json.loads((out / "reports" / "dedup.json").read_text())}


def planted_groups(truth: dict, present: set[str]) -> list[set[str]]:
    """The demo's duplicate groups among the documents present: an original with its exact and near copies, or a
    reference document with its crawl copy."""
    groups: dict[int, set[str]] = {}
    for record in truth["records"]:
        if record["dup_group"] is not None and record["doc_id"] in present:
            groups.setdefault(record["dup_group"], set()).add(record["doc_id"])
            if record["reference"]:
                groups[record["dup_group"]].add(reference_doc_id(record["reference"]["dataset"], record["reference"]["id"]))
    return [g for g in groups.values() if len(g) > 1]


def test_planted_duplicates_are_found_with_recall_and_precision(whole_demo):
    features, groups = whole_demo["features"], planted_groups(whole_demo["truth"], set(whole_demo["features"]))
    planted = {pair: dedup.jaccard(features[pair[0]], features[pair[1]])
               for group in groups for pair in itertools.combinations(sorted(group), 2)}
    above = {pair for pair, similarity in planted.items() if similarity >= THRESHOLD}
    keeper, in_groups = co_clustered(whole_demo["stage"]), set().union(*groups)
    found = {(a, b) for a, b in itertools.combinations(sorted(set(keeper) & in_groups), 2) if keeper[a] == keeper[b]}
    recall, precision = len(above & found) / len(above), len(found & set(planted)) / len(found)
    assert len(above) > 900 and recall >= 0.95 and precision >= 0.95, (len(above), recall, precision)


def test_every_crawl_copy_of_a_reference_document_is_removed_for_a_reference_document(whole_demo):
    copies = [r["doc_id"] for r in whole_demo["truth"]["records"]
              if r["kind"] == "reference_dup" and r["doc_id"] in whole_demo["features"]]
    fate = {f["doc_id"]: f for f in read(whole_demo["stage"] / "fate")}
    dataset = {d["doc_id"]: d["dataset"] for d in whole_demo["documents"]}
    assert len(copies) == 240 and all(dataset[fate[c]["detail"].removeprefix("kept=")] != "common_crawl" for c in copies)
    # and a reference document only ever gives way to a document of its own dataset
    assert all(dataset[f["detail"].removeprefix("kept=")] == f["dataset"] for f in fate.values()
               if f["dataset"] != "common_crawl")


def test_each_cluster_keeps_one_document_and_the_funnel_adds_up(whole_demo):
    stage, features = whole_demo["stage"], whole_demo["features"]
    kept = {d["doc_id"]: d["dup_cluster"] for d in read(stage / "documents", ["doc_id", "dup_cluster"])}
    fate = read(stage / "fate")
    assert all(kept.get(f["detail"].removeprefix("kept=")) == f["detail"].removeprefix("kept=") for f in fate)
    assert all(cluster in (None, doc_id) for doc_id, cluster in kept.items())
    crawl_groups = [g for g in planted_groups(whole_demo["truth"], set(features))
                    if all(dedup.jaccard(features[a], features[b]) >= THRESHOLD for a, b in itertools.combinations(g, 2))]
    assert len(crawl_groups) > 300 and all(len(g & set(kept)) == 1 for g in crawl_groups)
    counts = json.loads((stage / "counts.json").read_text())
    assert counts["in"] == len(features) == counts["out"] + sum(counts["dropped"].values())
    assert counts["out"] == len(kept) and sum(counts["dropped"].values()) == len(fate)


def test_bands_agree_with_the_datasketch_oracle(whole_demo):
    exact = {f["doc_id"] for f in read(whole_demo["stage"] / "fate") if f["reason"] == EXACT_DUP}
    survivors = sorted(set(whole_demo["features"]) - exact)
    features = [whole_demo["features"][d] for d in survivors]
    lookup = dict(zip(survivors, features))
    oracle = {pair for pair in dedup.datasketch_candidates(survivors, features, THRESHOLD)
              if dedup.jaccard(lookup[pair[0]], lookup[pair[1]]) >= THRESHOLD}
    bands = confirmed(whole_demo["stage"])
    assert len(oracle) > 500 and agreement(bands, oracle) >= 0.98, (len(bands), len(oracle), agreement(bands, oracle))


def test_spark_ml_agrees_with_bands_on_the_whole_demo(spark, whole_demo, tmp_path):
    """The default engine on the whole demo's input: buckets over the cap (a common word's minimum holds hundreds
    of pages) are split by later tables rather than skipped, so it finds what bands finds from far more shared
    bucket pairs."""
    run_dedup(spark, whole_demo["out"] / "quality" / "documents", tmp_path / "spark-ml", DedupConfig())
    spark_ml = json.loads((tmp_path / "spark-ml" / "dedup.json").read_text())
    pairs = confirmed(tmp_path / "spark-ml"), confirmed(whole_demo["stage"])
    assert len(pairs[1]) > 500 and agreement(*pairs) >= 0.98, (len(pairs[0]), len(pairs[1]), agreement(*pairs))
    assert spark_ml["params"]["engine"] == "spark-ml" and spark_ml["engine"]["oversized_buckets"] > 0
    bands = whole_demo["report"]["engine"]
    assert spark_ml["engine"]["pairs_in_shared_buckets"] > 10 * bands["pairs_in_shared_buckets"]


def test_report_shows_the_dedup_section(whole_demo):
    report, out = whole_demo["report"], whole_demo["out"]
    assert report["datasets"]["common_crawl"]["exact_dups_removed"] > 200
    assert sum(r["documents"] for r in report["cross_dataset"]) == 240  # the crawl copies of reference documents
    assert sum(int(size) * n for size, n in report["cluster_sizes"].items()) == \
        sum(report["datasets"][d]["clusters"] + report["datasets"][d]["exact_dups_removed"]
            + report["datasets"][d]["near_dups_removed"] for d in report["datasets"])
    assert min(float(edge) for edge in report["jaccard"]["counts"]) >= THRESHOLD - 1e-9
    assert report["clusters"] and report["clusters"][0]["members"][0]["fate"] == "kept"
    page = (out / "reports" / "index.html").read_text()
    section = page[page.index('<section id="dedup">'):]
    assert "<img" in section and "Some clusters side by side" in section and report["clusters"][0]["kept"] in section
