"""core.audio.prepare, core.audio.cache, train.prepare: bad input, resume, shards, merge, interrupted runs, memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import core.audio.cache
import core.audio.prepare
from core.audio.cache import FeatureCache, part_path
from core.audio.catalogs import build_catalog
from core.audio.config import DEFAULT_AUDIO, AudioConfig
from core.audio.prepare import prepare_dataset, process_track
from tests.helpers.audio import (
    demo_excerpt,
    noise,
    seed_bad_folder,
    set_flac_total_samples,
    write_flac,
    write_long_wav,
    write_music_folder,
    write_truncated_flac,
    write_wav,
    write_wav_claiming_1_hz,
)
from train.prepare import main as prepare_main
from train.prepare import parse_shard

REPO = Path(__file__).resolve().parents[1]
CACHE_FILES = ["mels.npy", "baseline_raw.npy", "segments.csv", "baseline_names.json", "config.json", "catalog.csv"]


@pytest.fixture(scope="session")
def music_folder(tmp_path_factory) -> tuple[Path, list[str]]:
    """Six real-music WAV clips (3 to 16 s) in two genre folders; read-only."""
    root = tmp_path_factory.mktemp("music")
    return root, write_music_folder(root)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, music_folder) -> Path:
    """One uninterrupted, unsharded prepare of `music_folder`."""
    out = tmp_path_factory.mktemp("reference")
    prepare_dataset(build_catalog("folder", music_folder[0]), out, workers=1, progress=False)
    return out


def cache_bytes(ds_dir: Path) -> dict[str, bytes]:
    """The bytes of every cache file plus the top-level catalog."""
    files = {name: (ds_dir / "cache" / name).read_bytes() for name in CACHE_FILES}
    files["top catalog.csv"] = (ds_dir / "catalog.csv").read_bytes()
    return files


def assert_consistent(ds_dir: Path) -> FeatureCache:
    """A cache whose catalog, segments, mels and baseline agree with each other."""
    fc = FeatureCache.open(ds_dir)
    n = len(fc.tracks)
    assert fc.tracks["row"].tolist() == list(range(n))
    assert fc.baseline.shape == (n, len(fc.baseline_names))
    assert fc.mels.shape == (len(fc.segments), fc.config.n_mels, fc.config.segment_frames)
    assert fc.mels.dtype == np.float16
    assert set(fc.segment_rows) == set(range(n))
    assert (fc.segments["track_id"].to_numpy() == fc.tracks["track_id"].to_numpy()[fc.segment_rows]).all()
    top = core.audio.cache.load_catalog(ds_dir)
    assert top["track_id"].tolist() == fc.catalog["track_id"].tolist()
    assert top["row"].tolist() == fc.catalog["row"].tolist()
    return fc


def part_mtimes(ds_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (ds_dir / "parts").glob("*.npz")}


# ------------------------------------------------------------------ bad input, end to end
def test_folder_seeded_with_every_bad_input(tmp_path, capsys):
    bad, good = seed_bad_folder(tmp_path / "in")
    out = tmp_path / "out"
    rc = prepare_main(["--dataset", "folder", "--root", str(tmp_path / "in"), "--out", str(out),
                       "--workers", "1", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    cat = core.audio.cache.load_catalog(out).set_index("track_id")
    assert set(cat.index) == set(bad) | set(good)  # README.txt is not a track
    for tid, reason in bad.items():
        assert cat.loc[tid, "status"].startswith(reason), (tid, cat.loc[tid, "status"])
        assert cat.loc[tid, "row"] == -1
    assert (cat.loc[good, "status"] == "ok").all() and (cat.loc[good, "row"] >= 0).all()

    summary = json.loads((out / "prepare_summary.json").read_text())
    assert summary["tracks"] == len(bad) + len(good) and summary["ok"] == len(good)
    assert summary["skipped"] == len(bad)
    assert summary["reasons"] == {"empty file": 1, "no decodable audio frames": 1, "not an audio file": 1,
                                  "contains NaN or infinite samples": 2, "too short": 1, "silent": 1}
    assert {r["track_id"] for r in summary["skipped_files"]} == set(bad)
    assert "skipped" in printed and "too short" in printed and f"{len(good)} ok" in printed

    fc = assert_consistent(out)
    assert set(fc.tracks["track_id"]) == set(good)  # every good file is in the cache
    segs = fc.segments.set_index("track_id")
    # a 3-s track is padded to one segment: n_frames < 216 marks it, the rest is the -100 dB floor
    short = segs.loc["short/three_seconds"]
    assert short["n_frames"] == 1 + 3 * 22050 // 512 < 216
    mel = np.asarray(fc.mels[short["segment"]], np.float32)
    assert (mel[:, short["n_frames"] :] == -100).all() and mel[:, : short["n_frames"]].max() > 0
    # 8 kHz, 48 kHz, mono and stereo all decode to the same 22,050 Hz mel layout
    assert (segs.loc[[g for g in good if g.startswith("rates/")], "n_frames"] == 216).all()
    assert np.isfinite(fc.baseline).all()


def test_fma_layout_prepare(fma_tree, tmp_path, capsys):
    out = tmp_path / "fma_small"
    rc = prepare_main(["--dataset", "fma", "--root", str(fma_tree["root"]), "--out", str(out),
                       "--workers", "1", "--quiet"])
    assert rc == 0
    cat = core.audio.cache.load_catalog(out).set_index("track_id")
    assert cat.loc["123456", "status"] == "missing audio file"
    assert cat.loc["777777", "status"] == "no catalog row in tracks.csv"
    assert cat.loc["099134", "status"].startswith("no decodable audio frames")
    assert cat.loc["098565", "status"] == "ok" and 4.0 < cat.loc["098565", "duration_s"] < 9.0  # kept its half
    ok = fma_tree["good"] + fma_tree["truncated"]
    assert (cat.loc[ok, "row"] >= 0).all() and (cat.loc[fma_tree["good"], "duration_s"].sub(6.0).abs() < 0.1).all()
    summary = json.loads((out / "prepare_summary.json").read_text())
    assert summary["ok"] == len(ok) and summary["skipped"] == 3
    assert summary["reasons"] == {"missing audio file": 1, "no catalog row in tracks.csv": 1,
                                  "no decodable audio frames": 1}
    fc = assert_consistent(out)
    assert set(fc.tracks["split"]) == {"train", "val", "test"}
    assert fc.tracks.set_index("track_id").loc["000002", "genre"] == "Rock"
    assert "3 skipped" in capsys.readouterr().out


def test_folder_of_only_bad_files_gives_an_empty_readable_cache(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp3").write_bytes(b"")
    (tmp_path / "in" / "b.mp3").write_text("not audio")
    res = prepare_dataset(build_catalog("folder", tmp_path / "in"), tmp_path / "out", workers=1, progress=False)
    assert res.summary["ok"] == 0 and res.summary["skipped"] == 2
    fc = FeatureCache.open(tmp_path / "out")
    assert fc.mels.shape == (0, 128, 216) and fc.baseline.shape == (0, 350) and len(fc.tracks) == 0
    # files and folders get the usual permissions (not mkstemp's 0600/0700), so another user can read them
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out" / "cache").stat().st_mode & 0o777 == 0o777 & ~mask
    for f in [*(tmp_path / "out" / "parts").iterdir(), tmp_path / "out" / "prepare_summary.json"]:
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f


# ------------------------------------------------------------------ issue 9: crafted headers, truncated FLAC, symlinks
def test_process_track_refuses_crafted_headers(tmp_path):
    wav = write_wav_claiming_1_hz(tmp_path / "1hz.wav")
    flac = set_flac_total_samples(write_flac(tmp_path / "big.flac", noise(2.0)), 1 << 36)
    assert process_track("a", str(wav), str(tmp_path / "a.npz"), "fp", DEFAULT_AUDIO) == \
        "invalid header (sample rate 1 Hz)"
    status = process_track("b", str(flac), str(tmp_path / "b.npz"), "fp", DEFAULT_AUDIO)
    assert status.startswith("invalid header (claims 68,719,476,735 frames; a ") and "MemoryError" not in status
    assert core.audio.cache.read_part_meta(tmp_path / "b.npz")["status"] == status


def test_crafted_headers_truncated_flac_and_dangling_symlink_through_the_cli(tmp_path, capsys):
    """The issue's 1-Hz WAV (soxr segfaulted at 8.7 GB), a FLAC claiming 2^36 samples (MemoryError 256 GiB),
    a FLAC cut at half (was dropped whole) and a dangling symlink (vanished): rc 0, every one listed."""
    src = tmp_path / "in"
    write_wav(src / "good.wav", demo_excerpt(0, 6.0, sr=22050).mean(1))
    write_wav_claiming_1_hz(src / "crafted" / "1hz.wav")
    set_flac_total_samples(write_flac(src / "crafted" / "big.flac", noise(2.0)), 1 << 36)
    write_truncated_flac(src / "cut.flac", demo_excerpt(1, 12.0), 44100, keep=0.5)
    (src / "link.wav").symlink_to(src / "deleted.wav")
    out = tmp_path / "out"
    rc = prepare_main(["--dataset", "folder", "--root", str(src), "--out", str(out), "--workers", "1", "--quiet"])
    assert rc == 0
    cat = core.audio.cache.load_catalog(out).set_index("track_id")
    assert cat.loc["crafted/1hz", "status"] == "invalid header (sample rate 1 Hz)"
    assert cat.loc["crafted/big", "status"].startswith("invalid header (claims 68,719,476,735 frames")
    assert cat.loc["link", "status"] == f"broken symlink (target missing: {src / 'deleted.wav'})"
    assert cat.loc["cut", "status"] == "ok" and 4.5 < cat.loc["cut", "duration_s"] < 7.5
    assert cat.loc["good", "status"] == "ok"
    summary = json.loads((out / "prepare_summary.json").read_text())
    assert summary["reasons"] == {"invalid header": 2, "broken symlink": 1}
    assert {r["track_id"]: r["status"] for r in summary["skipped_files"]}["crafted/1hz"] == \
        "invalid header (sample rate 1 Hz)"
    assert set(assert_consistent(out).tracks["track_id"]) == {"good", "cut"}
    assert "invalid header" in capsys.readouterr().out


# ------------------------------------------------------------------ resume
def test_resume_does_no_repeated_work(tmp_path, music_folder, monkeypatch):
    src = tmp_path / "in"
    shutil.copytree(music_folder[0], src)
    (src / "empty.wav").write_bytes(b"")  # a bad file is tried again on every run (only successes are reused)
    out = tmp_path / "out"
    n = len(music_folder[1]) + 1
    first = prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    assert (first.computed, first.reused) == (n, 0)
    before_parts, before_cache = part_mtimes(out), cache_bytes(out)
    assert len(before_parts) == n
    empty_part = part_path(out, "empty").name

    calls = []
    real = core.audio.prepare.process_track
    monkeypatch.setattr(core.audio.prepare, "process_track", lambda *a: calls.append(a[0]) or real(*a))
    second = prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    assert (second.computed, second.reused) == (1, n - 1) and calls == ["empty"]
    after = part_mtimes(out)
    assert [k for k in after if after[k] != before_parts[k]] == [empty_part]  # no ok part rewritten
    assert cache_bytes(out) == before_cache
    summary = json.loads((out / "prepare_summary.json").read_text())
    assert (summary["computed_this_run"], summary["reused_from_earlier_runs"]) == (1, n - 1)

    # a changed source file (new size/mtime) is recomputed, and only it (with the bad file)
    calls.clear()
    before_parts = part_mtimes(out)
    changed = src / "calm" / "clip00.wav"
    write_wav(changed, np.zeros(22050 * 2, np.float32) + np.float32(0.25) * np.sin(np.arange(44100) / 5.0))
    third = prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    assert (third.computed, third.reused) == (2, n - 2) and sorted(calls) == ["calm/clip00", "empty"]
    after = part_mtimes(out)
    assert sorted(k for k in after if after[k] != before_parts[k]) == sorted(
        [part_path(out, "calm/clip00").name, empty_part])
    assert third.catalog.set_index("track_id").loc["calm/clip00", "duration_s"] == 2.0


def test_a_failed_track_is_retried_on_the_next_run(tmp_path, music_folder, monkeypatch):
    """A file that could not be read (PermissionError, as an unreadable file gives; tests run as root, so the
    refusal is simulated where prepare decodes) is retried once fixed: chmod changes neither size nor mtime."""
    src = tmp_path / "in"
    shutil.copytree(music_folder[0], src)
    victim = src / "loud" / "clip01.wav"
    out = tmp_path / "out"
    real_load = core.audio.prepare.load_audio

    def refusing_load(path, *args, **kwargs):
        if Path(path) == victim:
            raise PermissionError(13, "Permission denied", str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(core.audio.prepare, "load_audio", refusing_load)
    first = prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    status = first.catalog.set_index("track_id").loc["loud/clip01", "status"]
    assert status.startswith("failed: PermissionError: [Errno 13] Permission denied")
    stamp = victim.stat().st_mtime_ns
    monkeypatch.undo()  # permissions fixed; the file itself is unchanged
    assert victim.stat().st_mtime_ns == stamp
    second = prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    assert (second.computed, second.reused) == (1, len(music_folder[1]) - 1)
    assert second.catalog.set_index("track_id").loc["loud/clip01", "status"] == "ok"
    assert "loud/clip01" in set(assert_consistent(out).tracks["track_id"])


def test_needs_compute_reuses_only_matching_successes(tmp_path):
    from core.audio.cache import write_part
    from core.audio.prepare import needs_compute

    ok, bad = tmp_path / "ok.npz", tmp_path / "bad.npz"
    write_part(ok, status=np.array("ok"), fingerprint=np.array("fp1"), duration_s=np.array(3.0))
    write_part(bad, status=np.array("failed: OSError: x"), fingerprint=np.array("fp1"), duration_s=np.array(0.0))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert not needs_compute(ok, "fp1")
    assert needs_compute(ok, "fp2")  # source or settings changed
    assert needs_compute(bad, "fp1")  # failures are retried
    assert needs_compute(tmp_path / "junk.npz", "fp1") and needs_compute(tmp_path / "absent.npz", "fp1")


def test_changed_audio_settings_recompute_everything(tmp_path, music_folder):
    out = tmp_path / "out"
    cat = build_catalog("folder", music_folder[0])
    prepare_dataset(cat, out, workers=1, progress=False)
    small = AudioConfig(n_mels=64)
    res = prepare_dataset(cat, out, small, workers=1, progress=False)
    assert (res.computed, res.reused) == (len(cat), 0)
    fc = FeatureCache.open(out)
    assert fc.config == small and fc.mels.shape[1] == 64


# ------------------------------------------------------------------ shards + merge
def test_two_shards_and_a_merge_equal_a_single_run(tmp_path, music_folder, reference_run, capsys):
    root, ids = music_folder
    out = tmp_path / "sharded"
    base = ["--dataset", "folder", "--root", str(root), "--out", str(out), "--workers", "1", "--quiet"]
    assert prepare_main(base + ["--shard", "0/2", "--no-merge"]) == 0
    assert not (out / "cache").exists() and not (out / "catalog.csv").exists()
    # merging before every shard is done is refused with the fix
    capsys.readouterr()
    assert prepare_main(base + ["--merge-only"]) == 2
    assert "run the remaining shards first" in capsys.readouterr().err
    assert not (out / "cache").exists()
    assert prepare_main(base + ["--shard", "1/2", "--no-merge"]) == 0
    shard_lines = capsys.readouterr().out
    assert prepare_main(base + ["--merge-only"]) == 0
    counts = [int(line.split(": ")[2].split()[0]) for line in shard_lines.splitlines() if "computed" in line]
    assert len(part_mtimes(out)) == len(ids) and 0 < counts[0] < len(ids)  # both shards had work
    got, want = cache_bytes(out), cache_bytes(reference_run)
    for name in want:
        assert got[name] == want[name], f"{name} differs between sharded and single run"


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "x", "1/0"):
        with pytest.raises(Exception, match="shard"):
            parse_shard(bad)


# ------------------------------------------------------------------ interrupted runs
def test_interrupted_compute_resumes_to_the_same_cache(tmp_path, music_folder, reference_run, monkeypatch):
    out = tmp_path / "out"
    cat = build_catalog("folder", music_folder[0])
    real, done = core.audio.prepare.process_track, []

    def dies_on_third(*args):
        if len(done) == 2:
            raise KeyboardInterrupt  # as if the job were killed here
        done.append(args[0])
        return real(*args)

    monkeypatch.setattr(core.audio.prepare, "process_track", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(cat, out, workers=1, progress=False)
    monkeypatch.setattr(core.audio.prepare, "process_track", real)
    with pytest.raises(FileNotFoundError, match="run `python -m train.prepare"):
        FeatureCache.open(out)  # no half cache to be read
    assert len(list((out / "parts").glob("*.npz"))) == 2
    assert all(core.audio.cache.read_part_meta(p) is not None for p in (out / "parts").glob("*.npz"))

    res = prepare_dataset(cat, out, workers=1, progress=False)
    assert (res.computed, res.reused) == (len(cat) - 2, 2)
    assert cache_bytes(out) == cache_bytes(reference_run)


def test_sigkilled_run_resumes_to_the_same_cache(tmp_path, shared_data, gtzan_mini_dir):
    """A real `kill -9` of `python -m train.prepare` mid-run, then a re-run: same bytes as one clean run."""
    root, out = shared_data / "gtzan_mini", tmp_path / "gtzan"
    cmd = [sys.executable, "-m", "train.prepare", "--dataset", "gtzan", "--root", str(root), "--out", str(out),
           "--gtzan-split", "block", "--workers", "1", "--quiet"]  # the split of gtzan_mini_dir
    # same environment as this process (BLAS thread count changes float rounding in the last bit)
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "parts").is_dir() and len(list((out / "parts").glob("*.npz"))) >= 5:
                break
            time.sleep(0.02)
        proc.kill()
    finally:
        proc.wait(timeout=60)
    done = len(list((out / "parts").glob("*.npz")))
    if done >= 100:
        pytest.skip("the run finished before it could be killed")
    assert not (out / "cache").exists() and not (out / "catalog.csv").exists()
    res = prepare_dataset(build_catalog("gtzan", root, gtzan_split="block"), out, workers=1, progress=False)
    assert res.reused == done and res.computed == 100 - done
    assert cache_bytes(out) == cache_bytes(gtzan_mini_dir)


def test_two_worker_processes_equal_one(tmp_path, music_folder, reference_run):
    """The process pool (CLI, --workers 2, in a fresh interpreter) gives the same cache as one process."""
    out = tmp_path / "pool"
    cmd = [sys.executable, "-m", "train.prepare", "--dataset", "folder", "--root", str(music_folder[0]),
           "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(music_folder[1])} computed" in proc.stdout
    assert cache_bytes(out) == cache_bytes(reference_run)


def test_interrupted_merge_keeps_the_previous_cache(tmp_path, music_folder, monkeypatch):
    src = tmp_path / "in"
    shutil.copytree(music_folder[0], src)
    out = tmp_path / "out"
    prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    before = cache_bytes(out)
    shutil.copy(src / "calm" / "clip00.wav", src / "calm" / "extra.wav")  # the next merge would differ

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(core.audio.cache.np, "save", boom)  # dies after mels.npy is written, before the swap
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    monkeypatch.undo()
    assert cache_bytes(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".cache-")]  # no temporary folder left
    fc = assert_consistent(out)
    assert "calm/extra" not in set(fc.catalog["track_id"])

    res = prepare_dataset(build_catalog("folder", src), out, workers=1, progress=False)
    assert (res.computed, res.reused) == (0, 7)  # the extra track's part was written before the merge died
    assert "calm/extra" in set(assert_consistent(out).tracks["track_id"])


def test_killed_merge_only_leaves_no_cache_folder_behind(tmp_path, music_folder, reference_run):
    """A real SIGKILL while `--merge-only` writes mels.npy leaves `.cache-*`; the next run removes it."""
    out = tmp_path / "out"
    shutil.copytree(reference_run / "parts", out / "parts")
    args = ["--dataset", "folder", "--root", str(music_folder[0]), "--out", str(out), "--workers", "1", "--quiet",
            "--merge-only"]
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        def killed(path, *a, **k):
            open(path, "wb").write(b"half a memmap")
            os.kill(os.getpid(), signal.SIGKILL)
        np.lib.format.open_memmap = killed
        from train.prepare import main
        main({args!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, timeout=120)
    assert proc.returncode == -9
    left = [p.name for p in out.iterdir() if p.name.startswith(".cache-")]
    assert len(left) == 1 and (out / left[0] / "mels.npy").exists()  # what a killed merge leaves
    assert prepare_main(args) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".cache-")]
    assert cache_bytes(out) == cache_bytes(reference_run)


def test_a_running_merge_folder_is_not_cleaned(tmp_path):
    from core.audio.cache import clean_stale_merges, new_merge_folder

    mine = new_merge_folder(tmp_path)  # this process is alive: its folder stays
    legacy = tmp_path / ".cache-k2j4x9"  # a leftover of an older version (no owner in the name)
    legacy.mkdir()
    dead = tmp_path / mine.name.replace(f"-{os.getpid()}-", "-999999999-")
    dead.mkdir()
    assert sorted(p.name for p in clean_stale_merges(tmp_path)) == sorted([legacy.name, dead.name])
    assert mine.is_dir() and not legacy.exists() and not dead.exists()


def test_merge_of_a_filtered_catalog(tmp_path, music_folder, reference_run):
    """Rows are placed by position: a catalog with a non-contiguous index still merges right."""
    cat = build_catalog("folder", music_folder[0])
    sub = cat[cat["track_id"].str.startswith("loud/")]
    assert sub.index.tolist() != list(range(len(sub)))
    out = tmp_path / "out"
    shutil.copytree(reference_run / "parts", out / "parts")
    res = prepare_dataset(sub, out, workers=1, progress=False)
    assert res.computed == 0 and len(res.catalog) == len(sub)
    fc = assert_consistent(out)
    assert fc.catalog["track_id"].tolist() == sub["track_id"].tolist()


# ------------------------------------------------------------------ memory on a 10-minute file
def test_ten_minute_file_is_processed_in_bounded_memory(tmp_path):
    """A 10-minute 48 kHz stereo file: peak memory growth stays far below what decoding it
    whole as float64 stereo (librosa-style) would need."""
    long_wav = write_long_wav(tmp_path / "long.wav", 600.0, sr=48000, channels=2)
    naive_mb = 600 * 48000 * 2 * 8 / 2**20  # ~440 MiB
    script = textwrap.dedent(f"""
        import json, resource, sys
        import numpy as np, soundfile as sf
        from core.audio.config import DEFAULT_AUDIO
        from core.audio.prepare import process_track
        sf.write({str(tmp_path / "warm.wav")!r}, np.sin(np.arange(66150) / 9.0).astype("float32"), 22050)
        process_track("warm", {str(tmp_path / "warm.wav")!r}, {str(tmp_path / "warm.npz")!r}, "x", DEFAULT_AUDIO)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        status = process_track("long", {str(long_wav)!r}, {str(tmp_path / "long.npz")!r}, "x", DEFAULT_AUDIO)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"status": status, "growth_mb": (peak - base) / 1024}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["status"] == "ok"
    assert res["growth_mb"] < 0.55 * naive_mb, res  # measured 140-195 MiB: mono 22 kHz float32 + STFT chunks
    with np.load(tmp_path / "long.npz") as z:
        assert z["mel"].shape == (128, 1 + 600 * 22050 // 512)


# ------------------------------------------------------------------ CLI, prepared datasets
def test_cli_help():
    proc = subprocess.run([sys.executable, "-m", "train.prepare", "--help"], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0
    for flag in ("--dataset", "--root", "--out", "--workers", "--shard", "--no-merge", "--merge-only"):
        assert flag in proc.stdout


def test_process_track_writes_a_part_even_for_a_bad_file(tmp_path):
    (tmp_path / "e.mp3").write_bytes(b"")
    status = process_track("e", str(tmp_path / "e.mp3"), str(tmp_path / "e.npz"), "fp", DEFAULT_AUDIO)
    assert status == "empty file (0 bytes)"
    meta = core.audio.cache.read_part_meta(tmp_path / "e.npz")
    assert meta == {"status": status, "fingerprint": "fp", "duration_s": 0.0}


@pytest.mark.parametrize(
    ("seconds", "amp", "expected", "frames"),
    [
        (0.5, 0.5, "too short (0.50 s < 1.0 s minimum)", 0),  # under 1 s: skipped
        (1.0, 0.5, "ok", 1 + 22050 // 512),  # 1 s to 5 s: kept, padded to one segment at merge
        (3.0, 0.5, "ok", 1 + 3 * 22050 // 512),
        (3.0, 0.0, "silent (peak below -80 dBFS)", 0),  # digital silence: skipped
        (3.0, 5e-5, "silent (peak below -80 dBFS)", 0),
    ],
)
def test_process_track_short_and_silent(tmp_path, seconds, amp, expected, frames):
    x = amp * np.sin(np.arange(int(seconds * 22050)) / 7.0).astype(np.float32)
    write_wav(tmp_path / "x.wav", x, subtype="FLOAT")
    assert process_track("x", str(tmp_path / "x.wav"), str(tmp_path / "x.npz"), "fp", DEFAULT_AUDIO) == expected
    with np.load(tmp_path / "x.npz") as z:
        assert z["mel"].shape == (128, frames) and z["mel"].dtype == np.float16
        assert z["duration_s"] == pytest.approx(seconds, abs=1e-3)


def test_demo_corpus_cache(demo_dir):
    fc = assert_consistent(demo_dir)
    assert len(fc.tracks) == 28 and (fc.catalog["status"] == "ok").all()
    assert fc.baseline.shape == (28, 350) and np.isfinite(fc.baseline).all()
    per_track = fc.segments.groupby("row").size()
    assert per_track.between(5, 6).all()  # ~30-s tracks: five or six 5-s segments
    assert (fc.segments["n_frames"] == 216).all()
    mels = np.asarray(fc.mels[:50], np.float32)
    assert np.isfinite(mels).all() and mels.min() >= -100 and mels.max() < 80
    rows = np.concatenate([fc.split_rows(s) for s in ("train", "val", "test")])
    assert sorted(rows.tolist()) == list(range(28))
    seg = fc.segments_of(3)
    assert (fc.segment_rows[seg] == 3).all() and len(seg) == per_track[3]


def test_gtzan_mini_cache(gtzan_mini_dir):
    fc = assert_consistent(gtzan_mini_dir)
    assert len(fc.tracks) == 100 and fc.tracks["genre"].nunique() == 10
    per_track = fc.segments.groupby("track_id").size()
    # 15-s clips give two 5-s segments; the full 30.08-s country.00000 gives six
    assert per_track["country.00000"] == 6 and (per_track.drop("country.00000") == 2).all()
    assert fc.mels.shape == (204, 128, 216)
    assert (fc.tracks["duration_s"].round() == 15).sum() == 99


def test_musiccaps_mini_subset_prepares(shared_data, tmp_path):
    root = shared_data / "musiccaps_mini"
    if not root.is_dir():
        pytest.skip("musiccaps_mini is not present")
    cat = build_catalog("musiccaps", root).head(6)
    res = prepare_dataset(cat, tmp_path / "mc", workers=1, progress=False)
    assert (res.catalog["status"] == "ok").all()
    assert res.catalog["duration_s"].between(9.5, 10.5).all()  # 10-s OGG clips at 32 kHz
    fc = assert_consistent(tmp_path / "mc")
    assert len(fc.segments) == 6 and isinstance(fc.catalog, pd.DataFrame)  # 431 frames: one full segment
