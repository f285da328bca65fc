"""A real Dask cluster as the documentation starts one: `dask scheduler` and `dask worker ... --nworkers 2
--nthreads 1` as separate processes from a temporary folder, with the project's environment (the installed
package, no PYTHONPATH). `workbench prepare` and `workbench embed` on it give the local run's bytes; a worker
environment that cannot import the project, a scheduler address where no Dask scheduler answers (a web server,
a silent socket) and garbage addresses all end with exit 2, one line, and an untouched cache."""

from __future__ import annotations

import filecmp
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.scale import EngineError, LocalEngine
from tests.helpers import scale_tasks
from tests.helpers.processes import free_port, stop_process

distributed = pytest.importorskip("distributed")
BIN = Path(sys.executable).parent
WORKBENCH = BIN / "workbench"
CACHE_FILES = ["cache/mels.npy", "cache/segments.csv", "cache/baseline_raw.npy", "catalog.csv"]
BLOCKER = '''import sys
class _NoProject:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("core", "train", "ui"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, _NoProject())
'''

pytestmark = pytest.mark.skipif(not WORKBENCH.exists(), reason="the project is not installed (make install)")


def project_env(**extra: str) -> dict:
    """The environment a user's shell has after `make install`: the venv's bin first, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DASK_SCHEDULER_ADDRESS")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def start_cluster(folder: Path, env: dict, n_workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
    """`dask scheduler` + `dask worker ADDRESS --nworkers n --nthreads 1` started in `folder`; waits for the
    workers to register."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(folder / "cluster.log", "ab")  # noqa: SIM115 (closed with the processes)
    common = dict(cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    procs = [subprocess.Popen(["dask", "scheduler", "--port", str(port), "--no-dashboard"], **common)]
    time.sleep(1.0)
    procs.append(subprocess.Popen(["dask", "worker", address, "--nworkers", str(n_workers), "--nthreads", "1",
                                   "--no-dashboard", "--memory-limit", "0"], **common))
    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(n_workers, timeout=60)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        stop_process(proc)


def workbench(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """`workbench ARGS` as a user runs it (the console command, no PYTHONPATH)."""
    return subprocess.run([str(WORKBENCH), *args], cwd=cwd, env=project_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def small_gtzan(tmp_path_factory, shared_data) -> Path:
    """A GTZAN-layout root of 2 real clips of each of 2 genres (symlinks into gtzan_mini)."""
    root = tmp_path_factory.mktemp("gtzan4")
    src = shared_data / "gtzan_mini" / "genres_original"
    for genre in ("classical", "metal"):
        (root / genre).mkdir()
        for clip in sorted((src / genre).glob("*.wav"))[:2]:
            (root / genre / clip.name).symlink_to(clip)
    return root


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, small_gtzan, shared_data) -> Path:
    """The reference: prepare and embed on the local engine, in this process."""
    from core.audio.catalogs import build_catalog
    from core.audio.prepare import prepare_dataset
    from core.encoders.embed import EmbedConfig, run_embed

    out = tmp_path_factory.mktemp("local") / "ds"
    prepare_dataset(build_catalog("gtzan", small_gtzan), out, workers=1, progress=False)
    run_embed(out, EmbedConfig(encoders=("fcn_msd",), weights_dir=str(shared_data / "weights"), max_seconds=5,
                               progress=False))
    return out


def test_plain_dask_cli_cluster_prepares_and_embeds_like_local(tmp_path, small_gtzan, local_run, shared_data):
    address, procs = start_cluster(tmp_path, project_env())
    try:
        out = tmp_path / "dask" / "ds"
        r = workbench("prepare", "--dataset", "gtzan", "--root", str(small_gtzan), "--out", str(out), "--quiet",
                      "--engine", "dask", "--scheduler", address, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "4 ok, 0 skipped of 4 tracks" in r.stdout
        for f in CACHE_FILES:
            assert filecmp.cmp(local_run / f, out / f, shallow=False), f
        r = workbench("embed", "--data", str(out), "--encoders", "fcn_msd", "--weights-dir",
                      str(shared_data / "weights"), "--max-seconds", "5", "--quiet", "--engine", "dask",
                      "--scheduler", address, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        emb = "embeddings/pretrained_fcn_msd.npy"
        assert filecmp.cmp(local_run / emb, out / emb, shallow=False)
    finally:
        stop_cluster(procs)


def test_workers_that_cannot_import_the_project_stop_the_run_and_keep_the_cache(tmp_path, small_gtzan,
                                                                                local_run):
    blocker = tmp_path / "no_project"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    address, procs = start_cluster(tmp_path, project_env(PYTHONPATH=str(blocker)), n_workers=1)
    try:
        out = tmp_path / "ds"
        shutil.copytree(local_run, out, symlinks=True)
        before = {f: (out / f).read_bytes() for f in CACHE_FILES}
        t0 = time.monotonic()
        r = workbench("prepare", "--dataset", "gtzan", "--root", str(small_gtzan), "--out", str(out), "--quiet",
                      "--engine", "dask", "--scheduler", address, cwd=tmp_path)
        assert r.returncode == 2
        assert time.monotonic() - t0 < 60
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot import the project" in lines[0] and "No module named 'core'" in lines[0]
        assert {f: (out / f).read_bytes() for f in CACHE_FILES} == before
    finally:
        stop_cluster(procs)


def _http_server() -> tuple[str, http.server.HTTPServer]:
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"tcp://127.0.0.1:{srv.server_address[1]}", srv


def _silent_socket() -> tuple[str, socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # accepts connections (the kernel's backlog), never answers
    return f"tcp://127.0.0.1:{sock.getsockname()[1]}", sock


@pytest.mark.parametrize("kind", ["http", "silent", "tcp://[::1"])
def test_a_scheduler_address_where_no_scheduler_answers_exits_2_quickly(kind, tmp_path, small_gtzan):
    server = None
    if kind == "http":
        address, server = _http_server()
    elif kind == "silent":
        address, server = _silent_socket()
    else:
        address = kind
    try:
        t0 = time.monotonic()
        r = workbench("prepare", "--dataset", "gtzan", "--root", str(small_gtzan), "--out", str(tmp_path / "o"),
                      "--quiet", "--engine", "dask", "--scheduler", address, cwd=tmp_path, timeout=60)
        took = time.monotonic() - t0
    finally:
        if isinstance(server, socket.socket):
            server.close()
        elif server is not None:
            server.shutdown()
    assert r.returncode == 2, r.stderr
    assert took < 40
    lines = r.stderr.strip().splitlines()  # one line: no "Exception ignored in ... Client.__del__" at exit
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    expected = "is not a Dask scheduler" if kind in ("http", "silent") else "is not a Dask scheduler address"
    assert expected in lines[0]
    assert not (tmp_path / "o" / "catalog.csv").exists()


@pytest.mark.parametrize("address", ["garbage", "tcp://", "inproc://x", "tcp://[::1", "udp://1.2.3.4:5"])
def test_garbage_scheduler_addresses_are_refused_at_once(address, tmp_path, small_gtzan, capsys):
    from train.prepare import main

    t0 = time.monotonic()
    code = main(["--dataset", "gtzan", "--root", str(small_gtzan), "--out", str(tmp_path / "o"), "--quiet",
                 "--engine", "dask", "--scheduler", address])
    assert code == 2 and time.monotonic() - t0 < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{address!r} is not a Dask scheduler address" in err[0]
    assert not (tmp_path / "o").exists()


def test_a_batch_whose_every_task_fails_alike_is_an_engine_failure():
    with LocalEngine(2) as engine:
        with pytest.raises(EngineError, match="every one of the 3 tasks"):
            engine.map(scale_tasks.probe_or_raise, [(1, 1), (1, 1), (1, 1)], progress=False)
        mixed = engine.map(scale_tasks.probe_or_raise, [(0, 1), (1, 1), (2, 1)], progress=False)
    assert [type(r).__name__ for r in mixed] == ["tuple", "TaskFailure", "tuple"]
