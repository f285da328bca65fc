"""What a new user tripped over, each checked on demo artifacts made from real audio: readable notes and
verdicts tables, at most three lists per row on Listen & compare (with the cosine-scale note), Home's page links
in rows and its key-score glossary, the latent map's hover and per-dataset cluster count, upload spectrograms in
seconds with a colour bar, confusion-matrix counts readable on dark cells, 'an energetic' captions and one
clear line for an upload that is not audio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.listening.notes import NotesStore
from tests.helpers.app import make_demo_artifacts
from ui.data import ENV_VAR

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def art_root(tmp_path_factory) -> Path:
    """Demo artifacts (real audio, real-feature embeddings, evaluation) plus two more embeddings, and a copy of
    the dataset without artists and with fewer genres ('noartist')."""
    root = tmp_path_factory.mktemp("fixes")
    ds = make_demo_artifacts(root, with_recon=False)
    rng = np.random.default_rng(3)
    for m in ("extra_model_a", "extra_model_b"):
        np.save(ds / "embeddings" / f"{m}.npy", rng.normal(size=(28, 8)).astype(np.float32))
    other = root / "noartist"
    shutil.copytree(ds, other, ignore=shutil.ignore_patterns("*.sqlite*"))
    cat = pd.read_csv(other / "catalog.csv", dtype=str, keep_default_na=False)
    cat["artist"] = ""
    cat["genre"] = np.where(cat["genre"].isin(["calm", "tender"]), "quiet", "lively")
    cat.to_csv(other / "catalog.csv", index=False)
    return root


@pytest.fixture
def art(art_root, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(art_root))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{art_root / 'notes.sqlite'}{suffix}").unlink(missing_ok=True)
    return art_root


def run_page(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO / page), default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def test_notes_tables_lead_with_what_a_reader_looks_for(art):
    store = NotesStore.open(art / "notes.sqlite")
    store.add_note("ann", "demo", "calm_acoustic_1", "warm strings, a close match")
    store.set_verdict("ann", "demo", "calm_acoustic_1", "baseline", "tender_acoustic_1", 2, "relevant", 0.91, 5)
    at = run_page("pages/3_Notes_and_hit_counts.py", listener_name="ann")
    assert not at.exception
    notes, verdicts = at.dataframe[0].value, at.dataframe[1].value
    assert list(notes.columns[:1]) == ["text"] and notes.iloc[0]["text"] == "warm strings, a close match"
    assert {"rec_track_id", "rank", "verdict", "score"} <= set(verdicts.columns[:7])
    # one table above the other at full width, not squeezed side by side
    assert not any(abs(c.weight - 0.4) < 1e-6 for c in at.columns)  # was a 2:3 split of the page


def test_listen_puts_at_most_three_lists_per_row(art):
    models = ["baseline", "conv_ae_z16", "mlp_ae_z8", "extra_model_a", "extra_model_b"]
    at = run_page("pages/1_Listen_and_compare.py", listener_name="ann", listen_models=models)
    assert not at.exception
    assert [s.value for s in at.subheader if s.value in models] == models
    assert min(c.weight for c in at.columns if c.weight) >= 0.25 - 1e-9  # thirds; the query picker's 1:3 split
    assert any("its own scale" in c.value for c in at.caption)


def test_home_links_in_rows_and_key_scores_explained(art):
    at = run_page("app.py")
    assert not at.exception
    assert len(at.get("page_link")) == 9
    assert min(c.weight for c in at.columns) >= 1 / 3 - 1e-9
    captions = "\n".join(c.value for c in at.caption)
    assert "**genre_p@K**" in captions and "**best possible**" in captions and "cos same/diff genre" in captions
    assert "(headline))" not in captions


def test_best_text_says_a_tie_is_a_tie():
    from ui.home import best_text

    est = {"mean": 0.5, "lo": 0.4, "hi": 0.6}
    tied = {"embeddings": {m: {"all": {"scores": {"genre_p@10": est}}} for m in ("a", "b")}}
    assert best_text(tied, "all", "a").startswith("All embeddings tie on genre_p@10")
    tied["embeddings"]["b"]["all"]["scores"]["genre_p@10"] = {**est, "mean": 0.7}
    assert best_text(tied, "all", "b") == "Best by genre_p@10, all candidates: **b**"


def test_latent_map_hover_and_cluster_count_per_dataset(art):
    at = run_page("pages/4_Latent_map.py", dataset="demo")
    assert not at.exception
    at.slider(key="map_k|demo").set_value(9).run()
    at.selectbox(key="map_dataset").set_value("noartist").run()
    assert not at.exception
    assert at.slider(key="map_k|noartist").value == 2  # the new dataset's own genre count
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert all("artist=" not in str(t.get("hovertemplate", "")) for t in spec["data"])


def test_upload_spectrogram_in_seconds_with_a_colour_bar():
    from core.audio.config import DEFAULT_AUDIO
    from core.audio.decode import load_audio
    from core.audio.features import log_mel
    from tests.helpers.app import demo_audio_files
    from ui.spectrogram import DYNAMIC_RANGE_DB, spectrogram_figure

    mel = log_mel(load_audio(demo_audio_files()[0], max_seconds=4.0))
    fig = spectrogram_figure(mel, DEFAULT_AUDIO)
    trace = fig.data[0]
    seconds = mel.shape[1] * DEFAULT_AUDIO.hop_length / DEFAULT_AUDIO.sample_rate
    assert float(trace.x[-1]) == pytest.approx(seconds, abs=0.05) and fig.layout.xaxis.title.text == "time (s)"
    assert fig.layout.coloraxis.showscale is not False and fig.layout.coloraxis.colorbar.title.text == "dB"
    z = np.asarray(trace.z)
    assert z.max() - z.min() <= DYNAMIC_RANGE_DB + 1e-3 and fig.layout.coloraxis.cmin == pytest.approx(z.min())


def test_confusion_counts_are_readable_on_dark_cells(tmp_path):
    from core.tagger.report import cell_text_colour, plot_confusion

    assert cell_text_colour(9, 10) == "white" and cell_text_colour(1, 10) == "black"
    cm = pd.DataFrame([[9, 1], [2, 8]], index=["calm", "happy"], columns=["calm", "happy"])
    plot_confusion(cm, tmp_path / "cm.png", "test")
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_template_captions_use_an_before_a_vowel():
    from core.text.captions import fix_articles

    assert fix_articles("a energetic electronic track") == "an energetic electronic track"
    assert fix_articles("music with a upbeat mood, a calm one") == "music with an upbeat mood, a calm one"


def test_upload_that_is_not_audio_gets_one_clear_line():
    from ui.upload import check_upload

    msg = check_upload("x.wav", b"this is a text file, not audio" * 20).message
    assert msg == "'x.wav' could not be decoded: not an audio file (unrecognised format)."
