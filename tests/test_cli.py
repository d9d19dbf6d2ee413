"""`spark-submit jobs/filter.py` as a user runs it: real spark-submit, one-sentence user errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REAL_WARC_DIR, REPO_ROOT

SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


def run_job(*args, cwd=REPO_ROOT, submit=False, timeout=300):
    command = ([str(SPARK_SUBMIT), "jobs/filter.py"] if submit else [sys.executable, "jobs/filter.py"]) + list(args)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--warc", "/no/such/dir"], "error: the WARC input /no/such/dir does not exist"),
    (["--warc", "tests/data", "--stages", "extract,nonsense"], "error: unknown stage 'nonsense'"),
    (["--warc", "tests/data", "--stages", "extract,dedup", "--dedup-threshold", "0"],
     "error: --dedup-threshold is a Jaccard similarity in (0, 1]"),
    (["--warc", "tests/data"], "error: the quality stage needs reference corpora to train on"),
    (["--warc", "tests/data", "--reference", "wiki=/no/such.jsonl"],
     "error: the reference corpus wiki=/no/such.jsonl does not exist"),
    (["--warc", "tests/data", "--reference", "wiki"], "error: --reference takes NAME=PATH"),
    (["--warc", "tests/data", "--classifier", "/no/model"], "error: --classifier /no/model does not exist"),
    (["--warc", "tests/data", "--alpha", "0"], "error: --alpha, --num-features"),
    (["--warc", "tests/data", "--split-bytes", "-1"], "error: --split-bytes must be 0 (never split) or positive"),
    (["--warc", "tests/data", "--classifier", "tests"],
     "error: --classifier tests is not a saved Spark PipelineModel (no metadata/ inside)"),
    (["--warc", "tests/data", "--stages", "extract,decontam"], "error: the decontam stage needs benchmarks to remove"),
    (["--warc", "tests/data", "--stages", "extract", "--benchmarks", "/no/such"],
     "error: the benchmarks path /no/such does not exist"),
    (["--config", "/no/such.toml"], "error: cannot read --config /no/such.toml (No such file or directory)"),
    (["--warc", "tests/data", "--stages", "extract", "--seed", "-1"], "error: --seed must be >= 0"),
])
def test_user_errors_are_one_sentence(args, message):
    result = run_job(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == message or result.stderr.strip().startswith(message)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_spark_submit_runs_the_job_and_prints_where_output_is(tmp_path):
    out = tmp_path / "out"
    result = run_job("--warc", str(REAL_WARC_DIR), "--out", str(out), "--stages", "extract", submit=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"output: {out}" in result.stdout and "dropped_not_response: 70" in result.stdout
    assert (out / "reports" / "funnel.json").exists() and (out / "extract" / "_SUCCESS").exists()


def test_nothing_usable_exits_non_zero(tmp_path):
    (tmp_path / "empty.warc.gz").write_bytes(b"")
    result = run_job("--warc", str(tmp_path / "empty.warc.gz"), "--out", str(tmp_path / "out"), "--stages", "extract")
    assert result.returncode == 1
    assert "no usable document remains after the extract stage" in result.stderr
