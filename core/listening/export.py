"""Formula-safe CSV export (UTF-8 with a header) for notes, verdicts, votes and hit counts."""

from __future__ import annotations

import csv
import io
import unicodedata

import pandas as pd

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


def safe_cell(value: object) -> object:
    """Neutralise a text cell that a spreadsheet would treat as a formula (prefix a quote)."""
    if isinstance(value, str) and is_formula(value):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of `df` with every text cell (and column name) made formula-safe; numbers untouched."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(str(c)) for c in out.columns]
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


def to_csv_bytes(df: pd.DataFrame, digits: int = 4) -> bytes:
    """Formula-safe CSV of `df` as UTF-8 bytes with a header row and no index, floats rounded to `digits`.

    Rows end in CRLF (RFC 4180), so every cell holding a CR, LF or CRLF is quoted and reads back as one cell.
    """
    buf = io.StringIO()
    safe_frame(round_floats(df, digits)).to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue().encode("utf-8")
