"""`python -m train.weights`: the listed registry, `check` on a weights folder, and `fetch` from a loopback
HTTP server serving the shared copy (SHA-256 verified; a tampered or absent file writes nothing, exit 2)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

from core.encoders.weights import BASE_URL_ENV, WEIGHT_FILES, sha256_of
from train.weights import main


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


def _serve(folder: Path):
    handler = functools.partial(_Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def test_registry_hashes_match_the_shared_copy(weights_dir):
    for wf in WEIGHT_FILES.values():
        assert wf.url.startswith("https://github.com/") and wf.licence == "MIT"
        assert sha256_of(wf.local(weights_dir)) == wf.sha256, wf.path


def test_fetch_from_loopback(weights_dir, tmp_path, capsys):
    srv, url = _serve(weights_dir)
    try:
        assert main(["fetch", "fcn_msd", "--to", str(tmp_path / "w"), "--base-url", url]) == 0
        got = tmp_path / "w" / WEIGHT_FILES["fcn_msd"].path
        assert got.read_bytes() == WEIGHT_FILES["fcn_msd"].local(weights_dir).read_bytes()
        assert "verified" in capsys.readouterr().out
    finally:
        srv.shutdown()


def test_fetch_rejects_a_tampered_file(weights_dir, tmp_path, capsys, monkeypatch):
    served = tmp_path / "served"
    wf = WEIGHT_FILES["tags_msd"]
    (served / wf.path).parent.mkdir(parents=True)
    shutil.copy(wf.local(weights_dir), served / wf.path)
    with open(served / wf.path, "a") as f:
        f.write("not a tag\n")
    srv, url = _serve(served)
    monkeypatch.setenv(BASE_URL_ENV, url)  # the environment override works too
    try:
        assert main(["fetch", "tags_msd", "--to", str(tmp_path / "w")]) == 2
        assert "SHA-256 mismatch" in capsys.readouterr().err
        assert not (tmp_path / "w" / wf.path).exists()
        assert main(["fetch", "efficientat_mn04", "--to", str(tmp_path / "w")]) == 2  # 404 there
        assert "download of" in capsys.readouterr().err
        assert not list((tmp_path / "w").rglob("*.pt*"))
    finally:
        srv.shutdown()


def test_fetch_unknown_name(tmp_path, capsys):
    assert main(["fetch", "vggish", "--to", str(tmp_path)]) == 2
    assert "unknown weights file" in capsys.readouterr().err


def test_list_and_check(weights_dir, tmp_path, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(wf.url in out and wf.sha256 in out for wf in WEIGHT_FILES.values())
    (tmp_path / "efficientat").mkdir()
    shutil.copy(weights_dir / "efficientat/class_labels_indices.csv", tmp_path / "efficientat")
    assert main(["check", "--weights-dir", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "missing" in out and "ok       " in out and "mn04_as_mAP_432.pt" in out
