"""Autoencoder embeddings against the classic baseline: train, embed, recommend, measure.

- `RandomCropDataset`, `FixedWindowDataset`, `MelStats` (windows): standardised windows over the feature cache
- `build_model`, `MODELS`, `OBJECTIVES` (autoencoders): dense, conv1d, conv2d and modulation-spectrum autoencoders
- `embed_tracks`, `write_embedding`, `load_embedding`, `list_embeddings` (embeddings): the embeddings contract
- `recommend`, `top_k`, `hit_counts` (similarity): cosine top-K with optional same-artist exclusion
- `precision_at_k`, `bootstrap_ci`, `Estimate`, `chance_level` (metrics): per-query scores, CIs, chance levels
- `evaluate_dataset`, `EvalConfig` (evaluation): metrics.json, queries.csv and report.md of every embedding
- `run_autoencoder`, `AERunConfig` (runs): one training run from cache to embedding and experiments row
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "RandomCropDataset": "windows", "FixedWindowDataset": "windows", "MelStats": "windows",
    "compute_mel_stats": "windows",
    "build_model": "autoencoders", "model_from_config": "autoencoders", "MODELS": "autoencoders",
    "OBJECTIVES": "autoencoders",
    "embed_tracks": "embeddings", "write_embedding": "embeddings", "load_embedding": "embeddings",
    "list_embeddings": "embeddings", "write_baseline": "embeddings",
    "recommend": "similarity", "top_k": "similarity", "hit_counts": "similarity", "l2_normalise": "similarity",
    "precision_at_k": "metrics", "bootstrap_ci": "metrics", "Estimate": "metrics", "hit_rates": "metrics",
    "paired_bootstrap_diff": "metrics",
    "evaluate_dataset": "evaluation", "EvalConfig": "evaluation", "metrics_table": "evaluation",
    "run_autoencoder": "runs", "AERunConfig": "runs",
})
