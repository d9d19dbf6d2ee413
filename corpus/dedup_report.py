"""dedup.json: what the dedup stage found, from its written decisions (aggregates and a few clusters only)."""
from dataclasses import asdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from corpus import dedup
from corpus.config import DedupConfig

JACCARD_BIN = 0.05  # width of the confirmed pairs' Jaccard histogram bins
SNIPPET_CHARS = 400  # text shown per cluster member


def _params(cfg: DedupConfig) -> dict:
    params = asdict(cfg)
    if cfg.engine == "bands":
        params["minhash_functions"] = cfg.bands * cfg.rows
        params["candidate_probability"] = {str(j): round(dedup.candidate_probability(j, cfg.bands, cfg.rows), 4)
                                           for j in (0.2, 0.3, 0.4, cfg.threshold, 0.6, 0.8)}
    elif cfg.engine == "spark-ml":
        params["candidate_probability"] = {str(j): round(dedup.candidate_probability(j, cfg.spark_ml_tables, 1), 4)
                                           for j in (0.05, 0.1, 0.2, cfg.threshold, 0.8)}
    return params


def _clusters(source: DataFrame, removed: DataFrame) -> DataFrame:
    """(doc_id, dataset, keeper, reason): every document in a cluster; a keeper is its own keeper, reason null."""
    keepers = removed.select(F.col("keeper").alias("doc_id")).distinct().select(
        "doc_id", F.col("doc_id").alias("keeper"), F.lit(None).cast("string").alias("reason"))
    return removed.select("doc_id", "keeper", "reason").unionByName(keepers).join(
        source.select("doc_id", "dataset"), "doc_id")


def _datasets(source: DataFrame, members: DataFrame) -> dict:
    totals = {r["dataset"]: r["count"] for r in source.groupBy("dataset").count().collect()}
    removed = {(r["dataset"], r["reason"]): r["count"] for r in
               members.where("reason IS NOT NULL").groupBy("dataset", "reason").count().collect()}
    sizes = members.groupBy("keeper").agg(F.count("*").alias("size"))
    keeper_dataset = members.where("reason IS NULL").select(F.col("doc_id").alias("keeper"), "dataset")
    clusters = {r["dataset"]: (r["clusters"], r["largest"]) for r in sizes.join(keeper_dataset, "keeper")
                .groupBy("dataset").agg(F.count("*").alias("clusters"), F.max("size").alias("largest")).collect()}
    return {d: {"documents": totals[d], "exact_dups_removed": removed.get((d, "exact_dup"), 0),
                "near_dups_removed": removed.get((d, "near_dup"), 0), "clusters": clusters.get(d, (0, 0))[0],
                "largest_cluster": clusters.get(d, (0, 0))[1]} for d in sorted(totals)}


def _cross_dataset(members: DataFrame) -> list[dict]:
    keeper_dataset = members.where("reason IS NULL").select(F.col("doc_id").alias("keeper"),
                                                            F.col("dataset").alias("kept_dataset"))
    rows = (members.where("reason IS NOT NULL").join(keeper_dataset, "keeper")
            .where(F.col("dataset") != F.col("kept_dataset"))
            .groupBy("dataset", "kept_dataset", "reason").count().orderBy("dataset", "kept_dataset", "reason").collect())
    return [{"removed_from": r["dataset"], "kept_in": r["kept_dataset"], "reason": r["reason"], "documents": r["count"]}
            for r in rows]


def _histograms(members: DataFrame, pairs: DataFrame) -> dict:
    sizes = members.groupBy("keeper").count().groupBy(F.col("count").alias("size")).count().orderBy("size").collect()
    bins = pairs.groupBy(F.least(F.floor(F.col("jaccard") / JACCARD_BIN), F.lit(round(1 / JACCARD_BIN) - 1))
                         .alias("bin")).count().orderBy("bin").collect()
    return {"cluster_sizes": {str(r["size"]): r["count"] for r in sizes},
            "jaccard": {"bin_width": JACCARD_BIN,
                        "counts": {f"{r['bin'] * JACCARD_BIN:.2f}": r["count"] for r in bins}}}


def _shown_clusters(source: DataFrame, members: DataFrame, cfg: DedupConfig) -> list[dict]:
    """A few clusters member by member: one across datasets first (if any), then the largest."""
    keeper_dataset = members.where("reason IS NULL").select("keeper", F.col("dataset").alias("kept_dataset"))
    summary = (members.join(keeper_dataset, "keeper").groupBy("keeper")
               .agg(F.count("*").alias("size"),
                    F.max((F.col("dataset") != F.col("kept_dataset")).cast("int")).alias("across")))
    chosen = [r["keeper"] for r in summary.where("across = 1").orderBy(F.desc("size"), "keeper").limit(1).collect()]
    chosen += [r["keeper"] for r in summary.where(~F.col("keeper").isin(chosen or [""]))
               .orderBy(F.desc("size"), "keeper").limit(cfg.report_clusters - len(chosen)).collect()]
    sizes = {r["keeper"]: r["size"] for r in summary.where(F.col("keeper").isin(chosen or [""])).collect()}
    order = Window.partitionBy("keeper").orderBy(F.col("reason").isNotNull(), "reason", "doc_id")
    rows = (members.where(F.col("keeper").isin(chosen or [""])).withColumn("rank", F.row_number().over(order))
            .where(F.col("rank") <= cfg.report_members)  # a cluster may hold millions: only the shown members
            .join(source.select("doc_id", "url", "text"), "doc_id")
            .select("keeper", "doc_id", "dataset", "url", "reason", "text", "rank").collect())
    shown = []
    for keeper in chosen:
        cluster = sorted((r for r in rows if r["keeper"] == keeper), key=lambda r: r["rank"])
        features = dedup.feature_sets([r["text"] for r in cluster], cfg.features, cfg.shingle_size)
        shown.append({"kept": keeper, "size": sizes[keeper], "members": [
            {"doc_id": r["doc_id"], "dataset": r["dataset"], "url": r["url"], "fate": r["reason"] or "kept",
             "jaccard_with_kept": round(dedup.jaccard(features[0], f), 3),
             "text": (r["text"] or "")[:SNIPPET_CHARS]} for r, f in zip(cluster, features)]})
    return shown


def dedup_report(spark: SparkSession, source: DataFrame, removed: DataFrame, pairs: DataFrame,
                 sketches: DataFrame, engine_stats: dict, cfg: DedupConfig) -> dict:
    members = _clusters(source, removed).persist()
    report = {
        "stage": "dedup",
        "params": _params(cfg),
        "engine": {"name": cfg.engine, "confirmed_pairs": pairs.count(),
                   "documents_without_features": sketches.where(F.size("features") == 0).count(), **engine_stats},
        "datasets": _datasets(source, members),
        "cross_dataset": _cross_dataset(members),
        **_histograms(members, pairs),
        "clusters": _shown_clusters(source, members, cfg),
    }
    members.unpersist()
    return report
