"""`report.md` of a general text-search model: what it was trained on, how training went, and the zero-shot
figures (with data, split, K, chance and 95 % bootstrap CIs) from `model.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.text.calibrate import GOOD_MATCH
from core.text.report import fmt

PROTOCOL = (
    "Zero-shot protocol: the projection trains on the **train** split of the datasets listed under *Trained on* "
    "(every text source they offer); early stopping uses their **val** split. Figures on a trained-on dataset are "
    "on its **test** split, whose tracks were never trained on (emotion4q and folder datasets split by artist, so "
    "their test artists are unseen too; GTZAN's filtered split is artist-disjoint; MusicCaps test = the "
    "AudioSet-eval clips). Datasets under *Evaluated only* contributed no text and no audio to training: all "
    "their tracks are unseen. Choose sources and templates on **val** figures, report **test**."
)


def _label_rows(res: dict[str, Any]) -> list[str]:
    """Markdown rows of a quadrant/genre evaluation: one per query and the mean."""
    rows = []
    for lab, q in res["queries"].items():
        rows.append(f"| {lab} | “{q['query']}” | {q['n_relevant']} | {q['chance'] * 100:.1f} | "
                    f"{fmt(q.get('P@10'))} | {fmt(q.get('P@50'))} |")
    m = res["mean"]
    rows.append(f"| **mean** | | | {m['chance'] * 100:.1f} | {fmt(m.get('P@10'))} | {fmt(m.get('P@50'))} |")
    return rows


def _section(name: str, split: str, res: dict[str, Any]) -> list[str]:
    """The Markdown of one dataset/split evaluation."""
    if "skipped" in res:
        return [f"### {name}, split {split}", "", f"Not scored: {res['skipped']}", ""]
    if res["kind"] == "caption":
        t, c = res["text_to_audio"], res["chance_text_to_audio"]
        return [f"### {name}, split {split}: caption retrieval", "",
                f"{res['n_clips']} clips, {res['n_captions']} captions (whole pool). Text→audio R@1 "
                f"{fmt(t['R@1'])} % (chance {c['R@1'] * 100:.1f} %), R@10 {fmt(t['R@10'])} % (chance "
                f"{c['R@10'] * 100:.1f} %); audio→text R@10 {fmt(res['audio_to_text']['R@10'])} %.", ""]
    what = "mood-quadrant queries" if res["kind"] == "quadrant" else "label queries"
    return [f"### {name}, split {split}: {what} ({res['n_pool']} tracks)", "",
            "| label | query | relevant | chance % | P@10 % | P@50 % |", "|---|---|---|---|---|---|",
            *_label_rows(res), ""]


def cases_line(cases: list[dict[str, Any]], threshold: float = GOOD_MATCH) -> str:
    """How well the verdict separates known-answer val cases (label present vs removed from the pool)."""
    present = [c for c in cases if c["present"]]
    absent = [c for c in cases if not c["present"]]
    if not present or not absent:
        return "No labelled val split to check the verdict on."
    passed = sum(c["rank"] >= threshold for c in present)
    flagged = sum(c["rank"] < threshold for c in absent)
    return (f"Known-answer check on the val pools of {', '.join(sorted({c['dataset'] for c in cases}))}: each "
            f"label's query passes on the pool with its tracks in **{passed} of {len(present)}** cases and is "
            f"flagged on the same pool without them in **{flagged} of {len(absent)}** (neighbouring labels stay in "
            "the pool, so a pass there is not always wrong).")


def verdict_lines(ev: dict[str, Any], cases: list[dict[str, Any]] | None = None) -> list[str]:
    """The report's table of good-match verdicts per dataset and query, after the known-answer check."""
    lines = ["## Good match or not", "",
             "Verdict of each query on the whole collection: *rank* = share of the reference descriptions (bank.npz) "
             f"that the collection fits worse than the query (good match from {GOOD_MATCH * 100:.0f} %), *fit* = "
             "mean calibrated score of the query's top 5 tracks.", "", cases_line(cases or []), "",
             "| dataset | query | verdict | rank % | fit % | best cosine |", "|---|---|---|---|---|---|"]
    for name, res in ev.items():
        lines += [f"| {name} | “{v['query']}” | {'good match' if v['good_match'] else '**no good match**'} | "
                  f"{v['rank'] * 100:.0f} | {v['fit'] * 100:.0f} | {v['best_cosine']:.3f} |"
                  for v in res.get("verdicts", [])]
    return lines


def write_text_model_report(out: Path, info: dict[str, Any]) -> Path:
    """Write `<out>/report.md` from a model.json dict."""
    ev = info.get("evaluation", {})
    trained = [n for n, r in ev.items() if r.get("trained_on")]
    only = [n for n, r in ev.items() if not r.get("trained_on")]
    fit = info["fit"]
    lines = [f"# Text-search model `{Path(out).name}`", "",
             f"Audio `{info['audio_encoder']}` → linear projection → text `{info['text_encoder']}`; sources "
             f"{', '.join(info['sources'])}. Trained {info['date']} (commit {info['git_commit']}), "
             f"{fit['epochs']} epochs (best {fit['best_epoch']}, {fit['stopped_reason']}), {fit['wall_s']:.0f} s, "
             f"temperature {info['temperature']:.3f}.", "",
             f"Trained on: {', '.join(trained) or '—'}. Evaluated only: {', '.join(only) or '—'}.", "",
             PROTOCOL, "", "Pairs per dataset/source and split:", "",
             "| dataset/source | train | val | test |", "|---|---|---|---|"]
    lines += [f"| {k} | {v.get('train', 0)} | {v.get('val', 0)} | {v.get('test', 0)} |"
              for k, v in info["pairs"].items()]
    lines += ["", "## Zero-shot figures", "",
              "P@K = share of the top K tracks with the query's label; chance = that label's share of the pool. "
              "Mean [95 % bootstrap CI over the pool's tracks], in %.", ""]
    for name, res in ev.items():
        for split in ("test", "all", "val"):
            if split in res:
                lines += _section(name, split, res[split])
    lines += verdict_lines(ev, info.get("verdict_cases"))
    path = Path(out) / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
