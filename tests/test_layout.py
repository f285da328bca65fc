"""The layout's promises, checked on the source: no import circles, no streamlit (or ui/pages) below core/,
no cross-module `_private` imports, no physical setting typed by hand, a small core/ top level."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "ui", "train")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def _imports(path: Path, mods: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(imported module, names) of every import statement in a file, resolved to project modules."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:  # `from core.audio import cache` imports the module core.audio.cache
                sub = f"{node.module}.{a.name}"
                out.append((sub, []) if sub in mods else (node.module, [a.name]))
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for target, _ in _imports(p, mods):
            if target in mods and target != m:
                graph[m].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_core_never_imports_streamlit_ui_or_pages():
    mods = _modules()
    bad = [(m, t) for m, p in mods.items() if m.startswith("core")
           for t, _ in _imports(p, mods) if t.split(".")[0] in ("streamlit", "ui", "pages", "train")]
    assert bad == []


def test_no_private_names_imported_across_modules():
    mods = _modules()
    bad = [(m, t, n) for m, p in mods.items() for t, names in _imports(p, mods) if t in mods
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert bad == []


def test_sample_rate_and_hop_only_in_the_audio_config():
    """22050 (and the frame rate 22050/512) is written once: in core/audio/config.py."""
    hits = []
    for pkg in ("core", "ui", "pages", "train", "benchmarks"):
        for p in (REPO / pkg).rglob("*.py"):
            if p == REPO / "core" / "audio" / "config.py":
                continue
            for i, line in enumerate(p.read_text().splitlines(), 1):
                if re.search(r"(?<![\d.])22050(?![\d])", line):
                    hits.append(f"{p.relative_to(REPO)}:{i}")
    assert hits == []


def test_core_top_level_is_packages_and_a_handful_of_files():
    files = sorted(p.name for p in (REPO / "core").glob("*.py"))
    assert len(files) <= 4, files
    for pkg in (p for p in (REPO / "core").iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = pkg / "__init__.py"
        assert init.is_file(), pkg
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} says nothing about what it offers"
