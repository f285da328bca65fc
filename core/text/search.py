"""Text-to-music search over a trained projection's outputs (what the app's Text search page uses):
the projected audio of every track (`clap/models/<run>/audio.npy`) and the dataset's captions with their
text vectors (the run's pair table). No training, no audio encoder at query time: only the text encoder.

```python
index = load_search_index(Path("artifacts/demo"), "clap_baseline__minilm")
rows, scores = index.search(text_encoder.encode(["calm acoustic music"])[0], k=5)
index.set_bank(text_encoder.encode(reference_bank()))    # then: calibrated scores and the good-match verdict
calibrated, verdict = index.judge(text_encoder.encode(["calm acoustic music"])[0], rows)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.text.report import read_metrics
from core.text.table import PairTable, table_path


class SearchIndexMissing(FileNotFoundError):
    """A run's search files are absent; the message names the command that writes them."""


@dataclass
class TextSearchIndex:
    """Projected unit audio vectors of every track and the captions (with unit text vectors) of a run."""

    run: str
    entry: dict[str, Any]  # the run's metrics.json entry
    audio: np.ndarray  # [n_tracks, d] unit rows, row i = FeatureCache row i
    captions: pd.DataFrame  # uniq_id, track_id, row, caption, split
    text: np.ndarray  # [n_captions, d] unit rows
    bank: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # (cosines, fits), set_bank

    def set_bank(self, bank_vectors: np.ndarray) -> None:
        """The reference descriptions' unit text vectors (same text encoder): their cosines on every track and
        their own fits, computed once, for `judge`."""
        from core.text.calibrate import VERDICT_K, bank_fits

        cos = np.asarray(bank_vectors, np.float32) @ self.audio.T
        self.bank = cos, bank_fits(cos, VERDICT_K)

    def judge(self, query_vec: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, Any]:
        """Calibrated scores of the given track rows and the good-match verdict of a query, against the
        reference bank (`core.text.calibrate`; call set_bank first)."""
        from core.text.calibrate import VERDICT_K, calibrate, judge

        if self.bank is None:
            raise ValueError("no reference bank: call set_bank first")
        cos, fits = self.bank
        scores = self.audio @ np.asarray(query_vec, np.float32)
        rows = np.asarray(rows, np.int64)
        return calibrate(scores[rows], cos[:, rows]), judge(scores, cos, VERDICT_K, fits=fits)

    def search(self, query_vec: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k track rows by cosine to a unit query vector, and their cosines (best first)."""
        scores = self.audio @ np.asarray(query_vec, np.float32)
        k = int(min(max(k, 0), len(scores)))
        top = np.argsort(-scores, kind="stable")[:k]
        return top, scores[top]

    def nearest_captions(self, row: int, k: int = 5) -> pd.DataFrame:
        """The k captions closest to one track's projected audio: caption, its clip, cosine, own-caption flag."""
        scores = self.text @ self.audio[int(row)]
        top = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
        out = self.captions.iloc[top][["caption", "track_id", "row", "split"]].copy()
        out.insert(0, "cosine", scores[top].round(3))
        out["own caption"] = out["row"].to_numpy() == int(row)
        return out.reset_index(drop=True)

    def captions_of(self, row: int) -> list[str]:
        """Every caption of one track (empty for a track without captions)."""
        return self.captions.loc[self.captions["row"] == int(row), "caption"].tolist()


def search_runs(ds_dir: Path) -> dict[str, dict[str, Any]]:
    """Runs of a dataset whose projected audio exists, by run name (linear heads first)."""
    metrics = read_metrics(ds_dir) or {}
    runs = {r: e for r, e in metrics.get("runs", {}).items() if Path(e.get("projected_audio", "")).is_file()
            or (Path(ds_dir) / "clap" / "models" / r / "audio.npy").is_file()}
    return dict(sorted(runs.items(), key=lambda kv: (kv[1].get("head") != "linear", kv[0])))


def load_search_index(ds_dir: Path, run: str) -> TextSearchIndex:
    """The search index of one run (SearchIndexMissing naming `python -m train.clap` when absent)."""
    from core.text.encoders import encoder_slug

    ds_dir = Path(ds_dir)
    entry = search_runs(ds_dir).get(run)
    hint = f"`python -m train.clap --data {ds_dir}`"
    if entry is None:
        raise SearchIndexMissing(f"no text-search run {run!r} in {ds_dir / 'clap'}; make one with {hint}")
    audio = np.load(ds_dir / "clap" / "models" / run / "audio.npy")
    pairs = table_path(ds_dir, entry["audio_encoder"], encoder_slug(entry["text_encoder"]))
    if not pairs.is_file():
        raise SearchIndexMissing(f"captions table {pairs} is missing; rebuild it with {hint}")
    table = PairTable.load(pairs)
    caps = pd.DataFrame({"uniq_id": table.uniq_id, "track_id": table.track_id, "row": table.row,
                         "caption": table.caption, "split": table.split})
    return TextSearchIndex(run, entry, audio.astype(np.float32), caps, table.text.astype(np.float32))


def run_figures(entry: dict[str, Any], split: str = "test") -> pd.DataFrame:
    """A small table of a run's pool and in-batch R@1/R@10 both ways against chance, on `split` (or val)."""
    from core.text.report import D_SHORT, fmt

    s = entry.get("splits", {}).get(split) or entry.get("splits", {}).get("val")
    if not s:
        return pd.DataFrame()
    rows = []
    for task in ("pool", "in_batch"):
        for d, short in D_SHORT.items():
            m = s[task]["model"][d]
            rows.append({"split": s["split"], "task": task, "direction": short, "candidates": m["n_candidates"],
                         "R@1 %": fmt(m["R@1"]), "R@10 %": fmt(m["R@10"]),
                         "chance R@10 %": f"{s[task]['random_analytic'][d]['R@10'] * 100:.1f}",
                         "mAP@10": fmt(m["mAP@10"], pct=False), "median rank": m["median_rank"]})
    return pd.DataFrame(rows)
