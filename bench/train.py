"""Trainer throughput: tokens/s and model FLOPs utilisation of the tiny preset, eager and torch.compile'd,
the trainer's whole loop against a bare forward/backward/step, and banded attention's paths.

    python -m bench.train [--steps 40] [--rounds 2] [--no-compile]

Everything runs in this one process, side by side (the machine is noisy, so only figures of one run are
compared), each measurement repeated --rounds times, best kept. The peak is a measured float32 matmul
(2048 x 2048) with the same threads. FLOPs per token are nanoGPT's estimate: 6 N + 12 L d T, N the parameters
that multiply (all but the position table). "bare" is forward, backward, clip and AdamW step on batches
already in memory; "trainer" is `python -m model.train` itself (sampling from memmapped shards, the
schedules, gradient accumulation, metrics JSONL and the progress bar), timed from its own per-step clock
after warm-up; evaluation and checkpoints are left to the end of the run.
"""
import argparse
import json
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from torch.nn import functional as F

from model.gpt import GPT, PRESETS, attention_mask, banded_attention
from model.shards import open_shards
from model.train import main as train_main
from tests.shard_factory import make_shards

WARMUP_STEPS = 5


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """float32 matmul FLOP/s on this machine with torch's threads, best of three."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - start))
    return best


def flops_per_token(model: GPT) -> float:
    c = model.config
    return 6 * (model.num_params() - model.wpe.weight.numel()) + 12 * c.n_layer * c.d_model * c.n_ctx


def bare_tokens_per_s(model: GPT, forward, batches: list, steps: int) -> float:
    """Forward (`forward`: the model or its compiled self), backward, clip, AdamW step: nothing else."""
    optimizer = model.configure_optimizers(1e-3, 0.1, (0.9, 0.95), 1e-8, "cpu")
    for i in range(WARMUP_STEPS + steps):
        if i == WARMUP_STEPS:
            start = time.perf_counter()
        x, y = batches[i % len(batches)]
        _, loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batches[0][0].numel() / (time.perf_counter() - start)


def trainer_tokens_per_s(shards: Path, steps: int, compile_: bool) -> float:
    """The trainer CLI, in this process; its own clock from the end of warm-up to the last step."""
    with tempfile.TemporaryDirectory() as out:
        args = ["--data", str(shards), "--preset", "tiny", "--out", out, "--steps", str(WARMUP_STEPS + steps),
                "--ramp-tokens", "0", "--eval-every", str(10**9), "--checkpoint-every", str(10**9)]
        assert train_main(args + (["--compile"] if compile_ else [])) == 0
        records = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    steps_ = [r for r in records if "loss" in r]
    first, last = steps_[WARMUP_STEPS - 1], steps_[-1]
    return (last["tokens"] - first["tokens"]) / (last["time"] - first["time"])


def attention_ms(fn, q, k, v, repeats: int = 5) -> float:
    """Milliseconds for forward + backward, best of `repeats`."""
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        fn(q, k, v).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_peak()
    print(f"float32 matmul peak: {peak / 1e9:.0f} GFLOP/s")

    with tempfile.TemporaryDirectory() as tmp:
        shards = make_shards(Path(tmp) / "shards", vocab_size=8192, train_chars=1_500_000, val_chars=50_000,
                             file_tokens=1 << 18)
        data, preset = open_shards(shards), PRESETS["tiny"]
        config = type(preset.config)(**{**preset.config.__dict__, "vocab_size": data.vocab_size})
        torch.manual_seed(0)
        model = GPT(config)
        B = preset.batch_tokens // config.n_ctx
        batches = [(torch.randint(0, config.vocab_size, (B, config.n_ctx)),
                    torch.randint(0, config.vocab_size, (B, config.n_ctx))) for _ in range(4)]
        fpt = flops_per_token(model)
        print(f"tiny preset: {model.num_params() / 1e6:.1f}M parameters, {config.n_layer} layers, d {config.d_model}, "
              f"ctx {config.n_ctx}, vocab {config.vocab_size}, batch {B} x {config.n_ctx} tokens, "
              f"{fpt / 1e6:.1f} MFLOP/token")

        modes = [False, True] if args.compile else [False]
        results = {}
        for compiled in modes:
            forward = torch.compile(model) if compiled else model
            if compiled:
                start = time.perf_counter()
                bare_tokens_per_s(model, forward, batches, 1)
                print(f"(torch.compile warm-up: {time.perf_counter() - start:.0f} s)")
            for _ in range(args.rounds):  # alternate bare and trainer so both see the same noise
                for side, measure in (("bare", partial(bare_tokens_per_s, model, forward, batches, args.steps)),
                                      ("trainer", partial(trainer_tokens_per_s, shards, args.steps, compiled))):
                    key = (side, compiled)
                    results[key] = max(results.get(key, 0.0), measure())
        print(f"\n{'':<10}{'eager':>22}{'torch.compile':>24}")
        for side in ("bare", "trainer"):
            cells = [f"{results[(side, c)]:>8.0f} tok/s  MFU {results[(side, c)] * fpt / peak:5.1%}" for c in modes]
            print(f"{side:<10}" + "".join(f"{cell:>24}" for cell in cells))
        for c in modes:
            overhead = results[("bare", c)] / results[("trainer", c)] - 1
            print(f"trainer loop overhead over the bare step ({'compiled' if c else 'eager'}): {overhead:+.1%}")
        if args.compile:
            print(f"torch.compile speed-up, bare step: {results[('bare', True)] / results[('bare', False)]:.2f}x")

    T, band = 2048, 256  # the paper presets' context and band
    q, k, v = (torch.randn(1, 12, T, 64, requires_grad=True) for _ in range(3))
    pos = torch.arange(T)
    mask = attention_mask(pos, pos, band)
    print(f"\nattention, forward + backward, 12 heads x 64, T {T}, band {band}:")
    paths = {"dense causal (SDPA is_causal)": lambda *t: F.scaled_dot_product_attention(*t, is_causal=True),
             "banded, SDPA with the full bool mask": lambda *t: F.scaled_dot_product_attention(*t, attn_mask=mask),
             "banded, blocked (model.gpt's path)": lambda *t: banded_attention(*t, band)}
    for name, fn in paths.items():
        print(f"  {name:<38}{attention_ms(fn, q, k, v):7.1f} ms")

if __name__ == "__main__":
    main()
