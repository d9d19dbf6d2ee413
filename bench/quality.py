"""Quality-stage throughput: scoring + Pareto resampling against Spark ML's `transform` alone, same run.

    python -m bench.quality [--copies 20] [--rounds 3] [--out bench-out/quality]

Runs extract + quality on the demo crawl once (reused when already complete), then scores `copies` x the
demo's documents (each copy with its own doc_ids), cached in memory so reading is not timed. Side A is the
trained PipelineModel's transform, reduced to the sum of quality_score so Spark must compute every score;
side B adds the per-document Pareto draw (the vectorised pandas UDF) and the keep rule, reduced to the
kept count. Rounds alternate A and B (the machine is noisy); the best of each is compared.
"""
import argparse
from pathlib import Path

from pyspark.sql import functions as F

from bench.common import demo_quality_run, timed
from corpus import quality
from corpus.config import QualityConfig
from corpus.resample import pareto_draw_column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-out/quality"))
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    spark, _, cfg = demo_quality_run("bench quality", args.out, args.master)
    model = quality.load_classifier(str(cfg.out_dir / "models" / "quality"))

    base = spark.read.parquet(str(cfg.out_dir / "extract" / "documents")).select("doc_id", "dataset", "text")
    copies = spark.range(args.copies).withColumnRenamed("id", "copy")
    documents = (base.crossJoin(copies)
                 .withColumn("doc_id", F.substring(F.sha2(F.concat_ws(":", "doc_id", "copy"), 256), 1, 16))
                 .drop("copy").repartition(8).cache())
    count = documents.count()
    qcfg = QualityConfig()

    def transform_only():
        return quality.score(model, documents).agg(F.sum("quality_score")).first()[0]

    def score_and_resample():
        scored = quality.score(model, documents)
        kept = F.col("pareto_draw") > F.lit(1.0) - F.col("quality_score")
        return scored.withColumn("pareto_draw", pareto_draw_column(F.col("doc_id"), qcfg.seed, qcfg.alpha)) \
            .agg(F.sum(kept.cast("int"))).first()[0]

    transform_only(), score_and_resample()  # warm-up: JIT, Python workers
    bare, full = [], []
    for _ in range(args.rounds):
        bare.append(timed(transform_only)[0])
        seconds, kept = timed(score_and_resample)
        full.append(seconds)
    print(f"documents: {count} ({args.copies} copies of the demo's {count // args.copies}), master {args.master}")
    print(f"Spark ML transform alone:           {count / min(bare):8.0f} docs/s  (best of {args.rounds}: "
          f"{min(bare):.2f} s)")
    print(f"transform + Pareto draw + keep rule: {count / min(full):8.0f} docs/s  (best of {args.rounds}: "
          f"{min(full):.2f} s; kept {kept})")
    print(f"resampling adds {100 * (min(full) / min(bare) - 1):+.1f}% to scoring (goal: < 10%)")
    spark.stop()


if __name__ == "__main__":
    main()
