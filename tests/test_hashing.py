"""corpus/hashing.py: the stable hashes are part of the output format, so their values are pinned.

Every expected value below was computed by the code before the hashes moved into corpus/hashing.py (from
corpus/resample.py, corpus/decontam.py and corpus/dedup.py); a change here changes every run's doc_ids kept,
fate rows and shards.
"""
import numpy as np

from corpus.dedup import PAPER, SHINGLES, band_keys, feature_sets
from corpus.decontam import WordHasher, document_grams
from corpus.hashing import (FNV64_PRIME, byte_span_hashes, extend_grams, gram_hashes, splitmix64, word_hash)
from corpus.resample import uniforms

WORDS = ["the", "quick", "brown", "fox", "jumps"]


def hexes(values) -> list[str]:
    return [hex(int(v)) for v in values]


def test_splitmix64_values_are_pinned():
    x = np.array([0, 1, 2**64 - 1, 0x0123456789ABCDEF], dtype=np.uint64)
    assert hexes(splitmix64(x)) == ["0xe220a8397b1dcdaf", "0x910a2dec89025cc1", "0xe4d971771b652c20",
                                    "0x157a3807a48faa9d"]


def test_word_and_gram_hashes_are_pinned():
    assert hexes(word_hash(w) for w in WORDS) == ["0x2e3a97906cabda5e", "0x35fa451121c6f20a", "0xb5ba5a84fb81d084",
                                                  "0xb773521a1407e112", "0x83dd785df043a979"]
    word_hashes = WordHasher()(WORDS)
    assert hexes(gram_hashes(word_hashes, 3)) == ["0xc7f36476df726a90", "0x39ef2651272cd2f8", "0x7d7a0601fe5e8c33"]
    assert hexes(gram_hashes(word_hashes, 5)) == ["0xbbd6aabf0c97dc1f"]
    assert len(gram_hashes(word_hashes, 6)) == 0


def test_decontam_document_grams_are_pinned():
    grams = {n: hexes(g) for n, g, _, _ in document_grams("The quick, brown fox jumps!", [2, 4], WordHasher())}
    assert grams == {2: ["0x6f642d79c9caffc4", "0x34efc0a1608f1782", "0x4eba611719d315e", "0x44b30cadf9a71b0f"],
                     4: ["0xec719817c372f3c2", "0x220e8c43816e24e1"]}


def test_dedup_features_and_band_keys_are_pinned():
    assert hexes(feature_sets(["The quick brown fox."], PAPER)[0]) == [
        "0x2c8b32d60a3861f8", "0x60a610a919a2f935", "0x66aaf93758b2e0b4", "0xf7d374ec3a535f13"]
    assert hexes(feature_sets(["The quick, brown fox jumps!"], SHINGLES, 3)[0]) == [
        "0x2e30be0e55ab2d43", "0x41b4a69a3347031e", "0xb450b5c1eb6e68ce"]
    data = np.frombuffer(b"abc de", dtype=np.uint8)
    assert hexes(byte_span_hashes(data, np.array([0, 4]), np.array([3, 6]))) == ["0x8f831ae2473f9503",
                                                                                  "0x6c012b7878988169"]
    signature_rows = np.arange(12, dtype=np.uint32).reshape(2, 6) * np.uint32(2654435761)
    assert band_keys(signature_rows, 3, 2).tolist() == [
        [2472403167744347911, -5331754027516199322, -1963812184290485685],
        [-908188549121737060, -7320504322128930354, -4466243658357190635]]


def test_resampling_uniforms_are_pinned():
    assert uniforms(["0123456789abcdef", "ffffffffffffffff", "0000000000000000"], 7).tolist() == [
        0.4999267412994265, 0.6627413876392583, 0.7215081806049702]


def test_extend_grams_equals_gram_hashes_at_every_length():
    word_hashes = np.array([word_hash(w) for w in WORDS * 3], dtype=np.uint64)
    grams = word_hashes
    for n in range(2, 9):
        grams = extend_grams(grams, word_hashes, n)
        assert np.array_equal(grams, gram_hashes(word_hashes, n)), n


def test_gram_hash_is_the_polynomial_in_the_fnv_prime():
    a, b, c = (word_hash(w) for w in WORDS[:3])
    expected = (a * FNV64_PRIME**2 + b * FNV64_PRIME + c) % 2**64
    assert int(gram_hashes(np.array([a, b, c], dtype=np.uint64), 3)[0]) == expected


def test_byte_span_hash_depends_on_the_bytes_not_their_position():
    data = np.frombuffer(b"fox the fox", dtype=np.uint8)
    first, second, other = byte_span_hashes(data, np.array([0, 8, 4]), np.array([3, 11, 7]))
    assert first == second and first != other
