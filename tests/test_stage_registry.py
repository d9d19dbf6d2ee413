"""The pipeline is a loop over one registry of Stage objects, and every stage keeps the same contract."""
import json
from dataclasses import fields
from pathlib import Path

from corpus import pipeline
from corpus.pipeline import REGISTRY, STAGE_NAMES, PipelineConfig, run_stage
from corpus.report import STAGE_SECTIONS
from corpus.stage import Stage, StageContext
from corpus.stage_output import COUNTS_FILE, SETTINGS_FILE, STAGES, StageOutput, write_json_atomic


def test_the_registry_names_the_stages_in_pipeline_order():
    assert STAGE_NAMES == STAGES
    assert [stage.name for stage in REGISTRY] == list(STAGES)
    assert PipelineConfig.__dataclass_fields__["stages"].default == STAGES


def test_every_stage_declares_the_contract():
    config_fields = {f.name for f in fields(PipelineConfig)}
    sections = {name: file for name, file, _ in STAGE_SECTIONS}
    for stage in REGISTRY:
        assert isinstance(stage, Stage)
        assert stage.config in config_fields, stage.name
        assert callable(stage.settings) and callable(stage.run) and callable(stage.done), stage.name
        assert callable(stage.replaces) and (stage.publish is None or callable(stage.publish)), stage.name
        assert all(isinstance(name, str) and "/" not in name for name in stage.reports), stage.name
        if stage.section is not None:  # the report section reads a file the stage publishes
            assert sections[stage.section] in stage.reports, stage.name


def _context(tmp_path: Path, stage: Stage, lines: list) -> StageContext:
    cfg = PipelineConfig(out_dir=tmp_path, warcs=(), stages=(stage.name,))
    return StageContext(None, cfg, stage, StageOutput(tmp_path, stage.name), (), lines.append, None)


def test_run_stage_makes_commits_publishes_and_then_reuses_a_stage(tmp_path):
    runs = []

    def run(context):
        runs.append(context.stage_dir)
        counts = {"stage": "extract", "in": 2, "out": 1, "dropped": {"x": 1}, "unit": "documents"}
        write_json_atomic(context.stage_dir / COUNTS_FILE, counts)
        write_json_atomic(context.stage_dir / "made.json", {"n": 1})
        return counts

    stage = Stage("extract", config="extract", settings=lambda context: {"k": 1}, run=run, reports=("made.json",),
                  done=lambda context: f"made: {context.report_path('made.json')}")
    lines = []
    run_stage(_context(tmp_path, stage, lines))
    assert runs == [tmp_path / "_tmp" / "extract"]
    assert json.loads((tmp_path / "extract" / SETTINGS_FILE).read_text()) == {"k": 1}
    assert json.loads((tmp_path / "reports" / "made.json").read_text()) == {"n": 1}
    assert lines == ["extract: 2 in (documents), 1 out\n  dropped_x: 1", f"made: {tmp_path / 'reports' / 'made.json'}"]

    lines.clear()
    run_stage(_context(tmp_path, stage, lines))  # same settings: skipped, not run again
    assert len(runs) == 1 and lines[0].startswith("extract: complete in")


def test_a_stage_reads_the_latest_earlier_complete_output(tmp_path):
    for name in ("extract", "quality"):
        write_json_atomic(tmp_path / "_tmp" / name / SETTINGS_FILE, {})
        StageOutput(tmp_path, name).commit()
    assert pipeline.previous_output(tmp_path, "dedup").stage == "quality"
    assert pipeline.previous_output(tmp_path, "quality").stage == "extract"
