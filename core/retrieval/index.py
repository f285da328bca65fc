"""Nearest-neighbour indexes behind one interface: exact (numpy), FAISS flat, HNSW, IVF-Flat and IVF-PQ.

Every index stores L2-normalised float32 vectors and ranks by inner product (= cosine).
`build_index(kind, vectors)` -> `.search(queries, k) -> (ids, scores)`, `.add(vectors)`,
`.save(path)`, `load_index(path, mmap=True)`. `pin_threads(n)` fixes BLAS and FAISS/OpenMP threads.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.io import sha256_of
from core.recommend.similarity import l2_normalise

KINDS = ("exact", "flat", "hnsw", "ivf_flat", "ivf_pq")


def pin_threads(n: int) -> None:
    """Limit BLAS (OpenBLAS/MKL via threadpoolctl and env vars) and FAISS's OpenMP to `n` threads."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency of scikit-learn
        pass
    import faiss

    faiss.omp_set_num_threads(n)


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (core.recommend.similarity.l2_normalise) as the contiguous float32 matrix
    FAISS wants; a single vector becomes one row."""
    return np.ascontiguousarray(l2_normalise(np.atleast_2d(np.asarray(x, dtype=np.float32))), dtype=np.float32)


@dataclass
class IndexParams:
    """Build and search settings of the ANN indexes (defaults chosen by benchmarks/bench_index.py)."""

    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    nlist: int | None = None  # IVF cells; None = about 4 * sqrt(n)
    nprobe: int = 16
    pq_m: int = 16  # sub-quantisers of IVF-PQ (dim must be divisible)
    pq_bits: int = 8
    train_size: int = 50_000  # vectors used to train IVF quantisers

    def cells(self, n: int) -> int:
        """Number of IVF cells for n vectors (at most n // 39 so every cell gets training points)."""
        want = self.nlist or int(4 * np.sqrt(max(n, 1)))
        return int(max(1, min(want, n // 39 if n >= 39 else 1)))


class VectorIndex:
    """The shared interface: add, search, save; `kind`, `dim` and `ntotal` describe it."""

    kind = "base"

    def __init__(self, dim: int, params: IndexParams | None = None) -> None:
        self.dim, self.params = int(dim), params or IndexParams()

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        raise NotImplementedError

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (normalised here); their ids continue from ntotal."""
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids [q, k] int64, scores [q, k] float32) of the k best items per query; id -1 = no result."""
        raise NotImplementedError

    def save(self, path: Path | str) -> Path:
        """Write the index to `path` (a file) plus `path.json` describing it; returns path."""
        raise NotImplementedError

    def _check(self, x: np.ndarray) -> np.ndarray:
        """Normalised float32 rows of the right width (ValueError otherwise)."""
        x = normalise(x)
        if x.shape[1] != self.dim:
            raise ValueError(f"vectors have {x.shape[1]} dimensions; the index has {self.dim}")
        return x

    def _write_meta(self, path: Path) -> None:
        """The JSON sidecar: kind, dim, ntotal, parameters and the index file's SHA-256 (checked on load, so a
        file changed or corrupted after it was written is refused even where FAISS would still read it)."""
        meta = {"kind": self.kind, "dim": self.dim, "ntotal": self.ntotal, "params": asdict(self.params),
                "sha256": sha256_of(path)}
        Path(f"{path}.json").write_text(json.dumps(meta, indent=2))


class ExactIndex(VectorIndex):
    """Brute-force cosine search with numpy (one matrix product, argpartition)."""

    kind = "exact"
    max_scores = 32_000_000  # score-matrix cells per block (128 MB of float32)

    def __init__(self, dim: int, params: IndexParams | None = None) -> None:
        super().__init__(dim, params)
        self.vectors = np.zeros((0, self.dim), np.float32)

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return int(len(self.vectors))

    def add(self, vectors: np.ndarray) -> None:
        """Append normalised vectors."""
        self.vectors = np.ascontiguousarray(np.concatenate([self.vectors, self._check(vectors)]))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k by inner product."""
        q = self._check(queries)
        n = self.ntotal
        kk = min(k, n)
        ids = np.full((len(q), k), -1, np.int64)
        scores = np.full((len(q), k), -np.inf, np.float32)
        if kk == 0:
            return ids, scores
        step = max(1, int(self.max_scores // max(n, 1)))  # bound the [q, n] score block's memory
        for a in range(0, len(q), step):
            s = q[a:a + step] @ self.vectors.T
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (len(s), 1))
            ps = np.take_along_axis(s, part, 1)
            order = np.argsort(-ps, axis=1, kind="stable")
            ids[a:a + step, :kk] = np.take_along_axis(part, order, 1)
            scores[a:a + step, :kk] = np.take_along_axis(ps, order, 1)
        return ids, scores

    def save(self, path: Path | str) -> Path:
        """Vectors as .npy (loaded memory-mapped)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.save(f, self.vectors)
        self._write_meta(path)
        return path


class FaissIndex(VectorIndex):
    """A FAISS index (flat, HNSW, IVF-Flat or IVF-PQ) over inner product."""

    def __init__(self, kind: str, dim: int, params: IndexParams | None = None, index: Any = None) -> None:
        super().__init__(dim, params)
        self.kind = kind
        self.index = index

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return 0 if self.index is None else int(self.index.ntotal)

    def _create(self, n_hint: int) -> Any:
        """An empty FAISS index of this kind sized for about n_hint vectors."""
        import faiss

        p, d, ip = self.params, self.dim, faiss.METRIC_INNER_PRODUCT
        if self.kind == "flat":
            return faiss.IndexFlatIP(d)
        if self.kind == "hnsw":
            idx = faiss.IndexHNSWFlat(d, p.hnsw_m, ip)
            idx.hnsw.efConstruction = p.ef_construction
            return idx
        quant = faiss.IndexFlatIP(d)
        if self.kind == "ivf_flat":
            return faiss.IndexIVFFlat(quant, d, p.cells(n_hint), ip)
        if d % p.pq_m:
            raise ValueError(f"IVF-PQ needs dim divisible by pq_m ({d} % {p.pq_m} != 0)")
        bits = int(min(p.pq_bits, max(1, np.floor(np.log2(max(n_hint, 2))))))  # small corpora: fewer codes
        return faiss.IndexIVFPQ(quant, d, p.cells(n_hint), p.pq_m, bits, ip)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; the first call creates (and for IVF trains) the index."""
        x = self._check(vectors)
        if self.index is None:
            self.index = self._create(len(x))
        if not self.index.is_trained:
            rng = np.random.default_rng(0)
            sample = x if len(x) <= self.params.train_size else x[rng.choice(len(x), self.params.train_size, False)]
            self.index.train(sample)
        self.index.add(x)

    def _set_search_params(self) -> None:
        """efSearch / nprobe from the params (they are not stored in the file)."""
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = self.params.ef_search
        elif self.kind in ("ivf_flat", "ivf_pq"):
            self.index.nprobe = self.params.nprobe

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k via FAISS (ids -1 where fewer than k results)."""
        q = self._check(queries)
        if self.index is None or self.ntotal == 0:
            return np.full((len(q), k), -1, np.int64), np.full((len(q), k), -np.inf, np.float32)
        self._set_search_params()
        scores, ids = self.index.search(q, int(k))
        return ids.astype(np.int64), scores.astype(np.float32)

    def save(self, path: Path | str) -> Path:
        """faiss.write_index plus the JSON sidecar."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path))
        self._write_meta(path)
        return path


def empty_index(kind: str, dim: int, params: IndexParams | None = None) -> VectorIndex:
    """An empty index of one of KINDS."""
    if kind not in KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose from {', '.join(KINDS)}")
    return ExactIndex(dim, params) if kind == "exact" else FaissIndex(kind, dim, params)


def build_index(kind: str, vectors: np.ndarray, params: IndexParams | None = None) -> VectorIndex:
    """An index of `kind` holding `vectors` (row i gets id i)."""
    vectors = np.asarray(vectors)
    idx = empty_index(kind, int(vectors.shape[1]), params)
    idx.add(vectors)
    return idx


def load_index(path: Path | str, mmap: bool = True, params: IndexParams | None = None) -> VectorIndex:
    """Read an index written by `.save`; memory-mapped where FAISS allows (flat, HNSW, IVF) and for exact."""
    path = Path(path)
    meta_path = Path(f"{path}.json")
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"no index at {path} (or its {meta_path.name}); build it with train.retrieval")
    meta = json.loads(meta_path.read_text())
    if meta.get("sha256") and sha256_of(path) != meta["sha256"]:
        raise ValueError(f"{path} does not match the SHA-256 in {meta_path.name}: corrupt or changed since it "
                         "was built")
    p = params or IndexParams(**meta.get("params", {}))
    if meta["kind"] == "exact":
        idx = ExactIndex(int(meta["dim"]), p)
        idx.vectors = np.load(path, mmap_mode="r" if mmap else None)
        return idx
    import faiss

    flags = faiss.IO_FLAG_MMAP if mmap else 0
    try:
        raw = faiss.read_index(str(path), flags)
    except RuntimeError:  # some index types cannot be memory-mapped: read them fully
        raw = faiss.read_index(str(path))
    return FaissIndex(meta["kind"], int(meta["dim"]), p, raw)


@dataclass
class IndexCheck:
    """Recall@k of an index's results against exact search on the same queries."""

    kind: str
    k: int
    recall: float
    n_queries: int
    extra: dict[str, Any] = field(default_factory=dict)


def recall_vs_exact(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean share of the exact top-k found in the approximate top-k (ids -1 ignored)."""
    hits = []
    for a, e in zip(approx_ids, exact_ids):
        e = e[e >= 0]
        if len(e):
            hits.append(len(np.intersect1d(a[a >= 0], e)) / len(e))
    return float(np.mean(hits)) if hits else float("nan")
