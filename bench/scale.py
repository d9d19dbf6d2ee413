"""Crawl-scale throughput on real-weight pages: the extract stage and the whole pipeline against a bare loop.

    python -m bench.scale [--pages 40000] [--files 4] [--out bench-out/scale] [--keep] [--stages extract,...]

Generates (bench/real_crawl.py) a crawl of `pages` pages built from the real page templates in
../shared/data/real-pages/, in one WARC file and in `files` files (~270 MB .warc.gz per 10,000 pages), then in
one run, back to back (the machine is noisy: only figures of one run are compared):
  1. one file: the bare 2-process loop (warcio + trafilatura.extract, the file cut in two byte ranges between
     pages, at offsets the generator recorded) and the extract stage (jobs/filter.py --stages extract);
  2. `files` files: the bare 2-process loop (one process per file) and the whole pipeline (--stages).
The Spark side goes through jobs/filter.py's own argument parsing and corpus.pipeline.run_pipeline in this
process, in one local[2] session, timed from after the session started (Python workers' start-up and imports
are Spark's cost and counted). Per stage: wall time, documents per second, and peak RSS (sampled every
SAMPLE_INTERVAL_S) of the driver (this Python and its JVM) and of the Python workers (summed; shared pages
count in each). Reference corpora and benchmarks for quality and decontam come from corpus_demo's generator.
Ratios printed: extract throughput / bare throughput, and pipeline wall / bare wall (issue 17's acceptance:
one file >= 0.9; `files` files: pipeline <= 1.25 x bare, extract >= 0.95).
The crawl is generated once per (pages, seed) under --out and kept with --keep; run outputs are removed
unless --keep.
"""
import argparse
import importlib.util
import json
import multiprocessing
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil
import trafilatura
from warcio.archiveiterator import ArchiveIterator

from bench import real_crawl
from corpus.config import ExtractConfig
from corpus_demo import generate as generate_demo
from corpus.stage_output import STAGES

REPO = Path(__file__).resolve().parent.parent
SAMPLE_INTERVAL_S = 0.25
DEMO_PAGES = 3000  # the demo's default: 300 webtext2, 300 wikipedia and 150 book references, 9 benchmarks
MiB = 2**20
WARM_UP_PAGE = "<html><body><article><p>" + "Warm up the extractor once. " * 20 + "</p></article></body></html>"


def filter_job():
    """jobs/filter.py as a module, so the bench builds its PipelineConfig exactly as the command line does."""
    spec = importlib.util.spec_from_file_location("filter_job", REPO / "jobs" / "filter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ memory

class PeakMemory:
    """Peak RSS of the driver (this process and the JVM it started) and of every other process under this one
    (Spark's Python workers, or the bare loop's), sampled in a thread. `mark()` returns the peaks since the
    previous mark."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S):
        self.interval_s = interval_s
        self.me = psutil.Process()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._reset()

    def _reset(self) -> None:
        self.driver = self.workers = self.worker = 0

    def _sample(self) -> None:
        driver, workers, largest = self.me.memory_info().rss, 0, 0
        for process in self.me.children(recursive=True):
            try:
                rss = process.memory_info().rss
                is_jvm = process.name() == "java"
            except psutil.Error:  # it ended between the listing and the read
                continue
            if is_jvm:
                driver += rss
            else:
                workers, largest = workers + rss, max(largest, rss)
        with self.lock:
            self.driver, self.workers, self.worker = (max(self.driver, driver), max(self.workers, workers),
                                                      max(self.worker, largest))

    def _run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            self._sample()

    def mark(self) -> dict:
        self._sample()
        with self.lock:
            peaks = {"driver_mib": self.driver / MiB, "workers_mib": self.workers / MiB,
                     "largest_worker_mib": self.worker / MiB}
            self._reset()
        return peaks

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()


# ------------------------------------------------------------------------------------------ the bare loop

class _ByteRange:
    """A file read from `start` to `end` only: a bare process reads just its share of one file."""

    def __init__(self, path: str, start: int, end: int):
        self.stream = open(path, "rb")
        self.stream.seek(start)
        self.left = end - start

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.stream.close()


def _bare_extract(task: tuple[str, int, int]) -> tuple[int, int]:
    """(pages, documents) of the HTTP 200 HTML responses in a byte range of a file (cut between pages):
    warcio + trafilatura.extract with the stage's options, nothing else."""
    cfg = ExtractConfig()
    pages = documents = 0
    stream = _ByteRange(*task)
    try:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response" or record.http_headers.get_statuscode() != "200" \
                    or "html" not in (record.http_headers.get_header("Content-Type") or ""):
                continue
            text = trafilatura.extract(record.content_stream().read().decode("utf-8", errors="replace"),
                                       url=record.rec_headers.get_header("WARC-Target-URI"), output_format="txt",
                                       include_comments=cfg.include_comments, include_tables=cfg.include_tables,
                                       deduplicate=False)
            pages, documents = pages + 1, documents + bool(text)
    finally:
        stream.close()
    return pages, documents


def bare_tasks(files: list[dict], paths: list[Path], processes: int) -> list[tuple[str, int, int]]:
    """One task per file, or one file cut into `processes` byte ranges between pages (truth.json's offsets)."""
    if len(paths) > 1:
        return [(str(p), 0, f["bytes"]) for p, f in zip(paths, files)]
    offsets, size = files[0]["page_offsets"], files[0]["bytes"]
    cuts = [offsets[round(k * len(offsets) / processes)] for k in range(processes)] + [size]
    return [(str(paths[0]), start, end) for start, end in zip(cuts, cuts[1:])]


def bare_loop(files: list[dict], paths: list[Path], processes: int, memory: PeakMemory) -> dict:
    """The bare loop on `processes` processes: one per file, or one file's pages split between them."""
    trafilatura.extract(WARM_UP_PAGE)
    tasks = bare_tasks(files, paths, processes)
    memory.mark()
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:  # forked warm: imports are not timed
        results = pool.map(_bare_extract, tasks, chunksize=1)
    seconds = time.perf_counter() - start
    return {"stage": "bare loop", "seconds": seconds, "in": sum(p for p, _ in results),
            "out": sum(d for _, d in results), **memory.mark()}


# ------------------------------------------------------------------------------------------ the pipeline

class StageClock:
    """Ends each stage where run_pipeline logs its counts ("<stage>: N in (...)"): the fallback for per-stage
    wall times where funnel.json has none, and where each stage's memory peaks are taken."""

    def __init__(self, memory: PeakMemory):
        self.memory, self.started, self.ends, self.peaks = memory, time.perf_counter(), {}, {}

    def log(self, line: str) -> None:
        stage, _, rest = str(line).partition(": ")
        if stage in STAGES and " in (" in rest.splitlines()[0] and stage not in self.ends:
            self.ends[stage] = time.perf_counter() - self.started
            self.peaks[stage] = self.memory.mark()

    def seconds(self, stage: str) -> float:
        earlier = [self.ends[s] for s in STAGES[:STAGES.index(stage)] if s in self.ends]
        return self.ends[stage] - max(earlier, default=0.0)


def pipeline_run(spark, job, argv: list[str], memory: PeakMemory) -> tuple[float, list[dict]]:
    """(wall seconds of run_pipeline, one row per stage run) for jobs/filter.py with these arguments."""
    from corpus.pipeline import run_pipeline
    cfg = job.pipeline_config(job.parse_args(argv))
    memory.mark()
    clock = StageClock(memory)
    start = time.perf_counter()
    funnel = run_pipeline(spark, cfg, log=clock.log)
    total = time.perf_counter() - start
    funnel = {entry["stage"]: entry for entry in funnel}
    rows = []
    for stage in cfg.stages:
        entry = funnel[stage]
        seconds = entry.get("wall_seconds") or clock.seconds(stage)
        rows.append({"stage": stage, "seconds": seconds, "in": entry["in"], "out": entry["out"],
                     **clock.peaks.get(stage, {})})
    return total, rows


def reference_args(demo: Path) -> list[str]:
    args = []
    for path in sorted((demo / "reference").glob("*.jsonl")):
        args += ["--reference", f"{path.stem}={path}"]
    return args + ["--benchmarks", str(demo / "benchmarks")]


# ------------------------------------------------------------------------------------------ inputs

def _generate(out: Path, pages: int, files: tuple[int, ...], seed: int) -> None:
    sources = real_crawl.load_sources([real_crawl.REAL_PAGES_WARC])
    real_crawl.write_crawl(out, sources, pages, files, seed, processes=2)


def crawl_layouts(out: Path, pages: int, files: int, seed: int) -> tuple[dict[int, list[dict]], bool]:
    """{file count: truth.json's entries of its files} of the crawl under out, generated unless a complete one
    is there (truth.json is written last); and whether this run generated it."""
    truth = out / "truth.json"
    wanted = (1, files)
    if truth.is_file() and all(str(n) in json.loads(truth.read_text())["files"] for n in wanted):
        made = False
    else:
        print(f"generating {pages} pages from real page templates in {out} ...", flush=True)
        start = time.perf_counter()
        # in a child process: the templates (~100 MB) are then not in the driver's memory figures
        child = multiprocessing.get_context("fork").Process(target=_generate, args=(out, pages, wanted, seed))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"generating the crawl failed (exit code {child.exitcode})")
        print(f"  generated in {time.perf_counter() - start:.0f} s", flush=True)
        made = True
    listed = json.loads(truth.read_text())["files"]
    return {n: listed[str(n)] for n in dict.fromkeys(wanted)}, made


def paths_of(crawl_dir: Path, count: int, files: list[dict]) -> list[Path]:
    return [crawl_dir / f"{count}-files" / f["name"] for f in files]


# ------------------------------------------------------------------------------------------ report

def rate(row: dict) -> float:
    """Documents per second: made (extract, bare loop) or read (every later stage)."""
    done = row["out"] if row["stage"] in ("extract", "bare loop") else row["in"]
    return done / row["seconds"] if row["seconds"] else float("nan")


def print_rows(title: str, rows: list[dict]) -> None:
    print(title)
    print(f"  {'':22s} {'wall s':>8s} {'in':>8s} {'out':>8s} {'docs/s':>8s} {'driver MiB':>10s} "
          f"{'workers MiB':>11s} {'largest worker':>14s}")
    for row in rows:
        print(f"  {row['stage']:22s} {row['seconds']:8.1f} {row['in']:8d} {row['out']:8d} {rate(row):8.1f} "
              f"{row.get('driver_mib', float('nan')):10.0f} {row.get('workers_mib', float('nan')):11.0f} "
              f"{row.get('largest_worker_mib', float('nan')):14.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40_000)
    parser.add_argument("--files", type=int, default=4, help="files of the multi-file layout")
    parser.add_argument("--out", type=Path, default=Path("bench-out/scale"))
    parser.add_argument("--keep", action="store_true", help="keep the generated crawl and the run outputs")
    parser.add_argument("--stages", default=",".join(STAGES), help="stages of the whole-pipeline run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2, help="processes of the bare loop")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    assert args.pages >= 2 and args.files >= 2, "--pages and --files must be at least 2"
    job = filter_job()
    stages = job.parse_stage_list("extract," + args.stages)  # later stages read this run's extract

    args.out.mkdir(parents=True, exist_ok=True)
    crawl_dir = args.out / f"crawl-{args.pages}-seed{args.seed}"
    layouts, generated = crawl_layouts(crawl_dir, args.pages, args.files, args.seed)
    demo = args.out / "demo"
    if not (demo / "truth.json").exists():
        generate_demo(demo, pages=DEMO_PAGES)
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=args.out))

    from corpus.spark import build_session
    spark = build_session("bench scale", master=args.master,
                          conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    results = {}
    try:
        with PeakMemory() as memory:
            one, many = paths_of(crawl_dir, 1, layouts[1]), paths_of(crawl_dir, args.files, layouts[args.files])
            results["one_file_bare"] = bare_loop(layouts[1], one, args.processes, memory)
            _, rows = pipeline_run(spark, job, ["--warc", str(one[0]), "--out", str(runs / "one-file"),
                                                "--stages", "extract"], memory)
            results["one_file_extract"] = rows[0]
            results["many_files_bare"] = bare_loop(layouts[args.files], many, args.processes, memory)
            total, rows = pipeline_run(spark, job, ["--warc", str(many[0].parent), "--out", str(runs / "many-files"),
                                                    "--stages", ",".join(stages), *reference_args(demo)], memory)
            results["many_files_pipeline"], results["many_files_pipeline_s"] = rows, total
    finally:
        spark.stop()
        if not args.keep:
            shutil.rmtree(runs, ignore_errors=True)
            if generated:
                shutil.rmtree(crawl_dir, ignore_errors=True)
    report(args, sum(f["bytes"] for f in layouts[args.files]), results)


def report(args, crawl_bytes: int, results: dict) -> None:
    size = crawl_bytes / 1e6
    print(f"\n{args.pages} pages from real page templates ({size:.0f} MB of .warc.gz), {args.master}, "
          f"bare loop on {args.processes} processes")
    bare, extract = results["one_file_bare"], results["one_file_extract"]
    print_rows("one file:", [bare, extract])
    print(f"  extract stage / bare loop, throughput: {rate(extract) / rate(bare):.2f}")
    bare, rows = results["many_files_bare"], results["many_files_pipeline"]
    total = results["many_files_pipeline_s"]
    print_rows(f"{args.files} files:", [bare, *rows])
    print(f"  whole run_pipeline (stages, funnel, report): {total:.1f} s")
    extract = next((r for r in rows if r["stage"] == "extract"), None)
    if extract:
        print(f"  extract stage / bare loop, throughput: {rate(extract) / rate(bare):.2f}")
    print(f"  pipeline / bare loop, wall time: {total / bare['seconds']:.2f}")
    summary = args.out / f"scale-{args.pages}-{args.files}.json"
    summary.write_text(json.dumps(results, indent=1) + "\n")
    print(f"figures: {summary}")


if __name__ == "__main__":
    main()
