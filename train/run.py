"""Build everything the app shows for a folder of your own music, in one command: `workbench run --root ~/Music
--out artifacts/mine`. Runs prepare, pretrained embeddings (with --weights-dir), autoencoders, the retrieval
embedder and indexes, text search, the genre tagger, the latent study (--latent), evaluation and maps; each step
is skipped when its outputs are newer than its inputs, so a re-run redoes only what changed and a killed run
resumes. Ends with a table of what was done, reused or skipped (and why)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.pipeline.runner import app_command, closing_table, run_steps
from core.pipeline.steps import RunConfig, step_names
from core.scale.engine import ENGINES

REPO_ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def build_parser() -> argparse.ArgumentParser:
    """The flags of `workbench run`."""
    ap = argparse.ArgumentParser(prog="workbench run", description=__doc__)
    ap.add_argument("--root", type=Path, required=True, help="folder of audio (sub-folders = genres)")
    ap.add_argument("--out", type=Path, required=True, help="output folder, e.g. artifacts/mine (the app lists "
                    "the datasets of its artifacts folder)")
    ap.add_argument("--labels", type=Path, help="CSV with path,genre,artist,title,tags,split (paths relative to "
                    "--root; a split column of train/val/test is kept as given)")
    ap.add_argument("--captions", type=Path, help="CSV with track_id,caption for text search")
    ap.add_argument("--weights-dir", type=Path, help="pretrained encoder weights (laid out like "
                    "../shared/data/weights): adds the pretrained embeddings and autoencoders over their frames")
    ap.add_argument("--text-data", type=Path, action="append", default=[], metavar="DIR",
                    help="prepared dataset with captions or tags (repeatable, embedded with efficientat_mn04) that "
                    "the general text model trains on besides this collection's own labels, so that free-text "
                    "search works on music without captions")
    ap.add_argument("--text-model", type=Path, metavar="DIR", help="where the general text model is written "
                    "(default: text_models/<name of --out> beside --out, where the app finds it)")
    ap.add_argument("--engine", default="local", choices=list(ENGINES), help="where prepare and embed run")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (with --engine dask)")
    ap.add_argument("--workers", type=int, help="local processes for prepare and embed (default: all cores)")
    ap.add_argument("--latent", action="store_true", help="also run the latent-size study (the slow one)")
    ap.add_argument("--only", default="", help=f"comma list of steps to run ({', '.join(step_names())})")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the steps, print the closing table; exit 0 when nothing failed, 2 when there is nothing to work on,
    1 when a step failed (the table says which and why)."""
    args = build_parser().parse_args(argv)
    if not args.root.is_dir():
        print(f"error: --root {args.root} is not a folder", file=sys.stderr)
        return 2
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in only if s not in step_names()]
    if unknown:
        print(f"error: unknown step(s) {', '.join(unknown)}; steps: {', '.join(step_names())}", file=sys.stderr)
        return 2
    cfg = RunConfig(root=args.root.resolve(), out=args.out.resolve(), labels=args.labels, captions=args.captions,
                    weights_dir=args.weights_dir, engine=args.engine, scheduler=args.scheduler,
                    workers=args.workers, latent=args.latent, quiet=args.quiet, only=only,
                    text_data=tuple(d.resolve() for d in args.text_data),
                    text_model=args.text_model.resolve() if args.text_model else None)
    results = run_steps(cfg)
    print()
    print(closing_table(results, app_command(cfg.out, REPO_ARTIFACTS)))
    prep = results[0]
    if prep.status == "failed" or (prep.status != "skipped" and not (cfg.out / "catalog.csv").is_file()):
        return 2
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
