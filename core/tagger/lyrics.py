"""Lyrics genre classifier: the frozen text encoder (`core.text`, all-MiniLM-L6-v2, 384-d unit vectors) plus a
small head trained on the one loop (`core.nn.fit`) with cross-entropy or the single-label asymmetric loss,
compared with the majority class and a TF-IDF + logistic-regression reference on the same split.

Input: a UTF-8 CSV with columns `text, genre` (optional `artist, title`). Rows with empty lyrics (or no genre)
are skipped and counted; another encoding or a missing column raises `LyricsInputError`. With artists the
train/val/test split is artist-disjoint. No lyrics are written anywhere: predictions.csv holds row numbers,
artists and titles only. Fine-tuning the encoder is not done on CPU (see the README section for the estimate).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from core.audio.catalogs import CatalogError, read_metadata_csv
from core.nn.loop import TrainConfig, fit, load_model
from core.tagger.losses import make_loss
from core.tagger.model import hit_rate, top1_accuracy

REQUIRED = ("text", "genre")


class LyricsInputError(ValueError):
    """A lyrics CSV that cannot be used; the message says why and what to do."""


@dataclass
class LyricsData:
    """The usable rows of a lyrics CSV (row = 1-based data row in the file) and what was skipped."""

    texts: list[str]
    genres: np.ndarray
    artists: np.ndarray
    titles: np.ndarray
    rows: np.ndarray
    skipped_empty: int = 0
    skipped_no_genre: int = 0

    @property
    def has_artists(self) -> bool:
        """Whether artists are given for (most) rows."""
        return bool(np.mean(self.artists != "") > 0.5)


def read_lyrics_csv(path: Path) -> LyricsData:
    """Read and check a lyrics CSV (columns text, genre; optional artist, title)."""
    try:
        df = read_metadata_csv(path, "lyrics CSV")
    except CatalogError as e:
        raise LyricsInputError(str(e)) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise LyricsInputError(f"{path} lacks column(s) {', '.join(missing)} (has: {', '.join(df.columns)}); "
                               "a lyrics CSV needs text and genre (artist and title optional)")
    text, genre = df["text"].str.strip(), df["genre"].str.strip()
    empty, no_genre = text == "", (text != "") & (genre == "")
    keep = ~(empty | no_genre)
    col = lambda c: df[c].str.strip().to_numpy()[keep] if c in df else np.full(int(keep.sum()), "")  # noqa: E731
    return LyricsData(df["text"][keep].tolist(), genre[keep].to_numpy(), col("artist"), col("title"),
                      np.flatnonzero(keep) + 1, int(empty.sum()), int(no_genre.sum()))


def split_songs(data: LyricsData, seed: int = 0, fractions: tuple[float, float] = (0.15, 0.15)
                ) -> dict[str, np.ndarray]:
    """Indices of train/val/test: artist-disjoint when artists are given, else stratified by genre."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    idx = np.arange(len(data.texts))
    val_f, test_f = fractions
    if data.has_artists:
        groups = np.array([a.lower() if a else f"#row{i}" for i, a in enumerate(data.artists)])
        rest, test = next(GroupShuffleSplit(1, test_size=test_f, random_state=seed).split(idx, groups=groups))
        tr, va = next(GroupShuffleSplit(1, test_size=val_f / (1 - test_f), random_state=seed + 1).split(
            rest, groups=groups[rest]))
        return {"train": idx[rest][tr], "val": idx[rest][va], "test": idx[test]}
    strat = data.genres if min(Counter(data.genres).values()) >= 3 else None
    rest, test = train_test_split(idx, test_size=test_f, random_state=seed, stratify=strat)
    tr, va = train_test_split(rest, test_size=val_f / (1 - test_f), random_state=seed + 1,
                              stratify=strat[rest] if strat is not None else None)
    return {"train": tr, "val": va, "test": test}


class LyricsHead(nn.Module):
    """A small classifier over frozen text vectors: Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self, dim: int, n_classes: int, hidden: int = 128, dropout: float = 0.3, loss: str = "ce",
                 loss_kwargs: dict[str, float] | None = None) -> None:
        super().__init__()
        self.kw = {"dim": int(dim), "n_classes": int(n_classes), "hidden": int(hidden), "dropout": float(dropout),
                   "loss": loss, "loss_kwargs": dict(loss_kwargs or {})}
        self.net = nn.Sequential(nn.Dropout(dropout / 2), nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))
        self.criterion = make_loss(loss, False, **self.kw["loss_kwargs"])

    def config(self) -> dict:
        """What a checkpoint needs to rebuild this head."""
        return {"name": "lyrics_head", "class": "LyricsHead", "kwargs": dict(self.kw)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_classes]."""
        return self.net(x)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, {"accuracy", "pos_hit_rate"}) of a batch (vectors, class ids)."""
        x, y = batch
        logits = self(x)
        with torch.no_grad():
            logs = {"accuracy": float(top1_accuracy(logits, y).mean()),
                    "pos_hit_rate": float(hit_rate(logits, y).mean())}
        return self.criterion(logits, y), logs


@dataclass
class LyricsConfig:
    """Settings of `python -m train.lyrics` (its defaults come from here)."""

    encoder: str = "minilm"
    losses: tuple[str, ...] = ("ce", "asl")
    hidden: int = 128
    dropout: float = 0.3
    n_boot: int = 1000
    seed: int = 0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        max_epochs=200, patience=15, lr=1e-3, weight_decay=1e-4, batch_size=32, num_threads=1, log_images_every=0,
        tensorboard=True, progress=False))


def encode_cached(texts: list[str], out: Path, encoder: str, log: Callable[[str], None]) -> np.ndarray:
    """Text vectors of `texts`, reusing `<out>/text_vectors_<hash>.npy` when the same texts were encoded."""
    from core.text.encoders import load_text_encoder

    key = hashlib.sha1(json.dumps([encoder, texts]).encode()).hexdigest()[:16]
    path = out / f"text_vectors_{key}.npy"
    if path.exists():
        return np.load(path)
    enc = load_text_encoder(encoder)
    res = enc.encode_checked(texts, batch_size=32, progress=False)
    if res.truncated:
        log(f"note: {len(res.truncated)} of {len(texts)} lyrics are longer than {enc.max_tokens} tokens and were "
            "encoded truncated")
    out.mkdir(parents=True, exist_ok=True)
    np.save(path, res.vectors)
    return res.vectors


def train_head(X: np.ndarray, y: np.ndarray, split: dict[str, np.ndarray], n_classes: int, loss: str,
               cfg: LyricsConfig, out: Path) -> tuple[LyricsHead, object]:
    """One head trained on the one loop; returns (best head, FitResult)."""
    kw = {"gamma_pos": 0.0, "gamma_neg": 4.0, "label_smoothing": 0.1} if loss == "asl" else {}
    torch.manual_seed(cfg.seed)
    head = LyricsHead(X.shape[1], n_classes, cfg.hidden, cfg.dropout, loss, kw)
    mk = lambda s: TensorDataset(torch.from_numpy(X[split[s]]), torch.from_numpy(y[split[s]]))  # noqa: E731
    gen = torch.Generator().manual_seed(cfg.seed)
    tc = replace(cfg.train, run_name=f"lyrics_head_{loss}", out_dir=out, seed=cfg.seed)
    res = fit(head, DataLoader(mk("train"), batch_size=tc.batch_size, shuffle=True, generator=gen),
              DataLoader(mk("val"), batch_size=256), tc)
    return head, res


def head_probs(head: LyricsHead, X: np.ndarray) -> np.ndarray:
    """Softmax probabilities of a head for vectors X."""
    head.eval()
    with torch.no_grad():
        return torch.softmax(head(torch.from_numpy(np.asarray(X, np.float32))), -1).numpy()


def tfidf_probs(texts: list[str], y: np.ndarray, train: np.ndarray, n_classes: int) -> np.ndarray:
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression fitted on `train`; probabilities of every text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50000, sublinear_tf=True)
    Xt = vec.fit_transform([texts[i] for i in train])
    lr = LogisticRegression(C=10.0, max_iter=3000).fit(Xt, y[train])
    out = np.zeros((len(texts), n_classes))
    out[:, lr.classes_] = lr.predict_proba(vec.transform(texts))
    return out


@dataclass
class LyricsModel:
    """A trained lyrics classifier: encoder name, head, classes; `predict(texts)` -> probabilities."""

    encoder_name: str
    head: LyricsHead
    classes: list[str]
    _encoder: object = None

    def predict(self, texts: list[str]) -> np.ndarray:
        """Class probabilities [n, K] of lyrics texts (loads the text encoder on first use)."""
        if self._encoder is None:
            from core.text.encoders import load_text_encoder

            self._encoder = load_text_encoder(self.encoder_name)
        return head_probs(self.head, self._encoder.encode(list(texts)))


def load_lyrics_model(out: Path) -> LyricsModel:
    """The model described by `<out>/lyrics_model.json` (FileNotFoundError if there is none)."""
    meta_path = Path(out) / "lyrics_model.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"no lyrics model in {out}; run `python -m train.lyrics --csv FILE --out {out}`")
    meta = json.loads(meta_path.read_text())
    head, _ = load_model(Path(out) / meta["checkpoint"], lambda cfg: LyricsHead(**cfg["kwargs"]))
    return LyricsModel(meta["encoder"], head, list(meta["classes"]))
