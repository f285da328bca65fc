"""The FastAPI app of the search service (`create_app(service)`); OpenAPI docs at /docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

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


INLINE_BYTES = 64 * 1024  # /search bodies larger than this are parsed and searched off the event loop
MULTIPART_SLACK = 64 * 1024  # multipart framing allowed on top of the upload limit
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
              415: "unsupported_media_type"}


class BodyLimit:
    """ASGI middleware: a request whose Content-Length exceeds its path's limit gets 413 before any of it is
    read; a body streamed without (or beyond) its Content-Length is cut off at the limit (413)."""

    def __init__(self, app: Any, limits: dict[str, int]) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        limit = self.limits.get(path) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1").strip()
        if length and (not length.isdigit() or int(length) > limit):
            response = JSONResponse(error_body(too_large_code(path), f"request bodies here are limited to {limit} "
                                                                 f"bytes (Content-Length {length[:30]})"), 413)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if seen > limit:
                raise StarletteHTTPException(413, f"request bodies here are limited to {limit} bytes")
            return message

        await self.app(scope, limited, send)


def too_large_code(path: str) -> str:
    """The error code of a 413 on `path`."""
    return "upload_too_large" if path.endswith("/audio") else "body_too_large"


def parse_search(body: bytes) -> dict[str, Any]:
    """A /search body as a dict, validated strictly (no numbers from strings or booleans); ServiceError 422
    (`invalid_request`) for invalid JSON, too deep nesting, invalid UTF-8 or wrong types."""
    try:
        req = SearchRequest.model_validate_json(body, strict=True)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())) or 'body'}: {e.get('msg', '')}"[:200]
                 for e in exc.errors()[:5]]
        raise ServiceError(422, "invalid_request", "; ".join(parts) or "invalid request") from None
    return req.model_dump(exclude_none=True)


def create_app(service: SearchService) -> FastAPI:
    """The app: /health, /search (JSON: id, vector or batch), /search/audio (multipart upload)."""
    app = FastAPI(title="Find this track", version="1.0",
                  description="Excerpt -> track search over one embedding and ANN index of a dataset.")

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = too_large_code(request.url.path) if exc.status_code == 413 else HTTP_CODES.get(exc.status_code,
                                                                                             "http_error")
        return JSONResponse(error_body(code, str(exc.detail)[:300]), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", "; ".join(parts) or "invalid request"), status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """What is served: dataset, embedding, index, sizes, limits."""
        return service.health()

    def answer(raw: bytes) -> dict[str, Any]:
        return service.search_json(parse_search(raw))

    @app.post("/search", response_model=None, responses={200: {"model": SearchResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/SearchRequest"}}}}})
    async def search(request: Request) -> JSONResponse:
        """Search by `track_id`, by `vector`, or a batch of either in `queries` (body: a SearchRequest).
        A small body is answered on the event loop (an index search over a small corpus takes microseconds,
        less than a thread-pool hand-off); a large one is parsed and searched in a worker thread."""
        raw = await request.body()
        if len(raw) <= INLINE_BYTES:
            return JSONResponse(answer(raw))
        return JSONResponse(await run_in_threadpool(answer, raw))

    @app.post("/search/audio", response_model=SearchResponse, response_model_exclude_none=True)
    async def search_audio(file: UploadFile = File(..., description="an audio file (wav, mp3, ogg, flac ...)"),
                           k: int = Form(10)) -> dict[str, Any]:
        """Upload audio: decode -> embed -> search."""
        data = await file.read(service.cfg.max_upload_bytes + 1)
        return await run_in_threadpool(service.search_audio, data, file.filename or "", k)

    _add_schema(app, SearchRequest)
    app.add_middleware(BodyLimit, limits={"/search": service.cfg.max_json_bytes,
                                          "/search/audio": service.cfg.max_upload_bytes + MULTIPART_SLACK})
    return app


def _add_schema(app: FastAPI, model: type[BaseModel]) -> None:
    """Put `model` (and the models it uses) into the OpenAPI components (the /search body is read by hand)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        comps.update(defs.pop("$defs", {}))
        comps[model.__name__] = defs
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
