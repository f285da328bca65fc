"""Excerpt views for a frames embedder: what a query looks like to the frozen encoder.

A frames embedder searches whole-track frames with the frames of a short, corrupted excerpt. Crops of the
clean whole-track frame store are a poor stand-in for that (the encoder sees other context, no noise), so
for a registered encoder the training pairs come from a *view bank* computed once per dataset:

- for every track: its whole-track frames, computed the way evaluation embeds the corpus (decoded at the
  cache's rate, resampled to the encoder's rate, `AudioEncoder.frames`);
- for every track of the given splits: `n_views` excerpts of random length and start, corrupted on the
  waveform (`audio_augment`: gain, white noise at a random SNR), each encoded on its own.

Parts are written per track (`<ds>/retrieval/views/<encoder>/<row>.npz`) with a manifest of the settings,
so a killed build resumes and a change of settings rebuilds. A track that cannot be decoded is skipped
and recorded in the manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.io import atomic_write_text
from core.retrieval.augment import AugmentConfig, audio_augment


@dataclass
class ViewConfig:
    """How many excerpt views per training track, their lengths (seconds) and corruption."""

    n_views: int = 48
    min_s: float = 2.5
    max_s: float = 8.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0  # the views' own seed: training runs with another --seed reuse the bank


@dataclass
class ViewBank:
    """Whole-track frames [T, D] per row and excerpt views (a list of [T_i, D]) per row; `failed` = reasons."""

    encoder: str
    hop_s: float
    dim: int
    whole: dict[int, np.ndarray]
    views: dict[int, list[np.ndarray]]
    failed: dict[str, str]

    def of_row(self, row: int) -> np.ndarray:
        """Whole-track frames [D, T] of one row, channels first like mels (T = 0 when missing)."""
        w = self.whole.get(int(row))
        return np.zeros((self.dim, 0), np.float32) if w is None else w.T

    def views_of(self, row: int) -> list[np.ndarray]:
        """Excerpt views of one row, each [D, T_i] channels first."""
        return [v.T for v in self.views.get(int(row), [])]


def bank_dir(ds_dir: Path | str, encoder: str) -> Path:
    """Folder of one encoder's view bank."""
    return Path(ds_dir) / "retrieval" / "views" / encoder


def _manifest(enc, fc, cfg: ViewConfig, view_rows: list[int]) -> dict:
    """The settings a bank was built with: a bank is reused only when all of them match."""
    man = {"encoder": enc.name, "weights": enc.weights, "encoder_rate": enc.sample_rate,
           "audio": asdict(fc.config), "views": asdict(cfg), "view_rows": sorted(int(r) for r in view_rows),
           "n_tracks": len(fc.tracks)}
    return json.loads(json.dumps(man))  # tuples as lists, as they read back


def _track_views(y: np.ndarray, sr: int, cfg: ViewConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """`n_views` corrupted excerpts of one decoded track (at the cache's rate)."""
    out = []
    for _ in range(cfg.n_views):
        n = min(len(y), int(rng.uniform(cfg.min_s, cfg.max_s) * sr))
        s = int(rng.integers(0, len(y) - n + 1))
        out.append(audio_augment(y[s:s + n], rng, cfg.augment))
    return out


def _encode_track(enc, path: str, fc, n_views: int, cfg: ViewConfig, row: int) -> dict[str, np.ndarray]:
    """Whole-track frames and (n_views > 0) the excerpt views of one track, ready for np.savez."""
    from core.audio.decode import load_audio

    sr = fc.config.sample_rate
    y = load_audio(path, fc.config)
    rng = np.random.default_rng([cfg.seed, row])
    clips = [y] + (_track_views(y, sr, cfg, rng) if n_views else [])
    outs = enc.analyse_many([enc.at_rate(c, sr) for c in clips])
    frames = [o.frames.astype(np.float16) for o in outs]
    return {"whole": frames[0], "views": np.concatenate(frames[1:]) if len(frames) > 1 else frames[0][:0],
            "lengths": np.array([len(f) for f in frames[1:]], np.int64)}


def _unpack(arrays) -> tuple[np.ndarray, list[np.ndarray]]:
    """(whole [T, D] float32, views) of one part: a just-computed dict or an opened part file."""
    whole, flat, lengths = arrays["whole"].astype(np.float32), arrays["views"].astype(np.float32), arrays["lengths"]
    return whole, (np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else [])


def build_view_bank(ds_dir: Path | str, fc, enc, view_rows: list[int], cfg: ViewConfig,
                    progress: bool = True) -> ViewBank:
    """Build (or reuse, or finish) the view bank of `enc` on a dataset: whole frames of every track, excerpt
    views of `view_rows`. Each finished track is a part file; a changed manifest starts over."""
    d = bank_dir(ds_dir, enc.name)
    man = _manifest(enc, fc, cfg, view_rows)
    man_path = d / "manifest.json"
    if man_path.exists() and json.loads(man_path.read_text()).get("settings") != man:
        for p in d.glob("*.npz"):
            p.unlink()
    d.mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}
    want = set(view_rows)
    whole, views = {}, {}
    for row in tqdm(range(len(fc.tracks)), desc=f"views {enc.name}", disable=not progress, leave=False):
        part = d / f"{row}.npz"
        if part.exists():
            with np.load(part) as z:
                whole[row], v = _unpack(z)
        else:
            t = fc.tracks.iloc[row]
            try:
                arrays = _encode_track(enc, t["path"], fc, cfg.n_views if row in want else 0, cfg, row)
            except Exception as e:  # a bad file is skipped and recorded, never a crash
                failed[str(t["track_id"])] = f"{type(e).__name__}: {e}"
                continue
            tmp = d / f".{row}.tmp.npz"
            np.savez(tmp, **arrays)
            tmp.replace(part)
            whole[row], v = _unpack(arrays)
        if v:
            views[row] = v
    atomic_write_text(man_path, json.dumps({"settings": man, "failed": failed}, indent=2))
    return ViewBank(enc.name, enc.hop_s, enc.dim, whole, views, failed)
