"""Artifact reading for the Streamlit pages: discovery, loaders and their cached wrappers, top-K.

Pages read only `artifacts/` (overridable with the WORKBENCH_ARTIFACTS environment
variable). Pure functions come first; `cached_*` wrappers memoise them per file stamp
(path, size, mtime) so a rerun never re-reads a matrix, and a rewritten artifact is picked up.
Audio lives in ui.audio, uploads in ui.upload, Streamlit widgets in ui.widgets
and the latent-study index in ui.recon.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.recommend.embeddings import list_embeddings as list_embeddings  # re-exported for the pages
from core.recommend.embeddings import load_embedding
from core.recommend.evaluation import metrics_table as evaluation_metrics_table
from core.recommend.metrics import hit_rates

ENV_VAR = "WORKBENCH_ARTIFACTS"
REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baseline"

# What to run when an artifact is missing (shown to users instead of a traceback).
COMMANDS: dict[str, str] = {
    "demo": "python -m train.demo",
    "prepare": "python -m train.prepare --dataset demo --out artifacts/demo",
    "embeddings": "python -m train.autoencoders --data artifacts/{ds}",
    "evaluate": "python -m train.evaluate --data artifacts/{ds}",
    "recon": "python -m train.latent_sizes --data artifacts/{ds}",
    "maps": "python -m train.maps --data artifacts/{ds}",
}
WHAT: dict[str, str] = {
    "demo": "No datasets in the artifacts folder yet.",
    "prepare": "No prepared dataset (catalog.csv) found.",
    "embeddings": "No embeddings (embeddings/*.npy) for this dataset.",
    "evaluate": "No evaluation results (metrics.json / queries.csv) for this dataset.",
    "recon": "No latent-size study (recon/index.json) for this dataset.",
    "maps": "No precomputed 2-D maps (maps/*.npz) for this embedding; the page computes one now.",
}


# ---------------------------------------------------------------- discovery


def artifacts_root() -> Path:
    """The artifacts folder: $WORKBENCH_ARTIFACTS if set, else <repo>/artifacts."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "artifacts"


def notes_db_path(root: Path | None = None) -> Path:
    """Where the notes database lives (artifacts/notes.sqlite)."""
    return (root or artifacts_root()) / "notes.sqlite"


def list_datasets(root: Path | None = None) -> list[str]:
    """Names of dataset folders under the artifacts root that have a catalog.csv."""
    root = root or artifacts_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "catalog.csv").is_file())


def read_sidecar(ds_dir: Path, model: str) -> dict[str, Any]:
    """The JSON sidecar of an embedding ({} if absent or unreadable)."""
    path = ds_dir / "embeddings" / f"{model}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


FAMILIES = ("classic", "autoencoder", "pretrained", "contrastive")


def family_from_name(model: str) -> str:
    """An embedding's family guessed from its name (for sidecars without a `family` field)."""
    if model == BASELINE:
        return "classic"
    if model.startswith("pretrained_"):
        return "pretrained"
    if model.startswith("retrieval_"):
        return "contrastive"
    return "autoencoder"


def family_of(ds_dir: Path, model: str) -> str:
    """classic / autoencoder / pretrained / contrastive: the sidecar's `family`, else from the name."""
    family = read_sidecar(ds_dir, model).get("family")
    return str(family) if family in FAMILIES else family_from_name(model)


def model_label(ds_dir: Path, model: str) -> str:
    """'name (family)' for pickers and headings."""
    return f"{model} ({family_of(ds_dir, model)})"


def has_artists(tracks: pd.DataFrame) -> bool:
    """Whether the catalog has artist labels (any non-empty artist)."""
    return "artist" in tracks.columns and bool((tracks["artist"].fillna("").astype(str) != "").any())


def metric_settings(metrics: Any) -> list[str]:
    """Candidate settings in metrics.json, headline first: ["excl_same_artist", "all"] where the
    catalog has artists, else ["all"]."""
    if not (isinstance(metrics, dict) and isinstance(metrics.get("embeddings"), dict)):
        return []
    present = {s for r in metrics["embeddings"].values() if isinstance(r, dict) for s in r}
    return [s for s in ("excl_same_artist", "all") if s in present]


SETTING_TITLES = {"excl_same_artist": "same-artist candidates excluded (headline)", "all": "all candidates"}


def headline_metric(metrics: Any, setting: str) -> str | None:
    """The score the Home page leads with: genre P@10 (else the first genre P@K), else tag Jaccard@10."""
    names: list[str] = []
    for r in metrics.get("embeddings", {}).values():
        names += [k for k in r.get(setting, {}).get("scores", {}) if k not in names]
    for want in ("genre_p@10", "tag_jaccard@10"):
        if want in names:
            return want
    return next((n for n in names if n.startswith("genre_p@")), names[0] if names else None)


def best_embedding(metrics: Any) -> str | None:
    """The embedding with the best headline score (headline setting and metric), or None."""
    settings = metric_settings(metrics)
    if not settings:
        return None
    metric = headline_metric(metrics, settings[0])
    best, best_mean = None, -np.inf
    for name, r in metrics["embeddings"].items():
        est = r.get(settings[0], {}).get("scores", {}).get(metric) if metric else None
        if isinstance(est, dict) and np.isfinite(est.get("mean", np.nan)) and est["mean"] > best_mean:
            best, best_mean = name, float(est["mean"])
    return best


def command_for(kind: str, ds: str = "<dataset>") -> str:
    """The shell command that creates a missing artifact of the given kind."""
    return COMMANDS[kind].format(ds=ds)


def missing_text(kind: str, ds: str = "<dataset>") -> str:
    """A one-paragraph message: what is missing and the command that creates it."""
    return f"{WHAT[kind]} Create it with:\n\n```\n{command_for(kind, ds)}\n```"


def stamp(path: Path) -> tuple[str, int, int]:
    """Cache key of a file: (path, size, mtime_ns); (path, -1, -1) if it does not exist."""
    try:
        s = path.stat()
        return (str(path), s.st_size, s.st_mtime_ns)
    except OSError:
        return (str(path), -1, -1)


# ---------------------------------------------------------------- loaders


def read_tracks(ds_dir: Path) -> pd.DataFrame:
    """Catalog rows with an embedding (row >= 0), sorted so position i is embedding row i."""
    from core.audio.cache import embedded_tracks  # data layer: the catalog with its dtypes

    tracks = embedded_tracks(ds_dir)
    for col in ("genre", "artist", "title", "split", "tags", "path"):
        if col not in tracks.columns:
            tracks[col] = ""
        tracks[col] = tracks[col].astype(str)
    tracks["title"] = np.where(tracks["title"].str.len() > 0, tracks["title"], tracks["track_id"])
    tracks["search"] = (tracks["title"] + " " + tracks["artist"] + " " + tracks["genre"] + " "
                        + tracks["track_id"] + " " + tracks["tags"]).str.lower()
    return tracks


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32, so dot = cosine."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)


def read_embedding(ds_dir: Path, model: str) -> np.ndarray:
    """An embedding matrix [n_tracks, d] (embeddings/<model>.npy) as unit rows; NaN rows become zero."""
    matrix, _ = load_embedding(ds_dir, model)
    if matrix.ndim != 2:
        raise ValueError(f"embedding {model!r} is not a 2-D matrix (shape {matrix.shape})")
    return unit_rows(np.nan_to_num(matrix))


def search_tracks(tracks: pd.DataFrame, text: str, limit: int = 200) -> np.ndarray:
    """Rows whose title/artist/genre/id/tags contain every word of `text` (case-insensitive)."""
    mask = np.ones(len(tracks), bool)
    for word in text.lower().split():
        mask &= tracks["search"].str.contains(word, regex=False).to_numpy()
    return np.flatnonzero(mask)[:limit]


def read_json(path: Path) -> Any:
    """Parsed JSON of a file, or None if absent or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_queries(ds_dir: Path) -> pd.DataFrame | None:
    """The handpicked queries table (queries.csv) or None."""
    path = ds_dir / "queries.csv"
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def handpicked_rows(tracks: pd.DataFrame, queries: pd.DataFrame | None) -> np.ndarray:
    """Track rows of the handpicked queries (queries.csv), in file order, unique."""
    if queries is None or len(queries) == 0:
        return np.zeros(0, int)
    col = next((c for c in ("query_track_id", "query_id", "track_id", "query") if c in queries.columns), None)
    if col is None:
        return np.zeros(0, int)
    pos = pd.Series(np.arange(len(tracks)), index=tracks["track_id"].to_numpy())
    ids = pd.unique(queries[col].astype(str))
    return np.array([int(pos[i]) for i in ids if i in pos.index], dtype=int)


def metrics_table(metrics: Any, setting: str = "all") -> pd.DataFrame:
    """metrics.json as train.evaluate prints it ('mean [lo, hi]' per score, chance row) for one candidate
    setting ("all" or "excl_same_artist"); empty if unreadable."""
    if not (isinstance(metrics, dict) and isinstance(metrics.get("embeddings"), dict)):
        return pd.DataFrame()
    try:
        return evaluation_metrics_table(metrics, setting)
    except (KeyError, TypeError, ValueError):
        return pd.DataFrame()


# ---------------------------------------------------------------- cached wrappers


@st.cache_resource(max_entries=16, show_spinner=False)
def _tracks_cached(ds_dir: str, file_stamp: tuple) -> pd.DataFrame:
    """read_tracks memoised per catalog stamp (shared, treat as read-only)."""
    return read_tracks(Path(ds_dir))


def cached_tracks(ds_dir: Path) -> pd.DataFrame:
    """The dataset's tracks, loaded once per catalog version."""
    return _tracks_cached(str(ds_dir), stamp(ds_dir / "catalog.csv"))


@st.cache_resource(max_entries=32, show_spinner=False)
def _embedding_cached(ds_dir: str, model: str, file_stamp: tuple) -> np.ndarray:
    """read_embedding memoised per file stamp (shared, read-only)."""
    unit = read_embedding(Path(ds_dir), model)
    unit.setflags(write=False)
    return unit


def cached_embedding(ds_dir: Path, model: str) -> np.ndarray:
    """A unit-row embedding matrix, loaded once per file version."""
    return _embedding_cached(str(ds_dir), model, stamp(ds_dir / "embeddings" / f"{model}.npy"))


def cached_top_k(ds_dir: Path, model: str, query_row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-K rows and cosine scores of one query under one embedding (core.recommend.similarity.top_k)."""
    from core.recommend.similarity import top_k

    rows, scores = top_k(cached_embedding(ds_dir, model), int(query_row), int(k))
    return np.asarray(rows, int), np.asarray(scores, np.float32)


@st.cache_data(max_entries=32, show_spinner=False)
def _json_cached(path: str, file_stamp: tuple) -> Any:
    """read_json memoised per file stamp."""
    return read_json(Path(path))


def cached_json(path: Path) -> Any:
    """A JSON artifact, re-read only when the file changes."""
    return _json_cached(str(path), stamp(path))


@st.cache_data(max_entries=8, show_spinner=False)
def _queries_cached(ds_dir: str, file_stamp: tuple) -> pd.DataFrame | None:
    """read_queries memoised per file stamp."""
    return read_queries(Path(ds_dir))


def cached_queries(ds_dir: Path) -> pd.DataFrame | None:
    """The handpicked queries table, re-read only when it changes."""
    return _queries_cached(str(ds_dir), stamp(ds_dir / "queries.csv"))


@st.cache_data(max_entries=16, show_spinner="Projecting to 2-D ...")
def _projection_cached(ds_dir: str, model: str, method: str, file_stamp: tuple) -> np.ndarray:
    """project_2d memoised per embedding file and method (scikit-learn is imported here, on first use, so
    pages without a map do not pay for it)."""
    from core.latent.analysis import project_2d

    return project_2d(np.asarray(read_embedding(Path(ds_dir), model)), method)


def cached_projection(ds_dir: Path, model: str, method: str) -> np.ndarray:
    """2-D map of an embedding by PCA or UMAP: the one `train.maps` precomputed for this embedding file
    (maps/<model>.npz), else computed here once per embedding version."""
    from core.recommend.maps import read_map

    pre = read_map(ds_dir, model, method)
    if pre is not None and len(pre) == len(cached_embedding(ds_dir, model)):
        return pre
    return _projection_cached(str(ds_dir), model, method, stamp(ds_dir / "embeddings" / f"{model}.npy"))


@st.cache_data(max_entries=16, show_spinner="Clustering ...")
def _clusters_cached(ds_dir: str, model: str, n_clusters: int, file_stamp: tuple) -> tuple[np.ndarray, dict]:
    """cluster_quality memoised per embedding file and cluster count."""
    from core.latent.analysis import cluster_quality

    unit = np.asarray(read_embedding(Path(ds_dir), model))
    return cluster_quality(unit, read_tracks(Path(ds_dir))["genre"].to_numpy(), n_clusters)


def cached_clusters(ds_dir: Path, model: str, n_clusters: int) -> tuple[np.ndarray, dict]:
    """k-means cluster ids and quality numbers of an embedding: those `train.maps` precomputed for this
    embedding file and cluster count, else computed here once per embedding version."""
    from core.recommend.maps import read_clusters

    pre = read_clusters(ds_dir, model, n_clusters)
    if pre is not None and len(pre[0]) == len(cached_embedding(ds_dir, model)):
        return pre
    return _clusters_cached(str(ds_dir), model, int(n_clusters),
                            stamp(ds_dir / "embeddings" / f"{model}.npy"))


def genre_p_excl_artist(tracks: pd.DataFrame, emb: np.ndarray, query_rows: np.ndarray, k: int) -> float:
    """Genre precision@K with the query artist's other tracks removed from the candidates (Pampalk's filter)."""
    from core.recommend.metrics import precision_at_k
    from core.recommend.similarity import recommend

    q = np.asarray(query_rows, dtype=int)
    if len(q) == 0:
        return float("nan")
    idx, _ = recommend(emb, q, k, artists=tracks["artist"].to_numpy(dtype=object), exclude_same_artist=True)
    v = precision_at_k(tracks["genre"].to_numpy(dtype=object), q, idx)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def hit_counts(tracks: pd.DataFrame, emb: np.ndarray, rows: np.ndarray, k: int) -> dict[str, float]:
    """hit_rates, plus genre P@K with same-artist candidates excluded where the catalog has artists."""
    out = hit_rates(tracks, emb, rows, k)
    if has_artists(tracks):
        out[f"genre_p@{k} excl. artist"] = genre_p_excl_artist(tracks, emb, rows, k)
    return out


@st.cache_data(max_entries=64, show_spinner="Counting hits ...")
def _hits_cached(ds_dir: str, model: str, rows_key: tuple, k: int, file_stamp: tuple) -> dict[str, float]:
    """hit_counts memoised per embedding file, query set and K."""
    tracks = read_tracks(Path(ds_dir))
    return hit_counts(tracks, np.asarray(read_embedding(Path(ds_dir), model)), np.array(rows_key, int), k)


def cached_hits(ds_dir: Path, model: str, rows: np.ndarray, k: int) -> dict[str, float]:
    """Genre/artist hit-rate@K of a set of query rows under one embedding."""
    return _hits_cached(str(ds_dir), model, tuple(int(r) for r in rows), int(k),
                        stamp(ds_dir / "embeddings" / f"{model}.npy"))
