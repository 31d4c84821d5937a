"""One web server for the chat and the REST API: FastAPI with the Gradio app mounted at ``/``.

/           the chat (Gradio)
/api/...    the REST API (``ui.api``), OpenAPI docs at /docs
"""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware

from docqa.qa import __version__
from docqa.qa.errors import SettingsError
from docqa.qa.pipeline import QA
from docqa.ui.api import ServerLimits, api_router, error_response, install_error_handlers
from docqa.ui.app import CSS, create_app
from docqa.ui.jobs import IndexJobs

log = logging.getLogger(__name__)


class BodyLimit(BaseHTTPMiddleware):
    """Refuse a request whose declared body is over the limit before reading it (413, JSON)."""

    def __init__(self, app, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def dispatch(self, request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return error_response(400, "invalid Content-Length")
            if n > self.max_bytes:
                return error_response(
                    413, f"request body too large: {n:,} bytes is over the limit of {self.max_bytes:,}"
                )
        return await call_next(request)


def create_server(
    service: QA,
    limits: ServerLimits | None = None,
    workers: int = 1,
    index_dir: str | Path | None = None,
) -> FastAPI:
    """The FastAPI app: REST routes, error handlers, body limit, and the chat mounted at ``/``.

    With ``workers > 1`` questions are answered by a pool of processes reading the same index (``ui.workers``).
    """
    limits = limits or ServerLimits()
    jobs = IndexJobs(limits.max_pending_jobs)
    answer_fn = service.answer
    pool = None
    if workers > 1:
        from docqa.ui.workers import AnswerPool

        where = index_dir or getattr(service.backend, "index_dir", None)
        if service.backend.name != "faiss" or where is None:
            raise SettingsError(
                "--workers > 1 needs the FAISS backend with an index folder (worker processes share its files); "
                "with Milvus, run several `docqa serve` processes against one Milvus server instead"
            )
        pool = AnswerPool(where, workers, service.settings)
        answer_fn = pool.answer
    app = FastAPI(
        title="DocQA",
        description="Extractive, cited answers from your documents. The chat is at /.",
        version=__version__,
    )
    app.state.service, app.state.jobs, app.state.pool = service, jobs, pool
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes + 1024 * 1024)
    app.include_router(api_router(service, jobs, limits, answer_fn))
    demo = create_app(service, jobs, answer_fn)
    demo.queue(default_concurrency_limit=max(4, 2 * workers), max_size=1024)
    return gr.mount_gradio_app(app, demo, path="/", css=CSS, max_file_size=limits.max_upload_bytes)


def launch(service: QA, host: str = "127.0.0.1", port: int = 7860, workers: int = 1) -> None:
    """Serve the chat and the REST API over ``service`` until interrupted."""
    import uvicorn

    app = create_server(service, workers=workers)
    print(f"DocQA: chat at http://{host}:{port}/ , REST API at http://{host}:{port}/api (docs: /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
