import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.stage_output import STAGES

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
REAL_WARC_DIR = TESTS_DIR / "data"
sys.path.insert(0, str(TESTS_DIR))  # warc_factory

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def load_filter_job():
    """jobs/filter.py as a module (it is a script, not part of the package), to call its functions in-process."""
    spec = importlib.util.spec_from_file_location("filter_job", REPO_ROOT / "jobs" / "filter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_env() -> dict:
    """The environment a user's `spark-submit jobs/filter.py` runs with (loopback, this venv's Python)."""
    return dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
                PYSPARK_DRIVER_PYTHON=sys.executable)


def shard_bytes(out: Path) -> dict[str, bytes]:
    """What a trainer reads from a run: every file under OUT/shards, by relative path (but the run's wall time)."""
    from corpus.counters import WALL_FILE
    return {str(path.relative_to(out)): path.read_bytes()
            for path in sorted((out / "shards").rglob("*")) if path.is_file() and path.name != WALL_FILE}


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole suite (a session takes ~7 s to start)."""
    from corpus.spark import build_session
    session = build_session("gpt3-corpus tests", master="local[2]", conf={
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "3g"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def demo_run(spark, tmp_path_factory):
    """The default demo crawl (3,000 pages) through every built stage, once per test session."""
    from corpus_demo import generate
    from corpus.inputs import resolve_warc_inputs
    from corpus.pipeline import PipelineConfig, run_pipeline
    root = tmp_path_factory.mktemp("demo-run")
    demo = generate(root / "demo")
    references = tuple((name, str(path)) for name, path in sorted(demo["reference"].items()))
    cfg = PipelineConfig(out_dir=root / "out", warcs=tuple(resolve_warc_inputs([str(demo["out"] / "crawl")])),
                         references=references, benchmarks=(str(demo["out"] / "benchmarks"),))
    run_pipeline(spark, cfg, log=lambda line: None)
    truth = json.loads(demo["truth"].read_text())
    return {"demo": demo, "cfg": cfg, "out": cfg.out_dir, "truth": truth}


@pytest.fixture(scope="session")
def demo_out_with_run(demo_run, tmp_path_factory):
    """The demo run plus a few steps of the micro preset on its shards (OUT/runs/micro), evaluated few-shot, with
    the HTML report rebuilt over all three: what the report's browser test and the notebooks read. Stage outputs are linked, not
    copied; reports/ is a copy because the report is rewritten into it."""
    out = tmp_path_factory.mktemp("with-run") / "out"
    shutil.copytree(demo_run["out"] / "reports", out / "reports")
    for name in (*STAGES, "benchmarks"):
        if (demo_run["out"] / name).exists():
            (out / name).symlink_to(demo_run["out"] / name, target_is_directory=True)
    subprocess.run([sys.executable, "-m", "model.train", "--data", str(out / "shards"), "--preset", "micro",
                    "--out", str(out / "runs" / "micro"), "--steps", "4", "--eval-every", "2", "--eval-sequences", "2",
                    "--no-progress"], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "model.evaluate", "--checkpoint", str(out / "runs" / "micro"),
                    "--tasks", "arithmetic_2d_plus,random_insertion", "--shots", "0,1", "--limit", "6",
                    "--contamination", str(out / "reports" / "contamination.json")], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "corpus.report", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests and fixtures: tiny matrices gain nothing from a second thread,
    and OpenMP threads spinning against Spark's on a 2-core machine slow both."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
