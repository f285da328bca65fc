"""One lyrics-classifier run: read, split (by artist), encode once, train the heads (CE and ASL), compare with
the majority class and TF-IDF + logistic regression, and write `<out>/` (metrics.json, report.md, the
classification report, confusion matrix CSV/PNG, predictions.csv, lyrics_model.json, experiments row)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from core.io import atomic_write_text, to_markdown, utc_now, write_csv, write_json
from core.nn.experiments import append_run
from core.tagger.lyrics import (
    LyricsConfig,
    LyricsData,
    LyricsInputError,
    encode_cached,
    head_probs,
    read_lyrics_csv,
    split_songs,
    tfidf_probs,
    train_head,
)
from core.tagger.scores import single_label_scores


@dataclass
class LyricsSet:
    """Training data, evaluation data and the class list after rare genres are dropped."""

    data: LyricsData
    y: np.ndarray
    split: dict[str, np.ndarray]
    classes: list[str]
    dropped: list[str]
    eval_data: LyricsData | None = None
    eval_y: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def _keep(d: LyricsData, mask: np.ndarray) -> LyricsData:
    """The rows of `d` where mask is true (skip counters kept)."""
    return LyricsData([t for t, m in zip(d.texts, mask) if m], d.genres[mask], d.artists[mask], d.titles[mask],
                      d.rows[mask], d.skipped_empty, d.skipped_no_genre)


def build_set(csv: Path, eval_csv: Path | None, cfg: LyricsConfig) -> LyricsSet:
    """Read the CSV(s), drop genres with fewer than 2 songs, split (the eval CSV, if any, is the evaluation set)."""
    data = read_lyrics_csv(csv)
    counts = Counter(data.genres)
    dropped = sorted(g for g, n in counts.items() if n < 2)
    data = _keep(data, ~np.isin(data.genres, dropped))
    classes = sorted(set(data.genres))
    if len(classes) < 2:
        raise LyricsInputError(f"{csv} has fewer than 2 genres with at least 2 songs")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[g] for g in data.genres], dtype=np.int64)
    notes = []
    if eval_csv is None:
        split = _checked_split(csv, y, split_songs(data, cfg.seed), ("train", "val", "test"))
        return LyricsSet(data, y, split, classes, dropped, notes=notes)
    ev = read_lyrics_csv(eval_csv)
    known = np.isin(ev.genres, classes)
    if not known.any():
        raise LyricsInputError(f"{eval_csv} has no song with a genre of the training CSV ({len(ev.texts)} rows "
                               f"with lyrics and genre; training genres: {', '.join(classes)})")
    if (~known).any():
        notes.append(f"{int((~known).sum())} evaluation rows have a genre not in the training CSV and were left out")
    ev = _keep(ev, known)
    sp = split_songs(data, cfg.seed, (0.15, 0.0001))
    split = _checked_split(csv, y, {"train": np.concatenate([sp["train"], sp["test"]]), "val": sp["val"]},
                           ("train", "val"))
    return LyricsSet(data, y, split, classes, dropped, ev, np.array([index[g] for g in ev.genres]), notes)


def _checked_split(csv: Path, y: np.ndarray, split: dict[str, np.ndarray], need: tuple[str, ...]
                   ) -> dict[str, np.ndarray]:
    """The split, or LyricsInputError when a part is empty or training sees fewer than 2 genres."""
    sizes = ", ".join(f"{k} {len(split.get(k, ()))}" for k in need)
    if any(len(split.get(k, ())) == 0 for k in need) or len(np.unique(y[split["train"]])) < 2:
        raise LyricsInputError(f"{csv} has too few songs to train and evaluate ({len(y)} songs; split {sizes}; "
                               f"the training part needs at least 2 genres): give more songs per genre")
    return split


@dataclass
class LyricsResult:
    """Where the run wrote its files and its metrics."""

    out: Path
    metrics: dict


def _methods(ls: LyricsSet, X: np.ndarray, Xe: np.ndarray, ev_texts: list[str], cfg: LyricsConfig, out: Path,
             log: Callable[[str], None]) -> tuple[dict[str, np.ndarray], dict[str, float], str, dict]:
    """Probabilities on the evaluation rows of every method, val macro-F1 of the heads, the chosen head."""
    k, tr, va = len(ls.classes), ls.split["train"], ls.split["val"]
    probs, val_f1, fits = {}, {}, {}
    for loss in cfg.losses:
        head, res = train_head(X, ls.y, ls.split, k, loss, cfg, out)
        name = f"{cfg.encoder} (frozen) + head, {loss}"
        probs[name] = head_probs(head, Xe)
        val_f1[name] = float(f1_score(ls.y[va], head_probs(head, X[va]).argmax(1), average="macro", zero_division=0))
        fits[name] = {"run": f"lyrics_head_{loss}", "epochs": res.epochs, "stopped": res.stopped_reason,
                      "wall_s": round(res.wall_s, 1), "val_macro_f1": round(val_f1[name], 4)}
        log(f"{name}: {res.epochs} epochs ({res.stopped_reason}), val macro-F1 {val_f1[name]:.3f}")
    chosen = max(val_f1, key=val_f1.get)
    texts = ls.data.texts + ev_texts
    tf = tfidf_probs(texts, np.concatenate([ls.y, np.zeros(len(ev_texts), np.int64)]), tr, k)
    probs["TF-IDF + logistic regression"] = tf[len(ls.data.texts):] if ev_texts else tf[ls.split["test"]]
    maj = np.zeros((len(Xe), k))
    maj[:, np.bincount(ls.y[tr], minlength=k).argmax()] = 1.0
    probs["majority class (train)"] = maj
    return probs, val_f1, chosen, fits


def run_lyrics(csv: Path, eval_csv: Path | None, out: Path, cfg: LyricsConfig,
               log: Callable[[str], None] = print) -> LyricsResult:
    """The whole run; LyricsInputError on bad input before anything is written."""
    ls = build_set(Path(csv), Path(eval_csv) if eval_csv else None, cfg)
    out = Path(out)
    ev_texts = ls.eval_data.texts if ls.eval_data is not None else []
    vecs = encode_cached(ls.data.texts + ev_texts, out, cfg.encoder, log)
    X = vecs[: len(ls.data.texts)]
    if ls.eval_data is not None:
        Xe, ye, ev_name = vecs[len(ls.data.texts):], ls.eval_y, f"{Path(eval_csv).name} (--eval-csv)"
    else:
        Xe, ye, ev_name = X[ls.split["test"]], ls.y[ls.split["test"]], "test split"
    probs, val_f1, chosen, fits = _methods(ls, X, Xe, ev_texts, cfg, out, log)
    metrics = lyrics_metrics(ls, probs, ye, chosen, fits, ev_name, cfg)
    write_lyrics_outputs(ls, probs, ye, chosen, metrics, out)
    return LyricsResult(out, metrics)


def lyrics_metrics(ls: LyricsSet, probs: dict[str, np.ndarray], ye: np.ndarray, chosen: str, fits: dict,
                   ev_name: str, cfg: LyricsConfig) -> dict:
    """metrics.json content: the chosen head's `eval` block and every method with CIs."""
    table = []
    for name, P in probs.items():
        sc = single_label_scores(ye, P, cfg.n_boot, cfg.seed)
        table.append({"method": name, "n": int(len(ye)), **{k: v.to_dict() for k, v in sc.items()}})
    by = {r["method"]: r for r in table}
    maj = by["majority class (train)"]
    d = ls.data
    return {"eval": {"accuracy": by[chosen]["accuracy"]["mean"], "macro_f1": by[chosen]["macro_f1"]["mean"],
                     "majority_macro_f1": maj["macro_f1"]["mean"], "majority_accuracy": maj["accuracy"]["mean"],
                     "n": int(len(ye)), "set": ev_name, "model": chosen,
                     "macro_f1_ci": [by[chosen]["macro_f1"]["lo"], by[chosen]["macro_f1"]["hi"]]},
            "methods": table, "heads": fits, "chosen_by": "val macro-F1", "classes": ls.classes,
            "dropped_genres": ls.dropped, "skipped_empty_lyrics": d.skipped_empty,
            "skipped_no_genre": d.skipped_no_genre, "split_by_artist": d.has_artists,
            "split_sizes": {k: int(len(v)) for k, v in ls.split.items()}, "encoder": cfg.encoder,
            "class_counts_eval": {c: int((ye == i).sum()) for i, c in enumerate(ls.classes)},
            "notes": ls.notes, "date": utc_now(), "n_boot": cfg.n_boot}


def _eval_meta(ls: LyricsSet) -> LyricsData:
    """The rows evaluated (the eval CSV, or the test split of the training CSV)."""
    if ls.eval_data is not None:
        return ls.eval_data
    t = ls.split["test"]
    mask = np.zeros(len(ls.data.texts), bool)
    mask[t] = True
    return _keep(ls.data, mask)


def write_lyrics_outputs(ls: LyricsSet, probs: dict[str, np.ndarray], ye: np.ndarray, chosen: str, metrics: dict,
                         out: Path) -> None:
    """Every file of the run (no lyrics text in any of them)."""
    from core.tagger.report import plot_confusion

    out.mkdir(parents=True, exist_ok=True)
    labels, P = list(range(len(ls.classes))), probs[chosen]
    pred = P.argmax(1)
    text = classification_report(ye, pred, labels=labels, target_names=ls.classes, zero_division=0)
    atomic_write_text(out / "classification_report.txt", text)
    cm = pd.DataFrame(confusion_matrix(ye, pred, labels=labels), index=ls.classes, columns=ls.classes)
    cm.index.name = "true \\ predicted"
    write_csv(cm, out / "confusion_matrix.csv", index=True)
    plot_confusion(cm, out / "confusion_matrix.png", f"lyrics: {chosen}, {len(ye)} songs")
    order = np.argsort(ls.split["test"]) if ls.eval_data is None else np.arange(len(ye))
    meta = _eval_meta(ls)
    pr = pd.DataFrame({"csv_row": meta.rows, "artist": meta.artists, "title": meta.titles,
                       "true": [ls.classes[i] for i in ye[order]]})
    for name, Pm in probs.items():
        pr[f"pred: {name}"] = [ls.classes[i] for i in Pm[order].argmax(1)]
    write_csv(pr, out / "predictions.csv")
    write_json(out / "metrics.json", metrics)
    write_json(out / "lyrics_model.json", {"encoder": metrics["encoder"], "classes": ls.classes,
                                           "checkpoint": f"checkpoints/{metrics['heads'][chosen]['run']}/best.pt",
                                           "method": chosen})
    atomic_write_text(out / "report.md", lyrics_report(metrics, text))
    e = metrics["eval"]
    append_run(out, {"date": metrics["date"], "run": metrics["heads"][chosen]["run"], "model": chosen,
                     "eval_set": e["set"], "n": e["n"], "accuracy": round(e["accuracy"], 4),
                     "macro_f1": round(e["macro_f1"], 4), "majority_macro_f1": round(e["majority_macro_f1"], 4)})


def lyrics_report(metrics: dict, class_report: str) -> str:
    """report.md of a lyrics run."""
    from core.tagger.markdown import fmt_estimate

    e, s = metrics["eval"], metrics["split_sizes"]
    rows = [{"method": m["method"], "songs": m["n"], "accuracy": fmt_estimate(m["accuracy"]),
             "macro-F1": fmt_estimate(m["macro_f1"])} for m in metrics["methods"]]
    lines = ["# Lyrics genre classifier", "",
             f"- evaluated on {e['set']}: {e['n']} songs; {len(metrics['classes'])} genres; chance (uniform) "
             f"{1 / len(metrics['classes']):.3f}; split {'by artist' if metrics['split_by_artist'] else 'random'} "
             f"(train {s.get('train')}, val {s.get('val')}, test {s.get('test', '-')})",
             f"- saved model: {e['model']} (chosen by {metrics['chosen_by']})",
             f"- skipped rows: {metrics['skipped_empty_lyrics']} empty lyrics, {metrics['skipped_no_genre']} without "
             f"genre; dropped genres (fewer than 2 songs): {', '.join(metrics['dropped_genres']) or 'none'}",
             f"- mean [95% bootstrap CI over songs, {metrics['n_boot']} resamples]",
             *[f"- {n}" for n in metrics["notes"]],
             "", to_markdown(pd.DataFrame(rows)), "", f"## Classification report ({e['model']})", "", "```",
             class_report.rstrip(), "```"]
    return "\n".join(lines) + "\n"
