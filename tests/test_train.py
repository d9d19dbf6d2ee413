"""model.data and model.train: sampling, the recipe's schedules, learning, exact resume after kill -9, DDP."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from shard_factory import make_shards

from model.data import CHUNK, Sampler
from model.shards import open_shards
from model.train import CHECKPOINT, batch_sequences, get_lr, main, parse_args, resolve_settings

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # every run of a comparison with the same arithmetic


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return make_shards(tmp_path_factory.mktemp("shards") / "shards", vocab_size=512, train_chars=300_000,
                       val_chars=30_000, file_tokens=8192)


def settings(*extra, vocab=512):
    return resolve_settings(parse_args(["--data", "d", "--out", "o", *extra]), vocab)


def run(args, **kwargs):
    """The trainer CLI as a user runs it, in its own process."""
    return subprocess.Popen([sys.executable, "-m", "model.train", "--no-progress", *map(str, args)],
                            env=ONE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def losses(run_dir):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


# ------------------------------------------------------------------------------------------------ the recipe

def test_paper_presets_get_the_papers_schedule():
    s = settings("--preset", "gpt3-small", vocab=50257)
    assert s["budget_tokens"] == 300e9 and s["lr"] == 6e-4 and s["batch_tokens"] == 500_000
    assert s["warmup_tokens"] == 375e6 and s["decay_tokens"] == 260e9 and s["ramp_tokens"] == 4e9
    assert s["batch_start_tokens"] == 32_768
    assert (s["beta1"], s["beta2"], s["eps"], s["weight_decay"], s["grad_clip"]) == (0.9, 0.95, 1e-8, 0.1, 1.0)
    assert batch_sequences(0, s, 1) == 16 and batch_sequences(4e9, s, 1) == 244  # 32k -> 0.5M tokens of 2048
    assert batch_sequences(2e9, s, 1) == 130 and batch_sequences(2e9, s, 4) == 132


def test_small_runs_scale_the_schedule_to_their_budget():
    s = settings("--preset", "tiny", "--tokens", "3000000")
    assert s["decay_tokens"] == 2_600_000 and s["ramp_tokens"] == 40_000
    assert s["warmup_tokens"] == 10 * 2048  # never under 10 full batches
    assert batch_sequences(0, s, 1) == 1 and batch_sequences(40_000, s, 1) == 8


def test_learning_rate_warms_up_decays_along_a_cosine_to_ten_percent_then_stays():
    s = {"lr": 1.0, "min_lr_ratio": 0.1, "warmup_tokens": 100, "decay_tokens": 1100}
    assert get_lr(50, s) == pytest.approx(0.5) and get_lr(100, s) == pytest.approx(1.0)
    assert get_lr(600, s) == pytest.approx(0.55) and get_lr(1100, s) == pytest.approx(0.1)
    assert get_lr(5000, s) == pytest.approx(0.1)
    lrs = [get_lr(t, s) for t in range(100, 1101, 50)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


# ------------------------------------------------------------------------------------------------ sampling

def test_sampling_follows_the_weights_without_replacement_and_is_deterministic(shards):
    data = open_shards(shards)
    a, b = Sampler(data, 64, seed=7), Sampler(data, 64, seed=7)
    draws = [a.locate(k) for k in range(3 * CHUNK)]
    assert draws == [b.locate(k) for k in reversed(range(3 * CHUNK))][::-1]  # any order of asking
    counts = np.bincount([d for d, _ in draws], minlength=3) / len(draws)
    np.testing.assert_allclose(counts, [d.weight for d in data.datasets.values()], atol=0.02)
    for d, windows in enumerate(a.windows):
        seen = [w for dd, w in draws if dd == d]
        first = seen[:windows]
        assert len(set(first)) == len(first)  # no window twice within an epoch
        if len(seen) >= 2 * windows:
            assert sorted(first) == list(range(windows))  # each window once per epoch
            assert seen[windows:2 * windows] != first     # and the next epoch in another order
    assert [Sampler(data, 64, seed=8).locate(k) for k in range(50)] != draws[:50]


def test_a_batch_is_the_same_sequences_however_ranks_split_it(shards):
    sampler = Sampler(open_shards(shards), 64, seed=0)
    x, y = sampler.batch(100, 8)
    assert x.shape == y.shape == (8, 64) and torch.equal(x[:, 1:], y[:, :-1])
    halves = [sampler.batch(100, 4), sampler.batch(104, 4)]
    assert torch.equal(torch.cat([h[0] for h in halves]), x) and torch.equal(torch.cat([h[1] for h in halves]), y)


# ------------------------------------------------------------------------------------------------ training

def test_training_lowers_validation_loss_well_below_the_unigram_entropy(shards, tmp_path):
    out = tmp_path / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["--data", str(shards), "--preset", "micro", "--out", str(out), "--steps", "600",
                     "--eval-every", "300", "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    data = open_shards(shards)
    counts = sum(np.bincount(a, minlength=data.vocab_size) for d in data.datasets.values() for a in d.val.arrays)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log(p)).sum())  # nats: the best loss without context
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["unigram_entropy"] == pytest.approx(entropy)
    final = records[-1]["val"]
    assert set(final) == {"common_crawl", "webtext2"}  # wikipedia has no validation split
    assert max(final.values()) < entropy - 0.5, (final, entropy)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "settings.json").read_text())["model"]["vocab_size"] == data.vocab_size
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["step"] == 600 and state["tokens"] == records[-2]["tokens"]


def test_resume_after_kill_9_gives_the_same_loss_at_every_later_step(shards, tmp_path):
    args = ["--data", shards, "--preset", "micro", "--steps", 300, "--checkpoint-every", 40, "--eval-every", 150]
    reference = run([*args, "--out", tmp_path / "reference"])
    killed = run([*args, "--out", tmp_path / "killed"])
    metrics, deadline = tmp_path / "killed" / "metrics.jsonl", time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once a checkpoint is behind it and steps are logged past it
        if metrics.exists() and len(metrics.read_text().splitlines()) > 100:
            break
        time.sleep(0.01)
    assert killed.poll() is None, "the run ended before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    saved = torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"]
    logged = max(losses(tmp_path / "killed"))
    assert 0 < saved < logged < 300
    resumed = run([*args, "--out", tmp_path / "killed", "--resume"])
    assert resumed.wait() == 0, resumed.stderr.read()
    assert reference.wait() == 0, reference.stderr.read()
    expected, got = losses(tmp_path / "reference"), losses(tmp_path / "killed")
    assert sorted(got) == list(range(1, 301))
    assert [got[s] for s in range(saved + 1, 301)] == [expected[s] for s in range(saved + 1, 301)]


def test_ddp_on_two_cpu_processes_matches_one_process(shards, tmp_path):
    args = ["--data", shards, "--preset", "micro", "--steps", 12, "--batch-tokens", 8 * 64, "--micro-batch", 4,
            "--ramp-tokens", 0, "--eval-every", 6]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
                          "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "model.train",
                          "--no-progress", *map(str, args), "--out", str(tmp_path / "ddp")],
                         env=ONE_THREAD, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run([*args, "--out", tmp_path / "single"])
    assert single.wait() == 0, single.stderr.read()
    two, one = losses(tmp_path / "ddp"), losses(tmp_path / "single")
    assert sorted(two) == sorted(one) == list(range(1, 13))
    np.testing.assert_allclose([two[s] for s in one], list(one.values()), rtol=0, atol=1e-4)
    assert json.loads((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()[0])["world"] == 2


# ------------------------------------------------------------------------------------------------ checkpoints

def test_checkpoints_of_another_run_or_truncated_are_refused_in_one_sentence(shards, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--data", str(shards), "--preset", "micro", "--out", str(out), "--no-progress", "--steps"]
    assert main([*base, "2"]) == 0
    assert main([*base, "4"]) == 2  # a checkpoint is there and --resume was not given
    assert "already holds a checkpoint; pass --resume" in capsys.readouterr().err
    assert main([*base, "2", "--resume", "--band", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / CHECKPOINT} was written by a run with band=None, but this run has band=8")
    assert err.count("\n") == 1
    assert main([*base, "2", "--resume", "--seed", "1"]) == 2
    assert "with seed=0, but this run has seed=1" in capsys.readouterr().err
    data = (out / CHECKPOINT).read_bytes()
    (out / CHECKPOINT).write_bytes(data[:len(data) // 2])
    assert main([*base, "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / CHECKPOINT} is truncated or not a checkpoint") and err.count("\n") == 1
    assert main(["--data", str(shards), "--preset", "micro", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert f"error: --resume: there is no checkpoint at {tmp_path / 'none' / CHECKPOINT}." in capsys.readouterr().err
