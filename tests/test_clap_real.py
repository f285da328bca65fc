"""Text search on real data: a short training run on MusicCaps mini (prepared here from ../shared/data)
lowers the val loss and beats random on the test pool; cross-dataset evaluation on AudioCaps mini; the CLI's
bad-input exits (unknown audio encoder, captions CSV without its columns) write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.audio.catalogs import build_catalog
from core.audio.prepare import prepare_dataset
from core.recommend.embeddings import write_baseline
from core.text.runs import ClapConfig, run_clap


@pytest.fixture(scope="module")
def minilm():
    from core.text.encoders import load_text_encoder

    return load_text_encoder("minilm")


def _prepare(kind: str, root: Path, out: Path) -> Path:
    from core.audio.cache import FeatureCache

    prepare_dataset(build_catalog(kind, root), out, workers=1, progress=False)
    write_baseline(FeatureCache.open(out), out)
    return out


@pytest.fixture(scope="module")
def musiccaps(shared_data, tmp_path_factory) -> Path:
    return _prepare("musiccaps", shared_data / "musiccaps_mini", tmp_path_factory.mktemp("data") / "musiccaps_mini")


@pytest.fixture(scope="module")
def audiocaps(shared_data, tmp_path_factory) -> Path:
    return _prepare("audiocaps", shared_data / "audiocaps_mini", tmp_path_factory.mktemp("data") / "audiocaps_mini")


@pytest.fixture(scope="module")
def trained(musiccaps, minilm):
    cfg = ClapConfig(audio_encoder="baseline", n_boot=200)
    cfg.train.max_epochs, cfg.train.patience = 40, 10
    return run_clap(musiccaps, cfg, minilm, progress=False)


def test_short_training_lowers_val_loss_and_beats_random(trained, musiccaps):
    import torch

    from core.nn.loop import evaluate_loss
    from core.text.runs import build_model, loaders

    _, val_loader = loaders(trained.table, 32, 0)
    torch.manual_seed(0)
    untrained = evaluate_loss(build_model(ClapConfig(), trained.table), val_loader)
    assert trained.fit.best_val_loss < untrained - 0.05
    assert all("train_temperature" in h for h in trained.fit.history)
    test = trained.evaluations["test"]
    assert test.n_clips == 127 and test.split == "test"
    for d in ("text_to_audio", "audio_to_text"):
        r10, chance = test.pool.model[d].recall[10], test.pool.chance[d][10]
        assert chance == pytest.approx(10 / 127)
        assert r10.lo > chance  # the whole CI above chance
        assert r10.mean > test.pool.random[d].recall[10].mean  # and above the sampled random scorer
        assert test.in_batch.chance[d][10] == pytest.approx(10 / 32)
    metrics = json.loads((musiccaps / "clap" / "metrics.json").read_text())
    entry = metrics["runs"][trained.run]
    assert entry["splits"]["test"]["pool"]["model"]["text_to_audio"]["R@10"]["mean"] == test.pool.model[
        "text_to_audio"].recall[10].mean
    report = (musiccaps / "clap" / "report.md").read_text()
    assert "Every frozen audio encoder" in report and "baseline" in report and "Conclusions" in report
    assert (musiccaps / "clap" / f"loss_{trained.run}.png").is_file()
    assert (musiccaps / "runs" / trained.run).is_dir() and trained.fit.best_checkpoint.is_file()
    rows = pd.read_csv(musiccaps / "experiments.csv")
    assert trained.run in rows["run"].tolist()
    proj = np.load(musiccaps / "clap" / "models" / trained.run / "audio.npy")
    assert proj.shape == (259, 384)


def test_search_index_finds_the_clip_of_its_own_caption(trained, musiccaps, minilm):
    from core.text.search import load_search_index

    index = load_search_index(musiccaps, trained.run)
    hits = 0
    train_rows = np.flatnonzero(index.captions["split"].to_numpy() == "train")[:20]
    for i in train_rows:
        rows, scores = index.search(index.text[i], 10)
        assert np.all(np.diff(scores) <= 1e-6)
        hits += int(index.captions["row"].iloc[i] in rows)
    assert hits >= 10  # training captions are well above the 10/259 chance
    near = index.nearest_captions(int(index.captions["row"].iloc[train_rows[0]]), 5)
    assert len(near) == 5 and near["cosine"].is_monotonic_decreasing


def test_cross_dataset_evaluation_on_audiocaps(trained, musiccaps, audiocaps, minilm):
    from core.text.clap import load_projection
    from core.text.runs import evaluate_elsewhere

    model, _ = load_projection(trained.fit.best_checkpoint)
    path = evaluate_elsewhere(musiccaps, trained.entry, model, audiocaps, minilm, n_boot=100, progress=False)
    ev = json.loads(path.read_text())
    assert path.name == "eval_audiocaps_mini.json" and ev["n"] == 14 and ev["n_captions"] >= 70
    assert ev["random"]["R@10"] == pytest.approx(10 / 14) and "71 %" in ev["note"]
    for d in ("text_to_audio", "audio_to_text"):
        assert 0.0 <= ev[d]["R@1"] <= ev[d]["R@10"] <= 1.0
    assert "audiocaps_mini" in (musiccaps / "clap" / "report.md").read_text()


def test_cli_unknown_audio_encoder_and_bad_captions_write_nothing(musiccaps, tmp_path, capsys):
    from train import clap

    before = sorted(p.name for p in (musiccaps / "clap").rglob("*"))
    assert clap.main(["--data", str(musiccaps), "--audio-encoder", "pretrained_nope", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "pretrained_nope" in err and "python -m train.embed" in err and "python -m train.evaluate" in err
    bad = tmp_path / "caps.csv"
    pd.DataFrame({"id": ["x"], "text": ["y"]}).to_csv(bad, index=False)
    assert clap.main(["--data", str(musiccaps), "--captions", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "track_id" in err and "caption" in err and "nothing written" in err
    assert sorted(p.name for p in (musiccaps / "clap").rglob("*")) == before
    assert clap.main(["--data", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "train.prepare" in capsys.readouterr().err
