"""Frozen pretrained audio encoders and the frame features they leave for downstream models.

- `FrameStore`, `write_frames`, `FrameInfo`, `list_frame_stores` (frames): `<ds>/frames/<encoder>.{npy,csv,json}`
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "FrameStore": "frames", "write_frames": "frames", "FrameInfo": "frames", "list_frame_stores": "frames",
})
