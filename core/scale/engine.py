"""The engine interface: configure, open, map a task function over items, close.

    with open_engine(EngineConfig(engine="dask", scheduler="tcp://host:8786")) as engine:
        results = engine.map(process_track, [(track_id, path, out_file, ...), ...], desc="prepare")

Results come back in input order; an item whose task could not finish gets a `TaskFailure` with the reason
instead of a result, so one bad item never stops the batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ENGINES = ("local", "dask")
WORKER_DIED = "failed: worker died"


class EngineError(RuntimeError):
    """An engine cannot be opened (unknown name, unreachable scheduler); nothing has run."""


@dataclass(frozen=True)
class TaskFailure:
    """Why one task has no result: `failed: worker died (...)` or `failed: <Exception>: <message>`."""

    reason: str


@dataclass
class EngineConfig:
    """Which engine runs the tasks and how (CLI defaults of `--engine`, `--workers`, `--scheduler`)."""

    engine: str = "local"
    workers: int | None = None  # local: processes (default: all cores); 1 runs tasks in this process
    scheduler: str | None = None  # dask: scheduler address (default: $DASK_SCHEDULER_ADDRESS)
    connect_timeout_s: float = 5.0  # dask: give up connecting after this long
    retries: int = 1  # local: times a task whose worker died is retried in a fresh worker
    max_in_flight: int = 2000  # dask: futures submitted at once (bounds client and scheduler memory)
    worker_wait_s: float = 60.0  # dask: abort when no worker is connected for this long (at start or mid-run)

    def scheduler_address(self) -> str | None:
        """The scheduler address from the config, else from DASK_SCHEDULER_ADDRESS."""
        return self.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


class Engine(Protocol):
    """What a batch job needs of an engine."""

    name: str

    def map(self, fn: Callable[..., Any], items: Sequence[tuple], desc: str = "", progress: bool = True) -> list:
        """`fn(*item)` for every item, in input order; a TaskFailure where a task did not finish."""
        ...

    def close(self) -> None:
        """Release workers / the client connection."""
        ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...


def check_batch(results: Sequence[Any], engine: str) -> None:
    """Raise EngineError when every task of a batch of two or more failed for one and the same reason: that is
    the engine (or the environment of its workers) failing, not the items, and a batch job must stop instead of
    recording every item as bad (and, for prepare, replacing a good cache with an empty one)."""
    reasons = {r.reason for r in results if isinstance(r, TaskFailure)}
    if len(results) >= 2 and len(reasons) == 1 and all(isinstance(r, TaskFailure) for r in results):
        raise EngineError(f"every one of the {len(results)} tasks on the {engine} engine failed the same way "
                          f"({next(iter(reasons))}); stopped without writing results")


def failure_reason(exc: BaseException) -> str:
    """The one-line reason recorded for a task that raised."""
    return f"failed: {type(exc).__name__}: {str(exc)[:100]}"
