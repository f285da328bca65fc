"""Artifact reading for the Streamlit pages: discovery, cached loaders, top-K, audio excerpts.

Pages read only `artifacts/` (overridable with the WORKBENCH_ARTIFACTS environment
variable). Pure functions come first; `cached_*` wrappers memoise them per file stamp
(path, size, mtime) so a rerun never re-reads a matrix or re-decodes an audio file, and a
rewritten artifact is picked up. Small Streamlit helpers shared by the pages come last.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import streamlit as st

ENV_VAR = "WORKBENCH_ARTIFACTS"
REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baseline"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
EXCERPT_SECONDS = 30.0
RAW_AUDIO_MAX_BYTES = 3 * 1024 * 1024
BROWSER_MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
                ".opus": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4",
                ".webm": "audio/webm"}
UPLOAD_TYPES = ["wav", "mp3", "ogg", "opus", "flac", "aiff", "aif", "au"]

# What to run when an artifact is missing (shown to users instead of a traceback).
COMMANDS: dict[str, str] = {
    "demo": "python -m train.demo",
    "prepare": "python -m train.prepare --dataset demo --out artifacts/demo",
    "embeddings": "python -m train.autoencoders --data artifacts/{ds}",
    "evaluate": "python -m train.evaluate --data artifacts/{ds}",
    "recon": "python -m train.latent_sizes --data-dir artifacts/{ds}",
}
WHAT: dict[str, str] = {
    "demo": "No datasets in the artifacts folder yet.",
    "prepare": "No prepared dataset (catalog.csv) found.",
    "embeddings": "No embeddings (embeddings/*.npy) for this dataset.",
    "evaluate": "No evaluation results (metrics.json / queries.csv) for this dataset.",
    "recon": "No latent-size study (recon/index.json) for this dataset.",
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


def list_embeddings(ds_dir: Path) -> list[str]:
    """Embedding names of a dataset (embeddings/<name>.npy), baseline first."""
    folder = ds_dir / "embeddings"
    if not folder.is_dir():
        return []
    names = sorted(p.stem for p in folder.glob("*.npy"))
    return sorted(names, key=lambda n: (n != BASELINE, n))


def read_sidecar(ds_dir: Path, model: str) -> dict[str, Any]:
    """The JSON sidecar of an embedding ({} if absent or unreadable)."""
    path = ds_dir / "embeddings" / f"{model}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


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
    from core.cache import load_catalog  # data layer: the catalog with its dtypes

    cat = load_catalog(ds_dir)
    if "row" not in cat.columns:
        cat["row"] = np.arange(len(cat))
    cat["row"] = pd.to_numeric(cat["row"], errors="coerce").fillna(-1).astype(int)
    tracks = cat[cat["row"] >= 0].sort_values("row").reset_index(drop=True)
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
    # Read the .npy directly: core.embeddings.load_embedding would import torch (~4 s) into the app.
    path = ds_dir / "embeddings" / f"{model}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"no embedding {model!r} in {path.parent}")
    matrix = np.load(path)
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


def _eval_metrics_table(metrics: dict[str, Any], setting: str = "all") -> pd.DataFrame:
    """train.evaluate's metrics.json as 'mean [lo, hi]' per score plus a chance row (read without
    importing core.evaluation, which pulls in torch)."""
    rows: list[dict[str, Any]] = []
    chance: dict[str, float] = {}
    for name, r in metrics["embeddings"].items():
        part = r.get(setting, {}) if isinstance(r, dict) else {}
        row: dict[str, Any] = {"embedding": name, "dim": str(r.get("dim", "")) if isinstance(r, dict) else ""}
        for metric, e in (part.get("scores") or {}).items():
            try:
                row[metric] = f"{e['mean']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"
            except (KeyError, TypeError, ValueError):
                row[metric] = str(e)
            c = (part.get("chance") or {}).get(metric)
            if isinstance(c, (int, float)):
                chance.setdefault(metric, float(c))
        rows.append(row)
    if chance:
        rows.append({"embedding": "chance", "dim": "", **{m: f"{v:.3f}" for m, v in chance.items()}})
    return pd.DataFrame(rows).fillna("")


def metrics_table(metrics: Any) -> pd.DataFrame:
    """metrics.json as one row per embedding ('mean [lo, hi]' per score, as train.evaluate prints it)."""
    if not isinstance(metrics, dict):
        return pd.DataFrame()
    if isinstance(metrics.get("embeddings"), dict):
        return _eval_metrics_table(metrics)
    body = metrics.get("models", metrics.get("embeddings", metrics))
    rows = []
    if isinstance(body, dict):
        items = body.items()
    elif isinstance(body, list):
        items = [(m.get("model", m.get("embedding", str(i))), m) for i, m in enumerate(body) if isinstance(m, dict)]
    else:
        return pd.DataFrame()
    for name, scores in items:
        if not isinstance(scores, dict):
            continue
        flat = pd.json_normalize(scores, sep=".").iloc[0].to_dict() if scores else {}
        row = {"model": name}
        row.update({k: v for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- hit counts


def hit_rates(tracks: pd.DataFrame, emb: np.ndarray, query_rows: np.ndarray, k: int,
              chunk: int = 512) -> dict[str, float]:
    """Genre precision@K (share of the top K with the query's genre) and artist hit-rate@K (any
    same-artist track in the top K), averaged over labelled queries, as in train.evaluate."""
    from core.recommend import recommend
    from core.retrieval_metrics import hit_rate_at_k, precision_at_k

    query_rows = np.asarray(query_rows, dtype=int)
    genres = tracks["genre"].to_numpy(dtype=object)
    artists = tracks["artist"].to_numpy(dtype=object)
    gp: list[np.ndarray] = []
    ah: list[np.ndarray] = []
    for start in range(0, len(query_rows), chunk):
        q = query_rows[start:start + chunk]
        idx, _ = recommend(emb, q, k)
        gp.append(precision_at_k(genres, q, idx))
        ah.append(hit_rate_at_k(artists, q, idx))

    def _mean(parts: list[np.ndarray]) -> float:
        v = np.concatenate(parts) if parts else np.zeros(0)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    return {f"genre_p@{k}": _mean(gp), f"artist_hr@{k}": _mean(ah), "n_queries": int(len(query_rows))}


def relevance_rates(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per model: relevant / not relevant / unsure counts and relevant share (unsure left out)."""
    cols = ["model", "relevant", "not_relevant", "unsure", "relevance_rate"]
    if verdicts is None or len(verdicts) == 0:
        return pd.DataFrame(columns=cols)
    counts = verdicts.pivot_table(index="model", columns="verdict", values="id", aggfunc="count", fill_value=0)
    for c in ("relevant", "not_relevant", "unsure"):
        if c not in counts.columns:
            counts[c] = 0
    judged = counts["relevant"] + counts["not_relevant"]
    counts["relevance_rate"] = np.where(judged > 0, counts["relevant"] / judged.where(judged > 0, 1), np.nan)
    return counts.reset_index()[cols]


# ---------------------------------------------------------------- latent map


def project_2d(unit: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows by PCA or UMAP (core.latent_analysis, standardised dims) [n, 2]."""
    from core.latent_analysis import pca_2d, prepare, umap_2d

    x = prepare(unit)
    xy = umap_2d(x, seed=seed)[0] if method.lower() == "umap" else pca_2d(x, seed)[0]
    return np.asarray(xy, dtype=np.float32)


def cluster_quality(unit: np.ndarray, genres: np.ndarray, n_clusters: int, seed: int = 0,
                    sample: int = 3000) -> tuple[np.ndarray, dict[str, float]]:
    """k-means cluster ids of an embedding and quality numbers: silhouette (cosine) of genres and of
    clusters (on at most `sample` rows), V-measure and ARI of clusters vs genre."""
    from sklearn.metrics import silhouette_score

    from core.latent_analysis import cluster_kmeans, label_agreement, prepare

    labels = cluster_kmeans(prepare(unit), int(n_clusters), seed)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(unit), size=min(sample, len(unit)), replace=False)

    def _sil(lab: np.ndarray) -> float:
        n_lab = len(set(lab[pick].tolist()))
        if n_lab < 2 or n_lab >= len(pick):
            return float("nan")
        return float(silhouette_score(unit[pick], lab[pick], metric="cosine"))

    agree = label_agreement(np.asarray(genres), labels)
    return labels, {"silhouette_genre": _sil(np.asarray(genres).astype(str)), "silhouette_kmeans": _sil(labels),
                    "v_measure_kmeans_vs_genre": agree["v_measure"], "ari_kmeans_vs_genre": agree["ari"]}


# ---------------------------------------------------------------- audio


def resolve_audio(ds_dir: Path, path: str) -> Path | None:
    """Absolute audio path of a catalog `path` (absolute, or relative to the dataset, its root or cwd)."""
    if not path:
        return None
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [ds_dir / p, REPO_ROOT / p, Path.cwd() / p]
    if not p.is_absolute():
        summary = read_json(ds_dir / "prepare_summary.json")
        if isinstance(summary, dict) and summary.get("root"):
            candidates.insert(0, Path(str(summary["root"])) / p)
    for c in candidates:
        if c.is_file():
            return c
    return None


def audio_excerpt(path: Path, seconds: float = EXCERPT_SECONDS) -> tuple[bytes, str]:
    """Bytes and MIME type to play a track: the file itself when the browser plays it and it is
    small, else the first `seconds` decoded to a mono 22.05 kHz WAV."""
    mime = BROWSER_MIME.get(path.suffix.lower())
    if mime and path.stat().st_size <= RAW_AUDIO_MAX_BYTES:
        return path.read_bytes(), mime
    from core.audio import load_audio

    audio = load_audio(path, max_seconds=seconds)
    return wav_bytes(audio, 22050), "audio/wav"


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of a mono float signal."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, np.float32), -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@dataclass
class UploadCheck:
    """Outcome of checking an uploaded file: ok, a user-facing message, the saved path."""

    ok: bool
    message: str
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_upload(name: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> UploadCheck:
    """Check an uploaded file's size, type and decodability; save it to a temp file if good."""
    suffix = Path(name).suffix.lower()
    if len(data) == 0:
        return UploadCheck(False, f"'{name}' is empty (0 bytes).")
    if len(data) > max_bytes:
        return UploadCheck(False, f"'{name}' is too large: {len(data) / 1e6:.1f} MB; the limit is "
                                  f"{max_bytes / 1e6:.0f} MB.")
    if suffix.lstrip(".") not in UPLOAD_TYPES:
        return UploadCheck(False, f"'{name}' is not an audio file: use one of "
                                  f"{', '.join(UPLOAD_TYPES)}.")
    folder = Path(tempfile.gettempdir()) / "workbench_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(data).hexdigest()[:16]}{suffix}"
    if not path.is_file():
        path.write_bytes(data)
    try:
        from core.audio import load_audio

        audio = load_audio(path, max_seconds=60)
    except Exception as exc:
        path.unlink(missing_ok=True)
        return UploadCheck(False, f"'{name}' could not be decoded as audio ({exc}); the file is "
                                  "corrupt or not really audio.")
    if len(audio) < 22050:
        path.unlink(missing_ok=True)
        return UploadCheck(False, f"'{name}' is shorter than one second of audio.")
    return UploadCheck(True, f"'{name}' accepted ({len(audio) / 22050:.1f} s decoded).", path,
                       {"seconds": len(audio) / 22050})


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
    """Top-K rows and cosine scores of one query under one embedding (core.recommend.top_k)."""
    from core.recommend import top_k

    rows, scores = top_k(cached_embedding(ds_dir, model), int(query_row), int(k))
    return np.asarray(rows, int), np.asarray(scores, np.float32)


@st.cache_resource(max_entries=512, show_spinner=False)
def _audio_cached(path: str, file_stamp: tuple, seconds: float) -> tuple[bytes, str]:
    """audio_excerpt memoised per file stamp."""
    return audio_excerpt(Path(path), seconds)


def cached_audio(path: Path, seconds: float = EXCERPT_SECONDS) -> tuple[bytes, str]:
    """Playable bytes of a track (excerpt decoded at most once per file version)."""
    return _audio_cached(str(path), stamp(path), seconds)


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
    """project_2d memoised per embedding file and method."""
    return project_2d(np.asarray(read_embedding(Path(ds_dir), model)), method)


def cached_projection(ds_dir: Path, model: str, method: str) -> np.ndarray:
    """2-D map of an embedding by PCA or UMAP, computed once per embedding version."""
    return _projection_cached(str(ds_dir), model, method, stamp(ds_dir / "embeddings" / f"{model}.npy"))


@st.cache_data(max_entries=16, show_spinner="Clustering ...")
def _clusters_cached(ds_dir: str, model: str, n_clusters: int, file_stamp: tuple) -> tuple[np.ndarray, dict]:
    """cluster_quality memoised per embedding file and cluster count."""
    unit = np.asarray(read_embedding(Path(ds_dir), model))
    return cluster_quality(unit, read_tracks(Path(ds_dir))["genre"].to_numpy(), n_clusters)


def cached_clusters(ds_dir: Path, model: str, n_clusters: int) -> tuple[np.ndarray, dict]:
    """k-means cluster ids and quality numbers of an embedding."""
    return _clusters_cached(str(ds_dir), model, int(n_clusters),
                            stamp(ds_dir / "embeddings" / f"{model}.npy"))


@st.cache_data(max_entries=64, show_spinner="Counting hits ...")
def _hits_cached(ds_dir: str, model: str, rows_key: tuple, k: int, file_stamp: tuple) -> dict[str, float]:
    """hit_rates memoised per embedding file, query set and K."""
    tracks = read_tracks(Path(ds_dir))
    return hit_rates(tracks, np.asarray(read_embedding(Path(ds_dir), model)), np.array(rows_key, int), k)


def cached_hits(ds_dir: Path, model: str, rows: np.ndarray, k: int) -> dict[str, float]:
    """Genre/artist hit-rate@K of a set of query rows under one embedding."""
    return _hits_cached(str(ds_dir), model, tuple(int(r) for r in rows), int(k),
                        stamp(ds_dir / "embeddings" / f"{model}.npy"))


# ---------------------------------------------------------------- Streamlit helpers


def notes_store():
    """The notes store of the current artifacts root (created on first use)."""
    from core.notes import NotesStore

    return NotesStore.open(notes_db_path())


def show_missing(kind: str, ds: str = "<dataset>") -> None:
    """Render a clear 'missing artifact' message with the command that creates it."""
    st.warning(missing_text(kind, ds), icon=":material/warning:")


def pick_dataset(key: str, need: str = "embeddings") -> tuple[str, Path] | None:
    """Sidebar dataset picker; shows the missing message and returns None when nothing fits."""
    root = artifacts_root()
    names = list_datasets(root)
    if not names:
        show_missing("demo")
        return None
    if need == "embeddings":
        with_emb = [n for n in names if list_embeddings(root / n)]
        if not with_emb:
            show_missing("embeddings", names[0])
            return None
        names = with_emb
    default = st.session_state.get("dataset")
    index = names.index(default) if default in names else 0
    name = st.sidebar.selectbox("Dataset", names, index=index, key=key)
    st.session_state["dataset"] = name
    return name, root / name


def listener_name() -> str | None:
    """The listener's name, asked once per browser session (None until given)."""
    name = st.session_state.get("listener_name", "")
    if name:
        st.sidebar.caption(f"Listener: **{name}**")
        return name
    with st.form("listener_form"):
        st.markdown("**Who is listening?** Your name is stored with your notes and votes.")
        given = st.text_input("Listener name", key="listener_input")
        if st.form_submit_button("Start listening") and given.strip():
            st.session_state["listener_name"] = given.strip()[:80]
            st.rerun()
    return None


def play(ds_dir: Path, path: str, label: str = "") -> None:
    """An audio player for a catalog path (or a short message if the file is gone)."""
    resolved = resolve_audio(ds_dir, path)
    if resolved is None:
        st.caption(f"audio file not found{': ' + label if label else ''}")
        return
    try:
        data, mime = cached_audio(resolved)
    except Exception as exc:
        st.caption(f"cannot play this file ({exc})")
        return
    st.audio(data, format=mime)


def track_label(tracks: pd.DataFrame, row: int) -> str:
    """'title — artist (genre)' of a track row for pickers."""
    t = tracks.iloc[int(row)]
    artist = f" — {t['artist']}" if t["artist"] else ""
    genre = f" ({t['genre']})" if t["genre"] else ""
    return f"{t['title']}{artist}{genre}"


def random_query(state_key: str, n: int, search_key: str) -> None:
    """Button callback: jump to a random track and clear the search box."""
    st.session_state[state_key] = int(np.random.default_rng().integers(n))
    st.session_state[search_key] = ""


def pick_query(tracks: pd.DataFrame, ds_dir: Path, prefix: str) -> int:
    """Query picker: search by title/artist/genre, handpicked queries, or a random track; returns a row."""
    key, search_key = f"{prefix}_query", f"{prefix}_search"
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    text = c1.text_input("Search title / artist / genre", key=search_key,
                         placeholder="e.g. calm acoustic")
    c2.button("Random query", icon=":material/casino:", key=f"{prefix}_random", on_click=random_query,
              args=(key, len(tracks), search_key), width="stretch")
    if text.strip():
        options = search_tracks(tracks, text).tolist()
        if not options:
            st.info(f"No track matches '{text}'.")
    else:
        options = handpicked_rows(tracks, cached_queries(ds_dir)).tolist() or list(range(min(200, len(tracks))))
    current = st.session_state.get(key)
    if current is not None and (not isinstance(current, int) or not 0 <= current < len(tracks)):
        current = None
        st.session_state.pop(key, None)
    last_key = f"{prefix}_last_search"
    if text.strip() and options and st.session_state.get(last_key) != text and current not in options:
        current = options[0]  # a new search selects its first match
        st.session_state[key] = current
    st.session_state[last_key] = text
    if current is not None and current not in options:
        options = [current, *options]
    if not options:
        options = [0] if current is None else [current]
    row = st.selectbox("Query", options, key=key, format_func=lambda r: track_label(tracks, r))
    return int(row)


# ---------------------------------------------------------------- latent-size study (recon/)


@dataclass
class ReconClip:
    """One study clip: audio and spectrogram PNG of the original, the oracle and each latent size."""

    label: str
    original: Path | None
    oracle: Path | None
    recon: dict[int, Path]
    png: dict[str, Path]  # "original", "oracle", str(size)
    metrics: dict[str, dict[str, float]]  # "oracle" or str(size) -> metric -> value


@dataclass
class ReconStudy:
    """What recon/index.json (schema recon-study/1, written by core.recon_study) describes."""

    sizes: list[int]
    chosen: int | None
    clips: list[ReconClip]
    metrics: pd.DataFrame  # one row per size, one column per metric
    oracle: dict[str, float]
    metric_info: dict[str, dict[str, Any]]
    rule: str
    extras: dict[str, list[tuple[str, Path, Path | None]]]  # section -> (label, wav, png)


def _path_in(folder: Path, value: Any) -> Path | None:
    """A file named in the index (relative to the recon folder, or absolute) if it exists."""
    if not isinstance(value, str) or not value:
        return None
    p = Path(value)
    c = p if p.is_absolute() else folder / p
    return c if c.is_file() else None


def _items(folder: Path, entries: Any, label_of: Any) -> list[tuple[str, Path, Path | None]]:
    """(label, wav, png) of index entries that have a 'wav' (or 'recon_wav') file."""
    out = []
    for e in entries or []:
        if not isinstance(e, dict):
            continue
        wav = _path_in(folder, e.get("wav") or e.get("recon_wav"))
        if wav is not None:
            out.append((label_of(e), wav, _path_in(folder, e.get("png") or e.get("recon_png"))))
    return out


def parse_recon_index(folder: Path, index: dict[str, Any]) -> ReconStudy:
    """Read a recon/index.json dict into a ReconStudy (missing sections become empty)."""
    per_size = index.get("per_size") or {}
    sizes = sorted(int(z) for z in (index.get("sizes") or per_size.keys()))
    clips: list[ReconClip] = []
    for c in index.get("clips") or []:
        cid = str(c.get("clip_id", c.get("track_id", "")))
        recon: dict[int, Path] = {}
        png = {k: p for k in ("original", "oracle") if (p := _path_in(folder, c.get(f"{k}_png"))) is not None}
        metrics = {"oracle": dict(c.get("oracle_metrics") or {})}
        for z in sizes:
            entry = ((per_size.get(str(z)) or {}).get("clips") or {}).get(cid) or {}
            if (wav := _path_in(folder, entry.get("recon_wav"))) is not None:
                recon[z] = wav
            if (img := _path_in(folder, entry.get("recon_png"))) is not None:
                png[str(z)] = img
            metrics[str(z)] = dict(entry.get("metrics") or {})
        label = " · ".join(str(x) for x in (cid, c.get("genre")) if x)
        clips.append(ReconClip(label, _path_in(folder, c.get("original_wav")), _path_in(folder, c.get("oracle_wav")),
                               recon, png, metrics))
    rows = [{"size": int(z), **{k: v for k, v in (m or {}).items() if isinstance(v, (int, float))}}
            for z, m in (index.get("metrics") or {}).items()]
    table = pd.DataFrame(rows).sort_values("size").reset_index(drop=True) if rows else pd.DataFrame()
    gen = index.get("generation") or {}
    extras: dict[str, list[tuple[str, Path, Path | None]]] = {}
    interp = gen.get("interpolation") or {}
    if interp:
        extras[f"Interpolation {interp.get('from', '')} → {interp.get('to', '')}"] = _items(
            folder, interp.get("steps"), lambda e: f"t = {e.get('t', 0):.2f} (sounds {e.get('nearest_genre', '?')})")
    extras["Gaussian samples"] = _items(folder, (gen.get("samples") or {}).get("items"),
                                        lambda e: f"sample (sounds {e.get('nearest_genre', '?')})")
    extras["Genre arithmetic"] = _items(folder, gen.get("arithmetic"),
                                        lambda e: f"{e.get('clip_id', '')} − {e.get('source', '')} + "
                                                  f"{e.get('target', '')} (sounds {e.get('nearest_genre', '?')})")
    for block, title in (("new_music", "New music (outside the dataset)"), ("demo", "Demo corpus")):
        extras[title] = _items(folder, (index.get(block) or {}).get("items"),
                               lambda e: f"{e.get('name', e.get('track_id', ''))}: reconstruction")
    extras = {k: v for k, v in extras.items() if v}
    rule = index.get("rule") or {}
    return ReconStudy(sizes, index.get("chosen_size"), clips, table, dict(index.get("oracle") or {}),
                      dict(index.get("metric_info") or {}), str(rule.get("text", "")) if isinstance(rule, dict)
                      else str(rule), extras)


def load_recon_study(ds_dir: Path) -> ReconStudy | None:
    """The dataset's latent-size study, or None when recon/index.json is absent or unreadable."""
    index = cached_json(ds_dir / "recon" / "index.json")
    if not isinstance(index, dict):
        return None
    try:
        return parse_recon_index(ds_dir / "recon", index)
    except Exception:
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def _log_mel_cached(path: str, file_stamp: tuple) -> np.ndarray | None:
    """Log-mel (dB) of an audio file memoised per file stamp, None if it cannot be decoded."""
    from core.audio import load_audio
    from core.features import log_mel

    try:
        return log_mel(load_audio(Path(path), max_seconds=30)).astype(np.float32)
    except Exception:
        return None


def cached_log_mel(path: Path) -> np.ndarray | None:
    """Log-mel spectrogram of a clip for display, computed once per file version."""
    return _log_mel_cached(str(path), stamp(Path(path)))


def play_file(path: Path) -> None:
    """An audio player for a file path (cached excerpt)."""
    try:
        data, mime = cached_audio(Path(path))
    except Exception as exc:
        st.caption(f"cannot play this file ({exc})")
        return
    st.audio(data, format=mime)


@dataclass
class UploadResult:
    """An uploaded file encoded by the latent study's model: reconstruction, metrics, nearest tracks."""

    recon_wav: bytes | None
    neighbours: pd.DataFrame
    metrics: dict[str, float]
    padded: bool


def encode_upload(ds_dir: Path, size: int, audio_path: Path, k: int = 5) -> UploadResult:
    """Encode and reconstruct an uploaded file with core.recon_study (imports torch; upload only)."""
    from core.recon_study import encode_and_reconstruct  # latent-study area

    out = encode_and_reconstruct(ds_dir, int(size), audio_path, k=k)
    audio = out.get("audio")
    recon = wav_bytes(np.asarray(audio), int(out.get("sample_rate", 22050))) if audio is not None else None
    nb = out.get("neighbours")
    return UploadResult(recon, nb if isinstance(nb, pd.DataFrame) else pd.DataFrame(nb or []),
                        {k_: float(v) for k_, v in (out.get("metrics") or {}).items()}, bool(out.get("padded")))


@st.cache_data(max_entries=8, show_spinner=False)
def _check_cached(name: str, digest: str, _data: bytes) -> UploadCheck:
    """check_upload memoised per file name and content hash."""
    return check_upload(name, _data)


def cached_check_upload(name: str, data: bytes) -> UploadCheck:
    """check_upload done once per uploaded content (reruns reuse the result and the saved file)."""
    check = _check_cached(name, hashlib.sha1(data).hexdigest(), data)
    if check.ok and (check.path is None or not check.path.is_file()):
        _check_cached.clear()
        check = _check_cached(name, hashlib.sha1(data).hexdigest(), data)
    return check


@st.cache_data(max_entries=8, show_spinner=False)
def _encode_cached(ds_dir: str, size: int, path: str, file_stamp: tuple, indexfile_stamp: tuple) -> UploadResult:
    """encode_upload memoised per uploaded file, latent size and study version."""
    return encode_upload(Path(ds_dir), size, Path(path))


def cached_encode_upload(ds_dir: Path, size: int, path: Path) -> UploadResult:
    """Encode/reconstruct an upload once per file and latent size (the model run takes seconds)."""
    return _encode_cached(str(ds_dir), int(size), str(path), stamp(path), stamp(ds_dir / "recon" / "index.json"))


def meta_line(*parts: object) -> str:
    """Non-empty parts joined with ' · ' (a track's artist, genre, score ...); '—' if all are empty."""
    text = " · ".join(str(p) for p in parts if p is not None and str(p) != "")
    return text or "—"
