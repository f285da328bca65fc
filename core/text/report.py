"""The Markdown report of a dataset's text-search runs (`<ds>/clap/report.md`) from `clap/metrics.json`:
one table comparing every frozen audio encoder, per-run details (pool and in-batch, both directions,
random baselines), loss and temperature curves, cross-dataset results and the conclusions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from core.io import atomic_write_text, to_markdown

D_SHORT = {"text_to_audio": "t→a", "audio_to_text": "a→t"}


def read_metrics(ds_dir: Path | str) -> dict[str, Any] | None:
    """`<ds>/clap/metrics.json` or None when absent/unreadable."""
    try:
        return json.loads((Path(ds_dir) / "clap" / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def fmt(e: dict[str, Any] | None, pct: bool = True) -> str:
    """'12.3 [8.1, 16.0]' (percent) or '0.123 [0.081, 0.160]' (pct=False) of an Estimate dict."""
    if not e or e.get("mean") is None:
        return "n/a"
    f, dig = (100.0, 1) if pct else (1.0, 3)
    return f"{e['mean'] * f:.{dig}f} [{(e['lo'] or 0) * f:.{dig}f}, {(e['hi'] or 0) * f:.{dig}f}]"


def comparison_table(metrics: dict[str, Any], split: str = "test") -> pd.DataFrame:
    """One row per run: test-pool R@1/R@10 both ways with CIs, ×chance, mAP@10, median rank, in-batch R@10."""
    rows = []
    for _, e in sorted(metrics.get("runs", {}).items(), key=lambda kv: kv[0]):
        s = e.get("splits", {}).get(split)
        if not s:
            continue
        pool, ib = s["pool"], s["in_batch"]
        row = {"audio encoder": e["audio_encoder"], "family": e.get("family", ""), "head": e["head"],
               "dim": e["audio_dim"], "epochs (best)": f"{e['fit']['epochs']} ({e['fit']['best_epoch']})"}
        for d, short in D_SHORT.items():
            m = pool["model"][d]
            row[f"{short} R@1 %"] = fmt(m["R@1"])
            row[f"{short} R@10 %"] = fmt(m["R@10"])
            chance = pool["random_analytic"][d]["R@10"]
            row[f"{short} R@10 ×chance"] = f"{m['R@10']['mean'] / chance:.1f}" if chance else "n/a"
            row[f"{short} mAP@10"] = fmt(m["mAP@10"], pct=False)
            row[f"{short} med. rank"] = f"{m['median_rank']:.0f} / {m['n_candidates']}"
            row[f"{short} in-batch R@10 %"] = fmt(ib["model"][d]["R@10"])
        rows.append(row)
    return pd.DataFrame(rows)


def chance_rows(split_scores: dict[str, Any]) -> pd.DataFrame:
    """Random baselines of one split: analytic and the sampled random scorer, pool and in-batch."""
    rows = []
    for task in ("pool", "in_batch"):
        t = split_scores[task]
        for d, short in D_SHORT.items():
            an, sa = t["random_analytic"][d], t["random_sampled"][d]
            rows.append({"task": task, "direction": short, "candidates": t["n_candidates"][d],
                         **{f"analytic R@{k} %": f"{an[f'R@{k}'] * 100:.1f}" for k in (1, 3, 10)},
                         **{f"sampled R@{k} %": fmt(sa[f"R@{k}"]) for k in (1, 3, 10)},
                         "sampled mAP@10": fmt(sa["mAP@10"], pct=False)})
    return pd.DataFrame(rows)


def detail_table(split_scores: dict[str, Any]) -> pd.DataFrame:
    """The model on one split: pool and in-batch, both directions, R@1/3/10, mAP@10, median rank."""
    rows = []
    for task in ("pool", "in_batch"):
        for d, short in D_SHORT.items():
            m = split_scores[task]["model"][d]
            rows.append({"task": task, "direction": short, "queries": m["n"], "candidates": m["n_candidates"],
                         **{f"R@{k} %": fmt(m[f"R@{k}"]) for k in (1, 3, 10)},
                         "mAP@10": fmt(m["mAP@10"], pct=False), "median rank": m["median_rank"]})
    return pd.DataFrame(rows)


def plot_curves(ds_dir: Path, run: str, history: list[dict[str, float]]) -> Path | None:
    """`clap/loss_<run>.png`: train/val loss and the temperature per epoch (None without history)."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = pd.DataFrame(history)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(h["epoch"], h["train_loss"], label="train")
    ax1.plot(h["epoch"], h["val_loss"], label="val")
    ax1.set(xlabel="epoch", ylabel="InfoNCE loss", title=run)
    ax1.legend()
    if "train_temperature" in h:
        ax2.plot(h["epoch"], h["train_temperature"])
    ax2.set(xlabel="epoch", ylabel="temperature", yscale="log")
    fig.tight_layout()
    path = Path(ds_dir) / "clap" / f"loss_{run}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _best_run(metrics: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The linear run with the highest test-pool t→a R@10, then R@1, then mAP@10 (val when there is no test)."""
    best = None
    for run, e in metrics.get("runs", {}).items():
        s = e["splits"].get("test") or e["splits"].get("val")
        if s is None or e["head"] != "linear":
            continue
        m = s["pool"]["model"]["text_to_audio"]
        score = (m["R@10"]["mean"], m["R@1"]["mean"], m["mAP@10"]["mean"])
        if best is None or score > best[0]:
            best = (score, run, e)
    return None if best is None else (best[1], best[2])


def _loss_sentence(e: dict[str, Any]) -> str:
    """How the loss and the temperature behaved in one run."""
    h, f = e.get("history", []), e["fit"]
    if not h:
        return f"{e['run']}: no epochs recorded."
    first, best = h[0], h[max(f["best_epoch"] - 1, 0)]
    n_train = e.get("n_clips", {}).get("train", "?")
    t0, t1 = h[0].get("train_temperature", float("nan")), h[-1].get("train_temperature", float("nan"))
    overfit = h[-1]["train_loss"] < best["train_loss"] and h[-1]["val_loss"] > best["val_loss"]
    trend = (f"train loss went on down to {h[-1]['train_loss']:.3f} while val loss rose to {h[-1]['val_loss']:.3f}: "
             f"later epochs overfit the {n_train} training clips" if overfit else
             f"last epoch train {h[-1]['train_loss']:.3f} / val {h[-1]['val_loss']:.3f}")
    return (f"`{e['run']}`: val loss {first['val_loss']:.3f} after epoch 1 → best {best['val_loss']:.3f} at epoch "
            f"{f['best_epoch']} of {f['epochs']} ({f['stopped_reason']}); {trend}; temperature "
            f"{t0:.3f} → {t1:.3f}; {f['wall_s']:.1f} s.")


def _target(value: float, chance: float) -> str:
    """Whether R@K reaches 5× chance ('unreachable' when 5× chance is above 100 %)."""
    if 5 * chance > 1:
        return "unreachable here, 5× chance is above 100 %"
    return "met" if value >= 5 * chance else "not met"


def conclusions(metrics: dict[str, Any]) -> list[str]:
    """The conclusions the exercise asks for, computed from the numbers (which model, loss, vs random, setup)."""
    best = _best_run(metrics)
    if best is None:
        return ["No evaluated run yet."]
    run, e = best
    split = "test" if "test" in e["splits"] else "val"
    pool = e["splits"][split]["pool"]
    out = [f"Best audio encoder by {split}-pool t→a R@10, then R@1 (linear head): **{e['audio_encoder']}** "
           f"({e.get('family') or 'unknown family'}, {e['audio_dim']}-d)."]
    for d, short in D_SHORT.items():
        m, c = pool["model"][d]["R@10"], pool["random_analytic"][d]["R@10"]
        verdict = "above" if m["lo"] > c else "not clearly above"
        out.append(f"{short} R@10 {fmt(m)} % vs random {c * 100:.1f} % ({m['mean'] / c:.1f}× chance; the 95 % CI "
                   f"is {verdict} chance; target ≥ 5×: {_target(m['mean'], c)}).")
    out += [_loss_sentence(x) for _, x in sorted(metrics["runs"].items())]
    tr = e["train"]
    out.append(f"Setup: batch size {tr['batch_size']} (the in-batch task uses {e['splits'][split]['batch_size']}), "
               f"Adam lr {tr['lr']}, weight decay {tr['weight_decay']}, early stopping on val loss (patience "
               f"{tr['patience']}), at most {tr['max_epochs']} epochs; the best checkpoint is kept.")
    mlp = [x for x in metrics["runs"].values() if x["head"] == "mlp" and split in x["splits"]]
    for x in mlp:
        r = x["splits"][split]["pool"]["model"]["text_to_audio"]["R@10"]
        out.append(f"MLP head on {x['audio_encoder']} (comparison): t→a R@10 {fmt(r)} %.")
    if e["captions"].get("template_captions"):
        out.append("The captions here are **template captions** generated from mood/style labels, not "
                   "written by people: the scores measure label retrieval, not free-text understanding.")
    return out


def _cross_section(ds_dir: Path) -> list[str]:
    """Markdown of every `clap/eval_<other>.json` (a projection trained here, tested on another dataset)."""
    lines = []
    for path in sorted((Path(ds_dir) / "clap").glob("eval_*.json")):
        ev = json.loads(path.read_text())
        lines += [f"### Evaluated on `{ev.get('dataset', path.stem[5:])}` ({ev['n']} clips, "
                  f"{ev.get('n_captions', '?')} captions; whole pool, a hit on any caption of a clip counts)", ""]
        rows = [{"run": r, **{f"{D_SHORT[d]} R@{k} %": fmt(v["detail"]["pool"]["model"][d][f"R@{k}"])
                              for d in D_SHORT for k in (1, 10)},
                 **{f"chance {D_SHORT[d]} R@10 %": f"{v['detail']['pool']['random_analytic'][d]['R@10'] * 100:.1f}"
                    for d in D_SHORT}} for r, v in ev.get("runs", {}).items()]
        lines += [to_markdown(pd.DataFrame(rows)), ""]
        if ev.get("note"):
            lines += [ev["note"], ""]
    return lines


def _run_section(ds_dir: Path, run: str, e: dict[str, Any]) -> list[str]:
    """Markdown details of one run: scores per split, random baselines and the loss curve."""
    lines = [f"### `{run}`", "", f"Audio encoder `{e['audio_encoder']}` ({e['audio_dim']}-d) → {e['head']} → "
             f"text encoder `{e['text_encoder']}` ({e['text_dim']}-d); {e['n_parameters']} trained parameters; "
             f"final temperature {e['temperature']:.4f}.", ""]
    for split, s in e["splits"].items():
        lines += [f"**{split}** ({s['n_clips']} clips, {s['n_pairs']} captions; in-batch = shuffled batches of "
                  f"{s['batch_size']}, an incomplete last batch dropped)", "", to_markdown(detail_table(s)), "",
                  "Random baselines (analytic expectation; sampled = a random scorer evaluated the same way):",
                  "", to_markdown(chance_rows(s)), ""]
    png = plot_curves(ds_dir, run, e.get("history", []))
    if png is not None:
        lines += [f"![loss and temperature of {run}]({png.name})", ""]
    return lines


def write_report(ds_dir: Path | str) -> Path:
    """Rewrite `<ds>/clap/report.md` from metrics.json (and eval_*.json)."""
    ds_dir = Path(ds_dir)
    metrics = read_metrics(ds_dir) or {"runs": {}}
    runs = metrics["runs"]
    any_run = next(iter(runs.values()), None)
    caps = any_run["captions"] if any_run else {}
    lines = [f"# Text search: {ds_dir.name}", "",
             "A frozen audio encoder's vector per clip is mapped by a trained projection into a frozen text "
             "encoder's space; symmetric InfoNCE (audio→text and text→audio cross-entropy, targets = the diagonal), "
             "learnable log-parameterised temperature clamped to its range. Scores in %, mean [95 % bootstrap CI "
             "over queries]. **Pool** = every clip/caption of the split; **in-batch** = the exercise's task (the "
             "right text of audio i is text i of its batch). With several captions per clip a hit on any of the "
             "clip's captions counts.", "",
             f"Captions: {caps.get('caption_source', '?')}, {caps.get('n_captions', '?')} captions of "
             f"{caps.get('n_clips', '?')} clips; {caps.get('n_skipped', 0)} skipped (no audio); "
             f"{len(caps.get('duplicates', []))} duplicate ids (first kept)."
             + (" **These are template captions made from the mood/style labels.**"
                if caps.get("template_captions") else ""), "",
             "## Every frozen audio encoder (test pool)", "", to_markdown(comparison_table(metrics)), "",
             "## Conclusions", "", *[f"- {c}" for c in conclusions(metrics)], "", "## Cross-dataset", "",
             *(_cross_section(ds_dir) or ["No `--eval-data` run yet.", ""]), "## Runs", ""]
    for run, e in sorted(runs.items()):
        lines += _run_section(ds_dir, run, e)
    path = ds_dir / "clap" / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def read_json(path: Path) -> Any:
    """Parsed JSON of a file, None when absent/unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
