"""Which evaluated examples are clean and which dirty (GPT-3 §4), from what the decontam stage wrote:

    --contamination OUT/reports/contamination.json   its benchmarks, with the clean/dirty subset files it names
                                                     (OUT/benchmarks/<name>.clean.jsonl, .dirty.jsonl)
    --contamination OUT/benchmarks                   the subset files alone
    --contamination OUT/benchmarks/NAME.dirty.jsonl  one benchmark's (its .clean.jsonl beside it)

A task is matched to a benchmark by name (the file name without .jsonl, as corpus/benchmarks.py names it;
a synthetic task's name is the name the demo gives its file). Within it, an example is dirty when its JSON
line is in the dirty file and clean when it is in the clean file: matching the text, not a position, means
a shortened or reordered evaluation file still finds its examples. Without the subset files, contamination.json's
`dirty_ids` decide (ids as corpus/benchmarks.py gives them), an id outside the benchmark's line count is unknown.
An example the decontam stage never measured is in neither subset, only in "all".
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import UserError
from corpus.jsonl import MAX_LINE_BYTES, bounded_lines
from model.tasks import Item

CLEAN, DIRTY = "clean", "dirty"


@dataclass
class Subsets:
    clean_lines: set[str] = field(default_factory=set)
    dirty_lines: set[str] = field(default_factory=set)
    dirty_ids: set[str] | None = None  # only when the subset files are missing
    examples: int = 0                   # with dirty_ids: the benchmark's example count

    def of(self, item: Item) -> str | None:
        if self.dirty_ids is not None:
            if item.id in self.dirty_ids:
                return DIRTY
            return CLEAN if item.id.isdigit() and int(item.id) < self.examples else None
        return DIRTY if item.line in self.dirty_lines else CLEAN if item.line in self.clean_lines else None


def _lines(path: Path) -> set[str]:
    """A subset file's lines, split as corpus/benchmarks.py splits the lines they came from (str.splitlines
    would also split at a U+2028 or U+0085 that a JSON string may hold); one over the line cap is no example."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return {line for _, line in bounded_lines(handle, MAX_LINE_BYTES) if line is not None and line.strip()}


def _subset_files(directory: Path) -> dict[str, Subsets]:
    subsets = {}
    for dirty in sorted(directory.glob("*.dirty.jsonl")):
        name = dirty.name[:-len(".dirty.jsonl")]
        clean = dirty.with_name(f"{name}.clean.jsonl")
        subsets[name] = Subsets(_lines(clean) if clean.exists() else set(), _lines(dirty))
    return subsets


def load_contamination(path: str | Path) -> dict[str, Subsets]:
    """Benchmark name -> its clean and dirty examples; UserError in one sentence if `path` holds neither."""
    path = Path(path)
    if path.is_dir():
        subsets = _subset_files(path)
    elif path.name.endswith((".clean.jsonl", ".dirty.jsonl")):
        name = path.name[:-len(".clean.jsonl")]
        subsets = {name: _subset_files(path.parent)[name]} if path.with_name(f"{name}.dirty.jsonl").exists() \
            else {name: Subsets(_lines(path), set())}
    elif path.is_file():
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            benchmarks = report["benchmarks"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise UserError(f"--contamination: {path} is not the decontam stage's contamination.json") from None
        out = path.parent.parent  # OUT/reports/contamination.json: the subset files are under OUT/
        subsets = {}
        for name, b in benchmarks.items():
            clean, dirty = out / b.get("clean_file", ""), out / b.get("dirty_file", "")
            if clean.is_file() and dirty.is_file():
                subsets[name] = Subsets(_lines(clean), _lines(dirty))
            else:
                subsets[name] = Subsets(dirty_ids=set(map(str, b["dirty_ids"])), examples=b["examples"])
    else:
        raise UserError(f"--contamination: {path} does not exist")
    if not subsets:
        raise UserError(f"--contamination: {path} names no benchmark's clean and dirty examples")
    return subsets
