"""The MUSHRA test of the latent-size study: the low anchor, per-listener orders, BS.1534-3 post-screening,
means with t-intervals (hand-computed), and the Reconstructions page's test tab run by two raters under AppTest
on a study made from real demo audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.listening import mushra as mu
from ui.data import ENV_VAR

REPO = Path(__file__).resolve().parents[1]


def test_low_anchor_removes_content_above_3_5_khz():
    sr = 22050
    t = np.arange(sr) / sr
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 6000 * t)
    out = mu.low_anchor(low + high, sr)
    spec = np.abs(np.fft.rfft(out))
    assert spec[6000] < 1e-3 * spec[1000]  # 1-Hz bins: 6 kHz gone, 1 kHz kept
    assert np.abs(np.fft.rfft(low))[1000] == pytest.approx(spec[1000], rel=0.01)


def test_orders_are_per_listener_and_stable():
    names = mu.conditions([8, 32])
    assert names == ["reference", "anchor_3.5k", "oracle", "z8", "z32"]
    a = mu.trial_order("demo/recon", "ann", "clip1", names)
    assert sorted(a) == sorted(names) and a == mu.trial_order("demo/recon", "ann", "clip1", names)
    orders = {tuple(mu.trial_order("demo/recon", who, "clip1", names)) for who in ("ann", "bob", "cy", "dee")}
    assert len(orders) > 1


def ratings(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"study": "s", "listener": w, "clip": c, "condition": k, "score": v, "ts": ""}
                         for w, c, k, v in rows])


def test_post_screening_and_t_intervals_by_hand():
    rows = []
    for clip in ("c1", "c2", "c3"):
        rows += [("ann", clip, "reference", 100), ("ann", clip, "z8", 40)]
    # bob rates the hidden reference below 90 in 1 of 3 trials (33 % > 15 %): left out
    rows += [("bob", "c1", "reference", 70), ("bob", "c2", "reference", 95), ("bob", "c3", "reference", 100)]
    rows += [("bob", c, "z8", 90) for c in ("c1", "c2", "c3")]
    rows += [("cy", "c1", "reference", 95), ("cy", "c1", "z8", 50), ("cy", "c2", "reference", 92),
             ("cy", "c2", "z8", 60)]
    res = mu.mushra_results(ratings(rows), ["reference", "z8"])
    scr = res.screening.set_index("listener")
    assert list(scr["kept"]) == [True, False, True]
    assert scr.loc["bob", "share"] == pytest.approx(1 / 3)
    z8 = res.scores.set_index("condition").loc["z8"]
    vals = np.array([40, 40, 40, 50, 60])  # ann's three and cy's two; bob's 90s are out
    half = 2.7764451051977987 * vals.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert (z8["n"], z8["mean"]) == (5, 46.0)
    assert (z8["ci_low"], z8["ci_high"]) == pytest.approx((46 - half, 46 + half))


def test_store_rates_replaces_and_refuses_out_of_range(tmp_path):
    store = mu.MushraStore.open(tmp_path / "n.sqlite")
    store.rate("s", "ann", "c1", {"reference": 100, "z8": 30})
    store.rate("s", "ann", "c1", {"reference": 98, "z8": 35})
    assert store.ratings("s")["score"].tolist() == [98, 35]
    assert store.rated_clips("s", "ann") == {"c1"}
    with pytest.raises(ValueError, match="0-100"):
        store.rate("s", "ann", "c2", {"z8": 120})


@pytest.fixture
def recon_art(tmp_path, monkeypatch) -> Path:
    from tests.helpers.app import demo_audio_files, make_recon
    from tests.helpers.sessions import make_session_dataset

    ds = make_session_dataset(tmp_path, n_tracks=6)
    make_recon(ds, demo_audio_files()[:2])
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    return tmp_path


def rate_current_trial(at: AppTest, scores: dict[str, int]) -> AppTest:
    """Set the sliders of the trial on screen (by condition, read from the slider keys) and save."""
    for s in at.slider:
        if s.key and s.key.startswith("mushra_score|"):
            s.set_value(scores[s.key.rsplit("|", 1)[1]])
    next(b for b in at.button if b.label == "Save and next").click()
    return at.run()


def test_page_runs_the_test_and_screens_listeners(recon_art):
    page = str(REPO / "pages" / "5_Reconstructions.py")
    good = {"reference": 100, "anchor_3.5k": 10, "oracle": 80, "z8": 30, "z32": 60}
    careless = {**good, "reference": 40}
    for who, scores in (("ann", good), ("bob", careless)):
        at = AppTest.from_file(page, default_timeout=120)
        at.session_state["listener_name"] = who
        at.run()
        assert not at.exception, at.exception
        assert "Trial 1 of 2" in at.get("progress")[0].proto.text
        samples = [s for s in at.slider if s.key and s.key.startswith("mushra_score|")]
        assert len(samples) == 5 and len(at.get("audio")) >= 6  # the reference + five samples
        at = rate_current_trial(at, scores)
        assert "Trial 2 of 2" in at.get("progress")[0].proto.text
        at = rate_current_trial(at, scores)
        assert not at.exception
        assert any("you rated all 2 clips" in s.value for s in at.success)
    screening = next(d.value for d in at.dataframe if "reference_below_90" in d.value.columns).set_index("listener")
    assert bool(screening.loc["ann", "kept"]) and not bool(screening.loc["bob", "kept"])
    text = "\n".join(m.value for m in at.markdown)
    # the chosen-size text cites the listening result (ann's ratings only: bob is screened out)
    assert "Listening test (MUSHRA, 1 listener(s) kept" in text and "60 [" in text and "at z = 32" in text
    assert [b.label for b in at.get("download_button")][-2:] == ["Download ratings (CSV)",
                                                                 "Download summary (Markdown)"]
