"""Cosine top-K recommendations over an embedding matrix, plus per-query hit counts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


def l2_normalise(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    emb = np.asarray(emb, dtype=np.float32)
    n = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(n, 1e-12)


def cosine_matrix(emb: np.ndarray) -> np.ndarray:
    """All-pairs cosine similarity [n, n]."""
    u = l2_normalise(emb)
    return u @ u.T


def effective_k(k: int, n_candidates: int) -> int:
    """K reduced (with a warning) when fewer than K candidates exist besides the query."""
    if n_candidates < 1:
        raise ValueError("no candidate tracks to recommend from (need at least 2 tracks)")
    if n_candidates < k:
        warnings.warn(f"only {n_candidates} candidates for top-{k}; using K={n_candidates}", stacklevel=2)
        return n_candidates
    return k


def valid_rows(emb: np.ndarray) -> np.ndarray:
    """Boolean mask of rows that are usable (finite and not all zero, i.e. not missing)."""
    emb = np.asarray(emb)
    return np.isfinite(emb).all(1) & (np.abs(emb).sum(1) > 0)


def recommend(emb: np.ndarray, query_rows: np.ndarray | list[int], k: int = 10,
              candidate_mask: np.ndarray | None = None, artists: np.ndarray | list[str] | None = None,
              exclude_same_artist: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Top-K candidate rows and cosine scores for each query, never the query itself.

    `candidate_mask` limits candidates (default: all valid rows); with `exclude_same_artist`
    candidates sharing the query's (non-empty) artist are removed. Rows of a query with fewer
    than K candidates are padded with -1 / NaN.
    """
    query_rows = np.asarray(query_rows, dtype=np.int64)
    u = l2_normalise(np.nan_to_num(emb))
    n = u.shape[0]
    cand = valid_rows(emb) if candidate_mask is None else (np.asarray(candidate_mask, bool) & valid_rows(emb))
    sims = u[query_rows] @ u.T  # [q, n]
    sims = np.where(cand[None, :], sims, -np.inf)
    sims[np.arange(len(query_rows)), query_rows] = -np.inf
    if exclude_same_artist and artists is not None:
        art = np.asarray(artists, dtype=object)
        qa = art[query_rows]
        same = (art[None, :] == qa[:, None]) & (qa[:, None] != "")
        sims = np.where(same, -np.inf, sims)
    k = min(k, n - 1) if n > 1 else 0
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(sims, idx, axis=1)
    bad = ~np.isfinite(scores)
    idx = np.where(bad, -1, idx)
    scores = np.where(bad, np.nan, scores)
    return idx, scores.astype(np.float32)


def top_k(emb: np.ndarray, query_row: int, k: int = 10, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    """Top-K rows and scores for one query (see `recommend`), -1 padding removed."""
    idx, sc = recommend(emb, [query_row], k, **kw)  # type: ignore[arg-type]
    keep = idx[0] >= 0
    return idx[0][keep], sc[0][keep]


def split_tags(tags: object) -> set[str]:
    """Tag string "a|b|c" -> {"a","b","c"} (empty/NaN -> empty set)."""
    if not isinstance(tags, str) or not tags:
        return set()
    return {t.strip().lower() for t in tags.split("|") if t.strip()}


def jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard overlap of two tag sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class Hits:
    """Hit counts of one query's recommendation list."""

    k: int
    genre_hits: int | None
    artist_hits: int | None
    tag_jaccard: float | None


def hit_counts(tracks: pd.DataFrame, query_row: int, rec_rows: np.ndarray | list[int]) -> Hits:
    """Same-genre / same-artist counts and mean tag Jaccard of a list (None where labels are missing)."""
    t = tracks.set_index("row", drop=False) if "row" in tracks.columns else tracks
    q = t.loc[query_row]
    recs = t.loc[[int(r) for r in rec_rows if int(r) >= 0]]
    genre = str(q.get("genre", "") or "")
    artist = str(q.get("artist", "") or "") if "artist" in t.columns else ""
    g = int((recs["genre"].fillna("").astype(str) == genre).sum()) if genre else None
    a = int((recs["artist"].fillna("").astype(str) == artist).sum()) if artist else None
    tj = None
    if "tags" in t.columns:
        qt = split_tags(q.get("tags", ""))
        if qt:
            tj = float(np.mean([jaccard(qt, split_tags(x)) for x in recs["tags"]])) if len(recs) else 0.0
    return Hits(k=len(recs), genre_hits=g, artist_hits=a, tag_jaccard=tj)
