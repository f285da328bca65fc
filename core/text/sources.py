"""Every source of text a prepared dataset offers, as (clip, text) rows for the general text-search model.

Sources (a dataset gives those it has; `TEXT_SOURCES` names them):
- `caption`: written captions (MusicCaps `captions.csv`, AudioCaps, an explicit CSV) — `core.text.captions`;
- `aspects`: MusicCaps aspect lists, joined to one short text ("pop, upbeat, female vocals");
- `moods`: mood tags (`mood:<word>` in a track's tags, e.g. AllMusic moods) → "a cheerful, playful song";
- `genre`: the genre label or `genre:<name>` tags → "a pop/rock song", "jazz music";
- `mood_genre`: moods and genre together → "a cheerful, playful pop/rock song";
- `template`: the demo corpus's mood/style templates ("a calm acoustic track").

Several texts per clip are normal; the training treats any of them as a match (multi-positive InfoNCE).

```python
rows = dataset_texts(Path("artifacts/emotion4q"), tracks, ("moods", "mood_genre"))
write_emotion4q_labels(Path("../shared/data/emotion4q/metadata.csv"), Path("artifacts/emotion4q_labels.csv"))
```
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pandas as pd

DEFAULT_AUDIO_ENCODER = "pretrained_efficientat_mn04"  # the embedding the general text model searches
TEXT_SOURCES = ("caption", "aspects", "moods", "genre", "mood_genre", "template")
MOOD_TEMPLATES = ("a {moods} song", "{moods} music", "music that sounds {moods}")
GENRE_TEMPLATES = ("a {genre} song", "{genre} music")
MOOD_GENRE_TEMPLATES = ("a {moods} {genre} song", "{genre} music that feels {moods}")
SOURCE_COLUMNS = ["uniq_id", "track_id", "caption", "source"]
MAX_MOODS = 3  # moods per text: several texts per song cover the rest


def split_tags(tags: object) -> tuple[list[str], list[str], list[str]]:
    """(moods, genres, other tags) of a `|`-separated tag string; `mood:x` and `genre:x` are lower-cased."""
    moods, genres, other = [], [], []
    for tag in str(tags or "").split("|"):
        tag = tag.strip()
        if tag.startswith("mood:"):
            moods.append(tag[5:].strip().lower())
        elif tag.startswith("genre:"):
            genres.append(tag[6:].strip().lower())
        elif tag:
            other.append(tag)
    return [m for m in moods if m], [g for g in genres if g], other


def join_words(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def mood_groups(moods: list[str], key: str, size: int = MAX_MOODS) -> list[list[str]]:
    """The moods in a fixed per-track shuffled order, cut into groups of at most `size` (every mood used once)."""
    order = sorted(moods, key=lambda m: hashlib.sha1(f"{key}:{m}".encode()).hexdigest())
    return [order[i:i + size] for i in range(0, len(order), size)]


def tag_texts(track_id: str, genre: str, tags: object, source: str) -> list[str]:
    """The texts of one track for a tag-based source (`moods`, `genre`, `mood_genre`); [] when it lacks labels."""
    moods, genres, _ = split_tags(tags)
    genres = genres or ([genre.lower()] if genre and not _is_code(genre) else [])
    texts: list[str] = []
    if source == "moods":
        for i, group in enumerate(mood_groups(moods, track_id)):
            texts.append(MOOD_TEMPLATES[i % len(MOOD_TEMPLATES)].format(moods=join_words(group)))
    elif source == "genre":
        texts = [t.format(genre=g) for g in genres for t in GENRE_TEMPLATES]
    elif source == "mood_genre" and moods and genres:
        for i, group in enumerate(mood_groups(moods, track_id)):
            tpl = MOOD_GENRE_TEMPLATES[i % len(MOOD_GENRE_TEMPLATES)]
            texts.append(tpl.format(moods=", ".join(group), genre=genres[i % len(genres)]))
    return list(dict.fromkeys(texts))


def _is_code(label: str) -> bool:
    """A label that is a code, not a word (a mood quadrant like 'Q1'): never put into a text."""
    return len(label) <= 3 and any(c.isdigit() for c in label)


def aspect_text(aspects: object) -> str:
    """A MusicCaps aspect list ("['pop', 'upbeat']" or "pop|upbeat") as one short text: 'pop, upbeat'."""
    text = str(aspects or "").strip()
    try:
        items = ast.literal_eval(text) if text.startswith("[") else text.split("|")
    except (ValueError, SyntaxError):
        items = text.strip("[]").split(",")
    return ", ".join(str(i).strip().strip("'\"") for i in items if str(i).strip().strip("'\""))


def _aspects(tracks: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(uniq_id, track_id, text) of MusicCaps aspect lists (from captions.csv beside audio/)."""
    from core.text.captions import dataset_root, read_csv_columns

    root = dataset_root(tracks)
    if root is None or not (root / "captions.csv").is_file():
        return []
    df = read_csv_columns(root / "captions.csv", ["ytid", "aspect_list"])
    return [(f"{r.ytid}#aspects", r.ytid, aspect_text(r.aspect_list)) for r in df.itertuples()
            if aspect_text(r.aspect_list)]


def _written_captions(tracks: pd.DataFrame, source: str) -> list[tuple[str, str, str]]:
    """(uniq_id, track_id, text) of written captions (`caption`) or demo templates (`template`)."""
    from core.text.captions import raw_captions

    if source == "template" and not _styled(tracks):
        return []  # templates need the demo's mood + style labels; other labels are the tag sources' job
    raw, name = raw_captions(tracks, None)
    if (source == "caption") == (name == "template"):
        return []
    return list(zip(raw["uniq_id"].astype(str), raw["track_id"].astype(str), raw["caption"].astype(str)))


def _styled(tracks: pd.DataFrame) -> bool:
    """True when tracks carry a style tag (acoustic/electronic) beside a word label, as the demo corpus does."""
    tags = tracks["tags"].astype(str).str.split("|")
    return bool(tags.map(lambda t: bool({"acoustic", "electronic"} & set(t))).any())


def dataset_texts(tracks: pd.DataFrame, sources: tuple[str, ...]) -> pd.DataFrame:
    """Every (clip, text) row of the chosen sources that this dataset offers (SOURCE_COLUMNS)."""
    unknown = [s for s in sources if s not in TEXT_SOURCES]
    if unknown:
        raise ValueError(f"unknown text source(s) {', '.join(unknown)}; known: {', '.join(TEXT_SOURCES)}")
    rows: list[tuple[str, str, str, str]] = []
    for source in sources:
        if source in ("caption", "template"):
            found = _written_captions(tracks, source)
        elif source == "aspects":
            found = _aspects(tracks)
        else:
            found = [(f"{r.track_id}#{source}{i}", str(r.track_id), text) for r in tracks.itertuples()
                     for i, text in enumerate(tag_texts(str(r.track_id), str(r.genre), r.tags, source))]
        rows += [(u, t, c, source) for u, t, c in found]
    out = pd.DataFrame(rows, columns=SOURCE_COLUMNS)
    out = out.drop_duplicates("uniq_id")
    return out.drop_duplicates(["track_id", "caption"]).reset_index(drop=True)  # one clip, one copy of a text


def emotion4q_labels(metadata_csv: Path) -> pd.DataFrame:
    """A folder-dataset labels CSV (path relative to `<emotion4q>/audio`, genre = mood quadrant, artist, title,
    tags = `mood:<AllMusic mood>|genre:<AllMusic genre>|quadrant:Q<n>`) from emotion4q's metadata.csv."""
    m = pd.read_csv(metadata_csv, dtype=str, keep_default_na=False)
    tags = [
        "|".join([f"mood:{x}" for x in moods.split("|") if x] + [f"genre:{x}" for x in genres.split("|") if x]
                 + [f"quadrant:{q}"])
        for moods, genres, q in zip(m["moods"], m["genres"], m["quadrant"])
    ]
    path = m["path"].str.replace(r"^audio/", "", regex=True)
    return pd.DataFrame({"path": path, "genre": m["quadrant"], "artist": m["artist"], "title": m["title"],
                         "tags": tags})


def write_emotion4q_labels(metadata_csv: Path, out_csv: Path) -> Path:
    """Write `emotion4q_labels` to `out_csv` (for `python -m train.prepare --dataset folder --labels`)."""
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    emotion4q_labels(metadata_csv).to_csv(out_csv, index=False)
    return out_csv
