"""A small dataset folder for the session tests: real demo tracks, a catalog and random embeddings (no feature
extraction, so it is made in well under a second)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SESSION_MODELS = ("baseline", "conv_ae_z16", "mlp_ae_z8")


def make_session_dataset(root: Path, name: str = "demo", n_tracks: int = 16) -> Path:
    """root/<name> with catalog.csv (genre = mood folder, artist = acoustic | electronic) and three embeddings."""
    from tests.helpers.app import demo_audio_files

    tracks = demo_audio_files()[::2][:n_tracks]
    ds = root / name
    (ds / "embeddings").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"track_id": [f.stem for f in tracks], "path": [str(f) for f in tracks],
                  "genre": [f.parent.name for f in tracks], "artist": [f.stem.split("_")[1] for f in tracks],
                  "title": [f.stem.replace("_", " ").title() for f in tracks], "split": "test", "status": "ok",
                  "tags": "", "duration_s": 30.0, "row": range(len(tracks))}).to_csv(ds / "catalog.csv", index=False)
    rng = np.random.default_rng(0)
    for m in SESSION_MODELS:
        np.save(ds / "embeddings" / f"{m}.npy", rng.normal(size=(len(tracks), 8)).astype(np.float32))
    return ds
