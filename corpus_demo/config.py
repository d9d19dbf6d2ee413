"""The demo's knobs (DemoConfig) and its random streams, one per purpose, all derived from the seed."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the demo crawl. Defaults give ~3,000 pages in 4 files, generated in a few seconds."""

    pages: int = 3000  # ordinary pages (the PAGE_KIND_SHARES kinds) across the regular WARC files
    files: int = 4  # regular WARC files; the truncated file comes on top
    seed: int = 0  # every random choice derives from it
    special_per_kind: int = 0  # records of each SPECIAL_KINDS kind; 0 = max(2, pages // 1000)
    oversize_pages: int = 1  # pages over the size cap (each is ~6 MiB of HTML, ~20 KB gzipped)
    oversize_bytes: int = 6 * 2**20  # HTML size of those pages: over 5 MiB, so above any sensible cap
    encoded_share: float = 0.01  # share of good pages sent with Content-Encoding: gzip, and again chunked
    truncated_file_pages: int = 30  # good pages in the truncated file
    truncate_at: float = 0.6  # the cut lands inside the first response record past this fraction of bytes
    good_words: tuple[int, int] = (150, 800)  # words in a good article
    good_paragraphs: tuple[int, int] = (2, 8)  # paragraphs in a good article
    near_dup_edit: tuple[float, float] = (0.05, 0.30)  # fraction of words edited in a near duplicate
    reference_dup_edit: tuple[float, float] = (0.01, 0.04)  # ... in an edited reference copy
    reference_dup_exact_share: float = 0.35  # reference copies left verbatim
    reference_docs: int = 0  # webtext2 and wikipedia documents each; 0 = max(20, pages // 10)
    book_docs: int = 0  # books; 0 = max(10, pages // 20)
    book_words: tuple[int, int] = (2000, 5000)  # words per book
    benchmark_examples: int = 300  # examples per synthetic benchmark task
    benchmark_tasks: tuple[str, ...] = (
        "arithmetic_2d_plus", "arithmetic_3d_minus", "arithmetic_2dx", "arithmetic_1dc", "cycle_letters",
        "mid_word_1_anagrams", "random_insertion", "reversed_words",
    )
    # Plus "prose_cloze": LAMBADA-style passages (sentences totalling >= 25 words, last word to predict)
    # from sentences kept out of every page and reference document, so only the benchmark_quote pages that
    # quote an item share any 13-gram with it.
    cloze_sentence_share: float = 0.08  # share of the sentence pool reserved for prose_cloze
    sites: int = 0  # distinct web sites; 0 = max(12, pages // 12)
    crawl_start: str = "2020-02-16T00:00:00"  # WARC-Date of the first record (UTC), as in CC-MAIN-2020-10

    def resolved(self) -> DemoConfig:
        """The config with every 0 = "scale with pages" knob filled in."""
        return replace(
            self,
            special_per_kind=self.special_per_kind or max(2, self.pages // 1000),
            reference_docs=self.reference_docs or max(20, self.pages // 10),
            book_docs=self.book_docs or max(10, self.pages // 20),
            sites=self.sites or max(12, self.pages // 12),
        )


def rng_for(config: DemoConfig, purpose: str) -> random.Random:
    """One independent stream per purpose: changing how sites are drawn never shifts page content.

    The seed string keeps the generator's former module name, corpus.demo: every byte of the demo derives
    from it, so renaming it would change every doc_id downstream.
    """
    return random.Random(f"corpus.demo:{config.seed}:{purpose}")
