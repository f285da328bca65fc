"""Frozen pretrained audio encoders and the frame features they leave for downstream models.

- `AudioEncoder`, `EncoderOutput`, `EncoderError`, `PieceRule` (base): the one encoder interface
- `load_encoder`, `encoder_names`, `SPECS` (registry): `fcn_msd`, `musicnn_mtat`, `crnn_jamendo`, `efficientat_mn04`...
- `WEIGHT_FILES`, `WeightFile`, `WeightsError`, `resolve_weights_dir`, `fetch`, `sha256_of` (weights): where weights
  come from, folder lookup (`--weights-dir` / `$WORKBENCH_WEIGHTS`), checked download
- `FCN`, `CRNN`, `MusiCNN` (taggers) and `MobileNetAT`, `EfficientATMel` (mobilenet): the rebuilt networks
- `embed_track`, `embed_batch`, `rate_groups`, `assemble_all`, `run_embed`, `EmbedConfig`, `EmbedSummary` (embed):
  resumable per-track embedding of a dataset (the task functions run in any process pool or Dask worker)
- `FrameStore`, `write_frames`, `FrameInfo`, `list_frame_stores` (frames): `<ds>/frames/<encoder>.{npy,csv,json}`
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "FrameStore": "frames", "write_frames": "frames", "FrameInfo": "frames", "list_frame_stores": "frames",
    "AudioEncoder": "base", "EncoderOutput": "base", "EncoderError": "base", "PieceRule": "base",
    "load_encoder": "registry", "encoder_names": "registry", "SPECS": "registry",
    "WEIGHT_FILES": "weights", "WeightFile": "weights", "WeightsError": "weights",
    "resolve_weights_dir": "weights", "fetch": "weights", "sha256_of": "weights",
    "FCN": "taggers", "CRNN": "taggers", "MusiCNN": "taggers", "MobileNetAT": "mobilenet",
    "EfficientATMel": "mobilenet", "embed_track": "embed", "run_embed": "embed", "EmbedConfig": "embed",
    "EmbedSummary": "embed", "assemble_all": "embed", "rate_groups": "embed", "embed_batch": "embed",
})
