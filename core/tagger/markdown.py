"""report.md of a tagger run: what was evaluated, the comparison table with CIs, per-class report, caveats."""

from __future__ import annotations

import pandas as pd

from core.io import to_markdown

SINGLE = ("accuracy", "macro_f1")
MULTI = ("mAP", "macro_f1", "pos_hit_rate", "accuracy")


def fmt_estimate(e: dict) -> str:
    """'0.520 [0.430, 0.610]' from an Estimate dict."""
    if not e or e.get("n", 0) == 0 or e.get("mean") != e.get("mean"):
        return "n/a"
    lo, hi = e.get("lo"), e.get("hi")
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else ""
    return f"{e['mean']:.3f}{ci}"


def methods_table(ev: dict, multi: bool) -> pd.DataFrame:
    """One row per method of one evaluated set."""
    keys = MULTI if multi else SINGLE
    rows = []
    for m in ev["methods"]:
        row = {"method": m["method"], "tracks": m["n_tracks"]}
        row.update({("track " + k if k == "accuracy" else k): fmt_estimate(m.get(k, {})) for k in keys})
        if multi:
            row["F1 threshold (val)"] = m.get("threshold", 0.5)
        rows.append(row)
    return pd.DataFrame(rows)


def _header(metrics: dict) -> list[str]:
    """Title and the facts every figure depends on."""
    s, w, tr = metrics["split_sizes"], metrics["window"], metrics["training"]
    lines = [f"# Tagger report: {metrics['dataset']} / {metrics['run']}", "",
             f"- target `{metrics['target']}` ({'multi' if metrics['multi_label'] else 'single'}-label), "
             f"{len(metrics['classes'])} classes; loss `{metrics['loss']}` {metrics['loss_kwargs'] or ''}",
             f"- windows {w['window_s']:.2f} s ({w['window_frames']} frames), hop {w['hop_s']:.2f} s "
             f"({w['hop_frames']} frames); track prediction = mean of its window probabilities",
             f"- labelled tracks: train {s['train']}, val {s['val']}, test {s['test']}; chance (uniform) "
             f"{metrics['chance_uniform']:.3f}",
             f"- training: {tr['epochs']} epochs ({tr['stopped']}, best epoch {tr['best_epoch']}), {tr['wall_s']} s, "
             f"about {tr['windows_per_s']:.0f} windows/s; early stopping used the val split, so val figures are "
             "optimistic for the CNN",
             f"- mean [95% percentile bootstrap CI over tracks, {metrics.get('n_boot', 1000)} resamples]; macro-F1 "
             "over the classes present "
             "in the evaluated tracks' labels"]
    if metrics["dropped_classes"]:
        lines.append(f"- dropped (fewer than 2 tracks): {', '.join(metrics['dropped_classes'][:30])}"
                     + (" ..." if len(metrics["dropped_classes"]) > 30 else ""))
    return lines


def render_report(metrics: dict, class_report: str) -> str:
    """The whole report.md."""
    multi = metrics["multi_label"]
    lines = _header(metrics)
    for name, ev in metrics["evaluations"].items():
        lines += ["", f"## {name}: {ev['n_tracks']} tracks", ""]
        if ev["n_tracks"] == 0:
            lines.append("No labelled tracks in this set.")
            continue
        lines.append(to_markdown(methods_table(ev, multi)))
        win = ev.get("window") or {}
        if win:
            key = "accuracy"
            m_ap = f", mAP {fmt_estimate(win['mAP'])}" if multi else ""
            lines += ["", f"Window level (CNN, {win[key]['n']} windows): accuracy {fmt_estimate(win[key])}, "
                      f"macro-F1 {fmt_estimate(win['macro_f1'])}{m_ap}"]
    cv = metrics.get("cross_validation")
    if cv:
        lines += ["", f"## Grouped-by-artist cross-validation: {cv['n_folds']} folds, {cv['n_tracks']} tracks", "",
                  cv["note"], "", to_markdown(methods_table(cv, multi))]
    lines += ["", f"## Classification report (CNN, track level, {metrics['eval_split']} split)", "", "```",
              class_report.rstrip(), "```", "", "Confusion matrix: `confusion_matrix.csv` / `.png` (same tracks)."]
    return "\n".join(lines) + "\n"
