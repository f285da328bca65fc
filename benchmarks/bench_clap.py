"""Text-search speed on a prepared dataset (default artifacts/musiccaps_mini):

  * precompute, per text encoder: captions/s of the batched, checkpointed precompute (fresh cache folder),
    against a naive reference in the same run (one caption per encoder call, no batching);
  * precompute, per audio encoder: clips/s of merging an existing embedding into the pair table (the text
    vectors cached), i.e. what a new audio encoder costs once its embedding exists;
  * training: wall time of one projection run (early stopping, the one training loop) against a closed-form
    ridge regression of the same audio->text map in the same run; target: under a minute on CPU.

    python -m benchmarks.bench_clap [--data artifacts/musiccaps_mini] [--encoders all] [--clip DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.text.encoders import load_text_encoder  # noqa: E402
from core.text.table import precompute_texts  # noqa: E402


def bench_text(enc, texts: list[str], n_ref: int) -> dict[str, float]:
    """Batched precompute vs one-caption-per-call reference (captions/s)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        precompute_texts(texts, enc.encode, Path(tmp), progress=False)
        batched = len(texts) / (time.perf_counter() - t0)
    ref = texts[:n_ref]
    t0 = time.perf_counter()
    for t in ref:
        enc.encode([t], batch_size=1)
    naive = len(ref) / (time.perf_counter() - t0)
    return {"batched": batched, "naive": naive}


def bench_tables(ds: Path, names: list[str], enc) -> dict[str, float]:
    """Clips/s of building the pair table per audio encoder (text vectors already cached)."""
    from core.text.table import build_pair_table

    out = {}
    for name in names:
        t0 = time.perf_counter()
        table = build_pair_table(ds, name, enc, progress=False)
        out[name] = len(table.clips()) / (time.perf_counter() - t0)
    return out


def bench_training(ds: Path, name: str, enc) -> tuple[float, float, int]:
    """(projection run seconds, ridge reference seconds, epochs) on one audio encoder, in a scratch copy."""
    import shutil

    from core.text.runs import ClapConfig, build_model, loaders, run_clap
    from core.text.table import build_pair_table

    table = build_pair_table(ds, name, enc, progress=False)
    train = table.subset("train")
    t0 = time.perf_counter()
    x = (train.audio - train.audio.mean(0)) / (train.audio.std(0) + 1e-8)
    xtx = x.T @ x + 1.0 * np.eye(x.shape[1])
    np.linalg.solve(xtx, x.T @ train.text)
    ridge_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / ds.name
        shutil.copytree(ds, scratch, ignore=shutil.ignore_patterns("parts", "runs", "checkpoints"))
        cfg = ClapConfig(audio_encoder=name, n_boot=200)
        loaders(table, cfg.train.batch_size, 0)  # imports (torch DataLoader, the model) outside the timing
        build_model(cfg, table)
        t0 = time.perf_counter()
        res = run_clap(scratch, cfg, enc, progress=False)
        return time.perf_counter() - t0, ridge_s, res.fit.epochs


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print ratios."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("artifacts/musiccaps_mini"))
    ap.add_argument("--encoders", default="all", help="audio encoders (comma list or all)")
    ap.add_argument("--clip", type=Path, default=None, help="a local CLIP folder to time as well")
    ap.add_argument("--n-ref", type=int, default=40, help="captions encoded one by one for the reference")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from core.audio.cache import FeatureCache
    from core.text.captions import load_captions
    from train.clap import audio_encoders

    try:
        texts = load_captions(FeatureCache.open(args.data).tracks).table["caption"].tolist()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = audio_encoders(args.data, args.encoders)
    specs = ["minilm"] + ([f"clip:{args.clip}"] if args.clip else [])
    print(f"dataset {args.data}: {len(texts)} captions, audio encoders {', '.join(names)}; 1 thread")
    for spec in specs:
        r = bench_text(load_text_encoder(spec), texts, args.n_ref)
        print(f"text precompute {spec}: {r['batched']:.1f} captions/s batched vs {r['naive']:.1f} one-by-one "
              f"(x{r['batched'] / r['naive']:.1f})")
    enc = load_text_encoder("minilm")
    for name, rate in bench_tables(args.data, names, enc).items():
        print(f"pair table {name}: {rate:.0f} clips/s (embedding lookup + merge, text vectors cached)")
    for name in names:
        run_s, ridge_s, epochs = bench_training(args.data, name, enc)
        print(f"training {name}: {run_s:.1f} s for {epochs} epochs incl. evaluation (target < 60 s: "
              f"{'met' if run_s < 60 else 'NOT met'}); ridge reference {ridge_s * 1000:.1f} ms "
              f"(x{run_s / max(ridge_s, 1e-9):.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
