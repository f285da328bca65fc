"""Trained models of the latent-size study: run/checkpoint names, loading with a latent-size check,
and encoding log-mels to latents / decoding latents back to log-mels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.audio.config import AudioConfig
from core.recommend.windows import MelStats

MEL_MAX_DB = 40.0
KINDS = {"conv2d": "one vector", "time_conv": "T x C (time-structured)"}


class LatentSizeMismatch(ValueError):
    """A checkpoint holds a model of another latent size than the one asked for."""


def run_name_for(model: str, size: int) -> str:
    """Run / checkpoint folder name of one size."""
    return f"recon_{model}_z{size}"


def checkpoint_for(ds_dir: Path, model: str, size: int) -> Path:
    """Best checkpoint path of one size."""
    return Path(ds_dir) / "checkpoints" / run_name_for(model, size) / "best.pt"


def build_recon_model(name: str, **kwargs: Any) -> torch.nn.Module:
    """A study model by name: "time_conv" (T x C latent, core.latent.timeae) or any one-vector
    autoencoder of core.recommend.autoencoders ("conv2d", ...)."""
    if name == "time_conv":
        from core.latent.timeae import TimeConvAutoencoder

        return TimeConvAutoencoder(**kwargs)
    from core.recommend.autoencoders import build_model

    return build_model(name, **kwargs)


def model_kind_for(ds_dir: Path | str, size: int, model: str | None = None) -> str:
    """The model kind whose checkpoint holds latent size `size` (the given one, else the first found)."""
    if model is not None:
        return model
    for kind in KINDS:
        if checkpoint_for(Path(ds_dir), kind, size).exists():
            return kind
    return "conv2d"


def load_recon_model(ds_dir: Path | str, size: int, model: str | None = None) -> tuple[torch.nn.Module, MelStats]:
    """Load the trained model of one latent size and its mel statistics; clear errors if absent/mismatched.
    With `model=None` the kind is the one whose checkpoint of that size exists."""
    from core.nn.loop import load_checkpoint

    model = model_kind_for(ds_dir, size, model)
    path = checkpoint_for(Path(ds_dir), model, size)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint for latent size {size} at {path}; run "
            f"`python -m train.latent_sizes --data {ds_dir} --sizes {size}` first"
        )
    ckpt = load_checkpoint(path)
    check_latent_size(ckpt, size, path)
    net = model_from_checkpoint(ckpt, path)
    stats = ckpt.get("extra", {}).get("mel_stats")
    if stats is None:
        raise ValueError(f"checkpoint {path} has no mel statistics; it was not written by the recon study")
    return net, MelStats.from_dict(stats)


class OutdatedCheckpoint(ValueError):
    """A checkpoint holds weights of an earlier version of the model that the current code cannot load."""


def model_from_checkpoint(ckpt: dict[str, Any], path: Path | str = "") -> torch.nn.Module:
    """The study model a checkpoint describes, with its weights, in eval mode; OutdatedCheckpoint (with what
    to run) when the weights belong to an earlier version of that model."""
    mc = ckpt["model_config"]
    net = build_recon_model(mc["name"], **mc.get("kwargs", {}))
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise OutdatedCheckpoint(
            f"checkpoint {path} was written by an earlier version of the {mc['name']} model ({first}); "
            f"train that size again with `python -m train.latent_sizes ... --retrain`") from None
    return net.eval()


def check_latent_size(ckpt: dict[str, Any], size: int, path: Path | str = "") -> None:
    """Raise LatentSizeMismatch if the checkpoint's latent_dim differs from `size`."""
    have = ckpt.get("model_config", {}).get("kwargs", {}).get("latent_dim")
    if have != size:
        raise LatentSizeMismatch(
            f"checkpoint {path} holds a model with latent size {have}, but latent size {size} was asked for; "
            f"retrain with --sizes {size} --retrain or point to the right checkpoint"
        )


def encode_mels(net: torch.nn.Module, stats: MelStats, mels_db: np.ndarray, batch: int = 32) -> np.ndarray:
    """Latents [n, k] of log-mels [n, n_mels, frames] in dB."""
    out = []
    with torch.no_grad():
        for i in range(0, len(mels_db), batch):
            x = torch.from_numpy(stats.apply(np.asarray(mels_db[i : i + batch], dtype=np.float32)))
            out.append(net.encode(x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def decode_latents(net: torch.nn.Module, stats: MelStats, z: np.ndarray, cfg: AudioConfig,
                   batch: int = 32) -> np.ndarray:
    """Log-mels in dB [n, n_mels, frames] from latents [n, k], clipped to the valid dB range."""
    out = []
    with torch.no_grad():
        for i in range(0, len(z), batch):
            x_hat = net.decode(torch.from_numpy(np.asarray(z[i : i + batch], dtype=np.float32))).numpy()
            out.append(np.clip(stats.invert(x_hat), cfg.top_db_floor, MEL_MAX_DB))
    return np.concatenate(out).astype(np.float32)
