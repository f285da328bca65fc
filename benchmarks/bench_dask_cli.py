"""Throughput of a real Dask cluster started with the plain `dask` CLI against the local engine (prints figures;
not a timed test).

    .venv/bin/python benchmarks/bench_dask_cli.py [--root ../shared/data/gtzan_mini] [--repeats 2]

Starts `dask scheduler` and `dask worker ADDRESS --nworkers 2 --nthreads 1` as separate processes from a temporary
folder (the venv's bin on PATH, no PYTHONPATH: the installed package), then alternates `workbench prepare` (and,
with --weights-dir, `workbench embed --encoders fcn_msd`) on `--engine local --workers 2` and on `--engine dask`,
each into a fresh folder. Reports the seconds each run's own summary records (prepare_summary.json /
embed_summary.json: the work, without the interpreter start), tracks per second, the ratio dask/local (target
>= 0.8) and whether every cache file and embedding is byte-identical to the first local run. The last line is
one JSON object. On a shared, loaded machine the ratio is noisy: compare runs made in the same invocation.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FILES = ["cache/mels.npy", "cache/segments.csv", "cache/baseline_raw.npy", "catalog.csv"]


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DASK_SCHEDULER_ADDRESS")}
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(folder / "cluster.log", "ab")  # noqa: SIM115
    kw = dict(cwd=folder, env=env(), stdout=log, stderr=subprocess.STDOUT)
    procs = [subprocess.Popen(["dask", "scheduler", "--port", str(port), "--no-dashboard"], **kw)]
    time.sleep(1.0)
    procs.append(subprocess.Popen(["dask", "worker", address, "--nworkers", "2", "--nthreads", "1",
                                   "--no-dashboard", "--memory-limit", "0"], **kw))
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=120)
    return address, procs


def workbench(folder: Path, *args: str) -> None:
    r = subprocess.run([str(BIN / "workbench"), *args, "--quiet"], cwd=folder, env=env(), capture_output=True,
                       text=True)
    if r.returncode:
        raise SystemExit(f"workbench {' '.join(args)} failed: {r.stderr[-500:]}")


def one_run(tmp: Path, name: str, root: Path, weights: Path | None, engine: list[str]) -> dict:
    out = tmp / name
    workbench(tmp, "prepare", "--dataset", "gtzan", "--root", str(root), "--out", str(out), *engine)
    s = json.loads((out / "prepare_summary.json").read_text())
    res = {"out": str(out), "tracks": s["ok"], "prepare_s": s["seconds"]}
    if weights:
        workbench(tmp, "embed", "--data", str(out), "--encoders", "fcn_msd", "--weights-dir", str(weights), *engine)
        res["embed_s"] = json.loads((out / "embed_summary.json").read_text())["seconds"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "gtzan_mini")
    ap.add_argument("--weights-dir", type=Path, default=REPO.parent / "shared" / "data" / "weights")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    weights = args.weights_dir if (args.weights_dir / "sota_music_taggers").is_dir() else None
    tmp = Path(tempfile.mkdtemp(prefix="bench_dask_cli_"))
    address, procs = start_cluster(tmp)
    runs = []
    try:
        for i in range(args.repeats):
            runs.append(("local", one_run(tmp, f"local{i}", args.root, weights, ["--engine", "local", "--workers",
                                                                                  "2"])))
            runs.append(("dask", one_run(tmp, f"dask{i}", args.root, weights, ["--engine", "dask", "--scheduler",
                                                                                address])))
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)
    ref = Path(runs[0][1]["out"])
    files = FILES + (["embeddings/pretrained_fcn_msd.npy"] if weights else [])
    identical = all(filecmp.cmp(ref / f, Path(r["out"]) / f, shallow=False) for _, r in runs for f in files)
    summary: dict = {"tracks": runs[0][1]["tracks"], "identical": identical, "cpus": os.cpu_count(),
                     "load_1min": os.getloadavg()[0]}
    for step in ("prepare_s", "embed_s") if weights else ("prepare_s",):
        per = {eng: [r[step] for e, r in runs if e == eng] for eng in ("local", "dask")}
        best = {eng: min(v) for eng, v in per.items()}
        summary[step] = per
        summary[f"{step[:-2]}_ratio_dask_over_local"] = round(best["local"] / best["dask"], 3)
        print(f"{step[:-2]}: local {per['local']} s, dask {per['dask']} s; throughput dask/local (best of each) "
              f"{summary[f'{step[:-2]}_ratio_dask_over_local']}")
    print(f"byte-identical to the first local run: {identical}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
