"""Streamlit helpers of the Text search page: which datasets have a text-search run, the cached text encoder
and search index, and the query check (empty / over-long queries)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core.text.search import TextSearchIndex, load_search_index, run_figures, search_runs
from ui.data import list_datasets, stamp

TRAIN_COMMAND = "python -m train.clap --data artifacts/{ds}"
GENERAL_PREFIX = "general: "  # model-picker entries of the general text-search models (artifacts/text_models/)
MODELS_DIR = "text_models"


def general_models(root: Path) -> dict[str, dict]:
    """The general text-search models under `<root>/text_models/<name>/` by name, with their model.json."""
    import json

    out = {}
    for info in sorted((root / MODELS_DIR).glob("*/model.json")):
        try:
            out[info.parent.name] = json.loads(info.read_text())
        except (OSError, ValueError):
            continue
    return out


def general_for(root: Path, ds: str) -> list[str]:
    """Names of the general models a dataset can be searched with (it has their audio embedding)."""
    return [name for name, info in general_models(root).items()
            if (root / ds / "embeddings" / f"{info.get('audio_encoder', '')}.npy").is_file()]


def text_datasets(root: Path) -> list[str]:
    """Datasets with their own text-search run or the embedding of a general model."""
    return [n for n in list_datasets(root) if search_runs(root / n) or general_for(root, n)]


@st.cache_resource(max_entries=4, show_spinner="Loading the text-search model ...")
def _text_model_cached(path: str, file_stamp: tuple):
    """load_text_model memoised per checkpoint stamp."""
    from core.text.query import load_text_model

    return load_text_model(Path(path))


def cached_text_model(root: Path, name: str):
    """A general model, re-read only when its checkpoint changes; its text encoder is the cached one."""
    path = root / MODELS_DIR / name
    model = _text_model_cached(str(path), stamp(path / "checkpoints" / "projection" / "best.pt"))
    model.encoder = cached_text_encoder(model.info["text_encoder"])
    return model


def clap_datasets(root: Path) -> list[str]:
    """Dataset folders under the artifacts root that have at least one searchable text-search run."""
    return [n for n in list_datasets(root) if search_runs(root / n)]


@st.cache_resource(max_entries=2, show_spinner="Loading the text encoder ...")
def cached_text_encoder(spec: str):
    """The frozen text encoder of a run, loaded once per process."""
    from core.text.encoders import load_text_encoder

    return load_text_encoder(spec)


@st.cache_resource(max_entries=2, show_spinner="Encoding the reference descriptions ...")
def cached_bank_vectors(spec: str) -> np.ndarray:
    """The reference descriptions' text vectors (for calibrated scores and the verdict), once per text encoder."""
    from core.text.calibrate import reference_bank

    return cached_text_encoder(spec).encode(reference_bank())


@st.cache_resource(max_entries=8, show_spinner=False)
def _index_cached(ds_dir: str, run: str, file_stamp: tuple) -> TextSearchIndex:
    """load_search_index memoised per projected-audio file stamp."""
    return load_search_index(Path(ds_dir), run)


def cached_index(ds_dir: Path, run: str) -> TextSearchIndex:
    """A run's search index, re-read only when its projected audio changes."""
    index = _index_cached(str(ds_dir), run, stamp(ds_dir / "clap" / "models" / run / "audio.npy"))
    if index.bank is None:
        index.set_bank(cached_bank_vectors(index.entry["text_encoder"]))
    return index


@dataclass
class EncodedQuery:
    """A query's unit vector, or why there is none, and whether it was cut to the token limit."""

    vector: np.ndarray | None
    message: str = ""
    truncated: bool = False


def encode_query(encoder, text: str) -> EncodedQuery:
    """The query's vector; an empty/whitespace query gets a message and no vector; an over-long one is
    truncated to the encoder's token limit and says so."""
    if not text.strip():
        return EncodedQuery(None, "Type a description of the music you want, e.g. \"slow acoustic guitar\".")
    enc = encoder.encode_checked([text.strip()])
    if enc.truncated:
        return EncodedQuery(enc.vectors[0], f"Your query is longer than the {encoder.max_tokens} tokens the text "
                            "encoder reads, so only its beginning was used.", True)
    return EncodedQuery(enc.vectors[0])
__all__ = ["run_figures", "search_runs", "clap_datasets", "cached_text_encoder", "cached_index", "encode_query",
           "general_models", "general_for", "text_datasets", "cached_text_model"]
