"""The contract every pipeline stage keeps, and what the stages share while one runs.

A stage is one `Stage` object declared next to its code (`PIPELINE_STAGE` in corpus/<name>_stage.py) and listed
once in corpus.pipeline.REGISTRY, in pipeline order. For each stage it runs, the pipeline does the same steps:
the settings that identify its output, the reuse of a completed output made with them, begin, run, commit,
publish and log (corpus.pipeline.run_stage)."""
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import UserError
from corpus.stage_output import SETTINGS_FILE, StageOutput

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from corpus.pipeline import PipelineConfig
    from corpus.progress import StageProgress

REPORTS_DIR = "reports"  # OUT/reports: what the stages publish, the funnel and the HTML report


def _replaces_nothing(cfg: "PipelineConfig") -> tuple[Path, ...]:
    return ()


def _says_nothing(context: "StageContext") -> str | None:
    return None


@dataclass(frozen=True)
class Stage:
    name: str  # as --stages spells it, and its folder OUT/<name>
    config: str | None  # the PipelineConfig attribute holding its config; None for a stage without one
    settings: Callable[["StageContext"], dict]  # what identifies its output, saved as its settings.json
    run: Callable[["StageContext"], dict]  # writes its output into context.stage_dir; returns its counts
    reports: tuple[str, ...] = ()  # files of its output published into OUT/reports/ once committed
    section: str | None = None  # its section of the HTML report (corpus.report.STAGE_SECTIONS)
    publish: Callable[["StageContext"], None] | None = None  # when it publishes more than `reports` copied
    replaces: Callable[["PipelineConfig"], tuple[Path, ...]] = _replaces_nothing  # folders besides OUT/<name>
    done: Callable[["StageContext"], str | None] = _says_nothing  # the line logged after its counts


@dataclass
class StageContext:
    """What a stage is given while it runs."""
    spark: "SparkSession"
    cfg: "PipelineConfig"
    stage: Stage
    output: StageOutput  # where its output is committed
    earlier: tuple[str, ...]  # the stages before it, in pipeline order: its input is the latest complete one
    log: Callable[..., None]  # clears the progress line while it writes
    progress: "StageProgress"
    stage_dir: Path | None = None  # OUT/_tmp/<stage>, once begun
    found: dict = field(default_factory=dict)  # what its settings listed (input files), for its run to reuse
    _upstream: StageOutput | None = field(default=None, repr=False)

    @property
    def out_dir(self) -> Path:
        return self.cfg.out_dir

    @property
    def config(self):
        """The stage's own config (PipelineConfig.<stage.config>)."""
        return getattr(self.cfg, self.stage.config) if self.stage.config else None

    @property
    def upstream(self) -> StageOutput:
        """The latest earlier stage with a complete output: what this stage reads."""
        if self._upstream is None:
            self._upstream = previous_output(self.out_dir, self.stage.name, self.earlier)
        return self._upstream

    @property
    def upstream_documents(self) -> Path:
        return self.upstream.final / "documents"

    def upstream_settings(self) -> dict:
        """What a stage's settings record of its input, so a remade input invalidates it."""
        upstream = self.upstream
        return {"stage": upstream.stage, "settings": json.loads((upstream.final / SETTINGS_FILE).read_text()),
                "counts": upstream.counts()}

    def report_path(self, name: str) -> Path:
        return self.out_dir / REPORTS_DIR / name


def previous_output(out_dir: Path, stage: str, earlier: tuple[str, ...]) -> StageOutput:
    """The latest of the `earlier` stages with a complete output, or a user error naming what to run."""
    for name in reversed(earlier):
        output = StageOutput(out_dir, name)
        if output.is_complete():
            return output
    raise UserError(f"the {stage} stage needs the output of an earlier stage in {out_dir}; "
                    f"run --stages extract,{stage}")


def publish_reports(context: StageContext) -> None:
    """Copy a committed stage's reports into OUT/reports/."""
    reports = context.out_dir / REPORTS_DIR
    for name in context.stage.reports:
        reports.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(context.output.final / name, reports / name)
