"""Flush subnormal floats to zero in torch, on the thread that runs a network.

Subnormal (denormal) floats appear in the quiet tails of convolution stacks on real music; on many x86 CPUs
every operation on one takes a slow microcode path, so an encoder pass can be an order of magnitude slower
on real audio than on synthetic input. Flushing them to zero (FTZ/DAZ) changes outputs only at the level of
1e-38 and makes the speed independent of the audio. The flag lives in each thread's floating-point control
register and a new thread inherits it from the thread that starts it, so `flush_subnormals()` is called
where torch work starts (worker setup, every encoder and model pass, the training loop, the service); it is
cheap and idempotent. `WORKBENCH_KEEP_SUBNORMALS=1` turns it off (to measure what flushing changes).
"""

from __future__ import annotations

import os

KEEP_ENV = "WORKBENCH_KEEP_SUBNORMALS"


def flush_subnormals() -> bool:
    """Make torch treat subnormal floats as zero on the calling thread (and threads it starts later);
    True when the CPU supports it and it is on. Imports torch."""
    import torch

    if os.environ.get(KEEP_ENV, "") not in ("", "0"):
        torch.set_flush_denormal(False)
        return False
    return bool(torch.set_flush_denormal(True))


def subnormals_flushed() -> bool:
    """Whether torch flushes subnormals to zero on the calling thread now (a probe multiplication)."""
    import torch

    return float((torch.full((1,), 1e-39, dtype=torch.float32) * 1.0)[0]) == 0.0
