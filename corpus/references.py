"""Reference corpora (the paper's WebText, Wikipedia and books): the quality classifier's positives, and
datasets of their own in the mixture. Given as `--reference NAME=PATH`, where PATH is a file, a directory
or a glob of JSONL (`.jsonl`, `.json`, `.ndjson`, optionally `.gz`; one document per line with a text
field), Parquet (a text column) or plain-text files (`.txt`, `.txt.gz`; one document per file).

Files are listed on the driver and read one Spark task per file, like WARCs; every record becomes a
document or a fate row (malformed line, empty text, unreadable file), never an exception.
"""
import glob
import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql import SparkSession

from corpus.errors import UserError
from corpus.ids import stable_hash
from corpus.parquet_parts import PartWriter
from corpus.schema import DOCUMENT_ARROW, FATE_ARROW

STAGE = "quality"  # reference corpora join the document stream at the quality stage
MALFORMED_REFERENCE_LINE = "malformed_reference_line"  # not JSON, or not a JSON object
EMPTY_REFERENCE_TEXT = "empty_reference_text"  # no text field, or only whitespace
UNREADABLE_REFERENCE_FILE = "unreadable_reference_file"  # I/O or decompression error (rest of file lost)

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt",)
ALL_SUFFIXES = tuple(s + gz for s in JSONL_SUFFIXES + TEXT_SUFFIXES for gz in ("", ".gz")) + PARQUET_SUFFIXES


@dataclass(frozen=True)
class ReferenceFile:
    dataset: str
    path: str  # absolute; what a task opens
    name: str  # relative to the corpus root; what `warc_file` shows for its documents


def parse_reference_spec(spec: str) -> tuple[str, str]:
    """'webtext2=data/webtext.jsonl' → ('webtext2', 'data/webtext.jsonl')."""
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise UserError(f"--reference takes NAME=PATH (e.g. webtext2=data/webtext2.jsonl), got {spec!r}")
    if not all(c.isalnum() or c in "_-" for c in name):
        raise UserError(f"reference name {name!r} may hold only letters, digits, '_' and '-'")
    return name, path


def list_reference_files(dataset: str, spec: str) -> list[ReferenceFile]:
    """Every readable file a reference PATH names, in a stable order."""
    if os.path.isdir(spec):
        root = spec
        candidates = glob.glob(os.path.join(spec, "**", "*"), recursive=True)
    elif glob.has_magic(spec):
        root = os.path.dirname(spec.split("*")[0]) or "."
        candidates = glob.glob(spec, recursive=True)
    elif os.path.isfile(spec):
        root, candidates = os.path.dirname(spec) or ".", [spec]
    else:
        raise UserError(f"the reference corpus {dataset}={spec} does not exist")
    files = sorted(p for p in candidates if os.path.isfile(p) and p.lower().endswith(ALL_SUFFIXES))
    if not files:
        raise UserError(f"the reference corpus {dataset}={spec} holds no .jsonl, .parquet or .txt file")
    return [ReferenceFile(dataset, os.path.abspath(p), os.path.relpath(p, root)) for p in files]


def reference_doc_id(dataset: str, record_id: str) -> str:
    """doc_id of a reference document: from its own `id` when it has one, else from file and line."""
    return stable_hash(f"{dataset}\x00{record_id}")


def _document(ref: ReferenceFile, position: int, text, record_id, url) -> dict:
    return {"doc_id": reference_doc_id(ref.dataset, str(record_id) if record_id is not None
                                       else f"{ref.name}:{position}"),
            "dataset": ref.dataset, "url": url if isinstance(url, str) else None, "warc_file": ref.name,
            "warc_offset": position, "fetch_time": None, "text": text, "warc_record_id": None, "charset": None}


def _fate(ref: ReferenceFile, position: int | None, reason: str, detail: str) -> dict:
    where = f"{ref.name}:{position}" if position is not None else ref.name
    return {"doc_id": reference_doc_id(ref.dataset, where), "stage": STAGE, "reason": reason, "detail": detail,
            "dataset": ref.dataset, "url": None, "warc_file": ref.name, "warc_offset": position}


def _from_fields(ref: ReferenceFile, position: int, text, record_id, url) -> dict:
    if not isinstance(text, str) or not text.strip():
        return _fate(ref, position, EMPTY_REFERENCE_TEXT, "no text" if text is None else "blank text")
    return _document(ref, position, text, record_id, url)


def _jsonl_records(ref: ReferenceFile, text_field: str) -> Iterator[dict]:
    opener = gzip.open if ref.path.endswith(".gz") else open
    with opener(ref.path, "rb") as handle:
        for line_number, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:  # includes UnicodeDecodeError
                yield _fate(ref, line_number, MALFORMED_REFERENCE_LINE, f"{type(error).__name__}: {error}"[:200])
                continue
            if not isinstance(record, dict):
                yield _fate(ref, line_number, MALFORMED_REFERENCE_LINE, f"a JSON {type(record).__name__}, not an object")
                continue
            yield _from_fields(ref, line_number, record.get(text_field), record.get("id"), record.get("url"))


def _parquet_records(ref: ReferenceFile, text_field: str) -> Iterator[dict]:
    parquet = pq.ParquetFile(ref.path)
    names = set(parquet.schema_arrow.names)
    if text_field not in names:
        yield _fate(ref, None, UNREADABLE_REFERENCE_FILE, f"no {text_field!r} column")
        return
    columns = [c for c in (text_field, "id", "url") if c in names]
    row = 0
    for batch in parquet.iter_batches(columns=columns, batch_size=1024):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            yield _from_fields(ref, row, data[text_field][i], data.get("id", [None] * batch.num_rows)[i],
                               data.get("url", [None] * batch.num_rows)[i])
            row += 1


def _text_file_records(ref: ReferenceFile) -> Iterator[dict]:
    opener = gzip.open if ref.path.endswith(".gz") else open
    with opener(ref.path, "rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", errors="replace").read()
    yield _from_fields(ref, 0, text, None, None)


def reference_records(ref: ReferenceFile, text_field: str = "text") -> Iterator[dict]:
    """Documents (DOCUMENT_ARROW rows) and fate rows (with a `reason`) of one reference file."""
    lower = ref.path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        records = _parquet_records(ref, text_field)
    elif lower.removesuffix(".gz").endswith(TEXT_SUFFIXES):
        records = _text_file_records(ref)
    else:
        records = _jsonl_records(ref, text_field)
    last_position = None
    try:
        for record in records:
            last_position = record["warc_offset"]
            yield record
    except (OSError, EOFError, zlib.error, ValueError) as error:  # pyarrow's errors are OSError/ValueError
        detail = f"{type(error).__name__} after record {last_position}: {error}"[:300]
        yield _fate(ref, None, UNREADABLE_REFERENCE_FILE, detail)


def _ingest_partition(tasks: Iterable[tuple[int, ReferenceFile]], out_dir: str, fate_dir: str,
                      text_field: str) -> None:
    context = TaskContext.get()
    attempt = f"{context.stageId()}-{context.attemptNumber()}" if context else "local"
    for index, ref in tasks:
        documents = PartWriter(Path(out_dir), index, DOCUMENT_ARROW, attempt)
        fate = PartWriter(Path(fate_dir), index, FATE_ARROW, attempt, prefix="reference")
        for record in reference_records(ref, text_field):
            if "reason" in record:
                fate.add(record)
            else:
                documents.add(record)
        documents.close()
        fate.close()


def ingest_references(spark: SparkSession, files: list[ReferenceFile], out_dir: Path, fate_dir: Path,
                      text_field: str) -> None:
    """Reference documents → out_dir/part-<i>.parquet, their bad records → fate_dir; one task per file."""
    tasks = spark.sparkContext.parallelize(list(enumerate(files)), numSlices=max(1, len(files)))
    tasks.foreachPartition(partial(_ingest_partition, out_dir=str(out_dir.resolve()),
                                   fate_dir=str(fate_dir.resolve()), text_field=text_field))
