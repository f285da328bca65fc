"""Autoencoder embeddings against the classic baseline: train, embed, recommend, measure.

- `RandomCropDataset`, `FixedWindowDataset`, `MelStats` (windows): standardised windows over the feature cache
- `FrameSource`, `FrameCropDataset`, `FixedFrameWindows` (frame_windows): windows of pretrained frame features
- `build_model`, `MODELS`, `OBJECTIVES`, `ObjectiveSettings`, `ModSpecSettings` (autoencoders): dense, conv1d,
  conv2d and modulation-spectrum autoencoders, which store their audio settings and `check_audio` a cache
- `embed_tracks`, `TrackEmbeddings`, `write_embedding`, `load_embedding`, `list_embeddings`, `whiten`
  (embeddings): the embeddings contract
- `recommend`, `top_k`, `hit_counts` (similarity): cosine top-K with optional same-artist exclusion
- `precision_at_k`, `bootstrap_ci`, `Estimate`, `chance_level`, `precision_ceiling` (metrics): per-query
  scores, CIs, chance levels and best possible scores
- `evaluate_dataset`, `EvalConfig`, `Evaluation` (evaluation): metrics.json, queries.csv and report.md of
  every embedding, all candidates and same-artist excluded
- `write_maps`, `read_map` (maps): 2-D PCA/UMAP maps of every embedding, precomputed for the Latent map page
- `run_autoencoder`, `AERunConfig`, `AERunResult` (runs): one training run from cache (or frames) to
  embedding and experiments row, chosen on the validation split
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "RandomCropDataset": "windows", "FixedWindowDataset": "windows", "MelStats": "windows",
    "compute_mel_stats": "windows",
    "build_model": "autoencoders", "model_from_config": "autoencoders", "MODELS": "autoencoders",
    "OBJECTIVES": "autoencoders", "ObjectiveSettings": "autoencoders", "ModSpecSettings": "autoencoders",
    "FrameSource": "frame_windows", "FrameCropDataset": "frame_windows", "FixedFrameWindows": "frame_windows",
    "TrackEmbeddings": "embeddings", "whiten": "embeddings",
    "embed_tracks": "embeddings", "write_embedding": "embeddings", "load_embedding": "embeddings",
    "list_embeddings": "embeddings", "write_baseline": "embeddings",
    "recommend": "similarity", "top_k": "similarity", "hit_counts": "similarity", "l2_normalise": "similarity",
    "precision_at_k": "metrics", "bootstrap_ci": "metrics", "Estimate": "metrics", "hit_rates": "metrics",
    "paired_bootstrap_diff": "metrics", "chance_level": "metrics", "precision_ceiling": "metrics",
    "evaluate_dataset": "evaluation", "EvalConfig": "evaluation", "metrics_table": "evaluation",
    "Evaluation": "evaluation",
    "run_autoencoder": "runs", "AERunConfig": "runs", "AERunResult": "runs",
    "write_maps": "maps", "read_map": "maps",
})
