"""Decontam-stage throughput against the dedup stage's on the same documents, same run (issue 5's yardstick).

    python -m bench.decontam [--docs 20000] [--words 400] [--quotes 0.02] [--rounds 3] [--out bench-out/decontam]

Input: `docs` generated pages of about `words` words (bench/dedup.py's generator: demo prose, a fifth of them
near duplicates of earlier pages), a share `quotes` of which quote one item of the demo's prose benchmark
verbatim, so the decontam stage really splits documents. Both sides are the whole stage as the pipeline runs it,
default settings, reading the same Parquet and writing documents/, fate/ and the report: the dedup stage with
its default engine (spark-ml, the paper's) and with the bands engine, and the decontam stage on the demo's
benchmarks. Rounds alternate the sides (the machine is noisy); the best of each is compared.
Goal: decontam docs/s / dedup docs/s >= 1 (decontamination is not the bottleneck).
"""
import argparse
import json
import random
import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path

from bench.common import timed
from bench.dedup import generate as generate_pages, write_documents
from corpus.config import DecontamConfig, DedupConfig
from corpus.decontam_stage import DecontamInputs, run_decontam
from corpus.dedup_stage import run_dedup
from corpus_demo import generate as generate_demo
from corpus.spark import build_session


def quote_benchmarks(texts: list[str], benchmark: Path, share: float, seed: int = 0) -> list[str]:
    """Pages with one benchmark item pasted in the middle, as a page quoting a quiz would."""
    items = [json.loads(line) for line in benchmark.read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    quoted = list(texts)
    for index in rng.sample(range(len(texts)), int(share * len(texts))):
        item, middle = rng.choice(items), len(texts[index]) // 2
        quoted[index] = texts[index][:middle] + "\n\n" + item["context"] + item["completion"] + "\n\n" + texts[index][middle:]
    return quoted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--quotes", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-out/decontam"))
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    demo = args.out / "demo"
    if not (demo / "truth.json").exists():
        generate_demo(demo, pages=300)
    ids, texts, _ = generate_pages(args.docs, words=args.words, seed=4)
    documents = write_documents(ids, quote_benchmarks(texts, demo / "benchmarks" / "prose_cloze.jsonl", args.quotes),
                                args.out / f"documents-{args.docs}")
    spark = build_session("bench decontam", master=args.master, conf={"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")

    def stage(name: str, run):
        directory = args.out / "stage" / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        return run(directory)

    sides = {
        "dedup stage, spark-ml engine (default)": lambda d: run_dedup(spark, documents, d, DedupConfig()),
        "dedup stage, bands engine": lambda d: run_dedup(spark, documents, d, replace(DedupConfig(), engine="bands")),
        "decontam stage": lambda d: run_decontam(spark, DecontamInputs(documents, (str(demo / "benchmarks"),)), d,
                                                 DecontamConfig()),
    }
    best, counts = {}, {}
    stage("warm-up", sides["decontam stage"])  # JIT, Python workers
    for _ in range(args.rounds):
        for name, run in sides.items():
            seconds, counts[name] = timed(partial(stage, name.split(",")[0].replace(" ", "-"), run))
            best[name] = min(best.get(name, seconds), seconds)

    print(f"documents: {args.docs} generated pages of ~{args.words} words, {args.quotes:.0%} quoting a benchmark "
          f"item; master {args.master}; best of {args.rounds}")
    for name, seconds in best.items():
        print(f"{name:40s} {args.docs / seconds:8.0f} docs/s  ({seconds:.2f} s; dropped {counts[name]['dropped']})")
    decontam = args.docs / best["decontam stage"]
    for name in list(best)[:2]:
        print(f"ratio decontam / {name}: {decontam / (args.docs / best[name]):.2f} (goal: >= 1)")
    spark.stop()


if __name__ == "__main__":
    main()
