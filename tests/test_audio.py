"""core.audio.decode: decoding, downmix, resampling, and a clear reason for every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio.decode import AudioError, is_audio_path, load_audio, peak_abs, segment_starts
from tests.helpers.audio import (
    SR,
    demo_excerpt,
    demo_files,
    noise,
    tone,
    write_mp3,
    write_no_audio_mp3,
    write_nonfinite_wav,
    write_text_as_mp3,
    write_truncated_mp3,
    write_wav,
)


def dominant_freq(x: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest FFT bin."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spec)])


def test_wav_at_target_rate_round_trips(tmp_path):
    x = tone(440, 2.0)
    y = load_audio(write_wav(tmp_path / "a.wav", x, SR, subtype="FLOAT"))
    assert y.dtype == np.float32 and y.ndim == 1
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_any_rate_and_channel_count_becomes_mono_22050(tmp_path, sr, channels):
    x = tone(440, 3.0, sr)
    data = x if channels == 1 else np.stack([x, x], axis=1)
    y = load_audio(write_wav(tmp_path / f"t{sr}_{channels}.wav", data, sr))
    assert y.ndim == 1 and y.dtype == np.float32
    assert abs(y.size - 3.0 * SR) <= 2  # same duration at 22,050 Hz
    assert abs(dominant_freq(y) - 440) < 2  # same pitch
    assert 0.45 < peak_abs(y) < 0.55 and np.abs(y).max() <= 1.0


def test_stereo_is_downmixed_by_averaging(tmp_path):
    left, right = tone(440, 1.5), tone(1000, 1.5, amp=0.2)
    y = load_audio(write_wav(tmp_path / "lr.wav", np.stack([left, right], 1), SR, subtype="FLOAT"))
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)


def test_float_wav_louder_than_full_scale_is_scaled_into_range(tmp_path):
    y = load_audio(write_wav(tmp_path / "hot.wav", 2.0 * tone(440, 1.0, amp=1.0), SR, subtype="FLOAT"))
    assert peak_abs(y) == pytest.approx(1.0)


def test_max_seconds_limits_decoding(tmp_path):
    y = load_audio(write_wav(tmp_path / "n.wav", noise(4.0, 48000), 48000), max_seconds=1.5)
    assert abs(y.size - 1.5 * SR) <= 2


def test_real_music_mp3_decodes(tmp_path):
    """Real music from the demo corpus, encoded as 44.1 kHz stereo MP3 like FMA's files."""
    src = demo_excerpt(0, 5.0)
    y = load_audio(write_mp3(tmp_path / "real.mp3", src, 44100))
    assert abs(y.size / SR - 5.0) < 0.1
    assert 0.01 < peak_abs(y) <= 1.0 and np.isfinite(y).all()


def test_demo_corpus_opus_decodes():
    y = load_audio(demo_files()[0], max_seconds=3.0)
    assert abs(y.size - 3 * SR) <= 2 and peak_abs(y) > 0.01


# ------------------------------------------------------------------ bad input: one test each
def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="missing file"):
        load_audio(tmp_path / "nope.mp3")


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)"):
        load_audio(tmp_path / "empty.mp3")


def test_mp3_with_no_audio_like_fma_099134(tmp_path):
    path = write_no_audio_mp3(tmp_path / "099134.mp3")
    assert path.stat().st_size < 1000  # a tag and a header frame, nothing else
    with pytest.raises(AudioError, match="no decodable audio frames") as err:
        load_audio(path)
    assert "does not exist" not in str(err.value)  # libsndfile's misleading wording is not passed on


def test_truncated_mp3_keeps_the_decoded_part(tmp_path):
    path = write_truncated_mp3(tmp_path / "cut.mp3", demo_excerpt(1, 8.0), 44100, keep=0.5)
    y = load_audio(path)
    assert 3.0 < y.size / SR < 5.0  # about half of the 8 s
    assert np.isfinite(y).all() and peak_abs(y) > 0.01


def test_text_file_named_mp3(tmp_path):
    with pytest.raises(AudioError, match=r"not an audio file \(unrecognised format\)"):
        load_audio(write_text_as_mp3(tmp_path / "notes.mp3"))


def test_corrupt_wav_header(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioError, match="corrupt WAV file"):
        load_audio(tmp_path / "bad.wav")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_wav_with_nan_or_inf(tmp_path, value):
    with pytest.raises(AudioError, match="contains NaN or infinite samples"):
        load_audio(write_nonfinite_wav(tmp_path / "bad.wav", value))


def test_wav_with_header_but_no_samples(tmp_path):
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(write_wav(tmp_path / "zero.wav", np.zeros(0, np.float32)))


# ------------------------------------------------------------------ helpers
def test_is_audio_path():
    assert is_audio_path("a/b.MP3") and is_audio_path("x.opus") and is_audio_path("x.flac")
    assert not is_audio_path("tracks.csv") and not is_audio_path("README")


@pytest.mark.parametrize(
    ("n_frames", "expected"),
    [(100, [0]), (216, [0]), (217, [0]), (431, [0]), (432, [0, 216]), (646, [0, 216]), (1292, [0, 216, 432, 648, 864])],
)
def test_segment_starts(n_frames, expected):
    assert segment_starts(n_frames, 216, 216) == expected


def test_segment_starts_with_overlap():
    assert segment_starts(500, 216, 108) == [0, 108, 216]


def test_peak_abs():
    assert peak_abs(np.array([0.1, -0.7, 0.3], np.float32)) == pytest.approx(0.7)
    assert peak_abs(np.zeros(0, np.float32)) == 0.0
