"""Decoding, mono downmix, resampling and segmentation of audio files.

soundfile (libsndfile) decodes WAV, FLAC, OGG/Vorbis/Opus and MP3 directly, so no
ffmpeg is needed; soxr resamples in streaming mode so memory stays proportional to
the *output* length even for long, high-rate, multichannel files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from core.audio.config import DEFAULT_AUDIO, AudioConfig

AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".au", ".aiff", ".aif")
BLOCK_FRAMES = 1 << 18  # ~6 s at 44.1 kHz per decode block


class AudioError(Exception):
    """A file that cannot be used as audio; the message is the reason shown to users."""


def is_audio_path(path: str | Path) -> bool:
    """True if the file name has an audio extension the project decodes."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def load_audio(
    path: str | Path,
    cfg: AudioConfig = DEFAULT_AUDIO,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Decode a file to mono float32 at `cfg.sample_rate`, or raise AudioError with a reason.

    Decoding is block-wise (downmix then streaming resample per block) so a long or
    multichannel file never needs more than its mono, resampled size in memory.
    Non-finite samples make the file invalid; floats with a peak above 1 are scaled
    down so the result is always in [-1, 1].
    """
    path = Path(path)
    if not path.exists():
        raise AudioError("missing file")
    if path.stat().st_size == 0:
        raise AudioError("empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(_unopenable_reason(path, exc)) from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError("no audio stream")
    limit = None if max_seconds is None else int(max_seconds * info.samplerate)
    resampler = None
    if info.samplerate != cfg.sample_rate:
        resampler = soxr.ResampleStream(info.samplerate, cfg.sample_rate, 1, dtype="float32", quality="HQ")
    ratio = cfg.sample_rate / info.samplerate
    expected = info.frames if limit is None else min(info.frames, limit)
    out = _Buffer(int(expected * ratio) + 4096 if expected > 0 else BLOCK_FRAMES)
    read = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                want = BLOCK_FRAMES if limit is None else min(BLOCK_FRAMES, limit - read)
                if want <= 0:
                    break
                block = f.read(want, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                read += block.shape[0]
                mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                if not np.isfinite(mono).all():
                    raise AudioError("contains NaN or infinite samples")
                out.append(resampler.resample_chunk(mono) if resampler else mono)
    except AudioError:
        raise
    except Exception as exc:
        if read == 0:
            raise AudioError(f"decode failed ({_short(exc)})") from None
        # truncated stream: keep what decoded cleanly, later checks judge its length
    if resampler is not None:
        out.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    audio = out.result()
    if audio.size == 0:
        raise AudioError("no audio samples (empty stream)")
    peak = peak_abs(audio)
    if peak > 1.0:
        audio /= peak
    return audio.astype(np.float32, copy=False)


class _Buffer:
    """A float32 array filled block by block: one allocation of the expected size (from the
    file header) instead of a list of blocks plus their concatenation (half the peak memory)."""

    def __init__(self, capacity: int):
        self.data = np.empty(max(capacity, 1), np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        """Copy `x` in after what is there, growing by half again when it does not fit."""
        end = self.n + x.size
        if end > self.data.size:
            grown = np.empty(max(end, int(self.data.size * 1.5)), np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : end] = x
        self.n = end

    def result(self) -> np.ndarray:
        """The filled part (copied when the header promised far more than decoded)."""
        view = self.data[: self.n]
        return view.copy() if self.n < 0.9 * self.data.size else view


def peak_abs(audio: np.ndarray) -> float:
    """max |x| without allocating |x| (matters for long tracks)."""
    return float(max(audio.max(), -audio.min())) if audio.size else 0.0


def segment_starts(n_frames: int, segment_frames: int, hop_frames: int) -> list[int]:
    """Start frames of the full segments of a spectrogram; [0] if it is shorter than one."""
    if n_frames <= segment_frames:
        return [0]
    return list(range(0, n_frames - segment_frames + 1, hop_frames))


_MAGIC = {b"RIFF": "WAV", b"fLaC": "FLAC", b"OggS": "Ogg", b"FORM": "AIFF", b".snd": "AU"}


def _unopenable_reason(path: Path, exc: Exception) -> str:
    """A clear reason for a file libsndfile refuses to open.

    libsndfile answers "File does not exist or is not a regular file" for anything it
    cannot parse, which misleads users; the file's first bytes tell the real story.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    detail = _short(exc)
    if "Error opening" in detail and "does not exist" in detail:
        detail = ""
    elif detail.startswith("Error opening"):
        detail = detail.split(": ", 1)[-1]
    suffix = f": {detail}" if detail else ""
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return f"no decodable audio frames (MP3 tag/header only or corrupt stream{suffix})"
    kind = _MAGIC.get(head[:4])
    if kind:
        return f"not decodable audio (corrupt {kind} file{suffix})"
    return f"not an audio file (unrecognised format{suffix})"


def _short(exc: Exception) -> str:
    """First line of an exception message, trimmed for a summary table."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
