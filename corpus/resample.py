"""GPT-3's Pareto resampling (Appendix A): keep a document iff `np.random.pareto(alpha) > 1 - score`.

numpy's `pareto(a)` is the Lomax distribution, P(X > x) = (1 + x) ** -a, so a document of score s is kept
with probability (2 - s) ** -alpha. We draw the same distribution by inversion, X = U ** (-1 / alpha) - 1,
from a uniform U that is a pure function of (seed, doc_id): every partitioning, executor count and rerun
keeps exactly the same documents, and a whole Arrow batch is drawn in a few numpy operations.
"""
import numpy as np
import pyarrow as pa

from corpus.hashing import splitmix64
from corpus.ids import stable_int

DOC_ID_HEX_DIGITS = 16  # corpus.ids: a doc_id is 64 bits of blake2b in lowercase hex
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def doc_id_bits(doc_ids: pa.Array | list[str]) -> np.ndarray:
    """The 64-bit integers behind doc_ids, decoded from hex without a Python call per id."""
    array = pa.array(doc_ids, type=pa.string()) if not isinstance(doc_ids, pa.Array) else doc_ids.cast(pa.string())
    if len(array) == 0:
        return np.zeros(0, dtype=np.uint64)
    if array.null_count:
        raise ValueError("a doc_id is null; every document needs one to be resampled")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    if not np.all(np.diff(offsets) == DOC_ID_HEX_DIGITS):
        raise ValueError(f"doc_ids must be {DOC_ID_HEX_DIGITS} lowercase hex digits (corpus.ids)")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    digits = _HEX_VALUE[data].reshape(len(array), DOC_ID_HEX_DIGITS)
    if np.any(digits == 255):
        raise ValueError(f"doc_ids must be {DOC_ID_HEX_DIGITS} lowercase hex digits (corpus.ids)")
    weights = np.uint64(16) ** np.arange(DOC_ID_HEX_DIGITS - 1, -1, -1, dtype=np.uint64)
    return (digits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def uniforms(doc_ids, seed: int) -> np.ndarray:
    """U in [0, 1) per document, a pure function of (seed, doc_id)."""
    mixed = splitmix64(doc_id_bits(doc_ids) ^ splitmix64(np.array([seed], dtype=np.uint64))[0])
    return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53


def pareto_draws(doc_ids, seed: int, alpha: float) -> np.ndarray:
    """One draw of np.random.pareto(alpha) per document (Lomax, by inversion of its survival function)."""
    assert alpha > 0, f"alpha must be positive, got {alpha}"
    return (1.0 - uniforms(doc_ids, seed)) ** (-1.0 / alpha) - 1.0  # 1 - U is in (0, 1]: never divides by 0


def keep(draws: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """GPT-3's rule, as written in the paper."""
    return draws > 1.0 - scores


def keep_probability(scores, alpha: float):
    """P(keep | score) = P(Lomax(alpha) > 1 - s) = (2 - s) ** -alpha."""
    return (2.0 - np.asarray(scores, dtype=np.float64)) ** -alpha


def purpose_seed(seed: int, purpose: str) -> int:
    """Independent streams from one user seed: the Pareto draw, the negatives' sample, the held-out split."""
    return stable_int(f"{purpose}:{seed}")


def _doc_id_udf(function):
    """A Spark Column function of doc_id, evaluated per Arrow batch (a vectorised pandas UDF)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def per_batch(doc_ids: pd.Series) -> pd.Series:
        return pd.Series(function(pa.Array.from_pandas(doc_ids, type=pa.string())), index=doc_ids.index)

    return per_batch


def pareto_draw_column(doc_id_column, seed: int, alpha: float):
    """Spark Column: the document's Pareto draw (the rule's own stream is `purpose_seed(seed, "pareto")`)."""
    stream = purpose_seed(seed, "pareto")
    return _doc_id_udf(lambda ids: pareto_draws(ids, stream, alpha))(doc_id_column)


def uniform_column(doc_id_column, seed: int, purpose: str):
    """Spark Column: U in [0, 1) per document for `purpose`, independent of the Pareto draw."""
    stream = purpose_seed(seed, purpose)
    return _doc_id_udf(lambda ids: uniforms(ids, stream))(doc_id_column)
