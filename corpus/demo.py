"""The embedded demo crawl: Common Crawl-like WARC files with planted, known truth.

`python -m corpus.demo --out DIR [--pages N] [--files K] [--seed S]` writes

    DIR/crawl/CC-DEMO-<seed>-0000i.warc.gz     K WARC files: warcinfo, then request/response/metadata per page
    DIR/crawl/CC-DEMO-<seed>-truncated.warc.gz one more file, cut inside a record ~60% in (readers keep what
                                               precedes the cut; warcio raises ArchiveLoadFailed there)
    DIR/reference/{webtext2,books,wikipedia}.jsonl   reference corpora, {"id", "text"} per line
    DIR/benchmarks/<task>.jsonl                benchmarks in GPT-3's {"context", "completion"} format
    DIR/truth.json                             what every later stage should find, record by record

Every page has a planted *kind* (good prose, keyword spam, thin boilerplate, machine lists, exact and near
duplicates, pages quoting benchmark items, copies of reference documents) and every record the reason the
extract stage must give for it (`expected_reason`, null when it should become a document), so each stage's
precision and recall can be measured against `truth.json` rather than eyeballed.

All text comes from the English prose that ships with Python (see `corpus.prose`); nothing is downloaded.
Output is a pure function of (pages, files, seed) and the Python version: no clocks, no uuid4, gzip
headers with mtime 0, so two runs give byte-identical files.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import io
import json
import random
import re
import struct
import sys
import uuid
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpus.ids import doc_id_for_record
from corpus.prose import stdlib_headings, stdlib_sentences
from corpus.warc import (CORRUPT_WARC, EMPTY_PAYLOAD, EXTRACTOR_EMPTY, NOT_HTML, NOT_HTTP_200, NOT_RESPONSE,
                         OVER_SIZE_CAP)
from model import synthetic

# ---------------------------------------------------------------------------------------------- the truth

# The extract stage's reasons for the records the demo plants (CORRUPT_WARC: once per damaged file).
EXPECTED_REASONS = (NOT_RESPONSE, NOT_HTTP_200, NOT_HTML, EMPTY_PAYLOAD, OVER_SIZE_CAP, EXTRACTOR_EMPTY,
                    CORRUPT_WARC)

# Ordinary page kinds and their share of --pages; "good" takes what the others leave (45% by default).
PAGE_KIND_SHARES = (
    ("spam", 0.08),  # keyword stuffing: repeated commercial phrases and keyword lists
    ("boilerplate", 0.08),  # nav, cookie banner, newsletter box and footer around one or two short sentences
    ("list", 0.08),  # machine-generated lists: product code tables, number lists, tag clouds
    ("exact_dup", 0.08),  # an earlier good page's article, verbatim, on another URL (and usually site)
    ("near_dup", 0.10),  # an earlier good page's article with 5-30% of its words replaced/inserted/deleted
    ("benchmark_quote", 0.05),  # good prose quoting 1-3 benchmark items verbatim
    ("reference_dup", 0.08),  # a reference-corpus document, verbatim or with a few % of words edited
)

# Special records: a handful each, with the reason the extract stage must give (None: becomes a document).
SPECIAL_KINDS = {
    "http_404": NOT_HTTP_200,
    "http_301": NOT_HTTP_200,
    "image_png": NOT_HTML,
    "application_pdf": NOT_HTML,
    "pdf_as_html": NOT_HTML,  # PDF bytes served as Content-Type: text/html
    "empty_payload": EMPTY_PAYLOAD,
    "revisit": NOT_RESPONSE,
    "oversize": OVER_SIZE_CAP,
    "bad_charset_label": None,  # Content-Type: text/html; charset=no-such-charset, body valid UTF-8
    "meta_charset": None,  # windows-1251 / shift_jis / iso-8859-1 declared only in <meta charset>
    "http_equiv_charset": None,  # ... declared only in <meta http-equiv="Content-Type">
    "no_main_text": EXTRACTOR_EMPTY,  # a JavaScript app shell: empty mount point, footer, no article
}

# Non-ASCII sentences for the legacy-charset pages: decoded with the wrong charset they come out garbled,
# so an extracted document containing them proves the charset was honoured.
NATIVE_SENTENCES = {
    "windows-1251": "Это пример страницы в кодировке Windows-1251: съешь же ещё этих мягких французских булок.",
    "shift_jis": "これはシフトJISで書かれたページです。日本語の文章も正しく読めるはずです。",
    "iso-8859-1": "Voilà une page encodée en Latin-1 : déjà vu, café crème, naïveté et façade.",
}
UTF8_SENTENCE = "Naïve café owners in Zürich call it “déjà vu” — a 25 °C summer, über alles."


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

    def resolved(self) -> "DemoConfig":
        """The config with every 0 = "scale with pages" knob filled in."""
        return replace(
            self,
            special_per_kind=self.special_per_kind or max(2, self.pages // 1000),
            reference_docs=self.reference_docs or max(20, self.pages // 10),
            book_docs=self.book_docs or max(10, self.pages // 20),
            sites=self.sites or max(12, self.pages // 12),
        )


# ---------------------------------------------------------------------------------------- randomness

def _rng(config: DemoConfig, purpose: str) -> random.Random:
    """One independent stream per purpose: changing how sites are drawn never shifts page content."""
    return random.Random(f"corpus.demo:{config.seed}:{purpose}")


# ------------------------------------------------------------------------------------------ text pools

@dataclass(frozen=True)
class TextPool:
    """Sentences for documents, and sentences held back for the prose_cloze benchmark."""

    document_sentences: tuple[str, ...]
    cloze_sentences: tuple[str, ...]
    vocabulary: tuple[str, ...]  # words to substitute/insert when editing near duplicates
    headings: tuple[str, ...]
    short_sentences: tuple[str, ...]  # sentences of at most 12 words, for thin pages

    @classmethod
    def build(cls, config: DemoConfig) -> "TextPool":
        sentences = list(stdlib_sentences())
        _rng(config, "sentence-split").shuffle(sentences)
        reserved = int(len(sentences) * config.cloze_sentence_share)
        cloze = sentences[:reserved]
        # The stdlib repeats itself ("This is a powerful way to inspect the program being debugged"):
        # drop document sentences sharing a 13-gram with a cloze sentence, so contamination is only planted.
        cloze_grams = set().union(*(word_ngrams(s, 13) for s in cloze))
        documents = tuple(s for s in sentences[reserved:] if cloze_grams.isdisjoint(word_ngrams(s, 13)))
        vocabulary = sorted({w.strip('.,;:()"\'').lower() for s in documents for w in s.split()} - {""})
        return cls(documents, tuple(cloze), tuple(vocabulary), stdlib_headings(),
                   tuple(s for s in documents if len(s.split()) <= 12))

    def paragraphs(self, rng: random.Random, words: int, paragraphs: int) -> list[str]:
        """About `words` words in `paragraphs` paragraphs of sentences sampled without replacement."""
        chosen: list[str] = []
        used: set[int] = set()
        total = 0
        while total < words and len(used) < len(self.document_sentences):
            index = rng.randrange(len(self.document_sentences))
            if index not in used:
                used.add(index)
                chosen.append(self.document_sentences[index])
                total += len(chosen[-1].split())
        paragraphs = max(1, min(paragraphs, len(chosen)))
        cuts = sorted(rng.sample(range(1, len(chosen)), paragraphs - 1)) if paragraphs > 1 else []
        bounds = [0, *cuts, len(chosen)]
        return [" ".join(chosen[a:b]) for a, b in zip(bounds, bounds[1:])]

    def title(self, rng: random.Random) -> str:
        heading = rng.choice(self.headings)
        pattern = rng.choice(("{h}", "Notes on {l}", "{h}: what you need to know", "A closer look at {l}",
                              "Understanding {l}", "{h} explained", "How {l} works", "Ask the expert: {l}"))
        return pattern.format(h=heading, l=heading[0].lower() + heading[1:])


def edit_words(text: str, fraction: float, rng: random.Random, vocabulary: tuple[str, ...]) -> tuple[str, float]:
    """Edit round(fraction * words) word positions of `text` (replace, insert after, or delete).

    Edited positions are never adjacent, so a word-level diff (difflib) sees each edit on its own and
    measures about the recorded fraction; fractions up to 0.5 are possible. Paragraph breaks ("\\n\\n")
    are kept. Returns the edited text and the edit fraction applied (edits / words of the original),
    which is what truth.json records.
    """
    paragraphs = [p.split() for p in text.split("\n\n")]
    positions = [(p, w) for p, words in enumerate(paragraphs) for w in range(len(words))]
    edits = max(1, round(fraction * len(positions))) if fraction > 0 else 0
    assert 2 * edits <= len(positions) + 1, f"cannot spread {edits} edits over {len(positions)} words"
    # Sorted draws from a range shortened by edits - 1, then shifted by rank: a gap of >= 1 word between.
    spread = [drawn + rank for rank, drawn in enumerate(sorted(rng.sample(range(len(positions) - edits + 1), edits)))]
    operations: dict[tuple[int, int], str] = {
        positions[index]: rng.choice(("replace", "replace", "insert", "delete")) for index in spread
    }

    def substitute(original: str) -> str:
        while True:
            word = rng.choice(vocabulary)
            if word != original.lower().strip('.,;:()"\''):
                return word

    edited: list[str] = []
    for p, words in enumerate(paragraphs):
        out: list[str] = []
        for w, word in enumerate(words):
            operation = operations.get((p, w))
            if operation == "replace":
                out.append(substitute(word))
            elif operation == "insert":
                out.extend((word, substitute(word)))
            elif operation != "delete":
                out.append(word)
        edited.append(" ".join(out))
    return "\n\n".join(p for p in edited if p), edits / max(1, len(positions))


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """n-grams of lowercased words, punctuation as a word break: the decontamination stage's grams."""
    words = re.sub(r"[^0-9a-z]+", " ", text.lower()).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


# ---------------------------------------------------------------------------------------------- sites

SERVERS = ("nginx", "nginx/1.14.0 (Ubuntu)", "Apache", "Apache/2.4.29 (Ubuntu)", "cloudflare",
           "Microsoft-IIS/10.0", "LiteSpeed", "openresty")
TLDS = ("com", "com", "com", "org", "net", "io", "co.uk", "de", "info", "blog")
SITE_SUFFIXES = ("notes", "daily", "hub", "blog", "times", "review", "journal", "press", "world", "digest",
                 "weekly", "lab", "corner", "insider")
NAV_LABELS = ("Home", "News", "Blog", "Articles", "Reviews", "Guides", "Tutorials", "Events", "Shop",
              "Forum", "About", "Contact", "Archive", "Topics", "Podcast", "Newsletter", "Jobs", "Help")
SECTIONS = ("blog", "news", "articles", "guides", "posts", "tech", "learn", "opinion", "stories", "docs")
AUTHORS = ("Ana Núñez", "Jörg Weiß", "Chloé Martin", "Sam Patel", "Li Wei", "Zoë Adams", "Marek Dvořák",
           "Priya Raman", "Tom Baker", "Aiko Tanaka", "Oluwaseun Adeyemi", "Sofía Herrera", "Ingrid Løvås",
           "Kwame Mensah", "Emily Clarke", "Mateus Gonçalves")
COMMENTS = ("Great post, thanks for sharing!", "This helped me a lot, bookmarked.",
            "I disagree with the second point, but the rest is spot on.", "Does this still apply today?",
            "Thanks! I was looking for exactly this.", "Could you write a follow-up on this topic?",
            "Well explained, clearer than the official docs.", "First!", "Nice write-up.",
            "I tried this and it worked for me.")
SPAM_KEYWORDS = ("cheap", "best", "buy", "online", "discount", "free shipping", "deal", "sale", "replica",
                 "watches", "shoes", "pills", "casino", "bonus", "loans", "fast", "top rated", "outlet",
                 "coupon", "wholesale", "luxury", "bags", "official store", "lowest price", "2020")


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    ip: str
    server: str
    nav: tuple[str, ...]
    footer: tuple[str, ...]
    template: int  # 0 blog, 1 news, 2 docs-like: different markup, same kinds of boilerplate
    scheme: str
    www: bool


def _make_sites(config: DemoConfig, count: int, spammy: bool = False) -> list[Site]:
    rng = _rng(config, "spam-sites" if spammy else "sites")
    words = [w for w in synthetic.word_list() if len(w) <= 9]
    sites, domains = [], set()
    while len(sites) < count:
        if spammy:
            parts = rng.sample(SPAM_KEYWORDS[:20], 3)
            domain = "-".join(p.replace(" ", "-") for p in parts) + "." + rng.choice(("info", "biz", "top", "xyz"))
            name = " ".join(p.title() for p in parts)
        else:
            first, suffix = rng.choice(words), rng.choice(SITE_SUFFIXES)
            domain = f"{first}{suffix}.{rng.choice(TLDS)}"
            name = f"{first.title()} {suffix.title()}"
        if domain in domains:
            continue
        domains.add(domain)
        sites.append(Site(
            domain=domain, name=name,
            ip=f"{rng.randrange(23, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            server=rng.choice(SERVERS),
            nav=tuple(rng.sample(NAV_LABELS, rng.randrange(5, 10))),
            footer=tuple(rng.sample(("About us", "Contact", "Privacy policy", "Terms of use", "Cookie settings",
                                     "Advertise", "Careers", "Sitemap", "RSS", "Imprint", "Accessibility"),
                                    rng.randrange(4, 9))),
            template=rng.randrange(3), scheme=rng.choice(("https", "https", "http")), www=rng.random() < 0.4,
        ))
    return sites


def _slug(title: str) -> str:
    return "-".join("".join(c for c in word.lower() if c.isalnum()) for word in title.split())[:60].strip("-")


def _url(site: Site, title: str, rng: random.Random) -> str:
    host = ("www." if site.www else "") + site.domain
    style = rng.randrange(4)
    if style == 0:
        path = f"/{rng.choice(SECTIONS)}/2019/{rng.randrange(1, 13):02d}/{_slug(title)}/"
    elif style == 1:
        path = f"/{rng.choice(SECTIONS)}/{_slug(title)}-{rng.randrange(10**4, 10**6)}.html"
    elif style == 2:
        path = f"/p/{rng.randrange(10**5, 10**7)}"
    else:
        path = f"/index.php?option=com_content&view=article&id={rng.randrange(10**5)}"
    return f"{site.scheme}://{host}{path}"


# ------------------------------------------------------------------------------------------- articles

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


def _good_article(pool: TextPool, rng: random.Random, config: DemoConfig) -> Article:
    words = rng.randrange(config.good_words[0], config.good_words[1] + 1)
    paragraphs = rng.randrange(config.good_paragraphs[0], config.good_paragraphs[1] + 1)
    author, published = _byline(rng)
    blocks = tuple(("p", p) for p in pool.paragraphs(rng, words, paragraphs))
    return Article(pool.title(rng), author, published, blocks, _comments(rng))


def _article_from_text(text: str, title: str, rng: random.Random) -> Article:
    author, published = _byline(rng)
    return Article(title, author, published, tuple(("p", p) for p in text.split("\n\n")), _comments(rng))


def _spam_article(rng: random.Random) -> Article:
    keywords = rng.sample(SPAM_KEYWORDS, 6)
    phrase = " ".join(keywords[:3])
    blocks: list[tuple[str, object]] = []
    for _ in range(rng.randrange(3, 7)):
        words = [rng.choice((phrase, *keywords)) for _ in range(rng.randrange(25, 60))]
        blocks.append(("p", " ".join(words).capitalize() + "!"))
    blocks.append(("p", "Tags: " + ", ".join(f"{phrase} {k}" for k in rng.sample(SPAM_KEYWORDS, 12))))
    return Article(phrase.title() + " - " + " ".join(keywords[3:]).title(), "admin", "2020-01-01", tuple(blocks))


def _list_article(pool: TextPool, rng: random.Random) -> Article:
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


def _boilerplate_article(pool: TextPool, rng: random.Random) -> Article:
    sentences = rng.sample(pool.short_sentences, rng.randrange(1, 3))
    return Article(pool.title(rng), "", "", (("p", " ".join(sentences)),))


def _quote_lead(rng: random.Random) -> str:
    return rng.choice(("Here is an example from the practice set:", "One reader sent us this one:",
                       "Try this question from the quiz:", "For instance:", "The exercise reads as follows:"))


# ----------------------------------------------------------------------------------------------- HTML

def _text(text: str) -> str:
    return html.escape(text, quote=False)


def _render_blocks(article: Article) -> str:
    out = []
    for kind, content in article.blocks:
        if kind == "p":
            out.append(f"<p>{_text(content)}</p>")
        elif kind == "h2":
            out.append(f"<h2>{_text(content)}</h2>")
        elif kind == "quote":
            out.append(f'<blockquote class="quiz"><p>{_text(content)}</p></blockquote>')
        elif kind == "table":
            header, *rows = content
            out.append('<table class="products"><thead><tr>' + "".join(f"<th>{_text(c)}</th>" for c in header)
                       + "</tr></thead><tbody>" + "".join(
                           "<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in rows)
                       + "</tbody></table>")
        elif kind == "ol":
            out.append('<ol class="numbers">' + "".join(f"<li>{_text(i)}</li>" for i in content) + "</ol>")
        elif kind == "tags":
            out.append('<div class="tag-cloud">' + " ".join(
                f'<a href="/tag/{t}" class="tag size-{len(t) % 5}">{_text(t)}</a>' for t in content) + "</div>")
    return "\n".join(out)


def _head(title: str, site: Site, description: str, charset_tag: str) -> str:
    digest = hashlib.blake2b(site.domain.encode(), digest_size=4).hexdigest()
    return f"""<head>
{charset_tag}
<title>{_text(title)} | {_text(site.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{html.escape(description[:150])}">
<meta property="og:site_name" content="{html.escape(site.name)}">
<link rel="stylesheet" href="/static/css/main.{digest}.css">
<link rel="icon" href="/favicon.ico">
<style>body{{font-family:Georgia,serif;margin:0}}.cookie-banner{{position:fixed;bottom:0}}</style>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}gtag('js',0);</script>
</head>"""


def _cookie_banner(site: Site) -> str:
    return (f'<div id="cookie-consent" class="cookie-banner"><p>We use cookies to improve your experience on '
            f'{_text(site.name)}. By continuing to browse you agree to our use of cookies.</p>'
            f'<button class="accept">Accept all</button> <a href="/cookie-policy">Learn more</a></div>')


def _nav(site: Site) -> str:
    items = "".join(f'<li><a href="/{label.lower()}/">{label}</a></li>' for label in site.nav)
    return (f'<header class="site-header"><a class="logo" href="/">{_text(site.name)}</a>'
            f'<nav class="main-nav" role="navigation"><ul class="menu">{items}</ul></nav>'
            f'<form class="search" action="/search"><input name="q" placeholder="Search"></form></header>')


def _footer(site: Site, heavy: bool = False) -> str:
    links = "".join(f'<li><a href="/{_slug(label)}">{label}</a></li>' for label in site.footer)
    extra = ""
    if heavy:
        extra = ('<div class="newsletter"><h3>Subscribe to our newsletter</h3><p>Get the latest posts, deals '
                 'and updates delivered to your inbox every week. No spam, unsubscribe at any time.</p>'
                 '<form><input type="email" placeholder="Your email"><button>Subscribe</button></form></div>'
                 '<div class="social">Follow us on Twitter, Facebook, Instagram and LinkedIn.</div>')
    return (f'<footer class="site-footer">{extra}<ul class="footer-links">{links}</ul>'
            f'<p class="copyright">© 2020 {_text(site.name)}. All rights reserved.</p></footer>'
            f'<script src="/static/js/app.js" async></script>')


def _comments_html(article: Article) -> str:
    if not article.comments:
        return ""
    items = "".join(f'<li class="comment"><p class="comment-author">{_text(who)}</p><p>{_text(said)}</p></li>'
                    for who, said in article.comments)
    return (f'<section id="comments" class="comments"><h3>{len(article.comments)} comments</h3>'
            f'<ol class="comment-list">{items}</ol></section>')


def render_page(article: Article, site: Site, charset_tag: str = '<meta charset="utf-8">',
                heavy_boilerplate: bool = False, padding: str = "") -> str:
    """A realistic page: doctype, head, cookie banner, nav, the article, comments, footer, scripts."""
    byline = ""
    if article.author:
        byline = (f'<p class="byline">By <span class="author">{_text(article.author)}</span> · '
                  f'<time datetime="{article.published}">{article.published}</time></p>')
    heading = f"<h1>{_text(article.title)}</h1>" if article.title else ""
    body = f"{heading}\n{byline}\n<div class=\"entry-content\">\n{_render_blocks(article)}\n</div>"
    if site.template == 0:
        main = f'<main id="content"><article class="post">{body}</article>{_comments_html(article)}</main>'
    elif site.template == 1:
        main = (f'<div id="main" class="container"><div class="story-body">{body}</div>'
                f'{_comments_html(article)}</div>')
    else:
        main = (f'<div class="wrapper"><section class="content" role="main">{body}</section>'
                f'{_comments_html(article)}</div>')
    description = next((str(c) for k, c in article.blocks if k == "p"), article.title)
    return (f'<!DOCTYPE html>\n<html lang="en">\n{_head(article.title, site, description, charset_tag)}\n<body>\n'
            f'{_cookie_banner(site)}\n{_nav(site)}\n{main}\n{_footer(site, heavy_boilerplate)}\n{padding}'
            f'</body>\n</html>\n')


def _render_app_shell(site: Site) -> str:
    """A JavaScript app shell: an empty mount point, a script and the footer's few words, no main text.

    trafilatura (defaults, or favor_precision) returns None for it; a visible nav menu or a <noscript>
    notice would be returned as "text", so the shell has neither. favor_recall keeps the copyright line.
    """
    return (f'<!DOCTYPE html>\n<html lang="en">\n{_head(site.name, site, site.name, "<meta charset=utf-8>")}\n'
            f'<body>\n<div id="root"></div>\n<script src="/static/js/main.{site.template}.js"></script>\n'
            f'{_footer(site)}\n</body>\n</html>\n')


def _oversize_padding(target_bytes: int) -> str:
    """An inline JSON state blob, repetitive so the record gzips to a few KB."""
    item = '{"id":0,"name":"placeholder","price":0.0,"tags":["a","b"]},'
    return f"<script>window.__STATE__={{\"items\":[{item * (target_bytes // len(item) + 1)}{{}}]}};</script>\n"


# ------------------------------------------------------------------------------------------ responses

# Content-Type headers of ordinary pages, as servers spell them; "text/html" alone leaves the charset to
# the page's <meta charset="utf-8">.
CONTENT_TYPES = (("text/html; charset=UTF-8",) * 5 + ("text/html; charset=utf-8",) * 2
                 + ("text/html;charset=UTF-8",) + ("text/html",) * 2)

@dataclass
class Page:
    """One response (or revisit) record to write, with what truth.json says about it."""

    kind: str
    site: Site
    url: str
    article: Article | None = None
    html_text: str | None = None  # set when the page is not rendered from `article`
    status: str = "200 OK"
    content_type: str = "text/html; charset=UTF-8"
    body_encoding: str = "utf-8"  # charset the HTML is encoded in
    body_bytes: bytes | None = None  # raw payload for non-HTML records
    transfer: str | None = None  # None | "gzip" (Content-Encoding) | "chunked" (Transfer-Encoding)
    extra_headers: tuple[tuple[str, str], ...] = ()
    expected_reason: str | None = None
    dup_group: int | None = None
    dup_of: "Page | None" = None  # the original page (always earlier in crawl order)
    edit_fraction: float | None = None
    reference: dict | None = None
    benchmark_items: list = field(default_factory=list)
    snippet: str | None = None  # text the extracted document must contain (charset pages)
    charset: str | None = None  # charset declared in the HTML only (charset pages)
    record_id: str | None = None  # WARC-Record-ID, set when the record is written

    def payload(self) -> bytes:
        if self.body_bytes is not None:
            return self.body_bytes
        text = self.html_text if self.html_text is not None else render_page(self.article, self.site)
        # Characters the legacy charset lacks (the byline's "·", "©") become &#NNN; as CMSs emit them.
        return text.encode(self.body_encoding, errors="xmlcharrefreplace")


def _chunked(body: bytes, rng: random.Random) -> bytes:
    """HTTP/1.1 chunked transfer coding of `body` in chunks of random size."""
    out, position = [], 0
    while position < len(body):
        size = rng.randrange(512, 4096)
        chunk = body[position:position + size]
        out.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        position += size
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def _tiny_png(rng: random.Random) -> bytes:
    """A valid 8x8 greyscale PNG, built by hand so no image library is needed."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(8)) for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _tiny_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n"
            + b"4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%%%EOF\n"
            % (len(stream), stream))


# ------------------------------------------------------------------------------------------- planning

@dataclass
class Plan:
    pages: list[Page]  # regular files, in crawl order
    truncated_pages: list[Page]
    references: dict[str, list[dict]]
    benchmarks: dict[str, list[dict]]


def _kind_counts(config: DemoConfig) -> dict[str, int]:
    counts = {kind: round(share * config.pages) for kind, share in PAGE_KIND_SHARES}
    return {"good": config.pages - sum(counts.values()), **counts}


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


def _benchmarks(config: DemoConfig, pool: TextPool) -> dict[str, list[dict]]:
    benchmarks = {task: synthetic.generate(task, config.benchmark_examples, config.seed)
                  for task in config.benchmark_tasks}
    benchmarks["prose_cloze"] = _prose_cloze(pool)
    return benchmarks


def _references(config: DemoConfig, pool: TextPool) -> dict[str, list[dict]]:
    rng = _rng(config, "reference")
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


class _Planner:
    """Decides every page of the crawl before anything is written (so duplicate groups are known)."""

    def __init__(self, config: DemoConfig, pool: TextPool, references, benchmarks):
        self.config, self.pool = config, pool
        self.references, self.benchmarks = references, benchmarks
        self.rng = _rng(config, "pages")
        self.sites = _make_sites(config, config.sites)
        self.spam_sites = _make_sites(config, max(3, config.sites // 10), spammy=True)
        self.urls: set[str] = set()
        self.groups = 0  # dup groups handed out so far (renumbered in crawl order at the end)

    def new_group(self) -> int:
        self.groups += 1
        return self.groups

    def url(self, site: Site, title: str) -> str:
        while True:
            url = _url(site, title, self.rng)
            if url not in self.urls:
                self.urls.add(url)
                return url

    def page(self, kind: str, article: Article, site: Site | None = None, **fields) -> Page:
        site = site or self.rng.choice(self.sites)
        fields.setdefault("content_type", self.rng.choice(CONTENT_TYPES))
        return Page(kind=kind, site=site, url=self.url(site, article.title or site.name), article=article,
                    **fields)

    # -- ordinary pages

    def ordinary_pages(self) -> list[Page]:
        counts = _kind_counts(self.config)
        kinds = [kind for kind, n in counts.items() for _ in range(n)]
        self.rng.shuffle(kinds)
        # A duplicate needs an earlier good page: move the first good page to the front.
        kinds.insert(0, kinds.pop(kinds.index("good")))
        quotable = [(task, i) for task, items in self.benchmarks.items() for i in range(len(items))]
        self.rng.shuffle(quotable)
        references = [(name, doc) for name in ("webtext2", "wikipedia", "books") for doc in self.references[name]]
        self.rng.shuffle(references)
        assert len(references) >= counts["reference_dup"], (
            f"{counts['reference_dup']} reference_dup pages need as many reference documents, got {len(references)}")
        assert len(quotable) >= 3 * counts["benchmark_quote"], (
            f"{counts['benchmark_quote']} benchmark_quote pages need up to 3 items each, got {len(quotable)}")
        pages: list[Page] = []
        good: list[Page] = []
        for kind in kinds:
            if kind == "good":
                good.append(self.page("good", _good_article(self.pool, self.rng, self.config)))
                pages.append(good[-1])
            elif kind in ("exact_dup", "near_dup"):
                pages.append(self.duplicate(kind, self.rng.choice(good)))
            elif kind == "benchmark_quote":
                pages.append(self.benchmark_quote(quotable))
            elif kind == "reference_dup":
                pages.append(self.reference_dup(*references.pop()))
            elif kind == "spam":
                pages.append(self.page("spam", _spam_article(self.rng), self.rng.choice(self.spam_sites)))
            elif kind == "list":
                pages.append(self.page("list", _list_article(self.pool, self.rng)))
            elif kind == "boilerplate":
                article = _boilerplate_article(self.pool, self.rng)
                pages.append(self.page("boilerplate", article))
                pages[-1].html_text = render_page(article, pages[-1].site, heavy_boilerplate=True)
        return pages

    def duplicate(self, kind: str, original: Page) -> Page:
        if original.dup_group is None:
            original.dup_group = self.new_group()
        if kind == "exact_dup":
            article, fraction = original.article, None
        else:
            text, fraction = edit_words(original.article.main_text, self.rng.uniform(*self.config.near_dup_edit),
                                        self.rng, self.pool.vocabulary)
            article = replace(original.article, blocks=tuple(("p", p) for p in text.split("\n\n")))
        # Usually another site (syndication, scrapers), sometimes the same site under another URL; always
        # the same page template, since trafilatura keeps or drops the <h1> title depending on the markup
        # around it, and an exact duplicate must extract to exactly the same text.
        same_template = [site for site in self.sites if site.template == original.site.template]
        site = original.site if self.rng.random() < 0.25 else self.rng.choice(same_template)
        return self.page(kind, article, site, dup_group=original.dup_group, dup_of=original,
                         edit_fraction=None if fraction is None else round(fraction, 4))

    def benchmark_quote(self, quotable: list[tuple[str, int]]) -> Page:
        article = _good_article(self.pool, self.rng, replace(self.config, good_words=(150, 500)))
        blocks = list(article.blocks)
        items = [quotable.pop() for _ in range(self.rng.randrange(1, 4))]
        for task, index in items:
            example = self.benchmarks[task][index]
            position = self.rng.randrange(len(blocks) + 1)
            blocks[position:position] = [("p", _quote_lead(self.rng)),
                                         ("quote", example["context"] + example["completion"])]
        return self.page("benchmark_quote", replace(article, blocks=tuple(blocks)),
                         benchmark_items=[{"task": task, "index": index} for task, index in items])

    def reference_dup(self, dataset: str, document: dict) -> Page:
        text, fraction = document["text"], 0.0
        if self.rng.random() >= self.config.reference_dup_exact_share:
            text, fraction = edit_words(text, self.rng.uniform(*self.config.reference_dup_edit), self.rng,
                                        self.pool.vocabulary)
        title = text.split("\n\n", 1)[0] if dataset != "webtext2" else self.pool.title(self.rng)
        article = _article_from_text(text, title[:120], self.rng)
        # Its group stands for the reference document (each is copied once), so it is the only crawl member.
        return self.page("reference_dup", article, dup_group=self.new_group(), edit_fraction=round(fraction, 4),
                         reference={"dataset": dataset, "id": document["id"]})

    # -- special records

    def special_pages(self) -> list[Page]:
        pages = []
        for kind in SPECIAL_KINDS:
            count = self.config.oversize_pages if kind == "oversize" else self.config.special_per_kind
            if kind in ("meta_charset", "http_equiv_charset"):
                count = max(count, len(NATIVE_SENTENCES))
            pages.extend(self.special(kind, i) for i in range(count))
        return pages

    def special(self, kind: str, i: int) -> Page:
        rng, site = self.rng, self.rng.choice(self.sites)
        reason = SPECIAL_KINDS[kind]
        if kind in ("http_404", "http_301"):
            article = Article("Page not found", "", "", (("p", "Sorry, the page you are looking for does not exist."),))
            page = self.page(kind, article, site, expected_reason=reason)
            if kind == "http_404":
                page.status = "404 Not Found"
                page.html_text = render_page(article, site)
            else:
                page.status = "301 Moved Permanently"
                page.html_text = f'<html><body>Moved <a href="{page.url}/">here</a>.</body></html>'
                page.extra_headers = (("Location", page.url + "/"),)
            return page
        if kind == "image_png":
            page = Page(kind, site, f"{site.scheme}://{site.domain}/images/photo-{rng.randrange(10**6)}.png",
                        content_type="image/png", body_bytes=_tiny_png(rng), expected_reason=reason)
        elif kind in ("application_pdf", "pdf_as_html"):
            page = Page(kind, site, f"{site.scheme}://{site.domain}/files/report-{rng.randrange(10**6)}.pdf",
                        content_type="application/pdf" if kind == "application_pdf" else "text/html",
                        body_bytes=_tiny_pdf(rng.choice(self.pool.document_sentences)), expected_reason=reason)
        elif kind == "empty_payload":
            page = Page(kind, site, f"{site.scheme}://{site.domain}/empty/{rng.randrange(10**6)}",
                        body_bytes=b"", expected_reason=reason)
        elif kind == "revisit":
            article = _good_article(self.pool, rng, self.config)
            page = self.page(kind, article, site, expected_reason=reason)
        elif kind == "oversize":
            article = _good_article(self.pool, rng, self.config)
            page = self.page(kind, article, site, expected_reason=reason)
            page.html_text = render_page(article, site, padding=_oversize_padding(self.config.oversize_bytes))
        elif kind == "bad_charset_label":
            article = self.with_sentence(_good_article(self.pool, rng, self.config), UTF8_SENTENCE)
            page = self.page(kind, article, site, content_type="text/html; charset=no-such-charset",
                             snippet=UTF8_SENTENCE)
            page.html_text = render_page(article, site, charset_tag="")
        elif kind in ("meta_charset", "http_equiv_charset"):
            charset = list(NATIVE_SENTENCES)[i % len(NATIVE_SENTENCES)]
            sentence = NATIVE_SENTENCES[charset]
            article = self.with_sentence(_good_article(self.pool, rng, self.config), sentence)
            tag = (f'<meta charset="{charset}">' if kind == "meta_charset" else
                   f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">')
            page = self.page(kind, article, site, content_type="text/html", body_encoding=charset,
                             snippet=sentence, charset=charset)
            page.html_text = render_page(article, site, charset_tag=tag)
        elif kind == "no_main_text":
            page = Page(kind, site, self.url(site, "about"), expected_reason=reason)
            page.html_text = _render_app_shell(site)
        else:
            raise AssertionError(f"no recipe for special kind {kind!r}")
        self.urls.add(page.url)
        return page

    def with_sentence(self, article: Article, sentence: str) -> Article:
        blocks = list(article.blocks)
        blocks.insert(self.rng.randrange(1, len(blocks) + 1), ("p", sentence))
        return replace(article, blocks=tuple(blocks))

    def mark_encoded(self, pages: list[Page]) -> None:
        """Send a few good pages gzip-encoded and a few chunked, as real servers do."""
        good = [page for page in pages if page.kind == "good"]
        count = max(2, round(self.config.encoded_share * len(good)))
        chosen = self.rng.sample(good, 2 * count)
        for page in chosen[:count]:
            page.transfer = "gzip"
        for page in chosen[count:]:
            page.transfer = "chunked"

    def truncated_file_pages(self) -> list[Page]:
        return [self.page("good", _good_article(self.pool, self.rng, self.config))
                for _ in range(self.config.truncated_file_pages)]


def _renumber_groups(pages: list[Page]) -> None:
    """Dup groups numbered 0, 1, 2, ... in crawl order of first appearance (originals and reference copies)."""
    mapping: dict[int, int] = {}
    for page in pages:
        if page.dup_group is not None:
            page.dup_group = mapping.setdefault(page.dup_group, len(mapping))


def plan_crawl(config: DemoConfig) -> Plan:
    pool = TextPool.build(config)
    benchmarks = _benchmarks(config, pool)
    references = _references(config, pool)
    planner = _Planner(config, pool, references, benchmarks)
    pages = planner.ordinary_pages()
    planner.mark_encoded(pages)
    for special in planner.special_pages():  # scattered through the crawl
        pages.insert(planner.rng.randrange(len(pages) + 1), special)
    _renumber_groups(pages)
    return Plan(pages, planner.truncated_file_pages(), references, benchmarks)


# ------------------------------------------------------------------------------------------ WARC writing

HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"
WARC_DATE = "%Y-%m-%dT%H:%M:%SZ"


class _WarcFile:
    """Writes one Common Crawl-like WARC file into memory, recording each record's offset."""

    def __init__(self, name: str, config: DemoConfig, start: datetime, ids: random.Random, rng: random.Random):
        self.name, self.config = name, config
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=True)
        self.clock, self.ids, self.rng = start, ids, rng
        self.records = 0
        self.offsets: list[int] = []  # start of every record, plus the end of the file at the end
        self.warcinfo_id = self._new_id()
        self._write_warcinfo()

    def _new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.ids.getrandbits(128), version=4)}>"

    def _tick(self) -> str:
        self.clock += timedelta(seconds=self.rng.randrange(1, 30))
        return self.clock.strftime(WARC_DATE)

    def _write(self, record) -> int:
        offset = self.buffer.tell()
        self.offsets.append(offset)
        self.writer.write_record(record)
        self.records += 1
        return offset

    def _write_warcinfo(self) -> None:
        info = (f"isPartOf: CC-DEMO-{self.config.seed}\r\npublisher: gpt3-corpus (corpus.demo)\r\n"
                f"description: Embedded demo crawl with planted truth; synthetic pages built from Python's "
                f"own documentation\r\noperator: corpus.demo\r\nhostname: demo-crawler\r\n"
                f"software: corpus.demo (gpt3-corpus 0.1.0)\r\nrobots: checked\r\n"
                f"format: WARC File Format 1.0\r\n"
                f"conformsTo: http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf\r\n").encode()
        record = self.writer.create_warc_record(
            "", "warcinfo", payload=io.BytesIO(info), length=len(info),
            warc_headers_dict={"WARC-Record-ID": self.warcinfo_id, "WARC-Date": self.clock.strftime(WARC_DATE),
                               "WARC-Filename": self.name, "Content-Type": "application/warc-fields"})
        self._write(record)

    def write_page(self, page: Page) -> int:
        """request, response (or revisit), metadata; sets page.record_id, returns the response's offset."""
        assert page.dup_of is None or page.dup_of.record_id, f"{page.url}: its original must be written first"
        date = self._tick()
        request_id = self._new_id()
        page.record_id = response_id = self._new_id()
        self._write(self._request(page, date, request_id))
        if page.kind == "revisit":
            return self._write(self._revisit(page, date, response_id, request_id))
        offset = self._write(self._response(page, date, response_id, request_id))
        self._write(self._metadata(page, date, response_id))
        return offset

    def _common(self, page: Page, date: str, record_id: str) -> dict[str, str]:
        return {"WARC-Record-ID": record_id, "WARC-Date": date, "WARC-Warcinfo-ID": self.warcinfo_id,
                "WARC-IP-Address": page.site.ip}

    def _request(self, page: Page, date: str, record_id: str):
        host = page.url.split("/")[2]
        path = "/" + page.url.split("/", 3)[3] if page.url.count("/") >= 3 else "/"
        headers = [("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
                   ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                   ("Accept-Language", "en-US,en;q=0.5"), ("If-Modified-Since", "Tue, 01 Oct 2019 00:00:00 GMT"),
                   ("Accept-Encoding", "br,gzip"), ("Host", host), ("Connection", "Keep-Alive")]
        http = StatusAndHeaders(f"GET {path} HTTP/1.1", headers, is_http_request=True)
        return self.writer.create_warc_record(page.url, "request", payload=io.BytesIO(b""), length=0,
                                              http_headers=http,
                                              warc_headers_dict=self._common(page, date, record_id))

    def _http_headers(self, page: Page, body: bytes) -> list[tuple[str, str]]:
        when = self.clock
        headers = [("Date", when.strftime(HTTP_DATE)), ("Server", page.site.server),
                   ("Content-Type", page.content_type)]
        if page.transfer == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(body))))
        if page.transfer == "gzip":
            headers.append(("Content-Encoding", "gzip"))
        headers += [("Connection", "close"), ("Vary", "Accept-Encoding"),
                    ("Last-Modified", (when - timedelta(days=self.rng.randrange(1, 400))).strftime(HTTP_DATE)),
                    ("Cache-Control", self.rng.choice(("max-age=600", "no-cache", "public, max-age=3600")))]
        if self.rng.random() < 0.3:
            headers.append(("X-Powered-By", self.rng.choice(("PHP/7.2.24", "Express", "ASP.NET", "WP Engine"))))
        return headers + list(page.extra_headers)

    def _body(self, page: Page) -> bytes:
        body = page.payload()
        if page.transfer == "gzip":
            return gzip.compress(body, compresslevel=6, mtime=0)
        if page.transfer == "chunked":
            return _chunked(body, self.rng)
        return body

    def _response(self, page: Page, date: str, record_id: str, request_id: str):
        body = self._body(page)
        http = StatusAndHeaders(page.status, self._http_headers(page, body), protocol="HTTP/1.1")
        warc_headers = {**self._common(page, date, record_id), "WARC-Concurrent-To": request_id,
                        "Content-Type": "application/http; msgtype=response",
                        "WARC-Identified-Payload-Type": page.content_type.split(";")[0]}
        return self.writer.create_warc_record(page.url, "response", payload=io.BytesIO(body), length=len(body),
                                              http_headers=http, warc_headers_dict=warc_headers)

    def _revisit(self, page: Page, date: str, record_id: str, request_id: str):
        body = page.payload()
        digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
        http = StatusAndHeaders("200 OK", self._http_headers(page, body), protocol="HTTP/1.1")
        earlier = (self.clock - timedelta(days=30)).strftime(WARC_DATE)
        warc_headers = {**self._common(page, date, record_id), "WARC-Concurrent-To": request_id,
                        "Content-Type": "application/http; msgtype=response"}
        return self.writer.create_revisit_record(page.url, digest, page.url, earlier, http_headers=http,
                                                 warc_headers_dict=warc_headers)

    def _metadata(self, page: Page, date: str, response_id: str):
        fields = f"fetchTimeMs: {self.rng.randrange(20, 2000)}\r\n"
        if page.content_type.startswith("text/html") and page.status.startswith("200"):
            fields += (f"charset-detected: {(page.charset or page.body_encoding).upper()}\r\n"
                       'languages-cld2: {"reliable":true,"languages":[{"code":"en","code-iso-639-3":"eng",'
                       '"text-covered":0.99,"score":900.0,"name":"ENGLISH"}]}\r\n')
        payload = fields.encode()
        warc_headers = {"WARC-Record-ID": self._new_id(), "WARC-Date": date, "WARC-Warcinfo-ID": self.warcinfo_id,
                        "WARC-Refers-To": response_id, "Content-Type": "application/warc-fields"}
        return self.writer.create_warc_record(page.url, "metadata", payload=io.BytesIO(payload),
                                              length=len(payload), warc_headers_dict=warc_headers)

    def getvalue(self) -> bytes:
        return self.buffer.getvalue()


def _truth_record(page: Page, warc_file: str, offset: int, readable: bool = True) -> dict:
    article_kinds = ("good", "spam", "boilerplate", "list", "exact_dup", "near_dup", "benchmark_quote",
                     "reference_dup", "bad_charset_label", "meta_charset", "http_equiv_charset")
    return {
        "warc_file": warc_file,
        "warc_offset": offset,
        "record_id": page.record_id,
        "doc_id": doc_id_for_record(page.record_id),
        "url": page.url,
        "kind": page.kind,
        "expected_reason": page.expected_reason if readable else CORRUPT_WARC,
        "dup_group": page.dup_group,
        "dup_of": None if page.dup_of is None else doc_id_for_record(page.dup_of.record_id),
        "edit_fraction": page.edit_fraction,
        "reference": page.reference,
        "benchmark_items": page.benchmark_items,
        "readable": readable,
        "http_status": int(page.status.split()[0]),
        "content_type": page.content_type,
        "transfer": page.transfer,
        "charset": page.charset,
        "snippet": page.snippet,
        "main_text_words": len(page.article.main_text.split())
        if page.article is not None and page.kind in article_kinds else None,
    }


def _cut_offset(data: bytes, response_offsets: list[int], fraction: float) -> int:
    """Where to cut the truncated file: inside the first response record starting past `fraction` of it.

    The cut leaves that record's gzip member holding only the start of its first line ("WARC/1."). warcio
    1.8 is lenient about truncation: cut anywhere later in a member and it silently yields a short record
    and stops, so a reader could not tell the file was damaged. Cut here, it yields every earlier record
    and then raises ArchiveLoadFailed ("Invalid WARC record"), the error a real reader must survive.
    """
    start = next(o for o in response_offsets if o >= fraction * len(data))
    first_line = data[start:start + 4096]
    for cut in range(1, len(first_line)):
        decoded = zlib.decompressobj(zlib.MAX_WBITS + 16).decompress(first_line[:cut])
        if 0 < len(decoded) < len(b"WARC/1.0\r\n"):
            return start + cut
    raise AssertionError(f"no cut inside the first line of the record at offset {start}")


def write_crawl(plan: Plan, config: DemoConfig, crawl_dir: Path) -> tuple[list[dict], list[dict]]:
    """Write the regular and the truncated WARC files; return (file entries, truth records)."""
    crawl_dir.mkdir(parents=True, exist_ok=True)
    for stale in crawl_dir.glob("CC-DEMO-*.warc.gz"):
        stale.unlink()
    ids, net_rng = _rng(config, "record-ids"), _rng(config, "network")
    start = datetime.fromisoformat(config.crawl_start)
    files, records = [], []

    bounds = [round(i * len(plan.pages) / config.files) for i in range(config.files + 1)]
    for number, (first, last) in enumerate(zip(bounds, bounds[1:])):
        name = f"CC-DEMO-{config.seed}-{number:05d}.warc.gz"
        warc = _WarcFile(name, config, start + timedelta(hours=6 * number), ids, net_rng)
        for index in range(first, last):
            page = plan.pages[index]
            offset = warc.write_page(page)
            records.append(_truth_record(page, name, offset))
        (crawl_dir / name).write_bytes(warc.getvalue())
        files.append({"warc_file": name, "records": warc.records, "responses": last - first,
                      "bytes": len(warc.getvalue()), "truncated": False, "cut_offset": None})

    name = f"CC-DEMO-{config.seed}-truncated.warc.gz"
    warc = _WarcFile(name, config, start + timedelta(hours=6 * config.files), ids, net_rng)
    written = [(page, warc.write_page(page)) for page in plan.truncated_pages]
    cut = _cut_offset(warc.getvalue(), [offset for _, offset in written], config.truncate_at)
    (crawl_dir / name).write_bytes(warc.getvalue()[:cut])
    ends = dict(zip(warc.offsets, warc.offsets[1:] + [len(warc.getvalue())]))
    for page, offset in written:
        records.append(_truth_record(page, name, offset, readable=ends[offset] <= cut))
    files.append({"warc_file": name, "records": sum(1 for o in warc.offsets if ends[o] <= cut),
                  "responses": sum(1 for _, o in written if ends[o] <= cut), "bytes": cut,
                  "truncated": True, "cut_offset": cut, "cut_record_offset": max(o for o in warc.offsets if o < cut),
                  "expected_error": CORRUPT_WARC})
    return files, records


# ------------------------------------------------------------------------------------------------ output

def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def generate_from_config(out_dir: str | Path, config: DemoConfig) -> dict:
    """Write the demo crawl, reference corpora, benchmarks and truth.json; return their paths."""
    if config.pages < 20 or config.files < 1:
        raise ValueError(f"The demo needs pages >= 20 and files >= 1, got pages={config.pages}, files={config.files}.")
    config = config.resolved()
    out = Path(out_dir)
    plan = plan_crawl(config)
    files, records = write_crawl(plan, config, out / "crawl")
    references = {name: _write_jsonl(out / "reference" / f"{name}.jsonl", docs)
                  for name, docs in plan.references.items()}
    benchmarks = {task: synthetic.write_jsonl(out / "benchmarks" / f"{task}.jsonl", items)
                  for task, items in plan.benchmarks.items()}
    truth = {
        "seed": config.seed,
        "pages_requested": config.pages,
        "config": asdict(config),
        "expected_reasons": list(EXPECTED_REASONS),
        "files": files,
        "reference": {name: len(docs) for name, docs in plan.references.items()},
        "benchmarks": {task: len(items) for task, items in plan.benchmarks.items()},
        "counts": dict(sorted(Counter(r["kind"] for r in records).items())),
        "expected_reason_counts": dict(sorted(Counter(str(r["expected_reason"]) for r in records).items())),
        "records": records,
    }
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return {
        "out": out,
        "crawl": [out / "crawl" / f["warc_file"] for f in files if not f["truncated"]],
        "truncated": out / "crawl" / files[-1]["warc_file"],
        "reference": references,
        "benchmarks": benchmarks,
        "truth": truth_path,
    }


def generate(out_dir: str | Path, pages: int = 3000, files: int = 4, seed: int = 0) -> dict:
    """`generate_from_config` with the three knobs users turn; see DemoConfig for the rest."""
    return generate_from_config(out_dir, DemoConfig(pages=pages, files=files, seed=seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.demo",
                                     description="Write the embedded demo crawl with planted truth.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--pages", type=int, default=DemoConfig.pages, help="ordinary pages (default 3000)")
    parser.add_argument("--files", type=int, default=DemoConfig.files, help="regular WARC files (default 4)")
    parser.add_argument("--seed", type=int, default=DemoConfig.seed, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        paths = generate(args.out, pages=args.pages, files=args.files, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    print(f"wrote {len(truth['files'])} WARC files, {len(truth['records'])} response records, "
          f"{sum(truth['reference'].values())} reference documents and {len(truth['benchmarks'])} benchmarks "
          f"under {paths['out']}")
    for kind, count in truth["counts"].items():
        print(f"  {kind:20s} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
