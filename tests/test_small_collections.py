"""Small folders of music work: from 3 tracks up every folder dataset has a val and a test track (whole artists per
split when 3+ artists are known, stratified by genre), a `split` column in the labels CSV is kept as given, and
the `workbench` console command offers every program with its own parser."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from core.audio.catalogs import CatalogError, folder_catalog
from tests.helpers.audio import tone, write_wav
from train import cli

WORKBENCH = Path(sys.executable).parent / "workbench"


def make_folder(root: Path, genres: dict[str, int]) -> Path:
    """`genres` {genre: n} sub-folders of short tones (the catalog only lists files, it decodes nothing)."""
    for g, n in genres.items():
        for i in range(n):
            write_wav(root / g / f"{g}_{i:02d}.wav", tone(220 + 20 * i, 0.05))
    return root


@pytest.mark.parametrize("genres", [{"one": 3}, {"rock": 3, "jazz": 3}, {"a": 10, "b": 10, "c": 10}])
def test_every_folder_from_3_tracks_has_train_val_and_test(tmp_path, genres):
    cat = folder_catalog(make_folder(tmp_path, genres))
    counts = Counter(cat["split"])
    assert set(counts) == {"train", "val", "test"} and counts["train"] >= counts["val"]
    assert folder_catalog(tmp_path)["split"].tolist() == cat["split"].tolist()  # deterministic
    if len(cat) == 30:  # stratified: every genre of 10 gives 8 / 1 / 1
        per = cat.groupby("genre")["split"].apply(lambda s: tuple(sorted(Counter(s).items())))
        assert set(per) == {(("test", 1), ("train", 8), ("val", 1))}


def test_two_tracks_stay_in_train(tmp_path):
    assert folder_catalog(make_folder(tmp_path, {"x": 2}))["split"].tolist() == ["train", "train"]


def test_splits_keep_artists_together_and_honour_a_split_column(tmp_path):
    make_folder(tmp_path, {"rock": 6, "jazz": 6})
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav"))
    artists = [f"artist{i % 4}" for i in range(len(files))]
    pd.DataFrame({"path": files, "artist": artists}).to_csv(tmp_path / "labels.csv", index=False)
    cat = folder_catalog(tmp_path, tmp_path / "labels.csv")
    assert (cat.groupby("artist")["split"].nunique() == 1).all()
    assert {"train", "val", "test"} <= set(cat["split"])
    given = ["test" if i == 0 else "Validation" if i == 1 else "" for i in range(len(files))]
    pd.DataFrame({"path": files, "split": given}).to_csv(tmp_path / "labels.csv", index=False)
    cat = folder_catalog(tmp_path, tmp_path / "labels.csv").set_index("track_id")
    assert cat.loc[Path(files[0]).with_suffix("").as_posix(), "split"] == "test"
    assert cat.loc[Path(files[1]).with_suffix("").as_posix(), "split"] == "val"
    pd.DataFrame({"path": files[:1], "split": ["later"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(CatalogError, match="split 'later' for .* is not train, val or test"):
        folder_catalog(tmp_path, tmp_path / "labels.csv")


def test_every_subcommand_has_help(capsys):
    names = list(cli.programs())
    assert {"prepare", "embed", "autoencoders", "evaluate", "maps", "run", "serve", "app", "latent-sizes"} <= set(names)
    for name in names:
        try:
            code = cli.main([name, "--help"])
        except SystemExit as exc:  # argparse's --help
            code = exc.code
        out = capsys.readouterr().out
        assert code == 0 and "usage:" in out, name
    assert cli.main(["nonsense"]) == 2 and "unknown command 'nonsense'" in capsys.readouterr().err


@pytest.mark.skipif(not WORKBENCH.exists(), reason="the project is not installed (make install)")
def test_console_command_runs_the_module_parser(tmp_path):
    r = subprocess.run([str(WORKBENCH), "prepare", "--help"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env={"PATH": str(WORKBENCH.parent)})
    assert r.returncode == 0 and "--dataset {fma,gtzan,folder" in r.stdout
    r = subprocess.run([str(WORKBENCH)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "workbench <command>" in r.stdout and "run " in r.stdout


@pytest.mark.parametrize("page,what", [("pages/5_Reconstructions.py", "latent-size study"),
                                       ("pages/7_Genre_tagger.py", "trained tagger"),
                                       ("pages/8_Search_by_excerpt.py", "trained retrieval embedder")])
def test_a_dataset_without_the_pages_artifacts_is_named_with_the_command(tmp_path, monkeypatch, page, what):
    from streamlit.testing.v1 import AppTest

    from ui.data import ENV_VAR

    root = tmp_path / "arts"
    (root / "mine").mkdir(parents=True)
    (root / "mine" / "catalog.csv").write_text(
        "track_id,path,genre,artist,title,split,duration_s,status,tags,row\nx,/nope.wav,a,,X,train,1.0,ok,,0\n")
    monkeypatch.setenv(ENV_VAR, str(root))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / page), default_timeout=60).run()
    assert not at.exception
    message = "\n".join(w.value for w in at.warning)
    assert f"**mine** has no {what}" in message and f"workbench run --root <your music folder> --out {root / 'mine'}" \
        in message
    assert ("--latent" in message) == ("Reconstructions" in page)


@pytest.mark.skipif(not WORKBENCH.exists(), reason="the project is not installed (make install)")
def test_workbench_app_serves_the_repository_app_from_any_folder(tmp_path):
    import urllib.request

    from tests.helpers.processes import free_port, stop_process

    port = free_port()
    proc = subprocess.Popen([str(WORKBENCH), "app", "--artifacts", str(tmp_path), "--server.headless", "true",
                             "--server.port", str(port)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline, body = time.monotonic() + 90, ""
        while time.monotonic() < deadline and not body:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read().decode()
            except OSError:
                time.sleep(0.5)
        assert body == "ok"
    finally:
        stop_process(proc)
