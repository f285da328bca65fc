"""Embed every track of a prepared dataset with frozen pretrained encoders: `embeddings/pretrained_<enc>.npy`
(+ sidecar, standardised on train) and frame features `frames/<enc>.{npy,csv,json}`. Resumable (per-track
parts under `<ds>/frame_parts/`), bad tracks skipped with a reason: `python -m train.embed --help`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.encoders.base import EncoderError
from core.encoders.embed import BATCHES_PER_WORKER, EmbedConfig, default_workers, run_embed
from core.encoders.registry import encoder_names
from core.encoders.weights import WEIGHTS_ENV, WeightsError
from core.scale.engine import EngineError
from core.scale.open import open_engine
from train.prepare import add_engine_flags, engine_config


def build_parser() -> argparse.ArgumentParser:
    """The CLI's flags, defaults from EmbedConfig."""
    d = EmbedConfig()
    ap = argparse.ArgumentParser(prog="python -m train.embed", description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="prepared dataset folder, e.g. artifacts/gtzan_mini")
    ap.add_argument("--encoders", default=",".join(d.encoders),
                    help=f"comma list (default {','.join(d.encoders)}); known: {', '.join(encoder_names())}")
    ap.add_argument("--weights-dir", default=d.weights_dir,
                    help=f"folder laid out like ../shared/data/weights (default: ${WEIGHTS_ENV})")
    ap.add_argument("--device", default=d.device, choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=d.batch, help="tracks encoded together")
    ap.add_argument("--workers", type=int, default=d.workers,
                    help="processes, each with one torch thread and its own copy of the encoders (about 0.5 GiB "
                    "each with efficientat_mn04); default: every core once the dataset has at least "
                    f"{BATCHES_PER_WORKER} batches of --batch tracks per worker, else 1 (starting a worker costs "
                    "a few CPU seconds)")
    add_engine_flags(ap)
    ap.add_argument("--max-seconds", type=float, default=d.max_seconds,
                    help="decode at most this many seconds of each file (default: whole file)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def count_tracks(ds: Path) -> int:
    """Tracks in a prepared dataset's catalog (0 when it cannot be read: run_embed then says why)."""
    from core.audio.cache import FeatureCache

    try:
        return len(FeatureCache.open(ds).tracks)
    except Exception:  # an unreadable cache: reported by run_embed with its reason
        return 0


def main(argv: list[str] | None = None) -> int:
    """Parse flags, embed, print the summary; exit 2 with a message on bad input."""
    args = build_parser().parse_args(argv)
    names = tuple(n.strip() for n in args.encoders.split(",") if n.strip())
    unknown = [n for n in names if n not in encoder_names()]
    if not names or unknown:
        print(f"error: unknown encoder(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(encoder_names())}",
              file=sys.stderr)
        return 2
    if not (args.data / "cache").is_dir():
        print(f"error: {args.data} is not a prepared dataset (no cache/); run `python -m train.prepare` first",
              file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but no CUDA device is available", file=sys.stderr)
            return 2
    batch = max(1, args.batch)
    if args.workers is None:
        args.workers = default_workers(count_tracks(args.data), batch)
    cfg = EmbedConfig(encoders=names, weights_dir=args.weights_dir, device=args.device, batch=batch,
                      workers=max(1, args.workers), max_seconds=args.max_seconds, progress=not args.quiet)
    try:
        engine = open_engine(engine_config(args))
    except EngineError as e:
        print(f"error: {e} (nothing written)", file=sys.stderr)
        return 2
    try:
        summary = run_embed(args.data, cfg, engine)
    except (WeightsError, EncoderError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except EngineError as e:
        print(f"error: {e} ({args.data}: embeddings unchanged)", file=sys.stderr)
        return 2
    finally:
        engine.close()
    for es in summary.encoders:
        print(f"{es.encoder}: {es.done} computed, {es.reused} reused, {len(es.skipped)} skipped -> {es.embedding}")
        for s in es.skipped:
            print(f"  skipped {s['track_id']}: {s['reason']}")
    print(f"wrote {args.data / 'embed_summary.json'} ({summary.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
