"""Small statistics for listening sessions: listener relevance rates and the two-sided binomial
(sign) test of blind votes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def binomial_two_sided_p(wins: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial p-value of `wins` successes in `n` trials (1.0 when n == 0)."""
    if n <= 0:
        return 1.0
    if not 0 <= wins <= n:
        raise ValueError(f"wins must be in [0, {n}], got {wins}")
    from scipy.stats import binomtest  # imported on first use: scipy.stats takes ~1 s to import

    return float(binomtest(int(wins), int(n), p, alternative="two-sided").pvalue)


def blind_vote_summary(votes: pd.DataFrame) -> pd.DataFrame:
    """Per unordered model pair: wins of each model, ties, and the sign-test p-value (ties left out).

    `votes` has columns model_a, model_b, winner (a model name or 'same').
    """
    cols = ["model_1", "model_2", "wins_1", "wins_2", "ties", "votes", "p_value"]
    if votes is None or len(votes) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    pairs = votes.apply(lambda r: tuple(sorted((r["model_a"], r["model_b"]))), axis=1)
    for (m1, m2), grp in votes.groupby(pairs):
        w1 = int((grp["winner"] == m1).sum())
        w2 = int((grp["winner"] == m2).sum())
        ties = int((grp["winner"] == "same").sum())
        rows.append({"model_1": m1, "model_2": m2, "wins_1": w1, "wins_2": w2, "ties": ties,
                     "votes": len(grp), "p_value": binomial_two_sided_p(w1, w1 + w2)})
    return pd.DataFrame(rows, columns=cols)


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
