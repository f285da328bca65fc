"""Embeddings aligned with the catalog, evaluation reports and their reproducibility, CLIs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.recommend.autoencoders import build_model
from core.recommend.embeddings import embed_tracks, finalise, load_embedding, write_embedding
from core.recommend.evaluation import EvalConfig, evaluate_dataset
from core.recommend.windows import compute_mel_stats
from tests.helpers.fake_cache import FakeCache

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("prog", ["train.autoencoders", "train.evaluate"])
def test_help(prog: str) -> None:
    out = subprocess.run([sys.executable, "-m", prog, "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "--data" in out.stdout


def test_missing_cache_rows_are_skipped_and_reported() -> None:
    fc = FakeCache(n_tracks=9, n_mels=16, frames=24, drop_rows=(4,))
    stats = compute_mel_stats(fc, fc.split_rows("train"))
    m = build_model("dense", n_mels=16, n_frames=16, latent_dim=6, hidden=[16])
    raw = embed_tracks(m, fc, stats, window=16, hop=8)
    assert raw.missing == [4]
    assert raw.pooled["mean"].shape == (9, 6) and raw.pooled["meanstd"].shape == (9, 12)
    emb = finalise(raw.pooled["meanstd"], fc, raw.missing)
    assert np.all(emb[4] == 0) and np.isfinite(emb).all()
    assert np.allclose(emb[fc.split_rows("train")].mean(0), 0, atol=1e-5)


def _synthetic_ds(tmp_path: Path, n: int = 12) -> Path:
    fc = FakeCache(n_tracks=n)
    ds = tmp_path / "synth"
    ds.mkdir()
    fc.catalog.to_csv(ds / "catalog.csv", index=False)
    rng = np.random.default_rng(0)
    write_embedding(ds, "baseline", fc.baseline, {"pooling": "stats"})
    good = np.eye(3)[[{"a": 0, "b": 1, "c": 2}[g] for g in fc.tracks["genre"]]] + 0.1 * rng.normal(size=(n, 3))
    good[2] = 0.0  # a track whose cache rows were missing
    write_embedding(ds, "model", good.astype(np.float32), {"pooling": "mean", "missing_rows": [2]})
    return ds


def test_evaluation_with_artists_missing_rows_and_small_k(tmp_path: Path) -> None:
    ds = _synthetic_ds(tmp_path, n=8)
    res = evaluate_dataset(ds, EvalConfig(split="all", ks=(5, 10), n_boot=100, n_queries=3, k_show=3))
    m = res.to_json()["embeddings"]["model"]
    assert m["all"]["skipped_rows"] == [2]
    assert m["all"]["k_used"] == 6  # 8 tracks, one missing, minus the query
    assert any("using K=" in w for w in res.warnings)
    assert "excl_same_artist" in m and "artist_hr@10" in m["all"]["scores"]
    assert "artist_hr@10" not in m["excl_same_artist"]["scores"]
    # the genre-separating model beats the random baseline
    assert m["all"]["scores"]["genre_p@5"]["mean"] > res.to_json()["embeddings"]["baseline"]["all"]["scores"][
        "genre_p@5"]["mean"] - 0.5
    q = pd.read_csv(ds / "queries.csv", dtype={"query_track_id": str, "rec_track_id": str})
    assert (q["query_row"] != q["rec_row"]).all()
    assert 2 not in set(q.loc[q["model"] == "model", "rec_row"])
    excl = evaluate_dataset(ds, EvalConfig(split="all", ks=(3,), n_boot=50, write=False))
    assert excl.embeddings["model"].settings["excl_same_artist"].chance["genre_p@3"] >= 0
    report = (ds / "report.md").read_text()
    assert "## Conclusions" in report and "Same-artist candidates excluded" in report


def test_evaluation_is_reproducible(tmp_path: Path) -> None:
    ds = _synthetic_ds(tmp_path)
    cfg = EvalConfig(split="test", n_boot=200, seed=7)
    evaluate_dataset(ds, cfg)
    a = (ds / "metrics.json").read_text()
    qa = (ds / "queries.csv").read_text()
    evaluate_dataset(ds, cfg)
    assert (ds / "metrics.json").read_text() == a and (ds / "queries.csv").read_text() == qa


def test_train_autoencoders_on_real_audio_writes_aligned_embeddings(demo_dir: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import core.recommend.evaluation as evaluation
    from train.autoencoders import main as train_main
    from train.evaluate import main as eval_main

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    scored: list[np.ndarray] = []
    real_score = evaluation.score_embedding

    def spy(emb, tracks, query_rows, *a, **kw):  # type: ignore[no-untyped-def]
        scored.append(np.asarray(query_rows))
        return real_score(emb, tracks, query_rows, *a, **kw)

    monkeypatch.setattr(evaluation, "score_embedding", spy)
    rc = train_main(["--data", str(ds), "--models", "conv1d", "--window", "32", "--embed-hop", "32",
                     "--epochs", "2", "--max-steps", "2", "--samples-per-epoch", "64", "--latent", "8", "--quiet"])
    assert rc == 0
    # no test figures while training: every score computed during the run used validation queries only
    cat0 = pd.read_csv(ds / "catalog.csv")
    val_rows = set(cat0.loc[(cat0["row"] >= 0) & (cat0["split"] == "val"), "row"].astype(int))
    assert scored and all(set(q.tolist()) <= val_rows for q in scored)
    printed = capsys.readouterr().out
    assert "test_" not in printed and "val genre_p@10_mean" in printed
    monkeypatch.undo()
    cat = pd.read_csv(ds / "catalog.csv")
    n_ok = int((cat["row"] >= 0).sum())
    emb, meta = load_embedding(ds, "conv1d_ae_z8")
    assert emb.shape[0] == n_ok and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert meta["model"] == "conv1d_ae_z8" and meta["dim"] == emb.shape[1] and meta["pooling"] in ("mean", "meanstd")
    assert Path(meta["checkpoint"]).exists()
    base, _ = load_embedding(ds, "baseline")
    assert base.shape[0] == n_ok
    exp = pd.read_csv(ds / "experiments.csv")
    assert exp.iloc[-1]["run"] == "conv1d_ae_z8" and exp.iloc[-1]["latent"] == 8
    assert not [c for c in exp.columns if c.startswith("test_")] and "sel_genre_p@10_mean" in exp.columns
    assert json.loads((ds / "embeddings" / "conv1d_ae_z8.json").read_text())["family"] == "autoencoder"
    assert (ds / "experiments.md").read_text().count("conv1d_ae_z8") == 1
    # resuming the same run with another latent size is refused, nothing overwritten
    last = ds / "checkpoints" / "conv1d_ae_z8" / "last.pt"
    before = last.read_bytes()
    rc = train_main(["--data", str(ds), "--models", "conv1d", "--window", "32", "--latent", "16", "--run-name",
                     "conv1d_ae_z8", "--resume", "--epochs", "3", "--max-steps", "1", "--quiet"])
    assert rc == 2 and last.read_bytes() == before
    assert eval_main(["--data", str(ds), "--n-boot", "50"]) == 0
    metrics = json.loads((ds / "metrics.json").read_text())
    assert set(metrics["embeddings"]) == {"baseline", "conv1d_ae_z8"}


# 6 tracks on a circle (angles), genres and artists chosen so the artist filter changes P@1 (hand-computed)
ANG = np.array([0.0, 0.1, 0.5, 1.1, 3.0, 3.1])
GEN = ["a", "a", "b", "a", "b", "b"]
ART = ["x", "x", "y", "z", "w", "w"]


def _circle_ds(tmp_path: Path) -> Path:
    fc = FakeCache(n_tracks=6)
    ds = tmp_path / "circle"
    ds.mkdir()
    fc.catalog.assign(genre=GEN, artist=ART, split="test", tags="").to_csv(ds / "catalog.csv", index=False)
    circle = np.stack([np.cos(ANG), np.sin(ANG)], 1).astype(np.float32)
    write_embedding(ds, "baseline", circle, {"pooling": "stats"})
    rng = np.random.default_rng(0)
    write_embedding(ds, "pretrained_toy", rng.normal(size=(6, 4)).astype(np.float32), {"family": "pretrained"})
    write_embedding(ds, "toy_ae", (circle + 0.01).astype(np.float32), {"checkpoint": "x.pt"})
    return ds


def test_artist_filter_against_hand_computed_example(tmp_path: Path) -> None:
    ds = _circle_ds(tmp_path)
    ev = evaluate_dataset(ds, EvalConfig(split="all", ks=(1, 2), n_boot=200, n_queries=2, k_show=2))
    base = ev.embeddings["baseline"].settings
    # K=1, all: nearest of 0 is 1 (a) ✓, of 1 is 0 ✓, of 2 is 1 ✗, of 3 is 2 ✗, of 4 is 5 ✓, of 5 is 4 ✓ -> 4/6
    assert base["all"].per_query["genre_p@1"].tolist() == [1, 1, 0, 0, 1, 1]
    # excluded: 0 -> 2 (b) ✗, 1 -> 2 ✗, 2 -> 1 ✗, 3 -> 2 ✗, 4 -> 3 (a) ✗, 5 -> 3 ✗ -> 0
    assert base["excl_same_artist"].per_query["genre_p@1"].tolist() == [0] * 6
    # K=2: all lists [1,2] [0,2] [1,0] [2,1] [5,3] [4,3]; excluded [2,3] [2,3] [1,0] [2,1] [3,2] [3,2]
    assert base["all"].per_query["genre_p@2"].tolist() == [0.5, 0.5, 0, 0.5, 0.5, 0.5]
    assert base["excl_same_artist"].per_query["genre_p@2"].tolist() == [0.5, 0.5, 0, 0.5, 0.5, 0.5]
    # chance: same-genre share among candidates: 2/5 for every query; excluded 1/4,1/4,2/5,2/5,1/4,1/4
    assert base["all"].chance["genre_p@1"] == pytest.approx(0.4)
    assert base["excl_same_artist"].chance["genre_p@1"] == pytest.approx((4 * 0.25 + 2 * 0.4) / 6)
    assert base["excl_same_artist"].estimates["genre_p@1"].mean == 0.0
    # best possible P@2 with the filter: same-genre candidates by other artists 1,1,2,2,1,1 -> (4 * 1/2 + 2) / 6
    assert base["excl_same_artist"].ceiling["genre_p@2"] == pytest.approx(4 / 6)
    assert base["all"].ceiling["genre_p@2"] == pytest.approx(1.0)
    # the paired difference vs the baseline exists in the filtered setting too; families are labelled
    assert ev.embeddings["toy_ae"].settings["excl_same_artist"].diff_vs_baseline is not None
    assert [ev.embeddings[n].family for n in ("baseline", "pretrained_toy", "toy_ae")] == [
        "classic", "pretrained", "autoencoder"]
    report = (ds / "report.md").read_text()
    head = report.split("## Headline")[1].split("##")[0]
    assert "same-artist candidates excluded" in head and "pretrained reference `pretrained_toy`" in head
    assert "baseline (classic): 0.417" in head  # P@max(K) = P@2 with the filter: 2.5 / 6
    q = pd.read_csv(ds / "queries.csv")
    assert set(q["setting"]) == {"all", "excl_same_artist"}
    ex = q[q["setting"] == "excl_same_artist"]
    assert not (ex["artist_hit"]).any() and q[q["setting"] == "all"]["artist_hit"].any()
    assert "pretrained reference" in report and "(same-artist candidates excluded):" in report


def test_autoencoders_over_frames_end_to_end(demo_dir: Path, tmp_path: Path) -> None:
    """--input frames:<encoder>: dense and conv1d over windows of frame features, embeddings under the
    contract (family autoencoder, the frameless track missing), evaluated beside the baseline and a
    pretrained reference; bad input names a reason and exits 2."""
    from core.encoders.frames import FrameStore
    from tests.test_models import _toy_frames
    from train.autoencoders import main as train_main
    from train.evaluate import main as eval_main

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    n = int((pd.read_csv(ds / "catalog.csv")["row"] >= 0).sum())
    _toy_frames(ds, n, missing_row=2)
    pooled = np.stack([np.asarray(FrameStore(ds, "toy").of_row(r), np.float32).mean(0) if r != 2 else np.zeros(6)
                       for r in range(n)]).astype(np.float32)
    write_embedding(ds, "pretrained_toy", pooled, {"family": "pretrained", "missing_rows": [2]})
    rc = train_main(["--data", str(ds), "--input", "frames:toy", "--models", "dense,conv1d", "--window", "8",
                     "--embed-hop", "4", "--objectives", "contrast", "--whiten", "auto", "--epochs", "2",
                     "--samples-per-epoch", "64", "--batch-size", "16", "--latent", "4", "--quiet"])
    assert rc == 0
    for name in ("frames_toy_dense_contrast_z4", "frames_toy_conv1d_contrast_z4"):
        emb, meta = load_embedding(ds, name)
        assert emb.shape[0] == n and np.isfinite(emb).all() and np.all(emb[2] == 0)
        assert meta["family"] == "autoencoder" and meta["input"] == "frames:toy" and meta["missing_rows"] == [2]
        assert meta["config"]["model"]["kwargs"]["n_mels"] == 6
        assert set(meta["pooling_selection"]) == {"mean", "meanstd", "max", "mean+whiten", "meanstd+whiten",
                                                  "max+whiten"}
    assert eval_main(["--data", str(ds), "--n-boot", "50", "--split", "all"]) == 0
    metrics = json.loads((ds / "metrics.json").read_text())
    assert metrics["embeddings"]["pretrained_toy"]["family"] == "pretrained"
    assert "pretrained reference" in (ds / "report.md").read_text()
    assert train_main(["--data", str(ds), "--input", "frames:nope", "--models", "dense", "--quiet"]) == 2
    with pytest.raises(SystemExit) as e:
        train_main(["--data", str(ds), "--input", "wav", "--models", "dense", "--quiet"])
    assert e.value.code == 2


def test_headline_reports_the_model_chosen_on_validation(tmp_path: Path) -> None:
    ds = _synthetic_ds(tmp_path, n=12)
    rng = np.random.default_rng(1)
    write_embedding(ds, "noise_ae", rng.normal(size=(12, 3)).astype(np.float32), {"checkpoint": "n.pt"})
    ev = evaluate_dataset(ds, EvalConfig(split="all", ks=(3,), n_boot=50))
    ch = ev.chosen_on_val
    n_val = int((pd.read_csv(ds / "catalog.csv")["split"] == "val").sum())
    assert set(ch["val_scores"]) == {"model", "noise_ae"} and ch["n_val_queries"] == n_val > 0
    assert ch["embedding"] == max(ch["val_scores"], key=lambda n: ch["val_scores"][n])
    assert f"chosen on the validation split `{ch['embedding']}`" in (ds / "report.md").read_text()
