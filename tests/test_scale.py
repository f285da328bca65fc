"""The Dask engine (issue 14): on one LocalCluster of 2 single-threaded worker processes, started once for
the module, `train.prepare --engine dask` gives the local run's bytes, survives a killed worker and a killed
client, records a task's failure, and refuses an unreachable scheduler with exit 2 and nothing written."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import core.audio.prepare
from core.audio.cache import load_catalog, read_part_meta
from core.audio.catalogs import build_catalog
from core.scale import EngineConfig, TaskFailure, open_engine
from tests.helpers import scale_tasks
from train.prepare import main

distributed = pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[1]
CACHE_FILES = ["mels.npy", "segments.csv", "baseline_raw.npy", "baseline_names.json", "config.json", "catalog.csv"]


@pytest.fixture(scope="module")
def cluster():
    """(scheduler address, a client) of a LocalCluster(n_workers=2, threads_per_worker=1, processes=True)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as lc, distributed.Client(lc) as client:
        yield lc.scheduler_address, client


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, shared_data) -> dict:
    """A GTZAN-layout root of 1 real clip per genre (symlinks) plus one undecodable file, its catalog,
    and its cache prepared by the local engine in this process: the reference bytes."""
    root = tmp_path_factory.mktemp("gtzan_small")
    src = shared_data / "gtzan_mini" / "genres_original"
    for genre in sorted(p for p in src.iterdir() if p.is_dir()):
        (root / genre.name).mkdir()
        for clip in sorted(genre.glob("*.wav"))[:1]:
            (root / genre.name / clip.name).symlink_to(clip)
    (root / "blues" / "blues.00099.wav").write_bytes(b"RIFF" + os.urandom(2000))  # a bad file
    catalog = build_catalog("gtzan", root)
    ref = tmp_path_factory.mktemp("ref")
    core.audio.prepare.prepare_dataset(catalog, ref, workers=1, progress=False)
    return {"root": root, "catalog": catalog, "ref": ref}


def same_cache(a: Path, b: Path) -> bool:
    """Every cache file and catalog.csv byte-identical."""
    files = [f"cache/{name}" for name in CACHE_FILES] + ["catalog.csv"]
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def prepare_argv(dataset: dict, out: Path, *extra: str) -> list[str]:
    return ["--dataset", "gtzan", "--root", str(dataset["root"]), "--out", str(out), "--quiet", *extra]


def test_dask_run_is_byte_identical_to_local_and_records_the_bad_file(cluster, dataset, tmp_path):
    out = tmp_path / "dask"
    assert main(prepare_argv(dataset, out, "--engine", "dask", "--scheduler", cluster[0])) == 0
    assert same_cache(out, dataset["ref"])
    bad = load_catalog(out).set_index("track_id").loc["blues.00099"]
    assert bad["status"] != "ok" and bad["row"] == -1


def test_shards_on_dask_then_merge_give_the_same_cache(cluster, dataset, tmp_path):
    out = tmp_path / "sharded"
    for shard in ("0/2", "1/2"):
        assert main(prepare_argv(dataset, out, "--engine", "dask", "--scheduler", cluster[0], "--shard", shard,
                                 "--no-merge")) == 0
    assert main(prepare_argv(dataset, out, "--merge-only")) == 0
    assert same_cache(out, dataset["ref"])


def _kill_a_worker_when_parts_appear(client, parts: Path, n: int, seen: dict) -> None:
    """Once `n` parts exist, SIGKILL one worker process (the nanny restarts it); note what was done."""
    deadline = time.time() + 120
    while len(list(parts.glob("*.npz"))) < n and time.time() < deadline:
        time.sleep(0.02)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    seen["parts_at_kill"] = len(list(parts.glob("*.npz")))
    seen["pid"] = victim
    os.kill(victim, signal.SIGKILL)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, dataset, tmp_path, monkeypatch):
    address, client = cluster
    out = tmp_path / "killed"
    monkeypatch.setattr(core.audio.prepare, "process_track", scale_tasks.process_track_slow)
    seen: dict = {}
    killer = threading.Thread(target=_kill_a_worker_when_parts_appear, args=(client, out / "parts", 3, seen))
    killer.start()
    with open_engine(EngineConfig(engine="dask", scheduler=address)) as engine:
        res = core.audio.prepare.prepare_dataset(dataset["catalog"], out, engine=engine, progress=False)
    killer.join()
    n = len(dataset["catalog"])
    assert 3 <= seen["parts_at_kill"] < n  # killed mid-run
    assert res.computed == n and len(list((out / "parts").glob("*.npz"))) == n
    final = load_catalog(out)
    assert final["track_id"].is_unique and len(final) == n
    assert same_cache(out, dataset["ref"])  # nothing lost, nothing twice (same segments, same rows)
    client.wait_for_workers(2, timeout=120)
    assert seen["pid"] not in client.run(os.getpid).values()  # the nanny started a fresh worker


def test_rerun_after_the_client_is_killed_reuses_every_finished_part(cluster, dataset, tmp_path):
    address, _ = cluster
    out = tmp_path / "client_killed"
    code = "import sys; from tests.helpers.scale_tasks import run_prepare_slow as r; sys.exit(r(sys.argv[1:]))"
    argv = prepare_argv(dataset, out, "--engine", "dask", "--scheduler", address)
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list((out / "parts").glob("*.npz"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    time.sleep(1.0)  # tasks already running finish their (atomic) part
    before = {p: (p.stat().st_mtime_ns, read_part_meta(p)["status"]) for p in (out / "parts").glob("*.npz")}
    assert 3 <= len(before) < len(dataset["catalog"])
    with open_engine(EngineConfig(engine="dask", scheduler=address)) as engine:
        res = core.audio.prepare.prepare_dataset(dataset["catalog"], out, engine=engine, progress=False)
    finished = [p for p, (_, status) in before.items() if status == "ok"]
    assert finished and all(p.stat().st_mtime_ns == before[p][0] for p in finished)  # reused, not rewritten
    assert res.reused >= len(finished) and res.computed + res.reused == len(dataset["catalog"])
    assert same_cache(out, dataset["ref"])


def test_a_task_that_raises_is_recorded_and_state_is_built_once_per_worker(cluster):
    with open_engine(EngineConfig(engine="dask", scheduler=cluster[0])) as engine:
        results = engine.map(scale_tasks.probe_or_raise, [(i, 4) for i in range(10)], progress=False)
    assert results[4] == TaskFailure("failed: ValueError: item 4 is bad")
    ok = [r for r in results if not isinstance(r, TaskFailure)]
    assert [r[0] for r in ok] == [i for i in range(10) if i != 4]
    tokens: dict[int, set[str]] = {}
    for _, pid, token in ok:
        tokens.setdefault(pid, set()).add(token)
    assert all(len(t) == 1 for t in tokens.values()) and set(tokens) <= set(cluster[1].run(os.getpid).values())


def test_scheduler_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster[0])
    with open_engine(EngineConfig(engine="dask")) as engine:
        assert engine.n_workers() == 2


def test_unreachable_scheduler_exits_2_and_writes_nothing(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    out = tmp_path / "never"
    assert main(prepare_argv(dataset, out, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9") and "Traceback" not in err
    assert main(prepare_argv(dataset, out, "--engine", "dask")) == 2
    assert "needs --scheduler" in capsys.readouterr().err
    assert not out.exists()


def test_help_names_the_engine_flags(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--engine {local,dask}" in text and "--scheduler ADDRESS" in text and "DASK_SCHEDULER_ADDRESS" in text


def _embed_batches_args(ds: Path, tracks: list[tuple[str, str]], weights: Path) -> list[tuple]:
    """train.embed's task arguments: batches of 2 tracks through fcn_msd, 10 s of each file."""
    return [(str(ds), tracks[i : i + 2], ("fcn_msd",), str(weights), "cpu", 2, 10.0) for i in range(0, len(tracks), 2)]


def test_embedding_on_dask_equals_local_and_loads_the_encoder_once_per_worker(cluster, shared_data, tmp_path):
    embed = pytest.importorskip("core.encoders.embed", reason="train.embed's task (the encoders issue) is absent")
    import numpy as np

    from core.encoders.embed import embed_batches
    from core.scale import LocalEngine

    clips = sorted((shared_data / "gtzan_mini" / "genres_original").glob("*/*.00000.wav"))[:3]
    tracks = [(c.stem, str(c)) for c in clips] + [("missing", str(tmp_path / "missing.wav"))]
    weights = shared_data / "weights"
    local = embed_batches(LocalEngine(1), _embed_batches_args(tmp_path / "local", tracks, weights), progress=False)
    with open_engine(EngineConfig(engine="dask", scheduler=cluster[0])) as engine:
        dask = embed_batches(engine, _embed_batches_args(tmp_path / "dask", tracks, weights), progress=False)
    assert sorted((s.track_id, s.status, s.reason) for s in dask) == sorted((s.track_id, s.status, s.reason)
                                                                             for s in local)
    status = {s.track_id: s for s in dask}
    assert [status[t].status for t, _ in tracks] == ["done"] * 3 + ["skipped"] and status["missing"].reason
    for tid, _ in tracks[:3]:
        with np.load(embed.part_file(tmp_path / "local", "fcn_msd", tid)) as a, \
                np.load(embed.part_file(tmp_path / "dask", "fcn_msd", tid)) as b:
            assert np.array_equal(a["embedding"], b["embedding"]) and np.array_equal(a["frames"], b["frames"])

    def loads() -> int:
        from core.encoders.embed import cached_encoder

        return cached_encoder.cache_info().misses

    per_worker = cluster[1].run(loads)
    assert sum(per_worker.values()) >= 1 and max(per_worker.values()) == 1  # once per worker, not per task


def test_dask_tasks_run_with_subnormals_flushed(cluster):
    with open_engine(EngineConfig(engine="dask", scheduler=cluster[0])) as engine:
        results = engine.map(scale_tasks.flush_probe, [(i,) for i in range(4)], progress=False)
    assert all(flag for _, _, flag in results)
    assert {pid for _, pid, _ in results} <= set(cluster[1].run(os.getpid).values())
