"""Artifact builders for the app's tests and benchmark: a small dataset from real demo audio,
and a large synthetic one (8,000 tracks, 128-d) whose audio paths reuse the demo files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

DEMO_MODELS = ("baseline", "conv_ae_z16", "mlp_ae_z8")


def demo_audio_files() -> list[Path]:
    """The real tracks bundled with the installed immich_memories_music package (mood folders)."""
    from immich_memories_music import tracks_dir

    return sorted(tracks_dir().glob("*/*.opus"))


def _features(path: Path, seconds: float = 8.0) -> np.ndarray:
    """A small real feature vector of a track: mean/std of 20 MFCCs plus chroma means."""
    import librosa

    from core.audio.decode import load_audio

    y = load_audio(path, max_seconds=seconds)
    mfcc = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20)
    chroma = librosa.feature.chroma_stft(y=y, sr=22050)
    return np.concatenate([mfcc.mean(1), mfcc.std(1), chroma.mean(1)]).astype(np.float32)


def _write_embedding(ds_dir: Path, name: str, matrix: np.ndarray) -> None:
    """Write embeddings/<name>.npy and its JSON sidecar."""
    folder = ds_dir / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}.npy", matrix.astype(np.float32))
    (folder / f"{name}.json").write_text(json.dumps({
        "model": name, "checkpoint": "" if name == "baseline" else f"checkpoints/{name}/best.pt",
        "config": {}, "date": "2026-11-21", "git_commit": "test", "pooling": "mean",
        "dim": int(matrix.shape[1])}))


def _write_eval(ds_dir: Path) -> None:
    """Write metrics.json, queries.csv and report.md with the real evaluator (few bootstraps)."""
    from core.recommend.evaluation import EvalConfig, evaluate_dataset

    evaluate_dataset(ds_dir, EvalConfig(n_boot=50, ks=(5,), n_queries=4))


def make_demo_artifacts(root: Path, name: str = "demo", with_eval: bool = True,
                        with_recon: bool = True) -> Path:
    """A dataset folder from the real demo tracks: catalog, real-feature embeddings, eval, recon."""
    files = demo_audio_files()
    ds_dir = root / name
    ds_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, f in enumerate(files):
        mood = f.parent.name
        style = "electronic" if "electronic" in f.stem else "acoustic"
        rows.append({"track_id": f.stem, "path": str(f), "genre": mood, "artist": style,
                     "title": f.stem.replace("_", " ").title(), "split": ("train", "val", "test")[i % 3],
                     "duration_s": round(sf.info(str(f)).duration, 2), "status": "ok",
                     "tags": f"{mood}|{style}", "row": i})
    tracks = pd.DataFrame(rows)
    tracks.to_csv(ds_dir / "catalog.csv", index=False)
    feats = np.stack([_features(f) for f in files])
    base = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    rng = np.random.default_rng(0)
    models = {"baseline": base,
              "conv_ae_z16": base @ rng.normal(size=(base.shape[1], 16)),
              "mlp_ae_z8": np.tanh(base @ rng.normal(size=(base.shape[1], 8)))}
    for m, mat in models.items():
        _write_embedding(ds_dir, m, mat)
    if with_eval:
        _write_eval(ds_dir)
    if with_recon:
        make_recon(ds_dir, files[:2])
    return ds_dir


def make_recon(ds_dir: Path, files: list[Path], sizes: tuple[int, ...] = (8, 32)) -> None:
    """A small latent-size study folder in core.latent.study's layout (schema recon-study/1): real audio
    clips with noisy 'reconstructions', per-size metrics, an interpolation; PNGs left out on purpose
    (the page then draws spectrograms itself)."""
    from core.audio.decode import load_audio

    recon = ds_dir / "recon"
    rng = np.random.default_rng(1)
    clips, per_size = [], {str(z): {"clips": {}} for z in sizes}
    for f in files:
        cid = f"{f.stem}_s0"
        d = recon / "clips" / cid
        d.mkdir(parents=True, exist_ok=True)
        y = load_audio(f, max_seconds=3.0)
        sf.write(d / "original.wav", y, 22050)
        sf.write(d / "oracle.wav", 0.9 * y, 22050)
        clips.append({"clip_id": cid, "track_id": f.stem, "genre": f.parent.name, "segment": 0, "start_s": 0.0,
                      "original_wav": f"clips/{cid}/original.wav", "oracle_wav": f"clips/{cid}/oracle.wav",
                      "oracle_metrics": {"lsd_db": 5.0, "logmel_l1": 2.0}})
        for z in sizes:
            zd = recon / f"z{z}" / "clips" / cid
            zd.mkdir(parents=True, exist_ok=True)
            noisy = np.clip(y + rng.normal(scale=0.3 / z ** 0.5, size=y.shape), -1, 1).astype(np.float32)
            sf.write(zd / "recon.wav", noisy, 22050)
            per_size[str(z)]["clips"][cid] = {"recon_wav": f"z{z}/clips/{cid}/recon.wav",
                                              "metrics": {"lsd_db": 5.0 + 40 / z, "logmel_l1": 2.0 + 20 / z}}
    steps = [{"t": t, "wav": f"z{sizes[-1]}/clips/{clips[i % len(clips)]['clip_id']}/recon.wav",
              "nearest_genre": clips[i % len(clips)]["genre"]} for i, t in enumerate((0.0, 0.5, 1.0))]
    index = {"schema": "recon-study/1", "dataset": ds_dir.name, "sample_rate": 22050, "model": "conv2d",
             "sizes": list(sizes), "chosen_size": sizes[-1],
             "rule": {"text": f"smallest size within 1 dB of the best: {sizes[-1]}"},
             "metric_names": ["lsd_db", "logmel_l1"],
             "metric_info": {"lsd_db": {"unit": "dB", "desc": "log-spectral distance"},
                             "logmel_l1": {"unit": "dB", "desc": "log-mel L1"}},
             "oracle": {"lsd_db": 5.0, "logmel_l1": 2.0},
             "metrics": {str(z): {"lsd_db": 5.0 + 40 / z, "logmel_l1": 2.0 + 20 / z} for z in sizes},
             "selected_on": "val",
             "selection": {"selected_on": "val", "fallback": False, "n_segments": 4,
                           "text": "chosen on 4 val segments; every figure is measured on 4 test segments",
                           "metrics": {str(z): {"lsd_db": 5.2 + 40 / z, "logmel_l1": 2.1 + 20 / z} for z in sizes},
                           "oracle": {"lsd_db": 5.1, "logmel_l1": 2.0}},
             "clips": clips, "per_size": per_size,
             "generation": {"size": sizes[-1], "interpolation": {"from": clips[0]["clip_id"],
                                                                 "to": clips[-1]["clip_id"], "steps": steps},
                            "samples": {"items": []}, "arithmetic": []},
             "new_music": {}, "demo": {}}
    (recon / "index.json").write_text(json.dumps(index))


def make_synthetic_artifacts(root: Path, n_tracks: int = 8000, dim: int = 128, name: str = "synth",
                             models: tuple[str, ...] = ("baseline", "conv_ae_z128"), seed: int = 0) -> Path:
    """A large synthetic dataset (genre-clustered random embeddings); audio paths cycle the demo files."""
    rng = np.random.default_rng(seed)
    files = demo_audio_files()
    genres = np.array([f"genre_{i}" for i in range(8)])
    g = rng.integers(0, 8, n_tracks)
    ds_dir = root / name
    ds_dir.mkdir(parents=True, exist_ok=True)
    tracks = pd.DataFrame({
        "track_id": [f"{i:06d}" for i in range(n_tracks)],
        "path": [str(files[i % len(files)]) for i in range(n_tracks)],
        "genre": genres[g], "artist": [f"artist {i // 10}" for i in range(n_tracks)],
        "title": [f"Track {i}" for i in range(n_tracks)],
        "split": rng.choice(["train", "val", "test"], n_tracks, p=[0.8, 0.1, 0.1]),
        "duration_s": 30.0, "status": "ok", "tags": "", "row": np.arange(n_tracks)})
    tracks.to_csv(ds_dir / "catalog.csv", index=False)
    centers = rng.normal(size=(8, dim))
    for m in models:
        _write_embedding(ds_dir, m, centers[g] + rng.normal(scale=1.5, size=(n_tracks, dim)))
    return ds_dir
