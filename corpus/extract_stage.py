"""The extract stage on Spark: one task per WARC file (cc-pyspark), or per byte range of a file larger than
ExtractConfig.split_bytes (corpus.warc_ranges); each task streams its share and writes its documents and fate rows
as Parquet parts itself, so documents never pass the driver and never cross into the JVM (that conversion cost a
third of the stage's time, bench/extract.py). A task that finished leaves a marker (_tasks/<i>.done), so a rerun
after a kill runs only the tasks without one.

Two files can hold the same WARC-Record-ID (a re-packed crawl, or a hostile one), so after the per-file
tasks one document per doc_id is kept and the other copies move to the fate table."""
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, replace
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from http.client import HTTPException
from pathlib import Path
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from corpus.config import ExtractConfig
from corpus.counters import count_stage
from corpus.extract import HtmlToText
from corpus.inputs import ReadDeadlineExceeded, WarcInput, is_remote, make_s3_client, open_warc, remote_size
from corpus.parquet_parts import ROWS_PER_BATCH, PartWriter
from corpus.schema import DOCUMENT_ARROW, DOCUMENT_COLUMNS, FATE_ARROW
from corpus.stage import Stage, StageContext
from corpus.stage_output import COUNTS_FILE, RESUME_DIR, write_json_atomic
from corpus.warc import STAGE, UNREADABLE_WARC, ReadSpan, count_records_before, file_failure, iter_warc_outcomes
from corpus.warc_ranges import RangeResult, check_chain, find_record_start, plan_ranges

# Drop reasons this module adds to corpus.warc's.
REMOTE_READ_DEADLINE = "remote_read_deadline"  # an http(s)/s3 file took too long to read; records before it kept
DUPLICATE_DOC_ID = "duplicate_doc_id"  # another record has this doc_id: kept is the first by (warc_file, offset)

_DUPLICATES_DIR = "_duplicate_doc_ids"  # the stage's own scratch table of copies to move, removed when done
_DETAIL_CHARS = 300
_PART_NAME = re.compile(r"part-(\d+)\.parquet")
_ATTEMPT_TEMP = re.compile(r"\..+\.parquet\.attempt-.+")  # a PartWriter's temporary file, left by a kill
_SIZE_REQUESTS = 16  # remote files' sizes asked for at once by the driver
_GZIP_MAGIC = b"\x1f\x8b"  # a gzip file's first bytes
TASKS_DIR = RESUME_DIR  # stage_dir/_tasks/<i>.done: task i's parts are committed; StageOutput.begin keeps them


@dataclass(frozen=True)
class ExtractTask:
    """One Spark task's share of the input: a WARC file, or one byte range of it."""

    index: int  # names its parts (part-<index>) and marker; numbered file by file, then range by range
    warc: WarcInput
    range_index: int = 0
    start: int = 0
    end: int | None = None  # None: to the end of the file
    file_size: int | None = None
    file_mtime_ns: int | None = None  # a local file's: a file changed since a killed run does not reuse its markers
    # A range read again where the chain of ranges before it leads (corpus.warc_ranges.check_chain): it starts
    # at `first` without looking for a record start; None: it owns no record.
    forced: bool = False
    first: int | None = None

    def identity(self) -> dict:
        """What a done marker must match to stand for this task on a rerun."""
        return {"index": self.index, "warc": asdict(self.warc), "range": self.range_index, "start": self.start,
                "end": self.end, "file_size": self.file_size, "file_mtime_ns": self.file_mtime_ns}


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


def _open_at(warc: WarcInput, s3_client, cfg: ExtractConfig, offset: int):
    """The file from byte `offset` (a remote range task has its own read deadline)."""
    return open_warc(warc.uri, s3_client, cfg.remote_read_deadline_s, start=offset)


def _gzip_file(warc: WarcInput) -> bool:
    """Whether record starts are gzip members: a local file says by its first bytes (whatever its name), a remote
    one by its name (one request less per range)."""
    if is_remote(warc.uri):
        return warc.uri.endswith(".gz")
    with open(warc.uri, "rb") as handle:
        return handle.read(len(_GZIP_MAGIC)) == _GZIP_MAGIC


def _task_stream(task: ExtractTask, cfg: ExtractConfig, s3_client):
    """(the record start the task reads from, a stream from there), or (None, None) if it owns no record."""
    if task.forced or task.range_index == 0:
        first = task.first if task.forced else 0
        return first, None if first is None else _open_at(task.warc, s3_client, cfg, first)
    compressed = _gzip_file(task.warc)
    opened_at = task.start if compressed else task.start - 1  # an uncompressed record start follows a newline
    stream = _open_at(task.warc, s3_client, cfg, opened_at)
    try:
        first, found = find_record_start(stream, opened_at, task.start, task.end or task.file_size, compressed,
                                         cfg.max_header_lines)
    except BaseException:
        stream.close()
        raise
    if first is None:
        stream.close()
    return first, found


def _records_before(task: ExtractTask, cfg: ExtractConfig, s3_client, offset: int) -> tuple[int, int]:
    """Read only when a break's fate row past the first range needs them (a broken file): the file's headers up
    to `offset`."""
    with _open_at(task.warc, s3_client, cfg, 0) as stream:
        return count_records_before(stream, offset, cfg)


def _read_failed(outcome: dict, error: Exception, records: int) -> dict:
    """What the read that failed for good (retries used up, the file changed) became, said with its last status."""
    detail = f"{type(error).__name__}: {error}; the {records} records before this point are accounted for"
    return {**outcome, "reason": UNREADABLE_WARC, "detail": detail[:_DETAIL_CHARS], "text": None, "charset": None}


def outcomes_of(warc: WarcInput, cfg: ExtractConfig, html_to_text: HtmlToText, s3_client=None,
                task: ExtractTask | None = None, result: dict | None = None):
    """Every outcome of one WARC file, or of the records starting in a task's range (`result` then gets the task's
    RangeResult fields); a file that cannot be opened is one fate row, and a remote file read past its deadline ends
    with one."""
    task = task or ExtractTask(0, warc)
    result = {} if result is None else result
    result.update(first=None, next_start=None)
    try:
        first, stream = _task_stream(task, cfg, s3_client)
    except _open_errors() as error:
        if task.forced or task.range_index == 0:  # else the chain check reads the range again, forced
            result["first"] = task.first if task.forced else 0
            yield file_failure(warc.name, UNREADABLE_WARC, f"{type(error).__name__}: {error}",
                               task.first if task.forced else None)
        return
    result["first"] = first
    if stream is None:
        return
    span = ReadSpan(offset_base=first, end=task.end, file_size=task.file_size,
                    records_before=cache(partial(_records_before, task, cfg, s3_client, first)))
    records = 0
    with stream:
        try:
            for outcome in iter_warc_outcomes(stream, warc.name, cfg, html_to_text, span):
                if getattr(stream, "raised", False):  # this outcome is how the record reader took the error
                    yield _past_deadline(outcome, cfg, records)
                    return
                if getattr(stream, "failure", None) is not None:  # a remote read that broke for good
                    yield _read_failed(outcome, stream.failure, records)
                    return
                records += 1
                yield outcome
        except ReadDeadlineExceeded:  # raised where the record reader does not catch it
            yield _past_deadline(file_failure(warc.name, REMOTE_READ_DEADLINE, ""), cfg, records)
            return
    result["next_start"] = span.next_start


def _fate_row(outcome: dict) -> dict:
    return {**outcome, "stage": STAGE}


def _attempt() -> str:
    context = TaskContext.get()
    return f"{context.stageId()}-{context.attemptNumber()}" if context else "local"


def _as_task(task: "ExtractTask | tuple[int, WarcInput]") -> ExtractTask:
    return task if isinstance(task, ExtractTask) else ExtractTask(task[0], task[1])


def _marker(stage_dir: str | Path, index: int) -> Path:
    return Path(stage_dir) / TASKS_DIR / f"{index:05d}.done"


def extract_partition(tasks: Iterable["ExtractTask | tuple[int, WarcInput]"], stage_dir: str, cfg: ExtractConfig,
                      shown=None) -> None:
    """Write documents/part-<i>.parquet and fate/part-<i>.parquet for each task i (an ExtractTask, or (i, WARC
    file) for a whole file), then its done marker; `shown`
    (corpus.progress.DisplayCounts) adds up records and documents for the driver's progress line only."""
    html_to_text = HtmlToText(cfg)  # one per task: its cache-reset counter spans the task
    attempt = _attempt()
    s3_client = None
    for task in map(_as_task, tasks):
        index, warc, result = task.index, task.warc, {}
        if warc.uri.startswith("s3://") and s3_client is None:
            s3_client = make_s3_client()
        documents = PartWriter(Path(stage_dir) / "documents", index, DOCUMENT_ARROW, attempt)
        fate = PartWriter(Path(stage_dir) / "fate", index, FATE_ARROW, attempt)
        try:
            outcomes = outcomes_of(warc, cfg, html_to_text, s3_client, task, result)
            for outcome in shown.count(outcomes) if shown else outcomes:
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
        # after both parts are renamed and fsynced: a rerun may skip this task
        write_json_atomic(_marker(stage_dir, index), {"task": task.identity(), "forced": task.forced, **result})


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
    if not repeated.limit(1).collect():  # the usual case: one cheap job, no scratch table
        return []
    by_id = Window.partitionBy("doc_id").orderBy("warc_file", "warc_offset", "part", "row")
    copies = (located.join(repeated, "doc_id", "left_semi")
              .withColumn("rank", F.row_number().over(by_id))
              .withColumn("kept_file", F.first("warc_file").over(by_id))
              .withColumn("kept_offset", F.first("warc_offset").over(by_id))
              .where("rank > 1").drop("rank"))
    scratch = str(stage_dir / _DUPLICATES_DIR)
    copies.write.mode("overwrite").parquet(scratch)
    if not any(Path(scratch).glob("*.parquet")):  # Spark wrote only _SUCCESS
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
    if (stage_dir / _DUPLICATES_DIR).exists():
        shutil.rmtree(stage_dir / _DUPLICATES_DIR)  # the stage's own scratch table


def _file_size(warc: WarcInput, s3_client=None) -> int | None:
    """The file's size, to cut it into ranges; None (read whole) when it cannot be known."""
    try:
        return os.stat(warc.uri).st_size if not is_remote(warc.uri) else remote_size(warc.uri, s3_client)
    except Exception:  # whatever the failure, the task that opens the file says it in its fate row
        return None


def _local_mtime_ns(warc: WarcInput) -> int | None:
    try:
        return None if is_remote(warc.uri) else os.stat(warc.uri).st_mtime_ns
    except OSError:
        return None


def file_sizes(warcs: list[WarcInput]) -> list[int | None]:
    """Every file's size; remote ones asked for in parallel (a snapshot lists ~100,000 files, a HEAD each)."""
    if not any(is_remote(w.uri) for w in warcs):
        return [_file_size(w) for w in warcs]
    s3_client = make_s3_client() if any(w.uri.startswith("s3://") for w in warcs) else None
    with ThreadPoolExecutor(_SIZE_REQUESTS) as pool:  # boto3 clients are thread-safe, sessions are not
        return list(pool.map(partial(_file_size, s3_client=s3_client), warcs))


def plan_tasks(warcs: list[WarcInput], cfg: ExtractConfig) -> list[ExtractTask]:
    """One task per range of each file (corpus.warc_ranges.plan_ranges), numbered in input order."""
    sizes = file_sizes(warcs) if cfg.split_bytes > 0 else [None] * len(warcs)
    tasks: list[ExtractTask] = []
    for warc, size in zip(warcs, sizes):
        mtime_ns = _local_mtime_ns(warc)
        for range_index, (start, end) in enumerate(plan_ranges(size, cfg.split_bytes)):
            tasks.append(ExtractTask(len(tasks), warc, range_index, start, end, size, file_mtime_ns=mtime_ns))
    return tasks


def done_results(stage_dir: Path, tasks: list[ExtractTask]) -> dict[int, RangeResult]:
    """The results of the tasks whose done marker a run (this one or a killed one) left for this very task."""
    done = {}
    for task in tasks:
        try:
            marker = json.loads(_marker(stage_dir, task.index).read_text())
        except (OSError, ValueError):
            continue
        if marker.get("task") == task.identity():
            done[task.index] = RangeResult(marker["first"], marker["next_start"])
    return done


def remove_leftovers(stage_dir: Path, tasks: list[ExtractTask]) -> None:
    """What a killed run left that no task of this run rewrites: attempt temporaries, parts and markers of tasks
    this run does not have (the stage's own files in its own temporary folder)."""
    for folder in ("documents", "fate"):
        for path in (stage_dir / folder).glob(".*"):
            if _ATTEMPT_TEMP.fullmatch(path.name):
                path.unlink()
        for path in (stage_dir / folder).glob("part-*.parquet"):
            name = _PART_NAME.fullmatch(path.name)
            if name and int(name.group(1)) >= len(tasks):
                path.unlink()
    for path in (stage_dir / TASKS_DIR).glob("*.done"):
        if not path.stem.isdigit() or int(path.stem) >= len(tasks):
            path.unlink()
    for path in (stage_dir / TASKS_DIR).glob(".*.done.tmp"):  # a marker's write, cut by the kill
        path.unlink()


def _run_tasks(spark: SparkSession, stage_dir: Path, cfg: ExtractConfig, tasks: list[ExtractTask]) -> None:
    from corpus.progress import display_counters  # the driver's progress line; never the funnel's counts
    run = spark.sparkContext.parallelize(tasks, numSlices=len(tasks))  # one Spark task per file or range
    run.foreachPartition(partial(extract_partition, stage_dir=str(stage_dir.resolve()), cfg=cfg,
                                 shown=display_counters(spark)))


def chain_fixes(tasks: list[ExtractTask], results: dict[int, RangeResult]) -> list[ExtractTask]:
    """For each split file whose ranges do not chain (a range began at bytes that only looked like a record
    start), its first wrong range, to be read again from where the chain leads."""
    fixes = []
    by_file: dict[int, list[ExtractTask]] = {}
    for task in tasks:
        by_file.setdefault(task.index - task.range_index, []).append(task)
    for ranges in by_file.values():
        if len(ranges) > 1:
            fix = check_chain([(t.start, t.end) for t in ranges], [results[t.index] for t in ranges])
            if fix is not None:
                fixes.append(replace(ranges[fix.range_index], forced=True, first=fix.first))
    return fixes


def extract_tasks(run_tasks: Callable[[list[ExtractTask]], None], tasks: list[ExtractTask], stage_dir: Path,
                  log=partial(print, flush=True)) -> None:
    """Run (with run_tasks: Spark, or a test's loop) every task without a done marker, then read again any range
    the chain check finds wrong."""
    remove_leftovers(stage_dir, tasks)
    done = done_results(stage_dir, tasks)
    if done:
        log(f"extract: {len(done)} of {len(tasks)} tasks already done, running the rest")
    if len(done) < len(tasks):
        run_tasks([t for t in tasks if t.index not in done])
    for _ in range(len(tasks) + 1):  # a pass settles the first wrong range of each file: a bound, never reached
        fixes = chain_fixes(tasks, done_results(stage_dir, tasks))
        if not fixes:
            return
        log(f"extract: {len(fixes)} range(s) did not begin where the range before them ends (bytes that only "
            f"looked like a record start, or a start past a break that ends the file's read); reading them again")
        run_tasks(fixes)
    raise AssertionError("the ranges of a file do not chain after a pass per range")


def run_extract(spark: SparkSession, warcs: list[WarcInput], stage_dir: Path, cfg: ExtractConfig,
                log=partial(print, flush=True)) -> dict:
    """Write `documents/` and `fate/` under stage_dir and return the stage's counts. Tasks a killed run finished
    in this stage_dir (their done markers) are not run again."""
    assert warcs, "the extract stage needs at least one WARC file"
    extract_tasks(partial(_run_tasks, spark, stage_dir, cfg), plan_tasks(warcs, cfg), stage_dir, log)
    drop_duplicate_doc_ids(spark, stage_dir)
    counts = count_stage(spark, stage_dir, STAGE, unit="WARC records, plus whole files that yielded no record")
    counts["warc_files"] = len(warcs)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts


def _stage_settings(context: StageContext) -> dict:
    return {"config": asdict(context.config), "warcs": [asdict(w) for w in context.cfg.warcs]}


def _stage_run(context: StageContext) -> dict:
    return run_extract(context.spark, list(context.cfg.warcs), context.stage_dir, context.config, context.log)


PIPELINE_STAGE = Stage(STAGE, config="extract", settings=_stage_settings, run=_stage_run)
