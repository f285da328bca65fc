"""A tiny in-memory stand-in for FeatureCache (synthetic mels) for fast unit tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.audio.config import AudioConfig


class FakeCache:
    """Same attributes as core.audio.cache.FeatureCache, built from random numbers."""

    def __init__(self, n_tracks: int = 12, seg_per_track: int = 2, n_mels: int = 16, frames: int = 24,
                 seed: int = 0, drop_rows: tuple[int, ...] = ()) -> None:
        rng = np.random.default_rng(seed)
        self.config = AudioConfig(n_mels=n_mels)
        self.ds_dir = Path("fake_cache")
        genres = ["a", "b", "c"]
        self.tracks = pd.DataFrame({
            "track_id": [f"t{i:02d}" for i in range(n_tracks)],
            "genre": [genres[i % 3] for i in range(n_tracks)],
            "artist": [f"art{i // 2}" for i in range(n_tracks)],
            "title": [f"song {i}" for i in range(n_tracks)],
            "split": ["train" if i < n_tracks * 0.6 else ("val" if i < n_tracks * 0.8 else "test")
                      for i in range(n_tracks)],
            "tags": ["x|y" if i % 2 else "y|z" for i in range(n_tracks)],
            "row": np.arange(n_tracks),
        })
        self.catalog = self.tracks.assign(status="ok", path="", duration_s=10.0)
        segs = []
        for r in range(n_tracks):
            if r in drop_rows:
                continue
            for s in range(seg_per_track):
                segs.append((len(segs), f"t{r:02d}", r, s * frames, frames))
        self.segments = pd.DataFrame(segs, columns=["segment", "track_id", "row", "start_frame", "n_frames"])
        self.segment_rows = self.segments["row"].to_numpy()
        base = np.array([{"a": 0, "b": 1, "c": 2}[g] for g in self.tracks["genre"]], np.float32)
        mels = rng.normal(-40, 10, (len(segs), n_mels, frames)).astype(np.float32)
        mels += 10 * base[self.segment_rows][:, None, None] * np.linspace(-1, 1, n_mels)[None, :, None]
        self.mels = mels.astype(np.float16)
        self.baseline = rng.normal(size=(n_tracks, 5)).astype(np.float32) + base[:, None]
        self.baseline_names = [f"f{i}" for i in range(5)]

    def segments_of(self, row: int) -> np.ndarray:
        return np.flatnonzero(self.segment_rows == row)

    def split_rows(self, split: str) -> np.ndarray:
        return self.tracks.index[self.tracks["split"] == split].to_numpy()
