"""Which genre is this? A spectrogram CNN over 4-s windows trained with an asymmetric focal loss, its
evaluation against the majority class and linear probes, and a lyrics genre classifier.

- `WindowSpec`, `TrackWindowDataset`, `track_timelines` (windows): 4-s / 2-s-hop windows assembled across
  consecutive cached segments, frame counts from the cache's AudioConfig; short tracks padded and flagged
- `SpectrogramCNN`, `model_from_config` (model): three conv blocks, global average pooling, a linear classifier
- `AsymmetricLoss`, `AsymmetricSingleLabelLoss`, `CrossEntropyLoss`, `BCELoss`, `make_loss` (losses)
- `build_labels`, `LabelSet`, `MissingLabels` (labels): genre or tag labels, rare classes dropped, top-N classes
- `run_tagger`, `TaggerResult` (pipeline): a whole run, from training to `<ds>/tagger/`
- `TaggerConfig`, `load_data`, `train_model`, `predict_windows` (run): one run on the one loop
- `single_label_scores`, `multi_label_scores`, `bootstrap_stat`, `mean_ap` (scores): scores with bootstrap CIs
- `linear_probe`, `majority_probs`, `probe_features` (probes): the references in the same table
- `evaluate_run`, `write_outputs` (report), `render_report` (markdown), `cross_validate` (crossval)
- `load_tagger`, `predict_audio` (inference): a trained tagger applied to a new audio file
- `LyricsConfig`, `read_lyrics_csv`, `LyricsInputError`, `load_lyrics_model` (lyrics), `run_lyrics` (lyrics_run):
  frozen MiniLM vectors + CE/ASL heads vs majority and TF-IDF, split by artist
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "WindowSpec": "windows", "TrackWindowDataset": "windows", "track_timelines": "windows",
    "SpectrogramCNN": "model", "model_from_config": "model",
    "AsymmetricLoss": "losses", "AsymmetricSingleLabelLoss": "losses", "CrossEntropyLoss": "losses",
    "BCELoss": "losses", "make_loss": "losses", "LOSSES": "losses",
    "build_labels": "labels", "LabelSet": "labels", "MissingLabels": "labels",
    "TaggerConfig": "run", "run_tagger": "pipeline", "TaggerResult": "pipeline", "load_data": "run",
    "train_model": "run",
    "predict_windows": "run",
    "single_label_scores": "scores", "multi_label_scores": "scores", "bootstrap_stat": "scores", "mean_ap": "scores",
    "linear_probe": "probes", "majority_probs": "probes", "probe_features": "probes",
    "evaluate_run": "report", "write_outputs": "report", "render_report": "markdown",
    "cross_validate": "crossval",
    "load_tagger": "inference", "predict_audio": "inference",
    "LyricsConfig": "lyrics", "run_lyrics": "lyrics_run", "read_lyrics_csv": "lyrics", "LyricsInputError": "lyrics",
    "load_lyrics_model": "lyrics",
})
