"""Datasets over the feature cache: random-crop training windows and deterministic windows.

Windows are read from the cache's float16 memmap (opened once; small caches are copied
into RAM), standardised per mel bin with statistics of the train split, and returned as
float32 tensors [n_mels, window]. No audio is decoded and no file is opened per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from core.audio.cache import MelCache

IN_MEMORY_LIMIT_BYTES = 512 * 1024**2


@dataclass
class MelStats:
    """Per-mel-bin mean and std (dB) used to standardise log-mels."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, mel_db: np.ndarray) -> np.ndarray:
        """Standardise [..., n_mels, T] dB values to zero mean / unit std per bin."""
        return ((mel_db - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Map standardised values back to dB."""
        return (x * self.std[:, None] + self.mean[:, None]).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON/checkpoint friendly form."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MelStats:
        """Inverse of `to_dict`."""
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def segment_table(fc: MelCache, rows: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(segment indices, their track rows, their valid frame counts) for the given track rows."""
    rows = np.asarray(rows, dtype=np.int64)
    seg_rows = np.asarray(fc.segment_rows)
    mask = np.isin(seg_rows, rows)
    segs = np.nonzero(mask)[0]
    n_frames = np.asarray(fc.segments["n_frames"], dtype=np.int64)[segs]
    return segs, seg_rows[segs], n_frames


def compute_mel_stats(fc: MelCache, rows: np.ndarray | list[int], max_segments: int = 4000,
                      seed: int = 0) -> MelStats:
    """Per-bin mean/std over the valid frames of (a sample of) the segments of `rows`."""
    segs, _, n_frames = segment_table(fc, rows)
    if len(segs) == 0:
        raise ValueError("no cached segments for the requested rows; cannot compute mel statistics")
    rng = np.random.default_rng(seed)
    if len(segs) > max_segments:
        pick = np.sort(rng.choice(len(segs), max_segments, replace=False))
        segs, n_frames = segs[pick], n_frames[pick]
    n_mels = fc.mels.shape[1]
    s1 = np.zeros(n_mels, np.float64)
    s2 = np.zeros(n_mels, np.float64)
    cnt = 0
    for seg, nf in zip(segs, n_frames):
        m = np.asarray(fc.mels[seg, :, : max(int(nf), 1)], dtype=np.float64)
        s1 += m.sum(1)
        s2 += (m**2).sum(1)
        cnt += m.shape[1]
    mean = s1 / cnt
    std = np.sqrt(np.maximum(s2 / cnt - mean**2, 1e-6))
    return MelStats(mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32))


class _CacheWindows(Dataset):
    """Common part: which segments, where their mels live, how to standardise."""

    def __init__(self, fc: MelCache, rows: np.ndarray | list[int], stats: MelStats, window: int,
                 in_memory: bool | None = None) -> None:
        self.segs, self.seg_track_rows, self.valid = segment_table(fc, rows)
        if len(self.segs) == 0:
            raise ValueError("no cached segments for the requested rows")
        self.stats = stats
        self.seg_frames = int(fc.mels.shape[2])
        if window > self.seg_frames:
            raise ValueError(f"window {window} is longer than a cached segment ({self.seg_frames} frames)")
        self.window = int(window)
        nbytes = len(self.segs) * fc.mels.shape[1] * fc.mels.shape[2] * 2
        if in_memory is None:
            in_memory = nbytes <= IN_MEMORY_LIMIT_BYTES
        if in_memory:
            self.mels = np.asarray(fc.mels[self.segs])  # contiguous float16 copy
            self.local = np.arange(len(self.segs))
        else:
            self.mels = fc.mels
            self.local = self.segs

    def _crop(self, i: int, start: int) -> torch.Tensor:
        """Standardised window of segment i starting at frame `start`."""
        m = np.asarray(self.mels[self.local[i], :, start : start + self.window], dtype=np.float32)
        return torch.from_numpy(self.stats.apply(m))

    def _max_start(self, i: int) -> int:
        """Last start frame so a window stays inside the valid part (or the segment)."""
        valid = max(int(self.valid[i]), self.window)
        return min(valid, self.seg_frames) - self.window


class RandomCropDataset(_CacheWindows):
    """Training windows: a random crop of a random cached segment of the given tracks.

    `n_views=2` returns two crops of the same segment (for the time-shift objective), or with
    `pair_scope="track"` the second crop comes from any segment of the same track (larger shifts).
    `samples_per_epoch` sets the epoch length (segments are revisited with new crops).
    """

    def __init__(self, fc: MelCache, rows: np.ndarray | list[int], stats: MelStats, window: int = 128,
                 n_views: int = 1, samples_per_epoch: int | None = None, seed: int = 0,
                 in_memory: bool | None = None, pair_scope: str = "segment") -> None:
        super().__init__(fc, rows, stats, window, in_memory)
        if pair_scope not in ("segment", "track"):
            raise ValueError(f"pair_scope must be 'segment' or 'track', got {pair_scope!r}")
        self.pair_scope = pair_scope
        self.by_track: dict[int, np.ndarray] = {}
        for r in np.unique(self.seg_track_rows):
            self.by_track[int(r)] = np.nonzero(self.seg_track_rows == r)[0]
        self.n_views = int(n_views)
        self.length = int(samples_per_epoch or len(self.segs))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def get_rng_state(self) -> dict[str, Any]:
        """The crop RNG's state (plain types), saved in checkpoints so a resumed run draws the same crops."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore a state from `get_rng_state`."""
        self.rng.bit_generator.state = state

    def __getitem__(self, idx: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        i = int(idx) % len(self.segs)
        first = self._crop(i, int(self.rng.integers(0, self._max_start(i) + 1)))
        if self.n_views == 1:
            return first
        j = i
        if self.pair_scope == "track":
            j = int(self.rng.choice(self.by_track[int(self.seg_track_rows[i])]))
        return first, self._crop(j, int(self.rng.integers(0, self._max_start(j) + 1)))


def window_starts(seg_frames: int, window: int, hop: int) -> list[int]:
    """Deterministic start frames covering a segment: 0, hop, ... and one flush with the end."""
    last = seg_frames - window
    starts = list(range(0, last + 1, max(hop, 1)))
    if starts[-1] != last:
        starts.append(last)
    return starts


class FixedWindowDataset(_CacheWindows):
    """Deterministic windows (validation, embedding): every segment cut at fixed starts.

    Items are (x [n_mels, window], track_row) so windows can be pooled per track.
    """

    def __init__(self, fc: MelCache, rows: np.ndarray | list[int], stats: MelStats, window: int = 128,
                 hop: int | None = None, in_memory: bool | None = None) -> None:
        super().__init__(fc, rows, stats, window, in_memory)
        self.hop = int(hop or window)
        items = []
        for i in range(len(self.segs)):
            limit = max(int(self.valid[i]), self.window)
            for s in window_starts(min(limit, self.seg_frames), self.window, self.hop):
                items.append((i, s))
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        i, s = self.items[idx]
        return self._crop(i, s), int(self.seg_track_rows[i])
