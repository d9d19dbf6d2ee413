"""Parquet part files written by a task itself, named by the task's input index.

The same input gives the same file names and bytes on every run (Spark's own writer names files with a
random job UUID), and a retried or speculative attempt writes its own temporary file and renames it
over the part: attempts produce identical bytes, so whichever lands last is right."""
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COMPRESSION = "zstd"
ROWS_PER_BATCH = 512  # bounds a task's memory: rows are buffered only until a batch is written


class PartWriter:
    """Rows (dicts) → `directory/part-<index>.parquet`, committed by `close()`."""

    def __init__(self, directory: str | Path, index: int, schema: pa.Schema, attempt: str = "0"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.final = self.directory / f"part-{index:05d}.parquet"
        self.tmp = self.directory / f".part-{index:05d}.parquet.attempt-{attempt}"  # '.' hides it from readers
        self.schema = schema
        self.buffer: list[dict] = []
        self.writer = pq.ParquetWriter(self.tmp, schema, compression=COMPRESSION)

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            self.writer.write_table(pa.Table.from_pylist(self.buffer, schema=self.schema))
            self.buffer = []

    def close(self) -> None:
        self._flush()
        self.writer.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)
