"""Few-shot evaluation of trained runs (GPT-3 §2): zero-, one- and K-shot prompts, no gradient updates, with
accuracy on all, clean and dirty examples (§4).

    python -m model.evaluate --checkpoint runs/tiny [runs/other ...] --tasks arithmetic,wordscramble,FILE.jsonl \\
        --shots 0,1,8 [--description TEXT] [--contamination OUT/reports/contamination.json] [--text FILE] \\
        [--limit N] [--beam] [--out DIR]

--out (default: the first checkpoint's eval/) gets:
    results.json            one row per (checkpoint, task, K, metric): accuracy and count on all, clean, dirty
    table.md                the rows as a markdown table (also printed)
    samples.jsonl           every evaluated example: prompt, target, the model's answer, and whether it was right
    accuracy_vs_shots.png   accuracy against K, one line per task (its main metric), one panel per checkpoint
    accuracy_vs_params.png  with several checkpoints: accuracy against parameters at the largest K

Metrics (model/tasks.py has the kinds): generate: exact_match, greedy unless --beam (width 4, length penalty
0.6). last_word: acc, the target is the greedy continuation. multiple_choice: the choice with the highest
log-likelihood, as `acc` (the sum over its tokens), `acc_norm` (per token, GPT-3's), `acc_norm_chars` (per
character: what lm-evaluation-harness calls acc_norm) and `acc_uncond` (divided by the choice's probability
after "Answer:", GPT-3's for ARC, OpenBookQA and RACE). --text adds the loss and bits per byte of a file.
K is capped so a prompt fits n_ctx with room for the answer; the table shows the cap when it bit.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from corpus.errors import UserError
from model.contamination import CLEAN, DIRTY, Subsets, load_contamination
from model.prompts import build_prompt
from model.scoring import LM
from model.tasks import GENERATE, LAST_WORD, MULTIPLE_CHOICE, Task, resolve_tasks
from model.shards import MANIFEST_CAP_BYTES, MANIFEST_FILE, path_inside
from model.train import TOKENIZER, CheckpointError, read_checkpoint, run_file, save_figure

ANSWER_CONTEXT = "Answer:"  # GPT-3's "Answer: ", the space moved into the choice as every choice carries one
MAIN_METRIC = {GENERATE: "exact_match", LAST_WORD: "acc", MULTIPLE_CHOICE: "acc_norm"}
SUBSETS = ("all", CLEAN, DIRTY)


@dataclass(frozen=True)
class Settings:
    shots: tuple[int, ...]
    limit: int | None
    seed: int
    description: str | None
    beam: int
    length_penalty: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="RUN_DIR", help="run folders of model.train")
    p.add_argument("--tasks", default="arithmetic,wordscramble",
                   help="comma-separated: arithmetic, wordscramble, a synthetic task, a JSONL file or a directory")
    p.add_argument("--shots", default="0,1,8", help="comma-separated K values (default 0,1,8)")
    p.add_argument("--description", help="a natural-language task description to start every prompt with")
    p.add_argument("--contamination", help="OUT/reports/contamination.json or the clean/dirty files' directory")
    p.add_argument("--text", help="a held-out text file: report its loss and bits per byte")
    p.add_argument("--limit", type=int, help="evaluate only the first N items of each task")
    p.add_argument("--beam", action="store_true", help="beam search (width 4, length penalty 0.6), not greedy")
    p.add_argument("--seed", type=int, default=0, help="seed of the demonstrations' draw")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per log-likelihood forward pass")
    p.add_argument("--tokenizer", help="tokenizer.json (default: the run folder's, else its shards')")
    p.add_argument("--out", help="output directory (default: FIRST_CHECKPOINT/eval)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def _shots(spec: str) -> tuple[int, ...]:
    try:
        shots = tuple(int(s) for s in spec.split(",") if s.strip())
    except ValueError:
        shots = ()
    if not shots or min(shots) < 0:
        raise UserError(f"--shots takes comma-separated K values >= 0, such as 0,1,8; got {spec!r}")
    return shots


def load_tokenizer(run_dir: Path, settings: dict, path: str | None):
    """The run's tokenizer: --tokenizer, else the copy in the run folder, else its shards' one. The copy must
    not lead out of the run folder, nor the shards' one out of the shards directory (a symlink, "..", an
    absolute path in the manifest)."""
    from tokenizers import Tokenizer

    if path is None:
        path = run_file(run_dir, TOKENIZER)
        if not path.exists():
            path = _shards_tokenizer(run_dir, Path(str(settings.get("data"))))
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises its own Exception type with a long message
        raise UserError(f"{path} is not a tokenizer.json ({str(error).splitlines()[0][:100]})") from None


def _shards_tokenizer(run_dir: Path, shards: Path) -> Path:
    """The tokenizer a shards directory's manifest names, which must resolve inside that directory."""
    manifest = shards / MANIFEST_FILE
    if not manifest.exists():
        raise UserError(f"{run_dir} has no {TOKENIZER} and its shards {shards} are not there; pass --tokenizer")
    with open(manifest, "rb") as f:
        raw = f.read(MANIFEST_CAP_BYTES + 1)  # a longer one fails to parse: never read a crafted file whole
    try:
        name = json.loads(raw).get("tokenizer")
    except (ValueError, RecursionError, AttributeError):  # not JSON, too deep, not an object
        name = None
    inside = path_inside(shards, name) if isinstance(name, str) else None
    if inside is None:
        raise UserError(f"{manifest} names no tokenizer inside {shards}; pass --tokenizer")
    return inside


# ------------------------------------------------------------------------------------------------ one task

def _answer_tokens(lm: LM, task: Task, items) -> int:
    """The longest answer the task may need, in tokens: what every prompt leaves room for."""
    answers = [c for item in items for c in item.choices] if task.kind == MULTIPLE_CHOICE else \
        [item.target for item in items]
    return max(len(lm.encode(a)) for a in answers) + (1 if task.kind == GENERATE else 0)  # + the stop


def evaluate_task(lm: LM, task: Task, k: int, s: Settings) -> list[dict]:
    """One record per evaluated item: its prompt, answer and {metric: right?}."""
    items = task.items[:s.limit]
    answer = _answer_tokens(lm, task, items)
    prompts = [build_prompt(task, item, k, s.seed, s.description, lambda t: len(lm.encode(t)), lm.n_ctx - answer)
               for item in items]
    records = [{"task": task.name, "shots": k, "k": p.k, "id": item.id, "prompt": p.text, "target": item.target}
               for item, p in zip(items, prompts)]
    if task.kind == GENERATE:
        if s.beam > 1:  # one prompt at a time: the beams are the batch
            predictions = [lm.generate(r["prompt"], task.stop, answer, s.beam, s.length_penalty) for r in records]
        else:  # prompts of similar lengths share a batch, so little of it is padding
            order = sorted(range(len(records)), key=lambda i: prompts[i].tokens)
            predictions = [""] * len(records)
            for start in range(0, len(order), lm.batch_size):
                chunk = order[start:start + lm.batch_size]
                texts = lm.generate_greedy([records[i]["prompt"] for i in chunk], task.stop, answer)
                for i, text in zip(chunk, texts):
                    predictions[i] = text
        for record, prediction in zip(records, predictions):
            record["prediction"] = prediction
            record["correct"] = {"exact_match": prediction.strip() == record["target"].strip()}
    elif task.kind == LAST_WORD:
        for record, (logprob, greedy, _) in zip(records, lm.loglikelihood([(p.text, i.target)
                                                                          for p, i in zip(prompts, items)])):
            record["logprob"], record["correct"] = logprob, {"acc": greedy}
    else:
        scores = iter(lm.loglikelihood([(p.text, c) for p, i in zip(prompts, items) for c in i.choices]))
        choices = sorted({c for i in items for c in i.choices})
        unconditional = dict(zip(choices, (ll for ll, _, _ in lm.loglikelihood([(ANSWER_CONTEXT, c)
                                                                                  for c in choices]))))
        for record, item in zip(records, items):
            lls = [next(scores) for _ in item.choices]
            by_metric = {"acc": [ll for ll, _, _ in lls],
                         "acc_norm": [ll / n for ll, _, n in lls],
                         "acc_norm_chars": [ll / len(c) for (ll, _, _), c in zip(lls, item.choices)],
                         "acc_uncond": [ll - unconditional[c] for (ll, _, _), c in zip(lls, item.choices)]}
            picks = {m: max(range(len(v)), key=v.__getitem__) for m, v in by_metric.items()}
            record["prediction"] = item.choices[picks["acc_norm"]]
            record["choice_logprobs"] = by_metric["acc"]
            record["correct"] = {m: pick == item.label for m, pick in picks.items()}
            record["chance"] = 1 / len(item.choices)
    return records


def summarise(records: list[dict], task: Task, k: int, subsets: Subsets | None) -> list[dict]:
    """One row per metric: accuracy and count on all, clean and dirty items."""
    membership = {item.id: subsets.of(item) if subsets else None for item in task.items[:len(records)]}
    rows = []
    for metric in records[0]["correct"] if records else []:
        row = {"task": task.name, "kind": task.kind, "shots": k, "metric": metric,
               "main": metric == MAIN_METRIC[task.kind],
               "k_min": min(r["k"] for r in records), "k_mean": sum(r["k"] for r in records) / len(records),
               "chance": sum(r.get("chance", 0.0) for r in records) / len(records)}
        for subset in SUBSETS:
            chosen = [r for r in records if subset == "all" or membership[r["id"]] == subset]
            row[f"n_{subset}"] = len(chosen)
            row[f"accuracy_{subset}"] = sum(r["correct"][metric] for r in chosen) / len(chosen) if chosen else None
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ outputs

def _cell(accuracy: float | None, n: int) -> str:
    return "–" if accuracy is None else f"{100 * accuracy:.1f}% ({n})"


def markdown_table(results: dict) -> str:
    lines = ["| checkpoint | task | K | metric | all | clean | dirty |", "|---|---|---|---|---|---|---|"]
    for r in results["results"]:
        k = f"{r['shots']}" if r["k_min"] == r["shots"] else f"{r['shots']} (min {r['k_min']} fit)"
        lines.append(f"| {r['checkpoint']} | {r['task']} | {k} | {r['metric']} | "
                     + " | ".join(_cell(r[f"accuracy_{s}"], r[f"n_{s}"]) for s in SUBSETS) + " |")
    if results["text"]:
        lines += ["", "| checkpoint | text | tokens | loss (nats/token) | bits per byte |", "|---|---|---|---|---|"]
        lines += [f"| {t['checkpoint']} | {t['path']} | {t['tokens']} | {t['loss']:.4f} | {t['bits_per_byte']:.4f} |"
                  for t in results["text"]]
    return "\n".join(lines) + "\n"


def shots_figure(results: dict, names: list[str] | None = None):
    """Each task's main metric against K, one panel per checkpoint (all, or those named): the matplotlib
    Figure of accuracy_vs_shots.png, which the HTML report (corpus.report) embeds one checkpoint at a time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = names or [c["name"] for c in results["checkpoints"]]
    figure, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names):
        rows = [r for r in results["results"] if r["checkpoint"] == name and r["main"]]
        for task in dict.fromkeys(r["task"] for r in rows):
            points = sorted((r["shots"], 100 * r["accuracy_all"]) for r in rows if r["task"] == task)
            axis.plot(*zip(*points), marker="o", label=task)
        axis.set(xlabel="K (demonstrations in the prompt)", ylabel="accuracy (%)", title=name, ylim=(-2, 102))
        axis.set_xscale("symlog", linthresh=1)  # K = 0, 1, 8, 32 ... spread like the paper's figures
        shots = sorted({r["shots"] for r in rows})
        axis.set_xticks(shots, [str(k) for k in shots])
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def plot_shots(results: dict, png: Path):
    save_figure(shots_figure(results), png)


def plot_params(results: dict, png: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = {c["name"]: c["params"] for c in results["checkpoints"]}
    k = max(r["shots"] for r in results["results"])
    rows = [r for r in results["results"] if r["main"] and r["shots"] == k]
    figure, axis = plt.subplots(figsize=(6.5, 4))
    for task in dict.fromkeys(r["task"] for r in rows):
        points = sorted((params[r["checkpoint"]], 100 * r["accuracy_all"]) for r in rows if r["task"] == task)
        axis.plot(*zip(*points), marker="o", label=task)
    axis.set(xscale="log", xlabel="parameters", ylabel="accuracy (%)", title=f"{k}-shot accuracy vs model size",
             ylim=(-2, 102))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labelled minor ticks overlap
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    save_figure(figure, png)


# ------------------------------------------------------------------------------------------------ the run

def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--text: cannot read {path} as UTF-8 text ({error.__class__.__name__})") from None


def evaluate(args: argparse.Namespace) -> dict:
    s = Settings(_shots(args.shots), args.limit, args.seed, args.description, 4 if args.beam else 1, 0.6)
    if s.limit is not None and s.limit < 1:
        raise UserError("--limit must be at least 1")
    tasks = resolve_tasks(args.tasks)
    if not tasks and not args.text:
        raise UserError("--tasks names no task")
    contamination = load_contamination(args.contamination) if args.contamination else {}
    text = _read_text(args.text) if args.text else None
    runs = [Path(c) for c in args.checkpoint]
    names = [r.name if [x.name for x in runs].count(r.name) == 1 else str(r) for r in runs]
    out = Path(args.out) if args.out else runs[0] / "eval"
    results = {"settings": {"tasks": [t.name for t in tasks], "shots": list(s.shots), "limit": s.limit,
                            "seed": s.seed, "description": s.description, "beam": s.beam,
                            "length_penalty": s.length_penalty if s.beam > 1 else None,
                            "contamination": args.contamination},
               "checkpoints": [], "results": [], "text": []}
    samples = []
    for run, name in zip(runs, names):
        model, settings, progress = read_checkpoint(run, args.device)
        lm = LM(model, load_tokenizer(run, settings, args.tokenizer), args.batch_size)
        results["checkpoints"].append({"name": name, "path": str(run), "params": model.num_params(),
                                       "preset": settings.get("preset"), "n_ctx": lm.n_ctx, **progress})
        for task in tasks:
            for k in s.shots:
                start = time.perf_counter()
                records = evaluate_task(lm, task, k, s)
                rows = summarise(records, task, k, contamination.get(task.name))
                results["results"] += [{"checkpoint": name, "params": model.num_params(), **row} for row in rows]
                samples += [{"checkpoint": name, **r} for r in records]
                main = next(r for r in rows if r["main"])
                print(f"{name} {task.name} {k}-shot: {main['metric']} {_cell(main['accuracy_all'], main['n_all'])}"
                      f" in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        if text is not None:
            results["text"].append({"checkpoint": name, "path": args.text, **lm.text_loss(text)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "table.md").write_text(markdown_table(results))
    (out / "samples.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in samples))
    if results["results"]:
        plot_shots(results, out / "accuracy_vs_shots.png")
        if len(runs) > 1:
            plot_params(results, out / "accuracy_vs_params.png")
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = evaluate(args)
    except (UserError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
