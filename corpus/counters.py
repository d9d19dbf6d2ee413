"""Drop-reason counts read back from the written data (documents and fate table), never from
accumulators: an accumulator updated inside a transformation double-counts when a task is retried."""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from corpus.stage_output import STAGES, SUCCESS_MARKER, StageOutput, write_json_atomic

WALL_FILE = "wall_seconds.json"  # in a stage folder: how long the run that made it took, until its commit


def count_stage(spark: SparkSession, stage_dir: Path, stage: str, unit: str) -> dict:
    """{"stage", "in", "out", "dropped": {reason: n}, "unit"} from `documents/` and `fate/` under stage_dir."""
    out = spark.read.parquet(str(stage_dir / "documents")).count()
    dropped = {row["reason"]: row["count"] for row in
               spark.read.parquet(str(stage_dir / "fate")).groupBy("reason").count().collect()}
    dropped = dict(sorted(dropped.items()))
    return {"stage": stage, "in": out + sum(dropped.values()), "out": out, "dropped": dropped, "unit": unit}


@dataclass(frozen=True)
class TimedStageOutput(StageOutput):
    """A stage output that, at commit, records how long the run that made it took (WALL_FILE)."""
    started: float = field(default_factory=time.monotonic, compare=False)
    made_in_s: list = field(default_factory=list, compare=False)  # the wall time, once this run committed

    def commit(self) -> None:
        wall = self.tmp / WALL_FILE
        # a complete output an interrupted commit left holds the time of the run that made it; in a resumed one
        # (corpus.extract_stage) this run finished the work, and a killed run's time would be stale
        if not ((self.tmp / SUCCESS_MARKER).is_file() and wall.is_file()):
            write_json_atomic(wall, {"wall_seconds": round(time.monotonic() - self.started, 3)})
        self.made_in_s.append(read_wall_seconds(self.tmp))
        super().commit()


def read_wall_seconds(stage_dir: Path) -> float | None:
    """The recorded wall time of a stage folder; None for one made before wall times were recorded."""
    wall = stage_dir / WALL_FILE
    return json.loads(wall.read_text())["wall_seconds"] if wall.is_file() else None


def funnel_entries(out_dir: Path, stages: tuple[str, ...] = STAGES) -> list[dict]:
    """Every completed stage's counts in pipeline order, with the wall time of the run that made it."""
    return [{**output.counts(), "wall_seconds": read_wall_seconds(output.final)}
            for output in (StageOutput(out_dir, stage) for stage in stages) if output.is_complete()]


def write_funnel(out_dir: Path, stages: tuple[str, ...] = STAGES) -> Path:
    """OUT/reports/funnel.json: every completed stage in pipeline order."""
    funnel = funnel_entries(out_dir, stages)
    for entry in funnel:
        assert entry["in"] == entry["out"] + sum(entry["dropped"].values()), f"funnel does not add up: {entry}"
    path = out_dir / "reports" / "funnel.json"
    write_json_atomic(path, funnel)
    return path


def format_counts(entry: dict) -> str:
    lines = [f"{entry['stage']}: {entry['in']} in ({entry['unit']}), {entry['out']} out"]
    lines += [f"  dropped_{reason}: {n}" for reason, n in entry["dropped"].items()]
    return "\n".join(lines)
