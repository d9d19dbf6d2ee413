"""Reference corpora (the paper's WebText, Wikipedia and books): the quality classifier's positives, and
datasets of their own in the mixture. Given as `--reference NAME=PATH`, where PATH is a file, a directory
or a glob of JSONL (`.jsonl`, `.json`, `.ndjson`, optionally `.gz`; one document per line with a text
field), Parquet (a text column) or plain-text files (`.txt`, `.txt.gz`; one document per file).

Files are listed on the driver and read one Spark task per file, like WARCs; every record becomes a
document or a fate row (malformed line, empty text, oversized or unreadable file), never an exception. One
document is at most MAX_DOCUMENT_BYTES: a longer JSONL line or Parquet text is a malformed record, read past
without being held whole, and a longer .txt file one `oversized_reference_file` row.
"""
import glob
import gzip
import io
import os
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql import SparkSession

from corpus.errors import UserError
from corpus.ids import stable_hash
from corpus.jsonl import MAX_LINE_BYTES, MalformedLine, bounded_lines, loads
from corpus.parquet_parts import PartWriter
from corpus.schema import DOCUMENT_ARROW, FATE_ARROW

STAGE = "quality"  # reference corpora join the document stream at the quality stage
# a line (or Parquet row) that is not a JSON object, is over MAX_DOCUMENT_BYTES, nests too deep or is not UTF-8
MALFORMED_REFERENCE_LINE = "malformed_reference_line"
EMPTY_REFERENCE_TEXT = "empty_reference_text"  # no text field, a text that is not a string, or only whitespace
UNREADABLE_REFERENCE_FILE = "unreadable_reference_file"  # I/O or decompression error (rest of file lost)
OVERSIZED_REFERENCE_FILE = "oversized_reference_file"  # a .txt document over MAX_DOCUMENT_BYTES (not read on)

MAX_DOCUMENT_BYTES = MAX_LINE_BYTES  # one document: a JSONL line, a Parquet text or a whole .txt file
PARQUET_BATCH_ROWS = 1024

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
    if text is None:
        return _fate(ref, position, EMPTY_REFERENCE_TEXT, "no text")
    if not isinstance(text, str):
        return _fate(ref, position, EMPTY_REFERENCE_TEXT, f"the text is a {type(text).__name__}, not a string")
    if not text.strip():
        return _fate(ref, position, EMPTY_REFERENCE_TEXT, "blank text")
    return _document(ref, position, text, record_id, url)


def _jsonl_records(ref: ReferenceFile, text_field: str) -> Iterator[dict]:
    opener = gzip.open if ref.path.endswith(".gz") else open
    with opener(ref.path, "rb") as handle:
        for line_number, line in bounded_lines(handle, MAX_DOCUMENT_BYTES):
            if line is None:
                yield _fate(ref, line_number, MALFORMED_REFERENCE_LINE,
                            f"a line over the {MAX_DOCUMENT_BYTES}-byte cap (skipped unread)")
                continue
            if not line.strip():
                continue
            try:
                record = loads(line)
            except ValueError as error:  # json's own, and MalformedLine: too deep, not UTF-8, a lone surrogate
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
    for batch in parquet.iter_batches(columns=columns, batch_size=PARQUET_BATCH_ROWS):
        texts, sizes = _capped_texts(batch.column(text_field))
        data = {name: _python_values(batch.column(name)) for name in columns if name != text_field}
        data[text_field] = _python_values(texts)
        for i in range(batch.num_rows):
            values = [data[name][i] if name in data else None for name in (text_field, "id", "url")]
            bad = next((v for v in values if isinstance(v, MalformedLine)), None)
            if sizes[i] > MAX_DOCUMENT_BYTES:
                yield _fate(ref, row, MALFORMED_REFERENCE_LINE,
                            f"a text of {sizes[i]} bytes, over the {MAX_DOCUMENT_BYTES}-byte cap")
            elif bad is not None:
                yield _fate(ref, row, MALFORMED_REFERENCE_LINE, str(bad))
            else:
                yield _from_fields(ref, row, *values)
            row += 1


def _capped_texts(column: pa.Array) -> tuple[pa.Array, list[int]]:
    """The column with every value over MAX_DOCUMENT_BYTES made null, so it is never copied into Python, and
    each value's size in bytes (0 for a column that holds neither strings nor bytes)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            or pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        return column, [0] * len(column)
    sizes = pc.fill_null(pc.binary_length(column), 0)
    oversized = pc.greater(sizes, MAX_DOCUMENT_BYTES)
    return pc.if_else(oversized, pa.scalar(None, column.type), column), sizes.to_pylist()


def _python_values(column: pa.Array) -> list:
    """The column's values in Python. Arrow does not check that the strings it reads are UTF-8: a value that
    is not becomes a MalformedLine in its row's place rather than failing the batch."""
    try:
        return column.to_pylist()
    except UnicodeDecodeError:
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except UnicodeDecodeError as error:
                values.append(MalformedLine(f"not UTF-8 ({error.reason} at byte {error.start})"))
        return values


def _text_file_records(ref: ReferenceFile) -> Iterator[dict]:
    opener = gzip.open if ref.path.endswith(".gz") else open
    with opener(ref.path, "rb") as handle:
        data = handle.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        yield _fate(ref, 0, OVERSIZED_REFERENCE_FILE, f"over the {MAX_DOCUMENT_BYTES}-byte cap for one document")
        return
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()  # as read before the cap
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
