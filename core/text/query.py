"""Query a general text-search model on any prepared dataset embedded with its audio encoder.

```python
model = load_text_model(Path("artifacts/text_models/general"))
result = model.query(Path("artifacts/mine"), "sad piano", k=10)
result.verdict.good_match, result.hits   # hits: rank, track_id, title, genre, cosine, calibrated
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.text.calibrate import GOOD_MATCH, VERDICT_K, Verdict, bank_fits, calibrate, judge
from core.text.general import RUN
from core.text.table import AudioEncoderMissing, audio_embedding


class TextModelMissing(FileNotFoundError):
    """No general model in that folder; the message names the command that trains one."""


@dataclass
class QueryResult:
    """The top-k tracks of one query with cosine and calibrated score, and the good-match verdict."""

    query: str
    hits: pd.DataFrame  # rank, row, track_id, title, genre, split, cosine, calibrated
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what `train.text_query --json` prints)."""
        return {"query": self.query, "verdict": self.verdict.to_dict(),
                "hits": json.loads(self.hits.to_json(orient="records"))}


@dataclass
class TextModel:
    """A trained general projection with its reference bank (for calibration) and what it was trained on."""

    path: Path
    projection: Any
    info: dict[str, Any]
    bank_texts: list[str]
    bank_vectors: np.ndarray
    encoder: Any = None
    _projected: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _bank: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def audio_encoder(self) -> str:
        """The embedding name a dataset needs to be searchable with this model."""
        return str(self.info["audio_encoder"])

    def text_encoder(self) -> Any:
        """The frozen text encoder (loaded once)."""
        if self.encoder is None:
            from core.text.encoders import load_text_encoder

            self.encoder = load_text_encoder(self.info["text_encoder"])
        return self.encoder

    def project(self, ds_dir: Path) -> np.ndarray:
        """Every track's projected unit vector [n_tracks, d] (AudioEncoderMissing when the embedding is absent)."""
        from core.audio.cache import FeatureCache

        key = str(Path(ds_dir).resolve())
        if key not in self._projected:
            n = len(FeatureCache.open(ds_dir).tracks)
            self._projected[key] = self.projection.project(audio_embedding(Path(ds_dir), self.audio_encoder, n))
        return self._projected[key]

    def scores(self, ds_dir: Path, query_vectors: np.ndarray) -> np.ndarray:
        """Cosines [q, n_tracks] of unit query vectors on a dataset."""
        return np.asarray(query_vectors, np.float32) @ self.project(ds_dir).T

    def bank(self, ds_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        """The reference descriptions on a dataset, computed once per dataset: (their cosines [n_bank, n_tracks],
        their own fits to the collection, `bank_fits`)."""
        key = str(Path(ds_dir).resolve())
        if key not in self._bank:
            cos = self.bank_vectors @ self.project(ds_dir).T
            self._bank[key] = cos, bank_fits(cos, VERDICT_K)
        return self._bank[key]

    def query(self, ds_dir: Path, text: str, k: int = 10, threshold: float = GOOD_MATCH,
              vector: np.ndarray | None = None) -> QueryResult:
        """The top-k tracks of a dataset for one text (or its precomputed unit `vector`)."""
        from core.audio.cache import FeatureCache

        vec = vector if vector is not None else self.text_encoder().encode([text])[0]
        s = self.scores(ds_dir, vec[None, :])[0]
        bank, fits = self.bank(ds_dir)
        tracks = FeatureCache.open(ds_dir).tracks.reset_index(drop=True)
        k = int(min(max(k, 1), len(s)))
        top = np.argsort(-s, kind="stable")[:k]
        hits = tracks.iloc[top][["track_id", "title", "genre", "split"]].copy()
        hits.insert(0, "row", top)
        hits.insert(0, "rank", np.arange(1, k + 1))
        hits["cosine"] = s[top].round(4)
        hits["calibrated"] = calibrate(s[top], bank[:, top]).round(3)
        return QueryResult(text, hits.reset_index(drop=True), judge(s, bank, VERDICT_K, threshold, fits))


def model_hint(path: Path) -> str:
    """The command that trains a general model into `path`."""
    return (f"`python -m train.text_model --data artifacts/musiccaps_mini --data artifacts/emotion4q "
            f"--out {path}`")


def load_text_model(path: Path | str) -> TextModel:
    """A general model folder written by `train.text_model` (TextModelMissing when incomplete)."""
    from core.text.clap import load_projection

    path = Path(path)
    info_path, ckpt, bank = path / "model.json", path / "checkpoints" / RUN / "best.pt", path / "bank.npz"
    missing = [p.name for p in (info_path, ckpt, bank) if not p.is_file()]
    if missing:
        raise TextModelMissing(f"{path} is not a text-search model (missing {', '.join(missing)}); train one "
                               f"with {model_hint(path)}")
    projection, _ = load_projection(ckpt)
    projection.eval()
    with np.load(bank, allow_pickle=False) as z:
        texts, vectors = z["texts"].tolist(), z["vectors"].astype(np.float32)
    return TextModel(path, projection, json.loads(info_path.read_text()), texts, vectors)


def searchable(model: TextModel, ds_dir: Path) -> bool:
    """True when a dataset has the embedding the model needs (with the cache's track count)."""
    try:
        model.project(ds_dir)
    except (AudioEncoderMissing, FileNotFoundError, ValueError):
        return False
    return True
