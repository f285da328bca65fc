"""The Markdown report of a retrieval evaluation (tables of R@K / MRR with CIs, indexes, skipped embeddings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from core.io import atomic_write_text, to_markdown


def _fmt(entry: dict[str, Any], key: str) -> str:
    """'0.52 [0.43, 0.61]'."""
    lo, hi = entry.get("ci", {}).get(key, [float("nan")] * 2)
    return f"{entry[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def score_table(block: dict[str, dict[str, Any]], keys: list[str]) -> pd.DataFrame:
    """One row per embedding (or index) of a metrics.json block, best R@1 first."""
    rows = [{"embedding": n, **{k: _fmt(e, k) for k in keys}, "n_queries": e["n_queries"],
             "n_tracks": e.get("n_tracks", "")} for n, e in block.items()]
    order = sorted(range(len(rows)), key=lambda i: -list(block.values())[i][keys[0]])
    return pd.DataFrame([rows[i] for i in order])


def write_report(path: Path, m: dict[str, Any]) -> Path:
    """Write report.md from the metrics dict; returns its path."""
    p = m["protocol"]
    keys = [f"R@{k}" for k in p["ks"]] + ["MRR"]
    chance = ", ".join(f"{k} {m['chance'][k]:.3f}" for k in keys)
    lines = [f"# Excerpt -> track retrieval: {m['dataset']}", "",
             f"Queries: {p['n_queries']} augmented {p['excerpt_s']:g}-s excerpts ({p['per_track']} per track) of "
             f"{p['n_query_tracks']} tracks of split(s) {', '.join(p['splits'])}; gain +-{p['augment']['gain_db']:g} "
             f"dB, white noise at SNR {p['augment']['snr_db'][0]:g}-{p['augment']['snr_db'][1]:g} dB "
             f"(p={p['augment']['noise_prob']:g}). Corpus: all {p['n_corpus']} tracks (whole-track embeddings). "
             f"Mean [95% bootstrap CI over query tracks]. Chance: {chance}.", "",
             "## Exact search", "", to_markdown(score_table(m["exact"], keys)), ""]
    if m.get("exact_excluding_same_artist"):
        lines += ["## Exact search, other tracks of the true track's artist removed from the candidates", "",
                  to_markdown(score_table(m["exact_excluding_same_artist"], keys)), ""]
    for name, kinds in m.get("indexes", {}).items():
        t = score_table(kinds, keys).rename(columns={"embedding": "index"})
        t["recall@10 vs exact"] = [f"{kinds[i]['recall@10_vs_exact']:.3f}" for i in t["index"]]
        lines += [f"## ANN indexes of {name}", "", to_markdown(t), ""]
    if m.get("paired_r1_diff"):
        d = pd.DataFrame([{"difference": k, "R@1 diff": f"{v['mean']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}]"}
                          for k, v in m["paired_r1_diff"].items()])
        lines += ["## Paired R@1 differences (bootstrap over tracks)", "", to_markdown(d), ""]
    for title, block in (("Skipped embeddings", m.get("skipped")), ("Queries that failed", m.get("failed_queries"))):
        if block:
            lines += [f"## {title}", ""] + [f"- `{k}`: {v}" for k, v in block.items()] + [""]
    atomic_write_text(path, "\n".join(lines))
    return path
