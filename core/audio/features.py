"""Log-mel spectrograms and the classic hand-crafted baseline, from one shared STFT.

The STFT is computed once per track with `torch.stft` (torchaudio is not used: its
only wheel needs CUDA libraries). Every baseline feature is derived from that same
STFT or from cheap time-domain framing, so audio is decoded and transformed once.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft
import scipy.stats
import torch

from core.audio.config import DEFAULT_AUDIO, AudioConfig

N_MFCC = 20
CHUNK_FRAMES = 4096  # STFT frames per chunk (~95 s): bounds memory for long files
STATS = ("mean", "std", "skew", "kurtosis", "median", "min", "max")
FRAME_FEATURES: tuple[tuple[str, int], ...] = (
    ("mfcc", N_MFCC),
    ("chroma", 12),
    ("tonnetz", 6),
    ("contrast", 7),
    ("centroid", 1),
    ("bandwidth", 1),
    ("rolloff", 1),
    ("zcr", 1),
    ("rms", 1),
)
EPS = 1e-10


@lru_cache(maxsize=8)
def mel_filterbank(cfg: AudioConfig = DEFAULT_AUDIO) -> np.ndarray:
    """Slaney-normalised mel filterbank [n_mels, 1 + n_fft // 2] (librosa's filters)."""
    return librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
    ).astype(np.float32)


@lru_cache(maxsize=8)
def _chroma_filterbank(cfg: AudioConfig) -> np.ndarray:
    """Chroma filterbank [12, 1 + n_fft // 2] mapping STFT bins to pitch classes."""
    return librosa.filters.chroma(sr=cfg.sample_rate, n_fft=cfg.n_fft).astype(np.float32)


@lru_cache(maxsize=8)
def _tonnetz_matrix() -> np.ndarray:
    """The 6x12 projection of L1-normalised chroma onto fifths, minor and major thirds."""
    pc = np.arange(12)
    r = (1.0, 1.0, 0.5)
    angles = (7 * np.pi / 6, 3 * np.pi / 2, 2 * np.pi / 3)
    rows = []
    for radius, a in zip(r, angles):
        rows += [radius * np.sin(a * pc), radius * np.cos(a * pc)]
    return np.asarray(rows, dtype=np.float32)


@lru_cache(maxsize=8)
def _contrast_bands(cfg: AudioConfig) -> list[tuple[int, int]]:
    """STFT bin ranges of the 7 octave bands used by spectral contrast (200 Hz up)."""
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
    edges = 200.0 * 2.0 ** np.arange(7)
    bands = [(0, int(np.searchsorted(freqs, edges[0])))]
    for lo, hi in zip(edges[:-1], edges[1:]):
        bands.append((int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi))))
    bands[-1] = (bands[-1][0], len(freqs))
    return bands


def baseline_names() -> list[str]:
    """Names of the baseline vector's entries, e.g. 'mfcc_03_mean'."""
    names = []
    for feat, dim in FRAME_FEATURES:
        for i in range(dim):
            base = feat if dim == 1 else f"{feat}_{i + 1:02d}"
            names += [f"{base}_{s}" for s in STATS]
    return names


def stft_power(audio: np.ndarray, cfg: AudioConfig = DEFAULT_AUDIO) -> np.ndarray:
    """Power spectrogram |STFT|^2 [1 + n_fft // 2, frames] (centred, reflect-padded)."""
    return np.concatenate([p for _, p in _stft_chunks(audio, cfg)], axis=1)


def log_mel(audio: np.ndarray, cfg: AudioConfig = DEFAULT_AUDIO) -> np.ndarray:
    """Log-mel spectrogram in power dB [n_mels, frames], floored at cfg.top_db_floor."""
    fb = mel_filterbank(cfg)
    return np.concatenate([_power_db(fb @ p, cfg) for _, p in _stft_chunks(audio, cfg)], axis=1)


def analyze(audio: np.ndarray, cfg: AudioConfig = DEFAULT_AUDIO) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel [n_mels, frames] and the baseline feature vector of one track, one STFT pass."""
    fb = mel_filterbank(cfg)
    mels, frame_feats = [], []
    for start, power in _stft_chunks(audio, cfg):
        db = _power_db(fb @ power, cfg)
        mels.append(db)
        frame_feats.append(_frame_features(power, db, audio, start, cfg))
    mel = np.concatenate(mels, axis=1)
    per_frame = np.concatenate(frame_feats, axis=1)
    return mel, summarize(per_frame)


def summarize(per_frame: np.ndarray) -> np.ndarray:
    """Seven statistics per row (mean, std, skew, kurtosis, median, min, max), flattened."""
    x = per_frame.astype(np.float64)
    # constant rows (a pure tone's chroma, digital padding) make skew/kurtosis undefined:
    # they become 0 below, so scipy's precision-loss warnings are noise here
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = np.stack(
            [
                x.mean(1),
                x.std(1),
                scipy.stats.skew(x, axis=1),
                scipy.stats.kurtosis(x, axis=1),
                np.median(x, 1),
                x.min(1),
                x.max(1),
            ],
            axis=1,
        )
    return np.nan_to_num(stats, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32).ravel()


def _stft_chunks(audio: np.ndarray, cfg: AudioConfig):
    """Yield (first_frame, power [bins, frames]) chunks of the centred STFT of `audio`.

    Equal to `torch.stft(audio, center=True, pad_mode="reflect")` (constant padding for
    clips shorter than half a window), but each chunk pads only its own stretch of audio,
    so no padded copy of a whole long track is ever made.
    """
    audio = np.asarray(audio, dtype=np.float32)
    half, hop, n = cfg.n_fft // 2, cfg.hop_length, audio.size
    mode = "reflect" if n > half else "constant"
    n_frames = 1 + n // hop
    window = torch.hann_window(cfg.n_fft)
    for f0 in range(0, n_frames, CHUNK_FRAMES):
        f1 = min(n_frames, f0 + CHUNK_FRAMES)
        a, e = f0 * hop - half, (f1 - 1) * hop + half  # samples this chunk covers (may overhang)
        w0, w1 = max(a - half, 0), min(e + half, n)  # with context for the reflection
        left, right = max(0, -a), max(0, e - n)
        seg = np.pad(audio[w0:w1], (left, right), mode=mode) if left or right else audio[w0:w1]
        off = a - w0 + left
        seg = torch.from_numpy(np.ascontiguousarray(seg[off : off + e - a]))
        spec = torch.stft(seg, cfg.n_fft, hop, window=window, center=False, return_complex=True)
        yield f0, (spec.real.square() + spec.imag.square()).numpy()


def _power_db(power: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Power to decibels with the configured floor."""
    return np.maximum(10.0 * np.log10(np.maximum(power, EPS)), cfg.top_db_floor).astype(np.float32)


def _frame_features(
    power: np.ndarray, mel_db: np.ndarray, audio: np.ndarray, f0: int, cfg: AudioConfig
) -> np.ndarray:
    """Per-frame classic features [50, frames] from one STFT chunk."""
    mag = np.sqrt(power)
    n = power.shape[1]
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate).astype(np.float32)[:, None]
    mfcc = scipy.fft.dct(mel_db, type=2, axis=0, norm="ortho")[:N_MFCC]
    chroma = _chroma_filterbank(cfg) @ power
    chroma /= np.maximum(chroma.max(axis=0, keepdims=True), EPS)
    tonnetz = _tonnetz_matrix() @ (chroma / np.maximum(chroma.sum(axis=0, keepdims=True), EPS))
    contrast = _spectral_contrast(power, cfg)
    mag_sum = np.maximum(mag.sum(axis=0), EPS)
    centroid = (freqs * mag).sum(axis=0) / mag_sum
    bandwidth = np.sqrt(((freqs - centroid) ** 2 * mag).sum(axis=0) / mag_sum)
    cum = np.cumsum(mag, axis=0)
    rolloff = freqs[np.argmax(cum >= 0.85 * cum[-1:], axis=0), 0]
    rms = np.sqrt(np.maximum(power.sum(axis=0) * 2.0 / cfg.n_fft**2, 0.0))
    zcr = _zero_crossing_rate(audio, f0, n, cfg)
    return np.vstack([mfcc, chroma, tonnetz, contrast, centroid, bandwidth, rolloff, zcr, rms]).astype(np.float32)


def _spectral_contrast(power: np.ndarray, cfg: AudioConfig, quantile: float = 0.02) -> np.ndarray:
    """Octave-band peak-minus-valley contrast in dB [7, frames] (librosa's definition)."""
    out = np.empty((7, power.shape[1]), np.float32)
    for i, (lo, hi) in enumerate(_contrast_bands(cfg)):
        band = np.sort(power[lo:hi], axis=0)
        k = max(1, int(round(quantile * band.shape[0])))
        valley = band[:k].mean(axis=0)
        peak = band[-k:].mean(axis=0)
        out[i] = 10.0 * (np.log10(peak + EPS) - np.log10(valley + EPS))
    return out


def _zero_crossing_rate(audio: np.ndarray, f0: int, n: int, cfg: AudioConfig) -> np.ndarray:
    """Fraction of sign changes per centred frame, aligned with the STFT frames.

    Only the samples under this chunk's frames are scanned, so the work and memory per
    chunk stay bounded however long the track is.
    """
    half = cfg.n_fft // 2
    last = audio.size - 1
    centers = (np.arange(f0, f0 + n) * cfg.hop_length).clip(0, last)
    lo = (centers - half).clip(0, last)
    hi = (centers + half).clip(0, last)
    a, b = int(lo[0]), int(hi[-1])
    signs = np.signbit(audio[a : b + 1])
    crossings = np.concatenate([[0], np.cumsum(signs[1:] != signs[:-1], dtype=np.int32)])
    return (crossings[hi - a] - crossings[lo - a]) / float(cfg.n_fft)
