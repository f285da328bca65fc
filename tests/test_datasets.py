"""core.audio.catalogs: catalogs of FMA (two-header tracks.csv), GTZAN, any folder, MusicCaps and the demo corpus."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from core.audio.catalogs import (
    CATALOG_COLUMNS,
    CatalogError,
    block_split,
    build_catalog,
    demo_catalog,
    fma_catalog,
    folder_catalog,
    gtzan_catalog,
    hash_split,
    label_path_key,
    make_catalog,
    musiccaps_catalog,
    read_fma_tracks,
)
from tests.helpers.audio import FMA_COLUMNS, fma_rows, tone, write_genres_csv, write_tracks_csv, write_wav
from train.prepare import main as prepare_main


def assert_catalog_schema(cat: pd.DataFrame) -> None:
    assert list(cat.columns) == CATALOG_COLUMNS
    assert cat["track_id"].map(type).eq(str).all() and not cat["track_id"].duplicated().any()
    assert set(cat["split"]) <= {"train", "val", "test"}
    for col in ("genre", "artist", "title", "tags", "status", "path"):
        assert cat[col].map(type).eq(str).all(), col


# ------------------------------------------------------------------------------ FMA
def test_fma_tracks_csv_is_read_with_two_header_rows(fma_tree):
    tracks = read_fma_tracks(fma_tree["root"] / "fma_metadata" / "tracks.csv")
    assert isinstance(tracks.columns, pd.MultiIndex) and tracks.index.name == "track_id"
    assert ("track", "genre_top") in tracks.columns and ("set", "split") in tracks.columns
    assert tracks.loc[2, ("artist", "name")] == "Artist, 1"  # quoted comma survives


def test_fma_catalog(fma_tree):
    cat = fma_catalog(fma_tree["root"], "small")
    assert_catalog_schema(cat)
    by_id = cat.set_index("track_id")
    # ids are six-digit strings, audio at fma_small/<first three digits>/<id>.mp3
    assert by_id.loc["000002", "path"].endswith("fma_small/000/000002.mp3")
    assert by_id.loc["001039", "path"].endswith("fma_small/001/001039.mp3")
    # official split mapped, genre_top as genre, genres (ids) named through genres.csv as tags
    row = by_id.loc["000002"]
    assert [row.genre, row.artist, row.title, row.split] == ["Rock", "Artist, 1", "Track 0", "train"]
    assert by_id.loc["000140", "split"] == "val" and by_id.loc["000148", "split"] == "test"
    assert by_id.loc["000002", "tags"] == "Punk|Rock"
    assert by_id.loc["000005", "tags"] == "Electronic"
    assert all(by_id.loc[t, "status"] == "ok" for t in fma_tree["good"])
    # the known kinds of trouble are flagged, not fatal
    assert by_id.loc["123456", "status"] == "missing audio file"
    assert by_id.loc["777777", "status"] == "no catalog row in tracks.csv"
    assert by_id.loc["099134", "status"] == "ok"  # no audio: found out when decoding (see test_prepare)
    assert "155066" not in by_id.index  # medium-only row is not in fma_small
    assert len(cat) == 8 + 4


def test_fma_medium_subset_includes_small_rows(fma_tree):
    cat = fma_catalog(fma_tree["root"], "medium")
    assert "155066" in set(cat["track_id"])  # its MP3 would live under fma_medium/: reported missing
    assert cat.set_index("track_id").loc["155066", "status"] == "missing audio file"


def test_fma_tracks_csv_missing_a_required_column(tmp_path):
    cols = [c for c in FMA_COLUMNS if c != ("track", "genre_top")]
    write_tracks_csv(tmp_path / "fma_metadata" / "tracks.csv", fma_rows(3), cols)
    with pytest.raises(CatalogError, match=r"lacks required column\(s\): track\.genre_top"):
        fma_catalog(tmp_path)


def test_prepare_cli_names_the_missing_column_and_writes_nothing(tmp_path, capsys):
    cols = [c for c in FMA_COLUMNS if c not in {("set", "split"), ("artist", "name")}]
    write_tracks_csv(tmp_path / "fma" / "fma_metadata" / "tracks.csv", fma_rows(3), cols)
    write_genres_csv(tmp_path / "fma" / "fma_metadata" / "genres.csv")
    out = tmp_path / "out"
    rc = prepare_main(["--dataset", "fma", "--root", str(tmp_path / "fma"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "set.split" in err and "artist.name" in err and "nothing written" in err
    assert not out.exists()


def test_single_header_csv_is_not_taken_for_fma(tmp_path):
    path = tmp_path / "fma_metadata" / "tracks.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"track_id": [2, 5], "genre_top": ["Rock", "Pop"]}).to_csv(path, index=False)
    with pytest.raises(CatalogError, match="tracks.csv"):
        fma_catalog(tmp_path)


def test_fma_metadata_absent(tmp_path):
    with pytest.raises(CatalogError, match="FMA metadata not found"):
        fma_catalog(tmp_path)


# ------------------------------------------------------------------------------ GTZAN
def test_gtzan_catalog_layout_and_block_splits(tmp_path):
    for genre in ("blues", "jazz"):
        for i in range(10):
            write_wav(tmp_path / "genres_original" / genre / f"{genre}.{i:05d}.wav", tone(440, 0.1))
    (tmp_path / "genres_original" / "jazz" / "notes.txt").write_text("ignored")
    cat = gtzan_catalog(tmp_path)
    assert_catalog_schema(cat)
    jazz = cat[cat["genre"] == "jazz"]
    assert jazz["split"].tolist() == ["train"] * 8 + ["val", "test"]  # contiguous blocks of ids
    assert (cat["artist"] == "").all() and len(cat) == 20
    assert gtzan_catalog(tmp_path / "genres_original")["track_id"].tolist() == cat["track_id"].tolist()


def test_gtzan_catalog_without_genre_folders(tmp_path):
    with pytest.raises(CatalogError, match="no genre folders"):
        gtzan_catalog(tmp_path)


def test_gtzan_mini_catalog(shared_data):
    cat = build_catalog("gtzan", shared_data / "gtzan_mini", gtzan_split="block")
    assert_catalog_schema(cat)
    assert len(cat) == 100 and cat["genre"].nunique() == 10
    assert cat.groupby("genre")["split"].apply(lambda s: s.value_counts().to_dict()).unstack().eq(
        pd.Series({"train": 8, "val": 1, "test": 1})).all().all()


# ------------------------------------------------------------------------------ any folder
def test_folder_catalog_genres_from_subfolders(tmp_path):
    write_wav(tmp_path / "rock" / "a.wav", tone(440, 0.1))
    write_wav(tmp_path / "rock" / "live" / "b.wav", tone(440, 0.1))
    write_wav(tmp_path / "c.wav", tone(440, 0.1))
    (tmp_path / "rock" / "cover.jpg").write_bytes(b"\xff\xd8")
    cat = folder_catalog(tmp_path)
    assert_catalog_schema(cat)
    by_id = cat.set_index("track_id")
    assert sorted(by_id.index) == ["c", "rock/a", "rock/live/b"]
    assert by_id.loc["rock/live/b", "genre"] == "rock" and by_id.loc["c", "genre"] == ""
    assert (cat["status"] == "ok").all()
    assert folder_catalog(tmp_path)["split"].tolist() == cat["split"].tolist()  # deterministic


def test_folder_catalog_same_name_different_format(tmp_path):
    write_wav(tmp_path / "song.wav", tone(440, 0.1))
    write_wav(tmp_path / "song.flac", tone(440, 0.1))
    write_wav(tmp_path / "other.wav", tone(440, 0.1))
    assert sorted(folder_catalog(tmp_path)["track_id"]) == ["other", "song.flac", "song.wav"]


def test_folder_catalog_with_labels_csv(tmp_path):
    write_wav(tmp_path / "x" / "a.wav", tone(440, 0.1))
    write_wav(tmp_path / "b.wav", tone(440, 0.1))
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"path": ["x/a.wav", "b.wav", "gone.wav"], "genre": ["jazz", "", "pop"],
                  "artist": ["Ann", "Bob", ""], "title": ["A", "", "Gone"], "tags": ["calm|piano", "", ""]}
                 ).to_csv(labels, index=False)
    by_id = folder_catalog(tmp_path, labels).set_index("track_id")
    assert by_id.loc["x/a", ["genre", "artist", "title", "tags"]].tolist() == ["jazz", "Ann", "A", "calm|piano"]
    assert by_id.loc["b", "title"] == "b" and by_id.loc["b", "artist"] == "Bob"
    assert by_id.loc["gone", "status"] == "missing audio file"  # a label row whose file is missing


def test_folder_labels_csv_without_path_column(tmp_path):
    write_wav(tmp_path / "a.wav", tone(440, 0.1))
    pd.DataFrame({"file": ["a.wav"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(CatalogError, match="lacks required column: path"):
        folder_catalog(tmp_path, tmp_path / "labels.csv")


# ------------------------------------------------------------------------------ bad labels CSVs (issue 9, item 7)
LATIN1 = "path,genre,artist\na.wav,jazz,Beyonc\u00e9\n".encode("latin-1")
BAD_LABELS = {
    "empty": (b"", r"labels CSV .*labels\.csv is empty: not even a header row \(nothing written\)$"),
    "latin-1": (LATIN1, r"labels CSV .*labels\.csv is not UTF-8 text \(byte 0xe9\); save it as UTF-8"),
    "ragged": (b"path,genre\na.wav,jazz\nb.wav,rock,extra,more\n",
               r"labels CSV .*labels\.csv has a ragged row: line 3 has 4 fields, the header 2 \(nothing"),
}


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_prepare_refuses_an_unreadable_labels_csv(tmp_path, capsys, case):
    content, reason = BAD_LABELS[case]
    write_wav(tmp_path / "in" / "a.wav", tone(440, 0.1))
    (tmp_path / "labels.csv").write_bytes(content)
    out = tmp_path / "out"
    rc = prepare_main(["--dataset", "folder", "--root", str(tmp_path / "in"), "--labels", str(tmp_path / "labels.csv"),
                       "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert re.search(reason, err.strip()), err


def test_prepare_refuses_a_labels_path_that_does_not_exist(tmp_path, capsys):
    write_wav(tmp_path / "in" / "a.wav", tone(440, 0.1))
    rc = prepare_main(["--dataset", "folder", "--root", str(tmp_path / "in"), "--labels", str(tmp_path / "nope.csv"),
                       "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and not (tmp_path / "out").exists() and len(err.strip().splitlines()) == 1
    assert f"labels CSV not found: {tmp_path / 'nope.csv'}" in err


def test_prepare_refuses_a_musiccaps_root_without_captions(tmp_path, capsys):
    write_wav(tmp_path / "mc" / "audio" / "abc.wav", tone(440, 0.1))
    rc = prepare_main(["--dataset", "musiccaps", "--root", str(tmp_path / "mc"), "--out", str(tmp_path / "out"),
                       "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and not (tmp_path / "out").exists() and len(err.strip().splitlines()) == 1
    assert f"MusicCaps captions.csv not found: {tmp_path / 'mc' / 'captions.csv'}" in err


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_musiccaps_captions_unreadable(tmp_path, case):
    (tmp_path / "captions.csv").write_bytes(BAD_LABELS[case][0])
    with pytest.raises(CatalogError, match="MusicCaps captions.csv"):
        musiccaps_catalog(tmp_path)


def test_labels_csv_with_duplicate_paths_is_refused_naming_them(tmp_path, capsys):
    write_wav(tmp_path / "in" / "x" / "a.wav", tone(440, 0.1))
    write_wav(tmp_path / "in" / "b.wav", tone(440, 0.1))
    (tmp_path / "labels.csv").write_text("path,genre\nx/a.wav,jazz\nb.wav,rock\n./x/a.wav,pop\nb.wav,rock\n")
    rc = prepare_main(["--dataset", "folder", "--root", str(tmp_path / "in"), "--labels", str(tmp_path / "labels.csv"),
                       "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and not (tmp_path / "out").exists() and len(err.strip().splitlines()) == 1
    assert "2 paths have more than one row: x/a.wav (lines 2, 4), b.wav (lines 3, 5)" in err


def test_labels_paths_outside_the_root_or_absolute_are_listed_with_a_reason(tmp_path):
    root = tmp_path / "in"
    write_wav(root / "sub" / "a.wav", tone(440, 0.1))
    write_wav(root / "b.wav", tone(440, 0.1))
    write_wav(tmp_path / "x.wav", tone(440, 0.1))  # exists, but outside the root
    rows = [("../x.wav", "out"), ("/etc/passwd", "abs"), (str(root / "b.wav"), "abs-inside"),
            ("..\\y.wav", "out-backslash"), ("C:\\music\\c.wav", "windows"), ("sub\\a.wav", "jazz"),
            ("sub/../../z.wav", "out-dotdot")]
    pd.DataFrame(rows, columns=["path", "genre"]).to_csv(tmp_path / "labels.csv", index=False)
    cat = folder_catalog(root, tmp_path / "labels.csv")
    assert_catalog_schema(cat)
    status = dict(zip(cat["path"], cat["status"]))
    by_id = cat.set_index("track_id")
    assert by_id.loc["sub/a", ["genre", "status"]].tolist() == ["jazz", "ok"]  # backslashes read as folders
    assert by_id.loc["b", ["genre", "status"]].tolist() == ["", "ok"]  # the absolute row applied nothing
    reasons = {r: s for r, s in zip(cat["track_id"], cat["status"]) if s != "ok"}
    assert sorted(reasons.values()) == sorted([
        "outside the dataset root (../x.wav)", "absolute path not allowed (/etc/passwd)",
        f"absolute path not allowed ({root / 'b.wav'})", "outside the dataset root (..\\y.wav)",
        "absolute path not allowed (C:\\music\\c.wav)", "outside the dataset root (sub/../../z.wav)"])
    assert not any(s == "missing audio file" for s in status.values())
    assert all(not str(p).startswith(str(tmp_path / "x")) for p in cat.loc[cat["status"] == "ok", "path"])


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [("x/a.wav", "x/a.wav", ""), ("./x//a.wav", "x/a.wav", ""), ("x\\a.wav", "x/a.wav", ""),
     ("x/../a.wav", "a.wav", ""), ("../a.wav", "../a.wav", "outside the dataset root"),
     ("..", "..", "outside the dataset root"), ("/etc/passwd", "/etc/passwd", "absolute path not allowed"),
     ("\\\\server\\share\\a.wav", "//server/share/a.wav", "absolute path not allowed"),
     ("C:a.wav", "C:a.wav", "absolute path not allowed"), ("d:/m/a.wav", "d:/m/a.wav", "absolute path not allowed")],
)
def test_label_path_key(raw, key, problem):
    assert label_path_key(raw) == (key, problem)


def test_labels_csv_with_an_empty_path_is_refused(tmp_path):
    write_wav(tmp_path / "a.wav", tone(440, 0.1))
    (tmp_path / "labels.csv").write_text("path,genre\na.wav,jazz\n,rock\n")
    with pytest.raises(CatalogError, match=r"labels\.csv line 3: empty path$"):
        folder_catalog(tmp_path, tmp_path / "labels.csv")


def test_musiccaps_ytid_leading_outside_the_root(tmp_path):
    write_wav(tmp_path / "audio" / "abc.wav", tone(440, 0.1))
    write_wav(tmp_path / "secret.wav", tone(440, 0.1))
    pd.DataFrame({"ytid": ["abc", "../secret"], "aspect_list": ["['jazz']", "['rock']"]}).to_csv(
        tmp_path / "captions.csv", index=False)
    by_id = musiccaps_catalog(tmp_path).set_index("track_id")
    assert by_id.loc["abc", "status"] == "ok" and by_id.loc["../secret", "status"] == "outside the dataset root"


def test_prepare_lists_unsafe_label_paths_in_the_summary(tmp_path):
    root = tmp_path / "in"
    write_wav(root / "a.wav", 0.5 * tone(440, 2.0) + 0.01)
    (tmp_path / "labels.csv").write_text("path,genre\na.wav,jazz\n../x.wav,pop\n/etc/passwd,rock\n")
    out = tmp_path / "out"
    rc = prepare_main(["--dataset", "folder", "--root", str(root), "--labels", str(tmp_path / "labels.csv"),
                       "--out", str(out), "--workers", "1", "--quiet"])
    assert rc == 0
    summary = json.loads((out / "prepare_summary.json").read_text())
    assert summary["reasons"] == {"outside the dataset root": 1, "absolute path not allowed": 1}


# ------------------------------------------------------------------------------ symlinks (issue 9, item 6)
def test_folder_catalog_lists_a_dangling_symlink(tmp_path):
    write_wav(tmp_path / "a.wav", tone(440, 0.1))
    (tmp_path / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    (tmp_path / "notes.txt").symlink_to(tmp_path / "deleted.txt")  # not named like audio: not a track
    (tmp_path / "real.wav").symlink_to(tmp_path / "a.wav")
    by_id = folder_catalog(tmp_path).set_index("track_id")
    assert sorted(by_id.index) == ["a", "gone", "real"]
    assert by_id.loc["gone", "status"] == f"broken symlink (target missing: {tmp_path / 'deleted.wav'})"
    assert by_id.loc["real", "status"] == "ok"


# ------------------------------------------------------------------------------ MusicCaps
def test_musiccaps_catalog_small(tmp_path):
    write_wav(tmp_path / "audio" / "abc.wav", tone(440, 0.1))
    pd.DataFrame({
        "ytid": ["abc", "missing1"],
        "aspect_list": ["['Jazz', 'piano', 'calm']", "['rock']"],
        "caption": ["A calm jazz piano piece.", "Loud rock."],
        "is_audioset_eval": ["True", "False"],
    }).to_csv(tmp_path / "captions.csv", index=False)
    by_id = musiccaps_catalog(tmp_path).set_index("track_id")
    assert by_id.loc["abc", ["genre", "tags", "split", "status"]].tolist() == ["jazz", "jazz|piano|calm", "test", "ok"]
    assert by_id.loc["missing1", "status"] == "missing audio file"


def test_musiccaps_captions_missing_column(tmp_path):
    pd.DataFrame({"ytid": ["a"]}).to_csv(tmp_path / "captions.csv", index=False)
    with pytest.raises(CatalogError, match="aspect_list"):
        musiccaps_catalog(tmp_path)


def test_musiccaps_mini_catalog(shared_data):
    root = shared_data / "musiccaps_mini"
    if not root.is_dir():
        pytest.skip("musiccaps_mini is not present")
    cat = build_catalog("musiccaps", root)
    assert_catalog_schema(cat)
    assert len(cat) == 259 and (cat["status"] == "ok").all()
    assert (cat["tags"] != "").all() and (cat["genre"] != "").mean() > 0.5
    assert set(cat["split"]) == {"train", "val", "test"}


# ------------------------------------------------------------------------------ demo corpus
def test_demo_catalog():
    cat = demo_catalog()
    assert_catalog_schema(cat)
    assert len(cat) == 28 and set(cat["genre"]) == {"calm", "energetic", "happy", "nostalgic", "tender"}
    assert cat["path"].str.endswith(".opus").all() and (cat["status"] == "ok").all()
    for _, g in cat.groupby("genre"):
        assert {"train", "val", "test"} <= set(g["split"])
    assert set(cat["tags"].str.split("|").str[1]) == {"acoustic", "electronic"}


# ------------------------------------------------------------------------------ dispatch, helpers
def test_build_catalog_errors(tmp_path):
    with pytest.raises(CatalogError, match="--root is required"):
        build_catalog("gtzan", None)
    with pytest.raises(CatalogError, match="does not exist"):
        build_catalog("folder", tmp_path / "nowhere")
    with pytest.raises(CatalogError, match="unknown dataset"):
        build_catalog("spotify", tmp_path)


def test_make_catalog_rejects_duplicate_ids():
    with pytest.raises(CatalogError, match="duplicate track_id 'a'"):
        make_catalog([{"track_id": "a", "path": "x"}, {"track_id": "a", "path": "y"}])


def test_splits_are_deterministic():
    assert hash_split("artist 1") == hash_split("artist 1")
    counts = pd.Series([hash_split(f"k{i}") for i in range(2000)]).value_counts(normalize=True)
    assert 0.75 < counts["train"] < 0.85 and 0.07 < counts["val"] < 0.13 and 0.07 < counts["test"] < 0.13
    assert block_split(10) == ["train"] * 8 + ["val", "test"]
    assert block_split(2) == ["train", "train"]


def test_gtzan_mini_artists_and_filtered_split(shared_data):
    """Sturm's index and the fault-filtered split are picked up from metadata/ beside the audio."""
    cat = build_catalog("gtzan", shared_data / "gtzan_mini")
    assert_catalog_schema(cat)
    by_id = cat.set_index("track_id")
    assert by_id.loc["blues.00000", "artist"] == "John Lee Hooker"
    assert by_id.loc["classical.00003", "artist"] != ""
    assert (by_id.loc[[f"rock.{i:05d}" for i in range(10)], "artist"] == "Morphine").all()
    excluded = set(cat.loc[cat["status"] != "ok", "track_id"])
    assert excluded == {"country.00008", "hiphop.00001", "metal.00004", "reggae.00003", "reggae.00005",
                        "reggae.00007", "reggae.00008"}
    assert all("fault-filtered" in s for s in cat.loc[cat["status"] != "ok", "status"])
    ok = cat[cat["status"] == "ok"]
    assert ok["split"].value_counts().to_dict() == {"val": 51, "train": 38, "test": 4}
    # no artist spans two splits of the filtered split (it is artist-disjoint)
    known = ok[ok["artist"] != ""]
    assert (known.groupby("artist")["split"].nunique() == 1).all()


def test_gtzan_metadata_flags_and_errors(tmp_path):
    for g in ("blues", "rock"):
        for i in range(3):
            write_wav(tmp_path / g / f"{g}.{i:05d}.wav", tone(440, 0.1))
    arts = tmp_path / "a.csv"
    arts.write_text("clip_id,artist,title\nblues.00000,Hooker,Boogie\nrock.00001,Morphine,Buena\n")
    split = tmp_path / "s.csv"
    split.write_text("clip_id,split\nblues.00000,train\nblues.00001,valid\nrock.00001,test\n")
    cat = gtzan_catalog(tmp_path, arts, split).set_index("track_id")
    assert cat.loc["blues.00000", ["artist", "title", "split"]].tolist() == ["Hooker", "Boogie", "train"]
    assert cat.loc["blues.00001", "split"] == "val" and cat.loc["rock.00001", "split"] == "test"
    assert cat.loc["rock.00000", "status"].startswith("excluded by the fault-filtered split")
    assert (gtzan_catalog(tmp_path, arts, split, split="block")["status"] == "ok").all()
    with pytest.raises(CatalogError, match="not found"):
        gtzan_catalog(tmp_path, tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("clip,who\nx,y\n")
    with pytest.raises(CatalogError, match="lacks required column: clip_id"):
        gtzan_catalog(tmp_path, tmp_path / "bad.csv")
    with pytest.raises(CatalogError, match="needs filtered_split.csv"):
        gtzan_catalog(tmp_path, split="filtered")
