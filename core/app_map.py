"""The app's latent map: 2-D projections of an embedding and k-means cluster quality."""

from __future__ import annotations

import numpy as np


def project_2d(unit: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows by PCA or UMAP (core.latent_analysis, standardised dims) [n, 2]."""
    from core.latent_analysis import pca_2d, prepare, umap_2d

    x = prepare(unit)
    xy = umap_2d(x, seed=seed)[0] if method.lower() == "umap" else pca_2d(x, seed)[0]
    return np.asarray(xy, dtype=np.float32)


def cluster_quality(unit: np.ndarray, genres: np.ndarray, n_clusters: int, seed: int = 0,
                    sample: int = 3000) -> tuple[np.ndarray, dict[str, float]]:
    """k-means cluster ids of an embedding and quality numbers: silhouette (cosine) of genres and of
    clusters (on at most `sample` rows), V-measure and ARI of clusters vs genre."""
    from sklearn.metrics import silhouette_score

    from core.latent_analysis import cluster_kmeans, label_agreement, prepare

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
