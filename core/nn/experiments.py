"""The experiments table of a dataset: one row per training run, CSV plus a Markdown copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from core.io import to_markdown, write_csv


def append_run(out_dir: Path | str, row: dict[str, Any]) -> pd.DataFrame:
    """Append one run to `<out_dir>/experiments.csv` (new columns allowed) and rewrite experiments.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "experiments.csv"
    new = pd.DataFrame([row])
    if csv.exists() and csv.stat().st_size > 0:
        old = pd.read_csv(csv)
        df = pd.concat([old, new], ignore_index=True, sort=False)
    else:
        df = new
    write_csv(df, csv)
    md = f"# Experiments: {out_dir.name}\n\nOne row per training run (newest last).\n\n" + to_markdown(df)
    (out_dir / "experiments.md").write_text(md)
    return df


def read_runs(out_dir: Path | str) -> pd.DataFrame:
    """The experiments table (empty DataFrame if none yet)."""
    csv = Path(out_dir) / "experiments.csv"
    return pd.read_csv(csv) if csv.exists() else pd.DataFrame()
