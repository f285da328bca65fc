"""`Embedder`: a trained retrieval model with everything needed to embed new input the way it was trained
(input kind, per-channel standardisation, the cache's AudioConfig): log-mels, raw audio or encoder frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.audio.config import AudioConfig
from core.nn.loop import load_model
from core.retrieval.models import embedder_from_config
from core.subnormals import flush_subnormals


@dataclass
class Embedder:
    """A trained embedder ready for inference (eval mode, no gradients)."""

    model: torch.nn.Module
    input: str  # "mels" or "frames:<encoder>"
    mean: np.ndarray
    std: np.ndarray
    audio: AudioConfig
    checkpoint: str = ""
    batch_frames: int = 20_000  # padded steps per forward pass when embedding many tracks
    weights_dir: str | None = None  # frames embedders: the frozen encoder's weights (else $WORKBENCH_WEIGHTS)
    _encoder: Any = field(default=None, repr=False)

    @classmethod
    def from_checkpoint(cls, path: Path | str) -> Embedder:
        """Rebuild from a `best.pt` written by train.retrieval (torch.load with weights_only=True)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no retrieval checkpoint at {path}; run `python -m train.retrieval` first")
        model, ckpt = load_model(path, embedder_from_config)
        ex: dict[str, Any] = ckpt["extra"]
        return cls(model, ex["input"], np.asarray(ex["mean"], np.float32), np.asarray(ex["std"], np.float32),
                   AudioConfig(**ex["audio_config"]), str(path))

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self.model.config()["kwargs"]["dim"])

    def _standardise(self, x: np.ndarray) -> torch.Tensor:
        """[C, T] -> standardised float32 tensor."""
        return torch.from_numpy(((np.asarray(x, np.float32) - self.mean[:, None]) / self.std[:, None]).astype(
            np.float32))

    def embed_many(self, crops: list[np.ndarray]) -> np.ndarray:
        """Embeddings [n, d] of channel-first inputs [C, T_i] (mel dB or frames), batched by padded size."""
        from core.retrieval.pairs import pad_batch

        out = np.zeros((len(crops), self.dim), np.float32)
        order = np.argsort([c.shape[1] for c in crops])
        i = 0
        flush_subnormals()
        with torch.no_grad():
            while i < len(order):
                j = i + 1
                while j < len(order) and (j - i + 1) * crops[order[j]].shape[1] <= self.batch_frames:
                    j += 1
                idx = order[i:j]
                x, mask = pad_batch([self._standardise(crops[t]) for t in idx])
                out[idx] = self.model.embed(x, mask).numpy()
                i = j
        return out

    def embed_mel(self, mel_db: np.ndarray) -> np.ndarray:
        """Embedding [d] of one log-mel [n_mels, T] in dB."""
        if not self.input.startswith("mels"):
            raise ValueError(f"this embedder reads {self.input}, not log-mels")
        return self.embed_many([mel_db])[0]

    def embed_audio(self, audio: np.ndarray) -> np.ndarray:
        """Embedding [d] of a mono waveform at `self.audio.sample_rate`: its log-mel, or (frames embedders)
        the frozen encoder's frames of it, resampled to the encoder's rate as the view bank was."""
        from core.audio.features import log_mel

        if self.input.startswith("mels"):
            return self.embed_mel(log_mel(np.asarray(audio, np.float32), self.audio))
        enc = self.frame_encoder()
        return self.embed_frames(enc.frames(enc.at_rate(audio, self.audio.sample_rate)))

    def frame_encoder(self):
        """The registered frozen encoder a frames embedder reads (loaded once; EncoderError / WeightsError
        when it is not registered or its weights are not found)."""
        if self._encoder is None:
            from core.encoders.registry import load_encoder

            self._encoder = load_encoder(self.input.split(":", 1)[1], self.weights_dir)
        return self._encoder

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """Embedding [d] of pretrained frames [T, D] (frames embedders only)."""
        if not self.input.startswith("frames:"):
            raise ValueError(f"this embedder reads {self.input}, not encoder frames")
        return self.embed_many([np.asarray(frames, np.float32).T])[0]
