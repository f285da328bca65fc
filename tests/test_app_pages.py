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
    # original/oracle/recon + 3 interpolation steps + the MUSHRA trial's open reference and its 5 samples
    assert len(at.get("audio")) == 3 + 3 + 1 + 5
    assert "chosen size: 32" in texts(at)
    assert "chosen on validation segments, figures on test segments" in texts(at)
    val = next(d.value for d in at.dataframe if "size" in d.value and "oracle" in set(d.value["size"].astype(str)))
    assert list(val["size"]) == ["8", "32", "oracle"] and val["lsd_db"].iloc[0] == pytest.approx(5.2 + 40 / 8)
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


# ---------------------------------------------------------------- issue 9 (items 12-18) and issue 10 (app parts)

HOSTILE_TITLE = "[link](http://e.x) *bold* :red[x]"


@pytest.fixture
def hostile(art_root, tmp_path, monkeypatch) -> Path:
    """A copy of the demo dataset whose catalog has no artists and a Markdown-link title on every track."""
    import shutil

    import pandas as pd

    root = tmp_path / "arts"
    shutil.copytree(art_root / "demo", root / "plain")
    cat = pd.read_csv(root / "plain" / "catalog.csv", dtype=str, keep_default_na=False)
    cat["artist"] = ""
    cat["title"] = [f"{HOSTILE_TITLE} {i}" for i in range(len(cat))]
    cat.to_csv(root / "plain" / "catalog.csv", index=False)
    monkeypatch.setenv(ENV_VAR, str(root))
    return root


def _all_markdown(at: AppTest) -> str:
    return texts(at) + "\n".join(str(e.value) for e in at.get("markdown"))


@pytest.mark.parametrize("page", PAGES[:3] + PAGES[4:5])
def test_dataset_strings_are_escaped_in_markdown(hostile, page):
    at = app(page)
    at.run()
    assert not at.exception
    if page == "pages/4_Latent_map.py":
        at.selectbox(key="map_pick").set_value(0).run()
    shown = _all_markdown(at)
    assert "[link](http://e.x)" not in shown and ":red[x]" not in shown
    if page != "app.py" and page != "pages/3_Notes_and_hit_counts.py":
        assert r"\[link\]\(http\://e\.x\) \*bold\*" in shown


def test_without_artists_no_colour_by_artist_and_hit_rate_is_na_with_reason(hostile, media):
    at = app("pages/4_Latent_map.py")
    at.run()
    assert not at.exception
    assert at.radio(key="map_colour").options == ["genre", "cluster"]
    assert "no artist labels" in texts(at)
    at = app("pages/3_Notes_and_hit_counts.py")
    at.run()
    assert not at.exception
    hits = list(csv.DictReader(io.StringIO(download(at, "dl_hits").decode("utf-8"))))
    assert hits and all(h["artist_hr@10 (test)"] == "n/a" for h in hits)
    assert not any("excl. artist" in c for c in hits[0])
    assert "artist_hr@K is n/a: this catalog has no artist labels" in texts(at)
    assert all(str(v) not in ("None", "nan") for h in hits for v in h.values())


def test_notes_page_separates_notes_from_verdicts_and_rounds(art, media):
    store = NotesStore.open(art / "notes.sqlite")
    store.add_note("ann", "demo", "calm_acoustic_1", "a note")
    store.set_verdict("ann", "demo", "calm_acoustic_1", "baseline", "x", 1, "relevant", score=0.1 + 0.14)
    at = app("pages/3_Notes_and_hit_counts.py")
    at.run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    assert list(frames[0].columns) == ["text", "listener", "query_track_id", "dataset", "ts"]
    assert list(frames[1].columns)[3:7] == ["rank", "rec_track_id", "verdict", "score"]
    assert frames[1]["score"].tolist() == [0.24]
    hits = list(csv.DictReader(io.StringIO(download(at, "dl_hits").decode("utf-8"))))
    # artists exist here: every genre figure twice (all candidates and same-artist excluded)
    assert "genre_p@10 excl. artist (test)" in hits[0] and "genre_p@10 (test)" in hits[0]
    for h in hits:
        for key, value in h.items():
            if key.startswith(("genre_p", "artist_hr")) and value not in ("", "n/a"):
                assert len(value.split(".")[-1]) <= 3, (key, value)
    listeners = next(f for f in frames if "blind wins" in f.columns)
    assert list(listeners.columns) == ["model", "relevant", "not relevant", "relevance rate", "blind wins"]


def test_home_shows_both_candidate_settings_and_families(art):
    at = app("app.py")
    at.run()
    assert not at.exception
    shown = texts(at)
    assert "Key scores, same-artist candidates excluded (headline)" in shown
    assert "Key scores, all candidates" in shown
    assert shown.index("same-artist candidates excluded") < shown.index("Key scores, all candidates")
    emb = next(d.value for d in at.dataframe if "family" in d.value.columns)
    assert dict(zip(emb["embedding"], emb["family"])) == {"baseline": "classic", "conv_ae_z16": "autoencoder",
                                                          "mlp_ae_z8": "autoencoder"}


def test_family_from_sidecar_or_name(tmp_path):
    import json

    from ui.data import family_of

    (tmp_path / "embeddings").mkdir()
    (tmp_path / "embeddings" / "odd.json").write_text(json.dumps({"family": "contrastive"}))
    assert family_of(tmp_path, "odd") == "contrastive"
    assert [family_of(tmp_path, n) for n in ("baseline", "pretrained_fcn_msd", "retrieval_x", "conv1d_ae_z64")] == [
        "classic", "pretrained", "contrastive", "autoencoder"]


def test_listen_defaults_include_the_best_model_and_show_tags(art):
    from ui.data import best_embedding, read_json

    best = best_embedding(read_json(art / "demo" / "metrics.json"))
    at = app("pages/1_Listen_and_compare.py")
    at.run()
    assert not at.exception
    assert best in at.multiselect(key="listen_models").value
    assert "*tags:*" in "\n".join(m.value for m in at.markdown)
    assert "(autoencoder)" in at.multiselect(key="listen_models").format_func("conv_ae_z16")


def test_blind_mode_shows_no_lone_dash(hostile):
    at = app("pages/2_Blind_mode.py")
    at.run()
    assert not at.exception
    for m in at.markdown:
        assert not m.value.rstrip().endswith("\n—") and m.value.strip() != "—"


def test_metric_vs_size_axis_spans_the_sizes(art):
    import json
    import math

    at = app("pages/5_Reconstructions.py")
    at.run()
    chart = next(c for c in at.get("plotly_chart") if "recon_metric_plot" in c.proto.id)
    spec = json.loads(chart.proto.spec)
    xaxis = spec["layout"]["xaxis"]
    assert xaxis["type"] == "log"
    lo, hi = xaxis["range"]
    assert math.log10(8) - 1 < lo < math.log10(8) and math.log10(32) < hi < math.log10(32) + 1
    for ann in spec["layout"].get("annotations", []):  # annotations on a log axis are in log10 units
        if ann.get("xref", "x") == "x":
            assert lo <= ann["x"] <= hi, ann


def test_latent_map_axes_legend_and_precomputed_maps(art_root, tmp_path, monkeypatch):
    import json
    import shutil

    import numpy as np

    from core.audio.cache import embedded_tracks
    from core.recommend.maps import default_cluster_count, read_clusters, read_map, write_maps

    root = tmp_path / "arts"
    shutil.copytree(art_root / "demo", root / "demo")
    monkeypatch.setenv(ENV_VAR, str(root))
    res = write_maps(root / "demo", "baseline")
    assert res.path == root / "demo" / "maps" / "baseline.npz"
    pca = read_map(root / "demo", "baseline", "pca")
    assert pca.shape == (28, 2) and read_map(root / "demo", "baseline", "umap").shape == (28, 2)
    genres = embedded_tracks(root / "demo")["genre"].to_numpy()
    k = default_cluster_count(genres)
    labels, quality = read_clusters(root / "demo", "baseline", k)
    assert read_clusters(root / "demo", "baseline", k + 1) is None  # another k is computed on the page
    assert labels.shape == (28,) and len(set(labels.tolist())) == k and -1 <= quality["silhouette_kmeans"] <= 1
    with np.load(res.path) as z:  # mark the stored quality numbers, to see that the page reads them
        stored = {name: z[name] for name in z.files}
    stored["cluster_quality"] = np.array(json.dumps({**quality, "v_measure_kmeans_vs_genre": 0.123456}))
    np.savez(res.path, **stored)
    at = app("pages/4_Latent_map.py")
    at.run()
    assert not at.exception and "No precomputed" not in texts(at)
    assert "0.123" in [m.value for m in at.metric]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert (spec["layout"]["xaxis"]["title"]["text"], spec["layout"]["yaxis"]["title"]["text"]) == ("PC1", "PC2")
    at.radio(key="map_colour").set_value("cluster").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t["name"] for t in spec["data"]]
    assert names == sorted(names, key=lambda n: int(n[1:]))
    at.radio(key="map_method").set_value("UMAP").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "UMAP-1"
    # a rewritten embedding makes its old map stale: the page computes one and says how to precompute
    np.save(root / "demo" / "embeddings" / "baseline.npy", np.random.default_rng(0).normal(size=(28, 5)))
    assert read_map(root / "demo", "baseline", "pca") is None and read_clusters(root / "demo", "baseline", k) is None
    at = app("pages/4_Latent_map.py")
    at.run()
    assert "python -m train.maps --data artifacts/demo" in texts(at)


def test_upload_is_private_deleted_and_limited(tmp_path, monkeypatch):
    import os
    import tempfile
    import tomllib

    from tests.helpers.app import demo_audio_files
    from ui import upload

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["maxUploadSize"] == upload.DEFAULT_MAX_UPLOAD_MIB
    seen: list[tuple[Path, int, int]] = []
    real_load = __import__("core.audio.decode", fromlist=["load_audio"]).load_audio

    def spy(path, *a, **kw):
        path = Path(path)
        seen.append((path, os.stat(path.parent).st_mode & 0o777, os.stat(path).st_mode & 0o777))
        return real_load(path, *a, **kw)

    monkeypatch.setattr("core.audio.decode.load_audio", spy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real = demo_audio_files()[0]
    check = upload.check_upload(real.name, real.read_bytes())
    assert check.ok and seen
    path, dir_mode, file_mode = seen[0]
    assert path.parent.name.startswith(upload.UPLOAD_PREFIX) and dir_mode == 0o700 and file_mode == 0o600
    assert not path.exists() and not path.parent.exists()  # deleted after use
    assert not list(tmp_path.glob("workbench_uploads*"))
    msg = upload.check_upload("x.wav", b"0" * (21 * 2**20), max_bytes=20 * 2**20).message
    assert msg == "'x.wav' is too large: 21.0 MiB; the limit is 20 MiB."
    bad = upload.check_upload("broken.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk" * 10).message
    assert "((" not in bad and "))" not in bad and "could not be decoded: " in bad


def test_streamlit_config_for_how_the_app_is_run():
    import tomllib

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["client"]["toolbarMode"] == "viewer"  # no Deploy button
    assert cfg["browser"]["serverAddress"] == "localhost"  # no external-IP lookup line


def test_upload_result_shows_spectrograms_and_metrics_with_units_beside_the_oracle(art, monkeypatch):
    """The upload view with the study model's output (the encoder replaced by a fixed result)."""
    import numpy as np
    import pandas as pd

    from ui import upload
    from ui.audio import wav_bytes

    tone = wav_bytes(np.sin(np.linspace(0, 2000, 22050)).astype(np.float32) * 0.1, 22050)
    mel = np.full((16, 20), -40.0, np.float32)
    fake = upload.UploadResult(tone, tone, tone, mel, mel + 1, pd.DataFrame(
        [{"rank": 1, "track_id": "calm_acoustic_1", "genre": "calm", "distance": 0.1}]),
        {"lsd_db": 7.25, "spectral_convergence": 0.5}, {"lsd_db": 5.0, "spectral_convergence": 0.25}, False, 22050)
    monkeypatch.setattr(upload, "encode_upload", lambda *a, **kw: fake)
    from tests.helpers.app import demo_audio_files

    real = demo_audio_files()[1]
    at = app("pages/5_Reconstructions.py")
    at.run()
    n_charts = len(at.get("plotly_chart"))
    at.get("file_uploader")[0].set_value((real.name, real.read_bytes(), "audio/ogg"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == n_charts + 3  # original, oracle and reconstruction spectrograms
    table = next(d.value for d in at.dataframe if "oracle" in d.value.columns)
    row = table.set_index("metric").loc["lsd_db"]
    assert (row["unit"], row["reconstruction"], row["oracle"]) == ("dB", 7.25, 5.0)
    assert "lower is better" in texts(at)


def test_maps_of_a_catalog_without_genres_keep_two_clusters(art_root, tmp_path):
    import shutil

    import pandas as pd

    from core.recommend.maps import read_clusters, read_map, write_maps

    ds = tmp_path / "demo"
    shutil.copytree(art_root / "demo", ds)
    cat = pd.read_csv(ds / "catalog.csv", dtype=str, keep_default_na=False)
    cat.drop(columns=["genre"]).to_csv(ds / "catalog.csv", index=False)
    write_maps(ds, "baseline", methods=("pca",))
    assert read_map(ds, "baseline", "pca").shape == (28, 2)
    labels, quality = read_clusters(ds, "baseline", 2)  # no genres: the page's starting k is 2
    assert sorted(set(labels.tolist())) == [0, 1] and quality["v_measure_kmeans_vs_genre"] == 0.0
