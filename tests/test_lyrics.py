"""The lyrics classifier: CSV checks (empty rows skipped and counted, another encoding, missing columns),
the artist-disjoint split, a run on small synthetic lyrics through the CLI (frozen MiniLM + heads vs majority
and TF-IDF), the files agreeing with each other, the page's lyrics box, and the real lyrics_mini CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.tagger.lyrics import LyricsInputError, load_lyrics_model, read_lyrics_csv, split_songs

REPO = Path(__file__).resolve().parents[1]
WORDS = {
    "country": "truck dusty road whiskey boots porch rodeo cowboy hometown barn river pickup",
    "hiphop": "mic beat rhyme flow hustle block crew bars money street cypher spit",
    "gospel": "lord grace pray heaven faith glory praise savior holy amen church soul",
}


def synthetic_lyrics(path: Path, n_per_genre: int = 14, seed: int = 0) -> Path:
    """A small lyrics CSV made up here: genre words mixed with common filler, 7 artists per genre, one empty row."""
    rng = np.random.default_rng(seed)
    filler = "the night and my heart we go down time love you know baby".split()
    rows = []
    for g, words in WORDS.items():
        vocab = words.split()
        for i in range(n_per_genre):
            lines = [" ".join(rng.choice(vocab, 3).tolist() + rng.choice(filler, 4).tolist()) for _ in range(4)]
            rows.append({"text": "\n".join(lines), "genre": g, "artist": f"{g} artist {i % 7}", "title": f"{g} {i}"})
    rows.append({"text": "   ", "genre": "country", "artist": "nobody", "title": "empty"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_read_counts_empty_rows_and_checks_columns(tmp_path):
    csv = synthetic_lyrics(tmp_path / "l.csv")
    d = read_lyrics_csv(csv)
    assert len(d.texts) == 42 and d.skipped_empty == 1 and d.has_artists
    pd.DataFrame({"lyrics": ["a"], "genre": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(LyricsInputError, match="lacks column"):
        read_lyrics_csv(tmp_path / "bad.csv")


def test_other_encoding_is_a_clear_error(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes("text,genre\nCafé crème à la française,pop\n".encode("latin-1"))
    with pytest.raises(LyricsInputError, match="not UTF-8"):
        read_lyrics_csv(p)


def test_split_is_artist_disjoint(tmp_path):
    d = read_lyrics_csv(synthetic_lyrics(tmp_path / "l.csv"))
    sp = split_songs(d)
    sets = {k: set(d.artists[v]) for k, v in sp.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["val"])
    assert sum(len(v) for v in sp.values()) == len(d.texts)


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    from train.lyrics import main

    p = tmp_path / "latin1.csv"
    p.write_bytes("text,genre\nCafé,pop\n".encode("latin-1"))
    assert main(["--csv", str(p), "--out", str(tmp_path / "out")]) == 2
    pd.DataFrame({"text": ["a"]}).to_csv(tmp_path / "nogenre.csv", index=False)
    assert main(["--csv", str(tmp_path / "nogenre.csv"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "lacks column(s) genre" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0


@pytest.fixture(scope="module")
def lyrics_run(tmp_path_factory) -> Path:
    """One CLI run on synthetic lyrics into <root>/lyrics (the page's default location)."""
    from train.lyrics import main

    root = tmp_path_factory.mktemp("lyr_art")
    csv = synthetic_lyrics(root.parent / "synthetic_lyrics.csv")
    assert main(["--csv", str(csv), "--out", str(root / "lyrics"), "--epochs", "60", "--n-boot", "50"]) == 0
    return root


def test_run_writes_consistent_files(lyrics_run):
    out = lyrics_run / "lyrics"
    m = json.loads((out / "metrics.json").read_text())
    e = m["eval"]
    assert e["n"] == m["split_sizes"]["test"] and 0 <= e["majority_macro_f1"] <= e["macro_f1"] <= 1
    assert m["skipped_empty_lyrics"] == 1 and m["split_by_artist"]
    methods = {r["method"] for r in m["methods"]}
    assert {"TF-IDF + logistic regression", "majority class (train)"} <= methods and len(methods) == 4
    cm = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert int(cm.to_numpy().sum()) == e["n"]
    assert np.trace(cm.to_numpy()) / e["n"] == pytest.approx(e["accuracy"])
    pred = pd.read_csv(out / "predictions.csv")
    assert len(pred) == e["n"] and "text" not in pred.columns  # no lyrics are copied into the outputs
    assert (pred["true"] == pred[f"pred: {e['model']}"]).mean() == pytest.approx(e["accuracy"])
    probs = load_lyrics_model(out).predict(["praise the lord in heaven, holy grace, amen"])
    assert probs.shape == (1, 3) and abs(probs.sum() - 1) < 1e-5


def test_page_lyrics_box_predicts(lyrics_run, monkeypatch):
    from ui.data import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(lyrics_run))
    at = AppTest.from_file(str(REPO / "pages/7_Genre_tagger.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert any("train.tagger" in w.value for w in at.warning)  # no tagger here: the command is named
    at.text_area(key="tagger_lyrics").input("mic check, the beat and the rhyme, hustle on the block").run()
    at.button(key="tagger_lyrics_go").click().run()
    assert not at.exception and any("Predicted genre" in s.value for s in at.success)


def test_real_lyrics_mini_reads_and_splits_by_artist(shared_data):
    csv = shared_data / "lyrics_mini" / "lyrics.csv"
    if not csv.is_file():
        pytest.skip("lyrics_mini is not present")
    d = read_lyrics_csv(csv)
    assert len(d.texts) + d.skipped_empty + d.skipped_no_genre == 647 and len(set(d.genres)) == 8
    sp = split_songs(d)
    assert not set(d.artists[sp["train"]]) & set(d.artists[sp["test"]])
