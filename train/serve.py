"""Serve excerpt -> track search over HTTP (FastAPI + uvicorn; OpenAPI docs at /docs):
`python -m train.serve --data artifacts/<ds> --index hnsw --port 8000`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command's flags, defaults from ServiceConfig."""
    from core.retrieval.index import KINDS
    from core.retrieval.service import ServiceConfig

    d = ServiceConfig()
    ap = argparse.ArgumentParser(prog="python -m train.serve", description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("artifacts/demo"), help="prepared dataset folder")
    ap.add_argument("--embedding", default=None, help="embedding to serve (default: retrieval_mels or the first "
                                                      "retrieval_* one)")
    ap.add_argument("--index", default="hnsw", choices=KINDS, help="index kind")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=d.threads, help="BLAS / FAISS / torch threads (pinned)")
    ap.add_argument("--max-k", type=int, default=d.max_k)
    ap.add_argument("--max-batch", type=int, default=d.max_batch)
    ap.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 2**20)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Parse flags, pin BLAS/FAISS threads, load the embedding and index, run uvicorn."""
    from core.retrieval.service import ServiceConfig

    ap = build_parser()
    args = ap.parse_args(argv)
    problem = _check_args(args)
    if problem:
        ap.error(problem)  # one line, exit 2
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy/faiss start their pools
    from core.retrieval.index import pin_threads
    from core.retrieval.service import SearchService
    from core.subnormals import flush_subnormals

    pin_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
        flush_subnormals()  # before uvicorn starts the threads that run requests: they inherit it
        cfg = ServiceConfig(max_k=args.max_k, max_batch=args.max_batch,
                            max_upload_bytes=int(args.max_upload_mb * 2**20), threads=args.threads)
        service = SearchService(args.data, args.embedding, args.index, cfg)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import uvicorn

    from core.retrieval.api import create_app

    print(f"serving {service.embedding} ({service.index_kind}, {len(service.ids)} tracks) on "
          f"http://{args.host}:{args.port} (docs at /docs)")
    uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="warning")
    return 0


def _check_args(args: argparse.Namespace) -> str:
    """Why the numeric flags cannot work ('' when they can)."""
    import math

    if args.threads < 1:
        return f"--threads must be at least 1, got {args.threads}"
    if not 0 <= args.port <= 65535:
        return f"--port must be in 0..65535, got {args.port}"
    if args.max_k < 1 or args.max_batch < 1:
        return f"--max-k and --max-batch must be at least 1, got {args.max_k} and {args.max_batch}"
    if not (math.isfinite(args.max_upload_mb) and 0 < args.max_upload_mb <= 4096):
        return f"--max-upload-mb must be > 0 and at most 4096, got {args.max_upload_mb:g}"
    return ""


if __name__ == "__main__":
    sys.exit(main())
