"""The latent-size study end to end on a copy of gtzan_mini (tiny sweep) and its bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from core.audio.cache import FeatureCache
from core.audio.config import DEFAULT_AUDIO
from core.latent.model import checkpoint_for, load_recon_model
from core.latent.study import (
    LatentSizeMismatch,
    StudyConfig,
    UnsupportedAudioFormat,
    analysis_sizes_for,
    choose_size,
    choose_structure_size,
    encode_and_reconstruct,
    run_study,
)
from core.nn.loop import TrainConfig
from core.recommend.windows import RandomCropDataset, compute_mel_stats

SIZES = (4,)  # one-vector model
TIME_SIZES = (27,)  # T x C model: 27 latent frames x 1 channel
ALL_SIZES = (4, 27)


@pytest.fixture(scope="module")
def study(gtzan_mini_dir: Path, tmp_path_factory) -> tuple[Path, dict, Path]:
    """A few-step sweep of both model kinds (and the loss choice) on a private copy of gtzan_mini, with a
    small 'new music' folder."""
    ds = tmp_path_factory.mktemp("recon_ds")
    shutil.copytree(gtzan_mini_dir / "cache", ds / "cache")
    shutil.copy(gtzan_mini_dir / "catalog.csv", ds / "catalog.csv")
    new = tmp_path_factory.mktemp("new_music")
    sr = DEFAULT_AUDIO.sample_rate
    t = np.arange(int(2.0 * sr)) / sr
    sf.write(new / "short_tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)  # < 5 s
    sf.write(new / "silence.wav", np.zeros(6 * sr, np.float32), sr)
    (new / "notes.txt").write_text("not audio")  # ignored by the sweep (not an audio extension)
    train = TrainConfig(max_epochs=1, max_steps_per_epoch=2, max_val_steps=2, progress=False, tensorboard=False,
                        num_threads=1, batch_size=8)
    cfg = StudyConfig(sizes=SIZES, time_sizes=TIME_SIZES, train=train, n_clips=2, gl_iter=4, with_umap=False,
                      new_music_dir=new, max_eval_segments=4, loss_eval_segments=3, samples_per_epoch=16,
                      n_train_check=2, n_interp_steps=3, n_samples=2)
    index = run_study(ds, cfg).index
    return ds, index, new


def test_sweep_writes_the_files_the_app_reads(study) -> None:
    ds, index, _ = study
    recon = ds / "recon"
    on_disk = json.loads((recon / "index.json").read_text())
    assert on_disk["schema"] == "recon-study/1"
    assert on_disk["sizes"] == list(ALL_SIZES) and on_disk["chosen_size"] in ALL_SIZES
    assert on_disk["kinds"] == {"4": "conv2d", "27": "time_conv"}
    assert on_disk["latent_sizes"]["27"]["shape"] == [27, 1] and on_disk["latent_sizes"]["4"]["shape"] == [4]
    for s in ALL_SIZES:  # the reported size is the number of latent floats the model wrote
        assert np.load(recon / on_disk["per_size"][str(s)]["latents_npy"]).shape[1] == s
        assert on_disk["latent_sizes"][str(s)]["floats_per_segment"] == s
    choice = on_disk["loss_choice"]
    assert choice["loss"] in ("mse", "mrmel") and choice["size"] == 27
    assert set(choice["scores"]) == {"mse", "mrmel"}
    assert on_disk["rule"]["met"] in (True, False) and "chroma cosine" in on_disk["rule"]["text"]
    fc = FeatureCache.open(ds)
    split_of = dict(zip(fc.segments["segment"], fc.tracks["split"].to_numpy()[fc.segment_rows]))
    assert {split_of[seg] for seg in choice["segments"]} == {"val"} and choice["split"] == "val"
    for name in ("onset_corr", "chroma_cos", "mel_distance"):
        assert name in on_disk["metric_names"] and np.isfinite(on_disk["oracle_ci95"][name])
        assert all(np.isfinite(on_disk["metrics_ci95"][str(s)][name]) for s in ALL_SIZES)
    for key in ("metrics_csv", "metrics_per_clip_csv", "metrics_plot", "clustering_csv", "mel_stats"):
        assert (recon / on_disk["files"][key]).exists(), key
    table = pd.read_csv(recon / "metrics.csv")
    assert set(table["size"].astype(str)) == {"4", "27", "oracle"}
    assert {"kind", "floats_per_segment", "kbps_float16", "kbps_float32", "onset_corr_ci95"} <= set(table.columns)
    for name in on_disk["metric_names"]:
        assert np.isfinite(table[name]).all(), name
        assert np.isfinite(on_disk["oracle"][name])
    assert len(on_disk["clips"]) == 2
    for s in ALL_SIZES:  # the fit-vs-generalisation check on training segments
        assert np.isfinite(on_disk["per_size"][str(s)]["train_check_metrics"]["lsd_db"])
    for clip in on_disk["clips"]:
        for key in ("original_wav", "oracle_wav", "original_png", "oracle_png"):
            assert (recon / clip[key]).exists()
        for s in ALL_SIZES:
            files = on_disk["per_size"][str(s)]["clips"][clip["clip_id"]]
            assert (recon / files["recon_wav"]).exists() and (recon / files["recon_png"]).exists()
            audio, sr = sf.read(recon / files["recon_wav"])
            assert sr == DEFAULT_AUDIO.sample_rate and np.isfinite(audio).all()
    for s in on_disk["analysis_sizes"]:
        entry = on_disk["per_size"][str(s)]
        m = pd.read_csv(recon / entry["map_csv"])
        assert {"x", "y", "genre", "cluster", "pca_x", "pca_y", "umap_x", "umap_y", "track_id"} <= set(m.columns)
        assert len(m) == len(FeatureCache.open(ds).segments)
        assert (recon / entry["maps_png"]).exists() and (recon / entry["elbow_csv"]).exists()
        scores = pd.read_csv(recon / entry["clusters_csv"]).set_index("method")
        assert {"kmeans", "agglomerative"} <= set(scores.index)
        assert ((scores["v_measure"] >= 0) & (scores["v_measure"] <= 1)).all()
    gen = on_disk["generation"]
    assert len(gen["interpolation"]["steps"]) == 3 and len(gen["samples"]["items"]) == 2
    for item in gen["interpolation"]["steps"] + gen["samples"]["items"] + gen["arithmetic"]:
        assert (recon / item["wav"]).exists() and (recon / item["png"]).exists()
    # checkpoints, TensorBoard-free run and the experiments table
    assert checkpoint_for(ds, "conv2d", 4).exists() and checkpoint_for(ds, "time_conv", 27).exists()
    runs = pd.read_csv(ds / "experiments.csv")
    trial_runs = {"recon_time_conv_z27_loss_mse", "recon_time_conv_z27_loss_mrmel"}
    assert {"recon_conv2d_z4"} | trial_runs <= set(runs["run_name"])


def test_size_is_chosen_on_validation_and_reported_on_test(study) -> None:
    """The rule reads the validation table (its own oracle); metrics.csv and the headline are the test figures."""
    ds, _, _ = study
    recon = ds / "recon"
    index = json.loads((recon / "index.json").read_text())
    sel = index["selection"]
    assert index["selected_on"] == index["rule"]["selected_on"] == sel["selected_on"] == "val"
    assert not sel["fallback"] and sel["n_select_segments"] == index["n_val_segments"] == 4
    assert index["n_eval_segments"] == 4 and "chosen on 4 val segments" in sel["text"]
    val_table = {int(s): m for s, m in sel["metrics"].items()}
    assert set(val_table) == set(ALL_SIZES) and np.isfinite(sel["oracle"]["onset_corr"])
    rule = choose_structure_size(val_table, sel["oracle"], index["rule"]["margin_onset"],
                                 index["rule"]["margin_chroma"], index["rule"]["margin_lsd_db"])
    assert index["chosen_size"] == rule.chosen
    assert "val-segment" in index["rule"]["text"]
    assert val_table != {int(s): m for s, m in index["metrics"].items()}  # two tables, measured apart
    test_rows = pd.read_csv(recon / "metrics.csv").set_index("size")
    val_rows = pd.read_csv(recon / index["files"]["metrics_val_csv"]).set_index("size")
    assert {"4", "27", "oracle"} == set(val_rows.index.astype(str)) == set(test_rows.index.astype(str))
    chosen = str(index["chosen_size"])
    assert test_rows.loc[chosen, "lsd_db"] == pytest.approx(index["in_dataset_mean_at_chosen"]["lsd_db"])
    assert val_rows.loc[chosen, "lsd_db"] == pytest.approx(val_table[int(chosen)]["lsd_db"])


def test_too_few_validation_segments_are_flagged_by_the_command(study, tmp_path: Path, monkeypatch) -> None:
    """With one validation track left the command still runs (reusing the checkpoints), chooses on test and
    says so: on stderr, in index.json and on the page."""
    import subprocess
    import sys

    ds, _, _ = study
    copy = tmp_path / "few_val"
    shutil.copytree(ds, copy, ignore=shutil.ignore_patterns("recon", "runs"))
    for cat_path in (copy / "catalog.csv", copy / "cache" / "catalog.csv"):
        cat = pd.read_csv(cat_path, dtype={"track_id": str}, keep_default_na=False)
        val = cat.index[cat["split"] == "val"]
        cat.loc[val[1:], "split"] = "train"  # one val track (2 segments) left
        cat.to_csv(cat_path, index=False)
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "train.latent_sizes", "--data", str(copy), "--sizes", "4",
                           "--no-time", "--loss", "mse", "--eval-segments", "4", "--gl-iter", "2", "--clips", "1",
                           "--no-umap", "--quiet"], cwd=repo, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning: the size was selected on test (too few val segments: 2 < 4)" in proc.stderr
    index = json.loads((copy / "recon" / "index.json").read_text())
    assert index["selected_on"] == "test (too few val segments: 2 < 4)" and index["selection"]["fallback"]
    assert index["selection"]["metrics"] == {} and "metrics_val_csv" not in index["files"]
    assert "not independent of the figures" in proc.stdout
    from streamlit.testing.v1 import AppTest

    from ui.data import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    at = AppTest.from_file(str(repo / "pages" / "5_Reconstructions.py"), default_timeout=120)
    at.session_state["listener_name"] = "tester"
    at.session_state["dataset"] = copy.name
    at.run()
    assert not at.exception
    assert any("Selected on test (too few val segments: 2 < 4)" in w.value.replace("\\", "") for w in at.warning)


def test_new_music_short_and_silent_clips(study) -> None:
    ds, index, _ = study
    nm = index["new_music"]
    names = {it["name"]: it for it in nm["items"]}
    assert set(names) == {"short_tone", "silence"}
    assert names["short_tone"]["padded"] is True  # 2 s < 5 s: padded with the dB floor
    for it in names.values():
        assert all(v is not None and np.isfinite(v) for v in it["metrics"].values()), it["metrics"]
        assert len(it["neighbours"]) == 5
    table = pd.read_csv(ds / "recon" / nm["csv"])
    assert set(table["name"]) == {"short_tone", "silence"}


def test_upload_api_and_bad_inputs(study, tmp_path: Path) -> None:
    ds, index, new = study
    out = encode_and_reconstruct(ds, 27, new / "short_tone.wav")  # the T x C model, found by its size
    assert out.recon_mel.shape == (128, 216) and out.mel.shape == (128, 216)
    assert np.isfinite(out.audio).all() and np.isfinite(out.oracle_audio).all()
    assert isinstance(out.neighbours, pd.DataFrame) and len(out.neighbours) == 5
    assert all(np.isfinite(v) for v in out.metrics.values())
    with pytest.raises(UnsupportedAudioFormat, match="unsupported file format"):
        encode_and_reconstruct(ds, 4, new / "notes.txt")
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"this is not an mp3")
    with pytest.raises(UnsupportedAudioFormat, match="cannot decode"):
        encode_and_reconstruct(ds, 4, fake)
    with pytest.raises(FileNotFoundError, match="no checkpoint for latent size 32"):
        load_recon_model(ds, 32)


def test_checkpoint_of_other_latent_size_is_refused(study) -> None:
    ds, _, _ = study
    wrong = checkpoint_for(ds, "conv2d", 16)
    wrong.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint_for(ds, "conv2d", 4), wrong)  # a z=4 model filed under z=16
    with pytest.raises(LatentSizeMismatch, match="latent size 4, but latent size 16"):
        load_recon_model(ds, 16)
    with pytest.raises(LatentSizeMismatch):
        run_study(ds, StudyConfig(sizes=(16,), train=TrainConfig(progress=False, tensorboard=False)))
    shutil.rmtree(wrong.parent)


def test_short_training_lowers_the_loss(gtzan_mini_dir: Path, tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from core.nn.loop import fit
    from core.recommend.autoencoders import build_model

    fc = FeatureCache.open(gtzan_mini_dir)
    rows = fc.split_rows("train")[::10]  # 8 tracks, one per genre-ish
    stats = compute_mel_stats(fc, rows)
    ds = RandomCropDataset(fc, rows, stats, window=216)
    torch.manual_seed(0)
    net = build_model("conv2d", n_mels=128, n_frames=216, latent_dim=8)
    dl = DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    res = fit(net, dl, dl, TrainConfig(run_name="t", max_epochs=3, patience=10, lr=2e-3, out_dir=tmp_path,
                                       progress=False, tensorboard=False, num_threads=1))
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < losses[0]
    assert res.best_val_loss < res.history[0]["val_loss"] or res.best_epoch > 1


def test_size_rule_and_analysis_sizes() -> None:
    metrics = {8: {"lsd_db": 12.0}, 16: {"lsd_db": 10.4}, 32: {"lsd_db": 10.1}, 64: {"lsd_db": 10.0},
               128: {"lsd_db": 10.2}}
    chosen, plateau, text = choose_size(metrics, "lsd_db", 0.5)
    assert (chosen, plateau) == (16, 10.0) and "within 0.5" in text
    assert choose_size(metrics, "lsd_db", 0.05)[0] == 64
    assert analysis_sizes_for([8, 16, 32, 64, 128], 32) == [16, 32, 64]
    assert analysis_sizes_for([8, 16, 32, 64], 8) == [8, 16, 32]
    with pytest.raises(ValueError):
        choose_size({}, "lsd_db")


def test_reconstructions_page_shows_the_study(study, monkeypatch) -> None:
    """The page renders this sweep: sizes with their kinds, the size table with bit rates, the structure
    measures in the metric picker and every size on the clip slider."""
    from streamlit.testing.v1 import AppTest

    from ui.data import ENV_VAR

    ds, index, _ = study
    monkeypatch.setenv(ENV_VAR, str(ds.parent))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "5_Reconstructions.py"),
                           default_timeout=120)
    at.session_state["listener_name"] = "tester"
    at.session_state["dataset"] = ds.name
    at.run()
    assert not at.exception
    text = "\n".join(str(m.value) for m in at.markdown)
    assert "27 (T x C 27x1)" in text and "4 (one vector)" in text
    assert f"chosen size: {index['chosen_size']}" in text
    assert "chosen on validation segments, figures on test segments" in text
    assert not [w for w in at.warning if "Selected on" in w.value or "same test segments" in w.value]
    sizes = next(d.value for d in at.dataframe if "kbit/s (float16)" in d.value.columns)
    assert list(sizes["floats per segment"]) == [4, 27] and list(sizes["shape"]) == ["4", "27x1"]
    assert {"onset_corr", "chroma_cos", "mel_distance"} <= set(at.selectbox(key="recon_metric").options)
    assert list(at.select_slider(key="recon_size").options) == ["4 (one vector)", "27 (T x C 27x1)"]


def test_two_epoch_bounded_runs_give_identical_checkpoints(gtzan_mini_dir: Path, tmp_path: Path) -> None:
    """The study's training (epoch-bounded, no time limit, seeded) of the T x C model with the mrmel loss
    writes the same weights twice."""
    from core.latent.study import train_size

    fc = FeatureCache.open(gtzan_mini_dir)
    stats = compute_mel_stats(fc, fc.split_rows("train"))
    train = TrainConfig(max_epochs=2, max_steps_per_epoch=2, max_val_steps=1, progress=False, tensorboard=False,
                        num_threads=1, batch_size=4)
    cfg = StudyConfig(train=train, samples_per_epoch=8, time_hidden=32)
    weights = []
    for run in ("a", "b"):
        res = train_size(fc, tmp_path, "time_conv", 54, stats, cfg, "mrmel", run=run)
        weights.append(torch.load(tmp_path / res.checkpoint, weights_only=True)["state_dict"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
