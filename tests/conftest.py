"""Shared fixtures: prepared real-audio datasets (demo corpus, gtzan_mini) and ../shared/data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.audio.catalogs import build_catalog
from core.audio.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[1]
_MAIN_MODULE = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest leaves a page script as `__main__`; a process started later with the spawn
    method (the local engine, a Dask nanny) would re-run that page. Put pytest's own `__main__` back."""
    yield
    sys.modules["__main__"] = _MAIN_MODULE
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real GTZAN/MusicCaps subsets); skips where it is absent."""
    if not (SHARED_DATA / "gtzan_mini").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The MIT-licensed encoder weights: ../shared/data/weights (or $WORKBENCH_SHARED_DATA/weights); skips where
    absent."""
    d = Path(os.environ.get("WORKBENCH_SHARED_DATA", SHARED_DATA)) / "weights"
    if not d.is_dir():
        pytest.skip("../shared/data/weights is not present")
    return d


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A prepared dataset folder of the embedded demo corpus (28 real tracks)."""
    out = tmp_path_factory.mktemp("demo")
    prepare_dataset(build_catalog("demo"), out, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def gtzan_mini_dir(tmp_path_factory, shared_data) -> Path:
    """A prepared dataset folder of ../shared/data/gtzan_mini (100 clips x 15 s, 10 genres), with Sturm's
    artists and the contiguous block split (the fault-filtered split leaves 4 test clips here)."""
    out = tmp_path_factory.mktemp("gtzan_mini")
    cat = build_catalog("gtzan", shared_data / "gtzan_mini", gtzan_split="block")
    prepare_dataset(cat, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def fma_tree(tmp_path_factory) -> dict:
    """An FMA-layout dataset built by the tests (real demo-corpus music as 44.1 kHz stereo MP3s
    in fma_small/NNN/NNNNNN.mp3, tracks.csv in FMA's two-header-row format, genres.csv), with a
    missing MP3, an orphan MP3, a no-audio MP3 like 099134, a truncated MP3 and a medium-only row.
    Read-only: tests that change files copy it first. See tests/helpers/audio.py."""
    from tests.helpers.audio import build_fma_tree

    return build_fma_tree(tmp_path_factory.mktemp("fma"), n=8, seconds=6.0)
