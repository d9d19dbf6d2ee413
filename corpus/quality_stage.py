"""The quality stage on Spark: reference corpora join the document stream, the classifier is trained (or
loaded with --classifier), every document gets quality_score, and Common Crawl documents are resampled
with GPT-3's Pareto rule. Reference documents are scored but never resampled (the paper filtered only
Common Crawl).

Output under the stage directory: documents/ (kept, with quality_score), fate/ (reason `pareto` with the
score, and the reference corpora's unusable records), counts.json; OUT/reports/quality.json; the fitted
PipelineModel under OUT/models/quality/.
"""
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from corpus import quality
from corpus.config import QualityConfig
from corpus.counters import count_stage
from corpus.errors import UserError
from corpus.out_dir import replace_folder
from corpus.parquet_parts import write_sorted_parts
from corpus.quality_report import resampling_report
from corpus.references import ReferenceFile, ingest_references, list_reference_files
from corpus.resample import pareto_draw_column
from corpus.schema import DOCUMENT_COLUMNS, FATE_COLUMNS
from corpus.stage import Stage, StageContext
from corpus.stage_output import COUNTS_FILE, write_json_atomic

STAGE = "quality"
PARETO = "pareto"  # the fate reason of a document the rule did not keep
REPORT_FILE = "quality.json"  # copied to OUT/reports/ when the stage commits
UNIT = "documents: the previous stage's Common Crawl documents plus every reference-corpus record"


@dataclass(frozen=True)
class QualityInputs:
    documents_dir: Path  # the previous stage's documents/
    references: tuple[ReferenceFile, ...]  # listed on the driver (corpus.references.list_reference_files)
    reference_specs: tuple[tuple[str, str], ...]  # (name, PATH) as the user gave them, for messages
    classifier: str | None = None  # a saved PipelineModel to score with instead of training


def _load_references(spark: SparkSession, inputs: QualityInputs, stage_dir: Path, cfg: QualityConfig) -> DataFrame:
    references_dir = stage_dir / "reference-documents"  # removed once their documents are in documents/
    ingest_references(spark, list(inputs.references), references_dir, stage_dir / "fate", cfg.text_field)
    references = spark.read.parquet(str(references_dir))
    found = {r["dataset"]: (r["n"], r["ids"]) for r in
             references.groupBy("dataset").agg(F.count("*").alias("n"), F.countDistinct("doc_id").alias("ids")).collect()}
    for name, path in inputs.reference_specs:
        documents, ids = found.get(name, (0, 0))
        if documents == 0:
            raise UserError(f"the reference corpus {name}={path} holds no text (no record with a non-empty "
                            f"{cfg.text_field!r} field)")
        if ids != documents:
            raise UserError(f"the reference corpus {name}={path} repeats `id` values ({documents} records, "
                            f"{ids} distinct ids); ids must be unique within a corpus")
    return references


def _classifier(crawl: DataFrame, references: DataFrame, inputs: QualityInputs, cfg: QualityConfig,
                model_dir: Path):
    """(PipelineModel, the report's "classifier" section); a trained model is saved to model_dir."""
    if inputs.classifier:
        model = quality.load_classifier(inputs.classifier)
        return model, {"source": f"loaded from {inputs.classifier}", "params": quality.model_params(model)}
    if not inputs.references:
        raise UserError("the quality stage needs reference corpora to train on (--reference NAME=PATH) "
                        "or a trained model (--classifier PATH)")
    rows, sizes = quality.training_set(crawl, references, cfg)
    model = quality.fit(rows, cfg)
    metrics = quality.held_out_metrics(model, rows, cfg)
    rows.unpersist()
    shutil.rmtree(model_dir, ignore_errors=True)
    model.write().save(str(model_dir.resolve()))
    return model, {"source": "trained", "params": quality.model_params(model), "training_set": sizes,
                   "held_out": metrics}


def _fate_rows(dropped: DataFrame) -> DataFrame:
    detail = F.format_string("quality_score=%.6f pareto_draw=%.6f", "quality_score", "pareto_draw")
    columns = {"stage": F.lit(STAGE), "reason": F.lit(PARETO), "detail": detail}
    return dropped.select(*[columns.get(c, F.col(c)).alias(c) for c in FATE_COLUMNS])


def run_quality(spark: SparkSession, inputs: QualityInputs, stage_dir: Path, model_dir: Path,
                cfg: QualityConfig) -> dict:
    """Score and resample; write the stage's output, REPORT_FILE and the model; return the counts."""
    if cfg.crawl_dataset in {name for name, _ in inputs.reference_specs}:
        raise UserError(f"a reference corpus may not be named {cfg.crawl_dataset!r}, the crawl's dataset")
    crawl = spark.read.parquet(str(inputs.documents_dir)).select(*DOCUMENT_COLUMNS)
    references = _load_references(spark, inputs, stage_dir, cfg) if inputs.references else None
    model, classifier_report = _classifier(crawl, references, inputs, cfg, model_dir)

    documents = crawl if references is None else crawl.unionByName(references.select(*DOCUMENT_COLUMNS))
    scored = (quality.score(model, documents)
              .withColumn("pareto_draw", pareto_draw_column(F.col("doc_id"), cfg.seed, cfg.alpha))
              .withColumn("kept", (F.col("dataset") != cfg.crawl_dataset)
                          | (F.col("pareto_draw") > F.lit(1.0) - F.col("quality_score")))  # GPT-3's rule
              .persist())
    parts = max(1, len(list(inputs.documents_dir.glob("*.parquet"))))  # as many parts as the input had
    write_sorted_parts(scored.where("kept").select(*DOCUMENT_COLUMNS, "quality_score"), stage_dir / "documents", parts)
    write_sorted_parts(_fate_rows(scored.where(~F.col("kept"))), stage_dir / "fate", parts, prefix=PARETO)

    report = {"stage": STAGE, "config": asdict(cfg), "classifier": classifier_report,
              "resampling": resampling_report(scored, cfg)}
    scored.unpersist()
    shutil.rmtree(stage_dir / "reference-documents", ignore_errors=True)
    counts = count_stage(spark, stage_dir, STAGE, unit=UNIT)
    report["counts"] = counts
    write_json_atomic(stage_dir / REPORT_FILE, report)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts


def model_location(out_dir: Path) -> tuple[Path, Path]:
    """(where the model is written while the stage runs, where it lives once the stage commits)."""
    return out_dir / "_tmp" / "models-quality", out_dir / "models" / "quality"


def publish_model(written: Path, final: Path) -> None:
    """Move a trained model into place, marked as the toolkit's: only a model folder it published before is
    replaced (corpus.out_dir)."""
    if written.exists():
        replace_folder(written, final, "model")


def _stage_settings(context: StageContext) -> dict:
    cfg = context.cfg
    upstream = context.upstream_settings()
    files = tuple(f for name, path in cfg.references for f in list_reference_files(name, path))
    context.found["reference_files"] = files
    return {"config": asdict(cfg.quality), "references": [list(r) for r in cfg.references],
            "reference_files": [asdict(f) for f in files], "classifier": cfg.classifier, "input": upstream}


def _stage_run(context: StageContext) -> dict:
    """Score and resample, then move a trained model into place (before the stage's output commits)."""
    cfg = context.cfg
    written_model, final_model = model_location(cfg.out_dir)
    inputs = QualityInputs(context.upstream_documents, context.found["reference_files"], cfg.references, cfg.classifier)
    counts = run_quality(context.spark, inputs, context.stage_dir, written_model, cfg.quality)
    publish_model(written_model, final_model)
    return counts


def _replaces(cfg) -> tuple[Path, ...]:
    return () if cfg.classifier else (model_location(cfg.out_dir)[1],)


def _done(context: StageContext) -> str:
    model = "" if context.cfg.classifier else f"  model: {model_location(context.out_dir)[1]}"
    return f"quality report: {context.report_path(REPORT_FILE)}{model}"


PIPELINE_STAGE = Stage(STAGE, config="quality", settings=_stage_settings, run=_stage_run, reports=(REPORT_FILE,),
                       section="quality", replaces=_replaces, done=_done)
