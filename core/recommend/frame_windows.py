"""Windows of a pretrained encoder's frame features for autoencoders: `--input frames:<encoder>`.

The frame store (`core.encoders.frames`, written by `train.embed`) holds [T, D] features per track.
A window is `window` consecutive frames, transposed to [D, window] so every autoencoder of
`core.recommend.autoencoders` takes it unchanged (D plays the part of the mel bins), standardised
per feature dimension with statistics of the train split's frames. The store is read once (copied
into RAM when small, else kept memory-mapped); no file is opened per item. A track shorter than the
window is tiled (repeated) to the window length, so every track with frames gets an embedding.

- `FrameTable`: the frames of the requested rows as one array plus offsets/lengths
- `FrameCropDataset`: random training windows (two crops of one track for the pair objectives)
- `FixedFrameWindows`: deterministic windows (validation, embedding), items (x, track_row)
- `FrameSource`: the run steps of `core.recommend.runs` for frame input
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from core.encoders.frames import FrameInfo, FrameStore
from core.recommend.windows import MelStats, window_starts

IN_MEMORY_LIMIT_BYTES = 512 * 1024**2


class FrameTable:
    """All frames of a frame store in one array, with each catalog row's offset and length."""

    def __init__(self, store: FrameStore, in_memory: bool | None = None) -> None:
        self.info: FrameInfo = store.info
        idx = store.index.sort_values("row")
        self.start = idx["start"].to_numpy(np.int64)
        self.length = idx["n_frames"].to_numpy(np.int64)
        frames = store.frames
        if in_memory is None:
            in_memory = frames.nbytes <= IN_MEMORY_LIMIT_BYTES
        self.frames = np.asarray(frames) if in_memory else frames
        self.dim = int(frames.shape[1])

    def rows_with_frames(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """The given rows that have at least one frame."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows[self.length[rows] > 0]

    def window(self, row: int, start: int, window: int) -> np.ndarray:
        """Frames [window, D] of one row from `start` (tiled when the track is shorter than the window)."""
        n = int(self.length[row])
        s0 = int(self.start[row])
        if n >= window:
            return np.asarray(self.frames[s0 + start : s0 + start + window], dtype=np.float32)
        f = np.asarray(self.frames[s0 : s0 + n], dtype=np.float32)
        return np.resize(f, (window, f.shape[1])) if n else np.zeros((window, self.dim), np.float32)

    def max_start(self, row: int, window: int) -> int:
        """Last start frame of a window inside the track (0 for short tracks)."""
        return max(int(self.length[row]) - window, 0)


def compute_frame_stats(table: FrameTable, rows: np.ndarray | list[int]) -> MelStats:
    """Per-dimension mean/std over every frame of `rows` (the train split); std floored at 0.1 x median."""
    rows = table.rows_with_frames(rows)
    if len(rows) == 0:
        raise ValueError("no frames for the requested rows; cannot compute frame statistics")
    s1 = np.zeros(table.dim, np.float64)
    s2 = np.zeros(table.dim, np.float64)
    cnt = 0
    for r in rows:
        f = np.asarray(table.frames[table.start[r] : table.start[r] + table.length[r]], dtype=np.float64)
        s1 += f.sum(0)
        s2 += (f**2).sum(0)
        cnt += len(f)
    mean = s1 / cnt
    std = np.sqrt(np.maximum(s2 / cnt - mean**2, 1e-8))
    # floor at a tenth of the median std: a feature (e.g. a ReLU unit) nearly silent in a small train
    # split must not blow up to hundreds of standard deviations on other tracks
    floor = max(0.1 * float(np.median(std)), 1e-4)
    return MelStats(mean.astype(np.float32), np.maximum(std, floor).astype(np.float32))


class FrameCropDataset(Dataset):
    """Training windows [D, window]: a random crop of a random track of `rows`; `n_views=2` adds a
    second crop of the same track (for the shift / contrast objectives)."""

    def __init__(self, table: FrameTable, rows: np.ndarray | list[int], stats: MelStats, window: int,
                 n_views: int = 1, samples_per_epoch: int | None = None, seed: int = 0) -> None:
        self.table, self.stats, self.window = table, stats, int(window)
        self.rows = table.rows_with_frames(rows)
        if len(self.rows) == 0:
            raise ValueError("no frames for the requested rows")
        self.n_views = int(n_views)
        self.length = int(samples_per_epoch or len(self.rows))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def _crop(self, row: int) -> torch.Tensor:
        start = int(self.rng.integers(0, self.table.max_start(row, self.window) + 1))
        return torch.from_numpy(self.stats.apply(self.table.window(row, start, self.window).T))

    def __getitem__(self, idx: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        row = int(self.rows[int(idx) % len(self.rows)])
        first = self._crop(row)
        return first if self.n_views == 1 else (first, self._crop(row))


class FixedFrameWindows(Dataset):
    """Deterministic windows [D, window] of every track of `rows` at starts 0, hop, ... (and one flush
    with the end); items are (x, track_row)."""

    def __init__(self, table: FrameTable, rows: np.ndarray | list[int], stats: MelStats, window: int,
                 hop: int | None = None) -> None:
        self.table, self.stats, self.window = table, stats, int(window)
        hop = int(hop or window)
        self.items = [(int(r), s) for r in table.rows_with_frames(rows)
                      for s in window_starts(max(int(table.length[r]), self.window), self.window, hop)]
        if not self.items:
            raise ValueError("no frames for the requested rows")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int]:
        r, s = self.items[idx]
        return torch.from_numpy(self.stats.apply(self.table.window(r, s, self.window).T)), r


def check_frame_input(model: Any, info: FrameInfo) -> None:
    """Raise AudioMismatch if a model was not built for this frame store (dimension, rate)."""
    from core.recommend.autoencoders import AudioMismatch

    want = {"n_mels": info.dim, "sample_rate": int(info.sample_rate), "hop_length": hop_samples(info)}
    have = {k: getattr(model, k) for k in want}
    if have != want:
        diffs = "; ".join(f"{k}: model {have[k]} vs frames {want[k]}" for k in want if have[k] != want[k])
        raise AudioMismatch(f"model was built for other frame features than {info.encoder!r} ({diffs})")


def hop_samples(info: FrameInfo) -> int:
    """The frame hop of a store in samples of its encoder's sample rate."""
    return int(round(info.hop_s * info.sample_rate))


class FrameSource:
    """`core.recommend.runs` steps for `input="frames:<encoder>"`: loaders, model input settings,
    checkpoint extras and track embeddings over windows of the encoder's frames."""

    def __init__(self, fc: Any, rc: Any) -> None:
        self.fc = fc
        self.encoder = rc.input.split(":", 1)[1]
        self.table = FrameTable(FrameStore(fc.ds_dir, self.encoder))
        if self.table.length.shape[0] != len(fc.tracks):
            raise ValueError(f"frame store {self.encoder!r} has {self.table.length.shape[0]} rows but the catalog "
                             f"has {len(fc.tracks)} ok tracks; re-run train.embed after re-preparing the dataset")
        self.stats = compute_frame_stats(self.table, fc.split_rows("train"))
        self.n_channels = self.table.dim

    def loaders(self, rc: Any) -> tuple[Any, Any]:
        """Random crops of train tracks (two per item for pair objectives); fixed val windows."""
        from torch.utils.data import DataLoader

        from core.recommend.autoencoders import needs_pairs

        train_ds = FrameCropDataset(self.table, self.fc.split_rows("train"), self.stats, rc.window,
                                    n_views=2 if needs_pairs(rc.objective) else 1,
                                    samples_per_epoch=rc.samples_per_epoch, seed=rc.train.seed)
        val_ds = FixedFrameWindows(self.table, self.fc.split_rows("val"), self.stats, rc.window,
                                   hop=max(rc.window // 2, 1))
        g = torch.Generator().manual_seed(rc.train.seed)
        train_dl = DataLoader(train_ds, batch_size=rc.train.batch_size, shuffle=True, generator=g, drop_last=True)
        return train_dl, DataLoader(val_ds, batch_size=rc.train.batch_size, shuffle=False)

    def model_kwargs(self) -> dict[str, Any]:
        """Feature dimension as channels; the encoder's sample rate and frame hop."""
        info = self.table.info
        return {"n_mels": self.n_channels, "sample_rate": int(info.sample_rate), "hop_length": hop_samples(info)}

    def extra(self, rc: Any) -> dict[str, Any]:
        """Frame statistics, window sizes and which frame store."""
        return {"frame_stats": self.stats.to_dict(), "input": rc.input, "window": rc.window,
                "embed_hop": rc.embed_hop, "dataset": Path(self.fc.ds_dir).name}

    def embed(self, model: Any, rc: Any, batch_size: int = 256) -> Any:
        """Window latents of every track pooled per track with mean, mean+std and max (rows without frames
        are missing)."""
        from torch.utils.data import DataLoader

        from core.recommend.embeddings import ALL_POOLINGS, pool_all

        check_frame_input(model, self.table.info)
        ds = FixedFrameWindows(self.table, np.arange(len(self.fc.tracks)), self.stats, rc.window, rc.embed_hop)
        model.eval()
        zs, rs = [], []
        with torch.no_grad():
            for x, r in DataLoader(ds, batch_size=batch_size, shuffle=False):
                zs.append(model.encode(x).float().numpy())
                rs.append(np.asarray(r))
        return pool_all(np.concatenate(zs), np.concatenate(rs), len(self.fc.tracks), ALL_POOLINGS)
