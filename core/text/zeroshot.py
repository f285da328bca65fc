"""Zero-shot evaluation of a general text-search model on datasets whose tracks (and artists) it never saw.

- **Mood quadrants** (emotion4q: genre = Q1..Q4): one query per Russell quadrant, P@10 and P@50 = share of the
  top K tracks in the query's quadrant; chance = the quadrant's share of the pool.
- **Genres** (GTZAN, the demo corpus, any labelled folder): the query "<label> music" per label, same figures.
- **Captions** (MusicCaps): text→audio R@K over the split's pool, as `core.text.evaluation` computes it.

CIs are percentile bootstraps over the **collection** (the pool's tracks resampled with replacement, the
queries re-ranked on each resample), so they say how much the figure depends on which tracks happen to be in
the pool; the mean over queries is bootstrapped on the same resamples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

QUADRANT_QUERIES = {"Q1": "happy, cheerful, energetic, fun music", "Q2": "angry, aggressive, tense, intense music",
                    "Q3": "sad, melancholic, gloomy, slow music", "Q4": "calm, peaceful, relaxed, tender music"}
GENRE_QUERY = "{label} music"
OFF_TOPIC = ("jazz saxophone solo in a smoky bar", "a string quartet playing baroque music", "a dog barking",
             "rain falling on a roof")  # the verdict check's queries beside the four quadrant queries
KS = (10, 50)


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Share of the top-k (by score, ties broken by position) that is relevant; k is cut to the pool size."""
    k = min(k, len(scores))
    top = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return float(np.asarray(relevant)[top].mean()) if k else float("nan")


def bootstrap_precision(scores: np.ndarray, relevant: np.ndarray, k: int, n_boot: int = 1000,
                        seed: int = 0) -> np.ndarray:
    """P@k of each query [q] on n_boot resamples of the pool: [n_boot, q]. scores/relevant: [q, n_tracks]."""
    scores, relevant = np.atleast_2d(scores), np.atleast_2d(relevant)
    rng = np.random.default_rng(seed)
    n = scores.shape[1]
    out = np.empty((n_boot, len(scores)))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        for q in range(len(scores)):
            out[b, q] = precision_at_k(scores[q, idx], relevant[q, idx], k)
    return out


def _ci(point: float, samples: np.ndarray) -> dict[str, float]:
    """{mean, lo, hi} of a point estimate and its bootstrap samples (95 % percentile interval)."""
    lo, hi = np.quantile(samples, [0.025, 0.975]) if len(samples) else (np.nan, np.nan)
    return {"mean": float(point), "lo": float(lo), "hi": float(hi)}


def label_queries(scores: np.ndarray, labels: np.ndarray, queries: dict[str, str], ks: tuple[int, ...] = KS,
                  n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """P@K per query with CIs and chance (= the label's share), and the mean over queries.
    `scores` [q, n_tracks] in the order of `queries`; `labels` [n_tracks]."""
    labels = np.asarray(labels).astype(str)
    relevant = np.stack([labels == lab for lab in queries])
    per: dict[str, Any] = {lab: {"query": text, "n_relevant": int(relevant[i].sum()),
                                 "chance": float(relevant[i].mean())} for i, (lab, text) in enumerate(queries.items())}
    mean: dict[str, Any] = {"chance": float(relevant.mean(1).mean())}
    for k in ks:
        if 2 * k > len(labels):  # top K of a pool not twice as large says little about the ranking
            continue
        boot = bootstrap_precision(scores, relevant, k, n_boot, seed)
        points = [precision_at_k(scores[i], relevant[i], k) for i in range(len(queries))]
        for i, lab in enumerate(queries):
            per[lab][f"P@{k}"] = _ci(points[i], boot[:, i])
        mean[f"P@{k}"] = _ci(float(np.mean(points)), boot.mean(1))
    return {"n_pool": int(len(labels)), "queries": per, "mean": mean}


def dataset_kind(tracks: Any) -> str:
    """'quadrant' (labels Q1..Q4), 'caption' (MusicCaps/AudioCaps captions) or 'label' (any other labels)."""
    from core.text.captions import raw_captions

    labels = set(tracks["genre"].astype(str)) - {""}
    if labels and labels <= set(QUADRANT_QUERIES):
        return "quadrant"
    _, source = raw_captions(tracks, None)
    return "caption" if source in ("musiccaps", "audiocaps") else "label"


def split_mask(tracks: Any, split: str) -> np.ndarray:
    """Rows of a split ("all": every row; "unseen": every row not in train, i.e. val + test)."""
    s = tracks["split"].astype(str).to_numpy()
    if split == "all":
        return np.ones(len(s), bool)
    if split == "unseen":
        return s != "train"
    return s == split


def evaluate_labels(model: Any, ds_dir: Any, split: str, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Quadrant or genre queries of a general model on one split of a labelled dataset."""
    from core.audio.cache import FeatureCache

    tracks = FeatureCache.open(ds_dir).tracks.reset_index(drop=True)
    mask = split_mask(tracks, split)
    labels = tracks["genre"].astype(str).to_numpy()[mask]
    kind = dataset_kind(tracks)
    queries = label_queries_of(tracks, labels)
    vecs = model.text_encoder().encode(list(queries.values()))
    scores = model.scores(ds_dir, vecs)
    out = label_queries(scores[:, mask], labels, queries, KS, n_boot, seed)
    return {"kind": kind, "split": split, **out}


def evaluate_captions(model: Any, ds_dir: Any, split: str, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Text→audio and audio→text retrieval of a captioned dataset's split (its written captions only)."""
    from core.audio.cache import FeatureCache
    from core.text.captions import load_captions
    from core.text.evaluation import evaluate_pairs

    tracks = FeatureCache.open(ds_dir).tracks.reset_index(drop=True)
    caps = load_captions(tracks).table
    caps = caps[split_mask(caps, split)]
    audio = model.project(ds_dir)[caps["row"].to_numpy()]
    text = model.text_encoder().encode(caps["caption"].tolist())
    ev = evaluate_pairs(audio, text, caps["row"].to_numpy(), split, 32, n_boot, seed)
    pool = ev.pool
    return {"kind": "caption", "split": split, "n_clips": ev.n_clips, "n_captions": ev.n_pairs,
            "text_to_audio": {f"R@{k}": pool.model["text_to_audio"].recall[k].to_dict() for k in (1, 10)},
            "audio_to_text": {f"R@{k}": pool.model["audio_to_text"].recall[k].to_dict() for k in (1, 10)},
            "chance_text_to_audio": {f"R@{k}": pool.chance["text_to_audio"][k] for k in (1, 10)}}


def evaluate_dataset(model: Any, ds_dir: Any, split: str, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The zero-shot figures that fit a dataset (captions, quadrants or labels) on one split."""
    from core.audio.cache import FeatureCache

    kind = dataset_kind(FeatureCache.open(ds_dir).tracks)
    if kind == "caption":
        return evaluate_captions(model, ds_dir, split, n_boot, seed)
    return evaluate_labels(model, ds_dir, split, n_boot, seed)


def label_queries_of(tracks: Any, labels: np.ndarray) -> dict[str, str]:
    """The query of each label: the quadrant sentences on emotion4q-style data, "<label> music" otherwise."""
    if dataset_kind(tracks) == "quadrant":
        return dict(QUADRANT_QUERIES)
    return {lab: GENRE_QUERY.format(label=lab) for lab in sorted(set(labels) - {""})}


def verdict_cases(model: Any, ds_dir: Any, split: str = "val", min_tracks: int = 2) -> list[dict[str, Any]]:
    """Known-answer cases for the good-match verdict on one labelled split: each label's query on the split's
    pool (label present: should pass) and on the pool without that label's tracks (absent: should be flagged).
    Labels with fewer than `min_tracks` tracks in the pool are left out; [] for an unlabelled dataset."""
    from core.audio.cache import FeatureCache
    from core.text.calibrate import VERDICT_K, judge

    tracks = FeatureCache.open(ds_dir).tracks.reset_index(drop=True)
    mask = split_mask(tracks, split)
    labels = tracks["genre"].astype(str).to_numpy()
    if dataset_kind(tracks) == "caption" or mask.sum() < 2 * VERDICT_K:
        return []
    queries = label_queries_of(tracks, labels[mask])
    scores = model.scores(ds_dir, model.text_encoder().encode(list(queries.values())))
    bank = model.bank_vectors @ model.project(ds_dir).T
    cases = []
    for i, (lab, text) in enumerate(queries.items()):
        if (labels[mask] == lab).sum() < min_tracks:
            continue
        for present, pool in ((True, mask), (False, mask & (labels != lab))):
            v = judge(scores[i, pool], bank[:, pool], VERDICT_K)
            cases.append({"dataset": Path(ds_dir).name, "label": lab, "query": text, "present": present,
                          "rank": v.rank, "n_pool": int(pool.sum())})
    return cases


def verdict_check(model: Any, ds_dir: Any) -> list[dict[str, Any]]:
    """The good-match verdict of the four quadrant queries and the off-topic ones on a whole collection."""
    rows = []
    for text in (*QUADRANT_QUERIES.values(), *OFF_TOPIC):
        v = model.query(ds_dir, text, 5).verdict
        rows.append({"query": text, "good_match": v.good_match, "rank": v.rank, "fit": v.fit,
                     "best_cosine": v.best_cosine})
    return rows
