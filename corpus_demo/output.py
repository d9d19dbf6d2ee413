"""generate(): plan the crawl, then write the WARC files, reference corpora, benchmarks and truth.json."""
from __future__ import annotations

import json
from pathlib import Path

from corpus_demo.config import DemoConfig
from corpus_demo.planner import plan_crawl
from corpus_demo.truth import write_truth
from corpus_demo.warc import write_crawl
from model import synthetic


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def generate_from_config(out_dir: str | Path, config: DemoConfig) -> dict:
    """Write the demo crawl, reference corpora, benchmarks and truth.json; return their paths."""
    if config.pages < 20 or config.files < 1:
        raise ValueError(f"The demo needs pages >= 20 and files >= 1, got pages={config.pages}, files={config.files}.")
    config = config.resolved()
    out = Path(out_dir)
    plan = plan_crawl(config)
    files, records = write_crawl(plan, config, out / "crawl")
    references = {name: _write_jsonl(out / "reference" / f"{name}.jsonl", docs)
                  for name, docs in plan.references.items()}
    benchmarks = {task: synthetic.write_jsonl(out / "benchmarks" / f"{task}.jsonl", items)
                  for task, items in plan.benchmarks.items()}
    truth_path = write_truth(out / "truth.json", config, plan, files, records)
    return {
        "out": out,
        "crawl": [out / "crawl" / f["warc_file"] for f in files if not f["truncated"]],
        "truncated": out / "crawl" / files[-1]["warc_file"],
        "reference": references,
        "benchmarks": benchmarks,
        "truth": truth_path,
    }


def generate(out_dir: str | Path, pages: int = 3000, files: int = 4, seed: int = 0) -> dict:
    """`generate_from_config` with the three knobs users turn; see DemoConfig for the rest."""
    return generate_from_config(out_dir, DemoConfig(pages=pages, files=files, seed=seed))
