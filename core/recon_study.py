"""The latent-size study: train one autoencoder per latent size, reconstruct audio, measure,
choose the smallest good size, analyse latents, encode new music and generate.

Everything lands under `<ds>/recon/` and is described by `recon/index.json` (schema in
docs/sections/latent_study.md); the Streamlit "Reconstructions" page reads only that.

```python
from core.recon_study import StudyConfig, run_study
run_study(Path("artifacts/gtzan_mini"), StudyConfig(sizes=(8, 16, 32)))
```
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from core.audio import AUDIO_EXTENSIONS, AudioError, is_audio_path, load_audio
from core.cache import FeatureCache
from core.config import AudioConfig
from core.features import log_mel
from core.generation import centroid_arithmetic, fit_gaussian, genre_centroids, interpolate
from core.griffinlim import GriffinLimConfig, mel_to_audio
from core.latent_analysis import AnalysisConfig, analyze
from core.recon_metrics import METRIC_NAMES, audio_metrics, logmel_l1, logmel_mse
from core.windows import FixedWindowDataset, MelStats, RandomCropDataset, compute_mel_stats

SCHEMA = "recon-study/1"
METRIC_INFO: dict[str, dict[str, Any]] = {
    "logmel_mse": {"unit": "dB^2", "desc": "log-mel MSE of the final audio vs the original audio"},
    "logmel_l1": {"unit": "dB", "desc": "log-mel mean absolute error of the final audio vs the original"},
    "spectral_convergence": {"unit": "", "desc": "||S - S^||_F / ||S||_F on linear STFT magnitudes"},
    "lsd_db": {"unit": "dB", "desc": "log-spectral distance on the STFT power (80 dB dynamic range)"},
    "mrstft": {"unit": "", "desc": "multi-resolution STFT distance (SC + log-magnitude L1, 3 resolutions)"},
    "decoder_mel_mse": {"unit": "dB^2", "desc": "decoder output log-mel vs the cached log-mel (before audio)"},
    "decoder_mel_l1": {"unit": "dB", "desc": "decoder output log-mel L1 vs the cached log-mel"},
}
MEL_MAX_DB = 40.0
SPEC_DB_RANGE = (-70.0, 25.0)  # colour range of every spectrogram PNG (GTZAN: 1st..99.9th percentile)


class LatentSizeMismatch(ValueError):
    """A checkpoint holds a model of another latent size than the one asked for."""


class UnsupportedAudioFormat(ValueError):
    """An uploaded/new file whose extension the project cannot decode."""


@dataclass
class StudyConfig:
    """Settings of a latent-size sweep (everything but the latent size stays fixed)."""

    sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    model: str = "conv2d"
    objective: str = "ae"
    max_epochs: int = 80
    patience: int = 10
    lr: float = 1e-3
    batch_size: int = 8
    seed: int = 0
    max_wall_s: float = 270.0  # per size: the 5-minute budget minus evaluation
    num_threads: int = 1  # 1 avoids OpenMP oversubscription on a shared 2-core machine
    retrain: bool = False
    n_clips: int = 10  # fixed validation clips written as audio per size
    gl_iter: int = 48
    margin_db: float = 0.5  # rule: smallest size with LSD <= plateau + margin_db
    rule_metric: str = "lsd_db"
    analysis_sizes: tuple[int, ...] | None = None  # None: chosen, half, double (+ neighbours)
    with_umap: bool = True
    new_music_dir: Path | None = None
    demo_dir: Path | None = None
    n_new_segments: int = 1  # segments per new-music file (from the start)
    n_demo_clips: int = 28
    n_train_check: int = 10  # train segments (one per genre) re-measured per size: fit vs generalisation
    n_interp_steps: int = 6
    n_samples: int = 4
    n_neighbours: int = 5
    progress: bool = True
    tensorboard: bool = True
    max_steps_per_epoch: int | None = None  # tests only
    max_eval_segments: int | None = None  # tests only: cap the validation segments measured


@dataclass
class SegmentRef:
    """One 5-s segment of a dataset: where its mel and its audio live."""

    segment: int
    track_id: str
    genre: str
    split: str
    path: str
    start_frame: int
    n_frames: int

    @property
    def clip_id(self) -> str:
        """File-system-safe id used for folders: <track_id>_s<start_frame>."""
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.track_id)
        return f"{safe}_f{self.start_frame}"


@dataclass
class SizeResult:
    """What the study knows about one latent size."""

    size: int
    run_name: str
    checkpoint: str
    trained_now: bool
    epochs: int
    best_val_loss: float
    train_wall_s: float
    n_params: int
    metrics: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def run_name_for(model: str, size: int) -> str:
    """Run / checkpoint folder name of one size."""
    return f"recon_{model}_z{size}"


def checkpoint_for(ds_dir: Path, model: str, size: int) -> Path:
    """Best checkpoint path of one size."""
    return Path(ds_dir) / "checkpoints" / run_name_for(model, size) / "best.pt"


def load_recon_model(ds_dir: Path | str, size: int, model: str = "conv2d") -> tuple[torch.nn.Module, MelStats]:
    """Load the trained model of one latent size and its mel statistics; clear errors if absent/mismatched."""
    from core.models.autoencoders import model_from_config
    from core.training import load_checkpoint

    path = checkpoint_for(Path(ds_dir), model, size)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint for latent size {size} at {path}; run "
            f"`python -m train.latent_sizes --data-dir {ds_dir} --sizes {size}` first"
        )
    ckpt = load_checkpoint(path)
    check_latent_size(ckpt, size, path)
    net = model_from_config(ckpt["model_config"])
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    stats = ckpt.get("extra", {}).get("mel_stats")
    if stats is None:
        raise ValueError(f"checkpoint {path} has no mel statistics; it was not written by the recon study")
    return net, MelStats.from_dict(stats)


def check_latent_size(ckpt: dict[str, Any], size: int, path: Path | str = "") -> None:
    """Raise LatentSizeMismatch if the checkpoint's latent_dim differs from `size`."""
    have = ckpt.get("model_config", {}).get("kwargs", {}).get("latent_dim")
    if have != size:
        raise LatentSizeMismatch(
            f"checkpoint {path} holds a model with latent size {have}, but latent size {size} was asked for; "
            f"retrain with --sizes {size} --retrain or point to the right checkpoint"
        )


def _segment_refs(fc: FeatureCache, rows: np.ndarray | None = None) -> list[SegmentRef]:
    """SegmentRefs of all segments (or those of the given track rows), in segment order."""
    seg = fc.segments
    tracks = fc.tracks
    refs = []
    keep = None if rows is None else set(int(r) for r in rows)
    for rec in seg.itertuples():
        if keep is not None and int(rec.row) not in keep:
            continue
        t = tracks.iloc[int(rec.row)]
        refs.append(SegmentRef(int(rec.segment), str(rec.track_id), str(t["genre"]), str(t["split"]),
                               str(t["path"]), int(rec.start_frame), int(rec.n_frames)))
    return refs


class _AudioCache:
    """Decoded tracks kept in memory while a study runs (each file decoded once)."""

    def __init__(self, cfg: AudioConfig):
        self.cfg = cfg
        self.store: dict[str, np.ndarray] = {}
        self.complete: dict[str, bool] = {}  # True when the whole file is already decoded

    def segment(self, ref: SegmentRef) -> np.ndarray:
        """Original audio under a segment's valid frames: (n_frames - 1) * hop samples."""
        hop = self.cfg.hop_length
        start = ref.start_frame * hop
        n = max(1, (ref.n_frames - 1) * hop)
        have = self.store.get(ref.path)
        if have is None or (len(have) < start + n and not self.complete.get(ref.path, False)):
            # decode only up to the end of the segment (long tracks): reloaded if a later segment needs more
            seconds = (start + n) / self.cfg.sample_rate + 1.0
            have = load_audio(ref.path, self.cfg, max_seconds=seconds)
            self.store[ref.path] = have
            self.complete[ref.path] = len(have) < start + n
        audio = have
        out = audio[start : start + n]
        if len(out) < n:
            out = np.pad(out, (0, n - len(out)))
        return out.astype(np.float32)


def encode_mels(net: torch.nn.Module, stats: MelStats, mels_db: np.ndarray, batch: int = 32) -> np.ndarray:
    """Latents [n, k] of log-mels [n, n_mels, frames] in dB."""
    out = []
    with torch.no_grad():
        for i in range(0, len(mels_db), batch):
            x = torch.from_numpy(stats.apply(np.asarray(mels_db[i : i + batch], dtype=np.float32)))
            out.append(net.encode(x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def decode_latents(net: torch.nn.Module, stats: MelStats, z: np.ndarray, cfg: AudioConfig,
                   batch: int = 32) -> np.ndarray:
    """Log-mels in dB [n, n_mels, frames] from latents [n, k], clipped to the valid dB range."""
    out = []
    with torch.no_grad():
        for i in range(0, len(z), batch):
            x_hat = net.decode(torch.from_numpy(np.asarray(z[i : i + batch], dtype=np.float32))).numpy()
            out.append(np.clip(stats.invert(x_hat), cfg.top_db_floor, MEL_MAX_DB))
    return np.concatenate(out).astype(np.float32)


def save_wav(path: Path, audio: np.ndarray, cfg: AudioConfig) -> None:
    """Write 16-bit PCM WAV (peak-limited to [-1, 1])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(np.nan_to_num(audio), -1.0, 1.0), cfg.sample_rate, subtype="PCM_16")


def save_spec_png(path: Path, mel_db: np.ndarray, cfg: AudioConfig, title: str = "",
                  db_range: tuple[float, float] = SPEC_DB_RANGE) -> None:
    """Spectrogram image of a log-mel in dB (low frequencies at the bottom).

    One fixed colour range (SPEC_DB_RANGE) for every image, so an original, its oracle and its
    reconstructions are directly comparable by eye.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 2.6), dpi=90)
    secs = mel_db.shape[1] * cfg.hop_length / cfg.sample_rate
    im = ax.imshow(mel_db, origin="lower", aspect="auto", cmap="magma", vmin=db_range[0], vmax=db_range[1],
                   extent=(0, secs, 0, mel_db.shape[0]))
    fig.colorbar(im, ax=ax, label="dB", pad=0.01)
    ax.set_xlabel("s")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (NaN/inf become null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(obj), indent=2))
    tmp.replace(path)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None, paths to str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def choose_size(metrics_by_size: dict[int, dict[str, float]], metric: str = "lsd_db",
                margin: float = 0.5) -> tuple[int, float, str]:
    """The rule: smallest size whose `metric` is within `margin` of the plateau (best value).

    Returns (chosen size, plateau value, the rule in words).
    """
    if not metrics_by_size:
        raise ValueError("no sizes to choose from")
    vals = {s: float(m[metric]) for s, m in metrics_by_size.items() if math.isfinite(float(m[metric]))}
    if not vals:
        raise ValueError(f"no finite {metric} values")
    plateau = min(vals.values())
    chosen = min(s for s, v in vals.items() if v <= plateau + margin)
    text = (f"smallest latent size whose mean validation {metric} is within {margin:g} of the plateau "
            f"(the best value over all sizes, {plateau:.3f})")
    return chosen, plateau, text


def analysis_sizes_for(sizes: list[int], chosen: int) -> list[int]:
    """Chosen, half and double size where trained; filled with the nearest other sizes up to three."""
    pick = [s for s in (chosen // 2, chosen, chosen * 2) if s in sizes]
    for s in sorted(sizes, key=lambda s: (abs(math.log2(s) - math.log2(chosen)), s)):
        if len(pick) >= 3:
            break
        if s not in pick:
            pick.append(s)
    return sorted(pick)


def _pad_mel(mel: np.ndarray, frames: int, floor: float) -> tuple[np.ndarray, int]:
    """Crop or pad (with the dB floor) a log-mel to `frames`; returns it and the valid frame count."""
    n = min(mel.shape[1], frames)
    out = np.full((mel.shape[0], frames), floor, np.float32)
    out[:, :n] = mel[:, :n]
    return out, n


# --------------------------------------------------------------------------- training


def train_size(fc: FeatureCache, ds_dir: Path, size: int, stats: MelStats, cfg: StudyConfig) -> SizeResult:
    """Train (or reuse) the model of one latent size through core.training.fit."""
    from core.experiments import append_run
    from core.models.autoencoders import build_model
    from core.training import TrainConfig, fit, load_checkpoint

    acfg = fc.config
    run = run_name_for(cfg.model, size)
    best = checkpoint_for(ds_dir, cfg.model, size)
    if best.exists() and not cfg.retrain:
        ckpt = load_checkpoint(best)
        check_latent_size(ckpt, size, best)
        hist = ckpt.get("history", [])
        return SizeResult(size, run, str(best.relative_to(ds_dir)), False, int(ckpt.get("epoch", 0)),
                          float(ckpt.get("best_val_loss", math.nan)), float(ckpt.get("wall_s", math.nan)),
                          0, {"epochs_history": len(hist)})
    if cfg.retrain:
        shutil.rmtree(best.parent, ignore_errors=True)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg.model, n_mels=acfg.n_mels, n_frames=acfg.segment_frames, latent_dim=size,
                      objective=cfg.objective)
    train_rows, val_rows = fc.split_rows("train"), fc.split_rows("val")
    train_ds = RandomCropDataset(fc, train_rows, stats, window=acfg.segment_frames, seed=cfg.seed)
    val_ds = FixedWindowDataset(fc, val_rows, stats, window=acfg.segment_frames)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_dl = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=gen)
    val_dl = DataLoader(val_ds, batch_size=cfg.batch_size)
    tcfg = TrainConfig(run_name=run, max_epochs=cfg.max_epochs, patience=cfg.patience, lr=cfg.lr,
                       batch_size=cfg.batch_size, seed=cfg.seed, out_dir=ds_dir, max_wall_s=cfg.max_wall_s,
                       num_threads=cfg.num_threads, progress=cfg.progress, tensorboard=cfg.tensorboard,
                       max_steps_per_epoch=cfg.max_steps_per_epoch,
                       extra={"mel_stats": stats.to_dict(), "study": "latent_sizes", "latent_dim": size})
    res = fit(net, train_dl, val_dl, tcfg)
    out = SizeResult(size, run, str(Path(res.best_checkpoint).relative_to(ds_dir)), True, res.epochs,
                     res.best_val_loss, res.wall_s, net.n_parameters())
    append_run(ds_dir, {
        "run_name": run, "model": cfg.model, "objective": cfg.objective, "latent_dim": size,
        "study": "latent_sizes", "epochs": res.epochs, "best_epoch": res.best_epoch,
        "stopped": res.stopped_reason, "train_loss": res.best_train_loss, "val_loss": res.best_val_loss,
        "wall_s": round(res.wall_s, 1), "params": net.n_parameters(), "lr": cfg.lr,
        "batch_size": cfg.batch_size, "seed": cfg.seed,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    })
    return out


# --------------------------------------------------------------------------- evaluation


def reconstruct_refs(net: torch.nn.Module, stats: MelStats, fc: FeatureCache, refs: list[SegmentRef],
                     audio: _AudioCache, gl: GriffinLimConfig, oracle: dict[int, dict] | None = None,
                     desc: str = "recon", progress: bool = True) -> tuple[pd.DataFrame, dict[int, dict]]:
    """Reconstruct segments; returns per-clip metrics and {segment: {mel, recon_mel, audio, z}}."""
    cfg = fc.config
    mels = np.stack([np.asarray(fc.mels[r.segment], dtype=np.float32) for r in refs])
    z = encode_mels(net, stats, mels)
    rec = decode_latents(net, stats, z, cfg)
    rows, store = [], {}
    for i, r in enumerate(tqdm(refs, desc=desc, leave=False, disable=not progress)):
        valid = max(2, r.n_frames)
        y = mel_to_audio(rec[i][:, :valid], cfg, gl)
        ref_audio = audio.segment(r)
        m = audio_metrics(ref_audio, y, cfg)
        m["decoder_mel_mse"] = logmel_mse(mels[i][:, :valid], rec[i][:, :valid])
        m["decoder_mel_l1"] = logmel_l1(mels[i][:, :valid], rec[i][:, :valid])
        rows.append({"segment": r.segment, "clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre, **m})
        store[r.segment] = {"mel": mels[i], "recon_mel": rec[i], "audio": y, "z": z[i]}
    return pd.DataFrame(rows), store


def oracle_refs(fc: FeatureCache, refs: list[SegmentRef], audio: _AudioCache, gl: GriffinLimConfig,
                progress: bool = True) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """The ceiling: the same mel inversion + Griffin-Lim applied to the true (cached) log-mel."""
    cfg = fc.config
    rows, store = [], {}
    for r in tqdm(refs, desc="oracle", leave=False, disable=not progress):
        mel = np.asarray(fc.mels[r.segment], dtype=np.float32)[:, : max(2, r.n_frames)]
        y = mel_to_audio(mel, cfg, gl)
        m = audio_metrics(audio.segment(r), y, cfg)
        m["decoder_mel_mse"] = 0.0
        m["decoder_mel_l1"] = 0.0
        rows.append({"segment": r.segment, "clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre, **m})
        store[r.segment] = y
    return pd.DataFrame(rows), store


def _mean_metrics(df: pd.DataFrame) -> dict[str, float]:
    """Mean of every metric column of a per-clip table."""
    cols = [c for c in METRIC_INFO if c in df.columns]
    return {c: float(df[c].mean()) for c in cols}


def plot_metrics(table: pd.DataFrame, oracle: dict[str, float], chosen: int | None, path: Path) -> None:
    """One panel per metric against latent size (log2 axis), oracle as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(METRIC_NAMES) + ["decoder_mel_mse"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), dpi=90)
    for ax, name in zip(axes.ravel(), names):
        ax.plot(table["size"], table[name], "o-", label="reconstruction")
        if f"{name}_std" in table.columns:
            ax.fill_between(table["size"], table[name] - table[f"{name}_std"],
                            table[name] + table[f"{name}_std"], alpha=0.15)
        ax.axhline(oracle.get(name, np.nan), color="k", ls="--", label="oracle (true mel)")
        if chosen is not None:
            ax.axvline(chosen, color="tab:green", ls=":", label=f"chosen z={chosen}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(table["size"]))
        ax.set_xticklabels([str(s) for s in table["size"]])
        unit = METRIC_INFO[name]["unit"]
        ax.set_title(f"{name}" + (f" ({unit})" if unit else ""), fontsize=10)
        ax.set_xlabel("latent size")
    axes.ravel()[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _plot_maps(res_maps: pd.DataFrame, elbow: pd.DataFrame, size: int, path: Path) -> None:
    """PCA and UMAP maps coloured by genre, plus the elbow/silhouette curve, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), dpi=90)
    genres = sorted(res_maps["genre"].unique())
    cmap = plt.get_cmap("tab10" if len(genres) <= 10 else "tab20")
    for ax, (xc, yc, title) in zip(axes[:2], (("pca_x", "pca_y", "PCA"), ("umap_x", "umap_y", "UMAP"))):
        for i, g in enumerate(genres):
            d = res_maps[res_maps["genre"] == g]
            ax.scatter(d[xc], d[yc], s=14, color=cmap(i % cmap.N), label=g)
        ax.set_title(f"z={size}: {title} coloured by genre", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(fontsize=7, loc="best", ncol=2)
    ax = axes[2]
    if len(elbow):
        ax.plot(elbow["k"], elbow["inertia"], "o-", color="tab:blue")
        ax.set_ylabel("k-means inertia", color="tab:blue")
        ax2 = ax.twinx()
        ax2.plot(elbow["k"], elbow["silhouette"], "s--", color="tab:red")
        ax2.set_ylabel("silhouette", color="tab:red")
    ax.set_xlabel("k")
    ax.set_title("elbow curve and silhouette", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def latent_table(net: torch.nn.Module, stats: MelStats, fc: FeatureCache,
                 refs: list[SegmentRef]) -> tuple[np.ndarray, pd.DataFrame]:
    """Latents of all given segments and their segment/track/genre/split table."""
    mels = np.asarray(fc.mels[[r.segment for r in refs]], dtype=np.float32)
    z = encode_mels(net, stats, mels)
    meta = pd.DataFrame([{"segment": r.segment, "track_id": r.track_id, "genre": r.genre, "split": r.split}
                         for r in refs])
    return z, meta


def neighbours(z_query: np.ndarray, z_all: np.ndarray, meta: pd.DataFrame, k: int = 5,
               exclude_track: str | None = None) -> pd.DataFrame:
    """Nearest dataset tracks to one latent (cosine distance, min over a track's segments)."""
    a = z_all / np.maximum(np.linalg.norm(z_all, axis=1, keepdims=True), 1e-12)
    q = np.asarray(z_query, dtype=np.float32).ravel()
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    d = 1.0 - a @ q
    df = meta.assign(distance=d)
    if exclude_track is not None:
        df = df[df["track_id"] != exclude_track]
    best = df.sort_values("distance").drop_duplicates("track_id").head(k).reset_index(drop=True)
    best.insert(0, "rank", np.arange(1, len(best) + 1))
    return best[["rank", "track_id", "genre", "split", "distance"]]


def nearest_genre(z: np.ndarray, centroids: dict[str, np.ndarray]) -> str:
    """Genre whose centroid is nearest (Euclidean) to z."""
    names = list(centroids)
    c = np.stack([centroids[n] for n in names])
    return names[int(np.argmin(np.linalg.norm(c - np.asarray(z)[None], axis=1)))]


# --------------------------------------------------------------------------- new audio


def check_audio_format(path: Path | str) -> Path:
    """Raise UnsupportedAudioFormat (with the accepted list) unless the extension is decodable."""
    path = Path(path)
    if not is_audio_path(path):
        raise UnsupportedAudioFormat(
            f"unsupported file format {path.suffix or '(no extension)'!r} for {path.name}; "
            f"accepted: {', '.join(AUDIO_EXTENSIONS)}"
        )
    return path


def encode_file(net: torch.nn.Module, stats: MelStats, path: Path | str, cfg: AudioConfig,
                gl: GriffinLimConfig, max_segments: int = 1) -> list[dict[str, Any]]:
    """Encode/reconstruct the first segments of an audio file; short files are padded (stated in `padded`)."""
    path = check_audio_format(path)
    try:
        audio = load_audio(path, cfg, max_seconds=cfg.segment_seconds * max_segments + 1.0)
    except AudioError as exc:
        raise UnsupportedAudioFormat(f"cannot decode {path.name}: {exc}") from None
    mel_full = log_mel(audio, cfg)
    out = []
    n_total = mel_full.shape[1]
    starts = list(range(0, max(1, n_total - cfg.segment_frames + 1), cfg.segment_hop))[:max_segments] or [0]
    for start in starts:
        mel, valid = _pad_mel(mel_full[:, start:], cfg.segment_frames, cfg.top_db_floor)
        valid = max(valid, 2)
        z = encode_mels(net, stats, mel[None])[0]
        rec = decode_latents(net, stats, z[None], cfg)[0]
        n = (valid - 1) * cfg.hop_length
        ref_audio = audio[start * cfg.hop_length : start * cfg.hop_length + n]
        ref_audio = np.pad(ref_audio, (0, n - len(ref_audio)))
        y = mel_to_audio(rec[:, :valid], cfg, gl)
        y_oracle = mel_to_audio(mel[:, :valid], cfg, gl)
        m = audio_metrics(ref_audio, y, cfg)
        m["decoder_mel_mse"] = logmel_mse(mel[:, :valid], rec[:, :valid])
        m["decoder_mel_l1"] = logmel_l1(mel[:, :valid], rec[:, :valid])
        mo = audio_metrics(ref_audio, y_oracle, cfg)
        out.append({"start_frame": start, "valid_frames": valid, "padded": valid < cfg.segment_frames,
                    "mel": mel, "recon_mel": rec, "z": z, "original_audio": ref_audio, "audio": y,
                    "oracle_audio": y_oracle, "metrics": m, "oracle_metrics": mo})
    return out


def encode_and_reconstruct(ds_dir: Path | str, size: int, audio_path: Path | str, model: str = "conv2d",
                           gl: GriffinLimConfig | None = None, k: int = 5) -> dict[str, Any]:
    """For the app's upload: encode the first 5 s of a file with the size-`size` model and reconstruct it.

    Returns dict(mel, recon_mel [n_mels, frames] dB, audio, oracle_audio, original_audio (float32 at the
    project rate), sample_rate, z, neighbours DataFrame, metrics, oracle_metrics, padded). Raises
    UnsupportedAudioFormat for files it cannot read, LatentSizeMismatch / FileNotFoundError for models.
    """
    ds_dir = Path(ds_dir)
    check_audio_format(audio_path)
    fc = FeatureCache.open(ds_dir)
    net, stats = load_recon_model(ds_dir, size, model)
    gl = gl or GriffinLimConfig()
    item = encode_file(net, stats, audio_path, fc.config, gl, max_segments=1)[0]
    lat = ds_dir / "recon" / f"z{size}" / "latents.npy"
    if lat.exists():
        z_all = np.load(lat)
        meta = pd.read_csv(lat.with_name("latents.csv"), dtype={"track_id": str})
    else:
        z_all, meta = latent_table(net, stats, fc, _segment_refs(fc))
    item["neighbours"] = neighbours(item["z"], z_all, meta, k)
    item["sample_rate"] = fc.config.sample_rate
    return item


def _new_music_block(net: torch.nn.Module, stats: MelStats, files: list[Path], cfg: AudioConfig,
                     gl: GriffinLimConfig, z_all: np.ndarray, meta: pd.DataFrame, out_dir: Path,
                     rel_root: Path, study: StudyConfig, label: str) -> tuple[pd.DataFrame, list[dict]]:
    """Encode/reconstruct a list of files; write audio/PNGs and return the metrics table and index items."""
    rows, items = [], []
    for f in tqdm(files, desc=label, leave=False, disable=not study.progress):
        try:
            results = encode_file(net, stats, f, cfg, gl, study.n_new_segments)
        except (UnsupportedAudioFormat, AudioError) as exc:
            rows.append({"name": f.name, "status": str(exc)})
            continue
        for j, r in enumerate(results):
            name = f"{Path(f).stem[:60]}" + (f"_s{j}" if j else "")
            safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
            d = out_dir / safe
            save_wav(d / "original.wav", r["original_audio"], cfg)
            save_wav(d / "oracle.wav", r["oracle_audio"], cfg)
            save_wav(d / "recon.wav", r["audio"], cfg)
            save_spec_png(d / "original.png", r["mel"][:, : r["valid_frames"]], cfg, f"{safe[:40]}: original")
            save_spec_png(d / "recon.png", r["recon_mel"][:, : r["valid_frames"]], cfg, "reconstruction")
            nb = neighbours(r["z"], z_all, meta, study.n_neighbours)
            row = {"name": safe, "status": "ok", "source": str(f), "padded": r["padded"],
                   **{k: v for k, v in r["metrics"].items()},
                   **{f"oracle_{k}": v for k, v in r["oracle_metrics"].items()},
                   "neighbours": "; ".join(f"{t} ({g}, {dist:.3f})" for t, g, dist in
                                           zip(nb["track_id"], nb["genre"], nb["distance"])),
                   "neighbour_genres": "|".join(nb["genre"])}
            rows.append(row)
            rel = d.relative_to(rel_root)
            items.append({"name": safe, "source": str(f), "padded": bool(r["padded"]),
                          "original_wav": str(rel / "original.wav"), "oracle_wav": str(rel / "oracle.wav"),
                          "recon_wav": str(rel / "recon.wav"), "original_png": str(rel / "original.png"),
                          "recon_png": str(rel / "recon.png"), "metrics": r["metrics"],
                          "oracle_metrics": r["oracle_metrics"], "neighbours": nb.to_dict("records")})
    return pd.DataFrame(rows), items


# --------------------------------------------------------------------------- generation


def generate(net: torch.nn.Module, stats: MelStats, cfg: AudioConfig, gl: GriffinLimConfig,
             z_all: np.ndarray, meta: pd.DataFrame, val_refs: list[SegmentRef], out_dir: Path,
             rel_root: Path, study: StudyConfig) -> dict[str, Any]:
    """Interpolation, Gaussian samples and genre-centroid arithmetic, written as WAV + PNG."""
    out: dict[str, Any] = {}
    train_mask = (meta["split"] == "train").to_numpy()
    z_train = z_all[train_mask] if train_mask.sum() >= 2 else z_all
    labels_train = meta["genre"].to_numpy()[train_mask] if train_mask.sum() >= 2 else meta["genre"].to_numpy()
    cents = genre_centroids(z_train, labels_train)
    seg_index = {int(s): i for i, s in enumerate(meta["segment"])}

    def render(z: np.ndarray, name: str, title: str) -> dict[str, Any]:
        mel = decode_latents(net, stats, z[None], cfg)[0]
        y = mel_to_audio(mel, cfg, gl)
        save_wav(out_dir / f"{name}.wav", y, cfg)
        save_spec_png(out_dir / f"{name}.png", mel, cfg, title)
        z_back = encode_mels(net, stats, mel[None])[0]  # what the encoder thinks the result is
        return {"wav": str((out_dir / f"{name}.wav").relative_to(rel_root)),
                "png": str((out_dir / f"{name}.png").relative_to(rel_root)),
                "nearest_genre": nearest_genre(z_back, cents),
                "rms_db": float(20 * np.log10(max(float(np.sqrt(np.mean(y**2))), 1e-10)))}

    # interpolation between two validation clips of different genres (prefer classical -> metal)
    by_genre = {}
    for r in val_refs:
        by_genre.setdefault(r.genre, r)
    a = by_genre.get("classical") or val_refs[0]
    b = by_genre.get("metal") or next((r for r in val_refs if r.genre != a.genre), val_refs[-1])
    if a.segment in seg_index and b.segment in seg_index:
        za, zb = z_all[seg_index[a.segment]], z_all[seg_index[b.segment]]
        steps = []
        for i, (t, z) in enumerate(zip(np.linspace(0, 1, study.n_interp_steps),
                                       interpolate(za, zb, study.n_interp_steps))):
            item = render(z, f"interp_{i:02d}", f"interp t={t:.2f} ({a.genre}->{b.genre})")
            steps.append({"t": float(t), **item})
        out["interpolation"] = {"from": a.clip_id, "from_genre": a.genre, "to": b.clip_id,
                                "to_genre": b.genre, "steps": steps}
    # samples from a Gaussian fitted to the training latents
    g = fit_gaussian(z_train)
    samples = []
    for i, z in enumerate(g.sample(study.n_samples, seed=study.seed)):
        samples.append(render(z, f"sample_{i:02d}", f"Gaussian sample {i}"))
    out["samples"] = {"fitted_on": "train-split latents (Ledoit-Wolf covariance)", "items": samples}
    # genre-centroid arithmetic: clip + (centroid[target] - centroid[source])
    pairs = [(a, b) for a, b in (("classical", "metal"), ("jazz", "disco"), ("metal", "classical"))
             if a in by_genre and a in cents and b in cents]
    if not pairs:  # other datasets (demo moods, FMA genres): the first two validation genres, both ways
        gs = [g for g in sorted(by_genre) if g in cents][:2]
        pairs = [(gs[0], gs[1]), (gs[1], gs[0])] if len(gs) == 2 else []
    arith = []
    for src, tgt in pairs:
        ref = by_genre.get(src)
        if ref is None or tgt not in cents or src not in cents or ref.segment not in seg_index:
            continue
        z0 = z_all[seg_index[ref.segment]]
        item = render(centroid_arithmetic(z0, cents, src, tgt), f"arith_{src}_to_{tgt}",
                      f"{ref.clip_id} - {src} + {tgt}")
        orig = render(z0, f"arith_{src}_to_{tgt}_start", f"{ref.clip_id} (decoded)")
        arith.append({"clip_id": ref.clip_id, "source": src, "target": tgt, **item,
                      "start_wav": orig["wav"], "start_png": orig["png"],
                      "start_nearest_genre": orig["nearest_genre"]})
    out["arithmetic"] = arith
    return out


# --------------------------------------------------------------------------- the study


def run_study(ds_dir: Path | str, cfg: StudyConfig | None = None) -> dict[str, Any]:
    """Run the whole sweep and write `<ds>/recon/` (see module doc); returns the index dict."""
    cfg = cfg or StudyConfig()
    ds_dir = Path(ds_dir)
    torch.set_num_threads(max(1, cfg.num_threads))
    fc = FeatureCache.open(ds_dir)
    acfg = fc.config
    sizes = sorted(set(int(s) for s in cfg.sizes))
    if not sizes or min(sizes) < 1:
        raise ValueError(f"latent sizes must be positive integers, got {cfg.sizes}")
    if not cfg.retrain:  # refuse a checkpoint of another latent size before any work
        for size in sizes:
            path = checkpoint_for(ds_dir, cfg.model, size)
            if path.exists():
                from core.training import load_checkpoint

                check_latent_size(load_checkpoint(path), size, path)
    recon = ds_dir / "recon"
    recon.mkdir(parents=True, exist_ok=True)
    gl = GriffinLimConfig(n_iter=cfg.gl_iter, seed=cfg.seed)
    train_rows, val_rows = fc.split_rows("train"), fc.split_rows("val")
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(f"{ds_dir} needs both a train and a val split (has {len(train_rows)}/{len(val_rows)})")
    stats = compute_mel_stats(fc, train_rows, seed=cfg.seed)
    _write_json(recon / "mel_stats.json", stats.to_dict())
    all_refs = _segment_refs(fc)
    val_refs = [r for r in all_refs if r.split == "val"][: cfg.max_eval_segments]
    # fixed clips: the first segment of each validation track, genres interleaved
    first = {}
    for r in val_refs:
        first.setdefault(r.track_id, r)
    clips = sorted(first.values(), key=lambda r: (r.genre, r.track_id))[: cfg.n_clips]
    audio = _AudioCache(acfg)
    # a fixed handful of *training* segments (first of each genre): do the models fit what they saw?
    train_check: list[SegmentRef] = []
    for r in all_refs:
        if r.split == "train" and r.genre not in {t.genre for t in train_check}:
            train_check.append(r)
    train_check = train_check[: cfg.n_train_check]

    # oracle (size-independent)
    oracle_df, oracle_audio = oracle_refs(fc, val_refs, audio, gl, cfg.progress)
    oracle_mean = _mean_metrics(oracle_df)
    clip_entries = []
    for r in clips:
        d = recon / "clips" / r.clip_id
        valid = max(2, r.n_frames)
        mel = np.asarray(fc.mels[r.segment], dtype=np.float32)[:, :valid]
        save_wav(d / "original.wav", audio.segment(r), acfg)
        save_wav(d / "oracle.wav", oracle_audio[r.segment], acfg)
        save_spec_png(d / "original.png", mel, acfg, f"{r.clip_id}: original")
        save_spec_png(d / "oracle.png", log_mel(oracle_audio[r.segment], acfg), acfg, "oracle (true mel + GL)")
        om = oracle_df[oracle_df["segment"] == r.segment].iloc[0]
        clip_entries.append({"clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre,
                             "segment": r.segment, "start_s": r.start_frame * acfg.hop_length / acfg.sample_rate,
                             "original_wav": f"clips/{r.clip_id}/original.wav",
                             "original_png": f"clips/{r.clip_id}/original.png",
                             "oracle_wav": f"clips/{r.clip_id}/oracle.wav",
                             "oracle_png": f"clips/{r.clip_id}/oracle.png",
                             "oracle_metrics": {k: float(om[k]) for k in METRIC_INFO}})
    per_clip = [oracle_df.assign(size="oracle")]

    # per size: train, reconstruct, write clips, latents
    size_results: dict[int, SizeResult] = {}
    per_size: dict[str, dict[str, Any]] = {}
    latents: dict[int, tuple[np.ndarray, pd.DataFrame]] = {}
    for size in sizes:
        tqdm.write(f"[latent_sizes] z={size}: training / loading")
        res = train_size(fc, ds_dir, size, stats, cfg)
        torch.set_num_threads(max(1, cfg.num_threads))  # fit may change it
        net, _ = load_recon_model(ds_dir, size, cfg.model)
        res.n_params = sum(p.numel() for p in net.parameters())
        df, store = reconstruct_refs(net, stats, fc, val_refs, audio, gl, desc=f"z={size}", progress=cfg.progress)
        res.metrics = _mean_metrics(df)
        res.metrics.update({f"{k}_std": float(df[k].std(ddof=0)) for k in METRIC_INFO})
        train_metrics: dict[str, float] = {}
        if train_check:
            tdf, _ = reconstruct_refs(net, stats, fc, train_check, audio, gl, desc=f"z={size} train",
                                      progress=cfg.progress)
            train_metrics = _mean_metrics(tdf)
            res.metrics.update({f"train_{k}": v for k, v in train_metrics.items()})
        size_results[size] = res
        per_clip.append(df.assign(size=size))
        zdir = recon / f"z{size}"
        clip_files = {}
        for r in clips:
            s = store[r.segment]
            valid = max(2, r.n_frames)
            d = zdir / "clips" / r.clip_id
            save_wav(d / "recon.wav", s["audio"], acfg)
            save_spec_png(d / "recon.png", s["recon_mel"][:, :valid], acfg, f"z={size} reconstruction")
            cm = df[df["segment"] == r.segment].iloc[0]
            clip_files[r.clip_id] = {"recon_wav": f"z{size}/clips/{r.clip_id}/recon.wav",
                                     "recon_png": f"z{size}/clips/{r.clip_id}/recon.png",
                                     "metrics": {k: float(cm[k]) for k in METRIC_INFO}}
        z_all, meta = latent_table(net, stats, fc, all_refs)
        latents[size] = (z_all, meta)
        np.save(zdir / "latents.npy", z_all)
        meta.to_csv(zdir / "latents.csv", index=False)
        per_size[str(size)] = {
            "run_name": res.run_name, "checkpoint": str(Path("..") / res.checkpoint),
            "trained_now": res.trained_now, "epochs": res.epochs, "best_val_loss": res.best_val_loss,
            "train_wall_s": res.train_wall_s, "n_params": res.n_params,
            "metrics": {k: res.metrics[k] for k in METRIC_INFO},
            "metrics_std": {k: res.metrics[f"{k}_std"] for k in METRIC_INFO},
            "train_check_metrics": train_metrics,
            "clips": clip_files, "latents_npy": f"z{size}/latents.npy", "latents_csv": f"z{size}/latents.csv",
        }

    # tables and the plot
    table = pd.DataFrame([{"size": s, **{k: v for k, v in r.metrics.items()}, "epochs": r.epochs,
                           "train_wall_s": r.train_wall_s, "n_params": r.n_params} for s, r in size_results.items()])
    chosen, plateau, rule_text = choose_size({s: r.metrics for s, r in size_results.items()},
                                             cfg.rule_metric, cfg.margin_db)
    oracle_row = {"size": "oracle", **oracle_mean}
    pd.concat([table, pd.DataFrame([oracle_row])], ignore_index=True).to_csv(recon / "metrics.csv", index=False)
    pd.concat(per_clip, ignore_index=True).to_csv(recon / "metrics_per_clip.csv", index=False)
    plot_metrics(table, oracle_mean, chosen, recon / "metrics_vs_size.png")

    # latent analysis
    a_sizes = sorted(s for s in (cfg.analysis_sizes or analysis_sizes_for(sizes, chosen)) if s in latents)
    cluster_rows = []
    for size in tqdm(a_sizes, desc="latent analysis", leave=False, disable=not cfg.progress):
        z_all, meta = latents[size]
        an = analyze(z_all, meta["genre"].to_numpy(), AnalysisConfig(seed=cfg.seed), with_umap=cfg.with_umap)
        maps = pd.concat([meta.reset_index(drop=True), an.maps.drop(columns=["label"])], axis=1)
        maps.insert(0, "y", maps["umap_y"])
        maps.insert(0, "x", maps["umap_x"])
        maps["cluster"] = maps["kmeans"]
        zdir = recon / f"z{size}"
        maps.to_csv(zdir / "map.csv", index=False)
        an.elbow.to_csv(zdir / "elbow.csv", index=False)
        an.scores.to_csv(zdir / "clusters.csv", index=False)
        _plot_maps(maps, an.elbow, size, zdir / "maps.png")
        for rec in an.scores.to_dict("records"):
            cluster_rows.append({"size": size, **rec})
        per_size[str(size)].update({
            "map_csv": f"z{size}/map.csv", "elbow_csv": f"z{size}/elbow.csv",
            "clusters_csv": f"z{size}/clusters.csv", "maps_png": f"z{size}/maps.png",
            "map_method": an.umap_method, "pca_explained": an.pca_explained,
            "clustering": an.scores.to_dict("records"),
        })
    pd.DataFrame(cluster_rows).to_csv(recon / "clustering.csv", index=False)

    # new music and the demo corpus at the chosen size
    net, _ = load_recon_model(ds_dir, chosen, cfg.model)
    z_all, meta = latents[chosen]
    new_block: dict[str, Any] = {}
    if cfg.new_music_dir is not None and Path(cfg.new_music_dir).is_dir():
        files = sorted(p for p in Path(cfg.new_music_dir).iterdir() if is_audio_path(p))
        nm_df, nm_items = _new_music_block(net, stats, files, acfg, gl, z_all, meta, recon / "new_music", recon,
                                           cfg, "new music")
        (recon / "new_music").mkdir(parents=True, exist_ok=True)
        nm_df.to_csv(recon / "new_music" / "new_music.csv", index=False)
        new_block = {"size": chosen, "source_dir": str(cfg.new_music_dir), "csv": "new_music/new_music.csv",
                     "items": nm_items, "mean": _mean_metrics(nm_df) if len(nm_items) else {},
                     "oracle_mean": {k: float(nm_df[f"oracle_{k}"].mean()) for k in METRIC_NAMES}
                     if len(nm_items) else {}}
    demo_block: dict[str, Any] = {}
    if cfg.demo_dir is not None and (Path(cfg.demo_dir) / "cache").exists():
        demo_block = _demo_block(net, stats, Path(cfg.demo_dir), z_all, meta, recon, gl, cfg)
    gen_block = generate(net, stats, acfg, gl, z_all, meta, val_refs, recon / "generation", recon, cfg)

    in_ds = size_results[chosen].metrics
    index = {
        "schema": SCHEMA,
        "dataset": ds_dir.name,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "audio_config": asdict(acfg),
        "sample_rate": acfg.sample_rate,
        "spectrogram_db_range": list(SPEC_DB_RANGE),
        "model": cfg.model,
        "study_config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "griffin_lim": asdict(gl),
        "sizes": sizes,
        "chosen_size": chosen,
        "rule": {"metric": cfg.rule_metric, "margin": cfg.margin_db, "plateau": plateau, "text": rule_text},
        "half_size": chosen // 2 if chosen // 2 in sizes else None,
        "double_size": chosen * 2 if chosen * 2 in sizes else None,
        "analysis_sizes": a_sizes,
        "metric_names": list(METRIC_INFO),
        "metric_info": METRIC_INFO,
        "n_val_segments": len(val_refs),
        "train_check": {"segments": [r.clip_id for r in train_check],
                        "text": "the same metrics on the first training segment of each genre "
                                "(per_size[k].train_check_metrics, metrics.csv train_* columns)"},
        "oracle": oracle_mean,
        "metrics": {str(s): {k: r.metrics[k] for k in METRIC_INFO} for s, r in size_results.items()},
        "gap_to_oracle_lsd_db": {str(s): r.metrics["lsd_db"] - oracle_mean["lsd_db"] for s, r in size_results.items()},
        "files": {"metrics_csv": "metrics.csv", "metrics_per_clip_csv": "metrics_per_clip.csv",
                  "metrics_plot": "metrics_vs_size.png", "clustering_csv": "clustering.csv",
                  "mel_stats": "mel_stats.json"},
        "clips": clip_entries,
        "per_size": per_size,
        "in_dataset_mean_at_chosen": {k: in_ds[k] for k in METRIC_INFO},
        "new_music": new_block,
        "demo": demo_block,
        "generation": {"size": chosen, "dir": "generation", **gen_block},
        "notes": {
            "short_clips": "clips shorter than 5 s are padded with the -100 dB floor to 216 frames; metrics use "
                           "only the valid part",
            "paths": "every file path in this index is relative to this recon/ folder",
        },
    }
    _write_json(recon / "index.json", index)
    return index


def _demo_block(net: torch.nn.Module, stats: MelStats, demo_dir: Path, z_all: np.ndarray, meta: pd.DataFrame,
                recon: Path, gl: GriffinLimConfig, cfg: StudyConfig) -> dict[str, Any]:
    """Reconstruct the first segment of each demo-corpus track and list its nearest dataset neighbours."""
    dfc = FeatureCache.open(demo_dir)
    if dfc.config.segment_frames != net.n_frames or dfc.config.n_mels != net.n_mels:
        tqdm.write(f"[latent_sizes] demo corpus {demo_dir} uses other audio settings; skipped")
        return {}
    refs = []
    seen = set()
    for r in _segment_refs(dfc):
        if r.track_id not in seen:
            seen.add(r.track_id)
            refs.append(r)
    refs = refs[: cfg.n_demo_clips]
    audio = _AudioCache(dfc.config)
    df, store = reconstruct_refs(net, stats, dfc, refs, audio, gl, desc="demo", progress=cfg.progress)
    odf, oaudio = oracle_refs(dfc, refs, audio, gl, cfg.progress)
    items, nb_text = [], []
    for i, r in enumerate(refs):
        nb = neighbours(store[r.segment]["z"], z_all, meta, cfg.n_neighbours)
        nb_text.append("; ".join(f"{t} ({g})" for t, g in zip(nb["track_id"], nb["genre"])))
        entry = {"name": r.clip_id, "track_id": r.track_id, "genre": r.genre,
                 "metrics": {k: float(df.iloc[i][k]) for k in METRIC_INFO},
                 "oracle_metrics": {k: float(odf.iloc[i][k]) for k in METRIC_INFO},
                 "neighbours": nb.to_dict("records")}
        if i < 4:
            d = recon / "demo" / r.clip_id
            save_wav(d / "original.wav", audio.segment(r), dfc.config)
            save_wav(d / "oracle.wav", oaudio[r.segment], dfc.config)
            save_wav(d / "recon.wav", store[r.segment]["audio"], dfc.config)
            save_spec_png(d / "original.png", store[r.segment]["mel"], dfc.config, f"{r.clip_id}: original")
            save_spec_png(d / "recon.png", store[r.segment]["recon_mel"], dfc.config, "reconstruction")
            rel = d.relative_to(recon)
            entry.update({"original_wav": str(rel / "original.wav"), "oracle_wav": str(rel / "oracle.wav"),
                          "recon_wav": str(rel / "recon.wav"), "original_png": str(rel / "original.png"),
                          "recon_png": str(rel / "recon.png")})
        items.append(entry)
    out_df = df.assign(neighbours=nb_text)
    for k in METRIC_NAMES:
        out_df[f"oracle_{k}"] = odf[k].to_numpy()
    (recon / "demo").mkdir(parents=True, exist_ok=True)
    out_df.to_csv(recon / "demo" / "demo.csv", index=False)
    return {"source_dir": str(demo_dir), "csv": "demo/demo.csv", "items": items, "mean": _mean_metrics(df),
            "oracle_mean": _mean_metrics(odf)}
