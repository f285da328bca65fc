"""Local server subprocesses for the browser tests, the benchmarks and the screenshot script: a free loopback
port, and a stop that cannot leave the process behind."""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Terminate a server subprocess; kill it if it has not exited after `timeout_s`."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
