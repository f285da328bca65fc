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

from core.config import DEFAULT_AUDIO, AudioConfig

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
    except Exception as exc:  # libsndfile's messages are terse; keep them
        raise AudioError(f"not decodable audio ({_short(exc)})") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError("no audio stream")
    limit = None if max_seconds is None else int(max_seconds * info.samplerate)
    resampler = None
    if info.samplerate != cfg.sample_rate:
        resampler = soxr.ResampleStream(info.samplerate, cfg.sample_rate, 1, dtype="float32", quality="HQ")
    pieces: list[np.ndarray] = []
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
                pieces.append(resampler.resample_chunk(mono) if resampler else mono.copy())
    except AudioError:
        raise
    except Exception as exc:
        if read == 0:
            raise AudioError(f"decode failed ({_short(exc)})") from None
        # truncated stream: keep what decoded cleanly, later checks judge its length
    if resampler is not None:
        pieces.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    if audio.size == 0:
        raise AudioError("no audio samples (empty stream)")
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        audio /= peak
    return audio.astype(np.float32, copy=False)


def segment_starts(n_frames: int, segment_frames: int, hop_frames: int) -> list[int]:
    """Start frames of the full segments of a spectrogram; [0] if it is shorter than one."""
    if n_frames <= segment_frames:
        return [0]
    return list(range(0, n_frames - segment_frames + 1, hop_frames))


def _short(exc: Exception) -> str:
    """First line of an exception message, trimmed for a summary table."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
