"""Latent-size sweep: train one autoencoder per size (one-vector and T x C time-structured latents),
reconstruct audio, measure spectrum and structure (rhythm, harmony), choose a size, analyse, generate.

    python -m train.latent_sizes --data artifacts/gtzan_mini --data artifacts/emotion4q \\
        --out artifacts/gtzan_emotion --sizes 16 --time-sizes 27,216,1728,3456,6912 \\
        --new-music ../shared/data/new_music

The size rule reads the validation segments; every reported figure is measured on the test segments.
Several --data folders are combined into --out (each keeps its own artist-disjoint split). Writes
`<out>/recon/` (index.json describes every file) plus checkpoints, TensorBoard runs and experiments
rows under `<out>/`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from core.latent.combine import combine_datasets
from core.latent.losses import LOSSES
from core.latent.study import LatentSizeMismatch, StudyConfig, run_study
from core.nn.loop import UnreadableCheckpoint


def parse_sizes(text: str) -> tuple[int, ...]:
    """'8,16,32' -> (8, 16, 32); every size a positive integer."""
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--sizes needs at least one positive integer")
    return sizes


def build_parser(d: StudyConfig | None = None) -> argparse.ArgumentParser:
    """The command's flags; defaults read from `d` (default: StudyConfig())."""
    d = StudyConfig() if d is None else d
    ap = argparse.ArgumentParser(prog="python -m train.latent_sizes", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", "--data-dir", dest="data", type=Path, action="append",
                    help="prepared dataset folder (from train.prepare), e.g. artifacts/gtzan_mini; repeat to "
                    "combine several (needs --out)")
    ap.add_argument("--out", type=Path, help="folder of the combined dataset when --data is given more than once")
    ap.add_argument("--dataset", help="old spelling: a dataset folder name under artifacts/ (same as --data "
                    "artifacts/NAME)")
    ap.add_argument("--sizes", type=parse_sizes, default=d.sizes,
                    help="one-vector latent sizes (floats per 5-s segment), e.g. 8,64")
    ap.add_argument("--time-sizes", type=parse_sizes, default=d.time_sizes,
                    help="T x C latent sizes (multiples of the 27 latent frames), e.g. 27,108,432,1728")
    ap.add_argument("--no-time", action="store_true", help="one-vector sizes only")
    ap.add_argument("--no-vector", action="store_true", help="T x C sizes only")
    ap.add_argument("--time-hidden", type=int, default=d.time_hidden, help="hidden channels of the T x C model")
    ap.add_argument("--loss", default=d.loss, choices=["auto", *LOSSES],
                    help="training loss; auto: mse and mrmel both tried, the better on validation kept")
    ap.add_argument("--samples-per-epoch", type=int, default=d.samples_per_epoch, help="5-s crops per epoch")
    ap.add_argument("--eval-segments", type=int, default=d.max_eval_segments,
                    help="test segments (every figure) and validation segments (the size rule) measured per size "
                    "(evenly spaced)")
    ap.add_argument("--model", default=d.model, help="one-vector autoencoder name (core.recommend.autoencoders)")
    ap.add_argument("--epochs", type=int, default=d.train.max_epochs, help="max epochs per size")
    ap.add_argument("--patience", type=int, default=d.train.patience, help="early-stopping patience")
    ap.add_argument("--val-batches", type=int, default=d.train.max_val_steps,
                    help="validation batches per epoch (default: all validation segments)")
    ap.add_argument("--loss-segments", type=int, default=d.loss_eval_segments,
                    help="validation segments measured as audio to choose the loss")
    ap.add_argument("--lr", type=float, default=d.train.lr)
    ap.add_argument("--batch-size", type=int, default=d.train.batch_size)
    ap.add_argument("--seed", type=int, default=d.train.seed)
    ap.add_argument("--max-minutes", type=float, default=(d.train.max_wall_s or 0) / 60,
                    help="training time limit per size (0: none; a limit makes runs depend on machine speed)")
    ap.add_argument("--threads", type=int, default=d.train.num_threads, help="torch CPU threads")
    ap.add_argument("--retrain", action="store_true", help="train again even if a checkpoint exists")
    ap.add_argument("--margin-onset", type=float, default=d.margin_onset,
                    help="rule: onset-envelope correlation at most this far below the oracle's")
    ap.add_argument("--margin-chroma", type=float, default=d.margin_chroma,
                    help="rule: chroma cosine at most this far below the oracle's")
    ap.add_argument("--margin-lsd", type=float, default=d.margin_lsd_db,
                    help="rule: LSD at most this many dB above the oracle's")
    ap.add_argument("--vector-epochs", type=int, default=d.vector_epochs,
                    help="epoch cap of the one-vector model (its 2-D convolutions are slow on a CPU)")
    ap.add_argument("--margin-db", type=float, default=d.margin_db,
                    help="fallback rule: smallest size whose LSD is within this many dB of the best size")
    ap.add_argument("--clips", type=int, default=d.n_clips, help="validation clips written as audio per size")
    ap.add_argument("--gl-iter", type=int, default=d.gl_iter, help="Griffin-Lim iterations")
    ap.add_argument("--new-music", type=Path, help="folder of audio files to encode at the chosen size")
    ap.add_argument("--demo-dir", type=Path, help="prepared demo corpus folder to encode at the chosen size")
    ap.add_argument("--no-umap", action="store_true", help="PCA maps only (faster)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def config_from(args: argparse.Namespace, d: StudyConfig) -> StudyConfig:
    """The study's config from parsed flags."""
    train = replace(d.train, max_epochs=args.epochs, patience=args.patience, lr=args.lr, batch_size=args.batch_size,
                    seed=args.seed, max_wall_s=args.max_minutes * 60 or None, num_threads=args.threads,
                    max_val_steps=args.val_batches,
                    progress=not args.quiet)
    return StudyConfig(sizes=() if args.no_vector else args.sizes, model=args.model,
                       time_sizes=() if args.no_time else args.time_sizes,
                       time_hidden=args.time_hidden,
                       loss=args.loss, loss_eval_segments=args.loss_segments,
                       samples_per_epoch=args.samples_per_epoch, max_eval_segments=args.eval_segments,
                       train=train, retrain=args.retrain, margin_db=args.margin_db, margin_onset=args.margin_onset,
                       margin_chroma=args.margin_chroma, margin_lsd_db=args.margin_lsd,
                       vector_epochs=args.vector_epochs, n_clips=args.clips, gl_iter=args.gl_iter,
                       new_music_dir=args.new_music, demo_dir=args.demo_dir, with_umap=not args.no_umap)


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run the study."""
    d = StudyConfig()
    ap = build_parser(d)
    args = ap.parse_args(argv)
    if not args.data and not args.dataset:
        ap.error("give --data PATH (a prepared dataset folder)")
    dirs = args.data or [Path("artifacts") / args.dataset]
    for ds in dirs:
        if not (ds / "cache").exists():
            print(f"error: {ds} is not a prepared dataset; run `python -m train.prepare ... --out {ds}` first",
                  file=sys.stderr)
            return 2
    if len(dirs) > 1 and args.out is None:
        ap.error("several --data folders need --out (the folder of the combined dataset)")
    try:
        ds_dir = combine_datasets(dirs, args.out) if len(dirs) > 1 else dirs[0]
        result = run_study(ds_dir, config_from(args, d))
    except (LatentSizeMismatch, UnreadableCheckpoint, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sel = result.index["selection"]
    print(f"chosen latent size: {result.chosen_size}, {sel['text']} ({result.rule_text})")
    if sel["fallback"]:
        print(f"warning: the size was selected on {result.selected_on}", file=sys.stderr)
    print(f"on {sel['n_eval_segments']} {sel['eval_split']} segments (mean):")
    lat = result.index["latent_sizes"]
    for s in result.sizes:
        m = result.metrics[s]
        print(f"  z={s:<5d} {result.index['kinds'][str(s)]:<9s} {lat[str(s)]['kbps_float16']:7.2f} kbit/s (f16)  "
              f"LSD {m['lsd_db']:.2f} dB  onset r {m['onset_corr']:.3f}  chroma cos {m['chroma_cos']:.3f}  "
              f"mel dist {m['mel_distance']:.2f}")
    o = result.oracle
    print(f"  oracle LSD {o['lsd_db']:.2f} dB  onset r {o['onset_corr']:.3f}  chroma cos {o['chroma_cos']:.3f}  "
          f"mel dist {o['mel_distance']:.2f}")
    print(f"loss: {result.index['loss_choice'].get('loss')} ({result.index['loss_choice'].get('how')})")
    print(f"wrote {result.index_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
