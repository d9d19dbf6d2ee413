"""Extract-stage throughput: the Spark stage against a bare single-process loop over the same records.

    python -m bench.extract [--pages 3000] [--files 4] [--cores 2]

Every side runs in this one run, back to back, on the demo crawl (the machine is noisy, so
only figures from the same run are compared). The bare loop is warcio + trafilatura.extract over every
HTTP 200 HTML response, decoded as UTF-8; the Spark side is the whole stage (charset detection, limits,
fate table, two Parquet writes), timed from the first task to the committed output, without the
SparkSession's start-up. Also prints trafilatura's memory over a long run with and without the
stage's periodic cache reset.
"""
import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import psutil
import trafilatura
from warcio.archiveiterator import ArchiveIterator

from corpus.config import ExtractConfig
from corpus_demo import generate
from corpus.extract import HtmlToText
from corpus.inputs import resolve_warc_inputs


def html_payloads(paths):
    """Every HTTP 200 HTML payload, read with warcio (the part both sides share)."""
    for path in paths:
        with open(path, "rb") as stream:
            try:
                for record in ArchiveIterator(stream):
                    if record.rec_type == "response" and record.http_headers is not None \
                            and record.http_headers.get_statuscode() == "200" \
                            and "html" in (record.http_headers.get_header("Content-Type") or ""):
                        yield record.content_stream().read(), record.rec_headers.get_header("WARC-Target-URI")
            except Exception:  # the demo's truncated file: the bare loop just stops there
                continue


def bare_loop(paths, cfg: ExtractConfig) -> tuple[int, float]:
    """(documents, seconds): warcio + trafilatura.extract, one process, nothing else."""
    trafilatura.extract("<html><body><p>warm up the extractor once</p></body></html>")
    documents, start = 0, time.perf_counter()
    for payload, url in html_payloads(paths):
        if len(payload) > cfg.max_payload_bytes:
            continue
        text = trafilatura.extract(payload.decode("utf-8", errors="replace"), url=url, output_format="txt",
                                   include_comments=cfg.include_comments, include_tables=cfg.include_tables,
                                   deduplicate=False)
        documents += bool(text)
    return documents, time.perf_counter() - start


def _bare_loop_one(path_and_cfg):
    return bare_loop([path_and_cfg[0]], path_and_cfg[1])


def bare_pool(paths, cfg: ExtractConfig, processes: int) -> tuple[int, float]:
    """The bare loop, one file per process: what this machine's cores give without Spark."""
    with multiprocessing.Pool(processes) as pool:
        pool.map(_bare_loop_one, [(paths[0], cfg)] * processes)  # imports and warm-up, as Spark's cold run
        start = time.perf_counter()
        results = pool.map(_bare_loop_one, [(p, cfg) for p in paths], chunksize=1)
        return sum(docs for docs, _ in results), time.perf_counter() - start


def spark_stage(paths, cores: int, cfg: ExtractConfig) -> list[tuple[int, float]]:
    """(documents, seconds) of the stage run twice in one session: cold (Python workers start and import
    trafilatura, the JVM warms up) and warm (the steady state of a long crawl, where that is amortised)."""
    from corpus.extract_stage import run_extract
    from corpus.spark import build_session
    spark = build_session("bench extract", master=f"local[{cores}]",
                          conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    warcs = resolve_warc_inputs([str(p) for p in paths])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in ("cold", "warm"):
            start = time.perf_counter()
            counts = run_extract(spark, warcs, Path(tmp) / attempt, cfg)
            runs.append((counts["out"], time.perf_counter() - start))
    spark.stop()
    return runs


def memory_over_a_long_run(paths, cfg: ExtractConfig, passes: int) -> dict[str, list[float]]:
    """RSS (MiB) after each pass over the pages, with the stage's cache resets and without."""
    series = {}
    payloads = [(p.decode("utf-8", errors="replace"), u) for p, u in html_payloads(paths)
                if len(p) <= cfg.max_payload_bytes]
    for label, every in (("no cache reset", 10**12), (f"reset every {cfg.reset_caches_every}", cfg.reset_caches_every)):
        extractor = HtmlToText(ExtractConfig(reset_caches_every=every, extract_timeout_s=0))
        trafilatura.meta.reset_caches()
        points = []
        for _ in range(passes):
            for html, url in payloads:
                extractor(html, url)
            points.append(psutil.Process().memory_info().rss / 2**20)
        series[label] = points
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--cores", default="1,2", help="Spark local[N] sizes to measure")
    parser.add_argument("--memory-passes", type=int, default=3, help="0 skips the memory run")
    args = parser.parse_args()
    cfg = ExtractConfig()
    with tempfile.TemporaryDirectory() as tmp:
        demo = generate(Path(tmp) / "demo", pages=args.pages, files=args.files, seed=0)
        paths = sorted(Path(p) for p in demo["crawl"] + [demo["truncated"]])
        bare_docs, bare_s = bare_loop(paths, cfg)
        pool_docs, pool_s = bare_pool(paths, cfg, processes=2)
        bare_rate = bare_docs / bare_s
        print(f"records: {args.pages} demo pages in {len(paths)} WARC files")
        print(f"bare loop, 1 process:   {bare_docs} docs in {bare_s:.1f} s = {bare_rate:.1f} docs/s")
        print(f"bare loop, 2 processes: {pool_docs} docs in {pool_s:.1f} s = {pool_docs / pool_s:.1f} docs/s "
              f"(this machine's own 2-core scaling: {pool_docs / pool_s / bare_rate:.2f}x)")
        for cores in [int(c) for c in args.cores.split(",")]:
            for label, (spark_docs, spark_s) in zip(("cold", "warm"), spark_stage(paths, cores, cfg)):
                spark_rate = spark_docs / spark_s
                print(f"spark local[{cores}] stage, {label}: {spark_docs} docs in {spark_s:.1f} s = "
                      f"{spark_rate:.1f} docs/s = {spark_rate / cores:.1f} docs/s per core; "
                      f"ratio per core (spark / bare loop) {spark_rate / cores / bare_rate:.2f}")
        if args.memory_passes:
            for label, points in memory_over_a_long_run(paths, cfg, args.memory_passes).items():
                print(f"RSS after each pass, {label}: " + ", ".join(f"{p:.0f}" for p in points) + " MiB")


if __name__ == "__main__":
    main()
