"""The extract stage on Spark: one task per WARC file (cc-pyspark); each task streams its file and
writes its documents and fate rows as Parquet parts itself, so documents never pass the driver and
never cross into the JVM (that conversion cost a third of the stage's time, bench/extract.py).

Two files can hold the same WARC-Record-ID (a re-packed crawl, or a hostile one), so after the per-file
tasks one document per doc_id is kept and the other copies move to the fate table."""
import re
import shutil
from functools import partial
from http.client import HTTPException
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from corpus.config import ExtractConfig
from corpus.counters import count_stage
from corpus.extract import HtmlToText
from corpus.inputs import ReadDeadlineExceeded, WarcInput, make_s3_client, open_warc
from corpus.parquet_parts import ROWS_PER_BATCH, PartWriter
from corpus.schema import DOCUMENT_ARROW, DOCUMENT_COLUMNS, FATE_ARROW
from corpus.stage_output import COUNTS_FILE, write_json_atomic
from corpus.warc import STAGE, UNREADABLE_WARC, file_failure, iter_warc_outcomes

# Drop reasons this module adds to corpus.warc's.
REMOTE_READ_DEADLINE = "remote_read_deadline"  # an http(s)/s3 file took too long to read; records before it kept
DUPLICATE_DOC_ID = "duplicate_doc_id"  # another record has this doc_id: kept is the first by (warc_file, offset)

_DUPLICATES_DIR = "_duplicate_doc_ids"  # the stage's own scratch table of copies to move, removed when done
_DETAIL_CHARS = 300
_PART_NAME = re.compile(r"part-(\d+)\.parquet")


def _open_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, HTTPException, ValueError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        errors += (BotoCoreError, ClientError)
    except ImportError:
        pass
    return errors


def _past_deadline(outcome: dict, cfg: ExtractConfig, records: int) -> dict:
    """What the read that hit the deadline became (a broken record, a broken file), said as what it is."""
    detail = (f"reading the file took over {cfg.remote_read_deadline_s:g} s (remote_read_deadline_s); "
              f"the {records} records before this point are accounted for")
    return {**outcome, "reason": REMOTE_READ_DEADLINE, "detail": detail, "text": None, "charset": None}


def outcomes_of(warc: WarcInput, cfg: ExtractConfig, html_to_text: HtmlToText, s3_client=None):
    """Every outcome of one WARC file; a file that cannot be opened is one fate row, and a remote file read past
    its deadline ends with one."""
    try:
        stream = open_warc(warc.uri, s3_client, cfg.remote_read_deadline_s)
    except _open_errors() as error:
        yield file_failure(warc.name, UNREADABLE_WARC, f"{type(error).__name__}: {error}")
        return
    records = 0
    with stream:
        try:
            for outcome in iter_warc_outcomes(stream, warc.name, cfg, html_to_text):
                if getattr(stream, "raised", False):  # this outcome is how the record reader took the error
                    yield _past_deadline(outcome, cfg, records)
                    return
                records += 1
                yield outcome
        except ReadDeadlineExceeded:  # raised where the record reader does not catch it
            yield _past_deadline(file_failure(warc.name, REMOTE_READ_DEADLINE, ""), cfg, records)


def _fate_row(outcome: dict) -> dict:
    return {**outcome, "stage": STAGE}


def _attempt() -> str:
    context = TaskContext.get()
    return f"{context.stageId()}-{context.attemptNumber()}" if context else "local"


def extract_partition(tasks: Iterable[tuple[int, WarcInput]], stage_dir: str, cfg: ExtractConfig) -> None:
    """Write documents/part-<i>.parquet and fate/part-<i>.parquet for each (i, WARC file) of this task."""
    html_to_text = HtmlToText(cfg)  # one per task: its cache-reset counter spans the task
    attempt = _attempt()
    s3_client = None
    for index, warc in tasks:
        if warc.uri.startswith("s3://") and s3_client is None:
            s3_client = make_s3_client()
        documents = PartWriter(Path(stage_dir) / "documents", index, DOCUMENT_ARROW, attempt)
        fate = PartWriter(Path(stage_dir) / "fate", index, FATE_ARROW, attempt)
        try:
            for outcome in outcomes_of(warc, cfg, html_to_text, s3_client):
                if outcome["reason"] is None:
                    documents.add({c: outcome[c] for c in DOCUMENT_COLUMNS})
                else:
                    fate.add(_fate_row(outcome))
        except BaseException:
            documents.abort()
            fate.abort()
            raise
        documents.close()
        fate.close()


def find_duplicate_copies(spark: SparkSession, stage_dir: Path) -> list[str]:
    """Write every document whose doc_id an earlier one has (by warc_file, warc_offset, then part and row: a total
    order, so the same input always keeps the same copy) to the scratch table, with the kept copy's place; return
    the names of the document parts holding such copies. Only metadata is read, never the text column."""
    located = (spark.read.parquet(str(stage_dir / "documents"))
               .select("doc_id", "dataset", "url", "warc_file", "warc_offset",
                       F.col("_metadata.file_name").alias("part"), F.col("_metadata.row_index").alias("row"))
               .where(F.col("doc_id").isNotNull()))
    # only doc_ids are shuffled to find the few that repeat; their rows are then picked out by a semi join
    repeated = located.groupBy("doc_id").count().where("count > 1").select("doc_id")
    by_id = Window.partitionBy("doc_id").orderBy("warc_file", "warc_offset", "part", "row")
    copies = (located.join(repeated, "doc_id", "left_semi")
              .withColumn("rank", F.row_number().over(by_id))
              .withColumn("kept_file", F.first("warc_file").over(by_id))
              .withColumn("kept_offset", F.first("warc_offset").over(by_id))
              .where("rank > 1").drop("rank"))
    scratch = str(stage_dir / _DUPLICATES_DIR)
    copies.write.mode("overwrite").parquet(scratch)
    if not any(Path(scratch).glob("*.parquet")):  # no copies (the usual case): Spark wrote only _SUCCESS
        return []
    return sorted(set(pq.read_table(scratch, columns=["part"]).column("part").to_pylist()))


def _duplicate_fate(copies: pa.Table) -> pa.Table:
    rows = [{"doc_id": c["doc_id"], "stage": STAGE, "reason": DUPLICATE_DOC_ID,
             "detail": f"the same doc_id as the record kept in {c['kept_file']} at offset {c['kept_offset']}"
                       [:_DETAIL_CHARS],
             "dataset": c["dataset"], "url": c["url"], "warc_file": c["warc_file"], "warc_offset": c["warc_offset"]}
            for c in copies.sort_by([("row", "ascending")]).to_pylist()]
    return pa.Table.from_pylist(rows, schema=FATE_ARROW)


def _without_rows(part: Path, rows: pa.Array, attempt: str) -> None:
    """Rewrite a documents part without the rows at these indices (streamed in batches, replaced atomically;
    a retried attempt finds the copies gone, and a second rewrite would remove nothing more)."""
    index = int(_PART_NAME.fullmatch(part.name).group(1))
    writer = PartWriter(part.parent, index, DOCUMENT_ARROW, attempt)
    try:
        with pq.ParquetFile(part) as source:
            start = 0
            for batch in source.iter_batches(batch_size=ROWS_PER_BATCH):
                positions = pa.array(range(start, start + batch.num_rows), pa.int64())
                kept = batch.filter(pc.invert(pc.is_in(positions, value_set=rows)))
                start += batch.num_rows
                if kept.num_rows:
                    writer.add_batch(kept)
    except BaseException:
        writer.abort()
        raise
    writer.close()


def move_duplicate_copies(parts: Iterable[str], stage_dir: str) -> None:
    """For each named documents part: its copies of earlier documents become fate rows
    (fate/duplicate_doc_id-<i>.parquet), then the part is rewritten without them."""
    attempt = _attempt()
    scratch = Path(stage_dir) / _DUPLICATES_DIR
    for name in parts:
        copies = pq.read_table(scratch, filters=[("part", "==", name)])
        index = int(_PART_NAME.fullmatch(name).group(1))
        fate = PartWriter(Path(stage_dir) / "fate", index, FATE_ARROW, attempt, prefix=DUPLICATE_DOC_ID)
        try:
            for batch in _duplicate_fate(copies).to_batches(max_chunksize=ROWS_PER_BATCH):
                fate.add_batch(batch)
        except BaseException:
            fate.abort()
            raise
        fate.close()
        _without_rows(Path(stage_dir) / "documents" / name, copies["row"].combine_chunks(), attempt)


def drop_duplicate_doc_ids(spark: SparkSession, stage_dir: Path) -> None:
    """Keep one document per doc_id; the other copies go to the fate table. Parts without copies are untouched."""
    parts = find_duplicate_copies(spark, stage_dir)
    if parts:
        spark.sparkContext.parallelize(parts, numSlices=len(parts)).foreachPartition(
            partial(move_duplicate_copies, stage_dir=str(stage_dir.resolve())))
    shutil.rmtree(stage_dir / _DUPLICATES_DIR)  # the stage's own scratch table


def run_extract(spark: SparkSession, warcs: list[WarcInput], stage_dir: Path, cfg: ExtractConfig) -> dict:
    """Write `documents/` and `fate/` under stage_dir and return the stage's counts."""
    assert warcs, "the extract stage needs at least one WARC file"
    tasks = spark.sparkContext.parallelize(list(enumerate(warcs)), numSlices=len(warcs))  # one task per file
    tasks.foreachPartition(partial(extract_partition, stage_dir=str(stage_dir.resolve()), cfg=cfg))
    drop_duplicate_doc_ids(spark, stage_dir)
    counts = count_stage(spark, stage_dir, STAGE, unit="WARC records, plus whole files that yielded no record")
    counts["warc_files"] = len(warcs)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts
