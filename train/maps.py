"""Precompute the Latent map page's 2-D maps (PCA and UMAP) of every embedding of a dataset:
`python -m train.maps --data artifacts/<ds>` writes `<ds>/maps/<model>.npz`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from core.recommend.maps import METHODS, write_maps


def run(data: Path, models: list[str] | None, methods: tuple[str, ...], quiet: bool) -> int:
    """Write the maps of the requested (default: all) embeddings; 2 with a message on bad input."""
    from core.recommend.embeddings import list_embeddings

    have = list_embeddings(data)
    if not have:
        print(f"error: {data} has no embeddings; run `python -m train.autoencoders --data {data}` first",
              file=sys.stderr)
        return 2
    unknown = [m for m in models or [] if m not in have]
    if unknown:
        print(f"error: unknown embedding(s) {', '.join(unknown)}; {data} has {', '.join(have)}", file=sys.stderr)
        return 2
    failed = 0
    for model in tqdm(models or have, desc=f"maps {data.name}", unit="embedding", disable=quiet):
        try:
            res = write_maps(data, model, methods)
        except (OSError, ValueError) as exc:  # one broken embedding must not stop the others
            tqdm.write(f"skipped {model}: {exc}")
            failed += 1
            continue
        if not quiet:
            tqdm.write(f"wrote {res.path} ({', '.join(res.methods)})")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    ap = argparse.ArgumentParser(prog="python -m train.maps", description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("artifacts/demo"), help="prepared dataset folder")
    ap.add_argument("--models", default="", help="comma list of embeddings (default: all)")
    ap.add_argument("--no-umap", action="store_true", help="PCA only (faster)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags and write the maps."""
    args = build_parser().parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()] or None
    methods = ("pca",) if args.no_umap else METHODS
    return run(args.data, models, methods, args.quiet)


def demo_step(out: Path, quiet: bool) -> int:
    """`make demo`'s step: both maps of every demo embedding."""
    return run(Path(out), None, METHODS, quiet)


if __name__ == "__main__":
    sys.exit(main())
