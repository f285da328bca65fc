"""Dataset segments of the latent-size study: where each 5-s segment's mel and audio live,
and an in-memory cache of the decoded original audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio.cache import FeatureCache
from core.audio.config import AudioConfig
from core.audio.decode import load_audio


@dataclass
class SegmentRef:
    """One 5-s segment of a dataset: where its mel and its audio live."""

    segment: int
    track_id: str
    genre: str
    split: str
    path: str
    start_frame: int
    n_frames: int

    @property
    def clip_id(self) -> str:
        """File-system-safe id used for folders: <track_id>_s<start_frame>."""
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.track_id)
        return f"{safe}_f{self.start_frame}"


def segment_refs(fc: FeatureCache, rows: np.ndarray | None = None) -> list[SegmentRef]:
    """SegmentRefs of all segments (or those of the given track rows), in segment order."""
    seg = fc.segments
    tracks = fc.tracks
    refs = []
    keep = None if rows is None else set(int(r) for r in rows)
    for rec in seg.itertuples():
        if keep is not None and int(rec.row) not in keep:
            continue
        t = tracks.iloc[int(rec.row)]
        refs.append(SegmentRef(int(rec.segment), str(rec.track_id), str(t["genre"]), str(t["split"]),
                               str(t["path"]), int(rec.start_frame), int(rec.n_frames)))
    return refs


class AudioCache:
    """Decoded tracks kept in memory while a study runs (each file decoded once)."""

    def __init__(self, cfg: AudioConfig):
        self.cfg = cfg
        self.store: dict[str, np.ndarray] = {}
        self.complete: dict[str, bool] = {}  # True when the whole file is already decoded

    def segment(self, ref: SegmentRef) -> np.ndarray:
        """Original audio under a segment's valid frames: (n_frames - 1) * hop samples."""
        hop = self.cfg.hop_length
        start = ref.start_frame * hop
        n = max(1, (ref.n_frames - 1) * hop)
        have = self.store.get(ref.path)
        if have is None or (len(have) < start + n and not self.complete.get(ref.path, False)):
            # decode only up to the end of the segment (long tracks): reloaded if a later segment needs more
            seconds = (start + n) / self.cfg.sample_rate + 1.0
            have = load_audio(ref.path, self.cfg, max_seconds=seconds)
            self.store[ref.path] = have
            self.complete[ref.path] = len(have) < start + n
        audio = have
        out = audio[start : start + n]
        if len(out) < n:
            out = np.pad(out, (0, n - len(out)))
        return out.astype(np.float32)
