"""Benchmark test/dev sets for decontamination: JSONL files, one example per line (`--benchmarks DIR|FILE`).

Formats, detected per line unless text fields are configured:
  - GPT-3's `{"context": ..., "completion": ...}`: text = context + completion (the completion carries its
    leading space, so this is the string a web page quoting the example would hold);
  - multiple choice `{"context" or "question", "choices": [...], "label"}`: text = the question and every
    choice, one per line;
  - anything else: `text_fields` (DecontamConfig / --benchmark-text-field), joined with newlines.
A benchmark is one file, named by its file name without `.jsonl`/`.json`/`.ndjson` and `.gz`. An example's
id is its `id` field when it has one, else its 0-based line index in the file (the demo's truth.json
`benchmark_items` use the same index). A malformed line is skipped and counted, never fatal: one that is not
JSON, not an object, over MAX_LINE_BYTES (read past, never held whole), nested too deep or not UTF-8
(corpus/jsonl.py). A file that breaks off (a truncated gzip) keeps the examples before the break.

Dependency-free (standard library, numpy, corpus/jsonl.py, corpus/errors.py): the evaluator reads its tasks with it
(model/tasks.py), so a task's example ids are the decontam stage's (corpus/__init__.py).
"""
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corpus import jsonl
from corpus.errors import UserError

SUFFIXES = (".jsonl", ".json", ".ndjson")
MALFORMED_JSON = "malformed_json"  # not JSON, not a JSON object, too long, too deep or not UTF-8
NO_TEXT = "no_text"  # none of the format's text fields, or only whitespace
DUPLICATE_ID = "duplicate_id"  # an `id` already seen earlier in the file
UNREADABLE_REST = "unreadable_rest"  # the file broke off (truncated gzip, I/O error): counted once, lines before kept
MAX_LINE_BYTES = jsonl.MAX_LINE_BYTES  # a benchmark line longer than this is malformed


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
    """blake2b of a file's bytes: a stage's settings record it, so an edited benchmark remakes the stage.
    Read in chunks: a benchmark file is never held whole."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


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


def _benchmark_lines(path: str, skipped: dict) -> Iterator[tuple[int, str | None]]:
    """(index, line) of a benchmark file, None for a line over MAX_LINE_BYTES. Text mode keeps the universal
    newlines the lines were always split by; surrogateescape lets `jsonl.loads` refuse a line that is not
    UTF-8 while the lines around it are read on. A break in the file ends it, counted in `skipped`."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as handle:
        try:
            yield from jsonl.bounded_lines(handle, MAX_LINE_BYTES)
        except (OSError, EOFError, zlib.error):
            skipped[UNREADABLE_REST] = skipped.get(UNREADABLE_REST, 0) + 1


def load_benchmark(path: str, text_fields: tuple[str, ...] = ()) -> Benchmark:
    name, examples, skipped, seen = benchmark_name(path), [], {}, set()
    for index, line in _benchmark_lines(path, skipped):
        if line is not None and not line.strip():
            continue
        try:
            record = jsonl.loads(line, max_bytes=MAX_LINE_BYTES) if line is not None else None
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
