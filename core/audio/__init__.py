"""Audio in, features out: everything before a model sees the data.

- `AudioConfig` (config): sample rate, STFT, mel and segment settings; the one source of every physical setting
- `load_audio`, `AudioError`, `is_audio_path` (decode): block-wise decoding, mono downmix, streaming resampling
- `log_mel`, `analyze`, `baseline_names` (features): log-mel and the 350-number classic baseline from one STFT
- `build_catalog`, `CatalogError` (catalogs): one table per dataset (FMA, GTZAN, folder, MusicCaps, demo)
- `FeatureCache`, `load_catalog` (cache): per-track parts, their merge into a float16 memmap, and its reader;
  `cache_built_aside`: write a whole cache beside the old one and swap it in
- `prepare_dataset` (prepare): the resumable, shardable prepare job behind `python -m train.prepare`
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "AudioConfig": "config", "DEFAULT_AUDIO": "config",
    "AudioError": "decode", "load_audio": "decode", "is_audio_path": "decode", "segment_starts": "decode",
    "log_mel": "features", "analyze": "features", "baseline_names": "features",
    "build_catalog": "catalogs", "CatalogError": "catalogs", "CATALOG_COLUMNS": "catalogs",
    "FeatureCache": "cache", "MelCache": "cache", "load_catalog": "cache", "cache_built_aside": "cache",
    "prepare_dataset": "prepare", "PrepareResult": "prepare",
})
