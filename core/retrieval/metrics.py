"""Excerpt -> track retrieval scores: the rank of the true track per query, Recall@K and MRR with bootstrap CIs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.recommend.metrics import Estimate, bootstrap_ci


def ranks_of_truth(ranked: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1-based rank of each query's true item in its ranked list [q, n]; 0 where it is absent."""
    ranked = np.asarray(ranked)
    hit = ranked == np.asarray(truth)[:, None]
    found = hit.any(1)
    return np.where(found, hit.argmax(1) + 1, 0).astype(np.int64)


def ranks_from_scores(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1-based rank of the true item given a full score matrix [q, n] (higher = better; ties count against)."""
    scores = np.asarray(scores, dtype=np.float64)
    t = scores[np.arange(len(truth)), np.asarray(truth)]
    return (scores > t[:, None]).sum(1) + (scores == t[:, None]).sum(1)


def recall_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per query: 1 if the true item is within the top k (rank 1..k), else 0."""
    r = np.asarray(ranks)
    return ((r >= 1) & (r <= k)).astype(float)


def reciprocal_rank(ranks: np.ndarray) -> np.ndarray:
    """Per query: 1 / rank of the true item (0 when it was not retrieved)."""
    r = np.asarray(ranks, dtype=float)
    return np.where(r >= 1, 1.0 / np.maximum(r, 1), 0.0)


@dataclass
class RetrievalScores:
    """Recall@K and MRR of one embedding on one query set, each with its bootstrap 95% CI."""

    recall: dict[int, Estimate]
    mrr: Estimate
    n_queries: int
    ranks: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))

    def to_dict(self) -> dict[str, float | int | dict]:
        """metrics.json form: `R@K`, `MRR`, `n_queries` as plain fractions plus `ci` {name: [lo, hi]}."""
        out: dict[str, float | int | dict] = {f"R@{k}": e.mean for k, e in self.recall.items()}
        out["MRR"] = self.mrr.mean
        out["n_queries"] = self.n_queries
        out["ci"] = {**{f"R@{k}": [e.lo, e.hi] for k, e in self.recall.items()}, "MRR": [self.mrr.lo, self.mrr.hi]}
        return out


def score_ranks(ranks: np.ndarray, ks: tuple[int, ...] = (1, 10, 100), n_boot: int = 1000,
                seed: int = 0) -> RetrievalScores:
    """Recall@K for each k and MRR from per-query ranks, bootstrapped over queries."""
    ranks = np.asarray(ranks)
    rec = {k: bootstrap_ci(recall_at_k(ranks, k), n_boot, seed) for k in ks}
    return RetrievalScores(rec, bootstrap_ci(reciprocal_rank(ranks), n_boot, seed), int(len(ranks)), ranks)


def chance_recall(n_corpus: int, k: int) -> float:
    """Recall@K of a random ranking over a corpus of n items."""
    return min(k, n_corpus) / max(n_corpus, 1)


def chance_mrr(n_corpus: int) -> float:
    """Expected reciprocal rank of a uniformly random rank in 1..n."""
    return float(np.mean(1.0 / np.arange(1, n_corpus + 1))) if n_corpus else float("nan")
