"""References for the tagger in the same table: the majority class and logistic-regression linear probes on
track features (the classic baseline, and every pretrained embedding `embeddings/pretrained_*.npy`).

Every probe is fitted on the training tracks only (features standardised with training statistics) and
returns class probabilities for the evaluated tracks, aligned with the tagger's class list.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from core.audio.cache import MelCache
from core.tagger.labels import LabelSet


def probe_features(fc: MelCache, ds_dir: Path) -> dict[str, np.ndarray]:
    """{name: [n_tracks, d]}: the classic baseline (embeddings/baseline.npy or the cache's raw baseline)
    and every `embeddings/pretrained_*.npy` whose row count matches the tracks."""
    emb_dir = Path(ds_dir) / "embeddings"
    n = len(fc.tracks)
    base = emb_dir / "baseline.npy"
    feats = {"baseline": np.load(base) if base.exists() else np.asarray(fc.baseline, np.float64)}
    for p in sorted(emb_dir.glob("pretrained_*.npy")):
        arr = np.load(p)
        if arr.ndim == 2 and len(arr) == n:
            feats[p.stem] = arr
    return {k: v for k, v in feats.items() if len(v) == n}


def _standardise(X: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """NaN-safe z-scores with the statistics of `fit_rows`."""
    X = np.nan_to_num(np.asarray(X, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    mu, sd = X[fit_rows].mean(0), X[fit_rows].std(0)
    return (X - mu) / np.where(sd < 1e-8, 1.0, sd)


def _fit_lr(X: np.ndarray, y: np.ndarray, c: float) -> LogisticRegression:
    """A multinomial/binary logistic regression, silent about slow convergence."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=2000).fit(X, y)


def linear_probe(X: np.ndarray, labels: LabelSet, train_rows: np.ndarray, eval_rows: np.ndarray,
                 c: float = 1.0) -> np.ndarray:
    """Probabilities [len(eval_rows), K] of a logistic regression fitted on `train_rows` of X."""
    Z = _standardise(X, train_rows)
    k = len(labels.classes)
    out = np.zeros((len(eval_rows), k))
    if not labels.multi_label:
        y = labels.y[train_rows]
        if len(np.unique(y)) < 2:
            out[:, y[0]] = 1.0
            return out
        lr = _fit_lr(Z[train_rows], y, c)
        out[:, lr.classes_] = lr.predict_proba(Z[eval_rows])
        return out
    for j in range(k):
        yj = labels.y[train_rows, j]
        if 0 < yj.sum() < len(yj):
            out[:, j] = _fit_lr(Z[train_rows], yj.astype(int), c).predict_proba(Z[eval_rows])[:, 1]
        else:
            out[:, j] = float(yj.mean())
    return out


def majority_probs(labels: LabelSet, train_rows: np.ndarray, n_eval: int) -> np.ndarray:
    """The training prior for every evaluated track: one-hot majority class, or per-tag frequencies."""
    k = len(labels.classes)
    if labels.multi_label:
        return np.repeat(labels.y[train_rows].mean(0, keepdims=True), n_eval, 0)
    counts = np.bincount(labels.y[train_rows], minlength=k)
    out = np.zeros((n_eval, k))
    out[:, int(np.argmax(counts))] = 1.0
    return out
