"""Benchmark test/dev sets for decontamination: JSONL files, one example per line (`--benchmarks DIR|FILE`).

Formats, detected per line unless text fields are configured:
  - GPT-3's `{"context": ..., "completion": ...}`: text = context + completion (the completion carries its
    leading space, so this is the string a web page quoting the example would hold);
  - multiple choice `{"context" or "question", "choices": [...], "label"}`: text = the question and every
    choice, one per line;
  - anything else: `text_fields` (DecontamConfig / --benchmark-text-field), joined with newlines.
A benchmark is one file, named by its file name without `.jsonl`/`.json`/`.ndjson` and `.gz`. An example's
id is its `id` field when it has one, else its 0-based line index in the file (the demo's truth.json
`benchmark_items` use the same index). A malformed line is skipped and counted, never fatal.
"""
import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import UserError

SUFFIXES = (".jsonl", ".json", ".ndjson")
MALFORMED_JSON = "malformed_json"  # not JSON, or not a JSON object
NO_TEXT = "no_text"  # none of the format's text fields, or only whitespace
DUPLICATE_ID = "duplicate_id"  # an `id` already seen earlier in the file


@dataclass(frozen=True)
class Example:
    benchmark: str
    id: str  # the `id` field, else the 0-based line index
    index: int  # 0-based line index in the file
    text: str  # what n-grams are taken from
    line: str  # the line as it is in the file, written verbatim to the clean/dirty subsets


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: str
    examples: tuple[Example, ...]
    skipped: dict = field(default_factory=dict)  # reason -> lines


def benchmark_name(path: str | Path) -> str:
    name = Path(path).name
    name = name[:-3] if name.endswith(".gz") else name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _is_benchmark_file(path: str) -> bool:
    name = path[:-3] if path.endswith(".gz") else path
    return os.path.isfile(path) and name.endswith(SUFFIXES)


def list_benchmark_files(spec: str) -> list[str]:
    """The JSONL files a --benchmarks PATH names (a file, or every JSONL file directly in a directory)."""
    if os.path.isdir(spec):
        files = sorted(os.path.join(spec, p) for p in os.listdir(spec) if _is_benchmark_file(os.path.join(spec, p)))
    elif os.path.isfile(spec):
        files = [spec]
    else:
        raise UserError(f"the benchmarks path {spec} does not exist")
    if not files:
        raise UserError(f"the benchmarks path {spec} holds no .jsonl file")
    return [os.path.abspath(f) for f in files]


def file_digest(path: str) -> str:
    """blake2b of a file's bytes: a stage's settings record it, so an edited benchmark remakes the stage."""
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()


def _joined(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


def example_text(record: dict, text_fields: tuple[str, ...] = ()) -> str | None:
    """The text an example's n-grams are taken from, or None if the record has none."""
    if text_fields:
        parts = [_joined(record.get(name)) for name in text_fields]
        text = "\n".join(p for p in parts if p)
    elif isinstance(record.get("context"), str) and isinstance(record.get("completion"), str):
        text = record["context"] + record["completion"]  # GPT-3's format
    elif isinstance(record.get("choices"), list):
        question = record.get("context", record.get("question"))
        choices = _joined([str(c) for c in record["choices"]])
        text = "\n".join(p for p in (question if isinstance(question, str) else None, choices) if p)
    else:
        return None
    return text if text and text.strip() else None


def load_benchmark(path: str, text_fields: tuple[str, ...] = ()) -> Benchmark:
    name, examples, skipped, seen = benchmark_name(path), [], {}, set()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for index, line in enumerate(lines):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            text = example_text(record, text_fields) if isinstance(record, dict) else None
            reason = MALFORMED_JSON if not isinstance(record, dict) else NO_TEXT if text is None else None
            example_id = str(record["id"]) if reason is None and record.get("id") is not None else str(index)
            if reason is None and example_id in seen:
                reason = DUPLICATE_ID
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            seen.add(example_id)
            examples.append(Example(name, example_id, index, text, line))
    return Benchmark(name, path, tuple(examples), dict(sorted(skipped.items())))


def load_benchmarks(specs: list[str] | tuple[str, ...], text_fields: tuple[str, ...] = ()) -> list[Benchmark]:
    """Every benchmark the --benchmarks paths name, in name order; two files with one name are a user error."""
    files = [f for spec in specs for f in list_benchmark_files(spec)]
    names = [benchmark_name(f) for f in files]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"two benchmark files are both named {repeated[0]!r}; benchmark names must be unique")
    return sorted((load_benchmark(f, text_fields) for f in files), key=lambda b: b.name)
