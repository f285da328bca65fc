"""Training and encoding throughput (windows/s) of each autoencoder on this machine's CPU.

`python -m benchmarks.bench_training --data artifacts/gtzan_mini` reads real windows from the
cache (synthetic ones without --data). Numbers depend on other load; the 1-min load average is
printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from core.audio.config import DEFAULT_AUDIO
from core.recommend.autoencoders import MODELS, build_model, needs_pairs


def _batches(data: Path | None, window: int, batch: int, n: int, n_views: int) -> list:
    """n batches of real (from the cache's train split) or synthetic windows."""
    if data is None:
        g = torch.Generator().manual_seed(0)
        mk = lambda: torch.randn(batch, DEFAULT_AUDIO.n_mels, window, generator=g)  # noqa: E731
        return [mk() if n_views == 1 else (mk(), mk()) for _ in range(n)]
    from core.audio.cache import FeatureCache
    from core.recommend.windows import RandomCropDataset, compute_mel_stats

    fc = FeatureCache.open(data)
    rows = fc.split_rows("train")
    ds = RandomCropDataset(fc, rows, compute_mel_stats(fc, rows), window, n_views=n_views,
                           samples_per_epoch=batch * n, seed=0)
    return list(DataLoader(ds, batch_size=batch, shuffle=False))


def bench(name: str, objective: str, window: int, latent: int, batch: int, steps: int,
          data: Path | None) -> dict[str, float]:
    """Seconds per training step and per encode batch -> windows/s."""
    n_views = 2 if needs_pairs(objective) else 1
    batches = _batches(data, window, batch, steps + 2, n_views)
    n_mels = (batches[0] if n_views == 1 else batches[0][0]).shape[1]
    torch.manual_seed(0)
    m = build_model(name, n_mels=n_mels, n_frames=window, latent_dim=latent, objective=objective)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    m.train()
    for i, b in enumerate(batches):
        if i == 2:
            t0 = time.perf_counter()
        loss = m.loss(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0
    m.eval()
    xs = [b if n_views == 1 else b[0] for b in batches]
    with torch.no_grad():
        m.encode(xs[0])
        t0 = time.perf_counter()
        for x in xs[1:]:
            m.encode(x)
        enc_s = time.perf_counter() - t0
    return {"model": name, "objective": objective, "window": window, "latent": latent,
            "params": m.n_parameters(), "train_windows_per_s": round(batch * steps / train_s, 1),
            "encode_windows_per_s": round(batch * (len(xs) - 1) / enc_s, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for every requested model and print a Markdown table."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_training", description=__doc__)
    ap.add_argument("--data", type=Path, default=None, help="prepared dataset folder (else synthetic windows)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of models")
    ap.add_argument("--objective", default="ae")
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [bench(m.strip(), args.objective, args.window, args.latent, args.batch_size, args.steps, args.data)
            for m in args.models.split(",") if m.strip()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cols = list(rows[0])
    print(f"threads {args.threads}, batch {args.batch_size}, 1-min load average {load:.1f}")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.json:
        args.json.write_text(json.dumps({"load_avg_1min": load, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
