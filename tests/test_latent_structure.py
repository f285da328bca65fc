"""Structure measures (rhythm, harmony, multi-scale mel distance), size accounting, losses, the size rule
and the artist-disjoint union of datasets, against hand-made signals and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.audio.config import DEFAULT_AUDIO
from core.latent.combine import artist_disjoint
from core.latent.losses import recon_loss
from core.latent.model import build_recon_model
from core.latent.sizes import latent_size
from core.latent.structure import chroma_cosine, mel_distance, onset_correlation
from core.latent.study import StudyConfig, choose_structure_size, min_select_segments, select_size, size_kinds
from core.latent.timeae import time_shape, valid_time_sizes

CFG = DEFAULT_AUDIO
SR, HOP = CFG.sample_rate, CFG.hop_length


def click_track(n_s: float = 4.0, shift_frames: int = 0, seed: int = 0) -> np.ndarray:
    """Short decaying noise bursts at irregular beat times (a sparse onset pattern)."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(n_s * SR), np.float32)
    burst = (rng.standard_normal(256) * np.exp(-np.arange(256) / 40)).astype(np.float32)
    for t in (0.3, 0.8, 1.1, 1.7, 2.2, 2.4, 3.0, 3.5):
        i = int(t * SR) + shift_frames * HOP
        x[i : i + 256] += burst
    return x


def chord(root_midi: int, n_s: float = 2.0, gain: float = 0.2) -> np.ndarray:
    """A major triad of sines (root, +4, +7 semitones) with two harmonics each."""
    t = np.arange(int(n_s * SR)) / SR
    x = np.zeros_like(t)
    for semis in (0, 4, 7):
        f = 440.0 * 2 ** ((root_midi + semis - 69) / 12)
        x += np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 2 * f * t)
    return (gain * x / 3).astype(np.float32)


def test_onset_correlation_sees_a_click_track_moved_by_one_frame() -> None:
    x = click_track()
    assert onset_correlation(x, x) == pytest.approx(1.0)
    assert onset_correlation(x, 0.3 * x) > 0.99  # loudness does not change the rhythm
    shifted = onset_correlation(x, click_track(shift_frames=1))
    assert shifted < 0.5, shifted
    rng = np.random.default_rng(3)
    noisy = x + 0.002 * rng.standard_normal(len(x)).astype(np.float32)
    assert onset_correlation(x, noisy) > shifted


def test_chroma_cosine_sees_a_chord_moved_by_a_semitone() -> None:
    c_major = chord(60)
    assert chroma_cosine(c_major, c_major) == pytest.approx(1.0, abs=1e-6)
    assert chroma_cosine(c_major, chord(60, gain=0.05)) > 0.99  # quieter, same harmony
    up = chroma_cosine(c_major, chord(61))
    assert up < 0.5, up
    assert chroma_cosine(c_major, chord(72)) > up  # an octave up keeps the pitch classes
    silent = np.zeros_like(c_major)
    assert chroma_cosine(silent, silent) == 1.0 and chroma_cosine(c_major, silent) == 0.0


def test_mel_distance_grows_with_distortion() -> None:
    x = chord(57, gain=0.3)
    rng = np.random.default_rng(0)
    small = x + 0.003 * rng.standard_normal(len(x)).astype(np.float32)
    big = x + 0.1 * rng.standard_normal(len(x)).astype(np.float32)
    assert mel_distance(x, x) == 0.0
    assert 0 < mel_distance(x, small) < mel_distance(x, big)
    assert np.isfinite(mel_distance(np.zeros(300, np.float32), np.zeros(300, np.float32)))


@pytest.mark.parametrize("kind,size,shape", [("conv2d", 16, (16,)), ("time_conv", 27 * 4, (27, 4)),
                                              ("time_conv", 54 * 8, (54, 8)), ("time_conv", 27 * 64, (216, 8)),
                                              ("time_conv", 216 * 32, (216, 32))])
def test_size_accounting_equals_the_latent_floats(kind: str, size: int, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = build_recon_model(kind, n_mels=CFG.n_mels, n_frames=CFG.segment_frames, latent_dim=size)
    x = torch.randn(3, CFG.n_mels, CFG.segment_frames)
    z = net.encode(x)
    info = latent_size(net, CFG, kind)
    assert z.shape == (3, size) and net.decode(z).shape == x.shape
    assert info.shape == shape and info.floats_per_segment == size == z[0].numel()
    assert info.kbps_float16 == pytest.approx(size * 16 / CFG.segment_seconds / 1000)
    assert info.kbps_float32 == pytest.approx(2 * info.kbps_float16)


def test_time_model_refuses_sizes_that_are_not_t_times_c() -> None:
    with pytest.raises(ValueError, match="not a multiple of the latent frames of a 216-frame segment"):
        build_recon_model("time_conv", n_mels=CFG.n_mels, n_frames=CFG.segment_frames, latent_dim=100)
    assert valid_time_sizes(216, 8) == [27, 54, 108, 216, 432, 864, 1728]
    assert [time_shape(s, 216) for s in (27, 216, 432, 1728, 6912)] == [
        (8, 27, 1), (8, 27, 8), (4, 54, 8), (1, 216, 8), (1, 216, 32)]
    with pytest.raises(ValueError, match="given to both model kinds"):
        size_kinds(StudyConfig(sizes=(8, 108), time_sizes=(108,)))


def test_time_model_starts_from_its_principal_components_and_keeps_more_with_more_channels() -> None:
    """The linear path is the PCA of the training frames: at start (learned path at zero) the model's
    reconstruction is the PCA reconstruction, exact for frames of rank <= C, and more channels keep more."""
    rng = np.random.default_rng(0)
    parts = rng.standard_normal((4, CFG.n_mels)).astype(np.float32)  # four "spectra"
    gains = rng.random((6, 4, CFG.segment_frames)).astype(np.float32)
    low_rank = torch.from_numpy(np.einsum("km,nkt->nmt", parts, gains) + 1.0)  # rank 4 around a mean
    net = build_recon_model("time_conv", n_mels=CFG.n_mels, n_frames=CFG.segment_frames, latent_dim=216 * 8)
    assert net.fit_linear(low_rank) == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        assert torch.allclose(net(low_rank), low_rank, atol=1e-3)
    noisy = low_rank + torch.from_numpy(rng.standard_normal(low_rank.shape).astype(np.float32))
    errs = []
    for size in (216 * 1, 216 * 8, 216 * 32):
        net = build_recon_model("time_conv", n_mels=CFG.n_mels, n_frames=CFG.segment_frames, latent_dim=size)
        share = net.fit_linear(noisy)
        with torch.no_grad():
            errs.append(float(((net(noisy) - noisy) ** 2).mean()))
        assert 0 < share < 1
    assert errs[0] > errs[1] > errs[2]


def test_mrmel_loss_adds_detail_terms() -> None:
    class Ident(torch.nn.Module):
        def __init__(self, shift: float) -> None:
            super().__init__()
            self.shift = shift

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.roll(x, 1, dims=-1) if self.shift else x

    x = torch.randn(2, 8, 32)
    assert float(recon_loss("mrmel")(Ident(0), x)[0]) == 0.0
    mse, logs = recon_loss("mse")(Ident(1), x)
    mr, logs2 = recon_loss("mrmel")(Ident(1), x)
    assert float(mr) > float(mse) > 0 and logs2["mrmel"] > 0
    with pytest.raises(ValueError, match="unknown loss"):
        recon_loss("l2")


def test_structure_rule_on_a_synthetic_table() -> None:
    oracle = {"onset_corr": 0.9, "chroma_cos": 0.95, "lsd_db": 6.0}
    table = {8: {"onset_corr": 0.3, "chroma_cos": 0.80, "lsd_db": 12.0},
             27: {"onset_corr": 0.75, "chroma_cos": 0.93, "lsd_db": 9.0},  # rhythm 0.15 short
             108: {"onset_corr": 0.85, "chroma_cos": 0.92, "lsd_db": 8.0},  # structure kept, LSD 2 dB off
             432: {"onset_corr": 0.88, "chroma_cos": 0.94, "lsd_db": 7.0}}  # all three within the margins
    rule = choose_structure_size(table, oracle, margin_onset=0.1, margin_chroma=0.05, margin_lsd=1.5)
    assert rule.met and rule.chosen == 432 and "0.800" in rule.text and "0.900" in rule.text and "7.50" in rule.text
    assert choose_structure_size(table, oracle, 0.1, 0.05, margin_lsd=2.5).chosen == 108
    assert choose_structure_size(table, oracle, 0.2, 0.05, margin_lsd=3.0).chosen == 27
    none = choose_structure_size(table, oracle, 0.01, 0.001, fallback_margin=1.5)
    assert not none.met and none.chosen == 108 and "no size met it" in none.text


ORACLE = {"onset_corr": 0.9, "chroma_cos": 0.95, "lsd_db": 6.0}
VAL = {27: {"onset_corr": 0.60, "chroma_cos": 0.93, "lsd_db": 7.2},  # rhythm short on validation
       108: {"onset_corr": 0.85, "chroma_cos": 0.92, "lsd_db": 7.0},
       432: {"onset_corr": 0.88, "chroma_cos": 0.94, "lsd_db": 6.5}}
TEST = {27: {"onset_corr": 0.84, "chroma_cos": 0.93, "lsd_db": 7.3},  # ... but within the margin on test
        108: {"onset_corr": 0.86, "chroma_cos": 0.92, "lsd_db": 7.0},
        432: {"onset_corr": 0.87, "chroma_cos": 0.94, "lsd_db": 6.6}}


def test_size_rule_reads_the_validation_table_when_it_disagrees_with_test() -> None:
    assert choose_structure_size(TEST, ORACLE).chosen == 27  # what choosing on test would give
    sel = select_size(VAL, ORACLE, 32, TEST, ORACLE, 40, StudyConfig(max_eval_segments=64))
    assert (sel.rule.chosen, sel.selected_on, sel.fallback, sel.n_segments) == (108, "val", False, 32)
    assert sel.rule.met and "val-segment onset-envelope correlation" in sel.rule.text
    assert "chosen on 32 val segments" in sel.text and "measured on 40 test segments" in sel.text


def test_too_few_validation_segments_fall_back_to_test_and_say_so() -> None:
    cfg = StudyConfig(max_eval_segments=64, min_select_segments=8)
    assert min_select_segments(cfg) == 8
    assert min_select_segments(StudyConfig(max_eval_segments=4, min_select_segments=8)) == 4
    sel = select_size(VAL, ORACLE, 3, TEST, ORACLE, 40, cfg)
    assert sel.fallback and sel.rule.chosen == 27 and sel.n_segments == 40
    assert sel.selected_on == "test (too few val segments: 3 < 8)"
    assert "not independent of the figures" in sel.text and "test-segment" in sel.rule.text
    assert select_size({}, {}, 0, TEST, ORACLE, 40, cfg).selected_on.startswith("test (too few")


def test_union_of_datasets_is_artist_disjoint() -> None:
    cat = pd.DataFrame({"artist": ["A", "A", "A", "B", "b", "C", "", ""],
                        "split": ["train", "train", "test", "val", "test", "test", "train", "test"]})
    out, moved = artist_disjoint(cat)
    assert moved == 2
    assert list(out["split"]) == ["train", "train", "train", "val", "val", "test", "train", "test"]


def test_a_checkpoint_of_an_earlier_model_version_is_refused_with_what_to_run(tmp_path) -> None:
    from core.latent.model import OutdatedCheckpoint, model_from_checkpoint

    net = build_recon_model("time_conv", n_mels=CFG.n_mels, n_frames=CFG.segment_frames, latent_dim=216)
    state = {k: v for k, v in net.state_dict().items() if k not in ("basis", "frame_mean")}
    ckpt = {"model_config": net.config(), "state_dict": state}
    with pytest.raises(OutdatedCheckpoint, match="earlier version of the time_conv model.*--retrain"):
        model_from_checkpoint(ckpt, tmp_path / "best.pt")
    ckpt["state_dict"] = net.state_dict()
    assert not model_from_checkpoint(ckpt).training
