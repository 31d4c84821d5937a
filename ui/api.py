"""The REST API beside the chat (FastAPI): answers, documents, jobs, sources, feedback.

Every error is JSON ``{"error": message, "status": code}`` with a status code, never a stack trace. Uploads are
size-limited (413), type-checked by content (415) and indexed by a bounded background queue (a full queue
answers 429 with Retry-After); each client has a bounded number of answers in flight (429).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from docqa.qa import __version__
from docqa.qa.errors import BusyError, QAError
from docqa.qa.followup import Turn
from docqa.qa.pipeline import QA
from docqa.ui.errors import http_status
from docqa.ui.jobs import IndexJobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """What one request or one client may cost."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_answers_in_flight_per_client: int = 4
    max_pending_jobs: int = 8


class ClientLimiter:
    """At most ``limit`` requests in flight per client (by address, or the X-Client-Id header)."""

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


def client_id(request: Request) -> str:
    return request.headers.get("x-client-id") or (request.client.host if request.client else "unknown")


class TurnIn(BaseModel):
    question: str = Field(max_length=20_000)
    answer: str = Field(default="", max_length=20_000)


class AnswerIn(BaseModel):
    question: Any = Field(description="the question (text, at most 1,000 characters)")
    k: int | None = Field(default=None, description="passages to retrieve (default 5)")
    documents: list[str] | None = Field(default=None, description="only these document ids")
    history: list[TurnIn] = Field(default_factory=list, max_length=20, description="earlier turns, oldest first")


class FeedbackIn(BaseModel):
    answer: dict[str, Any]
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=2000)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Documented errors -> their status; request validation -> 422; anything else -> 500, logged, no trace."""

    @app.exception_handler(QAError)
    async def _qa(_: Request, exc: QAError) -> JSONResponse:
        headers = {"Retry-After": str(int(max(1, exc.retry_after)))} if isinstance(exc, BusyError) else None
        return error_response(http_status(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error_response(422, f"invalid request: {where}: {first.get('msg', 'invalid')}".strip())

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _any(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return error_response(500, "internal error (logged on the server)")


def api_router(service: QA, jobs: IndexJobs, limits: ServerLimits, answer_fn=None) -> APIRouter:
    """The /api routes over one QA service. ``answer_fn`` (default ``service.answer``) may be a worker pool."""
    r = APIRouter(prefix="/api")
    limiter = ClientLimiter(limits.max_answers_in_flight_per_client)
    answer = answer_fn or service.answer

    @r.post("/answer", summary="Answer a question with a cited span, or abstain")
    async def post_answer(body: AnswerIn, request: Request) -> dict:
        who = client_id(request)
        limiter.acquire(who)
        try:
            history = [Turn(t.question, t.answer) for t in body.history]
            ans = await run_in_threadpool(answer, body.question, body.k, body.documents, history)
        finally:
            limiter.release(who)
        return ans.to_json()

    @r.get("/documents", summary="The indexed documents")
    def get_documents() -> dict:
        return {"documents": [_doc_json(d) for d in service.documents()], "jobs_pending": jobs.pending}

    @r.post(
        "/documents",
        status_code=202,
        summary="Upload a document (pdf, docx, xlsx, pptx, csv, txt, md, html, epub, odt, or an image); indexed in the background",
    )
    async def post_document(file: Annotated[UploadFile, File(description="the document")]) -> dict:
        data = await _read_limited(file, limits.max_upload_bytes)
        name = file.filename or "upload"
        jobs.check_room()
        doc_id = await run_in_threadpool(service.store_upload, name, data)
        job = jobs.submit(f"add {doc_id}", lambda report: service.sync(report=report))
        return {"doc_id": doc_id, "job": job.to_json()}

    @r.delete("/documents/{doc_id:path}", status_code=202, summary="Remove a document; re-indexed in the background")
    def delete_document(doc_id: str) -> dict:
        service.unstage_document(doc_id)
        job = jobs.submit(f"remove {doc_id}", lambda report: service.sync(report=report))
        return {"doc_id": doc_id, "job": job.to_json()}

    @r.get("/documents/{doc_id:path}/source", summary="The text around a span (its page for a PDF)")
    def get_source(doc_id: str, start: int = 0, end: int = 0) -> dict:
        return service.source(doc_id, start, end).to_json()

    @r.get("/jobs/{job_id}", summary="Progress of an indexing job")
    def get_job(job_id: str) -> dict:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.to_json()

    @r.post("/feedback", summary="Thumbs up/down on an answer (kept in a JSONL file beside the index)")
    def post_feedback(body: FeedbackIn) -> dict:
        return service.rate(body.answer, body.rating, body.comment)

    @r.get("/health", summary="Liveness and index version")
    def health() -> dict:
        view = service.index
        return {
            "status": "ok",
            "version": __version__,
            "index_version": view.version,
            "documents": len(view.documents()),
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
