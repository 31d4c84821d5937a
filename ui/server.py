"""One web server for the chat and the REST API: FastAPI with the Gradio app mounted at ``/``.

/           the chat (Gradio; sign-in with a token once the server has tokens)
/api/...    the REST API (``ui.api``), OpenAPI docs at /docs
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.middleware.base import BaseHTTPMiddleware

from docqa.qa import __version__
from docqa.qa.errors import QAError, SettingsError
from docqa.qa.pipeline import QA
from docqa.ui.api import ServerLimits, api_router, error_response, install_error_handlers
from docqa.ui.app import CSS, create_app
from docqa.ui.auth import Gate, is_loopback
from docqa.ui.collections import DEFAULT, Collections
from docqa.ui.tokens import Principal, TokenStore

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


class MethodNotAllowed(BaseHTTPMiddleware):
    """405 (with Allow) for a known /api path asked with a method it does not take, and a JSON 404 for an unknown
    one: the chat mounted at ``/`` would otherwise answer its own 404 for both."""

    def __init__(self, app, routes: list[APIRoute]) -> None:
        super().__init__(app)
        self.routes = routes

    async def dispatch(self, request: Request, call_next):
        path = request.url.path
        if path.startswith("/api/"):
            first = next((r for r in self.routes if r.path_regex.match(path)), None)  # the route Starlette picks
            if first is None:
                return error_response(404, f"no API route {path!r} (see /docs)")
            allowed = {m for r in self.routes if r.path == first.path for m in r.methods}
            if allowed and request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
                allow = ", ".join(sorted(allowed))
                return error_response(405, f"{request.method} is not allowed here (allowed: {allow})", {"Allow": allow})
        return await call_next(request)


def openapi_spec(app: FastAPI, gate: Gate) -> dict:
    """The OpenAPI spec as the server behaves now: the Bearer scheme is required only once a token exists
    (built per request, so a token created while the server runs shows up; it costs milliseconds)."""
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    if not gate.required:
        spec.get("components", {}).pop("securitySchemes", None)
        for ops in spec["paths"].values():
            for op in ops.values():
                op.pop("security", None)
                op.get("responses", {}).pop("401", None)
                op.get("responses", {}).pop("403", None)
    return spec


def _pools(services: dict[str, QA], workers: int, index_dir) -> dict:
    """One answering pool per collection with ``workers > 1`` (FAISS only: workers share the index files)."""
    if workers <= 1:
        return {}
    from docqa.ui.workers import AnswerPool

    pools = {}
    for name, service in services.items():
        where = (index_dir if len(services) == 1 else None) or getattr(service.backend, "index_dir", None)
        if service.backend.name != "faiss" or where is None:
            raise SettingsError(
                "--workers > 1 needs the FAISS backend with an index folder (worker processes share its files); "
                "with Milvus, run several `docqa serve` processes against one Milvus server instead"
            )
        pools[name] = AnswerPool(where, workers, service.settings)
    return pools


def create_server(
    service: QA | Mapping[str, QA],
    limits: ServerLimits | None = None,
    workers: int = 1,
    index_dir: str | Path | None = None,
    tokens: TokenStore | None = None,
    trusted_proxies: Iterable[str] = (),
) -> FastAPI:
    """The FastAPI app: REST routes, error handlers, body limit, and the chat mounted at ``/``.

    ``service``: one QA service (the default collection) or collections by name (the first is the default).
    ``tokens``: once the store holds a token, every route but health needs one (the chat asks for it too).
    With ``workers > 1`` questions are answered by a pool of processes reading the same index (``ui.workers``).
    """
    limits = limits or ServerLimits()
    services = {DEFAULT: service} if isinstance(service, QA) else dict(service)
    pools = _pools(services, workers, index_dir)
    collections = Collections(services, limits.max_pending_jobs, {n: p.answer for n, p in pools.items()})
    server = Principal.open_server("server")  # the server itself sees every collection
    for name, pool in pools.items():
        collections.get(name, server).pool = pool
    gate = Gate(tokens, trusted_proxies)
    app = FastAPI(
        title="DocQA",
        description="Extractive, cited answers from your documents. The chat is at /.",
        version=__version__,
    )
    app.state.collections, app.state.gate = collections, gate
    app.state.pools = list(pools.values())
    install_error_handlers(app)
    app.openapi = lambda: openapi_spec(app, gate)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes + 1024 * 1024)
    router = api_router(collections, gate, limits)
    app.include_router(router)
    app.add_middleware(MethodNotAllowed, routes=[r for r in router.routes if isinstance(r, APIRoute)])
    demo = create_app(collections, gate)
    demo.queue(default_concurrency_limit=max(4, 2 * workers), max_size=1024)
    auth = None
    if tokens is not None:

        def auth(user: str, password: str) -> bool:
            # user: the token's name; password: the token (the chat then acts with that token's role)
            try:
                who = gate.authenticate(password, "chat")
            except QAError:
                return False
            return who.name == user

    return gr.mount_gradio_app(
        app,
        demo,
        path="/",
        css=CSS,
        max_file_size=limits.max_upload_bytes,
        auth=auth if gate.required else None,
        auth_message="Sign in with your token's name and the token (docqa token create prints both).",
    )


def check_exposure(host: str, tokens: TokenStore | None, allow_open: bool) -> str | None:
    """Refuse to serve a non-loopback address without tokens (SettingsError, saying how to create one), unless
    ``allow_open``; then return a warning to print."""
    if is_loopback(host) or (tokens is not None and tokens):
        return None
    if not allow_open:
        where = f" --tokens {tokens.path}" if tokens is not None else ""
        raise SettingsError(
            f"refusing to serve {host} without tokens: anyone who can reach it could read and delete every "
            f"document. Create one first (docqa token create --role admin{where}), or pass --allow-open to "
            "accept an open server"
        )
    return f"WARNING: serving {host} with no tokens: anyone who can reach this port can read, upload and delete."


def launch(
    service: QA | Mapping[str, QA],
    host: str = "127.0.0.1",
    port: int = 7860,
    workers: int = 1,
    tokens: TokenStore | None = None,
    allow_open: bool = False,
    trusted_proxies: Iterable[str] = (),
    limits: ServerLimits | None = None,
) -> None:
    """Serve the chat and the REST API over ``service`` (or named collections) until interrupted."""
    import uvicorn

    warning = check_exposure(host, tokens, allow_open)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    app = create_server(service, limits=limits, workers=workers, tokens=tokens, trusted_proxies=trusted_proxies)
    names = ", ".join(c.name for c in app.state.collections)
    print(f"DocQA: chat at http://{host}:{port}/ , REST API at http://{host}:{port}/api (docs: /docs)", flush=True)
    print(f"collections: {names}; access: {'tokens' if app.state.gate.required else 'open'}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
