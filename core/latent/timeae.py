"""Latents with time structure: an autoencoder whose latent is T frames x C channels.

A segment's log-mel frames are averaged over `time_stride` frames (T = 27 latent frames at stride 8, one
every ~186 ms; T = 216 at stride 1, one per mel frame) and each latent frame holds C channels. The code has
two paths that add up:

- a **linear path**: the C principal components of the (pooled) training frames, fitted in closed form
  before training (`fit_linear`) and kept fixed: encoding projects each latent frame on them, decoding
  maps back and repeats each latent frame `time_stride` times. On its own this is transform coding of the
  mel frames, a strong baseline that already keeps onsets and much of the harmony;
- a **learned path**: convolutions over time with the mel bands as channels (stride-2 steps down to T on
  the encoder side, transposed convolutions back on the decoder side) whose outputs are added to the
  linear code and to the linear reconstruction. Their last layers start at zero, so training starts from
  the linear solution and can only move away from it where that lowers the loss.

The shape of a size comes from `time_shape`: the coarsest time step whose C stays at most
`MAX_CHANNELS_PER_FRAME`, else one latent frame per mel frame. `encode` returns the T x C latent
flattened to [B, T*C] (time-major), so every consumer of the one-vector models (latent tables,
neighbours, interpolation) works unchanged; `latent_shape` says (T, C).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.recommend.autoencoders import Autoencoder

STRIDES = (8, 4, 2, 1)  # time steps tried, coarsest first
MAX_CHANNELS_PER_FRAME = 8  # a coarser time step is used only while C stays at most this


def latent_frames(n_frames: int, time_stride: int) -> int:
    """T: latent frames of a segment of `n_frames` input frames."""
    return math.ceil(n_frames / time_stride)


def time_shape(size: int, n_frames: int, max_channels: int = MAX_CHANNELS_PER_FRAME) -> tuple[int, int, int]:
    """(time_stride, T, C) of a latent size: the coarsest stride of STRIDES whose T divides `size` with
    C <= max_channels; else stride 1 (one latent frame per mel frame) when T divides `size`."""
    fits = [s for s in STRIDES if size % latent_frames(n_frames, s) == 0]
    if not fits:
        raise ValueError(f"latent size {size} is not a multiple of the latent frames of a {n_frames}-frame segment; "
                         f"use e.g. {valid_time_sizes(n_frames)}")
    small = [s for s in fits if size // latent_frames(n_frames, s) <= max_channels]
    stride = small[0] if small else min(fits)
    t = latent_frames(n_frames, stride)
    return stride, t, size // t


def valid_time_sizes(n_frames: int, max_channels: int = 32) -> list[int]:
    """Some sizes the time model accepts: T x C for the coarsest T, then one latent frame per mel frame
    with C = 1, 2, 4, ... `max_channels` (any multiple of the coarsest T works)."""
    t = latent_frames(n_frames, STRIDES[0])
    coarse = [t * c for c in (1, 2, 4, MAX_CHANNELS_PER_FRAME)]
    fine = [n_frames * (2**i) for i in range(int(math.log2(max_channels)) + 1)]
    return sorted(set(coarse + fine))


def pooled_frames(x: torch.Tensor, stride: int) -> torch.Tensor:
    """[B, n_mels, frames] -> [B, n_mels, T]: mean over each group of `stride` frames (zero-padded end)."""
    pad = latent_frames(x.shape[-1], stride) * stride - x.shape[-1]
    if pad > 0:
        x = F.pad(x, (0, pad))
    return F.avg_pool1d(x, stride) if stride > 1 else x


class TimeConvAutoencoder(Autoencoder):
    """T x C latent (latent_dim = T * C): fixed principal-component path + learned convolutional path."""

    name = "time_conv"

    def __init__(self, hidden: int = 96, time_stride: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.time_stride = int(time_stride or time_shape(self.latent_dim, self.n_frames)[0])
        if self.time_stride not in STRIDES:
            raise ValueError(f"time_stride must be one of {STRIDES}, got {time_stride}")
        self.t_latent = latent_frames(self.n_frames, self.time_stride)
        if self.latent_dim % self.t_latent:
            raise ValueError(f"latent size {self.latent_dim} is not a multiple of the {self.t_latent} latent frames "
                             f"of a {self.n_frames}-frame segment at time step {self.time_stride}")
        self.channels = self.latent_dim // self.t_latent
        self.hidden = int(hidden)
        self._kwargs.update(hidden=self.hidden, time_stride=self.time_stride)
        self.register_buffer("frame_mean", torch.zeros(self.n_mels))
        self.register_buffer("basis", torch.zeros(self.channels, self.n_mels))
        self.encoder, self.decoder = self._learned_paths(int(round(math.log2(self.time_stride))))

    def _learned_paths(self, n_down: int) -> tuple[nn.Sequential, nn.Sequential]:
        """The convolutional encoder/decoder added to the linear path; their last layers start at zero."""
        h = self.hidden
        enc: list[nn.Module] = [nn.Conv1d(self.n_mels, h, 3, padding=1), nn.GELU()]
        for _ in range(n_down):
            enc += [nn.Conv1d(h, h, 4, stride=2, padding=1), nn.GroupNorm(8, h), nn.GELU()]
        enc += [nn.Conv1d(h, h, 3, padding=1), nn.GELU(), nn.Conv1d(h, self.channels, 1)]
        dec: list[nn.Module] = [nn.Conv1d(self.channels, h, 3, padding=1), nn.GELU()]
        for _ in range(n_down):
            dec += [nn.ConvTranspose1d(h, h, 4, stride=2, padding=1), nn.GroupNorm(8, h), nn.GELU()]
        dec += [nn.Conv1d(h, h, 3, padding=1), nn.GELU(), nn.Conv1d(h, h, 3, padding=1), nn.GELU(),
                nn.Conv1d(h, self.n_mels, 3, padding=1)]
        for last in (enc[-1], dec[-1]):
            assert isinstance(last, nn.Conv1d)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        return nn.Sequential(*enc), nn.Sequential(*dec)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(T, C) of one segment's latent."""
        return self.t_latent, self.channels

    @torch.no_grad()
    def fit_linear(self, segments: np.ndarray | torch.Tensor) -> float:
        """Fit the linear path to training segments [n, n_mels, frames] (standardised log-mels): the mean
        and the first C principal components of their pooled frames. Returns the share of the frames'
        variance those components hold."""
        x = torch.as_tensor(np.asarray(segments, dtype=np.float32))
        frames = pooled_frames(x, self.time_stride).transpose(1, 2).reshape(-1, self.n_mels).double()
        mean = frames.mean(0)
        cov = (frames - mean).T @ (frames - mean) / max(1, len(frames) - 1)
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        order = torch.argsort(evals, descending=True)
        k = min(self.channels, self.n_mels)
        basis = torch.zeros(self.channels, self.n_mels, dtype=torch.float64)
        top = evecs[:, order[:k]].T
        basis[:k] = top * torch.sign(top.sum(1, keepdim=True) + 1e-12)  # fixed sign: repeatable checkpoints
        self.frame_mean.copy_(mean.float())
        self.basis.copy_(basis.float())
        return float(evals[order[:k]].sum() / evals.sum().clamp_min(1e-12))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, frames] -> [B, T*C] (time-major flattening of the [B, T, C] latent)."""
        linear = torch.einsum("cm,bmt->bct", self.basis, pooled_frames(x, self.time_stride) - self.frame_mean[:, None])
        pad = self.t_latent * self.time_stride - x.shape[-1]
        learned = self.encoder(F.pad(x, (0, pad)) if pad > 0 else x)[..., : self.t_latent]
        z = linear[..., : self.t_latent] + learned
        return z.transpose(1, 2).reshape(x.shape[0], -1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[B, T*C] -> [B, n_mels, n_frames]."""
        h = z.reshape(z.shape[0], self.t_latent, self.channels).transpose(1, 2)
        linear = torch.einsum("cm,bct->bmt", self.basis, h) + self.frame_mean[:, None]
        if self.time_stride > 1:
            linear = linear.repeat_interleave(self.time_stride, dim=-1)
        learned = self.decoder(h)
        n = min(linear.shape[-1], learned.shape[-1])
        return (linear[..., :n] + learned[..., :n])[..., : self.n_frames]
