"""Read a finished run (OUT/) into pandas for the notebooks: documents, fate rows and reports, without Spark.

The notebooks decide thresholds from these tables; the rules they replay (the Pareto draw, P(keep | score))
are the pipeline's own functions, imported, so a notebook's "with alpha = 5 we would keep ..." is exactly
what a rerun with `--alpha 5` keeps.
"""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from corpus.resample import keep, pareto_draws, purpose_seed
from corpus.stage_output import STAGES

_SCORE_IN_DETAIL = re.compile(r"quality_score=([0-9.eE+-]+)")


def report(out_dir: str | Path, name: str) -> dict:
    """OUT/reports/<name>.json, e.g. report(out, "quality")."""
    path = Path(out_dir) / "reports" / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: did the run include that stage?")
    return json.loads(path.read_text())


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a trainer run's metrics.jsonl (model.train), one per line. A line that is not a JSON
    object is skipped, not raised: the last line of a run killed mid-write is half a record."""
    records = []
    with open(path, "rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def stages_run(out_dir: str | Path) -> list[str]:
    return [stage for stage in STAGES if (Path(out_dir) / stage / "_SUCCESS").exists()]


def documents(out_dir: str | Path, stage: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A stage's output documents, in doc_id order."""
    table = pq.read_table(Path(out_dir) / stage / "documents", columns=columns)
    return table.to_pandas().sort_values("doc_id", ignore_index=True) if "doc_id" in table.column_names \
        else table.to_pandas()


def fate(out_dir: str | Path, stage: str | None = None) -> pd.DataFrame:
    """Why documents were dropped: the fate rows of one stage, or of every stage that ran."""
    stages = [stage] if stage else stages_run(out_dir)
    frames = [pq.read_table(Path(out_dir) / s / "fate").to_pandas() for s in stages
              if (Path(out_dir) / s / "fate").exists()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def quality_scores(out_dir: str | Path) -> pd.DataFrame:
    """Every document the quality stage scored: doc_id, dataset, url, quality_score, kept (by the run's rule)."""
    columns = ["doc_id", "dataset", "url", "quality_score"]
    kept = documents(out_dir, "quality", columns).assign(kept=True)
    dropped = fate(out_dir, "quality")
    dropped = dropped.assign(quality_score=dropped["detail"].str.extract(_SCORE_IN_DETAIL, expand=False).astype(float),
                             kept=False)[columns + ["kept"]]
    return pd.concat([kept, dropped], ignore_index=True).sort_values("doc_id", ignore_index=True)


def kept_at(scores: pd.DataFrame, alpha: float, seed: int) -> np.ndarray:
    """Which of these documents `--alpha alpha --seed seed` keeps: the quality stage's own draw, replayed."""
    draws = pareto_draws(scores["doc_id"].tolist(), purpose_seed(seed, "pareto"), alpha)
    return keep(draws, scores["quality_score"].to_numpy())


def stage_input(out_dir: str | Path, stage: str) -> str:
    """The stage whose documents `stage` read: the latest earlier stage that ran
    (docs/design.md, "Stages and what each reads")."""
    earlier = [s for s in stages_run(out_dir) if STAGES.index(s) < STAGES.index(stage)]
    if not earlier:
        raise FileNotFoundError(f"no stage before {stage} ran in {out_dir}")
    return earlier[-1]


def kept_twin(fate_rows: pd.DataFrame) -> pd.Series:
    """The doc_id each deduplicated document was removed in favour of (fate detail `kept=DOC_ID`)."""
    return fate_rows["detail"].str.extract(r"kept=(\w+)", expand=False)
