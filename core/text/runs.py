"""One text-search training run from precomputed embeddings to metrics: pair table, AudioProjection trained
with the one training loop (early stopping on val loss, TensorBoard loss and temperature curves), evaluation
of val and test, projected audio for the app, metrics.json entry, report and experiments row.

```python
result = run_clap(Path("artifacts/musiccaps_mini"), ClapConfig(audio_encoder="baseline"))
```
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.io import git_commit, utc_now, write_json
from core.nn.loop import FitResult, TrainConfig
from core.text.evaluation import SplitEvaluation, evaluate_pairs
from core.text.table import PairTable, audio_embedding, build_pair_table, clap_dir


def _default_train() -> TrainConfig:
    """Training defaults of a projection: small batches (the in-batch task is 32), early stopping, 1 thread."""
    return TrainConfig(run_name="clap", max_epochs=300, patience=20, lr=1e-3, weight_decay=1e-4, batch_size=32,
                       num_threads=1, log_images_every=0, grad_clip=5.0)


@dataclass
class ClapConfig:
    """Settings of one projection run (the CLI's defaults come from here)."""

    audio_encoder: str = "baseline"
    text_encoder: str = "minilm"
    head: str = "linear"
    hidden: int = 512
    dropout: float = 0.2
    init_temperature: float = 0.07
    min_temperature: float = 0.01
    max_temperature: float = 1.0
    learn_temperature: bool = True
    eval_batch_size: int = 32
    n_boot: int = 1000
    captions_csv: Path | None = None
    train: TrainConfig = field(default_factory=_default_train)

    def run_name(self, text_slug: str) -> str:
        """Checkpoint/TensorBoard name: clap_<audio>__<text>[_mlp]."""
        return f"clap_{self.audio_encoder}__{text_slug}" + ("" if self.head == "linear" else f"_{self.head}")


@dataclass
class ClapRunResult:
    """What one run produced: its key in metrics.json, the fit, val/test scores and the files written."""

    run: str
    fit: FitResult
    evaluations: dict[str, SplitEvaluation]
    table: PairTable
    metrics_path: Path
    report_path: Path
    entry: dict[str, Any] = field(default_factory=dict)


def loaders(table: PairTable, batch_size: int, seed: int) -> tuple[Any, Any]:
    """(train, val) DataLoaders over the pair table; the train loader shuffles and drops a 1-item last batch."""
    import torch
    from torch.utils.data import DataLoader

    from core.text.clap import AudioTextDataset

    train, val = table.subset("train"), table.subset("val")
    if len(train) < 2 or len(val) < 2:
        raise ValueError(f"need captions in the train and val splits (have train {len(train)}, val {len(val)}); "
                         "a test-only dataset (e.g. AudioCaps mini) is evaluated with --eval-data from another run")
    gen = torch.Generator().manual_seed(seed)
    drop = len(train) % batch_size == 1
    return (DataLoader(AudioTextDataset(train), batch_size=batch_size, shuffle=True, generator=gen, drop_last=drop),
            DataLoader(AudioTextDataset(val), batch_size=batch_size, shuffle=False))


def build_model(cfg: ClapConfig, table: PairTable) -> Any:
    """A fresh AudioProjection for the table's dimensions, standardised on the train clips."""
    from core.text.clap import AudioProjection

    model = AudioProjection(table.audio.shape[1], table.text.shape[1], cfg.head, cfg.hidden, cfg.dropout,
                            cfg.init_temperature, cfg.min_temperature, cfg.max_temperature, cfg.learn_temperature)
    train = table.subset("train")
    _, first = np.unique(train.row, return_index=True)
    model.set_standardisation(train.audio[first])
    return model


def evaluate_model(model: Any, table: PairTable, splits: tuple[str, ...], batch_size: int, n_boot: int,
                   seed: int) -> dict[str, SplitEvaluation]:
    """Scores of the projection on each split that has at least two captions."""
    out = {}
    for split in splits:
        part = table.subset(split)
        if len(part) >= 2:
            out[split] = evaluate_pairs(model.project(part.audio), part.text, part.row, split, batch_size, n_boot,
                                        seed)
    return out


def write_projected(ds_dir: Path, run: str, model: Any, audio_encoder: str) -> Path:
    """`<ds>/clap/models/<run>/audio.npy`: every cached track's projected unit vector (what the app searches)."""
    from core.audio.cache import FeatureCache

    n = len(FeatureCache.open(ds_dir).tracks)
    proj = model.project(audio_embedding(ds_dir, audio_encoder, n)).astype(np.float32)
    path = clap_dir(ds_dir) / "models" / run / "audio.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, proj)
    return path


def _history(fit: FitResult) -> list[dict[str, float]]:
    """Per-epoch loss and temperature curves of a fit."""
    keys = ("epoch", "train_loss", "val_loss", "train_temperature", "val_temperature")
    return [{k: float(h[k]) for k in keys if k in h} for h in fit.history]


def _entry(cfg: ClapConfig, run: str, table: PairTable, fit: FitResult, evals: dict[str, SplitEvaluation],
           model: Any, ds_dir: Path) -> dict[str, Any]:
    """The metrics.json entry of one run."""
    from core.recommend.embeddings import load_embedding

    _, side = load_embedding(ds_dir, cfg.audio_encoder)
    return {
        "run": run, "audio_encoder": cfg.audio_encoder, "family": side.get("family", "classic" if
                                                                             cfg.audio_encoder == "baseline" else ""),
        "text_encoder": table.text_encoder, "head": cfg.head, "audio_dim": int(table.audio.shape[1]),
        "text_dim": int(table.text.shape[1]), "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "temperature": float(model.temperature.detach()), "date": utc_now(), "git_commit": git_commit(),
        "config": {k: v for k, v in asdict(cfg).items() if k != "train"}, "train": cfg.train.to_dict(),
        "fit": {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "stopped_reason": fit.stopped_reason,
                "wall_s": fit.wall_s, "best_val_loss": fit.best_val_loss, "best_train_loss": fit.best_train_loss},
        "history": _history(fit), "n_clips": {s: int(len(np.unique(table.subset(s).row)))
                                              for s in ("train", "val", "test")},
        "checkpoint": str(fit.best_checkpoint), "captions": table.info,
        "splits": {s: e.to_dict() for s, e in evals.items()},
        "projected_audio": str(clap_dir(ds_dir) / "models" / run / "audio.npy"),
    }


def update_metrics(ds_dir: Path, entry: dict[str, Any]) -> Path:
    """Add (or replace) one run in `<ds>/clap/metrics.json`, keeping every other run."""
    from core.text.report import read_metrics

    path = clap_dir(ds_dir) / "metrics.json"
    metrics = read_metrics(ds_dir) or {"dataset": Path(ds_dir).name, "runs": {}}
    metrics["runs"][entry["run"]] = entry
    metrics["updated"] = utc_now()
    write_json(path, metrics)
    return path


def experiments_row(entry: dict[str, Any]) -> dict[str, Any]:
    """The experiments.csv row of a run (test-pool R@10 both ways with chance)."""
    test = entry["splits"].get("test", {}).get("pool", {})
    row = {"date": entry["date"], "run": entry["run"], "model": f"clap_{entry['head']}",
           "git_commit": entry["git_commit"],
           "audio_encoder": entry["audio_encoder"], "text_encoder": entry["text_encoder"],
           "epochs": entry["fit"]["epochs"], "best_epoch": entry["fit"]["best_epoch"],
           "best_val_loss": entry["fit"]["best_val_loss"], "wall_s": round(entry["fit"]["wall_s"], 1),
           "batch_size": entry["train"]["batch_size"], "temperature": round(entry["temperature"], 4)}
    for d in ("text_to_audio", "audio_to_text"):
        if test:
            row[f"test_{d}_R@10"] = test["model"][d]["R@10"]["mean"]
            row[f"test_{d}_chance_R@10"] = test["random_analytic"][d]["R@10"]
    return row


def run_clap(ds_dir: Path, cfg: ClapConfig, text_encoder: Any = None, progress: bool = True) -> ClapRunResult:
    """Train and evaluate one projection on a prepared dataset (see the module docstring)."""
    from core.nn.experiments import append_run
    from core.nn.loop import fit, seed_everything
    from core.text.encoders import encoder_slug, load_text_encoder
    from core.text.report import write_report

    ds_dir = Path(ds_dir)
    enc = text_encoder or load_text_encoder(cfg.text_encoder)
    table = build_pair_table(ds_dir, cfg.audio_encoder, enc, cfg.captions_csv, progress)
    run = cfg.run_name(encoder_slug(enc.name))
    train_loader, val_loader = loaders(table, cfg.train.batch_size, cfg.train.seed)
    seed_everything(cfg.train.seed)  # the initial weights too, so a run is reproducible
    model = build_model(cfg, table)
    tcfg = TrainConfig(**{**cfg.train.__dict__, "run_name": run, "out_dir": ds_dir, "progress": progress})
    result = fit(model, train_loader, val_loader, tcfg)
    evals = evaluate_model(model, table, ("val", "test"), cfg.eval_batch_size, cfg.n_boot, cfg.train.seed)
    write_projected(ds_dir, run, model, cfg.audio_encoder)
    entry = _entry(cfg, run, table, result, evals, model, ds_dir)
    metrics_path = update_metrics(ds_dir, entry)
    report_path = write_report(ds_dir)
    append_run(ds_dir, experiments_row(entry))
    return ClapRunResult(run, result, evals, table, metrics_path, report_path, entry)


def _minimal(ev: SplitEvaluation) -> dict[str, Any]:
    """The cross-dataset file's required figures (whole pool, fractions) from one evaluation."""
    pool = ev.pool
    out: dict[str, Any] = {"n": ev.n_clips, "n_captions": ev.n_pairs}
    for d in ("text_to_audio", "audio_to_text"):
        out[d] = {f"R@{k}": pool.model[d].recall[k].mean for k in (1, 10)}
    out["random"] = {f"R@{k}": pool.chance["text_to_audio"][k] for k in (1, 10)}
    out["random_audio_to_text"] = {f"R@{k}": pool.chance["audio_to_text"][k] for k in (1, 10)}
    return out


def evaluate_elsewhere(ds_dir: Path, entry: dict[str, Any], model: Any, other_dir: Path, text_encoder: Any,
                       n_boot: int = 1000, seed: int = 0, progress: bool = True) -> Path:
    """Evaluate a projection trained on `ds_dir` on every usable clip of `other_dir` (same audio and text
    encoders) and merge the result into `<ds>/clap/eval_<other folder name>.json`."""
    from core.text.report import write_report

    other_dir = Path(other_dir)
    table = build_pair_table(other_dir, entry["audio_encoder"], text_encoder, None, progress)
    ev = evaluate_pairs(model.project(table.audio), table.text, table.row, "all", entry["splits"].get(
        "test", {}).get("batch_size", 32), n_boot, seed)
    path = clap_dir(ds_dir) / f"eval_{other_dir.name}.json"
    from core.text.report import read_json

    old = read_json(path) or {}
    runs = dict(old.get("runs", {}))
    runs[entry["run"]] = {**_minimal(ev), "detail": ev.to_dict(), "captions": table.info}
    chance10 = ev.pool.chance["text_to_audio"][10]
    note = (f"With {ev.n_clips} clips, chance text→audio R@10 is already {chance10 * 100:.0f} %: this pool is too "
            "small to separate models." if ev.n_clips <= 30 else "")
    top = {**_minimal(ev), "run": entry["run"]}
    if entry["head"] != "linear" and old.get("run") in runs:  # the top-level figures stay a linear run's
        top = {k: old[k] for k in ("n", "n_captions", "text_to_audio", "audio_to_text", "random",
                                   "random_audio_to_text", "run") if k in old}
    write_json(path, {**top, "dataset": other_dir.name, "trained_on": Path(ds_dir).name, "date": utc_now(),
                      "note": note, "runs": runs})
    write_report(ds_dir)
    return path
