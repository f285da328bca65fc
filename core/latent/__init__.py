"""How small can a song's vector be? The latent-size study and what it needs.

- `run_study`, `StudyConfig`, `choose_size` (study): one conv2d autoencoder per latent size, audio, metrics, choice
- `load_recon_model`, `encode_mels`, `decode_latents` (model): trained study models and their latents
- `mel_to_audio`, `GriffinLimConfig` (griffinlim): mel inversion and fast Griffin-Lim on torch.stft
- `audio_metrics` (metrics): log-mel MSE/L1, spectral convergence, LSD, multi-resolution STFT distance
- `analyze`, `project_2d`, `cluster_quality` (analysis): PCA/UMAP maps, clustering, agreement with genre
- `interpolate`, `fit_gaussian`, `centroid_arithmetic`, `generate` (generation): new latents and their audio
- `encode_and_reconstruct` (newaudio): a file from outside the dataset through a trained model
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "run_study": "study", "StudyConfig": "study", "choose_size": "study",
    "load_recon_model": "model", "encode_mels": "model", "decode_latents": "model", "LatentSizeMismatch": "model",
    "mel_to_audio": "griffinlim", "GriffinLimConfig": "griffinlim",
    "audio_metrics": "metrics",
    "analyze": "analysis", "project_2d": "analysis", "cluster_quality": "analysis",
    "interpolate": "generation", "fit_gaussian": "generation", "centroid_arithmetic": "generation",
    "generate": "generation",
    "encode_and_reconstruct": "newaudio", "UnsupportedAudioFormat": "newaudio",
})
