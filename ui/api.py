"""The REST API beside the chat (FastAPI): answers, collections, documents, jobs, sources, feedback.

Every error is JSON ``{"error": message, "status": code}`` with a status code, never a stack trace, and every
status a route can answer is in the OpenAPI spec. With tokens, every route but health needs
``Authorization: Bearer`` (401) and a role that may (403); a collection or document the token may not see reads as
unknown (404). Uploads are size-limited (413), quota-checked before writing (413), type-checked by content (415)
and indexed by a bounded background queue per collection (a full queue answers 429 with Retry-After); each
principal has a bounded number of answers in flight (429).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from docqa.qa import __version__
from docqa.qa.errors import BusyError, NotAuthenticatedError, QAError
from docqa.qa.followup import Turn
from docqa.qa.question import clean_question
from docqa.ui.auth import Gate, bearer
from docqa.ui.collections import Collections
from docqa.ui.errors import http_status
from docqa.ui.tokens import Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """What one request or one client may cost."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_answers_in_flight_per_client: int = 4
    max_requests_per_minute_per_client: int = 600  # answers and uploads; a burst of a tenth of it is allowed
    max_pending_jobs: int = 8


class RateLimiter:
    """At most ``per_minute`` requests per principal, as a token bucket (bursts up to a tenth of it, at least 5)."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(5.0, per_minute / 10.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            level, seen = self._buckets.get(client, (self.burst, now))
            level = min(self.burst, level + (now - seen) * self.rate)
            if level < 1.0:
                self._buckets[client] = (level, now)
                wait = (1.0 - level) / self.rate
                raise BusyError(
                    f"too many requests from this client (at most {self.rate * 60:.0f} a minute); retry shortly",
                    retry_after=wait,
                )
            self._buckets[client] = (level - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle clients (full buckets) so the table stays small
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}


class ClientLimiter:
    """At most ``limit`` requests in flight per principal (a token, or an address on an open server)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._busy: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def acquire(self, client: str) -> None:
        with self._lock:
            if self._busy[client] >= self.limit:
                raise BusyError(
                    f"too many questions in flight from this client ({self.limit} at most); retry shortly",
                    retry_after=1.0,
                )
            self._busy[client] += 1

    def release(self, client: str) -> None:
        with self._lock:
            self._busy[client] -= 1
            if self._busy[client] <= 0:
                del self._busy[client]


STRICT = {"strict": True}  # a request is what the schema says: no false taken as 0.0, no "5" taken as 5


class TurnIn(BaseModel):
    model_config = STRICT
    question: str = Field(max_length=20_000)
    answer: str = Field(default="", max_length=20_000)


class AnswerIn(BaseModel):
    model_config = STRICT
    question: str = Field(min_length=1, max_length=1000, description="the question (text, not only spaces)")
    k: int | None = Field(default=None, ge=1, le=50, description="passages to retrieve (default 5)")
    documents: list[str] | None = Field(
        default=None, max_length=1000, description="only these document ids (unknown ones: 404)"
    )
    history: list[TurnIn] = Field(default_factory=list, max_length=20, description="earlier turns, oldest first")
    collection: str | None = Field(default=None, max_length=64, description="collection (default: the default)")

    @field_validator("question")
    @classmethod
    def _has_text(cls, q: str) -> str:
        # checked here rather than as a schema pattern: JSON Schema's \w and \s are ASCII-only, questions are not
        clean_question(q)  # QuestionError (a ValueError) -> 422 naming the question
        return q


class RatedAnswer(BaseModel):
    """The answer being rated, as /api/answer returned it (other fields are ignored)."""

    model_config = {"extra": "ignore", "strict": True}
    question: str = Field(default="", max_length=20_000)
    answer: str = Field(default="", max_length=20_000)
    found: bool = False
    confidence: float | None = None
    citations: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    index_version: str = Field(default="", max_length=200)


class FeedbackIn(BaseModel):
    model_config = STRICT
    answer: RatedAnswer
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=2000)
    collection: str | None = Field(default=None, max_length=64)


class ErrorOut(BaseModel):
    """Every error: a message for people and the status code."""

    error: str
    status: int


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "bad request (a malformed question or setting)",
        401: "no valid token (when the server has tokens)",
        403: "the token's role may not do this",
        404: "unknown (or not yours): collection, document or job",
        413: "too large: the upload, or the collection's storage quota",
        415: "unsupported file type",
        422: "invalid request, or a file that cannot be read",
        429: "too many requests in flight, or a full indexing queue (see Retry-After)",
        503: "the index or its backend is unavailable right now",
    }
    return {c: {"model": ErrorOut, "description": what[c]} for c in codes}


COMMON = (401, 404, 422, 503)
LISTING = 1000  # documents per page of GET /documents unless the client asks for another page size
MAX_LISTING = 100_000
CollectionParam = Annotated[str | None, Query(max_length=64, description="collection (default: the default)")]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Documented errors -> their status; request validation -> 422; anything else -> 500, logged, no trace."""

    @app.exception_handler(QAError)
    async def _qa(_: Request, exc: QAError) -> JSONResponse:
        headers = None
        if isinstance(exc, BusyError):
            headers = {"Retry-After": str(int(max(1, exc.retry_after)))}
        elif isinstance(exc, NotAuthenticatedError):
            headers = {"WWW-Authenticate": "Bearer"}
        return error_response(http_status(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error_response(422, f"invalid request: {where}: {first.get('msg', 'invalid')}".strip())

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and the framework's own (bad bodies)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _any(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return error_response(500, "internal error (logged on the server)")


def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """Who asks (the server's Gate, ``app.state.gate``): 401 without a valid token once tokens exist."""
    return request.app.state.gate.principal(request, credentials)


Who = Annotated[Principal, Depends(_principal)]


def api_router(collections: Collections, gate: Gate, limits: ServerLimits) -> APIRouter:
    """The /api routes over the server's collections, behind the gate (tokens, or addresses when open)."""
    r = APIRouter(prefix="/api")
    limiter = ClientLimiter(limits.max_answers_in_flight_per_client)
    rate = RateLimiter(limits.max_requests_per_minute_per_client)

    @r.post("/answer", summary="Answer a question with a cited span, or abstain", responses=_errors(400, *COMMON, 429))
    async def post_answer(body: AnswerIn, request: Request, who: Who) -> dict:
        coll = collections.get(body.collection, who)
        key = gate.limit_key(request, who)
        rate.take(key)
        limiter.acquire(key)
        try:
            history = [Turn(t.question, t.answer) for t in body.history]
            ans = await run_in_threadpool(coll.answer, body.question, body.k, body.documents, history)
        finally:
            limiter.release(key)
        return ans.to_json()

    @r.get("/collections", summary="The collections this token may use", responses=_errors(401))
    def get_collections(who: Who) -> dict:
        names = collections.names(who)
        return {
            "default": collections.default if collections.default in names else (names[0] if names else None),
            "collections": [{"name": n, "documents": collections.get(n, who).service.document_count()} for n in names],
            "role": who.role,
        }

    @r.get("/documents", summary="The indexed documents, a page at a time in id order", responses=_errors(*COMMON))
    def get_documents(
        who: Who,
        collection: CollectionParam = None,
        offset: Annotated[int, Query(ge=0, description="documents to skip")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LISTING, description="documents in this page")] = LISTING,
    ) -> dict:
        coll = collections.get(collection, who)
        view = coll.service.index
        return {
            "collection": coll.name,
            "documents": [_doc_json(d) for d in view.documents(offset, limit)],
            "total": view.document_count(),
            "offset": offset,
            "limit": limit,
            "jobs_pending": coll.jobs.pending,
        }

    @r.post(
        "/documents",
        status_code=202,
        summary="Upload a document (pdf, docx, xlsx, pptx, csv, txt, md, html, epub, odt, or an image); indexed in the background",
        responses=_errors(400, 403, 413, 415, 429, *COMMON),
    )
    async def post_document(
        file: Annotated[UploadFile, File(description="the document")],
        request: Request,
        who: Who,
        collection: CollectionParam = None,
    ) -> dict:
        coll = collections.get(collection, who, "edit")
        rate.take(gate.limit_key(request, who))
        data = await _read_limited(file, limits.max_upload_bytes)
        doc_id, job = await run_in_threadpool(coll.upload, who, file.filename or "upload", data)
        return {"doc_id": doc_id, "collection": coll.name, "job": job.to_json()}

    @r.get(
        "/documents/{doc_id:path}/source",
        summary="The text around a span (its page for a PDF)",
        responses=_errors(400, *COMMON),
    )
    def get_source(
        doc_id: str,
        who: Who,
        start: Annotated[int, Query(ge=0)] = 0,
        end: Annotated[int, Query(ge=0)] = 0,
        collection: CollectionParam = None,
    ) -> dict:
        return collections.get(collection, who).service.source(doc_id, start, end).to_json()

    @r.delete(
        "/documents/{doc_id:path}",
        status_code=202,
        summary="Remove a document; re-indexed in the background",
        responses=_errors(400, 403, 429, *COMMON),
    )
    def delete_document(doc_id: str, who: Who, collection: CollectionParam = None) -> dict:
        coll = collections.get(collection, who, "edit")
        job = coll.delete(who, doc_id)
        return {"doc_id": doc_id, "collection": coll.name, "job": job.to_json()}

    @r.get("/jobs/{job_id}", summary="Progress of an indexing job", responses=_errors(*COMMON))
    def get_job(job_id: str, who: Who) -> dict:
        job = collections.job(job_id, who)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.to_json()

    @r.post(
        "/feedback",
        summary="Thumbs up/down on an answer (kept in a JSONL file beside the collection's index)",
        responses=_errors(400, *COMMON),
    )
    def post_feedback(body: FeedbackIn, who: Who) -> dict:
        coll = collections.get(body.collection, who)
        return coll.service.rate(body.answer.model_dump(), body.rating, body.comment)

    @r.get("/health", summary="Liveness and the default collection's index version (no token needed)")
    def health() -> dict:
        view = collections.get(None, Principal.open_server("health")).service.index
        return {
            "status": "ok",
            "version": __version__,
            "index_version": view.version,
            "documents": view.document_count(),
            "auth": "token" if gate.required else "open",
        }

    return r


async def _read_limited(file: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = await file.read(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"upload too large: over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _doc_json(d) -> dict:
    return {
        "doc_id": d.doc_id,
        "title": d.title,
        "file": d.name,
        "type": d.kind,
        "pages": d.pages,
        "passages": d.passages,
        "chars": d.chars,
        "bytes": d.size,
        "added": d.added,
        "sha256": d.sha256,
        "text_sha256": d.text_sha256,
    }
