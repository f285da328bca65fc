"""Precomputed 2-D maps of every embedding (PCA and UMAP), so the app's Latent map never projects on
a cold server: `<ds>/maps/<model>.npz` holds `pca` and `umap` [n_tracks, 2] float32 and the SHA-1 of
the embedding file it was computed from (a map of an older embedding is ignored).

    python -m train.maps --data artifacts/<ds>
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHODS = ("pca", "umap")


@dataclass
class MapResult:
    """One embedding's maps as written: the file and the methods it holds."""

    model: str
    path: Path
    methods: tuple[str, ...]


def map_path(ds_dir: Path | str, model: str) -> Path:
    """Where the maps of one embedding live."""
    return Path(ds_dir) / "maps" / f"{model}.npz"


def embedding_digest(ds_dir: Path | str, model: str) -> str:
    """SHA-1 of the embedding's .npy file (ties a map to the exact matrix it shows)."""
    return hashlib.sha1((Path(ds_dir) / "embeddings" / f"{model}.npy").read_bytes()).hexdigest()


def unit_matrix(ds_dir: Path | str, model: str) -> np.ndarray:
    """The embedding as the app shows it: NaN rows zeroed, rows scaled to unit length."""
    from core.recommend.embeddings import load_embedding
    from core.recommend.similarity import l2_normalise

    matrix, _ = load_embedding(ds_dir, model)
    return l2_normalise(np.nan_to_num(np.asarray(matrix, np.float32)))


def write_maps(ds_dir: Path | str, model: str, methods: tuple[str, ...] = METHODS, seed: int = 0) -> MapResult:
    """Compute the PCA (and UMAP) map of one embedding and write `<ds>/maps/<model>.npz` atomically."""
    from core.latent.analysis import project_2d

    unit = unit_matrix(ds_dir, model)
    arrays = {m: project_2d(unit, m, seed=seed).astype(np.float32) for m in methods}
    path = map_path(ds_dir, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, digest=np.array(embedding_digest(ds_dir, model)), **arrays)
    tmp.replace(path)
    return MapResult(model, path, tuple(methods))


def read_map(ds_dir: Path | str, model: str, method: str) -> np.ndarray | None:
    """A precomputed map [n, 2] of the current embedding file, or None (absent, stale, unreadable)."""
    path = map_path(ds_dir, model)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if method.lower() not in z.files or str(z["digest"]) != embedding_digest(ds_dir, model):
                return None
            return np.asarray(z[method.lower()], np.float32)
    except (OSError, ValueError, KeyError):
        return None
