"""Genre tagger speed: SpectrogramCNN training throughput (windows/s) against references measured in the
same run (the project's conv2d autoencoder and a linear classifier on the same windows), optionally a full
gtzan_mini training to early stop (target < 5 min on CPU) and the cost of fine-tuning MiniLM for lyrics.

```
python -m benchmarks.bench_tagger --data artifacts/gtzan_mini            # throughput on real windows
python -m benchmarks.bench_tagger --data artifacts/gtzan_mini --full-run # + training to early stop (copy)
python -m benchmarks.bench_tagger --finetune-estimate                    # MiniLM forward+backward on CPU
```
Numbers depend on other load; the 1-min load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader


def _batches(data: Path | None, batch: int, n: int) -> tuple[list, int]:
    """n training batches (x [B,1,M,W], y) of real tagger windows, or synthetic ones; and the class count."""
    if data is None:
        g = torch.Generator().manual_seed(0)
        return [(torch.randn(batch, 1, 128, 172, generator=g), torch.randint(0, 10, (batch,), generator=g))
                for _ in range(n)], 10
    from core.recommend.windows import compute_mel_stats
    from core.tagger.run import TaggerConfig, load_data
    from core.tagger.windows import TrackWindowDataset

    d = load_data(data, TaggerConfig())
    rows = d.splits["train"]
    ds = TrackWindowDataset(d.fc, rows, compute_mel_stats(d.fc, rows), d.spec, d.labels.y)
    out = []
    while len(out) < n:
        out += [(x, y) for x, y, _, _ in DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)]
    return out[:n], len(d.labels.classes)


class _Linear(nn.Module):
    """Reference: logistic regression over the flattened window."""

    def __init__(self, d: int, k: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d, k)

    def loss(self, batch: tuple) -> torch.Tensor:
        return nn.functional.cross_entropy(self.fc(batch[0].flatten(1)), batch[1])


class _AE(nn.Module):
    """Reference: the project's conv2d autoencoder on the same windows."""

    def __init__(self, n_mels: int, frames: int) -> None:
        super().__init__()
        from core.recommend.autoencoders import build_model

        self.m = build_model("conv2d", n_mels=n_mels, n_frames=frames, latent_dim=64, objective="ae")

    def loss(self, batch: tuple) -> torch.Tensor:
        return self.m.loss(batch[0][:, 0])


def train_speed(model: nn.Module, batches: list) -> float:
    """Training windows/s of `model.loss` + Adam over the batches (first two are warm-up)."""
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-4)
    model.train()
    n = 0
    for i, b in enumerate(batches):
        if i == 2:
            t0 = time.perf_counter()
        out = model.loss(b)
        loss = out[0] if isinstance(out, tuple) else out
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += b[0].shape[0] if i >= 2 else 0
    return n / (time.perf_counter() - t0)


def throughput(data: Path | None, batch: int, steps: int) -> dict:
    """CNN, conv2d-AE and linear references, windows/s and ratios."""
    from core.tagger.model import SpectrogramCNN

    batches, k = _batches(data, batch, steps + 2)
    _, _, m, w = batches[0][0].shape
    torch.manual_seed(0)
    res = {"cnn_windows_per_s": train_speed(SpectrogramCNN(m, k), batches),
           "conv2d_ae_windows_per_s": train_speed(_AE(m, w), batches),
           "linear_windows_per_s": train_speed(_Linear(m * w, k), batches)}
    res["cnn_vs_conv2d_ae"] = res["cnn_windows_per_s"] / res["conv2d_ae_windows_per_s"]
    res["cnn_vs_linear"] = res["cnn_windows_per_s"] / res["linear_windows_per_s"]
    return res


def full_run(data: Path) -> dict:
    """Train to early stop on a temporary copy of the dataset; wall seconds vs the 5-minute target."""
    from core.tagger.pipeline import run_tagger
    from core.tagger.run import TaggerConfig

    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / data.name
        shutil.copytree(data / "cache", ds / "cache")
        shutil.copyfile(data / "catalog.csv", ds / "catalog.csv")
        cfg = TaggerConfig(n_boot=100)
        cfg.train.progress = False
        t0 = time.perf_counter()
        res = run_tagger(ds, cfg, log=lambda m: None)
        wall = time.perf_counter() - t0
    return {"full_run_wall_s": wall, "fit_wall_s": res.fit.wall_s, "epochs": res.fit.epochs,
            "stopped": res.fit.stopped_reason, "target_s": 300.0, "ratio_to_target": wall / 300.0}


def finetune_estimate(batch: int = 8, tokens: int = 256, n_songs: int = 459, epochs: int = 5) -> dict:
    """Seconds of one MiniLM forward+backward on `batch` texts of `tokens` tokens, extrapolated to fine-tuning."""
    from core.text.encoders import load_text_encoder

    enc = load_text_encoder("minilm")
    bert = enc.model[0].auto_model
    bert.train()
    ids = torch.randint(1000, 20000, (batch, tokens))
    mask = torch.ones_like(ids)
    opt = torch.optim.AdamW(bert.parameters(), 2e-5)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = bert(input_ids=ids, attention_mask=mask).last_hidden_state.mean()
        opt.zero_grad()
        out.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    step = sorted(times)[1]
    per_epoch = step * n_songs / batch
    return {"finetune_step_s": step, "batch": batch, "tokens": tokens, "epoch_s_estimate": per_epoch,
            "epochs": epochs, "total_s_estimate": per_epoch * epochs}


def main(argv: list[str] | None = None) -> int:
    """Run the requested measurements and print them as JSON."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_tagger", description=__doc__)
    ap.add_argument("--data", type=Path, default=None, help="prepared dataset (default: synthetic windows)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full-run", action="store_true", help="also train to early stop on a copy of --data")
    ap.add_argument("--finetune-estimate", action="store_true", help="also time MiniLM fine-tuning steps")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    res = {"load_avg_1min": os.getloadavg()[0], "threads": args.threads, "data": str(args.data or "synthetic"),
           **throughput(args.data, args.batch, args.steps)}
    if args.full_run and args.data is not None:
        res.update(full_run(args.data))
    if args.finetune_estimate:
        res.update(finetune_estimate())
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
