"""A crawl of real weight: N pages built from real page templates, in Common Crawl's record layout.

    python -m bench.real_crawl --out DIR [--pages 40000] [--files 1,4] [--seed 0]

Templates are real pages (by default the 825 of ../shared/data/real-pages/trafilatura-eval.warc.gz, ~150 KB
of HTML each). Each generated page keeps one template's DOM (its markup, scripts, styles, navigation) and
refills the template's text nodes of at least MIN_REFILL_CHARS characters, each with about as many characters
drawn from a pool of all templates' own paragraphs, so pages are unique but weigh what real pages weigh and
trafilatura works as hard on them. Shorter text nodes (menu labels, dates, buttons) stay as they were, as on
the pages of one site. Planted: NEAR_COPY_SHARE near copies (an earlier original page with 5-25% of its words
replaced) and EXACT_COPY_SHARE exact copies (an earlier original's HTML verbatim), each on its own URL.

Layout: DIR/<n>-files/REAL-<seed>-<k>.warc.gz for each requested file count n, every file a warcinfo
record then request, response and metadata records per page, one gzip member per record (so byte ranges can
be cut between records), WARC-Record-IDs unique; the same pages in every layout. DIR/truth.json names each
page's URL, response record id, kind and original, and each file's size and the offset of each page's first
record (so a reader can split a file between pages). The output is a pure function of (templates, pages,
seed): no clocks, gzip mtime 0, and every page from its own seeded generator, whatever the process count.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import html
import io
import json
import multiprocessing
import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpus.extract import decode_html

REAL_PAGES_WARC = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-pages" / "trafilatura-eval.warc.gz"

ORIGINAL, NEAR_COPY, EXACT_COPY = "original", "near_copy", "exact_copy"
NEAR_COPY_SHARE = 0.10  # of all pages: an earlier original with some words replaced
EXACT_COPY_SHARE = 0.05  # of all pages: an earlier original's HTML verbatim on another URL
NEAR_COPY_EDIT = (0.05, 0.25)  # share of a near copy's words replaced (word-set Jaccard ~0.6-0.9)
MIN_REFILL_CHARS = 20  # shorter text nodes are labels a site repeats on every page: kept
MIN_POOL_CHARS = 80  # text nodes at least this long are prose-like: they make the refill pool
GZIP_LEVEL = 6  # zlib's default; Common Crawl's members are of this order (~270 MB per 10,000 such pages)
SECONDS_BETWEEN_FETCHES = 3  # WARC-Date of page i is the crawl start + 3 s * i
CRAWL_START = datetime(2024, 3, 1)
# Not prose: their text is code or markup, kept as the template has it.
_KEEP_TAGS = frozenset({"script", "style", "noscript", "template", "textarea", "svg", "math", "code", "pre"})
_MARKER = re.compile("\ue000(\\d+)\ue001")  # a refill slot in a serialised template (private-use characters)


@dataclass(frozen=True)
class Template:
    """A real page cut into literal HTML pieces around the text slots to refill: pieces[i] slot[i] pieces[i+1]."""

    url: str
    pieces: tuple[str, ...]
    slot_chars: tuple[int, ...]  # characters of the original text in each slot


@dataclass(frozen=True)
class Sources:
    """What pages are made from: the templates and the refill pool (word tuples of the templates' paragraphs)."""

    templates: tuple[Template, ...]
    pool: tuple[tuple[str, ...], ...]
    vocabulary: tuple[str, ...]  # every pool word once, in first-seen order: near copies draw replacements here


# ------------------------------------------------------------------------------------------ templates

def real_html_pages(warc_paths: list[Path], limit: int | None = None):
    """(url, HTML text) of every HTTP 200 HTML response, decoded as the extract stage decodes it."""
    found = 0
    for path in warc_paths:
        # warcio writes a line to stderr for each URI with a space in it (one real page has one)
        with open(path, "rb") as stream, contextlib.redirect_stderr(io.StringIO()):
            for record in ArchiveIterator(stream):
                if record.rec_type != "response" or record.http_headers is None \
                        or record.http_headers.get_statuscode() != "200" \
                        or "html" not in (record.http_headers.get_header("Content-Type") or ""):
                    continue
                decoded = decode_html(record.content_stream().read(), None)
                if decoded is None:
                    continue
                yield record.rec_headers.get_header("WARC-Target-URI"), decoded[0]
                found += 1
                if limit is not None and found >= limit:
                    return


def _kept_as_is(element) -> bool:
    return element.tag in _KEEP_TAGS or any(True for _ in element.iterancestors(*_KEEP_TAGS))


def _declare_utf8(root) -> None:
    """The page is re-encoded as UTF-8: its own charset declarations would now lie."""
    for meta in root.xpath("//meta[@charset or translate(@http-equiv, 'CONTENT-TYP', 'content-typ')"
                           " = 'content-type']"):
        meta.getparent().remove(meta)
    head = root.find("head")
    if head is not None:
        head.insert(0, lxml.html.Element("meta", charset="utf-8"))


def _slots(root) -> tuple[list[str], list]:
    """Replace every refillable text node with a numbered marker; return the original texts."""
    originals: list[str] = []

    def mark(text: str | None) -> str | None:
        if text is None or len(text.strip()) < MIN_REFILL_CHARS:
            return text
        originals.append(text)
        return f"\ue000{len(originals) - 1}\ue001"

    body = root.find("body")
    title = root.find("head/title")
    for element in ([title] if title is not None else []) + (list(body.iter()) if body is not None else []):
        if isinstance(element.tag, str) and not _kept_as_is(element):
            element.text = mark(element.text)
        parent = element.getparent()
        if element is not body and parent is not None and not _kept_as_is(parent):
            element.tail = mark(element.tail)
    return originals, root


def template_of(url: str, page: str) -> tuple[Template, list[str]] | None:
    """The page as a template, and its original slot texts; None if lxml cannot parse it or it has no text."""
    page = page.replace("\ue000", "").replace("\ue001", "")  # the markers' own characters
    try:
        root = lxml.html.document_fromstring(page)
    except (ValueError, lxml.etree.ParserError):
        return None
    _declare_utf8(root)
    originals, root = _slots(root)
    parts = _MARKER.split(lxml.html.tostring(root, encoding="unicode", doctype="<!DOCTYPE html>"))
    order = [int(i) for i in parts[1::2]]
    if not originals or sorted(order) != list(range(len(originals))):
        return None
    return Template(url, tuple(parts[0::2]), tuple(len(originals[i]) for i in order)), originals


def load_sources(warc_paths: list[Path], max_templates: int | None = None) -> Sources:
    """Templates and the refill pool from the real pages in these WARC files."""
    templates, pool, seen = [], [], set()
    for url, page in real_html_pages(warc_paths, max_templates):
        made = template_of(url, page)
        if made is None:
            continue
        templates.append(made[0])
        for text in made[1]:
            words = tuple(text.split())
            if len(text) >= MIN_POOL_CHARS and words not in seen:
                seen.add(words)
                pool.append(words)
    if not templates or not pool:
        raise ValueError(f"no usable HTML page in {', '.join(map(str, warc_paths))}")
    vocabulary = tuple(dict.fromkeys(word for words in pool for word in words))
    return Sources(tuple(templates), tuple(pool), vocabulary)


# ------------------------------------------------------------------------------------------ pages

def _rng(seed: int, index: int, purpose: str) -> random.Random:
    """Page `index`'s own generator for one purpose: a page never depends on the pages generated before it."""
    return random.Random(f"{seed}/{index}/{purpose}")


def page_kind(seed: int, index: int) -> str:
    if index == 0:
        return ORIGINAL
    draw = _rng(seed, index, "kind").random()
    return EXACT_COPY if draw < EXACT_COPY_SHARE else NEAR_COPY if draw < EXACT_COPY_SHARE + NEAR_COPY_SHARE \
        else ORIGINAL


def original_of(seed: int, index: int) -> int:
    """The original page a copy copies (itself for an original): an earlier page, followed to its original."""
    while page_kind(seed, index) != ORIGINAL:
        index = _rng(seed, index, "copy-of").randrange(index)
    return index


def _refill(sources: Sources, rng: random.Random, chars: int) -> str:
    """About `chars` characters of pool text, from a random word of a random paragraph on."""
    words, length = [], 0
    paragraph = sources.pool[rng.randrange(len(sources.pool))]
    position = rng.randrange(len(paragraph))
    while length < chars:
        if position == len(paragraph):
            paragraph, position = sources.pool[rng.randrange(len(sources.pool))], 0
        words.append(paragraph[position])
        length += len(paragraph[position]) + 1
        position += 1
    return " ".join(words)


def _edited(text: str, fraction: float, rng: random.Random, vocabulary: tuple[str, ...]) -> str:
    return " ".join(vocabulary[rng.randrange(len(vocabulary))] if rng.random() < fraction else word
                    for word in text.split())


def _template_index(sources: Sources, seed: int, index: int) -> int:
    return _rng(seed, index, "template").randrange(len(sources.templates))


def page_texts(sources: Sources, seed: int, index: int) -> list[str]:
    """The slot texts of page `index` (a near copy's are its original's, edited)."""
    original = original_of(seed, index)
    template = sources.templates[_template_index(sources, seed, original)]
    rng = _rng(seed, original, "text")
    texts = [_refill(sources, rng, chars) for chars in template.slot_chars]
    if page_kind(seed, index) == NEAR_COPY:
        rng = _rng(seed, index, "edit")
        fraction = rng.uniform(*NEAR_COPY_EDIT)
        texts = [_edited(text, fraction, rng, sources.vocabulary) for text in texts]
    return texts


def page_html(sources: Sources, seed: int, index: int) -> bytes:
    template = sources.templates[_template_index(sources, seed, original_of(seed, index))]
    parts = [template.pieces[0]]
    for text, piece in zip(page_texts(sources, seed, index), template.pieces[1:]):
        parts += [html.escape(text, quote=False), piece]
    return "".join(parts).encode("utf-8")


def page_url(sources: Sources, seed: int, index: int) -> str:
    """On the host of the page's template, a path of its own: every page, copies too, has its own URL."""
    parts = urlsplit(sources.templates[_template_index(sources, seed, original_of(seed, index))].url)
    return f"{parts.scheme or 'https'}://{parts.netloc or 'example.org'}/real-crawl/{seed}/{index:07d}.html"


# ------------------------------------------------------------------------------------------ WARC records

def record_id(seed: int, *names) -> str:
    """A WARC-Record-ID from a hash of its name: unique per (seed, names), the same on every run."""
    digest = hashlib.sha256("/".join(map(str, (seed, *names))).encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def _member(record) -> bytes:
    """One record as its own gzip member, as Common Crawl writes them."""
    buffer = io.BytesIO()
    WARCWriter(buffer, gzip=False).write_record(record)
    return gzip.compress(buffer.getvalue(), compresslevel=GZIP_LEVEL, mtime=0)


_WRITER = WARCWriter(io.BytesIO(), gzip=False)  # only builds records; _member writes each


def _fetch_date(index: int) -> datetime:
    return CRAWL_START + timedelta(seconds=SECONDS_BETWEEN_FETCHES * index)


def page_records(sources: Sources, seed: int, index: int) -> tuple[bytes, bytes, bytes]:
    """(request, response, metadata) gzip members of page `index`. No WARC-Warcinfo-ID (optional in WARC 1.1):
    the same bytes then go to every layout, whichever file, and so warcinfo record, holds the page there."""
    url, body, when = page_url(sources, seed, index), page_html(sources, seed, index), _fetch_date(index)
    warc_date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    request_id, response_id = record_id(seed, index, "request"), record_id(seed, index, "response")
    common = {"WARC-Date": warc_date, "WARC-IP-Address": f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"}
    split = urlsplit(url)
    request = _WRITER.create_warc_record(
        url, "request", payload=io.BytesIO(b""), length=0,
        http_headers=StatusAndHeaders(f"GET {split.path} HTTP/1.1", [
            ("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Encoding", "br,gzip"), ("Host", split.netloc), ("Connection", "Keep-Alive")],
            is_http_request=True),
        warc_headers_dict={**common, "WARC-Record-ID": request_id})
    response = _WRITER.create_warc_record(
        url, "response", payload=io.BytesIO(body), length=len(body),
        http_headers=StatusAndHeaders("200 OK", [
            ("Date", when.strftime("%a, %d %b %Y %H:%M:%S GMT")), ("Server", "nginx"),
            ("Content-Type", "text/html; charset=UTF-8"), ("Content-Length", str(len(body))),
            ("Connection", "close")], protocol="HTTP/1.1"),
        warc_headers_dict={**common, "WARC-Record-ID": response_id, "WARC-Concurrent-To": request_id,
                           "Content-Type": "application/http; msgtype=response",
                           "WARC-Identified-Payload-Type": "text/html"})
    fields = (f"fetchTimeMs: {_rng(seed, index, 'fetch').randrange(50, 2000)}\r\n"
              "charset-detected: UTF-8\r\n").encode()
    metadata = _WRITER.create_warc_record(
        url, "metadata", payload=io.BytesIO(fields), length=len(fields),
        warc_headers_dict={"WARC-Date": warc_date, "WARC-Record-ID": record_id(seed, index, "metadata"),
                           "WARC-Refers-To": response_id,
                           "Content-Type": "application/warc-fields"})
    return _member(request), _member(response), _member(metadata)


def warcinfo_member(seed: int, name: str, warcinfo_id: str) -> bytes:
    info = (f"isPartOf: REAL-CRAWL-{seed}\r\npublisher: gpt3-corpus (bench/real_crawl.py)\r\n"
            "description: pages built from real page templates, text refilled from their own paragraphs\r\n"
            "format: WARC File Format 1.0\r\n").encode()
    record = _WRITER.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info),
        warc_headers_dict={"WARC-Record-ID": warcinfo_id, "WARC-Date": CRAWL_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "WARC-Filename": name, "Content-Type": "application/warc-fields"})
    return _member(record)


# The worker's copy of what pages are made from (set once per process: Sources are ~100 MB).
_SOURCES: Sources | None = None
_SEED = 0


def _install(sources: Sources, seed: int) -> None:
    global _SOURCES, _SEED
    _SOURCES, _SEED = sources, seed


def _members_of(index: int) -> tuple[bytes, bytes, bytes]:
    return page_records(_SOURCES, _SEED, index)


class _LayoutWriter:
    """Writes the pages into `files` files of one layout, each page to the file its index falls in."""

    def __init__(self, directory: Path, seed: int, pages: int, files: int):
        directory.mkdir(parents=True, exist_ok=True)
        self.bounds = [round(k * pages / files) for k in range(files + 1)]
        self.paths = [directory / f"REAL-{seed}-{k:05d}.warc.gz" for k in range(files)]
        self.seed, self.files, self.file, self.stream = seed, files, -1, None
        self.page_offsets: list[list[int]] = [[] for _ in range(files)]  # where each page's request record starts

    def write(self, index: int, members: tuple[bytes, bytes, bytes]) -> None:
        while index >= self.bounds[self.file + 1]:
            self._next_file()
        self.page_offsets[self.file].append(self.stream.tell())
        for member in members:
            self.stream.write(member)

    def _next_file(self) -> None:
        if self.stream:
            self.stream.close()
        self.file += 1
        self.stream = open(self.paths[self.file], "wb")
        warcinfo_id = record_id(self.seed, "warcinfo", self.files, self.file)
        self.stream.write(warcinfo_member(self.seed, self.paths[self.file].name, warcinfo_id))

    def close(self) -> None:
        while self.file + 1 < len(self.paths):  # a file with no page (more files than pages) still exists
            self._next_file()
        if self.stream:
            self.stream.close()


def write_crawl(out_dir: Path, sources: Sources, pages: int, files: tuple[int, ...] = (1, 4), seed: int = 0,
                processes: int = 2) -> dict:
    """Write every layout and truth.json under out_dir; return {file count: [paths]} and the truth's path."""
    assert pages >= 1 and files and min(files) >= 1, f"need pages >= 1 and file counts >= 1, got {pages}, {files}"
    writers = {n: _LayoutWriter(out_dir / f"{n}-files", seed, pages, n) for n in dict.fromkeys(files)}
    if processes > 1:
        pool = multiprocessing.get_context("fork").Pool(processes, initializer=_install, initargs=(sources, seed))
        members = pool.imap(_members_of, range(pages), chunksize=16)
    else:
        pool = None
        _install(sources, seed)
        members = map(_members_of, range(pages))
    try:
        for index, page in enumerate(members):
            for writer in writers.values():
                writer.write(index, page)
    finally:
        if pool is not None:
            pool.terminate()
        for writer in writers.values():
            writer.close()
    truth = [{"index": i, "url": page_url(sources, seed, i), "record_id": record_id(seed, i, "response"),
              "kind": page_kind(seed, i), "original": original_of(seed, i)} for i in range(pages)]
    truth_path = out_dir / "truth.json"
    layouts = {n: [{"name": p.name, "bytes": p.stat().st_size, "page_offsets": offsets}
                   for p, offsets in zip(w.paths, w.page_offsets)] for n, w in writers.items()}
    truth_path.write_text(json.dumps({"seed": seed, "pages": pages, "templates": len(sources.templates),
                                      "files": layouts, "pages_truth": truth}) + "\n")
    return {"layouts": {n: w.paths for n, w in writers.items()}, "truth": truth_path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pages", type=int, default=40_000)
    parser.add_argument("--files", default="1,4", help="comma-separated file counts, one layout each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--templates", type=Path, action="append",
                        help=f"WARC of real pages (repeatable; default {REAL_PAGES_WARC})")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    sources = load_sources(args.templates or [REAL_PAGES_WARC])
    written = write_crawl(args.out, sources, args.pages, tuple(int(n) for n in args.files.split(",")), args.seed,
                          args.processes)
    for count, paths in written["layouts"].items():
        print(f"{count} file(s): {sum(p.stat().st_size for p in paths) / 1e6:.0f} MB in {paths[0].parent}")


if __name__ == "__main__":
    main()
