"""Benchmark of the execution engines (prints figures; not a timed test).

    .venv/bin/python benchmarks/bench_scale.py [--root ../shared/data/gtzan_mini] [--repeats 2] [--noop 400]

On GTZAN-layout clips (default ../shared/data/gtzan_mini: 100 clips x 15 s, 93 in the fault-filtered split)
it measures, in one run and into temporary folders:

* `prepare_dataset` with `--engine local --workers 2` (a fresh spawn pool per run: its start-up is part of
  the cost) and with `--engine dask` on a LocalCluster of 2 single-threaded worker processes (started once,
  like a cluster that already runs; the first run includes the workers' imports, later runs are warm):
  wall seconds, tracks per second, the throughput ratio dask/local (target >= 0.8);
* scheduler overhead per task: wall time of `--noop` empty tasks on each engine, per task;
* identical bytes: every cache file and catalog.csv of each run against the first local run;
* per track, single-threaded in this process: decode CPU-seconds, features (log-mel + baseline) CPU-seconds,
  per second of audio; cache bytes per track (merged cache/ and parts/) and per second of audio;
* index RAM per vector (`--index-n`, default 100,000 random unit vectors): FAISS IndexHNSWFlat (M=32) and
  IndexIVFPQ (16 sub-quantisers x 8 bits, 4*sqrt(n) cells) at d=64, the serialised size (what the index holds
  in RAM), against FAISS's per-vector costs (HNSW: 4d + 2M*4 link bytes + ~16; IVF-PQ: m code bytes + 8 id);
* where `core.encoders.embed` (train.embed's task) and the weights exist: embedding CPU-seconds per track of
  each `--encoders` encoder (decode at its rate + network, one thread, after loading it once), part bytes.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "gtzan_mini"
if not DEFAULT_ROOT.is_dir():
    DEFAULT_ROOT = Path("/work/shared/data/gtzan_mini")
CACHE_FILES = ["mels.npy", "segments.csv", "baseline_raw.npy", "baseline_names.json", "config.json", "catalog.csv"]


def noop(i: int) -> int:
    """An empty task: what is left of its wall time is the engine's own cost."""
    return i


def same_bytes(a: Path, b: Path) -> bool:
    """Every cache file and catalog.csv byte-identical."""
    files = [f"cache/{n}" for n in CACHE_FILES] + ["catalog.csv"]
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def timed_prepare(catalog, out: Path, engine) -> float:
    """Wall seconds of one prepare_dataset into a fresh folder."""
    from core.audio.prepare import prepare_dataset

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    prepare_dataset(catalog, out, engine=engine, progress=False)
    return time.perf_counter() - t0


def engine_runs(catalog, tmp: Path, address: str, repeats: int) -> dict:
    """Alternate local and dask prepares; wall seconds of each run and the bytes check."""
    from core.scale import EngineConfig, LocalEngine, open_engine

    local, dask, identical = [], [], []
    with open_engine(EngineConfig(engine="dask", scheduler=address)) as dask_engine:
        for r in range(repeats):
            local.append(timed_prepare(catalog, tmp / f"local{r}", LocalEngine(2)))
            dask.append(timed_prepare(catalog, tmp / f"dask{r}", dask_engine))
            identical += [same_bytes(tmp / "local0", tmp / f"local{r}"), same_bytes(tmp / "local0", tmp / f"dask{r}")]
    return {"local_s": local, "dask_s": dask, "identical": all(identical)}


def overhead(address: str, n: int) -> dict:
    """Seconds per empty task on each engine (2 workers)."""
    from core.scale import EngineConfig, LocalEngine, open_engine

    items = [(i,) for i in range(n)]
    t0 = time.perf_counter()
    LocalEngine(2).map(noop, items, progress=False)
    local = time.perf_counter() - t0
    with open_engine(EngineConfig(engine="dask", scheduler=address)) as eng:
        eng.map(noop, items[:20], progress=False)  # warm
        t0 = time.perf_counter()
        eng.map(noop, items, progress=False)
        dask = time.perf_counter() - t0
    return {"n": n, "local_pool_incl_spawn_s": local, "dask_s": dask, "dask_ms_per_task": 1000 * dask / n}


def per_track_costs(catalog, ref: Path, n: int) -> dict:
    """Single-threaded decode and feature CPU-seconds per track and per audio second; cache bytes."""
    from core.audio.config import DEFAULT_AUDIO
    from core.audio.decode import load_audio
    from core.audio.features import analyze
    from core.scale.state import one_thread

    ok = catalog[catalog.status == "ok"].head(n)
    dec, feat, secs = 0.0, 0.0, 0.0
    with one_thread():
        analyze(load_audio(ok.path.iloc[0], DEFAULT_AUDIO), DEFAULT_AUDIO)  # warm caches (filterbank, window)
        for path in ok.path:
            t0 = time.process_time()
            audio = load_audio(path, DEFAULT_AUDIO)
            t1 = time.process_time()
            analyze(audio, DEFAULT_AUDIO)
            t2 = time.process_time()
            dec, feat, secs = dec + t1 - t0, feat + t2 - t1, secs + audio.size / DEFAULT_AUDIO.sample_rate
    n_ok = int((ok.status == "ok").sum())
    cache_bytes = sum(f.stat().st_size for f in (ref / "cache").iterdir())
    part_bytes = sum(f.stat().st_size for f in (ref / "parts").glob("*.npz"))
    tracks = len(list((ref / "parts").glob("*.npz")))
    audio_s = float(__import__("pandas").read_csv(ref / "catalog.csv")["duration_s"].fillna(0).sum())
    return {"tracks_timed": n_ok, "audio_s_timed": secs, "decode_cpu_s_per_track": dec / n_ok,
            "features_cpu_s_per_track": feat / n_ok, "cpu_s_per_audio_s": (dec + feat) / secs,
            "cache_bytes_per_track": cache_bytes / tracks, "parts_bytes_per_track": part_bytes / tracks,
            "cache_bytes_per_audio_s": cache_bytes / audio_s, "parts_bytes_per_audio_s": part_bytes / audio_s}


def embed_costs(catalog, weights: Path, encoders: list[str], n: int, tmp: Path) -> dict:
    """Single-threaded CPU-seconds per track of `embed_track` for each encoder (its load not included)."""
    try:
        from core.encoders.embed import cached_encoder, embed_track, part_file
    except ImportError:
        return {"skipped": "core.encoders.embed is absent"}
    from core.scale.state import one_thread

    ok = catalog[catalog.status == "ok"].iloc[::max(1, int((catalog.status == "ok").sum()) // n)].head(n)
    out = {}
    with one_thread():
        for name in encoders:
            t0 = time.process_time()
            cached_encoder(name, str(weights), "cpu", 1)
            load = time.process_time() - t0
            embed_track(str(tmp / "warm"), ok.track_id.iloc[0], ok.path.iloc[0], (name,), str(weights))
            t0 = time.process_time()
            for rec in ok.itertuples():
                embed_track(str(tmp / name), rec.track_id, rec.path, (name,), str(weights))
            cpu = (time.process_time() - t0) / len(ok)
            size = sum(part_file(tmp / name, name, t).stat().st_size for t in ok.track_id) / len(ok)
            out[name] = {"cpu_s_per_track": cpu, "load_cpu_s": load, "part_bytes_per_track": size, "n": len(ok)}
    return out


def index_ram(n: int, d: int = 64, hnsw_m: int = 32, pq_m: int = 16) -> dict:
    """Serialised bytes per vector of HNSW-Flat and IVF-PQ built on n random unit vectors (one thread)."""
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(1)
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    out = {"n": n, "d": d}
    t0 = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(x)
    out["hnsw_build_s"] = time.perf_counter() - t0
    out["hnsw_bytes_per_vector"] = faiss.serialize_index(hnsw).size / n
    out["hnsw_formula_bytes"] = 4 * d + 2 * hnsw_m * 4 + 16
    del hnsw
    t0 = time.perf_counter()
    nlist = int(4 * np.sqrt(n))
    ivf = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
    ivf.train(x[: min(n, 256 * nlist)])
    ivf.add(x)
    out["ivfpq_build_s"] = time.perf_counter() - t0
    out["ivfpq_bytes_per_vector"] = faiss.serialize_index(ivf).size / n
    out["ivfpq_formula_bytes"] = pq_m + 8
    return out


def main() -> int:
    """Run every measurement; print a table and one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--noop", type=int, default=400)
    ap.add_argument("--weights", type=Path, default=DEFAULT_ROOT.parent / "weights")
    ap.add_argument("--encoders", default="fcn_msd,musicnn_mtat,efficientat_mn04")
    ap.add_argument("--embed-tracks", type=int, default=10)
    ap.add_argument("--index-n", type=int, default=100_000)
    ap.add_argument("--only-embed", action="store_true", help="skip the engine runs (embedding costs only)")
    ap.add_argument("--only-index", action="store_true", help="skip everything but the index RAM figures")
    args = ap.parse_args()
    from distributed import LocalCluster

    from core.audio.catalogs import build_catalog

    catalog = build_catalog("gtzan", args.root)
    n_ok = int((catalog.status == "ok").sum())
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale-"))
    if args.only_index:
        print(json.dumps({"index": index_ram(args.index_n), "load_avg_1min": os.getloadavg()[0]}))
        return 0
    if args.only_embed:
        emb = embed_costs(catalog, args.weights, args.encoders.split(","), args.embed_tracks, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps({"embed": emb, "load_avg_1min": os.getloadavg()[0]}))
        return 0
    try:
        emb = embed_costs(catalog, args.weights, args.encoders.split(","), args.embed_tracks, tmp / "embed")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as lc:
            runs = engine_runs(catalog, tmp, lc.scheduler_address, args.repeats)
            over = overhead(lc.scheduler_address, args.noop)
        costs = per_track_costs(catalog, tmp / "local0", 30)
        costs["index"] = index_ram(args.index_n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best_local, best_dask = min(runs["local_s"]), min(runs["dask_s"])
    out = {"tracks": n_ok, **runs, "local_tracks_per_s": n_ok / best_local, "dask_tracks_per_s": n_ok / best_dask,
           "ratio_dask_over_local": best_local / best_dask, "ratio_first_runs": runs["local_s"][0] / runs["dask_s"][0],
           "overhead": over, **costs, "embed": emb, "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}
    print(f"prepare {n_ok} tracks of {args.root.name}: local --workers 2 {best_local:.2f} s "
          f"({out['local_tracks_per_s']:.1f} tr/s), dask 2x1 {best_dask:.2f} s ({out['dask_tracks_per_s']:.1f} tr/s)")
    print(f"throughput dask/local: best {out['ratio_dask_over_local']:.2f}x, first runs {out['ratio_first_runs']:.2f}x "
          f"(target >= 0.8); identical bytes: {runs['identical']}")
    print(f"empty task on dask: {over['dask_ms_per_task']:.2f} ms (wall / {over['n']} tasks on 2 workers)")
    print(f"per track: decode {costs['decode_cpu_s_per_track']:.3f} + features {costs['features_cpu_s_per_track']:.3f}"
          f" CPU-s ({costs['cpu_s_per_audio_s'] * 1000:.2f} CPU-ms per audio second); cache "
          f"{costs['cache_bytes_per_track'] / 1e6:.3f} MB + parts {costs['parts_bytes_per_track'] / 1e6:.3f} MB")
    for name, e in emb.items():
        if isinstance(e, dict):
            print(f"embed {name}: {e['cpu_s_per_track']:.3f} CPU-s per track (15-s clips, load {e['load_cpu_s']:.2f} s "
                  f"once per worker), part {e['part_bytes_per_track'] / 1e3:.1f} kB")
    print(json.dumps(out))
    return 0 if runs["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
