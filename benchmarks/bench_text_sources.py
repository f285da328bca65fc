"""Which text sources help the general text-search model, judged on **validation** figures only:
`python -m benchmarks.bench_text_sources --data artifacts/musiccaps_mini --data artifacts/gtzan_mini
--data artifacts/demo --data artifacts/emotion4q`.

Trains one projection per source set (same seed, same datasets, text vectors encoded once) and prints, per set,
the val split's mood-quadrant P@10 (emotion4q), genre P@10 (GTZAN) and caption R@10 (MusicCaps), with chance.
Writes <out>/sources.json; `--settings` compares training settings (every source) into <out>/settings.json.
Test figures come from `python -m train.text_model` with the chosen sources.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SOURCE_SETS = {
    "captions": ("caption",),
    "captions+aspects": ("caption", "aspects"),
    "+genre": ("caption", "aspects", "genre"),
    "+moods": ("caption", "aspects", "genre", "moods"),
    "+mood_genre": ("caption", "aspects", "genre", "moods", "mood_genre"),
    "all (+template)": ("caption", "aspects", "genre", "moods", "mood_genre", "template"),
}


SETTINGS = {  # with every source: training settings, judged on the same val figures
    "lr 3e-4": {"lr": 3e-4},
    "lr 1e-4": {"lr": 1e-4},
    "dropout 0.5": {"dropout": 0.5},
    "batch 256": {"batch_size": 256},
    "every pair once per epoch": {"sampling": "pairs"},
    "every pair, lr 3e-4": {"sampling": "pairs", "lr": 3e-4},
    "balanced datasets": {"sampling": "datasets"},
    "pooled val loss": {"val_per_dataset": False},
    "defaults": {},
}


def dev_copy(ds: Path, n: int, out: Path, seed: int = 0) -> Path:
    """A copy of a prepared dataset (cache, catalog, embeddings) with `n` of its train clips moved to val: a
    bigger validation pool for choosing settings when the dataset's own val split is tiny (MusicCaps mini has 12
    val clips). The test split is left as it is and never looked at."""
    import shutil

    import numpy as np
    import pandas as pd

    dst = out / "dev" / ds.name
    if dst.exists():
        shutil.rmtree(dst)
    (dst / "cache").mkdir(parents=True)
    for f in (ds / "cache").iterdir():
        shutil.copy2(f, dst / "cache" / f.name)
    shutil.copytree(ds / "embeddings", dst / "embeddings")
    cat = pd.read_csv(ds / "cache" / "catalog.csv", dtype=str, keep_default_na=False)
    train = np.flatnonzero(cat["split"].to_numpy() == "train")
    moved = np.random.default_rng(seed).choice(train, size=min(n, len(train) - 2), replace=False)
    cat.loc[moved, "split"] = "val"
    for path in (dst / "cache" / "catalog.csv", dst / "catalog.csv"):
        cat.to_csv(path, index=False)
    return dst


def val_figures(model, datasets: list[Path], n_boot: int) -> dict[str, float]:
    """The headline val figure of each dataset (mean P@10 or caption R@10) and its chance."""
    from core.text.zeroshot import evaluate_dataset

    out = {}
    for ds in datasets:
        try:
            res = evaluate_dataset(model, ds, "val", n_boot)
        except ValueError:
            continue
        if res["kind"] == "caption":
            out[ds.name] = (res["text_to_audio"]["R@10"]["mean"], res["chance_text_to_audio"]["R@10"])
            out[f"{ds.name} R@1"] = (res["text_to_audio"]["R@1"]["mean"], res["chance_text_to_audio"]["R@1"])
        elif "P@10" in res["mean"]:
            out[ds.name] = (res["mean"]["P@10"]["mean"], res["mean"]["chance"])
    return out


def configs(settings: bool) -> dict[str, object]:
    """The TextModelConfig of each compared source set (or training setting)."""
    from core.text.general import TextModelConfig

    if not settings:
        return {name: TextModelConfig(sources=sources) for name, sources in SOURCE_SETS.items()}
    out = {}
    for name, change in SETTINGS.items():
        cfg = TextModelConfig()
        for key, value in change.items():
            setattr(cfg.train if key in ("lr", "batch_size") else cfg, key, value)
        out[name] = cfg
    return out


def main(argv: list[str] | None = None) -> int:
    """Train each source set, print and save its val figures."""
    from core.text.encoders import load_text_encoder
    from core.text.general import fit_projection
    from core.text.query import load_text_model

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_text_sources", description=__doc__)
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--out", type=Path, default=Path("artifacts/text_models/sweep"))
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--settings", action="store_true", help="compare training settings (all sources) instead")
    ap.add_argument("--dev", action="append", default=[], metavar="NAME=N",
                    help="move N train clips of the dataset NAME to val for this comparison (a bigger val pool)")
    ap.add_argument("--only", default="", help="run only the set (or setting) of this name")
    args = ap.parse_args(argv)
    enc = load_text_encoder("minilm")
    dev = dict(item.split("=") for item in args.dev)
    args.data = [dev_copy(d, int(dev[d.name]), args.out) if d.name in dev else d for d in args.data]
    rows = {}
    for name, cfg in configs(args.settings).items():
        if args.only and name != args.only:
            continue
        out = args.out / name.replace("+", "plus_").replace(" ", "_").replace("(", "").replace(")", "")
        fitted = fit_projection(args.data, out, cfg, enc, progress=False, cache_dir=args.out / "text_cache")
        model = load_text_model(out)
        model.encoder = enc
        rows[name] = {**val_figures(model, args.data, args.n_boot), "best_epoch": (fitted.fit.best_epoch, 0)}
        print(name, {k: f"{v[0]:.3f} (chance {v[1]:.3f})" for k, v in rows[name].items()}, flush=True)
    name = ("settings" if args.settings else "sources") + ("_" + args.only.replace(" ", "_") if args.only else "")
    (args.out / f"{name}.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
