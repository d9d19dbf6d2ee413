"""Train the reference GPT on shards with GPT-3's recipe (§2.3, Appendix B); every choice is a flag.

    python -m model.train --data OUT/shards --preset tiny --out runs/tiny [--tokens N | --steps N] [--resume]
    torchrun --nproc_per_node 2 -m model.train ...        # DDP: gloo on CPU, nccl on GPU

The recipe: AdamW β1 0.9, β2 0.95, ε 1e-8, weight decay 0.1 on matrices; global gradient-norm clip 1.0; the
learning rate warms up linearly, decays along a cosine to 10% of the peak, then stays at 10%; the batch grows
linearly from a small one to the full one; gradient accumulation in micro-batches reaches the batch; bf16
autocast on GPU (CPU runs in fp32).

Scaling to small runs. The paper's numbers belong to a 300B-token run: warmup 375M tokens, cosine over 260B,
batch ramp from 32k tokens over the first 4-12B. A run of budget T keeps the paper's fractions of its run:
cosine over T * 260/300, ramp over T * 4/300 (the smallest models' 4B), warmup over T * 375M/300B but never
under 10 full batches (a warmup shorter than a step is none at all); the ramp starts at 32k tokens, or at
1/16 of the batch (the Small model's 32k of 0.5M) when the batch is smaller than 0.5M. For Table 2.1's presets
with the default T = 300B this gives back the paper's values. Batches are whole sequences of n_ctx + 1 tokens
(always full n_ctx, documents packed with EOT between them, as the paper).

The run folder gets settings.json, tokenizer.json (the shards' own), metrics.jsonl (one line per step and per
evaluation), loss.png and ckpt.pt, written atomically (temporary file, then rename) every --checkpoint-every
steps and at the end (--checkpoint-every 0: only at the end; --eval-every 0: no validation losses).
--resume continues from ckpt.pt exactly: the data order is a function of (seed, step, rank) and the
checkpoint holds the model, the optimizer, the RNG and the step, so on CPU every later loss is bit-identical
to the uninterrupted run's. A user's mistake (shards that lie, a checkpoint of another run) is one sentence:
`error: ...` and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from corpus.errors import UserError
from model.data import Sampler, unigram_entropy, val_windows
from model.gpt import GPT, PRESETS, GPTConfig
from model.shards import ShardError, open_shards, path_inside

PAPER_RUN, PAPER_WARMUP, PAPER_DECAY, PAPER_RAMP = 300e9, 375e6, 260e9, 4e9  # tokens (§2.3, Appendix B)
PAPER_BATCH_START, SMALL_BATCH = 32_768, 500_000  # the ramp's first batch; GPT-3 Small's batch (tokens)
CHECKPOINT = "ckpt.pt"
METRICS = "metrics.jsonl"
TOKENIZER = "tokenizer.json"  # a copy of the shards' tokenizer
CHECKPOINT_FORMAT = "gpt3-reference-checkpoint/1"
# Settings that do not change the trajectory, so a resumed run may change them.
FREE_ON_RESUME = {"steps", "tokens", "eval_every", "eval_sequences", "checkpoint_every", "compile", "device",
                  "out", "resume", "progress", "data"}


class CheckpointError(Exception):
    """A checkpoint that cannot continue this run; the message is one sentence."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the shards directory (OUT/shards)")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--out", required=True, help="the run folder")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--tokens", type=int, help="token budget: train this many tokens (default: the preset's)")
    stop.add_argument("--steps", type=int, help="train this many optimizer steps instead")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--seed", type=int, default=0)
    # model: the preset, changed by these
    p.add_argument("--band", type=int, help="banded-attention width for odd layers; 0 = all dense")
    p.add_argument("--dropout", type=float)
    # recipe: the paper's values, scaled to the run's budget where the module docstring says so
    p.add_argument("--lr", type=float, help="peak learning rate (default: the preset's, Table 2.1)")
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="cosine decays to this fraction of the peak")
    p.add_argument("--warmup-tokens", type=int)
    p.add_argument("--decay-tokens", type=int)
    p.add_argument("--batch-tokens", type=int, help="the full batch (default: the preset's, Table 2.1)")
    p.add_argument("--batch-start-tokens", type=int, help="the ramp's first batch")
    p.add_argument("--ramp-tokens", type=int, help="tokens over which the batch grows to the full batch")
    p.add_argument("--micro-batch", type=int, default=8, help="sequences per forward pass (accumulated), >= 1")
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="global gradient-norm clip; 0 = none")
    # bookkeeping
    p.add_argument("--eval-every", type=int, default=100,
                   help="steps between validation losses; 0 = never (not even at the end)")
    p.add_argument("--eval-sequences", type=int, default=32, help="validation sequences per dataset")
    p.add_argument("--checkpoint-every", type=int, default=100,
                   help="steps between checkpoints; 0 = only the final one")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace):
    """Counts argparse cannot bound; UserError with one sentence (exit code 2)."""
    for flag, value in (("--eval-every", args.eval_every), ("--checkpoint-every", args.checkpoint_every)):
        if value < 0:
            raise UserError(f"{flag} takes a number of steps, or 0 for never, not {value}.")
    if args.micro_batch < 1:
        raise UserError(f"--micro-batch takes a number of sequences >= 1, not {args.micro_batch}.")


def every(step: int, interval: int) -> bool:
    """Whether `step` is one of every `interval` steps; interval 0 means never."""
    return interval > 0 and step % interval == 0


def resolve_settings(args: argparse.Namespace, vocab_size: int) -> dict:
    """Every setting of the run, the scaled defaults filled in (module docstring); what settings.json holds."""
    preset = PRESETS[args.preset]
    config = asdict(preset.config) | {"vocab_size": vocab_size}
    config |= {k: getattr(args, k) for k in ("band", "dropout") if getattr(args, k) is not None}
    s = vars(args).copy() | {"model": config, "data": str(args.data), "out": str(args.out)}
    s["lr"] = args.lr or preset.lr
    s["batch_tokens"] = args.batch_tokens or preset.batch_tokens
    budget = args.tokens or (args.steps * s["batch_tokens"] if args.steps else preset.tokens)
    s["budget_tokens"] = budget
    scaled = lambda paper_tokens: int(budget * paper_tokens / PAPER_RUN)
    s["decay_tokens"] = args.decay_tokens or scaled(PAPER_DECAY)
    s["warmup_tokens"] = min(args.warmup_tokens or max(scaled(PAPER_WARMUP), 10 * s["batch_tokens"]),
                             s["decay_tokens"])
    s["ramp_tokens"] = args.ramp_tokens if args.ramp_tokens is not None else scaled(PAPER_RAMP)
    s["batch_start_tokens"] = args.batch_start_tokens or int(
        min(PAPER_BATCH_START, s["batch_tokens"] * PAPER_BATCH_START / SMALL_BATCH))
    return s


def get_lr(tokens: float, s: dict) -> float:
    """Linear warmup to the peak, cosine down to min_lr_ratio of it at decay_tokens, then flat."""
    peak, floor = s["lr"], s["lr"] * s["min_lr_ratio"]
    if tokens < s["warmup_tokens"]:
        return peak * tokens / s["warmup_tokens"]
    progress = min(1.0, (tokens - s["warmup_tokens"]) / max(1, s["decay_tokens"] - s["warmup_tokens"]))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def batch_sequences(tokens: float, s: dict, world: int) -> int:
    """Sequences in the global batch after `tokens`: the linear ramp, rounded up to a multiple of the ranks."""
    n_ctx = s["model"]["n_ctx"]
    full, start = max(1, round(s["batch_tokens"] / n_ctx)), max(1, round(s["batch_start_tokens"] / n_ctx))
    ramp = min(1.0, tokens / s["ramp_tokens"]) if s["ramp_tokens"] > 0 else 1.0
    n = round(start + (full - start) * ramp)
    return -(-max(n, 1) // world) * world


def finished(step: int, tokens: int, s: dict) -> bool:
    """The run stops after --steps steps if given, else once it has trained its token budget."""
    return step >= s["steps"] if s["steps"] else tokens >= s["budget_tokens"]


def planned_tokens(s: dict, world: int) -> int:
    """Tokens the run will have trained when it stops (for the progress bar's ETA)."""
    step = tokens = 0
    while not finished(step, tokens, s):
        step, tokens = step + 1, tokens + batch_sequences(tokens, s, world) * s["model"]["n_ctx"]
    return tokens


@torch.no_grad()
def estimate_loss(model: GPT, windows: dict[str, torch.Tensor], micro: int, autocast) -> dict[str, float]:
    """Mean validation loss per dataset over its fixed windows."""
    model.eval()
    losses = {}
    for name, rows in windows.items():
        total = 0.0
        for i in range(0, len(rows), micro):
            chunk = rows[i:i + micro].to(next(model.parameters()).device)
            with autocast:
                _, loss = model(chunk[:, :-1], chunk[:, 1:])
            total += loss.item() * len(chunk)
        losses[name] = total / len(rows)
    model.train()
    return losses


def save_checkpoint(path: Path, state: dict):
    """torch.save to a temporary file beside `path`, flushed to disk, then renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def replace_file(path: Path, data: bytes):
    """Write `data` to a temporary file beside `path`, then rename it over `path`: a symlink planted at `path`
    is replaced, never written through."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # "x": never opens an existing file or symlink
    with open(tmp, "xb") as f:
        f.write(data)
    os.replace(tmp, path)


def _read_state(path: Path, missing: str) -> dict:
    """torch.load of a checkpoint of this trainer (weights only: no code runs); CheckpointError otherwise."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(missing) from None
    except Exception as error:  # zip and unpickling errors of every kind: the file is cut or not ours
        reason = str(error).splitlines()[0][:100] if str(error) else type(error).__name__
        raise CheckpointError(f"{path} is truncated or not a checkpoint ({reason}).") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this trainer (no {CHECKPOINT_FORMAT!r} format).")
    return state


def load_checkpoint(path: Path, settings: dict) -> dict:
    """The checkpoint at `path`, if it continues this run; CheckpointError with one sentence otherwise."""
    state = _read_state(path, f"--resume: there is no checkpoint at {path}.")
    saved = state["settings"]
    for key in sorted(set(saved) | set(settings)):
        if key not in FREE_ON_RESUME and saved.get(key) != settings.get(key):
            raise CheckpointError(f"{path} was written by a run with {key}={saved.get(key)!r}, but this run has "
                                  f"{key}={settings.get(key)!r}; resume with the same settings or use another --out.")
    return state


def run_file(run_dir: str | Path, name: str) -> Path:
    """run_dir / name, which must not be a symlink out of the run folder (CheckpointError otherwise)."""
    path = path_inside(Path(run_dir), name)
    if path is None:
        raise CheckpointError(f"{Path(run_dir) / name} leads outside the run folder {run_dir}.")
    return Path(run_dir) / name


def read_checkpoint(run_dir: str | Path, device: str = "cpu") -> tuple[GPT, dict, dict]:
    """The trained model of a run folder, in eval mode on `device`, its settings (settings.json's content) and
    {"step", "tokens"}; CheckpointError with one sentence if the folder holds no readable checkpoint."""
    path = run_file(run_dir, CHECKPOINT)
    state = _read_state(path, f"{run_dir} holds no checkpoint ({CHECKPOINT}); is it a run folder of model.train?")
    model = GPT(GPTConfig(**state["settings"]["model"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state["settings"], {"step": state["step"], "tokens": state["tokens"]}


def metrics_record(line: bytes) -> dict | None:
    """One line of metrics.jsonl as a record, or None for a line that is not one: the last line half-written
    by a killed run, or anything else that is not a JSON object."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return record if isinstance(record, dict) else None


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl, skipping lines that are not records (metrics_record)."""
    with open(path, "rb") as f:
        return [r for r in map(metrics_record, f) if r is not None]


def cut_metrics_to_checkpoint(path: Path, step: int):
    """Shorten a killed run's metrics.jsonl to what it logged up to its checkpoint's `step`, so the resumed run
    appends after it. The killed run may have logged steps past its last checkpoint; the resumed run logs
    them again, so they must go, and so must a half-written last line. The cut is at the first line that
    is not a whole record (newline-terminated, metrics_record) or is past `step`; the file is truncated there
    in place, every byte before the cut stays as it was written."""
    if not path.exists():
        return
    keep = 0
    with open(path, "rb+") as f:
        for line in f:
            record = metrics_record(line) if line.endswith(b"\n") else None
            logged = record.get("step") if record else None
            if not isinstance(logged, int) or logged > step:
                break
            keep += len(line)
        f.truncate(keep)


def save_figure(figure, png: Path):
    """Write a matplotlib figure as PNG atomically (a reader never sees half a file), then close it."""
    import matplotlib.pyplot as plt

    tmp = png.with_name(png.name + ".tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    os.replace(tmp, png)


def loss_figure(metrics_path: Path):
    """Training loss per step and validation loss per dataset, against tokens: the matplotlib Figure of
    loss.png, which the HTML report (corpus.report) embeds too."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    train = [r for r in records if "loss" in r and "tokens" in r]
    val = [r for r in records if isinstance(r.get("val"), dict) and "tokens" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["tokens"] for r in train], [r["loss"] for r in train], lw=0.8, label="train")
    for name in sorted({n for r in val for n in r["val"]}):
        points = [(r["tokens"], r["val"][name]) for r in val if name in r["val"]]
        ax.plot(*zip(*points), marker="o", ms=3, label=f"val {name}")
    start = next((r for r in records if "unigram_entropy" in r), None)
    if start:
        ax.axhline(start["unigram_entropy"], color="grey", ls="--", lw=0.8, label="unigram entropy (val)")
    ax.set_xlabel("tokens")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot(metrics_path: Path, png: Path):
    """loss.png: training loss per step and validation loss per dataset, against tokens."""
    save_figure(loss_figure(metrics_path), png)


def train(args: argparse.Namespace) -> dict:
    """The whole run; returns the last metrics record."""
    # -------------------------------------------------------------------------------- processes and device
    ddp = "RANK" in os.environ
    if ddp:
        dist.init_process_group(backend="nccl" if args.device.startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.device.startswith("cuda"):
            args.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
            torch.cuda.set_device(args.device)
    else:
        rank, world = 0, 1
    master = rank == 0
    device_type = "cuda" if args.device.startswith("cuda") else "cpu"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device_type == "cuda" else nullcontext()
    # -------------------------------------------------------------------------------- data, settings, model
    shards = open_shards(args.data)
    s = resolve_settings(args, shards.vocab_size)
    out = Path(args.out)
    ckpt_path, metrics_path = out / CHECKPOINT, out / METRICS
    if ckpt_path.exists() and not args.resume:
        raise CheckpointError(f"{out} already holds a checkpoint; pass --resume to continue it or use another --out.")
    config = GPTConfig(**s["model"])
    sampler = Sampler(shards, config.n_ctx, s["seed"])
    windows = {name: torch.from_numpy(val_windows(d.val, config.n_ctx, s["eval_sequences"]))
               for name, d in shards.datasets.items()}
    windows = {name: w for name, w in windows.items() if len(w)}
    torch.manual_seed(s["seed"])
    model = GPT(config).to(args.device)
    optimizer = model.configure_optimizers(s["lr"], s["weight_decay"], (s["beta1"], s["beta2"]), s["eps"],
                                           device_type)
    step, tokens, sequences = 0, 0, 0
    if args.resume:
        state = load_checkpoint(ckpt_path, s)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step, tokens, sequences = state["step"], state["tokens"], state["sequences"]
    raw_model = model
    if args.compile:
        model = torch.compile(model)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model)
    # -------------------------------------------------------------------------------- run folder
    if master:
        out.mkdir(parents=True, exist_ok=True)
        replace_file(out / "settings.json", (json.dumps(s, indent=2) + "\n").encode())
        # the evaluator reads text through the run's own tokenizer, so a run folder is usable without its shards
        replace_file(out / TOKENIZER, shards.tokenizer_path.read_bytes())
        if args.resume:  # append after what the killed run logged up to its checkpoint
            cut_metrics_to_checkpoint(run_file(out, METRICS), step)
        else:
            replace_file(metrics_path, b"")
    metrics = open(metrics_path, "a") if master else None

    def log(record: dict):
        if metrics:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()

    def checkpoint():
        if master:
            save_checkpoint(ckpt_path, {"format": CHECKPOINT_FORMAT, "settings": s, "model": raw_model.state_dict(),
                                        "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                                        "step": step, "tokens": tokens, "sequences": sequences})

    def evaluate() -> dict:
        record = {"step": step, "tokens": tokens, "val": estimate_loss(raw_model, windows, s["micro_batch"], autocast)}
        log(record)
        plot(metrics_path, out / "loss.png")
        return record

    if master and step == 0:
        splits = [d.val for d in shards.datasets.values() if len(d.val)]
        log({"step": 0, "params": raw_model.num_params(), "world": world,
             "unigram_entropy": unigram_entropy(splits, shards.vocab_size) if splits else None})
    total_tokens = planned_tokens(s, world)
    bar = None
    if master and args.progress:
        from tqdm import tqdm
        bar = tqdm(total=total_tokens, initial=tokens, unit="tok", unit_scale=True, dynamic_ncols=True,
                   desc=f"{args.preset} {raw_model.num_params() / 1e6:.1f}M")
    # -------------------------------------------------------------------------------- the loop
    record, start_time = {}, time.perf_counter()
    while not finished(step, tokens, s):
        t0 = time.perf_counter()
        n = batch_sequences(tokens, s, world)  # global batch, sequences
        per_rank, step_tokens = n // world, n * config.n_ctx
        lr = get_lr(tokens + step_tokens, s)
        for group in optimizer.param_groups:
            group["lr"] = lr
        first = sequences + rank * per_rank  # this rank's disjoint slice of the global batch
        loss_sum = torch.zeros((), device=args.device)
        micro_starts = range(0, per_rank, s["micro_batch"])
        for i, m in enumerate(micro_starts):
            count = min(s["micro_batch"], per_rank - m)
            x, y = (t.to(args.device) for t in sampler.batch(first + m, count))
            last = i == len(micro_starts) - 1
            with model.no_sync() if ddp and not last else nullcontext():  # all-reduce once per step
                with autocast:
                    _, loss = model(x, y)
                loss = loss * (count / per_rank)  # the mean over this rank's sequences
                loss.backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), s["grad_clip"] or float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ddp:
            dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)  # DDP averaged the gradients the same way
        step, tokens, sequences = step + 1, tokens + step_tokens, sequences + n
        dt = time.perf_counter() - t0
        record = {"step": step, "tokens": tokens, "loss": loss_sum.item(), "lr": lr, "batch_tokens": step_tokens,
                  "grad_norm": grad_norm.item(), "time": time.perf_counter() - start_time,
                  "tokens_per_s": step_tokens / dt}
        log(record)
        if bar:
            bar.update(step_tokens)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}", refresh=False)
        done = finished(step, tokens, s)
        if master and windows and s["eval_every"] and (every(step, s["eval_every"]) or done):
            val = evaluate()["val"]
            if bar:
                bar.write(f"step {step}: val " + ", ".join(f"{k} {v:.3f}" for k, v in val.items()))
        if every(step, s["checkpoint_every"]) or done:
            checkpoint()
    if bar:
        bar.close()
    if metrics:
        metrics.close()
        plot(metrics_path, out / "loss.png")
    if ddp:
        dist.barrier()
        dist.destroy_process_group()
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_args(args)
        train(args)
    except (ShardError, CheckpointError, UserError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
