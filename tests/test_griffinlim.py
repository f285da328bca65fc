"""Mel inversion and fast Griffin-Lim (core.latent.griffinlim)."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio.config import DEFAULT_AUDIO
from core.audio.features import log_mel
from core.latent.griffinlim import GriffinLimConfig, db_to_power, mel_to_audio, mel_to_linear

SR = DEFAULT_AUDIO.sample_rate


def _tone(freq: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(audio: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / SR)[spec.argmax()])


@pytest.mark.parametrize("freq", [220.0, 440.0, 1000.0, 3000.0])
def test_pure_tone_pitch_recovered(freq: float) -> None:
    mel = log_mel(_tone(freq))
    audio = mel_to_audio(mel, gl=GriffinLimConfig(n_iter=32))
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert len(audio) == (mel.shape[1] - 1) * DEFAULT_AUDIO.hop_length
    # the mel bands around the tone are a few STFT bins wide; allow 3 % error
    assert abs(_peak_hz(audio) - freq) / freq < 0.03
    assert np.max(np.abs(audio)) > 0.05


def test_mel_inversion_matches_mel_power() -> None:
    mel = log_mel(_tone(440.0, 1.0) + 0.01 * np.random.default_rng(0).standard_normal(SR).astype(np.float32))
    mag = mel_to_linear(mel).numpy()
    assert mag.shape == (DEFAULT_AUDIO.n_fft // 2 + 1, mel.shape[1]) and (mag >= 0).all()
    from core.audio.features import mel_filterbank

    rebuilt = 10 * np.log10(np.maximum(mel_filterbank() @ mag**2, 1e-10))
    assert np.mean(np.abs(rebuilt - mel)) < 1.0  # dB


def test_silent_mel_gives_silence_without_nan() -> None:
    mel = np.full((DEFAULT_AUDIO.n_mels, 40), DEFAULT_AUDIO.top_db_floor, np.float32)
    assert float(db_to_power(mel).max()) == 0.0
    audio = mel_to_audio(mel, gl=GriffinLimConfig(n_iter=4))
    assert np.isfinite(audio).all() and np.abs(audio).max() < 1e-6


def test_batched_inversion() -> None:
    mel = np.stack([log_mel(_tone(330.0, 1.0)), log_mel(_tone(660.0, 1.0))])
    audio = mel_to_audio(mel, gl=GriffinLimConfig(n_iter=16))
    assert audio.shape[0] == 2
    assert abs(_peak_hz(audio[0]) - 330) < 15 and abs(_peak_hz(audio[1]) - 660) < 25
