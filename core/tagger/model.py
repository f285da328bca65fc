"""`SpectrogramCNN`: three conv blocks (Conv2d -> BatchNorm -> ReLU -> MaxPool -> Dropout), global average
pooling and a fully connected classifier over standardised log-mel windows [B, 1, n_mels, frames].

The model owns its loss (`make_loss`), so `core.nn.fit` trains it through `loss(batch)`, which also returns
the window accuracy and the positive-label hit rate for the history and TensorBoard.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from core.tagger.losses import make_loss


def _block(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    """Conv2d 3x3 -> BatchNorm2d -> ReLU -> MaxPool2d 2 -> Dropout."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(dropout))


def hit_rate(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Positive-label hit rate per item: share of its true labels among its top-k scores (k = #true labels);
    NaN for an item without true labels. Single-label targets are class ids (then it is top-1 accuracy)."""
    if targets.ndim == 1:
        return (logits.argmax(-1) == targets.long()).float()
    y = targets > 0.5
    k = y.sum(-1)
    order = logits.argsort(-1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(logits.shape[-1]).expand_as(order).contiguous())
    hits = ((ranks < k[:, None]) & y).sum(-1).float()
    return torch.where(k > 0, hits / k.clamp(min=1), torch.full_like(hits, float("nan")))


def top1_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per item: 1 if the top-scored class is a true label (single-label: argmax == target)."""
    top = logits.argmax(-1)
    if targets.ndim == 1:
        return (top == targets.long()).float()
    return targets.gather(-1, top[:, None]).squeeze(-1).float()


class SpectrogramCNN(nn.Module):
    """Small CNN genre/tag classifier; `multi_label` picks sigmoid outputs (tags) or softmax (genre)."""

    def __init__(self, n_mels: int, n_classes: int, channels: tuple[int, ...] | list[int] = (8, 16, 32),
                 dropout: float = 0.2, multi_label: bool = False, loss: str = "asl",
                 loss_kwargs: dict[str, float] | None = None) -> None:
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"SpectrogramCNN has three conv blocks; got channels {list(channels)}")
        self.kw = {"n_mels": int(n_mels), "n_classes": int(n_classes), "channels": [int(c) for c in channels],
                   "dropout": float(dropout), "multi_label": bool(multi_label), "loss": loss,
                   "loss_kwargs": dict(loss_kwargs or {})}
        c = [1, *self.kw["channels"]]
        self.features = nn.Sequential(*[_block(c[i], c[i + 1], dropout) for i in range(3)])
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c[-1], n_classes))
        self.criterion = make_loss(loss, multi_label, **self.kw["loss_kwargs"])

    def config(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this model."""
        return {"name": "spectrogram_cnn", "class": "SpectrogramCNN", "kwargs": dict(self.kw)}

    @property
    def multi_label(self) -> bool:
        """Sigmoid (tags) rather than softmax (genre) outputs."""
        return bool(self.kw["multi_label"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_classes] of windows [B, 1, n_mels, T] (or [B, n_mels, T])."""
        if x.ndim == 3:
            x = x[:, None]
        h = self.features(x)
        return self.head(F.adaptive_avg_pool2d(h, 1))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities: softmax (single-label) or per-class sigmoid (multi-label)."""
        logits = self(x)
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, -1)

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, {"accuracy", "pos_hit_rate"}) of a batch (x, y, ...) from `TrackWindowDataset`."""
        x, y = batch[0], batch[1]
        logits = self(x)
        target = y
        if not self.multi_label and self.kw["loss"] == "bce":
            target = F.one_hot(y.long(), self.kw["n_classes"]).float()
        loss = self.criterion(logits, target)
        with torch.no_grad():
            hr = hit_rate(logits, y)
            logs = {"accuracy": float(top1_accuracy(logits, y).mean()),
                    "pos_hit_rate": float(hr[torch.isfinite(hr)].mean()) if torch.isfinite(hr).any() else 0.0}
        return loss, logs


def model_from_config(cfg: dict[str, Any]) -> SpectrogramCNN:
    """Rebuild a SpectrogramCNN from its `config()` (as stored in checkpoints)."""
    if cfg.get("class") != "SpectrogramCNN":
        raise ValueError(f"not a SpectrogramCNN checkpoint (class {cfg.get('class')!r})")
    return SpectrogramCNN(**cfg["kwargs"])
