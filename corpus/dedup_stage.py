"""The dedup stage on Spark (GPT-3 §2.2): exact duplicates first, then fuzzy duplicates by MinHash LSH, within
each dataset and from Common Crawl against the reference datasets.

  1. exact        documents with the same normalised text (lowercased, whitespace collapsed) hash alike; one is kept
  2. sketches     every other document's feature set (corpus.dedup.feature_sets) in `mapInArrow`, and for the
                  `bands` engine its band keys
  3. candidates   documents sharing a bucket: a band key (`bands`), a MinHashLSH table value (`spark-ml`), or
                  datasketch's LSH in one task (`datasketch`); a bucket over `max_bucket_size` is split by its
                  members' buckets in the next bands (bucket_pairs), and what no band splits is compared in
                  overlapping windows
  4. confirm      exact Jaccard of every pair within each bucket at once (corpus.dedup.bucket_jaccards), or of
                  each datasketch candidate pair; pairs >= threshold stay
  5. components   connected components of the confirmed pairs: large-star / small-star rounds of joins
  6. keep         one document per cluster: reference datasets first, then higher quality_score, then smaller doc_id

Scopes: a reference document is clustered only with documents of its own dataset; a Common Crawl document with
its own dataset and with any reference document, and removed whenever its cluster holds a reference document
(the paper removed WebText from Common Crawl; a reference document is never removed for a crawl twin).
Documents without features (no word) take part in step 1 only. Nothing is collected to the driver but counts,
histograms and the few clusters the report shows.

Output under the stage directory: documents/ (kept, plus `dup_cluster`: the doc_id of the document its cluster
kept, null for a document without duplicates), fate/ (`exact_dup`, `near_dup`, with the kept twin in detail),
pairs/ (every confirmed fuzzy pair: a < b, their datasets and exact Jaccard), counts.json and dedup.json (copied
to OUT/reports/).
"""
import shutil
from dataclasses import asdict
from functools import partial, reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from corpus import dedup
from corpus.config import DedupConfig
from corpus.counters import count_stage
from corpus.dedup_report import dedup_report
from corpus.parquet_parts import write_sorted_parts
from corpus.schema import FATE_COLUMNS
from corpus.stage import Stage, StageContext
from corpus.stage_output import COUNTS_FILE, write_json_atomic

STAGE = "dedup"
EXACT_DUP, NEAR_DUP = "exact_dup", "near_dup"  # fate reasons
REPORT_FILE = "dedup.json"  # copied to OUT/reports/ when the stage commits
UNIT = "documents"
WORK_DIR = "_work"  # intermediate Parquet (sketches, candidates, pairs) under the stage directory, removed at the end
SKETCH_SCHEMA = "doc_id string, dataset string, features array<bigint>, bands array<bigint>"
PAIR_COLUMNS = ["a", "b", "dataset_a", "dataset_b", "jaccard"]  # a confirmed pair, a < b
PAIR_SCHEMA = "a string, b string, dataset_a string, dataset_b string, jaccard double"
SPARK_ML_FEATURES = 1 << 20  # HashingTF width of the spark-ml engine (as the quality classifier's)


# ------------------------------------------------------------------------------------- keeping one per cluster

def _keepers(members: DataFrame, *preference: Column) -> DataFrame:
    """(cluster, keeper): per cluster the member that sorts first by `preference`, then by doc_id."""
    keys = [key.alias(f"k{i}") for i, key in enumerate(preference)] + [F.col("doc_id")]
    return (members.groupBy("cluster").agg(F.min(F.struct(*keys)).alias("best"))
            .select("cluster", F.col("best.doc_id").alias("keeper")))


def _higher_score_first() -> Column:
    return F.coalesce(-F.col("score"), F.lit(float("inf")))  # a missing score sorts after every score


def _removals(reference_members: DataFrame, crawl_members: DataFrame) -> DataFrame:
    """(doc_id, keeper) of every member to remove, given clusters in two scopes.

    reference_members (doc_id, cluster, score): reference documents, clustered within their own dataset.
    crawl_members (doc_id, cluster, is_reference, score): clusters holding a Common Crawl document, with the
    reference documents they reach; a reference member is preferred, one its own dataset keeps first."""
    reference_keepers = _keepers(reference_members, _higher_score_first())
    reference_removed = (reference_members.join(reference_keepers, "cluster").where(F.col("doc_id") != F.col("keeper"))
                         .select("doc_id", "keeper"))
    flagged = crawl_members.join(reference_removed.select("doc_id", F.lit(1).alias("demoted")), "doc_id", "left")
    crawl_keepers = _keepers(flagged, F.when(F.col("is_reference"), 0).otherwise(1), F.coalesce("demoted", F.lit(0)),
                             _higher_score_first())
    crawl_removed = (flagged.where(~F.col("is_reference")).join(crawl_keepers, "cluster")
                     .where(F.col("doc_id") != F.col("keeper")).select("doc_id", "keeper"))
    return reference_removed.unionByName(crawl_removed)


# ---------------------------------------------------------------------------------------------- 1. exact

def _normalised_text_hash() -> Column:
    text = F.regexp_replace(F.lower(F.coalesce(F.col("text"), F.lit(""))), r"\s+", " ")
    return F.sha2(F.trim(text), 256)


def exact_removals(documents: DataFrame, crawl_dataset: str) -> DataFrame:
    """(doc_id, keeper) of the documents whose normalised text a preferred document (the keep rule) also has."""
    keyed = documents.select("doc_id", "dataset", "score", "is_reference", _normalised_text_hash().alias("key"))
    shared = keyed.groupBy("key").count().where("count > 1").select("key")
    members = keyed.join(shared, "key")
    reference = members.where("is_reference").select("doc_id", F.concat_ws(":", "dataset", "key").alias("cluster"),
                                                     "score")
    with_crawl = members.where(F.col("dataset") == crawl_dataset).select("key").distinct()
    crawl = members.join(with_crawl, "key").select("doc_id", F.col("key").alias("cluster"), "is_reference", "score")
    return _removals(reference, crawl)


# -------------------------------------------------------------------------------------------- 2. sketches

def _sketcher(cfg: DedupConfig):
    family = dedup.HashFamily.create(cfg.bands * cfg.rows, cfg.seed) if cfg.engine == "bands" else None

    def sketch(batches):
        for batch in batches:
            features = dedup.feature_sets(batch.column("text").to_pylist(), cfg.features, cfg.shingle_size)
            lengths = np.array([len(f) for f in features], dtype=np.int32)
            values = np.concatenate(features or [np.zeros(0, np.uint64)]).view(np.int64)
            bands = np.zeros((len(features), 0), dtype=np.int64)
            if family is not None:
                bands = dedup.band_keys(dedup.signatures(features, family), cfg.bands, cfg.rows)
            band_lengths = np.where(lengths > 0, bands.shape[1], 0).astype(np.int32)
            yield pa.RecordBatch.from_arrays([
                batch.column("doc_id"), batch.column("dataset"),
                pa.ListArray.from_arrays(np.concatenate(([0], np.cumsum(lengths))).astype(np.int32), values),
                pa.ListArray.from_arrays(np.concatenate(([0], np.cumsum(band_lengths))).astype(np.int32),
                                         bands[lengths > 0].reshape(-1)),
            ], names=["doc_id", "dataset", "features", "bands"])
    return sketch


# -------------------------------------------------------------------------------- 3-4. candidates, confirm

def _bucket_rows_spark_ml(documents: DataFrame, cfg: DedupConfig) -> DataFrame:
    """(band, bucket, doc_id): Spark ML's MinHashLSH on the binarised HashingTF of each document's words (or
    word n-grams), one row per hash table. The fitted model's own hashes, compared bucket by bucket here as the
    bands engine's are (bucket_pairs): approxSimilarityJoin would pair every two documents sharing any table value,
    and a popular value holds most of the corpus (bench/dedup.py measures it)."""
    from pyspark.ml.feature import HashingTF, MinHashLSH, NGram, RegexTokenizer
    from pyspark.ml.functions import vector_to_array
    if cfg.features == dedup.PAPER:  # Spark's Tokenizer (lowercase, split on whitespace) without empty tokens
        tokens = RegexTokenizer(inputCol="text", outputCol="_tokens", pattern=r"\s+", minTokenLength=1)
        terms = documents.withColumn("text", F.coalesce("text", F.lit(""))).transform(tokens.transform)
        column = "_tokens"
    else:
        tokens = RegexTokenizer(inputCol="text", outputCol="_words", pattern=r"[^\p{L}\p{N}]+", minTokenLength=1)
        grams = NGram(n=cfg.shingle_size, inputCol="_words", outputCol="_tokens")
        terms = grams.transform(documents.withColumn("text", F.coalesce("text", F.lit(""))).transform(tokens.transform))
        column = "_tokens"
    vectors = HashingTF(inputCol=column, outputCol="_vector", numFeatures=SPARK_ML_FEATURES, binary=True) \
        .transform(terms.where(F.size(column) > 0))  # MinHashLSH rejects an all-zero vector
    lsh = MinHashLSH(inputCol="_vector", outputCol="_hashes", numHashTables=cfg.spark_ml_tables, seed=cfg.seed)
    hashed = lsh.fit(vectors).transform(vectors)
    return (hashed.select("doc_id", F.posexplode("_hashes").alias("band", "_hash"))
            .select("band", vector_to_array("_hash")[0].cast("long").alias("bucket"), "doc_id"))


def _bucket_rows_bands(sketches: DataFrame) -> DataFrame:
    return sketches.select("doc_id", F.posexplode("bands").alias("band", "bucket")).select("band", "bucket", "doc_id")


def _bucket_pair_rows(batches, threshold: float):
    """mapInArrow: each row one bucket's members (doc_id, dataset, features) → its pairs at `threshold` or more."""
    for batch in batches:
        members = batch.column("members")
        starts = members.offsets.to_numpy()
        doc_id, dataset, features = members.values.flatten()
        doc_ids = np.array(doc_id.to_pylist(), dtype=object)
        datasets = np.array(dataset.to_pylist(), dtype=object)
        views = dedup.list_views(features)
        found = [], [], []
        for lo, hi in zip(starts[:-1], starts[1:]):
            i, j, similarity = dedup.bucket_jaccards(views[lo:hi], threshold)
            first = np.where(doc_ids[lo + i] < doc_ids[lo + j], lo + i, lo + j)  # a < b
            found[0].append(first)
            found[1].append(lo + i + lo + j - first)
            found[2].append(similarity)
        a, b, similarity = (np.concatenate(part) if part else np.zeros(0, dtype=np.int64) for part in found)
        a, b = a.astype(np.int64), b.astype(np.int64)
        yield pa.RecordBatch.from_arrays(
            [pa.array(doc_ids[a].tolist(), pa.string()), pa.array(doc_ids[b].tolist(), pa.string()),
             pa.array(datasets[a].tolist(), pa.string()), pa.array(datasets[b].tolist(), pa.string()),
             pa.array(similarity.astype(np.float64))], names=PAIR_COLUMNS)


def _confirmed_in_buckets(members: DataFrame, sketches: DataFrame, threshold: float) -> DataFrame:
    """Pairs at `threshold` or more among the documents of each key, from (key, doc_id) rows of keys held by at
    most max_bucket_size documents. A bucket's members are gathered with their features once and every pair's
    exact Jaccard computed there: no candidate pair is ever joined to its two documents' features."""
    gathered = (members.join(sketches.select("doc_id", "dataset", "features"), "doc_id")
                .groupBy("key").agg(F.collect_list(F.struct("doc_id", "dataset", "features")).alias("members")))
    return gathered.select("members").mapInArrow(partial(_bucket_pair_rows, threshold=threshold), PAIR_SCHEMA)


def _split(oversized: DataFrame, rows: DataFrame) -> DataFrame:
    """(key, last, parent, doc_id) rows of the members of oversized keys, each re-keyed by its bucket in the next
    band: documents meet in a sub-bucket only if they share the parent key and that band's bucket too. One row per
    member and round, so a round costs what the oversized buckets hold."""
    following = rows.select(F.col("doc_id"), F.col("band").alias("next_band"), F.col("bucket").alias("next_bucket"))
    return (oversized.join(following, "doc_id").where(F.col("next_band") == F.col("last") + 1)
            .select(F.xxhash64("key", "next_band", "next_bucket").alias("key"), F.col("next_band").alias("last"),
                    "parent", "doc_id"))


def _windows(members: DataFrame, max_bucket_size: int) -> DataFrame:
    """(key, doc_id) rows of overlapping windows over each stuck key's members in doc_id order: window k holds ranks
    [k * half, (k + 2) * half), so every member is in two windows of at most max_bucket_size documents, and a run
    of near-identical documents (what no band separates) is connected through the overlaps."""
    half = max(1, max_bucket_size // 2)
    rank = F.row_number().over(Window.partitionBy("key").orderBy("doc_id")) - 1
    ranked = members.select("key", "doc_id", F.floor(rank / half).cast("long").alias("window"))
    placed = ranked.select("key", "doc_id", F.explode(F.array("window", F.col("window") - 1)).alias("window"))
    return placed.where(F.col("window") >= 0).select(F.xxhash64("key", F.lit("window"), "window").alias("key"),
                                                      "doc_id")


def bucket_pairs(rows: DataFrame, sketches: DataFrame, cfg: DedupConfig, bands: int, work: Path) \
        -> tuple[DataFrame, dict]:
    """Distinct pairs at the threshold or more among documents sharing a bucket, and bucket statistics, from
    (band, bucket, doc_id) rows.

    A bucket over max_bucket_size is never gathered whole: its members are re-bucketed by their bucket in the next
    band, and a sub-bucket still over the cap again, band after band. One that no band is left to split, or that
    the next band did not split at all (near-identical documents share every band), is stuck: it is compared in
    overlapping windows of the cap (_windows), which connects a run of near duplicates but may miss a pair far
    apart in doc_id order; stuck buckets are counted. Each round's rows are written under `work` (Spark would
    otherwise recompute every earlier round)."""
    level = rows.select(F.xxhash64("band", "bucket").alias("key"), F.col("band").alias("last"),
                        F.lit(None).cast("long").alias("parent"), "doc_id")
    pairs_of = F.col("n") * (F.col("n") - 1) / 2
    over = F.col("n") > cfg.max_bucket_size
    stuck = over & ((F.col("last") == bands - 1) | (F.col("n") == F.coalesce("parent", F.lit(-1))))
    stats = dict.fromkeys(("pairs_compared", "split_rounds", "stuck_buckets", "stuck_memberships"), 0)
    found = []
    for depth in range(bands):
        sizes = (level.groupBy("key").agg(F.count("*").alias("n"), F.max("last").alias("last"),
                                          F.max("parent").alias("parent")).where("n > 1"))
        counts = sizes.agg(F.count("*").alias("shared_buckets"), F.sum(pairs_of).alias("pairs_in_shared_buckets"),
                           F.max("n").alias("largest_bucket"),
                           F.sum(F.when(~over, pairs_of)).alias("pairs_compared"),
                           F.sum(over.cast("long")).alias("oversized_buckets"),
                           F.sum(F.when(over, pairs_of)).alias("oversized_pairs"),
                           F.sum(stuck.cast("long")).alias("stuck_buckets"),
                           F.sum(F.when(stuck, F.col("n"))).alias("stuck_memberships")).first().asDict()
        counts = {key: int(value or 0) for key, value in counts.items()}
        if depth == 0:  # the tables' own buckets: what a join on equal hash values would face
            stats.update({key: counts[key] for key in ("shared_buckets", "pairs_in_shared_buckets", "largest_bucket",
                                                       "oversized_buckets", "oversized_pairs")})
        for key in ("pairs_compared", "stuck_buckets", "stuck_memberships"):
            stats[key] += counts[key]
        found.append(_confirmed_in_buckets(level.join(sizes.where(~over).select("key"), "key"), sketches,
                                           cfg.threshold))
        if counts["stuck_buckets"]:
            windows = _windows(level.join(sizes.where(stuck).select("key"), "key"), cfg.max_bucket_size)
            windows.write.parquet(str(work / f"windows-{depth}"))
            windows = rows.sparkSession.read.parquet(str(work / f"windows-{depth}"))
            stats["pairs_compared"] += int(windows.groupBy("key").count().agg(
                F.sum(F.col("count") * (F.col("count") - 1) / 2)).first()[0] or 0)
            found.append(_confirmed_in_buckets(windows, sketches, cfg.threshold))
        if counts["oversized_buckets"] == counts["stuck_buckets"]:
            break
        stats["split_rounds"] = depth + 1
        members = level.drop("parent").join(sizes.where(over & ~stuck).select("key", F.col("n").alias("parent")), "key")
        _split(members, rows).write.parquet(str(work / f"split-{depth + 1}"))
        level = rows.sparkSession.read.parquet(str(work / f"split-{depth + 1}"))
    return reduce(DataFrame.unionByName, found).distinct(), stats


def _datasketch_candidates(sketches: DataFrame, cfg: DedupConfig) -> DataFrame:
    """datasketch's MinHashLSH over every document in one task: the single-machine engine."""
    def pairs(batches):
        doc_ids, features = [], []
        for batch in batches:
            doc_ids += batch.column("doc_id").to_pylist()
            features += [np.asarray(f, dtype=np.int64).view(np.uint64) for f in batch.column("features").to_pylist()]
        found = dedup.datasketch_candidates(doc_ids, features, cfg.threshold, cfg.datasketch_permutations, cfg.seed)
        yield pa.RecordBatch.from_pydict({"a": [a for a, _ in found], "b": [b for _, b in found]})
    return sketches.select("doc_id", "features").repartition(1).mapInArrow(pairs, "a string, b string")


def _scored(batches):
    for batch in batches:
        yield pa.RecordBatch.from_arrays(
            [batch.column("a"), batch.column("b"), batch.column("dataset_a"), batch.column("dataset_b"),
             pa.array(dedup.row_jaccards(batch.column("features_a"), batch.column("features_b")))],
            names=PAIR_COLUMNS)


def confirmed_pairs(pairs: DataFrame, sketches: DataFrame, threshold: float) -> DataFrame:
    """Candidate pairs (a, b) confirmed: (a, b, dataset_a, dataset_b, jaccard) of those at `threshold` or more."""
    def side(name: str) -> DataFrame:
        return sketches.select(F.col("doc_id").alias(name), F.col("dataset").alias(f"dataset_{name}"),
                               F.col("features").alias(f"features_{name}"))
    joined = pairs.join(side("a"), "a").join(side("b"), "b")
    return (joined.select("a", "b", "dataset_a", "dataset_b", "features_a", "features_b")
            .mapInArrow(_scored, PAIR_SCHEMA).where(F.col("jaccard") >= threshold))


def duplicate_pairs(survivors: DataFrame, sketches: DataFrame, cfg: DedupConfig, work: Path) -> tuple[DataFrame, dict]:
    """(a, b, dataset_a, dataset_b, jaccard) of every pair at the threshold or more that the configured engine finds,
    and its statistics. Bucket rows are written under `work` first: every round of bucket_pairs reads them (Spark
    would recompute MinHashLSH each time)."""
    with_features = sketches.where(F.size("features") > 0)
    if cfg.engine == "datasketch":
        _datasketch_candidates(with_features, cfg).write.parquet(str(work / "candidates"))
        candidate_pairs = survivors.sparkSession.read.parquet(str(work / "candidates"))
        stats = {"pairs_compared": candidate_pairs.count()}
        return confirmed_pairs(candidate_pairs, with_features, cfg.threshold), stats
    if cfg.engine == "bands":
        rows, bands = _bucket_rows_bands(with_features), cfg.bands
    else:
        rows, bands = _bucket_rows_spark_ml(survivors.select("doc_id", "text"), cfg), cfg.spark_ml_tables
    rows.write.parquet(str(work / "buckets"))
    return bucket_pairs(survivors.sparkSession.read.parquet(str(work / "buckets")), with_features, cfg, bands, work)


# ------------------------------------------------------------------------------------------ 5. components

def _edge_checksum(edges: DataFrame) -> tuple:
    """(count, sum of 64-bit hashes) of an edge set: equal for equal sets, and for different ones but with odds of
    2**-64, so a round's result is compared with a pass over it rather than a join with the previous round's."""
    row = edges.agg(F.count("*"), F.sum(F.xxhash64("a", "b").cast("decimal(38,0)"))).first()
    return tuple(row)


def _large_star(edges: DataFrame) -> DataFrame:
    """Every node's larger neighbours are re-attached to the smallest node of its neighbourhood."""
    both = edges.unionByName(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
    lowest = both.groupBy("a").agg(F.least(F.col("a"), F.min("b")).alias("m"))
    return (both.where(F.col("b") > F.col("a")).join(lowest, "a")
            .select(F.col("b").alias("a"), F.col("m").alias("b")).distinct())


def _small_star(edges: DataFrame) -> DataFrame:
    """Every node and its smaller neighbours are attached to the smallest of them."""
    oriented = edges.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b"))
    lowest = oriented.groupBy("a").agg(F.min("b").alias("m"))
    return (oriented.join(lowest, "a").select(F.col("b").alias("a"), F.col("m").alias("b"))
            .unionByName(lowest.select("a", F.col("m").alias("b")))
            .where(F.col("a") != F.col("b")).distinct())


def connected_components(edges: DataFrame, max_iterations: int) -> DataFrame:
    """(doc_id, cluster) for every node of the undirected edges (a, b); cluster = the smallest doc_id of its
    component. Alternating large-star and small-star rounds (Kiveris et al. 2014, "Connected Components in
    MapReduce and Beyond") turn each component into a star around its smallest node in O(log^2 n) rounds, each a
    few joins; rounds end when the edge set stops changing."""
    current = edges.select("a", "b").where(F.col("a") != F.col("b")).localCheckpoint()
    checksum = _edge_checksum(current)
    for _ in range(max_iterations):
        current = _small_star(_large_star(current)).localCheckpoint()
        previous, checksum = checksum, _edge_checksum(current)
        if checksum == previous:
            leaves = current.select(F.col("a").alias("doc_id"), F.col("b").alias("cluster"))
            centres = current.select(F.col("b").alias("doc_id"), F.col("b").alias("cluster"))
            return leaves.unionByName(centres).groupBy("doc_id").agg(F.min("cluster").alias("cluster"))
    raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")


def fuzzy_removals(pairs: DataFrame, documents: DataFrame, cfg: DedupConfig) -> DataFrame:
    """(doc_id, keeper) of the fuzzy duplicates to remove, from confirmed pairs in both scopes."""
    crawl = F.lit(cfg.crawl_dataset)
    within_reference = pairs.where((F.col("dataset_a") == F.col("dataset_b")) & (F.col("dataset_a") != crawl))
    touching_crawl = pairs.where((F.col("dataset_a") == crawl) | (F.col("dataset_b") == crawl))
    facts = documents.select("doc_id", "is_reference", "score")
    reference = connected_components(within_reference, cfg.max_iterations).join(facts, "doc_id")
    crawl_side = connected_components(touching_crawl, cfg.max_iterations).join(facts, "doc_id")
    return _removals(reference.select("doc_id", "cluster", "score"), crawl_side)


def resolve_keepers(removed: DataFrame, rounds: int = 2) -> DataFrame:
    """Follow keeper → keeper's keeper until a kept document: an exact duplicate's keeper may lose the fuzzy
    step, and a crawl cluster's reference keeper may lose to a twin in its own dataset, so chains are at most 3
    long; each round doubles the distance followed, so 2 rounds reach the end."""
    for _ in range(rounds):
        nxt = removed.select(F.col("doc_id").alias("keeper"), F.col("keeper").alias("next"))
        removed = (removed.join(nxt, "keeper", "left").select("doc_id", F.coalesce("next", "keeper").alias("keeper"),
                                                              "reason").localCheckpoint())
    return removed


# --------------------------------------------------------------------------------------------- the stage

def _fate_rows(removed: DataFrame, documents: DataFrame) -> DataFrame:
    detail = F.format_string("kept=%s", "keeper")
    columns = {"stage": F.lit(STAGE), "reason": F.col("reason"), "detail": detail}
    joined = removed.join(documents, "doc_id")
    return joined.select(*[columns.get(c, F.col(c)).alias(c) for c in FATE_COLUMNS])


def run_dedup(spark: SparkSession, documents_dir: Path, stage_dir: Path, cfg: DedupConfig) -> dict:
    """Deduplicate; write the stage's output and REPORT_FILE; return the counts. DedupConfig checked `cfg`."""
    work = stage_dir / WORK_DIR
    source = spark.read.parquet(str(documents_dir))
    score = F.col("quality_score") if "quality_score" in source.columns else F.lit(None).cast("double")
    documents = source.select("doc_id", "dataset", "text", score.alias("score"),
                              (F.col("dataset") != cfg.crawl_dataset).alias("is_reference"))

    # 1. exact duplicates
    exact = exact_removals(documents, cfg.crawl_dataset).withColumn("reason", F.lit(EXACT_DUP))
    exact.write.parquet(str(work / "exact"))
    exact = spark.read.parquet(str(work / "exact"))
    survivors = documents.join(exact.select("doc_id"), "doc_id", "left_anti")

    # 2-4. sketches, candidates, exact Jaccard
    survivors.select("doc_id", "dataset", "text").mapInArrow(_sketcher(cfg), SKETCH_SCHEMA) \
        .write.parquet(str(work / "sketches"))
    sketches = spark.read.parquet(str(work / "sketches"))
    found, engine_stats = duplicate_pairs(survivors, sketches, cfg, work)
    parts = max(1, len(list(documents_dir.glob("*.parquet"))))  # as many parts as the input had
    write_sorted_parts(found, stage_dir / "pairs", parts, prefix="pair", key=("a", "b"))
    pairs = spark.read.parquet(str(stage_dir / "pairs"))

    # 5-6. components, one kept per cluster, keepers resolved to kept documents
    fuzzy = fuzzy_removals(pairs, documents, cfg).withColumn("reason", F.lit(NEAR_DUP))
    removed = resolve_keepers(exact.unionByName(fuzzy))
    removed.write.parquet(str(work / "removed"))
    removed = spark.read.parquet(str(work / "removed"))

    kept_clusters = removed.select(F.col("keeper").alias("doc_id")).distinct().withColumn("dup_cluster", F.col("doc_id"))
    kept = (source.join(removed.select("doc_id"), "doc_id", "left_anti").join(kept_clusters, "doc_id", "left")
            .select(*source.columns, "dup_cluster"))
    write_sorted_parts(kept, stage_dir / "documents", parts)
    write_sorted_parts(_fate_rows(removed, source), stage_dir / "fate", parts, prefix=STAGE)

    report = dedup_report(spark, source, removed, pairs, sketches, engine_stats, cfg)
    shutil.rmtree(work, ignore_errors=True)
    counts = count_stage(spark, stage_dir, STAGE, unit=UNIT)
    report["counts"] = counts
    write_json_atomic(stage_dir / REPORT_FILE, report)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts


def _stage_settings(context: StageContext) -> dict:
    return {"config": asdict(context.config), "input": context.upstream_settings()}


def _stage_run(context: StageContext) -> dict:
    return run_dedup(context.spark, context.upstream_documents, context.stage_dir, context.config)


def _done(context: StageContext) -> str:
    return f"dedup report: {context.report_path(REPORT_FILE)}"


PIPELINE_STAGE = Stage(STAGE, config="dedup", settings=_stage_settings, run=_stage_run, reports=(REPORT_FILE,),
                       section="dedup", done=_done)
