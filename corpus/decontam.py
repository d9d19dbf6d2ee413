"""GPT-3's benchmark decontamination (§4, Appendix C) as pure functions: no Spark here
(corpus/decontam_stage.py runs them over the corpus).

A gram is a lowercased word with punctuation removed; punctuation is a word break, as in GPT-3's published
overlap samples ("I'm going" -> "i m going"): a word is a maximal run of letters and digits. Grams are
hashed (corpus/hashing.py): a word to 64 bits of blake2b, an n-gram to a polynomial of its word hashes mod
2**64, so a document's n-grams are a few numpy operations and a benchmark's gram set is sorted uint64 arrays.

Numbered steps:
  1. build_index     the benchmarks' gram tables: `filter` grams (13-grams, and whole examples of 8-12
                     words) and `measure` grams (each benchmark's N-grams, N from its example lengths)
  2. find_hits       every benchmark gram a document holds, with its character span
  3. common grams    (a distributed count in the stage) filter grams in > 10 documents are ignored
  4. split_document  remove each colliding gram plus a window around it; pieces, short pieces, too many pieces
  5. dirty_examples  which examples share a measure gram with the corpus (before and after filtering)
"""
import fnmatch
import re
from dataclasses import dataclass, field

import numpy as np

from corpus.benchmarks import Benchmark
from corpus.config import DecontamConfig
from corpus.hashing import extend_grams, gram_hashes, word_hash

WORD = re.compile(r"[^\W_]+")  # letters and digits; everything else (punctuation, '_', space) is a break
FILTER, MEASURE = "filter", "measure"  # the two kinds of gram table


# ------------------------------------------------------------------------------------------- grams

def words(text: str) -> tuple[list[str], list[int], list[int]]:
    """(lowercased words, start offsets, end offsets) in `text`; offsets index the original text."""
    found, starts, ends = [], [], []
    for match in WORD.finditer(text):
        found.append(match.group().lower())
        starts.append(match.start())
        ends.append(match.end())
    return found, starts, ends


def normalise(text: str) -> str:
    """The words of `text` as GPT-3 compared them: 'I'm going, too.' -> 'i m going too'."""
    return " ".join(words(text)[0])


class WordHasher:
    """64-bit blake2b of a word, cached (word frequencies are Zipfian: most lookups hit)."""

    def __init__(self, max_cached: int = 1_000_000):
        self.cache: dict[str, int] = {}
        self.max_cached = max_cached

    def one(self, word: str) -> int:
        value = self.cache.get(word)
        if value is None:
            value = word_hash(word)
            if len(self.cache) < self.max_cached:
                self.cache[word] = value
        return value

    def __call__(self, tokens: list[str]) -> np.ndarray:
        return np.fromiter((self.one(w) for w in tokens), dtype=np.uint64, count=len(tokens))


def example_grams(word_hashes: np.ndarray, n: int) -> tuple[int, np.ndarray]:
    """(gram length, grams) of an example: its n-grams, or the whole example as one gram if shorter."""
    if len(word_hashes) >= n:
        return n, gram_hashes(word_hashes, n)
    return len(word_hashes), gram_hashes(word_hashes, len(word_hashes))


# ---------------------------------------------------------------------------------- 1. build_index

def is_synthetic(name: str, cfg: DecontamConfig) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in cfg.synthetic_tasks)


def measure_n(lengths: list[int], synthetic: bool, cfg: DecontamConfig) -> int:
    """GPT-3: N = the 5th-percentile example length in words, at least 8 (non-synthetic tasks), at most 13."""
    assert lengths, "a benchmark without examples has no N"
    n = int(np.percentile(np.array(lengths), cfg.measure_percentile, method="lower"))
    return max(1, min(cfg.measure_max_n, n if synthetic else max(cfg.measure_min_n, n)))


@dataclass
class GramTable:
    kind: str  # FILTER or MEASURE
    n: int  # words per gram
    hashes: np.ndarray  # sorted, unique uint64
    owners: np.ndarray  # int32: the first example (index into GramIndex.labels) holding each gram

    def lookup(self, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `grams` found in the table, the owner of each)."""
        if len(self.hashes) == 0 or len(grams) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        slot = np.minimum(np.searchsorted(self.hashes, grams), len(self.hashes) - 1)
        found = np.flatnonzero(self.hashes[slot] == grams)
        return found, self.owners[slot[found]]


@dataclass
class GramIndex:
    """Everything a task needs to find benchmark grams in documents: broadcast once."""
    tables: list[GramTable]
    labels: list[str]  # "benchmark#id" per example, what fate details name
    measure_n: dict[str, int] = field(default_factory=dict)  # benchmark -> N

    @property
    def grams(self) -> int:
        return sum(len(t.hashes) for t in self.tables)

    def sizes(self) -> list[int]:
        return sorted({t.n for t in self.tables})


def _table(kind: str, n: int, pairs: list[tuple[np.ndarray, int]]) -> GramTable:
    hashes = np.concatenate([g for g, _ in pairs]) if pairs else np.zeros(0, dtype=np.uint64)
    owners = np.concatenate([np.full(len(g), o, dtype=np.int32) for g, o in pairs]) if pairs else np.zeros(0, np.int32)
    unique, first = np.unique(hashes, return_index=True)  # the first owner in example order
    return GramTable(kind, n, unique, owners[first])


def build_index(benchmarks: list[Benchmark], cfg: DecontamConfig, hasher: WordHasher | None = None) -> GramIndex:
    """Step 1: the filter grams of every example and the measure grams of every benchmark."""
    assert cfg.min_ngram <= cfg.ngram, f"min_ngram {cfg.min_ngram} must not exceed ngram {cfg.ngram}"
    hasher = hasher or WordHasher()
    labels: list[str] = []
    filter_pairs: dict[int, list] = {}
    measure_pairs: dict[int, list] = {}
    measure_sizes: dict[str, int] = {}
    for benchmark in benchmarks:
        hashed = [hasher(words(e.text)[0]) for e in benchmark.examples]
        hashed_ok = [h for h in hashed if len(h)]
        if not hashed_ok:
            continue
        n_measure = measure_n([len(h) for h in hashed_ok], is_synthetic(benchmark.name, cfg), cfg)
        measure_sizes[benchmark.name] = n_measure
        for example, word_hashes in zip(benchmark.examples, hashed):
            owner = len(labels)
            labels.append(f"{benchmark.name}#{example.id}")
            if len(word_hashes) >= cfg.min_ngram:
                n, grams = example_grams(word_hashes, cfg.ngram)
                filter_pairs.setdefault(n, []).append((grams, owner))
            if len(word_hashes):
                n, grams = example_grams(word_hashes, n_measure)
                measure_pairs.setdefault(n, []).append((grams, owner))
    tables = [_table(FILTER, n, pairs) for n, pairs in sorted(filter_pairs.items())]
    tables += [_table(MEASURE, n, pairs) for n, pairs in sorted(measure_pairs.items())]
    return GramIndex(tables, labels, measure_sizes)


# ------------------------------------------------------------------------------------ 2. find_hits

@dataclass(frozen=True)
class Hit:
    kind: str
    n: int
    hash: int  # the gram's uint64 hash, as a signed int64 (what Spark stores)
    start: int  # character span of the gram in the document
    end: int
    owner: int  # example index (GramIndex.labels)


def _signed(values: np.ndarray) -> list[int]:
    return values.astype(np.uint64).view(np.int64).tolist()


def document_grams(text: str, sizes: list[int], hasher: WordHasher):
    """Yield (n, grams, starts, ends) for each gram length: every n-gram of the document with its span."""
    tokens, starts, ends = words(text or "")
    word_hashes = hasher(tokens)
    wanted, grams = set(sizes), word_hashes
    for n in range(1, max(sizes, default=0) + 1):
        if n > 1:  # the (n-1)-grams extended by one word
            grams = extend_grams(grams, word_hashes, n)
        if n in wanted:
            yield n, grams, starts[:len(grams)], ends[n - 1:]


def find_hits(text: str, index: GramIndex, hasher: WordHasher, kinds=(FILTER, MEASURE)) -> list[Hit]:
    """Step 2: every occurrence of a benchmark gram in `text` (filter grams with every span; measure grams once)."""
    hits: list[Hit] = []
    tables = [t for t in index.tables if t.kind in kinds]
    for n, grams, starts, ends in document_grams(text, sorted({t.n for t in tables}), hasher):
        for table in (t for t in tables if t.n == n):
            found, owners = table.lookup(grams)
            if table.kind == MEASURE:  # the measurement needs only which grams occur: the first of each
                first = np.sort(np.unique(grams[found], return_index=True)[1])
                found, owners = found[first], owners[first]
            for position, owner, value in zip(found.tolist(), owners.tolist(), _signed(grams[found])):
                hits.append(Hit(table.kind, n, value, starts[position], ends[position], owner))
    return hits


# -------------------------------------------------------------------------------- 4. split_document

KEPT = "kept"
CONTAMINATED_SPAN = "contaminated_span"  # a colliding gram and its window, removed
SHORT_PIECE = "short_piece"  # a piece under min_piece_chars, discarded
TOO_MANY_PIECES = "too_many_pieces"  # the whole document, split into more than max_pieces


@dataclass(frozen=True)
class Span:
    start: int  # removed characters [start, end)
    end: int
    matches: tuple[tuple[int, int, int], ...]  # (gram start, gram end, owner) of each gram inside


@dataclass(frozen=True)
class Piece:
    number: int  # position among the document's pieces (kept and short), for its derived doc_id
    start: int  # the piece is text[start:end], stripped of surrounding whitespace
    end: int
    kept: bool


@dataclass(frozen=True)
class Split:
    spans: tuple[Span, ...]
    pieces: tuple[Piece, ...]
    dropped: bool  # more than max_pieces pieces: the whole document goes


def window(cfg: DecontamConfig) -> tuple[int, int]:
    """Characters removed before and after a colliding gram."""
    if cfg.window_per_side:
        return cfg.window_chars, cfg.window_chars
    return cfg.window_chars // 2, cfg.window_chars - cfg.window_chars // 2


def split_document(text: str, matches: list[tuple[int, int, int]], cfg: DecontamConfig) -> Split:
    """Step 4: remove every (start, end, owner) gram plus its window; overlapping windows merge into one span.
    What lies between spans are the pieces (whitespace-only ones are not pieces); a piece under
    min_piece_chars is discarded; more than max_pieces pieces drop the document."""
    before, after = window(cfg)
    spans: list[list] = []
    for start, end, owner in sorted(matches):
        lo, hi = max(0, start - before), min(len(text), end + after)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
            spans[-1][2].append((start, end, owner))
        else:
            spans.append([lo, hi, [(start, end, owner)]])
    pieces, cursor = [], 0
    for lo, hi, _ in spans + [[len(text), len(text), []]]:
        segment = text[cursor:lo]
        if segment.strip():
            first = cursor + len(segment) - len(segment.lstrip())
            last = cursor + len(segment.rstrip())
            pieces.append(Piece(len(pieces), first, last, last - first >= cfg.min_piece_chars))
        cursor = hi
    return Split(tuple(Span(lo, hi, tuple(m)) for lo, hi, m in spans), tuple(pieces), len(pieces) > cfg.max_pieces)


# -------------------------------------------------------------------------------- 5. dirty_examples

def dirty_examples(benchmarks: list[Benchmark], index: GramIndex, seen: set[tuple[int, int]],
                   hasher: WordHasher | None = None) -> dict[str, list[str]]:
    """Step 5: per benchmark, the ids of examples with an N-gram in `seen` ((n, signed hash) pairs found in
    the corpus), in file order. An example shorter than N counts as one gram of its own length."""
    hasher = hasher or WordHasher()
    dirty = {}
    for benchmark in benchmarks:
        n = index.measure_n.get(benchmark.name)
        dirty[benchmark.name] = []
        for example in benchmark.examples:
            word_hashes = hasher(words(example.text)[0])
            if n is None or not len(word_hashes):
                continue
            length, grams = example_grams(word_hashes, n)
            if any((length, value) in seen for value in _signed(grams)):
                dirty[benchmark.name].append(example.id)
    return dirty
