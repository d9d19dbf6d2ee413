"""Kill -9 in the middle of the extract stage, rerun the same command: the rerun runs only the tasks that had not
finished (each task's parts and its done marker, OUT/_tmp/extract/_tasks/<i>.done, survive the kill), and the
stage's output is byte-identical to an uninterrupted run's (issue 17)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, job_env

FILES = 3
SPLIT_BYTES = 256 * 1024  # several byte-range tasks per file: the kill lands in the middle of files
DONE_LINE = re.compile(r"extract: (\d+) of (\d+) tasks already done, running the rest")


def job(demo_dir: Path, out: Path) -> list[str]:
    return [sys.executable, "jobs/filter.py", "--master", "local[2]", "--demo-dir", str(demo_dir),
            "--stages", "extract", "--out", str(out), "--split-bytes", str(SPLIT_BYTES)]


def run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=REPO_ROOT, env=job_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def markers(out: Path) -> dict[str, tuple[int, int]]:
    """Each done marker and its (inode, mtime): a task run again replaces its marker with a new file."""
    folder = out / "_tmp" / "extract" / "_tasks"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.done")} if folder.is_dir() else {}


def kill_halfway(command: list[str], out: Path, tasks: int) -> None:
    """Start the job in its own process group and SIGKILL the group once half its tasks have their marker."""
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=job_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while len(markers(out)) < tasks // 2:
            assert process.poll() is None, "the job ended before half its tasks were done"
            assert time.monotonic() < deadline, "the extract stage did not get halfway"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stage_files(stage: Path) -> dict[str, bytes]:
    """The stage folder's files but the run's wall time, which differs between runs."""
    return {str(p.relative_to(stage)): p.read_bytes() for p in sorted(stage.rglob("*"))
            if p.is_file() and p.name != "wall_seconds.json"}


@pytest.mark.slow
def test_kill_9_halfway_through_extract_then_rerun_runs_only_the_missing_tasks(tmp_path):
    from corpus_demo import generate
    demo = tmp_path / "demo"
    generate(demo, pages=2000, files=FILES)
    clean = tmp_path / "clean"
    run(job(demo, clean))
    tasks = len(list((clean / "extract" / "_tasks").glob("*.done")))
    assert tasks > 2 * FILES  # byte ranges, not whole files

    killed = tmp_path / "killed"
    kill_halfway(job(demo, killed), killed, tasks)
    assert not (killed / "extract").exists()
    survived = markers(killed)
    assert tasks // 2 <= len(survived) < tasks, "the kill came too late to leave tasks undone"

    rerun = run(job(demo, killed))
    done = DONE_LINE.search(rerun.stdout)
    assert done, rerun.stdout[-2000:]
    assert (int(done.group(1)), int(done.group(2))) == (len(survived), tasks)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (killed / "extract" / "_tasks").glob("*.done")}
    assert len(after) == tasks
    assert {name: after[name] for name in survived} == survived  # the finished tasks were not run again

    assert stage_files(killed / "extract") == stage_files(clean / "extract")
    funnel = [{k: v for k, v in e.items() if k != "wall_seconds"} for e in json.loads(
        (killed / "reports" / "funnel.json").read_text())]
    assert funnel == [{k: v for k, v in e.items() if k != "wall_seconds"} for e in json.loads(
        (clean / "reports" / "funnel.json").read_text())]
    assert funnel[0]["in"] == funnel[0]["out"] + sum(funnel[0]["dropped"].values()) and funnel[0]["out"] > 1000
