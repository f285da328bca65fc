"""What a latent space knows: 2-D maps (PCA, UMAP), clustering (k-means, agglomerative) and
agreement of clusters with labels (homogeneity, completeness, V-measure, ARI).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    adjusted_rand_score,
    completeness_score,
    homogeneity_score,
    silhouette_score,
    v_measure_score,
)
from sklearn.preprocessing import StandardScaler


@dataclass
class AnalysisConfig:
    """Settings of one latent-space analysis."""

    k_range: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10, 12, 15)
    n_clusters: int | None = None  # None: number of distinct labels
    umap_neighbors: int = 15
    umap_min_dist: float = 0.1
    seed: int = 0
    standardize: bool = True


@dataclass
class LatentAnalysis:
    """Result of `analyze`: the map table, elbow table and clustering scores."""

    maps: pd.DataFrame  # columns: pca_x, pca_y, umap_x, umap_y, label, kmeans, agglo
    elbow: pd.DataFrame  # columns: k, inertia, silhouette
    scores: pd.DataFrame  # one row per method: homogeneity, completeness, v_measure, ari, silhouette
    pca_explained: list[float] = field(default_factory=list)
    umap_method: str = "umap"


def prepare(z: np.ndarray, standardize: bool = True) -> np.ndarray:
    """Float64 copy of latents, non-finite values set to 0, optionally standardised per dim."""
    x = np.nan_to_num(np.asarray(z, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if standardize and len(x) > 1:
        x = StandardScaler().fit_transform(x)
    return x


def pca_2d(z: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """2-D PCA coordinates [n, 2] and the explained-variance ratios of the two axes."""
    n, d = z.shape
    k = min(2, n, d)
    pca = PCA(n_components=k, random_state=seed)
    xy = pca.fit_transform(z)
    if k < 2:
        xy = np.hstack([xy, np.zeros((n, 2 - k))])
    ratios = [float(r) for r in pca.explained_variance_ratio_] + [0.0] * (2 - k)
    return xy, ratios


def umap_2d(z: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D UMAP coordinates [n, 2] and the method actually used ('umap', or 'pca' for tiny sets)."""
    n = len(z)
    if n < 5 or z.shape[1] < 2:
        return pca_2d(z, seed)[0], "pca"
    import umap  # slow import (numba); only when needed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=max(2, min(n_neighbors, n - 1)),
            min_dist=min_dist,
            random_state=seed,
            n_jobs=1,
            init="spectral" if n > 10 else "random",
        )
        xy = reducer.fit_transform(z)
    return np.asarray(xy, dtype=np.float64), "umap"


def elbow_curve(z: np.ndarray, k_range: tuple[int, ...], seed: int = 0) -> pd.DataFrame:
    """k-means inertia and silhouette for each k (ks >= n samples are skipped)."""
    rows = []
    for k in k_range:
        if k < 2 or k >= len(z):
            continue
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        rows.append({"k": k, "inertia": float(km.inertia_), "silhouette": safe_silhouette(z, km.labels_)})
    return pd.DataFrame(rows, columns=["k", "inertia", "silhouette"])


def safe_silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score, 0.0 where it is undefined (one cluster or every point its own)."""
    n_lab = len(set(np.asarray(labels).tolist()))
    if n_lab < 2 or n_lab >= len(z):
        return 0.0
    return float(silhouette_score(z, labels))


def cluster_kmeans(z: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels (10 restarts)."""
    k = max(1, min(k, len(z)))
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)


def cluster_agglomerative(z: np.ndarray, k: int) -> np.ndarray:
    """Ward agglomerative clustering labels (the second, hierarchical method)."""
    k = max(1, min(k, len(z)))
    if k == 1:
        return np.zeros(len(z), dtype=int)
    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(z)


def label_agreement(labels_true: np.ndarray | list, labels_pred: np.ndarray | list) -> dict[str, float]:
    """Homogeneity, completeness, V-measure and adjusted Rand index of clusters vs labels."""
    t = np.asarray(labels_true).astype(str)
    p = np.asarray(labels_pred)
    return {
        "homogeneity": float(homogeneity_score(t, p)),
        "completeness": float(completeness_score(t, p)),
        "v_measure": float(v_measure_score(t, p)),
        "ari": float(adjusted_rand_score(t, p)),
    }


def analyze(z: np.ndarray, labels: np.ndarray | list, cfg: AnalysisConfig | None = None,
            with_umap: bool = True) -> LatentAnalysis:
    """PCA + UMAP maps, elbow curve, k-means and agglomerative clusters scored against `labels`."""
    cfg = cfg or AnalysisConfig()
    with warnings.catch_warnings():  # degenerate (collapsed) latents warn; scores stay finite
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return _analyze(z, labels, cfg, with_umap)


def _analyze(z: np.ndarray, labels: np.ndarray | list, cfg: AnalysisConfig, with_umap: bool) -> LatentAnalysis:
    """Body of `analyze` (warnings handled by the caller)."""
    labels = np.asarray(labels).astype(str)
    x = prepare(z, cfg.standardize)
    k = cfg.n_clusters or max(2, len(set(labels.tolist())))
    pca_xy, ratios = pca_2d(x, cfg.seed)
    if with_umap:
        umap_xy, method = umap_2d(x, cfg.umap_neighbors, cfg.umap_min_dist, cfg.seed)
    else:
        umap_xy, method = pca_xy, "pca"
    km = cluster_kmeans(x, k, cfg.seed)
    ag = cluster_agglomerative(x, k)
    maps = pd.DataFrame({
        "pca_x": pca_xy[:, 0], "pca_y": pca_xy[:, 1],
        "umap_x": umap_xy[:, 0], "umap_y": umap_xy[:, 1],
        "label": labels, "kmeans": km, "agglo": ag,
    })
    rows = []
    for name, pred in (("kmeans", km), ("agglomerative", ag)):
        rows.append({"method": name, "k": k, **label_agreement(labels, pred),
                     "silhouette": safe_silhouette(x, pred)})
    rows.append({"method": "labels", "k": len(set(labels.tolist())),
                 **label_agreement(labels, labels), "silhouette": safe_silhouette(x, labels)})
    return LatentAnalysis(maps=maps, elbow=elbow_curve(x, cfg.k_range, cfg.seed),
                          scores=pd.DataFrame(rows), pca_explained=ratios, umap_method=method)


def project_2d(unit: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows by PCA or UMAP (core.latent.analysis, standardised dims) [n, 2]."""
    x = prepare(unit)
    xy = umap_2d(x, seed=seed)[0] if method.lower() == "umap" else pca_2d(x, seed)[0]
    return np.asarray(xy, dtype=np.float32)


def cluster_quality(unit: np.ndarray, genres: np.ndarray, n_clusters: int, seed: int = 0,
                    sample: int = 3000) -> tuple[np.ndarray, dict[str, float]]:
    """k-means cluster ids of an embedding and quality numbers: silhouette (cosine) of genres and of
    clusters (on at most `sample` rows), V-measure and ARI of clusters vs genre."""

    labels = cluster_kmeans(prepare(unit), int(n_clusters), seed)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(unit), size=min(sample, len(unit)), replace=False)

    def _sil(lab: np.ndarray) -> float:
        n_lab = len(set(lab[pick].tolist()))
        if n_lab < 2 or n_lab >= len(pick):
            return float("nan")
        return float(silhouette_score(unit[pick], lab[pick], metric="cosine"))

    agree = label_agreement(np.asarray(genres), labels)
    return labels, {"silhouette_genre": _sil(np.asarray(genres).astype(str)), "silhouette_kmeans": _sil(labels),
                    "v_measure_kmeans_vs_genre": agree["v_measure"], "ari_kmeans_vs_genre": agree["ari"]}
