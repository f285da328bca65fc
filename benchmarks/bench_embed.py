"""Benchmark of the frozen encoders through the CLI a user runs (prints figures; not a timed test).

    .venv/bin/python benchmarks/bench_embed.py [--clips 8] [--encoders fcn_msd,musicnn_mtat,efficientat_mn04]
                                               [--weights-dir ../shared/data/weights] [--json out.json]
                                               [--no-keep] [--baseline /tmp/before]

Real music in the FMA format: `--clips` 30-s 44.1 kHz stereo MP3s from benchmarks/make_fma_like.py (transforms
of the real clips in ../shared/data), prepared with `python -m train.prepare --dataset fma`. Each encoder is run
as `python -m train.embed --encoders E --workers 1` in a fresh process (one torch/BLAS thread), once on all the
clips and once on one clip; the CPU time per clip is the difference over the good clips but one (what one more
track costs, without the process start and the weight loading, which are reported apart; from 10 clips on the
generator's 3 bad files are among them and cost next to nothing). Each encoder runs twice: as
shipped (subnormal floats flushed to zero) and with `WORKBENCH_KEEP_SUBNORMALS=1` (not flushed), so the table
shows what flushing is worth on this CPU. With `--baseline DIR` (another checkout, e.g. an older commit) every
run is repeated right after with that code on the same files, for a before/after in one run. fma_small (8,000
tracks) on 2 cores is extrapolated as 8000 x per-clip CPU / 2. CPU seconds, not wall: on a shared machine CPU
time is what a free core takes.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FMA_SMALL = 8000
CORES = 2
SHARED = REPO.parent / "shared" / "data"


def timed_cli(args: list[str], log: Path, env: dict | None = None, tree: Path = REPO) -> dict:
    """`python -m <args>` in its own process with one thread, run from the checkout `tree` (its code): wall, CPU
    and peak RSS (benchmarks/cli_timing.py)."""
    from benchmarks.cli_timing import ONE_THREAD, cli, timed

    return timed(cli(*args), log, {**ONE_THREAD, "PYTHONPATH": str(tree), **(env or {})}, cwd=tree)


def datasets(tmp: Path, clips: int) -> tuple[Path, Path, int]:
    """(prepared dataset of `clips` tracks, prepared dataset of one good track, the number of good tracks: the
    generated bad files (empty, no audio, truncated) are among the `clips` and cost next to nothing)."""
    from benchmarks.make_fma_like import generate

    root = tmp / "fma_like"
    summary = generate(root, clips, seed=11, progress=False)
    one = tmp / "one" / "music"
    one.mkdir(parents=True)
    first = next(p for p in sorted(root.glob("fma_small/*/*.mp3")) if p.stat().st_size > 100_000)  # not a bad file
    (one / first.name).symlink_to(first)
    all_ds, one_ds = tmp / "ds_all", tmp / "ds_one"
    timed_cli(["train.prepare", "--dataset", "fma", "--root", str(root), "--out", str(all_ds), "--quiet"],
              tmp / "prepare_all.log")
    timed_cli(["train.prepare", "--dataset", "folder", "--root", str(one.parent), "--out", str(one_ds), "--quiet"],
              tmp / "prepare_one.log")
    return all_ds, one_ds, clips - len(summary["bad"])


def embed_once(ds: Path, encoder: str, weights: Path, keep: bool, tree: Path = REPO) -> dict:
    """One fresh `train.embed` run of one encoder from the checkout `tree` (earlier parts removed first)."""
    for sub in ("frame_parts", "embeddings", "frames"):
        shutil.rmtree(ds / sub, ignore_errors=True)
    env = {"WORKBENCH_KEEP_SUBNORMALS": "1" if keep else "0"}
    return timed_cli(["train.embed", "--data", str(ds), "--encoders", encoder, "--workers", "1", "--quiet",
                      "--weights-dir", str(weights)], ds.parent / f"embed_{ds.name}_{encoder}.log", env, tree)


def encoder_row(encoder: str, all_ds: Path, one_ds: Path, clips: int, weights: Path, keep: bool,
                tree: Path = REPO) -> dict:
    """Per-clip CPU of one encoder through the CLI (difference of an all-clips and a one-clip run, over the
    `clips - 1` further good clips)."""
    full = embed_once(all_ds, encoder, weights, keep, tree)
    single = embed_once(one_ds, encoder, weights, keep, tree)
    per_clip = max(0.0, full["cpu_s"] - single["cpu_s"]) / max(1, clips - 1)
    return {"encoder": encoder, "code": "this checkout" if tree == REPO else str(tree),
            "subnormals": "kept" if keep else "flushed", "clips": clips,
            "cpu_s_per_clip": per_clip, "startup_cpu_s": single["cpu_s"] - per_clip, "run_wall_s": full["wall_s"],
            "run_cpu_s": full["cpu_s"], "peak_rss_mib": full["peak_rss_mib"],
            "fma_small_min_2cores": FMA_SMALL * per_clip / CORES / 60}


def main() -> int:
    """Measure, print a Markdown table and one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8, help="30-s clips generated (at least 5; from 10 on, 3 of them "
                    "are bad files)")
    ap.add_argument("--encoders", default="fcn_msd,musicnn_mtat,efficientat_mn04")
    ap.add_argument("--weights-dir", type=Path, default=Path(os.environ.get("WORKBENCH_WEIGHTS", SHARED / "weights")))
    ap.add_argument("--no-keep", action="store_true", help="skip the runs without flushing")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout of the project (e.g. `git worktree add /tmp/before <commit>`): every "
                    "run is repeated with its code on the same files, right after this checkout's")
    args = ap.parse_args()
    if not args.weights_dir.is_dir() or not (SHARED / "gtzan_mini").is_dir():
        print(f"error: needs {args.weights_dir} and ../shared/data (pass --weights-dir)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        all_ds, one_ds, good = datasets(Path(tmp), max(5, args.clips))
        for enc in (e.strip() for e in args.encoders.split(",") if e.strip()):
            for keep in (False,) if args.no_keep else (False, True):
                for tree in (REPO,) if args.baseline is None else (REPO, args.baseline.resolve()):
                    rows.append(encoder_row(enc, all_ds, one_ds, good, args.weights_dir, keep, tree))
    print(f"load average {os.getloadavg()[0]:.1f}; CPU seconds of `python -m train.embed --workers 1`, one thread")
    print("| encoder | code | subnormals | CPU s / 30-s clip | start + weights CPU s | fma_small min, 2 cores "
          "| peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['encoder']} | {r['code']} | {r['subnormals']} | {r['cpu_s_per_clip']:.3f} | "
              f"{r['startup_cpu_s']:.1f} | {r['fma_small_min_2cores']:.1f} | {r['peak_rss_mib']:.0f} |")
    out = {"rows": rows, "loadavg": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d")}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
