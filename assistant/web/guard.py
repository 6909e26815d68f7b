"""The guard in front of every route. Origins: one list drives CSP frame-ancestors, CORS and the
server-side refusal; also request-body limits, refused uploads and the JSON error body
(`json_error`) every layer uses."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
        checked = path.startswith(("/api/", "/v1/", "/gradio_api/", "/widget/", "/config")) \
            and path != "/widget/status"  # open to every site: it says whether they may
        if (checked and origin and not same_origin(scope, origin)
                and origin.lower() != self.public_origin and not self.origins.allows(origin)):
            await json_error(403, "origin_refused", self.texts["origin_refused"], path=path)(
                scope, receive, send)
            return
        if _UPLOAD.fullmatch(path):
            await json_error(403, "uploads_disabled", self.texts["uploads_disabled"], path=path)(
                scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            api = path.startswith(("/api/", "/v1/"))
            try:  # bodies here are small JSON: read them first, within a deadline
                async with asyncio.timeout(self.body_seconds):
                    body = await self._read_capped(receive, self.max_bytes if api else None)
            except TimeoutError:
                text = self.texts["request_timeout"].format(seconds=f"{self.body_seconds:g}")
                await json_error(408, "request_timeout", text, {"Connection": "close"}, path)(
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
        await json_error(413, "too_large", text, path=scope["path"])(scope, receive, send)


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


def json_error(status: int, error: str, message: str,
               headers: dict[str, str] | None = None, path: str = "") -> Response:
    """The API's error body, `{"error": kind, "message": text fit to show the user}`; under
    /v1/ (the OpenAI-compatible routes) OpenAI's, which its clients parse:
    `{"error": {"message", "type", "code", "param"}}`."""
    if path.startswith("/v1/"):
        kind = "rate_limit_error" if status == 429 else \
            "invalid_request_error" if status < 500 else "server_error"
        return JSONResponse({"error": {"message": message, "type": kind, "code": error,
                                       "param": None}}, status_code=status, headers=headers)
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)
