"""The genre tagger: losses against hand-computed values and their limits, window counts and contents
across cached segments, labels, and a short real training run on the demo corpus through the CLI."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from core.audio.config import AudioConfig
from core.recommend.windows import MelStats
from core.tagger.labels import MissingLabels, build_labels
from core.tagger.losses import AsymmetricLoss, AsymmetricSingleLabelLoss, BCELoss, CrossEntropyLoss, make_loss
from core.tagger.model import SpectrogramCNN, hit_rate
from core.tagger.run import label_warnings
from core.tagger.windows import TrackWindowDataset, WindowSpec
from tests.helpers.fake_cache import FakeCache


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# ------------------------------------------------------------------ losses


def test_asl_matches_hand_computed_value():
    logits, y = torch.tensor([[0.0, 2.0, -3.0]]), torch.tensor([[1.0, 0.0, 0.0]])
    p1, p2 = sig(2.0) - 0.05, max(sig(-3.0) - 0.05, 0.0)  # shifted negatives; sigmoid(-3) = 0.047 < m
    expect = -math.log(0.5) - p1 ** 4 * math.log(1 - p1) - (p2 ** 4 * math.log(1 - p2) if p2 else 0.0)
    assert p2 == 0.0  # an easy negative below the margin contributes nothing
    got = AsymmetricLoss()(logits, y).item()
    assert got == pytest.approx(expect, rel=1e-5)
    assert got == pytest.approx(0.693147 + 0.830797 ** 4 * 1.776640, rel=1e-4)


def test_asl_with_zero_gammas_and_margin_is_bce():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=g) * 3
    y = (torch.rand(8, 5, generator=g) > 0.6).float()
    asl = AsymmetricLoss(gamma_pos=0, gamma_neg=0, clip=0)(logits, y)
    ref = F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / 8  # sum over classes, mean over batch
    assert asl.item() == pytest.approx(ref.item(), rel=1e-5)
    assert BCELoss()(logits, y).item() == pytest.approx(ref.item(), rel=1e-6)
    # focusing on negatives only lowers the loss (each negative term is multiplied by p^4 <= 1)
    assert AsymmetricLoss()(logits, y).item() < asl.item()


def test_single_label_asl_hand_value_and_limits():
    logits, t = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([0])
    z = sum(math.exp(v) for v in (1.0, 0.0, -1.0))
    p = [math.exp(v) / z for v in (1.0, 0.0, -1.0)]
    eps, k = 0.1, 3
    smooth = [1 - eps + eps / k, eps / k, eps / k]
    weight = [1.0, p[1] ** 4, p[2] ** 4]  # gamma_pos 0 on the true class, p^gamma_neg on the others
    expect = -sum(s * w * math.log(q) for s, w, q in zip(smooth, weight, p))
    assert AsymmetricSingleLabelLoss()(logits, t).item() == pytest.approx(expect, rel=1e-5)
    g = torch.Generator().manual_seed(1)
    lg, tt = torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g)
    assert AsymmetricSingleLabelLoss(0, 0, 0)(lg, tt).item() == pytest.approx(F.cross_entropy(lg, tt).item(), 1e-5)
    assert AsymmetricSingleLabelLoss(0, 0, 0.1)(lg, tt).item() == pytest.approx(
        F.cross_entropy(lg, tt, label_smoothing=0.1).item(), rel=1e-5)
    assert CrossEntropyLoss()(lg, tt).item() == pytest.approx(F.cross_entropy(lg, tt).item(), 1e-6)


def test_make_loss_rejects_bad_combinations():
    assert isinstance(make_loss("asl", True), AsymmetricLoss)
    assert isinstance(make_loss("asl", False), AsymmetricSingleLabelLoss)
    with pytest.raises(ValueError, match="single-label"):
        make_loss("ce", True)
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("focal", False)


def test_hit_rate_counts_true_labels_in_top_k():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    hr = hit_rate(logits, y)
    assert hr[0].item() == pytest.approx(0.5) and hr[1].item() == pytest.approx(1.0) and torch.isnan(hr[2])


# ------------------------------------------------------------------ windows


def test_window_spec_from_audio_config():
    cfg = AudioConfig()
    spec = WindowSpec.from_config(cfg)
    frame_s = cfg.hop_length / cfg.sample_rate
    assert spec.window_frames == round(4.0 / frame_s) and spec.hop_frames == round(2.0 / frame_s)
    assert abs(spec.window_s - 4.0) < frame_s and abs(spec.hop_s - 2.0) < frame_s
    # a 30-s track: full windows every 2 s; a 3-s track: one padded window
    n30 = int(30 / frame_s)
    starts, padded = spec.starts(n30)
    assert not padded and len(starts) == (n30 - spec.window_frames) // spec.hop_frames + 1 == 14
    assert spec.starts(int(3 / frame_s)) == ([0], True)


def _cache(seg_per_track: int = 3, frames: int = 24) -> FakeCache:
    fc = FakeCache(n_tracks=4, seg_per_track=seg_per_track, n_mels=6, frames=frames)
    fc.config = AudioConfig(sample_rate=1000, hop_length=100, n_mels=6, segment_frames=frames, segment_hop=frames)
    return fc


def test_windows_are_assembled_across_consecutive_segments():
    fc = _cache()  # 3 segments x 24 frames per track = 72 frames; 4 s = 40 frames, hop 20
    spec = WindowSpec.from_config(fc.config)
    assert (spec.window_frames, spec.hop_frames) == (40, 20)
    stats = MelStats(np.zeros(6, np.float32), np.ones(6, np.float32))
    ds = TrackWindowDataset(fc, [0, 1], stats, spec, labels=np.array([0, 1, 2, 0]))
    assert len(ds) == 2 * ((72 - 40) // 20 + 1) and not ds.padded_rows
    x, y, row, start = ds[1]
    assert (row, start, y) == (0, 20, 0) and x.shape == (1, 6, 40)
    whole = np.concatenate([fc.mels[s].astype(np.float32) for s in fc.segments_of(0)], axis=1)
    np.testing.assert_allclose(x[0].numpy(), whole[:, 20:60])


def test_short_track_is_padded_and_flagged():
    fc = _cache(seg_per_track=1, frames=24)  # 24 frames < 40-frame window
    spec = WindowSpec.from_config(fc.config)
    stats = MelStats(np.zeros(6, np.float32), np.ones(6, np.float32))
    ds = TrackWindowDataset(fc, [2], stats, spec)
    assert ds.padded_rows == [2] and len(ds) == 1
    x = ds[0][0][0].numpy()
    np.testing.assert_allclose(x[:, :24], fc.mels[fc.segments_of(2)[0]].astype(np.float32))
    assert (x[:, 24:] == fc.config.top_db_floor).all()


# ------------------------------------------------------------------ labels


def test_rare_classes_dropped_and_named():
    tracks = pd.DataFrame({"genre": ["rock", "rock", "jazz", "jazz", "jazz", "polka", ""],
                           "tags": ["a|b", "a", "b|c", "a", "", "d", "a"]})
    lab = build_labels(tracks, "genre")
    assert lab.classes == ["jazz", "rock"] and lab.dropped == ["polka"]
    assert list(lab.y) == [1, 1, 0, 0, 0, -1, -1]
    assert "polka" in label_warnings(lab)[0]
    tags = build_labels(tracks, "tags")
    assert tags.multi_label and tags.classes == ["a", "b"] and tags.dropped == ["c", "d"]
    with pytest.raises(MissingLabels, match="no 'genre' column"):
        build_labels(tracks.drop(columns="genre"), "genre")


def test_top_classes_keeps_the_most_frequent():
    tracks = pd.DataFrame({"genre": ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2})
    lab = build_labels(tracks, "genre", top_classes=2)
    assert lab.classes == ["a", "b"] and lab.not_top == ["c", "d"]
    with pytest.raises(MissingLabels):
        build_labels(tracks, "genre", top_classes=1)


def test_model_config_roundtrip_and_shapes():
    from core.tagger.model import model_from_config

    m = SpectrogramCNN(16, 4, multi_label=True, loss="bce")
    m2 = model_from_config(m.config())
    assert m2.config() == m.config()
    assert m(torch.randn(3, 1, 16, 40)).shape == (3, 4)


# ------------------------------------------------------------------ the CLI on real audio


def test_help_exits_zero(capsys):
    from train.tagger import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "--top-classes" in capsys.readouterr().out


@pytest.fixture(scope="module")
def demo_run(demo_dir, tmp_path_factory) -> Path:
    """A copy of the prepared demo corpus with one short real tagger run (mood labels)."""
    from train.tagger import main

    ds = tmp_path_factory.mktemp("tagger") / "demo"
    shutil.copytree(demo_dir, ds)
    assert main(["--data", str(ds), "--epochs", "4", "--patience", "4", "--n-boot", "50", "--quiet"]) == 0
    return ds


def test_short_real_training_lowers_the_loss(demo_run):
    hist = json.loads((demo_run / "tagger" / "metrics.json").read_text())["training"]["history"]
    assert (demo_run / "checkpoints" / "tagger_genre_asl" / "best.pt").is_file()
    assert len(hist) == 4 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert {"train_accuracy", "val_accuracy", "train_pos_hit_rate", "val_pos_hit_rate"} <= set(hist[0])


def test_metrics_report_and_confusion_agree(demo_run):
    tag = demo_run / "tagger"
    m = json.loads((tag / "metrics.json").read_text())
    t = m["test"]
    for key in ("track_accuracy", "macro_f1", "majority_accuracy"):
        assert 0.0 <= t[key] <= 1.0
    cm = pd.read_csv(tag / "confusion_matrix.csv", index_col=0)
    assert int(cm.to_numpy().sum()) == t["n_tracks"] == m["split_sizes"]["test"]
    assert np.trace(cm.to_numpy()) / t["n_tracks"] == pytest.approx(t["track_accuracy"])
    report = (tag / "classification_report.txt").read_text()
    for cls, row in cm.iterrows():  # support in the sklearn report = row sums of the confusion matrix
        line = next(ln for ln in report.splitlines() if ln.strip().startswith(str(cls) + " "))
        assert int(line.split()[-1]) == int(row.sum())
    assert (tag / "confusion_matrix.png").stat().st_size > 1000
    assert "logistic regression: baseline" in (tag / "report.md").read_text()
    tracks = pd.read_csv(tag / "tracks.csv")
    windows = pd.read_csv(tag / "windows.csv")
    assert set(windows["row"]) == set(tracks["row"]) and len(windows) > len(tracks)
    runs = pd.read_csv(demo_run / "experiments.csv")
    assert runs["run"].iloc[-1] == "tagger_genre_asl"


def test_missing_labels_column_exits_2_writes_nothing(demo_dir, tmp_path, capsys):
    from train.tagger import main

    ds = tmp_path / "nolabels"
    shutil.copytree(demo_dir / "cache", ds / "cache")
    for path in (ds / "cache" / "catalog.csv",):
        cat = pd.read_csv(path)
        cat.drop(columns=["genre"]).to_csv(path, index=False)
    shutil.copyfile(ds / "cache" / "catalog.csv", ds / "catalog.csv")
    before = sorted(p.name for p in ds.iterdir())
    assert main(["--data", str(ds), "--quiet"]) == 2
    assert "no 'genre' column" in capsys.readouterr().err
    assert sorted(p.name for p in ds.iterdir()) == before


# ------------------------------------------------------------------ the page (AppTest) on the demo run


def test_page_shows_windows_prediction_report_and_checks_uploads(demo_run, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.helpers.app import demo_audio_files
    from ui.data import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(demo_run.parent))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages/7_Genre_tagger.py"),
                           default_timeout=120)
    at.run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Predicted (mean of windows)" in labels and "True label" in labels
    tracks = pd.read_csv(demo_run / "tagger" / "tracks.csv")
    row0 = tracks.iloc[0]
    # the probability is in the value, not a delta (no arrow); the classes the model predicts are named
    assert at.metric[0].value.startswith(f"{row0['predicted']} (p = ") and at.metric[1].value == row0["true"]
    assert not at.metric[0].proto.delta
    assert any("Classes of this model" in md.value for md in at.markdown)
    assert len(at.get("plotly_chart")) >= 1
    assert any(str(m["method"]).startswith("SpectrogramCNN") for m in
               json.loads((demo_run / "tagger" / "metrics.json").read_text())["evaluations"]["test"]["methods"])
    assert any("Classification report" in md.value for md in at.markdown)
    at.get("file_uploader")[0].set_value(("notes.txt", b"hello, not audio", "text/plain"))
    at.run()
    assert any("not an audio file" in e.value for e in at.error) and not at.exception
    real = demo_audio_files()[0]
    at.get("file_uploader")[0].set_value((real.name, real.read_bytes(), "audio/ogg"))
    at.run()
    assert not at.exception and any("accepted" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) >= 2  # the track's plot and the upload's
    assert len(at.get("audio")) >= 2  # the track's player and the upload's


def test_page_without_tagger_names_the_command(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui.data import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "empty"))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages/7_Genre_tagger.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("python -m train.tagger" in w.value for w in at.warning)
    assert any("python -m train.lyrics" in w.value for w in at.warning)
