"""The reference corpora and the benchmarks the crawl copies from (and is later checked against)."""
from __future__ import annotations

from corpus_demo.config import DemoConfig, rng_for
from corpus_demo.text import TextPool
from model import synthetic


def _prose_cloze(pool: TextPool, min_words: int = 25) -> list[dict]:
    """LAMBADA-style items from the reserved sentences: a passage of >= 25 words, predict the last word."""
    items, passage = [], []
    for sentence in pool.cloze_sentences:
        passage.append(sentence)
        if len(" ".join(passage).split()) >= min_words:
            context, _, last = " ".join(passage).rstrip(".").rpartition(" ")
            items.append({"context": context, "completion": f" {last}"})
            passage = []
    return items


def make_benchmarks(config: DemoConfig, pool: TextPool) -> dict[str, list[dict]]:
    benchmarks = {task: synthetic.generate(task, config.benchmark_examples, config.seed)
                  for task in config.benchmark_tasks}
    benchmarks["prose_cloze"] = _prose_cloze(pool)
    return benchmarks


def make_references(config: DemoConfig, pool: TextPool) -> dict[str, list[dict]]:
    rng = rng_for(config, "reference")
    webtext = [pool.paragraphs(rng, rng.randrange(200, 1200), rng.randrange(2, 10))
               for _ in range(config.reference_docs)]
    wikipedia = []
    for _ in range(config.reference_docs):
        title = rng.choice(pool.headings) + rng.choice(("", "", " (programming)", " (computing)", " (history)"))
        blocks = [title, *pool.paragraphs(rng, rng.randrange(80, 200), 1)]
        for heading in rng.sample(pool.headings, rng.randrange(1, 4)):
            blocks += [heading, *pool.paragraphs(rng, rng.randrange(100, 400), rng.randrange(1, 4))]
        wikipedia.append(blocks)
    books = []
    for number in range(config.book_docs):
        title = f"The Book of {rng.choice(pool.headings)}, Volume {number % 7 + 1}"
        blocks = [title]
        words = rng.randrange(config.book_words[0], config.book_words[1] + 1)
        chapters = rng.randrange(2, 6)
        for chapter in range(1, chapters + 1):
            blocks += [f"Chapter {chapter}", *pool.paragraphs(rng, words // chapters, rng.randrange(6, 16))]
        books.append(blocks)
    return {
        name: [{"id": f"{name}-{i:05d}", "text": "\n\n".join(blocks)} for i, blocks in enumerate(docs)]
        for name, docs in (("webtext2", webtext), ("books", books), ("wikipedia", wikipedia))
    }
