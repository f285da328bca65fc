"""The one interface every frozen audio encoder follows, and the shared machinery that cuts a track into
the pieces a network takes, batches pieces across tracks, and pools the results per track.

An encoder has `name`, `sample_rate` (its own rate: decode audio at it), `hop_s` (seconds between frames),
`dim`, and `frames(audio) -> [T, dim]`, `embed(audio) -> [dim]`, `tags(audio, k) -> [(tag, score)]`;
`analyse(audio)` gives all three from one pass and `analyse_many(audios)` batches several tracks.
`at_rate(audio, sample_rate)` brings audio decoded at another rate (a cache's) to the encoder's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch

from core.subnormals import flush_subnormals

# Pieces per network call on a CPU. One piece's activations stay in the CPU caches, a batch's do not: per 30-s
# clip on one thread, MusiCNN's ten 3-s windows cost 0.32 CPU-s one at a time against 0.60 in batches of 8, FCN
# 0.19-0.21 against 0.23, EfficientAT about half (benchmarks/bench_embed.py; docs/explanation/results/speed.md).
CPU_BATCH = 1


class EncoderError(Exception):
    """An encoder that cannot do what was asked (unknown name, no tag list, ...); the message says why."""


@dataclass
class EncoderOutput:
    """What one pass over one track gives: frames [T, dim], the pooled embedding [dim], tag scores [n_tags]."""

    frames: np.ndarray
    embedding: np.ndarray
    scores: np.ndarray


@dataclass
class PieceRule:
    """How a track is cut into network inputs. "split": pieces of about `piece_s` (one piece up to 1.5x);
    "windows": back-to-back windows of exactly `piece_s`. Shorter tracks are looped up to `min_s`."""

    piece_s: float
    min_s: float
    mode: str = "split"


def cut_pieces(audio: np.ndarray, sample_rate: int, rule: PieceRule) -> np.ndarray:
    """Mono audio -> [n_pieces, samples] float32 (looped when shorter than `rule.min_s`)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        raise EncoderError("empty audio")
    need = int(np.ceil(max(rule.min_s, rule.piece_s if rule.mode == "windows" else 0.0) * sample_rate))
    if audio.size < need:
        audio = np.tile(audio, int(np.ceil(need / audio.size)))[:need]
    piece = int(round(rule.piece_s * sample_rate))
    if rule.mode == "windows":
        n = audio.size // piece
        return audio[: n * piece].reshape(n, piece)
    n = 1 if audio.size <= 1.5 * piece else int(np.ceil(audio.size / piece))
    size = audio.size // n
    return audio[: n * size].reshape(n, size)


@dataclass
class AudioEncoder(ABC):
    """Base of every frozen encoder. Subclasses set the attributes and implement `_forward`."""

    name: str
    sample_rate: int
    hop_s: float
    dim: int
    rule: PieceRule
    weights: str = ""
    labels: list[str] | None = None
    labels_note: str = ""
    pooling: str = "mean"  # how pieces' pooled vectors combine: "mean" or "max"
    batch_size: int = 8
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    @abstractmethod
    def _forward(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[P, samples] -> (frames [P, T, dim], pooled [P, dim], scores [P, n_tags])."""

    def analyse(self, audio: np.ndarray) -> EncoderOutput:
        """Frames, embedding and tag scores of one track in one pass."""
        return self.analyse_many([audio])[0]

    def analyse_many(self, audios: list[np.ndarray]) -> list[EncoderOutput]:
        """`analyse` for several tracks, with pieces of equal length batched together across tracks (on a GPU,
        `batch_size` pieces per network call; on a CPU `CPU_BATCH`)."""
        pieces = [cut_pieces(a, self.sample_rate, self.rule) for a in audios]
        flat = [(i, j) for i, p in enumerate(pieces) for j in range(len(p))]
        results: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        by_len: dict[int, list[tuple[int, int]]] = {}
        flush_subnormals()
        for key in flat:
            by_len.setdefault(pieces[key[0]].shape[1], []).append(key)
        step = CPU_BATCH if str(self.device) == "cpu" else self.batch_size
        with torch.inference_mode():
            for keys in by_len.values():
                for b in range(0, len(keys), step):
                    chunk = keys[b : b + step]
                    x = torch.from_numpy(np.stack([pieces[i][j] for i, j in chunk])).to(self.device)
                    fr, po, sc = (t.float().cpu().numpy() for t in self._forward(x))
                    for n, key in enumerate(chunk):
                        results[key] = (fr[n], po[n], sc[n])
        outs = [self._combine([results[(i, j)] for j in range(len(p))]) for i, p in enumerate(pieces)]
        for out, audio in zip(outs, audios, strict=True):  # a looped short track keeps only its own frames
            out.frames = out.frames[: max(1, int(np.ceil(len(audio) / self.sample_rate / self.hop_s)))]
        return outs

    def _combine(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> EncoderOutput:
        frames = np.concatenate([p[0] for p in parts]).astype(np.float32)
        pooled = np.stack([p[1] for p in parts])
        emb = pooled.max(0) if self.pooling == "max" else pooled.mean(0)
        return EncoderOutput(frames, emb.astype(np.float32), np.stack([p[2] for p in parts]).mean(0))

    def at_rate(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono audio decoded at `sample_rate` as float32 at this encoder's own rate (soxr when they differ)."""
        audio = np.asarray(audio, np.float32)
        if sample_rate == self.sample_rate:
            return audio
        import soxr

        return soxr.resample(audio, sample_rate, self.sample_rate).astype(np.float32)

    def frames(self, audio: np.ndarray) -> np.ndarray:
        """Frame features [T, dim] (one every `hop_s` seconds)."""
        return self.analyse(audio).frames

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """The pooled track embedding [dim]."""
        return self.analyse(audio).embedding

    def tags(self, audio: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """Top-k tags with their scores (probabilities), highest first."""
        if not self.labels:
            raise EncoderError(f"{self.name} has no tag list: {self.labels_note or 'no label file'}")
        scores = self.analyse(audio).scores
        order = np.argsort(-scores)[:k]
        return [(self.labels[i], float(scores[i])) for i in order]

    def describe(self) -> dict:
        """JSON-safe summary for sidecars."""
        return {"encoder": self.name, "sample_rate": self.sample_rate, "hop_s": self.hop_s, "dim": self.dim,
                "weights": self.weights, "pooling": self.pooling, "piece_s": self.rule.piece_s,
                "piece_mode": self.rule.mode, **self.extra}
