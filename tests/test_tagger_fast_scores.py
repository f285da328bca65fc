"""The tagger's bootstrap macro-F1 (computed once per resample) equals sklearn's f1_score on every resample,
single- and multi-label, including labels that a resample never predicts or never contains."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from core.tagger.scores import macro_f1, multi_macro_f1


def test_single_label_macro_f1_equals_sklearn_on_bootstrap_resamples():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 80)
    pred = np.where(rng.random(80) < 0.5, y, rng.integers(0, 8, 80))  # some predictions outside the labels
    labels = np.unique(y)
    for _ in range(50):
        idx = rng.integers(0, 80, 80)
        ref = f1_score(y[idx], pred[idx], labels=labels, average="macro", zero_division=0)
        assert np.isclose(macro_f1(y[idx], pred[idx], labels), ref)


def test_multi_label_macro_f1_equals_sklearn_on_bootstrap_resamples():
    rng = np.random.default_rng(1)
    Y = (rng.random((60, 9)) < 0.2).astype(np.float32)
    Y[:, 8] = 0  # a tag no track has
    pred = ((Y + (rng.random((60, 9)) < 0.15)) > 0.5).astype(int) * (rng.random((60, 9)) < 0.8)
    for _ in range(50):
        idx = rng.integers(0, 60, 60)
        cols = np.flatnonzero(Y[idx].sum(0) > 0)
        ref = f1_score(Y[idx][:, cols], pred[idx][:, cols], average="macro", zero_division=0)
        assert np.isclose(multi_macro_f1(Y[idx], pred[idx]), ref)
