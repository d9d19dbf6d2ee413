"""One frozen dataclass per stage, and JobConfig for what the job reads and writes. Every default names its unit
or its source; a field's metadata holds its command-line help (corpus.cli builds the flags from it), and each
config checks itself in __post_init__, so a bad value is a one-sentence UserError before Spark starts."""
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import UserError
from corpus.stage_output import STAGES, parse_stage_list

MiB = 1024 * 1024
CRAWL_DATASET = "common_crawl"  # the `dataset` of extracted documents; reference datasets have their own names
DEDUP_ENGINES = ("spark-ml", "bands", "datasketch")
DEDUP_FEATURES = ("paper", "shingles")  # corpus.dedup.PAPER, corpus.dedup.SHINGLES


def setting(default, help: str, **cli):
    """A field a user may set; `cli` holds corpus.cli's optional keys (flag, negative, parse, metavar, choices)."""
    return field(default=default, metadata={"help": help, **cli})


def internal(default):
    """A field no flag or config file sets: its value must agree with other configs' (the crawl's dataset name)."""
    return field(default=default, metadata={"cli": False})


def _reference_spec(text: str) -> tuple[str, str]:
    from corpus.references import parse_reference_spec  # imports Spark: only when a reference is given
    return parse_reference_spec(text)


def _check_dataset_name(name: str, given_as: str) -> None:
    from corpus.shards_stage import check_dataset_name  # imports Spark: only when a name is given
    check_dataset_name(name, given_as)


def _check_seed(seed: int) -> None:
    if seed < 0:  # numpy's generators take no negative seed
        raise UserError("--seed must be >= 0")


def parse_weight(spec: str) -> tuple[str, float]:
    """'webtext2=0.22' → ('webtext2', 0.22)."""
    name, sep, value = spec.partition("=")
    try:
        weight = float(value)
    except ValueError:
        raise UserError(f"--weight takes DATASET=W with a number W, got {spec!r}") from None
    if not sep or not name.strip():
        raise UserError(f"--weight takes DATASET=W, got {spec!r}")
    return name.strip(), weight


@dataclass(frozen=True)
class JobConfig:
    """What jobs/filter.py reads and where it writes, as the user names them; corpus.pipeline.PipelineConfig
    holds them resolved (WARC files listed, paths absolute, the demo's inputs filled in)."""

    warc: tuple[str, ...] = setting((), "WARC input (repeatable); without it, the embedded demo crawl",
                                    metavar="PATH|GLOB|DIR|warc.paths.gz|URL")
    warc_prefix: str | None = setting(None, "prefix for a manifest's relative paths: a local directory, "
                                            "https://data.commoncrawl.org/ or s3://commoncrawl/",
                                      metavar="DIR|URL")
    out: Path = setting(Path("out"), "output directory")
    stages: str = setting(",".join(STAGES), "comma-separated stages to run", metavar="STAGE,...")
    redo: tuple[str, ...] = setting((), "remake a completed stage (repeatable, or 'all')", metavar="STAGE")
    demo_dir: Path = setting(Path("demo-data"), "where the demo crawl is generated when no --warc is given")
    reference: tuple[tuple[str, str], ...] = setting(
        (), "a reference corpus (JSONL, Parquet or .txt files; repeatable): the classifier's positives and a "
            "dataset of the mixture; without --warc, the demo's", parse=_reference_spec, metavar="NAME=PATH")
    classifier: str | None = setting(None, "score with this saved model (e.g. OUT/models/quality) instead of "
                                           "training one", metavar="PATH")
    benchmarks: tuple[str, ...] = setting((), "benchmark JSONL files to remove from the corpus (repeatable); "
                                              "without --warc, the demo's", metavar="DIR|FILE")

    def __post_init__(self):
        parse_stage_list(self.stages)
        if self.redo and "all" not in self.redo:
            parse_stage_list(",".join(self.redo))
        names = [name for name, _ in self.reference]
        if len({name.casefold() for name in names}) != len(names):  # one folder on a case-insensitive disk
            raise UserError(f"--reference names a dataset twice: {', '.join(sorted(names))}")
        for name, path in self.reference:
            if name == CRAWL_DATASET:
                raise UserError(f"a reference corpus may not be named {name!r}, the crawl's dataset")
            _check_dataset_name(name, f"--reference {name}={path}")


@dataclass(frozen=True)
class ExtractConfig:
    """WARC → documents (stage 1)."""

    dataset: str = internal(CRAWL_DATASET)  # `dataset` column of every extracted document
    max_payload_bytes: int = setting(4 * MiB, "HTTP payloads over this are dropped as over_size_cap",
                                     flag="--max-payload-bytes")  # Common Crawl itself truncates at 1 MiB
    # Caps on one WARC or HTTP header line and on a header's lines, enforced while reading (a 1 MB .warc.gz can
    # hold a gigabyte line). Real headers: lines under 8 KiB (most servers' limit), a few dozen lines.
    max_header_line_bytes: int = setting(64 * 1024, "longest WARC or HTTP header line read")
    max_header_lines: int = setting(1000, "most lines one WARC or HTTP header may have")
    extract_timeout_s: float = setting(5.0, "seconds trafilatura may spend on one page (0: no limit)",
                                       flag="--extract-timeout")  # real pages take ~10-20 ms
    reset_caches_every: int = setting(1000, "documents between trafilatura cache resets")  # its LRU caches grow
    include_comments: bool = setting(False, "keep user comments (not the page's main text)")
    include_tables: bool = setting(True, "keep tables (trafilatura's default; they often hold real prose)")
    favor_precision: bool = setting(False, "trafilatura's favor_precision (its default balances precision and "
                                           "recall)")
    # Seconds all reads of one http(s)/s3 WARC file may take together (a 1 GB Common Crawl file needs ~0.6 MB/s):
    # the 60 s socket timeout bounds one read only, and a server trickling bytes would hold a task for ever.
    remote_read_deadline_s: float = setting(1800.0, "seconds all reads of one http(s)/s3 WARC file may take "
                                                    "together")
    # A file larger than this is cut into byte ranges of this size, each its own task (a record belongs to the
    # range its start lies in), so one large WARC uses every core; 0 = one task per file. Small enough that a
    # file gives several ranges per core (the last wave of tasks then leaves little idle), large enough that a
    # range's resync and start-up are noise. Common Crawl's files are ~1 GiB: 32 ranges each.
    split_bytes: int = setting(32 * MiB, "a WARC larger than this is cut into byte ranges of this size, one task "
                                         "each (the unit of work and of resume); 0: one task per file",
                               flag="--split-bytes")

    def __post_init__(self):
        if self.max_payload_bytes <= 0 or self.extract_timeout_s < 0:
            raise UserError("--max-payload-bytes must be positive, --extract-timeout >= 0 (0: no limit)")
        if self.split_bytes < 0:
            raise UserError("--split-bytes must be 0 (never split) or positive")
        if min(self.max_header_line_bytes, self.max_header_lines, self.reset_caches_every) < 1 \
                or self.remote_read_deadline_s <= 0:
            raise UserError("--extract-max-header-line-bytes, --extract-max-header-lines, "
                            "--extract-reset-caches-every and --extract-remote-read-deadline-s must be positive")


@dataclass(frozen=True)
class QualityConfig:
    """Documents → quality_score → Pareto resampling (stage 2, GPT-3 Appendix A)."""

    alpha: float = setting(9.0, "Pareto shape: keep iff np.random.pareto(alpha) > 1 - score (GPT-3: 9)",
                           flag="--alpha")
    # The Pareto draw of a document is a pure function of (seed, doc_id); so are the negatives' sample and the
    # held-out split.
    seed: int = setting(0, "seed of every per-document draw", flag="--seed")
    # Hashed vocabulary of HashingTF (the paper does not say). 2**20 rather than Spark's 2**18: the dedup stage
    # reuses these features as word sets for Jaccard, where a collision merges two words; a 1,000-word page then
    # loses ~0.1% of its words to collisions, and the model's coefficients are still only 8 MiB.
    num_features: int = setting(2**20, "HashingTF features (the paper does not say)", flag="--num-features")
    # L2 strength (the paper does not say). Half the crawl negatives are good pages, so a weak penalty memorises
    # them: on the demo, good-vs-spam AUC is 0.91 at 0.01, 0.94 at 0.1, 0.98 at 1.0 (0.99 at 3.0, but scores
    # then crowd the middle). Spark's objective is mean log-loss + reg/2 * |w|^2 on standardised features.
    reg_param: float = setting(1.0, "L2 strength of the classifier (the paper does not say)", flag="--reg-param")
    elastic_net: float = setting(0.0, "elastic-net mix of the penalty: 0 = pure L2 (Spark's default), 1 = L1")
    max_iter: int = setting(100, "L-BFGS iterations (Spark's default)")
    negatives_per_positive: float = setting(1.0, "Common Crawl negatives sampled per reference positive",
                                            flag="--negatives-per-positive")
    holdout_fraction: float = setting(0.2, "share of the training documents held out (by hash of doc_id) for the "
                                           "classifier's metrics", flag="--holdout-fraction")
    # Hash-partitioned and sorted, so the fitted model does not depend on how the input happened to be split.
    training_partitions: int = setting(8, "partitions the training set is sorted into")
    min_documents_per_class: int = setting(20, "fewer positives or negatives than this cannot train a classifier")
    text_field: str = setting("text", "field holding the text in reference JSONL/Parquet",
                              flag="--reference-text-field")
    crawl_dataset: str = internal(CRAWL_DATASET)  # the dataset the rule resamples; reference datasets pass untouched
    alpha_grid: tuple[float, ...] = setting((1.0, 2.0, 3.0, 5.0, 9.0, 15.0, 25.0),
                                            "alpha of a row of the report's 'choose alpha' table (repeatable)",
                                            metavar="ALPHA")
    thresholds: tuple[float, ...] = setting((0.5, 0.7, 0.9), "score at which the report gives held-out precision "
                                                             "and recall (repeatable)", metavar="SCORE")
    report_examples: int = setting(8, "kept and dropped URLs shown in the report, each")

    def __post_init__(self):
        if self.alpha <= 0 or self.num_features <= 0 or self.reg_param < 0 or self.negatives_per_positive <= 0:
            raise UserError("--alpha, --num-features and --negatives-per-positive must be positive, --reg-param >= 0")
        if not 0 < self.holdout_fraction < 1:
            raise UserError("--holdout-fraction must be between 0 and 1")
        _check_seed(self.seed)
        if min(self.max_iter, self.training_partitions, self.min_documents_per_class) < 1 \
                or not 0 <= self.elastic_net <= 1 or self.report_examples < 0:
            raise UserError("--quality-max-iter, --quality-training-partitions and "
                            "--quality-min-documents-per-class must be positive, --quality-elastic-net in [0, 1], "
                            "--quality-report-examples >= 0")
        if min(self.alpha_grid, default=1) <= 0 or not all(0 <= t <= 1 for t in self.thresholds):
            raise UserError("--quality-alpha-grid values must be positive, --quality-thresholds in [0, 1]")


@dataclass(frozen=True)
class DecontamConfig:
    """Benchmark decontamination (stage 4, GPT-3 §4 and Appendix C)."""

    ngram: int = setting(13, "words per colliding gram (GPT-3: 13)", flag="--decontam-ngram")
    # NeMo Curator's and Megatron-LM's reading; ngram = min_ngram is the strict 13-grams-only reading.
    min_ngram: int = setting(8, "shorter examples of at least this many words are matched whole",
                             flag="--decontam-min-ngram")
    window_chars: int = setting(200, "characters removed around a colliding gram (GPT-3: 200)",
                                flag="--decontam-window")
    # 200 on each side is NeMo Curator's and lm-eval's janitor's reading of GPT-3's "a 200 character window around".
    window_per_side: bool = setting(True, "the window is on each side of the gram", negative="--decontam-window-total",
                                    negative_help="the window is in total (half each side), not on each side")
    min_piece_chars: int = setting(200, "pieces shorter than this many characters are dropped (GPT-3: 200)",
                                   flag="--decontam-min-piece")
    max_pieces: int = setting(10, "a document split into more pieces is dropped whole (GPT-3: 10)",
                              flag="--decontam-max-pieces")
    max_docs_per_gram: int = setting(10, "grams in more training documents are ignored as boilerplate (GPT-3: 10)",
                                     flag="--decontam-max-docs-per-gram")
    measure_percentile: float = setting(5.0, "overlap measurement: N is this percentile of a benchmark's example "
                                             "lengths in words (GPT-3: 5)")
    measure_min_n: int = setting(8, "overlap measurement: N at least this, for non-synthetic tasks (GPT-3: 8)")
    measure_max_n: int = setting(13, "overlap measurement: N at most this (GPT-3: 13)")
    # Benchmarks whose N may fall below measure_min_n (fnmatch patterns on the benchmark name): GPT-3's
    # synthetic tasks (openai/gpt-3 data/: arithmetic, word scrambles), as model.synthetic names them.
    synthetic_tasks: tuple[str, ...] = setting(("arithmetic_*", "cycle_letters", "mid_word_*_anagrams",
                                                "random_insertion", "reversed_words"),
                                               "benchmarks (fnmatch on the name) whose overlap N may fall below 8 "
                                               "(repeatable)", flag="--synthetic-task", metavar="PATTERN")
    text_fields: tuple[str, ...] = setting((), "field(s) holding a benchmark example's text (repeatable); default: "
                                               "detect {context, completion} and multiple-choice "
                                               "{question|context, choices}", flag="--benchmark-text-field",
                                           metavar="FIELD")
    # Benchmark grams broadcast as sorted uint64 (160 MB); above: a join.
    broadcast_max_grams: int = setting(20_000_000, "most benchmark grams broadcast to every task")
    report_spans: int = setting(8, "matched spans shown in context in contamination.json and the report")
    report_context_chars: int = setting(120, "characters of context on each side of a shown span")

    def __post_init__(self):
        if min(self.ngram, self.min_ngram, self.max_pieces) < 1 \
                or min(self.window_chars, self.min_piece_chars, self.max_docs_per_gram) < 0:
            raise UserError("--decontam-ngram, --decontam-min-ngram and --decontam-max-pieces must be positive, "
                            "the other --decontam-* numbers >= 0")
        if self.min_ngram > self.ngram:
            raise UserError("--decontam-min-ngram may not exceed --decontam-ngram")
        if not 0 <= self.measure_percentile <= 100 or not 1 <= self.measure_min_n <= self.measure_max_n \
                or self.broadcast_max_grams < 0 or min(self.report_spans, self.report_context_chars) < 0:
            raise UserError("--decontam-measure-percentile must be in [0, 100], 1 <= --decontam-measure-min-n <= "
                            "--decontam-measure-max-n, the other --decontam-* numbers >= 0")


@dataclass(frozen=True)
class ShardsConfig:
    """Documents → BPE token shards + manifest for the trainer (stage 5, GPT-3 Table 2.2)."""

    vocab_size: int = setting(8192, "BPE vocabulary trained by the shards stage (GPT-2/3: 50257)",
                              flag="--vocab-size")  # small for the demo
    tokenizer_sample_chars: int = setting(50_000_000, "characters of text (sampled by doc_id hash) the BPE is "
                                                      "trained on")
    # Many crawl slices, one vocabulary.
    tokenizer: str | None = setting(None, "use this tokenizer instead of training one", flag="--tokenizer",
                                    metavar="tokenizer.json")
    weights: tuple[tuple[str, float], ...] = setting((), "mixture weight (repeatable; all or none); default: GPT-3 "
                                                         "Table 2.2, renormalised", flag="--weight",
                                                     parse=parse_weight, metavar="DATASET=W")
    token_budget: int = setting(0, "training tokens the epochs are computed at (0: this run's training tokens)",
                                flag="--token-budget")
    val_fraction: float = setting(0.02, "documents held out per dataset (by doc_id hash) for validation",
                                  flag="--val-fraction")
    # 256 MiB of uint16; the last file of a split is shorter.
    shard_tokens: int = setting(2**27, "tokens per shard file", flag="--shard-tokens")
    seed: int = setting(0, "seed of every per-document draw", flag="--seed")  # the tokenizer sample, the val split

    def __post_init__(self):
        for name, weight in self.weights:
            _check_dataset_name(name, f"--weight {name}={weight:g}")
        if self.vocab_size < 300 or self.shard_tokens <= 0 or self.token_budget < 0 or not 0 <= self.val_fraction < 1:
            raise UserError("--vocab-size must be >= 300 (256 bytes + merges), --shard-tokens positive, "
                            "--token-budget >= 0, --val-fraction in [0, 1)")
        if self.tokenizer_sample_chars < 1:
            raise UserError("--shards-tokenizer-sample-chars must be positive")
        _check_seed(self.seed)
        if self.tokenizer and not Path(self.tokenizer).is_file():
            raise UserError(f"--tokenizer {self.tokenizer} does not exist")


@dataclass(frozen=True)
class DedupConfig:
    """Fuzzy deduplication within and across datasets (stage 3, GPT-3 §2.2 and Appendix A)."""

    features: str = setting("paper", "paper: sets of distinct lowercased words (the classifier's features); "
                                     "shingles: word n-grams of the normalised text",
                            flag="--dedup-features", choices=DEDUP_FEATURES)
    shingle_size: int = setting(5, "words per shingle", flag="--dedup-shingle-size")
    engine: str = setting("spark-ml", "spark-ml: Spark's MinHashLSH as GPT-3 (10 tables); bands: numpy MinHash in b "
                                      "bands of r rows, for scale; datasketch: datasketch's MinHashLSH in one task, "
                                      "small data only", flag="--dedup-engine", choices=DEDUP_ENGINES)
    # Jaccard similarity at which two documents are duplicates; the paper gives none. 0.5 of word sets: on the demo,
    # random pairs of pages sit at a median 0.11 (99th percentile 0.18), planted near duplicates (5-30% of words
    # edited) at 0.44-1.0 (95% above 0.6); a page sharing half its vocabulary with another adds little to it.
    threshold: float = setting(0.5, "Jaccard similarity at which two documents are duplicates (the paper gives "
                                    "none)", flag="--dedup-threshold")
    # A pair is a candidate if any table agrees.
    spark_ml_tables: int = setting(10, "MinHashLSH hash tables of the spark-ml engine (GPT-3: 10)",
                                   flag="--dedup-tables")
    # The bands engine: b bands of r rows (b * r MinHash functions). A pair at Jaccard J is a candidate with
    # probability 1 - (1 - J**r)**b: 0.92 at 0.5, 0.996 at 0.6, 0.06 at 0.2 with 40 x 4.
    bands: int = setting(40, "bands of the bands engine", flag="--dedup-bands")
    rows: int = setting(4, "MinHash rows per band", flag="--dedup-rows")
    datasketch_permutations: int = setting(128, "datasketch MinHash size (it picks its own bands for the threshold)")
    # A bucket (band or hash-table value) is compared whole, every pair of its documents in one sparse product, if
    # it holds at most this many documents (memory: this many feature sets at once). A larger one comes from what
    # nearly every page shares (a common word's minimum): it is split by its members' buckets in the next bands, and
    # what no band splits is compared in overlapping windows of this many documents.
    max_bucket_size: int = setting(1000, "a bucket shared by more documents is split by the next bands, not "
                                         "compared whole (what no band splits is compared in overlapping windows "
                                         "of this size)", flag="--dedup-max-bucket")
    seed: int = setting(0, "seed of every per-document draw", flag="--seed")  # the MinHash functions of every engine
    crawl_dataset: str = internal(CRAWL_DATASET)  # removed in favour of reference twins, never the reverse
    max_iterations: int = setting(50, "connected-components rounds (large-star + small-star) before giving up")
    report_clusters: int = setting(4, "clusters shown side by side in the report")
    report_members: int = setting(4, "members shown per cluster")

    def __post_init__(self):
        if self.engine not in DEDUP_ENGINES:
            raise UserError(f"--dedup-engine must be one of {', '.join(DEDUP_ENGINES)}, not {self.engine!r}")
        if self.features not in DEDUP_FEATURES:
            raise UserError(f"--dedup-features must be one of {', '.join(DEDUP_FEATURES)}, not {self.features!r}")
        if not 0 < self.threshold <= 1:
            raise UserError(f"--dedup-threshold is a Jaccard similarity in (0, 1], not {self.threshold}")
        if min(self.bands, self.rows, self.shingle_size, self.spark_ml_tables, self.datasketch_permutations) < 1 \
                or self.max_bucket_size < 2:
            raise UserError("--dedup-bands, --dedup-rows, --dedup-shingle-size and --dedup-tables must be positive, "
                            "--dedup-max-bucket at least 2")
        if self.max_iterations < 1 or min(self.report_clusters, self.report_members) < 0:
            raise UserError("--dedup-max-iterations must be positive, --dedup-report-clusters and "
                            "--dedup-report-members >= 0")
        _check_seed(self.seed)
