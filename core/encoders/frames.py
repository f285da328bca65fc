"""Frame features of a frozen encoder for every track of a dataset: `<ds>/frames/<name>.npy`
(float16 [total frames, dim], memory-mapped), `<name>.csv` (row, track_id, start, n_frames: where
each catalog row's frames sit) and `<name>.json` (encoder, sample rate, frame period, dim, weights).

Models downstream (autoencoders over frames, the retrieval embedder, ...) read slices of this
store; nothing re-runs an encoder inside a training loop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from core.io import atomic_write_text, git_commit, utc_now

INDEX_COLUMNS = ["row", "track_id", "start", "n_frames"]


@dataclass
class FrameInfo:
    """The sidecar of a frame store: which encoder made it and at what rate."""

    encoder: str
    dim: int
    sample_rate: int
    hop_s: float  # seconds between consecutive frames
    weights: str = ""
    n_tracks: int = 0
    n_frames: int = 0
    date: str = field(default_factory=utc_now)
    git_commit: str = field(default_factory=git_commit)
    missing_rows: list[int] = field(default_factory=list)

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return 1.0 / self.hop_s


def frames_dir(ds_dir: Path | str) -> Path:
    """Folder of a dataset's frame stores."""
    return Path(ds_dir) / "frames"


def list_frame_stores(ds_dir: Path | str) -> list[str]:
    """Names of the frame stores of a dataset (encoders whose frames were written)."""
    d = frames_dir(ds_dir)
    return sorted(p.stem for p in d.glob("*.json") if (d / f"{p.stem}.npy").exists())


def write_frames(ds_dir: Path | str, name: str, per_row: dict[int, np.ndarray], track_ids: list[str],
                 info: FrameInfo) -> Path:
    """Write a frame store from {catalog row: frames [T, dim]}; rows absent from `per_row` are missing
    (n_frames 0). `track_ids[row]` is the id of each catalog row. Returns the .npy path."""
    d = frames_dir(ds_dir)
    d.mkdir(parents=True, exist_ok=True)
    total = int(sum(len(v) for v in per_row.values()))
    tmp = d / f".{name}.tmp.npy"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(total, info.dim))
    rows, start = [], 0
    for row, tid in enumerate(track_ids):
        f = per_row.get(row)
        n = 0 if f is None else len(f)
        if n:
            out[start : start + n] = np.asarray(f, dtype=np.float16)
        rows.append((row, tid, start, n))
        start += n
    out.flush()
    del out
    tmp.replace(d / f"{name}.npy")
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(d / f"{name}.csv", index=False)
    info.n_tracks, info.n_frames = len(track_ids), total
    info.missing_rows = [r for r, _, _, n in rows if n == 0]
    atomic_write_text(d / f"{name}.json", json.dumps(asdict(info), indent=2))
    return d / f"{name}.npy"


class FrameStore:
    """Read-only view of one frame store: `of_row(row) -> [T, dim]` float16 slices of the memmap."""

    def __init__(self, ds_dir: Path | str, name: str) -> None:
        self.ds_dir, self.name = Path(ds_dir), name
        d = frames_dir(ds_dir)
        if not (d / f"{name}.npy").exists():
            have = ", ".join(list_frame_stores(ds_dir)) or "none"
            raise FileNotFoundError(f"no frame features {name!r} in {d} (available: {have}); run "
                                    f"`python -m train.embed --data {ds_dir} --encoders {name}` first")

    @cached_property
    def info(self) -> FrameInfo:
        """The sidecar."""
        return FrameInfo(**json.loads((frames_dir(self.ds_dir) / f"{self.name}.json").read_text()))

    @cached_property
    def frames(self) -> np.ndarray:
        """float16 memmap [total frames, dim]."""
        return np.load(frames_dir(self.ds_dir) / f"{self.name}.npy", mmap_mode="r")

    @cached_property
    def index(self) -> pd.DataFrame:
        """One row per catalog row: row, track_id, start, n_frames."""
        return pd.read_csv(frames_dir(self.ds_dir) / f"{self.name}.csv", dtype={"track_id": str})

    def of_row(self, row: int) -> np.ndarray:
        """Frames [T, dim] of one catalog row (T = 0 when the track has none)."""
        r = self.index.iloc[int(row)]
        return self.frames[int(r["start"]) : int(r["start"]) + int(r["n_frames"])]
