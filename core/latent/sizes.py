"""Size accounting of a latent: floats per 5-s segment and bits per second, to read beside audio codecs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.audio.config import AudioConfig


@dataclass
class LatentSize:
    """How big one segment's latent is: its shape, floats per segment and the bit rates it implies."""

    kind: str
    shape: tuple[int, ...]
    floats_per_segment: int
    segment_seconds: float
    kbps_float16: float
    kbps_float32: float

    def to_json(self) -> dict[str, Any]:
        """Plain-type dict for index.json."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def latent_size(net: Any, cfg: AudioConfig, kind: str | None = None) -> LatentSize:
    """Size of the model's latent for one segment of `cfg` (shape from `latent_shape`, else (latent_dim,))."""
    shape = tuple(int(v) for v in getattr(net, "latent_shape", (net.latent_dim,)))
    n = 1
    for v in shape:
        n *= v
    secs = cfg.segment_seconds
    return LatentSize(kind or getattr(net, "name", "?"), shape, n, round(secs, 4),
                      n * 16 / secs / 1000.0, n * 32 / secs / 1000.0)
