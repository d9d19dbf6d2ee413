"""truth.json: what every later stage should find, record by record."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from corpus.ids import doc_id_for_record
from corpus.warc import CORRUPT_WARC
from corpus_demo.config import DemoConfig
from corpus_demo.kinds import EXPECTED_REASONS
from corpus_demo.planner import Plan
from corpus_demo.records import Page


def truth_record(page: Page, warc_file: str, offset: int, readable: bool = True) -> dict:
    article_kinds = ("good", "spam", "boilerplate", "list", "exact_dup", "near_dup", "benchmark_quote",
                     "reference_dup", "bad_charset_label", "meta_charset", "http_equiv_charset")
    return {
        "warc_file": warc_file,
        "warc_offset": offset,
        "record_id": page.record_id,
        "doc_id": doc_id_for_record(page.record_id),
        "url": page.url,
        "kind": page.kind,
        "expected_reason": page.expected_reason if readable else CORRUPT_WARC,
        "dup_group": page.dup_group,
        "dup_of": None if page.dup_of is None else doc_id_for_record(page.dup_of.record_id),
        "edit_fraction": page.edit_fraction,
        "reference": page.reference,
        "benchmark_items": page.benchmark_items,
        "readable": readable,
        "http_status": int(page.status.split()[0]),
        "content_type": page.content_type,
        "transfer": page.transfer,
        "charset": page.charset,
        "snippet": page.snippet,
        "main_text_words": len(page.article.main_text.split())
        if page.article is not None and page.kind in article_kinds else None,
    }


def write_truth(path: Path, config: DemoConfig, plan: Plan, files: list[dict], records: list[dict]) -> Path:
    """truth.json: the resolved config, every file and record, and the counts later stages are checked against."""
    truth = {
        "seed": config.seed,
        "pages_requested": config.pages,
        "config": asdict(config),
        "expected_reasons": list(EXPECTED_REASONS),
        "files": files,
        "reference": {name: len(docs) for name, docs in plan.references.items()},
        "benchmarks": {task: len(items) for task, items in plan.benchmarks.items()},
        "counts": dict(sorted(Counter(r["kind"] for r in records).items())),
        "expected_reason_counts": dict(sorted(Counter(str(r["expected_reason"]) for r in records).items())),
        "records": records,
    }
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
