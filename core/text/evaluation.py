"""Evaluation of a trained projection on the pairs of one split: whole pool and in-batch (batch 32), both
directions, against the random baseline (analytic K/N and a sampled random scorer), bootstrap CIs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.audio.catalogs import SPLIT_HINT
from core.text.retrieval import (
    KS,
    DirectionScores,
    chance_recall,
    in_batch_ranks,
    pool_positive,
    score_directions,
    summarise,
)

DIRECTIONS = ("text_to_audio", "audio_to_text")


@dataclass
class TaskScores:
    """One task (pool or in-batch): the model, the sampled random scorer and the analytic chance per direction."""

    model: dict[str, DirectionScores]
    random: dict[str, DirectionScores]
    chance: dict[str, dict[int, float]]  # direction -> K -> expected R@K of random scores
    n_candidates: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"model": {d: s.to_dict() for d, s in self.model.items()},
                "random_sampled": {d: s.to_dict() for d, s in self.random.items()},
                "random_analytic": {d: {f"R@{k}": v for k, v in c.items()} for d, c in self.chance.items()},
                "n_candidates": self.n_candidates}

    def ratio(self, direction: str, k: int = 10) -> float:
        """Model R@K over the analytic chance R@K."""
        c = self.chance[direction][k]
        return self.model[direction].recall[k].mean / c if c > 0 else float("nan")


@dataclass
class SplitEvaluation:
    """Scores of one split: `pool` (every clip/caption of the split) and `in_batch` (shuffled batches)."""

    split: str
    n_pairs: int
    n_clips: int
    batch_size: int
    pool: TaskScores
    in_batch: TaskScores
    captions_per_clip: float = 1.0

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"split": self.split, "n_pairs": self.n_pairs, "n_clips": self.n_clips, "batch_size": self.batch_size,
                "captions_per_clip": self.captions_per_clip, "pool": self.pool.to_dict(),
                "in_batch": self.in_batch.to_dict()}


def _pool(audio: np.ndarray, text: np.ndarray, clip: np.ndarray, n_boot: int, seed: int) -> TaskScores:
    """Whole-pool scores: every caption against every distinct clip of the split."""
    clips, pos = pool_positive(clip)
    first = np.array([int(np.flatnonzero(clip == c)[0]) for c in clips])
    sim = audio[first] @ text.T
    rand = np.random.default_rng(seed + 1).standard_normal(sim.shape)
    chance = {"text_to_audio": {k: float(chance_recall(len(clips), 1, k)[0]) for k in KS},
              "audio_to_text": {k: float(chance_recall(np.full(len(clips), len(clip)), pos.sum(1), k).mean())
                                for k in KS}}
    return TaskScores(score_directions(sim, pos, n_boot, seed), score_directions(rand, pos, n_boot, seed), chance,
                      {"text_to_audio": len(clips), "audio_to_text": len(clip)})


def _in_batch(audio: np.ndarray, text: np.ndarray, clip: np.ndarray, batch_size: int, n_boot: int,
              seed: int) -> TaskScores:
    """In-batch scores (the exercise's definition), the random scorer on the same batches, and chance."""
    rng = np.random.default_rng(seed + 2)
    model = in_batch_ranks(audio, text, clip, batch_size, seed)
    rand = in_batch_ranks(rng.standard_normal((len(clip), 32)), rng.standard_normal((len(clip), 32)), clip,
                          batch_size, seed)
    out_m, out_r, chance = {}, {}, {}
    for d in DIRECTIONS:
        ranks, ap, n_cand, n_pos = model[d]
        out_m[d] = summarise(ranks, ap, int(n_cand.max(initial=0)), n_boot, seed)
        out_r[d] = summarise(rand[d][0], rand[d][1], int(n_cand.max(initial=0)), n_boot, seed)
        chance[d] = {k: float(chance_recall(n_cand, n_pos, k).mean()) if len(n_cand) else float("nan") for k in KS}
    return TaskScores(out_m, out_r, chance, {d: int(model[d][2].max(initial=0)) for d in DIRECTIONS})


def evaluate_pairs(audio: np.ndarray, text: np.ndarray, clip: np.ndarray, split: str = "test",
                   batch_size: int = 32, n_boot: int = 1000, seed: int = 0) -> SplitEvaluation:
    """Scores of projected audio rows `audio` [n_pairs, d] (unit, one row per pair) against their captions'
    text vectors `text` [n_pairs, d] (unit); `clip` says which pairs share a clip."""
    audio, text, clip = np.asarray(audio, np.float32), np.asarray(text, np.float32), np.asarray(clip)
    if len(clip) < 2:
        raise ValueError(f"split {split!r} has {len(clip)} caption(s): too few to evaluate retrieval; caption more "
                         f"tracks of that split, or {SPLIT_HINT}")
    n_clips = len(np.unique(clip))
    return SplitEvaluation(split, len(clip), n_clips, batch_size, _pool(audio, text, clip, n_boot, seed),
                           _in_batch(audio, text, clip, batch_size, n_boot, seed), len(clip) / max(n_clips, 1))
