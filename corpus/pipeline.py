"""Runs the chosen stages in order into OUT/, skipping completed ones, and writes the funnel."""
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from corpus import decontam_stage, dedup_stage, extract_stage, quality_stage, shards_stage
from corpus.config import DecontamConfig, DedupConfig, ExtractConfig, QualityConfig, ShardsConfig
from corpus.counters import TimedStageOutput, format_counts, funnel_entries, write_funnel
from corpus.inputs import WarcInput, is_remote
from corpus.out_dir import owned_out_dir, refuse_out_holding_inputs, require_replaceable_folder
from corpus.progress import StageProgress
from corpus.stage import StageContext, publish_reports
from corpus.stage import previous_output as stage_previous_output
from corpus.stage_output import StageOutput

# The pipeline's stages in order, one line each; a stage is declared next to its code (corpus.stage.Stage).
REGISTRY = (
    extract_stage.PIPELINE_STAGE,
    quality_stage.PIPELINE_STAGE,
    dedup_stage.PIPELINE_STAGE,
    decontam_stage.PIPELINE_STAGE,
    shards_stage.PIPELINE_STAGE,
)
STAGE_NAMES = tuple(stage.name for stage in REGISTRY)  # as --stages spells them; = corpus.stage_output.STAGES


@dataclass(frozen=True)
class PipelineConfig:
    out_dir: Path
    warcs: tuple[WarcInput, ...]
    stages: tuple[str, ...] = STAGE_NAMES
    redo: frozenset[str] = frozenset()
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    references: tuple[tuple[str, str], ...] = ()  # (dataset name, PATH) of each --reference
    classifier: str | None = None  # --classifier: score with this saved model instead of training
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    benchmarks: tuple[str, ...] = ()  # --benchmarks paths (JSONL files or directories of them)
    shards: ShardsConfig = field(default_factory=ShardsConfig)


def previous_output(out_dir: Path, stage: str) -> StageOutput:
    """The latest earlier stage with a complete output: what `stage` reads
    (docs/design.md, "Stages and what each reads")."""
    return stage_previous_output(out_dir, stage, STAGE_NAMES[:STAGE_NAMES.index(stage)])


def _reusable(cfg: PipelineConfig, output: StageOutput, settings: dict, log) -> bool:
    """True (and says so) when the stage's completed output was made with these settings and no --redo asks
    for it again."""
    if output.stage in cfg.redo:
        return False
    output.finish_interrupted_commit(settings, log)
    if output.check_reusable(settings):
        log(f"{output.stage}: complete in {output.final}, skipped (pass --redo {output.stage} to remake it)")
        return True
    return False


def run_stage(context: StageContext) -> None:
    """The steps every stage shares: its settings, reuse of a completed output made with them, begin, run,
    commit, publish, log."""
    stage, output = context.stage, context.output
    settings = stage.settings(context)
    if _reusable(context.cfg, output, settings, context.log):
        return
    context.stage_dir = output.begin(settings)
    counts = stage.run(context)
    output.commit()
    (stage.publish or publish_reports)(context)
    context.log(format_counts(counts))
    line = stage.done(context)
    if line:
        context.log(line)


def input_paths(cfg: PipelineConfig) -> list[tuple[str, str, bool]]:
    """(how the user named it, local path, read with everything under it) of every input a run reads."""
    found = [("--warc ", w.uri, False) for w in cfg.warcs if not is_remote(w.uri)]
    for name, spec in cfg.references:
        for path in [spec] if os.path.exists(spec) else glob.glob(spec, recursive=True):
            found.append((f"--reference {name}=", path, os.path.isdir(path)))  # a folder is read recursively
    found += [("--benchmarks ", path, False) for path in cfg.benchmarks]
    found += [("--classifier ", path, False) for path in [cfg.classifier] if path]
    found += [("--tokenizer ", path, False) for path in [cfg.shards.tokenizer] if path]
    return found


def _check_replaceable(cfg: PipelineConfig) -> None:
    """Refuse before any work when a folder the chosen stages would replace is not the toolkit's."""
    for stage in cfg.stages:
        StageOutput(cfg.out_dir, stage).require_replaceable()
    for name in cfg.stages:
        for folder in REGISTRY[STAGE_NAMES.index(name)].replaces(cfg):
            require_replaceable_folder(folder)


def run_pipeline(spark: SparkSession, cfg: PipelineConfig, log=print) -> list[dict]:
    """Run `cfg.stages`; return the funnel entries of every completed stage. OUT is claimed and locked
    meanwhile (corpus.out_dir); commits a kill interrupted are finished first."""
    refuse_out_holding_inputs(cfg.out_dir, input_paths(cfg))
    with owned_out_dir(cfg.out_dir, log):
        for name in STAGE_NAMES:  # every stage: a later one reads the latest earlier output
            StageOutput(cfg.out_dir, name).recover(log)
        _check_replaceable(cfg)
        for name in cfg.stages:
            stage, earlier = REGISTRY[STAGE_NAMES.index(name)], STAGE_NAMES[:STAGE_NAMES.index(name)]
            output = TimedStageOutput(cfg.out_dir, name)
            with StageProgress(spark, name) as progress:
                run_stage(StageContext(spark, cfg, stage, output, earlier, progress.log_through(log), progress))
            if output.made_in_s:  # made in this run, not skipped
                progress.finished(output.counts(), output.made_in_s[0])
        funnel_path = write_funnel(cfg.out_dir, STAGE_NAMES)
        log(f"funnel: {funnel_path}")
        from corpus.report import write_report  # matplotlib loads only once there is something to plot
        log(f"report: {write_report(cfg.out_dir)}")
    return funnel_entries(cfg.out_dir, STAGE_NAMES)
