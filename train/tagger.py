"""Train the spectrogram CNN genre/tag tagger on a prepared dataset and write `<data>/tagger/`
(metrics.json, report.md, confusion matrix, predictions): `python -m train.tagger --help`.

Checkpoints go to `<data>/checkpoints/<run>/`, TensorBoard curves to `<data>/runs/<run>/`, one row per run
to `<data>/experiments.csv`. Errors (no cache, no labels column, too few classes) exit 2 with nothing written.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from core.tagger.losses import LOSSES
from core.tagger.run import TaggerConfig

DEMO_MINUTES = 0.5


def build_parser() -> argparse.ArgumentParser:
    """The CLI flags; defaults come from TaggerConfig and its TrainConfig."""
    d = TaggerConfig()
    ap = argparse.ArgumentParser(prog="python -m train.tagger", description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="prepared dataset folder, e.g. artifacts/gtzan_mini")
    ap.add_argument("--target", choices=["genre", "tags"], default=d.target,
                    help="genre: one label per track (softmax); tags: the catalog's tags column (multi-label)")
    ap.add_argument("--loss", choices=list(LOSSES), default=d.loss,
                    help="asl: asymmetric focal loss (softmax form with label smoothing for genre); ce; bce")
    ap.add_argument("--top-classes", type=int, default=d.top_classes, help="keep the N most frequent classes")
    ap.add_argument("--gamma-neg", type=float, default=d.gamma_neg, help="ASL focusing on negatives")
    ap.add_argument("--gamma-pos", type=float, default=d.gamma_pos, help="ASL focusing on positives")
    ap.add_argument("--clip", type=float, default=d.clip, help="ASL probability margin m (multi-label)")
    ap.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="ASL single-label smoothing")
    ap.add_argument("--eval-split", default=d.eval_split, choices=["test", "val"], help="headline split")
    ap.add_argument("--cv", type=int, default=d.cv_folds,
                    help="also run an artist-grouped K-fold cross-validation (0 = off)")
    t = d.train
    ap.add_argument("--epochs", type=int, default=t.max_epochs)
    ap.add_argument("--patience", type=int, default=t.patience)
    ap.add_argument("--lr", type=float, default=t.lr)
    ap.add_argument("--weight-decay", type=float, default=t.weight_decay, help="Adam weight decay")
    ap.add_argument("--batch-size", type=int, default=t.batch_size)
    ap.add_argument("--max-minutes", type=float, default=None, help="time budget of the training")
    ap.add_argument("--seed", type=int, default=t.seed)
    ap.add_argument("--threads", type=int, default=t.num_threads, help="torch threads")
    ap.add_argument("--n-boot", type=int, default=d.n_boot, help="bootstrap resamples of the CIs")
    ap.add_argument("--run-name", default=None, help="default tagger_<target>_<loss>[_top<N>]")
    ap.add_argument("--resume", action="store_true", help="continue from <data>/checkpoints/<run>/last.pt")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def config_from(args: argparse.Namespace) -> TaggerConfig:
    """TaggerConfig of parsed flags."""
    d = TaggerConfig()
    train = replace(d.train, max_epochs=args.epochs, patience=args.patience, lr=args.lr,
                    weight_decay=args.weight_decay, batch_size=args.batch_size, seed=args.seed,
                    num_threads=args.threads, resume=args.resume, progress=not args.quiet,
                    max_wall_s=args.max_minutes * 60 if args.max_minutes else None)
    return replace(d, target=args.target, loss=args.loss, top_classes=args.top_classes, gamma_neg=args.gamma_neg,
                   gamma_pos=args.gamma_pos, clip=args.clip, label_smoothing=args.label_smoothing,
                   eval_split=args.eval_split, cv_folds=args.cv, n_boot=args.n_boot, run_name=args.run_name,
                   train=train)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, train, evaluate; exit 2 with a clear message on bad input."""
    from core.nn.loop import CheckpointMismatch
    from core.tagger.labels import MissingLabels
    from core.tagger.pipeline import run_tagger

    args = build_parser().parse_args(argv)
    cfg = config_from(args)
    if cfg.target == "tags" and cfg.loss == "ce":
        print("error: --loss ce needs --target genre (single-label); use asl or bce for tags", file=sys.stderr)
        return 2
    try:
        res = run_tagger(args.data, cfg, log=lambda m: print(m, file=sys.stderr))
    except (MissingLabels, FileNotFoundError, CheckpointMismatch, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t = res.metrics["test"]
    extra = f", mAP {t['mAP']:.3f}" if "mAP" in t else ""
    print(f"{res.run_name}: {res.fit.epochs} epochs ({res.fit.stopped_reason}), {res.fit.wall_s:.0f} s; "
          f"{cfg.eval_split} ({t['n_tracks']} tracks): track accuracy {t['track_accuracy']:.3f}, macro-F1 "
          f"{t['macro_f1']:.3f}{extra}, majority {t['majority_accuracy']:.3f}; report: {res.out_dir / 'report.md'}")
    return 0


def demo_step(out: Path, quiet: bool) -> int:
    """`make demo` step: a short tagger run on the prepared demo corpus (mood labels), well under a minute."""
    flags = ["--data", str(out), "--target", "genre", "--loss", "asl", "--epochs", "12", "--patience", "4",
             "--max-minutes", str(DEMO_MINUTES), "--n-boot", "200", "--threads", "1"]
    return main(flags + (["--quiet"] if quiet else []))


if __name__ == "__main__":
    sys.exit(main())
