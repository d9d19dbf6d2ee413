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
