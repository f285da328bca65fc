"""Build a dataset's catalog and feature cache: `python -m train.prepare --help`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from core.audio.catalogs import CatalogError, build_catalog
from core.audio.config import DEFAULT_AUDIO
from core.scale.engine import ENGINES, EngineConfig, EngineError
from core.scale.open import open_engine

ENGINE_DEFAULTS = EngineConfig()


def parse_shard(text: str) -> tuple[int, int]:
    """Parse 'i/n' (0-based shard i of n)."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("--shard must look like i/n, e.g. 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError("--shard i/n needs 0 <= i < n")
    return i, n


def add_engine_flags(ap: argparse.ArgumentParser) -> None:
    """--engine and --scheduler (shared by train.prepare and train.embed)."""
    ap.add_argument("--engine", default=ENGINE_DEFAULTS.engine, choices=list(ENGINES),
                    help="where tracks run: local = a process pool of --workers; dask = a Dask cluster "
                    "(--scheduler); both write the same part files and the same cache")
    ap.add_argument("--scheduler", metavar="ADDRESS", default=ENGINE_DEFAULTS.scheduler,
                    help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: $DASK_SCHEDULER_ADDRESS); "
                    "workers must reach the same paths (use absolute --root/--out on a shared filesystem)")


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig of parsed --engine/--scheduler/--workers flags."""
    return EngineConfig(engine=args.engine, workers=args.workers, scheduler=args.scheduler)


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    ap = argparse.ArgumentParser(prog="python -m train.prepare", description=__doc__)
    ap.add_argument("--dataset", required=True, choices=["fma", "gtzan", "folder", "musiccaps", "demo", "audiocaps"])
    ap.add_argument("--root", type=Path, help="dataset root (not needed for demo)")
    ap.add_argument("--out", type=Path, help="output folder (default artifacts/<dataset>)")
    ap.add_argument("--subset", default="small", choices=["small", "medium", "large"], help="FMA subset")
    ap.add_argument("--labels", type=Path, help="folder datasets: CSV with path,genre,artist,title,tags")
    ap.add_argument("--artists", type=Path, help="GTZAN: Sturm's artist index CSV (clip_id,artist,title); "
                    "default: metadata/artists.csv beside the audio when present")
    ap.add_argument("--split-file", type=Path, help="GTZAN: fault-filtered split CSV (clip_id,split); "
                    "default: metadata/filtered_split.csv beside the audio when present")
    ap.add_argument("--gtzan-split", default="auto", choices=["auto", "block", "filtered"],
                    help="GTZAN split: filtered (artist-disjoint, 70 faulty clips left out), block "
                    "(contiguous 80/10/10 per genre), auto = filtered when a split file is found")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    ap.add_argument("--shard", type=parse_shard, default=(0, 1), help="compute only shard i of n (i/n)")
    ap.add_argument("--no-merge", action="store_true", help="compute parts only; merge later with --merge-only")
    ap.add_argument("--merge-only", action="store_true", help="assemble the cache from existing parts")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_flags(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags, build the catalog, compute this shard's features and (optionally) merge."""
    args = build_parser().parse_args(argv)
    if args.workers is None:
        args.workers = os.cpu_count()  # resolved here, not as the flag's default: --help stays machine-independent
    out = args.out or Path("artifacts") / args.dataset
    try:
        catalog = build_catalog(args.dataset, args.root, args.subset, args.labels, artists_csv=args.artists,
                                split_file=args.split_file, gtzan_split=args.gtzan_split)
    except CatalogError as exc:
        print(f"error: {exc} (nothing written)", file=sys.stderr)
        return 2
    try:
        engine = None if args.merge_only else open_engine(engine_config(args))  # before anything is written
    except EngineError as exc:
        print(f"error: {exc} (nothing written)", file=sys.stderr)
        return 2
    from core.audio.prepare import (
        prepare_dataset,  # imports torch: after the flags, the catalog and the engine are checked
    )
    try:
        with engine or contextlib.nullcontext():
            result = prepare_dataset(
                catalog, out, DEFAULT_AUDIO, workers=args.workers, shard=args.shard,
                compute=not args.merge_only, merge=not args.no_merge, progress=not args.quiet, engine=engine,
            )
    except EngineError as exc:
        print(f"error: {exc} ({out}: cache and catalog unchanged)", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    if s:
        print(f"{out}: {s['ok']} ok, {s['skipped']} skipped of {s['tracks']} tracks "
              f"({result.computed} computed, {result.reused} reused) in {s['seconds']} s")
        for reason, count in sorted(s["reasons"].items()):
            print(f"  skipped {count:5d}  {reason}")
    else:
        print(f"{out}: shard {args.shard[0]}/{args.shard[1]}: {result.computed} computed, {result.reused} reused")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
