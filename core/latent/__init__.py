"""How small can a song's vector be? The latent-size study and what it needs.

- `run_study`, `StudyConfig`, `choose_size`, `choose_structure_size` (study): one autoencoder per latent size
  (one-vector and T x C kinds), audio, metrics, the size rule
- `load_recon_model`, `build_recon_model`, `encode_mels`, `decode_latents` (model): study models and their latents
- `model_from_checkpoint`, `OutdatedCheckpoint` (model): a checkpoint's model, or what to run when it is outdated
- `TimeConvAutoencoder`, `time_shape` (timeae): the time-structured model, latent T frames x C channels
  (a principal-component code plus a learned correction)
- `latent_size`, `LatentSize` (sizes): floats per 5-s segment and kbit/s at float16/float32
- `recon_loss` (losses): MSE or MSE + multi-resolution log-mel L1
- `structure_metrics`, `onset_correlation`, `chroma_cosine`, `mel_distance` (structure): rhythm, harmony and
  the codec benchmarks' multi-scale mel distance
- `combine_datasets` (combine): several prepared datasets as one, with an artist-disjoint split
- `mel_to_audio`, `GriffinLimConfig` (griffinlim): mel inversion and fast Griffin-Lim on torch.stft
- `audio_metrics` (metrics): log-mel MSE/L1, spectral convergence, LSD, multi-resolution STFT distance
- `analyze`, `project_2d`, `cluster_quality` (analysis): PCA/UMAP maps, clustering, agreement with genre
- `interpolate`, `fit_gaussian`, `centroid_arithmetic`, `generate` (generation): new latents and their audio
- `encode_and_reconstruct` (newaudio): a file from outside the dataset through a trained model
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "run_study": "study", "StudyConfig": "study", "choose_size": "study", "choose_structure_size": "study",
    "load_recon_model": "model", "encode_mels": "model", "decode_latents": "model", "LatentSizeMismatch": "model",
    "build_recon_model": "model", "model_from_checkpoint": "model", "OutdatedCheckpoint": "model",
    "time_shape": "timeae", "TimeConvAutoencoder": "timeae", "latent_size": "sizes", "LatentSize": "sizes",
    "recon_loss": "losses", "structure_metrics": "structure", "onset_correlation": "structure",
    "chroma_cosine": "structure", "mel_distance": "structure", "combine_datasets": "combine",
    "mel_to_audio": "griffinlim", "GriffinLimConfig": "griffinlim",
    "audio_metrics": "metrics",
    "analyze": "analysis", "project_2d": "analysis", "cluster_quality": "analysis",
    "interpolate": "generation", "fit_gaussian": "generation", "centroid_arithmetic": "generation",
    "generate": "generation",
    "encode_and_reconstruct": "newaudio", "UnsupportedAudioFormat": "newaudio",
})
