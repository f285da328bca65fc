"""Hostile input against the pretrained-weights system: `python -m train.weights fetch` from misbehaving
loopback servers (trickling, endless, garbage answers, bad URLs, a planted symlink at the temporary file),
label files and state dicts that are corrupt, forged (stride-0 tensors), of the wrong dtype or non-finite,
and `train.embed` resuming after its weights file was replaced or a part holds NaN."""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from core.encoders.registry import load_encoder
from core.encoders.weights import WEIGHT_FILES, WeightsError, sha256_of
from train.weights import main as weights_main

ENC = "efficientat_mn04"


# ------------------------------------------------------------------ misbehaving HTTP servers (bounded)
class _Raw(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve_raw(answer: Callable[[socket.socket, dict], None]) -> tuple[_Raw, str, dict]:
    """A loopback TCP server that reads one request head and lets `answer(sock, stats)` reply."""
    stats = {"sent": 0, "stop": threading.Event()}

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                head += chunk
            try:
                answer(self.request, stats)
            except OSError:  # the client hung up: what a bounded download does
                pass

    srv = _Raw(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}", stats


@contextmanager
def _raw_server(answer: Callable[[socket.socket, dict], None]) -> Iterator[tuple[str, dict]]:
    """`_serve_raw` for the length of a `with` block: (url, stats), stopped and closed on the way out."""
    srv, url, stats = _serve_raw(answer)
    try:
        yield url, stats
    finally:
        stats["stop"].set()
        srv.shutdown()
        srv.server_close()


def _trickle(sock: socket.socket, stats: dict) -> None:
    sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 417\r\n\r\n")
    for _ in range(100):  # at most 100 bytes over 20 s, one every 0.2 s
        if stats["stop"].wait(0.2):
            return
        sock.sendall(b"x")


def _trickle_head(sock: socket.socket, stats: dict) -> None:
    sock.sendall(b"HTTP/1.0 200 OK\r\nX-Slow: ")
    for _ in range(100):  # a header line that never ends, one byte every 0.2 s
        if stats["stop"].wait(0.2):
            return
        sock.sendall(b"x")


def _endless(sock: socket.socket, stats: dict) -> None:
    sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    block = b"y" * 65536
    for _ in range(3000):  # at most ~200 MB
        if stats["stop"].is_set():
            return
        sock.sendall(block)
        stats["sent"] += len(block)


def _garbage(sock: socket.socket, stats: dict) -> None:
    sock.sendall(b"GARBAGE\r\n\r\n")


def _huge_length(sock: socket.socket, stats: dict) -> None:
    sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 10000000000\r\n\r\n" + b"z" * 1000)


def _exact(body: bytes) -> Callable[[socket.socket, dict], None]:
    def answer(sock: socket.socket, stats: dict) -> None:
        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return answer


def test_fetch_never_writes_through_a_planted_symlink(weights_dir, tmp_path, capsys):
    wf = WEIGHT_FILES["tags_msd"]
    dest = tmp_path / "w" / wf.path
    dest.parent.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, dest.with_name(f".{dest.name}.part"))
    for body, rc in ((b"tampered tags\n", 2), (wf.local(weights_dir).read_bytes(), 0)):
        with _raw_server(_exact(body)) as (url, stats):
            assert weights_main(["fetch", "tags_msd", "--to", str(tmp_path / "w"), "--base-url", url]) == rc
        assert victim.read_text() == "precious"
    assert sha256_of(dest) == wf.sha256 and not dest.is_symlink()
    assert not [p for p in dest.parent.iterdir() if p.name.endswith(".part") and not p.is_symlink()]
    assert "SHA-256 mismatch" in capsys.readouterr().err


@pytest.mark.parametrize("answer", [_trickle, _trickle_head], ids=["body", "header"])
def test_fetch_bounds_a_trickling_server_in_total_time(answer, tmp_path, capsys):
    t0 = time.monotonic()
    with _raw_server(answer) as (url, stats):
        rc = weights_main(["fetch", "tags_msd", "--to", str(tmp_path), "--base-url", url, "--timeout", "2",
                           "--total-timeout", "1.5"])
    assert rc == 2 and time.monotonic() - t0 < 5
    err = capsys.readouterr().err
    assert "took longer than 1.5 s" in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("*tags*"))


def test_fetch_cuts_off_an_endless_body_at_the_listed_size(tmp_path, capsys):
    with _raw_server(_endless) as (url, stats):
        assert weights_main(["fetch", "tags_msd", "--to", str(tmp_path), "--base-url", url, "--timeout", "5"]) == 2
    assert "cut off" in capsys.readouterr().err
    assert stats["sent"] < 20 * 2**20  # the client stopped reading long before the server's bound
    assert not list(tmp_path.rglob("*tags*"))
    with _raw_server(_huge_length) as (url, stats):
        assert weights_main(["fetch", "tags_msd", "--to", str(tmp_path), "--base-url", url]) == 2
    assert "announces 10000000000 bytes" in capsys.readouterr().err


def test_fetch_garbage_answer_and_bad_urls_exit_2_with_one_line(tmp_path, capsys):
    with _raw_server(_garbage) as (url, stats):
        assert weights_main(["fetch", "tags_msd", "--to", str(tmp_path), "--base-url", url, "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "download of" in err and "BadStatusLine" in err and err.count("\n") == 1
    for bad in ("notaurl", "http://a b/x", "http://127.0.0.1:9/x\r\nX-Injected: 1", "ftp://example.org/x"):
        assert weights_main(["fetch", "tags_msd", "--to", str(tmp_path), "--base-url", bad]) == 2
        err = capsys.readouterr().err
        assert "not a usable download URL" in err and err.count("\n") == 1
    assert not list(tmp_path.rglob("*tags*"))


# ------------------------------------------------------------------ label files and state dicts
def _weights_copy(weights_dir: Path, dest: Path, *real: str) -> Path:
    """A weights folder of links to the shared files, except `real` (relative paths), which are copies."""
    for wf in WEIGHT_FILES.values():
        target = dest / wf.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if wf.path in real:
            shutil.copyfile(wf.local(weights_dir), target)
        else:
            os.symlink(wf.local(weights_dir), target)
    return dest


def _rewrite(path: Path, change: Callable[[dict], None]) -> None:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    change(sd)
    torch.save(sd, path)


def test_label_file_without_display_name_or_not_utf8(weights_dir, tmp_path, capsys):
    wdir = _weights_copy(weights_dir, tmp_path / "w", "efficientat/class_labels_indices.csv",
                         "sota_music_taggers/msd/tags.txt")
    (wdir / "efficientat/class_labels_indices.csv").write_text("index,mid,name\n0,/m/x,Speech\n")
    (wdir / "sota_music_taggers/msd/tags.txt").write_bytes(b"rock\npop\ncaf\xe9\n")
    with pytest.raises(WeightsError, match="display_name"):
        load_encoder(ENC, wdir)
    with pytest.raises(WeightsError, match="not UTF-8"):
        load_encoder("fcn_msd", wdir)
    assert weights_main(["check", "--weights-dir", str(wdir)]) == 2
    out = capsys.readouterr().out
    assert "no display_name column" in out and "not UTF-8" in out
    assert "loaded   musicnn_mtat" in out  # check goes on to the other encoders


def test_forged_int_and_nan_state_dicts_are_refused_before_building(weights_dir, tmp_path):
    wdir = _weights_copy(weights_dir, tmp_path / "w", "sota_music_taggers/msd/fcn/best_model.pth",
                         WEIGHT_FILES[ENC].path)
    fcn, eat = wdir / WEIGHT_FILES["fcn_msd"].path, wdir / WEIGHT_FILES[ENC].path

    def forge(sd: dict) -> None:  # a 50 x 200,000,000 matrix stored in 200 bytes
        sd["dense.weight"] = torch.zeros(50, 1).expand(50, 200_000_000)

    _rewrite(fcn, forge)
    assert fcn.stat().st_size < 3_000_000
    with pytest.raises(WeightsError, match="claims shape"):
        load_encoder("fcn_msd", wdir)
    _rewrite(eat, lambda sd: sd.update({k: (v * 1000).to(torch.int64) for k, v in sd.items()
                                        if v.is_floating_point()}))
    with pytest.raises(WeightsError, match="torch.int64"):
        load_encoder(ENC, wdir)
    shutil.copyfile(WEIGHT_FILES[ENC].local(weights_dir), eat)
    _rewrite(eat, lambda sd: sd["classifier.2.weight"].view(-1)[:5].fill_(float("nan")))
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_encoder(ENC, wdir)


# ------------------------------------------------------------------ train.embed: refuse, never reuse stale parts
@pytest.fixture(scope="module")
def tiny_ds(tmp_path_factory) -> Path:
    """A prepared dataset of 3 demo-corpus tracks."""
    from core.audio.catalogs import build_catalog
    from core.audio.prepare import prepare_dataset

    out = tmp_path_factory.mktemp("hostile_embed") / "tiny"
    prepare_dataset(build_catalog("demo").head(3).reset_index(drop=True), out, workers=1, progress=False)
    return out


def _embed(ds: Path, wdir: Path) -> int:
    from train.embed import main

    return main(["--data", str(ds), "--encoders", ENC, "--weights-dir", str(wdir), "--max-seconds", "2",
                 "--quiet"])


def test_embed_refuses_int_weights_and_recomputes_after_a_weights_change(weights_dir, tiny_ds, tmp_path, capsys):
    from core.encoders.embed import part_file
    from core.recommend.embeddings import load_embedding

    wdir = _weights_copy(weights_dir, tmp_path / "w", WEIGHT_FILES[ENC].path)
    eat = wdir / WEIGHT_FILES[ENC].path
    _rewrite(eat, lambda sd: sd.update({k: v.to(torch.int64) for k, v in sd.items() if v.is_floating_point()}))
    assert _embed(tiny_ds, wdir) == 2
    assert "torch.int64" in capsys.readouterr().err and not (tiny_ds / "frame_parts").exists()
    shutil.copyfile(WEIGHT_FILES[ENC].local(weights_dir), eat)
    assert _embed(tiny_ds, wdir) == 0
    assert f"{ENC}: 3 computed, 0 reused" in capsys.readouterr().out
    first, _ = load_embedding(tiny_ds, f"pretrained_{ENC}")
    _rewrite(eat, lambda sd: sd["classifier.2.weight"].mul_(-1.5))  # same architecture, other weights
    assert _embed(tiny_ds, wdir) == 0
    assert f"{ENC}: 3 computed, 0 reused" in capsys.readouterr().out
    second, meta = load_embedding(tiny_ds, f"pretrained_{ENC}")
    assert meta["weights"]["sha256"] == sha256_of(eat) and not np.allclose(first, second)
    part = part_file(tiny_ds, ENC, _first_track(tiny_ds))
    with np.load(part) as z:
        fields = {k: z[k] for k in z.files}
    fields["embedding"] = np.full_like(fields["embedding"], np.nan)
    np.savez(part, **fields)  # a NaN part of the right track and weights is recomputed, never reused
    assert _embed(tiny_ds, wdir) == 0
    assert f"{ENC}: 1 computed, 2 reused" in capsys.readouterr().out
    third, _ = load_embedding(tiny_ds, f"pretrained_{ENC}")
    np.testing.assert_allclose(third, second, atol=1e-5)


def _first_track(ds: Path) -> str:
    from core.audio.cache import FeatureCache

    return str(FeatureCache.open(ds).tracks["track_id"].iloc[0])
