"""Decoding, mono downmix, resampling and segmentation of audio files.

soundfile (libsndfile) decodes WAV, FLAC, OGG/Vorbis/Opus and MP3 directly, so no
ffmpeg is needed; soxr resamples in streaming mode so memory stays proportional to
the *output* length even for long, high-rate, multichannel files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from core.audio.config import DEFAULT_AUDIO, AudioConfig

AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".au", ".aiff", ".aif")
BLOCK_FRAMES = 1 << 18  # ~6 s at 44.1 kHz per decode block (fewer frames for more than two channels)
SALVAGE_FRAMES = 1 << 11  # frames per read when re-reading the readable part of a damaged stream
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000
MAX_CHANNELS = 64
MAX_HOURS = 24.0
# No codec packs more frames into a byte than this (a FLAC constant subframe: >= ~8 bytes per 65,535
# frames); a header claiming more than the file could hold at that rate is lying.
MAX_FRAMES_PER_BYTE = 8192
GUESS_FRAMES_PER_BYTE = 16  # first output-buffer size for compressed files (it grows when needed)
MAX_FIRST_BUFFER = 1 << 27  # output samples allocated up front at most (~100 min at 22 kHz)
PCM_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
             "ULAW": 1, "ALAW": 1}
WAV_PCM_TAGS = (1, 3, 0xFFFE)  # integer PCM, IEEE float, WAVE_FORMAT_EXTENSIBLE


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

    Steps: the header is validated before anything is decoded (`open_checked`); decoding is
    block-wise, downmixing each block (`mono_blocks`), which keeps the readable start of a
    truncated stream; each block goes through a streaming resampler into a buffer sized from
    what the file can hold, never from the header's claim; `finish` scales floats with a peak
    above 1 down so the result is always in [-1, 1]. Non-finite samples make the file invalid.
    """
    path = Path(path)
    info = open_checked(path)
    limit = None if max_seconds is None else int(max_seconds * info.sample_rate)
    resample = _Resampler(info.sample_rate, cfg.sample_rate)
    out = _Buffer(first_capacity(path, info, limit, cfg.sample_rate / info.sample_rate))
    for mono in mono_blocks(path, info.channels, limit):
        out.append(resample(mono))
    out.append(resample.flush())
    return finish(out.result())


# ---------------------------------------------------------------------------- step 1: the header
@dataclass(frozen=True)
class StreamInfo:
    """What a file's header says about its audio stream (after `open_checked` accepted it)."""

    sample_rate: int
    channels: int
    frames: int  # claimed; may exceed what the file holds
    subtype: str  # libsndfile's sample format, e.g. PCM_16, FLOAT, VORBIS, MPEG_LAYER_III


def open_checked(path: Path) -> StreamInfo:
    """The file's stream header after the checks that need no decoding: it exists, is not
    empty, its header (our own RIFF/STREAMINFO reading, then libsndfile's) is within sane bounds."""
    if not path.exists():
        raise AudioError(f"broken symlink (target missing: {os.readlink(path)})" if path.is_symlink()
                         else "missing file")
    size = path.stat().st_size
    if size == 0:
        raise AudioError("empty file (0 bytes)")
    problem = own_header_problem(path, size)
    if problem:
        raise AudioError(f"invalid header ({problem})")
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(_unopenable_reason(path, exc)) from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError("no audio stream")
    problem = header_problem(info.samplerate, info.channels, info.frames, size)
    if problem:
        raise AudioError(f"invalid header ({problem})")
    return StreamInfo(info.samplerate, info.channels, info.frames, info.subtype)


def header_problem(sample_rate: int, channels: int, frames: int, file_size: int, bits: int | None = None) -> str:
    """What is absurd about a header's claims ('' if nothing): a sample rate outside 1-768 kHz, a
    channel count of 0 or above 64, a sample width of 0 or above 64 bits, more frames than the
    file's bytes can hold at any codec's compression, or more than 24 hours."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        return f"sample rate {sample_rate} Hz"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"{channels} channels"
    if bits is not None and not 1 <= bits <= 64:
        return f"{bits} bits per sample"
    if frames > file_size * MAX_FRAMES_PER_BYTE:
        return f"claims {frames:,} frames; a {file_size:,}-byte file holds at most {file_size * MAX_FRAMES_PER_BYTE:,}"
    if frames / sample_rate > MAX_HOURS * 3600:
        return f"claims {frames / sample_rate / 3600:,.1f} hours; at most {MAX_HOURS:.0f} are accepted"
    return ""


def own_header_problem(path: Path, file_size: int) -> str:
    """Read the fields of a WAV's fmt chunk or a FLAC's STREAMINFO ourselves (libsndfile accepts a
    1-Hz WAV, a 1000-channel WAV and a 2^36-sample FLAC as they are) and judge them."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            fmt = _wav_fmt(f, file_size)
            if fmt is None:
                return ""
            rate, channels, bits = fmt
            return header_problem(rate, channels, 0, file_size, bits)
        if head[:4] == b"fLaC":
            f.seek(4)
            block = f.read(4 + 34)
            if len(block) == 38 and block[0] & 0x7F == 0:
                rate, channels, bits, total = _flac_streaminfo(block[4:])
                return header_problem(rate, channels, total, file_size, bits)
    return ""


def _wav_fmt(f, file_size: int) -> tuple[int, int, int | None] | None:
    """(sample rate, channels, bits for PCM/float else None) from a RIFF file's fmt chunk, or None when
    there is none before the audio data (libsndfile then gives its own reason)."""
    pos = 12
    for _ in range(64):  # a few chunks (JUNK, bext, LIST) may come first
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return None
        cid, size = head[:4], struct.unpack("<I", head[4:])[0]
        if cid == b"data":
            return None
        if cid == b"fmt ":
            body = f.read(16)
            if len(body) < 16:
                return None
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body)
            return rate, channels, (bits if tag in WAV_PCM_TAGS else None)
        pos += 8 + size + (size & 1)
        if pos >= file_size:
            return None
    return None


def _flac_streaminfo(body: bytes) -> tuple[int, int, int, int]:
    """(sample rate, channels, bits per sample, total samples) of a 34-byte FLAC STREAMINFO block."""
    packed = int.from_bytes(body[10:18], "big")  # 20 bits rate, 3 channels-1, 5 bits-1, 36 total samples
    return packed >> 44, ((packed >> 41) & 0x7) + 1, ((packed >> 36) & 0x1F) + 1, packed & ((1 << 36) - 1)


def first_capacity(path: Path, info: StreamInfo, limit: int | None, ratio: float) -> int:
    """Output samples to allocate before decoding: the header's frame count, but never more than
    the file's bytes can hold (exactly for PCM, a generous guess for compressed codecs)."""
    size = path.stat().st_size
    width = PCM_BYTES.get(info.subtype)
    plausible = size // (width * info.channels) if width else size * GUESS_FRAMES_PER_BYTE
    frames = min(info.frames, plausible) if info.frames > 0 else plausible
    if limit is not None:
        frames = min(frames, limit)
    return min(int(frames * ratio) + 4096, MAX_FIRST_BUFFER)


# ---------------------------------------------------------------------------- step 2: block decode
def mono_blocks(path: Path, channels: int, limit: int | None) -> Iterator[np.ndarray]:
    """The file's audio as mono float32 blocks (channel mean), at most `limit` frames.

    A stream that breaks off (truncated FLAC, MP3, OGG, WAV) yields what decoded before the
    break: the failed block is read again in small pieces up to the damage. Raises AudioError
    when nothing decodes, or on a NaN/infinite sample."""
    block_frames = BLOCK_FRAMES if channels <= 2 else max(SALVAGE_FRAMES, 2 * BLOCK_FRAMES // channels)
    read = 0
    try:
        with sf.SoundFile(str(path)) as f:
            for mono in _read_mono(f, block_frames, limit):
                read += mono.size
                yield mono
        return
    except AudioError:
        raise
    except Exception as exc:
        error = exc
    for mono in _salvage(path, read, limit):
        read += mono.size
        yield mono
    if read == 0:
        raise AudioError(f"decode failed ({_short(error)})")


def _read_mono(f: sf.SoundFile, block_frames: int, limit: int | None, start: int = 0) -> Iterator[np.ndarray]:
    """Read an open file from frame `start` in blocks of `block_frames`, downmixed, up to `limit`."""
    read = start
    while True:
        want = block_frames if limit is None else min(block_frames, limit - read)
        if want <= 0:
            return
        block = f.read(want, dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            return
        read += block.shape[0]
        mono = downmix(block)
        if not np.isfinite(mono).all():
            raise AudioError("contains NaN or infinite samples")
        yield mono


def downmix(block: np.ndarray) -> np.ndarray:
    """Channel mean of a [frames, channels] float32 block, summed channel by channel: the same numbers as
    `block.mean(axis=1)` (bit for bit in stereo) at a thirtieth of its cost (numpy reduces a short inner axis
    slowly; this was as costly as decoding the MP3)."""
    if block.shape[1] == 1:
        return block[:, 0]
    mono = block[:, 0] + block[:, 1]
    for c in range(2, block.shape[1]):
        mono += block[:, c]
    mono /= np.float32(block.shape[1])
    return mono


def _salvage(path: Path, start: int, limit: int | None) -> Iterator[np.ndarray]:
    """After a decode error: reopen, go back to frame `start` and read small pieces until the
    damage, so only the piece holding the break is lost."""
    try:
        with sf.SoundFile(str(path)) as f:
            if start:
                f.seek(start)
            yield from _read_mono(f, SALVAGE_FRAMES, limit, start)
    except AudioError:
        raise
    except Exception:
        return  # the readable part has been yielded


# ---------------------------------------------------------------------------- step 3: resample
class _Resampler:
    """Streaming soxr resampler from `rate` to `target` (identity when they are equal)."""

    def __init__(self, rate: int, target: int):
        self.stream = None
        if rate != target:
            self.stream = soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")

    def __call__(self, mono: np.ndarray) -> np.ndarray:
        """Resample one block (its output may lag by the filter delay; `flush` returns the rest)."""
        return self.stream.resample_chunk(mono) if self.stream else mono

    def flush(self) -> np.ndarray:
        """The samples still held in the filter at the end of the stream."""
        if self.stream is None:
            return np.zeros(0, np.float32)
        return self.stream.resample_chunk(np.zeros(0, np.float32), last=True)


# ---------------------------------------------------------------------------- step 4: finish
def finish(audio: np.ndarray) -> np.ndarray:
    """Refuse an empty result; scale a float signal with a peak above 1 into [-1, 1]."""
    if audio.size == 0:
        raise AudioError("no audio samples (empty stream)")
    peak = peak_abs(audio)
    if peak > 1.0:
        audio /= peak
    return audio.astype(np.float32, copy=False)


class _Buffer:
    """A float32 array filled block by block: one allocation of the expected size (bounded by
    the file's size) instead of a list of blocks plus their concatenation (half the peak memory)."""

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
        """The filled part (copied when far less decoded than was reserved)."""
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
    if ("Error opening" in detail and "does not exist" in detail) or "format not recognised" in detail.lower():
        detail = ""  # libsndfile's words add nothing to "unrecognised format" (or mislead)
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
