"""Helpers of the "Search by excerpt" page: which datasets have a trained retrieval embedder and indexes,
cached encoders and indexes, and one excerpt search (embed -> index top-K -> rank of the true track)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ui.data import list_datasets, stamp

COMMAND = "python -m train.retrieval --data artifacts/{ds}"


def retrieval_embeddings(ds_dir: Path) -> list[str]:
    """The dataset's trained retrieval embeddings (embeddings/retrieval_*.npy)."""
    d = Path(ds_dir) / "embeddings"
    return sorted(p.stem for p in d.glob("retrieval_*.npy"))


def retrieval_datasets(root: Path) -> list[str]:
    """Datasets under the artifacts root with at least one retrieval embedding."""
    return [n for n in list_datasets(root) if retrieval_embeddings(root / n)]


def index_kinds(ds_dir: Path, name: str) -> list[str]:
    """Saved index kinds of one embedding (`retrieval/index/<name>.<kind>`), exact first."""
    d = Path(ds_dir) / "retrieval" / "index"
    kinds = sorted(p.suffix.lstrip(".") for p in d.glob(f"{name}.*") if p.suffix != ".json")
    return sorted(kinds, key=lambda k: (k != "exact", k))


@st.cache_resource(max_entries=4, show_spinner="Loading the embedder ...")
def _encoder(ds_dir: str, name: str, file_stamp: tuple):
    """The embedding's excerpt encoder (its checkpoint), memoised per embedding file version."""
    from core.audio.cache import FeatureCache
    from core.retrieval.encoders import excerpt_encoders

    encs, skipped = excerpt_encoders(Path(ds_dir), FeatureCache.open(ds_dir), [name])
    if not encs:
        raise ValueError(skipped.get(name, f"{name} cannot embed audio"))
    return encs[0]


def cached_encoder(ds_dir: Path, name: str):
    """ExcerptEncoder of a retrieval embedding (loaded once per file version)."""
    return _encoder(str(ds_dir), name, stamp(Path(ds_dir) / "embeddings" / f"{name}.npy"))


@st.cache_resource(max_entries=8, show_spinner="Loading the index ...")
def _index(path: str, file_stamp: tuple):
    """A saved index, memory-mapped, memoised per file version."""
    from core.retrieval.index import load_index

    return load_index(Path(path))


def cached_index(ds_dir: Path, name: str, kind: str):
    """The saved `<name>.<kind>` index of a dataset."""
    path = Path(ds_dir) / "retrieval" / "index" / f"{name}.{kind}"
    return _index(str(path), stamp(path))


def sample_rate(ds_dir: Path) -> int:
    """The cache's sample rate (its AudioConfig is the one source)."""
    from core.audio.cache import FeatureCache

    return int(FeatureCache.open(ds_dir).config.sample_rate)


def excerpt(path: Path, start_s: float, length_s: float, sample_rate: int) -> np.ndarray:
    """`length_s` seconds of a file from `start_s`, decoded mono at the cache's rate."""
    from core.audio.config import AudioConfig
    from core.audio.decode import load_audio

    y = load_audio(path, AudioConfig(sample_rate=sample_rate), max_seconds=start_s + length_s)
    return y[int(start_s * sample_rate):]


def add_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at `snr_db` (the evaluation's corruption), clipped to [-1, 1]."""
    rng = np.random.default_rng(seed)
    p = float(np.mean(audio ** 2)) + 1e-12
    return np.clip(audio + rng.normal(0, np.sqrt(p / 10 ** (snr_db / 10)), audio.shape), -1, 1).astype(np.float32)


@dataclass
class ExcerptSearch:
    """One search: top-K rows and scores, the true track's rank over the whole corpus, timings."""

    rows: np.ndarray
    scores: np.ndarray
    true_rank: int | None
    embed_ms: float
    search_ms: float


def search_excerpt(encoder, index, audio: np.ndarray, k: int, true_row: int | None) -> ExcerptSearch:
    """Embed an excerpt, search the index, and rank the true track by exact cosine over the corpus."""
    from core.retrieval.metrics import ranks_from_scores

    t0 = time.perf_counter()
    v = encoder.encode(audio)
    t1 = time.perf_counter()
    ids, scores = index.search(v[None], k)
    t2 = time.perf_counter()
    rank = None
    if true_row is not None:
        c = encoder.corpus / np.maximum(np.linalg.norm(encoder.corpus, axis=1, keepdims=True), 1e-12)
        rank = int(ranks_from_scores((c @ (v / max(np.linalg.norm(v), 1e-12)))[None], np.array([true_row]))[0])
    keep = ids[0] >= 0
    return ExcerptSearch(ids[0][keep], scores[0][keep], rank, (t1 - t0) * 1000, (t2 - t1) * 1000)
