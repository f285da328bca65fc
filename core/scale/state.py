"""A per-process cache for task state, shared by both engines.

A task that needs a model (an encoder, a filterbank, a table) asks `worker_state(key, build)`: the first
task in a worker process builds it, every later task in that process gets the same object. Pool workers and
Dask workers are both long-lived processes, so a model is loaded once per worker, not once per task.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from core.subnormals import flush_subnormals

T = TypeVar("T")

ONE_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_STATE: dict[str, Any] = {}
_LOCK = threading.RLock()


def worker_state(key: str, build: Callable[[], T]) -> T:
    """The object cached under `key` in this process, built by `build()` on first use (thread-safe: a
    Dask worker with several threads still builds it once)."""
    with _LOCK:
        if key not in _STATE:
            _STATE[key] = build()
        return _STATE[key]


def clear_worker_state() -> None:
    """Forget every cached object of this process (tests; freeing a model)."""
    with _LOCK:
        _STATE.clear()


def _one_thread() -> bool:
    """Limit torch and the BLAS/OpenMP pools to one thread: processes, not threads, use the cores, and
    every engine sums in the same order (a 2-thread BLAS matmul differs in the last bits: not byte-identical).
    Libraries loaded later read the environment; those already loaded are limited now."""
    from threadpoolctl import threadpool_limits

    for var in ONE_THREAD_ENV:
        os.environ[var] = "1"
    threadpool_limits(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return True


def process_setup() -> None:
    """Setup of a worker before each task (both engines call it): one torch + BLAS thread, once per process;
    subnormals flushed on the calling thread (a Dask worker runs tasks on several threads)."""
    worker_state("core.scale:one-thread", _one_thread)
    flush_subnormals()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one torch and one BLAS thread, then restore both (tasks run in this process)."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    flush_subnormals()
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)
