"""What the learned path of the T x C model adds: every T x C size of a finished latent-size study measured
on the study's own test segments twice, as trained and with its learned (convolutional) path switched off,
which leaves the linear code (the principal components of the training frames).

    python -m benchmarks.bench_latent_paths --data artifacts/gtzan_emotion [--gl-iter 48]

Reads `<data>/recon/index.json` and `metrics_per_clip.csv` (the segments) and the checkpoints; prints one
row per size and path (mean ± 95 % CI of LSD, onset r, chroma cosine, mel distance) and writes
`<data>/recon/paths.csv`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.audio.cache import FeatureCache  # noqa: E402
from core.latent.evaluate import reconstruct_refs  # noqa: E402
from core.latent.griffinlim import GriffinLimConfig  # noqa: E402
from core.latent.model import load_recon_model  # noqa: E402
from core.latent.segments import AudioCache, segment_refs  # noqa: E402
from core.latent.study import ci95  # noqa: E402

MEASURES = ("lsd_db", "onset_corr", "chroma_cos", "mel_distance")


def switch_off_learned_path(net: torch.nn.Module) -> None:
    """Zero the last layer of the learned encoder and decoder paths (the model's state at the start of
    training): what is left is the linear code."""
    with torch.no_grad():
        for last in (net.encoder[-1], net.decoder[-1]):
            last.weight.zero_()
            last.bias.zero_()


def main(argv: list[str] | None = None) -> int:
    """Measure each T x C size with and without its learned path; print and write paths.csv."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="dataset folder of a finished study")
    ap.add_argument("--gl-iter", type=int, default=None, help="Griffin-Lim iterations (default: the study's)")
    args = ap.parse_args(argv)
    torch.set_flush_denormal(True)
    recon = args.data / "recon"
    index = json.loads((recon / "index.json").read_text())
    per_clip = pd.read_csv(recon / "metrics_per_clip.csv")
    segments = set(per_clip.loc[per_clip["size"].astype(str) == "oracle", "segment"].astype(int))
    fc = FeatureCache.open(args.data)
    refs = [r for r in segment_refs(fc) if r.segment in segments]
    gl = GriffinLimConfig(n_iter=args.gl_iter or index["griffin_lim"]["n_iter"], seed=index["griffin_lim"]["seed"])
    audio, rows = AudioCache(fc.config), []
    for size, kind in index["kinds"].items():
        if kind != "time_conv":
            continue
        for path in ("linear + learned", "linear only"):
            net, stats = load_recon_model(args.data, int(size), kind)
            if path == "linear only":
                switch_off_learned_path(net)
            df, _ = reconstruct_refs(net, stats, fc, refs, audio, gl, desc=f"z={size} {path}")
            row = {"size": int(size), "path": path, "n_segments": len(df)}
            for m in MEASURES:
                row[m], row[f"{m}_ci95"] = float(df[m].mean()), ci95(df[m].to_numpy())
            rows.append(row)
            figures = "  ".join(f"{m} {row[m]:.3f} ± {row[m + '_ci95']:.3f}" for m in MEASURES)
            print(f"z={size:>5} {path:17s} {figures}", flush=True)
    pd.DataFrame(rows).to_csv(recon / "paths.csv", index=False)
    print(f"wrote {recon / 'paths.csv'} ({len(refs)} test segments)")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
