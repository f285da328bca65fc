"""Run a command as its own process, as a user runs it, and measure it: wall, CPU (user + system) and peak RSS of
that process and everything it waited for (its pool workers), from the kernel's `wait4` accounting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def timed(cmd: list[str], log: Path, env: dict | None = None, cwd: Path = REPO, check: bool = True,
          timeout_s: float | None = None) -> dict:
    """Run `cmd` (stdout and stderr to `log`); {"wall_s", "cpu_s", "peak_rss_mib", "rc", "log"}. Peak RSS is the
    largest single process of the step (the command or one of its workers). A non-zero exit raises with `check`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        try:
            _, status, usage = _wait4(proc.pid, t0, timeout_s)
        except TimeoutError:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    res = {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
           "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "rc": rc, "log": str(log)}
    if check and rc:
        tail = log.read_text(errors="replace")[-800:]
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {rc}:\n{tail}")
    return res


def _wait4(pid: int, t0: float, timeout_s: float | None) -> tuple:
    """os.wait4 with an optional deadline (polled)."""
    if timeout_s is None:
        return os.wait4(pid, 0)
    while True:
        got = os.wait4(pid, os.WNOHANG)
        if got[0]:
            return got
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError
        time.sleep(0.2)


def cli(module: str, *args: str) -> list[str]:
    """`python -m <module> args...` with this interpreter."""
    return [sys.executable, "-m", module, *map(str, args)]
