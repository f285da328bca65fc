"""Task functions for the engine tests (module-level, so spawned pool workers and Dask workers import them)."""

from __future__ import annotations

import os
import signal
import time
import uuid

from core.scale.state import worker_state


def probe(i: int) -> tuple[int, int, str]:
    """(i, this process id, the per-process state token): the token is built once per worker process."""
    return i, os.getpid(), worker_state("tests:probe", lambda: uuid.uuid4().hex)


def probe_or_die(i: int, die: int) -> tuple[int, int, str]:
    """`probe(i)`, except item `die` kills its own process with SIGKILL (a segfault / OOM kill stand-in)."""
    if i == die:
        os.kill(os.getpid(), signal.SIGKILL)
    return probe(i)


def probe_or_raise(i: int, bad: int) -> tuple[int, int, str]:
    """`probe(i)`, except item `bad` raises (a task failing on one bad file)."""
    if i == bad:
        raise ValueError(f"item {i} is bad")
    return probe(i)


def _process_track(*args):
    """The real `process_track` (imported here, in the worker: tests patch the parent's module attribute)."""
    from core.audio.prepare import process_track

    return process_track(*args)


def process_track_killing(track_id: str, *args):
    """`process_track`, except the track named in $SCALE_TEST_KILL kills its own worker process."""
    if track_id == os.environ.get("SCALE_TEST_KILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _process_track(track_id, *args)


def process_track_slow(track_id: str, *args):
    """`process_track` after a pause of $SCALE_TEST_DELAY_S (default 0.2 s), so a test can act mid-run."""
    time.sleep(float(os.environ.get("SCALE_TEST_DELAY_S", "0.2")))
    return _process_track(track_id, *args)


def run_prepare_slow(argv: list[str]) -> int:
    """`train.prepare.main(argv)` with every track slowed by `process_track_slow` (a client to kill mid-run)."""
    import core.audio.prepare
    from train.prepare import main

    core.audio.prepare.process_track = process_track_slow
    return main(argv)


def flush_probe(i: int) -> tuple[int, int, bool]:
    """(i, this process id, whether torch flushes subnormals to zero on the thread running the task)."""
    from core.subnormals import subnormals_flushed

    return i, os.getpid(), subnormals_flushed()
