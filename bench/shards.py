"""Shards-stage throughput: the Spark tokenize step against bare `tokenizers` encode_batch, same texts, same run.

    python -m bench.shards [--copies 5] [--out bench-out/shards]

Runs the pipeline (extract, quality, shards) on the demo crawl once (reused when complete), then takes
the shards' input documents x `copies` (each copy with its own doc_ids). Side A: one process calls
`encode_batch` over every text in batches of 1,024, once with one tokenizer thread (RAYON_NUM_THREADS=1:
one core, the per-core floor) and once with the Rust pool's default threads. Side B: the stage's tokenize
step on Spark local[2] (range partitioning, sort, Arrow batches, per-task tokenizer with one thread,
piece files, index). Compared per core, as the issue asks.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from corpus.config import ShardsConfig
from corpus_demo import generate
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline
from corpus.shards_stage import tokenize
from corpus.spark import build_session
from corpus.tokenizer import load_tokenizer

BARE = """
import json, sys, time
from corpus.tokenizer import EOT, encode_documents, load_tokenizer, token_dtype
tokenizer = load_tokenizer(sys.argv[1])
texts = json.load(open(sys.argv[2]))
eot, dtype = tokenizer.token_to_id(EOT), token_dtype(tokenizer.get_vocab_size())
start = time.perf_counter()
tokens = sum(len(encode_documents(tokenizer, texts[i:i + 1024], eot, dtype)[0]) for i in range(0, len(texts), 1024))
print(tokens, tokens / (time.perf_counter() - start))
"""


def bare_rate(tokenizer_path: Path, texts: list[str], threads: str) -> tuple[int, float]:
    """(tokens, tokens/s) of bare encode_batch in a fresh process (its Rust thread pool sized by `threads`)."""
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    if threads != "default":
        env["RAYON_NUM_THREADS"] = threads
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(texts, handle)
        handle.flush()
        result = subprocess.run([sys.executable, "-c", BARE, str(tokenizer_path), handle.name], env=env,
                                capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    tokens, rate = result.stdout.split()
    return int(tokens), float(rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-out/shards"))
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    spark = build_session("bench shards", master=f"local[{args.cores}]", conf={"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    demo = args.out / "demo"
    if not (demo / "truth.json").exists():
        generate(demo)
    references = tuple((p.stem, str(p)) for p in sorted((demo / "reference").glob("*.jsonl")))
    cfg = PipelineConfig(out_dir=args.out / "out", warcs=tuple(resolve_warc_inputs([str(demo / "crawl")])),
                         references=references)
    run_pipeline(spark, cfg, log=lambda line: None)
    tokenizer = load_tokenizer(str(cfg.out_dir / "shards" / "tokenizer.json"))

    base = spark.read.parquet(str(cfg.out_dir / "quality" / "documents")).select("doc_id", "dataset", "text")
    documents = (base.crossJoin(spark.range(args.copies).withColumnRenamed("id", "copy"))
                 .withColumn("doc_id", F.substring(F.sha2(F.concat_ws(":", "doc_id", "copy"), 256), 1, 16))
                 .drop("copy").cache())
    texts = [r["text"] for r in documents.select("text").collect()]
    bare_rates = {threads: bare_rate(cfg.out_dir / "shards" / "tokenizer.json", texts, threads)
                  for threads in ("1", "default")}
    tokens = bare_rates["1"][0]

    with tempfile.TemporaryDirectory() as scratch:
        tokenize(spark, documents, tokenizer, Path(scratch), 4, ShardsConfig())  # warm-up: Python workers
        start = time.perf_counter()
        tokenize(spark, documents, tokenizer, Path(scratch) / "timed", 4, ShardsConfig())
        stage = time.perf_counter() - start
    print(f"{len(texts)} documents, {tokens:,} tokens ({args.copies} copies of the shards stage's input)")
    per_core = bare_rates["1"][1]
    print(f"bare encode_batch, 1 process, 1 thread:       {per_core:10,.0f} tokens/s")
    print(f"bare encode_batch, 1 process, default threads: {bare_rates['default'][1]:10,.0f} tokens/s")
    print(f"stage tokenize, local[{args.cores}]: {tokens / stage:10,.0f} tokens/s = {tokens / stage / args.cores:,.0f} "
          f"per core; ratio per core {tokens / stage / args.cores / per_core:.2f} (goal >= 0.8)")
    spark.stop()


if __name__ == "__main__":
    main()
