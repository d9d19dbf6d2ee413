"""The main job: Common Crawl WARCs → GPT-3-style corpus (DESIGN.md). Thin glue: arguments → corpus.

    spark-submit jobs/filter.py                       # the embedded demo crawl → ./out
    spark-submit jobs/filter.py --warc 'crawl/*.warc.gz' --out out
    spark-submit jobs/filter.py --warc warc.paths.gz --warc-prefix https://data.commoncrawl.org/ \
        --reference webtext2=webtext2.jsonl --reference wikipedia=wiki.parquet
    spark-submit jobs/filter.py --warc more-crawl/ --classifier out/models/quality --out out2
    spark-submit jobs/filter.py --warc crawl/ --reference ... --benchmarks evals/ --benchmarks extra/lambada.jsonl
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's corpus/, even uninstalled

from corpus.benchmarks import list_benchmark_files  # noqa: E402
from corpus.config import DecontamConfig, DedupConfig, ExtractConfig, QualityConfig, ShardsConfig  # noqa: E402
from corpus.errors import UserError  # noqa: E402
from corpus.inputs import is_remote, resolve_warc_inputs  # noqa: E402
from corpus.out_dir import owned_out_dir, refuse_out_holding_inputs  # noqa: E402
from corpus.references import list_reference_files, parse_reference_spec  # noqa: E402
from corpus.stage_output import STAGES  # noqa: E402
from corpus.pipeline import PipelineConfig, input_paths, parse_stage_list  # noqa: E402

DEFAULT_DEMO_DIR = Path("demo-data")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spark-submit jobs/filter.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--warc", action="append", default=[], metavar="PATH|GLOB|DIR|warc.paths.gz|URL",
                        help="WARC input (repeatable); without it, the embedded demo crawl")
    parser.add_argument("--warc-prefix", help="prefix for a manifest's relative paths: a local directory, "
                                              "https://data.commoncrawl.org/ or s3://commoncrawl/")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run")
    parser.add_argument("--redo", action="append", default=[], metavar="STAGE",
                        help="remake a completed stage (repeatable, or 'all')")
    parser.add_argument("--demo-dir", type=Path, default=DEFAULT_DEMO_DIR,
                        help="where the demo crawl is generated when no --warc is given")
    parser.add_argument("--master", help="Spark master when run with plain python (spark-submit has its own)")
    extract = ExtractConfig()
    parser.add_argument("--max-payload-bytes", type=int, default=extract.max_payload_bytes,
                        help="HTTP payloads over this are dropped as over_size_cap")
    parser.add_argument("--split-bytes", type=int, default=extract.split_bytes,
                        help="a WARC larger than this is cut into byte ranges of this size, one task each (the unit "
                             "of work and of resume); 0: one task per file")
    parser.add_argument("--extract-timeout", type=float, default=extract.extract_timeout_s,
                        help="seconds trafilatura may spend on one page")
    quality = QualityConfig()
    parser.add_argument("--reference", action="append", default=[], metavar="NAME=PATH",
                        help="a reference corpus (JSONL, Parquet or .txt files; repeatable): the classifier's "
                             "positives and a dataset of the mixture; without --warc, the demo's")
    parser.add_argument("--reference-text-field", default=quality.text_field,
                        help="field holding the text in reference JSONL/Parquet")
    parser.add_argument("--classifier", metavar="PATH", help="score with this saved model (e.g. "
                                                             "OUT/models/quality) instead of training one")
    parser.add_argument("--alpha", type=float, default=quality.alpha,
                        help="Pareto shape: keep iff np.random.pareto(alpha) > 1 - score (GPT-3: 9)")
    parser.add_argument("--seed", type=int, default=quality.seed, help="seed of every per-document draw")
    parser.add_argument("--num-features", type=int, default=quality.num_features, help="HashingTF features")
    parser.add_argument("--reg-param", type=float, default=quality.reg_param, help="L2 strength of the classifier")
    parser.add_argument("--negatives-per-positive", type=float, default=quality.negatives_per_positive,
                        help="Common Crawl negatives sampled per reference positive")
    parser.add_argument("--holdout-fraction", type=float, default=quality.holdout_fraction,
                        help="share of the training documents held out for the classifier's metrics")
    dedup = DedupConfig()
    parser.add_argument("--dedup-engine", default=dedup.engine, choices=("spark-ml", "bands", "datasketch"),
                        help="spark-ml: Spark's MinHashLSH as GPT-3 (10 tables); bands: numpy MinHash in b bands of "
                             "r rows, for scale; datasketch: datasketch's MinHashLSH in one task, small data only")
    parser.add_argument("--dedup-features", default=dedup.features, choices=("paper", "shingles"),
                        help="paper: sets of distinct lowercased words (the classifier's features); shingles: word "
                             "n-grams of the normalised text")
    parser.add_argument("--dedup-shingle-size", type=int, default=dedup.shingle_size, help="words per shingle")
    parser.add_argument("--dedup-threshold", type=float, default=dedup.threshold,
                        help="Jaccard similarity at which two documents are duplicates (the paper gives none)")
    parser.add_argument("--dedup-bands", type=int, default=dedup.bands, help="bands of the bands engine")
    parser.add_argument("--dedup-rows", type=int, default=dedup.rows, help="MinHash rows per band")
    parser.add_argument("--dedup-tables", type=int, default=dedup.spark_ml_tables,
                        help="MinHashLSH hash tables of the spark-ml engine (GPT-3: 10)")
    parser.add_argument("--dedup-max-bucket", type=int, default=dedup.max_bucket_size,
                        help="a bucket shared by more documents is split by the next bands, not compared whole "
                             "(what no band splits is compared in overlapping windows of this size)")
    decontam = DecontamConfig()
    parser.add_argument("--benchmarks", action="append", default=[], metavar="DIR|FILE",
                        help="benchmark JSONL files to remove from the corpus (repeatable); without --warc, the demo's")
    parser.add_argument("--benchmark-text-field", action="append", default=[], metavar="FIELD",
                        help="field(s) holding a benchmark example's text (repeatable); default: detect "
                             "{context, completion} and multiple-choice {question|context, choices}")
    parser.add_argument("--decontam-ngram", type=int, default=decontam.ngram, help="words per colliding gram (GPT-3: 13)")
    parser.add_argument("--decontam-min-ngram", type=int, default=decontam.min_ngram,
                        help="shorter examples of at least this many words are matched whole")
    parser.add_argument("--decontam-window", type=int, default=decontam.window_chars,
                        help="characters removed around a colliding gram (GPT-3: 200)")
    parser.add_argument("--decontam-window-total", action="store_true",
                        help="the window is in total (half each side), not on each side")
    parser.add_argument("--decontam-min-piece", type=int, default=decontam.min_piece_chars,
                        help="pieces shorter than this many characters are dropped (GPT-3: 200)")
    parser.add_argument("--decontam-max-pieces", type=int, default=decontam.max_pieces,
                        help="a document split into more pieces is dropped whole (GPT-3: 10)")
    parser.add_argument("--decontam-max-docs-per-gram", type=int, default=decontam.max_docs_per_gram,
                        help="grams in more training documents are ignored (GPT-3: 10)")
    parser.add_argument("--synthetic-task", action="append", default=[], metavar="PATTERN",
                        help="benchmarks (fnmatch on the name) whose overlap N may fall below 8; default: "
                             + ", ".join(decontam.synthetic_tasks))
    shards = ShardsConfig()
    parser.add_argument("--vocab-size", type=int, default=shards.vocab_size,
                        help="BPE vocabulary trained by the shards stage (GPT-2/3: 50257)")
    parser.add_argument("--tokenizer", metavar="tokenizer.json", help="use this tokenizer instead of training one")
    parser.add_argument("--weight", action="append", default=[], metavar="DATASET=W",
                        help="mixture weight (repeatable; all or none); default: GPT-3 Table 2.2, renormalised")
    parser.add_argument("--token-budget", type=int, default=shards.token_budget,
                        help="training tokens the epochs are computed at (0: this run's training tokens)")
    parser.add_argument("--val-fraction", type=float, default=shards.val_fraction,
                        help="documents held out per dataset for validation")
    parser.add_argument("--shard-tokens", type=int, default=shards.shard_tokens, help="tokens per shard file")
    return parser.parse_args(argv)


def decontam_config(args: argparse.Namespace) -> DecontamConfig:
    numbers = (args.decontam_ngram, args.decontam_min_ngram, args.decontam_max_pieces)
    if min(numbers) < 1 or min(args.decontam_window, args.decontam_min_piece, args.decontam_max_docs_per_gram) < 0:
        raise UserError("--decontam-ngram, --decontam-min-ngram and --decontam-max-pieces must be positive, "
                        "the other --decontam-* numbers >= 0")
    if args.decontam_min_ngram > args.decontam_ngram:
        raise UserError("--decontam-min-ngram may not exceed --decontam-ngram")
    defaults = DecontamConfig()
    return DecontamConfig(ngram=args.decontam_ngram, min_ngram=args.decontam_min_ngram,
                          window_chars=args.decontam_window, window_per_side=not args.decontam_window_total,
                          min_piece_chars=args.decontam_min_piece, max_pieces=args.decontam_max_pieces,
                          max_docs_per_gram=args.decontam_max_docs_per_gram,
                          synthetic_tasks=tuple(args.synthetic_task) or defaults.synthetic_tasks,
                          text_fields=tuple(args.benchmark_text_field))


def dedup_config(args: argparse.Namespace) -> DedupConfig:
    from corpus.dedup_stage import check_config
    cfg = DedupConfig(engine=args.dedup_engine, features=args.dedup_features, shingle_size=args.dedup_shingle_size,
                      threshold=args.dedup_threshold, bands=args.dedup_bands, rows=args.dedup_rows,
                      spark_ml_tables=args.dedup_tables, max_bucket_size=args.dedup_max_bucket, seed=args.seed)
    check_config(cfg)
    return cfg


def shards_config(args: argparse.Namespace) -> ShardsConfig:
    from corpus.shards_stage import check_dataset_name
    weights = []
    for spec in args.weight:
        name, sep, value = spec.partition("=")
        try:
            weights.append((name.strip(), float(value)))
        except ValueError:
            raise UserError(f"--weight takes DATASET=W with a number W, got {spec!r}") from None
        if not sep or not name.strip():
            raise UserError(f"--weight takes DATASET=W, got {spec!r}")
        check_dataset_name(name.strip(), f"--weight {spec}")
    if args.vocab_size < 300 or args.shard_tokens <= 0 or args.token_budget < 0 or not 0 <= args.val_fraction < 1:
        raise UserError("--vocab-size must be >= 300 (256 bytes + merges), --shard-tokens positive, "
                        "--token-budget >= 0, --val-fraction in [0, 1)")
    if args.tokenizer and not Path(args.tokenizer).is_file():
        raise UserError(f"--tokenizer {args.tokenizer} does not exist")
    return ShardsConfig(vocab_size=args.vocab_size, weights=tuple(weights), token_budget=args.token_budget,
                        val_fraction=args.val_fraction, shard_tokens=args.shard_tokens,
                        tokenizer=str(Path(args.tokenizer).resolve()) if args.tokenizer else None)


def quality_config(args: argparse.Namespace) -> QualityConfig:
    if args.alpha <= 0 or args.num_features <= 0 or args.reg_param < 0 or args.negatives_per_positive <= 0:
        raise UserError("--alpha, --num-features and --negatives-per-positive must be positive, --reg-param >= 0")
    if not 0 < args.holdout_fraction < 1:
        raise UserError("--holdout-fraction must be between 0 and 1")
    return QualityConfig(alpha=args.alpha, seed=args.seed, num_features=args.num_features,
                         reg_param=args.reg_param, negatives_per_positive=args.negatives_per_positive,
                         holdout_fraction=args.holdout_fraction, text_field=args.reference_text_field)


def reference_specs(args: argparse.Namespace, demo_dir: Path | None, stages: tuple[str, ...]):
    from corpus.shards_stage import check_dataset_name
    specs = [parse_reference_spec(spec) for spec in args.reference]
    if not specs and demo_dir is not None and not args.classifier:
        specs = [(path.stem, str(path)) for path in sorted((demo_dir / "reference").glob("*.jsonl"))]
    names = [name for name, _ in specs]
    if len({name.casefold() for name in names}) != len(names):  # one folder on a case-insensitive disk
        raise UserError(f"--reference names a dataset twice: {', '.join(sorted(names))}")
    for name, path in specs:
        if name == QualityConfig().crawl_dataset:
            raise UserError(f"a reference corpus may not be named {name!r}, the crawl's dataset")
        check_dataset_name(name, f"--reference {name}={path}")
    for name, path in specs:
        list_reference_files(name, path)  # a missing or empty PATH fails now, before Spark starts
    if "quality" in stages and not specs and not args.classifier:
        raise UserError("the quality stage needs reference corpora to train on (--reference NAME=PATH) "
                        "or a trained model (--classifier PATH)")
    return tuple(specs)


def benchmark_specs(args: argparse.Namespace, demo_dir: Path | None, stages: tuple[str, ...]) -> tuple[str, ...]:
    specs = list(args.benchmarks)
    if not specs and demo_dir is not None:
        specs = [str(demo_dir / "benchmarks")]
    for spec in specs:
        list_benchmark_files(spec)  # a missing or empty PATH fails now, before Spark starts
    if "decontam" in stages and not specs:
        raise UserError("the decontam stage needs benchmarks to remove (--benchmarks DIR|FILE), "
                        "or leave it out with --stages")
    return tuple(str(Path(spec).resolve()) for spec in specs)


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    stages = parse_stage_list(args.stages)
    redo = frozenset(stages if "all" in args.redo else parse_stage_list(",".join(args.redo)) if args.redo else ())
    if args.max_payload_bytes <= 0 or args.extract_timeout <= 0:
        raise UserError("--max-payload-bytes and --extract-timeout must be positive")
    if args.split_bytes < 0:
        raise UserError("--split-bytes must be 0 (never split) or positive")
    specs, demo_dir = args.warc, None
    if not specs:
        from corpus.demo import generate
        demo_dir = args.demo_dir
        if not (demo_dir / "truth.json").exists():
            print(f"generating the demo crawl in {demo_dir} ...")
            generate(demo_dir)
        specs = [str(demo_dir / "crawl")]
    warcs = tuple(resolve_warc_inputs(specs, args.warc_prefix))
    extract = ExtractConfig(max_payload_bytes=args.max_payload_bytes, extract_timeout_s=args.extract_timeout,
                            split_bytes=args.split_bytes)
    if args.classifier and not Path(args.classifier).exists():
        raise UserError(f"--classifier {args.classifier} does not exist")
    if args.classifier:  # PySpark imports the modules a model folder names: check it before Spark starts
        from corpus.quality import check_classifier_folder
        check_classifier_folder(args.classifier)
    cfg = PipelineConfig(out_dir=args.out, warcs=warcs, stages=stages, redo=redo, extract=extract,
                         quality=quality_config(args), references=reference_specs(args, demo_dir, stages),
                         classifier=str(Path(args.classifier).resolve()) if args.classifier else None,
                         dedup=dedup_config(args),
                         shards=shards_config(args), decontam=decontam_config(args),
                         benchmarks=benchmark_specs(args, demo_dir, stages))
    check_out_outside_inputs(args, cfg)
    return cfg


def check_out_outside_inputs(args: argparse.Namespace, cfg: PipelineConfig) -> None:
    """--out may not be or hold an input: not the WARC files, nor a manifest or folder as given, nor a local
    --warc-prefix (corpus.pipeline.input_paths lists the rest)."""
    given = [("--warc ", spec, False) for spec in args.warc if not is_remote(spec) and os.path.exists(spec)]
    if args.warc_prefix and not is_remote(args.warc_prefix):
        given.append(("--warc-prefix ", args.warc_prefix, False))
    refuse_out_holding_inputs(cfg.out_dir, input_paths(cfg) + given)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = pipeline_config(args)  # user errors surface before the 7-second Spark start
        from corpus.pipeline import run_pipeline
        from corpus.spark import build_session
        with owned_out_dir(cfg.out_dir):  # so is a foreign --out, or another run writing into it
            spark = build_session("gpt3-corpus filter", master=args.master)
            try:
                funnel = run_pipeline(spark, cfg)
            finally:
                spark.stop()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    last = funnel[-1]
    print(f"output: {cfg.out_dir.resolve()}  reports: {(cfg.out_dir / 'reports').resolve()}")
    if last["out"] == 0:
        print(f"error: no usable document remains after the {last['stage']} stage; see {cfg.out_dir}/"
              f"{last['stage']}/fate for why", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
