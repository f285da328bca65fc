"""Captions of a prepared dataset, one row per (clip, caption), aligned with the feature cache's rows.

Where the captions come from is found from the catalog's audio paths (`<root>/audio/<clip>.*`):
- MusicCaps: `<root>/captions.csv` (ytid, caption), one caption per clip;
- AudioCaps: `<root>/captions_for_these_clips.csv` or `<root>/captions_v1/*.csv`, several captions per clip;
- anything else (the demo corpus, GTZAN, folders): **template captions** made from the genre/mood and tags
  ("a calm acoustic track", ...), which is all these datasets offer;
- or an explicit CSV with columns track_id, caption (`captions_csv=`).

Captions whose clip has no audio in the cache are listed and skipped; duplicated ids, and a caption given
twice for one clip, are listed and the first row kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.audio.catalogs import CatalogError, read_metadata_csv

CAPTION_COLUMNS = ["uniq_id", "track_id", "row", "caption", "split"]
TEMPLATES = ("a {mood} {style} track", "{style} music with a {mood} mood",
             "a piece of {style} music that sounds {mood}")
GENERIC_TEMPLATES = ("a {genre} song", "{genre} music", "a recording of {genre} music")


_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def fix_articles(text: str) -> str:
    """'a' before a word starting with a vowel letter becomes 'an' ("a energetic track" -> "an energetic track")."""
    return _A_BEFORE_VOWEL.sub(lambda m: m.group(1) + "n ", text)


class CaptionError(ValueError):
    """Captions that cannot be read (missing file or columns); the message names what is wrong."""


@dataclass
class CaptionSet:
    """The captions of a dataset that have audio, and what was left out."""

    table: pd.DataFrame  # CAPTION_COLUMNS, row = FeatureCache row of the clip
    source: str  # "musiccaps", "audiocaps", "csv:<path>" or "template"
    skipped: list[str] = field(default_factory=list)  # "<id>: reason" of captions left out
    duplicates: list[str] = field(default_factory=list)  # ids seen twice or repeating a clip's caption (first kept)
    uncaptioned: list[str] = field(default_factory=list)  # cached clips without any caption

    @property
    def template(self) -> bool:
        """True when the captions are generated from labels, not written by people."""
        return self.source == "template"


def dataset_root(tracks: pd.DataFrame) -> Path | None:
    """The dataset root `<root>` of clips stored as `<root>/audio/<clip>.*` (None for other layouts)."""
    if len(tracks) == 0:
        return None
    parent = Path(str(tracks["path"].iloc[0])).parent
    return parent.parent if parent.name == "audio" else None


def read_csv_columns(path: Path, required: list[str]) -> pd.DataFrame:
    """A CSV as strings; CaptionError naming the required columns it lacks."""
    try:
        df = read_metadata_csv(path, "captions CSV")
    except CatalogError as exc:
        raise CaptionError(str(exc)) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise CaptionError(f"{path} lacks required column(s): {', '.join(missing)} (has: {', '.join(df.columns)})")
    return df


def raw_captions(tracks: pd.DataFrame, captions_csv: Path | None) -> tuple[pd.DataFrame, str]:
    """(uniq_id, track_id, caption) rows from the first source that applies, and its name."""
    if captions_csv is not None:
        df = read_csv_columns(captions_csv, ["track_id", "caption"])
        ids = df["uniq_id"] if "uniq_id" in df.columns else df["track_id"] + "#" + df.groupby(
            "track_id").cumcount().astype(str)
        return pd.DataFrame({"uniq_id": ids, "track_id": df["track_id"], "caption": df["caption"]}), \
            f"csv:{captions_csv}"
    root = dataset_root(tracks)
    if root is not None and (root / "captions.csv").is_file():
        df = read_csv_columns(root / "captions.csv", ["ytid", "caption"])
        return pd.DataFrame({"uniq_id": df["ytid"], "track_id": df["ytid"], "caption": df["caption"]}), "musiccaps"
    if root is not None and ((root / "captions_for_these_clips.csv").is_file() or (root / "captions_v1").is_dir()):
        return _audiocaps(root), "audiocaps"
    return template_captions(tracks), "template"


def _audiocaps(root: Path) -> pd.DataFrame:
    """AudioCaps captions keyed `<clip>#<n>`; exact repeats of a caption for one clip are dropped."""
    from core.audio.catalogs import CatalogError, audiocaps_captions

    try:
        caps = audiocaps_captions(root)
    except CatalogError as exc:
        raise CaptionError(str(exc)) from None
    caps = caps.drop_duplicates(["clip_id", "caption"])
    ids = caps["clip_id"] + "#" + caps.groupby("clip_id").cumcount().astype(str)
    return pd.DataFrame({"uniq_id": ids, "track_id": caps["clip_id"], "caption": caps["caption"]})


def template_captions(tracks: pd.DataFrame) -> pd.DataFrame:
    """Template captions from each track's labels: mood + style (acoustic/electronic) when the tags hold a
    style, else the genre; tracks with no label get none."""
    rows = []
    for rec in tracks.itertuples():
        tags = [t for t in str(rec.tags).split("|") if t]
        style = next((t for t in tags if t in ("acoustic", "electronic")), "")
        mood = str(rec.genre) or next((t for t in tags if t != style), "")
        if style and mood:
            texts = [fix_articles(t.format(mood=mood, style=style)) for t in TEMPLATES]
        elif mood:
            texts = [fix_articles(t.format(genre=mood)) for t in GENERIC_TEMPLATES]
        else:
            continue
        rows += [(f"{rec.track_id}#t{i}", rec.track_id, text) for i, text in enumerate(texts)]
    return pd.DataFrame(rows, columns=["uniq_id", "track_id", "caption"])


def load_captions(tracks: pd.DataFrame, captions_csv: Path | None = None) -> CaptionSet:
    """The captions of the cached clips `tracks` (FeatureCache.tracks), with row and split of each clip."""
    raw, source = raw_captions(tracks, captions_csv)
    raw = raw.astype(str)
    # an id seen twice, or the same caption given twice for one clip: listed, the first row kept
    dup_mask = raw["uniq_id"].duplicated() | raw.assign(c=raw["caption"].str.strip()).duplicated(["track_id", "c"])
    duplicates = sorted(set(raw.loc[dup_mask, "uniq_id"]))
    raw = raw[~dup_mask]
    empty = raw["caption"].str.strip() == ""
    pos = pd.Series(range(len(tracks)), index=tracks["track_id"].astype(str).to_numpy())
    has_audio = raw["track_id"].isin(pos.index)
    skipped = [f"{u}: no audio in the feature cache" for u in raw.loc[~has_audio, "uniq_id"]]
    skipped += [f"{u}: empty caption" for u in raw.loc[has_audio & empty, "uniq_id"]]
    keep = raw[has_audio & ~empty].copy()
    keep["row"] = pos[keep["track_id"]].to_numpy()
    keep["split"] = tracks["split"].astype(str).to_numpy()[keep["row"].to_numpy()]
    uncaptioned = sorted(set(tracks["track_id"].astype(str)) - set(keep["track_id"]))
    table = keep[CAPTION_COLUMNS].sort_values(["row", "uniq_id"], kind="stable").reset_index(drop=True)
    return CaptionSet(table, source, skipped, duplicates, uncaptioned)
