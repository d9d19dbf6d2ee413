"""Beyond one machine (issue 9): `spark-submit --master spark://...` against a standalone cluster started from
pip's pyspark — a master and two one-core workers on loopback — gives the same corpus as `local[2]`.

Both runs are real spark-submit processes on the same small demo crawl. The cluster's executors are separate
JVMs with their own Python workers, so this is where a closure that captured driver state, a path only the
driver can see or a partitioning-dependent result would show."""
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, job_env, shard_bytes

BIN = Path(sys.executable).parent
WORKERS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            return json.load(response).get("aliveworkers", 0)
    except OSError:
        return 0


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """`spark-class ...deploy.master.Master` and two `...deploy.worker.Worker`s, as the README tells a user."""
    logs = tmp_path_factory.mktemp("cluster")
    port, ui_port = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(BIN / "spark-class")
    commands = [[spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                 "--webui-port", str(ui_port)]]
    commands += [[spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
                  "--memory", "2g", "--webui-port", str(free_port()), "--work-dir", str(logs / f"work{i}")]
                 for i in range(WORKERS)]
    processes = [subprocess.Popen(command, env=job_env(), stdout=open(logs / f"daemon{i}.log", "wb"),
                                  stderr=subprocess.STDOUT) for i, command in enumerate(commands)]
    try:
        deadline = time.monotonic() + 120
        while alive_workers(ui_port) < WORKERS:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                pytest.fail("the standalone cluster did not start: see " + str(logs))
            time.sleep(1)
        yield url
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def submit(master: str, demo_dir: Path, out: Path) -> subprocess.CompletedProcess:
    command = [str(BIN / "spark-submit"), "--master", master, "jobs/filter.py", "--demo-dir", str(demo_dir),
               "--out", str(out)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=job_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def final_doc_ids(out: Path) -> list[str]:
    import pyarrow.parquet as pq
    last = json.loads((out / "reports" / "funnel.json").read_text())[-2]["stage"]  # the stage before shards
    return sorted(pq.read_table(out / last / "documents", columns=["doc_id"]).column("doc_id").to_pylist())


@pytest.mark.slow
def test_standalone_cluster_gives_the_local_corpus(standalone_cluster, tmp_path):
    from corpus_demo import generate
    demo = tmp_path / "demo"
    generate(demo, pages=300, files=3)
    submit("local[2]", demo, tmp_path / "local")
    on_cluster = submit(standalone_cluster, demo, tmp_path / "cluster")
    assert f"output: {tmp_path / 'cluster'}" in on_cluster.stdout
    assert final_doc_ids(tmp_path / "cluster") == final_doc_ids(tmp_path / "local")
    local, cluster = shard_bytes(tmp_path / "local"), shard_bytes(tmp_path / "cluster")
    assert len(local) >= 3 and cluster.keys() == local.keys()
    assert [name for name in local if local[name] != cluster[name]] == []
