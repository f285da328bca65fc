"""The docs site: generated reference pages are current, every command is documented, `mkdocs build --strict`
passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "scripts" / "gen_reference.py"
CLI_PAGE = ROOT / "docs" / "reference" / "cli.md"


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_reference_pages_are_current():
    """docs/reference/{cli,http-api,configs}.md equal what scripts/gen_reference.py generates now."""
    res = _run([sys.executable, str(GEN), "--check"], timeout=300)
    assert res.returncode == 0, (
        f"stale generated docs (run `python scripts/gen_reference.py`):\n{res.stdout}\n{res.stderr}")


def test_every_train_module_is_in_cli_page():
    """Each train/<name>.py command has its own section in docs/reference/cli.md."""
    text = CLI_PAGE.read_text(encoding="utf-8")
    import importlib

    from train.cli import NOT_PROGRAMS

    modules = sorted(p.stem for p in (ROOT / "train").glob("*.py") if p.stem not in NOT_PROGRAMS)
    assert len(modules) > 10
    progs = {m: importlib.import_module(f"train.{m}").build_parser().prog for m in modules}
    missing = [m for m, prog in progs.items() if f"## `{prog}`" not in text]
    assert not missing, f"commands missing from {CLI_PAGE.relative_to(ROOT)}: {missing}"


def test_mkdocs_build_strict(tmp_path):
    """The whole site builds with --strict (broken links, missing nav pages or bad anchors fail)."""
    if not (ROOT / "mkdocs.yml").exists():
        pytest.skip("mkdocs.yml does not exist yet: no docs site to build")
    res = _run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
               timeout=300)
    assert res.returncode == 0, f"mkdocs build --strict failed:\n{res.stdout}\n{res.stderr}"
