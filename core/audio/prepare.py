"""The prepare job: catalog -> decoded audio -> log-mels + baseline -> merged feature cache.

Work is per track and idempotent: a track whose part file holds a success for the same
source file and audio settings is skipped, so a killed run resumes where it stopped;
failures are tried again on every run. Tracks are
sharded by a stable hash of their id (`shard=(i, n)`), and a final merge assembles the
cache from the parts of every shard. A bad file never stops the job: its reason is
stored in its part and in the catalog's `status`, and counted in the summary.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.audio.cache import merge_parts, part_path, read_part_meta, source_fingerprint, write_part
from core.audio.config import DEFAULT_AUDIO, AudioConfig
from core.audio.decode import AudioError, load_audio, peak_abs
from core.audio.features import analyze, baseline_names
from core.io import atomic_write_text
from core.scale.engine import Engine, EngineConfig, TaskFailure
from core.scale.open import open_engine

SILENCE_PEAK = 1e-4  # -80 dBFS


@dataclass
class PrepareResult:
    """What one prepare run did: how many tracks it computed or reused, and the final catalog."""

    computed: int = 0
    reused: int = 0
    catalog: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)


def shard_of(track_id: str, n: int) -> int:
    """Stable shard number of a track id among n shards."""
    return int(hashlib.sha1(track_id.encode()).hexdigest()[:8], 16) % n


def process_track(track_id: str, path: str, out_file: str, fingerprint: str, cfg: AudioConfig) -> str:
    """Decode and analyse one track, write its part file; return its status ('ok' or reason)."""
    mel = np.zeros((cfg.n_mels, 0), np.float16)
    base = np.zeros(len(baseline_names()), np.float32)
    duration = 0.0
    try:
        audio = load_audio(path, cfg)
        duration = audio.size / cfg.sample_rate
        if duration < cfg.min_duration_s:
            raise AudioError(f"too short ({duration:.2f} s < {cfg.min_duration_s:.1f} s minimum)")
        if peak_abs(audio) < SILENCE_PEAK:
            raise AudioError("silent (peak below -80 dBFS)")
        mel32, base = analyze(audio, cfg)
        mel = mel32.astype(np.float16)
        status = "ok"
    except AudioError as exc:
        status = str(exc)
    except Exception as exc:  # never let one file stop the batch
        status = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
    write_part(Path(out_file), mel=mel, baseline=base, status=np.array(status),
               fingerprint=np.array(fingerprint), duration_s=np.array(duration))
    return status


def needs_compute(part_file: Path, fingerprint: str) -> bool:
    """Whether a track must be (re)computed: only a readable part holding a success for the same
    source file and settings is reused; a failure or a bad-file reason is tried again on every
    run (a fixed permission or a newer decoder changes no file's size or mtime)."""
    meta = read_part_meta(part_file) if Path(part_file).exists() else None
    return meta is None or meta["fingerprint"] != fingerprint or meta["status"] != "ok"


def record_failure(track_id: str, path: str, out_file: str, fingerprint: str, cfg: AudioConfig,
                   reason: str) -> str:
    """Write the part of a track whose task never finished (its worker died), so the merge lists the reason."""
    write_part(Path(out_file), mel=np.zeros((cfg.n_mels, 0), np.float16),
               baseline=np.zeros(len(baseline_names()), np.float32), status=np.array(reason),
               fingerprint=np.array(fingerprint), duration_s=np.array(0.0))
    return reason


def run_tracks(todo: list[tuple], engine: Engine | None, workers: int, desc: str, progress: bool) -> dict[str, str]:
    """`process_track(*args)` for every todo item on `engine` (default: a local pool of `workers`);
    {track_id: status}. A track whose task did not finish gets a part with the reason."""
    eng = engine or open_engine(EngineConfig(engine="local", workers=workers))
    try:
        results = eng.map(process_track, todo, desc=desc, progress=progress)
    finally:
        if engine is None:
            eng.close()
    return {args[0]: record_failure(*args, reason=r.reason) if isinstance(r, TaskFailure) else r
            for args, r in zip(todo, results)}


def prepare_dataset(
    catalog: pd.DataFrame,
    out_dir: Path,
    cfg: AudioConfig = DEFAULT_AUDIO,
    workers: int | None = None,
    shard: tuple[int, int] = (0, 1),
    compute: bool = True,
    merge: bool = True,
    progress: bool = True,
    engine: Engine | None = None,
) -> PrepareResult:
    """Compute missing/changed parts of this shard (if `compute`) and (if `merge`) assemble
    the cache, catalog.csv and prepare_summary.json under `out_dir`. Tracks run on `engine`
    (core.scale: a local pool or a Dask cluster; default a local pool of `workers` processes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    index, n_shards = shard
    todo, reused = [], 0
    for rec in catalog.itertuples():
        if not compute or rec.status != "ok" or shard_of(rec.track_id, n_shards) != index:
            continue
        fp = source_fingerprint(rec.path, cfg)
        pfile = part_path(out_dir, rec.track_id)
        if not needs_compute(pfile, fp):
            reused += 1
            continue
        todo.append((rec.track_id, rec.path, str(pfile), fp, cfg))
    workers = max(1, workers or os.cpu_count() or 1)
    run_tracks(todo, engine, workers, f"prepare {out_dir.name}", progress)
    result = PrepareResult(computed=len(todo), reused=reused)
    if merge:
        final = merge_parts(out_dir, catalog, cfg, baseline_names())
        final.to_csv(out_dir / ".catalog.tmp", index=False)
        os.replace(out_dir / ".catalog.tmp", out_dir / "catalog.csv")
        result.catalog = final
        result.summary = summarize_run(final, computed=len(todo), reused=reused, seconds=time.time() - t0)
        atomic_write_text(out_dir / "prepare_summary.json", json.dumps(result.summary, indent=2))
    return result


def summarize_run(catalog: pd.DataFrame, computed: int, reused: int, seconds: float) -> dict:
    """Counts per status, the skipped files with their reasons, and timings."""
    skipped = catalog[catalog["status"] != "ok"]
    return {
        "tracks": int(len(catalog)),
        "ok": int((catalog["status"] == "ok").sum()),
        "skipped": int(len(skipped)),
        "computed_this_run": computed,
        "reused_from_earlier_runs": reused,
        "seconds": round(seconds, 2),
        "reasons": dict(Counter(_reason_kind(s) for s in skipped["status"])),
        "skipped_files": skipped[["track_id", "path", "status"]].to_dict("records"),
    }


def _reason_kind(status: str) -> str:
    """The reason of a status without its details in parentheses, for counting."""
    return status.split(" (")[0]
