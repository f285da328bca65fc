"""Autoencoders over standardised log-mel windows: dense, 1-D conv and 2-D conv.

Every model takes x [B, n_mels, n_frames] (standardised log-mel) and offers
`encode(x) -> z [B, latent_dim]`, `decode(z) -> x_hat [B, n_mels, n_frames]`,
`loss(batch) -> Tensor` and `config() -> dict` (enough to rebuild it with
`model_from_config`). Objectives that are still autoencoders:

- ``ae``: plain reconstruction (MSE).
- ``denoise``: Gaussian noise plus random time/frequency masks on the input while
  training; the clean input is the target (masked-input reconstruction).
- ``shift``: the batch holds two time-shifted crops of the same segment; both are
  reconstructed and their latents are pulled together (cosine), which asks the
  code to describe *what* plays rather than *when*.
- ``denoise_shift``: both of the above.
- ``contrast``: like ``shift``, but the latents of two crops of one track are tied by a
  contrastive (InfoNCE, in-batch negatives, temperature `temperature`) term of weight
  `contrast_weight`: crops of one track must be closer to each other than to other tracks'
  crops, which shapes the space for retrieval rather than only for reconstruction.

In eval mode `loss` is always the clean reconstruction MSE, so validation losses
of all objectives are comparable.

Every model stores the audio settings it was trained on (`sample_rate`, `hop_length`, hence
`frame_rate`, and `n_mels`; defaults from `core.audio.config.DEFAULT_AUDIO`) and `check_audio(cfg)`
refuses a feature cache prepared with other settings. The knobs' defaults live in
`ObjectiveSettings` / `ModSpecSettings`, read by the constructors and by `train.autoencoders`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.audio.config import DEFAULT_AUDIO, AudioConfig

OBJECTIVES = ("ae", "denoise", "shift", "denoise_shift", "contrast")


def needs_pairs(objective: str) -> bool:
    """Whether an objective trains on two crops per item (shift and contrast objectives)."""
    return "shift" in objective or "contrast" in objective


@dataclass(frozen=True)
class ObjectiveSettings:
    """Defaults of the objectives' knobs: input noise and masked-stripe width of the denoising
    objectives, weight of the latent-invariance term of the shift objectives, weight and temperature of
    the contrastive term."""

    noise_std: float = 0.2
    mask_frac: float = 0.15
    shift_weight: float = 0.1
    contrast_weight: float = 0.1
    temperature: float = 0.1


@dataclass(frozen=True)
class ModSpecSettings:
    """Defaults of the modulation map of `modspec_dense`: mel bands, log-spaced modulation bins
    (None = full linear FFT resolution) between min_hz and max_hz, per-band std/mean columns."""

    n_bands: int = 16
    n_mod_bins: int | None = 8
    min_hz: float = 0.5
    max_hz: float = 16.0
    keep_stats: bool = True


OBJECTIVE_DEFAULTS = ObjectiveSettings()
MODSPEC_DEFAULTS = ModSpecSettings()


class AudioMismatch(ValueError):
    """A model meets a feature cache prepared with other audio settings than it was trained on."""


class Autoencoder(nn.Module):
    """Shared behaviour: objectives, loss, config; subclasses define encode/decode."""

    name = "base"

    def __init__(
        self,
        n_mels: int = 128,
        n_frames: int = 128,
        latent_dim: int = 64,
        objective: str = "ae",
        noise_std: float = OBJECTIVE_DEFAULTS.noise_std,
        mask_frac: float = OBJECTIVE_DEFAULTS.mask_frac,
        shift_weight: float = OBJECTIVE_DEFAULTS.shift_weight,
        contrast_weight: float = OBJECTIVE_DEFAULTS.contrast_weight,
        temperature: float = OBJECTIVE_DEFAULTS.temperature,
        sample_rate: int = DEFAULT_AUDIO.sample_rate,
        hop_length: int = DEFAULT_AUDIO.hop_length,
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.n_mels = int(n_mels)
        self.n_frames = int(n_frames)
        self.latent_dim = int(latent_dim)
        self.objective = objective
        self.noise_std = float(noise_std)
        self.mask_frac = float(mask_frac)
        self.shift_weight = float(shift_weight)
        self.contrast_weight = float(contrast_weight)
        self.temperature = float(temperature)
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self._kwargs: dict[str, Any] = {
            "n_mels": self.n_mels,
            "n_frames": self.n_frames,
            "latent_dim": self.latent_dim,
            "objective": objective,
            "noise_std": self.noise_std,
            "mask_frac": self.mask_frac,
            "shift_weight": self.shift_weight,
            "contrast_weight": self.contrast_weight,
            "temperature": self.temperature,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
        }

    @property
    def frame_rate(self) -> float:
        """Input frames per second (sample_rate / hop_length) the model was built for."""
        return self.sample_rate / self.hop_length

    def check_audio(self, cfg: AudioConfig) -> None:
        """Raise AudioMismatch (with what differs) if a cache's audio settings are not the model's."""
        diffs = [f"{k}: model {mine} vs cache {theirs}" for k, mine, theirs in (
            ("sample_rate", self.sample_rate, cfg.sample_rate), ("hop_length", self.hop_length, cfg.hop_length),
            ("n_mels", self.n_mels, cfg.n_mels)) if mine != theirs]
        if diffs:
            raise AudioMismatch(f"{self.name} was trained on other audio settings than this feature cache "
                                f"({'; '.join(diffs)}); re-prepare the data with the model's settings or retrain")

    # --- interface -----------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Map x [B, n_mels, n_frames] to z [B, latent_dim]."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Map z [B, latent_dim] back to x_hat [B, n_mels, n_frames]."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct x."""
        return self.decode(self.encode(x))

    def config(self) -> dict[str, Any]:
        """Name, class and constructor kwargs; stored in checkpoints."""
        return {"name": self.name, "class": type(self).__name__, "kwargs": dict(self._kwargs)}

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # --- objectives ----------------------------------------------------------
    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Noise plus one random time stripe and one frequency stripe per example (masked to 0)."""
        x = x + self.noise_std * torch.randn_like(x)
        b, m, t = x.shape
        keep = torch.ones_like(x)
        tw = max(1, int(self.mask_frac * t))
        fw = max(1, int(self.mask_frac * m))
        t0 = torch.randint(0, max(1, t - tw + 1), (b,), device=x.device)
        f0 = torch.randint(0, max(1, m - fw + 1), (b,), device=x.device)
        ar_t = torch.arange(t, device=x.device)[None, :]
        ar_f = torch.arange(m, device=x.device)[None, :]
        tmask = (ar_t >= t0[:, None]) & (ar_t < (t0 + tw)[:, None])
        fmask = (ar_f >= f0[:, None]) & (ar_f < (f0 + fw)[:, None])
        keep = keep * (~tmask)[:, None, :] * (~fmask)[:, :, None]
        return x * keep

    def loss(self, batch: Any) -> torch.Tensor:
        """Training objective (see module doc); clean reconstruction MSE in eval mode."""
        views = _views(batch)
        x = views[0]
        if not self.training:
            return F.mse_loss(self(x), x)
        denoise = self.objective in ("denoise", "denoise_shift")
        shift = needs_pairs(self.objective) and len(views) > 1
        if not shift:
            inp = self.corrupt(x) if denoise else x
            return F.mse_loss(self(inp), x)
        x2 = views[1]
        both = torch.cat([x, x2], 0)
        inp = self.corrupt(both) if denoise else both
        z = self.encode(inp)
        rec = F.mse_loss(self.decode(z), both)
        return rec + self.pair_term(z)

    def pair_term(self, z: torch.Tensor) -> torch.Tensor:
        """Weighted tie between the latents of the two views z = [z1; z2]: cosine pull (shift objectives)
        or symmetric InfoNCE with in-batch negatives (contrast)."""
        z1, z2 = z.chunk(2, 0)
        if "contrast" not in self.objective:
            return self.shift_weight * (1.0 - F.cosine_similarity(z1, z2, dim=1)).mean()
        u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        logits = u1 @ u2.T / self.temperature
        target = torch.arange(len(u1), device=z.device)
        nce = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        return self.contrast_weight * nce


def _views(batch: Any) -> list[torch.Tensor]:
    """Accept a tensor, a (x,) / (x, x2) tuple, or a dict with 'x' (and 'x2')."""
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, dict):
        return [batch["x"]] + ([batch["x2"]] if "x2" in batch else [])
    if isinstance(batch, (list, tuple)):
        out = [v for v in batch if isinstance(v, torch.Tensor) and v.dim() == 3]
        if out:
            return out[:2]
    raise TypeError(f"cannot read a batch of type {type(batch).__name__}")


def mlp_pair(d_in: int, hidden: list[int], latent_dim: int, dropout: float) -> tuple[nn.Sequential, nn.Sequential]:
    """Mirrored MLP encoder (d_in -> hidden -> latent) and decoder (latent -> reversed hidden -> d_in)."""
    enc: list[nn.Module] = []
    prev = d_in
    for h in hidden:
        enc += [nn.Linear(prev, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(dropout)]
        prev = h
    enc.append(nn.Linear(prev, latent_dim))
    dec: list[nn.Module] = []
    prev = latent_dim
    for h in reversed(hidden):
        dec += [nn.Linear(prev, h), nn.LayerNorm(h), nn.GELU()]
        prev = h
    dec.append(nn.Linear(prev, d_in))
    return nn.Sequential(*enc), nn.Sequential(*dec)


class DenseAutoencoder(Autoencoder):
    """Fully connected autoencoder on the flattened window (a strong-bottleneck reference)."""

    name = "dense"

    def __init__(self, hidden: tuple[int, ...] | list[int] = (512, 256), dropout: float = 0.1,
                 **kw: Any) -> None:
        super().__init__(**kw)
        hidden = [int(h) for h in hidden]
        self._kwargs.update(hidden=list(hidden), dropout=float(dropout))
        self.encoder, self.decoder = mlp_pair(self.n_mels * self.n_frames, hidden, self.latent_dim, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten and map to the latent vector."""
        return self.encoder(x.reshape(x.shape[0], -1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map the latent vector back to a [B, n_mels, n_frames] window."""
        return self.decoder(z).reshape(z.shape[0], self.n_mels, self.n_frames)


def _norm(c: int) -> nn.Module:
    """GroupNorm (per example, so train and eval behave the same even after a few steps)."""
    return nn.GroupNorm(8 if c % 8 == 0 else 1, c)


def _pad_to(x: torch.Tensor, mult: int) -> torch.Tensor:
    """Right-pad the last axis with zeros to a multiple of `mult`."""
    t = x.shape[-1]
    extra = (-t) % mult
    return F.pad(x, (0, extra)) if extra else x


class Conv1dAutoencoder(Autoencoder):
    """Mel bins as channels, strided 1-D convolutions over time, linear bottleneck."""

    name = "conv1d"

    def __init__(self, channels: tuple[int, ...] | list[int] = (256, 256, 128),
                 kernel: int = 5, **kw: Any) -> None:
        super().__init__(**kw)
        channels = [int(c) for c in channels]
        self._kwargs.update(channels=list(channels), kernel=int(kernel))
        self.stride_total = 2 ** len(channels)
        self.t_pad = self.n_frames + ((-self.n_frames) % self.stride_total)
        self.t_low = self.t_pad // self.stride_total
        pad = kernel // 2
        enc: list[nn.Module] = []
        prev = self.n_mels
        for c in channels:
            enc += [nn.Conv1d(prev, c, kernel, stride=2, padding=pad), _norm(c), nn.GELU()]
            prev = c
        self.encoder = nn.Sequential(*enc)
        self.c_low = prev
        self.to_z = nn.Linear(prev * self.t_low, self.latent_dim)
        self.from_z = nn.Linear(self.latent_dim, prev * self.t_low)
        dec: list[nn.Module] = []
        rev = list(reversed(channels))[1:] + [self.n_mels]
        for i, c in enumerate(rev):
            dec.append(nn.ConvTranspose1d(prev, c, kernel, stride=2, padding=pad, output_padding=1))
            if i < len(rev) - 1:
                dec += [_norm(c), nn.GELU()]
            prev = c
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve over time (mel bins as channels), flatten, project to z."""
        h = self.encoder(_pad_to(x, self.stride_total))
        return self.to_z(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Project z to a low-rate feature map and upsample back to n_frames."""
        h = self.from_z(z).reshape(z.shape[0], self.c_low, self.t_low)
        return self.decoder(h)[..., : self.n_frames]


class Conv2dAutoencoder(Autoencoder):
    """2-D convolutions over the (mel, time) image; pads time/mel internally to a multiple of 16."""

    name = "conv2d"

    def __init__(self, channels: tuple[int, ...] | list[int] = (16, 32, 64, 64), **kw: Any) -> None:
        super().__init__(**kw)
        channels = [int(c) for c in channels]
        self._kwargs.update(channels=list(channels))
        self.stride_total = 2 ** len(channels)
        self.m_pad = self.n_mels + ((-self.n_mels) % self.stride_total)
        self.t_pad = self.n_frames + ((-self.n_frames) % self.stride_total)
        self.m_low = self.m_pad // self.stride_total
        self.t_low = self.t_pad // self.stride_total
        enc: list[nn.Module] = []
        prev = 1
        for c in channels:
            enc += [nn.Conv2d(prev, c, 3, stride=2, padding=1), _norm(c), nn.GELU()]
            prev = c
        self.encoder = nn.Sequential(*enc)
        self.c_low = prev
        flat = prev * self.m_low * self.t_low
        self.to_z = nn.Linear(flat, self.latent_dim)
        self.from_z = nn.Linear(self.latent_dim, flat)
        dec: list[nn.Module] = []
        rev = list(reversed(channels))[1:] + [1]
        for i, c in enumerate(rev):
            dec.append(nn.ConvTranspose2d(prev, c, 3, stride=2, padding=1, output_padding=1))
            if i < len(rev) - 1:
                dec += [_norm(c), nn.GELU()]
            prev = c
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pad to the stride grid, convolve, flatten, project to z."""
        x = _pad_to(x, self.stride_total)
        extra_m = self.m_pad - x.shape[1]
        if extra_m:
            x = F.pad(x, (0, 0, 0, extra_m))
        h = self.encoder(x[:, None])
        return self.to_z(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Upsample from the latent grid and crop back to [n_mels, n_frames]."""
        h = self.from_z(z).reshape(z.shape[0], self.c_low, self.m_low, self.t_low)
        return self.decoder(h)[:, 0, : self.n_mels, : self.n_frames]


class ModSpecDenseAutoencoder(Autoencoder):
    """Dense autoencoder of the *modulation spectrum* of a long log-mel window.

    Input is still the standardised log-mel window x [B, n_mels, n_frames] (so datasets,
    training loop and embedding code are shared); `features(x)` turns it into the fixed
    (not learned) log modulation map [B, n_bands, n_mod] of `core.recommend.modulation` (by default 8
    log-spaced modulation bins 0.5-16 Hz at the model's `frame_rate`, plus each band's std and mean
    level), and the network
    reconstructs that map: `decode(z)` returns [B, n_bands, n_mod], not a mel window. Windows
    of 128-216 frames (3-5 s) cover several beat periods, which a 16-frame window cannot.
    """

    name = "modspec_dense"

    def __init__(self, n_bands: int = MODSPEC_DEFAULTS.n_bands, n_mod_bins: int | None = MODSPEC_DEFAULTS.n_mod_bins,
                 min_hz: float = MODSPEC_DEFAULTS.min_hz, max_hz: float = MODSPEC_DEFAULTS.max_hz,
                 keep_stats: bool = MODSPEC_DEFAULTS.keep_stats,
                 hidden: tuple[int, ...] | list[int] = (512, 256), dropout: float = 0.1,
                 **kw: Any) -> None:
        super().__init__(**kw)
        from core.recommend.modulation import band_matrix, modulation_bins

        hidden = [int(h) for h in hidden]
        self.n_bands = int(n_bands)
        self.n_mod_bins = None if n_mod_bins is None else int(n_mod_bins)
        self.min_hz, self.max_hz = float(min_hz), float(max_hz)
        self.keep_stats = bool(keep_stats)
        self._kwargs.update(n_bands=self.n_bands, n_mod_bins=self.n_mod_bins, min_hz=self.min_hz,
                            max_hz=self.max_hz, keep_stats=self.keep_stats, hidden=list(hidden),
                            dropout=float(dropout))
        mod, _ = modulation_bins(self.n_frames, self.n_mod_bins, self.min_hz, self.max_hz, self.frame_rate)
        self.register_buffer("bands", band_matrix(self.n_mels, self.n_bands), persistent=False)
        self.register_buffer("mod_matrix", mod, persistent=False)
        self.n_mod = mod.shape[1] + 2 * int(self.keep_stats)
        self.encoder, self.decoder = mlp_pair(self.n_bands * self.n_mod, hidden, self.latent_dim, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Log modulation map [B, n_bands, n_mod] of mel windows x [B, n_mels, n_frames]."""
        from core.recommend.modulation import modulation_spectrum

        return modulation_spectrum(x, self.bands, keep_stats=self.keep_stats, mod_matrix=self.mod_matrix)

    def encode_features(self, f: torch.Tensor) -> torch.Tensor:
        """Latent of a modulation map [B, n_bands, n_mod]."""
        return self.encoder(f.reshape(f.shape[0], -1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Mel window -> modulation map -> latent vector."""
        return self.encode_features(self.features(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent vector -> reconstructed modulation map [B, n_bands, n_mod]."""
        return self.decoder(z).reshape(z.shape[0], self.n_bands, self.n_mod)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructed modulation map of x (compare with `features(x)`)."""
        return self.decode(self.encode(x))

    def loss(self, batch: Any) -> torch.Tensor:
        """MSE between the reconstructed and the true modulation map (objectives as the base class;
        denoising corrupts the mel input, the clean map is the target)."""
        views = _views(batch)
        x = views[0]
        if not self.training:
            return F.mse_loss(self(x), self.features(x))
        denoise = self.objective in ("denoise", "denoise_shift")
        shift = needs_pairs(self.objective) and len(views) > 1
        both = torch.cat([x, views[1]], 0) if shift else x
        inp = self.corrupt(both) if denoise else both
        z = self.encode(inp)
        rec = F.mse_loss(self.decode(z), self.features(both))
        return rec + self.pair_term(z) if shift else rec


MODELS: dict[str, type[Autoencoder]] = {
    "dense": DenseAutoencoder,
    "conv1d": Conv1dAutoencoder,
    "conv2d": Conv2dAutoencoder,
    "modspec_dense": ModSpecDenseAutoencoder,
}


def build_model(name: str, **kwargs: Any) -> Autoencoder:
    """Build an autoencoder by name ("dense", "conv1d", "conv2d", "modspec_dense") with constructor kwargs."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](**kwargs)


def model_from_config(cfg: dict[str, Any]) -> Autoencoder:
    """Rebuild a model from `Autoencoder.config()` (as stored in a checkpoint)."""
    return build_model(cfg["name"], **cfg.get("kwargs", {}))
