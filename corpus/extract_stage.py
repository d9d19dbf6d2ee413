"""The extract stage on Spark: one task per WARC file (cc-pyspark); each task streams its file and
writes its documents and fate rows as Parquet parts itself, so documents never pass the driver and
never cross into the JVM (that conversion cost a third of the stage's time, bench/extract.py)."""
from functools import partial
from http.client import HTTPException
from pathlib import Path
from typing import Iterable

from pyspark import TaskContext
from pyspark.sql import SparkSession

from corpus.config import ExtractConfig
from corpus.counters import count_stage
from corpus.extract import HtmlToText
from corpus.inputs import WarcInput, make_s3_client, open_warc
from corpus.parquet_parts import PartWriter
from corpus.schema import DOCUMENT_ARROW, DOCUMENT_COLUMNS, FATE_ARROW
from corpus.stage_output import COUNTS_FILE, write_json_atomic
from corpus.warc import STAGE, UNREADABLE_WARC, file_failure, iter_warc_outcomes


def _open_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, HTTPException, ValueError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        errors += (BotoCoreError, ClientError)
    except ImportError:
        pass
    return errors


def outcomes_of(warc: WarcInput, cfg: ExtractConfig, html_to_text: HtmlToText, s3_client=None):
    """Every outcome of one WARC file; a file that cannot be opened is one fate row."""
    try:
        stream = open_warc(warc.uri, s3_client)
    except _open_errors() as error:
        yield file_failure(warc.name, UNREADABLE_WARC, f"{type(error).__name__}: {error}")
        return
    with stream:
        yield from iter_warc_outcomes(stream, warc.name, cfg, html_to_text)


def _fate_row(outcome: dict) -> dict:
    return {**outcome, "stage": STAGE}


def extract_partition(tasks: Iterable[tuple[int, WarcInput]], stage_dir: str, cfg: ExtractConfig) -> None:
    """Write documents/part-<i>.parquet and fate/part-<i>.parquet for each (i, WARC file) of this task."""
    html_to_text = HtmlToText(cfg)  # one per task: its cache-reset counter spans the task
    context = TaskContext.get()
    attempt = f"{context.stageId()}-{context.attemptNumber()}" if context else "local"
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


def run_extract(spark: SparkSession, warcs: list[WarcInput], stage_dir: Path, cfg: ExtractConfig) -> dict:
    """Write `documents/` and `fate/` under stage_dir and return the stage's counts."""
    assert warcs, "the extract stage needs at least one WARC file"
    tasks = spark.sparkContext.parallelize(list(enumerate(warcs)), numSlices=len(warcs))  # one task per file
    tasks.foreachPartition(partial(extract_partition, stage_dir=str(stage_dir.resolve()), cfg=cfg))
    counts = count_stage(spark, stage_dir, STAGE, unit="WARC records, plus whole files that yielded no record")
    counts["warc_files"] = len(warcs)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts
