"""The decontam stage on Spark (GPT-3 Appendix C): remove benchmark text from the training documents, then
measure per benchmark which examples are still dirty, before and after.

The benchmarks' gram set is built once on the driver (corpus.decontam.build_index: sorted uint64 hashes)
and broadcast; documents stream through `mapInArrow`, and only the hits (rare) come out. "In more than 10
training documents" is a distributed count over the hits. Documents without a live hit pass through
untouched; the others are split by corpus.decontam.split_document. A benchmark set over
`broadcast_max_grams` is joined instead: every document gram is emitted and joined with the benchmark grams.

Output under the stage directory: documents/ (the untouched documents plus the kept pieces, every input
column carried through, plus `parent_doc_id`: null, or the document a piece was cut from), fate/
(`contaminated_span`, `short_piece`, `too_many_pieces`), benchmarks/<name>.clean.jsonl and .dirty.jsonl
(dirty = still dirty after filtering), counts.json and contamination.json (copied to OUT/reports/).
"""
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from corpus.benchmarks import Benchmark, file_digest, list_benchmark_files, load_benchmarks
from corpus.config import DecontamConfig
from corpus.counters import count_stage
from corpus.decontam import (CONTAMINATED_SPAN, FILTER, KEPT, MEASURE, SHORT_PIECE, TOO_MANY_PIECES, GramIndex,
                             WordHasher, build_index, dirty_examples, is_synthetic, document_grams, find_hits, split_document,
                             window, words)
from corpus.errors import UserError
from corpus.out_dir import publish_copy, require_replaceable_folder
from corpus.ids import stable_hash
from corpus.parquet_parts import write_sorted_parts
from corpus.schema import FATE_COLUMNS
from corpus.stage import Stage, StageContext
from corpus.stage_output import COUNTS_FILE, write_json_atomic

STAGE = "decontam"
REPORT_FILE = "contamination.json"  # copied to OUT/reports/ when the stage commits
BENCHMARKS_DIR = "benchmarks"  # copied to OUT/benchmarks/ when the stage commits
UNIT = ("text units: a document that passes or is dropped whole counts once; a document a benchmark gram "
        "splits counts once per piece and once per removed span")
HIT_ARROW = pa.schema([("doc_id", pa.string()), ("kind", pa.string()), ("n", pa.int32()), ("hash", pa.int64()),
                       ("start", pa.int32()), ("end", pa.int32()), ("owner", pa.int32())])
HIT_SCHEMA = "doc_id string, kind string, n int, hash long, start int, end int, owner int"
MATCHED_LABELS_SHOWN = 10  # example labels named in one fate detail


@dataclass(frozen=True)
class DecontamInputs:
    documents_dir: Path  # the previous stage's documents/
    benchmarks: tuple[str, ...]  # the --benchmarks paths (files or directories)


def piece_doc_id(parent: str, number: int) -> str:
    """doc_id of a piece: 16 hex digits like every doc_id (corpus.resample relies on it), naming its parent."""
    return stable_hash(f"{parent}#{number}")


# ------------------------------------------------------------------------------- 2. hits on Spark

def _hits_broadcast(frame: DataFrame, index_bc, kinds: tuple[str, ...]) -> DataFrame:
    def find(batches):
        index, hasher = index_bc.value, WordHasher()
        for batch in batches:
            rows = {name: [] for name in HIT_ARROW.names}
            for doc_id, text in zip(batch.column("doc_id").to_pylist(), batch.column("text").to_pylist()):
                for hit in find_hits(text or "", index, hasher, kinds):
                    for name, value in zip(HIT_ARROW.names, (doc_id, *asdict(hit).values())):
                        rows[name].append(value)
            yield pa.RecordBatch.from_pydict(rows, schema=HIT_ARROW)
    return frame.select("doc_id", "text").mapInArrow(find, HIT_SCHEMA)


def _hits_join(frame: DataFrame, index: GramIndex, kinds: tuple[str, ...], grams_path: Path) -> DataFrame:
    """The fallback for a benchmark set too large to broadcast: every document gram joined with the benchmark's."""
    spark = frame.sparkSession
    if not grams_path.exists():
        tables = [pa.table({"kind": [t.kind] * len(t.hashes), "n": pa.array([t.n] * len(t.hashes), pa.int32()),
                            "hash": pa.array(t.hashes.view("int64")), "owner": pa.array(t.owners, pa.int32())})
                  for t in index.tables]
        pq.write_table(pa.concat_tables(tables), grams_path)
    grams = spark.read.parquet(str(grams_path)).where(F.col("kind").isin(list(kinds)))
    sizes = sorted({t.n for t in index.tables if t.kind in kinds})
    schema = pa.schema([f for f in HIT_ARROW if f.name not in ("kind", "owner")])

    def emit(batches):
        hasher = WordHasher()
        for batch in batches:
            columns = {name: [] for name in schema.names}
            for doc_id, text in zip(batch.column("doc_id").to_pylist(), batch.column("text").to_pylist()):
                for n, hashes, starts, ends in document_grams(text or "", sizes, hasher):
                    columns["doc_id"] += [doc_id] * len(hashes)
                    columns["n"] += [n] * len(hashes)
                    columns["hash"] += hashes.view("int64").tolist()
                    columns["start"] += list(starts)
                    columns["end"] += list(ends)
            yield pa.RecordBatch.from_pydict(columns, schema=schema)
    document_grams_frame = frame.select("doc_id", "text").mapInArrow(emit, "doc_id string, n int, hash long, "
                                                                           "start int, end int")
    return document_grams_frame.join(grams, ["n", "hash"]).select(*HIT_ARROW.names)


# ------------------------------------------------------------------------------ 4. split on Spark

def _split_schema(documents: DataFrame) -> StructType:
    extra = [("parent_doc_id", StringType()), ("piece_kind", StringType()), ("span_start", IntegerType()),
             ("span_end", IntegerType()), ("match_start", IntegerType()), ("match_end", IntegerType()),
             ("matched", StringType())]
    return StructType(list(documents.schema.fields) + [StructField(name, kind) for name, kind in extra])


def _matched(labels: list[str], owners) -> str:
    names = list(dict.fromkeys(labels[o] for o in owners))
    more = f" (+{len(names) - MATCHED_LABELS_SHOWN} more)" if len(names) > MATCHED_LABELS_SHOWN else ""
    return ",".join(names[:MATCHED_LABELS_SHOWN]) + more


def _splitter(columns: list[str], schema: StructType, labels_bc, cfg: DecontamConfig, timezone: str):
    arrow = to_arrow_schema(schema, timezone=timezone)

    def split(batches):
        labels = labels_bc.value
        for batch in batches:
            out = []
            for row in batch.to_pylist():
                text, parent = row["text"] or "", row["doc_id"]
                result = split_document(text, [(m["start"], m["end"], m["owner"]) for m in row["_matches"]], cfg)
                base = {c: row[c] for c in columns}
                none = dict(parent_doc_id=parent, span_start=None, span_end=None, match_start=None,
                            match_end=None, matched=None)
                if result.dropped:
                    owners = [owner for span in result.spans for _, _, owner in span.matches]
                    out.append({**base, **none, "text": None, "piece_kind": TOO_MANY_PIECES,
                                "span_start": len(result.pieces), "matched": _matched(labels, owners)})
                    continue
                for span in result.spans:
                    start, end, _ = span.matches[0]
                    out.append({**base, **none, "text": text[span.start:span.end], "piece_kind": CONTAMINATED_SPAN,
                                "span_start": span.start, "span_end": span.end, "match_start": start,
                                "match_end": end, "matched": _matched(labels, [o for _, _, o in span.matches])})
                for piece in result.pieces:
                    out.append({**base, **none, "doc_id": piece_doc_id(parent, piece.number),
                                "text": text[piece.start:piece.end], "piece_kind": KEPT if piece.kept else SHORT_PIECE,
                                "span_start": piece.start, "span_end": piece.end})
            yield pa.RecordBatch.from_pylist(out, schema=arrow)
    return split


def _fate_rows(removed: DataFrame) -> DataFrame:
    detail = (F.when(F.col("piece_kind") == CONTAMINATED_SPAN,
                     F.format_string("span=%d:%d matched=%s", "span_start", "span_end", "matched"))
              .when(F.col("piece_kind") == SHORT_PIECE,
                    F.format_string("parent=%s chars=%d", "parent_doc_id", F.length("text")))
              .otherwise(F.format_string("pieces=%d matched=%s", "span_start", "matched")))
    columns = {"stage": F.lit(STAGE), "reason": F.col("piece_kind"), "detail": detail}
    return removed.select(*[columns.get(c, F.col(c)).alias(c) for c in FATE_COLUMNS])


# ---------------------------------------------------------------------------------------- report

def _dataset_table(documents: DataFrame, touched: DataFrame, split: DataFrame) -> dict:
    def by_dataset(frame: DataFrame, *aggregates) -> dict:
        return {r["dataset"]: r for r in frame.groupBy("dataset").agg(*aggregates).collect()}
    totals = by_dataset(documents, F.count("*").alias("n"))
    parents = by_dataset(touched, F.count("*").alias("n"), F.sum(F.length("text")).alias("chars"))
    kinds = by_dataset(split, *[F.sum((F.col("piece_kind") == k).cast("int")).alias(k) for k in
                                (KEPT, SHORT_PIECE, CONTAMINATED_SPAN, TOO_MANY_PIECES)],
                       F.sum(F.when(F.col("piece_kind") == KEPT, F.length("text")).otherwise(0)).alias("kept_chars"))
    table = {}
    for dataset in sorted(totals):
        parent, kind = parents.get(dataset), kinds.get(dataset)
        touched_n = parent["n"] if parent else 0
        dropped = kind[TOO_MANY_PIECES] if kind else 0
        table[dataset] = {"documents": totals[dataset]["n"], "touched": touched_n, "split": touched_n - dropped,
                          "dropped": dropped, "pieces_kept": kind[KEPT] if kind else 0,
                          "pieces_short": kind[SHORT_PIECE] if kind else 0,
                          "spans_removed": kind[CONTAMINATED_SPAN] if kind else 0,
                          "characters_removed": (parent["chars"] - kind["kept_chars"]) if parent else 0}
    return table


def _shown_spans(split: DataFrame, cfg: DecontamConfig) -> list[dict]:
    """A few removed spans with the matched gram in its context, spread over benchmarks."""
    rows = (split.where(F.col("piece_kind") == CONTAMINATED_SPAN)
            .select("doc_id", "dataset", "url", "text", "span_start", "span_end", "match_start", "match_end", "matched")
            .orderBy("doc_id", "span_start").limit(50 * cfg.report_spans).collect())
    chosen, benchmarks = [], set()
    for rank in (0, 1):  # first one span per benchmark, then fill up in doc_id order
        for r in rows:
            benchmark = r["matched"].split("#")[0]
            if len(chosen) < cfg.report_spans and r not in chosen and (rank or benchmark not in benchmarks):
                chosen.append(r)
                benchmarks.add(benchmark)
    spans = []
    for r in chosen:
        a, b = r["match_start"] - r["span_start"], r["match_end"] - r["span_start"]
        context = cfg.report_context_chars
        spans.append({"doc_id": r["doc_id"], "dataset": r["dataset"], "url": r["url"], "matched": r["matched"],
                      "span": [r["span_start"], r["span_end"]], "before": r["text"][max(0, a - context):a],
                      "match": r["text"][a:b], "after": r["text"][b:b + context]})
    return spans


def _ignored_grams(common: list, index: GramIndex, benchmarks: list[Benchmark]) -> list[dict]:
    """The grams ignored as too common, with their words (recovered from the example that holds them)."""
    examples = {f"{b.name}#{e.id}": e for b in benchmarks for e in b.examples}
    hasher, shown = WordHasher(), []
    for row in common[:20]:
        label = index.labels[row["owner"]]
        tokens = words(examples[label].text)[0]
        text = next((" ".join(tokens[i:i + row["n"]]) for n, grams, _, _ in
                     document_grams(" ".join(tokens), [row["n"]], hasher)
                     for i, value in enumerate(grams.view("int64").tolist()) if value == row["hash"]), None)
        shown.append({"n": row["n"], "documents": row["documents"], "example": label, "text": text})
    return shown


def _write_subsets(benchmarks: list[Benchmark], dirty: dict[str, list[str]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for benchmark in benchmarks:
        bad = set(dirty[benchmark.name])
        for label, keep in (("clean", False), ("dirty", True)):
            lines = [e.line + "\n" for e in benchmark.examples if (e.id in bad) == keep]
            (directory / f"{benchmark.name}.{label}.jsonl").write_text("".join(lines), encoding="utf-8")


# ------------------------------------------------------------------------------------------- stage

def run_decontam(spark: SparkSession, inputs: DecontamInputs, stage_dir: Path, cfg: DecontamConfig) -> dict:
    """Filter, measure, write the stage's output and REPORT_FILE; return the counts."""
    benchmarks = load_benchmarks(inputs.benchmarks, cfg.text_fields)
    if not any(b.examples for b in benchmarks):
        raise UserError(f"the benchmarks {', '.join(inputs.benchmarks)} hold no usable example")
    index = build_index(benchmarks, cfg)
    documents = spark.read.parquet(str(inputs.documents_dir))
    columns = documents.columns
    engine = "broadcast" if index.grams <= cfg.broadcast_max_grams else "join"
    if engine == "broadcast":
        index_bc = spark.sparkContext.broadcast(index)
        find = lambda frame, kinds: _hits_broadcast(frame, index_bc, kinds)
    else:
        find = lambda frame, kinds: _hits_join(frame, index, kinds, stage_dir / "benchmark-grams.parquet")
    hits = find(documents, (FILTER, MEASURE)).persist()

    # 3. filter grams in more than max_docs_per_gram documents are ignored: a distributed count
    filter_hits = hits.where(F.col("kind") == FILTER)
    per_gram = (filter_hits.select("doc_id", "n", "hash", "owner").groupBy("n", "hash")
                .agg(F.countDistinct("doc_id").alias("documents"), F.min("owner").alias("owner")))
    common = per_gram.where(F.col("documents") > cfg.max_docs_per_gram)
    common_rows = common.orderBy(F.desc("documents"), "n", "hash").collect()
    live = filter_hits.join(F.broadcast(common.select("n", "hash")), ["n", "hash"], "left_anti")
    matches = live.groupBy("doc_id").agg(F.collect_list(F.struct("start", "end", "owner")).alias("_matches"))

    # 4. split the touched documents; the others pass through
    touched = documents.join(matches, "doc_id")
    schema = _split_schema(documents)
    labels_bc = spark.sparkContext.broadcast(index.labels)
    timezone = spark.conf.get("spark.sql.session.timeZone")
    split = touched.mapInArrow(_splitter(columns, schema, labels_bc, cfg, timezone), schema).persist()
    untouched = (documents.join(matches.select("doc_id"), "doc_id", "left_anti")
                 .withColumn("parent_doc_id", F.lit(None).cast("string")))
    kept = split.where(F.col("piece_kind") == KEPT).select(*columns, "parent_doc_id")
    parts = max(1, len(list(inputs.documents_dir.glob("*.parquet"))))
    write_sorted_parts(untouched.select(*columns, "parent_doc_id").unionByName(kept), stage_dir / "documents", parts)
    write_sorted_parts(_fate_rows(split.where(F.col("piece_kind") != KEPT)), stage_dir / "fate", parts, prefix=STAGE)

    # 5. dirty examples before filtering, and after it (untouched documents' hits plus the kept pieces')
    measure = hits.where(F.col("kind") == MEASURE)
    before = {(r["n"], r["hash"]) for r in measure.select("n", "hash").distinct().collect()}
    after_hits = (measure.join(matches.select("doc_id"), "doc_id", "left_anti").select("n", "hash")
                  .unionByName(find(kept, (MEASURE,)).select("n", "hash")).distinct())
    after = {(r["n"], r["hash"]) for r in after_hits.collect()}
    dirty_before = dirty_examples(benchmarks, index, before)
    dirty_after = dirty_examples(benchmarks, index, after)
    _write_subsets(benchmarks, dirty_after, stage_dir / BENCHMARKS_DIR)

    owner_benchmark = spark.createDataFrame([(i, label.split("#")[0]) for i, label in enumerate(index.labels)],
                                            "owner int, benchmark string")
    matched_docs = {r["benchmark"]: r["documents"] for r in live.join(F.broadcast(owner_benchmark), "owner")
                    .groupBy("benchmark").agg(F.countDistinct("doc_id").alias("documents")).collect()}
    before_chars, after_chars = window(cfg)
    report = {
        "stage": STAGE,
        "params": {**asdict(cfg), "window_before_chars": before_chars, "window_after_chars": after_chars},
        "engine": engine, "benchmark_grams": index.grams,
        "benchmarks": {b.name: {
            "path": b.path, "examples": len(b.examples), "skipped_lines": b.skipped,
            "n": index.measure_n.get(b.name), "synthetic": is_synthetic(b.name, cfg),
            "dirty_before": len(dirty_before[b.name]), "dirty_after": len(dirty_after[b.name]),
            "clean_after": len(b.examples) - len(dirty_after[b.name]),
            "documents_matched": matched_docs.get(b.name, 0),
            "dirty_ids": dirty_after[b.name], "dirty_ids_before": dirty_before[b.name],
            "clean_file": f"{BENCHMARKS_DIR}/{b.name}.clean.jsonl",
            "dirty_file": f"{BENCHMARKS_DIR}/{b.name}.dirty.jsonl"} for b in benchmarks},
        "datasets": _dataset_table(documents, touched, split),
        "ignored_grams": {"count": len(common_rows), "most_common": _ignored_grams(common_rows, index, benchmarks)},
        "spans": _shown_spans(split, cfg),
    }
    hits.unpersist()
    split.unpersist()
    (stage_dir / "benchmark-grams.parquet").unlink(missing_ok=True)
    counts = count_stage(spark, stage_dir, STAGE, unit=UNIT)
    report["counts"] = counts
    write_json_atomic(stage_dir / REPORT_FILE, report)
    write_json_atomic(stage_dir / COUNTS_FILE, counts)
    return counts


def publish(stage_final: Path, out_dir: Path) -> None:
    """Copy the committed report and clean/dirty subsets to OUT/reports/ and OUT/benchmarks/; an OUT/benchmarks
    the toolkit did not publish (a user's benchmark files, say) is refused, never replaced."""
    require_replaceable_folder(out_dir / BENCHMARKS_DIR)
    reports = out_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(stage_final / REPORT_FILE, reports / REPORT_FILE)
    publish_copy(stage_final / BENCHMARKS_DIR, out_dir / BENCHMARKS_DIR, out_dir, "benchmarks")


def _stage_settings(context: StageContext) -> dict:
    cfg = context.cfg
    if not cfg.benchmarks:
        raise UserError("the decontam stage needs benchmarks to remove (--benchmarks DIR|FILE)")
    upstream = context.upstream_settings()
    files = [f for spec in cfg.benchmarks for f in list_benchmark_files(spec)]
    return {"config": asdict(cfg.decontam), "benchmarks": list(cfg.benchmarks),
            "benchmark_files": {f: file_digest(f) for f in files}, "input": upstream}


def _stage_run(context: StageContext) -> dict:
    inputs = DecontamInputs(context.upstream_documents, context.cfg.benchmarks)
    return run_decontam(context.spark, inputs, context.stage_dir, context.config)


def _done(context: StageContext) -> str:
    return (f"contamination report: {context.report_path(REPORT_FILE)}  "
            f"clean/dirty subsets: {context.out_dir / BENCHMARKS_DIR}")


PIPELINE_STAGE = Stage(STAGE, config="decontam", settings=_stage_settings, run=_stage_run, reports=(REPORT_FILE,),
                       section="contamination", publish=lambda context: publish(context.output.final, context.out_dir),
                       replaces=lambda cfg: (cfg.out_dir / BENCHMARKS_DIR,), done=_done)
