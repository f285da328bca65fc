"""Latent tables of a dataset and lookups in them: nearest tracks and nearest genre centroid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from core.audio.cache import FeatureCache
from core.latent.model import encode_mels
from core.latent.segments import SegmentRef
from core.recommend.windows import MelStats


def latent_table(net: torch.nn.Module, stats: MelStats, fc: FeatureCache,
                 refs: list[SegmentRef]) -> tuple[np.ndarray, pd.DataFrame]:
    """Latents of all given segments and their segment/track/genre/split table."""
    mels = np.asarray(fc.mels[[r.segment for r in refs]], dtype=np.float32)
    z = encode_mels(net, stats, mels)
    meta = pd.DataFrame([{"segment": r.segment, "track_id": r.track_id, "genre": r.genre, "split": r.split}
                         for r in refs])
    return z, meta


def neighbours(z_query: np.ndarray, z_all: np.ndarray, meta: pd.DataFrame, k: int = 5,
               exclude_track: str | None = None) -> pd.DataFrame:
    """Nearest dataset tracks to one latent (cosine distance, min over a track's segments)."""
    a = z_all / np.maximum(np.linalg.norm(z_all, axis=1, keepdims=True), 1e-12)
    q = np.asarray(z_query, dtype=np.float32).ravel()
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    d = 1.0 - a @ q
    df = meta.assign(distance=d)
    if exclude_track is not None:
        df = df[df["track_id"] != exclude_track]
    best = df.sort_values("distance").drop_duplicates("track_id").head(k).reset_index(drop=True)
    best.insert(0, "rank", np.arange(1, len(best) + 1))
    return best[["rank", "track_id", "genre", "split", "distance"]]


def nearest_genre(z: np.ndarray, centroids: dict[str, np.ndarray]) -> str:
    """Genre whose centroid is nearest (Euclidean) to z."""
    names = list(centroids)
    c = np.stack([centroids[n] for n in names])
    return names[int(np.argmin(np.linalg.norm(c - np.asarray(z)[None], axis=1)))]
