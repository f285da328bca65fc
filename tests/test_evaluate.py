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


def test_train_autoencoders_on_real_audio_writes_aligned_embeddings(demo_dir: Path, tmp_path: Path) -> None:
    from train.autoencoders import main as train_main
    from train.evaluate import main as eval_main

    ds = tmp_path / "demo"
    shutil.copytree(demo_dir, ds)
    rc = train_main(["--data", str(ds), "--models", "conv1d", "--window", "32", "--embed-hop", "32",
                     "--epochs", "2", "--max-steps", "2", "--samples-per-epoch", "64", "--latent", "8", "--quiet"])
    assert rc == 0
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
