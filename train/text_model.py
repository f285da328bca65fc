"""Train one general text-search model on every caption and tag of several prepared datasets and evaluate it
zero-shot: `python -m train.text_model --data artifacts/musiccaps_mini --data artifacts/emotion4q
--out artifacts/text_models/general`.

Every text source a dataset offers is used (written captions, MusicCaps aspect lists, mood and genre tags
turned into short texts, the demo corpus's templates); a clip with several texts counts any of them as a match.
The frozen audio and text encoders stay as they are: only a linear projection and the temperature train.
The model then searches any prepared dataset that has the same audio embedding (`python -m train.text_query`).
Writes <out>/model.json, <out>/report.md, <out>/bank.npz, checkpoints and TensorBoard curves under <out>.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.text.general import SAMPLING, TextModelConfig
from core.text.sources import TEXT_SOURCES


def build_parser() -> argparse.ArgumentParser:
    """The command line, defaults from TextModelConfig."""
    d = TextModelConfig()
    t = d.train
    ap = argparse.ArgumentParser(prog="python -m train.text_model", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", required=True,
                    help="prepared dataset whose texts train the model (repeatable; train split trains, val stops)")
    ap.add_argument("--eval-data", type=Path, action="append", default=[],
                    help="prepared dataset used only for the zero-shot evaluation (repeatable)")
    ap.add_argument("--out", type=Path, default=Path("artifacts/text_models/general"), help="model folder")
    ap.add_argument("--audio-encoder", default=d.audio_encoder, help="embedding name every dataset must have "
                    "(default %(default)s, from `python -m train.embed --encoders efficientat_mn04`)")
    ap.add_argument("--text-encoder", default=d.text_encoder, help="minilm (default) or clip:/path/to/hf/folder")
    ap.add_argument("--sources", default=",".join(d.sources),
                    help=f"comma list of text sources (default: all: {','.join(TEXT_SOURCES)})")
    ap.add_argument("--epochs", type=int, default=t.max_epochs)
    ap.add_argument("--patience", type=int, default=t.patience, help="early stopping on val loss")
    ap.add_argument("--batch-size", type=int, default=t.batch_size)
    ap.add_argument("--lr", type=float, default=t.lr)
    ap.add_argument("--dropout", type=float, default=d.dropout)
    ap.add_argument("--sampling", default=d.sampling, choices=list(SAMPLING),
                    help="what one epoch draws: " + "; ".join(f"{k}: {v}" for k, v in SAMPLING.items()) +
                    " (default %(default)s)")
    ap.add_argument("--n-boot", type=int, default=d.n_boot, help="bootstrap resamples of the evaluation")
    ap.add_argument("--seed", type=int, default=t.seed)
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The parsed flags."""
    return build_parser().parse_args(argv)


def config_from(args: argparse.Namespace) -> TextModelConfig:
    """The TextModelConfig of the flags."""
    d = TextModelConfig()
    train = d.train
    for name, value in (("max_epochs", args.epochs), ("patience", args.patience), ("batch_size", args.batch_size),
                        ("lr", args.lr), ("seed", args.seed)):
        setattr(train, name, value)
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    return TextModelConfig(audio_encoder=args.audio_encoder, text_encoder=args.text_encoder, sources=sources,
                           dropout=args.dropout, n_boot=args.n_boot, sampling=args.sampling, train=train)


def check_inputs(args: argparse.Namespace) -> str:
    """'' or the one line that says what is wrong with the flags."""
    for ds in [*args.data, *args.eval_data]:
        if not (ds / "cache").is_dir():
            return f"{ds} is not a prepared dataset (no cache/); run `python -m train.prepare` first"
    unknown = [s for s in args.sources.split(",") if s.strip() and s.strip() not in TEXT_SOURCES]
    if unknown or not args.sources.strip():
        return f"unknown text source(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(TEXT_SOURCES)}"
    if args.epochs < 1 or args.batch_size < 2:
        return "--epochs must be >= 1 and --batch-size >= 2"
    return ""


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate, write the report; exit 2 with one line on bad input."""
    args = parse_args(argv)
    problem = check_inputs(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from core.text.encoders import TextEncoderError
    from core.text.pipeline import train_text_model
    from core.text.table import AudioEncoderMissing

    try:
        info = train_text_model(args.data, args.out, config_from(args), args.eval_data, progress=not args.quiet)
    except (AudioEncoderMissing, TextEncoderError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fit = info["fit"]
    print(f"{args.out}: trained on {', '.join(d.name for d in args.data)} ({fit['epochs']} epochs, best "
          f"{fit['best_epoch']}, {fit['wall_s']:.0f} s); report {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
