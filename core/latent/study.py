"""The latent-size study: train one autoencoder per latent size, reconstruct audio, measure,
choose the smallest good size, analyse latents, encode new music and generate.

Everything lands under `<ds>/recon/` and is described by `recon/index.json` (schema in
artifacts/README.md); the Streamlit "Reconstructions" page reads only that.
The steps live in core.latent.model (checkpoints, encode/decode), core.latent.segments,
core.latent.evaluate (reconstruction and oracle metrics), core.latent.latents, core.latent.render,
core.latent.io (WAV/PNG/JSON and plots) and core.latent.newaudio (new audio, `encode_and_reconstruct`).

```python
from core.latent.study import StudyConfig, run_study
run_study(Path("artifacts/gtzan_mini"), StudyConfig(sizes=(8, 16, 32)))
```
"""

from __future__ import annotations

import datetime as _dt
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from core.audio.cache import FeatureCache
from core.audio.config import AudioConfig
from core.audio.decode import AudioError, is_audio_path
from core.audio.features import log_mel
from core.io import write_json
from core.latent.analysis import AnalysisConfig, analyze
from core.latent.evaluate import METRIC_INFO, _mean_metrics, oracle_refs, reconstruct_refs
from core.latent.generation import generate
from core.latent.griffinlim import GriffinLimConfig
from core.latent.io import SPEC_DB_RANGE, plot_maps, plot_metrics, save_spec_png, save_wav
from core.latent.latents import latent_table, neighbours
from core.latent.metrics import METRIC_NAMES
from core.latent.model import LatentSizeMismatch, check_latent_size, checkpoint_for, load_recon_model, run_name_for
from core.latent.newaudio import UnsupportedAudioFormat, encode_and_reconstruct, encode_file
from core.latent.segments import SegmentRef, _AudioCache, _segment_refs
from core.recommend.windows import FixedWindowDataset, MelStats, RandomCropDataset, compute_mel_stats

__all__ = ["LatentSizeMismatch", "StudyConfig", "UnsupportedAudioFormat", "analysis_sizes_for", "choose_size",
           "encode_and_reconstruct", "run_study"]

SCHEMA = "recon-study/1"


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
    """Train (or reuse) the model of one latent size through core.nn.loop.fit."""
    from core.nn.experiments import append_run
    from core.nn.loop import TrainConfig, fit, load_checkpoint
    from core.recommend.autoencoders import build_model

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
                from core.nn.loop import load_checkpoint

                check_latent_size(load_checkpoint(path), size, path)
    recon = ds_dir / "recon"
    recon.mkdir(parents=True, exist_ok=True)
    gl = GriffinLimConfig(n_iter=cfg.gl_iter, seed=cfg.seed)
    train_rows, val_rows = fc.split_rows("train"), fc.split_rows("val")
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(f"{ds_dir} needs both a train and a val split (has {len(train_rows)}/{len(val_rows)})")
    stats = compute_mel_stats(fc, train_rows, seed=cfg.seed)
    write_json(recon / "mel_stats.json", stats.to_dict())
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
        plot_maps(maps, an.elbow, size, zdir / "maps.png")
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
    write_json(recon / "index.json", index)
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
