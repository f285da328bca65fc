"""Score every embedding of a prepared dataset (baseline and autoencoders): whole-split retrieval
scores with bootstrap CIs and chance levels, handpicked queries side by side, and a Markdown
report (metrics.json, queries.csv, report.md): `python -m train.evaluate --help`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.io import to_markdown
from core.recommend.evaluation import EvalConfig, evaluate_dataset, metrics_table


def build_parser() -> argparse.ArgumentParser:
    """The command's flags, defaults from EvalConfig."""
    d = EvalConfig()
    ap = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__)
    ap.add_argument("--data", "--out", dest="data", type=Path, default=Path("artifacts/demo"),
                    help="prepared dataset folder with embeddings/, e.g. artifacts/gtzan_mini")
    ap.add_argument("--split", default=d.split,
                    help="query split: test (report), val (model selection) or all (every track)")
    ap.add_argument("--ks", default="5,10", help="comma list of K (default 5,10)")
    ap.add_argument("--embeddings", default=None, help="comma list of embedding names (default: all)")
    ap.add_argument("--queries", type=Path, default=None,
                    help="CSV with a `row` or `track_id` column listing handpicked queries")
    ap.add_argument("--n-queries", type=int, default=d.n_queries, help="handpicked queries chosen by rule")
    ap.add_argument("--k-show", type=int, default=d.k_show, help="list length shown per handpicked query")
    ap.add_argument("--n-boot", type=int, default=d.n_boot, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--write-baseline", action="store_true",
                    help="(re)write embeddings/baseline.npy from the cache before evaluating")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags, evaluate, print the main table."""
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        ks = tuple(int(k) for k in args.ks.split(",") if k.strip())
    except ValueError:
        ap.error("--ks must be a comma list of integers")
    if args.write_baseline or not (args.data / "embeddings" / "baseline.npy").exists():
        from core.audio.cache import FeatureCache
        from core.recommend.embeddings import write_baseline

        try:
            write_baseline(FeatureCache.open(args.data), args.data)
        except FileNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    cfg = EvalConfig(split=args.split, ks=ks, n_boot=args.n_boot, seed=args.seed,
                     embeddings=[e.strip() for e in args.embeddings.split(",")] if args.embeddings else None,
                     queries_csv=args.queries, n_queries=args.n_queries, k_show=args.k_show)
    try:
        res = evaluate_dataset(args.data, cfg)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{res.dataset}: {res.n_queries} queries ({res.split}), {res.n_tracks} tracks")
    print(to_markdown(metrics_table(res, "all")))
    print(f"wrote {args.data / 'metrics.json'}, {args.data / 'queries.csv'}, {args.data / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
