"""OUT/reports/index.html: one self-contained page (plots embedded as PNG data URIs, no network) that a
person reads instead of the JSON reports. Built from the JSON alone, so it can be rebuilt at any time:

    python -m corpus.report OUT
"""
import base64
import html
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to PNG only
import matplotlib.pyplot as plt  # noqa: E402

from corpus.explore import read_metrics  # noqa: E402

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots img{width:520px}code{background:#f6f6f6}"""


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape(str(value))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def funnel_section(funnel: list[dict]) -> str:
    rows = [[e["stage"], e["in"], e["out"], ", ".join(f"{r} {n}" for r, n in e["dropped"].items()) or "none"]
            for e in funnel]
    return ('<section id="funnel"><h2>Funnel</h2><p>Documents in and out of every stage; every drop has a '
            'reason (the fate table under each stage says which document and why).</p>'
            + _table(["stage", "in", "out", "dropped (reason count)"], rows) + "</section>")


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


def quality_section(report: dict) -> str:
    classifier, resampling = report["classifier"], report["resampling"]
    parts = ['<section id="quality"><h2>Quality classifier and Pareto resampling</h2>',
             f"<p>Classifier: {html.escape(classifier['source'])}. Rule: {html.escape(resampling['rule'])}; "
             f"alpha = {resampling['alpha']}, seed = {resampling['seed']}. Kept "
             f"{resampling['kept']} of {resampling['crawl_documents']} Common Crawl documents "
             f"({100 * (resampling['kept_rate'] or 0):.1f}%).</p>",
             _table(["parameter", "value"], [[k, v] for k, v in classifier["params"].items()])]
    training = classifier.get("training_set")
    if training:
        parts.append(_table(["dataset", "train", "held out"],
                            [[d, training["train"][d], training["held_out"].get(d, 0)] for d in training["train"]]))
    held_out = classifier.get("held_out", {})
    plots = [_score_histograms(resampling["histograms"]), _kept_vs_dropped(resampling["histograms"])]
    if "auc" in held_out:
        parts.append(f"<p>Held out: AUC {held_out['auc']:.3f}, accuracy {held_out['accuracy']:.3f} at 0.5.</p>")
        parts.append(_table(["threshold", "precision", "recall", "accuracy"],
                            [[t["threshold"], t["precision"], t["recall"], t["accuracy"]]
                             for t in held_out["at_thresholds"]]))
        plots.append(_roc(held_out))
    parts.append('<div class="plots">' + "".join(plots) + "</div>")
    datasets = sorted(resampling["alpha_table"][0]["kept_fraction"])
    parts.append("<h3>Choosing alpha: expected share kept</h3>")
    parts.append(_table(["alpha"] + datasets, [[row["alpha"]] + [row["kept_fraction"][d] for d in datasets]
                                                for row in resampling["alpha_table"]]))
    parts.append(f"<h3>Kept per score decile (alpha = {resampling['alpha']})</h3>")
    parts.append(_table(["score bin", "documents", "kept", "kept rate", "expected (2 - s)^-alpha"],
                        [[f"{d['bin'][0]:.1f}–{d['bin'][1]:.1f}", d["documents"], d["kept"], d["kept_rate"],
                          d["expected_kept_rate"]] for d in resampling["score_deciles"]]))
    for label in ("kept", "dropped"):
        parts.append(f"<h3>Some {label} pages</h3>")
        parts.append(_table(["url", "quality_score"], [[e["url"], e["quality_score"]]
                                                       for e in resampling["examples"][label]]))
    return "".join(parts) + "</section>"


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


def _cluster_columns(cluster: dict) -> str:
    columns = "".join(
        f'<div style="flex:1;min-width:200px;border:1px solid #ccc;padding:.4em"><b>{html.escape(m["fate"])}</b> · '
        f'{html.escape(m["dataset"])} · Jaccard with kept {m["jaccard_with_kept"]:.2f}<br>'
        f'<small>{html.escape(m["url"] or "(no URL: " + m["doc_id"] + ")")}</small><p style="font-size:85%">{html.escape(m["text"])}…</p></div>'
        for m in cluster["members"])
    return (f"<h4>Cluster of {cluster['size']} (kept <code>{html.escape(cluster['kept'])}</code>)</h4>"
            f'<div style="display:flex;gap:.5em">{columns}</div>')


def _bucket_note(params: dict, engine: dict) -> str:
    if "shared_buckets" not in engine:  # the datasketch engine has no buckets of its own
        return ""
    engine = {"oversized_buckets": 0, "oversized_pairs": 0, "split_rounds": 0, "stuck_buckets": 0, **engine}
    bands = "hash table" if params["engine"] == "spark-ml" else "band"
    note = (f"{engine['shared_buckets']:,} buckets shared by two documents or more, holding "
            f"{engine['pairs_in_shared_buckets']:,} pairs; {engine['oversized_buckets']:,} of them over "
            f"{params['max_bucket_size']:,} documents ({engine['oversized_pairs']:,} pairs) were split by their members' "
            f"buckets in the next {bands}s ({engine['split_rounds']} rounds), and {engine['stuck_buckets']:,} that no "
            f"{bands} split were compared in overlapping windows of {params['max_bucket_size']:,} documents.")
    if params["engine"] == "spark-ml":
        note += (" Spark's MinHashLSH ORs single-hash tables: a pair at Jaccard 0.2 shares a bucket with probability "
                 f"{params['candidate_probability']['0.2']:.2f}.")
    return note


def dedup_section(report: dict) -> str:
    params, engine = report["params"], report["engine"]
    parts = ['<section id="dedup"><h2>Deduplication</h2>',
             f"<p>Exact duplicates (same normalised text) first, then MinHash LSH with the <code>{params['engine']}"
             f"</code> engine on <code>{params['features']}</code> features; every candidate pair is confirmed by its "
             f"exact Jaccard similarity (threshold {params['threshold']}). Within each dataset, and Common Crawl "
             "against the reference datasets (a crawl document is never kept over a reference twin). "
             f"{engine.get('pairs_compared', 0):,} pairs compared, {engine.get('confirmed_pairs', 0):,} confirmed. "
             f"{_bucket_note(params, engine)}</p>",
             _dedup_histograms(report),
             _table(["dataset", "documents", "exact dups removed", "near dups removed", "clusters", "largest cluster"],
                    [[d, t["documents"], t["exact_dups_removed"], t["near_dups_removed"], t["clusters"],
                      t["largest_cluster"]] for d, t in report["datasets"].items()])]
    if report["cross_dataset"]:
        parts.append("<h3>Removed in favour of another dataset</h3>")
        parts.append(_table(["removed from", "kept in", "reason", "documents"],
                            [[r["removed_from"], r["kept_in"], r["reason"], r["documents"]]
                             for r in report["cross_dataset"]]))
    if report["clusters"]:
        parts.append("<h3>Some clusters side by side</h3>" + "".join(_cluster_columns(c) for c in report["clusters"]))
    return "".join(parts) + "</section>"


def mixture_section(mixture: dict) -> str:
    def number(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"
    rows = [[r["dataset"], f"{r['train_tokens']:,}", f"{100 * r['weight']:.1f}%", number(r["epochs"]),
             "" if not r["paper"] else f"{r['paper']['tokens'] / 1e9:.0f}B · {100 * r['paper']['weight']:.0f}% · "
                                       f"{r['paper']['epochs']}"] for r in mixture["datasets"]]
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in mixture["warnings"])
    return ('<section id="mixture"><h2>Training mixture (Table 2.2 for this run)</h2>'
            f"<p>Weights: {html.escape(mixture['source'])}. Epochs at a budget of {mixture['budget_tokens']:,} "
            f"tokens. {html.escape(mixture['note'])}</p>"
            + _table(["dataset", "tokens (train)", "weight in training mix", "epochs elapsed at budget",
                      "paper: tokens · weight · epochs"], rows)
            + (f"<ul>{warnings}</ul>" if warnings else "") + "</section>")


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


def contamination_section(report: dict) -> str:
    params, benchmarks = report["params"], report["benchmarks"]
    parts = ['<section id="contamination"><h2>Benchmark decontamination</h2>',
             f"<p>GPT-3 Appendix C: {params['ngram']}-gram collisions (examples of {params['min_ngram']}–"
             f"{params['ngram'] - 1} words matched whole), {params['window_before_chars']} characters removed before "
             f"and {params['window_after_chars']} after each, pieces under {params['min_piece_chars']} characters "
             f"dropped, documents split into more than {params['max_pieces']} pieces dropped, grams in more than "
             f"{params['max_docs_per_gram']} documents ignored ({report['ignored_grams']['count']} were). An example "
             "is dirty if one of its N-grams occurs in a training document (N = the 5th-percentile example length, "
             f"{params['measure_min_n']}–{params['measure_max_n']}; synthetic tasks may go lower).</p>",
             _dirty_bars(benchmarks),
             _table(["benchmark", "examples", "N", "dirty before", "dirty after", "clean after", "documents matched"],
                    [[n, b["examples"], b["n"], b["dirty_before"], b["dirty_after"], b["clean_after"],
                      b["documents_matched"]] for n, b in sorted(benchmarks.items())]),
             _table(["dataset", "documents", "touched", "split", "dropped", "pieces kept", "short pieces",
                     "spans removed", "characters removed"],
                    [[d, t["documents"], t["touched"], t["split"], t["dropped"], t["pieces_kept"], t["pieces_short"],
                      t["spans_removed"], t["characters_removed"]] for d, t in report["datasets"].items()])]
    if report["spans"]:
        parts.append("<h3>Some removed spans (the matched text in bold)</h3>")
        for span in report["spans"]:
            parts.append(f"<p><code>{html.escape(span['matched'])}</code> in {html.escape(str(span['url']))}: …"
                         f"{html.escape(span['before'])}<b>{html.escape(span['match'])}</b>"
                         f"{html.escape(span['after'])}…</p>")
    return "".join(parts) + "</section>"


def _read_run(run_dir: Path) -> dict:
    """A trainer run folder (model.train): its settings and the step and validation lines of metrics.jsonl."""
    lines = read_metrics(run_dir / "metrics.jsonl")
    header = next((line for line in lines if "params" in line), {})
    return {"name": run_dir.name, "settings": json.loads((run_dir / "settings.json").read_text()),
            "params": header.get("params"), "unigram_entropy": header.get("unigram_entropy"),
            "steps": [line for line in lines if "loss" in line and "tokens" in line],
            "evals": [line for line in lines if isinstance(line.get("val"), dict) and "tokens" in line]}


def _loss_curves(run: dict) -> str:
    figure, axis = plt.subplots(figsize=(6.5, 3.6))
    axis.plot([s["tokens"] for s in run["steps"]], [s["loss"] for s in run["steps"]], color="lightgrey",
              label="train (per step)")
    for dataset in sorted({d for e in run["evals"] for d in e["val"]}):
        points = [(e["tokens"], e["val"][dataset]) for e in run["evals"] if dataset in e["val"]]
        axis.plot(*zip(*points), marker="o", markersize=3, label=f"val {dataset}")
    if run["unigram_entropy"]:
        axis.axhline(run["unigram_entropy"], linestyle=":", color="black", label="unigram entropy")
    axis.set(xlabel="tokens trained", ylabel="loss (nats/token)", title=f"Run {run['name']}")
    axis.legend(fontsize=8)
    return _png(figure)


def training_section(runs: list[dict]) -> str:
    """The training curves of the runs under OUT/runs/, with the last validation loss against the unigram
    entropy of the data (a model that learnt nothing beyond token frequencies sits at that line)."""
    datasets = sorted({d for run in runs for e in run["evals"] for d in e["val"]})
    rows = []
    for run in runs:
        last_val = run["evals"][-1]["val"] if run["evals"] else {}
        last = run["steps"][-1] if run["steps"] else {}
        rows.append([run["name"], run["settings"].get("preset", ""), run["params"] or "", last.get("step", 0),
                     last.get("tokens", 0), run["unigram_entropy"] or ""] + [last_val.get(d, "") for d in datasets])
    return ('<section id="training"><h2>Training</h2><p>Runs of the reference GPT (<code>python -m model.train'
            '</code>) found under <code>OUT/runs/</code>. Losses in nats per token; validation on each dataset\'s '
            'held-out shards.</p>'
            + _table(["run", "preset", "parameters", "steps", "tokens", "unigram entropy"]
                     + [f"val {d}" for d in datasets], rows)
            + '<div class="plots">' + "".join(_loss_curves(run) for run in runs) + "</div></section>")


def _percent(accuracy, n) -> str:
    return "–" if accuracy is None else f"{100 * accuracy:.1f}% ({n})"


def _accuracy_vs_shots(name: str, results: dict) -> str:
    """Each task's main metric against K for one checkpoint (model/evaluate.py's plot, redrawn from JSON)."""
    rows = [r for r in results["results"] if r["checkpoint"] == name and r["main"]]
    figure, axis = plt.subplots(figsize=(6.5, 3.6))
    for task in dict.fromkeys(r["task"] for r in rows):
        points = sorted((r["shots"], 100 * r["accuracy_all"]) for r in rows if r["task"] == task)
        axis.plot(*zip(*points), marker="o", markersize=3, label=task)
    axis.set_xscale("symlog", linthresh=1)  # K = 0, 1, 8, 32 ... spread like the paper's figures
    shots = sorted({r["shots"] for r in rows})
    axis.set_xticks(shots, [str(k) for k in shots])
    axis.set(xlabel="K (demonstrations in the prompt)", ylabel="accuracy (%)", ylim=(-2, 102),
             title=f"{name}: accuracy vs K")
    axis.legend(fontsize=7)
    return _png(figure)


def evaluation_section(evaluations: list[dict]) -> str:
    """Few-shot results of the runs' evaluations (python -m model.evaluate, written to OUT/runs/NAME/eval/):
    accuracy on all examples and on the decontam stage's clean and dirty subsets (GPT-3 §4)."""
    rows, plots = [], []
    for evaluation in evaluations:
        results = evaluation["results"]
        for r in results["results"]:
            shots = str(r["shots"]) if r["k_min"] == r["shots"] else f"{r['shots']} (min {r['k_min']} fit)"
            rows.append([r["checkpoint"], r["task"], shots, r["metric"]]
                        + [_percent(r[f"accuracy_{s}"], r[f"n_{s}"]) for s in ("all", "clean", "dirty")])
        plots += [_accuracy_vs_shots(c["name"], results) for c in results["checkpoints"]]
    settings = evaluations[0]["results"]["settings"]
    decoding = "beam search (width 4, length penalty 0.6)" if settings.get("beam", 1) > 1 else "greedy decoding"
    return ('<section id="evaluation"><h2>Evaluation</h2><p>Zero-, one- and few-shot accuracy (GPT-3 §2) of the '
            'runs under <code>OUT/runs/</code>, from <code>python -m model.evaluate</code> '
            f'({decoding}; exact match for completions; multiple choice by log-likelihood). '
            '"clean" and "dirty" split the examples the decontam stage measured: dirty ones still share an '
            'N-gram with the training data. A clean score well below the dirty one suggests the model recalls '
            'rather than solves. K is capped so a prompt fits the context window.</p>'
            + _table(["checkpoint", "task", "K", "metric", "all (n)", "clean (n)", "dirty (n)"], rows)
            + '<div class="plots">' + "".join(plots) + "</div></section>")


def find_evaluations(out_dir: Path) -> list[dict]:
    return [{"run": path.parent.parent.name, "results": json.loads(path.read_text())}
            for path in sorted(Path(out_dir).glob("runs/*/eval/results.json"))]


def find_runs(out_dir: Path) -> list[dict]:
    return [_read_run(metrics.parent) for metrics in sorted(Path(out_dir).glob("runs/*/metrics.jsonl"))
            if (metrics.parent / "settings.json").exists()]


def write_report(out_dir: Path) -> Path:
    reports = Path(out_dir) / "reports"
    sections = []
    if (reports / "funnel.json").exists():
        sections.append(funnel_section(json.loads((reports / "funnel.json").read_text())))
    if (reports / "quality.json").exists():
        sections.append(quality_section(json.loads((reports / "quality.json").read_text())))
    if (reports / "dedup.json").exists():
        sections.append(dedup_section(json.loads((reports / "dedup.json").read_text())))
    if (reports / "contamination.json").exists():
        sections.append(contamination_section(json.loads((reports / "contamination.json").read_text())))
    if (reports / "mixture.json").exists():
        sections.append(mixture_section(json.loads((reports / "mixture.json").read_text())))
    runs = find_runs(out_dir)
    if runs:
        sections.append(training_section(runs))
    evaluations = [e for e in find_evaluations(out_dir) if e["results"]["results"]]
    if evaluations:
        sections.append(evaluation_section(evaluations))
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>GPT-3 corpus report</title>'
            f"<style>{STYLE}</style></head><body><h1>GPT-3 corpus report</h1>"
            f"<p><code>{html.escape(str(Path(out_dir).resolve()))}</code></p>{''.join(sections)}</body></html>\n")
    path = reports / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m corpus.report OUT")
    print(write_report(Path(sys.argv[1])))
