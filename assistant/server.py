"""One server process: the candidates' chat (Gradio), the HTTP API, metrics and the HR embed page.

Routes (see `create_app`):
    /               the chat (Gradio Blocks from assistant/ui.py; `?embed=1` hides its header)
    POST /api/ask   a question and history in, the reply's fields out (OpenAPI at /api/docs)
    POST /api/ask/stream  the same as server-sent events: provisional text, then the reply
    POST /v1/chat/completions, GET /v1/models  OpenAI-compatible (assistant/openai_api.py)
    POST /api/feedback, GET /api/health, GET /metrics (Prometheus text format)
    /embed          snippets and live previews for HR; /widget.js, /widget.css, /widget/config
                    make up the one-line careers-page widget; /gradio.js the web component.
Embedding is limited to `Settings.allowed_origins`: CSP frame-ancestors on every response and
CORS (plus a refusal of browser requests from other origins) on the API and the chat's calls.

This module is the app factory and its routes; the parts live in assistant/web/:
    guard.py    allowed origins, the middleware in front of every route, the JSON error body
    limits.py   the per-client rate limit and the queue for answering slots (Busy, RateLimited)
    metrics.py  Prometheus metrics
    service.py  `Service`, what the chat and the API share
    schemas.py  the API's request and reply models
    errors.py   AssistantError -> HTTP status and body
    embed.py    the /embed page (assistant/templates/embed.html) and the snippets it offers
The names other modules import from here are re-exported below.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from assistant.settings import Settings
from assistant.types import AssistantError, Reply
from assistant.web.embed import base_url, chat_url, embed_page, snippets, static_text
from assistant.web.errors import error_response
from assistant.web.guard import GuardMiddleware, Origins, json_error, same_origin
from assistant.web.limits import Busy, Gate, RateLimited, RateLimiter
from assistant.web.schemas import ERROR_RESPONSES, AskReply, AskRequest, DocumentOut, FeedbackRequest
from assistant.web.service import Service, widget_texts

log = logging.getLogger(__name__)


def channel_of(request: Request) -> Literal["api", "ui"]:
    """For the metrics: the chat client (chat.js) says so in a header; anything else is API."""
    return "ui" if request.headers.get("x-chat-client") == "chat" else "api"


def create_app(settings: Settings, assistant: Any = None) -> FastAPI:
    """The whole server as one ASGI app; pass `assistant` to reuse one already loaded."""
    import gradio as gr
    from starlette.middleware.cors import CORSMiddleware

    from assistant.ui import JS, chat_css, create_ui, make_theme, text_on

    if assistant is None:
        from assistant.core import Assistant

        assistant = Assistant.from_settings(settings)
    service = Service(settings, assistant)
    texts = service.widget_texts

    from fastapi_offline import FastAPIOffline
    from starlette.exceptions import HTTPException as StarletteHTTPException

    # Swagger UI served from the fastapi-offline package: no CDN is reachable offline
    app = FastAPIOffline(
        title="Role assistant API",
        description="Grounded, cited answers about open roles from their own documents.",
        version="1.0", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json",
        static_url="/api/docs-assets",
    )
    app.state.service = service

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """FastAPI's own errors in the API's format: a body it could not parse (undecodable
        UTF-8, JSON nested too deep) is bad_json, like any other invalid JSON."""
        if exc.status_code == 400:
            return json_error(400, "bad_json", texts["bad_json"].format(detail=exc.detail),
                              path=request.url.path)
        if exc.status_code == 405:
            return _method_not_allowed(request)
        if exc.status_code == 404:
            return json_error(404, "not_found", texts["not_found"].format(path=request.url.path),
                              path=request.url.path)
        return json_error(exc.status_code, "http_error", str(exc.detail),
                          getattr(exc, "headers", None), request.url.path)

    def _routes_at(path: str) -> list[APIRoute]:
        """The API's own routes for `path` (not the catch-all below, which matches any)."""
        return [route for route in app.routes if isinstance(route, APIRoute)
                and route.name != "api_elsewhere" and route.path_regex.fullmatch(path)]

    def _method_not_allowed(request: Request) -> Response:
        allowed = sorted({m for route in _routes_at(request.url.path)
                          for m in (route.methods or ())} | {"OPTIONS"})
        return json_error(405, "method_not_allowed", texts["method_not_allowed"].format(
            method=request.method, allowed=", ".join(allowed)), {"Allow": ", ".join(allowed)},
            request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next(str(e.get("ctx", {}).get("error", e.get("msg")))
                          for e in errors if e.get("type") == "json_invalid")
            return json_error(400, "bad_json", texts["bad_json"].format(detail=detail),
                              path=request.url.path)
        detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: "
                           f"{e.get('msg')}" for e in errors[:5])
        return json_error(422, "invalid_request", texts["bad_request"].format(detail=detail),
                          path=request.url.path)

    @app.post("/api/ask", response_model=AskReply, responses=ERROR_RESPONSES, tags=["chat"],
              summary="Ask a question about the role")
    async def api_ask(payload: AskRequest, request: Request) -> Any:
        """Answer from the role documents, with numbered citations, or abstain."""
        history = [m.model_dump() for m in payload.history]
        try:
            reply = await service.ask(payload.question, history, scope=payload.scope,
                                      client=service.client_of(request), channel="api")
        except AssistantError as exc:
            return error_response(exc)
        return service.reply_dict(reply)

    @app.post("/api/ask/stream", responses=ERROR_RESPONSES, tags=["chat"],
              summary="Ask, and receive the answer as server-sent events")
    async def api_ask_stream(payload: AskRequest, request: Request) -> Any:
        """`delta` events carry provisional text as it is made (`{"text": ...}`); one `final`
        event carries the reply (the same fields as /api/ask), after the grounding guard has
        checked a generated answer: show the final text in place of the deltas. Errors before
        the first event get the usual status codes; later ones arrive as an `error` event."""
        from sse_starlette import EventSourceResponse

        history = [m.model_dump() for m in payload.history]
        events = service.stream(payload.question, history, scope=payload.scope,
                                client=service.client_of(request), channel=channel_of(request))
        try:  # limits and bad input fail as a plain HTTP error, before the stream starts
            first = await anext(events)
        except AssistantError as exc:
            return error_response(exc)

        async def sse() -> AsyncIterator[dict[str, str]]:
            event: str | Reply | None = first
            while event is not None:
                if isinstance(event, Reply):
                    yield {"event": "final", "data": json.dumps(service.reply_dict(event))}
                else:
                    yield {"event": "delta", "data": json.dumps({"text": event})}
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    event = None
                except AssistantError as exc:
                    yield {"event": "error", "data": json.dumps(
                        {"error": type(exc).__name__, "message": exc.message})}
                    event = None

        return EventSourceResponse(sse(), ping=15)

    from assistant.openai_api import openai_router

    app.include_router(openai_router(service))

    @app.get("/api/documents", response_model=list[DocumentOut], tags=["chat"],
             summary="The role documents a question can be scoped to")
    async def api_documents() -> Any:
        """Every document in the index in service: its source (use it as `scope`) and title."""
        return [{k: r[k] for k in ("source", "title", "topics", "metadata")}
                for r in await run_in_threadpool(service.roles)]

    @app.post("/api/feedback", status_code=204, responses=ERROR_RESPONSES, tags=["chat"],
              summary="Rate an answer (thumbs up or down)")
    async def api_feedback(payload: FeedbackRequest, request: Request) -> Response:
        """Store the rating with the question, answer and citations (nothing about the user).
        Only an answer this server gave can be rated (its `answer_id`); rating it again
        replaces the earlier rating."""
        try:
            await service.feedback(payload.rating, payload.question, payload.answer,
                                   [c.model_dump() for c in payload.citations],
                                   channel=channel_of(request),
                                   answer_id=payload.answer_id, client=service.client_of(request))
        except AssistantError as exc:
            return error_response(exc)
        return Response(status_code=204)

    @app.get("/api/health", tags=["operations"], summary="Readiness")
    async def api_health() -> Response:
        """200 when the index is loaded and questions can be answered, else 503."""
        try:
            topics = await run_in_threadpool(lambda: service.bot.topics)
        except AssistantError as exc:
            return JSONResponse({"status": "unavailable", "message": exc.message},
                                status_code=503)
        return JSONResponse({"status": "ok", "topics": topics,
                             "answering": service.gate.active, "waiting": service.gate.waiting})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/embed", response_class=HTMLResponse, include_in_schema=False)
    async def embed(request: Request) -> HTMLResponse:
        base = base_url(settings, request)
        return HTMLResponse(embed_page(service, base),
                            headers={"Cache-Control": "no-store"})

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        return Response(static_text("widget.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/chat.js", include_in_schema=False)
    async def chat_js() -> Response:
        return Response(static_text("chat.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget.css", include_in_schema=False)
    async def widget_css() -> Response:
        return Response(static_text("widget.css"), media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget/config", include_in_schema=False)
    async def widget_config(request: Request) -> Response:
        """Branding for /widget.js; CORS makes it readable only from allowed sites."""
        base = base_url(settings, request)
        scope = request.query_params.get("scope") or None
        return JSONResponse({
            "title": await run_in_threadpool(service.title_for, scope),
            "accent_color": settings.accent_color,
            "on_accent": text_on(settings.accent_color),
            "chat_url": chat_url(base, settings.widget_theme),
            "theme": settings.widget_theme,  # the panel and button follow it too
            "texts": {k: texts[k] for k in ("open_label", "close_label", "unavailable",
                                             "offline", "offline_label", "online_label",
                                             "try_again")},
        }, headers={"Cache-Control": "no-store"})

    @app.get("/widget/status", include_in_schema=False)
    async def widget_status(request: Request) -> Response:
        """Readable from any site (the guard lets it through): whether the calling site may use
        the chat. The widget asks when /widget/config failed, because CORS hides whether the
        server refused the site or is down; and while open, to show whether it answers."""
        origin = request.headers.get("origin")
        allowed = origin is None or same_origin(request.scope, origin) \
            or service.origins.allows(origin)
        return JSONResponse({"allowed": allowed}, headers={
            "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"})

    @app.get("/gradio.js", include_in_schema=False)
    async def gradio_js() -> Response:
        """Gradio's web-component loader, served here: no CDN is reachable offline."""
        loader = resources.files("gradio").joinpath("templates/frontend/gradio.js")
        return Response(loader.read_text("utf-8"), media_type="text/javascript; charset=utf-8")

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    async def api_elsewhere(request: Request, rest: str) -> Response:
        """Under /api and /v1, a known path with another method is 405 (with Allow), an unknown
        path 404, both as JSON: the chat mounted at / must not answer for the API."""
        if _routes_at(request.url.path):
            return _method_not_allowed(request)
        return json_error(404, "not_found", texts["not_found"].format(path=request.url.path),
                          path=request.url.path)

    blocks = create_ui(service)
    app.state.blocks = blocks
    blocks.queue(default_concurrency_limit=settings.queue_concurrency,
                 max_size=settings.queue_max_size, api_open=False)
    gr.mount_gradio_app(
        app, blocks, path="", footer_links=[], run_history=False, ssr_mode=False,
        show_error=False, theme=make_theme(settings.accent_color), css=chat_css(), js=JS,
        enable_monitoring=False, mcp_server=False,
    )
    # the outermost layers: the origin guard, then CORS for allowed sites (Gradio defers to it)
    app.add_middleware(
        CORSMiddleware, allow_origin_regex=service.origins.regex if not service.origins.any
        else None, allow_origins=["*"] if service.origins.any else [],
        allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"],
        allow_credentials=False, max_age=600,
    )
    app.add_middleware(GuardMiddleware, origins=service.origins,
                       max_bytes=settings.max_request_bytes, texts=texts,
                       public_url=settings.public_url, body_seconds=settings.request_body_seconds)
    return app


def run(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Open (or build) the index and serve chat, API, widget and metrics until interrupted."""
    import uvicorn

    # Answers run several at a time (queue_concurrency), so each takes one CPU thread instead
    # of all of them: measured on 2 cores, a single answer's latency dropped from ~90 to ~40 ms
    # (p50) with the same throughput under load. Must be set before torch is imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    app = create_app(settings)
    log.info("serving on http://%s:%s (embed page: /embed)", host, port)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True,
                timeout_graceful_shutdown=5)


# the names other modules and tests import from assistant.server (kept for compatibility)
__all__ = [
    "Busy", "Gate", "Origins", "RateLimited", "RateLimiter", "Service", "create_app",
    "error_response", "run", "snippets", "widget_texts",
]
