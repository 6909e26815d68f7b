"""How an AssistantError becomes an HTTP reply."""

from __future__ import annotations

from fastapi.responses import Response

from assistant.types import AssistantError, IndexBusy, IndexMissing, InvalidQuestion
from assistant.web.guard import json_error
from assistant.web.limits import Busy, RateLimited
from assistant.web.service import InternalError, InvalidFeedback


def error_response(exc: AssistantError) -> Response:
    """The HTTP status and body for an AssistantError."""
    if isinstance(exc, RateLimited):
        return json_error(429, "rate_limited", exc.message, {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Busy):
        return json_error(503, "busy", exc.message, {"Retry-After": "2"})
    if isinstance(exc, (IndexMissing, IndexBusy)):
        return json_error(503, "unavailable", exc.message, {"Retry-After": "10"})
    if isinstance(exc, InvalidQuestion):
        return json_error(422, "invalid_question", exc.message)
    if isinstance(exc, InvalidFeedback):
        return json_error(422, "invalid_feedback", exc.message)
    if isinstance(exc, InternalError):
        return json_error(500, "internal", exc.message)
    return json_error(400, "bad_request", exc.message)
