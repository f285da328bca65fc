"""New latents from old ones: interpolation, Gaussian sampling and genre-centroid arithmetic.

These functions only produce latent vectors; decoding them to spectrograms and audio is
done by the caller (see core.recon_study).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def interpolate(z_a: np.ndarray, z_b: np.ndarray, n_steps: int, mode: str = "linear") -> np.ndarray:
    """n_steps latents from z_a to z_b inclusive [n_steps, d]; mode 'linear' or 'slerp'."""
    if n_steps < 2:
        raise ValueError("n_steps must be >= 2 (both end points are included)")
    a = np.asarray(z_a, dtype=np.float64).ravel()
    b = np.asarray(z_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"latents differ in size: {a.shape} vs {b.shape}")
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    if mode == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if mode != "slerp":
        raise ValueError(f"unknown mode {mode!r}; use 'linear' or 'slerp'")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(np.dot(a, b) / max(na * nb, 1e-12))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    s = np.sin(omega)
    return (np.sin((1 - t) * omega) / s * a + np.sin(t * omega) / s * b).astype(np.float32)


@dataclass
class Gaussian:
    """A full-covariance Gaussian fitted to latents (shrunk toward the diagonal)."""

    mean: np.ndarray
    cov: np.ndarray

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """n latents [n, d]; temperature scales the standard deviation."""
        rng = np.random.default_rng(seed)
        chol = np.linalg.cholesky(self.cov + 1e-8 * np.eye(len(self.mean)))
        eps = rng.standard_normal((n, len(self.mean)))
        return (self.mean + temperature * eps @ chol.T).astype(np.float32)

    def log_density(self, z: np.ndarray) -> np.ndarray:
        """Log-density of each row of z [n, d] (to check samples look like real latents)."""
        z = np.atleast_2d(z).astype(np.float64)
        d = len(self.mean)
        cov = self.cov + 1e-8 * np.eye(d)
        sign, logdet = np.linalg.slogdet(cov)
        diff = z - self.mean
        maha = np.einsum("ij,ij->i", diff @ np.linalg.inv(cov), diff)
        return -0.5 * (maha + logdet + d * np.log(2 * np.pi))


def fit_gaussian(z: np.ndarray, shrinkage: float | None = None) -> Gaussian:
    """Fit mean and covariance to latents [n, d]; Ledoit-Wolf shrinkage when shrinkage is None."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError("need at least two latent vectors [n, d] to fit a Gaussian")
    mean = z.mean(0)
    if shrinkage is None:
        from sklearn.covariance import LedoitWolf

        cov = LedoitWolf().fit(z).covariance_
    else:
        emp = np.cov(z, rowvar=False).reshape(z.shape[1], z.shape[1])
        cov = (1 - shrinkage) * emp + shrinkage * np.diag(np.diag(emp))
    return Gaussian(mean=mean, cov=np.asarray(cov))


def genre_centroids(z: np.ndarray, labels: np.ndarray | list) -> dict[str, np.ndarray]:
    """Mean latent of each label {label: [d]}."""
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    return {lab: z[labels == lab].mean(0).astype(np.float32) for lab in sorted(set(labels.tolist()))}


def centroid_arithmetic(z: np.ndarray, centroids: dict[str, np.ndarray], source: str, target: str,
                        alpha: float = 1.0) -> np.ndarray:
    """z - alpha * centroid[source] + alpha * centroid[target]: move a clip from one genre toward another."""
    for g in (source, target):
        if g not in centroids:
            raise KeyError(f"no centroid for {g!r}; known: {sorted(centroids)}")
    return (np.asarray(z, dtype=np.float32) + alpha * (centroids[target] - centroids[source])).astype(np.float32)
