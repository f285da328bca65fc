"""Where pretrained weights come from: a listed registry of files (path relative to a weights folder laid
out like `../shared/data/weights`, public source URL, SHA-256, licence), the folder lookup
(`--weights-dir`, else `$WORKBENCH_WEIGHTS`), and a state-dict loader whose errors say what is wrong.

Nothing here downloads except `fetch`, which only `python -m train.weights fetch` calls.
"""

from __future__ import annotations

import http.client
import os
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from core.io import sha256_of, umask_mode

WEIGHTS_ENV = "WORKBENCH_WEIGHTS"
BASE_URL_ENV = "WORKBENCH_WEIGHTS_BASE_URL"  # overrides every file's host (tests, mirrors)
WON = "https://github.com/minzwon/sota-music-tagging-models/raw/master/"
EAT = "https://github.com/fschmid56/EfficientAT/"


class WeightsError(Exception):
    """A weights file that is missing, corrupt or of another model; the message says which and what to do."""


@dataclass(frozen=True)
class WeightFile:
    """One listed file: where it sits in a weights folder and where it can be downloaded."""

    name: str
    path: str  # relative to the weights folder
    url: str
    sha256: str
    licence: str = "MIT"
    source: str = ""
    size: int = 0  # bytes; a download is cut off past this (plus DOWNLOAD_MARGIN)

    def local(self, weights_dir: Path | str) -> Path:
        """Its path inside a weights folder."""
        return Path(weights_dir) / self.path


def _won(name: str, rel: str, sha: str, size: int) -> WeightFile:
    return WeightFile(name, f"sota_music_taggers/{rel}", WON + f"models/{rel}", sha, "MIT",
                      "minzwon/sota-music-tagging-models (Won et al., SMC 2020)", size)


WEIGHT_FILES: dict[str, WeightFile] = {f.name: f for f in [
    _won("fcn_mtat", "mtat/fcn/best_model.pth",
         "3bfc67e43f3e180194ab5993c947ffbf44b1a23dcdf42c374b1ced9d4d4de72e", 1902811),
    _won("fcn_msd", "msd/fcn/best_model.pth",
         "6012aa7eecf864a8081faedca56af054521e8dfb9c5c98659a3dd5d3e1e66f21", 1902815),
    _won("fcn_jamendo", "jamendo/fcn/best_model.pth",
         "7bce08a66dbc70d096b0a330f44b4cacd9aa25519b83489fbb98f2164a194e2b", 1902815),
    _won("musicnn_mtat", "mtat/musicnn/best_model.pth",
         "0a7ac8aa3daab3a1c59cae16a771b0bfa4064ac94502ebc990a5c32a2771e189", 3257164),
    _won("musicnn_jamendo", "jamendo/musicnn/best_model.pth",
         "66280f4859376377c47f64313c7ac889a3201fdb06a01bf6e94ac6e619081bb5", 3257168),
    _won("crnn_msd", "msd/crnn/best_model.pth",
         "ebb99855ed0c83f38845db9cfb383dd6fc70938bc58701dcb66e18af9ee7fbea", 1687711),
    _won("crnn_jamendo", "jamendo/crnn/best_model.pth",
         "0a558989c0793f488cb677d188464c91f47c007f7c70473230e55537ca598215", 1687626),
    WeightFile("tags_mtat", "sota_music_taggers/mtat/tags.txt", WON + "split/mtat/top50_tags.txt",
               "f54e613d7a687de34a19cf99d1d1d252466134f11da8c9f31efbd365a77a29ff", "MIT",
               "minzwon/sota-music-tagging-models (the 50 MTAT tags in output order)", 347),
    WeightFile("tags_msd", "sota_music_taggers/msd/tags.txt", WON + "split/msd/50tagList.txt",
               "3b0fd183e73f8a0e7e65b955f61ec3034e517a6427cacad8ec0c2f16394d0770", "MIT",
               "minzwon/sota-music-tagging-models (the 50 MSD tags in output order)", 417),
    WeightFile("efficientat_mn04", "efficientat/mn04_as_mAP_432.pt",
               EAT + "releases/download/v0.0.1/mn04_as_mAP_432.pt",
               "899a8c6217063f6941793102a2780b3dd788ab11fce468d9cf5f0577c453321c", "MIT",
               "fschmid56/EfficientAT (Schmid et al., ICASSP 2023), GitHub release v0.0.1", 4066513),
    WeightFile("audioset_labels", "efficientat/class_labels_indices.csv",
               EAT + "raw/main/metadata/class_labels_indices.csv",
               "cdd1049833c4b86127c2773ac0d14a2754b6a6d0d1798002ed5c66e699708429", "MIT",
               "fschmid56/EfficientAT (AudioSet's 527 class labels)", 14675),
]}


def resolve_weights_dir(weights_dir: Path | str | None = None) -> Path:
    """The weights folder: the argument, else `$WORKBENCH_WEIGHTS`; WeightsError when neither is set."""
    chosen = weights_dir or os.environ.get(WEIGHTS_ENV)
    if not chosen:
        raise WeightsError(f"no weights folder: pass --weights-dir DIR or set ${WEIGHTS_ENV} (a folder laid out "
                           "like ../shared/data/weights; see `python -m train.weights list`)")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise WeightsError(f"weights folder {path} does not exist")
    return path


def require_file(weights_dir: Path | str, name: str) -> Path:
    """Path of a listed file inside the weights folder; WeightsError naming the file and its source if absent."""
    wf = WEIGHT_FILES[name]
    path = wf.local(weights_dir)
    if not path.is_file():
        raise WeightsError(f"missing weights file {path} ({wf.name}); get it from {wf.url} ({wf.licence}, "
                           f"{wf.source}) or run `python -m train.weights fetch {wf.name} --to {weights_dir}`")
    return path


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """`torch.load(path, weights_only=True)` on CPU; WeightsError when the file is corrupt or no state dict."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and unpickler errors all mean "not a readable state dict"
        raise WeightsError(f"corrupt or unreadable weights file {path}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path} is not a state dict (got {type(sd).__name__})")
    for key, t in sd.items():  # an expanded (stride-0) or forged tensor claims more than the file holds
        claimed = t.numel() * t.element_size()
        if claimed > t.untyped_storage().nbytes():
            raise WeightsError(f"{path} is corrupt: {key} claims shape {tuple(t.shape)} ({claimed} bytes) but the "
                               f"file holds {t.untyped_storage().nbytes()} bytes for it")
    return dict(sd)


def load_strict(model: torch.nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    """`load_state_dict(strict=True)`; WeightsError listing missing/unexpected keys or shape mismatches."""
    missing = sorted(set(model.state_dict()) - set(sd))
    unexpected = sorted(set(sd) - set(model.state_dict()))
    if missing or unexpected:
        raise WeightsError(f"{path} is a state dict of another model: missing keys {_few(missing)}; "
                           f"unexpected keys {_few(unexpected)}")
    ref = model.state_dict()
    for key, t in sd.items():
        if t.dtype != ref[key].dtype:
            raise WeightsError(f"{path} does not fit the model: {key} is {t.dtype}, the model needs "
                               f"{ref[key].dtype} (a converted or foreign file; `python -m train.weights check`)")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise WeightsError(f"{path} is corrupt: {key} holds NaN or infinite values")
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit the model: {str(exc).strip()[:400]}") from None


def _few(keys: list[str], n: int = 8) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


DOWNLOAD_MARGIN = 64 * 1024  # bytes accepted past a file's listed size before a download is cut off
TOTAL_TIMEOUT_S = 600.0  # a whole download, however slowly the server trickles


def source_url(wf: WeightFile, base_url: str | None = None) -> str:
    """Download URL of a file: its public URL, or `base_url/<relative path>` when a base is given
    (argument or `$WORKBENCH_WEIGHTS_BASE_URL`). WeightsError for anything but a plain http(s) URL."""
    base = base_url or os.environ.get(BASE_URL_ENV)
    url = f"{base.rstrip('/')}/{wf.path}" if base else wf.url
    parts = urllib.parse.urlsplit(url) if not re.search(r"[\x00-\x20\x7f]", url) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise WeightsError(f"not a usable download URL: {url!r} (give http://HOST[:PORT]/... without spaces or "
                           "control characters)")
    return url


def _bounded_download(url: str, out: BinaryIO, limit: int, timeout: float, total_timeout: float) -> None:
    """`_download` in a worker thread that is given up after `total_timeout` seconds, so connecting and a
    trickled header are bounded too (the abandoned thread writes nothing more and ends at its next read)."""
    outcome: list[BaseException | None] = []
    stop = threading.Event()

    def work() -> None:
        try:
            _download(url, out, limit, timeout, total_timeout, stop)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=work, name="weights-fetch", daemon=True)
    worker.start()
    worker.join(total_timeout + 0.5)
    if worker.is_alive() or not outcome:
        stop.set()
        raise WeightsError(f"download of {url} took longer than {total_timeout:g} s; cut off")
    if outcome[0] is not None:
        raise outcome[0]


def _download(url: str, out: BinaryIO, limit: int, timeout: float, total_timeout: float,
              stop: threading.Event) -> None:
    """Stream `url` into the open file `out`: at most `limit` bytes, within `total_timeout` seconds overall
    (`timeout` per read), until `stop` is set. WeightsError on any failure."""
    deadline = time.monotonic() + total_timeout
    try:
        with urllib.request.urlopen(url, timeout=min(timeout, total_timeout)) as resp:
            claimed = resp.headers.get("Content-Length")
            if claimed and claimed.isdigit() and int(claimed) > limit:
                raise WeightsError(f"download of {url} refused: the server announces {claimed} bytes, the listed "
                                   f"file has at most {limit}")
            got = 0
            while block := resp.read1(1 << 16):
                got += len(block)
                if got > limit:
                    raise WeightsError(f"download of {url} cut off: more than {limit} bytes, larger than the "
                                       "listed file")
                if time.monotonic() > deadline or stop.is_set():
                    raise WeightsError(f"download of {url} took longer than {total_timeout:g} s; cut off")
                out.write(block)
    except WeightsError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        detail = re.sub(r"[\x00-\x1f\x7f]+", " ", str(exc)).strip()[:200]  # server text: one printable line
        raise WeightsError(f"download of {url} failed: {type(exc).__name__}: {detail}") from None


def fetch(name: str, to: Path | str, base_url: str | None = None, timeout: float = 60.0,
          total_timeout: float = TOTAL_TIMEOUT_S) -> Path:
    """Download a listed file into the weights folder `to` and check its SHA-256 (the file appears only when
    the hash matches). The download goes to a fresh temporary file in the destination folder (never through
    an existing file or link), is cut off past the listed size and after `total_timeout` seconds.
    WeightsError on an unknown name, a bad URL, a failed, oversized or too slow download or a hash mismatch."""
    if name not in WEIGHT_FILES:
        raise WeightsError(f"unknown weights file {name!r}; listed: {', '.join(WEIGHT_FILES)}")
    wf = WEIGHT_FILES[name]
    url = source_url(wf, base_url)
    dest = wf.local(to)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise WeightsError(f"cannot write into {dest.parent}: {exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _bounded_download(url, out, (wf.size or 1 << 34) + DOWNLOAD_MARGIN, timeout, total_timeout)
        got = sha256_of(tmp)
        if got != wf.sha256:
            raise WeightsError(f"SHA-256 mismatch for {url}: got {got}, listed {wf.sha256}; nothing written")
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
