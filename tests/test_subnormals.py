"""Subnormal floats flushed to zero: the frozen encoders give the same output with and without flushing (to
float32 tolerance) on real GTZAN audio, and every process that runs tasks (pool workers, a task run in this
process) has the flag set on the thread that runs the task. The Dask worker check is in test_scale.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core.audio.config import AudioConfig
from core.audio.decode import load_audio
from core.encoders.registry import load_encoder
from core.scale.local import LocalEngine
from core.subnormals import KEEP_ENV, flush_subnormals, subnormals_flushed
from tests.helpers import scale_tasks


@pytest.mark.parametrize("name", ["fcn_msd", "musicnn_mtat", "efficientat_mn04"])
def test_encoders_give_the_same_output_with_and_without_flushing(name, weights_dir, shared_data, monkeypatch):
    enc = load_encoder(name, weights_dir)
    clip = shared_data / "gtzan_mini" / "genres_original" / "classical" / "classical.00003.wav"
    audio = load_audio(clip, AudioConfig(sample_rate=enc.sample_rate))[: 8 * enc.sample_rate]
    monkeypatch.setenv(KEEP_ENV, "1")
    kept = enc.analyse(audio)
    assert not subnormals_flushed()  # the opt-out really kept them
    monkeypatch.delenv(KEEP_ENV)
    flushed = enc.analyse(audio)
    assert subnormals_flushed()  # the encoder pass turned flushing on for this thread
    for a, b in ((kept.embedding, flushed.embedding), (kept.frames, flushed.frames), (kept.scores, flushed.scores)):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(a).max())))
    top = [enc.labels[i] for i in np.argsort(-flushed.scores)[:5]] if enc.labels else []
    assert top == ([enc.labels[i] for i in np.argsort(-kept.scores)[:5]] if enc.labels else [])


def test_the_flag_is_set_in_pool_workers_and_for_tasks_run_here(monkeypatch):
    import torch

    torch.set_flush_denormal(False)  # this process starts without it: the engine must set it
    assert not subnormals_flushed()
    with LocalEngine(workers=2) as engine:
        spawned = engine.map(scale_tasks.flush_probe, [(i,) for i in range(4)], progress=False)
    assert {pid for _, pid, _ in spawned} - {os.getpid()}, "the tasks did not run in worker processes"
    assert all(flag for _, _, flag in spawned)
    torch.set_flush_denormal(False)
    inline = LocalEngine(workers=1).map(scale_tasks.flush_probe, [(0,), (1,)], progress=False)
    assert [(pid, flag) for _, pid, flag in inline] == [(os.getpid(), True)] * 2
    assert flush_subnormals() and subnormals_flushed()
