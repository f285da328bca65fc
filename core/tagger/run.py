"""One tagger run: labels and windows from the cache, `SpectrogramCNN` trained on the one loop
(`core.nn.fit`), window- and track-level predictions, and the evaluation against the majority class and
linear probes (`core.tagger.report` writes the files, `core.tagger.pipeline` runs it all).

```python
result = run_tagger(Path("artifacts/gtzan_mini"), TaggerConfig(target="genre", loss="asl"))
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from core.audio.cache import FeatureCache
from core.audio.catalogs import SPLIT_HINT
from core.nn.loop import FitResult, TrainConfig, fit
from core.recommend.windows import MelStats, compute_mel_stats
from core.tagger.labels import LabelSet, build_labels
from core.tagger.model import SpectrogramCNN
from core.tagger.windows import TrackWindowDataset, WindowSpec


def _default_train() -> TrainConfig:
    """The training settings of the tagger (Adam with weight decay, early stopping on val loss)."""
    return TrainConfig(max_epochs=40, patience=6, lr=1e-3, weight_decay=1e-4, batch_size=32, num_threads=1,
                       log_images_every=0)


@dataclass
class TaggerConfig:
    """Settings of one tagger run (CLI defaults of `python -m train.tagger` come from here)."""

    target: str = "genre"
    loss: str = "asl"
    top_classes: int | None = None
    window_s: float = 4.0
    hop_s: float = 2.0
    channels: tuple[int, int, int] = (8, 16, 32)
    dropout: float = 0.2
    gamma_pos: float = 0.0
    gamma_neg: float = 4.0
    clip: float = 0.05
    label_smoothing: float = 0.1
    eval_split: str = "test"
    n_boot: int = 1000
    cv_folds: int = 0
    run_name: str | None = None
    train: TrainConfig = field(default_factory=_default_train)

    def loss_kwargs(self) -> dict[str, float]:
        """Keyword arguments of the chosen loss."""
        if self.loss != "asl":
            return {}
        if self.target == "tags":
            return {"gamma_pos": self.gamma_pos, "gamma_neg": self.gamma_neg, "clip": self.clip}
        return {"gamma_pos": self.gamma_pos, "gamma_neg": self.gamma_neg, "label_smoothing": self.label_smoothing}

    def name(self) -> str:
        """Run name: given, or tagger_<target>_<loss>[_top<N>]."""
        top = f"_top{self.top_classes}" if self.top_classes else ""
        return self.run_name or f"tagger_{self.target}_{self.loss}{top}"


@dataclass
class TaggerData:
    """A dataset ready for the tagger: cache, labels, window spec and labelled rows per split."""

    fc: FeatureCache
    labels: LabelSet
    spec: WindowSpec
    splits: dict[str, np.ndarray]


def load_data(ds_dir: Path, cfg: TaggerConfig) -> TaggerData:
    """Open the cache and build labels (MissingLabels / FileNotFoundError before anything is written)."""
    fc = FeatureCache.open(ds_dir)
    labels = build_labels(fc.tracks, cfg.target, cfg.top_classes)
    spec = WindowSpec.from_config(fc.config, cfg.window_s, cfg.hop_s)
    splits = {s: labels.rows(fc.split_rows(s)) for s in ("train", "val", "test")}
    return TaggerData(fc, labels, spec, splits)


@dataclass
class WindowPredictions:
    """Per-window class probabilities with each window's track row and start frame."""

    probs: np.ndarray
    rows: np.ndarray
    starts: np.ndarray

    def track_probs(self, rows: np.ndarray) -> np.ndarray:
        """Track-level probabilities: the mean of each track's window probabilities, [len(rows), K]."""
        out = np.full((len(rows), self.probs.shape[1]), np.nan)
        for i, r in enumerate(rows):
            sel = self.rows == r
            if sel.any():
                out[i] = self.probs[sel].mean(0)
        return out


def make_model(data: TaggerData, cfg: TaggerConfig) -> SpectrogramCNN:
    """A fresh SpectrogramCNN for this dataset's mel bins and classes."""
    return SpectrogramCNN(int(data.fc.mels.shape[1]), len(data.labels.classes), cfg.channels, cfg.dropout,
                          data.labels.multi_label, cfg.loss, cfg.loss_kwargs())


def _loader(data: TaggerData, rows: np.ndarray, stats: MelStats, batch: int, shuffle: bool,
            seed: int = 0) -> DataLoader:
    """A DataLoader of every window of `rows` (labels attached)."""
    ds = TrackWindowDataset(data.fc, rows, stats, data.spec, data.labels.y)
    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=gen)


def checkpoint_extra(data: TaggerData, cfg: TaggerConfig, stats: MelStats) -> dict:
    """What inference needs beside the weights: classes, mel statistics, window spec, audio settings."""
    from dataclasses import asdict

    return {"classes": list(data.labels.classes), "target": cfg.target, "multi_label": data.labels.multi_label,
            "mel_stats": stats.to_dict(), "window": data.spec.to_dict(), "audio_config": asdict(data.fc.config),
            "loss": cfg.loss}


def train_model(data: TaggerData, train_rows: np.ndarray, val_rows: np.ndarray, cfg: TaggerConfig,
                run_name: str) -> tuple[SpectrogramCNN, FitResult, MelStats]:
    """Standardise with training statistics and train on the one loop; returns the best model."""
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(f"need labelled train and val tracks (have {len(train_rows)} train, {len(val_rows)} val): "
                         f"label more tracks, or {SPLIT_HINT}")
    stats = compute_mel_stats(data.fc, train_rows)
    tc = replace(cfg.train, run_name=run_name, out_dir=Path(data.fc.ds_dir),
                 extra=checkpoint_extra(data, cfg, stats))
    torch.manual_seed(tc.seed)
    model = make_model(data, cfg)
    result = fit(model, _loader(data, train_rows, stats, tc.batch_size, True, tc.seed),
                 _loader(data, val_rows, stats, tc.batch_size, False), tc)
    return model, result, stats


def predict_windows(model: SpectrogramCNN, fc: FeatureCache, rows: np.ndarray, stats: MelStats, spec: WindowSpec,
                    batch_size: int = 64) -> WindowPredictions:
    """Class probabilities of every window of `rows` (eval mode, no gradients)."""
    ds = TrackWindowDataset(fc, rows, stats, spec)
    model.eval()
    probs, rs, ss = [], [], []
    with torch.no_grad():
        for x, _, r, s in DataLoader(ds, batch_size=batch_size, shuffle=False):
            probs.append(model.probabilities(x).numpy())
            rs.append(np.asarray(r))
            ss.append(np.asarray(s))
    return WindowPredictions(np.concatenate(probs), np.concatenate(rs), np.concatenate(ss))


def label_warnings(labels: LabelSet, limit: int = 30) -> list[str]:
    """Warnings naming the classes dropped for having fewer than 2 tracks (and those cut by --top-classes)."""
    out = []
    if labels.dropped:
        names = ", ".join(labels.dropped[:limit]) + (f" ... and {len(labels.dropped) - limit} more"
                                                     if len(labels.dropped) > limit else "")
        out.append(f"dropped {len(labels.dropped)} {labels.target} class(es) with fewer than 2 tracks: {names}")
    if labels.not_top:
        out.append(f"--top-classes kept {len(labels.classes)} classes; {len(labels.not_top)} less frequent ones "
                   "left out")
    return out
