"""A trained tagger applied to new audio: rebuild it from its checkpoint (`core.nn.loop.load_model`, weights only),
decode and log-mel the file with the checkpoint's own AudioConfig, cut the same windows, average them.

```python
tagger = load_tagger(Path("artifacts/gtzan_mini/checkpoints/tagger_genre_asl/best.pt"))
pred = predict_audio(tagger, Path("song.wav"))      # pred.window_probs [n_windows, K], pred.track_probs [K]
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.audio.config import AudioConfig
from core.nn.loop import load_model
from core.recommend.windows import MelStats
from core.subnormals import flush_subnormals
from core.tagger.model import SpectrogramCNN, model_from_config
from core.tagger.windows import WindowSpec


@dataclass
class Tagger:
    """A trained tagger with what inference needs."""

    model: SpectrogramCNN
    classes: list[str]
    stats: MelStats
    spec: WindowSpec
    audio: AudioConfig


@dataclass
class AudioPrediction:
    """Per-window and track-level class probabilities of one audio file."""

    window_probs: np.ndarray
    starts_s: np.ndarray
    track_probs: np.ndarray
    padded: bool
    classes: list[str]

    @property
    def label(self) -> str:
        """The most probable class of the track."""
        return self.classes[int(np.argmax(self.track_probs))]


def load_tagger(checkpoint: Path) -> Tagger:
    """Rebuild a tagger from a `best.pt` written by `core.nn.fit` for a SpectrogramCNN."""
    model, ckpt = load_model(checkpoint, model_from_config)
    extra = ckpt["extra"]
    return Tagger(model, list(extra["classes"]), MelStats.from_dict(extra["mel_stats"]),
                  WindowSpec.from_dict(extra["window"]), AudioConfig(**extra["audio_config"]))


def mel_windows(mel_db: np.ndarray, spec: WindowSpec, floor: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """(windows [n, n_mels, window], start frames, padded?) of a whole-track log-mel."""
    starts, padded = spec.starts(mel_db.shape[1])
    w = spec.window_frames
    out = np.full((len(starts), mel_db.shape[0], w), floor, np.float32)
    for i, s in enumerate(starts):
        piece = mel_db[:, s: s + w]
        out[i, :, : piece.shape[1]] = piece
    return out, np.asarray(starts), padded


def predict_mel(tagger: Tagger, mel_db: np.ndarray, batch_size: int = 64) -> AudioPrediction:
    """Window and track probabilities of a log-mel [n_mels, frames] in dB."""
    wins, starts, padded = mel_windows(mel_db, tagger.spec, tagger.audio.top_db_floor)
    x = torch.from_numpy(tagger.stats.apply(wins))[:, None]
    flush_subnormals()
    with torch.no_grad():
        probs = np.concatenate([tagger.model.probabilities(x[i: i + batch_size]).numpy()
                                for i in range(0, len(x), batch_size)])
    return AudioPrediction(probs, starts * tagger.spec.frame_s, probs.mean(0), padded, tagger.classes)


def predict_audio(tagger: Tagger, path: Path, max_seconds: float | None = 600.0) -> AudioPrediction:
    """Decode `path` with the tagger's AudioConfig (AudioError if it cannot) and predict it."""
    from core.audio.decode import load_audio
    from core.audio.features import log_mel

    audio = load_audio(path, tagger.audio, max_seconds=max_seconds)
    return predict_mel(tagger, log_mel(audio, tagger.audio))
