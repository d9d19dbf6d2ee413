"""Dedup-stage performance, three side-by-side ratios on generated pages (prose from the demo's text pool; a share
of them near duplicates of earlier pages, 5-30% of their words edited):

    python -m bench.dedup [--docs 5000] [--signature-docs 2000] [--rounds 3] [--out bench-out/dedup]

(a) MinHash signatures per second on one core: corpus.dedup (5-word shingles hashed in numpy, the bands engine's
    160 functions) against datasketch MinHash(128) fed the same shingles, same pages of ~800 shingles; best of rounds.
(b) the whole dedup stage with the bands engine on N and 4N pages: goal <= 4.5x the time for 4x the pages.
(c) Spark ML's MinHashLSH(10 tables).approxSimilarityJoin at distance 1 - threshold against the whole bands stage
    on the same N pages, with the recall of the planted pairs at Jaccard >= threshold of each: goal >= 10x; and the
    whole stage with the spark-ml engine (the same fitted MinHashLSH, its buckets joined by the stage).
"""
import argparse
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import timed
from corpus import dedup
from corpus.config import DedupConfig
from corpus.decontam import WORD
from corpus_demo import DemoConfig, TextPool, edit_words
from corpus.ids import stable_hash
from corpus.schema import DOCUMENT_ARROW

DUPLICATE_SHARE = 0.2  # pages that copy an earlier page with some words edited


def generate(count: int, words: int, seed: int = 0) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(doc_ids, texts, planted pairs (copy, original)) of `count` pages of about `words` words."""
    pool, rng = TextPool.build(DemoConfig()), random.Random(seed)
    ids, texts, planted = [], [], []
    for number in range(count):
        ids.append(stable_hash(f"bench-{seed}-{number}"))
        if texts and rng.random() < DUPLICATE_SHARE:
            original = rng.randrange(len(texts))
            texts.append(edit_words(texts[original], rng.uniform(0.05, 0.30), rng, pool.vocabulary)[0])
            planted.append((ids[-1], ids[original]))
        else:
            texts.append("\n\n".join(pool.paragraphs(rng, words, rng.randrange(2, 8))))
    return ids, texts, planted


def write_documents(ids: list[str], texts: list[str], directory: Path, files: int = 4) -> Path:
    if directory.exists():
        return directory
    rows = {name: [None] * len(ids) for name in DOCUMENT_ARROW.names}
    rows.update(doc_id=ids, text=texts, dataset=["common_crawl"] * len(ids), url=[f"https://bench/{i}" for i in ids])
    table = pa.table(rows, schema=DOCUMENT_ARROW)
    directory.mkdir(parents=True)
    step = -(-len(ids) // files)
    for index in range(files):
        pq.write_table(table.slice(index * step, step), directory / f"part-{index:05d}.parquet")
    return directory


# ---------------------------------------------------------------------------------------- (a) signatures

def signature_rates(texts: list[str], rounds: int) -> tuple[float, float, float]:
    """Documents per second: ours (160 functions), ours (128), datasketch MinHash(128)."""
    from datasketch import MinHash

    def ours(functions: int):
        family = dedup.HashFamily.create(functions, seed=0)
        return lambda: dedup.signatures(dedup.feature_sets(texts, dedup.SHINGLES, 5), family)

    def theirs():
        for text in texts:
            words = WORD.findall(text.lower())
            sketch = MinHash(num_perm=128)
            sketch.update_batch([" ".join(words[i:i + 5]).encode() for i in range(len(words) - 4)])

    ours(160)()  # warm-up: numpy's power tables and caches
    best = {name: min(timed(action)[0] for _ in range(rounds))
            for name, action in (("ours160", ours(160)), ("ours128", ours(128)), ("datasketch", theirs))}
    return tuple(len(texts) / best[name] for name in ("ours160", "ours128", "datasketch"))


# ------------------------------------------------------------------------------------ (b) and (c) on Spark

def run_stage(spark, documents: Path, stage: Path, engine: str = "bands") -> tuple[float, set]:
    from corpus.dedup_stage import run_dedup
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    seconds, _ = timed(lambda: run_dedup(spark, documents, stage, DedupConfig(engine=engine)))
    pairs = {(r["a"], r["b"]) for r in pq.read_table(stage / "pairs").to_pylist()}
    return seconds, pairs


def approx_similarity_join(spark, documents: Path, threshold: float) -> tuple[float, set]:
    """Spark ML as the paper used it: Tokenizer → binary HashingTF → MinHashLSH(10), approxSimilarityJoin."""
    from pyspark.ml.feature import HashingTF, MinHashLSH, RegexTokenizer
    from pyspark.sql import functions as F
    frame = spark.read.parquet(str(documents)).select("doc_id", "text")
    words = RegexTokenizer(inputCol="text", outputCol="words", pattern=r"\s+").transform(frame)
    vectors = HashingTF(inputCol="words", outputCol="vector", numFeatures=1 << 20, binary=True).transform(words)
    model = MinHashLSH(inputCol="vector", outputCol="hashes", numHashTables=10, seed=0).fit(vectors)

    def join():
        joined = model.approxSimilarityJoin(vectors, vectors, 1 - threshold, distCol="distance")
        return (joined.select(F.col("datasetA.doc_id").alias("a"), F.col("datasetB.doc_id").alias("b"))
                .where("a < b").collect())
    seconds, rows = timed(join)
    return seconds, {(r["a"], r["b"]) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000, help="N: pages of (b) and (c)")
    parser.add_argument("--signature-docs", type=int, default=2000, help="pages of (a)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-out/dedup"))
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    threshold = DedupConfig().threshold

    _, texts, _ = generate(args.signature_docs, words=804, seed=1)
    ours160, ours128, datasketch = signature_rates(texts, args.rounds)
    print(f"(a) signatures, one core, {len(texts)} pages of ~800 shingles: corpus.dedup {ours160:.0f} docs/s "
          f"(160 functions; {ours128:.0f} with 128), datasketch MinHash(128) {datasketch:.0f} docs/s: "
          f"{ours160 / datasketch:.1f}x (goal >= 3x)", flush=True)

    from corpus.spark import build_session
    spark = build_session("bench dedup", master=args.master, conf={"spark.ui.enabled": "false",
                                                                   "spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    small = generate(args.docs, words=400, seed=2)
    large = generate(4 * args.docs, words=400, seed=3)
    small_dir = write_documents(small[0], small[1], args.out / f"docs-{args.docs}")
    large_dir = write_documents(large[0], large[1], args.out / f"docs-{4 * args.docs}")
    run_stage(spark, small_dir, args.out / "warm-up")  # Python workers, JIT
    small_seconds, bands_pairs = run_stage(spark, small_dir, args.out / "stage-n")
    large_seconds, _ = run_stage(spark, large_dir, args.out / "stage-4n")
    print(f"(b) bands stage, master {args.master}: {args.docs} pages {small_seconds:.1f} s, {4 * args.docs} pages "
          f"{large_seconds:.1f} s: {large_seconds / small_seconds:.2f}x for 4x the pages (goal <= 4.5x)", flush=True)

    features = dict(zip(small[0], dedup.feature_sets(small[1])))
    truth = {tuple(sorted(p)) for p in small[2] if dedup.jaccard(features[p[0]], features[p[1]]) >= threshold}
    spark_ml_seconds, spark_ml_pairs = run_stage(spark, small_dir, args.out / "stage-spark-ml", "spark-ml")
    join_seconds, join_pairs = approx_similarity_join(spark, small_dir, threshold)

    def recall(found: set) -> str:
        return f"recall {len(truth & found) / len(truth):.3f}"
    print(f"(c) {args.docs} pages, {len(truth)} planted pairs at Jaccard >= {threshold}: approxSimilarityJoin "
          f"{join_seconds:.1f} s ({recall(join_pairs)}), bands stage {small_seconds:.1f} s ({recall(bands_pairs)}): "
          f"{join_seconds / small_seconds:.1f}x (goal >= 10x); the whole stage with the spark-ml engine (the same "
          f"MinHashLSH, buckets joined by the stage) {spark_ml_seconds:.1f} s ({recall(spark_ml_pairs)})")
    spark.stop()


if __name__ == "__main__":
    main()
