"""Contrastive pairs over the feature cache (or a frame store): two different augmented crops of one track.

Crops have random lengths (variable-length batches are padded, with a boolean mask of valid steps).
`TrackMels` assembles each track's whole log-mel from its cached segments; `TrackFrames` reads a frame
store. Both give `of_row(row) -> [steps, channels]`-style arrays so the dataset does not care which.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from core.retrieval.augment import AugmentConfig, mel_augment


class TrackMels:
    """Whole-track log-mels [n_mels, T] (dB, float32) assembled on demand from the cache's segments (read from
    its memory map); the `keep` most recently used tracks stay in RAM, so memory does not grow with the
    collection."""

    def __init__(self, fc, rows: np.ndarray | list[int] | None = None, keep: int = 256) -> None:
        self.fc = fc
        self.keep = int(keep)
        seg = fc.segments
        wanted = set(range(len(fc.tracks)) if rows is None else (int(r) for r in rows))
        self._parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for r, g in seg.groupby("row"):
            if int(r) in wanted:
                self._parts[int(r)] = (g["segment"].to_numpy(np.int64), g["start_frame"].to_numpy(np.int64),
                                       g["n_frames"].to_numpy(np.int64))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _assemble(self, row: int) -> np.ndarray:
        segs, starts, counts = self._parts[row]
        mel = np.zeros((self.fc.mels.shape[1], int((starts + counts).max())), np.float32)
        for s, st, n in zip(segs, starts, counts):
            mel[:, st:st + n] = self.fc.mels[int(s), :, :n]
        return mel

    def of_row(self, row: int) -> np.ndarray:
        """[n_mels, T] dB of one track (T = 0 if the track has no segments)."""
        row = int(row)
        if row not in self._parts:
            return np.zeros((self.fc.mels.shape[1], 0), np.float32)
        if row in self._cache:
            self._cache.move_to_end(row)
            return self._cache[row]
        mel = self._cache[row] = self._assemble(row)
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return mel

    @property
    def rows(self) -> list[int]:
        """Track rows that have mels."""
        return sorted(self._parts)

    @property
    def n_cached(self) -> int:
        """Tracks held in RAM now (at most `keep`)."""
        return len(self._cache)


class TrackFrames:
    """Whole-track pretrained frames [dim, T] (float32, channels first like mels) from a FrameStore."""

    def __init__(self, store, rows: np.ndarray | list[int]) -> None:
        self.store = store
        self._cache = {int(r): np.asarray(store.of_row(int(r)), np.float32).T for r in rows}
        self._cache = {r: v for r, v in self._cache.items() if v.shape[1] > 0}

    def of_row(self, row: int) -> np.ndarray:
        """[dim, T] of one track."""
        return self._cache.get(int(row), np.zeros((self.store.info.dim, 0), np.float32))

    @property
    def rows(self) -> list[int]:
        """Track rows that have frames."""
        return sorted(self._cache)


@dataclass
class PairConfig:
    """Crop lengths (in steps of the input: mel frames or encoder frames) and augmentations."""

    min_len: int = 108
    max_len: int = 216
    pairs_per_epoch: int = 1024
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mel_domain: bool = True  # dB noise/gain only make sense on log-mels
    whole_second: float = 0.5  # chance that view b is the whole track (as the corpus side is embedded)
    seed: int = 0


class PairDataset(Dataset):
    """Item i: (view a [C, La], view b [C, Lb], track row), two different crops of one track, each augmented."""

    def __init__(self, source, rows: np.ndarray | list[int], cfg: PairConfig, mean: np.ndarray, std: np.ndarray,
                 floor_db: float = -100.0, deterministic: bool = False) -> None:
        self.source, self.cfg = source, cfg
        self.rows = [int(r) for r in rows if source.of_row(int(r)).shape[1] > 0]
        if not self.rows:
            raise ValueError("no tracks with features in this split")
        self.mean, self.std = np.asarray(mean, np.float32)[:, None], np.asarray(std, np.float32)[:, None]
        self.floor_db, self.deterministic = floor_db, deterministic
        self.epoch_rng = np.random.default_rng(cfg.seed)

    def __len__(self) -> int:
        return len(self.rows) * 4 if self.deterministic else self.cfg.pairs_per_epoch

    def _rng(self, idx: int) -> np.random.Generator:
        """Fixed per item for validation (same pairs every epoch), fresh otherwise."""
        if self.deterministic:
            return np.random.default_rng(self.cfg.seed * 100_003 + idx)
        return np.random.default_rng(self.epoch_rng.integers(2**63))

    def _standard(self, x: np.ndarray) -> torch.Tensor:
        """[C, L] standardised with the train split's per-channel statistics."""
        return torch.from_numpy(((x - self.mean) / self.std).astype(np.float32))

    def _crop(self, x: np.ndarray, start: int, length: int, rng: np.random.Generator) -> torch.Tensor:
        """One crop, augmented and standardised."""
        c = x[:, start:start + length]
        if self.cfg.mel_domain:
            c = mel_augment(c, rng, self.cfg.augment, self.floor_db)
        else:
            c = c * np.float32(10 ** (rng.uniform(-1, 1) * 0.1)) + rng.normal(0, 0.1, c.shape).astype(np.float32)
        return self._standard(c)

    def _row(self, rng: np.random.Generator, idx: int) -> int:
        """The item's track: in turn for validation, drawn at random for training."""
        return self.rows[idx % len(self.rows)] if self.deterministic else self.rows[int(rng.integers(len(self.rows)))]

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rng = self._rng(idx)
        row = self._row(rng, idx)
        x = self.source.of_row(row)
        total = x.shape[1]
        views = []
        first_start = None
        for v in range(2):
            length = int(min(total, rng.integers(self.cfg.min_len, self.cfg.max_len + 1)))
            if v == 1 and rng.random() < self.cfg.whole_second:
                length = total
            start = int(rng.integers(0, total - length + 1))
            if first_start is not None and total - length > 0 and start == first_start:
                shift = int(rng.integers(1, self.cfg.augment.max_shift_frames + 1))
                start = min(total - length, start + shift) if start + shift <= total - length else max(0, start - shift)
            first_start = start
            views.append(self._crop(x, start, length, rng))
        return views[0], views[1], row


def pad_batch(xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack [C, L_i] tensors into [B, C, max L] (zero padded) and a mask [B, max L] (True = valid)."""
    c, lmax = xs[0].shape[0], max(int(x.shape[1]) for x in xs)
    out = torch.zeros(len(xs), c, lmax)
    mask = torch.zeros(len(xs), lmax, dtype=torch.bool)
    for i, x in enumerate(xs):
        out[i, :, : x.shape[1]] = x
        mask[i, : x.shape[1]] = True
    return out, mask


def collate_pairs(items: list[tuple[torch.Tensor, torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    """Batch of pairs: {"x": view a [B, C, L], "mask": ..., "x2": view b, "mask2": ..., "rows": [B]}."""
    a, ma = pad_batch([i[0] for i in items])
    b, mb = pad_batch([i[1] for i in items])
    return {"x": a, "mask": ma, "x2": b, "mask2": mb, "rows": torch.tensor([i[2] for i in items])}


class ViewPairDataset(PairDataset):
    """Pairs from a `ViewBank`: view a = one excerpt view of a track, view b = the whole track (with chance
    `whole_second`) or another of its views. The views were corrupted on the waveform before the encoder,
    so no augmentation happens here, only the standardisation."""

    def __init__(self, bank, rows: np.ndarray | list[int], cfg: PairConfig, mean: np.ndarray, std: np.ndarray,
                 deterministic: bool = False) -> None:
        super().__init__(bank, [r for r in rows if len(bank.views_of(int(r))) > 1], cfg, mean, std,
                         deterministic=deterministic)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rng = self._rng(idx)
        row = self._row(rng, idx)
        views = self.source.views_of(row)
        a, b = rng.choice(len(views), 2, replace=False)
        second = self.source.of_row(row) if rng.random() < self.cfg.whole_second else views[b]
        return self._standard(views[a]), self._standard(second), row
