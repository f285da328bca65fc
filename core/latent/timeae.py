"""Latents with time structure: an autoencoder whose latent is T frames x C channels.

The encoder convolves over time with the mel bands as channels and halves the frame rate
log2(`time_stride`) times (216 frames -> T = 27 latent frames at stride 8, one every ~185 ms); a 1x1
convolution maps to C channels. The decoder mirrors it (transposed convolutions back to the input
frame rate) so it can place onsets at the right frame and harmonics in the right bands. `encode`
returns the T x C latent flattened to [B, T*C] (time-major), so every consumer of the one-vector
models (latent tables, neighbours, interpolation) works unchanged; `latent_shape` says (T, C).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.recommend.autoencoders import Autoencoder


def latent_frames(n_frames: int, time_stride: int) -> int:
    """T: latent frames of a segment of `n_frames` input frames."""
    return math.ceil(n_frames / time_stride)


def valid_time_sizes(n_frames: int, time_stride: int, max_channels: int = 256) -> list[int]:
    """Latent sizes the time model accepts (T x C for C = 1, 2, 4, ... max_channels)."""
    t = latent_frames(n_frames, time_stride)
    return [t * (2**i) for i in range(int(math.log2(max_channels)) + 1)]


class TimeConvAutoencoder(Autoencoder):
    """Conv1d encoder/decoder over time with a T x C latent (latent_dim = T * C)."""

    name = "time_conv"

    def __init__(self, hidden: int = 160, time_stride: int = 8, **kw: Any) -> None:
        super().__init__(**kw)
        n_down = int(round(math.log2(time_stride)))
        if 2**n_down != time_stride or n_down < 1:
            raise ValueError(f"time_stride must be a power of two >= 2, got {time_stride}")
        self.time_stride, self.hidden = int(time_stride), int(hidden)
        self.t_latent = latent_frames(self.n_frames, self.time_stride)
        if self.latent_dim % self.t_latent:
            raise ValueError(f"latent size {self.latent_dim} is not a multiple of the {self.t_latent} latent frames "
                             f"of a {self.n_frames}-frame segment; use e.g. "
                             f"{valid_time_sizes(self.n_frames, self.time_stride, 64)}")
        self.channels = self.latent_dim // self.t_latent
        self._kwargs.update(hidden=self.hidden, time_stride=self.time_stride)
        h = self.hidden
        enc: list[nn.Module] = [nn.Conv1d(self.n_mels, h, 3, padding=1), nn.GELU()]
        for _ in range(n_down):
            enc += [nn.Conv1d(h, h, 4, stride=2, padding=1), nn.GroupNorm(8, h), nn.GELU()]
        enc.append(nn.Conv1d(h, self.channels, 1))
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv1d(self.channels, h, 3, padding=1), nn.GELU()]
        for _ in range(n_down):
            dec += [nn.ConvTranspose1d(h, h, 4, stride=2, padding=1), nn.GroupNorm(8, h), nn.GELU(),
                    nn.Conv1d(h, h, 3, padding=1), nn.GELU()]
        dec.append(nn.Conv1d(h, self.n_mels, 3, padding=1))
        self.decoder = nn.Sequential(*dec)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(T, C) of one segment's latent."""
        return self.t_latent, self.channels

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, frames] -> [B, T*C] (time-major flattening of the [B, T, C] latent)."""
        pad = self.t_latent * self.time_stride - x.shape[-1]
        if pad > 0:
            x = F.pad(x, (0, pad))
        z = self.encoder(x)[..., : self.t_latent]  # [B, C, T]
        return z.transpose(1, 2).reshape(x.shape[0], -1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[B, T*C] -> [B, n_mels, n_frames]."""
        h = z.reshape(z.shape[0], self.t_latent, self.channels).transpose(1, 2)
        return self.decoder(h)[..., : self.n_frames]
