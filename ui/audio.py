"""Audio for the app: find a catalog track's file, playable excerpts and log-mels, cached per file version."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import streamlit as st

from ui.data import REPO_ROOT, read_json, stamp

if TYPE_CHECKING:
    from core.audio.config import AudioConfig

EXCERPT_SECONDS = 30.0
RAW_AUDIO_MAX_BYTES = 3 * 1024 * 1024
BROWSER_MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
                ".opus": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4",
                ".webm": "audio/webm"}


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native decoders (mpg123's "Illegal Audio-MPEG-Header") print straight to fd 2."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def audio_config(ds_dir: Path | None = None) -> AudioConfig:
    """The dataset's audio settings (its feature cache's config), else the project default."""
    from core.audio.config import DEFAULT_AUDIO

    if ds_dir is not None:
        try:
            from core.audio.cache import FeatureCache

            return FeatureCache.open(ds_dir).config
        except (OSError, ValueError, TypeError):
            pass
    return DEFAULT_AUDIO


def resolve_audio(ds_dir: Path, path: str) -> Path | None:
    """Absolute audio path of a catalog `path` (absolute, or relative to the dataset, its root or cwd)."""
    if not path:
        return None
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [ds_dir / p, REPO_ROOT / p, Path.cwd() / p]
    if not p.is_absolute():
        summary = read_json(ds_dir / "prepare_summary.json")
        if isinstance(summary, dict) and summary.get("root"):
            candidates.insert(0, Path(str(summary["root"])) / p)
    for c in candidates:
        if c.is_file():
            return c
    return None


def audio_excerpt(path: Path, seconds: float = EXCERPT_SECONDS) -> tuple[bytes, str]:
    """Bytes and MIME type to play a track: the file itself when the browser plays it and it is
    small, else the first `seconds` decoded to a mono WAV at the project's sample rate."""
    mime = BROWSER_MIME.get(path.suffix.lower())
    if mime and path.stat().st_size <= RAW_AUDIO_MAX_BYTES:
        return path.read_bytes(), mime
    from core.audio.decode import load_audio

    cfg = audio_config()
    with quiet_native_stderr():
        audio = load_audio(path, cfg, max_seconds=seconds)
    return wav_bytes(audio, cfg.sample_rate), "audio/wav"


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of a mono float signal."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, np.float32), -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@st.cache_resource(max_entries=512, show_spinner=False)
def _audio_cached(path: str, file_stamp: tuple, seconds: float) -> tuple[bytes, str]:
    """audio_excerpt memoised per file stamp."""
    return audio_excerpt(Path(path), seconds)


def cached_audio(path: Path, seconds: float = EXCERPT_SECONDS) -> tuple[bytes, str]:
    """Playable bytes of a track (excerpt decoded at most once per file version)."""
    return _audio_cached(str(path), stamp(path), seconds)


@st.cache_data(max_entries=64, show_spinner=False)
def _log_mel_cached(path: str, file_stamp: tuple) -> np.ndarray | None:
    """Log-mel (dB) of an audio file memoised per file stamp, None if it cannot be decoded."""
    from core.audio.decode import load_audio
    from core.audio.features import log_mel

    try:
        with quiet_native_stderr():
            return log_mel(load_audio(Path(path), max_seconds=30)).astype(np.float32)
    except Exception:
        return None


def cached_log_mel(path: Path) -> np.ndarray | None:
    """Log-mel spectrogram of a clip for display, computed once per file version."""
    return _log_mel_cached(str(path), stamp(Path(path)))
