"""The figures of OUT/reports/quality.json that let a user choose alpha, computed by Spark aggregates
over the scored documents (columns dataset, url, quality_score, kept). Score bins have fixed edges (not
quantiles), so the report is the same for any partitioning."""
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from corpus.config import QualityConfig

HISTOGRAM_BINS = 20  # score histograms: bins of width 0.05
DECILE_BINS = 10  # "score deciles": bins of width 0.1


def _bin(column: str, bins: int):
    return F.least(F.floor(F.col(column) * bins), F.lit(bins - 1)).cast("int")


def _expected_keep(alpha: float):
    return F.avg(F.pow(F.lit(2.0) - F.col("quality_score"), F.lit(-alpha)))  # P(keep | s) = (2 - s) ** -alpha


def alpha_table(scored: DataFrame, cfg: QualityConfig) -> list[dict]:
    """For each alpha of the grid, the fraction of every dataset the rule would keep (its expectation)."""
    aggregates = [_expected_keep(a).alias(f"a{i}") for i, a in enumerate(cfg.alpha_grid)]
    rows = {r["dataset"]: r for r in scored.groupBy("dataset").agg(*aggregates).collect()}
    return [{"alpha": alpha, "kept_fraction": {d: round(rows[d][f"a{i}"], 6) for d in sorted(rows)}}
            for i, alpha in enumerate(cfg.alpha_grid)]


def score_deciles(crawl: DataFrame, cfg: QualityConfig) -> list[dict]:
    """Per score bin of width 0.1: documents, kept, kept rate, and the rule's expected rate at each alpha."""
    aggregates = [F.count("*").alias("documents"), F.sum(F.col("kept").cast("int")).alias("kept"),
                  F.min("quality_score").alias("score_min"), F.max("quality_score").alias("score_max")]
    aggregates += [_expected_keep(a).alias(f"a{i}") for i, a in enumerate(cfg.alpha_grid)]
    aggregates += [_expected_keep(cfg.alpha).alias("expected")]
    rows = crawl.groupBy(_bin("quality_score", DECILE_BINS).alias("bin")).agg(*aggregates).orderBy("bin").collect()
    return [{"bin": [r["bin"] / DECILE_BINS, (r["bin"] + 1) / DECILE_BINS], "documents": r["documents"],
             "kept": r["kept"], "kept_rate": round(r["kept"] / r["documents"], 6),
             "expected_kept_rate": round(r["expected"], 6),
             "score_range": [round(r["score_min"], 6), round(r["score_max"], 6)],
             "expected_kept_rate_at": {str(a): round(r[f"a{i}"], 6) for i, a in enumerate(cfg.alpha_grid)}}
            for r in rows]


def histograms(scored: DataFrame, crawl_dataset: str) -> dict:
    """Score histograms (20 bins of width 0.05) for every dataset, and kept vs dropped for the crawl."""
    def counts(frame: DataFrame, key) -> dict:
        rows = frame.groupBy(key.alias("key"), _bin("quality_score", HISTOGRAM_BINS).alias("bin")).count().collect()
        table: dict = {}
        for r in rows:
            table.setdefault(str(r["key"]), [0] * HISTOGRAM_BINS)[r["bin"]] = r["count"]
        return dict(sorted(table.items()))

    crawl = scored.where(F.col("dataset") == crawl_dataset)
    return {"edges": [i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)],
            "by_dataset": counts(scored, F.col("dataset")),
            "crawl_kept_vs_dropped": counts(crawl, F.when(F.col("kept"), "kept").otherwise("dropped"))}


def examples(crawl: DataFrame, n: int) -> dict:
    """A few kept and dropped crawl URLs with their scores (the first by doc_id: a stable random pick)."""
    def pick(kept: bool) -> list[dict]:
        rows = crawl.where((F.col("kept") == kept) & F.col("url").isNotNull()) \
            .select("doc_id", "url", "quality_score").orderBy("doc_id").limit(n).collect()
        return [{"doc_id": r["doc_id"], "url": r["url"], "quality_score": round(r["quality_score"], 4)} for r in rows]
    return {"kept": pick(True), "dropped": pick(False)}


def resampling_report(scored: DataFrame, cfg: QualityConfig) -> dict:
    crawl = scored.where(F.col("dataset") == cfg.crawl_dataset)
    totals = crawl.agg(F.count("*").alias("n"), F.sum(F.col("kept").cast("int")).alias("kept")).first()
    documents, kept = totals["n"], totals["kept"] or 0
    return {
        "alpha": cfg.alpha, "seed": cfg.seed,
        "rule": "keep iff np.random.pareto(alpha) > 1 - quality_score, i.e. with probability (2 - s) ** -alpha",
        "crawl_documents": documents, "kept": kept, "dropped": documents - kept,
        "kept_rate": round(kept / documents, 6) if documents else None,
        "alpha_table": alpha_table(scored, cfg),
        "score_deciles": score_deciles(crawl, cfg),
        "histograms": histograms(scored, cfg.crawl_dataset),
        "examples": examples(crawl, cfg.report_examples),
    }
