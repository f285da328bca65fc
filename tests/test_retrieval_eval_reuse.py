"""`train.retrieval_eval` reuses the per-track vectors `train.embed` stored for a pretrained encoder instead of
re-embedding the corpus: on real GTZAN clips the reused corpus matches a fresh re-embedding (to resampling
tolerance), a track whose stored vector is gone is re-embedded, and the metrics say which was done."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio.cache import FeatureCache
from core.audio.catalogs import build_catalog
from core.audio.prepare import prepare_dataset
from core.encoders.embed import EmbedConfig, part_file, run_embed
from core.retrieval.encoders import excerpt_encoders


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, shared_data, weights_dir):
    root = tmp_path_factory.mktemp("gtzan4")
    src = shared_data / "gtzan_mini" / "genres_original"
    for genre in ("classical", "metal", "jazz", "hiphop"):
        (root / genre).mkdir()
        (root / genre / f"{genre}.00004.wav").symlink_to(src / genre / f"{genre}.00004.wav")
    ds = tmp_path_factory.mktemp("ds")
    prepare_dataset(build_catalog("gtzan", root, gtzan_split="block"), ds, workers=1, progress=False)
    run_embed(ds, EmbedConfig(encoders=("fcn_msd",), weights_dir=str(weights_dir), progress=False))
    return ds


def test_stored_vectors_are_reused_and_match_a_fresh_re_embedding(embedded, weights_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WEIGHTS", str(weights_dir))
    fc = FeatureCache.open(embedded)
    (reused,), _ = excerpt_encoders(embedded, fc, ["pretrained_fcn_msd"], reuse=True)
    (fresh,), _ = excerpt_encoders(embedded, fc, ["pretrained_fcn_msd"], reuse=False)
    assert reused.note.startswith("corpus: 4 track vectors stored") and "0 re-embedded" in reused.note
    assert fresh.note.startswith("corpus: 0 track vectors stored")
    a, b = reused.corpus, fresh.corpus
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.95, cos
    # each track is still nearest to itself across the two corpora
    sims = a @ b.T / np.linalg.norm(a, axis=1)[:, None] / np.linalg.norm(b, axis=1)[None]
    assert (sims.argmax(1) == np.arange(len(a))).all()
    tid = str(fc.tracks["track_id"].iloc[1])
    part_file(embedded, "fcn_msd", tid).unlink()
    (partial,), _ = excerpt_encoders(embedded, fc, ["pretrained_fcn_msd"], reuse=True)
    assert "3 track vectors stored" in partial.note and "1 re-embedded" in partial.note
    np.testing.assert_allclose(partial.corpus[1] @ b[1] / np.linalg.norm(partial.corpus[1]) / np.linalg.norm(b[1]),
                               1.0, atol=0.02)


def test_cli_weights_dir_flag_is_used_over_the_environment(embedded, weights_dir, tmp_path):
    """`python -m train.retrieval_eval --weights-dir W` as a user runs it, with $WORKBENCH_WEIGHTS pointing at an
    empty folder: the pretrained encoder is loaded from W and evaluated, not skipped."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "WORKBENCH_WEIGHTS": str(tmp_path), "PYTHONPATH": str(repo)}
    cmd = [sys.executable, "-m", "train.retrieval_eval", "--data", str(embedded), "--splits", "all", "--boot", "20",
           "--names", "pretrained_fcn_msd", "--weights-dir", str(weights_dir)]
    run = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-1500:]
    metrics = json.loads((embedded / "retrieval" / "metrics.json").read_text())
    assert "pretrained_fcn_msd" in metrics["exact"] and not metrics["skipped"], metrics["skipped"]
    assert metrics["exact"]["pretrained_fcn_msd"]["n_queries"] == 4
