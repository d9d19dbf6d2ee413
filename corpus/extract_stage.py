"""The extract stage on Spark: one task per WARC file (cc-pyspark), documents never pass the driver."""
from functools import partial
from http.client import HTTPException
from pathlib import Path
from typing import Iterable, Iterator

from pyspark import StorageLevel
from pyspark.sql import SparkSession, functions as F

from corpus.config import ExtractConfig
from corpus.counters import count_stage
from corpus.extract import HtmlToText
from corpus.inputs import WarcInput, make_s3_client, open_warc
from corpus.schema import DOCUMENT_COLUMNS, EXTRACT_OUTCOME, FATE_COLUMNS
from corpus.stage_output import COUNTS_FILE, write_json_atomic
from corpus.warc import OUTCOME_FIELDS, STAGE, UNREADABLE_WARC, file_failure, iter_warc_outcomes

PARQUET_COMPRESSION = "zstd"


def _open_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, HTTPException, ValueError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        errors += (BotoCoreError, ClientError)
    except ImportError:
        pass
    return errors


def extract_partition(warcs: Iterable[WarcInput], cfg: ExtractConfig) -> Iterator[tuple]:
    """Outcome rows of every WARC in this partition; a file that cannot be opened is one fate row."""
    html_to_text = HtmlToText(cfg)  # one per partition: its cache-reset counter spans the task
    s3_client = None
    for warc in warcs:
        if warc.uri.startswith("s3://") and s3_client is None:
            s3_client = make_s3_client()
        try:
            stream = open_warc(warc.uri, s3_client)
        except _open_errors() as error:
            outcome = file_failure(warc.name, UNREADABLE_WARC, f"{type(error).__name__}: {error}")
            yield tuple(outcome[f] for f in OUTCOME_FIELDS)
            continue
        with stream:
            for outcome in iter_warc_outcomes(stream, warc.name, cfg, html_to_text):
                yield tuple(outcome[f] for f in OUTCOME_FIELDS)


def run_extract(spark: SparkSession, warcs: list[WarcInput], stage_dir: Path, cfg: ExtractConfig) -> dict:
    """Write `documents/` and `fate/` under stage_dir and return the stage's counts."""
    assert warcs, "the extract stage needs at least one WARC file"
    tasks = spark.sparkContext.parallelize(warcs, numSlices=len(warcs))  # one task per WARC file
    outcomes = spark.createDataFrame(tasks.mapPartitions(partial(extract_partition, cfg=cfg)),
                                     EXTRACT_OUTCOME, verifySchema=False)
    outcomes = outcomes.persist(StorageLevel.DISK_ONLY)  # extract once, write documents and fate from it
    try:
        (outcomes.where(F.col("reason").isNull()).select(*DOCUMENT_COLUMNS)
         .write.option("compression", PARQUET_COMPRESSION).parquet(str(stage_dir / "documents")))
        (outcomes.where(F.col("reason").isNotNull()).withColumn("stage", F.lit(STAGE)).select(*FATE_COLUMNS)
         .write.option("compression", PARQUET_COMPRESSION).parquet(str(stage_dir / "fate")))
    finally:
        outcomes.unpersist()
    counts = count_stage(spark, stage_dir, STAGE, unit="WARC records, plus whole files that could not be read")
    counts["warc_files"] = len(warcs)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts
