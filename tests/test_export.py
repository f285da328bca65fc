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


def test_line_breaks_quotes_commas_and_emoji_round_trip():
    """A bare CR, LF or CRLF inside a cell stays inside that cell (no split rows, no shifted rows)."""
    texts = ["ok\rthen", "two\nlines", "crlf\r\nhere", 'say "hi", ok', "a,b,c", "🎵 emoji ✓", "plain"]
    df = pd.DataFrame({"text": texts, "n": range(len(texts))})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), keep_default_na=False)
    assert back["text"].tolist() == texts and back["n"].tolist() == list(range(len(texts)))
    rows = list(csv.reader(io.StringIO(to_csv_bytes(df).decode("utf-8"), newline="")))
    assert [r[0] for r in rows[1:]] == texts


def test_formulas_after_spaces_and_full_width_signs_are_neutralised():
    for bad in (" =1+1", "  +A1", "\u3000=1", "＝1+1", "＋1", "－1", "＠SUM(A1)", " ＝cmd"):
        assert safe_cell(bad) == "'" + bad, bad
    for fine in ("a = b", "1+1", "  fine", "note: -ish"):
        assert safe_cell(fine) == fine


def test_csv_figures_are_rounded():
    df = pd.DataFrame({"rate": [0.1 + 0.14, 1 / 3], "n": [1, 2]})
    text = to_csv_bytes(df).decode("utf-8")
    assert "0.24000000000000005" not in text and "0.24," in text and "0.3333," in text
