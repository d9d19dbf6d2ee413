"""One frozen dataclass per stage. Every default names its unit or its source."""
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ExtractConfig:
    """WARC → documents (DESIGN.md stage 1)."""

    dataset: str = "common_crawl"  # `dataset` column of every extracted document
    max_payload_bytes: int = 4 * MiB  # decoded HTTP payload cap; Common Crawl itself truncates at 1 MiB
    extract_timeout_s: float = 5.0  # per-document trafilatura limit; real pages take ~10-20 ms
    reset_caches_every: int = 1000  # documents between trafilatura cache resets (its LRU caches grow)
    include_comments: bool = False  # user comments are not the page's main text
    include_tables: bool = True  # trafilatura's default; tables often hold real prose on the web
    favor_precision: bool = False  # trafilatura's default balance of precision and recall


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
