"""The stable hashes the stages share: every value here is part of the output format.

Dedup features, decontam grams and resampling draws are pure functions of these hashes, so doc_ids kept, fate
rows and shard bytes depend on them: changing a constant or the order of an operation changes every run's
output (tests/test_hashing.py pins values). Never Python's hash(), which is salted per process.

  splitmix64        SplitMix64's finaliser over uint64 arrays: a bijective mix (resampling draws, dedup band keys)
  word_hash         64 bits of blake2b of a word (decontam's word hashes)
  gram_hashes       the polynomial hash of every n-gram of a word-hash sequence, base FNV64_PRIME
  extend_grams      (n-1)-gram hashes to n-gram hashes, equal to gram_hashes(..., n)
  byte_span_hashes  a polynomial hash of byte spans of one buffer, base FNV64_PRIME, mixed by splitmix64 (dedup)

Dependency-free (standard library and numpy), like every module corpus/ and model/ share (corpus/__init__.py).
doc_ids are blake2b digests too, made in corpus/ids.py. uint64 arithmetic wraps, mod 2**64, by design.
"""
import hashlib

import numpy as np

FNV64_PRIME = 0x100000001B3  # the polynomials' base: odd, so invertible mod 2**64 and no hash collapses to 0
FNV64_PRIME_INVERSE = pow(FNV64_PRIME, -1, 2**64)
POWER_TABLE_MIN = (1 << 20) + 1  # powers kept per worker: dedup hashes 1 MiB chunks, so one table serves them all
_PRIME = np.uint64(FNV64_PRIME)
_POWER_TABLES: dict[int, np.ndarray] = {}  # base -> base**0, base**1, ... computed once per worker, grown on demand


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective mix, so nearby inputs give unrelated outputs."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def word_hash(word: str) -> int:
    """64 bits of blake2b of the word's UTF-8 bytes, read little-endian."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def gram_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every n-gram (word i .. i+n-1, in order) as sum(w[i+k] * P**(n-1-k)) mod 2**64."""
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        grams = word_hashes[:count].copy()
        for k in range(1, n):
            grams = grams * _PRIME + word_hashes[k:k + count]
    return grams


def extend_grams(grams: np.ndarray, word_hashes: np.ndarray, n: int) -> np.ndarray:
    """The n-gram hashes from the (n-1)-gram hashes `grams` of the same words: one vector step per length,
    for a caller that wants every length up to some n."""
    with np.errstate(over="ignore"):
        return grams[:-1] * _PRIME + word_hashes[n - 1:]


def powers(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count-1) mod 2**64, from a per-worker table."""
    table = _POWER_TABLES.get(base)
    if table is None or len(table) < count:
        table = np.full(max(count, POWER_TABLE_MIN), base, dtype=np.uint64)
        table[0] = 1
        table = _POWER_TABLES[base] = np.cumprod(table, dtype=np.uint64)  # uint64 products wrap: mod 2**64
    return table[:count]


def byte_span_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each span data[start:end] of a uint8 buffer: sum((byte + 1) * P**i) mod 2**64 from
    prefix sums over the whole buffer, shifted to the span's own start, then mixed by splitmix64 so every bit
    depends on every byte. Equal bytes give equal hashes wherever they sit in the buffer."""
    with np.errstate(over="ignore"):
        prefix = np.concatenate(([np.uint64(0)], np.cumsum((data.astype(np.uint64) + np.uint64(1))
                                                           * powers(FNV64_PRIME, len(data)), dtype=np.uint64)))
        spans = (prefix[ends] - prefix[starts]) * powers(FNV64_PRIME_INVERSE, len(data) + 1)[starts]
        return splitmix64(spans)
