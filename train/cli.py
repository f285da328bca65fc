"""The `workbench` console command: one subcommand per program in `train/` (`workbench prepare ...` runs
`python -m train.prepare ...` with the same parser), plus `workbench app` (the Streamlit app).

    workbench --help                 the subcommands
    workbench run --root ~/Music --out artifacts/mine
    workbench app [--artifacts DIR] [streamlit flags...]
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
from pathlib import Path

TRAIN_DIR = Path(__file__).resolve().parent
REPO_ROOT = TRAIN_DIR.parent
NOT_PROGRAMS = {"__init__", "__main__", "cli"}


def programs() -> dict[str, str]:
    """{subcommand: first line of its module docstring} of every program in train/ (read without importing)."""
    found = {}
    for path in sorted(TRAIN_DIR.glob("*.py")):
        if path.stem in NOT_PROGRAMS:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        found[path.stem.replace("_", "-")] = doc.strip().splitlines()[0] if doc.strip() else ""
    found["app"] = "Start the Streamlit app (`streamlit run app.py`); --artifacts DIR shows another artifacts folder."
    return found


def usage() -> str:
    """The top-level help text."""
    rows = "\n".join(f"  {name:<16} {text[:100]}" for name, text in programs().items())
    return (f"usage: workbench <command> [flags...]   (`workbench <command> --help` for its flags)\n\n"
            f"commands:\n{rows}\n")


def run_app(argv: list[str]) -> int:
    """`streamlit run <repo>/app.py`, with WORKBENCH_ARTIFACTS set from --artifacts DIR when given."""
    app = REPO_ROOT / "app.py"
    if "-h" in argv or "--help" in argv:
        print("usage: workbench app [--artifacts DIR] [streamlit run flags, e.g. --server.port 8502]\n\n"
              f"Starts the Streamlit app ({app}) on the artifacts folder DIR (default: $WORKBENCH_ARTIFACTS, "
              "else the repository's artifacts/).")
        return 0
    if not app.is_file():
        print(f"error: {app} not found: `workbench app` needs the repository checkout (pip install -e .)",
              file=sys.stderr)
        return 2
    env = dict(os.environ)
    if "--artifacts" in argv:
        i = argv.index("--artifacts")
        if i + 1 >= len(argv):
            print("error: --artifacts needs a folder", file=sys.stderr)
            return 2
        env["WORKBENCH_ARTIFACTS"] = str(Path(argv[i + 1]).expanduser().resolve())
        argv = argv[:i] + argv[i + 2:]
    os.chdir(REPO_ROOT)  # this process becomes Streamlit: signals (Ctrl-C, a service manager's stop) reach it
    os.execve(sys.executable, [sys.executable, "-m", "streamlit", "run", str(app), *argv], env)


def main(argv: list[str] | None = None) -> int:
    """Dispatch `workbench <command> ...` to `train.<command>.main(...)`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "app":
        return run_app(rest)
    known = programs()
    if name.replace("_", "-") not in known:
        print(f"error: unknown command {name!r}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"train.{name.replace('-', '_')}")
    code = module.main(rest)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
