"""Drop-reason counts read back from the written data (documents and fate table), never from
accumulators: an accumulator updated inside a transformation double-counts when a task is retried."""
from pathlib import Path

from pyspark.sql import SparkSession

from corpus.stage_output import STAGES, StageOutput, write_json_atomic


def count_stage(spark: SparkSession, stage_dir: Path, stage: str, unit: str) -> dict:
    """{"stage", "in", "out", "dropped": {reason: n}, "unit"} from `documents/` and `fate/` under stage_dir."""
    out = spark.read.parquet(str(stage_dir / "documents")).count()
    dropped = {row["reason"]: row["count"] for row in
               spark.read.parquet(str(stage_dir / "fate")).groupBy("reason").count().collect()}
    dropped = dict(sorted(dropped.items()))
    return {"stage": stage, "in": out + sum(dropped.values()), "out": out, "dropped": dropped, "unit": unit}


def write_funnel(out_dir: Path) -> Path:
    """OUT/reports/funnel.json: every completed stage in pipeline order."""
    funnel = [StageOutput(out_dir, stage).counts() for stage in STAGES if StageOutput(out_dir, stage).is_complete()]
    for entry in funnel:
        assert entry["in"] == entry["out"] + sum(entry["dropped"].values()), f"funnel does not add up: {entry}"
    path = out_dir / "reports" / "funnel.json"
    write_json_atomic(path, funnel)
    return path


def format_counts(entry: dict) -> str:
    lines = [f"{entry['stage']}: {entry['in']} in ({entry['unit']}), {entry['out']} out"]
    lines += [f"  dropped_{reason}: {n}" for reason, n in entry["dropped"].items()]
    return "\n".join(lines)
