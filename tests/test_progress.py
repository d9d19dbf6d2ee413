"""The driver's progress line and per-stage summary (corpus.progress), and the wall times in funnel.json."""
import io
import json
import re
import time

import pytest

from corpus import warc as W
from corpus.config import ExtractConfig
from corpus.counters import WALL_FILE
from corpus.inputs import resolve_warc_inputs
from corpus.pipeline import PipelineConfig, run_pipeline
from corpus.progress import (Snapshot, StageProgress, display_counters, format_duration, format_line,
                             format_summary, rate_per_s, seconds_left)
from warc_factory import Record, article_html, page, write_warc

SUMMARY = re.compile(r"^extract: ([\d,]+) documents from ([\d,]+) records in (\d+\.\d) s$")


# ------------------------------------------------------------------------------------------ pure display logic

def test_rate_is_unknown_before_time_passes():
    assert rate_per_s(900, 4.0) == 225.0
    assert rate_per_s(900, 0.0) is None


def test_time_left_scales_the_elapsed_time_by_the_tasks_still_to_do():
    assert seconds_left(done=1, total=4, elapsed_s=10.0) == 30.0
    assert seconds_left(done=4, total=4, elapsed_s=10.0) == 0.0
    assert seconds_left(done=0, total=4, elapsed_s=10.0) is None  # no task has finished: no estimate
    assert seconds_left(done=0, total=0, elapsed_s=10.0) is None


def test_durations_read_as_a_clock():
    assert [format_duration(s) for s in (0, 41.2, 61, 3725)] == ["0:00", "0:41", "1:01", "1:02:05"]


def test_extract_line_shows_records_documents_tasks_rate_and_estimate():
    line = format_line(Snapshot("extract", elapsed_s=40.0, tasks_done=3, tasks_total=4, tasks_elapsed_s=39.0,
                                records=9160, documents=3027))
    assert line == ("extract | 9,160 records read | 3,027 documents kept | tasks 3/4 | 229 records/s | "
                    "0:40 elapsed | ~0:13 left")


def test_line_before_any_task_has_finished_says_the_estimate_is_unknown():
    line = format_line(Snapshot("extract", 2.0, 0, 1, 2.0, records=0, documents=0))
    assert "0 records read" in line and "tasks 0/1" in line and "time left unknown" in line


def test_later_stages_show_their_tasks_and_elapsed_time():
    line = format_line(Snapshot("dedup", elapsed_s=75.0, tasks_done=5, tasks_total=8, tasks_elapsed_s=3.0))
    assert line == "dedup | tasks 5/8 | 1:15 elapsed"
    assert format_line(Snapshot("dedup", 1.0, 0, 0, 0.0)) == "dedup | tasks - | 0:01 elapsed"


def test_rate_holds_still_once_records_stop_coming():
    reading_ended = Snapshot("extract", elapsed_s=90.0, tasks_done=0, tasks_total=1, tasks_elapsed_s=5.0,
                             records=9000, documents=3000, records_elapsed_s=45.0)
    assert "200 records/s" in format_line(reading_ended)  # 9,000 records over the 45 s they took, not over 90 s


def test_summary_lines():
    counts = {"stage": "extract", "in": 9160, "out": 3027, "dropped": {}}
    assert format_summary("extract", counts, 41.23) == "extract: 3,027 documents from 9,160 records in 41.2 s"
    assert format_summary("dedup", {"in": 3027, "out": 2900}, 16.0) == "dedup: 2,900 of 3,027 documents kept in 16.0 s"


# --------------------------------------------------------------------------------- the line on a terminal

def test_terminal_line_shows_records_tasks_and_an_estimate_then_the_thread_stops(spark):
    def count_after_sleeping(item):  # a task: 100 outcomes, 60 of them documents, through the display counters
        shown, seconds = item
        time.sleep(seconds)
        outcomes = ({"reason": None if i < 60 else W.NOT_HTML} for i in range(100))
        assert sum(1 for _ in shown.count(outcomes)) == 100

    stream = io.StringIO()
    with StageProgress(spark, "extract", stream=stream, force_terminal=True, poll_seconds=0.05) as progress:
        shown = display_counters(spark)
        # quick tasks end while slow ones run; the second ends 0.6 s after the first because Spark's status store
        # writes a stage's task counts at most every spark.ui.liveUpdate.period (100 ms), else at the next event
        seconds = [0.2, 0.8, 2.5, 2.5]
        spark.sparkContext.parallelize([(shown, s) for s in seconds], len(seconds)).foreach(count_after_sleeping)
        thread = progress.thread
        assert thread is not None and thread.is_alive()
        deadline = time.monotonic() + 10  # a poll after the job shows every task's counts (a loaded machine is slow)
        while "400 records read" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not thread.is_alive()
    shown_lines = [line for line in re.split(r"[\r\n]", stream.getvalue()) if line.startswith("extract |")]
    mid_run = [line for line in shown_lines if re.search(r"tasks [123]/4", line)]
    assert mid_run, shown_lines  # the line moved while tasks ran
    assert any(re.search(r"[1-9][\d,]* records read .* ~\d+:\d\d left", line) for line in mid_run), mid_run
    assert any(line.startswith("extract | 400 records read | 240 documents kept") for line in shown_lines)


def test_the_thread_stops_and_the_stage_says_so_when_it_raises(spark):
    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        with StageProgress(spark, "quality", stream=stream, force_terminal=True, poll_seconds=0.05) as progress:
            time.sleep(0.15)
            raise RuntimeError("the stage broke")
    assert not progress.thread.is_alive()
    assert re.search(r"quality: stopped by RuntimeError after \d+\.\d s\n$", stream.getvalue())


def test_not_a_terminal_shows_no_line_while_running():
    stream = io.StringIO()
    with StageProgress(None, "dedup", stream=stream) as progress:  # StringIO is no terminal; Spark is never asked
        assert progress.thread is None
    progress.finished({"in": 10, "out": 7}, 1.25)
    assert stream.getvalue() == "dedup: 7 of 10 documents kept in 1.2 s\n"


# ------------------------------------------------------------------- a pipeline run, as CI or a log file sees it

@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    good = [page(f"http://town{i}.example/story", article_html(f"Story {i}", salt=i)) for i in range(6)]
    bad = [page("http://town.example/gone", "<html>gone</html>", status="404 Not Found", expect=W.NOT_HTTP_200),
           Record(url="http://town.example/req", rec_type="request", expect=W.NOT_RESPONSE)]
    (root / "crawl").mkdir()
    write_warc(root / "crawl" / "a.warc.gz", good[:3] + bad)
    write_warc(root / "crawl" / "b.warc.gz", good[3:])
    return root, good, bad


def test_extract_run_prints_one_summary_line_and_records_its_wall_time(spark, crawl, capsys):
    root, good, bad = crawl
    warcs = tuple(resolve_warc_inputs([str(root / "crawl")]))
    cfg = PipelineConfig(stages=("extract",), out_dir=root / "out", warcs=warcs, extract=ExtractConfig())
    funnel = run_pipeline(spark, cfg, log=lambda *_: None)
    err = capsys.readouterr().err
    assert "\r" not in err  # no updating line when stderr is not a terminal
    summaries = [line for line in err.splitlines() if line.startswith("extract")]
    assert len(summaries) == 1 and SUMMARY.match(summaries[0]), err

    [entry] = funnel
    assert entry["in"] == entry["out"] + sum(entry["dropped"].values()) == len(good) + len(bad)
    assert entry["out"] == len(good) and entry["dropped"] == {W.NOT_HTTP_200: 1, W.NOT_RESPONSE: 1}
    documents, records, shown_seconds = SUMMARY.match(summaries[0]).groups()
    assert (int(documents), int(records)) == (entry["out"], entry["in"])
    assert entry["wall_seconds"] > 0 and f"{entry['wall_seconds']:.1f}" == shown_seconds
    on_disk = json.loads((root / "out" / "reports" / "funnel.json").read_text())
    assert on_disk == funnel
    assert json.loads((root / "out" / "extract" / WALL_FILE).read_text())["wall_seconds"] == entry["wall_seconds"]

    # a rerun skips the complete stage: no summary line, and the funnel keeps the time of the run that made it
    messages = []
    again = run_pipeline(spark, cfg, log=messages.append)
    err = capsys.readouterr().err
    assert "skipped" in messages[0] and not [line for line in err.splitlines() if line.startswith("extract")]
    assert again == funnel and json.loads((root / "out" / "reports" / "funnel.json").read_text()) == on_disk


# ------------------------------------------------------------------------------ wall times recorded at commit

def test_commit_records_this_runs_wall_time_but_keeps_the_one_an_interrupted_commit_left(tmp_path):
    from corpus.counters import TimedStageOutput, read_wall_seconds
    from corpus.stage_output import SUCCESS_MARKER
    made = TimedStageOutput(tmp_path, "dedup", started=time.monotonic() - 2.5)
    made.begin({"config": 1})
    (made.tmp / "counts.json").write_text("{}")
    made.commit()
    assert 2.5 <= made.made_in_s[0] == read_wall_seconds(made.final) < 60

    # a stale time in a resumed tmp (no _SUCCESS: the killed run never finished) gives way to this run's
    resumed = TimedStageOutput(tmp_path, "quality", started=time.monotonic() - 1.0)
    resumed.begin({"config": 1})
    (resumed.tmp / WALL_FILE).write_text(json.dumps({"wall_seconds": 999.0}))
    resumed.commit()
    assert 1.0 <= read_wall_seconds(resumed.final) < 999.0

    # a kill after tmp/_SUCCESS, before the renames: the complete output keeps the time of the run that made it
    interrupted = TimedStageOutput(tmp_path, "shards")
    interrupted.begin({"config": 1})
    (interrupted.tmp / WALL_FILE).write_text(json.dumps({"wall_seconds": 41.2}))
    (interrupted.tmp / SUCCESS_MARKER).write_text("")
    interrupted.commit()
    assert interrupted.made_in_s == [41.2] and read_wall_seconds(interrupted.final) == 41.2
