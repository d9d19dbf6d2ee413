"""Forwards to corpus_demo, the demo crawl generator, so `python -m corpus.demo` and
`from corpus.demo import generate` keep working. The generator lives outside `corpus` because `corpus` is
zipped to every Spark executor; nothing in `corpus` imports this module."""
import sys

from corpus_demo import (EXPECTED_REASONS, PAGE_KIND_SHARES, SPECIAL_KINDS, DemoConfig, TextPool, edit_words,
                         generate, generate_from_config, main, plan_crawl, word_ngrams, write_crawl)

__all__ = ["EXPECTED_REASONS", "PAGE_KIND_SHARES", "SPECIAL_KINDS", "DemoConfig", "TextPool", "edit_words",
           "generate", "generate_from_config", "main", "plan_crawl", "word_ngrams", "write_crawl"]

if __name__ == "__main__":
    sys.exit(main())
