"""Extract-stage throughput: the Spark stage against a bare single-process loop over the same records.

    python bench/extract.py [--pages 3000] [--files 4] [--cores 2]

Both sides run in this one process's run, back to back, on the demo crawl (the machine is noisy, so
only figures from the same run are compared). The bare loop is warcio + trafilatura.extract over every
HTTP 200 HTML response, decoded as UTF-8; the Spark side is the whole stage (charset detection, limits,
fate table, two Parquet writes), timed from the first task to the committed output, without the
SparkSession's start-up. Also prints trafilatura's memory over a long run with and without the
stage's periodic cache reset.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import trafilatura  # noqa: E402
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from corpus.config import ExtractConfig  # noqa: E402
from corpus.demo import generate  # noqa: E402
from corpus.extract import HtmlToText  # noqa: E402
from corpus.inputs import resolve_warc_inputs  # noqa: E402


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
            except Exception:  # the demo's truncated file: the bare loop just stops there  # noqa: BLE001
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


def spark_stage(paths, cores: int, cfg: ExtractConfig) -> tuple[int, float]:
    from corpus.extract_stage import run_extract
    from corpus.spark import build_session
    spark = build_session("bench extract", master=f"local[{cores}]", conf={"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    warcs = resolve_warc_inputs([str(p) for p in paths])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        counts = run_extract(spark, warcs, Path(tmp) / "extract", cfg)
        seconds = time.perf_counter() - start
    spark.stop()
    return counts["out"], seconds


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
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory-passes", type=int, default=3, help="0 skips the memory run")
    args = parser.parse_args()
    cfg = ExtractConfig()
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate(Path(tmp) / "demo", pages=args.pages, files=args.files, seed=0)["warc_files"]
        paths = sorted(Path(p) for p in paths)
        bare_docs, bare_s = bare_loop(paths, cfg)
        spark_docs, spark_s = spark_stage(paths, args.cores, cfg)
        bare_rate, spark_rate = bare_docs / bare_s, spark_docs / spark_s
        print(f"records: {args.pages} demo pages in {len(paths)} WARC files")
        print(f"bare loop (1 process):  {bare_docs} docs in {bare_s:.1f} s = {bare_rate:.1f} docs/s")
        print(f"spark local[{args.cores}]:        {spark_docs} docs in {spark_s:.1f} s = {spark_rate:.1f} docs/s "
              f"= {spark_rate / args.cores:.1f} docs/s per core")
        print(f"ratio per core (spark / bare): {spark_rate / args.cores / bare_rate:.2f}")
        if args.memory_passes:
            for label, points in memory_over_a_long_run(paths, cfg, args.memory_passes).items():
                print(f"RSS after each pass, {label}: " + ", ".join(f"{p:.0f}" for p in points) + " MiB")


if __name__ == "__main__":
    main()
