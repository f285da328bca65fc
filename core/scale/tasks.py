"""Adapters that run a system's per-track (or per-batch) task function on an engine.

`prepare_dataset` calls `engine.map(process_track, ...)` itself (core/audio/prepare.py::run_tracks). The
embedding job's task is `core.encoders.embed.embed_batch(ds_dir, [(track_id, path), ...], encoders,
weights_dir, device, batch, max_seconds) -> list[TrackStatus]`; `embed_batches` maps it over an engine and
turns a batch whose task did not finish (its worker died, it raised) into one "skipped" status per
(track, encoder) carrying the reason, so the run goes on and assembles what it has.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.scale.engine import Engine, TaskFailure


def embed_batches(engine: Engine, batches: Sequence[tuple], desc: str = "embed", progress: bool = True) -> list:
    """`embed_batch(*args)` for every args tuple of `batches` on `engine`; the TrackStatus of every
    (track, encoder), in batch order. Encoders are loaded once per worker process (`cached_encoder`)."""
    from core.encoders.embed import TrackStatus, embed_batch

    statuses: list = []
    for args, result in zip(batches, engine.map(embed_batch, batches, desc=desc, progress=progress), strict=True):
        if isinstance(result, TaskFailure):
            tracks, encoders = args[1], args[2]
            statuses += [TrackStatus(tid, name, "skipped", result.reason) for tid, _ in tracks for name in encoders]
        else:
            statuses += result
    return statuses
