"""The retrieval embedders: crop [B, C, T] + mask [B, T] -> L2-normalised track embedding [B, d].

- `MelEmbedder`: a 1-D conv encoder over standardised log-mels (mel bins as channels, two stride-2
  stages), masked attention + mean pooling, a projection.
- `FrameEmbedder`: a residual per-frame MLP, attention pooling and a linear projection over pretrained
  encoder frames, the identity (mean of the standardised frames) at initialisation.
Both train with NT-Xent (`loss(batch)` for `core.nn.fit`) and carry `config()` for checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.retrieval.losses import nt_xent, pair_accuracy


class AttentionPool(nn.Module):
    """Masked attention pooling concatenated with masked mean pooling: [B, C, T] -> [B, 2C]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.score = nn.Conv1d(channels, 1, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool the valid steps of h."""
        m = mask[:, None, :].to(h.dtype)
        a = self.score(h).masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        att = (a * h).sum(-1)
        mean = (h * m).sum(-1) / m.sum(-1).clamp(min=1.0)
        return torch.cat([att, mean], 1)


class ChannelNorm(nn.Module):
    """LayerNorm over channels at each time step of [B, C, T] (padding-independent, unlike GroupNorm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Normalise each step's channel vector."""
        return self.norm(h.transpose(1, 2)).transpose(1, 2)


def _down_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """Mask after a stride-s conv with padding k//2: a step is valid if any input step it starts on is."""
    if stride == 1:
        return mask
    return F.max_pool1d(mask[:, None].float(), stride, stride, ceil_mode=True)[:, 0] > 0


class _Contrastive(nn.Module):
    """Shared parts: projection, L2 normalisation, NT-Xent loss, config."""

    name = "embedder"

    def __init__(self, kwargs: dict[str, Any], temperature: float) -> None:
        super().__init__()
        self._kwargs = dict(kwargs)
        self.temperature = temperature

    def config(self) -> dict[str, Any]:
        """Name, class and constructor kwargs (stored in checkpoints)."""
        return {"name": self.name, "class": type(self).__name__, "kwargs": dict(self._kwargs)}

    def n_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised embeddings [B, d] of crops [B, C, T]."""
        if mask is None:
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool)
        return F.normalize(self.project(self.encode(x, mask)), dim=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Same as embed."""
        return self.embed(x, mask)

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """NT-Xent between the two views of each pair, plus in-batch top-1 accuracy."""
        z1 = self.embed(batch["x"], batch["mask"])
        z2 = self.embed(batch["x2"], batch["mask2"])
        loss = nt_xent(z1, z2, self.temperature, batch.get("rows"))
        return loss, {"pair_top1": pair_accuracy(z1.detach(), z2.detach())}

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Pooled features [B, F] before the projection."""
        raise NotImplementedError


class MelEmbedder(_Contrastive):
    """Conv encoder over log-mels [B, n_mels, T]."""

    name = "mels"

    def __init__(self, n_mels: int = 128, channels: int = 128, dim: int = 128, temperature: float = 0.1) -> None:
        super().__init__({"n_mels": n_mels, "channels": channels, "dim": dim, "temperature": temperature},
                         temperature)
        c = channels
        self.convs = nn.ModuleList([nn.Conv1d(n_mels, c, 5, 1, 2), nn.Conv1d(c, c, 5, 2, 2),
                                    nn.Conv1d(c, c, 3, 2, 1), nn.Conv1d(c, c, 3, 1, 1)])
        self.strides = [1, 2, 2, 1]
        self.norms = nn.ModuleList([ChannelNorm(c) for _ in self.convs])
        self.pool = AttentionPool(c)
        self.project = nn.Sequential(nn.Linear(2 * c, c), nn.GELU(), nn.Linear(c, dim))

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Conv stages (padding zeroed after each), then pooling."""
        h = x * mask[:, None, :]
        for conv, norm, s in zip(self.convs, self.norms, self.strides):
            mask = _down_mask(mask, s)
            h = F.gelu(norm(conv(h))) * mask[:, None, :]
        return self.pool(h, mask)


class FrameEmbedder(_Contrastive):
    """Residual pooling model over standardised pretrained frames [B, D, T], the identity at initialisation.

    Each frame gets a residual MLP correction, frames are pooled by learned attention, and a linear map
    projects to `dim`. The residual's last layer and the attention scores start at zero and the projection
    at the identity (a random orthogonal map when dim != D), so the untrained model is the mean of the
    standardised frames: training starts from the frozen encoder's own embedding and can only be kept
    (by early stopping) if it improves on it.
    """

    name = "frames"

    def __init__(self, in_dim: int = 512, channels: int = 256, dim: int = 0, temperature: float = 0.1) -> None:
        dim = dim or in_dim
        super().__init__({"in_dim": in_dim, "channels": channels, "dim": dim, "temperature": temperature},
                         temperature)
        self.residual = nn.Sequential(nn.Linear(in_dim, channels), nn.GELU(), nn.Linear(channels, in_dim))
        self.score = nn.Linear(in_dim, 1)
        self.project = nn.Linear(in_dim, dim)
        for layer in (self.residual[2], self.score):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        (nn.init.eye_ if dim == in_dim else nn.init.orthogonal_)(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Residual per-frame MLP, then masked attention pooling: [B, D]."""
        h = x.transpose(1, 2)
        h = h + self.residual(h)
        a = self.score(h)[..., 0].masked_fill(~mask, float("-inf")).softmax(-1)
        return (a[..., None] * h).sum(1)


EMBEDDERS = {"MelEmbedder": MelEmbedder, "FrameEmbedder": FrameEmbedder}


def embedder_from_config(cfg: dict[str, Any]) -> _Contrastive:
    """Rebuild an embedder from its `config()` (as stored in checkpoints)."""
    cls = EMBEDDERS.get(cfg.get("class", ""))
    if cls is None:
        raise ValueError(f"not a retrieval embedder: {cfg.get('class')!r}")
    return cls(**cfg.get("kwargs", {}))
