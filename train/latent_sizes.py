"""Latent-size sweep: train one autoencoder per size, reconstruct audio, measure, analyse, generate.

    python -m train.latent_sizes --data artifacts/gtzan_mini --sizes 8,16,32,64,128,256 \\
        --new-music ../shared/data/new_music --demo-dir artifacts/demo

Writes `artifacts/<dataset>/recon/` (index.json describes every file) plus checkpoints,
TensorBoard runs and experiments rows under `artifacts/<dataset>/`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

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
    ap.add_argument("--data", "--data-dir", dest="data", type=Path,
                    help="prepared dataset folder (from train.prepare), e.g. artifacts/gtzan_mini")
    ap.add_argument("--dataset", help="old spelling: a dataset folder name under artifacts/ (same as --data "
                    "artifacts/NAME)")
    ap.add_argument("--sizes", type=parse_sizes, default=d.sizes, help="latent sizes, e.g. 8,16,32,64,128,256")
    ap.add_argument("--model", default=d.model, help="autoencoder name (core.recommend.autoencoders)")
    ap.add_argument("--epochs", type=int, default=d.train.max_epochs, help="max epochs per size")
    ap.add_argument("--patience", type=int, default=d.train.patience, help="early-stopping patience")
    ap.add_argument("--lr", type=float, default=d.train.lr)
    ap.add_argument("--batch-size", type=int, default=d.train.batch_size)
    ap.add_argument("--seed", type=int, default=d.train.seed)
    ap.add_argument("--max-minutes", type=float, default=(d.train.max_wall_s or 0) / 60,
                    help="training time limit per size")
    ap.add_argument("--threads", type=int, default=d.train.num_threads, help="torch CPU threads")
    ap.add_argument("--retrain", action="store_true", help="train again even if a checkpoint exists")
    ap.add_argument("--margin-db", type=float, default=d.margin_db,
                    help="rule: smallest size whose LSD is within this many dB of the best size")
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
                    seed=args.seed, max_wall_s=args.max_minutes * 60, num_threads=args.threads,
                    progress=not args.quiet)
    return StudyConfig(sizes=args.sizes, model=args.model, train=train, retrain=args.retrain,
                       margin_db=args.margin_db, n_clips=args.clips, gl_iter=args.gl_iter,
                       new_music_dir=args.new_music, demo_dir=args.demo_dir, with_umap=not args.no_umap)


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run the study."""
    d = StudyConfig()
    ap = build_parser(d)
    args = ap.parse_args(argv)
    if args.data is None and not args.dataset:
        ap.error("give --data PATH (a prepared dataset folder)")
    ds_dir = args.data or Path("artifacts") / args.dataset
    if not (ds_dir / "cache").exists():
        print(f"error: {ds_dir} is not a prepared dataset; run `python -m train.prepare ... --out {ds_dir}` first",
              file=sys.stderr)
        return 2
    try:
        result = run_study(ds_dir, config_from(args, d))
    except (LatentSizeMismatch, UnreadableCheckpoint) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"chosen latent size: {result.chosen_size} ({result.rule_text})")
    for s in result.sizes:
        m = result.metrics[s]
        print(f"  z={s:<4d} LSD {m['lsd_db']:.2f} dB  SC {m['spectral_convergence']:.3f}  "
              f"log-mel MSE {m['logmel_mse']:.1f}  MR-STFT {m['mrstft']:.3f}")
    o = result.oracle
    print(f"  oracle LSD {o['lsd_db']:.2f} dB  SC {o['spectral_convergence']:.3f}  log-mel MSE {o['logmel_mse']:.1f}"
          f"  MR-STFT {o['mrstft']:.3f}")
    print(f"wrote {result.index_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
