"""Index scale benchmark: exact (numpy), FAISS flat, HNSW, IVF-Flat and IVF-PQ at 10k / 100k / 1M x 128.

`python -m benchmarks.bench_index --sizes 10000,100000,1000000`. Vectors are clustered synthetic float32
(1,000 Gaussian clusters in 128-d, unit-normalised; queries are fresh points of the same clusters), the
hard-ish case for ANN where neighbours are not trivially separated. For each index: build time, memory
(serialised index size and process RSS growth), recall@10 against exact search, p50/p95 single-query
latency on ONE thread (BLAS and FAISS pinned), and batched throughput (one thread, 1,000-query batches).
Bounded: `--max-build-s` skips the remaining kinds of a size once a build overruns. Prints the 1-min load
average, since this machine is shared. Writes a JSON next to the table with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning OpenMP threads on a shared machine

import numpy as np  # noqa: E402

from core.retrieval.index import IndexParams, build_index, normalise, pin_threads, recall_vs_exact  # noqa: E402


def clustered(n: int, d: int, n_clusters: int = 1000, spread: float = 0.5, seed: int = 0) -> np.ndarray:
    """n unit vectors around n_clusters centres with a decaying per-dimension spectrum (scale (1+i)^-0.7, like
    learned embeddings, whose variance sits in few directions); built in chunks to bound memory. The centres
    are fixed (seed 0) so queries (another seed) come from the same clusters."""
    centres = np.random.default_rng(0).normal(size=(n_clusters, d)).astype(np.float32)
    scale = ((1.0 + np.arange(d)) ** -0.7).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = (centres[rng.integers(0, n_clusters, m)] + spread * rng.normal(size=(m, d)).astype(np.float32)) * scale
        out[s:s + m] = normalise(x)
    return out


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latency(idx, q: np.ndarray, k: int) -> tuple[float, float]:
    """p50 / p95 milliseconds of single-query searches."""
    times = []
    for i in range(len(q)):
        t0 = time.perf_counter()
        idx.search(q[i:i + 1], k)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def bench_one(kind: str, x: np.ndarray, q: np.ndarray, exact_ids: np.ndarray, params: IndexParams,
              build_threads: int, n_single: int, tmp: Path) -> dict:
    """Build one index and measure it."""
    pin_threads(build_threads)
    r0 = rss_mb()
    t0 = time.perf_counter()
    idx = build_index(kind, x, params)
    build_s = time.perf_counter() - t0
    grown = rss_mb() - r0
    size_mb = idx.save(tmp / f"bench.{kind}").stat().st_size / 2**20
    pin_threads(1)
    ids, _ = idx.search(q, 10)
    p50, p95 = latency(idx, q[:n_single], 10)
    t0 = time.perf_counter()
    idx.search(q, 10)
    qps = len(q) / (time.perf_counter() - t0)
    return {"kind": kind, "n": len(x), "build_s": round(build_s, 2), "index_mb": round(size_mb, 1),
            "rss_growth_mb": round(grown, 1), "recall@10": round(recall_vs_exact(ids, exact_ids), 4),
            "p50_ms": round(p50, 3), "p95_ms": round(p95, 3), "batch_qps": round(qps, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark over the requested sizes and kinds; print a Markdown table."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_index", description=__doc__)
    ap.add_argument("--sizes", default="10000,100000", help="comma list of corpus sizes (e.g. 10000,100000,1000000)")
    ap.add_argument("--kinds", default="exact,flat,hnsw,ivf_flat,ivf_pq")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000, help="queries for recall and batched throughput")
    ap.add_argument("--single", type=int, default=300, help="single queries timed for p50/p95")
    ap.add_argument("--build-threads", type=int, default=1, help="threads while building (search uses 1)")
    ap.add_argument("--ef-search", type=int, default=IndexParams.ef_search)
    ap.add_argument("--nprobe", type=int, default=IndexParams.nprobe)
    ap.add_argument("--max-build-s", type=float, default=900.0, help="skip the rest of a size after a slower build")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    params = IndexParams(ef_search=args.ef_search, nprobe=args.nprobe)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_index_{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for n in (int(s) for s in args.sizes.split(",")):
        x = clustered(n, args.dim)
        q = clustered(args.queries, args.dim, seed=1)
        pin_threads(args.build_threads)
        exact_ids, _ = build_index("exact", x).search(q, 10)
        for kind in args.kinds.split(","):
            r = bench_one(kind, x, q, exact_ids, params, args.build_threads, args.single, tmp)
            rows.append(r)
            print(json.dumps(r), flush=True)
            if r["build_s"] > args.max_build_s:
                print(f"build of {kind} at {n} took {r['build_s']} s > --max-build-s; skipping the rest of {n}")
                break
        del x
    for f in tmp.glob("bench.*"):
        f.unlink()
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}\n")
    cols = list(rows[0]) if rows else []
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "params": vars(params) if hasattr(params, "__dict__") else {},
                                        "load_avg_end": os.getloadavg()[0]}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
