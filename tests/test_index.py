"""Every index kind against exact search on a small random clustered set; save/load gives identical results;
add, bad dimensions, fewer items than k."""

from __future__ import annotations

import numpy as np
import pytest

from core.retrieval.index import KINDS, IndexParams, build_index, load_index, recall_vs_exact


def _data(n=2000, d=32, nq=50, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, d))
    x = centers[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, d))
    q = centers[rng.integers(0, 20, nq)] + 0.5 * rng.normal(size=(nq, d))
    return x.astype(np.float32), q.astype(np.float32)


def test_exact_matches_brute_force():
    x, q = _data()
    ids, scores = build_index("exact", x).search(q, 10)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    ref = np.argsort(-(qn @ xn.T), axis=1)[:, :10]
    assert recall_vs_exact(ids, ref) == 1.0
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize("kind,floor", [("flat", 0.999), ("hnsw", 0.9), ("ivf_flat", 0.8), ("ivf_pq", 0.4)])
def test_recall_against_exact(kind, floor):
    x, q = _data()
    exact, _ = build_index("exact", x).search(q, 10)
    ids, _ = build_index(kind, x, IndexParams(nprobe=8, pq_m=8)).search(q, 10)
    r = recall_vs_exact(ids, exact)
    assert r >= floor, f"{kind} recall@10 {r:.3f} < {floor}"


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_identical(kind, tmp_path):
    x, q = _data(n=1000)
    idx = build_index(kind, x, IndexParams(pq_m=8))
    a_ids, a_sc = idx.search(q, 5)
    path = idx.save(tmp_path / f"i.{kind}")
    for mmap in (True, False):
        back = load_index(path, mmap=mmap)
        b_ids, b_sc = back.search(q, 5)
        assert back.kind == kind and back.ntotal == 1000 and back.dim == 32
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_allclose(a_sc, b_sc, rtol=1e-6)


@pytest.mark.parametrize("kind", ["exact", "flat", "hnsw"])
def test_add_extends_ids(kind):
    x, _ = _data(n=300)
    idx = build_index(kind, x[:200])
    idx.add(x[200:])
    assert idx.ntotal == 300
    ids, scores = idx.search(x[250:251], 1)
    assert ids[0, 0] == 250 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_bad_input_and_small_corpus(tmp_path):
    x, _ = _data(n=5, d=8)
    idx = build_index("exact", x)
    with pytest.raises(ValueError, match="dimensions"):
        idx.search(np.ones((1, 9), np.float32), 3)
    ids, _ = idx.search(x[:1], 10)  # fewer items than k: padded with -1
    assert (ids[0, :5] >= 0).all() and (ids[0, 5:] == -1).all()
    with pytest.raises(ValueError, match="unknown index kind"):
        build_index("annoy", x)
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "nope.hnsw")
