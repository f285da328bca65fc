"""Build an fma_small-shaped collection from the real music in ../shared/data (not a copy of FMA: a stand-in of
the same shape, for measuring the whole chain at full size):

    python benchmarks/make_fma_like.py --out /tmp/fma_like --tracks 8000 [--seed 0] [--workers 2]
    python -m train.prepare --dataset fma --root /tmp/fma_like

Layout as FMA ships it: `fma_small/NNN/NNNNNN.mp3` (30 s, 44.1 kHz stereo MP3) and `fma_metadata/tracks.csv`
with FMA's two header rows (+ the `track_id` row) and `genres.csv`. Every track is a distinct transform of one
real source clip (emotion4q, gtzan_mini, musiccaps_mini, new_music, the demo corpus): its own start point,
tape-speed change (pitch and tempo together), EQ, gain and stereo image, and for some tracks a short crossfade
into a second source of the same genre. Genre (one of fma_small's 8 top genres) and artist follow the source,
so tracks made from one source share an artist (the artist filter removes them) and genre precision means
something. Three rows are the kinds of bad file fma_small has: an MP3 with a tag but no audio frame, a
truncated MP3 and a zero-byte MP3. The same seed and track count give the same files.
"""

from __future__ import annotations

import argparse
import ast
import csv
import functools
import json
import multiprocessing as mp
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.audio import (  # noqa: E402
    FMA_COLUMNS,
    fma_audio_path,
    write_genres_csv,
    write_no_audio_mp3,
    write_tracks_csv,
)

SR = 44100
SECONDS = 30.0
GENRE_IDS = {"International": 2, "Pop": 10, "Rock": 12, "Electronic": 15, "Folk": 17, "Hip-Hop": 21,
             "Experimental": 38, "Instrumental": 1235}
KEYWORDS = [("hip", "Hip-Hop"), ("rap", "Hip-Hop"), ("electro", "Electronic"), ("dance", "Electronic"),
            ("techno", "Electronic"), ("drum", "Electronic"), ("lounge", "Electronic"), ("vibe", "Electronic"),
            ("disco", "Pop"), ("rock", "Rock"), ("metal", "Rock"), ("punk", "Rock"), ("blues", "Rock"),
            ("pop", "Pop"), ("folk", "Folk"), ("country", "Folk"), ("acoustic", "Folk"),
            ("reggae", "International"), ("latin", "International"), ("international", "International"),
            ("world", "International"), ("classical", "Instrumental"), ("orchestra", "Instrumental"),
            ("waltz", "Instrumental"), ("ragtime", "Instrumental"), ("trumpet", "Instrumental"),
            ("tchaikovsky", "Instrumental"), ("piano", "Instrumental"), ("strings", "Instrumental"),
            ("jazz", "Experimental"), ("ambient", "Experimental"), ("experimental", "Experimental")]
BAD_KINDS = ("no_audio", "truncated", "empty")


@dataclass(frozen=True)
class Source:
    """One real clip a generated track is made from."""

    path: str
    genre: str
    artist: str
    title: str


def fma_genre(text: str) -> str:
    """The fma_small top genre a source's labels or name suggest (Experimental when none does)."""
    low = text.lower()
    return next((g for k, g in KEYWORDS if k in low), "Experimental")


def gtzan_sources(shared: Path) -> list[Source]:
    root = shared / "gtzan_mini"
    artists = {}
    if (root / "metadata" / "artists.csv").is_file():
        with open(root / "metadata" / "artists.csv", encoding="utf-8") as f:
            artists = {r["clip_id"]: r for r in csv.DictReader(f)}
    out = []
    for p in sorted((root / "genres_original").glob("*/*.wav")):
        meta = artists.get(p.stem, {})
        out.append(Source(str(p), fma_genre(p.parent.name), meta.get("artist") or f"GTZAN {p.stem}",
                          meta.get("title") or p.stem))
    return out


def emotion_sources(shared: Path) -> list[Source]:
    root = shared / "emotion4q"
    if not (root / "metadata.csv").is_file():
        return []
    with open(root / "metadata.csv", encoding="utf-8") as f:
        return [Source(str(root / r["path"]), fma_genre(r["genres"]), r["artist"], r["title"])
                for r in csv.DictReader(f)]


def musiccaps_sources(shared: Path) -> list[Source]:
    root = shared / "musiccaps_mini"
    if not (root / "captions.csv").is_file():
        return []
    with open(root / "captions.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    paths = {r["ytid"]: root / "audio" / f"{r['ytid']}.ogg" for r in rows}
    return [Source(str(paths[r["ytid"]]), fma_genre(" ".join(ast.literal_eval(r["aspect_list"]))),
                   f"MusicCaps {r['ytid']}", r["ytid"]) for r in rows if paths[r["ytid"]].is_file()]


def other_sources(shared: Path) -> list[Source]:
    """new_music (one artist per recording) and the demo corpus (one artist)."""
    from core.audio.catalogs import demo_root

    out = [Source(str(p), fma_genre(p.stem), p.stem.split("_-_")[0].split("__")[-1], p.stem)
           for p in sorted((shared / "new_music").glob("*.ogg"))]
    out += [Source(str(p), fma_genre(p.stem), "immich-memories-music", p.stem)
            for p in sorted(demo_root().glob("*/*.opus"))]
    return out


def all_sources(shared: Path) -> list[Source]:
    """Every real clip available, in a fixed order."""
    return gtzan_sources(shared) + emotion_sources(shared) + musiccaps_sources(shared) + other_sources(shared)


@functools.lru_cache(maxsize=32)
def decoded(path: str) -> np.ndarray:
    """A source as mono float32 at 44.1 kHz (cached per process: tracks are generated grouped by source)."""
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(1)
    return soxr.resample(x, sr, SR).astype(np.float32) if sr != SR else x


def excerpt(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of `x` from a random start, looping a short source."""
    if len(x) < n + SR:
        x = np.tile(x, int(np.ceil((n + SR) / max(1, len(x)))) + 1)
    start = int(rng.integers(0, len(x) - n))
    return x[start:start + n]


def transform(x: np.ndarray, rng: np.random.Generator, other: np.ndarray | None) -> np.ndarray:
    """30 s of stereo: tape-speed change, start point, EQ, optional crossfade into `other`, gain, stereo."""
    import soxr
    from scipy.signal import butter, sosfilt

    n = int(SECONDS * SR)
    speed = float(rng.uniform(0.92, 1.08))
    y = excerpt(soxr.resample(x, SR, SR / speed).astype(np.float32), n, rng)
    if other is not None:
        z = excerpt(other, n, rng)
        at, fade = int(rng.uniform(0.3, 0.7) * n), int(1.5 * SR)
        ramp = np.clip((np.arange(n) - at) / fade, 0, 1).astype(np.float32)
        y = (1 - ramp) * y + ramp * z * (np.abs(y).max() + 1e-6) / (np.abs(z).max() + 1e-6)
    low = sosfilt(butter(2, float(rng.uniform(150, 400)), "lowpass", fs=SR, output="sos"), y)
    high = sosfilt(butter(2, float(rng.uniform(2500, 6000)), "highpass", fs=SR, output="sos"), y)
    y = y + float(rng.uniform(-0.5, 0.8)) * low + float(rng.uniform(-0.5, 0.8)) * high
    y = y / (np.abs(y).max() + 1e-9) * 10 ** (float(rng.uniform(-12, -1)) / 20)
    delay, pan = int(rng.integers(0, 30)), float(rng.uniform(0.7, 1.0))
    right = np.concatenate([np.zeros(delay, np.float32), y[: n - delay]])
    return np.stack([pan * y, (2 - pan) * right * 0.5 + 0.5 * y], axis=1).astype(np.float32)


def make_track(args: tuple) -> str:
    """Write one generated track (a pool task): (path, seed, track index, source, second source or None)."""
    import soundfile as sf

    path, seed, k, src, other = args
    rng = np.random.default_rng([seed, k])
    audio = transform(decoded(src), rng, decoded(other) if other else None)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SR, format="MP3")
    return path


def plan(sources: list[Source], n: int, seed: int) -> list[dict]:
    """One record per track: id, source, optional second source (same genre), split by artist, bad kind."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(2, 155321), size=n, replace=False))
    order, src_order = rng.permutation(n), rng.permutation(len(sources))  # round-robin over shuffled sources
    by_genre: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        by_genre.setdefault(s.genre, []).append(i)
    bad = set(rng.choice(n, size=min(len(BAD_KINDS), max(0, n - 1)), replace=False).tolist()) if n >= 10 else set()
    recs = []
    for j, k in enumerate(order):
        si = int(src_order[j % len(sources)])
        mates = by_genre[sources[si].genre]
        other = mates[int(rng.integers(len(mates)))] if rng.random() < 0.25 and len(mates) > 1 else None
        recs.append({"k": int(k), "track_id": int(ids[k]), "source": si, "other": other if other != si else None})
    recs.sort(key=lambda r: r["k"])
    for b, k in zip(BAD_KINDS, sorted(bad), strict=False):
        recs[k]["bad"] = b
    return recs


def split_of(artist: str, seed: int) -> str:
    """The artist-filtered split (80/10/10 by a stable hash of the artist name)."""
    h = zlib.crc32(f"{seed}:{artist}".encode()) % 10
    return "test" if h == 0 else "validation" if h == 1 else "training"


def tracks_rows(recs: list[dict], sources: list[Source], seed: int) -> list[dict]:
    """tracks.csv rows (FMA's columns) following each track's main source."""
    artist_ids = {a: i + 1 for i, a in enumerate(sorted({s.artist for s in sources}))}
    rows = []
    for r in recs:
        s = sources[r["source"]]
        gid = GENRE_IDS[s.genre]
        rows.append({"track_id": r["track_id"], ("album", "id"): artist_ids[s.artist], ("album", "title"): s.artist,
                     ("artist", "id"): artist_ids[s.artist], ("artist", "name"): s.artist,
                     ("set", "split"): split_of(s.artist, seed), ("set", "subset"): "small",
                     ("track", "duration"): int(SECONDS), ("track", "genre_top"): s.genre,
                     ("track", "genres"): str([gid]), ("track", "genres_all"): str([gid]),
                     ("track", "title"): f"{s.title} (take {r['k']})"})
    return rows


def write_bad(path: Path, kind: str, seed: int, k: int, src: str) -> None:
    """The three kinds of bad file fma_small has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "no_audio":
        write_no_audio_mp3(path)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        make_track((str(path), seed, k, src, None))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])


def generate(out: Path, n: int, seed: int = 0, workers: int = 1, shared: Path | None = None,
             progress: bool = True) -> dict:
    """Write the collection; returns a summary (also written as `out/generator.json`)."""
    from tqdm import tqdm

    shared = shared or REPO.parent / "shared" / "data"
    sources = all_sources(shared)
    if not sources:
        raise FileNotFoundError(f"no source audio under {shared}")
    recs = plan(sources, n, seed)
    jobs = [(str(fma_audio_path(out, r["track_id"])), seed, r["k"], sources[r["source"]].path,
             sources[r["other"]].path if r["other"] is not None else None) for r in recs if "bad" not in r]
    jobs.sort(key=lambda j: (j[3], j[2]))  # grouped by source: each worker decodes a source once
    with mp.get_context("spawn").Pool(workers) if workers > 1 else _Inline() as pool:
        for _ in tqdm(pool.imap_unordered(make_track, jobs, chunksize=8), total=len(jobs), desc="generate",
                      unit="track", disable=not progress):
            pass
    for r in (r for r in recs if "bad" in r):
        write_bad(fma_audio_path(out, r["track_id"]), r["bad"], seed, r["k"], sources[r["source"]].path)
    write_tracks_csv(out / "fma_metadata" / "tracks.csv", tracks_rows(recs, sources, seed), FMA_COLUMNS)
    write_genres_csv(out / "fma_metadata" / "genres.csv")
    summary = {"tracks": n, "seed": seed, "sources": len(sources), "artists": len({s.artist for s in sources}),
               "bad": {r["bad"]: f"{r['track_id']:06d}" for r in recs if "bad" in r},
               "genres": {g: sum(sources[r["source"]].genre == g for r in recs) for g in GENRE_IDS},
               "mixed": sum(r["other"] is not None for r in recs), "source_example": asdict(sources[0])}
    (out / "generator.json").write_text(json.dumps(summary, indent=1))
    return summary


class _Inline:
    """A stand-in for a one-process pool."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def imap_unordered(fn, jobs, chunksize: int = 1):
        return map(fn, jobs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="collection root (fma_small/, fma_metadata/)")
    ap.add_argument("--tracks", type=int, default=8000, help="tracks in tracks.csv, the 3 bad files included")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="processes encoding MP3s")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data", help="real source audio")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.tracks < 1:
        print("error: --tracks must be at least 1", file=sys.stderr)
        return 2
    try:
        summary = generate(args.out, args.tracks, args.seed, max(1, args.workers), args.shared, not args.quiet)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.tracks} tracks ({summary['sources']} sources, bad files {summary['bad']}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
