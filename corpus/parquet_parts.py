"""Parquet part files written by a task itself, named by the task's input index.

The same input gives the same file names and bytes on every run (Spark's own writer names files with a
random job UUID), and a retried or speculative attempt writes its own temporary file and renames it
over the part: attempts produce identical bytes, so whichever lands last is right."""
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.stage_output import fsync_path

COMPRESSION = "zstd"
ROWS_PER_BATCH = 512  # bounds a task's memory: rows are buffered only until a batch is written


class PartWriter:
    """Rows (dicts) → `directory/<prefix>-<index>.parquet`, committed by `close()`."""

    def __init__(self, directory: str | Path, index: int, schema: pa.Schema, attempt: str = "0",
                 prefix: str = "part"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.final = self.directory / f"{prefix}-{index:05d}.parquet"
        self.tmp = self.directory / f".{prefix}-{index:05d}.parquet.attempt-{attempt}"  # '.' hides it from readers
        self.schema = schema
        self.buffer: list[dict] = []
        self.writer = pq.ParquetWriter(self.tmp, schema, compression=COMPRESSION)

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= ROWS_PER_BATCH:
            self._flush()

    def add_batch(self, batch: pa.RecordBatch) -> None:
        self._flush()
        self.writer.write_table(pa.Table.from_batches([batch]).cast(self.schema))

    def _flush(self) -> None:
        if self.buffer:
            self.writer.write_table(pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self) -> None:
        self._flush()
        self.writer.close()
        fsync_path(self.tmp)  # the bytes are on disk before the name says the part is whole
        os.replace(self.tmp, self.final)
        fsync_path(self.directory)

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def _attempt_name() -> str:
    from pyspark import TaskContext
    context = TaskContext.get()
    return f"{context.stageId()}-{context.attemptNumber()}" if context else "local"


def write_sorted_parts(frame, directory: str | Path, parts: int, prefix: str = "part",
                       key: str | tuple[str, ...] = "doc_id") -> None:
    """Write a Spark DataFrame as `<prefix>-<i>.parquet`, i < parts: rows hash-partitioned by `key` (a column, or
    columns that together identify a row) and sorted,
    each part written by its task with pyarrow. The same rows give the same bytes whatever the input's
    partitioning (Spark's own writer names files by job UUID and lists encodings in hash-set order)."""
    from pyspark import TaskContext
    from pyspark.sql.pandas.types import to_arrow_schema

    directory = str(Path(directory).resolve())
    schema = to_arrow_schema(frame.schema, timezone=frame.sparkSession.conf.get("spark.sql.session.timeZone"))

    def write_partition(batches):
        writer = PartWriter(directory, TaskContext.get().partitionId(), schema, _attempt_name(), prefix)
        rows = 0
        try:
            for batch in batches:
                writer.add_batch(batch)
                rows += batch.num_rows
        except BaseException:
            writer.abort()
            raise
        writer.close()
        yield pa.RecordBatch.from_pydict({"rows": [rows]}, schema=pa.schema([("rows", pa.int64())]))

    keys = (key,) if isinstance(key, str) else key
    frame.repartition(parts, *keys).sortWithinPartitions(*keys).mapInArrow(write_partition, "rows long").collect()
    for index in range(parts):  # Spark skips the Python function for an empty partition: its part is empty
        if not (Path(directory) / f"{prefix}-{index:05d}.parquet").exists():
            PartWriter(directory, index, schema, "driver", prefix).close()
