"""The Dask engine: the same task function on a `dask.distributed` cluster (`--engine dask --scheduler ADDR`).

Each item is one task (its key names the item), at most `max_in_flight` are submitted at once and more are
added as others complete, so a million-item job never holds a million futures. The scheduler reschedules the
tasks of a worker that dies; a task that keeps killing its workers ends as `KilledWorker` and is recorded as
`failed: worker died (...)`. Tasks write their own outputs (atomic files) to storage every worker reaches.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from core.scale.engine import WORKER_DIED, EngineError, TaskFailure, failure_reason
from core.scale.state import process_setup


def run_on_worker(fn: Callable[..., Any], args: tuple) -> Any:
    """What a Dask task runs: the worker's one-time setup, then `fn(*args)`."""
    process_setup()
    return fn(*args)


class DaskEngine:
    """A `distributed.Client` connected to a running scheduler."""

    name = "dask"

    def __init__(self, address: str, timeout_s: float = 5.0, max_in_flight: int = 2000):
        from distributed import Client

        self.address = address
        self.max_in_flight = max(1, max_in_flight)
        try:
            self.client = Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s "
                              f"({type(exc).__name__}: {str(exc)[:120]}); start one with `dask scheduler` "
                              "and `dask worker ADDRESS`, or use --engine local") from None

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        self.client.close()

    def n_workers(self) -> int:
        """Workers connected to the scheduler now."""
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def map(self, fn: Callable[..., Any], items: Sequence[tuple], desc: str = "", progress: bool = True) -> list:
        """`fn(*item)` for every item as Dask tasks, in input order; TaskFailure where a task raised or kept
        killing its workers."""
        from distributed import as_completed

        results: list = [None] * len(items)
        token = uuid.uuid4().hex[:10]
        todo = iter(range(len(items)))
        index_of: dict[str, int] = {}
        queue = as_completed(loop=self.client.loop)
        for i in itertools.islice(todo, self.max_in_flight):
            queue.add(self._submit(fn, items, i, token, index_of))
        with tqdm(total=len(items), desc=desc or "tasks", unit="task", disable=not progress) as bar:
            for fut in queue:
                i = index_of.pop(fut.key)
                results[i] = self._outcome(fut)
                fut.release()
                bar.update()
                nxt = next(todo, None)
                if nxt is not None:
                    queue.add(self._submit(fn, items, nxt, token, index_of))
        return results

    def _submit(self, fn: Callable[..., Any], items: Sequence[tuple], i: int, token: str,
                index_of: dict[str, int]) -> Any:
        """Submit item i as one task with a readable, unique key."""
        key = f"{getattr(fn, '__name__', 'task')}-{token}-{i}"
        index_of[key] = i
        return self.client.submit(run_on_worker, fn, items[i], key=key, pure=False)

    @staticmethod
    def _outcome(fut: Any) -> Any:
        """The task's result, or a TaskFailure naming why it has none."""
        from distributed import KilledWorker

        if fut.status == "finished":
            return fut.result()
        if fut.status == "cancelled":
            return TaskFailure("failed: cancelled (the scheduler dropped the task)")
        exc = fut.exception()
        if isinstance(exc, KilledWorker):
            return TaskFailure(f"{WORKER_DIED} (its workers died on every try: {str(exc)[:80]})")
        return TaskFailure(failure_reason(exc))
