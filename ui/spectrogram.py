"""Log-mel spectrogram figures for the pages: time in seconds, an 80-dB range below the clip's peak, a colour bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.express as px

if TYPE_CHECKING:
    from core.audio.config import AudioConfig

DYNAMIC_RANGE_DB = 80.0


def spectrogram_figure(mel: np.ndarray, cfg: AudioConfig, height: int = 240):
    """A log-mel (dB, mel bins x frames) as a plotly image: x in seconds (frames x hop / sample rate), colours
    spanning the `DYNAMIC_RANGE_DB` below the peak (quieter cells drawn at the floor colour, as silence), a dB bar."""
    mel = np.asarray(mel, dtype=np.float32)
    top = float(np.nanmax(mel)) if np.isfinite(mel).any() else 0.0
    floor = top - DYNAMIC_RANGE_DB
    z = np.clip(np.nan_to_num(mel, nan=floor), floor, top)
    seconds = np.arange(mel.shape[1]) * cfg.hop_length / cfg.sample_rate
    fig = px.imshow(z, x=seconds, origin="lower", aspect="auto", color_continuous_scale="magma", zmin=floor,
                    zmax=top, labels={"x": "time (s)", "y": "mel bin", "color": "dB"}, height=height)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 0},
                      coloraxis_colorbar={"title": {"text": "dB"}, "thickness": 12})
    return fig
