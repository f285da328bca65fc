"""The general text-search model: one `AudioProjection` trained on every text source of several prepared
datasets (captions, aspect lists, moods, genres, templates), used on any dataset embedded with the same frozen
audio encoder — including a user's own folder, which has no text at all.

```python
result = train_text_model([Path("artifacts/musiccaps_mini"), Path("artifacts/emotion4q")],
                          Path("artifacts/text_models/general"), TextModelConfig())
model = load_text_model(Path("artifacts/text_models/general"))
hits = model.query(Path("artifacts/mine"), "sad piano", k=10)   # QueryResult with calibrated scores
```

Files in the model folder: `checkpoints/projection/{best,last}.pt` (the projection, read with
weights_only=True), `model.json` (encoders, sources, training counts, fit, evaluation), `bank.npz` (the
reference descriptions and their text vectors, for calibration), `report.md`, TensorBoard `runs/projection/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.io import git_commit, utc_now, write_json
from core.nn.loop import FitResult, TrainConfig
from core.text.sources import DEFAULT_AUDIO_ENCODER, TEXT_SOURCES
from core.text.table import PairTable, audio_embedding, precompute_texts

RUN = "projection"
SAMPLING = {"pairs": "every (clip, text) pair once per epoch",
            "clips": "every clip once per epoch, with one of its texts drawn at random",
            "datasets": "pairs drawn with replacement, every dataset equally often"}


def _default_train() -> TrainConfig:
    """Training defaults (sampling, lr and the stopping rule chosen on val figures): batches of 128 pairs (more
    negatives across sources), Adam lr 1e-3, early stopping on the mean of each dataset's val loss."""
    return TrainConfig(run_name=RUN, max_epochs=200, patience=15, lr=1e-3, weight_decay=1e-4, batch_size=128,
                       num_threads=1, log_images_every=0, grad_clip=5.0)


@dataclass
class TextModelConfig:
    """Settings of the general model (the CLI's defaults come from here)."""

    audio_encoder: str = DEFAULT_AUDIO_ENCODER
    text_encoder: str = "minilm"
    sources: tuple[str, ...] = TEXT_SOURCES
    head: str = "linear"
    hidden: int = 512
    dropout: float = 0.2
    init_temperature: float = 0.07
    n_boot: int = 1000
    sampling: str = "clips"  # one of SAMPLING: what one training epoch draws (chosen on val)
    val_per_dataset: bool = True  # early stopping on the mean of each dataset's val loss (one batch each)
    train: TrainConfig = field(default_factory=_default_train)


@dataclass
class TextCorpus:
    """Every (clip, text) pair of the training datasets: a PairTable whose `row` is a clip id unique across
    datasets, plus each pair's text source, dataset name and distinct-text id."""

    table: PairTable
    source: np.ndarray
    dataset: np.ndarray
    text_id: np.ndarray

    def counts(self) -> dict[str, dict[str, int]]:
        """Pairs per dataset/source and split (what model.json records)."""
        df = pd.DataFrame({"dataset": self.dataset, "source": self.source, "split": self.table.split})
        out: dict[str, dict[str, int]] = {}
        for (ds, src), g in df.groupby(["dataset", "source"]):
            out[f"{ds}/{src}"] = {str(k): int(v) for k, v in g["split"].value_counts().items()}
        return out

    def subset(self, split: str) -> TextCorpus:
        """The pairs of one split."""
        idx = np.flatnonzero(self.table.split == split)
        return TextCorpus(self.table.take(idx), self.source[idx], self.dataset[idx], self.text_id[idx])


def _dataset_pairs(ds_dir: Path, audio_encoder: str, sources: tuple[str, ...], offset: int) -> pd.DataFrame:
    """One dataset's (clip, text) rows with global clip id, split and audio row; [] when it offers no text."""
    from core.audio.cache import FeatureCache
    from core.text.sources import dataset_texts

    tracks = FeatureCache.open(ds_dir).tracks.reset_index(drop=True)
    texts = dataset_texts(tracks, sources)
    pos = pd.Series(np.arange(len(tracks)), index=tracks["track_id"].astype(str).to_numpy())
    texts = texts[texts["track_id"].isin(pos.index) & (texts["caption"].str.strip() != "")].copy()
    texts["local"] = pos[texts["track_id"]].to_numpy()
    texts["row"] = texts["local"] + offset
    texts["split"] = tracks["split"].astype(str).to_numpy()[texts["local"].to_numpy()]
    texts["dataset"] = ds_dir.name
    return texts


def build_corpus(datasets: list[Path], cfg: TextModelConfig, encoder: Any, cache_dir: Path,
                 progress: bool = True) -> TextCorpus:
    """The training corpus of the given prepared datasets; text vectors precomputed (resumable) in cache_dir."""
    from core.audio.cache import FeatureCache
    from core.text.encoders import encoder_slug

    parts, audio, offset = [], [], 0
    for ds in datasets:
        n = len(FeatureCache.open(ds).tracks)
        emb = audio_embedding(ds, cfg.audio_encoder, n)
        pairs = _dataset_pairs(ds, cfg.audio_encoder, cfg.sources, offset)
        parts.append(pairs)
        audio.append(emb)
        offset += n
    df = pd.concat(parts, ignore_index=True)
    if len(df) == 0:
        raise ValueError(f"no texts of sources {', '.join(cfg.sources)} in {', '.join(map(str, datasets))}")
    all_audio = np.concatenate(audio)
    vecs, _ = precompute_texts(df["caption"].tolist(), encoder.encode, cache_dir / encoder_slug(encoder.name),
                               progress=progress)
    table = PairTable((df["dataset"] + "/" + df["uniq_id"]).to_numpy(str),
                      (df["dataset"] + "/" + df["track_id"]).to_numpy(str), df["row"].to_numpy(np.int64),
                      df["caption"].to_numpy(str), df["split"].to_numpy(str), all_audio[df["row"].to_numpy()],
                      vecs, cfg.audio_encoder, encoder.name)
    text_id = pd.factorize(df["caption"])[0].astype(np.int64)
    return TextCorpus(table, df["source"].to_numpy(str), df["dataset"].to_numpy(str), text_id)


def balanced_sampler(datasets: np.ndarray, generator: Any) -> Any:
    """A sampler drawing len(datasets) pairs per epoch, with replacement, each dataset equally likely."""
    import torch
    from torch.utils.data import WeightedRandomSampler

    _, inverse, counts = np.unique(datasets, return_inverse=True, return_counts=True)
    weights = torch.as_tensor(1.0 / counts[inverse], dtype=torch.double)
    return WeightedRandomSampler(weights, len(datasets), replacement=True, generator=generator)


def per_dataset_batches(datasets: np.ndarray) -> list[list[int]]:
    """One batch per dataset holding all its pairs, so that a mean over batches weighs every dataset the same
    (a dataset with 4,000 tag texts does not drown one with 24 captions)."""
    return [np.flatnonzero(datasets == d).tolist() for d in dict.fromkeys(datasets.tolist())]


class ClipSampler:
    """Every clip once per epoch, each time with one of its pairs (texts) drawn at random, in random order: a clip
    with ten tag texts is then seen as often as a clip with one caption."""

    def __init__(self, clips: np.ndarray, generator: Any) -> None:
        _, self.inverse = np.unique(clips, return_inverse=True)
        self.n_clips = int(self.inverse.max()) + 1 if len(clips) else 0
        self.generator = generator

    def __len__(self) -> int:
        return self.n_clips

    def __iter__(self) -> Any:
        import torch

        noise = torch.rand(len(self.inverse), generator=self.generator).numpy()
        order = np.lexsort((noise, self.inverse))  # pairs grouped by clip, in random order within each clip
        first = np.r_[0, np.flatnonzero(np.diff(self.inverse[order])) + 1]
        picked = order[first]
        perm = torch.randperm(len(picked), generator=self.generator).numpy()
        return iter(picked[perm].tolist())


def train_order(corpus: TextCorpus, sampling: str, generator: Any) -> dict[str, Any]:
    """The DataLoader arguments that draw one epoch of training pairs the `sampling` way (see SAMPLING)."""
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}")
    if sampling == "clips":
        return {"sampler": ClipSampler(corpus.table.row, generator)}
    if sampling == "datasets":
        return {"sampler": balanced_sampler(corpus.dataset, generator)}
    return {"shuffle": True, "generator": generator}


def corpus_loaders(corpus: TextCorpus, batch_size: int, seed: int, sampling: str = "pairs",
                   val_per_dataset: bool = False) -> tuple[Any, Any]:
    """(train, val) DataLoaders of {"x", "text", "clip", "text_id"} items (`sampling`: see SAMPLING;
    `val_per_dataset`: see per_dataset_batches)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    def dataset(c: TextCorpus) -> Any:
        t = c.table
        return TensorDataset(torch.as_tensor(t.audio, dtype=torch.float32), torch.as_tensor(t.text),
                             torch.as_tensor(t.row), torch.as_tensor(c.text_id))

    def collate(items: list[tuple[Any, ...]]) -> dict[str, Any]:
        x, text, clip, tid = (torch.stack(z) for z in zip(*items))
        return {"x": x, "text": text, "clip": clip, "text_id": tid}

    train, val = corpus.subset("train"), corpus.subset("val")
    if len(train.table) < 2 or len(val.table) < 2:
        raise ValueError(f"need texts in the train and val splits (have train {len(train.table)}, "
                         f"val {len(val.table)})")
    gen = torch.Generator().manual_seed(seed)
    order = train_order(train, sampling, gen)
    drop = len(order.get("sampler", train.table.row)) % batch_size == 1
    val_batches = ({"batch_sampler": per_dataset_batches(val.dataset)} if val_per_dataset else
                   {"batch_size": batch_size, "shuffle": False})
    return (DataLoader(dataset(train), batch_size, drop_last=drop, collate_fn=collate, **order),
            DataLoader(dataset(val), collate_fn=collate, **val_batches))


def new_projection(cfg: TextModelConfig, corpus: TextCorpus) -> Any:
    """A fresh AudioProjection standardised on the distinct training clips."""
    from core.text.clap import AudioProjection

    t = corpus.table
    model = AudioProjection(t.audio.shape[1], t.text.shape[1], cfg.head, cfg.hidden, cfg.dropout,
                            cfg.init_temperature)
    train = corpus.subset("train").table
    _, first = np.unique(train.row, return_index=True)
    model.set_standardisation(train.audio[first])
    return model


@dataclass
class TextModelResult:
    """What training wrote: the model folder, its model.json content and the fit."""

    out: Path
    info: dict[str, Any]
    fit: FitResult
    corpus: TextCorpus


def check_embeddings(datasets: list[Path], audio_encoder: str) -> None:
    """AudioEncoderMissing (naming the commands that make it) when a dataset lacks the audio embedding."""
    from core.audio.cache import FeatureCache

    for ds in datasets:
        audio_embedding(ds, audio_encoder, len(FeatureCache.open(ds).tracks))


def fit_projection(datasets: list[Path], out: Path, cfg: TextModelConfig, encoder: Any = None,
                   progress: bool = True, cache_dir: Path | None = None) -> TextModelResult:
    """Train the projection on every text of `datasets` (train split; early stopping on val) into `out`;
    text vectors are cached under `cache_dir` (default `<out>/text_cache`)."""
    from core.nn.loop import fit, seed_everything
    from core.text.encoders import load_text_encoder

    out = Path(out)
    check_embeddings([Path(d) for d in datasets], cfg.audio_encoder)  # before the (slow) text encoder loads
    enc = encoder or load_text_encoder(cfg.text_encoder)
    corpus = build_corpus([Path(d) for d in datasets], cfg, enc, cache_dir or out / "text_cache", progress)
    train_loader, val_loader = corpus_loaders(corpus, cfg.train.batch_size, cfg.train.seed, cfg.sampling,
                                              cfg.val_per_dataset)
    seed_everything(cfg.train.seed)
    model = new_projection(cfg, corpus)
    tcfg = TrainConfig(**{**cfg.train.__dict__, "run_name": RUN, "out_dir": out, "progress": progress})
    result = fit(model, train_loader, val_loader, tcfg)
    write_bank(out, enc)
    info = {"audio_encoder": cfg.audio_encoder, "text_encoder": enc.name, "sources": list(cfg.sources),
            "datasets": [str(d) for d in datasets], "date": utc_now(), "git_commit": git_commit(),
            "config": {k: v for k, v in asdict(cfg).items() if k != "train"}, "train": cfg.train.to_dict(),
            "temperature": float(model.temperature.detach()), "pairs": corpus.counts(),
            "n_clips": {s: int(len(np.unique(corpus.subset(s).table.row))) for s in ("train", "val", "test")},
            "fit": {"epochs": result.epochs, "best_epoch": result.best_epoch, "stopped_reason": result.stopped_reason,
                    "wall_s": result.wall_s, "best_val_loss": result.best_val_loss},
            "checkpoint": str(result.best_checkpoint)}
    write_json(out / "model.json", info)
    return TextModelResult(out, info, result, corpus)


def write_bank(out: Path, encoder: Any) -> Path:
    """`bank.npz`: the calibration's reference descriptions and their unit text vectors."""
    from core.text.calibrate import reference_bank

    texts = reference_bank()
    path = Path(out) / "bank.npz"
    np.savez(path, texts=np.array(texts, dtype=str), vectors=np.asarray(encoder.encode(texts), np.float32))
    return path
