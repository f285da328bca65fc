"""Loopback load test of the search service: `python -m benchmarks.bench_service --data artifacts/gtzan_mini`.

Starts `train.serve` on 127.0.0.1 (a free port, threads pinned), waits for /health, then sends search-by-id
requests (random track ids, k=10) at concurrency 1, 8 and 32: each level stops after `--requests` requests or
`--max-seconds`, whichever comes first. Reports req/s, p50/p95 latency and error responses per level, then
stops the server it started. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from tests.helpers.processes import free_port, stop_process


def wait_health(url: str, timeout_s: float, proc: subprocess.Popen) -> dict:
    """Poll /health until it answers (or the server died / the timeout passed)."""
    import httpx

    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            return httpx.get(f"{url}/health", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("server did not come up in time")


def level(url: str, ids: list[str], concurrency: int, n_requests: int, max_s: float, k: int) -> dict:
    """Run one concurrency level; returns req/s, p50/p95 ms and error counts."""
    import httpx

    lat: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    remaining = [n_requests]
    deadline = time.perf_counter() + max_s

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=10) as c:
            while time.perf_counter() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                t0 = time.perf_counter()
                try:
                    r = c.post("/search", json={"track_id": rng.choice(ids), "k": k})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    (lat if ok else errors).append(dt if ok else 1)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    a = np.asarray(lat) if lat else np.asarray([np.nan])
    return {"concurrency": concurrency, "requests": len(lat) + len(errors), "errors": len(errors),
            "req_per_s": round((len(lat) + len(errors)) / wall, 1), "p50_ms": round(float(np.nanpercentile(a, 50)), 2),
            "p95_ms": round(float(np.nanpercentile(a, 95)), 2), "wall_s": round(wall, 2)}


def main(argv: list[str] | None = None) -> int:
    """Start the server, run the levels, stop the server, print the table."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_service", description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("artifacts/gtzan_mini"))
    ap.add_argument("--index", default="hnsw")
    ap.add_argument("--embedding", default=None)
    ap.add_argument("--levels", default="1,8,32", help="concurrency levels")
    ap.add_argument("--requests", type=int, default=400, help="requests per level (upper bound)")
    ap.add_argument("--max-seconds", type=float, default=20.0, help="time bound per level")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="server BLAS/FAISS threads")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "train.serve", "--data", str(args.data), "--index", args.index, "--port", str(port),
           "--threads", str(args.threads)] + (["--embedding", args.embedding] if args.embedding else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    try:
        health = wait_health(url, 120, proc)
        import pandas as pd

        from core.audio.cache import FeatureCache

        ids = FeatureCache.open(args.data).tracks["track_id"].astype(str).tolist()
        print(f"server: {json.dumps(health)}; load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        rows = [level(url, ids, int(c), args.requests, args.max_seconds, args.k) for c in args.levels.split(",")]
    finally:
        stop_process(proc)
    df = pd.DataFrame(rows)
    from core.io import to_markdown

    print(to_markdown(df))
    if args.out:
        args.out.write_text(json.dumps({"server": health, "levels": rows}, indent=2))
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
