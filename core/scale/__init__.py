"""Where batch tasks run: one task function, two engines (a process pool here, or a Dask cluster).

- `EngineConfig` (engine): which engine (`local` | `dask`), local worker count, scheduler address, timeouts
- `open_engine` (open), `Engine`, `EngineError` (engine): connect/start an engine; `engine.map(fn, items)` runs
  `fn(*item)` for every item and returns results in input order, a `TaskFailure` where a task could not finish
- `TaskFailure` (engine): the reason a task has no result (`failed: worker died (...)`, `failed: ValueError: ...`)
- `LocalEngine` (local): spawn-context process pool, one torch + BLAS thread per worker; a worker that dies has its
  task retried once in a fresh worker; workers end when their parent dies (PR_SET_PDEATHSIG + a watchdog)
- `DaskEngine` (dask_engine): `distributed.Client(address)`; one task per item, bounded in flight, tqdm over
  completed futures; a killed worker's tasks are rescheduled by the scheduler
- `worker_state`, `process_setup` (state): a per-process cache for task state (models, tables) built once per
  worker process by either engine; the one-time setup of a worker (1 torch + 1 BLAS thread: identical
  bytes on every engine), `one_thread` for tasks run in this process

A task function must be importable by name (a module-level function) and pure in effect: it writes its own
output atomically, so a task run twice (a rescheduled task) leaves the same bytes.
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "EngineConfig": "engine", "open_engine": "open", "Engine": "engine", "EngineError": "engine",
    "TaskFailure": "engine", "ENGINES": "engine",
    "LocalEngine": "local",
    "DaskEngine": "dask_engine",
    "worker_state": "state", "process_setup": "state", "clear_worker_state": "state", "one_thread": "state",
})
