"""Excerpt encoders: for each embedding of a dataset, its corpus matrix and the function that maps a
decoded audio excerpt to a vector in the same space, so every embedding is searched under one protocol.

- baseline: the classic features of the excerpt recomputed with `core.audio.features.analyze`,
  standardised with the train split's statistics (as baseline.npy is)
- retrieval_* (family contrastive): the trained `Embedder` on the excerpt's log-mel, or (frames input) on the
  frozen encoder's frames of the excerpt; the corpus is the stored embedding
- autoencoders: the excerpt's log-mel cut into the model's windows, encoded, pooled like the
  track embedding, standardised with the train statistics of the re-embedded corpus
- pretrained_* (family pretrained): the frozen encoder (`core.encoders.registry.load_encoder`; weights from
  $WORKBENCH_WEIGHTS) on the decoded excerpt; the corpus is the per-track vectors `train.embed` stored (tracks
  without one are re-embedded), standardised on the train split
- anything else (unknown families, frames embedders whose encoder is not usable here): skipped with the reason
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.recommend.embeddings import load_embedding, standardise
from core.subnormals import flush_subnormals


@dataclass
class ExcerptEncoder:
    """One embedding under evaluation: corpus [n, d] and audio excerpt -> [d]."""

    name: str
    family: str
    corpus: np.ndarray
    encode: Callable[[np.ndarray], np.ndarray]
    note: str = ""


class Skipped(Exception):
    """This embedding cannot embed an audio excerpt here (the message says why)."""


def _train_standardiser(raw: np.ndarray, fc) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the train split's rows (every row when there is no train split), computed by
    core.recommend.embeddings.standardise, so a corpus matches the stored embedding's standardisation."""
    train = fc.split_rows("train")
    _, mean, std = standardise(raw, train if len(train) else np.arange(len(raw)))
    return mean, std


def baseline_encoder(fc) -> ExcerptEncoder:
    """The classic baseline: corpus = standardised cached features; excerpt = analyze() of the excerpt."""
    from core.audio.features import analyze

    raw = np.nan_to_num(np.asarray(fc.baseline, np.float64))
    mean, std = _train_standardiser(raw, fc)
    cfg = fc.config

    def encode(audio: np.ndarray) -> np.ndarray:
        return ((np.nan_to_num(analyze(audio, cfg)[1].astype(np.float64)) - mean) / std).astype(np.float32)

    return ExcerptEncoder("baseline", "classic", ((raw - mean) / std).astype(np.float32), encode)


def checkpoint_in(ds_dir: Path, name: str, meta: dict) -> Path:
    """The best checkpoint of a trained embedding: `<ds>/checkpoints/<name>/best.pt` (so a copied or moved
    dataset folder keeps working), else the path its sidecar recorded."""
    inside = Path(ds_dir) / "checkpoints" / name / "best.pt"
    return inside if inside.is_file() else Path(meta.get("checkpoint", ""))


def contrastive_encoder(ds_dir: Path, name: str, meta: dict, weights_dir: str | None = None) -> ExcerptEncoder:
    """A retrieval_* embedding: its stored corpus and its checkpoint's Embedder (frozen encoder weights from
    `weights_dir` when given)."""
    from core.retrieval.embedder import Embedder

    corpus, _ = load_embedding(ds_dir, name)
    emb = Embedder.from_checkpoint(checkpoint_in(ds_dir, name, meta))
    if weights_dir:
        emb.weights_dir = str(weights_dir)
    if not emb.input.startswith("mels"):
        try:
            emb.frame_encoder()
        except Exception as e:  # unknown encoder, missing or corrupt weights
            raise Skipped(f"{name} reads {emb.input}; embedding an audio excerpt needs that encoder's audio API "
                          f"({type(e).__name__}: {e})") from None
    note = f"excerpt -> {emb.input.split(':', 1)[1]} frames -> embedder" if emb.input != "mels" else ""
    return ExcerptEncoder(name, "contrastive", corpus, emb.embed_audio, note=note)


def autoencoder_encoder(ds_dir: Path, name: str, meta: dict, fc) -> ExcerptEncoder:
    """An autoencoder embedding: re-embed the corpus with its checkpoint and encode excerpts the same way."""
    import torch

    from core.audio.features import log_mel
    from core.nn.loop import load_model
    from core.recommend.autoencoders import model_from_config
    from core.recommend.embeddings import embed_tracks, pool_tracks
    from core.recommend.windows import MelStats, window_starts

    if meta.get("input", "mels") != "mels":
        raise Skipped(f"{name} reads {meta['input']}; only log-mel autoencoders embed an audio excerpt here")
    path = checkpoint_in(ds_dir, name, meta)
    if not path.is_file():
        raise Skipped(f"{name}: checkpoint {path} not found")
    model, ckpt = load_model(path, model_from_config)
    ex = ckpt.get("extra", {})
    stats, window = MelStats.from_dict(ex["mel_stats"]), int(ex["window"])
    hop, pooling = int(ex.get("embed_hop", window)), meta.get("pooling", "mean")
    raw = embed_tracks(model, fc, stats, window, hop, poolings=(pooling,)).pooled[pooling]
    mean, std = _train_standardiser(raw, fc)
    cfg = fc.config

    def encode(audio: np.ndarray) -> np.ndarray:
        x = stats.apply(log_mel(audio, cfg))
        if x.shape[1] < window:
            x = np.pad(x, ((0, 0), (0, window - x.shape[1])))
        wins = np.stack([x[:, s:s + window] for s in window_starts(x.shape[1], window, hop)])
        flush_subnormals()
        with torch.no_grad():
            z = model.encode(torch.from_numpy(wins)).float().numpy()
        v = pool_tracks(z, np.zeros(len(z), np.int64), 1, pooling)[0][0]
        return ((v - mean) / std).astype(np.float32)

    return ExcerptEncoder(name, "autoencoder", ((raw - mean) / std).astype(np.float32), encode,
                          note="corpus re-embedded from the checkpoint")


def pretrained_encoder(name: str, meta: dict, fc, ds_dir: Path | None = None, reuse: bool = True,
                       weights_dir: str | None = None) -> ExcerptEncoder:
    """A pretrained encoder's embedding (`core.encoders.registry.load_encoder`): corpus = the vectors
    `train.embed` stored per track (`reuse`), re-embedding only the tracks without one (all with `reuse=False`),
    standardised on the train split like the stored embedding; excerpts embedded with the same encoder."""
    from core.encoders.registry import load_encoder

    try:
        enc = load_encoder(meta.get("encoder") or name.removeprefix("pretrained_"), weights_dir)
    except Exception as e:  # unknown encoder, missing or corrupt weights
        raise Skipped(f"{name}: the pretrained encoder's audio API is not usable here ({type(e).__name__}: {e})"
                      ) from None
    sr = fc.config.sample_rate

    def raw(audio: np.ndarray) -> np.ndarray:
        return np.asarray(enc.embed(enc.at_rate(audio, sr)), np.float64)

    corpus, reused = pretrained_corpus(name, enc, fc, raw, ds_dir if reuse else None)
    mean, std = _train_standardiser(corpus, fc)

    def encode(audio: np.ndarray) -> np.ndarray:
        return ((raw(audio) - mean) / std).astype(np.float32)

    note = (f"corpus: {reused} track vectors stored by train.embed, {len(corpus) - reused} re-embedded from the "
            "decoded tracks")
    return ExcerptEncoder(name, "pretrained", ((corpus - mean) / std).astype(np.float32), encode, note=note)


def pretrained_corpus(name: str, enc, fc, raw: Callable[[np.ndarray], np.ndarray], ds_dir: Path | None
                      ) -> tuple[np.ndarray, int]:
    """([n, d] raw corpus vectors, how many were reused): the per-track vectors `train.embed` stored under
    `ds_dir` where valid, the rest re-embedded from the decoded tracks with a progress bar."""
    from tqdm.auto import tqdm

    from core.audio.decode import load_audio
    from core.encoders.embed import stored_embeddings

    paths = fc.tracks["path"].astype(str).tolist()
    stored = stored_embeddings(ds_dir, enc.name, fc.tracks["track_id"].astype(str).tolist(), paths) if ds_dir else {}
    todo = [r for r in range(len(paths)) if r not in stored]
    for r in tqdm(todo, desc=f"re-embed corpus ({name})", unit="track", disable=not todo):
        try:
            stored[r] = raw(load_audio(paths[r], fc.config))
        except Exception as e:
            raise Skipped(f"{name}: cannot re-embed corpus track {paths[r]} ({e})") from None
    return np.stack([np.asarray(stored[r], np.float64) for r in range(len(paths))]), len(paths) - len(todo)


def excerpt_encoders(ds_dir: Path, fc, names: list[str] | None = None, reuse: bool = True,
                     weights_dir: str | None = None) -> tuple[list[ExcerptEncoder], dict[str, str]]:
    """Every embedding of the dataset that can embed an audio excerpt, and {name: reason} for the rest;
    `reuse`: pretrained corpora from the vectors `train.embed` stored (else re-embedded); `weights_dir`: the
    frozen encoders' weights folder (None: $WORKBENCH_WEIGHTS, or what a retrieval checkpoint recorded)."""
    from tqdm.auto import tqdm

    from core.recommend.embeddings import list_embeddings

    ds_dir = Path(ds_dir)
    names = names or sorted(set(list_embeddings(ds_dir)) | {"baseline"})
    out, skipped = [], {}
    for name in tqdm(names, desc="load embeddings", unit="embedding"):
        try:
            out.append(_one_encoder(ds_dir, name, fc, reuse, weights_dir))
        except Skipped as e:
            skipped[name] = str(e)
        except Exception as e:  # one broken embedding must not cost the others their results
            skipped[name] = f"{name}: cannot be loaded ({type(e).__name__}: {e})"
    return out, skipped


def _one_encoder(ds_dir: Path, name: str, fc, reuse: bool = True, weights_dir: str | None = None) -> ExcerptEncoder:
    """The excerpt encoder of one embedding by its family (Skipped when it has none)."""
    if name == "baseline":
        return baseline_encoder(fc)
    _, meta = load_embedding(ds_dir, name)
    family = meta.get("family", "")
    if family == "contrastive" or name.startswith("retrieval_"):
        return contrastive_encoder(ds_dir, name, meta, weights_dir)
    if family == "autoencoder" or (not family and str(meta.get("checkpoint", "")).endswith(".pt")):
        return autoencoder_encoder(ds_dir, name, meta, fc)
    if family == "pretrained":
        return pretrained_encoder(name, meta, fc, ds_dir, reuse, weights_dir)
    raise Skipped(f"{name} (family {family or 'unknown'}): no function of raw audio available to embed an excerpt")
