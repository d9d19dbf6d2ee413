"""What the driver shows while a stage runs, and the one line it prints when the stage ends.

On a terminal: one updating line (tqdm), redrawn by a driver thread that polls Spark's status tracker for the
running Spark stages' tasks done/total; the extract stage adds the records read and documents kept so far.
Not a terminal (CI, a log file): nothing while the stage runs, then one summary line with its wall time.

The extract counts come from accumulators, for this display only: an accumulator updated inside a
transformation double-counts when a task is retried. PySpark also merges a task's updates into the driver only
when the task ends, so they move per finished task (a file, or a byte range), never in the middle of one. The
funnel counts the written data instead (corpus.counters)."""
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from collections.abc import Iterable, Iterator

from pyspark.sql import SparkSession

from corpus.errors import UserError

POLL_SECONDS = 0.5
JOIN_TIMEOUT_S = 5.0  # a poll stuck in a call to the JVM never holds the stage's end longer than this
RECORDS_STAGE = "extract"  # the stage whose line and summary count WARC records; later stages count documents


def rate_per_s(count: int, seconds: float) -> float | None:
    """Items per second so far; unknown before any time has passed."""
    return count / seconds if seconds > 0 else None


def seconds_left(done: int, total: int, elapsed_s: float) -> float | None:
    """Linear in tasks: the time the running tasks have taken, scaled by the share still to do; unknown until a
    task has finished."""
    if done <= 0 or total <= 0:
        return None
    return elapsed_s * max(total - done, 0) / done


def format_duration(seconds: float) -> str:
    """41 → '0:41', 3725 → '1:02:05'."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Snapshot:
    """What the line shows at one moment of a stage."""
    stage: str
    elapsed_s: float  # since the stage began
    tasks_done: int  # of the Spark stages running now
    tasks_total: int
    tasks_elapsed_s: float  # since the earliest of those Spark stages was submitted
    records: int | None = None  # extract only: records read and documents kept by finished tasks
    documents: int | None = None
    records_elapsed_s: float | None = None  # when the records last grew: the rate holds still once reading ends


def format_line(snap: Snapshot) -> str:
    """The live line, e.g. 'extract | 9,160 records read | 3,027 documents kept | tasks 3/4 | 223 records/s |
    0:41 elapsed | ~0:14 left'."""
    parts = [snap.stage]
    counting = snap.records is not None
    if counting:
        parts += [f"{snap.records:,} records read", f"{snap.documents or 0:,} documents kept"]
    parts.append(f"tasks {snap.tasks_done}/{snap.tasks_total}" if snap.tasks_total else "tasks -")
    if counting:
        rate = rate_per_s(snap.records, snap.elapsed_s if snap.records_elapsed_s is None else snap.records_elapsed_s)
        parts.append(f"{rate:,.0f} records/s" if rate is not None else "- records/s")
    parts.append(f"{format_duration(snap.elapsed_s)} elapsed")
    if counting:
        left = seconds_left(snap.tasks_done, snap.tasks_total, snap.tasks_elapsed_s)
        parts.append(f"~{format_duration(left)} left" if left is not None else "time left unknown")
    return " | ".join(parts)


def format_summary(stage: str, counts: dict, wall_seconds: float) -> str:
    """The line a stage prints when it ends, e.g. 'extract: 3,027 documents from 9,160 records in 41.2 s'."""
    if stage == RECORDS_STAGE:
        return f"{stage}: {counts['out']:,} documents from {counts['in']:,} records in {wall_seconds:.1f} s"
    return f"{stage}: {counts['out']:,} of {counts['in']:,} documents kept in {wall_seconds:.1f} s"


class DisplayCounts:
    """Records read and documents kept, added by tasks and read on the driver: for the progress line only."""

    def __init__(self, spark: SparkSession):
        self.records = spark.sparkContext.accumulator(0)
        self.documents = spark.sparkContext.accumulator(0)

    def count(self, outcomes: Iterable[dict]) -> Iterator[dict]:
        """Pass a file's outcomes through, adding them up once the file is read (PySpark sends a task's updates
        to the driver only when the task ends, so adding more often would show nothing sooner)."""
        records = documents = 0
        for outcome in outcomes:
            records += 1
            documents += outcome["reason"] is None
            yield outcome
        self.records.add(records)
        self.documents.add(documents)


_active: "StageProgress | None" = None  # the stage whose line is showing; display_counters attaches to it


def display_counters(spark: SparkSession) -> DisplayCounts:
    """Counters a stage's tasks add to; the running stage's progress line shows them."""
    counts = DisplayCounts(spark)
    if _active is not None:
        _active.counts = counts
    return counts


def _screen(stream) -> dict:
    """tqdm's ncols and nrows: the terminal's size, to cut the line to (a wrapped line cannot be redrawn), with
    120x24 for a terminal that reports 0 (a pty nobody sized: tqdm would then show nothing). Nothing for a stream
    that is not a terminal, where the display is forced: the line is not cut."""
    if not _is_terminal(stream):
        return {}
    size = shutil.get_terminal_size((120, 24))
    return {"ncols": size.columns, "nrows": size.lines}


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def running_stages(spark: SparkSession) -> list:
    """The status tracker's SparkStageInfo of every Spark stage running now (tasks done, in all, stage id)."""
    tracker = spark.sparkContext.statusTracker()
    return [info for info in map(tracker.getStageInfo, tracker.getActiveStageIds()) if info is not None]


class StageProgress:
    """`with StageProgress(spark, stage):` shows the stage's live line while the block runs (on a terminal, or
    with force_terminal=True), and `finished(counts, wall_seconds)` prints its summary line."""

    def __init__(self, spark: SparkSession, stage: str, stream=None, force_terminal: bool | None = None,
                 poll_seconds: float = POLL_SECONDS):
        self.spark = spark
        self.stage = stage
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream) if force_terminal is None else force_terminal
        self.poll_seconds = poll_seconds
        self.counts: DisplayCounts | None = None
        self.started = time.monotonic()
        self._tasks = (0, 0, 0.0)  # done, in all, seconds since the earliest of the running Spark stages began
        self._records_seen = (0, 0.0)  # the last records count shown, and when it changed
        self._first_seen: dict[int, float] = {}  # Spark stage id → when a poll first saw it (the tracker has no time)
        self._stop = threading.Event()
        self._bar = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> "StageProgress":
        global _active
        _active = self
        self.started = time.monotonic()
        if self.live:
            from tqdm import tqdm
            self._bar = tqdm(file=self.stream, bar_format="{desc}", leave=False, **_screen(self.stream))
            self._bar.set_description_str(format_line(self.snapshot()))
            self.thread = threading.Thread(target=self._poll, name=f"progress-{self.stage}", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        global _active
        _active = None
        self._stop.set()
        if self.thread is not None:
            self.thread.join(JOIN_TIMEOUT_S)
        if self._bar is not None:
            self._bar.close()  # leave=False: the line is cleared, the summary takes its place
        if error is not None and not isinstance(error, UserError):  # a user error says what went wrong itself
            print(f"{self.stage}: stopped by {kind.__name__} after {self.elapsed_s():.1f} s", file=self.stream)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def snapshot(self) -> Snapshot:
        done, total, tasks_elapsed_s = self._tasks
        elapsed_s = self.elapsed_s()
        if self.counts is None:
            return Snapshot(self.stage, elapsed_s, done, total, tasks_elapsed_s)
        records = self.counts.records.value
        if records != self._records_seen[0]:
            self._records_seen = (records, elapsed_s)
        return Snapshot(self.stage, elapsed_s, done, total, tasks_elapsed_s, records, self.counts.documents.value,
                        self._records_seen[1] if records else None)

    def _read_tasks(self) -> None:
        infos = running_stages(self.spark)
        if not infos:  # between two Spark jobs nothing runs: keep showing the last one
            return
        now = time.monotonic()
        began = min(self._first_seen.setdefault(info.stageId, now) for info in infos)
        self._tasks = (sum(info.numCompletedTasks for info in infos), sum(info.numTasks for info in infos),
                       now - began)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self._read_tasks()
            except Exception:  # the display must never fail a job (e.g. a poll racing the context's stop)
                continue
            self._bar.set_description_str(format_line(self.snapshot()))

    def log_through(self, log):
        """`log` that clears the live line while it writes, so messages and the line do not mix."""
        if self._bar is None:
            return log

        def cleared_log(*args):
            with self._bar.external_write_mode(file=self.stream):
                log(*args)
        return cleared_log

    def finished(self, counts: dict, wall_seconds: float) -> None:
        print(format_summary(self.stage, counts, wall_seconds), file=self.stream, flush=True)
