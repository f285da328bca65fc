"""Evaluation files of a tagger run: metrics.json, report.md, the classification report, the confusion
matrix (CSV + PNG), per-window and per-track predictions, one experiments row.

Layout: `<ds>/tagger/runs/<run>/` holds each run's files; `<ds>/tagger/` holds a copy of the latest run's
(what the app shows); each run also appends one row to `<ds>/experiments.csv/.md`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix

from core.io import atomic_write_text, utc_now, write_csv, write_json
from core.nn.experiments import append_run
from core.nn.loop import FitResult
from core.recommend.metrics import Estimate
from core.tagger.probes import linear_probe, majority_probs, probe_features
from core.tagger.run import TaggerConfig, TaggerData, WindowPredictions
from core.tagger.scores import best_threshold, multi_label_scores, single_label_scores

CNN = "SpectrogramCNN"
FILES = ("metrics.json", "report.md", "classification_report.txt", "confusion_matrix.csv", "confusion_matrix.png",
         "windows.csv", "tracks.csv")


@dataclass
class MethodProbs:
    """Track-level class probabilities of one method for every track row (NaN rows: no prediction)."""

    method: str
    probs: np.ndarray
    threshold: float = 0.5


def method_probs(data: TaggerData, cfg: TaggerConfig, wp: WindowPredictions) -> list[MethodProbs]:
    """The CNN, the majority class and a logistic-regression probe per feature set, for every track."""
    n = len(data.fc.tracks)
    train = data.splits["train"]
    out = [MethodProbs(f"{CNN} ({cfg.loss})", wp.track_probs(np.arange(n))),
           MethodProbs("majority class (train prior)", majority_probs(data.labels, train, n))]
    for name, X in probe_features(data.fc, data.fc.ds_dir).items():
        out.append(MethodProbs(f"logistic regression: {name}", linear_probe(X, data.labels, train, np.arange(n))))
    if data.labels.multi_label and len(data.splits["val"]):
        val = data.splits["val"]
        for m in out:
            m.threshold = best_threshold(data.labels.y[val], m.probs[val])
    return out


def score_rows(data: TaggerData, m: MethodProbs, rows: np.ndarray, n_boot: int) -> dict[str, Estimate]:
    """Scores of one method on the given (labelled) track rows."""
    P, y = m.probs[rows], data.labels.y[rows]
    if data.labels.multi_label:
        return multi_label_scores(y, P, m.threshold, n_boot)
    return single_label_scores(y, P, n_boot)


def eval_sets(data: TaggerData, cfg: TaggerConfig) -> dict[str, np.ndarray]:
    """Evaluated track sets: the chosen split first, then val and every non-train track."""
    s = data.splits
    sets = {cfg.eval_split: s.get(cfg.eval_split, np.zeros(0, np.int64))}
    sets.setdefault("val", s["val"])
    sets["val+test (all non-train)"] = np.concatenate([s["val"], s["test"]])
    return sets


def window_scores(data: TaggerData, wp: WindowPredictions, rows: np.ndarray, n_boot: int) -> dict[str, Estimate]:
    """Window-level scores of the CNN on the windows of `rows`."""
    sel = np.isin(wp.rows, rows)
    y = data.labels.y[wp.rows[sel]]
    if data.labels.multi_label:
        return multi_label_scores(y, wp.probs[sel], 0.5, n_boot)
    return single_label_scores(y, wp.probs[sel], n_boot)


def _est(e: Estimate) -> dict[str, float]:
    return e.to_dict()


def evaluate_run(data: TaggerData, cfg: TaggerConfig, wp: WindowPredictions, fit: FitResult) -> dict:
    """metrics.json content: headline `test` figures, every method on every evaluated set, training facts."""
    methods = method_probs(data, cfg, wp)
    evaluations = {}
    for set_name, rows in eval_sets(data, cfg).items():
        table = [{"method": m.method, "n_tracks": int(len(rows)),
                  **({"threshold": m.threshold} if data.labels.multi_label else {}),
                  **{k: _est(v) for k, v in score_rows(data, m, rows, cfg.n_boot).items()}} for m in methods]
        evaluations[set_name] = {"n_tracks": int(len(rows)), "methods": table,
                                 "window": {k: _est(v) for k, v in window_scores(data, wp, rows, cfg.n_boot).items()}
                                 if len(rows) else {}}
    return {"dataset": data.fc.ds_dir.name, "run": cfg.name(), "target": cfg.target, "loss": cfg.loss,
            "loss_kwargs": cfg.loss_kwargs(), "classes": list(data.labels.classes),
            "dropped_classes": list(data.labels.dropped), "multi_label": data.labels.multi_label,
            "checkpoint": f"checkpoints/{cfg.name()}/best.pt", "date": utc_now(),
            "window": {"window_s": data.spec.window_s, "hop_s": data.spec.hop_s, **data.spec.to_dict()},
            "split_sizes": {k: int(len(v)) for k, v in data.splits.items()},
            "chance_uniform": 1.0 / len(data.labels.classes), "eval_split": cfg.eval_split, "n_boot": cfg.n_boot,
            "test": headline(evaluations[cfg.eval_split], data.labels.multi_label),
            "evaluations": evaluations, "training": training_facts(fit)}


def headline(ev: dict, multi: bool) -> dict:
    """The `test` block: track_accuracy, macro_f1, majority_accuracy, n_tracks (+ window and mAP figures)."""
    cnn, maj = ev["methods"][0], ev["methods"][1]
    out = {"track_accuracy": cnn["accuracy"]["mean"], "macro_f1": cnn["macro_f1"]["mean"],
           "majority_accuracy": maj["accuracy"]["mean"], "majority_macro_f1": maj["macro_f1"]["mean"],
           "n_tracks": ev["n_tracks"], "track_accuracy_ci": [cnn["accuracy"]["lo"], cnn["accuracy"]["hi"]],
           "macro_f1_ci": [cnn["macro_f1"]["lo"], cnn["macro_f1"]["hi"]]}
    if ev.get("window"):
        out["window_accuracy"] = ev["window"]["accuracy"]["mean"]
        out["window_macro_f1"] = ev["window"]["macro_f1"]["mean"]
        out["n_windows"] = ev["window"]["accuracy"]["n"]
    if multi:
        out.update(mAP=cnn["mAP"]["mean"], pos_hit_rate=cnn["pos_hit_rate"]["mean"], majority_mAP=maj["mAP"]["mean"])
    return out


def training_facts(fit: FitResult) -> dict:
    """Epochs, stop reason, wall time and throughput of the fit."""
    wps = [h.get("windows_per_s", float("nan")) for h in fit.history]
    return {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "stopped": fit.stopped_reason,
            "wall_s": round(fit.wall_s, 1), "best_val_loss": fit.best_val_loss,
            "windows_per_s": float(np.median(wps)) if wps else float("nan"), "history": list(fit.history)}


def predictions_tables(data: TaggerData, wp: WindowPredictions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(windows.csv, tracks.csv): per-window probabilities and per-track prediction vs truth."""
    classes, tracks = data.labels.classes, data.fc.tracks
    win = pd.DataFrame(wp.probs, columns=[f"p_{c}" for c in classes])
    win.insert(0, "start_s", np.round(wp.starts * data.spec.frame_s, 3))
    win.insert(0, "track_id", tracks["track_id"].to_numpy()[wp.rows])
    win.insert(0, "row", wp.rows)
    P = wp.track_probs(np.arange(len(tracks)))
    ok = np.isfinite(P).all(1)
    pred = np.where(ok, np.nan_to_num(P).argmax(1), -1)
    tr = pd.DataFrame({"row": np.arange(len(tracks)), "track_id": tracks["track_id"], "split": tracks["split"],
                       "true": [data.labels.name_of(r) for r in range(len(tracks))],
                       "predicted": [classes[p] if p >= 0 else "" for p in pred],
                       "p_predicted": np.where(ok, np.nan_to_num(P).max(1), np.nan).round(4)})
    return win, tr


def confusion_files(data: TaggerData, P: np.ndarray, rows: np.ndarray, out: Path) -> str:
    """classification_report.txt and confusion_matrix.{csv,png} of track predictions on `rows`; the report text."""
    classes, y = data.labels.classes, data.labels.y[rows]
    labels = list(range(len(classes)))
    if data.labels.multi_label:
        from sklearn.metrics import multilabel_confusion_matrix

        pred = (P[rows] >= 0.5).astype(int)
        mcm = multilabel_confusion_matrix(y.astype(int), pred, labels=labels)
        cm = pd.DataFrame(mcm.reshape(len(classes), 4), index=classes, columns=["tn", "fp", "fn", "tp"])
        text = classification_report(y.astype(int), pred, labels=labels, target_names=classes, zero_division=0)
    else:
        pred = P[rows].argmax(1) if len(rows) else np.zeros(0, int)
        cm = pd.DataFrame(confusion_matrix(y, pred, labels=labels), index=classes, columns=classes)
        text = classification_report(y, pred, labels=labels, target_names=classes, zero_division=0)
    cm.index.name = "true \\ predicted" if not data.labels.multi_label else "class"
    write_csv(cm, out / "confusion_matrix.csv", index=True)
    atomic_write_text(out / "classification_report.txt", text)
    plot_confusion(cm, out / "confusion_matrix.png", f"{data.fc.ds_dir.name}: {len(rows)} tracks")
    return text


def cell_text_colour(value: float, vmax: float) -> str:
    """White on the dark half of the Blues colour map, black on the light half, so every count is readable."""
    return "white" if vmax > 0 and value > 0.5 * vmax else "black"


def plot_confusion(cm: pd.DataFrame, path: Path, title: str) -> None:
    """A labelled heat map of a confusion matrix (counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_r, n_c = cm.shape
    fig, ax = plt.subplots(figsize=(max(4, 0.55 * n_c + 2), max(3.5, 0.45 * n_r + 1.5)))
    ax.imshow(cm.to_numpy(), cmap="Blues")
    ax.set_xticks(range(n_c), [str(c) for c in cm.columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n_r), [str(c) for c in cm.index], fontsize=8)
    for i in range(n_r):
        for j in range(n_c):
            ax.text(j, i, str(int(cm.iat[i, j])), ha="center", va="center", fontsize=7,
                    color=cell_text_colour(float(cm.iat[i, j]), float(cm.to_numpy().max())))
    ax.set_xlabel("predicted" if cm.columns[0] != "tn" else "")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(data: TaggerData, cfg: TaggerConfig, wp: WindowPredictions, fit: FitResult, metrics: dict) -> Path:
    """Write the run's files into tagger/runs/<run>/, copy them to tagger/ and append the experiments row."""
    from core.tagger.markdown import render_report

    ds = Path(data.fc.ds_dir)
    out = ds / "tagger" / "runs" / cfg.name()
    out.mkdir(parents=True, exist_ok=True)
    win, tr = predictions_tables(data, wp)
    write_csv(win, out / "windows.csv")
    write_csv(tr, out / "tracks.csv")
    rows = eval_sets(data, cfg)[cfg.eval_split]
    text = confusion_files(data, wp.track_probs(np.arange(len(data.fc.tracks))), rows, out)
    write_json(out / "metrics.json", metrics)
    atomic_write_text(out / "report.md", render_report(metrics, text))
    for f in FILES:
        shutil.copyfile(out / f, ds / "tagger" / f)
    row = experiments_row(metrics)
    append_run(ds, row)
    return out


def experiments_row(metrics: dict) -> dict:
    """One experiments row: run, target, loss, training facts and the headline figures."""
    t, tr = metrics["test"], metrics["training"]
    row = {"date": metrics["date"], "run": metrics["run"], "model": CNN, "target": metrics["target"],
           "loss": metrics["loss"], "n_classes": len(metrics["classes"]), "epochs": tr["epochs"],
           "stopped": tr["stopped"], "best_val_loss": round(float(tr["best_val_loss"]), 4), "wall_s": tr["wall_s"],
           "windows_per_s": round(tr["windows_per_s"], 1), "eval_split": metrics["eval_split"],
           "n_eval_tracks": t["n_tracks"], "track_accuracy": round(t["track_accuracy"], 4),
           "macro_f1": round(t["macro_f1"], 4), "majority_accuracy": round(t["majority_accuracy"], 4)}
    if "mAP" in t:
        row.update(mAP=round(t["mAP"], 4), pos_hit_rate=round(t["pos_hit_rate"], 4))
    return row
