"""Small file and table helpers every system shares: atomic text/JSON writes, JSON-safe values,
Markdown tables, UTC timestamps and the git commit recorded in sidecars."""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import re
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def umask_mode(base: int) -> int:
    """`base` permissions filtered by the process umask (what open()/mkdir() would give)."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a text file atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, umask_mode(0o666))
    os.replace(tmp, path)


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None, paths to str."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (NaN/inf become null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(json_safe(obj), indent=2))
    tmp.replace(path)


def _cell(v: Any) -> str:
    """Compact cell text for a Markdown table."""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}"
    return "" if v is None else str(v).replace("|", "/")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_cell(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def sha256_of(path: Path | str) -> str:
    """Hex SHA-256 of a file, read in 1-MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def utc_now() -> str:
    """Current UTC time, ISO format to the second (dates in sidecars and experiment rows)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def git_commit() -> str:
    """Short git commit of the working tree, or '' outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


# Cells starting with these are run as formulas by spreadsheet programs (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
FORMULA_CHARS = "=+-@"


def is_formula(value: str) -> bool:
    """Whether a spreadsheet could read the text as a formula: it starts with a control character, or
    its first non-blank character is = + - @ or a compatibility form of one (full-width ＝ ＋ － ＠ ...)."""
    if value.startswith(FORMULA_PREFIXES):
        return True
    rest = value.lstrip()
    return bool(rest) and unicodedata.normalize("NFKC", rest[0])[:1] in FORMULA_CHARS


PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object, keep_numbers: bool = False) -> object:
    """Neutralise a text cell that a spreadsheet would treat as a formula (prefix a quote); with
    `keep_numbers`, a cell that is just a signed number ("-0.5") is left as it is (a spreadsheet reads a
    number)."""
    if isinstance(value, str) and is_formula(value):
        if keep_numbers and PLAIN_NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame, keep_numbers: bool = False) -> pd.DataFrame:
    """Copy of `df` with every text cell (and column name) made formula-safe; numbers untouched."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: safe_cell(v, keep_numbers))
    out.columns = [safe_cell(str(c), keep_numbers) for c in out.columns]
    return out


def round_floats(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Copy of `df` with float columns rounded (0.24000000000000005 -> 0.24)."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(digits)
        elif out[col].dtype == object:  # mixed columns (numbers beside 'n/a' or missing values)
            out[col] = out[col].map(lambda v: round(v, digits) if isinstance(v, float) else v)
    return out


def to_csv_text(df: pd.DataFrame, digits: int | None = 4, keep_numbers: bool = False) -> str:
    """Formula-safe CSV of `df` with a header row and no index, floats rounded to `digits` (None: as they are).

    Rows end in CRLF (RFC 4180), so every cell holding a CR, LF or CRLF is quoted and reads back as one cell.
    """
    buf = io.StringIO()
    frame = round_floats(df, digits) if digits is not None else df
    safe_frame(frame, keep_numbers).to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue()


def to_csv_bytes(df: pd.DataFrame, digits: int = 4) -> bytes:
    """`to_csv_text` as UTF-8 bytes (downloads)."""
    return to_csv_text(df, digits).encode("utf-8")


def write_csv(df: pd.DataFrame, path: Path, index: bool = False, digits: int | None = None) -> None:
    """Write `df` as a formula-safe CSV (the one CSV writer of every report a person may open in a
    spreadsheet: a cell or header like `=HYPERLINK(...)` or `+cmd|...` is written with a leading quote),
    atomically. `index=True` writes the index as the first column (its name as the header)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(to_csv_text(df.reset_index() if index else df, digits, keep_numbers=True).encode("utf-8"))
    os.chmod(tmp, umask_mode(0o666))
    os.replace(tmp, path)
