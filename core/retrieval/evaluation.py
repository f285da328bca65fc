"""Offline excerpt -> track evaluation: augmented excerpts of the query tracks are embedded by every
embedding, searched against the whole corpus (exact, and each ANN index of the trained embedders), and
scored with Recall@1/10/100 and MRR (bootstrap CIs over tracks); metrics.json, queries.csv and report.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from core.io import write_csv
from core.retrieval.augment import AugmentConfig, audio_augment
from core.retrieval.encoders import ExcerptEncoder
from core.retrieval.metrics import chance_mrr, chance_recall, ranks_from_scores, ranks_of_truth, score_ranks


@dataclass
class RetrievalEvalConfig:
    """Protocol: which tracks give queries, how many excerpts each, how long, how corrupted; CIs."""

    excerpt_s: float = 5.0
    per_track: int = 1
    splits: tuple[str, ...] = ("test",)
    ks: tuple[int, ...] = (1, 10, 100)
    n_boot: int = 1000
    seed: int = 0
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(gain_db=6.0, snr_db=(10.0, 30.0)))
    index_kinds: tuple[str, ...] = ("hnsw", "ivf_flat", "ivf_pq")
    names: tuple[str, ...] = ()  # embeddings to evaluate; empty = all
    reuse_stored: bool = True  # pretrained corpora: the vectors train.embed stored (False: re-embed every track)
    weights_dir: str | None = None  # frozen encoders' weights folder (None: $WORKBENCH_WEIGHTS)


@dataclass
class Queries:
    """The query excerpts: audio, the row of their true track, where they start."""

    audio: list[np.ndarray]
    truth: np.ndarray
    start_s: np.ndarray
    failed: dict[str, str]


def make_queries(fc, cfg: RetrievalEvalConfig) -> Queries:
    """Decode every query track, cut `per_track` random excerpts and augment them (seeded)."""
    from core.audio.decode import load_audio

    rng = np.random.default_rng(cfg.seed)
    rows = np.concatenate([fc.split_rows(s) for s in cfg.splits]) if cfg.splits != ("all",) else np.arange(
        len(fc.tracks))
    sr = fc.config.sample_rate
    n = int(round(cfg.excerpt_s * sr))
    audio, truth, starts, failed = [], [], [], {}
    for r in tqdm(sorted(int(x) for x in rows), desc="decode queries", leave=False):
        t = fc.tracks.iloc[r]
        try:
            y = load_audio(t["path"], fc.config)
        except Exception as e:  # a bad file is skipped and recorded, never a crash
            failed[str(t["track_id"])] = str(e)
            continue
        for _ in range(cfg.per_track):
            s = int(rng.integers(0, max(len(y) - n, 0) + 1))
            audio.append(audio_augment(y[s:s + n], rng, cfg.augment))
            truth.append(r)
            starts.append(s / sr)
    return Queries(audio, np.asarray(truth, np.int64), np.asarray(starts), failed)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix of the rows of a and b."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def same_artist_mask(tracks: pd.DataFrame, truth: np.ndarray) -> np.ndarray | None:
    """[q, n] True where a candidate shares the true track's artist but is another track (None if no artists)."""
    if "artist" not in tracks.columns:
        return None
    art = tracks["artist"].fillna("").astype(str).to_numpy()
    if not (art != "").any():
        return None
    qa = art[truth]
    m = (art[None, :] == qa[:, None]) & (qa[:, None] != "")
    m[np.arange(len(truth)), truth] = False
    return m


def track_means(values: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-track mean of per-query values (the bootstrap then resamples tracks, not correlated excerpts)."""
    df = pd.DataFrame({"t": truth, "v": values})
    return df.groupby("t")["v"].mean().to_numpy()


def score(ranks: np.ndarray, truth: np.ndarray, cfg: RetrievalEvalConfig) -> dict[str, Any]:
    """metrics.json entry of one rank vector: R@K, MRR, n_queries, n_tracks, CIs over tracks."""
    from core.recommend.metrics import bootstrap_ci
    from core.retrieval.metrics import recall_at_k, reciprocal_rank

    s = score_ranks(ranks, cfg.ks, n_boot=10)  # the means; CIs below resample tracks
    out = s.to_dict()
    ci = {}
    for k in cfg.ks:
        e = bootstrap_ci(track_means(recall_at_k(ranks, k), truth), cfg.n_boot, cfg.seed)
        ci[f"R@{k}"] = [e.lo, e.hi]
    e = bootstrap_ci(track_means(reciprocal_rank(ranks), truth), cfg.n_boot, cfg.seed)
    ci["MRR"] = [e.lo, e.hi]
    out["ci"] = ci
    out["n_tracks"] = int(len(np.unique(truth)))
    return out


@dataclass
class EncoderResult:
    """Ranks of one embedding's queries: exact search, same-artist candidates excluded, and per index."""

    name: str
    family: str
    ranks: np.ndarray
    ranks_excl: np.ndarray | None
    index_ranks: dict[str, np.ndarray]
    index_recall10: dict[str, float]
    embed_ms: float
    note: str = ""


def run_encoder(enc: ExcerptEncoder, q: Queries, excl: np.ndarray | None, ds_dir: Path,
                cfg: RetrievalEvalConfig) -> EncoderResult:
    """Embed every excerpt with one encoder and rank the corpus (exact, then each saved ANN index)."""
    import time

    t0 = time.perf_counter()
    qv = np.stack([enc.encode(a) for a in tqdm(q.audio, desc=enc.name, leave=False)]).astype(np.float32)
    embed_ms = (time.perf_counter() - t0) * 1000 / max(len(q.audio), 1)
    s = cosine(qv, enc.corpus)
    ranks = ranks_from_scores(s, q.truth)
    ranks_excl = ranks_from_scores(np.where(excl, -np.inf, s), q.truth) if excl is not None else None
    idx_ranks, idx_rec = index_ranks(ds_dir, enc.name, qv, s, q.truth, cfg)
    return EncoderResult(enc.name, enc.family, ranks, ranks_excl, idx_ranks, idx_rec, embed_ms, enc.note)


def index_ranks(ds_dir: Path, name: str, qv: np.ndarray, exact_scores: np.ndarray, truth: np.ndarray,
                cfg: RetrievalEvalConfig) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """For each saved index of this embedding: ranks of the true track (0 beyond top-K) and recall@10 vs exact."""
    from core.retrieval.index import load_index, recall_vs_exact

    ranks, rec = {}, {}
    kmax = min(max(cfg.ks), exact_scores.shape[1])
    exact_top = np.argsort(-exact_scores, axis=1, kind="stable")[:, : min(10, kmax)]
    for kind in cfg.index_kinds:
        path = Path(ds_dir) / "retrieval" / "index" / f"{name}.{kind}"
        if not path.exists():
            continue
        ids, _ = load_index(path).search(qv, kmax)
        ranks[kind] = ranks_of_truth(ids, truth)
        rec[kind] = recall_vs_exact(ids[:, : exact_top.shape[1]], exact_top)
    return ranks, rec


@dataclass
class RetrievalEvaluation:
    """Everything train.retrieval_eval writes: the metrics dict and the paths of its files."""

    metrics: dict[str, Any]
    metrics_path: Path
    report_path: Path
    queries_path: Path


def _paired(results: list[EncoderResult], truth: np.ndarray, cfg: RetrievalEvalConfig) -> dict[str, Any]:
    """R@1 of each trained retrieval_ embedding minus each other embedding's, paired over tracks."""
    from core.recommend.metrics import paired_bootstrap_diff
    from core.retrieval.metrics import recall_at_k

    out: dict[str, Any] = {}
    for a in (r for r in results if r.name.startswith("retrieval_")):
        ra = track_means(recall_at_k(a.ranks, 1), truth)
        for b in results:
            if b.name != a.name:
                e = paired_bootstrap_diff(ra, track_means(recall_at_k(b.ranks, 1), truth), cfg.n_boot, cfg.seed)
                out[f"{a.name} - {b.name}"] = e.to_dict()
    return out


def _metrics(results: list[EncoderResult], q: Queries, n_corpus: int, skipped: dict[str, str],
             cfg: RetrievalEvalConfig, ds_name: str) -> dict[str, Any]:
    """The metrics.json dict."""
    m: dict[str, Any] = {"dataset": ds_name, "task": "excerpt -> track identification",
                         "protocol": {**asdict(cfg), "n_corpus": n_corpus, "n_queries": int(len(q.truth)),
                                      "n_query_tracks": int(len(np.unique(q.truth))),
                                      "ci": "95% percentile bootstrap over query tracks"},
                         "chance": {**{f"R@{k}": chance_recall(n_corpus, k) for k in cfg.ks},
                                    "MRR": chance_mrr(n_corpus)},
                         "exact": {r.name: {**score(r.ranks, q.truth, cfg), "family": r.family,
                                            "embed_ms_per_query": round(r.embed_ms, 2),
                                            **({"corpus": r.note} if r.note else {})} for r in results}}
    excl = {r.name: score(r.ranks_excl, q.truth, cfg) for r in results if r.ranks_excl is not None}
    if excl:
        m["exact_excluding_same_artist"] = excl
    m["indexes"] = {r.name: {kind: {**score(rk, q.truth, cfg), "recall@10_vs_exact": r.index_recall10[kind]}
                             for kind, rk in r.index_ranks.items()} for r in results if r.index_ranks}
    m["paired_r1_diff"] = _paired(results, q.truth, cfg)
    m["skipped"] = skipped
    m["failed_queries"] = q.failed
    return m


def evaluate_retrieval(ds_dir: Path | str, cfg: RetrievalEvalConfig) -> RetrievalEvaluation:
    """Run the whole protocol on one dataset and write `<ds>/retrieval/{metrics.json,queries.csv,report.md}`."""
    from core.audio.cache import FeatureCache
    from core.io import write_json
    from core.retrieval.encoders import excerpt_encoders

    ds_dir = Path(ds_dir)
    fc = FeatureCache.open(ds_dir)
    encoders, skipped = excerpt_encoders(ds_dir, fc, list(cfg.names) or None, cfg.reuse_stored, cfg.weights_dir)
    if not encoders:
        raise ValueError(f"no embedding of {ds_dir} can embed an excerpt: {skipped}")
    q = make_queries(fc, cfg)
    if len(q.truth) == 0:
        raise ValueError(f"no query tracks in split(s) {', '.join(cfg.splits)} of {ds_dir}")
    excl = same_artist_mask(fc.tracks, q.truth)
    results = [run_encoder(e, q, excl, ds_dir, cfg) for e in tqdm(encoders, desc="search", unit="embedding")]
    metrics = _metrics(results, q, len(fc.tracks), skipped, cfg, ds_dir.name)
    out = ds_dir / "retrieval"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    qdf = pd.DataFrame({"query": np.arange(len(q.truth)), "track_id": fc.tracks["track_id"].to_numpy()[q.truth],
                        "row": q.truth, "start_s": np.round(q.start_s, 2),
                        **{f"rank_{r.name}": r.ranks for r in results}})
    write_csv(qdf, out / "queries.csv")
    from core.retrieval.report import write_report

    report = write_report(out / "report.md", metrics)
    return RetrievalEvaluation(metrics, out / "metrics.json", report, out / "queries.csv")
