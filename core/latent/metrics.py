"""Reconstruction metrics: log-mel errors, spectral convergence, log-spectral distance, MR-STFT.

All functions are NaN-free on silent input: powers are floored before logs and norms
of silent references are floored, so two silent signals score 0 and a silent
reference against a non-silent estimate scores a large finite value.
"""

from __future__ import annotations

import numpy as np
import torch

from core.audio.config import DEFAULT_AUDIO, AudioConfig
from core.audio.features import log_mel
from core.latent.griffinlim import hann
from core.latent.structure import STRUCTURE_NAMES, structure_metrics

EPS = 1e-10
MRSTFT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))
METRIC_NAMES = ("logmel_mse", "logmel_l1", "spectral_convergence", "lsd_db", "mrstft") + STRUCTURE_NAMES


def logmel_mse(ref_db: np.ndarray, est_db: np.ndarray) -> float:
    """Mean squared error between two log-mels in dB^2 (shapes trimmed to the shorter)."""
    a, b = _trim(ref_db, est_db)
    return float(np.mean((a.astype(np.float64) - b) ** 2)) if a.size else 0.0


def logmel_l1(ref_db: np.ndarray, est_db: np.ndarray) -> float:
    """Mean absolute error between two log-mels in dB."""
    a, b = _trim(ref_db, est_db)
    return float(np.mean(np.abs(a.astype(np.float64) - b))) if a.size else 0.0


def spectral_convergence(ref_mag: np.ndarray, est_mag: np.ndarray) -> float:
    """||ref - est||_F / ||ref||_F on linear magnitudes (0 = identical, 1 = est is silent)."""
    a, b = _trim(ref_mag, est_mag)
    num = float(np.linalg.norm(a.astype(np.float64) - b))
    den = float(np.linalg.norm(a.astype(np.float64)))
    return num / max(den, 1e-8)


def log_spectral_distance(ref_power: np.ndarray, est_power: np.ndarray, dynamic_range_db: float = 80.0) -> float:
    """Log-spectral distance in dB: mean over frames of the RMS over bins of 10*log10(P/P^).

    Both powers are floored at `dynamic_range_db` below the reference's peak (and at
    1e-10 absolute) so near-silent bins, which nobody hears, cannot dominate.
    """
    a, b = _trim(ref_power, est_power)
    if a.size == 0:
        return 0.0
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    floor = max(float(a.max()) * 10.0 ** (-dynamic_range_db / 10.0), EPS)
    diff = 10.0 * np.log10(np.maximum(a, floor) / np.maximum(b, floor))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


def stft_mag(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred Hann STFT magnitude [bins, frames] of a mono signal (torch.stft)."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if x.numel() <= n_fft // 2:
        x = torch.nn.functional.pad(x, (0, n_fft // 2 + 1 - x.numel()))
    spec = torch.stft(x, n_fft, hop, window=hann(n_fft), center=True, pad_mode="reflect",
                      return_complex=True)
    return spec.abs().numpy()


def multi_resolution_stft(
    ref_audio: np.ndarray,
    est_audio: np.ndarray,
    resolutions: tuple[tuple[int, int], ...] = MRSTFT_RESOLUTIONS,
) -> float:
    """Multi-resolution STFT distance: mean over resolutions of SC + mean |log mag difference|.

    The usual vocoder loss (Yamamoto et al., Parallel WaveGAN), evaluated on final audio.
    """
    n = min(len(ref_audio), len(est_audio))
    total = 0.0
    for n_fft, hop in resolutions:
        a = stft_mag(ref_audio[:n], n_fft, hop)
        b = stft_mag(est_audio[:n], n_fft, hop)
        sc = spectral_convergence(a, b)
        mag_l1 = float(np.mean(np.abs(np.log(np.maximum(a, 1e-5)) - np.log(np.maximum(b, 1e-5)))))
        total += sc + mag_l1
    return total / len(resolutions)


def audio_metrics(ref_audio: np.ndarray, est_audio: np.ndarray, cfg: AudioConfig = DEFAULT_AUDIO) -> dict[str, float]:
    """Every metric of one reconstruction, computed on final audio against the original audio.

    logmel_* compare the log-mels of both signals (project settings); SC and LSD use the
    project STFT (n_fft, hop); mrstft uses MRSTFT_RESOLUTIONS; onset_corr, chroma_cos (higher is better)
    and mel_distance come from core.latent.structure.
    """
    n = min(len(ref_audio), len(est_audio))
    ref, est = ref_audio[:n].astype(np.float32), est_audio[:n].astype(np.float32)
    ref_mel, est_mel = log_mel(ref, cfg), log_mel(est, cfg)
    ref_mag = stft_mag(ref, cfg.n_fft, cfg.hop_length)
    est_mag = stft_mag(est, cfg.n_fft, cfg.hop_length)
    return {
        "logmel_mse": logmel_mse(ref_mel, est_mel),
        "logmel_l1": logmel_l1(ref_mel, est_mel),
        "spectral_convergence": spectral_convergence(ref_mag, est_mag),
        "lsd_db": log_spectral_distance(ref_mag**2, est_mag**2),
        "mrstft": multi_resolution_stft(ref, est),
        **structure_metrics(ref, est, cfg),
    }


def _trim(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop two [..., frames] arrays to a common shape; replace non-finite values by 0."""
    a = np.nan_to_num(np.asarray(a), nan=0.0, posinf=0.0, neginf=0.0)
    b = np.nan_to_num(np.asarray(b), nan=0.0, posinf=0.0, neginf=0.0)
    if a.shape != b.shape:
        sl = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape))
        a, b = a[sl], b[sl]
    return a, b
