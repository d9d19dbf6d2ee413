"""GPT-3's Pareto rule: the draw's distribution, its purity, and the keep probabilities PAPER.md lists."""
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from corpus.ids import stable_hash
from corpus.resample import doc_id_bits, keep, keep_probability, pareto_draws, uniforms

IDS = [stable_hash(f"doc {i}") for i in range(100_000)]


@pytest.mark.parametrize("score, probability", [(1.0, 1.0), (0.9, 0.424), (0.8, 0.194), (0.5, 0.026),
                                                (0.0, 0.00195)])
def test_keep_probability_is_the_lomax_survival(score, probability):
    assert keep_probability(score, 9) == pytest.approx(probability, abs=5e-4)


def test_draws_follow_numpys_pareto():
    draws = pareto_draws(IDS, seed=0, alpha=9)
    lomax_cdf = lambda x: 1 - (1 + x) ** -9.0
    assert stats.kstest(draws, lomax_cdf).pvalue > 0.001
    reference = np.random.default_rng(0).pareto(9, len(IDS))
    assert stats.ks_2samp(draws, reference).pvalue > 0.001


@pytest.mark.parametrize("score", [0.95, 0.8, 0.5, 0.2])
def test_kept_share_matches_the_rule(score):
    kept = keep(pareto_draws(IDS, seed=3, alpha=9), np.full(len(IDS), score)).mean()
    p = keep_probability(score, 9)
    assert abs(kept - p) < 4 * np.sqrt(p * (1 - p) / len(IDS))


def test_draw_is_a_pure_function_of_seed_and_doc_id():
    whole = pareto_draws(IDS, seed=7, alpha=9)
    order = np.random.default_rng(1).permutation(len(IDS))
    shuffled = pareto_draws([IDS[i] for i in order], seed=7, alpha=9)
    assert np.array_equal(shuffled, whole[order])
    chunks = np.concatenate([pareto_draws(pa.array(IDS).slice(i, 999), 7, 9) for i in range(0, len(IDS), 999)])
    assert np.array_equal(chunks, whole)
    assert abs(np.corrcoef(uniforms(IDS, 7), uniforms(IDS, 8))[0, 1]) < 0.02  # another seed, another stream


def test_doc_id_bits_decode_hex_and_refuse_other_ids():
    assert doc_id_bits(["0000000000000001", "ffffffffffffffff"]).tolist() == [1, 2**64 - 1]
    assert doc_id_bits(IDS[:50]).tolist() == [int(i, 16) for i in IDS[:50]]
    with pytest.raises(ValueError, match="16 lowercase hex"):
        doc_id_bits(["not-a-doc-id-000"])
    with pytest.raises(ValueError, match="16 lowercase hex"):
        doc_id_bits(["abc"])
