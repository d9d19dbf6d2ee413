"""The planner: every page of the crawl decided before anything is written, so duplicate groups are known.

Which page copies which, which benchmark items and reference documents are planted where, and where the
special records sit in crawl order.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from corpus_demo.articles import (Article, article_from_text, boilerplate_article, good_article, list_article,
                                  quote_lead, spam_article)
from corpus_demo.config import DemoConfig, rng_for
from corpus_demo.corpora import make_benchmarks, make_references
from corpus_demo.kinds import NATIVE_SENTENCES, PAGE_KIND_SHARES, SPECIAL_KINDS, UTF8_SENTENCE
from corpus_demo.pages import oversize_padding, render_app_shell, render_page
from corpus_demo.records import CONTENT_TYPES, Page, tiny_pdf, tiny_png
from corpus_demo.sites import Site, make_sites, page_url
from corpus_demo.text import TextPool, edit_words


@dataclass
class Plan:
    pages: list[Page]  # regular files, in crawl order
    truncated_pages: list[Page]
    references: dict[str, list[dict]]
    benchmarks: dict[str, list[dict]]


def _kind_counts(config: DemoConfig) -> dict[str, int]:
    counts = {kind: round(share * config.pages) for kind, share in PAGE_KIND_SHARES}
    return {"good": config.pages - sum(counts.values()), **counts}


class _Planner:
    """Decides every page of the crawl before anything is written (so duplicate groups are known)."""

    def __init__(self, config: DemoConfig, pool: TextPool, references, benchmarks):
        self.config, self.pool = config, pool
        self.references, self.benchmarks = references, benchmarks
        self.rng = rng_for(config, "pages")
        self.sites = make_sites(config, config.sites)
        self.spam_sites = make_sites(config, max(3, config.sites // 10), spammy=True)
        self.urls: set[str] = set()
        self.groups = 0  # dup groups handed out so far (renumbered in crawl order at the end)

    def new_group(self) -> int:
        self.groups += 1
        return self.groups

    def url(self, site: Site, title: str) -> str:
        while True:
            url = page_url(site, title, self.rng)
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
                good.append(self.page("good", good_article(self.pool, self.rng, self.config)))
                pages.append(good[-1])
            elif kind in ("exact_dup", "near_dup"):
                pages.append(self.duplicate(kind, self.rng.choice(good)))
            elif kind == "benchmark_quote":
                pages.append(self.benchmark_quote(quotable))
            elif kind == "reference_dup":
                pages.append(self.reference_dup(*references.pop()))
            elif kind == "spam":
                pages.append(self.page("spam", spam_article(self.rng), self.rng.choice(self.spam_sites)))
            elif kind == "list":
                pages.append(self.page("list", list_article(self.pool, self.rng)))
            elif kind == "boilerplate":
                article = boilerplate_article(self.pool, self.rng)
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
        article = good_article(self.pool, self.rng, replace(self.config, good_words=(150, 500)))
        blocks = list(article.blocks)
        items = [quotable.pop() for _ in range(self.rng.randrange(1, 4))]
        for task, index in items:
            example = self.benchmarks[task][index]
            position = self.rng.randrange(len(blocks) + 1)
            blocks[position:position] = [("p", quote_lead(self.rng)),
                                         ("quote", example["context"] + example["completion"])]
        return self.page("benchmark_quote", replace(article, blocks=tuple(blocks)),
                         benchmark_items=[{"task": task, "index": index} for task, index in items])

    def reference_dup(self, dataset: str, document: dict) -> Page:
        text, fraction = document["text"], 0.0
        if self.rng.random() >= self.config.reference_dup_exact_share:
            text, fraction = edit_words(text, self.rng.uniform(*self.config.reference_dup_edit), self.rng,
                                        self.pool.vocabulary)
        title = text.split("\n\n", 1)[0] if dataset != "webtext2" else self.pool.title(self.rng)
        article = article_from_text(text, title[:120], self.rng)
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
                        content_type="image/png", body_bytes=tiny_png(rng), expected_reason=reason)
        elif kind in ("application_pdf", "pdf_as_html"):
            page = Page(kind, site, f"{site.scheme}://{site.domain}/files/report-{rng.randrange(10**6)}.pdf",
                        content_type="application/pdf" if kind == "application_pdf" else "text/html",
                        body_bytes=tiny_pdf(rng.choice(self.pool.document_sentences)), expected_reason=reason)
        elif kind == "empty_payload":
            page = Page(kind, site, f"{site.scheme}://{site.domain}/empty/{rng.randrange(10**6)}",
                        body_bytes=b"", expected_reason=reason)
        elif kind == "revisit":
            article = good_article(self.pool, rng, self.config)
            page = self.page(kind, article, site, expected_reason=reason)
        elif kind == "oversize":
            article = good_article(self.pool, rng, self.config)
            page = self.page(kind, article, site, expected_reason=reason)
            page.html_text = render_page(article, site, padding=oversize_padding(self.config.oversize_bytes))
        elif kind == "bad_charset_label":
            article = self.with_sentence(good_article(self.pool, rng, self.config), UTF8_SENTENCE)
            page = self.page(kind, article, site, content_type="text/html; charset=no-such-charset",
                             snippet=UTF8_SENTENCE)
            page.html_text = render_page(article, site, charset_tag="")
        elif kind in ("meta_charset", "http_equiv_charset"):
            charset = list(NATIVE_SENTENCES)[i % len(NATIVE_SENTENCES)]
            sentence = NATIVE_SENTENCES[charset]
            article = self.with_sentence(good_article(self.pool, rng, self.config), sentence)
            tag = (f'<meta charset="{charset}">' if kind == "meta_charset" else
                   f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">')
            page = self.page(kind, article, site, content_type="text/html", body_encoding=charset,
                             snippet=sentence, charset=charset)
            page.html_text = render_page(article, site, charset_tag=tag)
        elif kind == "no_main_text":
            page = Page(kind, site, self.url(site, "about"), expected_reason=reason)
            page.html_text = render_app_shell(site)
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
        return [self.page("good", good_article(self.pool, self.rng, self.config))
                for _ in range(self.config.truncated_file_pages)]


def _renumber_groups(pages: list[Page]) -> None:
    """Dup groups numbered 0, 1, 2, ... in crawl order of first appearance (originals and reference copies)."""
    mapping: dict[int, int] = {}
    for page in pages:
        if page.dup_group is not None:
            page.dup_group = mapping.setdefault(page.dup_group, len(mapping))


def plan_crawl(config: DemoConfig) -> Plan:
    pool = TextPool.build(config)
    benchmarks = make_benchmarks(config, pool)
    references = make_references(config, pool)
    planner = _Planner(config, pool, references, benchmarks)
    pages = planner.ordinary_pages()
    planner.mark_encoded(pages)
    for special in planner.special_pages():  # scattered through the crawl
        pages.insert(planner.rng.randrange(len(pages) + 1), special)
    _renumber_groups(pages)
    return Plan(pages, planner.truncated_file_pages(), references, benchmarks)
