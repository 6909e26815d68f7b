"""An OpenAI-compatible face of the assistant: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client, chat front end or agent framework can use the assistant as a model. The
reply is the assistant's own grounded answer: the last user message is the question, earlier
user and assistant messages are the history, and system messages are ignored (a caller
cannot change how the assistant answers). The sources follow the answer as a short list, and
the structured citations ride along in a `citations` field that OpenAI clients keep as an
extra. `scope` may be sent as an extra body field (`extra_body={"scope": "role.md"}`).

Streaming sends only text the grounding guard has passed: an OpenAI client concatenates
deltas and cannot take text back, so a generated answer is streamed once it is checked.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from assistant.chunking import count_tokens
from assistant.text import inert_markup
from assistant.types import AssistantError, Citation, InvalidQuestion, Reply
from assistant.web.guard import json_error

MODEL_ID = "role-assistant"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, ... are accepted and unused

    model: str = Field(MODEL_ID, description=f"'{MODEL_ID}' (see /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    scope: str | list[str] | None = Field(
        None, description="Answer from these role documents only (an extra body field).")


def text_of(message: ChatMessage) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """(question, history) from OpenAI messages; the question is the last user message."""
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidQuestion("The last message must be the candidate's question (role 'user').")
    history = [{"role": m.role, "content": text_of(m)} for m in turns[:-1]]
    return text_of(turns[-1]), history


def sources_block(citations: list[Citation]) -> str:
    """The citations as a short list under the answer (inert Markdown, like the answer)."""
    if not citations:
        return ""
    lines = []
    for c in citations:
        unit = "page" if c.locator == "page" else "lines"
        where = f"{c.line_start}" if c.line_start == c.line_end else f"{c.line_start}-{c.line_end}"
        lines.append(inert_markup(f"[{c.n}] {c.section} ({c.source}, {unit} {where})"))
    return "\n\nSources:\n" + "\n".join(lines)


def content_of(reply: Reply) -> str:
    text = reply.answer + sources_block(reply.citations)
    return f"{text}\n\n{reply.note}" if reply.note else text


def openai_error(exc: AssistantError) -> Response:
    """An AssistantError in the OpenAI error format, with the same status as /api/ask."""
    from assistant.web.errors import error_fields

    status, code, message, headers = error_fields(exc)
    return json_error(status, code, message, headers or None, path="/v1/")


def openai_router(service: Any) -> APIRouter:
    """The /v1 routes, answering through the shared service (limits, queue, metrics)."""
    router = APIRouter(prefix="/v1", tags=["openai-compatible"])
    encoding = service.settings.encoding

    @router.get("/models", summary="The assistant as a model")
    async def models() -> Any:
        return {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "role-assistant"}]}

    @router.post("/chat/completions", summary="Chat completions (OpenAI-compatible)")
    async def chat_completions(payload: ChatRequest, request: Request) -> Any:
        if payload.model != MODEL_ID:
            return json_error(404, "model_not_found", f"The model {payload.model!r} does not "
                              f"exist; use {MODEL_ID!r}.", path=request.url.path)
        try:
            question, history = split_messages(payload.messages)
            reply = await service.ask(question, history, scope=payload.scope,
                                      client=service.client_of(request), channel="api")
        except AssistantError as exc:
            return openai_error(exc)
        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        content = content_of(reply)
        extras = {"citations": [c.to_dict() for c in reply.citations],
                  "abstained": reply.abstained, "backend": reply.backend,
                  "verified": reply.verified}
        if not payload.stream:
            prompt = count_tokens(question + "".join(h["content"] for h in history), encoding)
            completion = count_tokens(content, encoding)
            return {"id": ident, "object": "chat.completion", "created": created,
                    "model": MODEL_ID, "choices": [{
                        "index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}, **extras}

        from sse_starlette import EventSourceResponse

        def chunk(delta: dict[str, Any], finish: str | None = None,
                  **more: Any) -> dict[str, str]:
            return {"data": json.dumps({
                "id": ident, "object": "chat.completion.chunk", "created": created,
                "model": MODEL_ID, "choices": [{"index": 0, "delta": delta,
                                                "finish_reason": finish}], **more})}

        async def events() -> AsyncIterator[dict[str, str]]:
            yield chunk({"role": "assistant", "content": ""})
            for line in content.splitlines(keepends=True):
                yield chunk({"content": line})
            yield chunk({}, "stop", **extras)
            yield {"data": "[DONE]"}

        return EventSourceResponse(events())

    return router
