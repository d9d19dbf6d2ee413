"""HTML bytes → main text: charset decoding and trafilatura under a per-document time limit."""
import codecs
import re
import signal
import threading
from contextlib import contextmanager

import charset_normalizer
import trafilatura
from trafilatura.meta import reset_caches

from corpus.config import ExtractConfig

# WHATWG: these labels mean windows-1252 in browsers, and Python's latin-1 never fails, hiding errors.
_BROWSER_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
                    "us-ascii": "cp1252", "ascii": "cp1252", "iso8859-1": "cp1252"}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_META_SNIFF_BYTES = 4096  # HTML5: the <meta charset> must sit within the first 1024 bytes; be lenient
_MAX_REPLACEMENT_FRACTION = 0.01  # last resort: accept a lossy decode if under 1% of characters are lost


_WARM_UP_PAGE = ("<html><head><title>warm-up</title></head><body><article><p>"
                 + "A short paragraph that wakes the extractor up. " * 8 + "</p></article></body></html>")


class ExtractTimeout(Exception):
    """trafilatura ran past the per-document time limit."""


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or None if the label names no known charset."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _BROWSER_ALIASES.get(label, label)
    try:
        codec = codecs.lookup(label)
    except LookupError:
        return None
    # rot13, base64, zlib ... are codecs too, but bytes.decode refuses them (LookupError)
    return codec.name if codec._is_text_encoding else None


def meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:_META_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def detected_charset(payload: bytes) -> str | None:
    """Strictly valid UTF-8 first: non-ASCII bytes rarely validate by chance, and the check is ~100x
    cheaper than statistical detection."""
    try:
        payload.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(payload[:65536]).best()
    return best.encoding if best else None


def decode_html(payload: bytes, http_charset: str | None) -> tuple[str, str] | None:
    """(text, codec) decoded by the HTTP header's charset, then <meta>, then detection; None if nothing fits."""
    tried = []
    for label_source in (lambda: http_charset, lambda: meta_charset(payload), lambda: detected_charset(payload)):
        codec = codec_for(label_source())
        if codec is None or codec in tried:
            continue
        tried.append(codec)
        text = _decoded(payload, codec, "strict")
        if text is not None:
            return text, codec
    for codec in tried or ["utf-8"]:  # real pages often hold a few bad bytes in an otherwise right charset
        text = _decoded(payload, codec, "replace")
        if text is not None and text.count("\ufffd") <= _MAX_REPLACEMENT_FRACTION * max(len(text), 1):
            return text, codec
    return None


def _decoded(payload: bytes, codec: str, errors: str) -> str | None:
    """payload decoded, or None if the codec refuses it or yields lone surrogates (utf-7 and the *escape
    codecs can), which no UTF-8 writer (Arrow, Parquet) accepts."""
    try:
        text = payload.decode(codec, errors=errors)
    except UnicodeError:  # UnicodeDecodeError, or the `undefined` codec's plain UnicodeError
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return text


@contextmanager
def time_limit(seconds: float):
    """Raise ExtractTimeout in this thread after `seconds`. SIGALRM interrupts pure-Python loops, which is
    where trafilatura spends long runs; off the main thread (no signals) the limit cannot be enforced."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    active = True

    def on_alarm(signum, frame):
        if active:
            raise ExtractTimeout(f"extraction exceeded {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    # Re-fires every 50 ms after the deadline: an exception raised inside a __del__ or weakref callback
    # is swallowed by Python, and the next tick must still stop the extraction.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class HtmlToText:
    """trafilatura with the stage's options; resets trafilatura's caches every N documents so a
    long-running executor's memory stays flat."""

    def __init__(self, cfg: ExtractConfig):
        self.cfg = cfg
        self.documents_since_reset = 0
        self._extract(_WARM_UP_PAGE, None)  # lazy imports and first-call set-up are not a page's time

    def _extract(self, html: str, url: str | None) -> str | None:
        return trafilatura.extract(
            html, url=url, output_format="txt", with_metadata=False,
            include_comments=self.cfg.include_comments, include_tables=self.cfg.include_tables,
            favor_precision=self.cfg.favor_precision, deduplicate=False,
        )

    def __call__(self, html: str, url: str | None) -> str | None:
        self.documents_since_reset += 1
        if self.documents_since_reset >= self.cfg.reset_caches_every:
            reset_caches()
            self.documents_since_reset = 0
        with time_limit(self.cfg.extract_timeout_s):
            return self._extract(html, url)
