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


def _toy_frames(ds, n_rows: int, dim: int = 6, short_row: int = 1, missing_row: int = 2, seed: int = 0) -> None:
    """A frame store with a genre-like offset per row, one short track and one track without frames."""
    import numpy as np

    from core.encoders.frames import FrameInfo, write_frames

    rng = np.random.default_rng(seed)
    per_row = {}
    for r in range(n_rows):
        if r == missing_row:
            continue
        t = 3 if r == short_row else 12 + r % 5
        per_row[r] = rng.normal(r % 3, 1.0, (t, dim)).astype(np.float32)
    write_frames(ds, "toy", per_row, [f"t{r:02d}" for r in range(n_rows)],
                 FrameInfo(encoder="toy", dim=dim, sample_rate=16000, hop_s=0.5))


def test_frame_windows_tile_standardise_and_cover_every_track(tmp_path) -> None:
    import numpy as np

    from core.encoders.frames import FrameStore
    from core.recommend.frame_windows import (
        FixedFrameWindows,
        FrameCropDataset,
        FrameTable,
        compute_frame_stats,
    )

    _toy_frames(tmp_path, 6)
    table = FrameTable(FrameStore(tmp_path, "toy"))
    assert table.length.tolist()[:3] == [12, 3, 0]
    w = table.window(1, 0, 8)  # 3 frames tiled to 8
    assert w.shape == (8, 6) and np.allclose(w[3:6], w[0:3])
    stats = compute_frame_stats(table, [0, 3, 4])
    frames = np.concatenate([np.asarray(FrameStore(tmp_path, "toy").of_row(r), np.float32) for r in (0, 3, 4)])
    assert np.allclose(stats.mean, frames.mean(0), atol=1e-4)
    fixed = FixedFrameWindows(table, np.arange(6), stats, window=8, hop=4)
    assert sorted({r for r, _ in fixed.items}) == [0, 1, 3, 4, 5]  # row 2 has no frames
    x, r = fixed[0]
    assert x.shape == (6, 8) and r == 0
    crops = FrameCropDataset(table, [0, 1, 3], stats, window=8, n_views=2, samples_per_epoch=10, seed=1)
    a, b = crops[0]
    assert len(crops) == 10 and a.shape == b.shape == (6, 8)


def test_contrast_objective_pulls_crops_of_one_track_together() -> None:
    torch.manual_seed(0)
    m = build_model("dense", n_mels=6, n_frames=8, latent_dim=4, objective="contrast", hidden=[16],
                    contrast_weight=1.0)
    x = torch.randn(8, 6, 8)
    m.train()
    same = m.pair_term(m.encode(torch.cat([x, x], 0)))
    other = m.pair_term(m.encode(torch.cat([x, x.roll(1, 0)], 0)))
    assert torch.isfinite(same) and same < other  # matching pairs give a lower InfoNCE loss
    m.eval()
    with torch.no_grad():
        assert torch.allclose(m.loss((x, x)), torch.nn.functional.mse_loss(m(x), x))
