"""The fma_small-shaped collection generator (benchmarks/make_fma_like.py) at a few dozen tracks: FMA's layout
and two-row tracks.csv header, genre/artist following the real sources, the three bad files, determinism by
seed, and `train.prepare --dataset fma` reading it unchanged (a real subprocess, as a user runs it)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import soundfile as sf

from benchmarks import make_fma_like as gen

N = 16


@pytest.fixture(scope="module")
def collection(tmp_path_factory, shared_data) -> dict:
    out = tmp_path_factory.mktemp("fma_like")
    summary = gen.generate(out, N, seed=3, workers=1, shared=shared_data, progress=False)
    return {"root": out, "summary": summary}


def test_layout_header_sources_and_bad_files(collection, shared_data):
    root = collection["root"]
    tracks = pd.read_csv(root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
    assert len(tracks) == N and {"album", "artist", "set", "track"} <= set(tracks.columns.get_level_values(0))
    assert set(tracks[("set", "subset")]) == {"small"}
    assert set(tracks[("track", "genre_top")]) <= set(gen.GENRE_IDS)
    mp3s = sorted(root.glob("fma_small/*/*.mp3"))
    assert sorted(int(p.stem) for p in mp3s) == sorted(tracks.index)
    assert all(p.parent.name == p.stem[:3] and len(p.stem) == 6 for p in mp3s)
    bad = collection["summary"]["bad"]
    assert set(bad) == {"no_audio", "truncated", "empty"}
    path = {p.stem: p for p in mp3s}
    assert path[bad["empty"]].stat().st_size == 0
    assert path[bad["no_audio"]].read_bytes()[:3] == b"ID3" and path[bad["no_audio"]].stat().st_size < 2000
    good = [p for p in mp3s if p.stem not in bad.values()]
    info = sf.info(str(good[0]))
    assert (info.samplerate, info.channels) == (44100, 2) and abs(info.duration - 30.0) < 0.2
    sources = gen.all_sources(shared_data)  # genre and artist follow each track's source
    by_artist = {}
    for s in sources:
        by_artist.setdefault(s.artist, set()).add(s.genre)
    assert all(tracks.loc[t, ("track", "genre_top")] in by_artist[tracks.loc[t, ("artist", "name")]]
               for t in tracks.index)
    splits = pd.DataFrame({"a": tracks[("artist", "name")], "s": tracks[("set", "split")]}).groupby("a")["s"].nunique()
    assert (splits == 1).all()  # the split is artist-filtered


def test_same_seed_same_collection_other_seed_differs(collection, shared_data, tmp_path):
    sources = gen.all_sources(shared_data)
    assert gen.plan(sources, N, 3) == gen.plan(sources, N, 3) and gen.plan(sources, N, 3) != gen.plan(sources, N, 4)
    rec = next(r for r in gen.plan(sources, N, 3) if "bad" not in r)
    again = tmp_path / "again.mp3"
    gen.make_track((str(again), 3, rec["k"], sources[rec["source"]].path,
                    sources[rec["other"]].path if rec["other"] is not None else None))
    first = next(collection["root"].glob(f"fma_small/*/{rec['track_id']:06d}.mp3"))
    assert again.read_bytes() == first.read_bytes()
    rows = gen.tracks_rows(gen.plan(sources, N, 3), sources, 3)
    csv_again = gen.write_tracks_csv(tmp_path / "tracks.csv", rows, gen.FMA_COLUMNS)
    assert csv_again.read_bytes() == (collection["root"] / "fma_metadata" / "tracks.csv").read_bytes()


def test_train_prepare_reads_it_unchanged(collection, tmp_path):
    out = tmp_path / "ds"
    run = subprocess.run([sys.executable, "-m", "train.prepare", "--dataset", "fma", "--root", str(collection["root"]),
                          "--out", str(out), "--quiet", "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    cat = pd.read_csv(out / "catalog.csv", dtype={"track_id": str})
    bad = collection["summary"]["bad"]
    status = dict(zip(cat["track_id"], cat["status"], strict=True))
    assert status[bad["empty"]] != "ok" and status[bad["no_audio"]] != "ok"
    assert sum(s == "ok" for s in status.values()) >= N - 3 and cat["genre"].nunique() >= 4
