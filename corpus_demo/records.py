"""Page: one response (or revisit) record to write, with what truth.json says about it; non-HTML payloads."""
from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass, field

from corpus_demo.articles import Article
from corpus_demo.pages import render_page
from corpus_demo.sites import Site

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
    dup_of: Page | None = None  # the original page (always earlier in crawl order)
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


def tiny_png(rng: random.Random) -> bytes:
    """A valid 8x8 greyscale PNG, built by hand so no image library is needed."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(8)) for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def tiny_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n"
            + b"4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%%%EOF\n"
            % (len(stream), stream))
