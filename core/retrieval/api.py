"""The FastAPI app of the search service (`create_app(service)`); OpenAPI docs at /docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core.retrieval.service import SearchService, ServiceError, error_body


class Query(BaseModel):
    """One query: a track id of the corpus, or a vector of the index's dimension."""

    track_id: str | None = Field(None, examples=["blues.00000"])
    vector: list[float] | None = None


class SearchRequest(Query):
    """A single query (track_id or vector) or a batch (`queries`), and how many results each."""

    queries: list[Query] | None = None
    k: int = Field(10, description="results per query (1..max_k, see /health)")


class Hit(BaseModel):
    """One result."""

    track_id: str
    score: float
    row: int


class SearchResponse(BaseModel):
    """Results of a single query, or of every query of a batch."""

    results: list[Hit] | None = None
    batch: list[dict[str, list[Hit]]] | None = None
    k: int
    ms: float


def create_app(service: SearchService) -> FastAPI:
    """The app: /health, /search (JSON: id, vector or batch), /search/audio (multipart upload)."""
    app = FastAPI(title="Find this track", version="1.0",
                  description="Excerpt -> track search over one embedding and ANN index of a dataset.")

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "; ".join(parts) or "invalid request"), status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """What is served: dataset, embedding, index, sizes, limits."""
        return service.health()

    @app.post("/search", response_model=None, responses={200: {"model": SearchResponse}})
    async def search(req: SearchRequest) -> JSONResponse:
        """Search by `track_id`, by `vector`, or a batch of either in `queries`. Runs on the event loop: an
        index search over a small corpus takes microseconds, less than a thread-pool hand-off."""
        body = req.model_dump(exclude_none=True)
        if "queries" in body:
            body["queries"] = [q.model_dump(exclude_none=True) for q in req.queries or []]
        return JSONResponse(service.search_json(body))

    @app.post("/search/audio", response_model=SearchResponse, response_model_exclude_none=True)
    async def search_audio(file: UploadFile = File(..., description="an audio file (wav, mp3, ogg, flac ...)"),
                           k: int = Form(10)) -> dict[str, Any]:
        """Upload audio: decode -> embed -> search."""
        data = await file.read(service.cfg.max_upload_bytes + 1)
        return await run_in_threadpool(service.search_audio, data, file.filename or "", k)

    return app
