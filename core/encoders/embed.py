"""Resumable embedding of a prepared dataset with frozen encoders.

Per track and encoder a part file `<ds>/frame_parts/<encoder>/<track>.npz` (frames, embedding, tag scores)
is written atomically, so a killed run continues where it stopped; each catalog file is decoded once per
encoder sample rate. `embed_track` / `embed_batch` are plain module-level functions with the loaded encoders
cached per process (what a process pool or a Dask worker runs). `assemble` turns the parts into
`embeddings/pretrained_<encoder>.npy` (embeddings contract, standardised on train) and `frames/<encoder>.*`.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.audio.config import AudioConfig
from core.audio.decode import AudioError, load_audio
from core.encoders.base import AudioEncoder, EncoderError
from core.encoders.frames import FrameInfo, write_frames
from core.encoders.registry import load_encoder
from core.encoders.weights import WEIGHT_FILES, sha256_of
from core.io import write_json
from core.scale.engine import Engine, EngineConfig, TaskFailure
from core.scale.open import open_engine

PARTS_DIR = "frame_parts"


@dataclass
class EmbedConfig:
    """What `python -m train.embed` does: which encoders, where the weights are, device, batching."""

    encoders: tuple[str, ...] = ("fcn_msd", "musicnn_mtat", "efficientat_mn04")
    weights_dir: str | None = None
    device: str = "cpu"
    batch: int = 8  # tracks decoded and encoded together
    workers: int | None = None  # processes; None: default_workers (all cores on a large collection)
    max_seconds: float | None = None  # decode at most this much of each file (None: whole file)
    progress: bool = True


@dataclass
class TrackStatus:
    """What happened to one (track, encoder): "done" (computed), "reused" (part existed) or "skipped"."""

    track_id: str
    encoder: str
    status: str
    reason: str = ""


@dataclass
class EncoderSummary:
    """One encoder's run over a dataset."""

    encoder: str
    done: int = 0
    reused: int = 0
    skipped: list[dict] = field(default_factory=list)
    embedding: str = ""
    frames: str = ""


@dataclass
class EmbedSummary:
    """The whole run (written as `<ds>/embed_summary.json`)."""

    dataset: str
    seconds: float = 0.0
    encoders: list[EncoderSummary] = field(default_factory=list)


def safe_name(track_id: str) -> str:
    """File-name-safe form of a track id."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(track_id)) or "_"


BATCHES_PER_WORKER = 8  # a worker process costs a torch import and a weights load (~2-3 CPU-s): worth it from here


def default_workers(n_tracks: int, batch: int, cores: int | None = None) -> int:
    """Processes for `n_tracks` when none are asked for: every core (each worker one torch thread), but no more
    than one per `BATCHES_PER_WORKER` batches, so a small collection runs in this one process."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, -(-n_tracks // max(1, batch)) // BATCHES_PER_WORKER))


def part_file(ds_dir: Path | str, encoder: str, track_id: str) -> Path:
    """Where one track's part for one encoder lives."""
    return Path(ds_dir) / PARTS_DIR / encoder / f"{safe_name(track_id)}.npz"


def cached_encoder(name: str, weights_dir: str | None, device: str, batch: int) -> AudioEncoder:
    """The encoder `name`, loaded once per process (again when its weights file changes on disk)."""
    return _cached_encoder(name, weights_dir, device, batch, _weights_stamp(name, weights_dir))


@lru_cache(maxsize=16)
def _cached_encoder(name: str, weights_dir: str | None, device: str, batch: int, stamp: tuple) -> AudioEncoder:
    return load_encoder(name, weights_dir, device, batch)


cached_encoder.cache_info = _cached_encoder.cache_info  # type: ignore[attr-defined]  # loads per process


def _weights_stamp(name: str, weights_dir: str | None) -> tuple:
    """(inode, size, mtime) of an encoder's weights file, () when it cannot be found (the load says why)."""
    from core.encoders.registry import SPECS
    from core.encoders.weights import WeightsError, resolve_weights_dir

    try:
        st = WEIGHT_FILES[SPECS[name].weights].local(resolve_weights_dir(weights_dir)).stat()
    except (KeyError, OSError, WeightsError):
        return ()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def weights_key(enc: AudioEncoder) -> str:
    """SHA-256 of the weights an encoder was loaded from (parts are only reused for the same weights)."""
    return str(enc.extra.get("weights_sha256", ""))


def _part_valid(path: Path, source: str, weights: str) -> bool:
    try:
        with np.load(path) as z:
            return (str(z["source"]) == source and "weights" in z and str(z["weights"]) == weights
                    and z["embedding"].ndim == 1 and bool(np.isfinite(z["embedding"]).all()))
    except Exception:  # unreadable part: recompute it
        return False


def _finite(out) -> bool:
    return all(bool(np.isfinite(np.asarray(a, np.float64)).all()) for a in (out.frames, out.embedding, out.scores))


def _write_part(path: Path, source: str, weights: str, out) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, frames=out.frames.astype(np.float32), embedding=out.embedding, scores=out.scores,
             source=np.array(source), weights=np.array(weights))
    tmp.replace(path)


def embed_batch(ds_dir: str, tracks: list[tuple[str, str]], encoders: tuple[str, ...], weights_dir: str | None,
                device: str = "cpu", batch: int = 8, max_seconds: float | None = None) -> list[TrackStatus]:
    """Encode `tracks` [(track_id, audio path)] with `encoders` (all at one sample rate), writing one part
    per (track, encoder); existing valid parts are reused. Each file is decoded once. Never raises for a bad
    file: its status is "skipped" with the reason."""
    encs = [cached_encoder(n, weights_dir, device, batch) for n in encoders]
    rate = encs[0].sample_rate
    if any(e.sample_rate != rate for e in encs):
        raise EncoderError("embed_batch needs encoders of one sample rate")
    out: list[TrackStatus] = []
    todo: list[tuple[str, str, np.ndarray]] = []
    for tid, path in tracks:
        need = [e for e in encs if not _part_valid(part_file(ds_dir, e.name, tid), str(path), weights_key(e))]
        out += [TrackStatus(tid, e.name, "reused") for e in encs if e not in need]
        if not need:
            continue
        try:
            todo.append((tid, path, load_audio(path, AudioConfig(sample_rate=rate), max_seconds=max_seconds)))
        except AudioError as exc:
            out += [TrackStatus(tid, e.name, "skipped", str(exc)) for e in need]
    for enc in encs:
        mine = [t for t in todo if not _part_valid(part_file(ds_dir, enc.name, t[0]), str(t[1]), weights_key(enc))]
        out += _encode(ds_dir, enc, mine)
    return out


def _encode(ds_dir: str, enc: AudioEncoder, todo: list[tuple[str, str, np.ndarray]]) -> list[TrackStatus]:
    """Run one encoder over decoded tracks (batched; one by one again if the batch fails)."""
    if not todo:
        return []
    try:
        results = enc.analyse_many([a for _, _, a in todo])
    except Exception:  # one bad track must not sink the batch: retry each alone
        return [s for t in todo for s in _encode_one(ds_dir, enc, t)]
    out = []
    for (tid, path, _), res in zip(todo, results, strict=True):
        out.append(_keep(ds_dir, enc, tid, path, res))
    return out


def _keep(ds_dir: str, enc: AudioEncoder, tid: str, path: str, res) -> TrackStatus:
    """Write one track's part, unless the encoder gave NaN or infinite numbers (then: skipped, nothing kept)."""
    if not _finite(res):
        part_file(ds_dir, enc.name, tid).unlink(missing_ok=True)
        return TrackStatus(tid, enc.name, "skipped", "the encoder gave NaN or infinite values (corrupt weights?)")
    _write_part(part_file(ds_dir, enc.name, tid), str(path), weights_key(enc), res)
    return TrackStatus(tid, enc.name, "done")


def _encode_one(ds_dir: str, enc: AudioEncoder, t: tuple[str, str, np.ndarray]) -> list[TrackStatus]:
    tid, path, audio = t
    try:
        res = enc.analyse(audio)
    except Exception as exc:  # recorded as the track's reason, never raised
        return [TrackStatus(tid, enc.name, "skipped", f"encoder failed: {type(exc).__name__}: {exc}")]
    return [_keep(ds_dir, enc, tid, path, res)]


def embed_track(ds_dir: str, track_id: str, path: str, encoders: tuple[str, ...], weights_dir: str | None,
                device: str = "cpu", max_seconds: float | None = None) -> list[TrackStatus]:
    """One track through `encoders` (one sample rate): the per-track task function."""
    return embed_batch(ds_dir, [(track_id, path)], encoders, weights_dir, device, 1, max_seconds)


def weights_record(enc: AudioEncoder, weights_dir: str | None) -> dict:
    """Which weights file an embedding came from (relative path, SHA-256)."""
    from core.encoders.registry import SPECS
    from core.encoders.weights import resolve_weights_dir

    wf = WEIGHT_FILES[SPECS[enc.name].weights]
    sha = weights_key(enc) or sha256_of(wf.local(resolve_weights_dir(weights_dir)))
    return {"file": wf.path, "sha256": sha, "source": wf.url, "licence": wf.licence}


def read_parts(ds_dir: Path | str, encoder: str, track_ids: list[str], paths: list[str], weights: str
               ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """{row: frames} and {row: embedding} of every track with a valid part made with `weights` (SHA-256)."""
    frames, embs = {}, {}
    for row, (tid, path) in enumerate(zip(track_ids, paths, strict=True)):
        p = part_file(ds_dir, encoder, tid)
        if p.exists() and _part_valid(p, str(path), weights):
            with np.load(p) as z:
                frames[row], embs[row] = z["frames"], z["embedding"]
    return frames, embs


def stored_embeddings(ds_dir: Path | str, encoder: str, track_ids: list[str], paths: list[str]
                      ) -> dict[int, np.ndarray]:
    """{row: raw pooled embedding} of every track whose part (computed by `train.embed` from the whole track at
    the encoder's own rate, before standardisation) is valid for its current file; frames are not read."""
    out = {}
    for row, (tid, path) in enumerate(zip(track_ids, paths, strict=True)):
        p = part_file(ds_dir, encoder, tid)
        if not p.exists():
            continue
        try:
            with np.load(p) as z:
                if str(z["source"]) == str(path) and z["embedding"].ndim == 1:
                    out[row] = np.asarray(z["embedding"])
        except Exception:  # an unreadable part: the caller re-embeds that track
            continue
    return out


def assemble(ds_dir: Path | str, enc: AudioEncoder, weights_dir: str | None, skipped: list[dict]) -> tuple[str, str]:
    """Write `embeddings/pretrained_<enc>.npy` + sidecar and `frames/<enc>.*` from the parts."""
    from core.audio.cache import FeatureCache
    from core.recommend.embeddings import finalise, write_embedding

    fc = FeatureCache.open(ds_dir)
    tids = fc.tracks["track_id"].astype(str).tolist()
    frames, embs = read_parts(ds_dir, enc.name, tids, fc.tracks["path"].astype(str).tolist(), weights_key(enc))
    raw = np.zeros((len(tids), enc.dim), np.float32)
    for row, e in embs.items():
        raw[row] = e
    missing = [r for r in range(len(tids)) if r not in embs]
    if len(missing) == len(tids):
        raise EncoderError(f"{enc.name}: no track could be embedded")
    wrec = weights_record(enc, weights_dir)
    meta = {"family": "pretrained", "encoder": enc.name, "weights": wrec, "checkpoint": wrec["file"],
            "pooling": _pooling_text(enc), "config": enc.describe(), "missing_rows": missing, "skipped": skipped}
    emb_path = write_embedding(ds_dir, f"pretrained_{enc.name}", finalise(raw, fc, missing), meta)
    info = FrameInfo(encoder=enc.name, dim=enc.dim, sample_rate=enc.sample_rate, hop_s=enc.hop_s,
                     weights=wrec["file"])
    fr_path = write_frames(ds_dir, enc.name, frames, tids, info)
    return str(emb_path), str(fr_path)


def _pooling_text(enc: AudioEncoder) -> str:
    how = {"fcn": "the model's own max pool over each ~29-s piece (max over pieces)",
           "crnn": "last GRU step of each ~29-s piece, mean over pieces",
           "musicnn": "mean of dense1 over back-to-back 3-s windows",
           "efficientat": "global average of the feature map -> penultimate (512-d), mean over pieces"}
    return how.get(enc.extra.get("family", ""), enc.pooling)


def summary_json(ds_dir: Path | str, summary: EmbedSummary) -> Path:
    """Write `<ds>/embed_summary.json`."""
    path = Path(ds_dir) / "embed_summary.json"
    write_json(path, asdict(summary))
    return path


def timed() -> float:
    """Monotonic seconds (for the summary)."""
    return time.perf_counter()


def rate_groups(cfg: EmbedConfig) -> dict[int, tuple[str, ...]]:
    """Encoders grouped by sample rate (each file is decoded once per group); loads each once here so a
    missing/foreign/corrupt weights file fails before any work."""
    groups: dict[int, list[str]] = {}
    for name in cfg.encoders:
        enc = cached_encoder(name, cfg.weights_dir, cfg.device, cfg.batch)
        groups.setdefault(enc.sample_rate, []).append(name)
    return {r: tuple(n) for r, n in groups.items()}


def embed_batches(engine: Engine, batches: list[tuple], desc: str = "embed", progress: bool = True
                  ) -> list[TrackStatus]:
    """`embed_batch(*args)` for every args tuple of `batches` on `engine` (core.scale: a local pool or a Dask
    cluster); the TrackStatus of every (track, encoder), in batch order. A batch whose task could not finish
    (its worker died twice) has every track skipped with that reason."""
    statuses: list[TrackStatus] = []
    for args, result in zip(batches, engine.map(embed_batch, batches, desc=desc, progress=progress), strict=True):
        if isinstance(result, TaskFailure):
            statuses += [TrackStatus(tid, name, "skipped", result.reason) for tid, _ in args[1] for name in args[2]]
        else:
            statuses += result
    return statuses


def _run_group(ds_dir: str, tracks: list[tuple[str, str]], names: tuple[str, ...], rate: int,
               cfg: EmbedConfig, engine: Engine) -> list[TrackStatus]:
    """Every track through the encoders of one sample rate, in batches of `cfg.batch` tracks."""
    batches = [tracks[i : i + cfg.batch] for i in range(0, len(tracks), cfg.batch)]
    args = [(ds_dir, b, names, cfg.weights_dir, cfg.device, cfg.batch, cfg.max_seconds) for b in batches]
    desc = f"embed {Path(ds_dir).name} {','.join(names)} @ {rate} Hz"
    return embed_batches(engine, args, desc=desc, progress=cfg.progress)


def assemble_all(ds_dir: Path | str, cfg: EmbedConfig, statuses: list[TrackStatus]) -> EmbedSummary:
    """Count `statuses` (from any runner: this process, a pool, a Dask cluster) and write every encoder's
    embedding and frame store from the parts, plus `embed_summary.json`."""
    summary = EmbedSummary(dataset=str(ds_dir))
    per_enc: dict[str, EncoderSummary] = {n: EncoderSummary(n) for n in cfg.encoders}
    for s in statuses:
        es = per_enc[s.encoder]
        if s.status == "skipped":
            es.skipped.append({"track_id": s.track_id, "reason": s.reason})
        else:
            setattr(es, s.status, getattr(es, s.status) + 1)
    for name, es in per_enc.items():
        enc = cached_encoder(name, cfg.weights_dir, cfg.device, cfg.batch)
        es.embedding, es.frames = assemble(ds_dir, enc, cfg.weights_dir, es.skipped)
        summary.encoders.append(es)
    return summary


def run_embed(ds_dir: Path | str, cfg: EmbedConfig, engine: Engine | None = None) -> EmbedSummary:
    """Embed every catalog track of a prepared dataset with `cfg.encoders` (resumable), then write the
    embeddings, frame stores and `embed_summary.json`. Tracks run on `engine` (default: a local pool of
    `cfg.workers`). Raises WeightsError/EncoderError before any work when an encoder cannot be loaded,
    FileNotFoundError when the dataset is not prepared."""
    from core.audio.cache import FeatureCache

    t0 = timed()
    fc = FeatureCache.open(ds_dir)
    tracks = list(zip(fc.tracks["track_id"].astype(str), fc.tracks["path"].astype(str), strict=True))
    for name in cfg.encoders:  # temp files of writes a killed run tore off
        for tmp in (Path(ds_dir) / PARTS_DIR / name).glob(".*.tmp.npz"):
            tmp.unlink(missing_ok=True)
    statuses: list[TrackStatus] = []
    workers = cfg.workers or default_workers(len(tracks), cfg.batch)
    eng = engine or open_engine(EngineConfig(engine="local", workers=workers))
    try:
        for rate, names in rate_groups(cfg).items():
            statuses += _run_group(str(ds_dir), tracks, names, rate, cfg, eng)
    finally:
        if engine is None:
            eng.close()
    summary = assemble_all(ds_dir, cfg, statuses)
    summary.seconds = round(timed() - t0, 2)
    summary_json(ds_dir, summary)
    return summary
