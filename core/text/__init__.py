"""Text: frozen text encoders (and, built on them, text-to-music search).

- `load_text_encoder`, `TextEncoder`, `TextEncoderError` (encoders): all-MiniLM-L6-v2 from its wheel, offline
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "load_text_encoder": "encoders", "TextEncoder": "encoders", "TextEncoderError": "encoders",
    "EncodedTexts": "encoders", "DEFAULT_TEXT_ENCODER": "encoders",
})
