"""Find this track: a contrastive excerpt->track embedder, ANN indexes, retrieval metrics, a search service.

- `nt_xent`, `pair_accuracy` (losses): NT-Xent / InfoNCE over pairs of views
- `ranks_of_truth`, `ranks_from_scores`, `recall_at_k`, `reciprocal_rank`, `score_ranks`, `RetrievalScores` (metrics)
- `AugmentConfig`, `mel_augment`, `audio_augment` (augment): gain, noise at a random SNR, time/frequency masks
- `PairDataset`, `PairConfig`, `TrackMels`, `TrackFrames`, `collate_pairs`, `pad_batch` (pairs): two augmented crops
  of one track, variable lengths padded with a mask
- `ViewPairDataset` (pairs): pairs of a view bank (a corrupted excerpt's frames and its whole track's)
- `ViewConfig`, `ViewBank`, `build_view_bank` (views): corrupted excerpts encoded once by a frozen encoder,
  per-track parts that resume
- `MelEmbedder`, `FrameEmbedder`, `embedder_from_config` (models): conv encoder over log-mels; a residual
  attention-pooling model over frames that starts as the identity
- `Embedder` (embedder): a trained model plus its standardisation and AudioConfig; embeds mels, audio or frames
- `RetrievalConfig`, `run_retrieval`, `RetrievalRun` (training): one run on `core.nn.fit` -> embedding + indexes
- `build_index`, `load_index`, `empty_index`, `IndexParams`, `VectorIndex`, `pin_threads`, `KINDS` (index): exact
  (numpy), FAISS flat, HNSW, IVF-Flat and IVF-PQ behind one interface
- `excerpt_encoders`, `ExcerptEncoder` (encoders): every embedding's function of an audio excerpt
- `RetrievalEvalConfig`, `evaluate_retrieval` (evaluation): the offline excerpt->track protocol and its files
- `SearchService`, `ServiceConfig`, `ServiceError` (service), `create_app` (api): the FastAPI search service
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nt_xent": "losses", "pair_accuracy": "losses",
    "ranks_of_truth": "metrics", "ranks_from_scores": "metrics", "recall_at_k": "metrics",
    "reciprocal_rank": "metrics", "score_ranks": "metrics", "RetrievalScores": "metrics",
    "chance_recall": "metrics", "chance_mrr": "metrics",
    "AugmentConfig": "augment", "mel_augment": "augment", "audio_augment": "augment",
    "PairDataset": "pairs", "PairConfig": "pairs", "TrackMels": "pairs", "TrackFrames": "pairs",
    "collate_pairs": "pairs", "pad_batch": "pairs", "ViewPairDataset": "pairs",
    "ViewConfig": "views", "ViewBank": "views", "build_view_bank": "views",
    "MelEmbedder": "models", "FrameEmbedder": "models", "embedder_from_config": "models",
    "Embedder": "embedder",
    "RetrievalConfig": "training", "run_retrieval": "training", "RetrievalRun": "training",
    "build_index": "index", "load_index": "index", "empty_index": "index", "IndexParams": "index",
    "VectorIndex": "index", "pin_threads": "index", "KINDS": "index", "recall_vs_exact": "index",
    "excerpt_encoders": "encoders", "ExcerptEncoder": "encoders",
    "RetrievalEvalConfig": "evaluation", "evaluate_retrieval": "evaluation",
    "SearchService": "service", "ServiceConfig": "service", "ServiceError": "service", "create_app": "api",
})
