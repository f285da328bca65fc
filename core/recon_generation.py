"""Generation from the latent space of the chosen size: interpolation, Gaussian samples and
genre-centroid arithmetic, written as WAV + PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from core.config import AudioConfig
from core.generation import centroid_arithmetic, fit_gaussian, genre_centroids, interpolate
from core.griffinlim import GriffinLimConfig, mel_to_audio
from core.recon_io import save_spec_png, save_wav
from core.recon_latents import nearest_genre
from core.recon_model import decode_latents, encode_mels
from core.recon_segments import SegmentRef
from core.windows import MelStats

if TYPE_CHECKING:
    from core.recon_study import StudyConfig


def generate(net: torch.nn.Module, stats: MelStats, cfg: AudioConfig, gl: GriffinLimConfig,
             z_all: np.ndarray, meta: pd.DataFrame, val_refs: list[SegmentRef], out_dir: Path,
             rel_root: Path, study: StudyConfig) -> dict[str, Any]:
    """Interpolation, Gaussian samples and genre-centroid arithmetic, written as WAV + PNG."""
    out: dict[str, Any] = {}
    train_mask = (meta["split"] == "train").to_numpy()
    z_train = z_all[train_mask] if train_mask.sum() >= 2 else z_all
    labels_train = meta["genre"].to_numpy()[train_mask] if train_mask.sum() >= 2 else meta["genre"].to_numpy()
    cents = genre_centroids(z_train, labels_train)
    seg_index = {int(s): i for i, s in enumerate(meta["segment"])}

    def render(z: np.ndarray, name: str, title: str) -> dict[str, Any]:
        mel = decode_latents(net, stats, z[None], cfg)[0]
        y = mel_to_audio(mel, cfg, gl)
        save_wav(out_dir / f"{name}.wav", y, cfg)
        save_spec_png(out_dir / f"{name}.png", mel, cfg, title)
        z_back = encode_mels(net, stats, mel[None])[0]  # what the encoder thinks the result is
        return {"wav": str((out_dir / f"{name}.wav").relative_to(rel_root)),
                "png": str((out_dir / f"{name}.png").relative_to(rel_root)),
                "nearest_genre": nearest_genre(z_back, cents),
                "rms_db": float(20 * np.log10(max(float(np.sqrt(np.mean(y**2))), 1e-10)))}

    # interpolation between two validation clips of different genres (prefer classical -> metal)
    by_genre = {}
    for r in val_refs:
        by_genre.setdefault(r.genre, r)
    a = by_genre.get("classical") or val_refs[0]
    b = by_genre.get("metal") or next((r for r in val_refs if r.genre != a.genre), val_refs[-1])
    if a.segment in seg_index and b.segment in seg_index:
        za, zb = z_all[seg_index[a.segment]], z_all[seg_index[b.segment]]
        steps = []
        for i, (t, z) in enumerate(zip(np.linspace(0, 1, study.n_interp_steps),
                                       interpolate(za, zb, study.n_interp_steps))):
            item = render(z, f"interp_{i:02d}", f"interp t={t:.2f} ({a.genre}->{b.genre})")
            steps.append({"t": float(t), **item})
        out["interpolation"] = {"from": a.clip_id, "from_genre": a.genre, "to": b.clip_id,
                                "to_genre": b.genre, "steps": steps}
    # samples from a Gaussian fitted to the training latents
    g = fit_gaussian(z_train)
    samples = []
    for i, z in enumerate(g.sample(study.n_samples, seed=study.seed)):
        samples.append(render(z, f"sample_{i:02d}", f"Gaussian sample {i}"))
    out["samples"] = {"fitted_on": "train-split latents (Ledoit-Wolf covariance)", "items": samples}
    # genre-centroid arithmetic: clip + (centroid[target] - centroid[source])
    pairs = [(a, b) for a, b in (("classical", "metal"), ("jazz", "disco"), ("metal", "classical"))
             if a in by_genre and a in cents and b in cents]
    if not pairs:  # other datasets (demo moods, FMA genres): the first two validation genres, both ways
        gs = [g for g in sorted(by_genre) if g in cents][:2]
        pairs = [(gs[0], gs[1]), (gs[1], gs[0])] if len(gs) == 2 else []
    arith = []
    for src, tgt in pairs:
        ref = by_genre.get(src)
        if ref is None or tgt not in cents or src not in cents or ref.segment not in seg_index:
            continue
        z0 = z_all[seg_index[ref.segment]]
        item = render(centroid_arithmetic(z0, cents, src, tgt), f"arith_{src}_to_{tgt}",
                      f"{ref.clip_id} - {src} + {tgt}")
        orig = render(z0, f"arith_{src}_to_{tgt}_start", f"{ref.clip_id} (decoded)")
        arith.append({"clip_id": ref.clip_id, "source": src, "target": tgt, **item,
                      "start_wav": orig["wav"], "start_png": orig["png"],
                      "start_nearest_genre": orig["nearest_genre"]})
    out["arithmetic"] = arith
    return out
