"""The shards stage: documents → BPE tokens → per-dataset, memory-mappable token files and manifest.json,
the hand-off to model/train.py (format: model/shards.py's docstring).

Numbered steps:
  1. tokenizer      train a byte-level BPE on a doc_id-hash sample of the input (or load --tokenizer)
  2. tokenize       Spark: documents range-partitioned and sorted by (dataset, split, doc_id); each task
                    encodes its rows in batches (tokenizer loaded once per task) and writes one piece file
                    per (dataset, split) it holds, plus an index row per document
  3. assemble       pieces concatenated in partition order (= doc_id order) into fixed-size files
  4. manifest       manifest.json + OUT/reports/mixture.json (Table 2.2 for this run)
The output bytes depend only on the input documents and the config, never on the partitioning.
"""
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from corpus.config import ShardsConfig
from corpus.counters import count_stage
from corpus.errors import UserError
from corpus.mixture import mixture_table, resolve_weights
from corpus.parquet_parts import write_sorted_parts
from corpus.resample import uniform_column
from corpus.schema import FATE_COLUMNS
from corpus.shards import FORMAT, MANIFEST_FILE, SPLITS, TOKENIZER_FILE
from corpus.stage import Stage, StageContext
from corpus.stage_output import COUNTS_FILE, SETTINGS_FILE, SUCCESS_MARKER, write_json_atomic
from corpus.tokenizer import EOT, load_tokenizer, token_dtype, train_tokenizer

STAGE = "shards"
MIXTURE_FILE = "mixture.json"  # copied to OUT/reports/ when the stage commits
NOT_IN_MIXTURE = "not_in_mixture"  # fate reason: the document's dataset has weight 0
DOCUMENTS_DIR = "documents"  # the per-document index (doc_id, dataset, split, tokens)
FATE_DIR = "fate"
PIECES_DIR = "pieces"  # per-task token pieces, removed once assembled
# Everything the stage writes beside the <dataset>/ folders: a dataset of one of these names would overwrite
# (or, pieces/, be removed with) the stage's own files. Compared casefolded, for case-insensitive disks.
RESERVED_NAMES = frozenset({DOCUMENTS_DIR, FATE_DIR, PIECES_DIR, TOKENIZER_FILE, MANIFEST_FILE, MIXTURE_FILE,
                            COUNTS_FILE, SETTINGS_FILE, SUCCESS_MARKER})
INDEX_SCHEMA = "doc_id string, dataset string, split string, tokens long"
COPY_CHUNK_TOKENS = 2**22



def check_dataset_name(name: str, given_as: str) -> None:
    """Refuse a dataset name that is one of the names the stage writes beside the dataset folders."""
    if name.casefold() in {reserved.casefold() for reserved in RESERVED_NAMES}:
        raise UserError(f"{given_as} names the dataset {name!r}, which the shards stage reserves for its own "
                        f"OUT/shards/{name}; choose another name")


# ------------------------------------------------------------------------------------------- 1. tokenizer

def tokenizer_for(documents: DataFrame, cfg: ShardsConfig):
    """A loaded --tokenizer, or a BPE trained on a sample of `documents` (sorted by doc_id: same sample,
    same order, same vocabulary on every run)."""
    if cfg.tokenizer:
        return load_tokenizer(cfg.tokenizer), {"source": f"loaded from {cfg.tokenizer}"}
    total_chars = documents.agg(F.sum(F.length("text"))).first()[0] or 0
    fraction = min(1.0, cfg.tokenizer_sample_chars / max(total_chars, 1))
    sample = documents.where(uniform_column(F.col("doc_id"), cfg.seed, "tokenizer") < fraction) \
        .select("doc_id", "text").orderBy("doc_id")
    texts = (row["text"] for row in sample.toLocalIterator())
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    return tokenizer, {"source": "trained", "sample_fraction": fraction, "corpus_chars": total_chars}


# -------------------------------------------------------------------------------------------- 2. tokenize

def _piece_path(pieces_dir: str, dataset: str, split: str, partition: int) -> str:
    return os.path.join(pieces_dir, dataset, split, f"{partition:05d}.bin")


def _tokenize_partition(batches, tokenizer_json: str, eot_id: int, dtype: str, pieces_dir: str):
    """mapInArrow: rows (dataset, split, doc_id, text) in sorted order → piece files + index rows."""
    # A task owns one core (spark.task.cpus): one tokenizer thread, not a pool per task fighting the others.
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    from tokenizers import Tokenizer

    from corpus.tokenizer import encode_documents, prepared
    tokenizer = prepared(Tokenizer.from_str(tokenizer_json))  # once per task
    context = TaskContext.get()
    partition, attempt = context.partitionId(), f"{context.stageId()}-{context.attemptNumber()}"
    open_pieces: dict[tuple[str, str], tuple[str, object]] = {}
    try:
        for batch in batches:
            columns = batch.to_pydict()
            keys = list(zip(columns["dataset"], columns["split"]))
            start = 0
            while start < len(keys):  # runs of one (dataset, split): sorted input keeps them contiguous
                end = start
                while end < len(keys) and keys[end] == keys[start]:
                    end += 1
                tokens, lengths = encode_documents(tokenizer, columns["text"][start:end], eot_id, np.dtype(dtype))
                if keys[start] not in open_pieces:
                    final = _piece_path(pieces_dir, *keys[start], partition)
                    os.makedirs(os.path.dirname(final), exist_ok=True)
                    tmp = f"{final}.attempt-{attempt}"
                    open_pieces[keys[start]] = (final, open(tmp, "wb"))
                tokens.tofile(open_pieces[keys[start]][1])
                yield pa.RecordBatch.from_pydict({
                    "doc_id": columns["doc_id"][start:end], "dataset": columns["dataset"][start:end],
                    "split": columns["split"][start:end], "tokens": lengths})
                start = end
    finally:
        for _, handle in open_pieces.values():
            handle.close()
    for final, handle in open_pieces.values():  # a retried task's attempt replaces the piece whole
        os.replace(handle.name, final)


def tokenize(spark: SparkSession, documents: DataFrame, tokenizer, stage_dir: Path, parts: int,
             cfg: ShardsConfig, range_partitions: int | None = None) -> None:
    """Write pieces/ and the per-document index documents/ (doc_id, dataset, split, tokens)."""
    split = F.when(uniform_column(F.col("doc_id"), cfg.seed, "validation") < cfg.val_fraction, "val") \
        .otherwise("train")
    rows = documents.select("dataset", split.alias("split"), "doc_id", F.coalesce("text", F.lit("")).alias("text"))
    ranges = range_partitions or max(2, spark.sparkContext.defaultParallelism * 2)  # any count: same output
    ordered = rows.repartitionByRange(ranges, "dataset", "split", "doc_id") \
        .sortWithinPartitions("dataset", "split", "doc_id")
    dtype = token_dtype(tokenizer.get_vocab_size()).name
    tokenizer_json, eot_id = tokenizer.to_str(), tokenizer.token_to_id(EOT)
    pieces_dir = str((stage_dir / PIECES_DIR).resolve())
    index = ordered.mapInArrow(
        lambda batches: _tokenize_partition(batches, tokenizer_json, eot_id, dtype, pieces_dir), INDEX_SCHEMA)
    write_sorted_parts(index, stage_dir / DOCUMENTS_DIR, parts)


# -------------------------------------------------------------------------------------------- 3. assemble

def assemble(stage_dir: Path, dataset: str, split: str, dtype: np.dtype, shard_tokens: int) -> list[dict]:
    """Concatenate a (dataset, split)'s pieces in partition order into files of `shard_tokens` tokens."""
    pieces = sorted((stage_dir / PIECES_DIR / dataset / split).glob("*.bin"))
    out_dir = stage_dir / dataset
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[dict] = []
    current, written = None, 0

    def start_file():
        path = out_dir / f"{split}-{len(files):05d}.bin"
        files.append({"path": f"{dataset}/{path.name}", "tokens": 0})
        return open(path, "wb")

    for piece in pieces:
        tokens = np.memmap(piece, dtype=dtype, mode="r") if piece.stat().st_size else np.zeros(0, dtype)
        position = 0
        while position < len(tokens):
            if current is None or written == shard_tokens:
                if current is not None:
                    current.close()
                current, written = start_file(), 0
            take = min(shard_tokens - written, len(tokens) - position, COPY_CHUNK_TOKENS)
            tokens[position:position + take].tofile(current)
            files[-1]["tokens"] += take
            written += take
            position += take
        del tokens
    if current is not None:
        current.close()
    return files


# ------------------------------------------------------------------------------------------ run the stage

def _index_counts(spark: SparkSession, stage_dir: Path) -> dict:
    rows = spark.read.parquet(str(stage_dir / DOCUMENTS_DIR)).groupBy("dataset", "split") \
        .agg(F.count("*").alias("documents"), F.sum("tokens").alias("tokens")).collect()
    return {(r["dataset"], r["split"]): (r["documents"], r["tokens"]) for r in rows}


def _fate_rows(excluded: DataFrame) -> DataFrame:
    columns = {"stage": F.lit(STAGE), "reason": F.lit(NOT_IN_MIXTURE),
               "detail": F.concat(F.lit("dataset "), F.col("dataset"), F.lit(" has weight 0"))}
    return excluded.select(*[columns.get(c, F.col(c) if c in excluded.columns else F.lit(None).cast("string"))
                             .alias(c) for c in FATE_COLUMNS])


def run_shards(spark: SparkSession, documents_dir: Path, stage_dir: Path, cfg: ShardsConfig, log=print,
               range_partitions: int | None = None) -> dict:
    documents = spark.read.parquet(str(documents_dir))
    datasets = sorted(r["dataset"] for r in documents.select("dataset").distinct().collect())
    if not datasets:
        raise UserError(f"the shards stage found no documents in {documents_dir}")
    for dataset in datasets:
        check_dataset_name(dataset, f"the input {documents_dir}")
    weights, warnings = resolve_weights(datasets, dict(cfg.weights))
    for warning in warnings:
        log(f"warning: {warning}")
    parts = max(1, len(list(documents_dir.glob("*.parquet"))))
    mixed = documents.where(F.col("dataset").isin(list(weights)))
    write_sorted_parts(_fate_rows(documents.where(~F.col("dataset").isin(list(weights)))),
                       stage_dir / FATE_DIR, parts, prefix=NOT_IN_MIXTURE)

    tokenizer, tokenizer_report = tokenizer_for(mixed, cfg)
    tokenizer.save(str(stage_dir / TOKENIZER_FILE))
    tokenize(spark, mixed, tokenizer, stage_dir, parts, cfg, range_partitions)

    vocab_size, dtype = tokenizer.get_vocab_size(), token_dtype(tokenizer.get_vocab_size())
    counts = _index_counts(spark, stage_dir)
    manifest_datasets, train_tokens, val_tokens, documents_per_dataset = {}, {}, {}, {}
    for dataset in sorted(weights):
        entry = {}
        for split in SPLITS:
            files = assemble(stage_dir, dataset, split, dtype, cfg.shard_tokens)
            n_documents, n_tokens = counts.get((dataset, split), (0, 0))
            assert sum(f["tokens"] for f in files) == (n_tokens or 0), f"{dataset}/{split}: pieces lost tokens"
            entry[split] = {"tokens": int(n_tokens or 0), "documents": int(n_documents), "files": files}
        train_tokens[dataset], val_tokens[dataset] = entry["train"]["tokens"], entry["val"]["tokens"]
        documents_per_dataset[dataset] = entry["train"]["documents"] + entry["val"]["documents"]
        manifest_datasets[dataset] = entry
    shutil.rmtree(stage_dir / PIECES_DIR)

    budget = cfg.token_budget or sum(train_tokens.values())
    mixture = mixture_table(weights, dict(cfg.weights), train_tokens, val_tokens, documents_per_dataset, budget,
                            warnings)
    for row in mixture["datasets"]:
        manifest_datasets[row["dataset"]] = {"weight": row["weight"], "epochs": row["epochs"],
                                             **manifest_datasets[row["dataset"]]}
    manifest = {"format": FORMAT, "tokenizer": TOKENIZER_FILE, "vocab_size": vocab_size, "dtype": dtype.name,
                "eot_id": tokenizer.token_to_id(EOT), "budget_tokens": budget, "datasets": manifest_datasets,
                "tokenizer_info": tokenizer_report, "config": asdict(cfg)}
    write_json_atomic(stage_dir / MANIFEST_FILE, manifest)
    write_json_atomic(stage_dir / MIXTURE_FILE, mixture)
    stage_counts = count_stage(spark, stage_dir, STAGE, unit="documents: the previous stage's output")
    write_json_atomic(stage_dir / COUNTS_FILE, stage_counts)
    return stage_counts


def _stage_settings(context: StageContext) -> dict:
    return {"config": asdict(context.config), "input": context.upstream_settings()}


def _stage_run(context: StageContext) -> dict:
    return run_shards(context.spark, context.upstream_documents, context.stage_dir, context.config, context.log)


def _done(context: StageContext) -> str:
    return f"shards: {context.output.final / MANIFEST_FILE}  mixture: {context.report_path(MIXTURE_FILE)}"


PIPELINE_STAGE = Stage(STAGE, config="shards", settings=_stage_settings, run=_stage_run, reports=(MIXTURE_FILE,),
                       section="mixture", done=_done)
