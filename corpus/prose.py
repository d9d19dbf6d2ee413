"""English prose that ships with Python: the demo crawl's only source of text, so nothing is downloaded.

Two sources, both in every CPython install:
- `pydoc_data.topics`, the language reference that `help()` prints (about 0.5 MB of English);
- the docstrings of a fixed list of well-documented pure-Python stdlib modules, read from their source
  files with a regular expression (no import, no `ast`: parsing them all would cost seconds).

Both are cut into sentences and filtered down to ordinary English sentences (no grammar rules, code
samples, doctests or reST headings). Documents are then built by *sampling* sentences, never by copying
consecutive paragraphs, so two unrelated documents share little more than common words.

The text differs a little between Python versions, so the demo is reproducible byte for byte on one
Python version, not across versions.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import re
from pathlib import Path

# Modules whose docstrings read as prose. A module missing from some Python version is skipped.
DOCSTRING_MODULES = (
    "argparse", "asyncio.events", "asyncio.streams", "asyncio.tasks", "calendar", "collections",
    "concurrent.futures._base", "configparser", "contextlib", "csv", "dataclasses", "difflib", "doctest",
    "email.message", "enum", "fractions", "ftplib", "functools", "gettext", "heapq", "http.client",
    "http.cookiejar", "imaplib", "inspect", "ipaddress", "json", "locale", "logging", "logging.handlers",
    "mailbox", "multiprocessing.pool", "numbers", "optparse", "pathlib", "pdb", "pickle", "pprint", "queue",
    "random", "sched", "selectors", "shutil", "smtplib", "socket", "ssl", "statistics", "string",
    "subprocess", "tarfile", "tempfile", "textwrap", "threading", "traceback", "turtle", "typing",
    "unittest.case", "urllib.parse", "urllib.request", "warnings", "weakref", "zipfile",
)

_TO_ASCII = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": " - ", "–": "-", "…": "...",
                           "\xa0": " "})
_HEADING_UNDERLINE = re.compile(r"^\s*[*=\-~^#]{3,}\s*$")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_PROSE_TOKEN = re.compile(r"""[A-Za-z'"(,;:-]+[.,;:)"']*""")
_DOCSTRING = re.compile(r'"""(.*?)"""', re.S)
_NOT_PROSE_MARKERS = ("::=", "\\", ">>>", "{", "}", "...", "http", "e.g", "i.e", "etc.", "  ", " -- ", ". - ")

SENTENCE_MIN_WORDS, SENTENCE_MAX_WORDS = 6, 45


def _paragraphs(text: str):
    """Blank-line separated blocks of `text`, each a list of lines (reST layout as pydoc prints it)."""
    block: list[str] = []
    for line in text.translate(_TO_ASCII).splitlines():
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _is_prose_block(block: list[str]) -> bool:
    """Skip headings, and code/grammar/literal blocks (indented 3+ columns and not a bullet)."""
    if any(_HEADING_UNDERLINE.match(line) for line in block):
        return False
    first = block[0]
    indent = len(first) - len(first.lstrip())
    stripped = first.lstrip()
    if stripped.startswith((">>>", "...", "$ ", "%")):
        return False
    return indent < 3 or stripped.startswith("* ")


def _is_prose_sentence(sentence: str) -> bool:
    words = sentence.split()
    if not SENTENCE_MIN_WORDS <= len(words) <= SENTENCE_MAX_WORDS:
        return False
    if not (sentence[0].isupper() and sentence.endswith(".") and sentence.isascii()):
        return False
    if any(marker in sentence for marker in _NOT_PROSE_MARKERS):
        return False
    if sentence.count('"') % 2 or sentence.count("(") != sentence.count(")"):
        return False
    wordlike = sum(bool(_PROSE_TOKEN.fullmatch(word)) for word in words)
    return wordlike >= 0.85 * len(words)


def sentences_of(text: str) -> list[str]:
    """The prose sentences of one reST-ish text, in order, ASCII-normalised, whitespace-collapsed."""
    sentences = []
    for block in _paragraphs(text):
        if not _is_prose_block(block):
            continue
        paragraph = " ".join(line.strip() for line in block)
        paragraph = re.sub(r"^\* ", "", paragraph).replace("*", "").replace("``", '"').replace("`", "")
        paragraph = re.sub(r"\s+", " ", paragraph)
        sentences.extend(s for s in _SENTENCE_BREAK.split(paragraph) if _is_prose_sentence(s))
    return sentences


def _module_docstrings(module: str) -> list[str]:
    """Triple-quoted strings of a stdlib module's source, dedented; [] if the module has no .py source."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    source = Path(spec.origin).read_text(encoding="utf-8", errors="replace")
    return [inspect.cleandoc(body) for body in _DOCSTRING.findall(source)]


@functools.lru_cache(maxsize=1)
def stdlib_sentences() -> tuple[str, ...]:
    """Every distinct prose sentence of the sources above, sorted (a stable order to sample from)."""
    from pydoc_data.topics import topics

    texts = list(topics.values())
    for module in DOCSTRING_MODULES:
        texts.extend(_module_docstrings(module))
    return tuple(sorted({sentence for text in texts for sentence in sentences_of(text)}))


@functools.lru_cache(maxsize=1)
def stdlib_headings() -> tuple[str, ...]:
    """Section titles of the language reference ("Assignment statements"), for page and article titles."""
    from pydoc_data.topics import topics

    headings = set()
    for text in topics.values():
        lines = text.translate(_TO_ASCII).splitlines()
        for title, underline in zip(lines, lines[1:]):
            title = title.strip().replace('"', "")
            if _HEADING_UNDERLINE.match(underline) and 2 <= len(title.split()) <= 6 and title.isascii():
                headings.add(title)
    return tuple(sorted(headings))
