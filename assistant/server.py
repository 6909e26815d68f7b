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
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
import string
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.feedback import AnswerSigner, FeedbackStore
from assistant.settings import Settings
from assistant.texts import load_texts
from assistant.types import AssistantError, IndexBusy, IndexMissing, InvalidQuestion, Reply

log = logging.getLogger(__name__)

Channel = Literal["api", "ui"]


class Busy(AssistantError):
    """Every answering slot is taken and the wait would be too long."""


class RateLimited(AssistantError):
    """This client asked too many questions in the last minute."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class InvalidFeedback(AssistantError):
    """Feedback that is not about an answer this server gave."""


class InternalError(AssistantError):
    """Answering failed unexpectedly (logged with its traceback)."""


# ---------------------------------------------------------------------------------------------
# origins: one list drives CSP frame-ancestors, CORS and the server-side refusal


class Origins:
    """The sites allowed to embed the chat, from Settings.allowed_origins (CSP source syntax)."""

    def __init__(self, entries: list[str]):
        self.entries = list(entries)
        self.any = "*" in self.entries
        patterns = []
        for entry in self.entries:
            if entry == "*":
                continue
            scheme, rest = entry.split("://", 1)
            host, port = rest, ""
            if re.search(r":(\d+|\*)$", rest):
                host, _, port = rest.rpartition(":")
            host_re = re.escape(host)
            if host.startswith("*."):
                host_re = r"(?:[a-z0-9-]+\.)+" + re.escape(host[2:])
            port_re = r"(?::\d{1,5})?" if port == "*" else (f":{port}" if port else "")
            patterns.append(f"{re.escape(scheme)}://{host_re}{port_re}")
        self.regex = "|".join(f"(?:{p})" for p in patterns) or r"(?!)"
        self._compiled = re.compile(self.regex)

    def allows(self, origin: str | None) -> bool:
        """Whether a browser page at `origin` may use the chat (an absent Origin is not a page)."""
        if origin is None:
            return True
        return self.any or bool(self._compiled.fullmatch(origin.lower().rstrip("/")))

    @property
    def frame_ancestors(self) -> str:
        return "frame-ancestors " + ("*" if self.any else " ".join(["'self'", *self.entries]))


def same_origin(scope: Scope, origin: str) -> bool:
    """Whether `origin` is this server as the browser addressed it (Host header)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host", "")
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return origin.lower().rstrip("/") == f"{scheme}://{host}".lower()


class GuardMiddleware:
    """Headers and limits in front of every route (pure ASGI, so streaming is untouched).

    - CSP frame-ancestors on every response: only allowed sites can frame the chat;
    - a browser request whose Origin is neither this server nor an allowed site gets 403
      (CORS alone only hides the response; this stops the question being asked at all);
    - request bodies to /api/ and /v1/ above max_request_bytes get 413;
    - a request body not received within `body_seconds` gets 408 (a false Content-Length
      cannot hold a connection open);
    - uploads are refused: the chat takes none, and Gradio would store anonymous files.
    """

    def __init__(self, app: ASGIApp, origins: Origins, max_bytes: int, texts: dict[str, str],
                 public_url: str | None = None, body_seconds: float = 10.0):
        self.app = app
        self.body_seconds = body_seconds
        self.origins = origins
        parts = urlsplit(public_url) if public_url else None
        self.public_origin = f"{parts.scheme}://{parts.netloc}".lower() if parts else None
        self.max_bytes = max_bytes
        self.texts = texts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        path: str = scope["path"]
        checked = path.startswith(("/api/", "/v1/", "/gradio_api/", "/widget/", "/config"))
        if (checked and origin and not same_origin(scope, origin)
                and origin.lower() != self.public_origin and not self.origins.allows(origin)):
            await _json(403, "origin_refused", self.texts["origin_refused"])(scope, receive, send)
            return
        if _UPLOAD.fullmatch(path):
            await _json(403, "uploads_disabled", self.texts["uploads_disabled"])(
                scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            api = path.startswith(("/api/", "/v1/"))
            try:  # bodies here are small JSON: read them first, within a deadline
                async with asyncio.timeout(self.body_seconds):
                    body = await self._read_capped(receive, self.max_bytes if api else None)
            except TimeoutError:
                text = self.texts["request_timeout"].format(seconds=f"{self.body_seconds:g}")
                await _json(408, "request_timeout", text, {"Connection": "close"})(
                    scope, receive, send)
                return
            if body is None:
                await self._too_large(scope, receive, send)
                return
            receive = _replay(body, receive)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy",
                                    self.origins.frame_ancestors.encode("latin-1")))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _read_capped(self, receive: Receive, limit: int | None) -> bytes | None:
        """The whole request body, or None as soon as it exceeds `limit` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = self.texts["request_too_large"].format(limit=self.max_bytes)
        await _json(413, "too_large", text)(scope, receive, send)


_UPLOAD = re.compile(r"(?:/gradio_api)?/upload(?:_progress)?/?")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives the body already read, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect

    return replay


def _json(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------------------------------------
# limits


class RateLimiter:
    """At most `per_minute` questions per client in any sliding minute, kept in memory."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def hit(self, client: str) -> int:
        """Count one question; 0 if allowed, else the seconds until the client may ask again."""
        if self.per_minute <= 0:
            return 0
        now = self.clock()
        with self._lock:
            if now - self._last_sweep > 60:  # forget clients idle for a minute
                self._hits = {k: q for k, q in self._hits.items() if q and now - q[-1] < 60}
                self._last_sweep = now
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, int(60 - (now - hits[0]) + 0.999))
            hits.append(now)
            return 0


class Gate:
    """At most `limit` questions answered at once; at most `max_waiting` queued behind them.

    A question that cannot get a slot (queue full, or no slot within `timeout` seconds) fails
    fast with Busy, so callers get a clear "try again" rather than a hang.
    """

    def __init__(self, limit: int, max_waiting: int, timeout: float, message: str):
        self.limit = limit
        self.max_waiting = max_waiting
        self.timeout = timeout
        self.message = message
        self.active = 0
        self.waiting = 0
        self._semaphore: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        semaphore = self._semaphore
        if semaphore.locked() and self.waiting >= self.max_waiting:
            raise Busy(self.message)
        self.waiting += 1
        try:
            async with asyncio.timeout(self.timeout):
                await semaphore.acquire()
        except TimeoutError:
            raise Busy(self.message) from None
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            semaphore.release()


# ---------------------------------------------------------------------------------------------
# metrics


class Metrics:
    """Prometheus counters in a registry of this app's own (several apps can share a process)."""

    def __init__(self, gate: Gate):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "assistant_requests", "Questions received, by channel and outcome.",
            ["channel", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "assistant_request_latency_seconds", "Time to answer a question (answered or "
            "abstained), including the wait for a slot.", ["channel"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30))
        self.abstentions = Counter(
            "assistant_abstentions", "Questions the documents could not answer, by reason.",
            ["reason"], registry=self.registry)
        self.feedback = Counter(
            "assistant_feedback", "Thumbs up/down on answers.", ["rating", "channel"],
            registry=self.registry)
        self.fallbacks = Counter(
            "assistant_generation_fallbacks", "Generated answers replaced by the extractive "
            "one, by why (timeout, failed, unsupported).", ["why"], registry=self.registry)
        self.errors = Counter(
            "assistant_errors", "Questions that got an error reply, by kind.", ["kind"],
            registry=self.registry)
        active = Gauge("assistant_questions_in_progress", "Questions being answered now.",
                       registry=self.registry)
        active.set_function(lambda: gate.active)
        waiting = Gauge("assistant_questions_waiting", "Questions waiting for a free slot.",
                        registry=self.registry)
        waiting.set_function(lambda: gate.waiting)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# ---------------------------------------------------------------------------------------------
# the service both the chat and the API call


class Service:
    """What the chat and the HTTP API share: the assistant, limits, metrics and the feedback log."""

    def __init__(self, settings: Settings, assistant: Any):
        self.settings = settings
        self.bot = assistant
        self.texts = load_texts(settings.texts_file)
        self.widget_texts = widget_texts(settings, self.texts)
        self.origins = Origins(settings.allowed_origins)
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.gate = Gate(settings.queue_concurrency, settings.queue_max_size,
                         settings.queue_timeout_seconds, self.texts["errors"]["busy"])
        self.metrics = Metrics(self.gate)
        self.store = FeedbackStore(settings.feedback_db)
        self.signer = AnswerSigner.for_store(settings.feedback_secret, settings.feedback_db)
        self.feedback_limiter = RateLimiter(settings.feedback_per_minute)

    def answer_id(self, reply: Reply) -> str:
        """The signature feedback on this reply must carry."""
        return self.signer.sign(reply.question, reply.answer, reply.citations)

    def reply_dict(self, reply: Reply) -> dict[str, Any]:
        """A reply as the API returns it: its fields and its answer_id."""
        return reply.to_dict() | {"answer_id": self.answer_id(reply)}

    def roles(self) -> list[dict[str, Any]]:
        """The role documents in the index in service (empty while there is none)."""
        documents = getattr(self.bot, "documents", None)
        if documents is None:
            return []
        try:
            return list(documents())
        except AssistantError:
            return []

    def _titles(self, scope: str | None) -> list[str]:
        """Titles of the role a scope names (a file or a title), else of every role."""
        roles = self.roles()
        if scope:
            roles = [r for r in roles if scope in (r["source"], r["title"])] or roles
        return [r["title"] for r in roles]

    def title_for(self, scope: str | None = None) -> str:
        """The chat's title: HR's, or the role(s) in scope from the documents' titles."""
        names = self._titles(scope)
        text = self.widget_texts["title"]
        label = names[0] if len(names) == 1 else self.widget_texts.get("all_roles", "Open roles")
        return text.format(roles=label) if "{roles}" in text else text

    def welcome_for(self, scope: str | None = None) -> str:
        """The greeting of an empty chat, naming the role in scope when there is one."""
        names = self._titles(scope)
        label = f"the {names[0]} role" if len(names) == 1 else \
            self.widget_texts.get("all_roles_sentence", "our open roles")
        text = self.widget_texts["welcome"]
        return text.format(roles=label) if "{roles}" in text else text

    def client_of(self, request: Any) -> str:
        """The rate-limit key: the client IP, or X-Client-Id when the settings trust it."""
        headers = getattr(request, "headers", None) or {}
        if self.settings.trust_client_id:
            client_id = headers.get("x-client-id")
            if client_id:
                return "id:" + client_id.strip()[:100]
        client = getattr(request, "client", None)
        host = getattr(client, "host", None) if client is not None else None
        return f"ip:{host or 'unknown'}"

    def check(self, question: Any, history: list[Any] | None) -> None:
        """The assistant's own input check (`Assistant.validate`), run before any queueing."""
        validate = getattr(self.bot, "validate", None)
        if validate is not None:
            validate(question, history, self.settings)

    async def ask(self, question: str, history: list[Any] | None, *, client: str,
                  channel: Channel, scope: str | list[str] | None = None) -> Reply:
        """Answer within the limits; raises an AssistantError whose message suits the user.

        `scope` names the role document(s) to answer from (the posting the chat sits on).
        """
        reply: Reply | None = None
        async for event in self.stream(question, history, client=client, channel=channel,
                                       scope=scope, pieces=False):
            if isinstance(event, Reply):
                reply = event
        assert reply is not None
        return reply

    async def stream(self, question: str, history: list[Any] | None, *, client: str,
                     channel: Channel, scope: str | list[str] | None = None,
                     pieces: bool = True) -> AsyncIterator[str | Reply]:
        """Like `ask`, yielding the answer's provisional text as it is made (when `pieces`),
        then the final Reply. Limits are checked before the first item."""
        started = time.perf_counter()
        outcome = "error"
        try:
            retry_after = self.limiter.hit(client)
            if retry_after:
                outcome = "rate_limited"
                raise RateLimited(self.texts["errors"]["rate_limited"].format(
                    seconds=retry_after), retry_after)
            try:
                self.check(question, history)
            except InvalidQuestion:
                outcome = "invalid"
                raise
            reply: Reply | None = None
            try:
                async with self.gate.slot():
                    streaming = getattr(self.bot, "stream", None)
                    if pieces and streaming is not None:
                        events = iterate_in_threadpool(streaming(question, history, scope or None))
                        async for event in events:
                            if isinstance(event, Reply):
                                reply = event
                            else:
                                yield event
                    else:
                        reply = await run_in_threadpool(self.bot.ask, question, history,
                                                        scope or None)
            except Busy:
                outcome = "busy"
                raise
            except InvalidQuestion:
                outcome = "invalid"
                raise
            except (IndexMissing, IndexBusy):
                outcome = "unavailable"
                raise
            except AssistantError:
                raise
            except Exception as exc:
                log.exception("answering %r failed", question)
                raise InternalError(self.texts["errors"]["internal"]) from exc
            assert reply is not None
            outcome = "abstained" if reply.abstained else "answered"
            self.metrics.latency.labels(channel).observe(time.perf_counter() - started)
            if reply.abstained:
                self.metrics.abstentions.labels(reply.reason or "not_covered").inc()
                await run_in_threadpool(self._store_safely, "abstained", reply.question,
                                        reply.answer, [], reply.reason)
            if reply.fallback:
                self.metrics.fallbacks.labels(reply.fallback).inc()
            yield reply
        finally:
            self.metrics.requests.labels(channel, outcome).inc()
            if outcome not in ("answered", "abstained"):
                self.metrics.errors.labels(outcome).inc()

    async def feedback(self, rating: Literal["up", "down"], question: str, answer: str,
                       citations: list[Any], *, channel: Channel, answer_id: str | None,
                       client: str) -> None:
        """Store a thumbs up/down on an answer this server gave (its `answer_id` checks the
        question, answer and citations); one vote per answer, within the client's budget."""
        retry_after = self.feedback_limiter.hit(client)
        if retry_after:
            raise RateLimited(self.widget_texts["feedback_rate_limited"].format(
                seconds=retry_after), retry_after)
        if not self.signer.verify(answer_id, question, answer, citations):
            raise InvalidFeedback(self.widget_texts["invalid_feedback"])
        self.metrics.feedback.labels(rating, channel).inc()
        await run_in_threadpool(self._store_safely, rating, question, answer, citations, "",
                                answer_id)

    def _store_safely(self, kind: Any, question: str, answer: str, citations: list[Any],
                      reason: str, answer_id: str | None = None) -> None:
        try:
            self.store.record(kind, question, answer, citations, reason, answer_id=answer_id)
        except Exception:  # noqa: BLE001 - losing one feedback row must not fail the reply
            log.exception("could not store %s feedback in %s", kind, self.store.path)


def widget_texts(settings: Settings, texts: dict[str, Any]) -> dict[str, Any]:
    """[widget] texts with HR's settings (title, welcome, examples, contact) applied."""
    out = dict(texts["widget"])
    if settings.widget_title:
        out["title"] = settings.widget_title
    if settings.welcome_message:
        out["welcome"] = settings.welcome_message
    if settings.example_questions is not None:
        out["examples"] = [q for q in settings.example_questions if q.strip()]
    out["disclaimer"] = out["disclaimer"].format(contact=settings.contact)
    return out


# ---------------------------------------------------------------------------------------------
# HTTP API schema


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(description="What was said (the assistant's answer as returned).")


class AskRequest(BaseModel):
    question: str = Field(description="The candidate's question.",
                          examples=["What does the role pay?"])
    history: list[HistoryMessage] = Field(
        default_factory=list, description="Earlier turns, oldest first, for follow-ups.")
    scope: str | list[str] | None = Field(
        None, description="Answer from these role documents only (a file name or title, or a "
        "list): the posting the chat sits on. Without it a question naming a role goes to it.",
        examples=["backend-engineer.md"])


class CitationOut(BaseModel):
    n: int = Field(description="The number used by [n] markers in the answer.")
    source: str
    section: str = Field(description="The section path, led by the document's (role's) title.")
    text: str = Field(description="The quoted passage.")
    line_start: int
    line_end: int
    title: str = Field("", description="The document (role) the passage comes from.")
    locator: str = Field("line", description="What line_start/line_end count: line or page.")


class ContextOut(BaseModel):
    text: str
    source: str
    section: str
    score: float
    relevance: float
    line_start: int
    line_end: int
    chunk_id: str
    title: str = ""
    locator: str = "line"


class DocumentOut(BaseModel):
    source: str = Field(description="The file, relative to the corpus folder: use it as scope.")
    title: str = Field(description="The role (document) title.")
    topics: list[str] = Field(description="Its top-level sections.")
    metadata: dict[str, str] = Field(description="Front matter and file properties.")


class AskReply(BaseModel):
    question: str
    answer: str = Field(description="Markdown with [n] citation markers.")
    abstained: bool = Field(description="True when the documents could not answer.")
    reason: str = Field(description="Why it abstained (not_covered, no_figure, off_topic, "
                        "instructions, ambiguous_role).")
    citations: list[CitationOut]
    contexts: list[ContextOut] = Field(description="Passages retrieved, best first.")
    query: str = Field(description="The standalone query used after resolving follow-ups.")
    latency_ms: float
    answer_id: str = Field(description="Send it back with feedback on this answer.")
    backend: str = Field("extractive", description="Who wrote the answer: extractive, "
                         "llamacpp or openai.")
    verified: bool = Field(True, description="Every sentence was checked against the passages "
                           "it cites.")
    removed: list[str] = Field(default_factory=list, description="Generated sentences the "
                               "grounding guard removed (for evaluators).")
    note: str = Field("", description="Why a generated answer was replaced by quotes.")
    fallback: str = Field("", description="The same as a key: timeout, failed, unsupported.")


class FeedbackRequest(BaseModel):
    rating: Literal["up", "down"]
    answer_id: str | None = Field(None, max_length=128, description="As /api/ask returned it.")
    question: str = Field(max_length=10_000, description="As /api/ask returned it.")
    answer: str = Field("", max_length=100_000, description="As /api/ask returned it.")
    citations: list[CitationOut] = Field(default_factory=list, max_length=50)


class ErrorReply(BaseModel):
    error: str = Field(description="Machine-readable kind: invalid_question, rate_limited, "
                       "busy, unavailable, bad_json, too_large, origin_refused, internal.")
    message: str = Field(description="A message fit to show the user.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text} for code, text in {
        400: "The body is not valid JSON.", 403: "Browser request from a site not allowed.",
        413: "The body is too large.", 422: "The question or history is not acceptable.",
        429: "Too many questions from this client; see Retry-After.",
        503: "Busy, or the index is not ready; see Retry-After.",
        500: "Unexpected failure."}.items()
}


def error_response(exc: AssistantError) -> Response:
    """The HTTP status and body for an AssistantError."""
    if isinstance(exc, RateLimited):
        return _json(429, "rate_limited", exc.message, {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Busy):
        return _json(503, "busy", exc.message, {"Retry-After": "2"})
    if isinstance(exc, (IndexMissing, IndexBusy)):
        return _json(503, "unavailable", exc.message, {"Retry-After": "10"})
    if isinstance(exc, InvalidQuestion):
        return _json(422, "invalid_question", exc.message)
    if isinstance(exc, InvalidFeedback):
        return _json(422, "invalid_feedback", exc.message)
    if isinstance(exc, InternalError):
        return _json(500, "internal", exc.message)
    return _json(400, "bad_request", exc.message)


# ---------------------------------------------------------------------------------------------
# the embed page


@dataclass
class Snippets:
    web_component: str
    iframe: str
    script: str


def snippets(base: str, title: str, scope: str | None = None) -> Snippets:
    """The three ways HR can put the chat on a page, for a server at `base`; with `scope`, the
    chat answers from that role's document only (the snippet for that role's posting)."""
    from urllib.parse import quote

    t = html.escape(title, quote=True)
    query = f"&amp;scope={html.escape(quote(scope), quote=True)}" if scope else ""
    attribute = f' data-scope="{html.escape(scope, quote=True)}"' if scope else ""
    return Snippets(
        web_component=(f'<script type="module" src="{base}/gradio.js"></script>\n'
                       f'<gradio-app src="{base}/?embed=1{query}"></gradio-app>' if scope else
                       f'<script type="module" src="{base}/gradio.js"></script>\n'
                       f'<gradio-app src="{base}/"></gradio-app>'),
        iframe=(f'<iframe src="{base}/?embed=1&amp;__theme=light{query}" title="{t}" '
                'style="width:100%;max-width:720px;height:640px;border:0;border-radius:16px" '
                'allow="clipboard-write"></iframe>'),
        script=f'<script src="{base}/widget.js"{attribute} async></script>',
    )


def _static(name: str) -> str:
    return resources.files("assistant").joinpath(f"static/{name}").read_text("utf-8")


def embed_page(service: Service, base: str) -> str:
    """The /embed page: snippets to copy, the current HR settings and live previews."""
    settings, texts = service.settings, service.widget_texts
    title = service.title_for()
    snips = snippets(base, title)
    origins = "".join(f"<li><code>{html.escape(o)}</code></li>" for o in settings.allowed_origins)
    roles = "".join(
        f"<li><strong>{html.escape(r['title'])}</strong> <small>{html.escape(r['source'])}"
        f"</small><div class='code'><pre id='snippet-role-{i}'>"
        f"{html.escape(snippets(base, r['title'], r['source']).script)}</pre>"
        f"<button class='copy' data-copy='snippet-role-{i}'>Copy</button></div></li>"
        for i, r in enumerate(service.roles())) or "<li>No documents are indexed yet.</li>"
    examples = "".join(f"<li>{html.escape(q)}</li>" for q in texts["examples"]) or "<li>none</li>"
    values = {
        "title": html.escape(title),
        "roles": roles,
        "base": html.escape(base),
        "accent": settings.accent_color,
        "accent_dark": _shade(settings.accent_color),
        "accent_soft": _tint(settings.accent_color),
        "welcome": html.escape(service.welcome_for()),
        "examples": examples,
        "contact": html.escape(settings.contact),
        "origins": origins,
        "origins_count": html.escape(", ".join(settings.allowed_origins)),
        "rate_limit": str(settings.rate_limit_per_minute or "no limit"),
        "snippet_component": html.escape(snips.web_component),
        "snippet_iframe": html.escape(snips.iframe),
        "snippet_script": html.escape(snips.script),
        "preview_iframe_js": _js(f"{base}/?embed=1&__theme=light"),
        "widget_src": html.escape(f"{base}/widget.js"),
        "component_js": _js(f"{base}/gradio.js"),
        "base_js": _js(base),
    }
    return string.Template(_static("embed.html")).safe_substitute(values)


def _js(value: str) -> str:
    """A JavaScript string literal safe inside an HTML <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def _shade(colour: str) -> str:
    from assistant.ui import palette

    return palette(colour)["c800"]


def _tint(colour: str) -> str:
    from assistant.ui import palette

    return palette(colour)["c50"]


def base_url(settings: Settings, request: Request) -> str:
    """Where browsers reach this server: Settings.public_url, else the address in use."""
    if settings.public_url:
        return settings.public_url
    return str(request.base_url).rstrip("/")


# ---------------------------------------------------------------------------------------------
# the app


def create_app(settings: Settings, assistant: Any = None) -> FastAPI:
    """The whole server as one ASGI app; pass `assistant` to reuse one already loaded."""
    import gradio as gr
    from starlette.middleware.cors import CORSMiddleware

    from assistant.ui import JS, chat_css, create_ui, make_theme

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
            return _json(400, "bad_json", texts["bad_json"].format(detail=exc.detail))
        if exc.status_code == 405:
            return _method_not_allowed(request)
        if exc.status_code == 404:
            return _json(404, "not_found", texts["not_found"].format(path=request.url.path))
        return _json(exc.status_code, "http_error", str(exc.detail), getattr(exc, "headers", None))

    def _method_not_allowed(request: Request) -> Response:
        allowed = sorted({m for route in app.routes if isinstance(route, APIRoute)
                          and route.path_regex.fullmatch(request.url.path)
                          for m in (route.methods or ())} | {"OPTIONS"})
        return _json(405, "method_not_allowed", texts["method_not_allowed"].format(
            method=request.method, allowed=", ".join(allowed)), {"Allow": ", ".join(allowed)})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = next(str(e.get("ctx", {}).get("error", e.get("msg")))
                          for e in errors if e.get("type") == "json_invalid")
            return _json(400, "bad_json", texts["bad_json"].format(detail=detail))
        detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: "
                           f"{e.get('msg')}" for e in errors[:5])
        return _json(422, "invalid_request", texts["bad_request"].format(detail=detail))

    @app.post("/api/ask", response_model=AskReply, responses=_ERRORS, tags=["chat"],
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

    @app.post("/api/ask/stream", responses=_ERRORS, tags=["chat"],
              summary="Ask, and receive the answer as server-sent events")
    async def api_ask_stream(payload: AskRequest, request: Request) -> Any:
        """`delta` events carry provisional text as it is made (`{"text": ...}`); one `final`
        event carries the reply (the same fields as /api/ask), after the grounding guard has
        checked a generated answer: show the final text in place of the deltas. Errors before
        the first event get the usual status codes; later ones arrive as an `error` event."""
        from sse_starlette import EventSourceResponse

        history = [m.model_dump() for m in payload.history]
        events = service.stream(payload.question, history, scope=payload.scope,
                                client=service.client_of(request), channel="api")
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

    @app.post("/api/feedback", status_code=204, responses=_ERRORS, tags=["chat"],
              summary="Rate an answer (thumbs up or down)")
    async def api_feedback(payload: FeedbackRequest, request: Request) -> Response:
        """Store the rating with the question, answer and citations (nothing about the user).
        Only an answer this server gave can be rated (its `answer_id`); rating it again
        replaces the earlier rating."""
        try:
            await service.feedback(payload.rating, payload.question, payload.answer,
                                   [c.model_dump() for c in payload.citations], channel="api",
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
        return Response(_static("widget.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget.css", include_in_schema=False)
    async def widget_css() -> Response:
        return Response(_static("widget.css"), media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget/config", include_in_schema=False)
    async def widget_config(request: Request) -> Response:
        """Branding for /widget.js; CORS makes it readable only from allowed sites."""
        base = base_url(settings, request)
        scope = request.query_params.get("scope") or None
        return JSONResponse({
            "title": await run_in_threadpool(service.title_for, scope),
            "accent_color": settings.accent_color,
            "chat_url": f"{base}/?embed=1&__theme=light",
            "texts": {k: texts[k] for k in ("open_label", "close_label", "unavailable")},
        }, headers={"Cache-Control": "no-store"})

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
        known = [route for route in app.routes if isinstance(route, APIRoute)
                 and route.endpoint is not api_elsewhere
                 and route.path_regex.fullmatch(request.url.path)]
        if known:
            return _method_not_allowed(request)
        return _json(404, "not_found", texts["not_found"].format(path=request.url.path))

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


__all__ = ["Busy", "RateLimited", "Service", "create_app", "run", "snippets"]
