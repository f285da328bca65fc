"""Home page texts: what the key-score columns mean, and which embedding is best (or that they all tie)."""

from __future__ import annotations

from ui.data import headline_metric
from ui.widgets import esc

KEY_SCORE_GLOSSARY = (
    "**genre_p@K**: share of a query's top K with the query's genre · **artist_hr@K**: share of queries with a "
    "same-artist track in the top K · **tag_jaccard@K**: mean overlap (Jaccard) of the query's tags with each "
    "recommendation's · **cos same/diff genre**: mean cosine similarity of same-genre and of different-genre "
    "pairs (each model has its own cosine scale: compare the gap, not the values across models) · **chance**: "
    "the expected score of random recommendations · **best possible**: the score of a perfect ranking (below 1 "
    "where a query has fewer than K same-genre candidates).")
SETTING_SHORT = {"excl_same_artist": "same-artist candidates excluded", "all": "all candidates"}


def best_text(metrics: dict, setting: str, best: str) -> str:
    """'Best by <metric>, <setting>: <model>', or that all embeddings tie on it."""
    metric = headline_metric(metrics, setting)
    means = [r.get(setting, {}).get("scores", {}).get(metric, {}).get("mean") for r in metrics["embeddings"].values()]
    means = [float(m) for m in means if isinstance(m, int | float)]
    where = SETTING_SHORT.get(setting, setting)
    if len(means) > 1 and max(means) - min(means) < 1e-9:
        return f"All embeddings tie on {metric} ({where}): {means[0]:.3f}; none is best."
    return f"Best by {metric}, {where}: **{esc(best)}**"
