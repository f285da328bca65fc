"""Results of a listening session that combine its listeners: relevance rates with bootstrap CIs over queries
and the per-listener spread, blind preferences with the two-sided binomial (sign) test overall and per listener,
and agreement between listeners (Fleiss' kappa on items every listener judged, Krippendorff's alpha with
missing judgements allowed)."""

from __future__ import annotations

from dataclasses import dataclass

import krippendorff
import numpy as np
import pandas as pd

from core.listening.stats import blind_vote_summary

N_BOOT = 2000


@dataclass(frozen=True)
class SessionResults:
    """The tables of a session's results (each may be empty)."""

    relevance: pd.DataFrame
    preference: pd.DataFrame
    preference_by_listener: pd.DataFrame
    agreement: pd.DataFrame
    listeners: int
    judgements: int


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an items x categories count matrix where every item has the same number of ratings
    (at least 2); NaN when there are no items or chance agreement is already perfect."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or len(counts) == 0:
        return float("nan")
    n = counts.sum(axis=1)
    if not np.allclose(n, n[0]) or n[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    n = n[0]
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts ** 2).sum(axis=1) - n) / (n * (n - 1))
    p_e = float((p_j ** 2).sum())
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_i.mean() - p_e) / (1 - p_e))


def krippendorff_nominal(ratings: pd.DataFrame) -> float:
    """Krippendorff's alpha (nominal) of a raters x items table of labels with missing cells as NaN/None;
    NaN when fewer than two raters share an item or only one label occurs."""
    labels = sorted({v for v in ratings.to_numpy().ravel() if isinstance(v, str)})
    if len(labels) < 2 or len(ratings) < 2:
        return float("nan")
    codes = ratings.apply(lambda col: col.map(lambda v: labels.index(v) if isinstance(v, str) else np.nan))
    data = codes.to_numpy(dtype=float)
    if ((~np.isnan(data)).sum(axis=0) >= 2).sum() == 0:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def agreement(items: pd.DataFrame, item_cols: list[str], label_col: str, categories: list[str]) -> dict:
    """Fleiss' kappa (items every listener judged) and Krippendorff's alpha (all items) of one judgement."""
    table = items.pivot_table(index="listener", columns=item_cols, values=label_col, aggfunc="last")
    n_listeners = len(table)
    complete = table.dropna(axis=1)
    counts = np.array([[int((complete[c] == cat).sum()) for cat in categories] for c in complete.columns])
    kappa = fleiss_kappa(counts) if n_listeners >= 2 and len(complete.columns) else float("nan")
    return {"listeners": n_listeners, "items": table.shape[1], "items_all_listeners": complete.shape[1],
            "fleiss_kappa": kappa, "krippendorff_alpha": krippendorff_nominal(table)}


def relevance_with_ci(verdicts: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per model: relevant share of relevant + not-relevant verdicts (unsure left out) over all listeners, a 95 %
    percentile bootstrap CI resampling queries, and the spread of the per-listener shares."""
    cols = ["model", "verdicts", "relevant", "not_relevant", "unsure", "relevance_rate", "ci_low", "ci_high",
            "listeners", "listener_min", "listener_max"]
    rows = []
    for model, grp in verdicts.groupby("model", sort=True):
        rel = (grp["verdict"] == "relevant").groupby(grp["query_track_id"]).sum()
        judged = grp["verdict"].isin(["relevant", "not_relevant"]).groupby(grp["query_track_id"]).sum()
        rate = rel.sum() / judged.sum() if judged.sum() else np.nan
        lo, hi = bootstrap_ratio(rel.to_numpy(float), judged.to_numpy(float), n_boot, seed)
        per_listener = grp.groupby("listener")["verdict"].apply(listener_rate).dropna()
        rows.append({"model": model, "verdicts": len(grp), "relevant": int((grp["verdict"] == "relevant").sum()),
                     "not_relevant": int((grp["verdict"] == "not_relevant").sum()),
                     "unsure": int((grp["verdict"] == "unsure").sum()), "relevance_rate": rate, "ci_low": lo,
                     "ci_high": hi, "listeners": grp["listener"].nunique(),
                     "listener_min": per_listener.min() if len(per_listener) else np.nan,
                     "listener_max": per_listener.max() if len(per_listener) else np.nan})
    return pd.DataFrame(rows, columns=cols)


def listener_rate(verdicts: pd.Series) -> float:
    """Relevant share of one listener's relevant + not-relevant verdicts (NaN if none)."""
    judged = verdicts.isin(["relevant", "not_relevant"]).sum()
    return float((verdicts == "relevant").sum() / judged) if judged else float("nan")


def bootstrap_ratio(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap CI of sum(num) / sum(den), resampling the units (queries)."""
    if len(num) == 0 or den.sum() == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    d = den[idx].sum(axis=1)
    ratios = np.divide(num[idx].sum(axis=1), d, out=np.full(n_boot, np.nan), where=d > 0)
    lo, hi = np.nanpercentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def preference_by_listener(votes: pd.DataFrame) -> pd.DataFrame:
    """blind_vote_summary per listener (a `listener` column first)."""
    parts = [blind_vote_summary(grp).assign(listener=name) for name, grp in votes.groupby("listener", sort=True)]
    if not parts:
        return pd.DataFrame(columns=["listener", *blind_vote_summary(votes.iloc[:0]).columns])
    out = pd.concat(parts, ignore_index=True)
    return out[["listener", *[c for c in out.columns if c != "listener"]]]


def session_results(judgements: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> SessionResults:
    """All result tables of a session's tidy judgements (core.listening.sessions JUDGEMENT_COLUMNS)."""
    verdicts = judgements[judgements["model_a"].fillna("") == ""]
    votes = judgements[judgements["model_a"].fillna("") != ""]
    agree = []
    if len(verdicts):
        agree.append({"judgement": "verdicts", **agreement(verdicts, ["query_track_id", "model", "rec_track_id"],
                                                           "verdict", ["relevant", "not_relevant", "unsure"])})
    if len(votes):
        winners = sorted(set(votes["winner"]))
        agree.append({"judgement": "blind preference", **agreement(votes, ["query_track_id"], "winner", winners)})
    return SessionResults(relevance=relevance_with_ci(verdicts, n_boot, seed),
                          preference=blind_vote_summary(votes), preference_by_listener=preference_by_listener(votes),
                          agreement=pd.DataFrame(agree), listeners=int(judgements["listener"].nunique()),
                          judgements=len(judgements))


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table, floats to 3 decimals."""
    if not len(df):
        return "_none yet_"
    cells = df.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v).replace("|", "\\|"))
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in cells.itertuples(index=False)]
    return "\n".join(lines)


def summary_markdown(plan, results: SessionResults) -> str:
    """A short Markdown summary of a session: plan, relevance, preferences, agreement."""
    head = [f"# Listening session `{plan.name}`", "",
            f"Dataset `{plan.dataset}`, models {', '.join(plan.models)}, K = {plan.k}, mode {plan.mode}, "
            f"{len(plan.queries)} queries ({plan.source}, seed {plan.seed}); {results.listeners} listener(s), "
            f"{results.judgements} judgement(s). Loudness matching {'on' if plan.loudness_match else 'off'}, "
            f"excerpts of {plan.excerpt_s:g} s.", ""]
    body = ["## Relevance per model",
            "Relevant share of relevant + not-relevant verdicts over all listeners; 95 % percentile bootstrap "
            "CI resampling queries; listener_min/max: the spread of the listeners' own shares.", "",
            markdown_table(results.relevance), "", "## Blind preferences",
            "Wins per model pair; p: two-sided binomial (sign) test against 50 %, ties left out.", "",
            markdown_table(results.preference), "", "### Per listener", "",
            markdown_table(results.preference_by_listener), "", "## Agreement between listeners",
            "Fleiss' kappa over the items every listener judged; Krippendorff's alpha (nominal) over all items, "
            "missing judgements allowed. 1 = full agreement, 0 = chance.", "", markdown_table(results.agreement), ""]
    return "\n".join(head + body)
