"""One tagger run end to end: train on the one loop, predict every track, evaluate against the
references (majority class, linear probes), cross-validate on request, write `<ds>/tagger/`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.nn.loop import FitResult
from core.tagger.crossval import cross_validate
from core.tagger.report import evaluate_run, write_outputs
from core.tagger.run import TaggerConfig, WindowPredictions, label_warnings, load_data, predict_windows, train_model


@dataclass
class TaggerResult:
    """What one run produced: the fit, the predictions of every track, where the report went."""

    run_name: str
    fit: FitResult
    windows: WindowPredictions
    out_dir: Path
    metrics: dict = field(default_factory=dict)


def run_tagger(ds_dir: Path, cfg: TaggerConfig, log: Callable[[str], None] = print) -> TaggerResult:
    """Train, predict every track, evaluate against the references and write `<ds>/tagger/`."""
    data = load_data(Path(ds_dir), cfg)
    for msg in label_warnings(data.labels):
        log(f"warning: {msg}")
    name = cfg.name()
    model, result, stats = train_model(data, data.splits["train"], data.splits["val"], cfg, name)
    all_rows = np.arange(len(data.fc.tracks))
    wp = predict_windows(model, data.fc, all_rows, stats, data.spec, cfg.train.batch_size)
    metrics = evaluate_run(data, cfg, wp, result)
    if cfg.cv_folds and cfg.cv_folds > 1:
        metrics["cross_validation"] = cross_validate(data, cfg, log)
    out = write_outputs(data, cfg, wp, result, metrics)
    return TaggerResult(name, result, wp, out, metrics)
