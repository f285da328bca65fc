"""The latent-size study: train one autoencoder per latent size, reconstruct audio, measure,
choose the smallest good size, analyse latents, encode new music and generate.

Everything lands under `<ds>/recon/` and is described by `recon/index.json` (schema in
artifacts/README.md); the Streamlit "Reconstructions" page reads only that. The steps live in
core.latent.model (checkpoints, encode/decode), .segments, .evaluate (reconstruction and oracle
metrics), .latents, .analysis, .generation, .io (WAV/PNG/plots) and .newaudio (audio from outside).

```python
from core.latent.study import StudyConfig, run_study
run_study(Path("artifacts/gtzan_mini"), StudyConfig(sizes=(8, 16, 32)))
```
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from core.audio.cache import FeatureCache
from core.audio.decode import is_audio_path
from core.audio.features import log_mel
from core.io import utc_now, write_csv, write_json
from core.latent.analysis import AnalysisConfig, analyze
from core.latent.evaluate import METRIC_INFO, mean_metrics, oracle_refs, reconstruct_refs
from core.latent.generation import generate
from core.latent.griffinlim import GriffinLimConfig
from core.latent.io import SPEC_DB_RANGE, plot_maps, plot_metrics, save_spec_png, save_wav
from core.latent.latents import latent_table
from core.latent.metrics import METRIC_NAMES
from core.latent.model import LatentSizeMismatch, check_latent_size, checkpoint_for, load_recon_model, run_name_for
from core.latent.newaudio import (
    OutsideBlock,
    Reconstruction,
    UnsupportedAudioFormat,
    encode_and_reconstruct,
    reconstruct_demo,
    reconstruct_folder,
)
from core.latent.segments import AudioCache, SegmentRef, segment_refs
from core.nn.experiments import append_run
from core.nn.loop import TrainConfig, fit, load_checkpoint
from core.recommend.autoencoders import build_model
from core.recommend.windows import FixedWindowDataset, MelStats, RandomCropDataset, compute_mel_stats

__all__ = ["LatentSizeMismatch", "Reconstruction", "StudyConfig", "StudyResult", "UnsupportedAudioFormat",
           "analysis_sizes_for", "choose_size", "encode_and_reconstruct", "run_study"]

SCHEMA = "recon-study/1"


def _study_training() -> TrainConfig:
    """Training settings of one size: up to 80 epochs, patience 10, batch 8, 270 s (the 5-minute budget
    minus evaluation), 1 thread (avoids OpenMP oversubscription on a shared 2-core machine)."""
    return TrainConfig(max_epochs=80, patience=10, lr=1e-3, batch_size=8, seed=0, max_wall_s=270.0, num_threads=1)


@dataclass
class StudyConfig:
    """Settings of a latent-size sweep (everything but the latent size stays fixed); `train` holds the
    training loop's settings (its run name and output folder are set per size)."""

    sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    model: str = "conv2d"
    objective: str = "ae"
    train: TrainConfig = field(default_factory=_study_training)
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
    max_eval_segments: int | None = None  # tests only: cap the validation segments measured


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


@dataclass
class StudyResult:
    """What a sweep found: the chosen size and its rule, per-size metrics, the oracle, and the index
    written to `recon/index.json` (whose schema the app reads)."""

    chosen_size: int
    sizes: list[int]
    rule_text: str
    metrics: dict[int, dict[str, float]]
    oracle: dict[str, float]
    index_path: Path
    index: dict[str, Any]


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


# --------------------------------------------------------------------------- training


def train_size(fc: FeatureCache, ds_dir: Path, size: int, stats: MelStats, cfg: StudyConfig) -> SizeResult:
    """Train (or reuse) the model of one latent size through core.nn.fit."""
    acfg, seed = fc.config, cfg.train.seed
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
    torch.manual_seed(seed)
    net = build_model(cfg.model, n_mels=acfg.n_mels, n_frames=acfg.segment_frames, latent_dim=size,
                      objective=cfg.objective, sample_rate=acfg.sample_rate, hop_length=acfg.hop_length)
    train_ds = RandomCropDataset(fc, fc.split_rows("train"), stats, window=acfg.segment_frames, seed=seed)
    val_ds = FixedWindowDataset(fc, fc.split_rows("val"), stats, window=acfg.segment_frames)
    train_dl = DataLoader(train_ds, batch_size=cfg.train.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
    val_dl = DataLoader(val_ds, batch_size=cfg.train.batch_size)
    tcfg = replace(cfg.train, run_name=run, out_dir=ds_dir,
                   extra={"mel_stats": stats.to_dict(), "study": "latent_sizes", "latent_dim": size})
    res = fit(net, train_dl, val_dl, tcfg)
    append_run(ds_dir, {
        "run_name": run, "model": cfg.model, "objective": cfg.objective, "latent_dim": size,
        "study": "latent_sizes", "epochs": res.epochs, "best_epoch": res.best_epoch,
        "stopped": res.stopped_reason, "train_loss": res.best_train_loss, "val_loss": res.best_val_loss,
        "wall_s": round(res.wall_s, 1), "params": net.n_parameters(), "lr": tcfg.lr,
        "batch_size": tcfg.batch_size, "seed": seed, "date": utc_now(),
    })
    return SizeResult(size, run, str(Path(res.best_checkpoint).relative_to(ds_dir)), True, res.epochs,
                      res.best_val_loss, res.wall_s, net.n_parameters())


# --------------------------------------------------------------------------- the study


@dataclass
class _Plan:
    """The segments a sweep measures: every segment, the validation ones, the fixed clips written as
    audio, and a handful of training segments (one per genre) to tell fit from generalisation."""

    all_refs: list[SegmentRef]
    val_refs: list[SegmentRef]
    clips: list[SegmentRef]
    train_check: list[SegmentRef]


def _plan(fc: FeatureCache, cfg: StudyConfig) -> _Plan:
    """Choose the measured segments (the first segment of each validation track, genres interleaved)."""
    all_refs = segment_refs(fc)
    val_refs = [r for r in all_refs if r.split == "val"][: cfg.max_eval_segments]
    first: dict[str, SegmentRef] = {}
    for r in val_refs:
        first.setdefault(r.track_id, r)
    clips = sorted(first.values(), key=lambda r: (r.genre, r.track_id))[: cfg.n_clips]
    train_check: list[SegmentRef] = []
    for r in all_refs:
        if r.split == "train" and r.genre not in {t.genre for t in train_check}:
            train_check.append(r)
    return _Plan(all_refs, val_refs, clips, train_check[: cfg.n_train_check])


def _open(ds_dir: Path, cfg: StudyConfig) -> tuple[FeatureCache, list[int]]:
    """The cache and the sorted sizes; refuses bad sizes, a cache without train/val, or a checkpoint of
    another latent size (before any work)."""
    fc = FeatureCache.open(ds_dir)
    sizes = sorted(set(int(s) for s in cfg.sizes))
    if not sizes or min(sizes) < 1:
        raise ValueError(f"latent sizes must be positive integers, got {cfg.sizes}")
    if not cfg.retrain:
        for size in sizes:
            path = checkpoint_for(ds_dir, cfg.model, size)
            if path.exists():
                check_latent_size(load_checkpoint(path), size, path)
    n_train, n_val = len(fc.split_rows("train")), len(fc.split_rows("val"))
    if n_train == 0 or n_val == 0:
        raise ValueError(f"{ds_dir} needs both a train and a val split (has {n_train}/{n_val})")
    return fc, sizes


class _Study:
    """One sweep in progress: the dataset, its plan, the shared audio cache and what each step found."""

    def __init__(self, ds_dir: Path, cfg: StudyConfig) -> None:
        self.ds_dir, self.cfg = ds_dir, cfg
        self.fc, self.sizes = _open(ds_dir, cfg)
        self.acfg = self.fc.config
        self.recon = ds_dir / "recon"
        self.recon.mkdir(parents=True, exist_ok=True)
        self.gl = GriffinLimConfig(n_iter=cfg.gl_iter, seed=cfg.train.seed)
        self.stats = compute_mel_stats(self.fc, self.fc.split_rows("train"), seed=cfg.train.seed)
        write_json(self.recon / "mel_stats.json", self.stats.to_dict())
        self.plan = _plan(self.fc, cfg)
        self.audio = AudioCache(self.acfg)
        self.size_results: dict[int, SizeResult] = {}
        self.per_size: dict[str, dict[str, Any]] = {}
        self.latents: dict[int, tuple[np.ndarray, pd.DataFrame]] = {}
        self.per_clip: list[pd.DataFrame] = []

    def oracle(self) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The size-independent ceiling (true mel + the same inversion) and the fixed clips' files."""
        fc, acfg, recon = self.fc, self.acfg, self.recon
        oracle_df, oracle_audio = oracle_refs(fc, self.plan.val_refs, self.audio, self.gl, self.cfg.train.progress)
        entries = []
        for r in self.plan.clips:
            d = recon / "clips" / r.clip_id
            mel = np.asarray(fc.mels[r.segment], dtype=np.float32)[:, : max(2, r.n_frames)]
            save_wav(d / "original.wav", self.audio.segment(r), acfg)
            save_wav(d / "oracle.wav", oracle_audio[r.segment], acfg)
            save_spec_png(d / "original.png", mel, acfg, f"{r.clip_id}: original")
            save_spec_png(d / "oracle.png", log_mel(oracle_audio[r.segment], acfg), acfg, "oracle (true mel + GL)")
            om = oracle_df[oracle_df["segment"] == r.segment].iloc[0]
            entries.append({"clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre, "segment": r.segment,
                            "start_s": r.start_frame * acfg.hop_length / acfg.sample_rate,
                            "original_wav": f"clips/{r.clip_id}/original.wav",
                            "original_png": f"clips/{r.clip_id}/original.png",
                            "oracle_wav": f"clips/{r.clip_id}/oracle.wav",
                            "oracle_png": f"clips/{r.clip_id}/oracle.png",
                            "oracle_metrics": {k: float(om[k]) for k in METRIC_INFO}})
        self.per_clip.append(oracle_df.assign(size="oracle"))
        return mean_metrics(oracle_df), entries

    def measure_size(self, size: int) -> None:
        """Train or reuse one size, reconstruct the validation (and train-check) segments, write its clips
        and latents, and record its index entry."""
        cfg, progress = self.cfg, self.cfg.train.progress
        tqdm.write(f"[latent_sizes] z={size}: training / loading")
        res = train_size(self.fc, self.ds_dir, size, self.stats, cfg)
        torch.set_num_threads(max(1, cfg.train.num_threads or 1))  # fit may change it
        net, _ = load_recon_model(self.ds_dir, size, cfg.model)
        res.n_params = sum(p.numel() for p in net.parameters())
        df, store = reconstruct_refs(net, self.stats, self.fc, self.plan.val_refs, self.audio, self.gl,
                                     desc=f"z={size}", progress=progress)
        res.metrics = mean_metrics(df)
        res.metrics.update({f"{k}_std": float(df[k].std(ddof=0)) for k in METRIC_INFO})
        train_metrics: dict[str, float] = {}
        if self.plan.train_check:
            tdf, _ = reconstruct_refs(net, self.stats, self.fc, self.plan.train_check, self.audio, self.gl,
                                      desc=f"z={size} train", progress=progress)
            train_metrics = mean_metrics(tdf)
            res.metrics.update({f"train_{k}": v for k, v in train_metrics.items()})
        self.size_results[size] = res
        self.per_clip.append(df.assign(size=size))
        clip_files = self._write_clips(size, df, store)
        z_all, meta = latent_table(net, self.stats, self.fc, self.plan.all_refs)
        self.latents[size] = (z_all, meta)
        zdir = self.recon / f"z{size}"
        np.save(zdir / "latents.npy", z_all)
        write_csv(meta, zdir / "latents.csv")
        self.per_size[str(size)] = {
            "run_name": res.run_name, "checkpoint": str(Path("..") / res.checkpoint),
            "trained_now": res.trained_now, "epochs": res.epochs, "best_val_loss": res.best_val_loss,
            "train_wall_s": res.train_wall_s, "n_params": res.n_params,
            "metrics": {k: res.metrics[k] for k in METRIC_INFO},
            "metrics_std": {k: res.metrics[f"{k}_std"] for k in METRIC_INFO},
            "train_check_metrics": train_metrics,
            "clips": clip_files, "latents_npy": f"z{size}/latents.npy", "latents_csv": f"z{size}/latents.csv",
        }

    def _write_clips(self, size: int, df: pd.DataFrame, store: dict[int, dict]) -> dict[str, dict[str, Any]]:
        """Reconstruction WAV + PNG of every fixed clip at one size; their index entries."""
        out = {}
        for r in self.plan.clips:
            s = store[r.segment]
            d = self.recon / f"z{size}" / "clips" / r.clip_id
            save_wav(d / "recon.wav", s["audio"], self.acfg)
            save_spec_png(d / "recon.png", s["recon_mel"][:, : max(2, r.n_frames)], self.acfg,
                          f"z={size} reconstruction")
            cm = df[df["segment"] == r.segment].iloc[0]
            out[r.clip_id] = {"recon_wav": f"z{size}/clips/{r.clip_id}/recon.wav",
                              "recon_png": f"z{size}/clips/{r.clip_id}/recon.png",
                              "metrics": {k: float(cm[k]) for k in METRIC_INFO}}
        return out

    def tables(self, oracle_mean: dict[str, float]) -> tuple[int, float, str]:
        """metrics.csv, metrics_per_clip.csv and the metric-vs-size plot; applies the size rule."""
        table = pd.DataFrame([{"size": s, **r.metrics, "epochs": r.epochs, "train_wall_s": r.train_wall_s,
                               "n_params": r.n_params} for s, r in self.size_results.items()])
        chosen, plateau, rule_text = choose_size({s: r.metrics for s, r in self.size_results.items()},
                                                 self.cfg.rule_metric, self.cfg.margin_db)
        oracle_row = {"size": "oracle", **oracle_mean}
        write_csv(pd.concat([table, pd.DataFrame([oracle_row])], ignore_index=True), self.recon / "metrics.csv")
        write_csv(pd.concat(self.per_clip, ignore_index=True), self.recon / "metrics_per_clip.csv")
        plot_metrics(table, oracle_mean, chosen, self.recon / "metrics_vs_size.png")
        return chosen, plateau, rule_text

    def analyse(self, chosen: int) -> list[int]:
        """PCA/UMAP maps, elbow and clustering of the chosen, half and double sizes; clustering.csv."""
        cfg = self.cfg
        a_sizes = sorted(s for s in (cfg.analysis_sizes or analysis_sizes_for(self.sizes, chosen))
                         if s in self.latents)
        cluster_rows = []
        for size in tqdm(a_sizes, desc="latent analysis", leave=False, disable=not cfg.train.progress):
            z_all, meta = self.latents[size]
            an = analyze(z_all, meta["genre"].to_numpy(), AnalysisConfig(seed=cfg.train.seed),
                         with_umap=cfg.with_umap)
            maps = pd.concat([meta.reset_index(drop=True), an.maps.drop(columns=["label"])], axis=1)
            maps.insert(0, "y", maps["umap_y"])
            maps.insert(0, "x", maps["umap_x"])
            maps["cluster"] = maps["kmeans"]
            zdir = self.recon / f"z{size}"
            write_csv(maps, zdir / "map.csv")
            write_csv(an.elbow, zdir / "elbow.csv")
            write_csv(an.scores, zdir / "clusters.csv")
            plot_maps(maps, an.elbow, size, zdir / "maps.png")
            cluster_rows += [{"size": size, **rec} for rec in an.scores.to_dict("records")]
            self.per_size[str(size)].update({
                "map_csv": f"z{size}/map.csv", "elbow_csv": f"z{size}/elbow.csv",
                "clusters_csv": f"z{size}/clusters.csv", "maps_png": f"z{size}/maps.png",
                "map_method": an.umap_method, "pca_explained": an.pca_explained,
                "clustering": an.scores.to_dict("records"),
            })
        write_csv(pd.DataFrame(cluster_rows), self.recon / "clustering.csv")
        return a_sizes

    def outside(self, chosen: int) -> tuple[OutsideBlock | None, OutsideBlock | None]:
        """New music (a folder) and the demo corpus through the chosen size's model."""
        cfg, recon = self.cfg, self.recon
        net, _ = load_recon_model(self.ds_dir, chosen, cfg.model)
        z_all, meta = self.latents[chosen]
        new_block = None
        if cfg.new_music_dir is not None and Path(cfg.new_music_dir).is_dir():
            files = sorted(p for p in Path(cfg.new_music_dir).iterdir() if is_audio_path(p))
            nm_df, items = reconstruct_folder(net, self.stats, files, self.acfg, self.gl, z_all, meta,
                                              recon / "new_music", recon, cfg.n_new_segments, cfg.n_neighbours,
                                              cfg.train.progress)
            (recon / "new_music").mkdir(parents=True, exist_ok=True)
            write_csv(nm_df, recon / "new_music" / "new_music.csv")
            new_block = OutsideBlock(str(cfg.new_music_dir), "new_music/new_music.csv", items,
                                     mean_metrics(nm_df) if items else {},
                                     {k: float(nm_df[f"oracle_{k}"].mean()) for k in METRIC_NAMES}
                                     if items else {}, size=chosen)
        demo_block = None
        if cfg.demo_dir is not None and (Path(cfg.demo_dir) / "cache").exists():
            demo_block = reconstruct_demo(net, self.stats, Path(cfg.demo_dir), z_all, meta, recon, self.gl,
                                          cfg.n_demo_clips, cfg.n_neighbours, cfg.train.progress)
        return new_block, demo_block


def run_study(ds_dir: Path | str, cfg: StudyConfig | None = None) -> StudyResult:
    """Run the whole sweep and write `<ds>/recon/` (see module doc)."""
    cfg = cfg or StudyConfig()
    ds_dir = Path(ds_dir)
    torch.set_num_threads(max(1, cfg.train.num_threads or 1))
    st = _Study(ds_dir, cfg)
    oracle_mean, clip_entries = st.oracle()
    for size in st.sizes:
        st.measure_size(size)
    chosen, plateau, rule_text = st.tables(oracle_mean)
    a_sizes = st.analyse(chosen)
    new_block, demo_block = st.outside(chosen)
    net, _ = load_recon_model(ds_dir, chosen, cfg.model)
    z_all, meta = st.latents[chosen]
    gen = generate(net, st.stats, st.acfg, st.gl, z_all, meta, st.plan.val_refs, st.recon / "generation", st.recon,
                   cfg.n_interp_steps, cfg.n_samples, cfg.train.seed)
    index = _index(st, chosen, plateau, rule_text, a_sizes, oracle_mean, clip_entries, new_block, demo_block,
                   gen.to_json())
    write_json(st.recon / "index.json", index)
    return StudyResult(chosen, st.sizes, rule_text, {s: r.metrics for s, r in st.size_results.items()},
                       oracle_mean, st.recon / "index.json", index)


def _index(st: _Study, chosen: int, plateau: float, rule_text: str, a_sizes: list[int],
           oracle_mean: dict[str, float], clip_entries: list[dict[str, Any]], new_block: OutsideBlock | None,
           demo_block: OutsideBlock | None, gen_block: dict[str, Any]) -> dict[str, Any]:
    """The recon/index.json document (schema recon-study/1, described in artifacts/README.md)."""
    cfg, acfg, sizes, results = st.cfg, st.acfg, st.sizes, st.size_results
    return {
        "schema": SCHEMA, "dataset": st.ds_dir.name, "created": utc_now(), "audio_config": asdict(acfg),
        "sample_rate": acfg.sample_rate, "spectrogram_db_range": list(SPEC_DB_RANGE), "model": cfg.model,
        "study_config": asdict(cfg), "griffin_lim": asdict(st.gl), "sizes": sizes, "chosen_size": chosen,
        "rule": {"metric": cfg.rule_metric, "margin": cfg.margin_db, "plateau": plateau, "text": rule_text},
        "half_size": chosen // 2 if chosen // 2 in sizes else None,
        "double_size": chosen * 2 if chosen * 2 in sizes else None,
        "analysis_sizes": a_sizes, "metric_names": list(METRIC_INFO), "metric_info": METRIC_INFO,
        "n_val_segments": len(st.plan.val_refs),
        "train_check": {"segments": [r.clip_id for r in st.plan.train_check],
                        "text": "the same metrics on the first training segment of each genre "
                                "(per_size[k].train_check_metrics, metrics.csv train_* columns)"},
        "oracle": oracle_mean,
        "metrics": {str(s): {k: r.metrics[k] for k in METRIC_INFO} for s, r in results.items()},
        "gap_to_oracle_lsd_db": {str(s): r.metrics["lsd_db"] - oracle_mean["lsd_db"] for s, r in results.items()},
        "files": {"metrics_csv": "metrics.csv", "metrics_per_clip_csv": "metrics_per_clip.csv",
                  "metrics_plot": "metrics_vs_size.png", "clustering_csv": "clustering.csv",
                  "mel_stats": "mel_stats.json"},
        "clips": clip_entries, "per_size": st.per_size,
        "in_dataset_mean_at_chosen": {k: results[chosen].metrics[k] for k in METRIC_INFO},
        "new_music": new_block.to_json() if new_block else {},
        "demo": demo_block.to_json() if demo_block else {},
        "generation": {"size": chosen, "dir": "generation", **gen_block},
        "notes": {
            "short_clips": "clips shorter than 5 s are padded with the -100 dB floor to 216 frames; metrics use "
                           "only the valid part",
            "paths": "every file path in this index is relative to this recon/ folder",
        },
    }
