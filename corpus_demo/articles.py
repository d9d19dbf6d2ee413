"""A page's main content (Article) for every ordinary page kind: good prose, spam, lists, thin pages."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from corpus_demo.config import DemoConfig
from corpus_demo.sites import SPAM_KEYWORDS
from corpus_demo.text import TextPool

AUTHORS = ("Ana Núñez", "Jörg Weiß", "Chloé Martin", "Sam Patel", "Li Wei", "Zoë Adams", "Marek Dvořák",
           "Priya Raman", "Tom Baker", "Aiko Tanaka", "Oluwaseun Adeyemi", "Sofía Herrera", "Ingrid Løvås",
           "Kwame Mensah", "Emily Clarke", "Mateus Gonçalves")
COMMENTS = ("Great post, thanks for sharing!", "This helped me a lot, bookmarked.",
            "I disagree with the second point, but the rest is spot on.", "Does this still apply today?",
            "Thanks! I was looking for exactly this.", "Could you write a follow-up on this topic?",
            "Well explained, clearer than the official docs.", "First!", "Nice write-up.",
            "I tried this and it worked for me.")


@dataclass(frozen=True)
class Article:
    """A page's main content. Exact duplicates share the Article object, so their main text is identical."""

    title: str
    author: str
    published: str  # "2019-07-04"
    blocks: tuple[tuple[str, object], ...]  # ("p", text) | ("quote", text) | ("h2", text) | ("table", rows) ...
    comments: tuple[tuple[str, str], ...] = ()

    @property
    def main_text(self) -> str:
        """The article's text blocks joined by blank lines: what a perfect extractor would return."""
        return "\n\n".join(str(content) for kind, content in self.blocks if kind in ("p", "quote", "h2"))


def _byline(rng: random.Random) -> tuple[str, str]:
    published = datetime(2018, 1, 1) + timedelta(days=rng.randrange(700))
    return rng.choice(AUTHORS), published.strftime("%Y-%m-%d")


def _comments(rng: random.Random) -> tuple[tuple[str, str], ...]:
    return tuple((f"{rng.choice(('reader', 'anon', 'dev', 'user', 'guest'))}{rng.randrange(10, 9999)}",
                  rng.choice(COMMENTS)) for _ in range(rng.choice((0, 0, 1, 2, 3, 4))))


def good_article(pool: TextPool, rng: random.Random, config: DemoConfig) -> Article:
    words = rng.randrange(config.good_words[0], config.good_words[1] + 1)
    paragraphs = rng.randrange(config.good_paragraphs[0], config.good_paragraphs[1] + 1)
    author, published = _byline(rng)
    blocks = tuple(("p", p) for p in pool.paragraphs(rng, words, paragraphs))
    return Article(pool.title(rng), author, published, blocks, _comments(rng))


def article_from_text(text: str, title: str, rng: random.Random) -> Article:
    author, published = _byline(rng)
    return Article(title, author, published, tuple(("p", p) for p in text.split("\n\n")), _comments(rng))


def spam_article(rng: random.Random) -> Article:
    keywords = rng.sample(SPAM_KEYWORDS, 6)
    phrase = " ".join(keywords[:3])
    blocks: list[tuple[str, object]] = []
    for _ in range(rng.randrange(3, 7)):
        words = [rng.choice((phrase, *keywords)) for _ in range(rng.randrange(25, 60))]
        blocks.append(("p", " ".join(words).capitalize() + "!"))
    blocks.append(("p", "Tags: " + ", ".join(f"{phrase} {k}" for k in rng.sample(SPAM_KEYWORDS, 12))))
    return Article(phrase.title() + " - " + " ".join(keywords[3:]).title(), "admin", "2020-01-01", tuple(blocks))


def list_article(pool: TextPool, rng: random.Random) -> Article:
    style = rng.randrange(3)
    if style == 0:  # product code table
        rows = [("SKU", "Item", "Price", "Stock")] + [
            (f"{rng.choice('ABCDEFGHKMXZ')}{rng.choice('ABCDEFGHKMXZ')}-{rng.randrange(10**4, 10**5)}-"
             f"{rng.randrange(100):02d}", f"Part {rng.randrange(1000)}{rng.choice('abcxyz')}",
             f"{rng.randrange(1, 500)}.{rng.randrange(100):02d}", rng.choice(("in stock", "2-3 days", "sold out")))
            for _ in range(rng.randrange(25, 70))]
        blocks = (("table", rows),)
        title = f"Parts catalogue page {rng.randrange(1, 400)}"
    elif style == 1:  # number list
        start = rng.randrange(10**6)
        blocks = (("ol", [str(start + rng.randrange(10**4) * i) for i in range(rng.randrange(40, 120))]),)
        title = f"Index {start}"
    else:  # tag cloud
        blocks = (("tags", rng.sample(pool.vocabulary, rng.randrange(60, 150))),)
        title = "Tags"
    return Article(title, "", "", blocks)


def boilerplate_article(pool: TextPool, rng: random.Random) -> Article:
    sentences = rng.sample(pool.short_sentences, rng.randrange(1, 3))
    return Article(pool.title(rng), "", "", (("p", " ".join(sentences)),))


def quote_lead(rng: random.Random) -> str:
    return rng.choice(("Here is an example from the practice set:", "One reader sent us this one:",
                       "Try this question from the quiz:", "For instance:", "The exercise reads as follows:"))
