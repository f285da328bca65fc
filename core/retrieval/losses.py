"""NT-Xent / InfoNCE: the contrastive loss of SimCLR, written out so it can be checked by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1,
            groups: torch.Tensor | None = None) -> torch.Tensor:
    """NT-Xent over a batch of N positive pairs (z1[i], z2[i]).

    The 2N vectors are L2-normalised; for each anchor the positive is its partner and the
    negatives are the other 2N - 2 vectors. loss = mean over the 2N anchors of
    -log(exp(s_pos / t) / sum_{j != anchor} exp(s_j / t)), s = cosine similarity.
    `groups` [N] (e.g. track rows): other pairs of the same group are dropped from the negatives.
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must both be [N, d], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], 0), dim=1)
    sim = z @ z.T / temperature
    drop = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    if groups is not None:
        g = torch.cat([groups, groups]).to(z.device)
        same = g[:, None] == g[None, :]
        same[torch.arange(2 * n), target] = False  # keep the positive
        drop = drop | same
    sim = sim.masked_fill(drop, float("-inf"))
    return F.cross_entropy(sim, target)


def pair_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """Share of anchors in z1 whose most similar vector in z2 is their own partner (in-batch top-1)."""
    s = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T
    return float((s.argmax(1) == torch.arange(len(z1), device=z1.device)).float().mean())
