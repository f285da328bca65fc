"""One contrastive training run: pairs from the train split -> `core.nn.fit` -> track embeddings written
under the embeddings contract (`retrieval_<input>`, family "contrastive") -> ANN indexes -> experiments row."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.audio.catalogs import SPLIT_HINT
from core.nn.loop import TrainConfig
from core.retrieval.augment import AugmentConfig
from core.retrieval.index import IndexParams
from core.retrieval.views import ViewBank, ViewConfig

INDEX_KINDS_DEFAULT = ("exact", "hnsw", "ivf_flat", "ivf_pq")


@dataclass
class RetrievalConfig:
    """A retrieval run: input, crop lengths (seconds), model size, loss temperature, training loop settings."""

    input: str = "mels"  # "mels" or "frames:<encoder>"
    min_crop_s: float = 2.5
    max_crop_s: float = 5.0
    pairs_per_epoch: int = 1024
    whole_second: float = 0.5  # chance that the second view is the whole track
    train_splits: tuple[str, ...] = ("train",)  # ("train", "val", "test") = transductive: the whole catalog
    channels: int = 128
    dim: int = 0  # 0 = automatic: --channels for mels; the frame size for frames (so training starts at identity)
    temperature: float = 0.1
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    views: ViewConfig = field(default_factory=ViewConfig)  # frames input: excerpt views (n_views 0 = crops)
    weights_dir: str | None = None  # the frozen encoder's weights (frames input with views); else $WORKBENCH_WEIGHTS
    index_kinds: tuple[str, ...] = INDEX_KINDS_DEFAULT
    index: IndexParams = field(default_factory=IndexParams)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        run_name="", max_epochs=30, patience=5, lr=1e-3, batch_size=32, num_threads=1, max_wall_s=600.0))

    def name(self) -> str:
        """Run and embedding name: retrieval_mels, retrieval_frames_<encoder>."""
        return self.train.run_name or "retrieval_" + self.input.replace("frames:", "frames_").replace("/", "_")


@dataclass
class RetrievalRun:
    """What a run produced."""

    name: str
    embedding_path: Path
    checkpoint: Path
    index_paths: dict[str, Path]
    row: dict[str, Any]


def open_source(ds_dir: Path, fc, rc: RetrievalConfig, progress: bool = True):
    """(source with of_row -> [C, T], steps per second, mel_domain) for 'mels' or 'frames:<encoder>': for frames
    with views, the encoder's `ViewBank` (built once); with `views.n_views == 0`, the frame store."""
    from core.retrieval.pairs import TrackFrames, TrackMels

    if rc.input == "mels":
        cfg = fc.config
        return TrackMels(fc), cfg.sample_rate / cfg.hop_length, True
    if not rc.input.startswith("frames:"):
        raise ValueError(f"--input must be 'mels' or 'frames:<encoder>', got {rc.input!r}")
    name = rc.input.split(":", 1)[1]
    if rc.views.n_views > 0:
        return _view_bank(ds_dir, fc, name, rc, progress), None, False
    from core.encoders.frames import FrameStore

    store = FrameStore(ds_dir, name)
    return TrackFrames(store, np.arange(len(fc.tracks))), 1.0 / store.info.hop_s, False


def _view_bank(ds_dir: Path, fc, name: str, rc: RetrievalConfig, progress: bool):
    """The excerpt-view bank of a registered encoder over the training and validation tracks."""
    from core.encoders.registry import load_encoder
    from core.retrieval.views import build_view_bank

    try:
        enc = load_encoder(name, rc.weights_dir)
    except Exception as e:  # unknown encoder, missing or corrupt weights
        raise ValueError(f"excerpt views need the {name!r} encoder's audio API ({e}); pass --weights-dir, or "
                         "--views 0 to train on crops of the frame store") from None
    rows = np.concatenate([fc.split_rows(s) for s in (*rc.train_splits, "val")])
    return build_view_bank(ds_dir, fc, enc, [int(r) for r in rows], rc.views, progress)


def channel_stats(source, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std over every step of the given tracks (the train split), summed track by track so
    that memory does not grow with the collection."""
    s1 = s2 = None
    n = 0
    for r in rows:
        x = np.asarray(source.of_row(r), np.float64)
        if not x.shape[1]:
            continue
        s1 = x.sum(1) if s1 is None else s1 + x.sum(1)
        s2 = (x**2).sum(1) if s2 is None else s2 + (x**2).sum(1)
        n += x.shape[1]
    if s1 is None:
        raise ValueError("the train split has no tracks with features")
    mean = s1 / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
    return mean.astype(np.float32), np.where(std < 1e-6, 1.0, std).astype(np.float32)


def _loaders(source, fc, rc: RetrievalConfig, steps_per_s: float | None, mel_domain: bool, mean, std):
    """Train (random pairs) and val (fixed pairs) loaders over the catalog's splits."""
    from torch.utils.data import DataLoader

    from core.retrieval.pairs import PairConfig, PairDataset, ViewPairDataset, collate_pairs
    rate = steps_per_s or 1.0  # a view bank holds whole views: no crop lengths
    pc = PairConfig(min_len=max(4, int(round(rc.min_crop_s * rate))),
                    max_len=max(4, int(round(rc.max_crop_s * rate))), pairs_per_epoch=rc.pairs_per_epoch,
                    augment=rc.augment, mel_domain=mel_domain, seed=rc.train.seed, whole_second=rc.whole_second)
    rows = np.concatenate([fc.split_rows(s) for s in rc.train_splits])
    val_rows = fc.split_rows("val")
    if len(val_rows) == 0:
        raise ValueError(f"no validation tracks; early stopping needs a val split: {SPLIT_HINT}")
    if isinstance(source, ViewBank):
        train = ViewPairDataset(source, rows, pc, mean, std)
        val = ViewPairDataset(source, val_rows, pc, mean, std, deterministic=True)
    else:
        floor = fc.config.top_db_floor
        train = PairDataset(source, rows, pc, mean, std, floor)
        val = PairDataset(source, val_rows, pc, mean, std, floor, deterministic=True)
    bs = rc.train.batch_size
    return (DataLoader(train, batch_size=bs, shuffle=False, collate_fn=collate_pairs, drop_last=True),
            DataLoader(val, batch_size=bs, shuffle=False, collate_fn=collate_pairs), pc)


def build_model(rc: RetrievalConfig, n_channels: int):
    """The embedder for this input."""
    from core.retrieval.models import FrameEmbedder, MelEmbedder

    if rc.input == "mels":
        return MelEmbedder(n_mels=n_channels, channels=rc.channels, dim=rc.dim or rc.channels,
                           temperature=rc.temperature)
    return FrameEmbedder(in_dim=n_channels, channels=rc.channels, dim=rc.dim, temperature=rc.temperature)


def embed_corpus(embedder, source, n_tracks: int, chunk: int = 256) -> tuple[np.ndarray, list[int]]:
    """Whole-track embeddings [n_tracks, d] (missing rows stay zero) and the missing rows; `chunk` tracks at a
    time, so memory does not grow with the collection."""
    present = [r for r in range(n_tracks) if source.of_row(r).shape[1] > 0]
    emb = np.zeros((n_tracks, embedder.dim), np.float32)
    for i in range(0, len(present), chunk):
        part = present[i:i + chunk]
        emb[part] = embedder.embed_many([source.of_row(r) for r in part])
    return emb, sorted(set(range(n_tracks)) - set(present))


def build_indexes(ds_dir: Path, name: str, emb: np.ndarray, kinds, params: IndexParams) -> dict[str, Path]:
    """Build and save every index kind over the corpus: `<ds>/retrieval/index/<name>.<kind>`."""
    from core.retrieval.index import build_index

    out = {}
    for kind in kinds:
        p = params if kind != "ivf_pq" or emb.shape[1] % params.pq_m == 0 else IndexParams(
            **{**asdict(params), "pq_m": 8})
        out[kind] = build_index(kind, emb, p).save(Path(ds_dir) / "retrieval" / "index" / f"{name}.{kind}")
    return out


def run_retrieval(ds_dir: Path | str, rc: RetrievalConfig) -> RetrievalRun:
    """Train one embedder with NT-Xent on the train split, embed every track, build indexes, log the run."""
    import torch

    from core.audio.cache import FeatureCache
    from core.nn.loop import fit
    from core.retrieval.embedder import Embedder

    ds_dir = Path(ds_dir)
    fc = FeatureCache.open(ds_dir)
    torch.set_num_threads(rc.train.num_threads or 1)
    source, steps_per_s, mel_domain = open_source(ds_dir, fc, rc, rc.train.progress)
    mean, std = channel_stats(source, [int(r) for r in fc.split_rows("train")])
    train_dl, val_dl, pc = _loaders(source, fc, rc, steps_per_s, mel_domain, mean, std)
    torch.manual_seed(rc.train.seed)
    model = build_model(rc, len(mean))
    name = rc.name()
    extra = {"input": rc.input, "mean": mean.tolist(), "std": std.tolist(), "audio_config": asdict(fc.config),
             "dataset": ds_dir.name, "pairs": {"min_len": pc.min_len, "max_len": pc.max_len,
                                               "whole_second": pc.whole_second},
             "train_splits": list(rc.train_splits)}
    tcfg = TrainConfig(**{**asdict(rc.train), "run_name": name, "out_dir": ds_dir, "extra": extra})
    res = fit(model, train_dl, val_dl, tcfg)
    embedder = Embedder(model.eval(), rc.input, mean, std, fc.config, str(res.best_checkpoint))
    t0 = time.perf_counter()
    emb, missing = embed_corpus(embedder, source, len(fc.tracks))
    embed_s = time.perf_counter() - t0
    from core.recommend.embeddings import write_embedding

    views = isinstance(source, ViewBank)
    path = write_embedding(ds_dir, name, emb, {
        "family": "contrastive", "checkpoint": str(res.best_checkpoint),
        "pooling": "attention (learned)" if rc.input != "mels" else "attention+mean (learned)",
        "config": {"model": model.config(), "input": rc.input}, "standardised_on": "none (L2-normalised)",
        "missing_rows": missing, "input": rc.input, "trained_on": list(rc.train_splits),
        "corpus_frames": ("view bank: decoded at the cache's rate, resampled, encoded" if views else
                          "frame store" if rc.input != "mels" else ""),
        "views": asdict(rc.views) if views else None})
    indexes = build_indexes(ds_dir, name, emb, rc.index_kinds, rc.index)
    row = _run_row(name, rc, model, res, embed_s)
    from core.nn.experiments import append_run

    append_run(ds_dir, row)
    return RetrievalRun(name, path, res.best_checkpoint, indexes, row)


def _run_row(name: str, rc: RetrievalConfig, model, res, embed_s: float) -> dict[str, Any]:
    """The experiments-table row of a run."""
    last = res.history[-1] if res.history else {}
    return {"date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "run": name, "model": type(model).__name__,
            "objective": "nt_xent", "params": model.n_parameters(), "latent": model.config()["kwargs"]["dim"],
            "input": rc.input,
            "train_splits": "+".join(rc.train_splits), "epochs": res.epochs, "best_epoch": res.best_epoch,
            "stopped": res.stopped_reason,
            "best_train_loss": round(res.best_train_loss, 5), "best_val_loss": round(res.best_val_loss, 5),
            "val_pair_top1": round(float(last.get("val_pair_top1", float("nan"))), 4),
            "wall_s": round(res.wall_s, 1), "embed_s": round(embed_s, 1), "seed": rc.train.seed}
