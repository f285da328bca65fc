"""Opening an engine by name: the one place that knows both engines."""

from __future__ import annotations

import os

from core.scale.engine import ENGINES, Engine, EngineConfig, EngineError


def open_engine(cfg: EngineConfig) -> Engine:
    """Start (local) or connect to (dask) the engine `cfg` names; EngineError if that is impossible."""
    if cfg.engine == "local":
        from core.scale.local import LocalEngine

        return LocalEngine(cfg.workers or os.cpu_count() or 1, retries=cfg.retries)
    if cfg.engine == "dask":
        from core.scale.dask_engine import DaskEngine

        address = cfg.scheduler_address()
        if not address:
            raise EngineError("--engine dask needs --scheduler ADDRESS or DASK_SCHEDULER_ADDRESS")
        return DaskEngine(address, timeout_s=cfg.connect_timeout_s, max_in_flight=cfg.max_in_flight,
                          worker_wait_s=cfg.worker_wait_s)
    raise EngineError(f"unknown engine {cfg.engine!r} (choose from {', '.join(ENGINES)})")
