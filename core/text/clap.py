"""The CLAP-style model: a frozen audio vector is mapped by a trained `AudioProjection` into the frozen
text space; the symmetric InfoNCE loss with a learnable, log-parameterised, clamped temperature.

```python
model = AudioProjection(audio_dim=350, text_dim=384)
loss, logs = model.loss({"x": audio, "text": text, "clip": clip_rows})   # logs = {"temperature": t}
```
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from core.nn.loop import load_model
from core.text.table import PairTable

HEADS = ("linear", "mlp")


def info_nce(audio: torch.Tensor, text: torch.Tensor, temperature: torch.Tensor | float,
             clip: torch.Tensor | None = None, text_id: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of a batch: L2-normalise both sides, logits = audio @ text.T / temperature,
    cross-entropy audio->text and text->audio (targets arange(batch)), averaged.

    With `clip` (the clip id of each pair), every pair of the same clip is a positive: the target of a row
    is spread evenly over its positives (identical to arange(batch) when the clips are distinct). With
    `text_id` too (an id per distinct text), two pairs with the same text are positives as well, so a template
    text shared by many clips ("a rock song") is never pushed away from its other clips."""
    a = F.normalize(audio, dim=-1)
    t = F.normalize(text, dim=-1)
    logits = a @ t.T / temperature
    if clip is None:
        target = torch.arange(len(a), device=a.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    same = clip[:, None] == clip[None, :]
    if text_id is not None:
        same = same | (text_id[:, None] == text_id[None, :])
    same = same.float()
    target = same / same.sum(1, keepdim=True)
    a2t = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    t2a = -(target * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (a2t + t2a)


class AudioProjection(nn.Module):
    """Audio vector -> text space: standardise (train-split mean/std, stored as buffers), then a linear map
    ("linear", the method) or a 2-layer MLP ("mlp", a comparison row); output L2-normalised.

    The temperature is `exp(log_temperature)`, clamped to [min_temperature, max_temperature] (the parameter
    itself is clamped back into range before each use, as CLIP does), learnable unless `learn_temperature=False`.
    """

    def __init__(self, audio_dim: int, text_dim: int, head: str = "linear", hidden: int = 512,
                 dropout: float = 0.0, init_temperature: float = 0.07, min_temperature: float = 0.01,
                 max_temperature: float = 1.0, learn_temperature: bool = True) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if not 0 < min_temperature <= init_temperature <= max_temperature:
            raise ValueError("need 0 < min_temperature <= init_temperature <= max_temperature")
        self.kwargs = dict(audio_dim=int(audio_dim), text_dim=int(text_dim), head=head, hidden=int(hidden),
                           dropout=float(dropout), init_temperature=float(init_temperature),
                           min_temperature=float(min_temperature), max_temperature=float(max_temperature),
                           learn_temperature=bool(learn_temperature))
        self.register_buffer("mean", torch.zeros(audio_dim))
        self.register_buffer("std", torch.ones(audio_dim))
        self.drop = nn.Dropout(dropout)
        if head == "linear":
            self.net: nn.Module = nn.Linear(audio_dim, text_dim)
        else:
            self.net = nn.Sequential(nn.Linear(audio_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, text_dim))
        log_t = torch.tensor(math.log(init_temperature))
        self.log_temperature = nn.Parameter(log_t, requires_grad=learn_temperature)
        self.log_bounds = (math.log(min_temperature), math.log(max_temperature))

    def config(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild the model."""
        return {"name": f"clap_{self.kwargs['head']}", "class": "AudioProjection", "kwargs": dict(self.kwargs)}

    def set_standardisation(self, audio_train: np.ndarray) -> None:
        """Fit the input standardisation on the training clips' audio vectors."""
        a = np.asarray(audio_train, dtype=np.float64)
        std = a.std(0)
        self.mean.copy_(torch.as_tensor(a.mean(0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.where(std < 1e-8, 1.0, std), dtype=torch.float32))

    @property
    def temperature(self) -> torch.Tensor:
        """The clamped temperature (a differentiable scalar tensor)."""
        lo, hi = self.log_bounds
        return self.log_temperature.clamp(lo, hi).exp()

    def clamp_temperature(self) -> None:
        """Put the log-temperature parameter back inside its clamp (after an optimizer step pushed it out)."""
        with torch.no_grad():
            self.log_temperature.clamp_(*self.log_bounds)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Unit vectors in the text space [B, text_dim]."""
        x = (audio.float() - self.mean) / self.std
        return F.normalize(self.net(self.drop(x)), dim=-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Symmetric InfoNCE of one batch and the temperature (logged by the training loop)."""
        self.clamp_temperature()
        t = self.temperature
        loss = info_nce(self(batch["x"]), batch["text"], t, batch.get("clip"), batch.get("text_id"))
        return loss, {"temperature": float(t.detach())}

    @torch.no_grad()
    def project(self, audio: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Projected unit vectors of many audio vectors (numpy in, numpy out, eval mode)."""
        self.eval()
        out = [self(torch.as_tensor(audio[i:i + batch_size], dtype=torch.float32)).numpy()
               for i in range(0, len(audio), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.kwargs["text_dim"]), np.float32)


def projection_from_config(config: dict[str, Any]) -> AudioProjection:
    """Rebuild an AudioProjection from its `config()` (checkpoint reader)."""
    if config.get("class") != "AudioProjection":
        raise ValueError(f"not an AudioProjection checkpoint: {config.get('class')!r}")
    return AudioProjection(**config["kwargs"])


def load_projection(path: str | Any) -> tuple[AudioProjection, dict[str, Any]]:
    """An AudioProjection from a checkpoint written by the training loop (read with weights_only=True)."""
    model, ckpt = load_model(path, projection_from_config)
    return model, ckpt  # type: ignore[return-value]


class AudioTextDataset(Dataset):
    """The (audio vector, text vector, clip id) pairs of a PairTable, as dict items {"x", "text", "clip"}."""

    def __init__(self, table: PairTable) -> None:
        self.audio = torch.as_tensor(np.asarray(table.audio), dtype=torch.float32)
        self.text = torch.as_tensor(np.asarray(table.text), dtype=torch.float32)
        self.clip = torch.as_tensor(np.asarray(table.row), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.clip)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.audio[i], "text": self.text[i], "clip": self.clip[i]}
