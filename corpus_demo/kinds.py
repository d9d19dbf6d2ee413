"""What the demo plants: the page kinds, the special records, and the reason the extract stage must give."""
from __future__ import annotations

from corpus.warc import (CORRUPT_WARC, EMPTY_PAYLOAD, EXTRACTOR_EMPTY, NOT_HTML, NOT_HTTP_200, NOT_RESPONSE,
                         OVER_SIZE_CAP)

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
