"""Text: frozen text encoders and, built on them, text-to-music search (a CLAP-style projection).

- `load_text_encoder`, `TextEncoder`, `ClipTextEncoder`, `TextEncoderError` (encoders): all-MiniLM-L6-v2 from
  its wheel, offline; a CLIP text model with projection from a local folder (`clip:/path`)
- `load_captions`, `CaptionSet`, `CaptionError` (captions): MusicCaps, AudioCaps, explicit CSV or template captions
- `build_pair_table`, `PairTable`, `precompute_texts`, `AudioEncoderMissing` (table): the precomputed, resumable
  {uniq_id, caption, split, audio_embedding, text_embedding} table of a dataset (.npz, no pickle)
- `AudioProjection`, `info_nce`, `AudioTextDataset`, `load_projection` (clap): the model, its loss, its data
- `best_ranks`, `ap_at_k`, `chance_recall`, `in_batch_ranks` (retrieval): R@K, mAP@10, median rank, chance
- `evaluate_pairs`, `SplitEvaluation` (evaluation): pool and in-batch scores with random baselines and CIs
- `run_clap`, `ClapConfig`, `evaluate_elsewhere` (runs): one training run, cross-dataset evaluation
- `write_report`, `read_metrics` (report): `<ds>/clap/report.md` from `<ds>/clap/metrics.json`
- `load_search_index`, `TextSearchIndex`, `search_runs` (search): what the Text search page queries
- `dataset_texts`, `TEXT_SOURCES`, `write_emotion4q_labels` (sources): every text source of a dataset (captions,
  aspect lists, mood/genre tags as short texts, templates); emotion4q's labels CSV
- `TextModelConfig`, `fit_projection` (general): the general model trained on several datasets' texts
- `load_text_model`, `TextModel`, `QueryResult` (query): search any dataset with the model's audio embedding
- `calibrate`, `judge`, `Verdict`, `reference_bank` (calibrate): calibrated scores and "no good match"
- `evaluate_dataset`, `QUADRANT_QUERIES` (zeroshot): mood-quadrant / genre P@K and caption R@K on unseen tracks
- `train_text_model`, `text_query` (pipeline): what `train.text_model` and `train.text_query` run
"""

from core import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "load_text_encoder": "encoders", "TextEncoder": "encoders", "TextEncoderError": "encoders",
    "EncodedTexts": "encoders", "DEFAULT_TEXT_ENCODER": "encoders", "ClipTextEncoder": "encoders",
    "encoder_slug": "encoders",
    "load_captions": "captions", "CaptionSet": "captions", "CaptionError": "captions",
    "template_captions": "captions",
    "build_pair_table": "table", "PairTable": "table", "precompute_texts": "table",
    "AudioEncoderMissing": "table", "table_path": "table",
    "AudioProjection": "clap", "info_nce": "clap", "AudioTextDataset": "clap", "load_projection": "clap",
    "best_ranks": "retrieval", "ap_at_k": "retrieval", "chance_recall": "retrieval", "in_batch_ranks": "retrieval",
    "evaluate_pairs": "evaluation", "SplitEvaluation": "evaluation",
    "run_clap": "runs", "ClapConfig": "runs", "evaluate_elsewhere": "runs",
    "write_report": "report", "read_metrics": "report",
    "load_search_index": "search", "TextSearchIndex": "search", "search_runs": "search",
    "dataset_texts": "sources", "TEXT_SOURCES": "sources", "write_emotion4q_labels": "sources",
    "TextModelConfig": "general", "fit_projection": "general",
    "load_text_model": "query", "TextModel": "query", "QueryResult": "query",
    "calibrate": "calibrate", "judge": "calibrate", "Verdict": "calibrate", "reference_bank": "calibrate",
    "evaluate_dataset": "zeroshot", "QUADRANT_QUERIES": "zeroshot",
    "train_text_model": "pipeline", "text_query": "pipeline",
})
