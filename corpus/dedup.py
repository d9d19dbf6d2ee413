"""Fuzzy deduplication as pure functions: no Spark here (corpus/dedup_stage.py runs them over the corpus).

GPT-3 deduplicated with Spark's MinHashLSH on the classifier's features, i.e. Jaccard similarity over sets of
distinct lowercased words. A document's features here are 64-bit hashes of those words (`paper`), or of
word n-grams of its normalised text (`shingles`); every engine confirms its candidate pairs with the exact
Jaccard similarity of these sets, so engines differ only in which pairs they find. The word, shingle and band
hashes are corpus/hashing.py's.

Numbered steps, each usable alone (tests and notebooks call them directly):
  1. feature_sets   texts → sorted unique uint64 feature hashes per document, for a whole batch in numpy
  2. signatures     MinHash signatures of a batch: k universal hash functions, min over each document's features
  3. band_keys      signature → b bands of r rows → one 64-bit bucket key per band (the `bands` engine)
  4. jaccard        exact similarity of two feature sets (the confirmation of every candidate pair); bucket_jaccards
                    the same for every pair of a bucket at once
  5. datasketch_candidates  datasketch's MinHashLSH over a few documents: the single-machine engine and the oracle
"""
import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpus.hashing import byte_span_hashes, gram_hashes, splitmix64

PAPER, SHINGLES = "paper", "shingles"  # the two feature kinds (--dedup-features)
# Bytes that end a word. `paper`: whitespace only, as Spark's Tokenizer splits (lowercase, split on \s).
# `shingles`: everything but ASCII letters and digits, so punctuation is a word break as in the decontam stage;
# bytes of non-ASCII characters count as letters (a UTF-8 byte cannot tell a letter from a dash).
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[list(b" \t\n\r\x0b\x0c")] = True
_NOT_ALNUM = np.ones(256, dtype=bool)
_NOT_ALNUM[list(b"0123456789abcdefghijklmnopqrstuvwxyz") + list(range(128, 256))] = False
_BREAKS = {PAPER: _WHITESPACE, SHINGLES: _NOT_ALNUM}
FEATURE_CHUNK_BYTES = 1 << 20  # characters hashed at once: a few uint64 arrays per byte (~80 MB at most)
DATASKETCH_WEIGHTS = (0.1, 0.9)  # datasketch's weights of false candidates and of misses when it picks bands
SMALL_BUCKET = 8  # bucket_jaccards compares buckets of at most this many documents pair by pair
SIGNATURE_BLOCK = 1 << 15  # features hashed at once by all k functions: k x 32768 uint32 (20 MB at k = 160)


# --------------------------------------------------------------------------------------- 1. feature sets

def _word_spans(data: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of every maximal run of word bytes in `data`."""
    inside = ~breaks[data]
    edges = np.diff(np.concatenate(([False], inside, [False])).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _unique_per_document(values: np.ndarray, owner: np.ndarray, documents: int) -> list[np.ndarray]:
    """Sorted distinct values of each document (owner: the document index of each value, ascending).
    One small sort per document beats one lexsort of the whole chunk by ~5x."""
    return [np.unique(part) for part in np.split(values, np.searchsorted(owner, np.arange(1, documents)))]


def feature_sets(texts: list[str | None], kind: str = PAPER, shingle_size: int = 5) -> list[np.ndarray]:
    """Step 1: each text's features as sorted unique uint64 hashes; a text with no word (or, for shingles,
    fewer than `shingle_size` words) has none. Texts are hashed a chunk at a time, each chunk one numpy
    buffer: no Python loop per word, and memory bounded by FEATURE_CHUNK_BYTES."""
    assert kind in _BREAKS, f"features are {' or '.join(_BREAKS)}, not {kind!r}"
    assert shingle_size >= 1, f"a shingle has at least one word, not {shingle_size}"
    result, chunk, size = [], [], 0
    for text in texts:
        chunk.append(text or "")
        size += len(chunk[-1])
        if size >= FEATURE_CHUNK_BYTES:
            result += _chunk_feature_sets(chunk, kind, shingle_size)
            chunk, size = [], 0
    return result + (_chunk_feature_sets(chunk, kind, shingle_size) if chunk else [])


def _chunk_feature_sets(texts: list[str], kind: str, shingle_size: int) -> list[np.ndarray]:
    lowered = [text.lower() for text in texts]
    encoded = [text.encode("utf-8") for text in lowered]
    # Documents are joined by a newline, a break for both kinds, so no word spans two documents.
    data = np.frombuffer(b"\n".join(encoded), dtype=np.uint8)
    document_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]])
    starts, ends = _word_spans(data, _BREAKS[kind])
    hashes = byte_span_hashes(data, starts, ends)  # one hash per word
    owner = np.searchsorted(document_starts, starts, side="right") - 1
    if kind == SHINGLES and shingle_size > 1:
        hashes = gram_hashes(hashes, shingle_size)
        last_word_owner = owner[shingle_size - 1:]
        owner = owner[:len(hashes)]
        inside = owner == last_word_owner  # an n-gram whose words all belong to one document
        hashes, owner = hashes[inside], owner[inside]
    return _unique_per_document(hashes, owner, len(texts))


# ----------------------------------------------------------------------------------------- 2. signatures

@dataclass(frozen=True)
class HashFamily:
    """k hash functions h_i(x) = (a_i * x + b_i) mod 2**32 with odd a_i over the top 32 bits x of each feature
    hash. Each h_i is a bijection of the 32-bit values, and since the features are already uniformly hashed,
    a random-looking permutation of them: the minimum over a document is a MinHash. 32-bit products keep numpy
    at ~3 vector operations per feature and function, 2.5x faster here than the same in 64 bits (and 5x
    faster than datasketch's 64-bit arithmetic mod 2**61 - 1); tests check the estimate against datasketch."""

    multipliers: np.ndarray  # uint32, odd
    offsets: np.ndarray  # uint32

    @classmethod
    def create(cls, functions: int, seed: int) -> "HashFamily":
        rng = np.random.default_rng(seed)
        multipliers = rng.integers(0, 2**32, functions, dtype=np.uint32, endpoint=False) | np.uint32(1)
        return cls(multipliers, rng.integers(0, 2**32, functions, dtype=np.uint32, endpoint=False))

    @property
    def size(self) -> int:
        return len(self.multipliers)


def signatures(features: list[np.ndarray], family: HashFamily) -> np.ndarray:
    """Step 2: (documents, k) uint32 MinHash signatures. A document without features gets all-ones (it is
    given no bucket: the stage keeps such documents out of the fuzzy step)."""
    result = np.full((len(features), family.size), np.iinfo(np.uint32).max, dtype=np.uint32)
    documents = [i for i, f in enumerate(features) if len(f)]
    a, b = family.multipliers[:, None], family.offsets[:, None]
    first = 0
    while first < len(documents):  # blocks of documents holding about SIGNATURE_BLOCK features
        last, total = first, 0
        while last < len(documents) and (last == first or total + len(features[documents[last]]) <= SIGNATURE_BLOCK):
            total += len(features[documents[last]])
            last += 1
        block = documents[first:last]
        values = (np.concatenate([features[i] for i in block]) >> np.uint64(32)).astype(np.uint32)
        starts = np.concatenate(([0], np.cumsum([len(features[i]) for i in block])[:-1]))
        hashed = np.multiply(a, values[None, :])  # (k, features); uint32 products wrap: mod 2**32
        hashed += b
        result[block] = np.minimum.reduceat(hashed, starts, axis=1).T  # (docs, k)
        first = last
    return result


# ------------------------------------------------------------------------------------------- 3. bands

def band_keys(signature_rows: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Step 3: (documents, bands) int64 bucket keys; two documents share a band's key iff (up to 2**-64) they
    share all `rows` signature values of that band."""
    documents, width = signature_rows.shape
    assert width == bands * rows, f"a signature of {width} values cannot make {bands} bands of {rows} rows"
    values = signature_rows.reshape(documents, bands, rows).astype(np.uint64)
    keys = np.zeros((documents, bands), dtype=np.uint64)
    for row in range(rows):
        keys = splitmix64(keys ^ values[:, :, row])
    return keys.view(np.int64)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(two documents at this Jaccard share at least one bucket) = 1 - (1 - J**r)**b: the S-curve."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands


# ------------------------------------------------------------------------------------------- 4. jaccard

def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique feature arrays; two empty sets are not similar."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    slot = np.minimum(np.searchsorted(b, a), len(b) - 1)
    common = int(np.count_nonzero(b[slot] == a))
    return common / (len(a) + len(b) - common)


def list_views(lists: pa.ListArray) -> list[np.ndarray]:
    """Each row of an Arrow list of features as a uint64 numpy view of its buffer (no Python ints)."""
    values = lists.values.to_numpy(zero_copy_only=False).view(np.uint64)  # Spark stores them as signed longs
    offsets = lists.offsets.to_numpy()
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(lists))]


def row_jaccards(features_a: pa.ListArray, features_b: pa.ListArray) -> np.ndarray:
    """jaccard() of each row's two feature lists. Spark SQL's array_intersect builds a hash set per row and is ~20x
    slower on 600-feature pages."""
    return np.array([jaccard(a, b) for a, b in zip(list_views(features_a), list_views(features_b))], dtype=np.float64)


def bucket_jaccards(features: list[np.ndarray], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, jaccard) of every pair i < j of a bucket's documents at `threshold` or more, exactly as jaccard().
    One sparse product of the documents' incidence matrix gives every pair's intersection at once; a bucket of a
    few documents is faster pair by pair (the product costs ~0.3 ms to set up)."""
    if len(features) <= SMALL_BUCKET:
        pairs = [(i, j, jaccard(features[i], features[j])) for i, j in itertools.combinations(range(len(features)), 2)]
        i, j, similarity = (np.array(column) for column in zip(*pairs)) if pairs else (np.zeros(0),) * 3
        keep = similarity >= threshold
        return i[keep].astype(np.int64), j[keep].astype(np.int64), similarity[keep].astype(np.float64)
    from scipy.sparse import csr_matrix
    sizes = np.array([len(f) for f in features], dtype=np.int64)
    values, column = np.unique(np.concatenate(features), return_inverse=True)
    incidence = csr_matrix((np.ones(len(column), dtype=np.int32), column, np.concatenate(([0], np.cumsum(sizes)))),
                           shape=(len(features), len(values)))
    common = (incidence @ incidence.T).tocoo()  # only pairs sharing a feature: the rest are at 0
    i, j, shared = common.row.astype(np.int64), common.col.astype(np.int64), common.data
    similarity = shared / (sizes[i] + sizes[j] - shared)
    keep = (i < j) & (similarity >= threshold)
    return i[keep], j[keep], similarity[keep]


# ------------------------------------------------------------------------------------------ 5. datasketch

def datasketch_candidates(doc_ids: list[str], features: list[np.ndarray], threshold: float,
                          num_perm: int = 128, seed: int = 1) -> list[tuple[str, str]]:
    """Candidate pairs (a < b) from datasketch's MinHashLSH at `threshold` (datasketch chooses its bands, here
    weighting a miss 9x a false candidate: every candidate is confirmed exactly, a miss is final; at 0.5 and 128
    permutations that is 32 bands of 4 rows, where equal weights give 25 of 5 and find a pair at 0.5 only 55% of
    the time). In memory on one machine: the `datasketch` engine runs it in one Spark task; tests use it as the
    oracle."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=DATASKETCH_WEIGHTS)
    sketches = {}
    for doc_id, values in zip(doc_ids, features):
        if len(values) == 0:
            continue
        sketch = MinHash(num_perm=num_perm, seed=seed, hashfunc=int)  # features are hashes already
        sketch.update_batch((values >> np.uint64(32)).tolist())  # datasketch permutes 32-bit values
        lsh.insert(doc_id, sketch)
        sketches[doc_id] = sketch
    pairs = {tuple(sorted((doc_id, other))) for doc_id, sketch in sketches.items()
             for other in lsh.query(sketch) if other != doc_id}
    return sorted(pairs)
