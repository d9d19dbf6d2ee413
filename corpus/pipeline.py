"""Runs the chosen stages in order into OUT/, skipping completed ones, and writes the funnel."""
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from corpus.config import ExtractConfig
from corpus.counters import format_counts, write_funnel
from corpus.errors import UserError
from corpus.extract_stage import run_extract
from corpus.inputs import WarcInput
from corpus.stage_output import STAGES, StageOutput

IMPLEMENTED_STAGES = ("extract",)  # the others land with their issues


@dataclass(frozen=True)
class PipelineConfig:
    out_dir: Path
    warcs: tuple[WarcInput, ...]
    stages: tuple[str, ...] = IMPLEMENTED_STAGES
    redo: frozenset[str] = frozenset()
    extract: ExtractConfig = field(default_factory=ExtractConfig)


def parse_stage_list(text: str) -> tuple[str, ...]:
    """'extract,dedup' → stages in pipeline order; unknown or not-yet-built stages are user errors."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in STAGES:
            raise UserError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
        if name not in IMPLEMENTED_STAGES:
            raise UserError(f"stage {name!r} is not built yet; this version runs {', '.join(IMPLEMENTED_STAGES)}")
    if not names:
        raise UserError("--stages names no stage")
    return tuple(stage for stage in STAGES if stage in names)


def _extract_settings(cfg: PipelineConfig) -> dict:
    return {"config": asdict(cfg.extract), "warcs": [asdict(w) for w in cfg.warcs]}


def run_pipeline(spark: SparkSession, cfg: PipelineConfig, log=print) -> list[dict]:
    """Run `cfg.stages`; return the funnel entries of every completed stage."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    if "extract" in cfg.stages:
        output = StageOutput(cfg.out_dir, "extract")
        settings = _extract_settings(cfg)
        if "extract" not in cfg.redo and output.check_reusable(settings):
            log(f"extract: complete in {output.final}, skipped (pass --redo extract to remake it)")
        else:
            stage_dir = output.begin(settings)
            counts = run_extract(spark, list(cfg.warcs), stage_dir, cfg.extract)
            output.commit()
            log(format_counts(counts))
    funnel_path = write_funnel(cfg.out_dir)
    log(f"funnel: {funnel_path}")
    return [StageOutput(cfg.out_dir, s).counts() for s in STAGES if StageOutput(cfg.out_dir, s).is_complete()]
