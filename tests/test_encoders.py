"""Pretrained encoders rebuilt from their state dicts: strict loads, shapes, the FCN path against the
original layer stack, tag sanity on real GTZAN clips, and the weights errors (missing / foreign / corrupt)."""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from core.audio.config import AudioConfig
from core.audio.decode import load_audio
from core.encoders.base import EncoderError
from core.encoders.registry import SPECS, load_encoder
from core.encoders.weights import WEIGHT_FILES, WeightsError
from tests.conftest import SHARED_DATA

GENRES = "gtzan_mini/genres_original"


@pytest.fixture(scope="module")
def shared_data() -> Path:
    """../shared/data, or $WORKBENCH_SHARED_DATA (e.g. from a worktree); skips where absent."""
    root = Path(os.environ.get("WORKBENCH_SHARED_DATA", SHARED_DATA))
    if not (root / "gtzan_mini").is_dir():
        pytest.skip("../shared/data is not present")
    return root


@pytest.fixture(scope="module")
def encoders(weights_dir) -> dict:
    """Every registered encoder, loaded once (1 thread)."""
    torch.set_num_threads(1)
    return {}


def _enc(encoders: dict, weights_dir: Path, name: str):
    if name not in encoders:
        encoders[name] = load_encoder(name, weights_dir)
    return encoders[name]


@lru_cache(maxsize=32)
def _clip(shared_data: Path, clip: str, rate: int) -> np.ndarray:
    genre = clip.split(".")[0]
    return load_audio(shared_data / GENRES / genre / f"{clip}.wav", AudioConfig(sample_rate=rate))


@pytest.mark.parametrize("name", list(SPECS))
def test_strict_load_and_shapes(name, encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, name)
    sd = torch.load(WEIGHT_FILES[SPECS[name].weights].local(weights_dir), map_location="cpu", weights_only=True)
    assert set(enc.net.state_dict()) == set(sd)  # strict: every key used, none invented
    audio = _clip(shared_data, "blues.00001", enc.sample_rate)[: 12 * enc.sample_rate]
    out = enc.analyse(audio)
    assert out.embedding.shape == (enc.dim,)
    assert out.frames.ndim == 2 and out.frames.shape[1] == enc.dim
    assert out.frames.shape[0] == int(np.ceil(12.0 / enc.hop_s)) or (
        SPECS[name].family == "musicnn" and out.frames.shape[0] == 4)
    assert np.isfinite(out.frames).all() and np.isfinite(out.embedding).all()
    assert out.frames.std() > 0 and np.abs(out.embedding).sum() > 0
    assert ((out.scores >= 0) & (out.scores <= 1)).all()
    np.testing.assert_allclose(enc.embed(audio), out.embedding, rtol=1e-5, atol=1e-6)


def test_fcn_matches_the_original_layer_stack(encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, "fcn_mtat")
    audio = np.tile(_clip(shared_data, "classical.00000", enc.sample_rate), 2)[: int(29.1 * enc.sample_rate)]
    net = enc.net
    with torch.no_grad():
        h = net.front(torch.from_numpy(audio)[None])
        for i in range(1, 6):
            h = getattr(net, f"layer{i}")(h)  # conv -> bn -> relu -> maxpool, as in Won et al.
        ref = h.flatten(1)[0].numpy()
    np.testing.assert_allclose(enc.embed(audio), ref, rtol=1e-4, atol=1e-5)


def _top(enc, audio, k):
    return [t for t, _ in enc.tags(audio, k)]


@pytest.mark.parametrize("name", ["fcn_mtat", "musicnn_mtat"])
def test_mtat_tags(name, encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, name)
    classical = _top(enc, _clip(shared_data, "classical.00000", enc.sample_rate), 5)
    assert classical[0] == "classical" and {"strings", "violin", "harpsichord", "cello"} & set(classical)
    assert _top(enc, _clip(shared_data, "metal.00000", enc.sample_rate), 1) == ["rock"]


@pytest.mark.parametrize("name", ["fcn_msd", "crnn_msd"])
def test_msd_tags(name, encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, name)
    metal = dict(enc.tags(_clip(shared_data, "metal.00000", enc.sample_rate), 50))
    classical = dict(enc.tags(_clip(shared_data, "classical.00000", enc.sample_rate), 50))
    heavy = ("metal", "heavy metal", "hard rock")
    assert sum(metal[t] for t in heavy) > 3 * sum(classical[t] for t in heavy)
    assert "instrumental" in sorted(classical, key=classical.get, reverse=True)[:3]  # MSD has no "classical"
    assert {"rock", *heavy} >= set(sorted(metal, key=metal.get, reverse=True)[:1])


def test_audioset_tags(encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, "efficientat_mn04")
    classical = _top(enc, _clip(shared_data, "classical.00000", enc.sample_rate), 6)
    metal = _top(enc, _clip(shared_data, "metal.00000", enc.sample_rate), 3)
    assert classical[0] == "Music" and metal[0] == "Music"
    assert {"Classical music", "Orchestra", "Violin, fiddle", "Bowed string instrument"} & set(classical)
    assert "Heavy metal" in metal


def test_jamendo_has_no_tag_list(encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, "fcn_jamendo")
    with pytest.raises(EncoderError, match="no tag list"):
        enc.tags(_clip(shared_data, "blues.00000", enc.sample_rate)[: 6 * enc.sample_rate])


def test_short_clip_is_looped_but_keeps_its_own_frames(encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, "fcn_msd")
    out = enc.analyse(_clip(shared_data, "jazz.00001", enc.sample_rate)[: 3 * enc.sample_rate])
    assert out.frames.shape == (int(np.ceil(3.0 / enc.hop_s)), enc.dim)


def _copy_weights(weights_dir: Path, dest: Path) -> Path:
    shutil.copytree(weights_dir, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def test_missing_file_names_it_and_its_source(tmp_path, weights_dir):
    with pytest.raises(WeightsError) as e:
        load_encoder("fcn_msd", tmp_path)
    msg = str(e.value)
    assert "sota_music_taggers/msd/fcn/best_model.pth" in msg and "github.com/minzwon" in msg


def test_state_dict_of_another_model_lists_keys(tmp_path, weights_dir):
    w = _copy_weights(weights_dir, tmp_path / "w")
    shutil.copy(w / "sota_music_taggers/msd/crnn/best_model.pth", w / "sota_music_taggers/msd/fcn/best_model.pth")
    with pytest.raises(WeightsError) as e:
        load_encoder("fcn_msd", w)
    assert "another model" in str(e.value) and "layer5" in str(e.value)


def test_corrupt_file_says_so(tmp_path, weights_dir):
    w = _copy_weights(weights_dir, tmp_path / "w")
    f = w / "efficientat/mn04_as_mAP_432.pt"
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="corrupt"):
        load_encoder("efficientat_mn04", w)


def test_unknown_encoder():
    with pytest.raises(EncoderError, match="registered"):
        load_encoder("vggish", None)


def _reference_efficientat(enc, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EfficientAT as published, written out: 2-tap conv1d pre-emphasis, |STFT|^2, Kaldi mel, log, the loaded
    network with its BatchNorm layers, in the default memory layout: (penultimate, AudioSet scores)."""
    c, mel = enc.mel.cfg, enc.mel
    x = torch.nn.functional.conv1d(torch.from_numpy(audio)[None, None], torch.tensor([[[-c.preemphasis, 1.0]]]))
    spec = torch.stft(x[:, 0], c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window=mel.window,
                      center=True, pad_mode="reflect", return_complex=True).abs().pow(2)
    logmel = ((torch.log(torch.matmul(mel.banks, spec) + 1e-5) + 4.5) / 5.0).unsqueeze(1)
    _, pooled, logits = enc.net(logmel)
    return pooled[0].numpy(), torch.sigmoid(logits)[0].numpy()


def test_efficientat_fast_path_matches_the_published_computation(encoders, weights_dir, shared_data):
    enc = _enc(encoders, weights_dir, "efficientat_mn04")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.fast.modules())  # folded
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.net.modules())  # the loaded net stays as loaded
    clips = [_clip(shared_data, c, enc.sample_rate)[: 30 * enc.sample_rate] for c in ("rock.00000", "jazz.00001")]
    outs = enc.analyse_many(clips)  # two tracks in one call: the piece-by-piece path
    with torch.inference_mode():
        for audio, out in zip(clips, outs, strict=True):
            pooled, scores = _reference_efficientat(enc, audio)
            np.testing.assert_allclose(out.embedding, pooled, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(out.scores, scores, rtol=1e-4, atol=1e-5)
