"""OUT/reports/index.html: one self-contained page (plots embedded as PNG data URIs, no network) that a
person reads instead of the JSON reports. Built from the JSON alone, so it can be rebuilt at any time:

    python -m corpus.report OUT

The page is the jinja2 template corpus/templates/report.html.j2 (autoescaped: URLs, page text and dataset
names come from the crawl), one sub-template per section in corpus/templates/sections/. This module only
shapes each report into the plain values its section shows and draws the plots.
"""
import base64
import io
import json
import sys
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")  # no display: render to PNG only
import matplotlib.pyplot as plt

from corpus.explore import read_metrics

REPORT_FILE = "index.html"


def _png(figure) -> str:
    """A figure as base64 PNG for the template's figure macro; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("corpus", "templates"), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["cell"] = _cell
    environment.filters["thousands"] = lambda number: f"{number:,}"
    return environment


# ------------------------------------------------------------------------------------------------ funnel

def funnel_section(funnel: list[dict]) -> dict:
    return {"stages": [[e["stage"], e["in"], e["out"],
                        ", ".join(f"{r} {n}" for r, n in e["dropped"].items()) or "none"] for e in funnel]}


# ------------------------------------------------------------------------------------------------ quality

def _score_histograms(histograms: dict) -> str:
    edges = histograms["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    figure, axis = plt.subplots(figsize=(6, 3.4))
    for dataset, counts in histograms["by_dataset"].items():
        total = sum(counts) or 1
        axis.plot(centres, [c / total for c in counts], marker="o", markersize=3, label=dataset)
    axis.set(xlabel="quality_score", ylabel="share of the dataset", title="Scores: Common Crawl vs references")
    axis.legend()
    return _png(figure)


def _kept_vs_dropped(histograms: dict) -> str:
    edges = histograms["edges"]
    figure, axis = plt.subplots(figsize=(6, 3.4))
    bottom = [0] * (len(edges) - 1)
    for label, colour in (("kept", "tab:green"), ("dropped", "tab:red")):
        counts = histograms["crawl_kept_vs_dropped"].get(label, bottom)
        axis.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge", bottom=bottom, color=colour, label=label)
        bottom = [a + b for a, b in zip(bottom, counts)]
    axis.set(xlabel="quality_score", ylabel="Common Crawl documents", title="Pareto resampling: kept vs dropped")
    axis.legend()
    return _png(figure)


def _roc(held_out: dict) -> str:
    figure, axis = plt.subplots(figsize=(4.2, 3.8))
    axis.plot(held_out["roc"]["fpr"], held_out["roc"]["tpr"], label=f"AUC {held_out['auc']:.3f}")
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="Held-out ROC (reference vs crawl)")
    axis.legend(loc="lower right")
    return _png(figure)


def _held_out(held_out: dict) -> dict | None:
    """The held-out scores of a classifier the stage trained (a loaded --classifier has none)."""
    if "auc" not in held_out:
        return None
    return {"auc": held_out["auc"], "accuracy": held_out["accuracy"],
            "thresholds": [[t["threshold"], t["precision"], t["recall"], t["accuracy"]]
                           for t in held_out["at_thresholds"]]}


def quality_section(report: dict) -> dict:
    classifier, resampling = report["classifier"], report["resampling"]
    training, held_out = classifier.get("training_set"), classifier.get("held_out", {})
    figures = [_score_histograms(resampling["histograms"]), _kept_vs_dropped(resampling["histograms"])]
    if "auc" in held_out:
        figures.append(_roc(held_out))
    datasets = sorted(resampling["alpha_table"][0]["kept_fraction"])
    return {"source": classifier["source"], "rule": resampling["rule"], "alpha": resampling["alpha"],
            "seed": resampling["seed"], "kept": resampling["kept"], "crawl_documents": resampling["crawl_documents"],
            "kept_percent": 100 * (resampling["kept_rate"] or 0),
            "params": [[k, v] for k, v in classifier["params"].items()],
            "training_set": [[d, training["train"][d], training["held_out"].get(d, 0)] for d in training["train"]]
            if training else None,
            "held_out": _held_out(held_out), "figures": figures, "alpha_datasets": datasets,
            "alpha_table": [[row["alpha"]] + [row["kept_fraction"][d] for d in datasets]
                            for row in resampling["alpha_table"]],
            "score_deciles": [[f"{d['bin'][0]:.1f}–{d['bin'][1]:.1f}", d["documents"], d["kept"], d["kept_rate"],
                               d["expected_kept_rate"]] for d in resampling["score_deciles"]],
            "examples": [(label, [[e["url"], e["quality_score"]] for e in resampling["examples"][label]])
                         for label in ("kept", "dropped")]}


# ------------------------------------------------------------------------------------------------ dedup

def _dedup_histograms(report: dict) -> str:
    figure, (sizes_axis, jaccard_axis) = plt.subplots(1, 2, figsize=(10, 3.4))
    sizes = {int(size): n for size, n in report["cluster_sizes"].items()}
    sizes_axis.bar([str(s) for s in sorted(sizes)], [sizes[s] for s in sorted(sizes)], color="tab:blue")
    sizes_axis.set(xlabel="documents in the cluster", ylabel="clusters", title="Cluster sizes")
    width, counts = report["jaccard"]["bin_width"], report["jaccard"]["counts"]
    jaccard_axis.bar([float(edge) for edge in counts], list(counts.values()), width=width, align="edge", color="tab:green")
    jaccard_axis.axvline(report["params"]["threshold"], linestyle=":", color="black", label="threshold")
    jaccard_axis.set(xlabel="exact Jaccard", ylabel="confirmed pairs", title="Jaccard of confirmed pairs", xlim=(0, 1))
    jaccard_axis.legend()
    return _png(figure)


def _buckets(params: dict, engine: dict) -> dict | None:
    """What the LSH buckets held, for the engines that have buckets of their own (datasketch has none)."""
    if "shared_buckets" not in engine:
        return None
    return {"oversized_buckets": 0, "oversized_pairs": 0, "split_rounds": 0, "stuck_buckets": 0, **engine,
            "max_bucket_size": params["max_bucket_size"],
            "band": "hash table" if params["engine"] == "spark-ml" else "band",
            "probability_at_02": params["candidate_probability"]["0.2"] if params["engine"] == "spark-ml" else None}


def dedup_section(report: dict) -> dict:
    params, engine = report["params"], report["engine"]
    return {"engine": params["engine"], "features": params["features"], "threshold": params["threshold"],
            "pairs_compared": engine.get("pairs_compared", 0), "confirmed_pairs": engine.get("confirmed_pairs", 0),
            "buckets": _buckets(params, engine), "figure": _dedup_histograms(report),
            "datasets": [[d, t["documents"], t["exact_dups_removed"], t["near_dups_removed"], t["clusters"],
                          t["largest_cluster"]] for d, t in report["datasets"].items()],
            "cross_dataset": [[r["removed_from"], r["kept_in"], r["reason"], r["documents"]]
                              for r in report["cross_dataset"]],
            "clusters": report["clusters"]}


# ------------------------------------------------------------------------------------------------ decontam

def _dirty_bars(benchmarks: dict) -> str:
    names = sorted(benchmarks)
    figure, axis = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    positions = range(len(names))
    for offset, key, colour in ((-0.2, "dirty_before", "tab:red"), (0.2, "dirty_after", "tab:orange")):
        shares = [benchmarks[n][key] / max(1, benchmarks[n]["examples"]) for n in names]
        axis.barh([p + offset for p in positions], shares, height=0.4, color=colour,
                  label=key.replace("_", " ") + " filtering")
    axis.set_yticks(list(positions), [f"{n} (N={benchmarks[n]['n']})" for n in names])
    axis.invert_yaxis()
    axis.set(xlabel="share of the benchmark's examples that are dirty", title="Benchmark contamination")
    axis.legend()
    return _png(figure)


def contamination_section(report: dict) -> dict:
    benchmarks = report["benchmarks"]
    return {"params": report["params"], "ignored_grams": report["ignored_grams"]["count"],
            "figure": _dirty_bars(benchmarks),
            "benchmarks": [[n, b["examples"], b["n"], b["dirty_before"], b["dirty_after"], b["clean_after"],
                            b["documents_matched"]] for n, b in sorted(benchmarks.items())],
            "datasets": [[d, t["documents"], t["touched"], t["split"], t["dropped"], t["pieces_kept"],
                          t["pieces_short"], t["spans_removed"], t["characters_removed"]]
                         for d, t in report["datasets"].items()],
            "spans": report["spans"]}


# ------------------------------------------------------------------------------------------------ mixture

def mixture_section(mixture: dict) -> dict:
    def number(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"

    def paper(row):
        if not row["paper"]:
            return ""
        return f"{row['paper']['tokens'] / 1e9:.0f}B · {100 * row['paper']['weight']:.0f}% · {row['paper']['epochs']}"
    return {"source": mixture["source"], "budget_tokens": mixture["budget_tokens"], "note": mixture["note"],
            "warnings": mixture["warnings"],
            "datasets": [[r["dataset"], f"{r['train_tokens']:,}", f"{100 * r['weight']:.1f}%", number(r["epochs"]),
                          paper(r)] for r in mixture["datasets"]]}


# ------------------------------------------------------------------------------------------------ runs

def _read_run(run_dir: Path) -> dict:
    """A trainer run folder (model.train): its settings and the step and validation lines of metrics.jsonl."""
    lines = read_metrics(run_dir / "metrics.jsonl")
    header = next((line for line in lines if "params" in line), {})
    return {"name": run_dir.name, "path": run_dir, "settings": json.loads((run_dir / "settings.json").read_text()),
            "params": header.get("params"), "unigram_entropy": header.get("unigram_entropy"),
            "steps": [line for line in lines if "loss" in line and "tokens" in line],
            "evals": [line for line in lines if isinstance(line.get("val"), dict) and "tokens" in line]}


def _loss_curves(run: dict) -> str:
    # The trainer's own loss.png figure; torch loads only when there is a run to plot.
    from model.train import loss_figure
    figure = loss_figure(run["path"] / "metrics.jsonl")
    figure.axes[0].set_title(f"Run {run['name']}")  # one figure per run: say whose
    return _png(figure)


def training_section(runs: list[dict]) -> dict:
    """The training curves of the runs under OUT/runs/, with the last validation loss against the unigram
    entropy of the data (a model that learnt nothing beyond token frequencies sits at that line)."""
    datasets = sorted({d for run in runs for e in run["evals"] for d in e["val"]})
    rows = []
    for run in runs:
        last_val = run["evals"][-1]["val"] if run["evals"] else {}
        last = run["steps"][-1] if run["steps"] else {}
        rows.append([run["name"], run["settings"].get("preset", ""), run["params"] or "", last.get("step", 0),
                     last.get("tokens", 0), run["unigram_entropy"] or ""] + [last_val.get(d, "") for d in datasets])
    return {"val_columns": [f"val {d}" for d in datasets], "runs": rows,
            "figures": [_loss_curves(run) for run in runs]}


def _percent(accuracy, n) -> str:
    return "–" if accuracy is None else f"{100 * accuracy:.1f}% ({n})"


def _accuracy_vs_shots(name: str, results: dict) -> str:
    """Each task's main metric against K for one checkpoint: model.evaluate's accuracy_vs_shots.png panel."""
    from model.evaluate import shots_figure
    return _png(shots_figure(results, [name]))


def evaluation_section(evaluations: list[dict]) -> dict:
    """Few-shot results of the runs' evaluations (python -m model.evaluate, written to OUT/runs/NAME/eval/):
    accuracy on all examples and on the decontam stage's clean and dirty subsets (GPT-3 §4)."""
    rows, figures = [], []
    for evaluation in evaluations:
        results = evaluation["results"]
        for r in results["results"]:
            shots = str(r["shots"]) if r["k_min"] == r["shots"] else f"{r['shots']} (min {r['k_min']} fit)"
            rows.append([r["checkpoint"], r["task"], shots, r["metric"]]
                        + [_percent(r[f"accuracy_{s}"], r[f"n_{s}"]) for s in ("all", "clean", "dirty")])
        figures += [_accuracy_vs_shots(c["name"], results) for c in results["checkpoints"]]
    settings = evaluations[0]["results"]["settings"]
    beam = settings.get("beam", 1) > 1
    return {"decoding": "beam search (width 4, length penalty 0.6)" if beam else "greedy decoding",
            "results": rows, "figures": figures}


def find_evaluations(out_dir: Path) -> list[dict]:
    return [{"run": path.parent.parent.name, "results": json.loads(path.read_text())}
            for path in sorted(Path(out_dir).glob("runs/*/eval/results.json"))]


def find_runs(out_dir: Path) -> list[dict]:
    return [_read_run(metrics.parent) for metrics in sorted(Path(out_dir).glob("runs/*/metrics.jsonl"))
            if (metrics.parent / "settings.json").exists()]


# ------------------------------------------------------------------------------------------------ the page

# The sections built from OUT/reports/<file>, in page order: (section id and sub-template, report file, shaper).
STAGE_SECTIONS = (
    ("funnel", "funnel.json", funnel_section),
    ("quality", "quality.json", quality_section),
    ("dedup", "dedup.json", dedup_section),
    ("contamination", "contamination.json", contamination_section),
    ("mixture", "mixture.json", mixture_section),
)


def sections(out_dir: Path) -> list[dict]:
    """Every section this OUT has something for, shaped for its sub-template; the run sections last."""
    reports = Path(out_dir) / "reports"
    shaped = [{"name": name, **shape(json.loads((reports / file).read_text()))}
              for name, file, shape in STAGE_SECTIONS if (reports / file).exists()]
    runs = find_runs(out_dir)
    if runs:
        shaped.append({"name": "training", **training_section(runs)})
    evaluations = [e for e in find_evaluations(out_dir) if e["results"]["results"]]
    if evaluations:
        shaped.append({"name": "evaluation", **evaluation_section(evaluations)})
    return shaped


def render(out_dir: Path) -> str:
    return _environment().get_template("report.html.j2").render(
        out_dir=str(Path(out_dir).resolve()), sections=sections(out_dir))


def write_report(out_dir: Path) -> Path:
    path = Path(out_dir) / "reports" / REPORT_FILE
    page = render(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m corpus.report OUT")
    print(write_report(Path(sys.argv[1])))
