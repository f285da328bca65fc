"""Measuring reconstructions: model reconstructions and the true-mel oracle of dataset segments,
scored with the metrics of core.latent.metrics (described in METRIC_INFO).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from core.audio.cache import FeatureCache
from core.latent.griffinlim import GriffinLimConfig, mel_to_audio
from core.latent.metrics import audio_metrics, logmel_l1, logmel_mse
from core.latent.model import decode_latents, encode_mels
from core.latent.segments import AudioCache, SegmentRef
from core.recommend.windows import MelStats

METRIC_INFO: dict[str, dict[str, Any]] = {
    "logmel_mse": {"unit": "dB^2", "desc": "log-mel MSE of the final audio vs the original audio"},
    "logmel_l1": {"unit": "dB", "desc": "log-mel mean absolute error of the final audio vs the original"},
    "spectral_convergence": {"unit": "", "desc": "||S - S^||_F / ||S||_F on linear STFT magnitudes"},
    "lsd_db": {"unit": "dB", "desc": "log-spectral distance on the STFT power (80 dB dynamic range)"},
    "mrstft": {"unit": "", "desc": "multi-resolution STFT distance (SC + log-magnitude L1, 3 resolutions)"},
    "onset_corr": {"unit": "", "higher": True,
                   "desc": "rhythm: correlation of the onset-strength envelopes of the final audio and the original"},
    "chroma_cos": {"unit": "", "higher": True,
                   "desc": "harmony/melody: mean cosine similarity of the chroma vectors (audible frames)"},
    "mel_distance": {"unit": "", "desc": "multi-scale log10-mel L1 summed over 7 scales (Codec-SUPERB/DAC mel "
                                         "distance, at the project's sample rate)"},
    "decoder_mel_mse": {"unit": "dB^2", "desc": "decoder output log-mel vs the cached log-mel (before audio)"},
    "decoder_mel_l1": {"unit": "dB", "desc": "decoder output log-mel L1 vs the cached log-mel"},
}


def reconstruct_refs(net: torch.nn.Module, stats: MelStats, fc: FeatureCache, refs: list[SegmentRef],
                     audio: AudioCache, gl: GriffinLimConfig, oracle: dict[int, dict] | None = None,
                     desc: str = "recon", progress: bool = True) -> tuple[pd.DataFrame, dict[int, dict]]:
    """Reconstruct segments; returns per-clip metrics and {segment: {mel, recon_mel, audio, z}}."""
    cfg = fc.config
    mels = np.stack([np.asarray(fc.mels[r.segment], dtype=np.float32) for r in refs])
    z = encode_mels(net, stats, mels)
    rec = decode_latents(net, stats, z, cfg)
    rows, store = [], {}
    for i, r in enumerate(tqdm(refs, desc=desc, leave=False, disable=not progress)):
        valid = max(2, r.n_frames)
        y = mel_to_audio(rec[i][:, :valid], cfg, gl)
        ref_audio = audio.segment(r)
        m = audio_metrics(ref_audio, y, cfg)
        m["decoder_mel_mse"] = logmel_mse(mels[i][:, :valid], rec[i][:, :valid])
        m["decoder_mel_l1"] = logmel_l1(mels[i][:, :valid], rec[i][:, :valid])
        rows.append({"segment": r.segment, "clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre, **m})
        store[r.segment] = {"mel": mels[i], "recon_mel": rec[i], "audio": y, "z": z[i]}
    return pd.DataFrame(rows), store


def oracle_refs(fc: FeatureCache, refs: list[SegmentRef], audio: AudioCache, gl: GriffinLimConfig,
                progress: bool = True) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """The ceiling: the same mel inversion + Griffin-Lim applied to the true (cached) log-mel."""
    cfg = fc.config
    rows, store = [], {}
    for r in tqdm(refs, desc="oracle", leave=False, disable=not progress):
        mel = np.asarray(fc.mels[r.segment], dtype=np.float32)[:, : max(2, r.n_frames)]
        y = mel_to_audio(mel, cfg, gl)
        m = audio_metrics(audio.segment(r), y, cfg)
        m["decoder_mel_mse"] = 0.0
        m["decoder_mel_l1"] = 0.0
        rows.append({"segment": r.segment, "clip_id": r.clip_id, "track_id": r.track_id, "genre": r.genre, **m})
        store[r.segment] = y
    return pd.DataFrame(rows), store


def mean_metrics(df: pd.DataFrame) -> dict[str, float]:
    """Mean of every metric column of a per-clip table."""
    cols = [c for c in METRIC_INFO if c in df.columns]
    return {c: float(df[c].mean()) for c in cols}
