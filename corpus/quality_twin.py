"""A single-machine twin of the Spark quality classifier, in scikit-learn: the same tokenisation (lowercase,
split on whitespace), hashed term counts, an L2 logistic regression. Notebooks and tests use it to
cross-check the Spark model on data that fits in memory; the pipeline itself never calls it.

Spark's LogisticRegression minimises mean log-loss + reg_param/2 · ||w||² on standardised features;
sklearn's minimises sum log-loss + 1/(2C) · ||w||², so C = 1 / (reg_param · n) on standardised features.
"""
import re

from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from corpus.config import QualityConfig


def spark_tokens(text: str) -> list[str]:
    """pyspark.ml.feature.Tokenizer: lowercase, then split on single whitespace characters."""
    return re.split(r"\s", text.lower())


def twin_classifier(cfg: QualityConfig, training_documents: int) -> Pipeline:
    vectorizer = HashingVectorizer(n_features=cfg.num_features, tokenizer=spark_tokens, token_pattern=None,
                                   lowercase=False, alternate_sign=False, norm=None)
    # MaxAbsScaler keeps the matrix sparse; it stands in for Spark's division by each feature's std.
    logistic = LogisticRegression(C=1.0 / max(cfg.reg_param * training_documents, 1e-12), max_iter=1000)
    return Pipeline([("features", vectorizer), ("scale", MaxAbsScaler()), ("logistic", logistic)])


def fit_twin(texts: list[str], labels: list[float], cfg: QualityConfig) -> Pipeline:
    return twin_classifier(cfg, len(texts)).fit(texts, labels)


def twin_scores(model: Pipeline, texts: list[str]):
    return model.predict_proba(texts)[:, 1]
