"""Kill -9 in the middle of the dedup stage, rerun the same command: the final corpus is byte-identical to an
uninterrupted run's, with no duplicate or missing document (issue 9). Stage outputs are written under
OUT/_tmp/ and renamed into place only when complete, so a rerun finds the completed stages, skips them, and
redoes the interrupted one from scratch."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, job_env, shard_bytes

KILL_IN = "dedup"


def job(demo_dir: Path, out: Path) -> list[str]:
    return [sys.executable, "jobs/filter.py", "--master", "local[2]", "--demo-dir", str(demo_dir), "--out", str(out)]


def run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=REPO_ROOT, env=job_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def kill_during(stage: str, command: list[str], out: Path, seconds_in: float) -> None:
    """Start the job in its own process group and SIGKILL the group (driver, JVM, Python workers) once the
    stage has been writing for `seconds_in`."""
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=job_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (out / "_tmp" / stage).exists():
            assert process.poll() is None, "the job ended before the stage began"
            assert time.monotonic() < deadline, f"the {stage} stage did not begin"
            time.sleep(0.05)
        time.sleep(seconds_in)
        assert not (out / stage / "_SUCCESS").exists(), f"the {stage} stage finished before the kill"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def shard_doc_ids(out: Path) -> list[str]:
    import pyarrow.parquet as pq
    return pq.read_table(out / "shards" / "documents", columns=["doc_id"]).column("doc_id").to_pylist()


def funnel_counts(out: Path) -> list[dict]:
    """funnel.json but each stage's wall time, which differs between runs."""
    return [{k: v for k, v in entry.items() if k != "wall_seconds"}
            for entry in json.loads((out / "reports" / "funnel.json").read_text())]


@pytest.mark.slow
def test_kill_9_during_dedup_then_rerun_gives_the_uninterrupted_corpus(tmp_path):
    from corpus_demo import generate
    demo = tmp_path / "demo"
    generate(demo, pages=300, files=3)
    run(job(demo, tmp_path / "clean"))

    killed = tmp_path / "killed"
    kill_during(KILL_IN, job(demo, killed), killed, seconds_in=3.0)
    assert not (killed / "shards").exists()
    rerun = run(job(demo, killed))
    assert "extract: complete" in rerun.stdout and "skipped" in rerun.stdout  # done stages are not redone

    clean, again = shard_bytes(tmp_path / "clean"), shard_bytes(killed)
    assert len(clean) >= 3 and again.keys() == clean.keys()
    assert [name for name in clean if clean[name] != again[name]] == []
    ids = shard_doc_ids(killed)
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(shard_doc_ids(tmp_path / "clean"))
    assert funnel_counts(killed) == funnel_counts(tmp_path / "clean")
