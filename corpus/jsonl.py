"""Reading JSON lines nobody vouches for (reference corpora, benchmark files): bounded and never fatal.

A line is read with a length cap, so a file that is one 10 GB line is skipped in bounded chunks instead of
held whole; a line that nests deeper than a cap is refused before `json.loads` sees it (the parser recurses
once per level: "[" * 100000 would raise RecursionError, and a long one costs seconds first); a line that is
not UTF-8, or whose escapes decode to a lone surrogate (which no UTF-8 writer downstream can encode), is
refused too. Every refusal is a `MalformedLine`, a ValueError, so a reader's `except ValueError` counts it
with the lines `json` itself rejects.

Dependency-free (standard library and numpy): model/contamination.py reads subset files with it (corpus/__init__.py).
"""
import json
import re
from collections.abc import Iterator
from typing import IO, AnyStr

import numpy as np

MAX_LINE_BYTES = 16 * 1024 * 1024  # a reference document is one line: a whole book fits, a runaway line does not
MAX_JSON_DEPTH = 64  # benchmark and reference records nest two or three levels deep
SKIP_CHUNK_BYTES = 1024 * 1024  # an over-long line is read past in pieces this size
DEPTH_SCAN_CHUNK = 1024 * 1024  # brackets summed per numpy step: 8 MiB of int64 at most

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, escapes included
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = np.zeros(256, dtype=np.int8)  # per byte: +1 opens a level, -1 closes one
_STEP[list(b"[{")], _STEP[list(b"]}")] = 1, -1
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")  # \ud800-\udfff: a pair is fine, a lone one is not


class MalformedLine(ValueError):
    """A line refused before or after parsing: too long, too deep, not UTF-8 or holding a lone surrogate."""


def bounded_lines(handle: IO[AnyStr], max_length: int = MAX_LINE_BYTES) -> Iterator[tuple[int, AnyStr | None]]:
    """(0-based line number, the line without its newline) per line of a binary or text handle; None in place
    of a line longer than max_length (bytes, or characters for a text handle), which is read past in chunks
    of SKIP_CHUNK_BYTES and never held whole. Numbering is what `enumerate(handle)` gives."""
    number = 0
    while True:
        line = handle.readline(max_length + 1)
        if not line:
            return
        newline = b"\n" if isinstance(line, bytes) else "\n"
        if line.endswith(newline):
            yield number, line[:-1]
        elif len(line) <= max_length:  # the last line, without a newline
            yield number, line
        else:
            while line and not line.endswith(newline):
                line = handle.readline(SKIP_CHUNK_BYTES)
            yield number, None
        number += 1


def _too_deep(line: bytes, max_depth: int) -> bool:
    """Whether the brackets outside strings nest deeper than max_depth: the running sum of +1 per opening and
    -1 per closing bracket, in numpy chunks so a 16 MiB line of brackets costs milliseconds and bounded memory."""
    brackets = np.frombuffer(_STRING.sub(b"", line).translate(None, _NOT_BRACKETS), dtype=np.uint8)
    depth = 0
    for start in range(0, len(brackets), DEPTH_SCAN_CHUNK):
        running = depth + np.cumsum(_STEP[brackets[start:start + DEPTH_SCAN_CHUNK]], dtype=np.int64)
        if running.max() > max_depth:
            return True
        depth = int(running[-1])
    return False


def _decoded(line: bytes) -> str:
    try:
        return line.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise MalformedLine(f"not UTF-8 (byte {error.start}: {error.reason})") from None


def _encoded(line: str) -> bytes:
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:  # a byte surrogateescape kept, or a lone surrogate a caller decoded
        raise MalformedLine("not UTF-8") from None


def loads(line: bytes | str, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_LINE_BYTES):
    """json.loads for an untrusted line (bytes as read, or str as decoded with errors="surrogateescape"):
    MalformedLine if it is over max_bytes, not UTF-8, nested deeper than max_depth or decodes to a lone
    surrogate; json's own ValueError if it is not JSON. Bytes behave as json.loads(bytes) does for UTF-8,
    leading byte-order mark included."""
    data, text = (line, _decoded(line)) if isinstance(line, bytes) else (_encoded(line), line)
    if len(data) > max_bytes:
        raise MalformedLine(f"{len(data)} bytes, over the {max_bytes}-byte line cap")
    if data.count(b"[") + data.count(b"{") > max_depth and _too_deep(data, max_depth):
        raise MalformedLine(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except RecursionError:  # not expected after the depth check; the parser's stack is not ours to trust
        raise MalformedLine(f"nested deeper than {max_depth} levels") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedLine("an escape decodes to a lone surrogate, which is not text") from None
    return value
