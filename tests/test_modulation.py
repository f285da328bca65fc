"""Modulation-spectrum transform and the modspec_dense autoencoder built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.recommend.autoencoders import build_model, model_from_config
from core.recommend.modulation import DEFAULT_FRAME_RATE, band_matrix, modulation_bins, modulation_spectrum


def _click_track(period: int, n_mels: int = 128, n_frames: int = 216) -> torch.Tensor:
    """Decaying clicks every `period` frames in every mel bin (log-mel-like envelope)."""
    t = np.arange(n_frames)
    env = np.exp(-(t % period) / 4.0)
    return torch.tensor(np.tile(env, (n_mels, 1)), dtype=torch.float32)


def test_band_matrix_averages_contiguous_bins() -> None:
    w = band_matrix(128, 16)
    assert w.shape == (16, 128)
    assert torch.allclose(w.sum(1), torch.ones(16))
    assert (w > 0).sum(0).eq(1).all()  # every mel bin in exactly one band
    with pytest.raises(ValueError):
        band_matrix(8, 9)


def test_click_track_peaks_at_its_tempo_linear() -> None:
    period = 27  # 216 / 27 = 8 clicks per window -> 43.07 / 27 = 1.595 Hz (95.7 BPM)
    x = _click_track(period)
    spec = modulation_spectrum(x, 16, n_mod_bins=None, min_hz=0.1, max_hz=20.0)
    _, freqs = modulation_bins(216, None, 0.1, 20.0)
    assert spec.shape == (1, 16, len(freqs))
    peak = freqs[spec[0].argmax(-1).numpy()]
    assert np.allclose(peak, DEFAULT_FRAME_RATE / period, atol=DEFAULT_FRAME_RATE / 216 / 2)


def test_click_track_peaks_in_the_right_log_bin() -> None:
    for period in (16, 22, 30):  # 2.69, 1.96, 1.44 Hz
        x = _click_track(period)[None].repeat(2, 1, 1)
        spec = modulation_spectrum(x, 8, n_mod_bins=8, min_hz=0.5, max_hz=16.0)
        edges = np.geomspace(0.5, 16.0, 9)
        want = int(np.searchsorted(edges, DEFAULT_FRAME_RATE / period) - 1)
        assert (spec.argmax(-1) == want).all(), (period, spec[0, 0])


def test_static_input_has_no_modulation_and_stats_columns() -> None:
    x = torch.randn(3, 128, 1) * torch.ones(3, 128, 64)  # constant over time
    spec = modulation_spectrum(x, 16, n_mod_bins=8, keep_stats=True)
    assert spec.shape == (3, 16, 10)
    assert torch.allclose(spec[..., 0], torch.zeros(3, 16), atol=1e-5)  # std of a constant band
    assert torch.allclose(spec[..., 1], torch.einsum("bm,nm->nb", band_matrix(128, 16), x[..., 0]), atol=1e-5)
    assert torch.allclose(spec[..., 2:], torch.full((3, 16, 8), float(np.log(1e-2))), atol=1e-4)


@pytest.mark.parametrize("n_frames,n_bands,latent", [(64, 32, 64), (128, 16, 8), (216, 24, 32)])
def test_modspec_dense_shapes_loss_and_config(n_frames: int, n_bands: int, latent: int) -> None:
    torch.manual_seed(0)
    m = build_model("modspec_dense", n_mels=128, n_frames=n_frames, latent_dim=latent, n_bands=n_bands)
    x = torch.randn(4, 128, n_frames)
    f = m.features(x)
    assert f.shape == (4, n_bands, 8 + 2)
    z = m.encode(x)
    assert z.shape == (4, latent)
    assert m.decode(z).shape == f.shape
    m.train()
    assert torch.isfinite(m.loss(x))
    m.eval()
    with torch.no_grad():
        assert torch.allclose(m.loss(x), torch.mean((m(x) - f) ** 2))
    m2 = model_from_config(m.config())
    m2.load_state_dict(m.state_dict())
    m2.eval()
    with torch.no_grad():
        assert torch.allclose(m2.encode(x), m.encode(x))


def test_modspec_dense_objectives_and_linear_bins() -> None:
    for obj in ("denoise", "shift", "denoise_shift"):
        m = build_model("modspec_dense", n_mels=32, n_frames=128, latent_dim=8, objective=obj,
                        n_bands=8, n_mod_bins=None, keep_stats=False, hidden=[32])
        m.train()
        x, x2 = torch.randn(3, 32, 128), torch.randn(3, 32, 128)
        assert torch.isfinite(m.loss((x, x2)))
        assert m.decode(m.encode(x)).shape == m.features(x).shape == (3, 8, m.n_mod)


def test_modspec_uses_the_stored_frame_rate_and_refuses_other_audio() -> None:
    from dataclasses import replace

    from core.audio.config import DEFAULT_AUDIO
    from core.recommend.autoencoders import AudioMismatch

    period = 27
    x = _click_track(period)[None]
    slow = build_model("modspec_dense", n_mels=128, n_frames=216, latent_dim=4, n_mod_bins=None, min_hz=0.1,
                       max_hz=20.0, keep_stats=False, hop_length=2 * DEFAULT_AUDIO.hop_length)
    assert slow.frame_rate == pytest.approx(DEFAULT_FRAME_RATE / 2)
    _, freqs = modulation_bins(216, None, 0.1, 20.0, slow.frame_rate)
    peak = freqs[slow.features(x)[0].argmax(-1).numpy()]
    assert np.allclose(peak, slow.frame_rate / period, atol=slow.frame_rate / 216 / 2)
    assert model_from_config(slow.config()).frame_rate == slow.frame_rate
    slow.check_audio(replace(DEFAULT_AUDIO, hop_length=2 * DEFAULT_AUDIO.hop_length))
    with pytest.raises(AudioMismatch, match="hop_length: model 1024 vs cache 512"):
        slow.check_audio(DEFAULT_AUDIO)
