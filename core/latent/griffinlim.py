"""Log-mel -> audio: mel inversion (non-negative least squares) and fast Griffin-Lim.

Everything runs on torch (CPU is fine) with the project's STFT settings: Hann window of
`n_fft`, hop `hop_length`, centred, reflect padding (see docs/reference/contracts.md). No
torchaudio. The fast Griffin-Lim variant is Perraudin, Balazs & Søndergaard (2013):
plain Griffin-Lim plus a momentum term on the projected spectrogram (alpha ~0.99).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from core.audio.config import DEFAULT_AUDIO, AudioConfig
from core.audio.features import mel_filterbank

EPS = 1e-10


@dataclass(frozen=True)
class GriffinLimConfig:
    """Settings of the phase reconstruction (defaults: < 1 s for a 5-s clip on one core)."""

    n_iter: int = 48
    momentum: float = 0.99
    nnls_iter: int = 40
    init: str = "random"  # "random" or "zeros"
    seed: int = 0


DEFAULT_GL = GriffinLimConfig()


@lru_cache(maxsize=8)
def _fb_tensors(cfg: AudioConfig) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mel filterbank M [m, f], its pseudo-inverse [f, m] and the NNLS step 1/||M^T M||."""
    fb = torch.from_numpy(mel_filterbank(cfg).astype(np.float64))
    pinv = torch.linalg.pinv(fb)
    lipschitz = float(torch.linalg.matrix_norm(fb.T @ fb, ord=2))
    return fb.float(), pinv.float(), 1.0 / max(lipschitz, EPS)


@lru_cache(maxsize=8)
def hann(n_fft: int) -> torch.Tensor:
    """Periodic Hann window (cached; the same window torch.stft uses in core.audio.features)."""
    return torch.hann_window(n_fft)


def db_to_power(mel_db: np.ndarray | torch.Tensor, cfg: AudioConfig = DEFAULT_AUDIO) -> torch.Tensor:
    """Power-dB log-mel -> mel power; values at the floor (silence) become exactly 0."""
    x = torch.as_tensor(np.asarray(mel_db, dtype=np.float32) if not torch.is_tensor(mel_db) else mel_db)
    x = torch.nan_to_num(x.float(), nan=cfg.top_db_floor, posinf=0.0, neginf=cfg.top_db_floor)
    power = torch.pow(10.0, x / 10.0)
    return torch.where(x <= cfg.top_db_floor + 1e-3, torch.zeros_like(power), power)


def mel_to_linear(
    mel_db: np.ndarray | torch.Tensor,
    cfg: AudioConfig = DEFAULT_AUDIO,
    n_iter: int = DEFAULT_GL.nnls_iter,
) -> torch.Tensor:
    """Linear STFT magnitude [1 + n_fft//2, frames] whose mel power best matches `mel_db`.

    Solves min ||M P - mel_power||^2 subject to P >= 0 (P = linear power) by accelerated
    projected gradient (FISTA) started from the clipped pseudo-inverse, then returns
    sqrt(P). Batched input [..., n_mels, frames] is accepted.
    """
    fb, pinv, step = _fb_tensors(cfg)
    target = db_to_power(mel_db, cfg)
    if target.shape[-2] != fb.shape[0]:
        raise ValueError(f"mel has {target.shape[-2]} bands, config expects {fb.shape[0]}")
    # scale each clip to unit peak so the step size is well conditioned, undo at the end
    scale = target.amax(dim=(-2, -1), keepdim=True).clamp_min(EPS)
    y = target / scale
    p = (pinv @ y).clamp_min(0.0)
    mty = fb.T @ y
    q, t = p, 1.0
    for _ in range(n_iter):
        p_next = (q - step * (fb.T @ (fb @ q) - mty)).clamp_min(0.0)
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        q = p_next + ((t - 1.0) / t_next) * (p_next - p)
        p, t = p_next, t_next
    return torch.sqrt(p * scale)


def griffin_lim(
    magnitude: torch.Tensor | np.ndarray,
    cfg: AudioConfig = DEFAULT_AUDIO,
    gl: GriffinLimConfig = DEFAULT_GL,
    length: int | None = None,
) -> torch.Tensor:
    """Fast Griffin-Lim: audio [samples] (or [B, samples]) whose STFT magnitude matches.

    `magnitude` is [bins, frames] (or batched). Output length defaults to
    (frames - 1) * hop, the span the centred frames cover.
    """
    mag = torch.as_tensor(magnitude).float()
    n_frames = mag.shape[-1]
    if length is None:
        length = max(1, (n_frames - 1) * cfg.hop_length)
    window = hann(cfg.n_fft)
    gen = torch.Generator().manual_seed(gl.seed)
    if gl.init == "random":
        phase = torch.rand(mag.shape, generator=gen) * (2 * np.pi)
        angles = torch.polar(torch.ones_like(mag), phase)
    else:
        angles = torch.ones_like(mag, dtype=torch.complex64)

    def istft(spec: torch.Tensor) -> torch.Tensor:
        return torch.istft(spec, cfg.n_fft, cfg.hop_length, window=window, center=True, length=length)

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(
            x, cfg.n_fft, cfg.hop_length, window=window, center=True, pad_mode="reflect", return_complex=True
        )

    prev = torch.zeros_like(angles)
    alpha = gl.momentum / (1.0 + gl.momentum)
    for _ in range(gl.n_iter):
        rebuilt = stft(istft(mag * angles))
        angles = rebuilt - alpha * prev
        angles = angles / angles.abs().clamp_min(1e-16)
        prev = rebuilt
    audio = istft(mag * angles)
    return torch.nan_to_num(audio).clamp(-1.0, 1.0)


def mel_to_audio(
    mel_db: np.ndarray | torch.Tensor,
    cfg: AudioConfig = DEFAULT_AUDIO,
    gl: GriffinLimConfig = DEFAULT_GL,
    length: int | None = None,
) -> np.ndarray:
    """Log-mel (power dB) -> float32 audio in [-1, 1]: mel inversion then fast Griffin-Lim."""
    with torch.no_grad():
        mag = mel_to_linear(mel_db, cfg, n_iter=gl.nnls_iter)
        audio = griffin_lim(mag, cfg, gl, length=length)
    return audio.numpy().astype(np.float32)
