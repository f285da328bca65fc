"""Hostile input against the tagger and the lyrics classifier: class names that are spreadsheet formulas
(every CSV they write must neutralise them), a genre spelled "NaN", labels / lyrics CSVs with one extra field
on every row, too few songs to split, evaluation CSVs without a known genre, and huge or broken lyrics texts
given to a trained lyrics model."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from core.io import is_formula
from tests.test_lyrics import synthetic_lyrics

EVIL_GENRE = '=HYPERLINK("http://e.x","x")'
EVIL_LYRICS_GENRE = "+cmd|' /C calc'!A0"


def _cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return [c for row in csv.reader(f) for c in row]


def _no_live_formula(path: Path, name: str, as_cell: bool = True) -> None:
    cells = _cells(path)
    assert not [c for c in cells if is_formula(c)], path
    assert any(name in c for c in cells), path  # the name is kept ...
    assert not as_cell or "'" + name in cells, path  # ... neutralised where it is a whole cell


# ------------------------------------------------------------------ the tagger
@pytest.fixture(scope="module")
def evil_tagger_run(demo_dir, tmp_path_factory) -> Path:
    """A demo copy whose 'happy' tracks are labelled with a formula and 'calm' ones with "NaN"; one short run."""
    from train.tagger import main

    ds = tmp_path_factory.mktemp("hostile_tagger") / "demo"
    shutil.copytree(demo_dir, ds)
    for path in (ds / "catalog.csv", ds / "cache" / "catalog.csv"):
        cat = pd.read_csv(path, dtype=str, keep_default_na=False)
        cat["genre"] = cat["genre"].replace({"happy": EVIL_GENRE, "calm": "NaN"})
        cat.to_csv(path, index=False)
    assert main(["--data", str(ds), "--epochs", "1", "--patience", "1", "--n-boot", "20", "--quiet"]) == 0
    return ds / "tagger"


def test_tagger_csvs_neutralise_formula_class_names(evil_tagger_run):
    for name in ("confusion_matrix.csv", "tracks.csv"):
        _no_live_formula(evil_tagger_run / name, EVIL_GENRE)
    _no_live_formula(evil_tagger_run / "windows.csv", EVIL_GENRE, as_cell=False)  # only in p_<class> headers


def test_a_genre_spelled_nan_is_a_class_not_missing(evil_tagger_run):
    from core.tagger.labels import build_labels

    m = json.loads((evil_tagger_run / "metrics.json").read_text())
    assert "NaN" in m["classes"] and "NaN" not in m["dropped_classes"]
    assert "NaN" in _cells(evil_tagger_run / "confusion_matrix.csv")
    labels = build_labels(pd.DataFrame({"genre": ["nan", "NaN", "NAN", "", "rock", "rock", "nan"]}))
    assert labels.classes == ["nan", "rock"] and list(labels.y) == [0, -1, -1, -1, 1, 1, 0]


# ------------------------------------------------------------------ the lyrics classifier
@pytest.fixture(scope="module")
def evil_lyrics_run(tmp_path_factory) -> Path:
    """One lyrics run whose 'country' genre is a formula."""
    from train.lyrics import main

    root = tmp_path_factory.mktemp("hostile_lyrics")
    src = synthetic_lyrics(root / "lyrics.csv")
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df["genre"] = df["genre"].replace({"country": EVIL_LYRICS_GENRE})
    df.to_csv(src, index=False)
    assert main(["--csv", str(src), "--out", str(root / "out"), "--epochs", "5", "--n-boot", "20",
                 "--losses", "ce"]) == 0
    return root / "out"


def test_lyrics_csvs_neutralise_formula_genres(evil_lyrics_run):
    for name in ("predictions.csv", "confusion_matrix.csv"):
        _no_live_formula(evil_lyrics_run / name, EVIL_LYRICS_GENRE)


def test_lyrics_model_takes_huge_and_broken_texts(evil_lyrics_run):
    from core.tagger.lyrics import load_lyrics_model

    model = load_lyrics_model(evil_lyrics_run)
    t0 = time.monotonic()
    probs = model.predict(["love " * 1_000_000, "rain \ud800 on the road", ""])
    assert time.monotonic() - t0 < 20
    assert probs.shape == (3, len(model.classes)) and abs(float(probs.sum(1).mean()) - 1.0) < 1e-4


def _lyrics_main(*args: str) -> int:
    from train.lyrics import main

    return main(list(args))


def test_lyrics_csv_with_an_extra_field_on_every_row_is_refused(tmp_path, capsys):
    p = tmp_path / "ragged.csv"
    p.write_text("text,genre\nla la love,pop,Artist A\nhey hey,rock,Artist B\nsun sun,pop,Artist C\n")
    assert _lyrics_main("--csv", str(p), "--out", str(tmp_path / "out")) == 2
    assert "ragged row: line 2 has 3 fields, the header 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_too_few_songs_and_unknown_eval_genres_exit_2(tmp_path, capsys):
    four = tmp_path / "four.csv"
    pd.DataFrame({"text": ["la la love", "baby love", "guitar rock", "rock on"],
                  "genre": ["pop", "pop", "rock", "rock"]}).to_csv(four, index=False)
    assert _lyrics_main("--csv", str(four), "--out", str(tmp_path / "o1")) == 2
    assert "too few songs" in capsys.readouterr().err
    train = synthetic_lyrics(tmp_path / "train.csv")
    unknown = tmp_path / "unknown.csv"
    pd.DataFrame({"text": ["x y z", "a b c"], "genre": ["polka", "zydeco"]}).to_csv(unknown, index=False)
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,genre\n")
    for ev in (unknown, header_only):
        assert _lyrics_main("--csv", str(train), "--eval-csv", str(ev), "--out", str(tmp_path / "o2")) == 2
        err = capsys.readouterr().err
        assert "no song with a genre of the training CSV" in err and err.strip().count("\n") == 0


# ------------------------------------------------------------------ the one CSV writer
def test_write_csv_neutralises_cells_headers_and_index(tmp_path):
    from core.io import write_csv

    df = pd.DataFrame({"=cls": ["@SUM(A1)", "-0.5", "-2+3", "\tx", "＝HYPERLINK()", "fine"],
                       "n": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0]},
                      index=pd.Index(["+a", "b", "c", "d", "e", "f"], name="-idx"))
    write_csv(df, tmp_path / "x.csv", index=True)
    back = pd.read_csv(tmp_path / "x.csv", dtype=str, keep_default_na=False)
    assert list(back.columns) == ["'-idx", "'=cls", "n"]
    assert back["'-idx"].tolist()[0] == "'+a"
    assert back["'=cls"].tolist() == ["'@SUM(A1)", "-0.5", "'-2+3", "'\tx", "'＝HYPERLINK()", "fine"]
    assert back["n"].tolist()[0] == "-1.5"


def test_every_csv_the_library_writes_goes_through_the_one_writer():
    from tests.conftest import REPO

    # tables the project reads back itself (a neutralising quote would change the data)
    machine_tables = {"core/io.py", "core/audio/cache.py", "core/audio/prepare.py", "core/encoders/frames.py",
                      "core/text/sources.py", "core/latent/combine.py"}
    offenders = []
    for path in sorted((REPO / "core").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if rel not in machine_tables and (".to_csv(" in line or "csv.writer(" in line):
                offenders.append(f"{rel}:{n}")
    assert not offenders, offenders
