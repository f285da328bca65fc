"""Calibrated text-search scores and an honest "no good match".

A raw cosine between a query and a track says little on its own: its scale differs from query to query and
from track to track, and the best of N tracks always has *some* cosine. The null model here is a **bank of
reference descriptions** written without looking at any collection: ~130 short texts over many genres,
instruments, moods and scenes, plus a few everyday non-music sounds. For a track x, the bank gives the cosines
that descriptions *not chosen for x* reach on x. The calibrated score of a query on x is the share of the bank
it beats there:

    calibrated(q, x) = #{b in bank : cos(b, x) < cos(q, x)} / |bank|

0.97 reads "this query fits this track better than 97 % of the reference descriptions". The query has **no good
match** in a collection when none of its top-K tracks (by cosine) reaches `GOOD_MATCH` — when, even on the tracks
it likes best, most unrelated descriptions fit as well.

```python
cal = calibrate(scores, bank_scores)            # scores [n_tracks], bank_scores [n_bank, n_tracks]
verdict = judge(scores, bank_scores, k=10)      # verdict.good_match, verdict.best_calibrated
```
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GOOD_MATCH = 0.9  # a query must beat 90 % of the reference descriptions on one of its top-K tracks
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
    """The reference descriptions (fixed order; 130 texts)."""
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


@dataclass
class Verdict:
    """Whether a query has a good match among its top-K tracks, and the numbers behind the call."""

    good_match: bool
    best_calibrated: float  # the highest calibrated score among the top-K tracks
    best_cosine: float
    threshold: float
    k: int
    bank_size: int

    def message(self) -> str:
        """One plain sentence for the page and the CLI."""
        pct = f"{self.best_calibrated * 100:.0f} %"
        if self.good_match:
            return (f"Good match: on its best track the query fits better than {pct} of {self.bank_size} "
                    "reference descriptions.")
        return (f"No good match: even on its top {self.k} tracks the query fits no better than {pct} of "
                f"{self.bank_size} unrelated reference descriptions (a good match needs "
                f"{self.threshold * 100:.0f} %); this collection probably has nothing like it.")

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"good_match": self.good_match, "best_calibrated": self.best_calibrated,
                "best_cosine": self.best_cosine, "threshold": self.threshold, "k": self.k,
                "bank_size": self.bank_size, "message": self.message()}


def judge(scores: np.ndarray, bank_scores: np.ndarray, k: int = 10, threshold: float = GOOD_MATCH) -> Verdict:
    """The verdict of one query over a collection: good when a top-k track (by cosine) has calibrated >= threshold."""
    s = np.asarray(scores, np.float64)
    k = int(min(max(k, 1), len(s)))
    top = np.argsort(-s, kind="stable")[:k]
    cal = calibrate(s[top], np.asarray(bank_scores)[:, top])
    best = float(np.nanmax(cal)) if len(cal) else float("nan")
    return Verdict(bool(best >= threshold), best, float(s[top[0]]) if k else float("nan"), float(threshold), k,
                   int(np.asarray(bank_scores).shape[0]))
