"""Benchmark of the feature-preparation foundation (prints figures; not a timed test).

    .venv/bin/python benchmarks/bench_prepare.py [--root ../shared/data/gtzan_mini] [--ref-clips 20]

On GTZAN-layout clips (default ../shared/data/gtzan_mini: 100 clips x 15 s) it measures, in one run:

* `python -m train.prepare` (decode + log-mels + baseline + merge) with --workers 1 and 2:
  seconds per clip, wall clock of the whole command and inside prepare_dataset;
* a naive per-file librosa reference on a subset of the same clips: `librosa.load`, then
  `librosa.feature.*` one call per feature (each recomputes its own STFT), tonnetz on
  `librosa.effects.harmonic(y)`, the same seven statistics per feature;
* the speed-up per clip, peak RSS (getrusage of each child process and its workers),
  cache bytes per track, and fma_small's total time on 2 cores extrapolated from real
  30-s 44.1 kHz stereo MP3s made from the demo corpus (the FMA format).

Every measurement runs in a child process limited to one BLAS/OpenMP/torch thread per
process, so "--workers 2" is the two-core figure. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "gtzan_mini"
FMA_SMALL_CLIPS = 8000
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


# ----------------------------------------------------------------------------- children
def child_prepare(root: str, out: str, workers: int) -> dict:
    """Run the train.prepare CLI in this process; report its timings and peak memory."""
    sys.path.insert(0, str(REPO))
    t0 = time.perf_counter()
    import core.audio.prepare  # noqa: F401  (torch, librosa, scipy: what every worker imports too)
    from train.prepare import main

    t_import = time.perf_counter() - t0
    cpu0 = _cpu()
    rc = main(["--dataset", "gtzan", "--root", root, "--out", out, "--workers", str(workers), "--quiet"])
    summary = json.loads((Path(out) / "prepare_summary.json").read_text())
    return {"rc": rc, "import_s": t_import, "prepare_s": summary["seconds"], "cpu_s": _cpu() - cpu0,
            "ok": summary["ok"], "tracks": summary["tracks"], **_rss()}


def child_reference(paths: list[str]) -> dict:
    """The naive per-file librosa pipeline for the same features; seconds per clip after one warm-up."""
    import librosa
    import numpy as np
    import scipy.stats

    from core.audio.config import DEFAULT_AUDIO

    def stats(f: np.ndarray) -> np.ndarray:
        return np.concatenate([f.mean(1), f.std(1), scipy.stats.skew(f, 1), scipy.stats.kurtosis(f, 1),
                               np.median(f, 1), f.min(1), f.max(1)])

    def one(path: str) -> np.ndarray:
        y, sr = librosa.load(path, sr=DEFAULT_AUDIO.sample_rate, mono=True)
        kw = dict(n_fft=DEFAULT_AUDIO.n_fft, hop_length=DEFAULT_AUDIO.hop_length)
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=DEFAULT_AUDIO.n_mels, **kw))
        feats = [
            librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, n_mels=128, **kw),
            librosa.feature.chroma_stft(y=y, sr=sr, **kw),
            librosa.feature.tonnetz(y=librosa.effects.harmonic(y), sr=sr),
            librosa.feature.spectral_contrast(y=y, sr=sr, **kw),
            librosa.feature.spectral_centroid(y=y, sr=sr, **kw),
            librosa.feature.spectral_bandwidth(y=y, sr=sr, **kw),
            librosa.feature.spectral_rolloff(y=y, sr=sr, **kw),
            librosa.feature.zero_crossing_rate(y, frame_length=1024, hop_length=512),
            librosa.feature.rms(y=y, frame_length=1024, hop_length=512),
        ]
        return mel, np.concatenate([stats(f) for f in feats])

    t0 = time.perf_counter()
    one(paths[0])  # warm-up: librosa's numba kernels compile on first use
    warm = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), _cpu()
    for p in paths:
        _, base = one(p)
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {"clips": len(paths), "seconds": elapsed, "s_per_clip": elapsed / len(paths), "warmup_s": warm,
            "cpu_s_per_clip": cpu / len(paths), "baseline_dim": int(base.size), **_rss()}


def child_fma(folder: str, n: int, seconds: float) -> dict:
    """Make n real FMA-format clips (44.1 kHz stereo MP3 of demo-corpus music) and time process_track on them."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    import numpy as np
    import torch

    from core.audio.config import DEFAULT_AUDIO
    from core.audio.prepare import process_track
    from tests.helpers.audio import demo_excerpt, demo_files, write_mp3

    torch.set_num_threads(1)
    paths = []
    for i in range(n):
        p = Path(folder) / f"{i:06d}.mp3"
        # demo tracks are ~30 s: take as much as there is from the start, loop if short
        x = demo_excerpt(i % len(demo_files()), seconds, offset_s=0.0)
        write_mp3(p, x, 44100)
        paths.append(p)
    process_track("warm", str(paths[0]), str(Path(folder) / "warm.npz"), "x", DEFAULT_AUDIO)
    durations, t0, cpu0 = [], time.perf_counter(), _cpu()
    for p in paths:
        status = process_track(p.stem, str(p), str(p.with_suffix(".npz")), "x", DEFAULT_AUDIO)
        assert status == "ok", status
        with np.load(p.with_suffix(".npz")) as z:
            durations.append(float(z["duration_s"]))
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {"clips": n, "mean_duration_s": sum(durations) / n, "s_per_clip": elapsed / n, "cpu_s_per_clip": cpu / n,
            "mp3_bytes_per_clip": sum(p.stat().st_size for p in paths) / n, **_rss()}


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children (pool workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _rss() -> dict:
    """Peak resident memory of this process and of its largest waited-for child (MiB)."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rss_self_mb": round(me, 1), "rss_children_mb": round(kids, 1)}


# ----------------------------------------------------------------------------- parent
def run_child(*args: str) -> tuple[dict, float]:
    """Run this script as a child with one thread per process; (its JSON result, wall seconds)."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--_child", *args], capture_output=True, text=True,
                          cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="GTZAN-layout folder")
    ap.add_argument("--ref-clips", type=int, default=20, help="clips for the librosa reference")
    ap.add_argument("--fma-clips", type=int, default=8, help="30-s MP3 clips for the fma_small extrapolation")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        kind, *rest = args._child
        if kind == "prepare":
            res = child_prepare(rest[0], rest[1], int(rest[2]))
        elif kind == "reference":
            res = child_reference(rest)
        else:
            res = child_fma(rest[0], int(rest[1]), float(rest[2]))
        print(json.dumps(res))
        return

    if not args.root.is_dir():
        raise SystemExit(f"{args.root} not found: pass --root <a GTZAN-layout folder>")
    sys.path.insert(0, str(REPO))
    from core.audio.catalogs import gtzan_catalog

    cat = gtzan_catalog(args.root)
    n = len(cat)
    import numpy as np
    import soundfile as sf

    clip_s = sum(sf.info(p).duration for p in cat["path"]) / n
    load0 = os.getloadavg()[0]
    print(f"clips: {n} from {args.root} (mean {clip_s:.1f} s), cpu cores: {os.cpu_count()}, "
          f"load average at start: {load0:.2f}")
    result: dict = {"clips": n, "mean_clip_s": round(clip_s, 2), "cores": os.cpu_count(),
                    "load_average_start": round(load0, 2)}
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        tmp = Path(tmp)
        for w in (1, 2):
            out = tmp / f"w{w}"
            res, wall = run_child("prepare", str(args.root), str(out), str(w))
            rss = max(res["rss_self_mb"], res["rss_children_mb"])
            row = {"wall_s": round(wall, 2), "s_per_clip_wall": round(wall / n, 4),
                   "s_per_clip_inside": round(res["prepare_s"] / n, 4), "cpu_s_per_clip": round(res["cpu_s"] / n, 4),
                   "import_s": round(res["import_s"], 2), "peak_rss_mb": round(rss), "ok": res["ok"]}
            result[f"prepare_w{w}"] = row
            print(f"train.prepare --workers {w}: {wall:5.1f} s for the whole command ({row['s_per_clip_wall']:.4f} "
                  f"s/clip), {res['prepare_s']:.1f} s inside prepare_dataset ({row['s_per_clip_inside']:.4f} s/clip), "
                  f"{row['cpu_s_per_clip']:.4f} CPU-s/clip; imports {res['import_s']:.1f} s; "
                  f"peak RSS {rss:.0f} MiB per process; {res['ok']}/{n} ok")
            if w == 1:
                cache, parts = dir_bytes(out / "cache"), dir_bytes(out / "parts")
                n_seg = np.load(out / "cache" / "mels.npy", mmap_mode="r").shape[0]
                result["cache_bytes_per_track"] = round(cache / res["ok"])
                result["cache_bytes_per_segment"] = round(cache / n_seg)
                result["parts_bytes_per_track"] = round(parts / res["ok"])
                print(f"cache/: {cache / 2**20:.1f} MiB = {cache / res['ok'] / 1024:.0f} KiB per track "
                      f"({n_seg} segments, {cache / n_seg / 1024:.0f} KiB each); "
                      f"parts/ (kept for resume/merge): {parts / res['ok'] / 1024:.0f} KiB per track")

        step = max(1, n // args.ref_clips)
        ref_paths = [str(p) for p in cat["path"].iloc[::step][: args.ref_clips]]
        ref, _ = run_child("reference", *ref_paths)
        result["librosa_reference"] = {"clips": ref["clips"], "s_per_clip": round(ref["s_per_clip"], 4),
                                       "cpu_s_per_clip": round(ref["cpu_s_per_clip"], 4),
                                       "peak_rss_mb": round(ref["rss_self_mb"])}
        print(f"naive librosa reference: {ref['s_per_clip']:.3f} s/clip, {ref['cpu_s_per_clip']:.3f} CPU-s/clip "
              f"over {ref['clips']} clips (after a {ref['warmup_s']:.1f} s warm-up), "
              f"peak RSS {ref['rss_self_mb']:.0f} MiB")
        w1, w2 = result["prepare_w1"], result["prepare_w2"]
        result["speedup"] = {
            "w1_inside_wall": round(ref["s_per_clip"] / w1["s_per_clip_inside"], 1),
            "w1_cpu": round(ref["cpu_s_per_clip"] / w1["cpu_s_per_clip"], 1),
            "w1_whole_command_wall": round(ref["s_per_clip"] / w1["s_per_clip_wall"], 1),
            "w2_whole_command_wall": round(ref["s_per_clip"] / w2["s_per_clip_wall"], 1),
        }
        sp = result["speedup"]
        print(f"speed-up per clip vs the reference (target >= 10x): {sp['w1_inside_wall']}x wall and "
              f"{sp['w1_cpu']}x CPU (1 worker, inside prepare); {sp['w1_whole_command_wall']}x (1 worker) and "
              f"{sp['w2_whole_command_wall']}x (2 workers) counting the whole command with imports")

        fma, _ = run_child("fma", str(tmp / "fma"), str(args.fma_clips), "30")
        two_core = w1["s_per_clip_inside"] / w2["s_per_clip_inside"]
        result["fma_mp3_30s"] = {"clips": fma["clips"], "mean_duration_s": round(fma["mean_duration_s"], 1),
                                 "s_per_clip_1_core": round(fma["s_per_clip"], 4),
                                 "cpu_s_per_clip": round(fma["cpu_s_per_clip"], 4),
                                 "peak_rss_mb": round(fma["rss_self_mb"])}
        result["two_worker_speedup_measured"] = round(two_core, 2)
        # two worker processes on two otherwise idle cores: the CPU time per clip, halved, plus worker start-up
        ideal = FMA_SMALL_CLIPS * fma["cpu_s_per_clip"] / 2 + w2["import_s"]
        as_measured = FMA_SMALL_CLIPS * fma["s_per_clip"] / max(two_core, 1.0)
        result["fma_small_min_2_idle_cores"] = round(ideal / 60, 1)
        result["fma_small_min_as_measured_now"] = round(as_measured / 60, 1)
        # a 30-s clip (1292 frames) gives five 216-frame segments; parts keep the whole mel (float16)
        result["fma_small_cache_gb"] = round(FMA_SMALL_CLIPS * 5 * result["cache_bytes_per_segment"] / 2**30, 2)
        result["fma_small_parts_gb"] = round(FMA_SMALL_CLIPS * 128 * 1292 * 2 / 2**30, 2)
        print(f"FMA-format clip (30 s, 44.1 kHz stereo MP3): {fma['s_per_clip']:.3f} s/clip wall, "
              f"{fma['cpu_s_per_clip']:.3f} CPU-s/clip on one core; 2 workers ran {two_core:.2f}x as fast as 1 here")
        print(f"fma_small ({FMA_SMALL_CLIPS} x 30 s) extrapolated: {ideal / 60:.1f} min on 2 idle cores "
              f"(target < 15 min); {as_measured / 60:.1f} min at this run's measured wall speed; "
              f"cache ~{result['fma_small_cache_gb']:.2f} GiB, parts ~{result['fma_small_parts_gb']:.2f} GiB")
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))

if __name__ == "__main__":
    main()
