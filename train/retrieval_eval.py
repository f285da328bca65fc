"""Offline excerpt -> track evaluation of every embedding of a dataset (trained retrieval_* embedders,
the classic baseline, autoencoders; exact search and each ANN index): Recall@1/10/100 and MRR with
bootstrap CIs in `<data>/retrieval/metrics.json` and `report.md`: `python -m train.retrieval_eval --help`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.encoders.weights import WEIGHTS_ENV
from core.retrieval.evaluation import RetrievalEvalConfig, evaluate_retrieval


def build_parser() -> argparse.ArgumentParser:
    """The command's flags, defaults from RetrievalEvalConfig."""
    d = RetrievalEvalConfig()
    ap = argparse.ArgumentParser(prog="python -m train.retrieval_eval", description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("artifacts/demo"), help="prepared dataset folder")
    ap.add_argument("--excerpt", type=float, default=d.excerpt_s, help="query excerpt length in seconds")
    ap.add_argument("--per-track", type=int, default=d.per_track, help="excerpts per query track")
    ap.add_argument("--splits", default=",".join(d.splits),
                    help="comma list of splits whose tracks give queries (test, val, train; 'all')")
    ap.add_argument("--names", default="", help="comma list of embeddings (default: every one)")
    ap.add_argument("--snr", default=f"{d.augment.snr_db[0]:g},{d.augment.snr_db[1]:g}",
                    help="query noise SNR range in dB, 'lo,hi'")
    ap.add_argument("--boot", type=int, default=d.n_boot, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--threads", type=int, default=1, help="torch/BLAS threads")
    ap.add_argument("--weights-dir", default=d.weights_dir,
                    help=f"folder laid out like ../shared/data/weights, for the pretrained encoders that embed the "
                    f"query excerpts (default: ${WEIGHTS_ENV})")
    ap.add_argument("--reembed", action="store_true",
                    help="re-embed every corpus track with the pretrained encoders instead of reusing the vectors "
                         "train.embed stored (slow: one encoder pass per track)")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags, evaluate, print the exact-search table."""
    args = build_parser().parse_args(argv)
    try:
        lo, hi = (float(x) for x in args.snr.split(","))
        if args.excerpt <= 0 or args.per_track < 1:
            raise ValueError("--excerpt must be > 0 and --per-track >= 1")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import torch

    from core.retrieval.index import pin_threads

    torch.set_num_threads(args.threads)
    pin_threads(args.threads)
    cfg = RetrievalEvalConfig(excerpt_s=args.excerpt, per_track=args.per_track,
                              splits=tuple(s.strip() for s in args.splits.split(",") if s.strip()),
                              names=tuple(n.strip() for n in args.names.split(",") if n.strip()),
                              n_boot=args.boot, seed=args.seed, reuse_stored=not args.reembed,
                              weights_dir=args.weights_dir)
    cfg.augment.snr_db = (lo, hi)
    try:
        res = evaluate_retrieval(args.data, cfg)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, e in res.metrics["exact"].items():
        print(f"{name:28s} R@1 {e['R@1']:.3f} [{e['ci']['R@1'][0]:.3f}, {e['ci']['R@1'][1]:.3f}]  "
              f"R@10 {e['R@10']:.3f}  MRR {e['MRR']:.3f}  (n={e['n_queries']})")
    for name, why in res.metrics["skipped"].items():
        print(f"skipped {name}: {why}")
    print(f"wrote {res.metrics_path} and {res.report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
