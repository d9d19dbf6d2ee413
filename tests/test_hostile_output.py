"""Issue 16, "the output folder is owned": a careless --out never costs a user a file. The toolkit marks the
OUT it creates and refuses an unmarked one that holds anything else; it replaces only folders carrying its own
evidence; an --out holding an input is refused; one run at a time holds OUT/.lock (a real second process holds
it here); a kill between a commit's renames is recovered, not recomputed; dataset names that are the shards
stage's own file names are refused. Real WARCs (warc_factory), real Spark, real processes."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, job_env, load_filter_job
from corpus import warc as W
from corpus.config import ExtractConfig
from corpus.decontam_stage import BENCHMARKS_DIR, REPORT_FILE, publish
from corpus.dedup_stage import EXACT_DUP
from corpus.errors import UserError
from corpus.inputs import resolve_warc_inputs
from corpus.out_dir import LOCK_FILE, MARKER_FILE, has_marker
from corpus.pipeline import PipelineConfig, run_pipeline
from corpus.quality_stage import model_location, publish_model
from corpus.shards_stage import RESERVED_NAMES, check_dataset_name
from corpus.stage_output import SETTINGS_FILE, StageOutput
from warc_factory import article_html, page, write_warc

CFG = ExtractConfig(max_payload_bytes=2_000_000, extract_timeout_s=5.0)
GOOD_PAGES = 6


FILTER = load_filter_job()


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    """Six article pages (two of them exact copies, for dedup) and one 404, in one WARC."""
    root = tmp_path_factory.mktemp("owned-crawl") / "crawl"
    root.mkdir()
    pages = [page(f"http://town{i}.example/story", article_html(f"Story {i}", salt=i)) for i in range(GOOD_PAGES - 2)]
    pages += [page(f"http://mirror{i}.example/story", article_html(f"Story {i}", salt=i)) for i in range(2)]
    pages.append(page("http://town.example/gone", "<html>gone</html>", status="404 Not Found", expect=W.NOT_HTTP_200))
    write_warc(root / "town.warc.gz", pages)
    return root


def config(crawl: Path, out: Path, stages=("extract",), **changes) -> PipelineConfig:
    return PipelineConfig(out_dir=out, warcs=tuple(resolve_warc_inputs([str(crawl)])), stages=stages, extract=CFG,
                          **changes)


def run_logged(spark, cfg: PipelineConfig) -> list[str]:
    lines: list[str] = []
    run_pipeline(spark, cfg, log=lines.append)
    return lines


def assert_extract_accounts(out: Path) -> None:
    counts = StageOutput(out, "extract").counts()
    assert counts["out"] == GOOD_PAGES and counts["dropped"] == {W.NOT_HTTP_200: 1}
    assert counts["in"] == counts["out"] + sum(counts["dropped"].values())


def run_job(argv: list[str], capsys) -> tuple[int, str]:
    code = FILTER.main(argv)
    return code, capsys.readouterr().err.strip()


# ------------------------------------------------------------------ a user's files in --out are never removed

def test_an_unmarked_out_holding_user_files_is_refused_and_keeps_them(spark, crawl, tmp_path, capsys):
    for user_file in ("notes.txt", "extract/x.txt"):
        out = tmp_path / user_file.replace("/", "-") / "out"
        (out / user_file).parent.mkdir(parents=True)
        (out / user_file).write_text("mine")
        with pytest.raises(UserError, match="already holds files this toolkit did not make"):
            run_pipeline(spark, config(crawl, out), log=lambda line: None)
        code, message = run_job(["--warc", str(crawl), "--out", str(out), "--stages", "extract"], capsys)
        assert code == 2 and len(message.splitlines()) == 1 and Path(user_file).parts[0] in message
        assert files_under(out) == {user_file: b"mine"}  # not even a marker or a lock was written


def test_a_run_keeps_user_files_in_its_own_out_and_refuses_to_replace_their_folders(spark, crawl, tmp_path):
    out = tmp_path / "out"
    run_logged(spark, config(crawl, out))
    assert has_marker(out)
    assert_extract_accounts(out)
    user_files = {"notes.txt": b"mine", "dedup/x.txt": b"my dedup notes",
                  f"{BENCHMARKS_DIR}/mine.jsonl": b'{"text": "my benchmark"}\n',
                  "models/quality/readme.txt": b"my model"}
    for name, data in user_files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    benchmarks = tmp_path / "evals"
    benchmarks.mkdir()
    (benchmarks / "qa.jsonl").write_text(json.dumps({"context": "a question", "completion": "an answer"}) + "\n")
    refusals = [(("extract", "dedup"), {}, "dedup"),
                (("decontam",), {"benchmarks": (str(benchmarks),)}, BENCHMARKS_DIR),
                (("quality",), {"references": (("wiki", str(benchmarks / "qa.jsonl")),)}, "models/quality")]
    for stages, changes, folder in refusals:
        with pytest.raises(UserError, match=f"{out / folder} .*will not (replace it|be replaced)"):
            run_pipeline(spark, config(crawl, out, stages, **changes), log=lambda line: None)
    run_logged(spark, config(crawl, out, redo=frozenset({"extract"})))  # remaking a stage keeps the rest
    assert_extract_accounts(out)
    assert {name: (out / name).read_bytes() for name in user_files} == user_files


def test_publishing_replaces_only_folders_the_toolkit_published(tmp_path):
    stage_final = tmp_path / "out" / "decontam"
    (stage_final / BENCHMARKS_DIR).mkdir(parents=True)
    (stage_final / REPORT_FILE).write_text("{}\n")
    (stage_final / BENCHMARKS_DIR / "qa.clean.jsonl").write_text("{}\n")
    out = stage_final.parent
    publish(stage_final, out)
    publish(stage_final, out)  # its own published copy is replaced
    assert sorted(p.name for p in (out / BENCHMARKS_DIR).iterdir()) == [MARKER_FILE, "qa.clean.jsonl"]
    written, final = model_location(out)
    for attempt in range(2):
        (written / "metadata").mkdir(parents=True)
        (written / "metadata" / "part-00000").write_text(f"model {attempt}\n")
        publish_model(written, final)
    assert (final / "metadata" / "part-00000").read_text() == "model 1\n" and not written.exists()

    shutil.rmtree(out / BENCHMARKS_DIR)
    (out / BENCHMARKS_DIR).mkdir()
    (out / BENCHMARKS_DIR / "mine.jsonl").write_text("my inputs\n")
    with pytest.raises(UserError, match="was not made by this toolkit"):
        publish(stage_final, out)
    assert files_under(out / BENCHMARKS_DIR) == {"mine.jsonl": b"my inputs\n"}


# ------------------------------------------------------------------------------ --out may not hold an input

def test_an_out_holding_an_input_is_refused_before_spark_starts(spark, crawl, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    (inputs / "refs").mkdir(parents=True)
    (inputs / "refs" / "wiki.jsonl").write_text(json.dumps({"text": "reference text"}) + "\n")
    (inputs / "qa.jsonl").write_text(json.dumps({"context": "q", "completion": "a"}) + "\n")
    (inputs / "tokenizer.json").write_text("{}")
    (inputs / "warc.paths").write_text("town.warc.gz\n")
    (tmp_path / "link-to-crawl").symlink_to(crawl, target_is_directory=True)
    warc = ["--warc", str(crawl), "--stages", "extract"]
    cases = [
        ([*warc, "--out", str(crawl)], f"--warc {crawl}"),
        ([*warc, "--out", str(crawl.parent)], f"--warc {crawl}"),
        ([*warc, "--out", str(tmp_path / "link-to-crawl")], f"--warc {crawl}"),  # resolved
        ([*warc, "--out", str(inputs), "--reference", f"wiki={inputs / 'refs'}"], "--reference wiki="),
        ([*warc, "--out", str(inputs / "refs" / "out"), "--reference", f"wiki={inputs / 'refs'}"],
         "is inside the input --reference wiki="),  # the folder is read recursively: it would read OUT
        ([*warc, "--out", str(inputs), "--benchmarks", str(inputs / "qa.jsonl")], "--benchmarks"),
        ([*warc, "--out", str(inputs), "--tokenizer", str(inputs / "tokenizer.json")], "--tokenizer"),
        (["--warc", str(inputs / "warc.paths"), "--warc-prefix", str(crawl), "--stages", "extract",
          "--out", str(crawl)], "--warc"),
    ]
    for argv, named in cases:
        code, message = run_job(argv, capsys)
        assert code == 2 and len(message.splitlines()) == 1 and named in message, (argv, message)
    assert sorted(p.name for p in crawl.iterdir()) == ["town.warc.gz"]
    assert not (inputs / MARKER_FILE).exists() and not (inputs / "refs" / "out").exists()

    classifier = tmp_path / "out" / "models" / "mine"  # a library caller gets the same check
    classifier.mkdir(parents=True)
    with pytest.raises(UserError, match="holds the input --classifier"):
        run_pipeline(spark, config(crawl, tmp_path / "out", classifier=str(classifier)), log=lambda line: None)
    assert not (tmp_path / "out" / MARKER_FILE).exists()


def test_the_demo_defaults_pass_the_input_check(tmp_path, monkeypatch):
    """No --warc: the demo crawl, references and benchmarks in ./demo-data, --out ./out: apart, so allowed."""
    from corpus_demo import generate
    monkeypatch.chdir(tmp_path)
    generate(FILTER.DEFAULT_DEMO_DIR, pages=60, files=2)
    cfg = FILTER.pipeline_config(FILTER.parse_args([]))
    assert cfg.out_dir == Path("out") and cfg.references and cfg.benchmarks
    assert not Path("out").exists()  # checking writes nothing


# ------------------------------------------------------------------------------------ one run per --out

HOLD_LOCK = """
import sys
from pathlib import Path
from corpus.out_dir import owned_out_dir
with owned_out_dir(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills us
"""


def hold_lock(out: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=REPO_ROOT, env=job_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_is_refused_while_another_process_holds_the_lock(spark, crawl, tmp_path, capsys):
    out = tmp_path / "out"
    holder = hold_lock(out)
    try:
        code, message = run_job(["--warc", str(crawl), "--out", str(out), "--stages", "extract"], capsys)
        assert code == 2 and len(message.splitlines()) == 1
        assert f"another run is writing to {out} (pid {holder.pid} on " in message and "-c" in message
        with pytest.raises(UserError, match=f"pid {holder.pid}"):
            run_pipeline(spark, config(crawl, out), log=lambda line: None)
        assert not (out / "extract").exists() and not (out / "_tmp").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    lines = run_logged(spark, config(crawl, out))  # released on exit: the next run goes ahead, no takeover
    assert not any("took over" in line for line in lines)
    assert_extract_accounts(out)
    assert (out / LOCK_FILE).read_text() == ""  # released again


def test_a_lock_left_by_a_killed_run_is_taken_over(spark, crawl, tmp_path):
    out = tmp_path / "out"
    holder = hold_lock(out)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    assert f'"pid": {holder.pid}' in (out / LOCK_FILE).read_text()  # it died holding it
    lines = run_logged(spark, config(crawl, out))
    assert any(line.startswith(f"{out}: took over the lock") and f"pid {holder.pid}" in line for line in lines)
    assert_extract_accounts(out)


# -------------------------------------------------------------------------- a kill between a commit's renames

def test_a_commit_interrupted_between_its_renames_is_finished_not_recomputed(spark, crawl, tmp_path):
    out = tmp_path / "out"
    cfg = config(crawl, out, stages=("extract", "dedup"))
    run_logged(spark, cfg)
    uninterrupted = files_under(out / "dedup")
    dedup = StageOutput(out, "dedup")
    counts = dedup.counts()  # the pages share most words: near duplicates too, besides the two exact copies
    assert counts["dropped"][EXACT_DUP] == 2 and counts["out"] >= 1
    assert counts["in"] == GOOD_PAGES == counts["out"] + sum(counts["dropped"].values())
    part = next((out / "dedup" / "documents").glob("*.parquet"))
    inode = part.stat().st_ino
    # The on-disk state of a kill after commit's first rename: the old final retired, the complete new
    # output still in _tmp (it carries _SUCCESS), no final.
    shutil.copytree(dedup.final, dedup.retired)
    os.replace(dedup.final, dedup.tmp)

    lines = run_logged(spark, cfg)
    assert any(line.startswith("dedup: recovered the complete output") for line in lines)
    assert any(line.startswith("dedup: complete in") and "skipped" in line for line in lines)
    assert not any(line.startswith("dedup: ") and " in (" in line for line in lines)  # no counts: not rerun
    assert files_under(out / "dedup") == uninterrupted
    assert (out / "dedup" / "documents" / part.name).stat().st_ino == inode  # renamed back, not rewritten
    assert not dedup.tmp.exists() and not dedup.retired.exists()

    # A kill after tmp/_SUCCESS but before the first rename: the new output complete in _tmp, the old final
    # (made with other settings) still in place. The rerun commits the new one instead of refusing or redoing.
    os.replace(dedup.final, dedup.tmp)
    shutil.copytree(dedup.tmp, dedup.final)
    (dedup.final / SETTINGS_FILE).write_text(json.dumps({"config": "an earlier run's"}) + "\n")
    lines = run_logged(spark, cfg)
    assert any(line.startswith("dedup: committed the complete output") for line in lines)
    assert not any(line.startswith("dedup: ") and " in (" in line for line in lines)
    assert files_under(out / "dedup") == uninterrupted
    assert (out / "dedup" / "documents" / part.name).stat().st_ino == inode
    assert not dedup.tmp.exists() and not dedup.retired.exists()


# ------------------------------------------------------------------------------------- reserved dataset names

def test_dataset_names_the_shards_stage_reserves_are_refused(crawl, tmp_path, capsys):
    reference = tmp_path / "wiki.jsonl"
    reference.write_text(json.dumps({"text": "reference text"}) + "\n")
    base = ["--warc", str(crawl), "--out", str(tmp_path / "out"), "--stages", "extract"]
    for argv, named in [(["--reference", f"documents={reference}"], "'documents'"),
                        (["--reference", f"Pieces={reference}"], "'Pieces'"),  # one folder on a case-blind disk
                        (["--reference", f"_SUCCESS={reference}"], "'_SUCCESS'"),
                        (["--reference", f"common_crawl={reference}"], "'common_crawl'"),
                        (["--reference", f"wiki={reference}", "--weight", "wiki=1", "--weight", "fate=1"], "'fate'")]:
        code, message = run_job(base + argv, capsys)
        assert code == 2 and len(message.splitlines()) == 1 and named in message, (argv, message)
    assert not (tmp_path / "out").exists()
    for name in RESERVED_NAMES:
        with pytest.raises(UserError, match="reserves"):
            check_dataset_name(name, "--reference")
    check_dataset_name("webtext2", "--reference")  # an ordinary name passes
