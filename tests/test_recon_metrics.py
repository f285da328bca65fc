"""Reconstruction metrics against hand-computed values (core.latent.metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from core.latent.metrics import (
    audio_metrics,
    log_spectral_distance,
    logmel_l1,
    logmel_mse,
    multi_resolution_stft,
    spectral_convergence,
)


def test_logmel_errors_hand_computed() -> None:
    a = np.array([[0.0, -10.0], [-20.0, -30.0]])
    b = np.array([[1.0, -12.0], [-20.0, -26.0]])
    # differences 1, 2, 0, 4 -> mse (1+4+0+16)/4, l1 (1+2+0+4)/4
    assert logmel_mse(a, b) == pytest.approx(21 / 4)
    assert logmel_l1(a, b) == pytest.approx(7 / 4)


def test_logmel_trims_to_common_length() -> None:
    a = np.zeros((2, 5))
    b = np.ones((2, 3))
    assert logmel_mse(a, b) == pytest.approx(1.0)


def test_spectral_convergence_hand_computed() -> None:
    ref = np.array([[3.0, 0.0], [0.0, 4.0]])  # ||ref|| = 5
    est = np.array([[3.0, 0.0], [0.0, 1.0]])  # ||ref - est|| = 3
    assert spectral_convergence(ref, est) == pytest.approx(3 / 5)
    assert spectral_convergence(ref, np.zeros_like(ref)) == pytest.approx(1.0)
    assert spectral_convergence(ref, ref) == 0.0


def test_log_spectral_distance_hand_computed() -> None:
    ref = np.ones((4, 3))
    est = np.full((4, 3), 10.0)  # every bin differs by exactly 10 dB
    assert log_spectral_distance(ref, est) == pytest.approx(10.0)
    # one frame 10 dB off in all bins, another identical -> mean over frames = 5
    ref2 = np.ones((4, 2))
    est2 = np.array([[10.0, 1.0]] * 4)
    assert log_spectral_distance(ref2, est2) == pytest.approx(5.0)


def test_lsd_floor_ignores_inaudible_bins() -> None:
    ref = np.array([[1.0], [1e-12]])
    est = np.array([[1.0], [1e-15]])  # both far below the 80 dB floor
    assert log_spectral_distance(ref, est) == pytest.approx(0.0)


def test_silent_signals_give_finite_metrics() -> None:
    sr = 22050
    silent = np.zeros(sr, np.float32)
    noise = (0.1 * np.random.default_rng(0).standard_normal(sr)).astype(np.float32)
    for ref, est in ((silent, silent), (silent, noise), (noise, silent)):
        m = audio_metrics(ref, est)
        assert all(np.isfinite(v) for v in m.values()), m
    higher_better = {"onset_corr", "chroma_cos"}  # 1 = the same rhythm / harmony
    for m in (audio_metrics(silent, silent), audio_metrics(noise, noise)):
        assert all(v == pytest.approx(1.0 if k in higher_better else 0.0, abs=1e-6) for k, v in m.items()), m
    lost = audio_metrics(noise, silent)  # everything lost: no rhythm, no harmony left
    assert lost["chroma_cos"] == 0.0 and lost["onset_corr"] == 0.0


def test_mrstft_orders_distortions() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(22050) / 22050
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    small = x + 0.01 * rng.standard_normal(len(x)).astype(np.float32)
    big = x + 0.2 * rng.standard_normal(len(x)).astype(np.float32)
    assert 0 < multi_resolution_stft(x, small) < multi_resolution_stft(x, big)
