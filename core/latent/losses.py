"""Training losses of the study's autoencoders on standardised log-mels.

- "mse": mean squared error (the one-vector models' original loss).
- "mrmel": MSE plus a multi-resolution log-mel L1: L1 at four time x frequency poolings
  (1x1, 2x2, 4x4, 1x8) and L1 of the frame-to-frame differences (what onsets are made of).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

LOSSES = ("mse", "mrmel")
POOLS: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4), (1, 8))


def _x(batch: Any) -> torch.Tensor:
    """The clean input tensor of a batch (tensor, tuple or dict with 'x')."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, dict):
        return batch["x"]
    return next(v for v in batch if isinstance(v, torch.Tensor))


def mr_mel_l1(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean of the pooled L1 terms and the time-difference L1 ([B, mels, frames])."""
    terms = [F.l1_loss(F.avg_pool2d(x_hat[:, None], p), F.avg_pool2d(x[:, None], p)) for p in POOLS]
    terms.append(F.l1_loss(torch.diff(x_hat, dim=-1), torch.diff(x, dim=-1)))
    return torch.stack(terms).mean()


def recon_loss(name: str) -> Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]:
    """The loss function `fit` calls as loss_fn(model, batch): (loss, {"mse": ..., "mrmel": ...})."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {LOSSES}")

    def loss_fn(model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x = _x(batch)
        x_hat = model(x)
        mse = F.mse_loss(x_hat, x)
        if name == "mse":
            return mse, {"mse": float(mse.detach())}
        mr = mr_mel_l1(x_hat, x)
        return mse + mr, {"mse": float(mse.detach()), "mrmel": float(mr.detach())}

    return loss_fn
