"""Several prepared datasets as one (core.latent.combine): the new folder is built aside and swapped in, so a
failed or killed combine leaves the previous combined dataset as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import core.latent.combine
from core.audio.cache import FeatureCache
from core.latent.combine import combine_datasets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_sources(demo_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The demo corpus and a copy of it under another name (two sources with the same audio settings)."""
    other = tmp_path_factory.mktemp("sources") / "demo_copy"
    shutil.copytree(demo_dir / "cache", other / "cache")
    shutil.copy(demo_dir / "catalog.csv", other / "catalog.csv")
    return demo_dir, other


def folder_bytes(folder: Path) -> dict[str, str]:
    """sha256 of every file of the combined dataset (cache included)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Temporary build folders left beside the cache."""
    return [p.name for p in out.iterdir() if p.name.startswith(".cache-")]


def assert_union(out: Path, first: Path, second: Path) -> None:
    """The combined folder holds both sources' segments in this order, readable and consistent."""
    fc, a, b = FeatureCache.open(out), FeatureCache.open(first), FeatureCache.open(second)
    assert len(fc.segments) == len(fc.mels) == len(a.segments) + len(b.segments)
    assert np.array_equal(np.asarray(fc.mels[: len(a.mels)]), np.asarray(a.mels))
    assert set(fc.catalog["dataset"]) == {first.name, second.name}
    note = json.loads((out / "cache" / "sources.json").read_text())
    assert [n["dir"] for n in note[:-1]] == [str(first.resolve()), str(second.resolve())]


def test_a_failed_combine_leaves_the_previous_folder(two_sources, tmp_path: Path, monkeypatch) -> None:
    a, b = two_sources
    out = tmp_path / "combined"
    combine_datasets([a, b], out)
    assert_union(out, a, b)
    before = folder_bytes(out)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # after mels.npy, baseline and segments are written, before the swap

    monkeypatch.setattr(core.latent.combine, "artist_disjoint", boom)
    with pytest.raises(KeyboardInterrupt):
        combine_datasets([b, a], out)  # another order: a different union, so it is rebuilt
    monkeypatch.undo()
    assert folder_bytes(out) == before and leftovers(out) == []
    assert_union(out, a, b)
    combine_datasets([b, a], out)
    assert_union(out, b, a) and leftovers(out) == []


def test_a_killed_combine_leaves_the_previous_folder(two_sources, tmp_path: Path) -> None:
    """A real SIGKILL half-way through leaves the old folder readable; the next combine removes the leftover."""
    a, b = two_sources
    out = tmp_path / "combined"
    combine_datasets([a, b], out)
    before = folder_bytes(out)
    script = textwrap.dedent(f"""
        import os, signal
        import core.latent.combine as c
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        c.artist_disjoint = killed
        c.combine_datasets([{str(b)!r}, {str(a)!r}], {str(out)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    left = leftovers(out)
    assert len(left) == 1 and (out / left[0] / "mels.npy").exists()  # the half-built union, aside
    assert folder_bytes(out / "cache") == {k[len("cache/"):]: v for k, v in before.items() if k.startswith("cache/")}
    assert_union(out, a, b)
    combine_datasets([b, a], out)
    assert leftovers(out) == []
    assert_union(out, b, a)
