"""Issue 16, items 6 and 7: artefacts the toolkit reads but did not make (a --classifier folder, a shards
manifest, a run folder) are checked before they are used, and the trainer's small edges (--eval-every 0,
resume, a half-written metrics line) neither crash nor duplicate.

Every folder here is real: a classifier saved by Spark then edited, shards written by tests/shard_factory.py,
run folders written by model.train. The proof that a crafted classifier imports nothing is a module the test
writes onto sys.path, which leaves a file behind if anything imports it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from shard_factory import make_shards

from corpus import explore, quality, report
from corpus.config import QualityConfig
from corpus.errors import UserError
from model import evaluate, shards as shards_module
from model.shards import ShardError, open_shards
from model.train import CHECKPOINT, METRICS, TOKENIZER, CheckpointError, main as train_main, plot, read_checkpoint

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}
REFUSED = "is not a quality classifier saved by this toolkit"


# ------------------------------------------------------------------------------------ crafted classifiers

@pytest.fixture(scope="module")
def saved_classifier(spark, tmp_path_factory) -> Path:
    """build_pipeline fitted on a few rows and saved by Spark, exactly as the quality stage saves it."""
    rows = spark.createDataFrame([("a page of good plain words", 1.0), ("buy cheap pills now now", 0.0)] * 6,
                                 "text string, label double")
    path = tmp_path_factory.mktemp("classifier") / "quality"
    quality.build_pipeline(QualityConfig()).fit(rows).write().save(str(path))
    return path


def _metadata_file(folder: Path) -> Path:
    """The metadata line's file, with Hadoop's checksum beside it removed (what a crafter does, else Hadoop
    refuses the edited file before PySpark sees it)."""
    [part] = [p for p in (folder / "metadata").iterdir() if p.name.startswith("part-")]
    part.with_name(f".{part.name}.crc").unlink(missing_ok=True)
    return part


def _edit_metadata(folder: Path, edit):
    part = _metadata_file(folder)
    metadata = json.loads(part.read_text())
    edit(metadata)
    part.write_text(json.dumps(metadata) + "\n")


def _stage(root: Path, index: int) -> Path:
    [stage] = [p for p in (root / "stages").iterdir() if p.name.startswith(f"{index}_")]
    return stage


def _write_probe(folder: Path, name: str) -> Path:
    """A module `name` in folder that, when imported, writes folder/<name>.imported."""
    marker = folder / f"{name}.imported"
    (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    return marker


def test_a_classifier_spark_saved_passes_the_check_and_loads(spark, saved_classifier):
    stage_dirs = sorted(p.name for p in (saved_classifier / "stages").iterdir())
    top = json.loads(_metadata_file(saved_classifier).read_text())
    assert top["class"] == quality.PIPELINE_MODEL_CLASS  # what Spark writes is what the check expects
    assert [json.loads(_metadata_file(saved_classifier / "stages" / d).read_text())["class"]
            for d in stage_dirs] == list(quality.STAGE_CLASSES)
    assert all(quality._UID.fullmatch(uid) for uid in top["paramMap"]["stageUids"])
    quality.check_classifier_folder(str(saved_classifier))
    model = quality.load_classifier(str(saved_classifier))
    scores = quality.score(model, spark.createDataFrame([("d", "good plain words")], "doc_id string, text string"))
    assert 0 <= scores.first()["quality_score"] <= 1


def test_without_the_check_pyspark_imports_the_module_a_folder_names(spark, saved_classifier, tmp_path,
                                                                     monkeypatch):
    """The threat is real: PySpark's own loader imports whatever module a stage's metadata names."""
    from pyspark.ml import PipelineModel
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = _write_probe(tmp_path, "probe_unchecked")
    crafted = tmp_path / "model"
    shutil.copytree(saved_classifier, crafted)
    _edit_metadata(_stage(crafted, 0), lambda m: m.update({"class": "probe_unchecked.Tokenizer"}))
    with pytest.raises(AttributeError):  # the probe has no Tokenizer, but importing it already ran its code
        PipelineModel.load(str(crafted))
    assert marker.exists()


def _class(name):
    return lambda root: _edit_metadata(_stage(root, 0), lambda m: m.update({"class": name}))


def _symlinked_stage_metadata(root: Path):
    """Stage 0's metadata moved outside the folder (still naming the probe) and linked back in."""
    stage, outside = _stage(root, 0), root.parent / "elsewhere"
    outside.mkdir()
    shutil.move(stage / "metadata", outside / "metadata")
    _edit_metadata(outside, lambda m: m.update({"class": "probe_checked.Tokenizer"}))
    (stage / "metadata").symlink_to(outside / "metadata", target_is_directory=True)


def _bad_uid(root: Path):
    stage = _stage(root, 0)
    _edit_metadata(root, lambda m: m["paramMap"]["stageUids"].__setitem__(0, "../../probe_checked"))
    stage.rename(root / "stages" / "0_../../probe_checked".replace("/", "_"))


def _extra_stage(root: Path):
    uid = "Tokenizer_0123456789ab"
    shutil.copytree(_stage(root, 0), root / "stages" / f"3_{uid}")
    _edit_metadata(root / "stages" / f"3_{uid}", lambda m: m.update({"uid": uid, "class": "probe_checked.X"}))
    _edit_metadata(root, lambda m: m["paramMap"]["stageUids"].append(uid))


def _extra_folder(root: Path):
    shutil.copytree(_stage(root, 0), root / "stages" / "3_Tokenizer_0123456789ab")


def _second_part_file(root: Path):
    metadata = _stage(root, 0) / "metadata"
    (metadata / "part-00001").write_text(json.dumps({"class": "probe_checked.Tokenizer"}) + "\n")


def _two_lines(root: Path):
    part = _metadata_file(_stage(root, 0))
    part.write_text(json.dumps({"class": "probe_checked.Tokenizer", "uid": "Tokenizer_0123456789ab",
                                "paramMap": {}}) + "\n" + part.read_text())


def _duplicate_class_key(root: Path):
    part = _metadata_file(_stage(root, 0))
    part.write_text(part.read_text().replace('{"class":', '{"class":"probe_checked.Tokenizer","class":', 1))


def _huge_metadata(root: Path):
    _edit_metadata(_stage(root, 1), lambda m: m.update({"pad": "x" * (quality.METADATA_FILE_CAP_BYTES + 1)}))


def _deep_metadata(root: Path):
    _metadata_file(_stage(root, 2)).write_text("[" * 100_000 + "]" * 100_000 + "\n")


def _uid_mismatch(root: Path):
    _edit_metadata(_stage(root, 1), lambda m: m.update({"uid": "HashingTF_0123456789ab"}))


CRAFTED = {
    "a stage naming the test's own module": _class("probe_checked.Tokenizer"),
    "a stage naming os.system": _class("os.system"),
    "a stage naming a pyspark.ml class that does not exist": _class("pyspark.ml.util.X"),
    "a stage of the wrong Spark class": _class("org.apache.spark.ml.feature.StopWordsRemover"),
    "the pipeline naming another class": lambda root: _edit_metadata(root, lambda m: m.update(
        {"class": "probe_checked.PipelineModel"})),
    "a stage uid that climbs out": _bad_uid,
    "a stage's metadata symlinked from outside": _symlinked_stage_metadata,
    "an extra stage": _extra_stage,
    "an extra stage folder": _extra_folder,
    "a second metadata file Spark would read": _second_part_file,
    "metadata of two lines": _two_lines,
    "a duplicate class key": _duplicate_class_key,
    "metadata over the size cap": _huge_metadata,
    "metadata nested too deep": _deep_metadata,
    "a stage whose uid is not the listed one": _uid_mismatch,
}


@pytest.mark.parametrize("craft", CRAFTED.values(), ids=CRAFTED.keys())
def test_a_crafted_classifier_is_refused_before_anything_it_names_is_imported(spark, saved_classifier, tmp_path,
                                                                              monkeypatch, craft):
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = _write_probe(tmp_path, "probe_checked")
    crafted = tmp_path / "model"
    shutil.copytree(saved_classifier, crafted)
    craft(crafted)
    with pytest.raises(UserError, match=REFUSED) as refused:
        quality.check_classifier_folder(str(crafted))
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 400
    with pytest.raises(UserError, match=REFUSED):
        quality.load_classifier(str(crafted))  # a live Spark session: had the check passed, Spark would import
    assert not marker.exists() and "probe_checked" not in sys.modules


def test_the_filter_job_refuses_a_crafted_classifier_before_spark_starts(saved_classifier, tmp_path):
    crafted = tmp_path / "model"
    shutil.copytree(saved_classifier, crafted)
    _class("probe_job.Tokenizer")(crafted)
    marker = _write_probe(tmp_path, "probe_job")
    repo = Path(__file__).resolve().parent.parent
    job = subprocess.run([sys.executable, "jobs/filter.py", "--warc", "tests/data", "--classifier", str(crafted),
                          "--out", str(tmp_path / "out")], cwd=repo, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert job.returncode == 2 and job.stderr.startswith(f"error: --classifier {crafted} {REFUSED}")
    assert len(job.stderr.strip().splitlines()) == 1 and not marker.exists()
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ hostile shard manifests

@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return make_shards(tmp_path_factory.mktemp("shards") / "shards", vocab_size=512, train_chars=100_000,
                       val_chars=20_000, file_tokens=8192)


def _manifest_edit(edit):
    def craft(root: Path):
        manifest = json.loads((root / "manifest.json").read_text())
        edit(manifest, root)
        (root / "manifest.json").write_text(json.dumps(manifest))
    return craft


def _first_file(manifest: dict) -> dict:
    return manifest["datasets"]["common_crawl"]["train"]["files"][0]


def _file_symlinked_from_outside(manifest: dict, root: Path):
    """A shard file of the right size, outside the folder, linked in under the name the manifest lists."""
    inside = root / _first_file(manifest)["path"]
    outside = root.parent / "outside.bin"
    shutil.move(inside, outside)
    inside.symlink_to(outside)


def _tokenizer_symlinked_from_outside(manifest: dict, root: Path):
    outside = root.parent / "outside-tokenizer.json"
    shutil.move(root / "tokenizer.json", outside)
    (root / "tokenizer.json").symlink_to(outside)


def _tokenizer_climbs_out(manifest: dict, root: Path):
    shutil.copy(root / "tokenizer.json", root.parent / "tokenizer.json")  # a valid tokenizer is there
    manifest["tokenizer"] = "../tokenizer.json"


def _manifest_symlinked_from_outside(root: Path):
    outside = root.parent / "manifest.json"
    shutil.move(root / "manifest.json", outside)
    (root / "manifest.json").symlink_to(outside)


HOSTILE_MANIFESTS = {
    "a file that climbs out": (_manifest_edit(lambda m, r: _first_file(m).update(path="../../x.bin")), "outside"),
    "an absolute file path": (_manifest_edit(lambda m, r: _first_file(m).update(
        path=str((r / _first_file(m)["path"]).resolve()))), "outside"),
    "a file symlinked from outside": (_manifest_edit(_file_symlinked_from_outside), "outside"),
    "a tokenizer that climbs out": (_manifest_edit(_tokenizer_climbs_out), "tokenizer path '../tokenizer.json'"),
    "an absolute tokenizer path": (_manifest_edit(lambda m, r: m.update(tokenizer=str(r / "tokenizer.json"))),
                                   "tokenizer path"),
    "a tokenizer symlinked from outside": (_manifest_edit(_tokenizer_symlinked_from_outside), "tokenizer path"),
    "the manifest symlinked from outside": (_manifest_symlinked_from_outside, "manifest path"),
    "a manifest nested too deep": (lambda r: (r / "manifest.json").write_text("[" * 100_000), "nested too deeply"),
}


@pytest.mark.parametrize("craft, message", HOSTILE_MANIFESTS.values(), ids=HOSTILE_MANIFESTS.keys())
def test_a_shards_manifest_naming_paths_outside_its_folder_is_refused(shards, tmp_path, capsys, craft, message):
    root = tmp_path / "shards"
    shutil.copytree(shards, root)
    open_shards(root)  # the copy is good before it is crafted
    craft(root)
    with pytest.raises(ShardError, match=message) as refused:
        open_shards(root)
    assert "\n" not in str(refused.value)
    assert shards_module.main([str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert train_main(["--data", str(root), "--preset", "micro", "--out", str(tmp_path / "run"), "--steps", "1",
                       "--no-progress"]) == 2
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------ run folders

@pytest.fixture(scope="module")
def trained_run(shards, tmp_path_factory) -> Path:
    """Three steps of the micro preset, never evaluated, checkpointed only at the end."""
    out = tmp_path_factory.mktemp("runs") / "runs" / "micro"
    assert train_main(["--data", str(shards), "--preset", "micro", "--out", str(out), "--steps", "3",
                       "--eval-every", "0", "--checkpoint-every", "0", "--no-progress"]) == 0
    return out


def test_eval_and_checkpoint_every_zero_mean_never_and_negative_is_refused(shards, trained_run, tmp_path, capsys):
    records = [json.loads(line) for line in (trained_run / METRICS).read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert not [r for r in records if "val" in r]  # --eval-every 0: no validation loss, not even at the end
    assert torch.load(trained_run / CHECKPOINT, weights_only=True)["step"] == 3  # the final checkpoint only
    for flag in ("--eval-every", "--checkpoint-every"):
        assert train_main(["--data", str(shards), "--preset", "micro", "--out", str(tmp_path / flag),
                           "--steps", "2", flag, "-1", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: {flag} takes a number of steps, or 0 for never, not -1.\n"
        assert not (tmp_path / flag).exists()
    helped = subprocess.run([sys.executable, "-m", "model.train", "--help"], capture_output=True, text=True)
    assert "0 = never" in " ".join(helped.stdout.split()) and "0 = only the final one" in " ".join(helped.stdout.split())


def test_run_folder_files_that_lead_outside_are_refused_and_never_written_through(shards, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    outside = tmp_path / "outside.json"
    shutil.move(run / TOKENIZER, outside)
    (run / TOKENIZER).symlink_to(outside)
    _, settings, _ = read_checkpoint(run)
    with pytest.raises(CheckpointError, match="leads outside the run folder"):
        evaluate.load_tokenizer(run, settings, None)
    shutil.move(run / CHECKPOINT, tmp_path / "outside.pt")
    (run / CHECKPOINT).symlink_to(tmp_path / "outside.pt")
    with pytest.raises(CheckpointError, match="leads outside the run folder"):
        read_checkpoint(run)
    # no tokenizer in the run folder: the shards' one, only if the manifest keeps it inside the shards
    bare, crafted = tmp_path / "bare", tmp_path / "shards"
    bare.mkdir()
    shutil.copytree(shards, crafted)
    manifest = json.loads((crafted / "manifest.json").read_text())
    (crafted / "manifest.json").write_text(json.dumps(manifest | {"tokenizer": "../outside.json"}))
    with pytest.raises(UserError, match="names no tokenizer inside"):
        evaluate.load_tokenizer(bare, {"data": str(crafted)}, None)
    assert evaluate.load_tokenizer(bare, {"data": str(shards)}, None).get_vocab_size() == 512
    # a new run into a folder holding a planted symlink replaces the link, never writes through it
    planted, before = tmp_path / "planted", outside.read_bytes()
    planted.mkdir()
    (planted / TOKENIZER).symlink_to(outside)
    (planted / "settings.json").symlink_to(outside)
    assert train_main(["--data", str(shards), "--preset", "micro", "--out", str(planted), "--steps", "1",
                       "--no-progress"]) == 0
    assert outside.read_bytes() == before and not (planted / TOKENIZER).is_symlink()
    assert (planted / TOKENIZER).read_bytes() == (shards / "tokenizer.json").read_bytes()


# ------------------------------------------------------------------------------------ resume and metrics.jsonl

def _steps(path: Path) -> list[int]:
    return [r["step"] for r in explore.read_metrics(path) if "loss" in r]


def test_a_resumed_run_appends_to_metrics_after_its_checkpoint(shards, tmp_path):
    out, steps, every = tmp_path / "run", 150, 50
    args = [sys.executable, "-m", "model.train", "--no-progress", "--data", str(shards), "--preset", "micro",
            "--steps", str(steps), "--checkpoint-every", str(every), "--eval-every", "25", "--out", str(out)]
    killed = subprocess.Popen(args, env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:  # kill it well between two checkpoints
        logged = _steps(out / METRICS) if (out / METRICS).exists() else []
        if logged and logged[-1] > every and 5 <= logged[-1] % every <= 30:
            break
        time.sleep(0.005)
    assert killed.poll() is None, f"the run ended before it could be killed: {killed.stderr.read()[-2000:]}"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    saved = torch.load(out / CHECKPOINT, weights_only=True)["step"]
    with open(out / METRICS, "ab") as f:
        f.write(b'{"step": 1000, "tokens": 12')  # the kill cut its last line in half
    first = (out / METRICS).read_bytes()
    assert 0 < saved < max(_steps(out / METRICS)) < steps
    kept = b"".join(line for line in first.splitlines(keepends=True)
                    if line.endswith(b"\n") and json.loads(line)["step"] <= saved)
    resumed = subprocess.run(args + ["--resume"], env=ONE_THREAD, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = (out / METRICS).read_bytes()
    assert after.startswith(kept)  # the first run's lines up to its checkpoint, byte for byte, then the new ones
    assert _steps(out / METRICS) == list(range(1, steps + 1))  # every step once: none twice, none lost
    records = [json.loads(line) for line in after.splitlines()]  # every line whole
    assert sum("params" in r for r in records) == 1
    assert [r["step"] for r in records if "val" in r] == list(range(25, steps + 1, 25))


def test_every_metrics_reader_skips_a_half_written_last_line(trained_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(trained_run.parent, out / "runs")
    metrics = out / "runs" / "micro" / METRICS
    whole = metrics.read_bytes()
    for tail in (b'{"step": 4, "tokens": 1', b'{"step": 4, "val": {"a": 1.0}, "tok', b"\xff\xfe[[[", b"[1, 2]\n"):
        metrics.write_bytes(whole + tail)
        assert _steps(metrics) == [1, 2, 3]  # corpus.explore, what the notebooks read
        [run] = report.find_runs(out)  # the HTML report and notebook 4
        assert [s["step"] for s in run["steps"]] == [1, 2, 3] and run["params"]
        assert "micro" in report.write_report(out).read_text()
        plot(metrics, tmp_path / "loss.png")  # the trainer's own plot
        assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
