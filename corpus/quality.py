"""GPT-3's quality classifier (Appendix A): Spark's standard Tokenizer → HashingTF → LogisticRegression,
reference corpora as positives, unfiltered Common Crawl as negatives. It only scores: `quality_score` is
a column; the keep/drop decision is corpus.resample's.

Numbered steps, each usable alone (notebooks and tests call them directly):
  1. training_set   positives + sampled negatives, split into train and held-out by hash of doc_id
  2. fit            the Pipeline on the training part
  3. held_out_metrics  AUC, accuracy, precision/recall, ROC and calibration on the held-out part (sklearn)
  4. score          quality_score = P(high quality) for any documents
"""
import json
import os
import re
from pathlib import Path

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.feature import HashingTF, Tokenizer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from corpus.config import QualityConfig
from corpus.errors import UserError
from corpus.resample import uniform_column

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
_MODEL_COLUMNS = ("_words", "_features", "_raw", "_probability", "_prediction")
HELD_OUT_SAMPLE_CAP = 200_000  # held-out rows collected to the driver for sklearn's metrics


def build_pipeline(cfg: QualityConfig) -> Pipeline:
    """The paper's classifier: "features from Spark's standard tokenizer and HashingTF"."""
    tokenizer = Tokenizer(inputCol=TEXT_COLUMN, outputCol="_words")  # lowercase, split on whitespace
    hashing = HashingTF(inputCol="_words", outputCol="_features", numFeatures=cfg.num_features)
    logistic = LogisticRegression(featuresCol="_features", labelCol=LABEL_COLUMN, rawPredictionCol="_raw",
                                  probabilityCol="_probability", predictionCol="_prediction",
                                  regParam=cfg.reg_param, elasticNetParam=cfg.elastic_net, maxIter=cfg.max_iter)
    return Pipeline(stages=[tokenizer, hashing, logistic])


# --------------------------------------------------------------------------------- 1. the training set

def training_set(crawl: DataFrame, references: DataFrame, cfg: QualityConfig) -> tuple[DataFrame, dict]:
    """(rows of doc_id, dataset, text, label, held_out), sizes per source). Every reference document is a
    positive; Common Crawl documents are sampled to `negatives_per_positive` by a hash of doc_id, so the
    same input gives the same training set however it is partitioned."""
    positives = references.count()
    crawl_documents = crawl.count()
    if positives < cfg.min_documents_per_class:
        raise UserError(f"the reference corpora hold {positives} documents; training the quality classifier "
                        f"needs at least {cfg.min_documents_per_class}")
    if crawl_documents < cfg.min_documents_per_class:
        raise UserError(f"the crawl holds {crawl_documents} documents; training the quality classifier needs "
                        f"at least {cfg.min_documents_per_class} Common Crawl negatives")
    fraction = min(1.0, cfg.negatives_per_positive * positives / crawl_documents)
    negatives = crawl.where(uniform_column(F.col("doc_id"), cfg.seed, "negatives") < fraction)
    rows = (references.withColumn(LABEL_COLUMN, F.lit(1.0))
            .unionByName(negatives.withColumn(LABEL_COLUMN, F.lit(0.0)))
            .select("doc_id", "dataset", TEXT_COLUMN, LABEL_COLUMN)
            .withColumn("held_out", uniform_column(F.col("doc_id"), cfg.seed, "held_out") < cfg.holdout_fraction)
            # A fixed hash partitioning, sorted: L-BFGS then sums its gradients in the same order on every run.
            .repartition(cfg.training_partitions, "doc_id").sortWithinPartitions("doc_id")
            .persist())
    sizes = {(r["dataset"], bool(r["held_out"])): r["count"]
             for r in rows.groupBy("dataset", "held_out").count().collect()}
    datasets = sorted({d for d, _ in sizes})
    report = {
        "negative_sampling_fraction": fraction,
        "train": {d: sizes.get((d, False), 0) for d in datasets},
        "held_out": {d: sizes.get((d, True), 0) for d in datasets},
    }
    return rows, report


# ---------------------------------------------------------------------------------------------- 2. fit

def fit(rows: DataFrame, cfg: QualityConfig) -> PipelineModel:
    return build_pipeline(cfg).fit(rows.where(~F.col("held_out")))


# --------------------------------------------------------------------------------------------- 4. score

def score(model: PipelineModel, documents: DataFrame) -> DataFrame:
    """`documents` plus quality_score = P(label 1), computed in the JVM by Spark ML."""
    columns = documents.columns
    prepared = documents.withColumn(TEXT_COLUMN, F.coalesce(F.col(TEXT_COLUMN), F.lit("")))  # never null
    scored = model.transform(prepared)
    return scored.select(*[documents[c] if c != TEXT_COLUMN else F.col(c) for c in columns],
                         vector_to_array(F.col("_probability"))[1].alias("quality_score"))


# ------------------------------------------------------------------------------------ 3. held-out metrics

def held_out_metrics(model: PipelineModel, rows: DataFrame, cfg: QualityConfig) -> dict:
    """sklearn's metrics on the held-out rows (collected: labels and scores only, capped)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score, roc_curve

    held_out = score(model, rows.where(F.col("held_out")))
    collected = held_out.select(LABEL_COLUMN, "quality_score", "doc_id").orderBy("doc_id") \
        .limit(HELD_OUT_SAMPLE_CAP).collect()
    labels = np.array([r[LABEL_COLUMN] for r in collected])
    scores = np.array([r["quality_score"] for r in collected])
    if len(set(labels)) < 2:
        return {"documents": int(len(labels)), "note": "the held-out split lacks one of the classes"}
    fpr, tpr, _ = roc_curve(labels, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 201)).astype(int))  # a plot needs ≤ 201 points
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=10, strategy="quantile")
    at = []
    for threshold in cfg.thresholds:
        predicted = scores >= threshold
        at.append({"threshold": threshold, "accuracy": float(accuracy_score(labels, predicted)),
                   "precision": float(precision_score(labels, predicted, zero_division=0)),
                   "recall": float(recall_score(labels, predicted, zero_division=0))})
    return {
        "documents": int(len(labels)), "positives": int(labels.sum()),
        "auc": float(roc_auc_score(labels, scores)),
        "accuracy": float(accuracy_score(labels, scores >= 0.5)),
        "at_thresholds": at,
        "roc": {"fpr": fpr[keep].round(5).tolist(), "tpr": tpr[keep].round(5).tolist()},
        "calibration": {"mean_predicted": prob_pred.round(5).tolist(), "fraction_positive": prob_true.round(5).tolist()},
    }


# ------------------------------------------------------------------------------------- saving and loading

def model_params(model: PipelineModel) -> dict:
    hashing, logistic = model.stages[1], model.stages[2]
    return {"tokenizer": "pyspark.ml.feature.Tokenizer (lowercase, split on whitespace)",
            "num_features": hashing.getNumFeatures(), "reg_param": logistic.getRegParam(),
            "elastic_net": logistic.getElasticNetParam(), "max_iter": logistic.getMaxIter(),
            "iterations_run": logistic.summary.totalIterations if logistic.hasSummary else None}


def load_classifier(path: str) -> PipelineModel:
    """A saved quality PipelineModel; anything else is a user error in one sentence. The folder is checked
    (check_classifier_folder) before Spark reads a byte of it."""
    check_classifier_folder(path)
    try:
        model = PipelineModel.load(path)
    except Exception as error:  # py4j wraps the JVM's reasons in many types
        raise UserError(f"cannot load the classifier at {path}: {str(error).splitlines()[0][:200]}") from None
    stages = model.stages
    if (len(stages) != 3 or not isinstance(stages[0], Tokenizer) or not isinstance(stages[1], HashingTF)
            or not isinstance(stages[2], LogisticRegressionModel) or stages[0].getInputCol() != TEXT_COLUMN):
        raise UserError(f"--classifier {path} is not a quality classifier (Tokenizer(text) → HashingTF → "
                        f"LogisticRegression)")
    return model


# --------------------------------------------------------------------- checking a folder before Spark reads it

# What build_pipeline saves, stage by stage: PySpark imports the Python twin of whatever class a stage's
# metadata names (org.apache.spark -> pyspark) and calls its load, so only these exact names may reach it.
PIPELINE_MODEL_CLASS = "org.apache.spark.ml.PipelineModel"
STAGE_CLASSES = ("org.apache.spark.ml.feature.Tokenizer", "org.apache.spark.ml.feature.HashingTF",
                 "org.apache.spark.ml.classification.LogisticRegressionModel")
# Spark's Identifiable.randomUID (and PySpark's): the class's simple name, "_", the last 12 hex digits of a UUID.
_UID = re.compile(r"[A-Za-z][A-Za-z0-9]*_[0-9a-f]{12}")
# Spark's text writer names the one line `part-00000-<job uuid>-c000.txt`; Spark 2 and 3 wrote `part-00000`.
_METADATA_PART = re.compile(r"part-00000(-[0-9a-f-]{36}-c000(\.txt)?)?")
METADATA_FILE_CAP_BYTES = 1 << 20  # a real one is ~1 KB; the cap keeps a crafted one from filling memory
CLASSIFIER_ENTRIES_CAP = 10_000  # files and folders walked under --classifier (a real model has ~30)


def _refuse(path: str, why: str) -> UserError:
    return UserError(f"--classifier {path} is not a quality classifier saved by this toolkit: {why}")


def _inside(root: Path, path: Path, shown: str) -> Path:
    """`path` resolved (symlinks followed), which must stay under root."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise _refuse(shown, f"{path.relative_to(root)} leads outside the folder")
    return resolved


def _check_tree(root: Path, shown: str):
    """Every file and folder under root resolves inside it, and there are not absurdly many of them."""
    entries = 0
    for folder, names, files in os.walk(root):  # os.walk does not descend into symlinked folders
        for name in names + files:
            entries += 1
            if entries > CLASSIFIER_ENTRIES_CAP:
                raise _refuse(shown, f"it holds more than {CLASSIFIER_ENTRIES_CAP:,} files")
            _inside(root, Path(folder) / name, shown)


def _no_duplicate_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):  # Python keeps the last duplicate, the JVM's json4s may not: refuse
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def _read_metadata(root: Path, folder: Path, shown: str) -> dict:
    """The JSON object Spark's `spark.read.text(folder/metadata).first()` would parse: the first line of the
    one visible file (Spark skips names starting with "_" or "."); anything ambiguous is refused."""
    where = (folder / "metadata").relative_to(root)
    metadata = _inside(root, folder / "metadata", shown)
    if not metadata.is_dir():
        raise _refuse(shown, f"{where}/ is missing")
    names = sorted(p.name for p in metadata.iterdir())
    parts = [n for n in names if not n.startswith(("_", "."))]
    extras = [n for n in names if n.startswith(("_", ".")) and n != "_SUCCESS" and not
              (n.startswith(".") and n.endswith(".crc"))]  # Spark reads "_metadata" files too: allow none
    if len(parts) != 1 or not _METADATA_PART.fullmatch(parts[0]) or extras:
        raise _refuse(shown, f"{where}/ holds {names[:5]}, not one part-00000 file")
    part = _inside(root, metadata / parts[0], shown)
    if not part.is_file() or part.stat().st_size > METADATA_FILE_CAP_BYTES:
        raise _refuse(shown, f"{where}/{parts[0]} is not a file of at most {METADATA_FILE_CAP_BYTES:,} bytes")
    with open(part, "rb") as f:
        raw = f.read(METADATA_FILE_CAP_BYTES + 1)
    try:
        text = raw.decode("utf-8").removesuffix("\n")
        if "\n" in text or "\r" in text:  # Spark would read only the first line: what we check must be all
            raise ValueError("more than one line")
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _refuse(shown, f"{where}/{parts[0]} is not one JSON line ({type(error).__name__})") from None
    if not isinstance(value, dict) or not isinstance(value.get("paramMap"), dict):
        raise _refuse(shown, f"{where}/{parts[0]} is not Spark ML metadata")
    return value


def _check_names(metadata: dict, cls: str, uid: str | None, where: str, shown: str):
    if metadata.get("class") != cls:
        raise _refuse(shown, f"{where} names class {str(metadata.get('class'))[:80]!r}, not {cls}")
    found = metadata.get("uid")
    if not isinstance(found, str) or not _UID.fullmatch(found) or (uid is not None and found != uid):
        raise _refuse(shown, f"{where} has uid {str(found)[:80]!r}, not a Spark uid"
                      + (f" equal to {uid}" if uid else ""))


def check_classifier_folder(path: str):
    """Refuse, with one sentence, a --classifier folder that is not exactly what `fit` saves: plain file reads
    only, before any Spark call, because PySpark's PipelineModel.load imports the Python module each stage's
    metadata names. The folder must hold metadata/ naming PipelineModel with well-formed stageUids, and stages/
    exactly one `<i>_<uid>` folder per uid whose metadata names the expected class (STAGE_CLASSES) and uid;
    every path under it resolves inside it."""
    if not os.path.exists(os.path.join(path, "metadata")):
        raise UserError(f"--classifier {path} is not a saved Spark PipelineModel (no metadata/ inside)")
    root = Path(path).resolve()
    _check_tree(root, path)
    top = _read_metadata(root, root, path)
    _check_names(top, PIPELINE_MODEL_CLASS, None, "metadata/", path)
    uids = top["paramMap"].get("stageUids")
    if (not isinstance(uids, list) or len(uids) != len(STAGE_CLASSES)
            or not all(isinstance(u, str) and _UID.fullmatch(u) for u in uids)):
        raise _refuse(path, f"metadata/ lists stageUids {str(uids)[:120]}, not {len(STAGE_CLASSES)} Spark uids")
    digits = len(str(len(uids)))  # PipelineSharedReadWrite.getStagePath: the index zero-padded, "_", the uid
    expected = [f"{i:0{digits}d}_{uid}" for i, uid in enumerate(uids)]
    stages = _inside(root, root / "stages", path)
    found = sorted(p.name for p in stages.iterdir()) if stages.is_dir() else []
    if found != sorted(expected):
        raise _refuse(path, f"stages/ holds {found[:5]}, not exactly {expected}")
    for name, uid, cls in zip(expected, uids, STAGE_CLASSES):
        _check_names(_read_metadata(root, root / "stages" / name, path), cls, uid, f"stages/{name}/metadata/", path)
