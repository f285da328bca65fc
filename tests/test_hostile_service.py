"""Hostile input against the search service: huge or coerced vectors, malformed bodies that Starlette used to
answer in its own shape, oversized bodies and uploads (refused by Content-Length and cut off while streaming,
checked on a real `python -m train.serve` process over loopback sockets), saved indexes holding NaN rows or
flipped bytes, and serve flags that cannot work."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.retrieval.api import create_app
from core.retrieval.index import build_index
from core.retrieval.service import SearchService, ServiceConfig
from tests.conftest import REPO
from tests.helpers.processes import free_port, stop_process

EMB = "retrieval_hostile"
DIM = 16


@pytest.fixture(scope="module")
def svc_ds(demo_dir, tmp_path_factory) -> Path:
    """A demo dataset copy with a seeded 16-d `retrieval_hostile` embedding (no training needed)."""
    from core.recommend.embeddings import write_embedding

    out = tmp_path_factory.mktemp("hostile_svc") / "demo"
    shutil.copytree(demo_dir, out, ignore=shutil.ignore_patterns("embeddings", "retrieval", "frames"))
    from core.audio.cache import FeatureCache

    n = len(FeatureCache.open(out).tracks)
    vecs = np.random.default_rng(0).standard_normal((n, DIM)).astype(np.float32)
    write_embedding(out, EMB, vecs, {"family": "contrastive"})
    return out


@pytest.fixture(scope="module")
def client(svc_ds) -> TestClient:
    return TestClient(create_app(SearchService(svc_ds, EMB, "exact", ServiceConfig(max_k=20, max_json_bytes=200_000))))


def _err(r, status: int | tuple[int, ...], code: str | None = None) -> dict:
    assert r.status_code in (status if isinstance(status, tuple) else (status,)), r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.mark.parametrize("kind", ["exact", "flat", "hnsw", "ivf_flat", "ivf_pq"])
def test_huge_finite_vectors_rank_like_their_direction(client, svc_ds, kind):
    if kind != "exact":
        client = TestClient(create_app(SearchService(svc_ds, EMB, kind, ServiceConfig(max_k=20))))
    for kind_vec in ([3e38] * DIM, [1e20] * DIM, [-3e38] + [1e30] * (DIM - 1)):
        small = np.asarray(kind_vec, np.float64) / np.abs(kind_vec).max()
        big = client.post("/search", json={"vector": kind_vec, "k": 5}).json()["results"]
        ref = client.post("/search", json={"vector": small.tolist(), "k": 5}).json()["results"]
        assert [h["track_id"] for h in big] == [h["track_id"] for h in ref]
        assert all(h["score"] != 0.0 for h in big) and [h["row"] for h in big] != [0, 1, 2, 3, 4]


def test_no_silent_coercion_of_k_or_vectors(client, svc_ds):
    tid = SearchService(svc_ds, EMB, "exact").ids[0]
    _err(client.post("/search", json={"track_id": tid, "k": True}), 422, "invalid_request")
    _err(client.post("/search", json={"track_id": tid, "k": "5"}), 422, "invalid_request")
    _err(client.post("/search", json={"vector": [True] * DIM}), 422, "invalid_request")
    _err(client.post("/search", json={"vector": ["0.5"] * DIM}), 422, "invalid_request")
    _err(client.post("/search", json={"queries": [{"vector": [False] * DIM}]}), 422, "invalid_request")
    assert client.post("/search", json={"vector": [1] * DIM, "k": 3}).status_code == 200  # integers are numbers


def test_malformed_bodies_answer_in_the_documented_shape(client, svc_ds):
    tid = SearchService(svc_ds, EMB, "exact").ids[0]
    json_ct = {"content-type": "application/json"}
    huge_k = '{"track_id": "' + tid + '", "k": ' + "9" * 5000 + "}"
    _err(client.post("/search", content=huge_k, headers=json_ct), 422)
    _err(client.post("/search", content="[" * 5000 + "]" * 5000, headers=json_ct), 422, "invalid_request")
    _err(client.post("/search", content=b'{"track_id": "\xff\xfe"}', headers=json_ct), 422, "invalid_request")
    _err(client.post("/search", content=b"", headers=json_ct), 422, "invalid_request")
    _err(client.post("/search", content=b"x" * 300_000, headers=json_ct), 413, "body_too_large")
    many = {f"f{i}": "1" for i in range(1200)}  # Starlette's multipart field limit
    _err(client.post("/search/audio", data=many, files={"file": ("x.wav", b"RIFF", "audio/wav")}), 400,
         "bad_request")
    _err(client.post("/search/audio", content=b"--x\r\nbroken", headers={
        "content-type": "multipart/form-data; boundary=x"}), (400, 422))
    _err(client.get("/no-such-path"), 404, "not_found")


def test_indexes_with_nan_rows_or_flipped_bytes_are_refused_at_start(svc_ds, tmp_path, capsys):
    from train.serve import main

    ds = tmp_path / "demo"
    shutil.copytree(svc_ds, ds)
    vecs = np.load(ds / "embeddings" / f"{EMB}.npy")
    idx_dir = ds / "retrieval" / "index"
    bad = build_index("exact", vecs)
    bad.vectors[3] = np.nan  # an index built from a NaN row (its checksum matches)
    bad.save(idx_dir / f"{EMB}.exact")
    with pytest.raises(ValueError, match="NaN or infinite"):
        SearchService(ds, EMB, "exact")
    assert main(["--data", str(ds), "--embedding", EMB, "--index", "exact"]) == 2
    assert "NaN or infinite" in capsys.readouterr().err
    hnsw = build_index("hnsw", vecs).save(idx_dir / f"{EMB}.hnsw")
    raw = bytearray(hnsw.read_bytes())
    for pos in np.random.default_rng(3).choice(64, 20, replace=False):  # the header: sizes and counts
        raw[pos] ^= 0xFF
    hnsw.write_bytes(bytes(raw))
    assert main(["--data", str(ds), "--embedding", EMB, "--index", "hnsw"]) == 2
    err = capsys.readouterr().err
    assert "unreadable" in err and err.count("\n") == 1


def test_an_index_changed_after_it_was_built_is_refused_even_where_faiss_reads_it(svc_ds, tmp_path, capsys):
    """Flipped bytes deep in the vectors leave a file FAISS still reads; the sidecar's SHA-256 catches them."""
    import faiss

    from train.serve import main

    ds = tmp_path / "demo"
    shutil.copytree(svc_ds, ds)
    vecs = np.load(ds / "embeddings" / f"{EMB}.npy")
    path = build_index("flat", vecs).save(ds / "retrieval" / "index" / f"{EMB}.flat")
    raw = bytearray(path.read_bytes())
    for pos in range(len(raw) - 400, len(raw) - 380):  # inside the stored vectors
        raw[pos] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert faiss.read_index(str(path)).ntotal == len(vecs)  # FAISS alone does not notice
    assert main(["--data", str(ds), "--embedding", EMB, "--index", "flat"]) == 2
    err = capsys.readouterr().err
    assert "SHA-256" in err and err.count("\n") == 1


@pytest.mark.parametrize("flags", [["--threads", "0"], ["--threads", "-5"], ["--port", "99999"], ["--max-k", "0"],
                                   ["--max-upload-mb", "-1"], ["--max-upload-mb", "nan"]])
def test_serve_flags_that_cannot_work_exit_2(svc_ds, flags, capsys):
    from train.serve import main

    with pytest.raises(SystemExit) as e:
        main(["--data", str(svc_ds), "--embedding", EMB, *flags])
    assert e.value.code == 2
    assert flags[0] in capsys.readouterr().err.splitlines()[-1]


# ------------------------------------------------------------------ a real server over loopback sockets
@pytest.fixture(scope="module")
def server(svc_ds):
    port = free_port()
    cmd = [sys.executable, "-m", "train.serve", "--data", str(svc_ds), "--embedding", EMB, "--index", "exact",
           "--port", str(port), "--max-upload-mb", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"serve exited: {proc.stderr.read().decode()[-500:]}")
                time.sleep(0.1)
        yield port
    finally:
        stop_process(proc)


def _raw_post(port: int, path: str, headers: str, chunks: int, chunk: bytes = b"0" * 65536, first: bytes = b""
              ) -> tuple[int, float, int]:
    """Send a request head, `first` and up to `chunks` body chunks (stopping when the server answers or hangs
    up); the status code, the seconds it took and the chunks sent."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + first)
        s.settimeout(0.05)
        reply, sent = b"", 0
        for sent in range(1, chunks + 1):  # noqa: B007
            try:
                s.sendall(chunk)
            except OSError:
                break
            try:
                reply += s.recv(65536)
            except TimeoutError:
                continue
            if reply:
                break
        s.settimeout(5)
        while b"\r\n\r\n" not in reply:
            part = s.recv(65536)
            if not part:
                break
            reply += part
    return int(reply.split(b" ", 2)[1]), time.monotonic() - t0, sent


def test_oversized_bodies_are_refused_before_or_while_reading(server):
    gib = 2**30
    code, secs, _ = _raw_post(server, "/search/audio", f"Content-Type: multipart/form-data; boundary=b\r\n"
                                                          f"Content-Length: {gib}\r\n", 16)
    assert code == 413 and secs < 3
    code, secs, _ = _raw_post(server, "/search", f"Content-Type: application/json\r\nContent-Length: {gib}\r\n",
                              16)
    assert code == 413 and secs < 3
    chunked = "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n"
    part = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n")
    code, secs, sent = _raw_post(server, "/search/audio", chunked, 200, b"10000\r\n" + b"1" * 65536 + b"\r\n",
                                 first=f"{len(part):x}\r\n".encode() + part + b"\r\n")
    assert code == 413 and secs < 10 and sent < 60  # cut off near the 1-MiB limit, not after the 13 MB offered
    with urllib.request.urlopen(f"http://127.0.0.1:{server}/health", timeout=5) as r:
        assert r.status == 200
