"""Every Streamlit page under AppTest against artifacts made from real demo audio: renders without
exceptions, stores verdicts/notes/votes, hides blind names until the vote, exports safe CSV,
checks uploads, and says which command to run when artifacts are missing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.listening.notes import NotesStore
from tests.helpers.app import DEMO_MODELS, make_demo_artifacts
from ui.data import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
PAGES = ["app.py", "pages/1_Listen_and_compare.py", "pages/2_Blind_mode.py",
         "pages/3_Notes_and_hit_counts.py", "pages/4_Latent_map.py", "pages/5_Reconstructions.py"]
TIMEOUT = 120


@pytest.fixture(scope="module")
def art_root(tmp_path_factory) -> Path:
    """An artifacts folder with one demo dataset (real audio, real-feature embeddings, eval, recon)."""
    root = tmp_path_factory.mktemp("artifacts")
    make_demo_artifacts(root)
    return root


@pytest.fixture
def art(art_root, monkeypatch, tmp_path) -> Path:
    """The shared artifacts, with a fresh notes database per test."""
    db = art_root / "notes.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    monkeypatch.setenv(ENV_VAR, str(art_root))
    return art_root


def app(page: str, listener: str | None = "tester") -> AppTest:
    """An AppTest of one page with the listener name already given."""
    at = AppTest.from_file(str(REPO / page), default_timeout=TIMEOUT)
    if listener:
        at.session_state["listener_name"] = listener
    return at


def texts(at: AppTest) -> str:
    """All markdown, headers and captions of a run as one string."""
    parts = [e.value for kind in ("markdown", "subheader", "header", "title", "caption", "success", "info",
                                  "warning", "error") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


_STORAGES: list = []


@pytest.fixture
def media(monkeypatch) -> list:
    """Record AppTest's in-memory media storages so download buttons' bytes can be read."""
    import streamlit.testing.v1.app_test as app_test_module
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    class Recording(MemoryMediaFileStorage):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            _STORAGES.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Recording)
    return _STORAGES


def download(at: AppTest, key: str) -> bytes:
    """The bytes behind a download button of the latest run."""
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    return _STORAGES[-1].get_file(button.proto.url.rsplit("/", 1)[1]).content


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_real_artifacts(art, page):
    at = app(page)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_listen_stores_verdict_and_note(art):
    at = app("pages/1_Listen_and_compare.py")
    at.run()
    assert not at.exception
    shown = texts(at)
    for model in DEMO_MODELS:
        assert model in [s.value for s in at.subheader]
    assert "cos " in shown and len(at.radio) == 3 * 5
    assert len(at.get("audio")) == 1 + 3 * 5
    query_id = at.selectbox(key="listen_query").value
    at.radio[0].set_value("not relevant").run()
    at.text_area[0].input("=SUM(A1) thin drums, wrong mood")
    at.button[1].click().run()  # "Save note" (button 0 is "Random query")
    assert not at.exception
    store = NotesStore(art / "notes.sqlite")
    v = store.read("verdicts")
    assert len(v) == 1 and v.iloc[0]["verdict"] == "not_relevant" and v.iloc[0]["listener"] == "tester"
    assert v.iloc[0]["model"] == "baseline"
    n = store.read("notes")
    assert n["text"].tolist() == ["=SUM(A1) thin drums, wrong mood"]
    assert store.annotations()["query_track_id"].nunique() == 1
    # search by title changes the query
    at.text_input(key="listen_search").input("energetic electronic").run()
    assert "Energetic Electronic" in at.selectbox(key="listen_query").format_func(
        at.selectbox(key="listen_query").value)
    assert at.selectbox(key="listen_query").value != query_id or "energetic_electronic" in query_id


def test_listener_name_is_asked_once(art):
    at = app("pages/1_Listen_and_compare.py", listener=None)
    at.run()
    assert not at.radio  # nothing to mark before the name is given
    at.text_input(key="listener_input").input("Mia")
    at.button[0].click().run()
    assert at.session_state["listener_name"] == "Mia"
    assert len(at.radio) > 0 and not at.exception


def test_blind_mode_hides_names_until_vote(art):
    at = app("pages/2_Blind_mode.py")
    at.run()
    assert not at.exception
    headers = [s.value for s in at.subheader]
    assert headers == ["List A", "List B"]
    body = "\n".join(m.value for m in at.markdown)
    for model in DEMO_MODELS:
        assert model not in body and model not in "\n".join(headers)
    assignment = dict(at.session_state["blind_assign"])
    at.radio(key="blind_choice").set_value("B")
    at.button[-1].click().run()  # "Vote"
    assert not at.exception
    headers = [s.value for s in at.subheader]
    assert headers == [f"List A — {assignment['A']}", f"List B — {assignment['B']}"]
    votes = NotesStore(art / "notes.sqlite").read("votes")
    assert len(votes) == 1
    row = votes.iloc[0]
    assert (row["model_a"], row["model_b"], row["choice"], row["winner"]) == (
        assignment["A"], assignment["B"], "B", assignment["B"])


def test_notes_page_exports_safe_csv(art, media):
    store = NotesStore.open(art / "notes.sqlite")
    store.add_note("ann", "demo", "calm_acoustic_1", "=HYPERLINK(\"http://evil\")")
    store.add_note("bob", "demo", "calm_acoustic_1", "+1 lovely — ünïcode")
    store.set_verdict("ann", "demo", "calm_acoustic_1", "baseline", "calm_acoustic_s411", 1, "relevant")
    store.set_verdict("ann", "demo", "calm_acoustic_1", "conv_ae_z16", "happy_acoustic_1", 1, "not_relevant")
    store.add_vote("ann", "demo", "calm_acoustic_1", 5, "conv_ae_z16", "baseline", "A")
    at = app("pages/3_Notes_and_hit_counts.py")
    at.run()
    assert not at.exception
    rows = list(csv.DictReader(io.StringIO(download(at, "dl_notes").decode("utf-8"))))
    assert len(rows) == 4
    texts_ = sorted(r["text"] for r in rows if r["kind"] == "note")
    assert texts_ == ["'+1 lovely — ünïcode", "'=HYPERLINK(\"http://evil\")"]
    assert sorted(r["verdict"] for r in rows if r["kind"] == "verdict") == ["not_relevant", "relevant"]
    hits = list(csv.DictReader(io.StringIO(download(at, "dl_hits").decode("utf-8"))))
    assert [h["model"] for h in hits] == list(DEMO_MODELS)
    base = next(h for h in hits if h["model"] == "baseline")
    assert base["relevant"] == "1" and float(base["relevance rate"]) == 1.0
    conv = next(h for h in hits if h["model"] == "conv_ae_z16")
    assert conv["blind wins"] == "1" and float(conv["relevance rate"]) == 0.0
    assert 0.0 <= float(base["genre_p@10 (test)"]) <= 1.0
    votes = list(csv.DictReader(io.StringIO(download(at, "dl_votes").decode("utf-8"))))
    assert votes[0]["winner"] == "conv_ae_z16"
    # the filter narrows the table and the export
    at.multiselect(key="notes_kind").set_value(["note"]).run()
    rows = list(csv.DictReader(io.StringIO(download(at, "dl_notes").decode("utf-8"))))
    assert len(rows) == 2
    assert "p_value" in at.dataframe[-1].value.columns


def test_latent_map_selection_plays_track_and_neighbours(art):
    at = app("pages/4_Latent_map.py")
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1 and len(at.metric) == 4
    at.selectbox(key="map_pick").set_value(3).run()
    assert not at.exception
    assert len(at.get("audio")) == 1 + 5
    at.radio(key="map_colour").set_value("cluster").run()
    at.radio(key="map_method").set_value("UMAP").run()
    assert not at.exception


def test_reconstructions_page_and_upload_checks(art, tmp_path):
    at = app("pages/5_Reconstructions.py")
    at.run()
    assert not at.exception
    assert len(at.get("audio")) == 3 + 3  # original/oracle/recon + 3 interpolation steps
    assert "chosen size: 32" in texts(at)
    at.select_slider(key="recon_size").set_value(8).run()
    assert "Reconstruction, z = 8" in texts(at)
    # a real audio file is accepted; without a trained study model the reason is shown, not a traceback
    from tests.helpers.app import demo_audio_files

    real = demo_audio_files()[0]
    at.get("file_uploader")[0].set_value((real.name, real.read_bytes(), "audio/ogg"))
    at.run()
    assert not at.exception
    assert any("accepted" in m.value for m in at.success)
    uploader = at.get("file_uploader")[0]
    uploader.set_value(("notes.txt", b"hello, not audio", "text/plain"))
    at.run()
    assert any("not an audio file" in e.value for e in at.error)
    at.get("file_uploader")[0].set_value(("broken.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk" * 10, "audio/wav"))
    at.run()
    assert any("could not be decoded" in e.value for e in at.error)
    big = b"\x00" * (21 * 1024 * 1024)
    at.get("file_uploader")[0].set_value(("huge.wav", big, "audio/wav"))
    at.run()
    assert any("too large" in e.value for e in at.error)
    assert not at.exception


@pytest.mark.parametrize("page", PAGES)
def test_missing_artifacts_show_the_command(tmp_path, monkeypatch, page):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "empty"))
    at = app(page)
    at.run()
    assert not at.exception
    message = "\n".join(w.value for w in at.warning)
    assert "python -m train." in message


def test_dataset_without_embeddings_says_what_to_run(tmp_path, monkeypatch):
    root = tmp_path / "arts"
    (root / "bare").mkdir(parents=True)
    (root / "bare" / "catalog.csv").write_text(
        "track_id,path,genre,artist,title,split,duration_s,status,tags,row\nx,/nope.wav,a,,X,train,1.0,ok,,0\n")
    monkeypatch.setenv(ENV_VAR, str(root))
    for page in PAGES[:2]:
        at = app(page)
        at.run()
        assert not at.exception
        assert "python -m train.autoencoders" in "\n".join(w.value for w in at.warning)


def test_loader_helpers_on_a_tiny_catalog(tmp_path):
    import numpy as np
    import pandas as pd

    from core.recommend.metrics import hit_rates
    from ui.data import handpicked_rows, search_tracks
    from ui.upload import check_upload

    tracks = pd.DataFrame({"track_id": ["a", "b", "c", "d"], "title": ["Blue Moon", "Red Sun", "Blue Sky", "Rain"],
                           "artist": ["x", "x", "y", ""], "genre": ["jazz", "rock", "jazz", "rock"], "tags": ""})
    tracks["search"] = (tracks["title"] + " " + tracks["artist"] + " " + tracks["genre"]).str.lower()
    assert search_tracks(tracks, "blue jazz").tolist() == [0, 2]
    assert search_tracks(tracks, "nothing").tolist() == []
    assert handpicked_rows(tracks, pd.DataFrame({"query_track_id": ["c", "c", "zz", "a"]})).tolist() == [2, 0]
    emb = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9]], np.float32)
    h = hit_rates(tracks, emb, np.arange(4), 1)
    assert h["genre_p@1"] == 1.0  # a<->c (jazz), b<->d (rock)
    assert h["artist_hr@1"] == 0.0  # nearest never shares the (known) artist
    assert not check_upload("x.wav", b"").ok
    assert "too large" in check_upload("x.wav", b"0" * 11, max_bytes=10).message


def test_cached_loaders_pick_up_rewritten_artifacts(tmp_path):
    import numpy as np

    from ui.data import cached_embedding

    ds = tmp_path / "ds"
    (ds / "embeddings").mkdir(parents=True)
    np.save(ds / "embeddings" / "m.npy", np.eye(3, dtype=np.float32))
    assert cached_embedding(ds, "m").shape == (3, 3)
    np.save(ds / "embeddings" / "m.npy", np.ones((3, 5), np.float32))  # a new training run rewrote it
    assert cached_embedding(ds, "m").shape == (3, 5)
