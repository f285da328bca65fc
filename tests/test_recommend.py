"""Recommendations and retrieval metrics on hand-made examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.recommend.metrics import (
    bootstrap_ci,
    chance_level,
    genre_cosine_gap,
    hit_rate_at_k,
    paired_bootstrap_diff,
    precision_at_k,
    tag_jaccard_at_k,
)
from core.recommend.similarity import effective_k, hit_counts, recommend, top_k

# 6 tracks on a circle: 0,1,2 near angle 0 (genre a), 3,4,5 near angle pi (genre b)
ANG = np.array([0.0, 0.1, 0.3, 3.1, 3.2, 3.4])
EMB = np.stack([np.cos(ANG), np.sin(ANG)], 1).astype(np.float32)
GENRES = np.array(["a", "a", "b", "b", "b", "a"], dtype=object)  # 2 and 5 are "mislabelled"
ARTISTS = np.array(["x", "x", "y", "z", "z", ""], dtype=object)


def test_recommend_excludes_query_and_orders_by_cosine() -> None:
    idx, sc = recommend(EMB, [0, 3], k=3)
    assert idx.tolist() == [[1, 2, 5], [4, 5, 2]]  # angle 3.4 is nearer to 0 than 3.1
    assert 0 not in idx[0] and 3 not in idx[1]
    assert np.all(np.diff(sc, axis=1) <= 1e-6)


def test_same_artist_exclusion() -> None:
    idx, _ = recommend(EMB, [0, 3, 5], k=2, artists=ARTISTS, exclude_same_artist=True)
    assert 1 not in idx[0]  # 1 shares artist x with query 0
    assert 4 not in idx[1]  # 4 shares artist z with query 3
    assert idx[2].tolist() == [4, 3]  # empty artist: nothing excluded


def test_fewer_tracks_than_k_reduces_k_with_warning() -> None:
    with pytest.warns(UserWarning, match="using K=5"):
        assert effective_k(10, 5) == 5
    idx, sc = recommend(EMB, [0], k=10)
    assert idx.shape == (1, 5)
    with pytest.raises(ValueError):
        effective_k(10, 0)
    rows, _ = top_k(EMB, 0, 3, candidate_mask=np.array([True, True, False, False, False, False]))
    assert rows.tolist() == [1]


def test_precision_at_k_hand_computed() -> None:
    rec = np.array([[1, 2, 3], [4, 5, 2]])
    p = precision_at_k(GENRES, np.array([0, 3]), rec)
    # query 0 (a): recs a, b, b -> 1/3 ; query 3 (b): recs b, a, b -> 2/3
    assert p == pytest.approx([1 / 3, 2 / 3])
    assert hit_rate_at_k(GENRES, np.array([0, 3]), rec).tolist() == [1.0, 1.0]
    assert hit_rate_at_k(ARTISTS, np.array([0, 5]), rec).tolist()[0] == 1.0
    assert np.isnan(hit_rate_at_k(ARTISTS, np.array([0, 5]), rec)[1])  # unlabelled query


def test_chance_levels_and_tag_jaccard() -> None:
    q = np.array([0, 3])
    # query 0 (a): candidates 1..5 with labels a,b,b,b,a -> 2/5 ; query 3 (b): a,a,b,b,a -> 2/5
    assert chance_level("precision", GENRES, q) == pytest.approx([0.4, 0.4])
    # P(at least one of 2 random picks from 5 with 2 positives) = 1 - (3/5)(2/4) = 0.7
    assert chance_level("hit_rate", GENRES, q, 2) == pytest.approx([0.7, 0.7])
    tags = np.array(["p|q", "p", "q", "r", "", "p|q"], dtype=object)
    tj = tag_jaccard_at_k(tags, np.array([0]), np.array([[1, 5]]))
    assert tj == pytest.approx([(0.5 + 1.0) / 2])
    assert chance_level("tag_jaccard", tags, np.array([0]))[0] == pytest.approx((0.5 + 0.5 + 0 + 0 + 1) / 5)
    # same-artist excluded: query 0 (a, artist x) loses candidate 1 -> b,b,b,a -> 1/4;
    # query 3 (b, artist z) loses candidate 4 -> a,a,b,a -> 1/4
    assert chance_level("precision", GENRES, q, artists=ARTISTS, exclude_same_artist=True) == pytest.approx(
        [0.25, 0.25])
    with pytest.raises(ValueError, match="unknown chance kind"):
        chance_level("recall", GENRES, q)


def test_bootstrap_is_reproducible_and_brackets_mean() -> None:
    v = np.random.default_rng(1).random(50)
    a, b = bootstrap_ci(v, 500, seed=3), bootstrap_ci(v, 500, seed=3)
    assert a == b and a.lo <= a.mean <= a.hi
    assert np.isnan(bootstrap_ci(np.array([np.nan])).mean)
    d = paired_bootstrap_diff(v + 1, v, 200, 0)
    assert d.mean == pytest.approx(1.0) and d.width == pytest.approx(0.0, abs=1e-9)


def test_genre_cosine_gap() -> None:
    g = genre_cosine_gap(EMB, np.array(["a", "a", "a", "b", "b", "b"], dtype=object))
    assert g["same"] > 0.9 and g["different"] < -0.9 and g["gap"] > 1.8


def test_hit_counts() -> None:
    tracks = pd.DataFrame({"row": range(6), "track_id": list("uvwxyz"), "genre": GENRES, "artist": ARTISTS,
                           "tags": ["p|q", "p", "q", "r", "", "p|q"]})
    h = hit_counts(tracks, 0, [1, 2, 5])
    assert (h.k, h.genre_hits, h.artist_hits) == (3, 2, 1)
    assert h.tag_jaccard == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert hit_counts(tracks, 5, [0]).artist_hits is None
