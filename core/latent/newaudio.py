"""New audio through a trained model: format check, encode/reconstruct a file, and the app's upload
entry point `encode_and_reconstruct`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.audio.cache import FeatureCache
from core.audio.config import AudioConfig
from core.audio.decode import AUDIO_EXTENSIONS, AudioError, is_audio_path, load_audio
from core.audio.features import log_mel
from core.latent.griffinlim import GriffinLimConfig, mel_to_audio
from core.latent.latents import latent_table, neighbours
from core.latent.metrics import audio_metrics, logmel_l1, logmel_mse
from core.latent.model import decode_latents, encode_mels, load_recon_model
from core.latent.segments import _segment_refs
from core.recommend.windows import MelStats


class UnsupportedAudioFormat(ValueError):
    """An uploaded/new file whose extension the project cannot decode."""


def _pad_mel(mel: np.ndarray, frames: int, floor: float) -> tuple[np.ndarray, int]:
    """Crop or pad (with the dB floor) a log-mel to `frames`; returns it and the valid frame count."""
    n = min(mel.shape[1], frames)
    out = np.full((mel.shape[0], frames), floor, np.float32)
    out[:, :n] = mel[:, :n]
    return out, n


def check_audio_format(path: Path | str) -> Path:
    """Raise UnsupportedAudioFormat (with the accepted list) unless the extension is decodable."""
    path = Path(path)
    if not is_audio_path(path):
        raise UnsupportedAudioFormat(
            f"unsupported file format {path.suffix or '(no extension)'!r} for {path.name}; "
            f"accepted: {', '.join(AUDIO_EXTENSIONS)}"
        )
    return path


def encode_file(net: torch.nn.Module, stats: MelStats, path: Path | str, cfg: AudioConfig,
                gl: GriffinLimConfig, max_segments: int = 1) -> list[dict[str, Any]]:
    """Encode/reconstruct the first segments of an audio file; short files are padded (stated in `padded`)."""
    path = check_audio_format(path)
    try:
        audio = load_audio(path, cfg, max_seconds=cfg.segment_seconds * max_segments + 1.0)
    except AudioError as exc:
        raise UnsupportedAudioFormat(f"cannot decode {path.name}: {exc}") from None
    mel_full = log_mel(audio, cfg)
    out = []
    n_total = mel_full.shape[1]
    starts = list(range(0, max(1, n_total - cfg.segment_frames + 1), cfg.segment_hop))[:max_segments] or [0]
    for start in starts:
        mel, valid = _pad_mel(mel_full[:, start:], cfg.segment_frames, cfg.top_db_floor)
        valid = max(valid, 2)
        z = encode_mels(net, stats, mel[None])[0]
        rec = decode_latents(net, stats, z[None], cfg)[0]
        n = (valid - 1) * cfg.hop_length
        ref_audio = audio[start * cfg.hop_length : start * cfg.hop_length + n]
        ref_audio = np.pad(ref_audio, (0, n - len(ref_audio)))
        y = mel_to_audio(rec[:, :valid], cfg, gl)
        y_oracle = mel_to_audio(mel[:, :valid], cfg, gl)
        m = audio_metrics(ref_audio, y, cfg)
        m["decoder_mel_mse"] = logmel_mse(mel[:, :valid], rec[:, :valid])
        m["decoder_mel_l1"] = logmel_l1(mel[:, :valid], rec[:, :valid])
        mo = audio_metrics(ref_audio, y_oracle, cfg)
        out.append({"start_frame": start, "valid_frames": valid, "padded": valid < cfg.segment_frames,
                    "mel": mel, "recon_mel": rec, "z": z, "original_audio": ref_audio, "audio": y,
                    "oracle_audio": y_oracle, "metrics": m, "oracle_metrics": mo})
    return out


def encode_and_reconstruct(ds_dir: Path | str, size: int, audio_path: Path | str, model: str = "conv2d",
                           gl: GriffinLimConfig | None = None, k: int = 5) -> dict[str, Any]:
    """For the app's upload: encode the first 5 s of a file with the size-`size` model and reconstruct it.

    Returns dict(mel, recon_mel [n_mels, frames] dB, audio, oracle_audio, original_audio (float32 at the
    project rate), sample_rate, z, neighbours DataFrame, metrics, oracle_metrics, padded). Raises
    UnsupportedAudioFormat for files it cannot read, LatentSizeMismatch / FileNotFoundError for models.
    """
    ds_dir = Path(ds_dir)
    check_audio_format(audio_path)
    fc = FeatureCache.open(ds_dir)
    net, stats = load_recon_model(ds_dir, size, model)
    gl = gl or GriffinLimConfig()
    item = encode_file(net, stats, audio_path, fc.config, gl, max_segments=1)[0]
    lat = ds_dir / "recon" / f"z{size}" / "latents.npy"
    if lat.exists():
        z_all = np.load(lat)
        meta = pd.read_csv(lat.with_name("latents.csv"), dtype={"track_id": str})
    else:
        z_all, meta = latent_table(net, stats, fc, _segment_refs(fc))
    item["neighbours"] = neighbours(item["z"], z_all, meta, k)
    item["sample_rate"] = fc.config.sample_rate
    return item
