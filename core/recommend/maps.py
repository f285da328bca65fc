"""Precomputed 2-D maps of every embedding (PCA and UMAP), so the app's Latent map never projects on
a cold server: `<ds>/maps/<model>.npz` holds `pca` and `umap` [n_tracks, 2] float32, the k-means clusters
at the page's default count (`default_cluster_count`) with their quality numbers, and the SHA-1 of the
embedding file it was computed from (a map of an older embedding is ignored).

    python -m train.maps --data artifacts/<ds>
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHODS = ("pca", "umap")
MAX_CLUSTERS = 30


def default_cluster_count(genres: np.ndarray) -> int:
    """The Latent map's starting k-means k: the number of distinct non-empty genres, between 2 and 30."""
    return min(max(2, len({str(g) for g in genres if str(g)})), MAX_CLUSTERS)


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
    """Compute the PCA (and UMAP) map and the default k-means clusters of one embedding and write
    `<ds>/maps/<model>.npz` atomically."""
    from core.audio.cache import embedded_tracks
    from core.latent.analysis import cluster_quality, project_2d

    unit = unit_matrix(ds_dir, model)
    arrays = {m: project_2d(unit, m, seed=seed).astype(np.float32) for m in methods}
    tracks = embedded_tracks(ds_dir)
    genres = tracks["genre"].astype(str).to_numpy() if "genre" in tracks.columns else np.full(len(tracks), "")
    k = default_cluster_count(genres)
    if len(genres) == len(unit) > k:  # else the page clusters on its own (and says why if it cannot)
        labels, quality = cluster_quality(unit, genres, k, seed=seed)
        arrays.update(clusters=np.asarray(labels, np.int32), clusters_k=np.array(k),
                      cluster_quality=np.array(json.dumps(quality)))
    path = map_path(ds_dir, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, digest=np.array(embedding_digest(ds_dir, model)), **arrays)
    tmp.replace(path)
    return MapResult(model, path, tuple(methods))


def _stored(ds_dir: Path | str, model: str) -> dict[str, np.ndarray] | None:
    """The arrays of `<ds>/maps/<model>.npz` when it was computed from the current embedding file, else None
    (absent, stale, unreadable)."""
    path = map_path(ds_dir, model)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["digest"]) != embedding_digest(ds_dir, model):
                return None
            return {name: z[name] for name in z.files}
    except (OSError, ValueError, KeyError):
        return None


def read_clusters(ds_dir: Path | str, model: str, n_clusters: int) -> tuple[np.ndarray, dict[str, float]] | None:
    """The precomputed k-means clusters and quality numbers of the current embedding file when they were
    computed for `n_clusters`, else None."""
    z = _stored(ds_dir, model)
    if z is None or "clusters" not in z or int(z["clusters_k"]) != int(n_clusters):
        return None
    try:
        return np.asarray(z["clusters"]), {k: float(v) for k, v in json.loads(str(z["cluster_quality"])).items()}
    except (ValueError, KeyError):
        return None


def read_map(ds_dir: Path | str, model: str, method: str) -> np.ndarray | None:
    """A precomputed map [n, 2] of the current embedding file, or None (absent, stale, unreadable)."""
    z = _stored(ds_dir, model)
    if z is None or method.lower() not in z:
        return None
    return np.asarray(z[method.lower()], np.float32)
