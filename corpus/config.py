"""One frozen dataclass per stage. Every default names its unit or its source."""
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ExtractConfig:
    """WARC → documents (DESIGN.md stage 1)."""

    dataset: str = "common_crawl"  # `dataset` column of every extracted document
    max_payload_bytes: int = 4 * MiB  # decoded HTTP payload cap; Common Crawl itself truncates at 1 MiB
    # Caps on one WARC or HTTP header line and on a header's lines, enforced while reading (a 1 MB .warc.gz can
    # hold a gigabyte line). Real headers: lines under 8 KiB (most servers' limit), a few dozen lines.
    max_header_line_bytes: int = 64 * 1024
    max_header_lines: int = 1000
    extract_timeout_s: float = 5.0  # per-document trafilatura limit; real pages take ~10-20 ms
    reset_caches_every: int = 1000  # documents between trafilatura cache resets (its LRU caches grow)
    include_comments: bool = False  # user comments are not the page's main text
    include_tables: bool = True  # trafilatura's default; tables often hold real prose on the web
    favor_precision: bool = False  # trafilatura's default balance of precision and recall
    # Seconds all reads of one http(s)/s3 WARC file may take together (a 1 GB Common Crawl file needs ~0.6 MB/s):
    # the 60 s socket timeout bounds one read only, and a server trickling bytes would hold a task for ever.
    remote_read_deadline_s: float = 1800.0
    # A file larger than this is cut into byte ranges of this size, each its own task (a record belongs to the
    # range its start lies in), so one large WARC uses every core; 0 = one task per file. Small enough that a
    # file gives several ranges per core (the last wave of tasks then leaves little idle), large enough that a
    # range's resync and start-up are noise. Common Crawl's files are ~1 GiB: 32 ranges each.
    split_bytes: int = 32 * MiB


@dataclass(frozen=True)
class QualityConfig:
    """Documents → quality_score → Pareto resampling (DESIGN.md stage 2, GPT-3 Appendix A)."""

    alpha: float = 9.0  # GPT-3: keep iff np.random.pareto(alpha) > 1 - score, alpha = 9
    seed: int = 0  # the Pareto draw of a document is a pure function of (seed, doc_id)
    # Hashed vocabulary of HashingTF (the paper does not say). 2**20 rather than Spark's 2**18: the dedup stage
    # reuses these features as word sets for Jaccard, where a collision merges two words; a 1,000-word page then
    # loses ~0.1% of its words to collisions, and the model's coefficients are still only 8 MiB.
    num_features: int = 2**20
    # L2 strength (the paper does not say). Half the crawl negatives are good pages, so a weak penalty memorises
    # them: on the demo, good-vs-spam AUC is 0.91 at 0.01, 0.94 at 0.1, 0.98 at 1.0 (0.99 at 3.0, but scores
    # then crowd the middle). Spark's objective is mean log-loss + reg/2 * |w|^2 on standardised features.
    reg_param: float = 1.0
    elastic_net: float = 0.0  # 0 = pure L2 (Spark's default)
    max_iter: int = 100  # L-BFGS iterations (Spark's default)
    negatives_per_positive: float = 1.0  # Common Crawl negatives sampled per reference positive (balanced)
    holdout_fraction: float = 0.2  # of the training documents, by hash of doc_id, for the held-out metrics
    training_partitions: int = 8  # the training set is hash-partitioned into this many sorted partitions, so
    #                               the fitted model does not depend on how the input happened to be split
    min_documents_per_class: int = 20  # fewer positives or negatives than this cannot train a classifier
    text_field: str = "text"  # field holding a reference document's text in JSONL / Parquet files
    crawl_dataset: str = "common_crawl"  # the dataset the rule resamples; reference datasets pass untouched
    alpha_grid: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 9.0, 15.0, 25.0)  # the report's "choose alpha" table
    thresholds: tuple[float, ...] = (0.5, 0.7, 0.9)  # held-out precision/recall reported at these scores
    report_examples: int = 8  # kept and dropped URLs shown in the report, each


@dataclass(frozen=True)
class DecontamConfig:
    """Benchmark decontamination (DESIGN.md stage 4, GPT-3 §4 and Appendix C)."""

    ngram: int = 13  # GPT-3: 13-gram collisions between training documents and benchmark examples
    # An example shorter than `ngram` words but at least this long is matched as one whole-example gram
    # (NeMo Curator's and Megatron-LM's reading); ngram = min_ngram is the strict 13-grams-only reading.
    min_ngram: int = 8
    window_chars: int = 200  # GPT-3: "a 200 character window around" each colliding gram is removed
    window_per_side: bool = True  # 200 on each side (NeMo Curator, lm-eval janitor); False: 200 in total
    min_piece_chars: int = 200  # GPT-3: pieces shorter than 200 characters are discarded
    max_pieces: int = 10  # GPT-3: a document split into more than 10 pieces is removed entirely
    max_docs_per_gram: int = 10  # GPT-3: grams in more than 10 training documents are ignored (boilerplate)
    measure_percentile: float = 5.0  # GPT-3 overlap measurement: N = 5th-percentile example length in words
    measure_min_n: int = 8  # ... at least 8 for non-synthetic tasks
    measure_max_n: int = 13  # ... and at most 13
    # Benchmarks whose N may fall below measure_min_n (fnmatch patterns on the benchmark name): GPT-3's
    # synthetic tasks (openai/gpt-3 data/: arithmetic, word scrambles), as model.synthetic names them.
    synthetic_tasks: tuple[str, ...] = ("arithmetic_*", "cycle_letters", "mid_word_*_anagrams",
                                        "random_insertion", "reversed_words")
    text_fields: tuple[str, ...] = ()  # fields joined into an example's text; () = detect the format per line
    broadcast_max_grams: int = 20_000_000  # benchmark grams broadcast as sorted uint64 (160 MB); above: a join
    report_spans: int = 8  # matched spans shown in context in contamination.json and the report
    report_context_chars: int = 120  # characters of context on each side of a shown span


@dataclass(frozen=True)
class ShardsConfig:
    """Documents → BPE token shards + manifest for the trainer (DESIGN.md stage 5, GPT-3 Table 2.2)."""

    vocab_size: int = 8192  # BPE vocabulary trained here; small for the demo (GPT-2/3 used 50257)
    tokenizer_sample_chars: int = 50_000_000  # characters of text (sampled by doc_id hash) the BPE is trained on
    tokenizer: str | None = None  # an existing tokenizer.json instead (many crawl slices, one vocabulary)
    weights: tuple[tuple[str, float], ...] = ()  # (dataset, weight); empty = Table 2.2, renormalised
    token_budget: int = 0  # training tokens the epochs are computed at; 0 = this run's training tokens
    val_fraction: float = 0.02  # documents held out per dataset (by doc_id hash) for validation loss
    shard_tokens: int = 2**27  # tokens per file (256 MiB of uint16); the last file of a split is shorter
    seed: int = 0  # the tokenizer sample and the validation split derive from it


@dataclass(frozen=True)
class DedupConfig:
    """Fuzzy deduplication within and across datasets (DESIGN.md stage 3, GPT-3 §2.2 and Appendix A)."""

    features: str = "paper"  # "paper": the classifier's features, sets of distinct lowercased words; "shingles"
    shingle_size: int = 5  # words per shingle with features = "shingles" (n-grams of normalised text)
    engine: str = "spark-ml"  # "spark-ml" (GPT-3: Spark's MinHashLSH), "bands" (numpy MinHash, for scale) or
    #                           "datasketch" (datasketch's MinHashLSH in one task: small data only)
    # Jaccard similarity at which two documents are duplicates; the paper gives none. 0.5 of word sets: on the demo,
    # random pairs of pages sit at a median 0.11 (99th percentile 0.18), planted near duplicates (5-30% of words
    # edited) at 0.44-1.0 (95% above 0.6); a page sharing half its vocabulary with another adds little to it.
    threshold: float = 0.5
    spark_ml_tables: int = 10  # GPT-3: MinHashLSH with 10 hashes (numHashTables); a pair is a candidate if any agrees
    # The bands engine: b bands of r rows (b * r MinHash functions). A pair at Jaccard J is a candidate with
    # probability 1 - (1 - J**r)**b: 0.92 at 0.5, 0.996 at 0.6, 0.06 at 0.2 with 40 x 4.
    bands: int = 40
    rows: int = 4
    datasketch_permutations: int = 128  # datasketch MinHash size (it picks its own bands for the threshold)
    # A bucket (band or hash-table value) is compared whole, every pair of its documents in one sparse product, if
    # it holds at most this many documents (memory: this many feature sets at once). A larger one comes from what
    # nearly every page shares (a common word's minimum): it is split by its members' buckets in the next bands, and
    # what no band splits is compared in overlapping windows of this many documents.
    max_bucket_size: int = 1000
    seed: int = 0  # seeds the MinHash functions of every engine
    crawl_dataset: str = "common_crawl"  # the dataset removed in favour of reference twins, never the reverse
    max_iterations: int = 50  # connected-components rounds (large-star + small-star) before giving up
    report_clusters: int = 4  # clusters shown side by side in the report
    report_members: int = 4  # members shown per cluster
