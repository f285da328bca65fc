"""Fair playback: one excerpt region per track (the same length for every player of a query) and loudness
matching to a common target (ITU-R BS.1770 integrated loudness, measured with pyloudnorm).

The region's start and the gain are computed once per track version and kept in a small JSON file
(`<dataset>/listening/gains.json`), so a track is measured once, not at every page view.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyloudnorm

if TYPE_CHECKING:
    from core.audio.config import AudioConfig

TARGET_LUFS = -23.0
MAX_GAIN_DB = 30.0
MIN_MEASURE_S = 0.4  # one BS.1770 gating block
DECODE_LIMIT_S = 600.0


@dataclass(frozen=True)
class Excerpt:
    """Where a track is played from and how loud it is: start and length (s), measured loudness (LUFS,
    NaN for silence or an excerpt shorter than one gating block) and the gain that brings it to the target."""

    start_s: float
    length_s: float
    lufs: float
    gain_db: float
    target_lufs: float


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness in LUFS; NaN for silence or fewer samples than one gating block."""
    y = np.asarray(audio, dtype=np.float64)
    if len(y) < MIN_MEASURE_S * sample_rate or not np.any(y):
        return float("nan")
    value = float(pyloudnorm.Meter(sample_rate).integrated_loudness(y))
    return value if np.isfinite(value) else float("nan")


def gain_to_target(lufs: float, target: float = TARGET_LUFS) -> float:
    """Gain in dB that brings `lufs` to `target`, bounded to +-MAX_GAIN_DB; 0 when loudness is unknown."""
    if not np.isfinite(lufs):
        return 0.0
    return float(np.clip(target - lufs, -MAX_GAIN_DB, MAX_GAIN_DB))


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Audio scaled by `gain_db`, float32, clipped to [-1, 1] (a boost that would clip is the only loss)."""
    return np.clip(np.asarray(audio, np.float32) * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)


def representative_start(audio: np.ndarray, sample_rate: int, length_s: float) -> float:
    """Start (s, on a 0.5-s grid) of the loudest `length_s` window by mean energy; 0 for a shorter track."""
    n = int(round(length_s * sample_rate))
    if len(audio) <= n:
        return 0.0
    hop = sample_rate // 2
    energy = np.concatenate([[0.0], np.cumsum(np.asarray(audio, np.float64) ** 2)])
    starts = np.arange(0, len(audio) - n + 1, hop)
    window = energy[starts + n] - energy[starts]
    return float(starts[int(np.argmax(window))] / sample_rate)


def region(audio: np.ndarray, sample_rate: int, length_s: float, start: str | float) -> tuple[float, float]:
    """(start_s, length_s) of a track's excerpt: `start` is 'representative' or seconds (clamped so the
    excerpt fits); the length is `length_s`, or the whole track when it is shorter."""
    duration = len(audio) / sample_rate
    length = min(float(length_s), duration)
    if str(start) == "representative":
        return representative_start(audio, sample_rate, length), length
    return float(np.clip(float(start), 0.0, max(0.0, duration - length))), length


def measure(audio: np.ndarray, sample_rate: int, length_s: float, start: str | float,
            target: float = TARGET_LUFS) -> Excerpt:
    """The excerpt of a decoded track and the gain that brings that excerpt to `target` LUFS."""
    s, length = region(audio, sample_rate, length_s, start)
    cut = audio[int(round(s * sample_rate)): int(round((s + length) * sample_rate))]
    lufs = integrated_loudness(cut, sample_rate)
    return Excerpt(s, length, lufs, gain_to_target(lufs, target), target)


def cut(audio: np.ndarray, sample_rate: int, excerpt: Excerpt, matched: bool) -> np.ndarray:
    """The excerpt's samples, gain applied when `matched`."""
    y = audio[int(round(excerpt.start_s * sample_rate)): int(round((excerpt.start_s + excerpt.length_s)
                                                                    * sample_rate))]
    return apply_gain(y, excerpt.gain_db) if matched else np.asarray(y, np.float32)


class GainCache:
    """Excerpts measured once per track version, kept in a JSON file keyed by path, size, mtime and settings."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @staticmethod
    def key(track: Path, sample_rate: int, length_s: float, start: str | float, target: float) -> str:
        st = track.stat()
        return f"{track}|{st.st_size}|{st.st_mtime_ns}|{sample_rate}|{length_s:g}|{start}|{target:g}"

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> Excerpt | None:
        entry = self.read().get(key)
        try:
            return Excerpt(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def put(self, key: str, excerpt: Excerpt) -> None:
        """Add one entry (read-modify-write, replaced atomically so readers never see half a file)."""
        data = self.read()
        data[key] = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                     for k, v in asdict(excerpt).items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path)


def gains_path(ds_dir: Path) -> Path:
    """Where a dataset's excerpt gains are cached."""
    return Path(ds_dir) / "listening" / "gains.json"


def fair_excerpt(track: Path, ds_dir: Path, length_s: float, start: str | float = "representative",
                 matched: bool = True, target: float = TARGET_LUFS,
                 cfg: AudioConfig | None = None) -> tuple[np.ndarray, int, Excerpt]:
    """Decode a track at `cfg`'s rate (default: the project's), cut its excerpt, apply its cached (or newly
    measured) gain: (audio, sample rate, excerpt)."""
    from core.audio.config import DEFAULT_AUDIO
    from core.audio.decode import load_audio

    cfg = cfg or DEFAULT_AUDIO
    sr = cfg.sample_rate
    audio = load_audio(track, cfg, max_seconds=DECODE_LIMIT_S)
    cache = GainCache(gains_path(ds_dir))
    key = GainCache.key(Path(track), sr, length_s, start, target)
    excerpt = cache.get(key)
    if excerpt is None:
        excerpt = measure(audio, sr, length_s, start, target)
        cache.put(key, excerpt)
    elif excerpt.lufs is None:
        excerpt = Excerpt(excerpt.start_s, excerpt.length_s, float("nan"), excerpt.gain_db, excerpt.target_lufs)
    return cut(audio, sr, excerpt, matched), sr, excerpt
