"""Train, evaluate and report a general text-search model in one call (what `train.text_model` runs), and
answer one query (what `train.text_query` runs).

```python
info = train_text_model([Path("artifacts/musiccaps_mini"), Path("artifacts/gtzan_mini")],
                        Path("artifacts/text_models/general"), TextModelConfig(),
                        eval_datasets=[Path("artifacts/emotion4q")])
result = text_query(Path("artifacts/text_models/general"), Path("artifacts/mine"), "sad piano", k=10)
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.io import write_json
from core.text.general import TextModelConfig, fit_projection
from core.text.query import QueryResult, load_text_model


def evaluate_everywhere(model: Any, datasets: list[Path], eval_datasets: list[Path], n_boot: int = 1000,
                        seed: int = 0) -> dict[str, Any]:
    """Zero-shot figures per dataset and split: val and test of the training datasets (their test tracks and
    artists were never trained on), and also every track ("all") of the evaluation-only datasets."""
    from core.text.zeroshot import evaluate_dataset, verdict_check

    out: dict[str, Any] = {}
    for ds in [*datasets, *eval_datasets]:
        ds = Path(ds)
        splits = ("val", "test") if ds in datasets else ("val", "test", "all")
        res: dict[str, Any] = {"trained_on": ds in datasets}
        for split in splits:
            try:
                res[split] = evaluate_dataset(model, ds, split, n_boot, seed)
            except ValueError as exc:  # a split too small to score
                res[split] = {"skipped": str(exc)}
        res["verdicts"] = verdict_check(model, ds)
        out[ds.name] = res
    return out


def train_text_model(datasets: list[Path], out: Path, cfg: TextModelConfig, eval_datasets: list[Path] | None = None,
                     progress: bool = True) -> dict[str, Any]:
    """Train the projection, evaluate it zero-shot, write model.json (with `evaluation`) and report.md."""
    from core.text.general_report import write_text_model_report
    from core.text.zeroshot import verdict_cases

    datasets = [Path(d) for d in datasets]
    result = fit_projection(datasets, out, cfg, progress=progress)
    model = load_text_model(out)
    info = dict(result.info)
    info["verdict_cases"] = [c for ds in datasets for c in verdict_cases(model, ds, "val")]
    info["evaluation"] = evaluate_everywhere(model, datasets, [Path(d) for d in eval_datasets or []], cfg.n_boot,
                                             cfg.train.seed)
    write_json(Path(out) / "model.json", info)
    write_text_model_report(Path(out), info)
    return info


def text_query(model_dir: Path, ds_dir: Path, query: str, k: int = 10) -> QueryResult:
    """The top-k tracks of a prepared dataset for one text, with calibrated scores and the verdict."""
    return load_text_model(model_dir).query(Path(ds_dir), query, k)
