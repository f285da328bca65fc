"""Builders of audio fixtures for the foundation tests: tones, noise, bad files, an FMA tree.

Everything is written under a caller-given folder (a pytest `tmp_path`). Real audio comes
from the embedded demo corpus (immich-memories-music, MIT); MP3s are encoded with
libsndfile's LAME encoder (`soundfile.write(..., format="MP3")`).
"""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from core.audio.catalogs import demo_root

SR = 22050


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A pure sine tone, float32."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, sr: int = SR, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    """Gaussian white noise clipped to [-1, 1], float32."""
    rng = np.random.default_rng(seed)
    return np.clip(amp * rng.standard_normal(int(round(seconds * sr))), -1, 1).astype(np.float32)


def write_wav(path: Path, audio: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    """Write mono [n] or multichannel [n, ch] audio as WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sr, subtype=subtype)
    return path


def write_mp3(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    """Encode audio as a real MP3 (libsndfile + LAME)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sr, format="MP3")
    return path


def demo_files() -> list[Path]:
    """The demo corpus's Opus files (48 kHz stereo, ~30 s), sorted."""
    return sorted(demo_root().glob("*/*.opus"))


def demo_excerpt(index: int, seconds: float, offset_s: float = 5.0, sr: int = 44100) -> np.ndarray:
    """`seconds` of real stereo music [n, 2] from demo track `index`, resampled to `sr`."""
    path = demo_files()[index % len(demo_files())]
    with sf.SoundFile(str(path)) as f:
        f.seek(int(offset_s * f.samplerate))
        x = f.read(int(seconds * f.samplerate), dtype="float32", always_2d=True)
        native = f.samplerate
    return soxr.resample(x, native, sr).astype(np.float32) if sr != native else x


def write_music_folder(root: Path, lengths: tuple[float, ...] = (6.0, 7.5, 11.0, 12.0, 16.0, 3.0)) -> list[str]:
    """A folder dataset of real music excerpts (22,050 Hz mono WAV) in two genre folders;
    a length under 5 s gives a padded one-segment track. Returns the track ids."""
    ids = []
    for i, seconds in enumerate(lengths):
        genre = ("calm", "loud")[i % 2]
        write_wav(root / genre / f"clip{i:02d}.wav", demo_excerpt(i * 3 + 1, seconds, offset_s=2.0, sr=SR).mean(1))
        ids.append(f"{genre}/clip{i:02d}")
    return ids


def write_long_wav(path: Path, seconds: float, sr: int = 48000, channels: int = 2) -> Path:
    """A long PCM16 WAV (chords plus a little noise), written block by block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 10.0
    with sf.SoundFile(str(path), "w", sr, channels, subtype="PCM_16", format="WAV") as f:
        for k in range(int(np.ceil(seconds / block))):
            dur = min(block, seconds - k * block)
            x = tone(220 * (1 + k % 4), dur, sr, 0.3) + tone(330, dur, sr, 0.2) + noise(dur, sr, 0.01, seed=k)
            f.write(np.repeat(x[:, None], channels, axis=1))
    return path


# ----------------------------------------------------------------------------- bad files
def id3_tag(title: str = "no audio") -> bytes:
    """A minimal ID3v2.4 tag holding one title frame."""
    text = b"\x03" + title.encode()
    frame = b"TIT2" + _syncsafe(len(text)) + b"\x00\x00" + text
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def write_no_audio_mp3(path: Path) -> Path:
    """An MP3 like fma_small's 099134/108925/133297: a tag and an encoder header frame
    (LAME's Xing/Info frame), but not one decodable audio frame."""
    tmp = path.with_suffix(".tmp.mp3")
    write_mp3(tmp, np.zeros(8, np.float32), SR)
    data = tmp.read_bytes()
    tmp.unlink()
    path.write_bytes(id3_tag() + data[: _first_frame_length(data)])
    return path


def truncate_file(path: Path, keep: float) -> Path:
    """Keep only the first `keep` fraction of a file's bytes (a download or copy that stopped early)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_truncated_mp3(path: Path, audio: np.ndarray, sr: int = SR, keep: float = 0.5) -> Path:
    """A real MP3 cut off after `keep` of its bytes (a download that stopped early)."""
    return truncate_file(write_mp3(path, audio, sr), keep)


def write_text_as_mp3(path: Path) -> Path:
    """A text file with an .mp3 name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not audio, just a text file named .mp3\n" * 20)
    return path


def write_nonfinite_wav(path: Path, value: float = float("nan")) -> Path:
    """A float WAV of a tone with one non-finite sample in it."""
    x = tone(440, 2.0)
    x[SR // 2] = value
    return write_wav(path, x, SR, subtype="FLOAT")


def write_wav_claiming_1_hz(path: Path, seconds: float = 3.0) -> Path:
    """The crafted WAV of issue 9: a real 3-s 16-bit WAV, then bytes 24-27 (sample rate) set to 1
    and 28-31 (byte rate) to 2, so the header is self-consistent but claims 1 Hz."""
    write_wav(path, tone(440, seconds), SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", 1)
    data[28:32] = struct.pack("<I", 2)
    path.write_bytes(bytes(data))
    return path


def patch_wav_fmt(path: Path, channels: int | None = None, sample_rate: int | None = None,
                  bits: int | None = None) -> Path:
    """Overwrite fields of a canonical 44-byte-header WAV's fmt chunk (channels, rate, bits)."""
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"fmt ", "not a canonical WAV header"
    if channels is not None:
        data[22:24] = struct.pack("<H", channels)
    if sample_rate is not None:
        data[24:28] = struct.pack("<I", sample_rate)
    if bits is not None:
        data[34:36] = struct.pack("<H", bits)
    path.write_bytes(bytes(data))
    return path


def write_flac(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    """Encode audio as a real 16-bit FLAC (libsndfile + libFLAC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sr, format="FLAC", subtype="PCM_16")
    return path


def set_flac_total_samples(path: Path, total: int) -> Path:
    """Rewrite the 36-bit total-samples field of a FLAC's STREAMINFO block (the first metadata block)."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, "STREAMINFO is not the first block"
    total = min(total, (1 << 36) - 1)  # the field has 36 bits
    data[21] = (data[21] & 0xF0) | (total >> 32)
    data[22:26] = (total & 0xFFFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def write_truncated_flac(path: Path, audio: np.ndarray, sr: int = SR, keep: float = 0.5) -> Path:
    """A real FLAC cut off after `keep` of its bytes (a copy that stopped early)."""
    return truncate_file(write_flac(path, audio, sr), keep)


def seed_bad_folder(root: Path) -> tuple[dict[str, str], list[str]]:
    """Fill `root` with every kind of bad input plus good files of many formats.

    Returns ({track_id: expected start of its status}, [track_ids expected ok]).
    track ids are folder-dataset ids (path relative to root, without suffix).
    """
    root.mkdir(parents=True, exist_ok=True)
    bad: dict[str, str] = {}
    good: list[str] = []
    (root / "empty.mp3").write_bytes(b"")
    bad["empty"] = "empty file (0 bytes)"
    write_no_audio_mp3(root / "099134.mp3")
    bad["099134"] = "no decodable audio frames"
    write_text_as_mp3(root / "notes.mp3")
    bad["notes"] = "not an audio file"
    write_nonfinite_wav(root / "nan.wav", float("nan"))
    bad["nan"] = "contains NaN or infinite samples"
    write_nonfinite_wav(root / "inf.wav", float("inf"))
    bad["inf"] = "contains NaN or infinite samples"
    write_wav(root / "blip.wav", tone(440, 0.4))
    bad["blip"] = "too short"
    write_wav(root / "silence.wav", np.zeros(3 * SR, np.float32))
    bad["silence"] = "silent"
    # good ones: real music as MP3 (whole and truncated), 8 kHz / 48 kHz, mono / stereo, short
    write_mp3(root / "music" / "real.mp3", demo_excerpt(0, 6.0), 44100)
    write_truncated_mp3(root / "music" / "truncated.mp3", demo_excerpt(1, 12.0), 44100)
    write_wav(root / "rates" / "tone_8k_mono.wav", tone(440, 6.0, 8000), 8000)
    write_wav(root / "rates" / "tone_8k_stereo.wav", np.stack([tone(440, 6.0, 8000)] * 2, 1), 8000)
    write_wav(root / "rates" / "music_48k_stereo.wav", demo_excerpt(2, 6.0, sr=48000), 48000)
    write_wav(root / "rates" / "noise_48k_mono.wav", noise(6.0, 48000), 48000)
    write_wav(root / "short" / "three_seconds.wav", tone(880, 3.0))
    good += ["music/real", "music/truncated", "rates/tone_8k_mono", "rates/tone_8k_stereo",
             "rates/music_48k_stereo", "rates/noise_48k_mono", "short/three_seconds"]
    (root / "README.txt").write_text("not audio, and not named like audio: ignored by the catalog\n")
    return bad, good


# ----------------------------------------------------------------------------- FMA layout
FMA_GENRES = [  # genre_id, #tracks, parent, title, top_level (rows of FMA's real genres.csv)
    (2, 5271, 0, "International", 2),
    (10, 13845, 0, "Pop", 10),
    (12, 32923, 0, "Rock", 12),
    (15, 34413, 0, "Electronic", 15),
    (17, 12706, 0, "Folk", 17),
    (21, 8389, 0, "Hip-Hop", 21),
    (25, 9261, 12, "Punk", 12),
    (38, 38154, 0, "Experimental", 38),
    (1235, 14938, 0, "Instrumental", 1235),
]
FMA_COLUMNS = [  # a real subset of tracks.csv's columns, in its order
    ("album", "id"), ("album", "title"),
    ("artist", "id"), ("artist", "name"),
    ("set", "split"), ("set", "subset"),
    ("track", "duration"), ("track", "genre_top"), ("track", "genres"), ("track", "genres_all"),
    ("track", "title"),
]


def fma_rows(n: int = 8) -> list[dict]:
    """n fma_small-like track records over 8 top genres with the official splits."""
    genres = [(12, "Rock"), (15, "Electronic"), (21, "Hip-Hop"), (17, "Folk"), (10, "Pop"),
              (2, "International"), (38, "Experimental"), (1235, "Instrumental")]
    splits = ["training", "training", "training", "validation", "training", "test", "training", "training"]
    rows = []
    for i in range(n):
        gid, gname = genres[i % 8]
        sub = [25, 12] if gid == 12 else [gid]
        rows.append({
            "track_id": [2, 5, 10, 140, 141, 148, 182, 1039, 3573, 10250, 24427, 46241][i % 12] + 200000 * (i // 12),
            ("album", "id"): 1 + i // 2, ("album", "title"): f"Album {1 + i // 2}",
            ("artist", "id"): 1 + i // 2, ("artist", "name"): f"Artist, {1 + i // 2}",  # comma: CSV quoting
            ("set", "split"): splits[i % 8], ("set", "subset"): "small",
            ("track", "duration"): 30, ("track", "genre_top"): gname,
            ("track", "genres"): str(sub), ("track", "genres_all"): str(sorted(set(sub + [gid]))),
            ("track", "title"): f"Track {i}",
        })
    return rows


def write_tracks_csv(path: Path, rows: list[dict], columns: list[tuple[str, str]] = FMA_COLUMNS) -> Path:
    """Write tracks.csv in FMA's real layout: two header rows (top level, column) and a
    third row naming the index (`track_id`), as pandas wrote it for the dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([""] + [a for a, _ in columns])
        w.writerow([""] + [b for _, b in columns])
        w.writerow(["track_id"] + [""] * len(columns))
        for r in rows:
            w.writerow([r["track_id"]] + [r.get(c, "") for c in columns])
    return path


def write_genres_csv(path: Path) -> Path:
    """FMA's genres.csv (genre_id, #tracks, parent, title, top_level)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["genre_id", "#tracks", "parent", "title", "top_level"])
        w.writerows(FMA_GENRES)
    return path


def fma_audio_path(root: Path, track_id: int, subset: str = "small") -> Path:
    """fma_<subset>/<first three digits>/<six-digit id>.mp3."""
    tid = f"{track_id:06d}"
    return root / f"fma_{subset}" / tid[:3] / f"{tid}.mp3"


def build_fma_tree(root: Path, n: int = 8, seconds: float = 6.0, extras: bool = True,
                   columns: list[tuple[str, str]] = FMA_COLUMNS) -> dict:
    """An FMA-layout dataset under `root`: fma_metadata/{tracks,genres}.csv and
    fma_small/NNN/NNNNNN.mp3 with real music (44.1 kHz stereo MP3, `seconds` long).

    With `extras`, it also holds the known kinds of trouble: a catalog row whose MP3
    is missing, an MP3 with no catalog row, fma's no-audio file 099134, a truncated MP3
    and a `medium` row (not part of fma_small). Returns what the tests need to check.
    """
    rows = fma_rows(n)
    info: dict = {"root": root, "good": [], "missing": [], "orphan": [], "no_audio": [], "truncated": [],
                  "medium": [], "rows": rows}
    for i, r in enumerate(rows):
        write_mp3(fma_audio_path(root, r["track_id"]), demo_excerpt(i, seconds), 44100)
        info["good"].append(f"{r['track_id']:06d}")
    if extras:
        base = dict(rows[0])
        missing = {**base, "track_id": 123456, ("track", "title"): "Missing"}
        no_audio = {**base, "track_id": 99134, ("track", "title"): "No audio"}
        trunc = {**base, "track_id": 98565, ("track", "title"): "Cut short", ("set", "split"): "test"}
        medium = {**base, "track_id": 155066, ("set", "subset"): "medium"}
        rows += [missing, no_audio, trunc, medium]
        write_no_audio_mp3(fma_audio_path(root, 99134))
        write_truncated_mp3(fma_audio_path(root, 98565), demo_excerpt(3, 2 * seconds), 44100)
        write_mp3(fma_audio_path(root, 777777), demo_excerpt(4, seconds), 44100)  # no row in tracks.csv
        info.update(missing=["123456"], no_audio=["099134"], truncated=["098565"], orphan=["777777"],
                    medium=["155066"])
    write_tracks_csv(root / "fma_metadata" / "tracks.csv", rows, columns)
    write_genres_csv(root / "fma_metadata" / "genres.csv")
    return info


def _syncsafe(n: int) -> bytes:
    """ID3v2's 4-byte, 7-bits-per-byte size."""
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def _first_frame_length(data: bytes) -> int:
    """Byte length of the first MPEG audio frame (Layer III) of `data`."""
    h = int.from_bytes(data[:4], "big")
    assert h >> 21 == 0x7FF, "not an MPEG frame sync"
    version = (h >> 19) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}[version]
    bitrates = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320) if version == 3
                else (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))
    bitrate = bitrates[(h >> 12) & 0xF] * 1000
    sr = rates[(h >> 10) & 3]
    pad = (h >> 9) & 1
    return (144 if version == 3 else 72) * bitrate // sr + pad
