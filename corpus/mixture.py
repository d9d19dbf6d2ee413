"""The training mixture: GPT-3's Table 2.2 weights mapped onto the datasets a run has.

Table 2.2 does not reconcile with itself: its weights sum to 101%, and its epochs column does not follow
from budget x weight / tokens for WebText2 (3.47 vs 2.9), Books1 (2.0 vs 1.9) and Wikipedia (3.0 vs 3.4).
We take the weights as the truth, normalise them over the datasets present, and compute epochs.
"""
from corpus.errors import UserError

# dataset: (tokens in the paper, weight in the training mix, epochs at 300B tokens), as printed
TABLE_2_2 = {
    "common_crawl": (410e9, 0.60, 0.44),
    "webtext2": (19e9, 0.22, 2.9),
    "books1": (12e9, 0.08, 1.9),
    "books2": (55e9, 0.08, 0.43),
    "wikipedia": (3e9, 0.03, 3.4),
}
ALIASES = {"books": ("books1", "books2")}  # a run with one books corpus gets both books' weight
PAPER_BUDGET_TOKENS = 300e9


def _paper_weight(dataset: str) -> float | None:
    if dataset in TABLE_2_2:
        return TABLE_2_2[dataset][1]
    if dataset in ALIASES:
        return sum(TABLE_2_2[d][1] for d in ALIASES[dataset])
    return None


def resolve_weights(datasets: list[str], given: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """({dataset: normalised weight}, warnings). Given weights win; otherwise Table 2.2's. A dataset with no
    weight is a user error; a weight of 0 leaves the dataset out of the mixture."""
    warnings = []
    if given:
        for name in sorted(set(given) - set(datasets)):
            warnings.append(f"--weight {name} names no dataset of this run; ignored")
        missing = [d for d in datasets if d not in given]
        if missing:
            raise UserError(f"dataset {missing[0]} has no weight; pass --weight {missing[0]}=W for every dataset "
                            f"({', '.join(datasets)}), or none to use Table 2.2")
        raw = {d: float(given[d]) for d in datasets}
    else:
        raw = {}
        for dataset in datasets:
            weight = _paper_weight(dataset)
            if weight is None:
                raise UserError(f"dataset {dataset} is not in Table 2.2; give every dataset a weight with "
                                f"--weight NAME=W")
            raw[dataset] = weight
        covered = {d for dataset in datasets for d in ALIASES.get(dataset, (dataset,))}
        for absent in [d for d in TABLE_2_2 if d not in covered]:
            warnings.append(f"Table 2.2's {absent} ({TABLE_2_2[absent][1]:.0%}) is not in this run; "
                            f"the other weights are renormalised")
    if any(w < 0 for w in raw.values()) or sum(raw.values()) <= 0:
        raise UserError("mixture weights must be >= 0 and not all 0")
    total = sum(raw.values())
    return {d: w / total for d, w in raw.items() if w > 0}, warnings


def epochs(weights: dict[str, float], train_tokens: dict[str, int], budget: int) -> dict[str, float | None]:
    """Passes over each dataset at `budget` training tokens: weight x budget / tokens (None: no tokens)."""
    return {d: (w * budget / train_tokens[d]) if train_tokens.get(d) else None for d, w in weights.items()}


def mixture_table(weights: dict[str, float], given: dict[str, float], train_tokens: dict[str, int],
                  val_tokens: dict[str, int], documents: dict[str, int], budget: int, warnings: list[str]) -> dict:
    """OUT/reports/mixture.json: Table 2.2 for this run, with the paper's row beside each dataset."""
    passes = epochs(weights, train_tokens, budget)
    rows = []
    for dataset in sorted(weights, key=lambda d: -weights[d]):
        paper = TABLE_2_2.get(dataset)
        rows.append({"dataset": dataset, "train_tokens": train_tokens.get(dataset, 0),
                     "val_tokens": val_tokens.get(dataset, 0), "documents": documents.get(dataset, 0),
                     "weight": weights[dataset], "epochs": passes[dataset],
                     "paper": {"tokens": paper[0], "weight": paper[1], "epochs": paper[2]} if paper else None})
    return {
        "source": "--weight" if given else "GPT-3 Table 2.2, renormalised over this run's datasets",
        "budget_tokens": budget, "datasets": rows, "warnings": warnings,
        "note": "Table 2.2's weights sum to 101% and its epochs column does not follow from them; the weights "
                "are taken as the truth, normalised to 1, and epochs = weight x budget / tokens.",
    }
