"""`python -m train.embed`: a run killed mid-way and resumed gives the same matrices as an uninterrupted
run, a bad file is skipped with its reason, the outputs follow the embeddings and frames contracts, and
the CLI's errors (missing weights, unknown encoder, unprepared folder) exit 2 with a message."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.audio.catalogs import build_catalog
from core.audio.prepare import prepare_dataset
from core.encoders.frames import FrameStore
from core.recommend.embeddings import load_embedding
from tests.conftest import REPO, SHARED_DATA
from train.embed import main

ENC = "efficientat_mn04"  # the fastest encoder
GENRES = ["blues", "classical", "jazz", "metal", "pop", "rock"]


@pytest.fixture(scope="module")
def shared() -> Path:
    """../shared/data, or $WORKBENCH_SHARED_DATA; skips where absent (or without weights)."""
    root = Path(os.environ.get("WORKBENCH_SHARED_DATA", SHARED_DATA))
    if not (root / "gtzan_mini").is_dir() or not (root / "weights").is_dir():
        pytest.skip("../shared/data (with weights/) is not present")
    return root


@pytest.fixture(scope="module")
def small_ds(tmp_path_factory, shared) -> Path:
    """A prepared dataset of 6 GTZAN clips (one per genre, copied so one can be broken later)."""
    root = tmp_path_factory.mktemp("clips")
    for g in GENRES:
        (root / "genres_original" / g).mkdir(parents=True)
        shutil.copy(shared / "gtzan_mini/genres_original" / g / f"{g}.00002.wav", root / "genres_original" / g)
    out = tmp_path_factory.mktemp("ds") / "small"
    prepare_dataset(build_catalog("gtzan", root), out, workers=1, progress=False)
    (root / "genres_original/jazz/jazz.00002.wav").write_bytes(b"RIFF....not a wav at all")  # broken after prepare
    return out


def _cli(ds: Path, weights: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "train.embed", "--data", str(ds), "--encoders", ENC, "--weights-dir", str(weights),
           "--batch", "1", "--max-seconds", "3", "--quiet", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _copy(ds: Path, dest: Path) -> Path:
    shutil.copytree(ds, dest, ignore=shutil.ignore_patterns("frame_parts", "embeddings", "frames"))
    return dest


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*.npz") if not p.name.startswith(".")]


def test_killed_run_resumes_to_the_same_matrix(small_ds, shared, tmp_path):
    weights = shared / "weights"
    full = _copy(small_ds, tmp_path / "full")  # the uninterrupted run, in this process
    torch.set_num_threads(1)
    assert main(["--data", str(full), "--encoders", ENC, "--weights-dir", str(weights), "--batch", "1",
                 "--max-seconds", "3", "--quiet"]) == 0

    killed = _copy(small_ds, tmp_path / "killed")
    parts = killed / "frame_parts" / ENC
    p = _cli(killed, weights)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None and len(_parts(parts)) < 2:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    n_before = len(_parts(parts))  # finished parts (a torn write leaves only a hidden temp file)
    assert 2 <= n_before < 5 and not (killed / "embeddings").exists()

    p = _cli(killed, weights, "--workers", "2")  # resumed by a process pool
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    summary = json.loads((killed / "embed_summary.json").read_text())["encoders"][0]
    assert summary["reused"] == n_before and summary["done"] == 5 - n_before
    assert not list(parts.glob(".*"))  # torn temp files cleaned up

    a, meta = load_embedding(full, f"pretrained_{ENC}")
    b, _ = load_embedding(killed, f"pretrained_{ENC}")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    fa, fb = FrameStore(full, ENC), FrameStore(killed, ENC)
    assert fa.index.equals(fb.index)
    np.testing.assert_allclose(np.asarray(fa.frames, np.float32), np.asarray(fb.frames, np.float32),
                               rtol=2e-3, atol=2e-3)  # float16 store: one ulp

    # contracts: rows aligned with the cache, family, weights, the broken file skipped with its reason
    tids = fa.index["track_id"].tolist()
    bad = tids.index("jazz.00002")
    assert meta["family"] == "pretrained" and meta["encoder"] == ENC and meta["weights"]["sha256"]
    assert meta["missing_rows"] == [bad] and not a[bad].any() and a.shape == (6, 512)
    assert [s["track_id"] for s in summary["skipped"]] == ["jazz.00002"] and summary["skipped"][0]["reason"]
    assert "skipped jazz.00002" in out
    assert fa.of_row(bad).shape == (0, 512) and fa.of_row(0).shape == (int(np.ceil(3 / fa.info.hop_s)), 512)
    assert fa.info.sample_rate == 32000 and fa.info.missing_rows == [bad]


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "--weights-dir" in capsys.readouterr().out


def test_missing_weights_exit_2(small_ds, tmp_path, capsys):
    ds = _copy(small_ds, tmp_path / "ds")
    (tmp_path / "empty").mkdir()
    assert main(["--data", str(ds), "--encoders", "fcn_msd", "--weights-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "sota_music_taggers/msd/fcn/best_model.pth" in err and "https://" in err and "Traceback" not in err
    assert not (ds / "embeddings").exists()


def test_no_weights_folder_and_unknown_encoder_exit_2(small_ds, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WORKBENCH_WEIGHTS", raising=False)
    assert main(["--data", str(small_ds), "--encoders", "fcn_msd"]) == 2
    assert "WORKBENCH_WEIGHTS" in capsys.readouterr().err
    assert main(["--data", str(small_ds), "--encoders", "vggish"]) == 2
    assert "unknown encoder" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--encoders", "fcn_msd"]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


def test_default_workers_use_every_core_only_on_a_large_collection():
    from core.encoders.embed import default_workers

    assert default_workers(40, 8, cores=2) == 1  # 5 batches: a second process would cost more than it saves
    assert default_workers(8000, 8, cores=2) == 2  # fma_small: both cores
    assert default_workers(8000, 8, cores=64) == 64 and default_workers(0, 8, cores=4) == 1
