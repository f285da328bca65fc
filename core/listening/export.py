"""Formula-safe CSV export (UTF-8 with a header) for notes, verdicts, votes and hit counts: the project's one
neutralising CSV writer lives in core.io and is re-exported here."""

from __future__ import annotations

from core.io import FORMULA_CHARS, FORMULA_PREFIXES, is_formula, round_floats, safe_cell, safe_frame, to_csv_bytes

__all__ = ["FORMULA_CHARS", "FORMULA_PREFIXES", "is_formula", "round_floats", "safe_cell", "safe_frame",
           "to_csv_bytes"]
