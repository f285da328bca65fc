"""The Dask engine: the same task function on a `dask.distributed` cluster (`--engine dask --scheduler ADDR`).

Each item is one task (its key names the item), at most `max_in_flight` are submitted at once and more are
added as others complete, so a million-item job never holds a million futures. The scheduler reschedules the
tasks of a worker that dies; a task that keeps killing its workers ends as `KilledWorker` and is recorded as
`failed: worker died (...)`. Tasks write their own outputs (atomic files) to storage every worker reaches.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from core.scale.engine import WORKER_DIED, EngineError, TaskFailure, check_batch, failure_reason
from core.scale.state import process_setup

PROJECT_IMPORT = "import core.scale.dask_engine"  # what every worker must be able to do
ENGINE_BROKEN = ("Error during deserialization", "ModuleNotFoundError", "ImportError")  # not any one item's fault
START_HINT = "start one with `dask scheduler` and `dask worker ADDRESS`, or use --engine local"


def run_on_worker(fn: Callable[..., Any], args: tuple) -> Any:
    """What a Dask task runs: the worker's one-time setup, then `fn(*args)`."""
    process_setup()
    return fn(*args)


def check_address(address: str) -> None:
    """EngineError unless `address` reads as a scheduler another process can reach (tcp:// or tls://HOST:PORT)."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address)
        if scheme not in ("tcp", "tls"):
            raise ValueError(f"a {scheme}:// address cannot be reached from another process")
        get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise EngineError(f"{address!r} is not a Dask scheduler address ({exc}); give tcp://HOST:PORT, "
                          "e.g. tcp://10.0.0.5:8786") from None


def probe_scheduler(address: str, timeout_s: float) -> None:
    """Ask `address` who it is, bounded by `timeout_s` whatever listens there (a Dask scheduler, a web server,
    a socket that never answers); EngineError unless a Dask scheduler answers."""
    answer: dict = {}

    async def ask() -> None:
        from distributed.comm import connect

        comm = await asyncio.wait_for(connect(address, timeout=timeout_s), timeout_s)
        try:
            await comm.write({"op": "identity"})
            answer["reply"] = await asyncio.wait_for(comm.read(), timeout_s)
        finally:
            comm.abort()

    def work() -> None:
        try:
            asyncio.run(ask())
        except BaseException as exc:  # reported below: a thread must not die with a traceback
            answer["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name="dask-probe")
    thread.start()
    thread.join(2 * timeout_s + 1)
    reply = answer.get("reply")
    if isinstance(reply, dict) and reply.get("type") == "Scheduler":
        return
    if reply is not None or isinstance(answer.get("error"), (asyncio.TimeoutError, TimeoutError)) \
            and _port_open(address):
        raise EngineError(f"{address} accepts connections but is not a Dask scheduler (no Dask answer within "
                          f"{timeout_s:g} s); check the address and port, or {START_HINT}")
    err = answer.get("error")
    detail = f"{type(err).__name__}: {str(err)[:120]}" if err else "no answer"
    raise EngineError(f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({detail}); {START_HINT}")


def _port_open(address: str) -> bool:
    """Whether something accepts TCP connections at the host:port of `address`."""
    import socket

    from distributed.comm.addressing import get_address_host_port

    try:
        with socket.create_connection(get_address_host_port(address), timeout=2.0):
            return True
    except OSError:
        return False


class DaskEngine:
    """A `distributed.Client` connected to a running scheduler whose workers can import the project."""

    name = "dask"

    LOST_RESULT_WAIT_S = 600.0  # how long a task lost with its worker may take to be computed again

    def __init__(self, address: str, timeout_s: float = 5.0, max_in_flight: int = 2000, worker_wait_s: float = 60.0):
        from distributed import Client

        self.address = address
        self.max_in_flight = max(1, max_in_flight)
        self.worker_wait_s = worker_wait_s
        check_address(address)
        probe_scheduler(address, timeout_s)
        try:
            self.client = Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise EngineError(f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s "
                              f"({type(exc).__name__}: {str(exc)[:120]}); {START_HINT}") from None
        try:
            self.check_workers()
        except EngineError:
            self.client.close()
            raise

    def check_workers(self) -> None:
        """EngineError unless at least one worker is connected (within worker_wait_s) and the scheduler and
        every worker can import the project."""
        try:
            self.client.wait_for_workers(1, timeout=self.worker_wait_s)
        except (TimeoutError, OSError):
            raise EngineError(f"no Dask worker connected to {self.address} within {self.worker_wait_s:g} s; "
                              f"start some with `dask worker {self.address}`") from None
        fails = {w: e for w, e in self.client.run(exec, PROJECT_IMPORT, on_error="return").items() if e is not None}
        try:
            self.client.run_on_scheduler(exec, PROJECT_IMPORT)
        except Exception as exc:
            fails["the scheduler"] = exc
        if fails:
            who, exc = next(iter(fails.items()))
            raise EngineError(f"{len(fails)} Dask process(es) at {self.address} cannot import the project "
                              f"({who}: {type(exc).__name__}: {str(exc)[:100]}); install it in their environment "
                              "(`pip install -e .` in the repository, as `make install` does) and restart them")

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
        killing its workers. EngineError (the rest cancelled) when the cluster itself fails: no worker left for
        worker_wait_s, the scheduler gone, a task the workers cannot even load, every task failing alike."""
        from distributed import as_completed

        results: list = [None] * len(items)
        token = uuid.uuid4().hex[:10]
        todo = iter(range(len(items)))
        index_of: dict[str, int] = {}
        queue = as_completed(loop=self.client.loop)
        for i in itertools.islice(todo, self.max_in_flight):
            queue.add(self._submit(fn, items, i, token, index_of))
        watch = _Watch(self, queue)
        with tqdm(total=len(items), desc=desc or "tasks", unit="task", disable=not progress) as bar:
            while not queue.is_empty():
                if not queue.has_ready():
                    watch.check(index_of)
                    time.sleep(0.05)
                    continue
                for fut in queue.next_batch(block=False):
                    i = index_of.pop(fut.key)
                    results[i] = self._outcome(fut)
                    fut.release()
                    bar.update()
                    watch.check_outcome(results[i], index_of)
                    nxt = next(todo, None)
                    if nxt is not None:
                        queue.add(self._submit(fn, items, nxt, token, index_of))
        check_batch(results, self.name)
        return results

    def _submit(self, fn: Callable[..., Any], items: Sequence[tuple], i: int, token: str,
                index_of: dict[str, int]) -> Any:
        """Submit item i as one task with a readable, unique key."""
        key = f"{getattr(fn, '__name__', 'task')}-{token}-{i}"
        index_of[key] = i
        return self.client.submit(run_on_worker, fn, items[i], key=key, pure=False)

    def _outcome(self, fut: Any) -> Any:
        """The task's result, or a TaskFailure naming why it has none. A task whose worker died after it was
        reported done is "lost" and run again by the scheduler: its result is waited for (up to
        LOST_RESULT_WAIT_S), never recorded as a failure without a reason."""
        from distributed import KilledWorker

        if fut.status == "cancelled":
            return TaskFailure("failed: cancelled (the scheduler dropped the task)")
        try:
            return fut.result(timeout=self.LOST_RESULT_WAIT_S)
        except KilledWorker as exc:
            return TaskFailure(f"{WORKER_DIED} (its workers died on every try: {str(exc)[:80]})")
        except TimeoutError:
            return TaskFailure(f"{WORKER_DIED} (its result was lost with its worker and not computed again within "
                               f"{self.LOST_RESULT_WAIT_S:g} s)")
        except Exception as exc:  # the task raised: its own exception, as the local engine reports it
            return TaskFailure(failure_reason(exc))


class _Watch:
    """Health checks of one `map`: the scheduler still there, some worker connected, no task the cluster
    cannot load. On failure the outstanding tasks are cancelled and EngineError is raised."""

    def __init__(self, engine: DaskEngine, queue: Any, every_s: float = 1.0):
        self.engine, self.queue, self.every_s = engine, queue, every_s
        self.next_check = time.monotonic() + every_s
        self.last_worker_seen = time.monotonic()

    def check(self, index_of: dict[str, int]) -> None:
        """Every `every_s`: abort if the client lost the scheduler or no worker was connected for worker_wait_s."""
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + self.every_s
        client = self.engine.client
        if client.status not in ("running", "connecting"):
            self.abort(index_of, f"the Dask scheduler at {self.engine.address} went away")
        try:
            n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception:
            n = 0
        if n:
            self.last_worker_seen = now
        elif now - self.last_worker_seen > self.engine.worker_wait_s:
            reason = "the Dask scheduler is unreachable" if client.status != "running" else "no worker is connected"
            self.abort(index_of, f"{reason} at {self.engine.address} for {self.engine.worker_wait_s:g} s")

    def check_outcome(self, outcome: Any, index_of: dict[str, int]) -> None:
        """Abort when a task failed in a way no item causes (the workers cannot load the project's code)."""
        if isinstance(outcome, TaskFailure) and any(m in outcome.reason for m in ENGINE_BROKEN):
            self.abort(index_of, f"the Dask workers cannot run the project's tasks ({outcome.reason}); install the "
                       "project in the workers' environment (`pip install -e .`) and restart them")

    def abort(self, index_of: dict[str, int], why: str) -> None:
        """Cancel every outstanding task (best effort) and raise EngineError."""
        futures = list(self.queue.futures)
        try:
            if futures and self.engine.client.status == "running":
                self.engine.client.cancel(futures, force=True)
        except Exception:  # the scheduler may be gone: nothing left to cancel
            pass
        raise EngineError(f"{why}; stopped, results of this run not written")
