"""core.audio.decode: decoding, downmix, resampling, and a clear reason for every kind of bad file."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from core.audio.decode import AudioError, is_audio_path, load_audio, peak_abs, segment_starts
from tests.helpers.audio import (
    SR,
    demo_excerpt,
    demo_files,
    noise,
    patch_wav_fmt,
    set_flac_total_samples,
    tone,
    write_flac,
    write_mp3,
    write_no_audio_mp3,
    write_nonfinite_wav,
    write_text_as_mp3,
    write_truncated_flac,
    write_truncated_mp3,
    write_wav,
    write_wav_claiming_1_hz,
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


# ------------------------------------------------------------------ crafted headers (issue 9, item 1)
def test_wav_header_claiming_1_hz_is_refused_before_decoding(tmp_path):
    """The issue's recipe: decoding it resampled 3 s at '1 Hz' to 22,050x its length (soxr died at 8.7 GB)."""
    path = write_wav_claiming_1_hz(tmp_path / "1hz.wav")
    assert sf.info(str(path)).samplerate == 1  # libsndfile accepts the header as it is
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match=r"^invalid header \(sample rate 1 Hz\)$"):
            load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20  # nothing was decoded or allocated from the header


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sample_rate": 500}, "invalid header (sample rate 500 Hz)"),
        ({"sample_rate": 2_000_000}, "invalid header (sample rate 2000000 Hz)"),
        ({"channels": 0}, "invalid header (0 channels)"),
        ({"channels": 1000}, "invalid header (1000 channels)"),
        ({"bits": 0}, "invalid header (0 bits per sample)"),
    ],
)
def test_wav_header_out_of_bounds(tmp_path, fields, reason):
    path = patch_wav_fmt(write_wav(tmp_path / "x.wav", tone(440, 2.0)), **fields)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value) == reason


@pytest.mark.parametrize("rate", [1000, 8000, 96000, 768000])
def test_wav_sample_rates_inside_the_bounds_decode(tmp_path, rate):
    y = load_audio(write_wav(tmp_path / "r.wav", tone(220, 1.5, rate), rate))
    assert abs(y.size - 1.5 * SR) <= 2


def test_flac_claiming_2_pow_36_samples_is_refused(tmp_path):
    """STREAMINFO claims 2^36 samples (36 days at 22 kHz) in a 2-s file: refused, not 'MemoryError: 256 GiB'."""
    path = set_flac_total_samples(write_flac(tmp_path / "big.flac", noise(2.0)), 1 << 36)
    assert sf.info(str(path)).frames == (1 << 36) - 1
    with pytest.raises(AudioError, match=r"^invalid header \(claims 68,719,476,735 frames; a [\d,]+-byte file "
                                         r"holds at most [\d,]+\)$"):
        load_audio(path)


def test_flac_claiming_more_than_24_hours_is_refused(tmp_path):
    path = write_flac(tmp_path / "long.flac", noise(8.0))  # big enough to hold 25 h at 8,192 frames per byte
    set_flac_total_samples(path, 25 * 3600 * SR)
    with pytest.raises(AudioError, match=r"^invalid header \(claims 25\.0 hours; at most 24 are accepted\)$"):
        load_audio(path)


def test_memory_is_bounded_by_the_file_not_by_the_header(tmp_path):
    """A FLAC whose header claims 50x its real length (plausible for the file size, so it is decoded):
    the output buffer is sized from the file, not from the claim (which would be 1.8 GB here)."""
    src = demo_excerpt(2, 4.0, sr=44100).mean(1)
    path = write_flac(tmp_path / "claims.flac", src, 44100)
    claimed = int(src.size * 50)
    set_flac_total_samples(path, claimed)
    tracemalloc.start()
    try:
        y = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert abs(y.size / SR - 4.0) < 0.05  # what the file really holds
    assert peak < 40 * 2**20, peak / 2**20  # the claim would have reserved claimed * 0.5 * 4 bytes


# ------------------------------------------------------------------ truncated FLAC (issue 9, item 5)
def test_truncated_flac_keeps_the_decoded_part(tmp_path):
    """Real music as 44.1 kHz stereo FLAC cut at half its bytes: like MP3/OGG/WAV, what decodes is kept."""
    path = write_truncated_flac(tmp_path / "cut.flac", demo_excerpt(1, 8.0), 44100, keep=0.5)
    y = load_audio(path)
    assert 3.0 < y.size / SR < 5.0  # about half of the 8 s
    full = load_audio(write_flac(tmp_path / "full.flac", demo_excerpt(1, 8.0), 44100))
    n = y.size - SR // 10  # the kept part is the start of the track, sample for sample (up to the resampler tail)
    np.testing.assert_allclose(y[:n], full[:n], atol=1e-4)


def test_flac_cut_inside_its_first_frame_is_refused(tmp_path):
    path = write_truncated_flac(tmp_path / "stub.flac", demo_excerpt(1, 8.0), 44100, keep=0.01)
    with pytest.raises(AudioError, match="decode failed"):
        load_audio(path)


# ------------------------------------------------------------------ symlinks (issue 9, item 6)
def test_dangling_symlink(tmp_path):
    (tmp_path / "link.wav").symlink_to(tmp_path / "gone.wav")
    with pytest.raises(AudioError, match=r"^broken symlink \(target missing: .*gone\.wav\)$"):
        load_audio(tmp_path / "link.wav")


def test_symlink_to_a_real_file_decodes(tmp_path):
    write_wav(tmp_path / "real.wav", tone(440, 1.0))
    (tmp_path / "link.wav").symlink_to(tmp_path / "real.wav")
    assert load_audio(tmp_path / "link.wav").size == SR


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


def test_downmix_is_the_channel_mean_of_real_music():
    """The fast channel-by-channel downmix gives `mean(axis=1)`'s numbers: bit for bit in stereo (a real
    stereo image: two differently filtered channels of a demo track), to rounding with six channels."""
    from core.audio.decode import downmix
    from tests.helpers.app import demo_audio_files

    x, _ = sf.read(str(demo_audio_files()[0]), dtype="float32", always_2d=True, frames=200_000)
    left = x[:, 0]
    right = np.convolve(left, np.array([0.5, 0.3, 0.2], np.float32), mode="same").astype(np.float32)
    stereo = np.stack([left, right], axis=1)
    assert np.array_equal(downmix(stereo), stereo.mean(axis=1))
    six = np.stack([left * g for g in (1.0, 0.8, 0.6, 0.4, 0.2, -0.1)], axis=1).astype(np.float32)
    np.testing.assert_allclose(downmix(six), six.mean(axis=1), rtol=0, atol=1e-7)
    assert np.array_equal(downmix(stereo[:, :1]), left)
