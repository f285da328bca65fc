"""Labels of a prepared dataset for the tagger: one genre per track (single-label) or a tag set (multi-label).

Classes with fewer than `min_tracks` tracks are dropped (named in `LabelSet.dropped`, so the caller can warn);
`top_classes` keeps only the N most frequent classes (ties broken by name). A missing or empty label
column raises `MissingLabels`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.recommend.similarity import split_tags

TARGETS = {"genre": "genre", "tags": "tags"}


class MissingLabels(ValueError):
    """The dataset has no usable labels for the requested target."""


@dataclass
class LabelSet:
    """Labels aligned with `FeatureCache.tracks` rows."""

    target: str
    classes: list[str]
    y: np.ndarray  # single-label: [n_tracks] class id, -1 unlabelled; multi-label: [n_tracks, K] 0/1 float32
    multi_label: bool
    dropped: list[str] = field(default_factory=list)
    not_top: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the tracks with at least one kept label."""
        return self.y >= 0 if not self.multi_label else self.y.sum(1) > 0

    def rows(self, candidate_rows: np.ndarray) -> np.ndarray:
        """The labelled ones among `candidate_rows`."""
        rows = np.asarray(candidate_rows, dtype=np.int64)
        return rows[self.labelled[rows]]

    def name_of(self, row: int) -> str:
        """Readable label(s) of a track ('' if unlabelled)."""
        if self.multi_label:
            return "|".join(c for c, v in zip(self.classes, self.y[row]) if v > 0)
        return self.classes[self.y[row]] if self.y[row] >= 0 else ""


def _track_label_sets(tracks: pd.DataFrame, target: str) -> list[set[str]]:
    """The raw label set of every track (genre: one or none)."""
    if target not in TARGETS:
        raise MissingLabels(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    col = TARGETS[target]
    if col not in tracks.columns:
        raise MissingLabels(f"the catalog has no {col!r} column (columns: {', '.join(map(str, tracks.columns))})")
    values = tracks[col].fillna("").astype(str)  # only empty (or truly missing) cells are unlabelled: "nan" is a name
    if target == "genre":
        return [{v.strip()} if v.strip() else set() for v in values]
    return [split_tags(v) for v in values]


def build_labels(tracks: pd.DataFrame, target: str = "genre", top_classes: int | None = None,
                 min_tracks: int = 2) -> LabelSet:
    """Class list and label matrix of `tracks` for `target` ("genre" or "tags")."""
    sets = _track_label_sets(tracks, target)
    counts = Counter(c for s in sets for c in s)
    if not counts:
        raise MissingLabels(f"no track has a {target!r} label")
    dropped = sorted(c for c, n in counts.items() if n < min_tracks)
    kept = sorted((c for c, n in counts.items() if n >= min_tracks), key=lambda c: (-counts[c], c))
    not_top: list[str] = []
    if top_classes is not None and top_classes > 0 and len(kept) > top_classes:
        kept, not_top = kept[:top_classes], kept[top_classes:]
    if len(kept) < 2:
        raise MissingLabels(f"fewer than 2 {target} classes with >= {min_tracks} tracks (have: {kept or 'none'}); "
                            f"a tagger needs at least two: label more tracks (one sub-folder per {target}, or a "
                            f"{target} column in the --labels CSV)")
    classes = sorted(kept)
    index = {c: i for i, c in enumerate(classes)}
    multi = target == "tags"
    if multi:
        y = np.zeros((len(sets), len(classes)), np.float32)
        for r, s in enumerate(sets):
            for c in s:
                if c in index:
                    y[r, index[c]] = 1.0
    else:
        y = np.array([index.get(next(iter(s)), -1) if s else -1 for s in sets], dtype=np.int64)
    return LabelSet(target, classes, y, multi, dropped, not_top)
