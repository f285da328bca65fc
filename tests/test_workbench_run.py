"""`workbench run` as a user launches it (the console command, a real subprocess) on small folders of real
music (and 30 generated tracks with artists): every step in order, the ones a collection does not support
skipped with the reason, a closing table; a run killed midway resumes, and a second run reuses everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

WORKBENCH = Path(sys.executable).parent / "workbench"
pytestmark = pytest.mark.skipif(not WORKBENCH.exists(), reason="the project is not installed (make install)")


def folder_of(root: Path, src: Path, genres: dict[str, int]) -> Path:
    """A folder `<genre>/<clip>.wav` of real GTZAN clips (symlinks), `genres` {genre: n}."""
    for g, n in genres.items():
        (root / g).mkdir(parents=True)
        for clip in sorted((src / g).glob("*.wav"))[:n]:
            (root / g / clip.name).symlink_to(clip)
    return root


def run_cmd(root: Path, out: Path, *extra: str) -> list[str]:
    return [str(WORKBENCH), "run", "--root", str(root), "--out", str(out), "--quiet", *extra]


def env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def outcomes(out: Path) -> dict[str, tuple[str, str]]:
    return {r["step"]: (r["status"], r["why"]) for r in json.loads((out / "run_summary.json").read_text())}


def test_three_tracks_of_one_genre(tmp_path, shared_data):
    root = folder_of(tmp_path / "music", shared_data / "gtzan_mini" / "genres_original", {"jazz": 3})
    out = tmp_path / "artifacts" / "three"
    r = subprocess.run(run_cmd(root, out, "--only", "prepare,genre tagger"), cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cat = pd.read_csv(out / "catalog.csv")
    assert Counter(cat["split"]) == {"train": 1, "val": 1, "test": 1}
    steps = outcomes(out)
    assert steps["prepare"][0] == "done"
    assert steps["genre tagger"][0] == "skipped" and "at least 2 genres" in steps["genre tagger"][1]
    assert steps["evaluate"] == ("skipped", "not in --only")
    assert f"open the app on it: workbench app --artifacts {out.parent}" in r.stdout


def test_thirty_tracks_with_artists_split_by_genre_and_artist(tmp_path):
    from tests.helpers.audio import noise, write_wav

    root = tmp_path / "music"
    rows = []
    for g, genre in enumerate(("folk", "metal", "soul")):
        for i in range(10):
            rel = f"{genre}/{genre}_{i:02d}.wav"
            write_wav(root / rel, noise(1.5, seed=10 * g + i))
            rows.append({"path": rel, "artist": f"{genre} band {i // 2}"})  # 5 artists of 2 tracks per genre
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "artifacts" / "thirty"
    argv = run_cmd(root, out, "--labels", str(tmp_path / "labels.csv"), "--only", "prepare", "--workers", "1")
    r = subprocess.run(argv, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cat = pd.read_csv(out / "catalog.csv")
    assert (cat["status"] == "ok").all() and len(cat) == 30
    assert (cat.groupby("artist")["split"].nunique() == 1).all()
    for _, g in cat.groupby("genre"):
        assert {"train", "val", "test"} == set(g["split"])
    assert outcomes(out)["prepare"][0] == "done" and "prepare  " in r.stdout


def test_six_tracks_killed_midway_resume_then_reuse_everything(tmp_path, shared_data):
    root = folder_of(tmp_path / "music", shared_data / "gtzan_mini" / "genres_original", {"rock": 3, "classical": 3})
    out = tmp_path / "artifacts" / "six"
    proc = subprocess.Popen(run_cmd(root, out), cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    stamp = out / ".workbench_run" / "autoencoders_mel.json"
    deadline = time.monotonic() + 400
    while not stamp.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # killed in the step after the autoencoders
    proc.wait()
    assert stamp.exists() and not (out / "run_summary.json").exists()

    r = subprocess.run(run_cmd(root, out), cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    steps = outcomes(out)
    assert steps["prepare"][0] == "reused" and steps["autoencoders (mel)"][0] == "reused"
    for name in ("retrieval", "genre tagger", "evaluate", "maps"):
        assert steps[name][0] == "done", (name, steps[name])
    assert steps["embed"] == ("skipped", "no --weights-dir (pretrained encoders need their weights)")
    assert steps["text search"][0] == "skipped" and "2 val and 2 test" in steps["text search"][1]
    assert steps["general text model"][0] == "skipped" and "--weights-dir" in steps["general text model"][1]
    assert steps["latent study"][0] == "skipped" and "--latent" in steps["latent study"][1]
    assert Counter(pd.read_csv(out / "catalog.csv")["split"]) == {"train": 4, "val": 1, "test": 1}
    for f in ("metrics.json", "tagger/metrics.json", "retrieval/index", "embeddings/retrieval_mels.npy"):
        assert (out / f).exists(), f
    table = r.stdout[r.stdout.index("step "):]
    assert "retrieval" in table and "workbench retrieval --data" in table and "done" in table

    t0 = time.monotonic()
    r = subprocess.run(run_cmd(root, out), cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    assert {s for s, _ in outcomes(out).values()} == {"reused", "skipped"}
    assert time.monotonic() - t0 < 60


def test_general_text_model_makes_free_text_search_work_on_a_folder(tmp_path, shared_data, demo_dir, weights_dir):
    """With --weights-dir and --text-data (the demo corpus, whose templates are its texts), the run trains a
    general text model beside the collection, where the app finds it, and `workbench text-query` ranks the
    folder's tracks with a verdict."""
    import shutil

    texts = tmp_path / "artifacts" / "demo"
    shutil.copytree(demo_dir, texts)
    embed = [sys.executable, "-m", "train.embed", "--data", str(texts), "--encoders", "efficientat_mn04",
             "--weights-dir", str(weights_dir), "--quiet"]
    assert subprocess.run(embed, cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          timeout=300).returncode == 0
    root = folder_of(tmp_path / "music", shared_data / "gtzan_mini" / "genres_original", {"rock": 3, "classical": 3})
    out = tmp_path / "artifacts" / "six"
    r = subprocess.run(run_cmd(root, out, "--weights-dir", str(weights_dir), "--text-data", str(texts), "--only",
                               "prepare,embed,general text model"), cwd=tmp_path, env=env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert outcomes(out)["general text model"][0] == "done"
    model = tmp_path / "artifacts" / "text_models" / "six"
    info = json.loads((model / "model.json").read_text())
    assert [Path(d).name for d in info["datasets"]] == ["demo", "six"]
    assert "six" in info["evaluation"] and (model / "report.md").is_file()
    q = subprocess.run([str(WORKBENCH), "text-query", "--model", str(model), "--data", str(out), "--query",
                        "classical music with strings", "--k", "3", "--json"], cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=300)
    assert q.returncode == 0, q.stderr[-2000:]
    res = json.loads(q.stdout)
    assert len(res["hits"]) == 3 and "good_match" in res["verdict"]
    catalog = pd.read_csv(out / "catalog.csv").set_index("track_id")
    assert catalog.loc[res["hits"][0]["track_id"], "genre"] == "classical"
