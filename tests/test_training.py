"""The shared training loop: loss falls, resume, architecture mismatch, NaN stop; windows over the cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.nn.loop import CheckpointMismatch, TrainConfig, fit, load_checkpoint, load_model
from core.recommend.autoencoders import build_model, model_from_config
from core.recommend.windows import FixedWindowDataset, RandomCropDataset, compute_mel_stats, window_starts
from tests.helpers.fake_cache import FakeCache


def _loaders(n_views: int = 1) -> tuple[FakeCache, DataLoader, DataLoader]:
    fc = FakeCache(n_tracks=12, n_mels=16, frames=24)
    stats = compute_mel_stats(fc, fc.split_rows("train"))
    tr = RandomCropDataset(fc, fc.split_rows("train"), stats, window=16, n_views=n_views,
                           samples_per_epoch=64, seed=0)
    va = FixedWindowDataset(fc, fc.split_rows("val"), stats, window=16, hop=8)
    return fc, DataLoader(tr, batch_size=16, shuffle=True), DataLoader(va, batch_size=16)


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(run_name="r", max_epochs=4, patience=10, lr=3e-3, out_dir=tmp_path, progress=False,
                log_images_every=2)
    base.update(kw)
    return TrainConfig(**base)


def test_windows_shapes_and_standardisation() -> None:
    fc = FakeCache(n_tracks=6, n_mels=16, frames=24)
    stats = compute_mel_stats(fc, np.arange(6))
    ds = FixedWindowDataset(fc, np.arange(6), stats, window=16, hop=8)
    assert window_starts(24, 16, 8) == [0, 8]
    assert len(ds) == 6 * 2 * 2
    x, row = ds[0]
    assert x.shape == (16, 16) and x.dtype == torch.float32 and row == 0
    allx = torch.stack([ds[i][0] for i in range(len(ds))])
    assert abs(float(allx.mean())) < 0.2 and 0.7 < float(allx.std()) < 1.3
    pair = RandomCropDataset(fc, np.arange(6), stats, window=16, n_views=2)[3]
    assert isinstance(pair, tuple) and pair[0].shape == (16, 16)
    with pytest.raises(ValueError, match="longer"):
        FixedWindowDataset(fc, np.arange(6), stats, window=64)


def test_fit_lowers_val_loss_writes_checkpoints_and_tensorboard(tmp_path: Path) -> None:
    _, tl, vl = _loaders()
    torch.manual_seed(0)
    m = build_model("conv1d", n_mels=16, n_frames=16, latent_dim=8, channels=[32, 32])
    res = fit(m, tl, vl, _cfg(tmp_path))
    vals = [h["val_loss"] for h in res.history]
    assert vals[-1] < vals[0]
    assert res.best_checkpoint.exists() and res.last_checkpoint.exists()
    assert res.epochs == 4 and math.isfinite(res.best_train_loss)
    assert list((tmp_path / "runs" / "r").glob("events.out.tfevents*"))
    m2, ck = load_model(res.best_checkpoint, model_from_config)
    assert ck["model_config"] == m.config()


def test_resume_continues_and_mismatch_is_refused(tmp_path: Path) -> None:
    _, tl, vl = _loaders()
    m = build_model("dense", n_mels=16, n_frames=16, latent_dim=8, hidden=[32])
    fit(m, tl, vl, _cfg(tmp_path, max_epochs=2))
    m = build_model("dense", n_mels=16, n_frames=16, latent_dim=8, hidden=[32])
    res = fit(m, tl, vl, _cfg(tmp_path, max_epochs=3, resume=True))
    assert res.epochs == 3 and len(res.history) == 3
    last = tmp_path / "checkpoints" / "r" / "last.pt"
    before = last.read_bytes()
    for other in (build_model("dense", n_mels=16, n_frames=16, latent_dim=4, hidden=[32]),
                  build_model("conv1d", n_mels=16, n_frames=16, latent_dim=8)):
        with pytest.raises(CheckpointMismatch, match="different model"):
            fit(other, tl, vl, _cfg(tmp_path, max_epochs=5, resume=True))
    assert last.read_bytes() == before


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    _, tl, vl = _loaders()
    m = build_model("dense", n_mels=16, n_frames=16, latent_dim=8, hidden=[32])
    fit(m, tl, vl, _cfg(tmp_path, max_epochs=1))
    good = load_checkpoint(tmp_path / "checkpoints" / "r" / "last.pt")

    def nan_loss(model, batch):
        return model.loss(batch) * float("nan")

    res = fit(m, tl, vl, _cfg(tmp_path, max_epochs=3, resume=True), loss_fn=nan_loss)
    assert res.stopped_reason == "nan" and res.epochs == 1
    kept = load_checkpoint(tmp_path / "checkpoints" / "r" / "last.pt")
    assert kept["epoch"] == good["epoch"]
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values() if v.is_floating_point())


def test_shift_objective_trains(tmp_path: Path) -> None:
    _, tl, vl = _loaders(n_views=2)
    m = build_model("conv2d", n_mels=16, n_frames=16, latent_dim=8, channels=[4, 8], objective="denoise_shift")
    res = fit(m, tl, vl, _cfg(tmp_path, max_epochs=2))
    assert res.epochs == 2 and math.isfinite(res.best_val_loss)


def test_real_audio_short_training_lowers_loss(demo_dir: Path, tmp_path: Path) -> None:
    """A few steps on the real demo corpus cache lower the validation reconstruction loss."""
    from core.audio.cache import FeatureCache

    fc = FeatureCache.open(demo_dir)
    train = fc.split_rows("train")
    val = fc.split_rows("val") if len(fc.split_rows("val")) else train[:2]
    stats = compute_mel_stats(fc, train)
    tl = DataLoader(RandomCropDataset(fc, train, stats, window=64, samples_per_epoch=128, seed=0), batch_size=32,
                    shuffle=True)
    vl = DataLoader(FixedWindowDataset(fc, val, stats, window=64, hop=64), batch_size=64)
    torch.manual_seed(0)
    m = build_model("conv1d", n_mels=fc.mels.shape[1], n_frames=64, latent_dim=16, channels=[64, 64])
    res = fit(m, tl, vl, _cfg(tmp_path, max_epochs=3))
    vals = [h["val_loss"] for h in res.history]
    assert min(vals[1:]) < vals[0]


def _fresh_loaders(seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """Loaders as a new process builds them (seeded generator, seeded crop RNG): what a resumed run sees."""
    fc = FakeCache(n_tracks=12, n_mels=16, frames=24)
    stats = compute_mel_stats(fc, fc.split_rows("train"))
    tr = RandomCropDataset(fc, fc.split_rows("train"), stats, window=16, samples_per_epoch=64, seed=seed)
    va = FixedWindowDataset(fc, fc.split_rows("val"), stats, window=16, hop=8)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(tr, batch_size=16, shuffle=True, generator=gen), DataLoader(va, batch_size=16)


def _dense(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("dense", n_mels=16, n_frames=16, latent_dim=8, hidden=[32])


def _losses(history: list[dict[str, float]]) -> list[tuple[float, float]]:
    return [(h["train_loss"], h["val_loss"]) for h in history]


def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """2 epochs + resume 2 gives the same weights and history as 4 epochs straight (every RNG restored)."""
    import random

    tl, vl = _fresh_loaders()
    full = fit(_dense(), tl, vl, _cfg(tmp_path / "full", max_epochs=4))
    tl, vl = _fresh_loaders()
    fit(_dense(), tl, vl, _cfg(tmp_path / "cut", max_epochs=2))
    # the "killed" process's RNGs are gone: scramble them as a fresh interpreter would have them
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    tl, vl = _fresh_loaders()
    resumed = fit(_dense(), tl, vl, _cfg(tmp_path / "cut", max_epochs=4, resume=True))
    assert resumed.epochs == 4 and _losses(resumed.history) == _losses(full.history)
    for which in ("best.pt", "last.pt"):
        a = load_checkpoint(tmp_path / "full" / "checkpoints" / "r" / which)["state_dict"]
        b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "r" / which)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_dataset_rng_state_round_trips() -> None:
    fc = FakeCache(n_tracks=6, n_mels=16, frames=24)
    stats = compute_mel_stats(fc, np.arange(6))
    ds = RandomCropDataset(fc, np.arange(6), stats, window=8, seed=3)
    state = ds.get_rng_state()
    first = [ds[i] for i in range(5)]
    ds.set_rng_state(state)
    assert all(torch.equal(a, b) for a, b in zip(first, [ds[i] for i in range(5)]))


class _RunsCode:
    """A pickle payload that would create a file when unpickled with weights_only=False."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_crafted_checkpoint_does_not_run_code(tmp_path: Path) -> None:
    from core.nn.loop import UnreadableCheckpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "best.pt"
    torch.save({"state_dict": {}, "model_config": _RunsCode(marker)}, path)
    with pytest.raises(UnreadableCheckpoint, match="is not a readable checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", bytes(range(256)) * 8, "half"])
def test_broken_checkpoints_give_a_clear_reason(tmp_path: Path, content) -> None:
    from core.nn.loop import UnreadableCheckpoint

    path = tmp_path / "last.pt"
    if content == "half":  # a real checkpoint cut in the middle (a killed copy)
        tl, vl = _fresh_loaders()
        fit(_dense(), tl, vl, _cfg(tmp_path, max_epochs=1))
        data = (tmp_path / "checkpoints" / "r" / "last.pt").read_bytes()
        content = data[: len(data) // 2]
    path.write_bytes(content)
    with pytest.raises(UnreadableCheckpoint, match=rf"{path.name} is not a readable checkpoint \(.+\)"):
        load_checkpoint(path)


def test_checkpoints_hold_only_tensors_and_plain_types(tmp_path: Path) -> None:
    tl, vl = _fresh_loaders()
    fit(_dense(), tl, vl, _cfg(tmp_path, max_epochs=1))
    for which in ("best.pt", "last.pt"):
        torch.load(tmp_path / "checkpoints" / "r" / which, weights_only=True)  # raises on any other object
    rng = load_checkpoint(tmp_path / "checkpoints" / "r" / "last.pt")["rng"]
    assert {"torch", "numpy", "python", "loader_generator", "dataset"} <= set(rng)


def _copy_demo(src: Path, dst: Path) -> Path:
    """A writable copy of a prepared dataset's catalog and cache (no embeddings, no checkpoints)."""
    import shutil

    dst.mkdir(parents=True)
    for name in ("catalog.csv", "cache"):
        (shutil.copytree if (src / name).is_dir() else shutil.copy2)(src / name, dst / name)
    for extra in ("prepare_summary.json",):
        if (src / extra).is_file():
            shutil.copy2(src / extra, dst / extra)
    return dst


def test_cli_refuses_an_unreadable_checkpoint_on_resume(demo_dir: Path, tmp_path: Path, capsys) -> None:
    from train import autoencoders

    ds = _copy_demo(demo_dir, tmp_path / "ds")
    last = ds / "checkpoints" / "dense_ae_z8" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"\x00garbage" * 10)
    rc = autoencoders.main(["--data", str(ds), "--models", "dense", "--latent", "8", "--epochs", "2",
                            "--max-steps", "2", "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {last} is not a readable checkpoint (" in err and "Traceback" not in err


def test_same_command_twice_gives_the_same_checkpoint_and_embedding(demo_dir: Path, tmp_path: Path) -> None:
    """Same seed and flags (progress bars on or off) -> identical weights and embeddings."""
    from train import autoencoders

    outs = []
    for i, quiet in enumerate(([], ["--quiet"])):
        ds = _copy_demo(demo_dir, tmp_path / f"ds{i}")
        rc = autoencoders.main(["--data", str(ds), "--models", "conv1d", "--latent", "8", "--epochs", "2",
                                "--max-steps", "3", "--samples-per-epoch", "96", "--batch-size", "32", *quiet])
        assert rc == 0
        outs.append((load_checkpoint(ds / "checkpoints" / "conv1d_ae_z8" / "best.pt")["state_dict"],
                     np.load(ds / "embeddings" / "conv1d_ae_z8.npy")))
    (a, ea), (b, eb) = outs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert np.array_equal(ea, eb)


def test_latent_sizes_cli_refuses_an_unreadable_checkpoint(demo_dir: Path, tmp_path: Path, capsys) -> None:
    from train import latent_sizes

    ds = _copy_demo(demo_dir, tmp_path / "ds")
    best = ds / "checkpoints" / "recon_conv2d_z8" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"")
    rc = latent_sizes.main(["--data-dir", str(ds), "--sizes", "8", "--epochs", "1", "--no-umap", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {best} is not a readable checkpoint (empty file)" in err


def test_app_upload_path_refuses_a_crafted_checkpoint(demo_dir: Path, tmp_path: Path) -> None:
    """The app's upload encoder loads the study checkpoint with weights_only=True: the payload never runs."""
    from core.nn.loop import UnreadableCheckpoint
    from tests.helpers.app import demo_audio_files
    from ui.upload import encode_upload

    ds = _copy_demo(demo_dir, tmp_path / "ds")
    marker = tmp_path / "pwned"
    best = ds / "checkpoints" / "recon_conv2d_z8" / "best.pt"
    best.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "model_config": _RunsCode(marker)}, best)
    real = demo_audio_files()[0]
    with pytest.raises(UnreadableCheckpoint, match="is not a readable checkpoint"):
        encode_upload(ds, 8, real.name, real.read_bytes())
    assert not marker.exists()


def test_fit_shows_an_epoch_bar(tmp_path: Path, capsys) -> None:
    tl, vl = _fresh_loaders()
    fit(_dense(), tl, vl, _cfg(tmp_path, max_epochs=2, progress=True))
    err = capsys.readouterr().err
    assert "r epochs" in err and "2/2" in err


def test_maps_cli_writes_both_maps(demo_dir: Path, tmp_path: Path, capsys) -> None:
    from core.recommend.embeddings import write_baseline
    from core.recommend.maps import read_map
    from train import maps

    ds = _copy_demo(demo_dir, tmp_path / "ds")
    assert maps.main(["--data", str(ds), "--quiet"]) == 2 and "has no embeddings" in capsys.readouterr().err
    from core.audio.cache import FeatureCache

    write_baseline(FeatureCache.open(ds), ds)
    assert maps.main(["--data", str(ds), "--quiet"]) == 0
    n = len(FeatureCache.open(ds).tracks)
    assert read_map(ds, "baseline", "pca").shape == (n, 2) and read_map(ds, "baseline", "umap").shape == (n, 2)
    assert maps.main(["--data", str(ds), "--models", "nope", "--quiet"]) == 2
