"""The HTTP API's schema: request and reply models, and the error replies each route
documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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
    reason: str = Field(description="Why it abstained (not_covered, no_figure, no_name, "
                        "off_topic, instructions, ambiguous_role, small_talk).")
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
    note: str = Field("", description="Why a generated answer was replaced by quotes, or that "
                      "the question states a figure the documents do not give.")
    fallback: str = Field("", description="The same as a key: timeout, failed, unsupported, "
                          "premise.")
    suggestions: list[str] = Field(default_factory=list, description="Follow-up questions "
                                   "drawn from the sections next to the one cited.")


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


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text} for code, text in {
        400: "The body is not valid JSON.", 403: "Browser request from a site not allowed.",
        413: "The body is too large.", 422: "The question or history is not acceptable.",
        429: "Too many questions from this client; see Retry-After.",
        503: "Busy, or the index is not ready; see Retry-After.",
        500: "Unexpected failure."}.items()
}
