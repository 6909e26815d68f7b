"""Limits on questions: a per-client rate limit and the queue for answering slots."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from assistant.types import AssistantError


class Busy(AssistantError):
    """Every answering slot is taken and the wait would be too long."""


class RateLimited(AssistantError):
    """This client asked too many questions in the last minute."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after



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
