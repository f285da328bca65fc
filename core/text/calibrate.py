"""Calibrated text-search scores and an honest "no good match".

A raw cosine between a query and a track says little on its own: its scale differs from query to query and
from track to track, and the best of N tracks always has *some* cosine. The null model here is a **bank of
reference descriptions** written without looking at any collection: 120 short texts over many genres,
instruments, moods and scenes, plus a few everyday non-music sounds.

- **Calibrated score of a hit**: the share of the bank that fits that track worse than the query does,
  `#{b : cos(b, x) < cos(q, x)} / |bank|` (ties count against the query). 0.97 reads "on this track the query
  beats 97 % of the reference descriptions".
- **Fit of a query to a collection**: the mean calibrated score of its top `VERDICT_K` tracks (by cosine).
- **Verdict**: the same fit is computed for every reference description (each against the rest of the bank);
  the query has a **good match** when the collection fits it at least as well as it fits the median reference
  description (`GOOD_MATCH` = 0.5 of them fit worse). A query about music the collection lacks ("jazz saxophone"
  on a folder of ambient pieces) finds tracks that most reference descriptions also find, and is flagged.

The threshold is fixed in advance, not fitted. How well the verdict separates is measured on known-answer
cases from labelled val splits (`core.text.zeroshot.verdict_cases`: each label's query on the val pool, where
the label is present, and on the same pool without that label's tracks, where it is absent) and written into
each model's report.

```python
cal = calibrate(scores, bank_scores)        # scores [n_tracks], bank_scores [n_bank, n_tracks]
verdict = judge(scores, bank_scores)        # verdict.good_match, verdict.rank, verdict.message()
```
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GOOD_MATCH = 0.5  # the collection must fit the query at least as well as the median reference description
VERDICT_K = 5  # tracks whose calibrated scores make a query's fit (fixed, so the verdict ignores the K slider)
GENRES = ("rock", "pop", "jazz", "classical", "hip hop", "electronic dance", "country", "blues", "reggae",
          "heavy metal", "folk", "latin", "ambient", "r&b", "soul", "funk", "opera", "techno", "punk", "disco",
          "gospel", "bluegrass", "bossa nova", "k-pop", "flamenco", "baroque", "trap", "dubstep", "lo-fi",
          "orchestral film score")
INSTRUMENTS = ("solo piano", "an acoustic guitar", "a string quartet", "a brass band", "a choir",
               "a church organ", "a violin solo", "a saxophone solo", "a drum solo", "a harp", "bagpipes",
               "a banjo", "a synthesizer arpeggio", "a distorted electric guitar", "a flute", "an accordion",
               "a sitar", "steel drums", "a marimba", "an upright bass", "a ukulele", "a harmonica",
               "a trumpet fanfare", "tabla drums", "a music box")
MOODS = ("happy", "sad", "angry", "calm", "romantic", "scary", "epic", "playful", "dreamy", "aggressive",
         "melancholic", "uplifting", "tense", "peaceful", "funny", "mysterious", "nostalgic", "triumphant",
         "lonely", "energetic")
SCENES = ("music for a video game", "a lullaby for a baby", "a children's song", "a national anthem",
          "a wedding march", "background music in an elevator", "a christmas carol", "a marching band parade",
          "music for a horror film", "a workout playlist song", "a tv commercial jingle", "a yoga meditation track",
          "a karaoke song", "a sea shanty", "a tango for dancers")
SOUNDS = ("a dog barking", "rain falling on a roof", "people talking in a cafe", "a car engine starting",
          "birds singing in a forest", "a baby crying", "a phone ringing", "waves on a beach",
          "a crowd cheering in a stadium", "someone typing on a keyboard")


def reference_bank() -> list[str]:
    """The reference descriptions (fixed order; 120 texts)."""
    return ([f"{g} music" for g in GENRES] + [f"a piece played on {i}" for i in INSTRUMENTS]
            + [f"a {m} song" for m in MOODS] + list(SCENES) + list(SOUNDS)
            + [f"a {m} {g} song" for m, g in zip(MOODS[:15], GENRES[::2])] + [f"the sound of {s}" for s in
                                                                               SOUNDS[:5]])


def calibrate(scores: np.ndarray, bank_scores: np.ndarray) -> np.ndarray:
    """Per track, the share of bank texts whose cosine on that track is strictly below the query's.
    `scores` [n], `bank_scores` [n_bank, n]; a ties count against the query."""
    s = np.asarray(scores, np.float64)
    b = np.asarray(bank_scores, np.float64)
    if b.size == 0:
        return np.full(s.shape, np.nan)
    return (b < s[None, :]).mean(0)


def fit(scores: np.ndarray, bank_scores: np.ndarray, k: int = VERDICT_K) -> float:
    """Mean calibrated score of the top-k tracks (by cosine) of one text."""
    s = np.asarray(scores, np.float64)
    top = np.argsort(-s, kind="stable")[:max(1, min(k, len(s)))]
    return float(calibrate(s[top], np.asarray(bank_scores)[:, top]).mean())


def bank_fits(bank_scores: np.ndarray, k: int = VERDICT_K) -> np.ndarray:
    """The fit of every reference description, each calibrated against the rest of the bank."""
    b = np.asarray(bank_scores, np.float64)
    return np.array([fit(b[j], np.delete(b, j, 0), k) for j in range(len(b))])


@dataclass
class Verdict:
    """Whether a query has a good match in a collection, and the numbers behind the call."""

    good_match: bool
    rank: float  # share of reference descriptions the collection fits worse than the query
    fit: float  # mean calibrated score of the query's top-k tracks
    best_cosine: float
    threshold: float
    k: int
    bank_size: int

    def message(self) -> str:
        """One plain sentence for the page and the CLI."""
        if self.good_match:
            return (f"Good match: this collection fits the query better than it fits {self.rank * 100:.0f} % of "
                    f"{self.bank_size} reference descriptions (its top {self.k} tracks).")
        return (f"No good match: this collection fits the query worse than {(1 - self.rank) * 100:.0f} % of "
                f"{self.bank_size} unrelated reference descriptions (its top {self.k} tracks beat on average only "
                f"{self.fit * 100:.0f} % of them); it probably holds nothing like it. The list below is only the "
                "least bad.")

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"good_match": self.good_match, "rank": self.rank, "fit": self.fit, "best_cosine": self.best_cosine,
                "threshold": self.threshold, "k": self.k, "bank_size": self.bank_size, "message": self.message()}


def judge(scores: np.ndarray, bank_scores: np.ndarray, k: int = VERDICT_K, threshold: float = GOOD_MATCH,
          fits: np.ndarray | None = None) -> Verdict:
    """The verdict of one query over a collection (`fits`: precomputed `bank_fits` of the same collection)."""
    s = np.asarray(scores, np.float64)
    b = np.asarray(bank_scores, np.float64)
    k = int(max(1, min(k, len(s))))
    own = bank_fits(b, k) if fits is None else np.asarray(fits)
    f = fit(s, b, k)
    rank = float((own < f).mean()) if len(own) else float("nan")
    return Verdict(bool(rank >= threshold), rank, f, float(s.max()) if len(s) else float("nan"), float(threshold),
                   k, int(len(b)))
