"""One autoencoder experiment on a prepared dataset: train on the train split, embed every track,
choose the pooling on the validation split, and append a row to the experiments table.

No test-split figure is computed here: epochs (early stopping), pooling and variants are chosen on
the validation split only, and test figures appear only in `train.evaluate`'s report.

The input is either the cache's log-mel windows (`input="mels"`, `MelSource`) or windows of a
pretrained encoder's frame features (`input="frames:<encoder>"`, `core.recommend.frame_windows`);
both offer the same steps (loaders, model input shape, track embeddings), so one run function
serves both.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.audio.catalogs import SPLIT_HINT
from core.nn.experiments import append_run
from core.nn.loop import FitResult, TrainConfig


def default_train() -> TrainConfig:
    """Training settings of an autoencoder run: early stop with patience 3, at most 30 epochs or
    10 minutes, one torch thread (robust when cores are shared)."""
    return TrainConfig(max_epochs=30, patience=3, num_threads=1, max_wall_s=600.0)


@dataclass
class AERunConfig:
    """One autoencoder run on a prepared dataset (defaults = the settings behind the README numbers:
    16-frame windows, hop 8 for embedding, early stop with patience 3; under a minute on gtzan_mini).
    `train` holds the training loop's settings; its run_name/out_dir/extra are filled in by the run.
    `whiten`: "no", "yes" (ZCA-whiten the pooled embedding, fitted on train) or "auto" (whichever scores
    better on the validation split)."""

    model: str = "conv1d"
    objective: str = "ae"
    latent_dim: int = 64
    window: int = 16
    embed_hop: int = 8
    samples_per_epoch: int = 1024
    pooling: str = "auto"
    pair_scope: str = "segment"
    input: str = "mels"
    whiten: str = "no"
    run_name: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=default_train)

    def name(self) -> str:
        """Run (and embedding) name, e.g. conv1d_denoise_z64 (frames input: frames_fcn_msd_conv1d_ae_z64)."""
        if self.run_name:
            return self.run_name
        base = f"{self.model}_{self.objective}_z{self.latent_dim}"
        if self.input.startswith("frames:"):
            return f"frames_{self.input.split(':', 1)[1]}_{base}"
        return base


@dataclass
class AERunResult:
    """What one run produced: its experiments row, the training result and the written embedding."""

    row: dict[str, Any]
    fit: FitResult
    embedding: np.ndarray
    pooling: str


class WindowSource(Protocol):
    """Where a run's windows come from (mel cache or pretrained frames)."""

    fc: Any
    n_channels: int

    def loaders(self, rc: AERunConfig) -> tuple[Any, Any]:
        """(train loader, val loader)."""
        ...

    def model_kwargs(self) -> dict[str, Any]:
        """Input settings the model stores (n_mels = channels, sample_rate, hop_length)."""
        ...

    def extra(self, rc: AERunConfig) -> dict[str, Any]:
        """What the checkpoint must carry to rebuild the inputs (statistics, window)."""
        ...

    def embed(self, model: Any, rc: AERunConfig) -> Any:
        """Raw track embeddings (`TrackEmbeddings`) of every track."""
        ...


class MelSource:
    """Standardised log-mel windows of the feature cache (statistics of the train split)."""

    def __init__(self, fc: Any, rc: AERunConfig) -> None:
        from core.recommend.windows import compute_mel_stats

        self.fc = fc
        self.stats = compute_mel_stats(fc, fc.split_rows("train"), seed=rc.train.seed)
        self.n_channels = int(fc.config.n_mels)

    def loaders(self, rc: AERunConfig) -> tuple[Any, Any]:
        """Random crops of train segments (two views for the shift objectives); fixed val windows."""
        import torch
        from torch.utils.data import DataLoader

        from core.recommend.autoencoders import needs_pairs
        from core.recommend.windows import FixedWindowDataset, RandomCropDataset

        n_views = 2 if needs_pairs(rc.objective) else 1
        train_ds = RandomCropDataset(self.fc, self.fc.split_rows("train"), self.stats, rc.window, n_views=n_views,
                                     samples_per_epoch=rc.samples_per_epoch, seed=rc.train.seed,
                                     pair_scope=rc.pair_scope)
        val_ds = FixedWindowDataset(self.fc, self.fc.split_rows("val"), self.stats, rc.window, hop=rc.window // 2)
        g = torch.Generator().manual_seed(rc.train.seed)
        train_dl = DataLoader(train_ds, batch_size=rc.train.batch_size, shuffle=True, generator=g, drop_last=True)
        return train_dl, DataLoader(val_ds, batch_size=rc.train.batch_size, shuffle=False)

    def model_kwargs(self) -> dict[str, Any]:
        """The cache's mel count and frame rate."""
        cfg = self.fc.config
        return {"n_mels": self.n_channels, "sample_rate": cfg.sample_rate, "hop_length": cfg.hop_length}

    def extra(self, rc: AERunConfig) -> dict[str, Any]:
        """Mel statistics and window sizes."""
        return {"mel_stats": self.stats.to_dict(), "window": rc.window, "embed_hop": rc.embed_hop,
                "dataset": Path(self.fc.ds_dir).name}

    def embed(self, model: Any, rc: AERunConfig) -> Any:
        """Window latents pooled per track."""
        from core.recommend.embeddings import embed_tracks

        return embed_tracks(model, self.fc, self.stats, rc.window, rc.embed_hop)


SELECTION_SPLIT = "val"


def selection_scores(emb: np.ndarray, tracks: pd.DataFrame, split: str = SELECTION_SPLIT,
                     k: int = 10) -> dict[str, float]:
    """Quick mean retrieval scores of one embedding with one split's tracks as queries (pooling and
    variant choice; never called with the test split while training). Where artists are known,
    same-artist candidates are excluded, as in the evaluation's headline."""
    from core.recommend.evaluation import label_info, score_embedding

    rows = tracks.loc[tracks["split"].isin(split.split("+")), "row"].to_numpy(dtype=np.int64)
    if len(rows) == 0:
        return {}
    s = score_embedding(emb, tracks, rows, (k,), exclude_same_artist=label_info(tracks)["artist"], n_boot=200,
                        seed=0)
    return {f"{split}_{m}": e.mean for m, e in s.estimates.items()}


def selection_key(tracks: pd.DataFrame) -> str:
    """Validation score used to choose the pooling: genre P@10 if >= 90% of tracks have a genre, else tag
    Jaccard@10."""
    from core.recommend.evaluation import primary_metric

    return f"{SELECTION_SPLIT}_{primary_metric(tracks, 10)}"


def open_source(ds_dir: Path, rc: AERunConfig) -> WindowSource:
    """The dataset's cache (baseline written if absent) wrapped as the run's window source."""
    from core.audio.cache import FeatureCache
    from core.recommend.embeddings import write_baseline

    fc = FeatureCache.open(ds_dir)
    if not (ds_dir / "embeddings" / "baseline.npy").exists():
        write_baseline(fc, ds_dir)
    if len(fc.split_rows("val")) == 0:
        raise ValueError(f"{ds_dir} has no validation tracks; early stopping needs a val split: {SPLIT_HINT}")
    if rc.input == "mels":
        return MelSource(fc, rc)
    if rc.input.startswith("frames:"):
        from core.recommend.frame_windows import FrameSource

        return FrameSource(fc, rc)
    raise ValueError(f"unknown input {rc.input!r}; use 'mels' or 'frames:<encoder>'")


def build_run_model(rc: AERunConfig, src: WindowSource) -> Any:
    """The run's autoencoder, built for the source's input shape and audio settings."""
    import torch

    from core.recommend.autoencoders import build_model

    torch.manual_seed(rc.train.seed)
    return build_model(rc.model, n_frames=rc.window, latent_dim=rc.latent_dim, objective=rc.objective,
                       **src.model_kwargs(), **rc.model_kwargs)


WHITEN_CHOICES = ("no", "yes", "auto")


def pooling_candidates(raw: Any, fc: Any, whiten_mode: str) -> dict[str, np.ndarray]:
    """Standardised track embeddings for every pooling (and their whitened forms, `<pooling>+whiten`)."""
    from core.recommend.embeddings import finalise, whiten

    if whiten_mode not in WHITEN_CHOICES:
        raise ValueError(f"whiten must be one of {WHITEN_CHOICES}, got {whiten_mode!r}")
    plain = {p: finalise(e, fc, raw.missing) for p, e in raw.pooled.items()}
    white = {f"{p}+whiten": whiten(e, fc.split_rows("train"), raw.missing) for p, e in plain.items()}
    return {"no": plain, "yes": white, "auto": {**plain, **white}}[whiten_mode]


def choose_pooling(raw: Any, fc: Any, rc: AERunConfig) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    """Standardise every pooling (whitened too if asked), score them on the validation split, pick the
    best (ties to 6 decimals: plain mean first), or `rc.pooling` when it is not "auto"."""
    tracks = fc.tracks
    cands = pooling_candidates(raw, fc, rc.whiten)
    sel = {p: selection_scores(e, tracks) for p, e in cands.items()}
    key = selection_key(tracks)
    allowed = [p for p in cands if rc.pooling == "auto" or p.split("+")[0] == rc.pooling]
    pooling = max(allowed, key=lambda p: (round(sel[p].get(key, float("-inf")), 6), p == "mean"))
    return pooling, cands, sel


def experiment_row(rc: AERunConfig, model: Any, res: FitResult, pooling: str, sel: dict[str, Any],
                   embed_s: float) -> dict[str, Any]:
    """The experiments-table row of a finished run (validation figures only: `sel_<metric>_<pooling>`)."""
    wps = [h["windows_per_s"] for h in res.history]
    row: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "run": rc.name(), "model": rc.model, "objective": rc.objective, "params": model.n_parameters(),
        "latent": rc.latent_dim, "window": rc.window, "epochs": res.epochs, "best_epoch": res.best_epoch,
        "stopped": res.stopped_reason, "best_train_loss": round(res.best_train_loss, 5),
        "best_val_loss": round(res.best_val_loss, 5), "wall_s": round(res.wall_s, 1),
        "windows_per_s": round(float(np.median(wps)), 1) if wps else float("nan"),
        "embed_s": round(embed_s, 1), "pooling": pooling,
    }
    for p, s in sel.items():
        for k, v in s.items():
            row[f"sel_{k.removeprefix(SELECTION_SPLIT + '_')}_{p}"] = round(v, 4)
    row["seed"] = rc.train.seed
    return row


def run_autoencoder(ds_dir: Path | str, rc: AERunConfig) -> AERunResult:
    """Train one autoencoder on the train split, write its track embedding, append a row to experiments."""
    import torch

    from core.nn.loop import fit
    from core.recommend.embeddings import write_embedding

    ds_dir = Path(ds_dir)
    torch.set_num_threads(rc.train.num_threads or 1)
    src = open_source(ds_dir, rc)
    fc, name = src.fc, rc.name()
    train_dl, val_dl = src.loaders(rc)
    model = build_run_model(rc, src)
    res = fit(model, train_dl, val_dl, replace(rc.train, run_name=name, out_dir=ds_dir, extra=src.extra(rc)))
    t_emb = time.perf_counter()
    raw = src.embed(model, rc)
    if raw.missing:
        ids = fc.tracks.loc[fc.tracks["row"].isin(raw.missing), "track_id"].tolist()
        print(f"[{name}] {len(raw.missing)} track(s) have no cache rows and get no embedding: {ids[:10]}")
    pooling, cands, sel = choose_pooling(raw, fc, rc)
    emb = cands[pooling]
    write_embedding(ds_dir, name, emb, {
        "checkpoint": str(res.best_checkpoint), "config": {"model": model.config(), "run": asdict(rc)},
        "family": "autoencoder", "input": rc.input,
        "pooling": pooling, "missing_rows": [int(m) for m in raw.missing],
        "pooling_selection": {p: s for p, s in sel.items()}, "window": rc.window, "embed_hop": rc.embed_hop})
    embed_s = time.perf_counter() - t_emb
    row = experiment_row(rc, model, res, pooling, sel, embed_s)
    append_run(ds_dir, row)
    return AERunResult(row=row, fit=res, embedding=emb, pooling=pooling)
