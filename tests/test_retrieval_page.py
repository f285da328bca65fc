"""The "Search by excerpt" page under AppTest on demo artifacts with a tiny trained retrieval embedder:
renders the top-K with the true track's rank and latency, and names the command when nothing is trained."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.data import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "8_Search_by_excerpt.py")


@pytest.fixture(scope="module")
def art_root(demo_dir, tmp_path_factory) -> Path:
    from train import retrieval

    root = tmp_path_factory.mktemp("art")
    shutil.copytree(demo_dir, root / "demo")
    assert retrieval.main(["--data", str(root / "demo"), "--epochs", "1", "--max-steps", "2", "--pairs", "16",
                           "--batch-size", "8", "--channels", "16", "--dim", "16", "--indexes", "exact,hnsw",
                           "--no-tensorboard", "--quiet"]) == 0
    return root


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "warning", "error", "info", "caption")
                     for e in getattr(at, kind))


def test_page_searches_an_excerpt(art_root, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(art_root))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert "Rank of the true track" in labels and any(label.startswith("Search time") for label in labels)
    rank = next(m.value for m in at.metric if m.label == "Rank of the true track")
    assert rank.endswith("/ 28") and 1 <= int(rank.split("/")[0]) <= 28
    assert "Top 5" in [s.value for s in at.subheader]
    at.selectbox(key="sbe_index").set_value("exact").run()
    assert not at.exception
    at.radio(key="sbe_mode").set_value("Upload a file").run()
    assert not at.exception and "Upload a few seconds" in _texts(at)


def test_page_names_the_command_when_nothing_is_trained(demo_dir, tmp_path, monkeypatch):
    shutil.copytree(demo_dir, tmp_path / "demo", ignore=shutil.ignore_patterns("embeddings"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "python -m train.retrieval --data artifacts/demo" in _texts(at)


def test_changing_the_excerpt_length_keeps_the_start(art_root, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(art_root))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.slider(key="sbe_start").set_value(3.0).run()
    at.slider(key="sbe_len").set_value(2.0).run()
    assert not at.exception
    assert at.slider(key="sbe_start").value == 3.0
