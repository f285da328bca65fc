"""The local engine: a spawn-context process pool that survives a dying worker and dies with its parent.

Each worker holds one task at a time, so when a worker process dies (segfault, OOM kill) the parent knows
exactly which task it held: that task is retried `retries` times in a fresh worker, then recorded as
`failed: worker died (...)`; every other task and the job itself carry on. Each worker asks the kernel to
kill it when its parent dies (Linux PR_SET_PDEATHSIG) and also polls its parent id from a watchdog thread,
so a killed job never leaves workers running.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from tqdm import tqdm

from core.scale.engine import WORKER_DIED, TaskFailure, check_batch, failure_reason
from core.scale.state import one_thread, process_setup

PR_SET_PDEATHSIG = 1
WATCHDOG_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """End this process when `parent_pid` (its parent) ends: the kernel's parent-death signal where there
    is one, and a watchdog thread polling the parent id everywhere (it also covers a parent already gone)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watchdog").start()


def _watch_parent(parent_pid: int) -> None:
    """Exit the process as soon as it has been re-parented (its parent died)."""
    while True:
        time.sleep(WATCHDOG_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def _worker_main(conn: Connection, parent_pid: int) -> None:
    """A pool worker: receive (index, fn, args), send back (index, ok, result or reason), until told to stop."""
    die_with_parent(parent_pid)
    process_setup()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, fn, args = msg
        try:
            reply = (index, True, fn(*args))
        except Exception as exc:  # a task that raises is one failed item, not a dead worker
            reply = (index, False, failure_reason(exc))
        try:
            conn.send(reply)
        except (TypeError, AttributeError, ValueError) as exc:  # an unpicklable result
            conn.send((index, False, failure_reason(exc)))


@dataclass
class _Worker:
    """One worker process, its pipe, and the task index it holds (None when idle)."""

    proc: Any
    conn: Connection
    task: int | None = None


@dataclass
class _Run:
    """Book-keeping of one map call."""

    fn: Callable[..., Any]
    items: Sequence[tuple]
    results: list
    pending: deque
    attempts: list[int]
    bar: Any
    done: int = 0
    workers: list[_Worker] = field(default_factory=list)


class LocalEngine:
    """Process pool on this machine (`--engine local --workers N`); `workers=1` runs tasks in this process."""

    name = "local"

    def __init__(self, workers: int, retries: int = 1):
        self.workers = max(1, int(workers))
        self.retries = retries
        self._ctx = mp.get_context("spawn")

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: workers live only for the duration of one `map`."""

    def map(self, fn: Callable[..., Any], items: Sequence[tuple], desc: str = "", progress: bool = True) -> list:
        """`fn(*item)` for every item, in input order; TaskFailure for items that raised or whose worker died."""
        bar = tqdm(total=len(items), desc=desc or "tasks", unit="task", disable=not progress)
        try:
            if self.workers == 1 or len(items) <= 1:
                results = self._map_inline(fn, items, bar)
            else:
                run = _Run(fn, items, [None] * len(items), deque(range(len(items))), [0] * len(items), bar)
                try:
                    self._drive(run)
                finally:
                    self._stop_all(run)
                results = run.results
            check_batch(results, self.name)
            return results
        finally:
            bar.close()

    @staticmethod
    def _map_inline(fn: Callable[..., Any], items: Sequence[tuple], bar: Any) -> list:
        """Run every task in this process (one worker, or a single item), single-threaded like a worker."""
        out = []
        with one_thread():
            for args in items:
                try:
                    out.append(fn(*args))
                except Exception as exc:
                    out.append(TaskFailure(failure_reason(exc)))
                bar.update()
        return out

    def _drive(self, run: _Run) -> None:
        """Hand tasks to workers and collect replies until every item has a result or a failure."""
        for _ in range(min(self.workers, len(run.items))):
            run.workers.append(self._spawn())
        for w in run.workers:
            self._assign(run, w)
        while run.done < len(run.items):
            busy = [w for w in run.workers if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for w in busy:
                if w.conn in ready or w.conn.poll():
                    self._collect(run, w)
                elif w.proc.sentinel in ready:
                    self._replace_dead(run, w)

    def _spawn(self) -> _Worker:
        """Start one fresh worker process."""
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child_end, os.getpid()), daemon=True,
                                 name="core.scale-worker")
        proc.start()
        child_end.close()
        return _Worker(proc, parent_end)

    def _assign(self, run: _Run, w: _Worker) -> None:
        """Give the next pending task to an idle worker (or leave it idle)."""
        if not run.pending:
            w.task = None
            return
        w.task = run.pending.popleft()
        try:
            w.conn.send((w.task, run.fn, run.items[w.task]))
        except OSError:  # it died while idle: its sentinel is ready, `_replace_dead` retries the task
            pass

    def _collect(self, run: _Run, w: _Worker) -> None:
        """Record one worker's reply and give it the next task; a broken pipe counts as a dead worker."""
        try:
            index, ok, value = w.conn.recv()
        except (EOFError, OSError):
            self._replace_dead(run, w)
            return
        run.results[index] = value if ok else TaskFailure(value)
        run.done += 1
        run.bar.update()
        self._assign(run, w)

    def _replace_dead(self, run: _Run, w: _Worker) -> None:
        """The worker died holding a task: retry it (or record it failed) and start a fresh worker."""
        w.proc.join(timeout=5)
        index, code = w.task, w.proc.exitcode
        run.attempts[index] += 1
        if run.attempts[index] <= self.retries:
            run.pending.appendleft(index)
        else:
            run.results[index] = TaskFailure(f"{WORKER_DIED} ({_exit_text(code)}, {run.attempts[index]} tries)")
            run.done += 1
            run.bar.update()
        w.conn.close()
        run.workers.remove(w)
        if run.pending:
            fresh = self._spawn()
            run.workers.append(fresh)
            self._assign(run, fresh)

    @staticmethod
    def _stop_all(run: _Run) -> None:
        """Tell idle workers to stop; kill any still running (an interrupted map); reap them all."""
        for w in run.workers:
            try:
                if w.task is None:
                    w.conn.send(None)
                else:
                    w.proc.kill()
            except OSError:
                pass
        for w in run.workers:
            w.proc.join(timeout=5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()


def _exit_text(code: int | None) -> str:
    """'killed by SIGKILL' / 'exit code 3' for a worker's exit code."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
