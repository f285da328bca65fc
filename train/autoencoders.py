"""Train autoencoders on a prepared dataset's feature cache (log-mel windows, or windows of a
pretrained encoder's frame features with `--input frames:<encoder>`), write their track embeddings
and append one row per run to experiments.csv/.md: `python -m train.autoencoders --help`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.nn.loop import CheckpointMismatch
from core.recommend.autoencoders import MODELS, MODSPEC_DEFAULTS, OBJECTIVE_DEFAULTS, OBJECTIVES
from core.recommend.runs import AERunConfig, run_autoencoder


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_objective_flags(ap: argparse.ArgumentParser) -> None:
    """Objective and modspec_dense flags; defaults from ObjectiveSettings / ModSpecSettings."""
    o, ms = OBJECTIVE_DEFAULTS, MODSPEC_DEFAULTS
    ap.add_argument("--shift-weight", type=float, default=o.shift_weight, help="weight of the latent-invariance term")
    ap.add_argument("--contrast-weight", type=float, default=o.contrast_weight,
                    help="contrast objective: weight of the InfoNCE term between two crops of one track")
    ap.add_argument("--temperature", type=float, default=o.temperature, help="contrast objective: InfoNCE temperature")
    ap.add_argument("--noise-std", type=float, default=o.noise_std, help="denoise objectives: input noise std")
    ap.add_argument("--mask-frac", type=float, default=o.mask_frac, help="denoise objectives: masked stripe width")
    ap.add_argument("--n-bands", type=int, default=ms.n_bands, help="modspec_dense: mel bands of the modulation map")
    ap.add_argument("--mod-bins", type=int, default=ms.n_mod_bins,
                    help="modspec_dense: log-spaced modulation bins (0 = full linear FFT resolution)")
    ap.add_argument("--min-hz", type=float, default=ms.min_hz, help="modspec_dense: lowest modulation frequency")
    ap.add_argument("--max-hz", type=float, default=ms.max_hz, help="modspec_dense: highest modulation frequency")
    ap.add_argument("--no-band-stats", action="store_true",
                    help="modspec_dense: drop the per-band std/mean columns (rhythm-only map)")


def build_parser() -> argparse.ArgumentParser:
    """The CLI; every default is read from AERunConfig / TrainConfig / the model settings dataclasses."""
    d, t = AERunConfig(), AERunConfig().train
    ap = argparse.ArgumentParser(prog="python -m train.autoencoders", description=__doc__)
    ap.add_argument("--data", "--out", dest="data", type=Path, default=Path("artifacts/demo"),
                    help="prepared dataset folder (from train.prepare), e.g. artifacts/gtzan_mini")
    ap.add_argument("--input", default=d.input,
                    help="mels (the cache's log-mel windows) or frames:<encoder> (frames/<encoder>.npy from "
                         "train.embed, e.g. frames:fcn_msd)")
    ap.add_argument("--models", type=_csv, default=["dense", "conv1d", "conv2d"],
                    help=f"comma list of {sorted(MODELS)} (default: dense,conv1d,conv2d)")
    ap.add_argument("--objectives", type=_csv, default=[d.objective], help=f"comma list of {list(OBJECTIVES)}")
    ap.add_argument("--latent", type=lambda s: [int(x) for x in _csv(s)], default=[d.latent_dim],
                    help=f"latent size(s), comma list (default {d.latent_dim})")
    ap.add_argument("--window", type=int, default=d.window, help="training window in frames (<= segment)")
    ap.add_argument("--embed-hop", type=int, default=d.embed_hop, help="hop between embedding windows")
    ap.add_argument("--pooling", choices=["auto", "mean", "meanstd", "max"], default=d.pooling,
                    help="track pooling; auto = best genre P@10 (or tag Jaccard) on the val split "
                         "(max: frame input only)")
    ap.add_argument("--whiten", choices=["no", "yes", "auto"], default=d.whiten,
                    help="ZCA-whiten the pooled embedding (fitted on train); auto = keep it if it scores better "
                         "on the val split")
    ap.add_argument("--pair-scope", choices=["segment", "track"], default=d.pair_scope,
                    help="shift/contrast objectives: second crop from the same segment or any segment of the track")
    _add_objective_flags(ap)
    ap.add_argument("--epochs", type=int, default=t.max_epochs)
    ap.add_argument("--patience", type=int, default=t.patience)
    ap.add_argument("--lr", type=float, default=t.lr)
    ap.add_argument("--batch-size", type=int, default=t.batch_size)
    ap.add_argument("--samples-per-epoch", type=int, default=d.samples_per_epoch)
    ap.add_argument("--max-minutes", type=float, default=t.max_wall_s / 60 if t.max_wall_s else 0,
                    help="time budget per run (0 = none)")
    ap.add_argument("--max-steps", type=int, default=t.max_steps_per_epoch, help="cap steps per epoch (smoke tests)")
    ap.add_argument("--seed", type=int, default=t.seed)
    ap.add_argument("--threads", type=int, default=t.num_threads,
                    help="torch threads (default 1: robust when the cores are shared; 2 is faster on an idle machine)")
    ap.add_argument("--resume", action="store_true", help="continue from <data>/checkpoints/<run>/last.pt")
    ap.add_argument("--run-name", default=None, help="override the run name (single run only)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def run_config(args: argparse.Namespace, model: str, objective: str, latent: int) -> AERunConfig:
    """The AERunConfig of one model x objective x latent size from the parsed flags."""
    kw: dict[str, Any] = {"shift_weight": args.shift_weight, "noise_std": args.noise_std, "mask_frac": args.mask_frac,
                          "contrast_weight": args.contrast_weight, "temperature": args.temperature}
    if model == "modspec_dense":
        kw.update(n_bands=args.n_bands, n_mod_bins=args.mod_bins or None, min_hz=args.min_hz,
                  max_hz=args.max_hz, keep_stats=not args.no_band_stats)
    d = AERunConfig()
    train = replace(d.train, max_epochs=args.epochs, patience=args.patience, lr=args.lr, batch_size=args.batch_size,
                    seed=args.seed, resume=args.resume, max_wall_s=args.max_minutes * 60 if args.max_minutes else None,
                    max_steps_per_epoch=args.max_steps, num_threads=args.threads, progress=not args.quiet)
    return AERunConfig(model=model, objective=objective, latent_dim=latent, window=args.window,
                       embed_hop=args.embed_hop, samples_per_epoch=args.samples_per_epoch, pooling=args.pooling,
                       pair_scope=args.pair_scope, input=args.input, whiten=args.whiten, run_name=args.run_name,
                       model_kwargs=kw, train=train)


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run every requested model x objective x latent size."""
    ap = build_parser()
    args = ap.parse_args(argv)
    for m in args.models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}; choose from {sorted(MODELS)}")
    for o in args.objectives:
        if o not in OBJECTIVES:
            ap.error(f"unknown objective {o!r}; choose from {list(OBJECTIVES)}")
    if args.input != "mels" and not args.input.startswith("frames:"):
        ap.error(f"--input must be 'mels' or 'frames:<encoder>', got {args.input!r}")
    runs = [(m, o, z) for m in args.models for o in args.objectives for z in args.latent]
    if args.run_name and len(runs) > 1:
        ap.error("--run-name needs exactly one model, objective and latent size")
    for m, o, z in runs:
        try:
            out = run_autoencoder(args.data, run_config(args, m, o, z))
        except (CheckpointMismatch, FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        r = out.row
        print(f"{r['run']}: {r['epochs']} epochs ({r['stopped']}), val loss {r['best_val_loss']}, "
              f"{r['wall_s']} s, {r['windows_per_s']} win/s, pooling {r['pooling']}; "
              + "val " + ", ".join(f"{k.removeprefix('sel_')} {v}" for k, v in r.items()
                                   if k.startswith("sel_") and "@" in k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
