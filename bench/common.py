"""What the bench scripts share: timing, and the demo crawl run through extract + quality once (reused)."""
import time
from pathlib import Path

from corpus_demo import generate
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline
from corpus.spark import build_session


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def demo_quality_run(name: str, out: Path, master: str):
    """(Spark session, demo dir, PipelineConfig) after extract + quality on the demo crawl under `out`."""
    spark = build_session(name, master=master, conf={"spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    demo = out / "demo"
    if not (demo / "truth.json").exists():
        generate(demo)
    references = tuple((p.stem, str(p)) for p in sorted((demo / "reference").glob("*.jsonl")))
    cfg = PipelineConfig(out_dir=out / "out", warcs=tuple(resolve_warc_inputs([str(demo / "crawl")])),
                         references=references, stages=("extract", "quality"))
    run_pipeline(spark, cfg, log=lambda line: None)
    return spark, demo, cfg
