"""Uploads in the app: check an uploaded file and encode/reconstruct it with the latent study's model."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ui.audio import wav_bytes
from ui.data import stamp

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_TYPES = ["wav", "mp3", "ogg", "opus", "flac", "aiff", "aif", "au"]


@dataclass
class UploadCheck:
    """Outcome of checking an uploaded file: ok, a user-facing message, the saved path."""

    ok: bool
    message: str
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_upload(name: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> UploadCheck:
    """Check an uploaded file's size, type and decodability; save it to a temp file if good."""
    suffix = Path(name).suffix.lower()
    if len(data) == 0:
        return UploadCheck(False, f"'{name}' is empty (0 bytes).")
    if len(data) > max_bytes:
        return UploadCheck(False, f"'{name}' is too large: {len(data) / 1e6:.1f} MB; the limit is "
                                  f"{max_bytes / 1e6:.0f} MB.")
    if suffix.lstrip(".") not in UPLOAD_TYPES:
        return UploadCheck(False, f"'{name}' is not an audio file: use one of "
                                  f"{', '.join(UPLOAD_TYPES)}.")
    folder = Path(tempfile.gettempdir()) / "workbench_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(data).hexdigest()[:16]}{suffix}"
    if not path.is_file():
        path.write_bytes(data)
    try:
        from core.audio.decode import load_audio

        audio = load_audio(path, max_seconds=60)
    except Exception as exc:
        path.unlink(missing_ok=True)
        return UploadCheck(False, f"'{name}' could not be decoded as audio ({exc}); the file is "
                                  "corrupt or not really audio.")
    if len(audio) < 22050:
        path.unlink(missing_ok=True)
        return UploadCheck(False, f"'{name}' is shorter than one second of audio.")
    return UploadCheck(True, f"'{name}' accepted ({len(audio) / 22050:.1f} s decoded).", path,
                       {"seconds": len(audio) / 22050})


@dataclass
class UploadResult:
    """An uploaded file encoded by the latent study's model: reconstruction, metrics, nearest tracks."""

    recon_wav: bytes | None
    neighbours: pd.DataFrame
    metrics: dict[str, float]
    padded: bool


def encode_upload(ds_dir: Path, size: int, audio_path: Path, k: int = 5) -> UploadResult:
    """Encode and reconstruct an uploaded file with core.latent.newaudio (imports torch; upload only)."""
    from core.latent.newaudio import encode_and_reconstruct  # latent-study area

    out = encode_and_reconstruct(ds_dir, int(size), audio_path, k=k)
    nb = out.neighbours if out.neighbours is not None else pd.DataFrame()
    return UploadResult(wav_bytes(np.asarray(out.audio), out.sample_rate), nb,
                        {k_: float(v) for k_, v in out.metrics.items()}, bool(out.padded))


@st.cache_data(max_entries=8, show_spinner=False)
def _check_cached(name: str, digest: str, _data: bytes) -> UploadCheck:
    """check_upload memoised per file name and content hash."""
    return check_upload(name, _data)


def cached_check_upload(name: str, data: bytes) -> UploadCheck:
    """check_upload done once per uploaded content (reruns reuse the result and the saved file)."""
    check = _check_cached(name, hashlib.sha1(data).hexdigest(), data)
    if check.ok and (check.path is None or not check.path.is_file()):
        _check_cached.clear()
        check = _check_cached(name, hashlib.sha1(data).hexdigest(), data)
    return check


@st.cache_data(max_entries=8, show_spinner=False)
def _encode_cached(ds_dir: str, size: int, path: str, file_stamp: tuple, indexfile_stamp: tuple) -> UploadResult:
    """encode_upload memoised per uploaded file, latent size and study version."""
    return encode_upload(Path(ds_dir), size, Path(path))


def cached_encode_upload(ds_dir: Path, size: int, path: Path) -> UploadResult:
    """Encode/reconstruct an upload once per file and latent size (the model run takes seconds)."""
    return _encode_cached(str(ds_dir), int(size), str(path), stamp(path), stamp(ds_dir / "recon" / "index.json"))
