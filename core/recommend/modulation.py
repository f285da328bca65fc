"""Modulation spectrum of a log-mel window: a rhythm/texture view that a short window cannot give.

The 128 mel bins are averaged into `n_bands` contiguous bands; each band's envelope over the
window is mean-removed, Hann-tapered and Fourier-transformed over time; magnitudes between
`min_hz` and `max_hz` (at the frame rate sample_rate / hop_length of the cache the window came
from: 43.07 Hz with `DEFAULT_AUDIO`; models pass their stored one) are averaged into
`n_mod_bins` log-spaced bins (or kept at full resolution with `n_mod_bins=None`) and
log-compressed. The result is a small map [n_bands, n_mod] whose peaks sit at the beat/onset
rates of each band (e.g. 2 Hz for 120 BPM). Optionally each band's mean level and standard
deviation over the window (a coarse timbre/texture summary) are prepended as two columns.

```python
m = modulation_spectrum(x, 16, n_mod_bins=8)   # x [B, 128, T] -> [B, 16, 8]
```
"""

from __future__ import annotations

import numpy as np
import torch

from core.audio.config import DEFAULT_AUDIO

DEFAULT_FRAME_RATE = DEFAULT_AUDIO.sample_rate / DEFAULT_AUDIO.hop_length


def band_matrix(n_mels: int, n_bands: int) -> torch.Tensor:
    """[n_bands, n_mels] averaging matrix over contiguous, near-equal groups of mel bins."""
    if not 1 <= n_bands <= n_mels:
        raise ValueError(f"n_bands must be in 1..{n_mels}, got {n_bands}")
    edges = np.linspace(0, n_mels, n_bands + 1).round().astype(int)
    w = torch.zeros(n_bands, n_mels)
    for b in range(n_bands):
        w[b, edges[b]: edges[b + 1]] = 1.0 / max(edges[b + 1] - edges[b], 1)
    return w


def modulation_bins(n_frames: int, n_mod_bins: int | None = 8, min_hz: float = 0.5, max_hz: float = 16.0,
                    frame_rate: float = DEFAULT_FRAME_RATE) -> tuple[torch.Tensor, np.ndarray]:
    """([n_rfft, n_mod] averaging matrix from rfft bins to modulation bins, bin centres in Hz).

    `n_mod_bins=None`: every rfft bin in [min_hz, max_hz] is its own bin (linear resolution
    frame_rate / n_frames). Otherwise log-spaced bins; a bin narrower than the FFT resolution
    takes the nearest rfft bin.
    """
    f = np.fft.rfftfreq(int(n_frames), d=1.0 / frame_rate)
    if n_mod_bins is None:
        idx = np.nonzero((f >= min_hz - 1e-9) & (f <= max_hz + 1e-9) & (f > 0))[0]
        if len(idx) == 0:
            raise ValueError(f"window of {n_frames} frames has no modulation bin in [{min_hz}, {max_hz}] Hz")
        groups = [[int(i)] for i in idx]
        centres = f[idx]
    else:
        if n_mod_bins < 1 or not 0 < min_hz < max_hz:
            raise ValueError("need n_mod_bins >= 1 and 0 < min_hz < max_hz")
        edges = np.geomspace(min_hz, max_hz, n_mod_bins + 1)
        groups = []
        for a, b in zip(edges[:-1], edges[1:]):
            idx = np.nonzero((f >= a) & (f < b))[0]
            groups.append([int(i) for i in idx] or [int(np.argmin(np.abs(f - np.sqrt(a * b))))])
        centres = np.sqrt(edges[:-1] * edges[1:])
    w = torch.zeros(len(f), len(groups))
    for j, g in enumerate(groups):
        w[g, j] = 1.0 / len(g)
    return w, np.asarray(centres, dtype=np.float64)


def modulation_spectrum(x: torch.Tensor, bands: torch.Tensor | int = 16, n_mod_bins: int | None = 8,
                        min_hz: float = 0.5, max_hz: float = 16.0, keep_stats: bool = False,
                        frame_rate: float = DEFAULT_FRAME_RATE, eps: float = 1e-2,
                        mod_matrix: torch.Tensor | None = None) -> torch.Tensor:
    """Log modulation spectrum of log-mel windows x [B, n_mels, T] -> [B, n_bands, n_mod (+2)].

    `bands` is an averaging matrix from `band_matrix` or a band count; `mod_matrix` (optional)
    the matrix of `modulation_bins` for this window length. With `keep_stats` each band's std
    and mean over the window are prepended as columns 0 and 1.
    """
    if x.dim() == 2:
        x = x[None]
    n_mels, t = x.shape[1], x.shape[2]
    w = band_matrix(n_mels, bands) if isinstance(bands, int) else bands
    if mod_matrix is None:
        mod_matrix, _ = modulation_bins(t, n_mod_bins, min_hz, max_hz, frame_rate)
    env = torch.einsum("bm,nmt->nbt", w.to(x), x)
    mean = env.mean(-1, keepdim=True)
    taper = torch.hann_window(t, periodic=False, dtype=x.dtype, device=x.device)
    spec = torch.fft.rfft((env - mean) * taper, dim=-1).abs() / taper.sum()
    out = torch.log(spec @ mod_matrix.to(spec) + eps)
    if keep_stats:
        out = torch.cat([env.std(-1, keepdim=True), mean, out], -1)
    return out
