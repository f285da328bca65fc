"""CSV export: UTF-8 with a header, formula cells neutralised, numbers untouched."""

from __future__ import annotations

import csv
import io

import pandas as pd

from core.listening.export import safe_cell, to_csv_bytes
from core.listening.stats import binomial_two_sided_p, blind_vote_summary


def test_formula_cells_are_neutralised():
    for bad in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("fine note") == "fine note"
    assert safe_cell(-3.5) == -3.5


def test_csv_is_utf8_with_header_and_safe():
    df = pd.DataFrame({"listener": ["ann", "bøb"], "text": ["=cmd|' /C calc'!A0", "naïve — ünïcode 🎵"],
                       "score": [-0.25, 0.5]})
    data = to_csv_bytes(df)
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["listener", "text", "score"]
    assert rows[1] == ["ann", "'=cmd|' /C calc'!A0", "-0.25"]
    assert rows[2] == ["bøb", "naïve — ünïcode 🎵", "0.5"]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row)


def test_empty_frame_keeps_header():
    text = to_csv_bytes(pd.DataFrame(columns=["a", "b"])).decode("utf-8")
    assert text.strip() == "a,b"


def test_binomial_and_vote_summary():
    assert binomial_two_sided_p(0, 0) == 1.0
    assert abs(binomial_two_sided_p(5, 10) - 1.0) < 1e-12
    assert abs(binomial_two_sided_p(9, 10) - 22 / 1024) < 1e-12  # 2 * (1 + 10) / 2**10
    votes = pd.DataFrame({"model_a": ["x", "y", "x", "x"], "model_b": ["y", "x", "y", "y"],
                          "winner": ["x", "x", "same", "y"]})
    s = blind_vote_summary(votes).iloc[0]
    assert (s["model_1"], s["wins_1"], s["wins_2"], s["ties"], s["votes"]) == ("x", 2, 1, 1, 4)
    assert abs(s["p_value"] - 1.0) < 1e-12
