"""Scores of the tagger and its references, with percentile-bootstrap 95% CIs over tracks.

Single-label: accuracy and macro-F1 (over the classes present in the evaluated tracks' true labels).
Multi-label: mAP (macro average precision over the tags with a positive among the evaluated tracks),
macro-F1 at a probability threshold, the positive-label hit rate (share of a track's true tags among its
top-k scores, k = its number of tags) and top-1 accuracy (the best-scored tag is a true one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import f1_score

from core.recommend.metrics import Estimate, bootstrap_ci


def bootstrap_stat(stat: Callable[[np.ndarray], float], n: int, n_boot: int = 1000, seed: int = 0,
                   alpha: float = 0.05) -> Estimate:
    """`stat(indices)` on all n items, with a percentile CI from resampling the items with replacement."""
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    full = float(stat(np.arange(n)))
    rng = np.random.default_rng(seed)
    boots = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    boots = boots[np.isfinite(boots)]
    if len(boots) == 0:
        return Estimate(full, float("nan"), float("nan"), n)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return Estimate(full, float(lo), float(hi), n)


def macro_f1(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray) -> float:
    """Macro-F1 over `labels` (sorted; every true label among them), 0 for a label with no true and no predicted
    item: sklearn's `f1_score(average="macro", labels=labels, zero_division=0)` from three bincounts, cheap
    enough to run once per bootstrap resample."""
    k = len(labels)
    ti = np.searchsorted(labels, y_true)
    known = np.isin(pred, labels)
    tp = np.bincount(ti[y_true == pred], minlength=k)
    denom = np.bincount(ti, minlength=k) + np.bincount(np.searchsorted(labels, pred[known]), minlength=k)
    return float(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0).mean())


def multi_macro_f1(Y: np.ndarray, pred: np.ndarray) -> float:
    """Multi-label macro-F1 over the tags with a positive in Y (0/1 arrays): sklearn's
    `f1_score(Y[:, cols], pred[:, cols], average="macro", zero_division=0)` from column sums."""
    cols = np.flatnonzero(Y.sum(0) > 0)
    y, p = Y[:, cols] > 0.5, pred[:, cols] > 0.5
    tp, denom = (y & p).sum(0), y.sum(0) + p.sum(0)
    return float(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0).mean()) if len(cols) else float("nan")


def single_label_scores(y_true: np.ndarray, prob: np.ndarray, n_boot: int = 1000, seed: int = 0
                        ) -> dict[str, Estimate]:
    """{"accuracy", "macro_f1"} of argmax predictions against class ids."""
    y_true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(prob).argmax(1)
    labels = np.unique(y_true)

    def macro(idx: np.ndarray) -> float:
        return macro_f1(y_true[idx], pred[idx], labels)

    return {"accuracy": bootstrap_ci((pred == y_true).astype(float), n_boot, seed),
            "macro_f1": bootstrap_stat(macro, len(y_true), n_boot, seed)}


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision of one class (NaN without positives): mean precision at each positive's rank."""
    y = np.asarray(y) > 0.5
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(score), kind="stable")
    hits = y[order]
    prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(prec[hits].mean())


def mean_ap(Y: np.ndarray, P: np.ndarray) -> float:
    """Macro mAP over the classes with at least one positive."""
    aps = [average_precision(Y[:, k], P[:, k]) for k in range(Y.shape[1])]
    aps = [a for a in aps if np.isfinite(a)]
    return float(np.mean(aps)) if aps else float("nan")


def hit_rates(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Per track: share of its true labels among its top-k scores (k = number of true labels); NaN if none."""
    out = np.full(len(Y), np.nan)
    for i, (y, p) in enumerate(zip(np.asarray(Y) > 0.5, np.asarray(P))):
        k = int(y.sum())
        if k:
            out[i] = float(y[np.argsort(-p, kind="stable")[:k]].mean())
    return out


def multi_label_scores(Y: np.ndarray, P: np.ndarray, threshold: float = 0.5, n_boot: int = 1000,
                       seed: int = 0) -> dict[str, Estimate]:
    """{"mAP", "macro_f1", "pos_hit_rate", "accuracy"} of tag probabilities P against 0/1 labels Y."""
    Y, P = np.asarray(Y, dtype=np.float32), np.asarray(P, dtype=np.float32)
    present = Y.sum(0) > 0
    pred = (P >= threshold).astype(int)

    def m_ap(idx: np.ndarray) -> float:
        return mean_ap(Y[idx], P[idx])

    def macro(idx: np.ndarray) -> float:
        return multi_macro_f1(Y[idx], pred[idx])

    top1 = Y[np.arange(len(Y)), P.argmax(1)] if len(Y) else np.zeros(0)
    return {"mAP": bootstrap_stat(m_ap, len(Y), n_boot, seed),
            "macro_f1": bootstrap_stat(macro, len(Y), n_boot, seed) if present.any() else Estimate(
                float("nan"), float("nan"), float("nan"), 0),
            "pos_hit_rate": bootstrap_ci(hit_rates(Y, P), n_boot, seed),
            "accuracy": bootstrap_ci(top1.astype(float), n_boot, seed)}


def best_threshold(Y: np.ndarray, P: np.ndarray, grid: np.ndarray | None = None) -> float:
    """The single probability threshold with the best macro-F1 on (validation) tracks; 0.5 if none present."""
    Y = np.asarray(Y)
    cols = np.flatnonzero(Y.sum(0) > 0)
    if len(cols) == 0:
        return 0.5
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2) if grid is None else grid
    f1 = [f1_score(Y[:, cols], (P[:, cols] >= t).astype(int), average="macro", zero_division=0) for t in grid]
    return float(grid[int(np.argmax(f1))])
