"""Several prepared datasets as one: their segments side by side in a new prepared folder.

Each source keeps its own train/val/test split, except that the union is made artist-disjoint: an
artist found in more than one split (within a source, or shared by two sources) has all its tracks
moved to the split holding most of them (ties: train, then val). Track ids get the source's folder
name as a prefix so they cannot collide, and a `dataset` column says where each track came from.
The audio settings of all sources must match. The new folder is built beside the old one and swapped in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.audio.cache import FeatureCache, cache_built_aside, load_catalog
from core.io import atomic_write_text, write_json


def _sources_note(fcs: dict[Path, FeatureCache]) -> list[dict[str, object]]:
    """What the combined folder was made from (folder and segment count), to reuse it when unchanged."""
    return [{"dir": str(d.resolve()), "segments": int(len(fc.segments))} for d, fc in fcs.items()]


def _parts(fcs: dict[Path, FeatureCache]) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Catalogs and segment tables with ids prefixed and rows/segments offset into the union."""
    cats, segs, n_rows, n_segs = [], [], 0, 0
    for d, fc in fcs.items():
        cat = load_catalog(fc.cache_dir if (fc.cache_dir / "catalog.csv").exists() else d).copy()
        prefix = f"{d.name}/"
        cat["track_id"] = prefix + cat["track_id"].astype(str)
        cat["dataset"] = d.name
        ok = cat["row"] >= 0
        cat.loc[ok, "row"] = cat.loc[ok, "row"] + n_rows
        seg = fc.segments.copy()
        seg["track_id"] = prefix + seg["track_id"].astype(str)
        seg["row"] += n_rows
        seg["segment"] += n_segs
        n_rows += int(ok.sum())
        n_segs += len(seg)
        cats.append(cat)
        segs.append(seg)
    return cats, segs


def artist_disjoint(catalog: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The catalog with every named artist in one split only; returns it and how many tracks moved."""
    out = catalog.copy()
    key = out["artist"].astype(str).str.strip().str.lower()
    named = ~key.isin(["", "nan", "unknown", "none"])
    order = {"train": 0, "val": 1, "test": 2}
    moved = 0
    for _, idx in out[named].groupby(key[named]).groups.items():
        splits = out.loc[idx, "split"]
        if splits.nunique() < 2:
            continue
        counts = splits.value_counts()
        target = min(counts.index, key=lambda sp: (-counts[sp], order.get(sp, 9)))
        moved += int((splits != target).sum())
        out.loc[idx, "split"] = target
    return out, moved


def combine_datasets(dirs: list[Path], out: Path) -> Path:
    """Write `out` as a prepared dataset holding every segment of `dirs` (one dir: returned as is).

    The new cache is written in a folder beside `out/cache` and swapped in at the end (as train.prepare's
    merge does), so a reader never sees a half-written folder and a failed or killed run leaves the previous
    combined dataset as it was."""
    dirs = [Path(d) for d in dirs]
    if len(dirs) == 1:
        return dirs[0]
    opened = {d: FeatureCache.open(d) for d in dirs}
    if len({fc.config for fc in opened.values()}) != 1:
        raise ValueError("the datasets were prepared with different audio settings: "
                         + "; ".join(f"{d}: {fc.config}" for d, fc in opened.items()))
    note = _sources_note(opened)
    out = Path(out)
    sources = out / "cache" / "sources.json"
    if sources.exists() and json.loads(sources.read_text())[:-1] == note:
        return out
    with cache_built_aside(out) as tmp:
        catalog = _write_union(tmp, opened, note)
    atomic_write_text(out / "catalog.csv", catalog.to_csv(index=False))
    return out


def _write_union(cache: Path, opened: dict[Path, FeatureCache], note: list[dict[str, object]]) -> pd.DataFrame:
    """Write the union's mels, baseline, config, segments, artist-disjoint catalog and sources note into the
    (new) cache folder `cache`; returns the catalog."""
    cats, segs = _parts(opened)
    fcs = list(opened.values())
    cfg = fcs[0].config
    mels = np.lib.format.open_memmap(cache / "mels.npy", mode="w+", dtype=np.float16,
                                     shape=(sum(len(s) for s in segs), cfg.n_mels, cfg.segment_frames))
    s = 0
    for fc in fcs:
        src = fc.mels
        for i in range(0, len(src), 256):
            block = np.asarray(src[i : i + 256])
            mels[s : s + len(block)] = block
            s += len(block)
    mels.flush()
    del mels
    names = fcs[0].baseline_names
    base = [fc.baseline if fc.baseline_names == names else np.zeros((len(fc.tracks), len(names)), np.float32)
            for fc in fcs]
    np.save(cache / "baseline_raw.npy", np.concatenate(base).astype(np.float32))
    (cache / "baseline_names.json").write_text(json.dumps(names))
    (cache / "config.json").write_text((fcs[0].cache_dir / "config.json").read_text())
    pd.concat(segs, ignore_index=True).to_csv(cache / "segments.csv", index=False)
    catalog, moved = artist_disjoint(pd.concat(cats, ignore_index=True))
    catalog.to_csv(cache / "catalog.csv", index=False)
    write_json(cache / "sources.json", [*note, {"moved_for_artist_disjoint_split": moved}])
    return catalog
