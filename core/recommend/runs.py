"""One autoencoder experiment on a prepared dataset: train on the train split, embed every track,
choose the pooling, score, and append a row to the experiments table."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.nn.experiments import append_run


@dataclass
class AERunConfig:
    """One autoencoder run on a prepared dataset (defaults = the settings behind the README numbers:
    16-frame windows, hop 8 for embedding, early stop with patience 3; under a minute on gtzan_mini)."""

    model: str = "conv1d"
    objective: str = "ae"
    latent_dim: int = 64
    window: int = 16
    embed_hop: int = 8
    samples_per_epoch: int = 1024
    pooling: str = "auto"
    pair_scope: str = "segment"
    max_epochs: int = 30
    patience: int = 3
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    resume: bool = False
    max_minutes: float | None = 10.0
    max_steps_per_epoch: int | None = None
    num_threads: int = 1
    run_name: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def name(self) -> str:
        """Run (and embedding) name, e.g. conv1d_denoise_z64."""
        return self.run_name or f"{self.model}_{self.objective}_z{self.latent_dim}"


def selection_scores(emb: np.ndarray, tracks: pd.DataFrame, split: str = "val", k: int = 10) -> dict[str, float]:
    """Quick mean retrieval scores of one embedding on one split (used for pooling choice and the table)."""
    from core.recommend.evaluation import score_embedding

    rows = tracks.loc[tracks["split"].isin(split.split("+")), "row"].to_numpy(dtype=np.int64)
    if len(rows) == 0:
        return {}
    s = score_embedding(emb, tracks, rows, (k,), exclude_same_artist=False, n_boot=200, seed=0)
    return {f"{split}_{m}": e.mean for m, e in s["estimates"].items()}


def selection_key(tracks: pd.DataFrame) -> str:
    """Score used to choose the pooling: genre P@10 if >= 90% of tracks have a genre, else tag Jaccard@10."""
    genre_cov = float((tracks["genre"].fillna("").astype(str) != "").mean())
    has_tags = "tags" in tracks.columns and bool((tracks["tags"].fillna("").astype(str) != "").any())
    return "train+val_genre_p@10" if genre_cov >= 0.9 or not has_tags else "train+val_tag_jaccard@10"


def run_autoencoder(ds_dir: Path | str, rc: AERunConfig) -> dict[str, Any]:
    """Train one autoencoder on the train split, write its track embedding, append a row to experiments."""
    import torch
    from torch.utils.data import DataLoader

    from core.audio.cache import FeatureCache
    from core.nn.loop import TrainConfig, fit
    from core.recommend.autoencoders import build_model
    from core.recommend.embeddings import embed_tracks, finalise, write_baseline, write_embedding
    from core.recommend.windows import FixedWindowDataset, RandomCropDataset, compute_mel_stats

    ds_dir = Path(ds_dir)
    torch.set_num_threads(rc.num_threads)
    fc = FeatureCache.open(ds_dir)
    tracks = fc.tracks
    if not (ds_dir / "embeddings" / "baseline.npy").exists():
        write_baseline(fc, ds_dir)
    train_rows, val_rows = fc.split_rows("train"), fc.split_rows("val")
    if len(val_rows) == 0:
        raise ValueError(f"{ds_dir} has no validation tracks; early stopping needs a val split")
    stats = compute_mel_stats(fc, train_rows, seed=rc.seed)
    n_views = 2 if "shift" in rc.objective else 1
    train_ds = RandomCropDataset(fc, train_rows, stats, rc.window, n_views=n_views,
                                 samples_per_epoch=rc.samples_per_epoch, seed=rc.seed, pair_scope=rc.pair_scope)
    val_ds = FixedWindowDataset(fc, val_rows, stats, rc.window, hop=rc.window // 2)
    g = torch.Generator().manual_seed(rc.seed)
    train_dl = DataLoader(train_ds, batch_size=rc.batch_size, shuffle=True, generator=g, drop_last=True)
    val_dl = DataLoader(val_ds, batch_size=rc.batch_size, shuffle=False)
    torch.manual_seed(rc.seed)
    model = build_model(rc.model, n_mels=int(fc.mels.shape[1]), n_frames=rc.window, latent_dim=rc.latent_dim,
                        objective=rc.objective, **rc.model_kwargs)
    name = rc.name()
    extra = {"mel_stats": stats.to_dict(), "window": rc.window, "embed_hop": rc.embed_hop,
             "dataset": ds_dir.name}
    tcfg = TrainConfig(run_name=name, max_epochs=rc.max_epochs, patience=rc.patience, lr=rc.lr,
                       batch_size=rc.batch_size, seed=rc.seed, out_dir=ds_dir, resume=rc.resume,
                       max_steps_per_epoch=rc.max_steps_per_epoch,
                       max_wall_s=rc.max_minutes * 60 if rc.max_minutes else None,
                       num_threads=rc.num_threads, progress=rc.progress, extra=extra)
    res = fit(model, train_dl, val_dl, tcfg)
    wps = [h["windows_per_s"] for h in res.history]
    t_emb = time.perf_counter()
    raw = embed_tracks(model, fc, stats, rc.window, rc.embed_hop)
    missing = raw["missing"]
    if missing:
        ids = tracks.loc[tracks["row"].isin(missing), "track_id"].tolist()
        print(f"[{name}] {len(missing)} track(s) have no cache rows and get no embedding: {ids[:10]}")
    cands = {p: finalise(raw[p], fc, missing) for p in ("mean", "meanstd")}
    sel = {p: selection_scores(e, tracks, "train+val") for p, e in cands.items()}
    if rc.pooling == "auto":
        key = selection_key(tracks)
        pooling = max(cands, key=lambda p: (sel[p].get(key, float("-inf")), p == "mean"))
    else:
        pooling = rc.pooling
    emb = cands[pooling]
    write_embedding(ds_dir, name, emb, {
        "checkpoint": str(res.best_checkpoint), "config": {"model": model.config(), "run": asdict(rc)},
        "pooling": pooling, "missing_rows": [int(m) for m in missing],
        "pooling_selection": {p: s for p, s in sel.items()}, "window": rc.window, "embed_hop": rc.embed_hop})
    embed_s = time.perf_counter() - t_emb
    test = selection_scores(emb, tracks, "test")
    row: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "run": name, "model": rc.model, "objective": rc.objective, "params": model.n_parameters(),
        "latent": rc.latent_dim, "window": rc.window, "epochs": res.epochs, "best_epoch": res.best_epoch,
        "stopped": res.stopped_reason, "best_train_loss": round(res.best_train_loss, 5),
        "best_val_loss": round(res.best_val_loss, 5), "wall_s": round(res.wall_s, 1),
        "windows_per_s": round(float(np.median(wps)), 1) if wps else float("nan"),
        "embed_s": round(embed_s, 1), "pooling": pooling,
    }
    for p, s in sel.items():
        for k, v in s.items():
            row[f"{k.replace('train+val_', 'sel_')}_{p}"] = round(v, 4)
    row.update({k: round(v, 4) for k, v in test.items()})
    row["seed"] = rc.seed
    append_run(ds_dir, row)
    return {"row": row, "fit": res, "embedding": emb}
