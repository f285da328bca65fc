"""The local engine's process pool under faults (issue 9 items 2 and 3): a worker that dies has its task
retried once in a fresh worker, then recorded as `failed: worker died`, and the batch and catalog go on;
workers end when their parent (a killed `train.prepare`) dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

import core.audio.prepare
from core.audio.cache import load_catalog, part_path
from core.audio.catalogs import build_catalog
from core.scale import LocalEngine, TaskFailure
from tests.helpers import scale_tasks

REPO = Path(__file__).resolve().parents[1]


def test_dead_worker_task_is_retried_once_then_failed_and_state_built_once_per_worker():
    items = [(i, 3) for i in range(8)]
    results = LocalEngine(2).map(scale_tasks.probe_or_die, items, progress=False)
    assert isinstance(results[3], TaskFailure)
    assert results[3].reason.startswith("failed: worker died (killed by SIGKILL, 2 tries)")
    ok = [r for i, r in enumerate(results) if i != 3]
    assert [r[0] for r in ok] == [i for i in range(8) if i != 3]  # every other item, in input order
    tokens: dict[int, set[str]] = {}
    for _, pid, token in ok:
        tokens.setdefault(pid, set()).add(token)
    assert all(len(t) == 1 for t in tokens.values())  # state built once per worker process
    assert os.getpid() not in tokens  # ran in worker processes


def test_task_that_raises_is_one_failure_not_a_dead_pool():
    results = LocalEngine(1).map(scale_tasks.probe_or_raise, [(i, 1) for i in range(3)], progress=False)
    assert results[1] == TaskFailure("failed: ValueError: item 1 is bad")
    assert [results[0][0], results[2][0]] == [0, 2]


def _small_gtzan(shared_data: Path, n: int) -> object:
    cat = build_catalog("gtzan", shared_data / "gtzan_mini", gtzan_split="block")
    return cat.iloc[::10].head(n).reset_index(drop=True)  # one clip of each genre


def test_prepare_records_a_track_whose_worker_dies_and_writes_the_rest(shared_data, tmp_path, monkeypatch):
    cat = _small_gtzan(shared_data, 5)
    victim = cat.track_id[2]
    monkeypatch.setenv("SCALE_TEST_KILL", victim)  # inherited by the spawned workers
    monkeypatch.setattr(core.audio.prepare, "process_track", scale_tasks.process_track_killing)
    res = core.audio.prepare.prepare_dataset(cat, tmp_path / "pool", workers=2, progress=False)
    final = load_catalog(tmp_path / "pool").set_index("track_id")
    assert final.loc[victim, "status"].startswith("failed: worker died")
    assert (final.drop(victim)["status"] == "ok").all()
    assert res.summary["ok"] == 4 and res.summary["reasons"] == {"failed: worker died": 1}
    monkeypatch.undo()  # the reference: the same tracks computed in this process
    ref = cat[cat.track_id != victim]
    core.audio.prepare.prepare_dataset(ref, tmp_path / "inline", workers=1, progress=False)
    for tid in ref.track_id:
        with np.load(part_path(tmp_path / "pool", tid)) as a, np.load(part_path(tmp_path / "inline", tid)) as b:
            assert np.array_equal(a["mel"], b["mel"]) and np.array_equal(a["baseline"], b["baseline"])


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Processes still running (a zombie nobody reaped has ended)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_killed_prepare_leaves_no_worker_running(shared_data, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "train.prepare", "--dataset", "gtzan", "--root", str(shared_data / "gtzan_mini"),
           "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while not any((out / "parts").glob("*.npz")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert proc.poll() is None, "prepare ended before it could be killed mid-run"
        assert len(_alive(workers)) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 5
        while _alive(workers) and time.time() < deadline:
            time.sleep(0.1)
        assert _alive(workers) == [], f"workers outlived their parent: {[p.pid for p in _alive(workers)]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
