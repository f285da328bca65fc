"""4-s windows with a 2-s hop over whole tracks, assembled from the feature cache.

The cache holds each track as consecutive segments (`segment_frames` frames cut every `segment_hop`
frames; the last partial segment is dropped by `core.audio.decode.segment_starts`). A tagger window
(4 s = 172 frames at the default settings) is longer than the hop between segments, so windows are
assembled across consecutive segments of the same track: each track's cached frames form one timeline
[0, covered_frames), and a window is copied from the one or two segments it overlaps. Frame counts come
from the cache's `AudioConfig` (sample rate, hop length), never from literals. A track shorter than one
window gives one window padded with the cache's `top_db_floor` and is flagged (`padded`).

No audio is decoded and no file is opened per item: the float16 memmap is opened once (and copied into
RAM when small), as in `core.recommend.windows`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from core.audio.cache import MelCache
from core.audio.config import AudioConfig
from core.recommend.windows import IN_MEMORY_LIMIT_BYTES, MelStats


@dataclass(frozen=True)
class WindowSpec:
    """Window and hop of the tagger in frames, derived from seconds and an AudioConfig."""

    window_frames: int
    hop_frames: int
    frame_s: float

    @classmethod
    def from_config(cls, cfg: AudioConfig, window_s: float = 4.0, hop_s: float = 2.0) -> WindowSpec:
        """Frames of `window_s` / `hop_s` seconds at the config's sample rate and hop length."""
        frame_s = cfg.hop_length / cfg.sample_rate
        win, hop = int(round(window_s / frame_s)), int(round(hop_s / frame_s))
        if win < 1 or hop < 1:
            raise ValueError(f"window {window_s} s / hop {hop_s} s is shorter than one frame ({frame_s:.4f} s)")
        return cls(win, hop, frame_s)

    @property
    def window_s(self) -> float:
        """Window length in seconds."""
        return self.window_frames * self.frame_s

    @property
    def hop_s(self) -> float:
        """Hop in seconds."""
        return self.hop_frames * self.frame_s

    def starts(self, n_frames: int) -> tuple[list[int], bool]:
        """(start frames of the full windows over `n_frames` frames, padded?) — one padded window if shorter."""
        if n_frames < self.window_frames:
            return [0], True
        return list(range(0, n_frames - self.window_frames + 1, self.hop_frames)), False

    def to_dict(self) -> dict[str, float]:
        """JSON/checkpoint form."""
        return {"window_frames": self.window_frames, "hop_frames": self.hop_frames, "frame_s": self.frame_s}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> WindowSpec:
        """Inverse of `to_dict`."""
        return cls(int(d["window_frames"]), int(d["hop_frames"]), float(d["frame_s"]))


@dataclass
class TrackTimeline:
    """Where one track's cached frames live: pieces (segment, offset in it, start on the track, length)."""

    row: int
    segs: np.ndarray
    seg_offsets: np.ndarray
    track_starts: np.ndarray
    lengths: np.ndarray

    @property
    def n_frames(self) -> int:
        """Frames covered contiguously from the track's start."""
        return int(self.track_starts[-1] + self.lengths[-1]) if len(self.segs) else 0


def track_timelines(fc: MelCache, rows: np.ndarray | list[int]) -> dict[int, TrackTimeline]:
    """Timelines of the given track rows from the segments table (overlaps skipped, stops at a gap)."""
    seg = fc.segments
    want = np.isin(seg["row"].to_numpy(), np.asarray(rows, dtype=np.int64))
    sub = seg[want].sort_values(["row", "start_frame"])
    out: dict[int, TrackTimeline] = {}
    for row, grp in sub.groupby("row", sort=True):
        pieces: list[tuple[int, int, int, int]] = []
        cursor = 0
        for s, start, n in zip(grp["segment"], grp["start_frame"], grp["n_frames"]):
            start, n = int(start), int(n)
            if start > cursor:  # a gap: the contiguous timeline ends here
                break
            begin = max(start, cursor)
            if start + n > begin:
                pieces.append((int(s), begin - start, begin, start + n - begin))
                cursor = start + n
        if pieces:
            a = np.asarray(pieces, dtype=np.int64)
            out[int(row)] = TrackTimeline(int(row), a[:, 0], a[:, 1], a[:, 2], a[:, 3])
    return out


class TrackWindowDataset(Dataset):
    """Every window (window_frames long, hop_frames apart) of the given tracks, standardised.

    Items are `(x [1, n_mels, window], y, row, start_frame)`; `y` is a class id (single-label), a 0/1 vector
    (multi-label) or -1 when no labels are given. `padded_rows` lists the tracks shorter than one window.
    """

    def __init__(self, fc: MelCache, rows: np.ndarray | list[int], stats: MelStats, spec: WindowSpec,
                 labels: np.ndarray | None = None, in_memory: bool | None = None) -> None:
        self.spec, self.stats, self.labels = spec, stats, labels
        self.floor = float(fc.config.top_db_floor)
        self.timelines = track_timelines(fc, rows)
        if not self.timelines:
            raise ValueError("no cached segments for the requested tracks")
        self.items: list[tuple[int, int]] = []
        self.padded_rows: list[int] = []
        for row, tl in self.timelines.items():
            starts, padded = spec.starts(tl.n_frames)
            if padded:
                self.padded_rows.append(row)
            self.items.extend((row, s) for s in starts)
        self.n_mels = int(fc.mels.shape[1])
        self._bind_mels(fc, in_memory)

    def _bind_mels(self, fc: MelCache, in_memory: bool | None) -> None:
        """Copy the needed segments into RAM when small, else read the memmap; map segment -> local index."""
        segs = np.unique(np.concatenate([tl.segs for tl in self.timelines.values()]))
        nbytes = len(segs) * fc.mels.shape[1] * fc.mels.shape[2] * 2
        if in_memory is None:
            in_memory = nbytes <= IN_MEMORY_LIMIT_BYTES
        if in_memory:
            self.mels = np.asarray(fc.mels[segs])
            self.local = {int(s): i for i, s in enumerate(segs)}
        else:
            self.mels = fc.mels
            self.local = {int(s): int(s) for s in segs}

    def __len__(self) -> int:
        return len(self.items)

    def window_db(self, row: int, start: int) -> np.ndarray:
        """The [n_mels, window] dB values of the window of track `row` at `start` (padded with the floor)."""
        tl, w = self.timelines[row], self.spec.window_frames
        out = np.full((self.n_mels, w), self.floor, np.float32)
        end = start + w
        for s, off, t0, n in zip(tl.segs, tl.seg_offsets, tl.track_starts, tl.lengths):
            lo, hi = max(start, int(t0)), min(end, int(t0 + n))
            if hi > lo:
                src = int(off) + lo - int(t0)
                out[:, lo - start: hi - start] = self.mels[self.local[int(s)], :, src: src + hi - lo]
        return out

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor | int, int, int]:
        row, start = self.items[idx]
        x = torch.from_numpy(self.stats.apply(self.window_db(row, start)))[None]
        if self.labels is None:
            y: torch.Tensor | int = -1
        elif self.labels.ndim == 1:
            y = int(self.labels[row])
        else:
            y = torch.from_numpy(np.asarray(self.labels[row], np.float32))
        return x, y, row, start
