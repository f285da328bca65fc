"""The search service: FastAPI app over one embedding + one index of a dataset.

`GET /health`; `POST /search` with JSON `{"track_id": "...", "k": 10}`, `{"vector": [...], "k": 10}` or a batch
`{"queries": [{"track_id": ...}, {"vector": [...]}], "k": 10}`; `POST /search/audio` with a multipart upload
(`file`, optional `k`): decode -> embed -> search. Answers `{"results": [{"track_id", "score", ...}]}` (a batch:
`{"batch": [{"results": [...]}, ...]}`). Every bad request gets a 4xx JSON `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ServiceConfig:
    """Limits and settings of the service."""

    max_k: int = 100
    default_k: int = 10
    max_batch: int = 64
    max_upload_bytes: int = 20 * 1024 * 1024
    max_json_bytes: int = 4 * 1024 * 1024  # a /search body; larger ones get 413 before they are read
    max_audio_s: float = 60.0
    min_audio_s: float = 1.0
    threads: int = 1


class ServiceError(Exception):
    """A request the service refuses: HTTP status, machine code, human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SearchService:
    """One dataset's embedding, its index and (lazily) its function of audio."""

    def __init__(self, ds_dir: Path | str, embedding: str | None = None, index_kind: str = "hnsw",
                 cfg: ServiceConfig | None = None) -> None:
        from core.audio.cache import FeatureCache
        from core.recommend.embeddings import list_embeddings, load_embedding

        self.ds_dir, self.cfg = Path(ds_dir), cfg or ServiceConfig()
        self.fc = FeatureCache.open(self.ds_dir)
        names = list_embeddings(self.ds_dir)
        if embedding is None:
            trained = [n for n in names if n.startswith("retrieval_")]
            if not trained:
                raise FileNotFoundError(f"no retrieval_* embedding in {self.ds_dir}; run "
                                        f"`python -m train.retrieval --data {self.ds_dir}` first")
            embedding = "retrieval_mels" if "retrieval_mels" in trained else trained[0]
        self.embedding = embedding
        self.vectors, self.meta = load_embedding(self.ds_dir, embedding)
        self.ids = self.fc.tracks["track_id"].astype(str).to_numpy()
        self.row_of = {t: i for i, t in enumerate(self.ids)}
        self.index_kind = index_kind
        self.index, self.index_source = self._open_index(index_kind)
        self._audio_encoder: Any = None

    def _open_index(self, kind: str):
        """The saved index `<ds>/retrieval/index/<embedding>.<kind>` (memory-mapped), else one built now."""
        from core.retrieval.index import build_index, load_index

        path = self.ds_dir / "retrieval" / "index" / f"{self.embedding}.{kind}"
        bad = int((~np.isfinite(np.asarray(self.vectors))).any(axis=1).sum())
        if bad:
            raise ValueError(f"embedding {self.embedding!r} of {self.ds_dir} has {bad} rows with NaN or infinite "
                             "numbers; recompute it before serving")
        if path.exists():
            idx = _read_index(path, load_index)
            if idx.ntotal == len(self.vectors):
                return idx, str(path)
        return build_index(kind, self.vectors), "built at start-up"

    @property
    def dim(self) -> int:
        """Vector length the index expects."""
        return int(self.vectors.shape[1])

    def health(self) -> dict[str, Any]:
        """What is being served."""
        return {"status": "ok", "dataset": self.ds_dir.name, "embedding": self.embedding, "index": self.index_kind,
                "index_source": self.index_source, "n_tracks": int(len(self.ids)), "dim": self.dim,
                "max_k": self.cfg.max_k, "max_batch": self.cfg.max_batch, "audio_search": self.audio_supported()}

    def check_k(self, k: Any) -> int:
        """k as an int in [1, max_k] (ServiceError 422 otherwise)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.cfg.max_k:
            raise ServiceError(422, "k_out_of_range", f"k must be an integer in 1..{self.cfg.max_k}, got {k!r}")
        return k

    def query_vector(self, q: dict[str, Any]) -> tuple[np.ndarray, int | None]:
        """(vector, row to exclude) of one query {"track_id"} or {"vector"} (ServiceError on anything else)."""
        has_id, has_vec = q.get("track_id") is not None, q.get("vector") is not None
        if has_id == has_vec:
            raise ServiceError(422, "bad_query", "give exactly one of 'track_id' or 'vector' per query")
        if has_id:
            tid = str(q["track_id"])
            if tid not in self.row_of:
                raise ServiceError(404, "unknown_track_id", f"no track with id {tid!r} in {self.ds_dir.name}")
            row = self.row_of[tid]
            return np.asarray(self.vectors[row], np.float32), row
        v = q["vector"]
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise ServiceError(422, "bad_vector", "'vector' must be a list of numbers")
        if len(v) != self.dim:
            raise ServiceError(422, "wrong_vector_length", f"'vector' has {len(v)} numbers; this index needs "
                                                           f"{self.dim}")
        if not all(math.isfinite(x) for x in v):
            raise ServiceError(422, "non_finite", "'vector' contains NaN or infinite numbers")
        if max((abs(x) for x in v), default=0.0) > float(np.finfo(np.float32).max):
            raise ServiceError(422, "non_finite", "'vector' has numbers beyond float32 range")
        big = np.asarray(v, np.float64)
        top = float(np.abs(big).max()) if len(big) else 0.0
        arr = (big / top).astype(np.float32) if top > 0 else big.astype(np.float32)  # scaled: no norm overflow
        if not np.isfinite(arr).all() or float(np.linalg.norm(arr)) == 0.0:
            raise ServiceError(422, "non_finite", "'vector' must be finite in float32 and not all zeros")
        return arr, None

    def search(self, vectors: np.ndarray, k: int, exclude: list[int | None]) -> list[list[dict[str, Any]]]:
        """Top-k per query vector (a query's own track left out), as result dicts."""
        ids, scores = self.index.search(vectors, k + 1)
        out = []
        for row_ids, row_scores, ex in zip(ids, scores, exclude):
            res = [{"track_id": str(self.ids[i]), "score": round(float(s), 6), "row": int(i)}
                   for i, s in zip(row_ids, row_scores) if i >= 0 and i != ex]
            out.append(res[:k])
        return out

    def search_json(self, body: Any) -> dict[str, Any]:
        """Answer a JSON search request (single or batch)."""
        if not isinstance(body, dict):
            raise ServiceError(422, "bad_request", "the body must be a JSON object")
        k = self.check_k(body.get("k", self.cfg.default_k))
        t0 = time.perf_counter()
        if "queries" in body:
            qs = body["queries"]
            if not isinstance(qs, list) or not qs or not all(isinstance(q, dict) for q in qs):
                raise ServiceError(422, "bad_batch", "'queries' must be a non-empty list of objects")
            if len(qs) > self.cfg.max_batch:
                raise ServiceError(422, "batch_too_large", f"at most {self.cfg.max_batch} queries per request")
            pairs = [self.query_vector(q) for q in qs]
            res = self.search(np.stack([p[0] for p in pairs]), k, [p[1] for p in pairs])
            return {"batch": [{"results": r} for r in res], "k": k, "ms": _ms(t0)}
        vec, ex = self.query_vector(body)
        return {"results": self.search(vec[None], k, [ex])[0], "k": k, "ms": _ms(t0)}

    def audio_supported(self) -> bool:
        """Whether this embedding has a function of raw audio here."""
        fam = self.meta.get("family", "")
        return self.embedding == "baseline" or fam in ("contrastive", "autoencoder")

    def embed_audio_file(self, data: bytes, filename: str) -> np.ndarray:
        """Decode an uploaded file and embed it (ServiceError 4xx for every bad upload)."""
        from core.audio.decode import AudioError, load_audio

        if not data:
            raise ServiceError(400, "empty_upload", "the uploaded file is empty")
        if len(data) > self.cfg.max_upload_bytes:
            raise ServiceError(413, "upload_too_large", f"uploads are limited to {self.cfg.max_upload_bytes} bytes")
        if not self.audio_supported():
            raise ServiceError(409, "audio_unsupported", f"embedding {self.embedding!r} cannot embed raw audio")
        suffix = Path(filename or "upload").suffix.lower()[:8] or ".bin"
        with tempfile.NamedTemporaryFile(suffix=suffix) as f:
            f.write(data)
            f.flush()
            try:
                audio = load_audio(f.name, self.fc.config, max_seconds=self.cfg.max_audio_s)
            except AudioError as e:
                raise ServiceError(415, "undecodable_audio", f"the upload is not decodable audio: {e}") from None
            except Exception as e:  # any decoder failure is the upload's fault here
                raise ServiceError(415, "undecodable_audio", f"the upload is not decodable audio ({e})") from None
        if len(audio) < self.cfg.min_audio_s * self.fc.config.sample_rate:
            raise ServiceError(422, "audio_too_short", f"the audio is shorter than {self.cfg.min_audio_s:g} s")
        return self._encoder().encode(audio)

    def _encoder(self):
        """The embedding's excerpt encoder, built on first use."""
        if self._audio_encoder is None:
            from core.retrieval.encoders import excerpt_encoders

            encs, skipped = excerpt_encoders(self.ds_dir, self.fc, [self.embedding])
            if not encs:
                raise ServiceError(409, "audio_unsupported", skipped.get(self.embedding, "no audio encoder"))
            self._audio_encoder = encs[0]
        return self._audio_encoder

    def search_audio(self, data: bytes, filename: str, k: Any) -> dict[str, Any]:
        """Answer an audio search."""
        k = self.check_k(k)
        t0 = time.perf_counter()
        v = self.embed_audio_file(data, filename)
        return {"results": self.search(v[None], k, [None])[0], "k": k, "ms": _ms(t0)}


def _read_index(path: Path, load_index):
    """A saved index, or ValueError naming the file when it is unreadable or holds NaN/infinite vectors."""
    hint = "rebuild it with `python -m train.retrieval` (or delete it to build one at start-up)"
    try:
        idx = load_index(path)
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"index {path} is unreadable ({type(exc).__name__}: "
                         f"{(str(exc).strip().splitlines() or [''])[0][:160]}); {hint}") from None
    vecs = getattr(idx, "vectors", None)
    if vecs is not None and not bool(np.isfinite(np.asarray(vecs)).all()):
        raise ValueError(f"index {path} holds NaN or infinite vectors; {hint}")
    return idx


def _ms(t0: float) -> float:
    """Milliseconds since t0."""
    return round((time.perf_counter() - t0) * 1000, 3)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON of every error response."""
    return {"error": {"code": code, "message": message}}
