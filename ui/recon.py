"""The app's view of a latent-size study: recon/index.json (written by core.latent.study) read into
clips, metrics and extra listening sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ui.data import cached_json


@dataclass
class ReconClip:
    """One study clip: audio and spectrogram PNG of the original, the oracle and each latent size."""

    label: str
    original: Path | None
    oracle: Path | None
    recon: dict[int, Path]
    png: dict[str, Path]  # "original", "oracle", str(size)
    metrics: dict[str, dict[str, float]]  # "oracle" or str(size) -> metric -> value


@dataclass
class Selection:
    """Which segments chose the size (`selected_on`: "val", or the test split with the reason on a fallback),
    the words for it, and the table the rule read (one row per size, then the oracle)."""

    selected_on: str
    fallback: bool
    text: str
    table: pd.DataFrame


def parse_selection(index: dict[str, Any]) -> Selection | None:
    """The index's `selection` block, or None when the study predates it."""
    sel = index.get("selection")
    if not isinstance(sel, dict) or not sel.get("selected_on"):
        return None
    rows = [{"size": str(z), **{k: v for k, v in (m or {}).items() if isinstance(v, (int, float))}}
            for z, m in sorted((sel.get("metrics") or {}).items(), key=lambda kv: int(kv[0]))]
    if rows and isinstance(sel.get("oracle"), dict):
        rows.append({"size": "oracle", **sel["oracle"]})
    return Selection(str(sel["selected_on"]), bool(sel.get("fallback")), str(sel.get("text", "")),
                     pd.DataFrame(rows))


@dataclass
class ReconStudy:
    """What recon/index.json (schema recon-study/1, written by core.latent.study) describes."""

    sizes: list[int]
    chosen: int | None
    clips: list[ReconClip]
    metrics: pd.DataFrame  # one row per size, one column per metric
    oracle: dict[str, float]
    metric_info: dict[str, dict[str, Any]]
    rule: str
    extras: dict[str, list[tuple[str, Path, Path | None]]]  # section -> (label, wav, png)
    sizes_table: pd.DataFrame = field(default_factory=pd.DataFrame)  # size, kind, shape, floats, kbit/s
    ci95: dict[str, dict[str, float]] = field(default_factory=dict)  # str(size) or "oracle" -> metric -> half-width
    rule_met: bool | None = None  # None: an older study without the structure rule
    loss: str = ""  # which training loss won and how it was chosen
    selection: Selection | None = None  # None: an older study that chose on its test segments

    def size_label(self, size: int) -> str:
        """'432 (T x C 27x16)' or '8 (one vector)' when the study says the kind; else the number."""
        row = self.sizes_table[self.sizes_table["size"] == size] if len(self.sizes_table) else self.sizes_table
        if not len(row):
            return str(size)
        r = row.iloc[0]
        return f"{size} ({'T x C ' + r['shape'] if 'x' in str(r['shape']) else 'one vector'})"


def sizes_frame(index: dict[str, Any]) -> pd.DataFrame:
    """One row per size: kind, latent shape, floats per segment and kbit/s at float16/float32."""
    rows = []
    for z, info in (index.get("latent_sizes") or {}).items():
        if isinstance(info, dict):
            rows.append({"size": int(z), "kind": str((index.get("kinds") or {}).get(z, info.get("kind", ""))),
                         "shape": "x".join(str(v) for v in info.get("shape", [])),
                         "floats per segment": info.get("floats_per_segment"),
                         "segment s": info.get("segment_seconds"),
                         "kbit/s (float16)": info.get("kbps_float16"), "kbit/s (float32)": info.get("kbps_float32")})
    return pd.DataFrame(rows).sort_values("size").reset_index(drop=True) if rows else pd.DataFrame()


def _path_in(folder: Path, value: Any) -> Path | None:
    """A file named in the index (relative to the recon folder, or absolute) if it exists."""
    if not isinstance(value, str) or not value:
        return None
    p = Path(value)
    c = p if p.is_absolute() else folder / p
    return c if c.is_file() else None


def _items(folder: Path, entries: Any, label_of: Any) -> list[tuple[str, Path, Path | None]]:
    """(label, wav, png) of index entries that have a 'wav' (or 'recon_wav') file."""
    out = []
    for e in entries or []:
        if not isinstance(e, dict):
            continue
        wav = _path_in(folder, e.get("wav") or e.get("recon_wav"))
        if wav is not None:
            out.append((label_of(e), wav, _path_in(folder, e.get("png") or e.get("recon_png"))))
    return out


def parse_recon_index(folder: Path, index: dict[str, Any]) -> ReconStudy:
    """Read a recon/index.json dict into a ReconStudy (missing sections become empty)."""
    per_size = index.get("per_size") or {}
    sizes = sorted(int(z) for z in (index.get("sizes") or per_size.keys()))
    clips: list[ReconClip] = []
    for c in index.get("clips") or []:
        cid = str(c.get("clip_id", c.get("track_id", "")))
        recon: dict[int, Path] = {}
        png = {k: p for k in ("original", "oracle") if (p := _path_in(folder, c.get(f"{k}_png"))) is not None}
        metrics = {"oracle": dict(c.get("oracle_metrics") or {})}
        for z in sizes:
            entry = ((per_size.get(str(z)) or {}).get("clips") or {}).get(cid) or {}
            if (wav := _path_in(folder, entry.get("recon_wav"))) is not None:
                recon[z] = wav
            if (img := _path_in(folder, entry.get("recon_png"))) is not None:
                png[str(z)] = img
            metrics[str(z)] = dict(entry.get("metrics") or {})
        label = " · ".join(str(x) for x in (cid, c.get("genre")) if x)
        clips.append(ReconClip(label, _path_in(folder, c.get("original_wav")), _path_in(folder, c.get("oracle_wav")),
                               recon, png, metrics))
    rows = [{"size": int(z), **{k: v for k, v in (m or {}).items() if isinstance(v, (int, float))}}
            for z, m in (index.get("metrics") or {}).items()]
    table = pd.DataFrame(rows).sort_values("size").reset_index(drop=True) if rows else pd.DataFrame()
    gen = index.get("generation") or {}
    extras: dict[str, list[tuple[str, Path, Path | None]]] = {}
    interp = gen.get("interpolation") or {}
    if interp:
        extras[f"Interpolation {interp.get('from', '')} → {interp.get('to', '')}"] = _items(
            folder, interp.get("steps"), lambda e: f"t = {e.get('t', 0):.2f} (sounds {e.get('nearest_genre', '?')})")
    extras["Gaussian samples"] = _items(folder, (gen.get("samples") or {}).get("items"),
                                        lambda e: f"sample (sounds {e.get('nearest_genre', '?')})")
    extras["Genre arithmetic"] = _items(folder, gen.get("arithmetic"),
                                        lambda e: f"{e.get('clip_id', '')} − {e.get('source', '')} + "
                                                  f"{e.get('target', '')} (sounds {e.get('nearest_genre', '?')})")
    for block, title in (("new_music", "New music (outside the dataset)"), ("demo", "Demo corpus")):
        extras[title] = _items(folder, (index.get(block) or {}).get("items"),
                               lambda e: f"{e.get('name', e.get('track_id', ''))}: reconstruction")
    extras = {k: v for k, v in extras.items() if v}
    rule = index.get("rule") or {}
    ci95 = {str(z): dict(v) for z, v in (index.get("metrics_ci95") or {}).items() if isinstance(v, dict)}
    if isinstance(index.get("oracle_ci95"), dict):
        ci95["oracle"] = dict(index["oracle_ci95"])
    choice = index.get("loss_choice") or {}
    loss = f"{choice.get('loss')} ({choice.get('how', '')})" if choice.get("loss") else ""
    met = rule.get("met") if isinstance(rule, dict) else None
    return ReconStudy(sizes, index.get("chosen_size"), clips, table, dict(index.get("oracle") or {}),
                      dict(index.get("metric_info") or {}), str(rule.get("text", "")) if isinstance(rule, dict)
                      else str(rule), extras, sizes_frame(index), ci95, met if isinstance(met, bool) else None, loss,
                      parse_selection(index))


def load_recon_study(ds_dir: Path) -> ReconStudy | None:
    """The dataset's latent-size study, or None when recon/index.json is absent or unreadable."""
    index = cached_json(ds_dir / "recon" / "index.json")
    if not isinstance(index, dict):
        return None
    try:
        return parse_recon_index(ds_dir / "recon", index)
    except Exception:
        return None
