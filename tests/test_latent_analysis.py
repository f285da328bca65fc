"""Latent maps, clustering scores and generation helpers on toy data."""

from __future__ import annotations

import numpy as np
import pytest

from core.latent.analysis import AnalysisConfig, analyze, elbow_curve, label_agreement, prepare
from core.latent.generation import centroid_arithmetic, fit_gaussian, genre_centroids, interpolate


def _blobs(n_per: int = 20, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.eye(3, d) * 10.0
    z = np.concatenate([c + rng.standard_normal((n_per, d)) for c in centers])
    labels = np.repeat(["rock", "jazz", "blues"], n_per)
    return z.astype(np.float32), labels


def test_label_agreement_hand_cases() -> None:
    truth = ["a", "a", "b", "b"]
    perfect = label_agreement(truth, [1, 1, 0, 0])
    assert perfect["homogeneity"] == pytest.approx(1.0) and perfect["v_measure"] == pytest.approx(1.0)
    one = label_agreement(truth, [0, 0, 0, 0])  # one cluster: complete but not homogeneous
    assert one["homogeneity"] == pytest.approx(0.0) and one["completeness"] == pytest.approx(1.0)
    split = label_agreement(truth, [0, 1, 2, 3])  # singletons: homogeneous, not complete
    assert split["homogeneity"] == pytest.approx(1.0) and split["completeness"] == pytest.approx(0.5)


def test_analyze_recovers_separated_blobs() -> None:
    z, labels = _blobs()
    res = analyze(z, labels, AnalysisConfig(k_range=(2, 3, 4, 6)), with_umap=False)
    assert list(res.maps.columns) == ["pca_x", "pca_y", "umap_x", "umap_y", "label", "kmeans", "agglo"]
    assert len(res.maps) == len(z)
    scores = res.scores.set_index("method")
    assert scores.loc["kmeans", "v_measure"] == pytest.approx(1.0)
    assert scores.loc["agglomerative", "v_measure"] == pytest.approx(1.0)
    elbow = res.elbow.set_index("k")
    assert elbow["inertia"].is_monotonic_decreasing
    assert elbow["silhouette"].idxmax() == 3
    assert 0.3 < sum(res.pca_explained) <= 1.0 + 1e-6


def test_umap_map_runs_on_small_set() -> None:
    z, labels = _blobs(n_per=12)
    res = analyze(z, labels, AnalysisConfig(k_range=(2, 3)), with_umap=True)
    assert res.umap_method == "umap"
    assert np.isfinite(res.maps[["umap_x", "umap_y"]].to_numpy()).all()


def test_degenerate_latents_do_not_crash() -> None:
    z = np.zeros((6, 4), np.float32)  # e.g. a collapsed latent space
    assert np.isfinite(prepare(z)).all()
    res = analyze(z, ["a", "b"] * 3, AnalysisConfig(k_range=(2, 3)), with_umap=False)
    assert np.isfinite(res.scores[["homogeneity", "completeness", "v_measure"]].to_numpy()).all()
    assert len(elbow_curve(z[:2], (2, 3))) == 0


def test_interpolation_endpoints_and_slerp() -> None:
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    lin = interpolate(a, b, 5)
    assert lin.shape == (5, 2) and np.allclose(lin[0], a) and np.allclose(lin[-1], b)
    assert np.allclose(lin[2], [0.5, 0.5])
    sl = interpolate(a, b, 3, mode="slerp")
    assert np.allclose(np.linalg.norm(sl, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError):
        interpolate(a, np.zeros(3), 4)


def test_gaussian_sampling_matches_moments() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3)) * [1.0, 2.0, 0.5] + [5, -1, 0]
    g = fit_gaussian(z)
    s = g.sample(4000, seed=1)
    assert np.allclose(s.mean(0), [5, -1, 0], atol=0.15)
    assert np.allclose(s.std(0), [1.0, 2.0, 0.5], rtol=0.1)
    assert g.log_density(z[:3]).shape == (3,)
    assert np.allclose(fit_gaussian(z, shrinkage=0.0).cov, np.cov(z, rowvar=False))


def test_genre_centroid_arithmetic() -> None:
    z, labels = _blobs()
    cents = genre_centroids(z, labels)
    assert set(cents) == {"rock", "jazz", "blues"}
    moved = centroid_arithmetic(cents["rock"], cents, "rock", "jazz")
    assert np.allclose(moved, cents["jazz"], atol=1e-5)
    with pytest.raises(KeyError):
        centroid_arithmetic(z[0], cents, "rock", "polka")
