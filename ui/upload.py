"""Uploads in the app: check an uploaded file and encode/reconstruct it with the latent study's model.

An upload's bytes are written only for as long as a decoder needs a file: into a private temporary
folder (mode 0700, file 0600) that is deleted right after (`upload_file`). The size limit is the
server's own `server.maxUploadSize` (.streamlit/config.toml), so Streamlit refuses a larger file
before receiving it and the page states the same limit, in MiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from ui.audio import audio_config, quiet_native_stderr, wav_bytes

if TYPE_CHECKING:
    from core.audio.config import AudioConfig

DEFAULT_MAX_UPLOAD_MIB = 20
UPLOAD_TYPES = ["wav", "mp3", "ogg", "opus", "flac", "aiff", "aif", "au"]
UPLOAD_PREFIX = "workbench_upload_"


def max_upload_mib() -> int:
    """The upload limit in MiB: Streamlit's `server.maxUploadSize` (Streamlit counts it in MiB)."""
    try:
        return int(st.get_option("server.maxUploadSize"))
    except Exception:  # outside a Streamlit runtime
        return DEFAULT_MAX_UPLOAD_MIB


def max_upload_bytes() -> int:
    """The upload limit in bytes."""
    return max_upload_mib() * 2**20


@contextlib.contextmanager
def upload_file(name: str, data: bytes) -> Iterator[Path]:
    """The upload as a file in a fresh private temporary folder, removed (with the file) on exit."""
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))  # mode 0700, unique per call
    try:
        path = folder / f"upload{Path(name).suffix.lower()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class UploadCheck:
    """Outcome of checking an uploaded file: ok and a user-facing message (plain text; escape to render)."""

    ok: bool
    message: str
    info: dict[str, Any] = field(default_factory=dict)


def _too_large(name: str, size: int, max_bytes: int) -> str:
    """The size message, in MiB only."""
    return f"'{name}' is too large: {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:g} MiB."


def check_upload(name: str, data: bytes, max_bytes: int | None = None, cfg: AudioConfig | None = None) -> UploadCheck:
    """Check an uploaded file's size, type and decodability (decoded from a private temp file, then deleted)."""
    from core.audio.decode import load_audio

    max_bytes = max_upload_bytes() if max_bytes is None else max_bytes
    cfg = cfg or audio_config()
    if len(data) == 0:
        return UploadCheck(False, f"'{name}' is empty (0 bytes).")
    if len(data) > max_bytes:
        return UploadCheck(False, _too_large(name, len(data), max_bytes))
    if Path(name).suffix.lower().lstrip(".") not in UPLOAD_TYPES:
        return UploadCheck(False, f"'{name}' is not an audio file: use one of {', '.join(UPLOAD_TYPES)}.")
    try:
        with upload_file(name, data) as path, quiet_native_stderr():
            audio = load_audio(path, cfg, max_seconds=60)
    except Exception as exc:
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        return UploadCheck(False, f"'{name}' could not be decoded: {reason}.")
    seconds = len(audio) / cfg.sample_rate
    if seconds < 1.0:
        return UploadCheck(False, f"'{name}' is shorter than one second of audio.")
    return UploadCheck(True, f"'{name}' accepted ({seconds:.1f} s decoded).", {"seconds": seconds})


@dataclass
class UploadResult:
    """An uploaded file encoded by the latent study's model: audio, spectrograms, metrics, nearest tracks."""

    original_wav: bytes | None
    recon_wav: bytes | None
    oracle_wav: bytes | None
    mel: np.ndarray | None
    recon_mel: np.ndarray | None
    neighbours: pd.DataFrame
    metrics: dict[str, float]
    oracle_metrics: dict[str, float]
    padded: bool
    sample_rate: int


def _wav(audio: np.ndarray | None, rate: int) -> bytes | None:
    """WAV bytes of one audio array of the encoder's output (None if absent)."""
    return wav_bytes(np.asarray(audio), rate) if audio is not None else None


def encode_upload(ds_dir: Path, size: int, name: str, data: bytes, k: int = 5) -> UploadResult:
    """Encode and reconstruct an uploaded file with core.latent.newaudio (imports torch; upload only)."""
    from core.latent.newaudio import encode_and_reconstruct  # latent-study area

    with upload_file(name, data) as path, quiet_native_stderr():
        out = encode_and_reconstruct(ds_dir, int(size), path, k=k)
    rate = out.sample_rate
    nb = out.neighbours if out.neighbours is not None else pd.DataFrame()
    floats = lambda d: {k_: float(v) for k_, v in (d or {}).items()}  # noqa: E731
    return UploadResult(_wav(out.original_audio, rate), _wav(out.audio, rate), _wav(out.oracle_audio, rate),
                        out.mel, out.recon_mel, nb, floats(out.metrics), floats(out.oracle_metrics), bool(out.padded),
                        rate)


def metrics_frame(result: UploadResult, info: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The upload's metrics with units, beside the oracle (true mel -> Griffin-Lim) on the same audio."""
    rows = []
    for key, value in result.metrics.items():
        unit = (info.get(key) or {}).get("unit", "")
        rows.append({"metric": key, "unit": unit or "—", "reconstruction": round(value, 4),
                     "oracle": round(result.oracle_metrics[key], 4) if key in result.oracle_metrics else np.nan})
    return pd.DataFrame(rows, columns=["metric", "unit", "reconstruction", "oracle"])


def digest(data: bytes) -> str:
    """Content hash of an upload (the cache key)."""
    return hashlib.sha1(data).hexdigest()


@st.cache_data(max_entries=8, show_spinner=False)
def _check_cached(name: str, key: str, ds_dir: str, limit: int, _data: bytes) -> UploadCheck:
    """check_upload memoised per file name, content hash, dataset and limit."""
    return check_upload(name, _data, max_bytes=limit, cfg=audio_config(Path(ds_dir)))


def cached_check_upload(name: str, data: bytes, ds_dir: Path) -> UploadCheck:
    """check_upload (at the dataset's sample rate) done once per uploaded content; no file is kept."""
    return _check_cached(name, digest(data), str(ds_dir), max_upload_bytes(), data)


@st.cache_data(max_entries=8, show_spinner=False)
def _encode_cached(ds_dir: str, size: int, name: str, key: str, index_stamp: tuple, _data: bytes) -> UploadResult:
    """encode_upload memoised per uploaded content, latent size and study version."""
    return encode_upload(Path(ds_dir), size, name, _data)


def cached_encode_upload(ds_dir: Path, size: int, name: str, data: bytes, index_stamp: tuple) -> UploadResult:
    """Encode/reconstruct an upload once per content and latent size (the model run takes seconds)."""
    return _encode_cached(str(ds_dir), int(size), name, digest(data), index_stamp, data)


def is_cached_encode(ds_dir: Path, size: int, name: str, data: bytes, index_stamp: tuple) -> bool:
    """Whether this upload's encoding is already memoised (so the page can skip the progress box)."""
    key = (str(ds_dir), int(size), name, digest(data), index_stamp)
    return key in st.session_state.get("_upload_encoded", set())


def mark_encoded(ds_dir: Path, size: int, name: str, data: bytes, index_stamp: tuple) -> None:
    """Remember in the session that this upload was encoded."""
    st.session_state.setdefault("_upload_encoded", set()).add((str(ds_dir), int(size), name, digest(data),
                                                               index_stamp))
