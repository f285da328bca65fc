"""Project-wide audio and spectrogram settings shared by features, models and inversion."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AudioConfig:
    """How audio is decoded, resampled, framed into log-mels and cut into segments.

    22,050 Hz keeps everything below 11 kHz (where genre/timbre cues live) at half
    the cost of 44.1 kHz; n_fft 1024 / hop 512 gives 46 ms windows, 23 ms frames.
    A segment is 216 frames (about 5.0 s); segments are cut every `segment_hop`
    frames from the whole-track spectrogram.
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 11025.0
    segment_frames: int = 216
    segment_hop: int = 216
    min_duration_s: float = 1.0
    top_db_floor: float = -100.0

    @property
    def segment_seconds(self) -> float:
        """Length of one segment in seconds."""
        return self.segment_frames * self.hop_length / self.sample_rate

    def fingerprint(self) -> str:
        """Short hash that changes whenever any setting changes (cache invalidation)."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]


DEFAULT_AUDIO = AudioConfig()
