"""Track embeddings: window latents pooled per track, standardised on the train split, written
as `<ds>/embeddings/<model>.npy` + `<model>.json`; the classic baseline written the same way."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.io import git_commit

if TYPE_CHECKING:  # torch is imported only where windows are encoded, so readers stay light
    import torch

    from core.audio.cache import MelCache
    from core.recommend.windows import MelStats

POOLINGS = ("mean", "meanstd")
ALL_POOLINGS = ("mean", "meanstd", "max")  # max: offered for frame input (taggers' own pooling)


@dataclass
class TrackEmbeddings:
    """Raw (unstandardised) track embeddings of one model: one matrix per pooling, and the track rows
    that had no windows (zero vectors in every matrix)."""

    pooled: dict[str, np.ndarray]
    missing: list[int] = field(default_factory=list)


def standardise(emb: np.ndarray, fit_rows: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score every column with mean/std of `fit_rows` (the train split); returns (emb, mean, std)."""
    emb = np.asarray(emb, dtype=np.float64)
    fit = emb[np.asarray(fit_rows, dtype=np.int64)]
    fit = fit[np.isfinite(fit).all(1)]
    if len(fit) == 0:
        raise ValueError("no rows to fit the standardisation on (empty train split?)")
    mean = fit.mean(0)
    std = fit.std(0)
    std = np.where(std < 1e-8, 1.0, std)
    return ((emb - mean) / std).astype(np.float32), mean.astype(np.float32), std.astype(np.float32)


def window_latents(model: torch.nn.Module, fc: MelCache, stats: MelStats, window: int, hop: int | None = None,
                   batch_size: int = 128, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Encode deterministic windows of every cached segment; returns (latents [n_win, d], track rows)."""
    import torch
    from torch.utils.data import DataLoader

    from core.recommend.windows import FixedWindowDataset

    rows = np.arange(len(fc.tracks)) if rows is None else np.asarray(rows)
    ds = FixedWindowDataset(fc, rows, stats, window=window, hop=hop)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    model.eval()
    zs, rs = [], []
    with torch.no_grad():
        for x, r in loader:
            zs.append(model.encode(x).float().numpy())
            rs.append(np.asarray(r))
    return np.concatenate(zs), np.concatenate(rs)


def pool_tracks(latents: np.ndarray, win_rows: np.ndarray, n_tracks: int,
                pooling: str = "mean") -> tuple[np.ndarray, list[int]]:
    """Pool window latents into one vector per track row ("mean", "meanstd" or "max").

    Rows with no windows (missing cache rows) are zero vectors and are returned as `missing`.
    """
    if pooling not in ALL_POOLINGS:
        raise ValueError(f"pooling must be one of {ALL_POOLINGS}, got {pooling!r}")
    d = latents.shape[1]
    out = np.zeros((n_tracks, d * (2 if pooling == "meanstd" else 1)), np.float32)
    missing = []
    order = np.argsort(win_rows, kind="stable")
    sorted_rows = win_rows[order]
    for r in range(n_tracks):
        lo, hi = np.searchsorted(sorted_rows, r), np.searchsorted(sorted_rows, r, side="right")
        if hi == lo:
            missing.append(r)
            continue
        z = latents[order[lo:hi]]
        out[r, :d] = z.max(0) if pooling == "max" else z.mean(0)
        if pooling == "meanstd":
            out[r, d:] = z.std(0)
    return out, missing


def embed_tracks(model: torch.nn.Module, fc: MelCache, stats: MelStats, window: int, hop: int | None = None,
                 poolings: tuple[str, ...] = POOLINGS, batch_size: int = 128) -> TrackEmbeddings:
    """Raw (unstandardised) track embeddings for each pooling plus the rows that had no windows.

    A model that knows its audio settings (`check_audio`) refuses a cache prepared with others."""
    if hasattr(model, "check_audio") and hasattr(fc, "config"):
        model.check_audio(fc.config)
    n = len(fc.tracks)
    lat, wr = window_latents(model, fc, stats, window, hop, batch_size)
    return pool_all(lat, wr, n, poolings)


def pool_all(latents: np.ndarray, win_rows: np.ndarray, n_tracks: int,
             poolings: tuple[str, ...] = POOLINGS) -> TrackEmbeddings:
    """Pool window latents with every pooling in `poolings`."""
    res: dict[str, np.ndarray] = {}
    missing: list[int] = []
    for p in poolings:
        res[p], missing = pool_tracks(latents, win_rows, n_tracks, p)
    return TrackEmbeddings(res, missing)


def finalise(emb: np.ndarray, fc: MelCache, missing: list[int] | None = None) -> np.ndarray:
    """Standardise on the train split's present rows; missing rows stay all-zero."""
    missing = list(missing or [])
    train = np.setdiff1d(fc.split_rows("train"), missing)
    if len(train) == 0:
        train = np.setdiff1d(np.arange(len(emb)), missing)
    out, _, _ = standardise(emb, train)
    if missing:
        out[missing] = 0.0
    return out


def whiten(emb: np.ndarray, fit_rows: np.ndarray | list[int], missing: list[int] | None = None,
           shrink: float = 0.1) -> np.ndarray:
    """ZCA-whiten a (standardised) embedding with the covariance of `fit_rows` (the train split), shrunk
    towards its mean eigenvalue by `shrink` so directions unseen in a small train split are not blown up.
    Decorrelating the dimensions lets cosine weigh every direction alike; missing rows stay zero."""
    emb = np.asarray(emb, dtype=np.float64)
    missing = list(missing or [])
    fit = np.setdiff1d(np.asarray(fit_rows, dtype=np.int64), missing)
    x = emb[fit]
    mu = x.mean(0)
    cov = np.cov((x - mu).T, bias=True).reshape(emb.shape[1], emb.shape[1])
    lam, vec = np.linalg.eigh(cov)
    lam = np.maximum(lam, 0.0) + shrink * max(float(lam.mean()), 1e-8)
    w = (vec / np.sqrt(lam)) @ vec.T
    out = ((emb - mu) @ w).astype(np.float32)
    if missing:
        out[missing] = 0.0
    return out


def write_embedding(ds_dir: Path | str, name: str, emb: np.ndarray, meta: dict[str, Any]) -> Path:
    """Write `<ds>/embeddings/<name>.npy` and its JSON sidecar; returns the .npy path."""
    d = Path(ds_dir) / "embeddings"
    d.mkdir(parents=True, exist_ok=True)
    emb = np.asarray(emb, dtype=np.float32)
    side = {"model": name, "checkpoint": "", "config": {}, "date": _dt.datetime.now(_dt.UTC).isoformat(
        timespec="seconds"), "git_commit": git_commit(), "pooling": "", "dim": int(emb.shape[1]),
        "n_tracks": int(emb.shape[0]), "standardised_on": "train", "missing_rows": []}
    side.update(meta)
    side["dim"] = int(emb.shape[1])
    tmp = d / f".{name}.tmp.npy"
    np.save(tmp, emb)
    tmp.replace(d / f"{name}.npy")
    (d / f"{name}.json").write_text(json.dumps(side, indent=2, default=str))
    return d / f"{name}.npy"


def write_baseline(fc: MelCache, ds_dir: Path | str | None = None) -> Path:
    """Write the classic baseline standardised on the train split as `baseline.npy`."""
    ds_dir = Path(ds_dir or fc.ds_dir)
    raw = np.nan_to_num(np.asarray(fc.baseline, dtype=np.float64))
    emb = finalise(raw, fc)
    return write_embedding(ds_dir, "baseline", emb, {
        "checkpoint": "", "pooling": "track statistics", "config": {"features": list(fc.baseline_names)}})


def load_embedding(ds_dir: Path | str, model: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Read `<ds>/embeddings/<model>.npy` and its sidecar (empty dict if the sidecar is missing)."""
    d = Path(ds_dir) / "embeddings"
    path = d / f"{model}.npy"
    if not path.exists():
        have = ", ".join(list_embeddings(ds_dir)) or "none"
        raise FileNotFoundError(f"no embedding {model!r} in {d} (available: {have})")
    emb = np.load(path)
    side = d / f"{model}.json"
    meta = json.loads(side.read_text()) if side.exists() else {}
    return emb, meta


def list_embeddings(ds_dir: Path | str) -> list[str]:
    """Names of the embeddings of a dataset, baseline first."""
    d = Path(ds_dir) / "embeddings"
    names = sorted(p.stem for p in d.glob("*.npy") if not p.name.startswith("."))
    return sorted(names, key=lambda n: (n != "baseline", n))
