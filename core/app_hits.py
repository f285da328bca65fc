"""Hit counts for the app: genre/artist hit-rates of an embedding and listeners' relevance shares."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
