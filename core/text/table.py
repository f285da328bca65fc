"""The precomputed audio-text table of a dataset: text vectors computed once (resumable, checkpointed
in chunks, progress bar) and merged with an audio embedding into one safe `.npz` (no pickle):
`{uniq_id, track_id, row, caption, split, audio_embedding, text_embedding}`. Training never runs an encoder.

```python
table = build_pair_table(Path("artifacts/musiccaps_mini"), "baseline", "minilm")
train = table.subset("train")
```
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.text.captions import CaptionSet, load_captions

CHUNK = 256  # captions per checkpoint file of the text precompute
EMBED_COMMANDS = (
    "`python -m train.evaluate --data {ds}` (writes baseline.npy), "
    "`python -m train.autoencoders --data {ds}` (autoencoders) or "
    "`python -m train.embed --data {ds} --encoders fcn_msd,musicnn_mtat,efficientat_mn04 --weights-dir DIR` "
    "(pretrained_<name>)"
)


class AudioEncoderMissing(FileNotFoundError):
    """No precomputed embedding of that name; the message names the commands that make one."""


def clap_dir(ds_dir: Path | str) -> Path:
    """Folder of everything text search writes for a dataset: `<ds>/clap/`."""
    return Path(ds_dir) / "clap"


def table_path(ds_dir: Path | str, audio_encoder: str, text_slug: str) -> Path:
    """Where the merged table of one (audio encoder, text encoder) pair lives."""
    return clap_dir(ds_dir) / f"pairs_{audio_encoder}__{text_slug}.npz"


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """np.savez to a temporary file in the same folder, then rename (a kill never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def text_key(text: str) -> str:
    """Stable key of one caption text in the text-vector cache."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass
class PrecomputeStats:
    """What one text precompute did: vectors reused from checkpoints, computed now, chunk files written."""

    reused: int = 0
    computed: int = 0
    chunks_written: int = 0
    seconds: float = 0.0


def _read_chunks(folder: Path) -> dict[str, np.ndarray]:
    """Every vector already checkpointed under `folder` (unreadable chunk files are ignored)."""
    have: dict[str, np.ndarray] = {}
    for path in sorted(folder.glob("chunk-*.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:
                have.update(zip(z["keys"].tolist(), z["vectors"]))
        except (OSError, ValueError, KeyError):
            continue
    return have


def precompute_texts(texts: list[str], encode: Callable[[list[str]], np.ndarray], folder: Path,
                     chunk: int = CHUNK, progress: bool = True) -> tuple[np.ndarray, PrecomputeStats]:
    """Vectors of `texts`, encoding only those not yet checkpointed in `folder`; every `chunk` texts the new
    vectors are written to `folder/chunk-NNNNN.npz`, so a killed run resumes where it stopped."""
    import time

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    have = _read_chunks(folder)
    keys = [text_key(t) for t in texts]
    todo = list(dict.fromkeys(k for k in keys if k not in have))
    by_key = dict(zip(keys, texts))
    stats = PrecomputeStats(reused=len(set(keys)) - len(todo))
    n_files = len(list(folder.glob("chunk-*.npz")))
    bar = tqdm(total=len(todo), desc="text vectors", unit="caption", disable=not progress or not todo)
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        vecs = np.asarray(encode([by_key[k] for k in part]), dtype=np.float32)
        _atomic_savez(folder / f"chunk-{n_files:05d}.npz", keys=np.array(part, dtype=str), vectors=vecs)
        have.update(zip(part, vecs))
        n_files += 1
        stats.computed += len(part)
        stats.chunks_written += 1
        bar.update(len(part))
    bar.close()
    stats.seconds = time.perf_counter() - t0
    if not keys:
        return np.zeros((0, 0), np.float32), stats
    return np.stack([have[k] for k in keys]).astype(np.float32), stats


@dataclass
class PairTable:
    """One row per (clip, caption): ids, caption, split, the clip's audio vector and the caption's text vector."""

    uniq_id: np.ndarray
    track_id: np.ndarray
    row: np.ndarray  # FeatureCache row of the clip
    caption: np.ndarray
    split: np.ndarray
    audio: np.ndarray  # [n, audio_dim] float32
    text: np.ndarray  # [n, text_dim] float32, unit rows
    audio_encoder: str = ""
    text_encoder: str = ""
    info: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.uniq_id)

    def subset(self, split: str | None) -> PairTable:
        """The rows of one split (None or "all": every row)."""
        mask = np.ones(len(self), bool) if split in (None, "all") else self.split == split
        return self.take(np.flatnonzero(mask))

    def take(self, idx: np.ndarray) -> PairTable:
        """The rows at positions `idx`."""
        return PairTable(self.uniq_id[idx], self.track_id[idx], self.row[idx], self.caption[idx], self.split[idx],
                         self.audio[idx], self.text[idx], self.audio_encoder, self.text_encoder, dict(self.info))

    def clips(self) -> np.ndarray:
        """Distinct clip rows, in order of first appearance."""
        return pd.unique(self.row)

    def save(self, path: Path) -> Path:
        """Write the table as one .npz of plain arrays (strings as unicode, no pickle)."""
        import json

        _atomic_savez(path, uniq_id=self.uniq_id.astype(str), track_id=self.track_id.astype(str),
                      row=self.row.astype(np.int64), caption=self.caption.astype(str), split=self.split.astype(str),
                      audio_embedding=self.audio.astype(np.float32), text_embedding=self.text.astype(np.float32),
                      encoders=np.array([self.audio_encoder, self.text_encoder]),
                      info=np.array(json.dumps(self.info, default=str)))
        return path

    @classmethod
    def load(cls, path: Path) -> PairTable:
        """Read a table written by `save` (allow_pickle=False)."""
        import json

        with np.load(path, allow_pickle=False) as z:
            enc = z["encoders"].tolist()
            return cls(z["uniq_id"], z["track_id"], z["row"], z["caption"], z["split"], z["audio_embedding"],
                       z["text_embedding"], enc[0], enc[1], json.loads(str(z["info"])))


def audio_embedding(ds_dir: Path, name: str, n_tracks: int) -> np.ndarray:
    """The audio embedding `name` of a dataset, checked against the cache; AudioEncoderMissing names
    the commands that make one."""
    from core.recommend.embeddings import list_embeddings, load_embedding

    try:
        emb, _ = load_embedding(ds_dir, name)
    except FileNotFoundError:
        have = ", ".join(list_embeddings(ds_dir)) or "none"
        raise AudioEncoderMissing(
            f"no precomputed embedding {name!r} in {Path(ds_dir) / 'embeddings'} (available: {have}); make it with "
            + EMBED_COMMANDS.format(ds=ds_dir)) from None
    if emb.ndim != 2 or len(emb) != n_tracks:
        raise AudioEncoderMissing(f"embedding {name!r} has shape {emb.shape} but the cache has {n_tracks} tracks; "
                                  "recompute it with " + EMBED_COMMANDS.format(ds=ds_dir))
    return np.nan_to_num(emb.astype(np.float32))


def caption_info(caps: CaptionSet) -> dict[str, object]:
    """What the table records about its captions (source, counts, skipped and duplicate ids)."""
    return {"caption_source": caps.source, "template_captions": caps.template, "n_captions": len(caps.table),
            "n_clips": int(caps.table["row"].nunique()), "skipped": caps.skipped[:200], "n_skipped": len(caps.skipped),
            "duplicates": caps.duplicates[:200], "uncaptioned": caps.uncaptioned[:200]}


def build_pair_table(ds_dir: Path, audio_encoder: str, text_encoder: object, captions_csv: Path | None = None,
                     progress: bool = True, chunk: int = CHUNK) -> PairTable:
    """Captions + their text vectors (precomputed once per text encoder) + the clips' audio vectors, saved as
    `<ds>/clap/pairs_<audio>__<text>.npz`. `text_encoder` is a loaded `TextEncoder`."""
    from core.audio.cache import FeatureCache
    from core.text.encoders import encoder_slug

    fc = FeatureCache.open(ds_dir)
    caps = load_captions(fc.tracks, captions_csv)
    if len(caps.table) == 0:
        raise ValueError(f"no captions with audio in {ds_dir} ({len(caps.skipped)} skipped)")
    audio = audio_embedding(ds_dir, audio_encoder, len(fc.tracks))
    slug = encoder_slug(text_encoder.name)
    texts = caps.table["caption"].tolist()
    checked = text_encoder.n_tokens(texts)
    vecs, stats = precompute_texts(texts, text_encoder.encode, clap_dir(ds_dir) / "text_cache" / slug, chunk, progress)
    t = caps.table
    info = caption_info(caps)
    info.update(n_truncated=int(sum(n > text_encoder.max_tokens for n in checked)),
                max_tokens=text_encoder.max_tokens, precompute=stats.__dict__)
    table = PairTable(t["uniq_id"].to_numpy(str), t["track_id"].to_numpy(str), t["row"].to_numpy(np.int64),
                      t["caption"].to_numpy(str), t["split"].to_numpy(str), audio[t["row"].to_numpy()], vecs,
                      audio_encoder, text_encoder.name, info)
    table.save(table_path(ds_dir, audio_encoder, slug))
    return table
