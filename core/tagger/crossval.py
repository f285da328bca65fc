"""Grouped-by-artist cross-validation of the tagger and its references (for tiny or lopsided splits such
as gtzan_mini's fault-filtered one, whose test split holds 4 tracks).

Folds are artist-disjoint (GroupKFold over the catalog's artist; a track without an artist is its own
group). In fold i the CNN trains on the other folds except fold i+1, which serves as its validation set
(early stopping); the probes and the majority class train on all other folds. Scores are computed once
over the out-of-fold predictions of every labelled track.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.model_selection import GroupKFold

from core.tagger.probes import linear_probe, majority_probs, probe_features
from core.tagger.run import TaggerConfig, TaggerData, predict_windows, train_model
from core.tagger.scores import multi_label_scores, single_label_scores


def artist_groups(data: TaggerData, rows: np.ndarray) -> np.ndarray:
    """Group id per row: its artist, or a unique id when the artist is unknown."""
    tracks = data.fc.tracks
    art = tracks["artist"].fillna("").astype(str).to_numpy() if "artist" in tracks else np.full(len(tracks), "")
    return np.array([a.strip().lower() if a.strip() and a.strip().lower() != "nan" else f"#row{r}"
                     for r, a in zip(rows, art[rows])])


def artist_folds(data: TaggerData, rows: np.ndarray, k: int) -> list[np.ndarray]:
    """k artist-disjoint folds of `rows`."""
    groups = artist_groups(data, rows)
    k = min(k, len(np.unique(groups)))
    return [rows[test] for _, test in GroupKFold(n_splits=k).split(rows, groups=groups)]


def _oof_probs(data: TaggerData, cfg: TaggerConfig, folds: list[np.ndarray], log: Callable[[str], None]
               ) -> dict[str, np.ndarray]:
    """Out-of-fold track probabilities of every method, [n_tracks, K] (NaN outside the folds)."""
    n, kc = len(data.fc.tracks), len(data.labels.classes)
    feats = probe_features(data.fc, data.fc.ds_dir)
    names = [f"SpectrogramCNN ({cfg.loss})", "majority class (train prior)",
             *[f"logistic regression: {f}" for f in feats]]
    out = {m: np.full((n, kc), np.nan) for m in names}
    for i, held in enumerate(folds):
        val = folds[(i + 1) % len(folds)]
        rest = np.concatenate([f for j, f in enumerate(folds) if j != i])
        train = np.setdiff1d(rest, val)
        model, fit, stats = train_model(data, train, val, cfg, f"{cfg.name()}_cv{i}")
        wp = predict_windows(model, data.fc, held, stats, data.spec)
        out[names[0]][held] = wp.track_probs(held)
        out[names[1]][held] = majority_probs(data.labels, rest, len(held))
        for f, X in feats.items():
            out[f"logistic regression: {f}"][held] = linear_probe(X, data.labels, rest, held)
        log(f"cv fold {i + 1}/{len(folds)}: {len(train)} train / {len(val)} val / {len(held)} held-out tracks, "
            f"{fit.epochs} epochs ({fit.stopped_reason})")
    return out


def cross_validate(data: TaggerData, cfg: TaggerConfig, log: Callable[[str], None] = print) -> dict:
    """The `cross_validation` block of metrics.json: every method scored on its out-of-fold predictions."""
    rows = np.flatnonzero(data.labels.labelled)
    folds = artist_folds(data, rows, cfg.cv_folds)
    probs = _oof_probs(data, cfg, folds, log)
    y = data.labels.y[rows]
    table = []
    for name, P in probs.items():
        sc = (multi_label_scores(y, P[rows], 0.5, cfg.n_boot) if data.labels.multi_label
              else single_label_scores(y, P[rows], cfg.n_boot))
        table.append({"method": name, "n_tracks": int(len(rows)), **{k: v.to_dict() for k, v in sc.items()}})
    n_art = len(np.unique(artist_groups(data, rows)))
    note = (f"Artist-disjoint folds over all {len(rows)} labelled tracks ({n_art} artist groups; unknown artist = "
            "own group), every split ignored. A class whose tracks all share one artist is never seen in "
            "training when its artist is held out, so such classes score 0 here by construction.")
    return {"n_folds": len(folds), "n_tracks": int(len(rows)), "methods": table, "note": note,
            "fold_sizes": [int(len(f)) for f in folds]}
