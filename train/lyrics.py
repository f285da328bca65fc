"""Train the lyrics genre classifier (frozen all-MiniLM-L6-v2 text vectors + a small head trained with
cross-entropy and with the single-label asymmetric loss) and compare it with the majority class and
TF-IDF + logistic regression: `python -m train.lyrics --csv FILE [--eval-csv FILE] [--out DIR]`.

The CSV needs columns `text, genre` (optional `artist, title`; with artists the split is artist-disjoint).
Empty lyrics rows are skipped and counted; a non-UTF-8 file or a missing column exits 2 with nothing written.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from core.tagger.lyrics import LyricsConfig


def build_parser() -> argparse.ArgumentParser:
    """The command's flags, defaults from LyricsConfig."""
    d = LyricsConfig()
    ap = argparse.ArgumentParser(prog="python -m train.lyrics", description=__doc__)
    ap.add_argument("--csv", type=Path, required=True, help="training CSV (text, genre[, artist, title])")
    ap.add_argument("--eval-csv", type=Path, default=None,
                    help="evaluate on this CSV (default: an artist-disjoint test split of --csv)")
    ap.add_argument("--out", type=Path, default=Path("artifacts/lyrics"), help="output folder")
    ap.add_argument("--losses", default=",".join(d.losses), help="heads to train: comma list of ce, asl")
    ap.add_argument("--hidden", type=int, default=d.hidden, help="hidden units of the head")
    ap.add_argument("--epochs", type=int, default=d.train.max_epochs)
    ap.add_argument("--patience", type=int, default=d.train.patience)
    ap.add_argument("--lr", type=float, default=d.train.lr)
    ap.add_argument("--weight-decay", type=float, default=d.train.weight_decay)
    ap.add_argument("--n-boot", type=int, default=d.n_boot, help="bootstrap resamples of the CIs")
    ap.add_argument("--seed", type=int, default=d.seed)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags, train and evaluate; exit 2 with a clear message on bad input."""
    d = LyricsConfig()
    args = build_parser().parse_args(argv)
    losses = tuple(x.strip() for x in args.losses.split(",") if x.strip())
    if not losses or any(x not in ("ce", "asl") for x in losses):
        print(f"error: --losses must list ce and/or asl, got {args.losses!r}", file=sys.stderr)
        return 2
    cfg = replace(d, losses=losses, hidden=args.hidden, n_boot=args.n_boot, seed=args.seed,
                  train=replace(d.train, max_epochs=args.epochs, patience=args.patience, lr=args.lr,
                                weight_decay=args.weight_decay))
    from core.tagger.lyrics import LyricsInputError
    from core.tagger.lyrics_run import run_lyrics
    from core.text.encoders import TextEncoderError

    try:
        res = run_lyrics(args.csv, args.eval_csv, args.out, cfg, log=lambda m: print(m, file=sys.stderr))
    except (LyricsInputError, TextEncoderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    e, m = res.metrics["eval"], res.metrics
    print(f"lyrics: {m['skipped_empty_lyrics']} empty rows skipped; {e['set']} ({e['n']} songs): {e['model']} "
          f"accuracy {e['accuracy']:.3f}, macro-F1 {e['macro_f1']:.3f} (majority {e['majority_macro_f1']:.3f}); "
          f"report: {res.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
