"""Cross-modal retrieval scores from a similarity matrix: recall@K (= acc@K), mAP@10, median rank,
both directions, over a whole pool or in batches; the random baseline analytic and sampled.

A query's rank is that of its best positive (with several captions per clip, a hit on any of them
counts), ties counted against the query (a constant score matrix gets the worst ranks, not the best).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb

import numpy as np

from core.recommend.metrics import Estimate, bootstrap_ci

KS = (1, 3, 10)


def best_ranks(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """1-based rank of each query's best-scoring positive among its candidates [q, c]; ties count against it."""
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive, bool)
    best = np.where(pos, s, -np.inf).max(1)
    return 1 + ((s >= best[:, None]) & ~pos).sum(1)


def ap_at_k(scores: np.ndarray, positive: np.ndarray, k: int = 10) -> np.ndarray:
    """Average precision at k per query: sum over the top k of precision@i at each hit, / min(#positives, k)."""
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive, bool)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    rel = np.take_along_axis(pos, order, 1).astype(float)
    prec = np.cumsum(rel, 1) / np.arange(1, rel.shape[1] + 1)
    denom = np.minimum(pos.sum(1), k).clip(min=1)
    return (prec * rel).sum(1) / denom


def chance_recall(n_candidates: np.ndarray | int, n_positive: np.ndarray | int, k: int) -> np.ndarray:
    """Probability that k random candidates of n (m of them positive) hold at least one: 1 - C(n-m,k)/C(n,k)
    (= k/n with one positive)."""
    n = np.atleast_1d(np.asarray(n_candidates, int))
    m = np.broadcast_to(np.asarray(n_positive, int), n.shape)
    return np.array([1.0 - comb(int(a) - int(b), min(k, int(a))) / comb(int(a), min(k, int(a)))
                     for a, b in zip(n, m)])


@dataclass
class DirectionScores:
    """One retrieval direction: per-query ranks and AP@10, and their summaries with bootstrap CIs."""

    ranks: np.ndarray
    ap10: np.ndarray
    recall: dict[int, Estimate] = field(default_factory=dict)
    map10: Estimate | None = None
    median_rank: float = float("nan")
    n_candidates: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON form: R@K as fractions with CIs, mAP@10, median rank."""
        out: dict[str, object] = {f"R@{k}": e.to_dict() for k, e in self.recall.items()}
        out["mAP@10"] = self.map10.to_dict() if self.map10 else None
        out.update(median_rank=self.median_rank, n=int(len(self.ranks)), n_candidates=self.n_candidates)
        return out


def summarise(ranks: np.ndarray, ap10: np.ndarray, n_candidates: int, n_boot: int = 1000, seed: int = 0,
              ks: tuple[int, ...] = KS) -> DirectionScores:
    """R@K, mAP@10 and median rank of per-query ranks, with bootstrap CIs over queries."""
    ranks = np.asarray(ranks)
    rec = {k: bootstrap_ci((ranks <= k).astype(float), n_boot, seed) for k in ks}
    med = float(np.median(ranks)) if len(ranks) else float("nan")
    return DirectionScores(ranks, np.asarray(ap10), rec, bootstrap_ci(ap10, n_boot, seed), med, int(n_candidates))


def score_directions(sim: np.ndarray, positive: np.ndarray, n_boot: int = 1000,
                     seed: int = 0) -> dict[str, DirectionScores]:
    """Both directions of one similarity matrix sim[audio, text] with positive[audio, text]."""
    sim, positive = np.asarray(sim), np.asarray(positive, bool)
    return {
        "text_to_audio": summarise(best_ranks(sim.T, positive.T), ap_at_k(sim.T, positive.T), sim.shape[0],
                                   n_boot, seed),
        "audio_to_text": summarise(best_ranks(sim, positive), ap_at_k(sim, positive), sim.shape[1], n_boot, seed),
    }


def pool_positive(text_clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct clip ids in order, positive[clip, text]) of a pool where text t belongs to clip text_clip[t]."""
    clips = np.array(list(dict.fromkeys(np.asarray(text_clip).tolist())))
    return clips, clips[:, None] == np.asarray(text_clip)[None, :]


def batch_plan(n: int, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffled consecutive batches of `batch_size` pair indices; an incomplete last batch is dropped (so chance
    is exactly K/batch) unless it is the only one."""
    order = np.random.default_rng(seed).permutation(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches = batches[:-1]
    return batches


def in_batch_ranks(audio: np.ndarray, text: np.ndarray, clip: np.ndarray, batch_size: int = 32,
                   seed: int = 0) -> dict[str, tuple[np.ndarray, ...]]:
    """Per direction (ranks, AP@10, candidates, positives) per query of the in-batch task: pair i's right text
    is index i of its batch (and any other caption of the same clip in that batch)."""
    out: dict[str, list[list[np.ndarray]]] = {"text_to_audio": [[], [], [], []], "audio_to_text": [[], [], [], []]}
    clip = np.asarray(clip)
    for b in batch_plan(len(clip), batch_size, seed):
        sim = np.asarray(audio)[b] @ np.asarray(text)[b].T
        pos = clip[b][:, None] == clip[b][None, :]
        for name, (s, p) in {"text_to_audio": (sim.T, pos.T), "audio_to_text": (sim, pos)}.items():
            for part, value in zip(out[name], (best_ranks(s, p), ap_at_k(s, p), np.full(len(b), len(b)), p.sum(1))):
                part.append(value)
    return {k: tuple(np.concatenate(v) for v in parts) for k, parts in out.items()}
