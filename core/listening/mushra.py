"""A MUSHRA listening test (ITU-R BS.1534-3) of the latent-size study: per clip, a listener rates 0-100 on one
screen the hidden reference (the original), a low anchor (the original low-passed at 3.5 kHz), the Griffin-Lim
oracle and the reconstruction at each studied size, in their own random order.

Ratings are stored in the notes database (table `mushra_ratings`). Post-screening as BS.1534-3 says: a listener
who rates the hidden reference below 90 in more than 15 % of their trials is left out of the results. Results:
mean score per condition with a 95 % t-interval over the retained ratings.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import signal, stats

from core.listening.notes import NotesStore, now_iso

REFERENCE = "reference"
ANCHOR = "anchor_3.5k"
ORACLE = "oracle"
ANCHOR_CUTOFF_HZ = 3500.0
SCREEN_REFERENCE_BELOW = 90
SCREEN_MAX_SHARE = 0.15
RATING_COLUMNS = ["study", "listener", "clip", "condition", "score", "ts"]


def size_condition(size: int) -> str:
    """The condition name of the reconstruction at one latent size."""
    return f"z{int(size)}"


def conditions(sizes: list[int]) -> list[str]:
    """Every condition of a trial: hidden reference, low anchor, oracle, one per latent size."""
    return [REFERENCE, ANCHOR, ORACLE, *[size_condition(z) for z in sorted(sizes)]]


def low_anchor(audio: np.ndarray, sample_rate: int, cutoff_hz: float = ANCHOR_CUTOFF_HZ) -> np.ndarray:
    """The BS.1534-3 low anchor: the signal low-passed at 3.5 kHz (8th-order Butterworth, zero phase)."""
    sos = signal.butter(8, cutoff_hz, btype="low", fs=sample_rate, output="sos")
    return signal.sosfiltfilt(sos, np.asarray(audio, np.float64)).astype(np.float32)


def trial_order(study: str, listener: str, clip: str, names: list[str], seed: int = 0) -> list[str]:
    """The listener's own random order of a trial's conditions (stable across reloads)."""
    key = zlib.crc32(f"{study}|{listener.strip()}|{clip}".encode())
    rng = np.random.default_rng([seed, key])
    return [names[i] for i in rng.permutation(len(names))]


def clip_order(study: str, listener: str, clips: list[str], seed: int = 0) -> list[str]:
    """The listener's own random order of the clips."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{study}|{listener.strip()}".encode())])
    return [clips[i] for i in rng.permutation(len(clips))]


class MushraStore(NotesStore):
    """MUSHRA ratings in the notes database."""

    def rate(self, study: str, listener: str, clip: str, scores: dict[str, int]) -> None:
        """Store (or replace) one listener's ratings of every condition of one clip, in one transaction."""
        if not listener.strip():
            raise ValueError("listener name is required")
        bad = {c: s for c, s in scores.items() if not 0 <= int(s) <= 100}
        if bad:
            raise ValueError(f"MUSHRA scores are 0-100, got {bad}")
        with self._write() as con:
            con.executemany(
                """INSERT INTO mushra_ratings (ts, study, listener, clip, condition, score) VALUES (?,?,?,?,?,?)
                   ON CONFLICT (study, listener, clip, condition) DO UPDATE SET ts=excluded.ts, score=excluded.score""",
                [(now_iso(), study, listener.strip(), clip, c, int(s)) for c, s in scores.items()])

    def ratings(self, study: str) -> pd.DataFrame:
        """The tidy ratings of a study (RATING_COLUMNS), oldest first."""
        return self._frame("SELECT * FROM mushra_ratings WHERE study=? ORDER BY id", (study,))[RATING_COLUMNS]

    def rated_clips(self, study: str, listener: str) -> set[str]:
        """Clips the listener has rated."""
        df = self._frame("SELECT DISTINCT clip FROM mushra_ratings WHERE study=? AND listener=?",
                         (study, listener.strip()))
        return set(df["clip"])


@dataclass(frozen=True)
class MushraResults:
    """Per-condition means with 95 % CIs over retained listeners, and the post-screening per listener."""

    scores: pd.DataFrame  # condition, n, mean, ci_low, ci_high
    screening: pd.DataFrame  # listener, trials, reference_below_90, share, kept


def post_screening(ratings: pd.DataFrame) -> pd.DataFrame:
    """BS.1534-3 post-screening: per listener, the share of trials where the hidden reference got < 90;
    kept = share <= 15 %."""
    ref = ratings[ratings["condition"] == REFERENCE]
    rows = []
    for listener, grp in ref.groupby("listener", sort=True):
        low = int((grp["score"] < SCREEN_REFERENCE_BELOW).sum())
        share = low / len(grp)
        rows.append({"listener": listener, "trials": len(grp), "reference_below_90": low, "share": share,
                     "kept": share <= SCREEN_MAX_SHARE})
    return pd.DataFrame(rows, columns=["listener", "trials", "reference_below_90", "share", "kept"])


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval (NaN bounds for fewer than two values)."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def mushra_results(ratings: pd.DataFrame, order: list[str] | None = None) -> MushraResults:
    """Screen listeners, then the mean score and 95 % CI of every condition over the kept listeners' ratings."""
    screening = post_screening(ratings)
    kept = set(screening.loc[screening["kept"], "listener"])
    used = ratings[ratings["listener"].isin(kept)]
    names = order or sorted(set(ratings["condition"]))
    rows = []
    for c in names:
        vals = used.loc[used["condition"] == c, "score"].to_numpy(float)
        m, lo, hi = mean_ci(vals)
        rows.append({"condition": c, "n": len(vals), "mean": m, "ci_low": lo, "ci_high": hi})
    return MushraResults(pd.DataFrame(rows, columns=["condition", "n", "mean", "ci_low", "ci_high"]), screening)


def mushra_markdown(study: str, res: MushraResults) -> str:
    """A short Markdown summary: screening and per-condition scores."""
    from core.listening.results import markdown_table

    kept = int(res.screening["kept"].sum()) if len(res.screening) else 0
    return "\n".join([
        f"# MUSHRA test of the latent-size study `{study}`", "",
        "ITU-R BS.1534-3: hidden reference (the original), low anchor (original low-passed at 3.5 kHz), the "
        "Griffin-Lim oracle and the reconstruction at each latent size, rated 0-100 on one screen per clip.", "",
        f"## Post-screening ({kept} of {len(res.screening)} listener(s) kept)",
        "A listener is left out who rated the hidden reference below 90 in more than 15 % of their trials.", "",
        markdown_table(res.screening), "", "## Scores (kept listeners; mean and 95 % t-interval over ratings)", "",
        markdown_table(res.scores), ""])
