"""Autoencoders: shapes for any window/latent size, objectives, config round trip."""

from __future__ import annotations

import pytest
import torch

from core.recommend.autoencoders import MODELS, OBJECTIVES, build_model, model_from_config


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("n_frames,latent", [(216, 8), (128, 256), (100, 32)])
def test_encode_decode_shapes(name: str, n_frames: int, latent: int) -> None:
    m = build_model(name, n_mels=64 if name == "dense" else 128, n_frames=n_frames, latent_dim=latent)
    x = torch.randn(3, m.n_mels, n_frames)
    z = m.encode(x)
    assert z.shape == (3, latent)
    # modspec_dense reconstructs its modulation map, the others the mel window itself
    target = m.features(x) if hasattr(m, "features") else x
    assert m.decode(z).shape == target.shape


def test_conv2d_full_segment_contract() -> None:
    """The latent-size study builds conv2d on full 5-s segments with latent 8..256."""
    for k in (8, 16, 64, 256):
        m = build_model("conv2d", n_mels=128, n_frames=216, latent_dim=k).eval()
        x = torch.randn(2, 128, 216)
        with torch.no_grad():
            assert m(x).shape == x.shape
            assert m.encode(x).shape == (2, k)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_objectives_give_finite_loss_and_clean_eval(objective: str) -> None:
    torch.manual_seed(0)
    m = build_model("conv1d", n_mels=32, n_frames=16, latent_dim=8, objective=objective)
    x, x2 = torch.randn(4, 32, 16), torch.randn(4, 32, 16)
    m.train()
    loss = m.loss((x, x2))
    assert torch.isfinite(loss)
    loss.backward()
    m.eval()
    with torch.no_grad():
        clean = torch.nn.functional.mse_loss(m(x), x)
        assert torch.allclose(m.loss((x, x2)), clean)


def test_config_round_trip_and_errors() -> None:
    m = build_model("dense", n_mels=16, n_frames=8, latent_dim=4, hidden=[32])
    m2 = model_from_config(m.config())
    m2.load_state_dict(m.state_dict())
    assert m2.config() == m.config()
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer")
    with pytest.raises(ValueError, match="objective"):
        build_model("dense", objective="contrastive")


def test_model_stores_audio_settings_and_refuses_another_cache() -> None:
    from dataclasses import replace

    from core.audio.config import DEFAULT_AUDIO
    from core.recommend.autoencoders import AudioMismatch
    from core.recommend.embeddings import embed_tracks
    from core.recommend.windows import compute_mel_stats
    from tests.helpers.fake_cache import FakeCache

    m = build_model("dense", n_mels=16, n_frames=8, latent_dim=4, hidden=[8])
    kw = m.config()["kwargs"]
    assert (kw["sample_rate"], kw["hop_length"]) == (DEFAULT_AUDIO.sample_rate, DEFAULT_AUDIO.hop_length)
    fc = FakeCache(n_tracks=6, n_mels=16, frames=12)
    assert fc.config.n_mels == fc.mels.shape[1] == 16
    stats = compute_mel_stats(fc, fc.split_rows("train"))
    assert embed_tracks(m, fc, stats, window=8).pooled["mean"].shape == (6, 4)
    fc.config = replace(fc.config, sample_rate=16000)
    with pytest.raises(AudioMismatch, match="sample_rate: model 22050 vs cache 16000"):
        embed_tracks(m, fc, stats, window=8)
    with pytest.raises(AudioMismatch, match="n_mels"):
        build_model("dense", n_mels=32, n_frames=8, latent_dim=4).check_audio(DEFAULT_AUDIO.__class__(n_mels=16))
