"""How an AssistantError becomes an HTTP reply."""

from __future__ import annotations

from fastapi.responses import Response

from assistant.types import AssistantError, IndexBusy, IndexMissing, InvalidQuestion
from assistant.web.guard import json_error
from assistant.web.limits import Busy, RateLimited
from assistant.web.service import InternalError, InvalidFeedback


def error_fields(exc: AssistantError) -> tuple[int, str, str, dict[str, str]]:
    """(HTTP status, machine-readable kind, message, headers) for an AssistantError: one
    mapping for every API format (ours and the OpenAI-compatible one)."""
    if isinstance(exc, RateLimited):
        return 429, "rate_limited", exc.message, {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Busy):
        return 503, "busy", exc.message, {"Retry-After": "2"}
    if isinstance(exc, (IndexMissing, IndexBusy)):
        return 503, "unavailable", exc.message, {"Retry-After": "10"}
    if isinstance(exc, InvalidQuestion):
        return 422, "invalid_question", exc.message, {}
    if isinstance(exc, InvalidFeedback):
        return 422, "invalid_feedback", exc.message, {}
    if isinstance(exc, InternalError):
        return 500, "internal", exc.message, {}
    return 400, "bad_request", exc.message, {}


def error_response(exc: AssistantError) -> Response:
    """The HTTP status and body for an AssistantError."""
    status, kind, message, headers = error_fields(exc)
    return json_error(status, kind, message, headers or None)
