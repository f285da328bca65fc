"""core.audio.features: log-mels as CONTRACTS.md defines them, and the classic baseline."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soxr
import torch

import core.audio.features as features
from core.audio.config import DEFAULT_AUDIO
from core.audio.features import analyze, baseline_names, log_mel, mel_filterbank
from tests.helpers.audio import SR, demo_excerpt, noise, tone

CFG = DEFAULT_AUDIO


def contract_log_mel(x: np.ndarray) -> np.ndarray:
    """The log-mel exactly as CONTRACTS.md writes it (one torch.stft call, center=True)."""
    spec = torch.stft(torch.from_numpy(x), CFG.n_fft, CFG.hop_length, window=torch.hann_window(CFG.n_fft),
                      center=True, pad_mode="reflect", return_complex=True)
    power = spec.abs().numpy() ** 2
    fb = librosa.filters.mel(sr=CFG.sample_rate, n_fft=CFG.n_fft, n_mels=CFG.n_mels, fmin=CFG.fmin, fmax=CFG.fmax,
                             htk=False, norm="slaney")
    return np.maximum(10 * np.log10(np.maximum(fb @ power, 1e-10)), -100.0)


def real_music(seconds: float, index: int = 3) -> np.ndarray:
    """Mono 22,050 Hz real music from the demo corpus."""
    return soxr.resample(demo_excerpt(index, seconds).mean(axis=1), 44100, SR).astype(np.float32)


def test_mel_filterbank_is_librosa_slaney():
    fb = mel_filterbank(CFG)
    assert fb.shape == (128, 513) and fb.dtype == np.float32
    ref = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=128, fmin=0.0, fmax=11025.0, htk=False, norm="slaney")
    np.testing.assert_allclose(fb, ref, rtol=1e-6)


@pytest.mark.parametrize("seconds", [1.0, 5.0, 100.0])  # 100 s spans two STFT chunks
def test_log_mel_matches_the_contract(seconds):
    x = noise(seconds, seed=1) * 0.5 + tone(330, seconds)
    mel = log_mel(x)
    assert mel.dtype == np.float32
    assert mel.shape == (128, 1 + x.size // 512)
    np.testing.assert_allclose(mel, contract_log_mel(x), atol=2e-3)


def test_log_mel_of_real_music_matches_the_contract():
    x = real_music(8.0)
    np.testing.assert_allclose(log_mel(x), contract_log_mel(x), atol=2e-3)


def test_log_mel_floor_is_minus_100_db():
    mel = log_mel(np.zeros(SR, np.float32))
    assert mel.shape == (128, 44) and np.all(mel == -100.0)


@pytest.mark.parametrize("freq", [110.0, 440.0, 1000.0, 3000.0, 8000.0])
def test_pure_tone_peaks_in_its_mel_band(freq):
    mel = log_mel(tone(freq, 2.0))
    band = int(np.argmax(mel.mean(axis=1)))
    centers = librosa.mel_frequencies(n_mels=CFG.n_mels + 2, fmin=CFG.fmin, fmax=CFG.fmax)[1:-1]
    lo = centers[max(band - 1, 0)]
    hi = centers[min(band + 1, CFG.n_mels - 1)]
    assert lo <= freq <= hi, f"{freq} Hz tone peaked in band {band} ({centers[band]:.0f} Hz)"
    # and the band is the one whose filter weights that frequency most
    fft_bin = int(round(freq * CFG.n_fft / CFG.sample_rate))
    assert abs(band - int(np.argmax(mel_filterbank(CFG)[:, fft_bin]))) <= 1


def test_louder_tone_is_6_db_higher():
    quiet, loud = log_mel(tone(440, 1.0, amp=0.25)), log_mel(tone(440, 1.0, amp=0.5))
    band = int(np.argmax(loud.mean(1)))
    assert loud[band, 5:-5].mean() - quiet[band, 5:-5].mean() == pytest.approx(6.02, abs=0.05)


def test_analyze_gives_the_same_mel_and_a_named_baseline():
    x = real_music(6.0)
    mel, base = analyze(x)
    np.testing.assert_array_equal(mel, log_mel(x))
    names = baseline_names()
    assert base.shape == (len(names),) == (350,) and base.dtype == np.float32
    assert len(set(names)) == len(names) and "mfcc_03_mean" in names and "zcr_kurtosis" in names
    assert np.isfinite(base).all()


def test_baseline_agrees_with_librosa_on_real_music():
    """The one-STFT baseline computes what librosa's per-feature functions compute."""
    x = real_music(10.0)
    got = dict(zip(baseline_names(), analyze(x)[1]))
    mag = np.abs(librosa.stft(x, n_fft=1024, hop_length=512, center=True, pad_mode="reflect"))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=mag**2, sr=SR, n_mels=128), top_db=None)
    chroma = librosa.feature.chroma_stft(S=mag**2, sr=SR, tuning=0.0)
    ref = {
        "mfcc_01_mean": librosa.feature.mfcc(S=mel_db, n_mfcc=20)[0].mean(),
        "mfcc_05_std": librosa.feature.mfcc(S=mel_db, n_mfcc=20)[4].std(),
        "chroma_01_mean": chroma[0].mean(),
        "tonnetz_02_mean": librosa.feature.tonnetz(chroma=chroma)[1].mean(),
        "centroid_mean": librosa.feature.spectral_centroid(S=mag, sr=SR).mean(),
        "bandwidth_mean": librosa.feature.spectral_bandwidth(S=mag, sr=SR).mean(),
        "rolloff_mean": librosa.feature.spectral_rolloff(S=mag, sr=SR).mean(),
        "rms_mean": librosa.feature.rms(S=mag, frame_length=1024).mean(),
        "zcr_mean": librosa.feature.zero_crossing_rate(x, frame_length=1024, hop_length=512).mean(),
    }
    for name, value in ref.items():
        assert got[name] == pytest.approx(value, rel=2e-3, abs=1e-4), name
    # spectral contrast is taken on power (10*log10 of power), i.e. twice librosa's magnitude version
    contrast = librosa.feature.spectral_contrast(S=mag, sr=SR)[2].mean()
    assert 1.8 < got["contrast_03_mean"] / contrast < 2.2


def test_baseline_separates_tones_from_noise():
    tones = [tone(f, 3.0, amp=a) for f, a in [(220, 0.5), (440, 0.3), (660, 0.6), (1500, 0.4), (3000, 0.2)]]
    noises = [noise(3.0, amp=a, seed=s) for s, a in [(0, 0.3), (1, 0.1), (2, 0.5), (3, 0.2), (4, 0.05)]]
    feats = np.stack([analyze(x)[1] for x in tones + noises])
    labels = np.array([0] * len(tones) + [1] * len(noises))
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-8)
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).all(), "a tone's nearest neighbour must be a tone, noise's noise"
    names = baseline_names()
    col = {n: i for i, n in enumerate(names)}
    t, n = feats[: len(tones)], feats[len(tones) :]
    assert t[:, col["bandwidth_mean"]].max() < n[:, col["bandwidth_mean"]].min() / 5
    assert t[:, col["zcr_mean"]].max() < 0.35 < n[:, col["zcr_mean"]].min()
    contrast = [col[f"contrast_{i:02d}_mean"] for i in range(1, 8)]
    assert t[:, contrast].max(1).min() > n[:, contrast].max() + 10  # a tone's band stands out, noise is flat
    # the 440 Hz tone is an A: chroma bin 10 (C=1 ... A=10) dominates
    chroma_means = feats[1, [col[f"chroma_{i:02d}_mean"] for i in range(1, 13)]]
    assert int(np.argmax(chroma_means)) == 9
    assert t[1, col["zcr_mean"]] == pytest.approx(2 * 440 / SR, rel=0.05)


def test_long_input_chunks_give_the_same_baseline(monkeypatch):
    """A track longer than one STFT chunk is analysed in pieces; the result must not depend on it."""
    x = real_music(20.0)
    mel_a, base_a = analyze(x)
    monkeypatch.setattr(features, "CHUNK_FRAMES", 100)
    mel_b, base_b = analyze(x)
    np.testing.assert_allclose(mel_b, mel_a, atol=1e-3)
    np.testing.assert_allclose(base_b, base_a, rtol=1e-3, atol=1e-3)


def test_very_short_clip_uses_constant_padding():
    x = tone(440, 0.01)  # 220 samples, shorter than half a window
    mel, base = analyze(x)
    assert mel.shape == (128, 1) and np.isfinite(base).all()
