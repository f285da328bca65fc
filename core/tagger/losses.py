"""Losses of the genre tagger, written in the project (no third-party loss code).

Reduction, for every loss here: **sum over classes, mean over the batch**. The loss of one window is then
on the same scale whatever the batch size, so Adam's usual learning rate (1e-3) applies; Ridnik et al. sum
over the batch too and use lr 1e-4..2e-4 for that reason. With gamma_pos = gamma_neg = 0 and clip = 0,
`AsymmetricLoss` equals `BCELoss` exactly (both sum over classes), which the tests check.

- `AsymmetricLoss` (multi-label, Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification"):
  p = sigmoid(logit), shifted negatives p_m = max(p - m, 0),
  L = -sum_k [ y_k (1 - p_k)^gamma_pos log p_k + (1 - y_k) p_m,k^gamma_neg log(1 - p_m,k) ];
  defaults gamma_pos 0, gamma_neg 4, m (clip) 0.05.
- `AsymmetricSingleLabelLoss` (the single-label softmax form of the same paper's code): p = softmax(logits),
  each log p_k weighted by (1 - p_k)^gamma_pos for the true class and p_k^gamma_neg for the others, targets
  smoothed (1 - eps) one-hot + eps / K; defaults gamma_pos 0, gamma_neg 4, eps 0.1.
- `CrossEntropyLoss`, `BCELoss`: the plain references (no smoothing).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-8


class AsymmetricLoss(nn.Module):
    """Multi-label asymmetric focal loss on logits [B, K] and 0/1 targets [B, K]."""

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05, eps: float = EPS) -> None:
        super().__init__()
        if clip < 0 or clip >= 1:
            raise ValueError(f"clip (probability margin m) must be in [0, 1), got {clip}")
        self.gamma_pos, self.gamma_neg, self.clip, self.eps = float(gamma_pos), float(gamma_neg), float(clip), eps

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the per-window loss summed over classes."""
        y = targets.float()
        p = torch.sigmoid(logits)
        p_m = (p - self.clip).clamp(min=0) if self.clip > 0 else p
        loss_pos = y * torch.log(p.clamp(min=self.eps))
        loss_neg = (1 - y) * torch.log((1 - p_m).clamp(min=self.eps))
        if self.gamma_pos:
            loss_pos = loss_pos * (1 - p).pow(self.gamma_pos)
        if self.gamma_neg:
            loss_neg = loss_neg * p_m.pow(self.gamma_neg)
        return -(loss_pos + loss_neg).sum(-1).mean()


class AsymmetricSingleLabelLoss(nn.Module):
    """Single-label (softmax) asymmetric focal loss with label smoothing, on logits [B, K] and class ids [B]."""

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, label_smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.gamma_pos, self.gamma_neg, self.smoothing = float(gamma_pos), float(gamma_neg), float(label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of -sum_k t_k w_k log p_k."""
        k = logits.shape[-1]
        log_p = F.log_softmax(logits, dim=-1)
        onehot = F.one_hot(target.long(), k).to(log_p.dtype)
        p = log_p.exp()
        # 1 - p for the true class, p for the others: the probability mass "in the wrong place"
        base = onehot * (1 - p) + (1 - onehot) * p
        expo = onehot * self.gamma_pos + (1 - onehot) * self.gamma_neg
        weight = base.pow(expo) if (self.gamma_pos or self.gamma_neg) else torch.ones_like(base)
        smooth = onehot * (1 - self.smoothing) + self.smoothing / k
        return -(smooth * weight * log_p).sum(-1).mean()


class CrossEntropyLoss(nn.Module):
    """Plain softmax cross-entropy (mean over the batch), on logits [B, K] and class ids [B]."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """-log softmax(logits)[target], averaged over the batch."""
        return F.cross_entropy(logits, target.long())


class BCELoss(nn.Module):
    """Binary cross-entropy on logits, summed over classes and averaged over the batch (as AsymmetricLoss)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-sum_k [y log p + (1-y) log(1-p)], averaged over the batch."""
        return F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="none").sum(-1).mean()


LOSSES = ("asl", "ce", "bce")


def make_loss(name: str, multi_label: bool, **kwargs: float) -> nn.Module:
    """The loss named `name` ("asl", "ce", "bce") for single- or multi-label targets.

    "asl" is `AsymmetricLoss` (multi-label) or `AsymmetricSingleLabelLoss` (single-label); "ce" needs
    single-label targets, "bce" multi-label ones (a single-label target is one-hot encoded first by the model).
    """
    if name == "asl":
        return AsymmetricLoss(**kwargs) if multi_label else AsymmetricSingleLabelLoss(**kwargs)
    if name == "ce":
        if multi_label:
            raise ValueError("--loss ce needs single-label targets (--target genre); use bce or asl for tags")
        return CrossEntropyLoss()
    if name == "bce":
        return BCELoss()
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
