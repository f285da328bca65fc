"""The Genre tagger page's helpers: reading a dataset's `tagger/` artifacts, the per-window probability plot,
and (cached) inference for uploads and lyrics. Pages read artifacts only; the models are applied, never trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.data import stamp

TAGGER_COMMAND = "python -m train.tagger --data artifacts/{ds} --target genre --loss asl"
LYRICS_COMMAND = "python -m train.lyrics --csv YOUR_LYRICS.csv --out artifacts/lyrics"


@dataclass
class TaggerRun:
    """What the latest tagger run of a dataset wrote (`<ds>/tagger/`)."""

    ds_dir: Path
    metrics: dict[str, Any]
    windows: pd.DataFrame
    tracks: pd.DataFrame
    confusion: pd.DataFrame | None
    class_report: str
    confusion_png: Path | None

    @property
    def classes(self) -> list[str]:
        """Class names in output order."""
        return list(self.metrics.get("classes", []))

    @property
    def checkpoint(self) -> Path:
        """The run's best checkpoint."""
        return self.ds_dir / self.metrics.get("checkpoint", "")


def has_tagger(ds_dir: Path) -> bool:
    """Whether a dataset has tagger artifacts."""
    return (ds_dir / "tagger" / "metrics.json").is_file()


def read_tagger_run(ds_dir: Path) -> TaggerRun | None:
    """The tagger artifacts of a dataset, or None if missing/unreadable."""
    d = ds_dir / "tagger"
    try:
        metrics = json.loads((d / "metrics.json").read_text())
        windows = pd.read_csv(d / "windows.csv", dtype={"track_id": str})
        tracks = pd.read_csv(d / "tracks.csv", dtype={"track_id": str}, keep_default_na=False)
    except (OSError, ValueError):
        return None
    cm = pd.read_csv(d / "confusion_matrix.csv", index_col=0) if (d / "confusion_matrix.csv").is_file() else None
    rep = (d / "classification_report.txt").read_text() if (d / "classification_report.txt").is_file() else ""
    png = d / "confusion_matrix.png"
    return TaggerRun(ds_dir, metrics, windows, tracks, cm, rep, png if png.is_file() else None)


@st.cache_data(max_entries=8, show_spinner=False)
def _run_cached(ds_dir: str, file_stamp: tuple) -> TaggerRun | None:
    """read_tagger_run memoised per metrics.json version."""
    return read_tagger_run(Path(ds_dir))


def cached_tagger_run(ds_dir: Path) -> TaggerRun | None:
    """The dataset's tagger artifacts, re-read when metrics.json changes."""
    return _run_cached(str(ds_dir), stamp(ds_dir / "tagger" / "metrics.json"))


def window_figure(probs: pd.DataFrame, starts_s: list[float] | pd.Series, classes: list[str], title: str,
                  window_s: float) -> go.Figure:
    """Per-window class probabilities over time (one line per class, window centres on the x axis)."""
    fig = go.Figure()
    centres = [float(s) + window_s / 2 for s in starts_s]
    for c in classes:
        fig.add_trace(go.Scatter(x=centres, y=probs[f"p_{c}"], mode="lines+markers", name=c))
    fig.update_layout(title=title, xaxis_title="time (s, window centre)", yaxis_title="probability",
                      yaxis_range=[0, 1], height=340, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return fig


def methods_frame(ev: dict[str, Any], multi: bool) -> pd.DataFrame:
    """The comparison table of one evaluated set (mean [95% CI])."""
    from core.tagger.markdown import methods_table

    return methods_table(ev, multi)


@st.cache_resource(max_entries=4, show_spinner=False)
def _tagger_cached(path: str, file_stamp: tuple) -> Any:
    """The trained tagger of a checkpoint (imports torch; first use only)."""
    from core.tagger.inference import load_tagger

    return load_tagger(Path(path))


def predict_upload(run: TaggerRun, audio_path: Path) -> Any:
    """Window and track probabilities of an uploaded (already checked) file."""
    from core.tagger.inference import predict_audio

    return predict_audio(_tagger_cached(str(run.checkpoint), stamp(run.checkpoint)), audio_path)


def lyrics_dir(root: Path) -> Path:
    """Where `python -m train.lyrics` writes by default, under the artifacts root."""
    return root / "lyrics"


@st.cache_resource(max_entries=2, show_spinner=False)
def _lyrics_cached(out: str, file_stamp: tuple) -> Any:
    """The lyrics model (loads the frozen text encoder on first prediction)."""
    from core.tagger.lyrics import load_lyrics_model

    return load_lyrics_model(Path(out))


def predict_lyrics(root: Path, text: str) -> pd.DataFrame:
    """Genre probabilities of one lyrics text, most probable first."""
    d = lyrics_dir(root)
    model = _lyrics_cached(str(d), stamp(d / "lyrics_model.json"))
    probs = model.predict([text])[0]
    return pd.DataFrame({"genre": model.classes, "probability": probs}).sort_values(
        "probability", ascending=False, ignore_index=True)


def lyrics_metrics(root: Path) -> dict[str, Any] | None:
    """metrics.json of the lyrics model, if one exists."""
    path = lyrics_dir(root) / "metrics.json"
    if not (lyrics_dir(root) / "lyrics_model.json").is_file() or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
