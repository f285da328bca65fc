"""Retrieval scores per query (precision@K, hit-rate@K, tag Jaccard@K), bootstrap CIs, chance levels
(`chance_level`, one function for all three scores).

Every per-query function returns one value per query (NaN where the query has no label),
so scores can be bootstrapped over queries and compared pairwise between embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.recommend.similarity import jaccard, l2_normalise, recommend, split_tags


def _labels(labels: np.ndarray | list[str]) -> np.ndarray:
    """Labels as an object array of str ('' for missing)."""
    return np.array(["" if (x is None or (isinstance(x, float) and np.isnan(x))) else str(x)
                     for x in labels], dtype=object)


def precision_at_k(labels: np.ndarray | list[str], query_rows: np.ndarray, rec_idx: np.ndarray) -> np.ndarray:
    """Fraction of each query's (valid) recommendations sharing its label; NaN if the query is unlabelled."""
    lab = _labels(labels)
    out = np.full(len(query_rows), np.nan)
    for i, q in enumerate(query_rows):
        if not lab[q]:
            continue
        recs = rec_idx[i][rec_idx[i] >= 0]
        if len(recs):
            out[i] = float(np.mean(lab[recs] == lab[q]))
    return out


def hit_rate_at_k(labels: np.ndarray | list[str], query_rows: np.ndarray, rec_idx: np.ndarray) -> np.ndarray:
    """1 if any recommendation shares the query's label, else 0; NaN if the query is unlabelled."""
    p = precision_at_k(labels, query_rows, rec_idx)
    return np.where(np.isnan(p), np.nan, (p > 0).astype(float))


def tag_jaccard_at_k(tags: np.ndarray | list[str], query_rows: np.ndarray, rec_idx: np.ndarray) -> np.ndarray:
    """Mean tag Jaccard between each query and its recommendations; NaN if the query has no tags."""
    sets = [split_tags(t) for t in tags]
    out = np.full(len(query_rows), np.nan)
    for i, q in enumerate(query_rows):
        if not sets[q]:
            continue
        recs = rec_idx[i][rec_idx[i] >= 0]
        if len(recs):
            out[i] = float(np.mean([jaccard(sets[q], sets[r]) for r in recs]))
    return out


def _candidate_matrix(n: int, query_rows: np.ndarray, candidate_mask: np.ndarray | None,
                      artists: np.ndarray | list[str] | None, exclude_same_artist: bool) -> np.ndarray:
    """[q, n] boolean: which candidates each query may receive."""
    cand = np.ones(n, bool) if candidate_mask is None else np.asarray(candidate_mask, bool)
    m = np.repeat(cand[None, :], len(query_rows), 0)
    m[np.arange(len(query_rows)), query_rows] = False
    if exclude_same_artist and artists is not None:
        art = _labels(artists)
        qa = art[query_rows]
        m &= ~((art[None, :] == qa[:, None]) & (qa[:, None] != ""))
    return m


CHANCE_KINDS = ("precision", "hit_rate", "tag_jaccard")


def _hypergeom_hit(n: int, pos: int, k: int) -> float:
    """Probability that K draws without replacement from n items (pos of them positive) hit one."""
    p_none = 1.0
    for j in range(min(k, n)):
        p_none *= max(n - pos - j, 0) / (n - j)
    return 1.0 - p_none


def chance_level(kind: str, labels: np.ndarray | list[str], query_rows: np.ndarray, k: int = 10,
                 candidate_mask: np.ndarray | None = None, artists: np.ndarray | list[str] | None = None,
                 exclude_same_artist: bool = False) -> np.ndarray:
    """Expected per-query score of random recommendations from the same candidates (NaN if unlabelled).

    `kind` is "precision" (share of same-label candidates, any K), "hit_rate" (probability that K
    random candidates, drawn without replacement, contain a same-label track) or "tag_jaccard"
    (mean tag Jaccard of the query to all candidates; `labels` are "a|b" tag strings).
    """
    if kind not in CHANCE_KINDS:
        raise ValueError(f"unknown chance kind {kind!r}; choose from {CHANCE_KINDS}")
    if kind == "tag_jaccard":
        items: list = [split_tags(t) for t in labels]
    else:
        items = list(_labels(labels))
    lab = np.asarray(items, dtype=object) if kind != "tag_jaccard" else None
    m = _candidate_matrix(len(items), query_rows, candidate_mask, artists, exclude_same_artist)
    out = np.full(len(query_rows), np.nan)
    for i, q in enumerate(query_rows):
        if not items[q] or not m[i].any():
            continue
        if kind == "precision":
            out[i] = float(np.mean(lab[m[i]] == lab[q]))
        elif kind == "hit_rate":
            out[i] = _hypergeom_hit(int(m[i].sum()), int((lab[m[i]] == lab[q]).sum()), k)
        else:
            out[i] = float(np.mean([jaccard(items[q], items[c]) for c in np.nonzero(m[i])[0]]))
    return out


def precision_ceiling(labels: np.ndarray | list[str], query_rows: np.ndarray, k: int,
                      candidate_mask: np.ndarray | None = None, artists: np.ndarray | list[str] | None = None,
                      exclude_same_artist: bool = False) -> np.ndarray:
    """Best achievable precision@K per query: min(K, same-label candidates) / min(K, candidates).

    With the artist filter on GTZAN, a genre recorded by one artist only has no same-genre candidate
    left, so no embedding can score there; this is the ceiling every figure should be read against."""
    lab = _labels(labels)
    m = _candidate_matrix(len(lab), query_rows, candidate_mask, artists, exclude_same_artist)
    out = np.full(len(query_rows), np.nan)
    for i, q in enumerate(query_rows):
        if lab[q] and m[i].any():
            out[i] = min(k, int((lab[m[i]] == lab[q]).sum())) / min(k, int(m[i].sum()))
    return out


@dataclass
class Estimate:
    """A mean over queries with its bootstrap 95% CI."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def width(self) -> float:
        """hi - lo."""
        return self.hi - self.lo

    def fmt(self, digits: int = 3) -> str:
        """'0.520 [0.430, 0.610]'."""
        if self.n == 0 or np.isnan(self.mean):
            return "n/a"
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"

    def to_dict(self) -> dict[str, float]:
        """JSON form."""
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n}


def bootstrap_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """Mean of the finite values and a percentile bootstrap CI (resampling queries, fixed seed)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    means = v[idx].mean(1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Estimate(float(v.mean()), float(lo), float(hi), int(len(v)))


def paired_bootstrap_diff(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                          alpha: float = 0.05) -> Estimate:
    """Mean of a - b over queries where both are finite, with a paired bootstrap CI."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return bootstrap_ci(a[ok] - b[ok], n_boot, seed, alpha)


def genre_cosine_gap(emb: np.ndarray, labels: np.ndarray | list[str],
                     rows: np.ndarray | None = None) -> dict[str, float]:
    """Mean cosine of same-genre pairs vs different-genre pairs (labelled rows only, i < j)."""
    lab = _labels(labels)
    rows = np.arange(len(lab)) if rows is None else np.asarray(rows)
    rows = rows[lab[rows] != ""]
    if len(rows) < 2:
        return {"same": float("nan"), "different": float("nan"), "gap": float("nan")}
    u = l2_normalise(np.asarray(emb)[rows])
    s = u @ u.T
    iu = np.triu_indices(len(rows), 1)
    same = (lab[rows][:, None] == lab[rows][None, :])[iu]
    sv = s[iu]
    ms = float(sv[same].mean()) if same.any() else float("nan")
    md = float(sv[~same].mean()) if (~same).any() else float("nan")
    return {"same": ms, "different": md, "gap": ms - md}


def hit_rates(tracks: pd.DataFrame, emb: np.ndarray, query_rows: np.ndarray, k: int,
              chunk: int = 512) -> dict[str, float]:
    """Genre precision@K (share of the top K with the query's genre) and artist hit-rate@K (any
    same-artist track in the top K), averaged over labelled queries, as in train.evaluate."""
    from core.recommend.metrics import hit_rate_at_k, precision_at_k

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
