"""The service both the chat and the API call: the assistant behind its limits, metrics and
the feedback log."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from starlette.concurrency import run_in_threadpool

from assistant.feedback import AnswerSigner, FeedbackStore
from assistant.settings import Settings
from assistant.texts import load_texts
from assistant.types import AssistantError, IndexBusy, IndexMissing, InvalidQuestion, Reply
from assistant.web.guard import Origins
from assistant.web.limits import Busy, Gate, RateLimited, RateLimiter
from assistant.web.metrics import Metrics

log = logging.getLogger(__name__)

Channel = Literal["api", "ui"]
T = TypeVar("T")
_END = object()


class InvalidFeedback(AssistantError):
    """Feedback that is not about an answer this server gave."""


class InternalError(AssistantError):
    """Answering failed unexpectedly (logged with its traceback)."""


class Service:
    """What the chat and the HTTP API share: the assistant, limits, metrics and the feedback log."""

    def __init__(self, settings: Settings, assistant: Any):
        self.settings = settings
        self.bot = assistant
        self.texts = load_texts(settings.texts_file)
        self.widget_texts = widget_texts(settings, self.texts)
        self.origins = Origins(settings.allowed_origins)
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_storage)
        self.gate = Gate(settings.queue_concurrency, settings.queue_max_size,
                         settings.queue_timeout_seconds, self.texts["errors"]["busy"])
        self.metrics = Metrics(self.gate)
        self.store = FeedbackStore(settings.feedback_db)
        self.signer = AnswerSigner.for_store(settings.feedback_secret, settings.feedback_db)
        self.feedback_limiter = RateLimiter(settings.feedback_per_minute,
                                            settings.rate_limit_storage, namespace="feedback")
        # Answers run on queue_concurrency threads of their own (the gate lets no more in at
        # once), not on whichever of the up to 40 shared worker threads is free: every thread
        # that runs the model keeps its own allocator arena and buffers, and spreading answers
        # over all of them kept resident memory growing under load (benchmarks/bench_soak.py).
        self.answering = ThreadPoolExecutor(settings.queue_concurrency,
                                            thread_name_prefix="answering")

    async def _on_answering(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on an answering thread, in this task's context."""
        run = functools.partial(contextvars.copy_context().run, call, *args)
        return await asyncio.get_running_loop().run_in_executor(self.answering, run)

    async def _iterate_answering(self, events: Iterator[T]) -> AsyncIterator[T]:
        """A (blocking) iterator's items, each produced on an answering thread."""
        while True:
            item = await self._on_answering(next, events, _END)
            if item is _END:
                return
            yield item

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
                        events = self._iterate_answering(
                            streaming(question, history, scope or None))
                        async for event in events:
                            if isinstance(event, Reply):
                                reply = event
                            else:
                                yield event
                    else:
                        reply = await self._on_answering(self.bot.ask, question, history,
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
            if reply.abstained and reply.reason != "small_talk":  # "hi" is no content gap
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
