"""Runs the chosen stages in order into OUT/, skipping completed ones, and writes the funnel."""
import glob
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from corpus.config import DecontamConfig, DedupConfig, ExtractConfig, QualityConfig, ShardsConfig
from corpus.counters import TimedStageOutput, format_counts, funnel_entries, write_funnel
from corpus.errors import UserError
from corpus.extract_stage import run_extract
from corpus.inputs import WarcInput, is_remote
from corpus.out_dir import owned_out_dir, refuse_out_holding_inputs, require_replaceable_folder
from corpus.progress import StageProgress
from corpus.stage_output import SETTINGS_FILE, STAGES, StageOutput


@dataclass(frozen=True)
class PipelineConfig:
    out_dir: Path
    warcs: tuple[WarcInput, ...]
    stages: tuple[str, ...] = STAGES
    redo: frozenset[str] = frozenset()
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    references: tuple[tuple[str, str], ...] = ()  # (dataset name, PATH) of each --reference
    classifier: str | None = None  # --classifier: score with this saved model instead of training
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    benchmarks: tuple[str, ...] = ()  # --benchmarks paths (JSONL files or directories of them)
    shards: ShardsConfig = field(default_factory=ShardsConfig)


def parse_stage_list(text: str) -> tuple[str, ...]:
    """'extract,dedup' → stages in pipeline order; an unknown stage is a user error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in STAGES:
            raise UserError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
    if not names:
        raise UserError("--stages names no stage")
    return tuple(stage for stage in STAGES if stage in names)


def previous_output(out_dir: Path, stage: str) -> StageOutput:
    """The latest earlier stage with a complete output: what `stage` reads
    (docs/design.md, "Stages and what each reads")."""
    for earlier in reversed(STAGES[:STAGES.index(stage)]):
        output = StageOutput(out_dir, earlier)
        if output.is_complete():
            return output
    raise UserError(f"the {stage} stage needs the output of an earlier stage in {out_dir}; "
                    f"run --stages extract,{stage}")


def _upstream(output: StageOutput) -> dict:
    """What a stage's settings record of its input, so a remade input invalidates it."""
    return {"stage": output.stage, "settings": json.loads((output.final / SETTINGS_FILE).read_text()), "counts": output.counts()}


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


def _run_extract(spark: SparkSession, cfg: PipelineConfig, output: StageOutput, log) -> None:
    settings = {"config": asdict(cfg.extract), "warcs": [asdict(w) for w in cfg.warcs]}
    if _reusable(cfg, output, settings, log):
        return
    stage_dir = output.begin(settings)
    counts = run_extract(spark, list(cfg.warcs), stage_dir, cfg.extract, log)  # log: clears the live line
    output.commit()
    log(format_counts(counts))


def _run_quality(spark: SparkSession, cfg: PipelineConfig, output: StageOutput, log) -> None:
    from corpus.quality_stage import REPORT_FILE, QualityInputs, model_location, publish_model, run_quality
    from corpus.references import list_reference_files
    upstream = previous_output(cfg.out_dir, "quality")
    files = tuple(f for name, path in cfg.references for f in list_reference_files(name, path))
    settings = {"config": asdict(cfg.quality), "references": [list(r) for r in cfg.references],
                "reference_files": [asdict(f) for f in files], "classifier": cfg.classifier,
                "input": _upstream(upstream)}
    if _reusable(cfg, output, settings, log):
        return
    stage_dir = output.begin(settings)
    written_model, final_model = model_location(cfg.out_dir)
    inputs = QualityInputs(upstream.final / "documents", files, cfg.references, cfg.classifier)
    counts = run_quality(spark, inputs, stage_dir, written_model, cfg.quality)
    publish_model(written_model, final_model)
    output.commit()
    report = _publish_report(output, REPORT_FILE)
    log(format_counts(counts))
    log(f"quality report: {report}" + (f"  model: {final_model}" if not cfg.classifier else ""))


def _publish_report(output: StageOutput, name: str) -> Path:
    """Copy a committed stage's report into OUT/reports/."""
    reports = output.out_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(output.final / name, reports / name)
    return reports / name


def _run_shards(spark: SparkSession, cfg: PipelineConfig, output: StageOutput, log) -> None:
    from corpus.shards_stage import MANIFEST_FILE, MIXTURE_FILE, run_shards
    upstream = previous_output(cfg.out_dir, "shards")
    settings = {"config": asdict(cfg.shards), "input": _upstream(upstream)}
    if _reusable(cfg, output, settings, log):
        return
    stage_dir = output.begin(settings)
    counts = run_shards(spark, upstream.final / "documents", stage_dir, cfg.shards, log)
    output.commit()
    log(format_counts(counts))
    log(f"shards: {output.final / MANIFEST_FILE}  mixture: {_publish_report(output, MIXTURE_FILE)}")


def _run_dedup(spark: SparkSession, cfg: PipelineConfig, output: StageOutput, log) -> None:
    from corpus.dedup_stage import REPORT_FILE, run_dedup
    upstream = previous_output(cfg.out_dir, "dedup")
    settings = {"config": asdict(cfg.dedup), "input": _upstream(upstream)}
    if _reusable(cfg, output, settings, log):
        return
    stage_dir = output.begin(settings)
    counts = run_dedup(spark, upstream.final / "documents", stage_dir, cfg.dedup)
    output.commit()
    log(format_counts(counts))
    log(f"dedup report: {_publish_report(output, REPORT_FILE)}")


def _run_decontam(spark: SparkSession, cfg: PipelineConfig, output: StageOutput, log) -> None:
    from corpus.benchmarks import file_digest, list_benchmark_files
    from corpus.decontam_stage import REPORT_FILE, DecontamInputs, publish, run_decontam
    if not cfg.benchmarks:
        raise UserError("the decontam stage needs benchmarks to remove (--benchmarks DIR|FILE)")
    upstream = previous_output(cfg.out_dir, "decontam")
    files = [f for spec in cfg.benchmarks for f in list_benchmark_files(spec)]
    settings = {"config": asdict(cfg.decontam), "benchmarks": list(cfg.benchmarks),
                "benchmark_files": {f: file_digest(f) for f in files},
                "input": _upstream(upstream)}
    if _reusable(cfg, output, settings, log):
        return
    stage_dir = output.begin(settings)
    counts = run_decontam(spark, DecontamInputs(upstream.final / "documents", cfg.benchmarks), stage_dir, cfg.decontam)
    output.commit()
    publish(output.final, cfg.out_dir)
    log(format_counts(counts))
    log(f"contamination report: {cfg.out_dir / 'reports' / REPORT_FILE}  clean/dirty subsets: {cfg.out_dir / 'benchmarks'}")


STAGE_RUNNERS = {"extract": _run_extract, "quality": _run_quality, "dedup": _run_dedup,
                 "decontam": _run_decontam, "shards": _run_shards}


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
    from corpus.decontam_stage import BENCHMARKS_DIR
    from corpus.quality_stage import model_location
    for stage in cfg.stages:
        StageOutput(cfg.out_dir, stage).require_replaceable()
    if "quality" in cfg.stages and not cfg.classifier:
        require_replaceable_folder(model_location(cfg.out_dir)[1])
    if "decontam" in cfg.stages:
        require_replaceable_folder(cfg.out_dir / BENCHMARKS_DIR)


def run_pipeline(spark: SparkSession, cfg: PipelineConfig, log=print) -> list[dict]:
    """Run `cfg.stages`; return the funnel entries of every completed stage. OUT is claimed and locked
    meanwhile (corpus.out_dir); commits a kill interrupted are finished first."""
    refuse_out_holding_inputs(cfg.out_dir, input_paths(cfg))
    with owned_out_dir(cfg.out_dir, log):
        for stage in STAGES:  # every stage: a later one reads the latest earlier output
            StageOutput(cfg.out_dir, stage).recover(log)
        _check_replaceable(cfg)
        for stage in cfg.stages:
            output = TimedStageOutput(cfg.out_dir, stage)
            with StageProgress(spark, stage) as progress:
                STAGE_RUNNERS[stage](spark, cfg, output, progress.log_through(log))
            if output.made_in_s:  # made in this run, not skipped
                progress.finished(output.counts(), output.made_in_s[0])
        funnel_path = write_funnel(cfg.out_dir)
        log(f"funnel: {funnel_path}")
        from corpus.report import write_report  # matplotlib loads only once there is something to plot
        log(f"report: {write_report(cfg.out_dir)}")
    return funnel_entries(cfg.out_dir)
