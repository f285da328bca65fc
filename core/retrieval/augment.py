"""Augmentations of the contrastive pairs and of evaluation queries.

Mel-domain (training): gain (a dB offset), additive noise at a random SNR (added in the power
domain), time and frequency masks, a small time shift. Audio-domain (queries): gain and noise at a
random SNR on the waveform, so every embedding under evaluation sees the same corrupted excerpt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AugmentConfig:
    """Ranges of the random augmentations (all uniform)."""

    gain_db: float = 6.0  # +-
    snr_db: tuple[float, float] = (5.0, 30.0)
    noise_prob: float = 0.8
    time_masks: int = 2
    time_mask_frac: float = 0.1  # widest mask, as a fraction of the crop
    freq_masks: int = 2
    freq_mask_bins: int = 12
    max_shift_frames: int = 4


def mel_augment(mel_db: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, floor_db: float) -> np.ndarray:
    """Augmented copy of a log-mel [n_mels, T] in dB (masked cells set to `floor_db`... then refilled with
    the crop's mean so masks carry no energy cue)."""
    x = np.asarray(mel_db, dtype=np.float32).copy()
    x = x + rng.uniform(-cfg.gain_db, cfg.gain_db)
    if rng.random() < cfg.noise_prob:
        x = _add_noise_db(x, rng, cfg.snr_db)
    x = np.maximum(x, floor_db)
    fill = float(x.mean())
    m, t = x.shape
    for _ in range(cfg.freq_masks):
        w = int(rng.integers(0, cfg.freq_mask_bins + 1))
        f0 = int(rng.integers(0, max(m - w, 1)))
        x[f0:f0 + w] = fill
    for _ in range(cfg.time_masks):
        w = int(rng.integers(0, int(cfg.time_mask_frac * t) + 1))
        t0 = int(rng.integers(0, max(t - w, 1)))
        x[:, t0:t0 + w] = fill
    return x


def _add_noise_db(x: np.ndarray, rng: np.random.Generator, snr_range: tuple[float, float]) -> np.ndarray:
    """Noise with a random smooth spectral tilt added to a dB spectrogram at a random SNR (power domain)."""
    p = 10.0 ** (x / 10.0)
    snr = rng.uniform(*snr_range)
    tilt = np.linspace(0, rng.uniform(-20, 0), x.shape[0])[:, None]  # dB, white to pink-ish
    shape = 10.0 ** (tilt / 10.0)
    noise = shape * rng.exponential(1.0, size=x.shape)
    scale = p.mean() / max(float(noise.mean()), 1e-12) / 10.0 ** (snr / 10.0)
    return (10.0 * np.log10(p + scale * noise + 1e-12)).astype(np.float32)


def audio_augment(audio: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Gain and additive white noise at a random SNR on a waveform (clipped to [-1, 1])."""
    y = np.asarray(audio, dtype=np.float32) * 10.0 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20.0)
    if rng.random() < cfg.noise_prob:
        snr = rng.uniform(*cfg.snr_db)
        power = float(np.mean(y ** 2)) + 1e-12
        y = y + rng.normal(0.0, np.sqrt(power / 10.0 ** (snr / 10.0)), size=y.shape).astype(np.float32)
    return np.clip(y, -1.0, 1.0).astype(np.float32)
