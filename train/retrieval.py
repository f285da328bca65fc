"""Train a contrastive (NT-Xent) excerpt->track embedder on a prepared dataset, write its track embedding
`retrieval_<input>` and its ANN indexes, and append an experiments row: `python -m train.retrieval --help`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.audio.cache import FeatureCache
from core.nn.loop import CheckpointMismatch, TrainConfig
from core.retrieval.index import KINDS
from core.retrieval.training import RetrievalConfig, run_retrieval
from core.retrieval.views import ViewConfig


def build_parser() -> argparse.ArgumentParser:
    """Flags, defaults read from RetrievalConfig and its TrainConfig."""
    d = RetrievalConfig()
    t = d.train
    ap = argparse.ArgumentParser(prog="python -m train.retrieval", description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("artifacts/demo"), help="prepared dataset folder")
    ap.add_argument("--input", default=d.input, help="'mels' (the cache's log-mels) or 'frames:<encoder>'")
    ap.add_argument("--min-crop", type=float, default=d.min_crop_s, help="shortest training crop (seconds)")
    ap.add_argument("--max-crop", type=float, default=d.max_crop_s, help="longest training crop (seconds)")
    ap.add_argument("--pairs", type=int, default=d.pairs_per_epoch, help="pairs per training epoch")
    ap.add_argument("--whole-second", type=float, default=d.whole_second,
                    help="chance that the second view of a pair is the whole track")
    ap.add_argument("--train-splits", default=",".join(d.train_splits),
                    help="splits whose tracks give training pairs; 'train,val,test' trains on the whole catalog "
                         "(transductive, like a fingerprinting index; say so when reporting)")
    ap.add_argument("--channels", type=int, default=d.channels, help="width of the encoder")
    ap.add_argument("--dim", type=int, default=d.dim,
                    help="embedding size (0: --channels for mels; the frame size for frames, identity start)")
    ap.add_argument("--views", type=int, default=d.views.n_views,
                    help="frames input: corrupted excerpt views per training track, encoded once by the frozen "
                         "encoder (0: crops of the frame store instead)")
    ap.add_argument("--view-seconds", default=f"{d.views.min_s:g},{d.views.max_s:g}",
                    help="frames input: shortest,longest excerpt view in seconds")
    ap.add_argument("--weights-dir", default=None,
                    help="frames input with views: the encoder weights folder (default $WORKBENCH_WEIGHTS)")
    ap.add_argument("--temperature", type=float, default=d.temperature, help="NT-Xent temperature")
    ap.add_argument("--indexes", default=",".join(d.index_kinds), help=f"comma list of {', '.join(KINDS)}")
    ap.add_argument("--epochs", type=int, default=t.max_epochs)
    ap.add_argument("--patience", type=int, default=t.patience)
    ap.add_argument("--lr", type=float, default=t.lr)
    ap.add_argument("--batch-size", type=int, default=t.batch_size)
    ap.add_argument("--max-minutes", type=float, default=(t.max_wall_s or 0) / 60, help="training time budget")
    ap.add_argument("--max-steps", type=int, default=None, help="cap steps per epoch (smoke tests)")
    ap.add_argument("--seed", type=int, default=t.seed)
    ap.add_argument("--threads", type=int, default=t.num_threads, help="torch threads")
    ap.add_argument("--run-name", default=None, help="override the run/embedding name (keep the retrieval_ prefix)")
    ap.add_argument("--resume", action="store_true", help="continue from <data>/checkpoints/<run>/last.pt")
    ap.add_argument("--no-tensorboard", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def config_from_args(args: argparse.Namespace) -> RetrievalConfig:
    """The RetrievalConfig the flags describe (ValueError on a bad value)."""
    kinds = tuple(k.strip() for k in args.indexes.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown index kind(s) {bad}; choose from {', '.join(KINDS)}")
    if not (args.input == "mels" or args.input.startswith("frames:")):
        raise ValueError(f"--input must be 'mels' or 'frames:<encoder>', got {args.input!r}")
    if not 0 < args.min_crop <= args.max_crop:
        raise ValueError("need 0 < --min-crop <= --max-crop")
    lo, hi = (float(x) for x in args.view_seconds.split(","))
    if not 0 < lo <= hi or args.views < 0 or args.views == 1:
        raise ValueError("need 0 < shortest <= longest --view-seconds, and --views 0 or at least 2")
    train = TrainConfig(run_name=args.run_name or "", max_epochs=args.epochs, patience=args.patience, lr=args.lr,
                        batch_size=args.batch_size, seed=args.seed, resume=args.resume,
                        max_steps_per_epoch=args.max_steps, max_wall_s=args.max_minutes * 60 or None,
                        num_threads=args.threads, tensorboard=not args.no_tensorboard, progress=not args.quiet)
    return RetrievalConfig(input=args.input, min_crop_s=args.min_crop, max_crop_s=args.max_crop,
                           pairs_per_epoch=args.pairs, whole_second=args.whole_second,
                           train_splits=tuple(x.strip() for x in args.train_splits.split(",") if x.strip()),
                           channels=args.channels, dim=args.dim, temperature=args.temperature,
                           views=ViewConfig(n_views=args.views, min_s=lo, max_s=hi),
                           weights_dir=args.weights_dir, index_kinds=kinds, train=train)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, train, embed, index."""
    args = build_parser().parse_args(argv)
    try:
        rc = config_from_args(args)
        FeatureCache.open(args.data)  # no cache: its FileNotFoundError names the fix, before anything is written
        run = run_retrieval(args.data, rc)
    except (CheckpointMismatch, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = run.row
    print(f"{run.name}: {r['epochs']} epochs ({r['stopped']}), val loss {r['best_val_loss']}, val pair top-1 "
          f"{r['val_pair_top1']}, {r['wall_s']} s; embedding {run.embedding_path}; indexes "
          + ", ".join(sorted(run.index_paths)))
    return 0


def demo_step(out: Path, quiet: bool) -> int:
    """`make demo` step: a small mels embedder on the demo corpus and its exact + HNSW indexes. Six epochs bound
    the training (about 12 s of CPU on an idle machine), so two demo runs give the same model; the 3-minute time
    cap is only a safety net that a loaded machine does not reach."""
    flags = ["--data", str(out), "--epochs", "6", "--patience", "3", "--pairs", "192", "--channels", "64",
             "--max-minutes", "3", "--indexes", "exact,hnsw", "--no-tensorboard"]
    return main(flags + (["--quiet"] if quiet else []))


if __name__ == "__main__":
    sys.exit(main())
