"""New latents from old ones (interpolation, Gaussian sampling, genre-centroid arithmetic) and the
study's generation step that decodes them to spectrograms and audio (`generate`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.audio.config import AudioConfig
from core.latent.griffinlim import GriffinLimConfig, mel_to_audio
from core.latent.io import save_spec_png, save_wav
from core.latent.latents import nearest_genre
from core.latent.model import decode_latents, encode_mels
from core.latent.segments import SegmentRef
from core.recommend.windows import MelStats


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



@dataclass
class Rendered:
    """One decoded latent written as WAV + PNG, and what the encoder thinks it sounds like."""

    wav: str
    png: str
    nearest_genre: str
    rms_db: float


@dataclass
class InterpStep:
    """One step of an interpolation between two clips."""

    t: float
    wav: str
    png: str
    nearest_genre: str
    rms_db: float


@dataclass
class ArithmeticItem:
    """A clip moved from one genre's centroid toward another's, and the clip decoded unchanged."""

    clip_id: str
    source: str
    target: str
    wav: str
    png: str
    nearest_genre: str
    rms_db: float
    start_wav: str
    start_png: str
    start_nearest_genre: str


@dataclass
class GenerationResult:
    """What the generation step wrote: an interpolation (if two genres exist), samples, arithmetic."""

    samples: dict[str, Any]
    arithmetic: list[ArithmeticItem]
    interpolation: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The index.json block (`interpolation` only when there is one)."""
        out: dict[str, Any] = {}
        if self.interpolation is not None:
            out["interpolation"] = {**self.interpolation, "steps": [asdict(s) for s in self.interpolation["steps"]]}
        out["samples"] = {**self.samples, "items": [asdict(s) for s in self.samples["items"]]}
        out["arithmetic"] = [asdict(a) for a in self.arithmetic]
        return out


@dataclass
class _Renderer:
    """Decodes latents of one model to audio and spectrogram files under `out_dir`."""

    net: torch.nn.Module
    stats: MelStats
    cfg: AudioConfig
    gl: GriffinLimConfig
    centroids: dict[str, np.ndarray]
    out_dir: Path
    rel_root: Path

    def render(self, z: np.ndarray, name: str, title: str) -> Rendered:
        """Decode one latent, write `<name>.wav/.png`, re-encode it to name its nearest genre."""
        mel = decode_latents(self.net, self.stats, z[None], self.cfg)[0]
        y = mel_to_audio(mel, self.cfg, self.gl)
        save_wav(self.out_dir / f"{name}.wav", y, self.cfg)
        save_spec_png(self.out_dir / f"{name}.png", mel, self.cfg, title)
        z_back = encode_mels(self.net, self.stats, mel[None])[0]  # what the encoder thinks the result is
        return Rendered(str((self.out_dir / f"{name}.wav").relative_to(self.rel_root)),
                        str((self.out_dir / f"{name}.png").relative_to(self.rel_root)),
                        nearest_genre(z_back, self.centroids),
                        float(20 * np.log10(max(float(np.sqrt(np.mean(y**2))), 1e-10))))


def _interpolation(r: _Renderer, z_all: np.ndarray, seg_index: dict[int, int], by_genre: dict[str, SegmentRef],
                   val_refs: list[SegmentRef], n_steps: int) -> dict[str, Any] | None:
    """Interpolation between two validation clips of different genres (classical -> metal if present)."""
    a = by_genre.get("classical") or val_refs[0]
    b = by_genre.get("metal") or next((x for x in val_refs if x.genre != a.genre), val_refs[-1])
    if a.segment not in seg_index or b.segment not in seg_index:
        return None
    za, zb = z_all[seg_index[a.segment]], z_all[seg_index[b.segment]]
    steps = []
    for i, (t, z) in enumerate(zip(np.linspace(0, 1, n_steps), interpolate(za, zb, n_steps))):
        item = r.render(z, f"interp_{i:02d}", f"interp t={t:.2f} ({a.genre}->{b.genre})")
        steps.append(InterpStep(float(t), **asdict(item)))
    return {"from": a.clip_id, "from_genre": a.genre, "to": b.clip_id, "to_genre": b.genre, "steps": steps}


def _arithmetic(r: _Renderer, z_all: np.ndarray, seg_index: dict[int, int],
                by_genre: dict[str, SegmentRef]) -> list[ArithmeticItem]:
    """Genre-centroid arithmetic: clip + (centroid[target] - centroid[source]) for a few genre pairs."""
    cents = r.centroids
    pairs = [(a, b) for a, b in (("classical", "metal"), ("jazz", "disco"), ("metal", "classical"))
             if a in by_genre and a in cents and b in cents]
    if not pairs:  # other datasets (demo moods, FMA genres): the first two validation genres, both ways
        gs = [g for g in sorted(by_genre) if g in cents][:2]
        pairs = [(gs[0], gs[1]), (gs[1], gs[0])] if len(gs) == 2 else []
    out = []
    for src, tgt in pairs:
        ref = by_genre.get(src)
        if ref is None or tgt not in cents or src not in cents or ref.segment not in seg_index:
            continue
        z0 = z_all[seg_index[ref.segment]]
        item = r.render(centroid_arithmetic(z0, cents, src, tgt), f"arith_{src}_to_{tgt}",
                        f"{ref.clip_id} - {src} + {tgt}")
        orig = r.render(z0, f"arith_{src}_to_{tgt}_start", f"{ref.clip_id} (decoded)")
        out.append(ArithmeticItem(ref.clip_id, src, tgt, **asdict(item), start_wav=orig.wav, start_png=orig.png,
                                  start_nearest_genre=orig.nearest_genre))
    return out


def generate(net: torch.nn.Module, stats: MelStats, cfg: AudioConfig, gl: GriffinLimConfig,
             z_all: np.ndarray, meta: pd.DataFrame, val_refs: list[SegmentRef], out_dir: Path,
             rel_root: Path, n_interp_steps: int = 6, n_samples: int = 4, seed: int = 0) -> GenerationResult:
    """Interpolation, Gaussian samples and genre-centroid arithmetic, written as WAV + PNG."""
    train_mask = (meta["split"] == "train").to_numpy()
    z_train = z_all[train_mask] if train_mask.sum() >= 2 else z_all
    labels_train = meta["genre"].to_numpy()[train_mask] if train_mask.sum() >= 2 else meta["genre"].to_numpy()
    r = _Renderer(net, stats, cfg, gl, genre_centroids(z_train, labels_train), out_dir, rel_root)
    seg_index = {int(s): i for i, s in enumerate(meta["segment"])}
    by_genre: dict[str, SegmentRef] = {}
    for ref in val_refs:
        by_genre.setdefault(ref.genre, ref)
    interp = _interpolation(r, z_all, seg_index, by_genre, val_refs, n_interp_steps)
    samples = [r.render(z, f"sample_{i:02d}", f"Gaussian sample {i}")
               for i, z in enumerate(fit_gaussian(z_train).sample(n_samples, seed=seed))]
    return GenerationResult({"fitted_on": "train-split latents (Ledoit-Wolf covariance)", "items": samples},
                            _arithmetic(r, z_all, seg_index, by_genre), interp)
