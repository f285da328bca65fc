"""The feature cache: per-track part files, their merge into one float16 memmap, and its reader.

Per-track results are written atomically to `<ds>/parts/<id>.npz`; they make prepare
resumable (a part whose source file and settings are unchanged is never recomputed)
and shardable (shards write parts, one merge assembles them). The merge writes a fresh
`cache/` folder beside the old one and swaps it in, so a reader never sees a half cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from core.audio.config import AudioConfig
from core.audio.decode import segment_starts
from core.io import umask_mode

SEGMENT_COLUMNS = ["segment", "track_id", "row", "start_frame", "n_frames"]


def part_path(ds_dir: Path, track_id: str) -> Path:
    """File of one track's results; ids are sanitised and suffixed with a short hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", track_id)[:80]
    return Path(ds_dir) / "parts" / f"{safe}-{hashlib.sha1(track_id.encode()).hexdigest()[:8]}.npz"


def source_fingerprint(path: str | Path, cfg: AudioConfig) -> str:
    """Identity of a track's input: file size, mtime and the audio settings."""
    try:
        st = os.stat(path)
        stamp = f"{st.st_size}-{st.st_mtime_ns}"
    except OSError:
        stamp = "absent"
    return f"{stamp}-{cfg.fingerprint()}"


def write_part(path: Path, **arrays) -> None:
    """Write an .npz atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.chmod(tmp, umask_mode(0o666))  # mkstemp makes 0600 files; others (e.g. the app's user) must read them
    os.replace(tmp, path)


def read_part_meta(path: Path) -> dict | None:
    """Status, fingerprint and duration stored in a part file, or None if it is unreadable."""
    try:
        with np.load(path) as z:
            return {"status": str(z["status"]), "fingerprint": str(z["fingerprint"]),
                    "duration_s": float(z["duration_s"])}
    except Exception:
        return None


def _npz_array_shape(path: Path, name: str) -> tuple[int, ...]:
    """Shape of one array inside an .npz, read from its header without loading the data."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(f)
    return tuple(shape)


def merge_parts(ds_dir: Path, catalog: pd.DataFrame, cfg: AudioConfig, baseline_names: list[str]) -> pd.DataFrame:
    """Assemble all parts of `catalog` into cache/ (mels memmap, segments, baseline) and
    return the catalog with status, duration and `row` filled in. Streams one part at a time."""
    ds_dir = Path(ds_dir)
    catalog = catalog.reset_index(drop=True)  # positions below are labels too (a filtered catalog works)
    rows = np.full(len(catalog), -1, dtype=np.int64)
    n_segments, n_ok = 0, 0
    plan: list[tuple[int, Path, list[int]]] = []
    for i, rec in enumerate(catalog.itertuples()):
        if rec.status != "ok":
            continue
        p = part_path(ds_dir, rec.track_id)
        meta = read_part_meta(p)
        if meta is None:
            raise RuntimeError(f"track {rec.track_id} has no results yet; run the remaining shards first")
        catalog.at[i, "status"] = meta["status"]
        catalog.at[i, "duration_s"] = round(meta["duration_s"], 3)
        if meta["status"] != "ok":
            continue
        n_frames = _npz_array_shape(p, "mel")[1]
        starts = segment_starts(n_frames, cfg.segment_frames, cfg.segment_hop)
        rows[i] = n_ok
        plan.append((n_ok, p, starts))
        n_ok += 1
        n_segments += len(starts)
    catalog["row"] = rows
    with cache_built_aside(ds_dir) as tmp:
        _write_cache(tmp, catalog, rows, plan, n_segments, n_ok, cfg, baseline_names)
    return catalog


@contextmanager
def cache_built_aside(ds_dir: Path) -> Iterator[Path]:
    """A fresh folder beside `<ds>/cache` to write a whole cache into, swapped in as `cache/` when the block
    ends, so a reader never sees a half cache. When the block raises (or is interrupted) the folder is removed
    and the old cache stays as it was; a killed process's folder is removed by the next call."""
    ds_dir = Path(ds_dir)
    ds_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_merges(ds_dir)
    tmp = new_merge_folder(ds_dir)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final, old = ds_dir / "cache", ds_dir / ".cache-old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _host_tag() -> str:
    """Short, file-name-safe tag of this machine (shards may merge on several hosts of one file system)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def new_merge_folder(ds_dir: Path) -> Path:
    """A fresh `.cache-<host>-<pid>-<random>` folder for a merge to write into; the owner in the
    name lets a later run tell a killed merge's leftover from a merge still running."""
    tmp = Path(tempfile.mkdtemp(dir=ds_dir, prefix=f".cache-{_host_tag()}-{os.getpid()}-"))
    os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes 0700 folders
    return tmp


def clean_stale_merges(ds_dir: Path, foreign_after_s: float = 24 * 3600) -> list[Path]:
    """Remove the `.cache-*` folders of merges that were killed (SIGKILL, power loss) and return them:
    this host's whose process is gone, other hosts' untouched for `foreign_after_s`, and leftovers
    of older versions (no owner in the name). A merge still running keeps its folder."""
    removed = []
    for p in Path(ds_dir).glob(".cache-*"):
        if p.is_dir() and _merge_is_stale(p, foreign_after_s):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _merge_is_stale(folder: Path, foreign_after_s: float) -> bool:
    """Whether the merge that owns `folder` has ended without cleaning up."""
    m = re.fullmatch(r"\.cache-([0-9a-f]{8})-(\d+)-.+", folder.name)
    if m is None:
        return True
    if m.group(1) != _host_tag():
        return time.time() - folder.stat().st_mtime > foreign_after_s
    try:
        os.kill(int(m.group(2)), 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _write_cache(tmp: Path, catalog: pd.DataFrame, rows: np.ndarray, plan: list, n_segments: int, n_ok: int,
                 cfg: AudioConfig, baseline_names: list[str]) -> None:
    """Write mels, segments, baseline, config and the catalog they belong to into `tmp`."""
    mels = np.lib.format.open_memmap(tmp / "mels.npy", mode="w+", dtype=np.float16,
                                     shape=(n_segments, cfg.n_mels, cfg.segment_frames))
    baseline = np.zeros((n_ok, len(baseline_names)), np.float32)
    seg_rows, s = [], 0
    ok_ids = catalog["track_id"].to_numpy()[rows >= 0]
    for row, p, starts in plan:
        with np.load(p) as z:
            mel = z["mel"]
            baseline[row] = z["baseline"]
        for start in starts:
            piece = mel[:, start : start + cfg.segment_frames]
            mels[s, :, : piece.shape[1]] = piece
            mels[s, :, piece.shape[1] :] = cfg.top_db_floor
            seg_rows.append((s, ok_ids[row], row, start, piece.shape[1]))
            s += 1
    mels.flush()
    del mels
    pd.DataFrame(seg_rows, columns=SEGMENT_COLUMNS).to_csv(tmp / "segments.csv", index=False)
    np.save(tmp / "baseline_raw.npy", baseline)
    (tmp / "baseline_names.json").write_text(json.dumps(baseline_names))
    (tmp / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    # The cache carries its own copy of the catalog, swapped in with it, so a reader never
    # pairs new mels with an old catalog (the top-level catalog.csv is written just after).
    catalog.to_csv(tmp / "catalog.csv", index=False)


class MelCache(Protocol):
    """What the models and datasets need of a prepared dataset (FeatureCache, or an in-memory stand-in)."""

    config: AudioConfig
    tracks: pd.DataFrame
    segments: pd.DataFrame
    segment_rows: np.ndarray
    mels: np.ndarray
    baseline: np.ndarray
    baseline_names: list[str]
    ds_dir: Path

    def split_rows(self, split: str) -> np.ndarray:
        """Track rows belonging to one split."""
        ...


class FeatureCache:
    """Read-only view of a prepared dataset folder: catalog, mel segments and baseline."""

    def __init__(self, ds_dir: Path):
        self.ds_dir = Path(ds_dir)
        self.cache_dir = self.ds_dir / "cache"
        if not (self.cache_dir / "mels.npy").exists():
            raise FileNotFoundError(
                f"no feature cache in {self.ds_dir}; run `python -m train.prepare --out {self.ds_dir} ...` first"
            )

    @classmethod
    def open(cls, ds_dir: str | Path) -> FeatureCache:
        """Open a prepared dataset folder (raises FileNotFoundError with the fix if absent)."""
        return cls(Path(ds_dir))

    @cached_property
    def config(self) -> AudioConfig:
        """The AudioConfig the cache was built with."""
        return AudioConfig(**json.loads((self.cache_dir / "config.json").read_text()))

    @cached_property
    def catalog(self) -> pd.DataFrame:
        """Every catalog row, skipped tracks included (the copy swapped in with the cache)."""
        return load_catalog(self.cache_dir if (self.cache_dir / "catalog.csv").exists() else self.ds_dir)

    @cached_property
    def tracks(self) -> pd.DataFrame:
        """The ok tracks sorted by `row` (row i is embedding row i)."""
        ok = self.catalog[self.catalog["row"] >= 0]
        return ok.sort_values("row").reset_index(drop=True)

    @cached_property
    def mels(self) -> np.ndarray:
        """float16 memmap [n_segments, n_mels, segment_frames] of log-mel dB."""
        return np.load(self.cache_dir / "mels.npy", mmap_mode="r")

    @cached_property
    def segments(self) -> pd.DataFrame:
        """Segment index: segment, track_id, row, start_frame, n_frames."""
        return pd.read_csv(self.cache_dir / "segments.csv", dtype={"track_id": str})

    @cached_property
    def segment_rows(self) -> np.ndarray:
        """Track row of every segment."""
        return self.segments["row"].to_numpy()

    @cached_property
    def baseline(self) -> np.ndarray:
        """Raw (unstandardised) classic features [n_tracks, d]."""
        return np.load(self.cache_dir / "baseline_raw.npy")

    @cached_property
    def baseline_names(self) -> list[str]:
        """Names of the baseline's d features."""
        return json.loads((self.cache_dir / "baseline_names.json").read_text())

    def segments_of(self, row: int) -> np.ndarray:
        """Segment indices of the track with this row."""
        return np.flatnonzero(self.segment_rows == row)

    def split_rows(self, split: str) -> np.ndarray:
        """Track rows belonging to one split (train, val or test)."""
        return self.tracks.index[self.tracks["split"] == split].to_numpy()


def embedded_tracks(ds_dir: str | Path) -> pd.DataFrame:
    """Catalog rows that have an embedding (row >= 0), sorted so position i is embedding row i."""
    cat = load_catalog(ds_dir)
    if "row" not in cat.columns:
        cat["row"] = np.arange(len(cat))
    cat["row"] = pd.to_numeric(cat["row"], errors="coerce").fillna(-1).astype(int)
    return cat[cat["row"] >= 0].sort_values("row").reset_index(drop=True)


def load_catalog(ds_dir: str | Path) -> pd.DataFrame:
    """Read `<ds>/catalog.csv` with the right dtypes (ids stay strings, empty text stays '')."""
    df = pd.read_csv(Path(ds_dir) / "catalog.csv", dtype={"track_id": str}, keep_default_na=False,
                     na_values={"duration_s": [""]})
    for col in ("genre", "artist", "title", "tags", "split", "status", "path"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    return df
