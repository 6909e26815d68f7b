"""Limits on questions: a per-client rate limit and the queue for answering slots."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
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
    """At most `per_window` hits per client in any sliding window of `window` seconds, counted
    in the store `storage` names (the `limits` library: "memory://" in this process, or
    "redis://host:6379", "memcached://host:11211", ...). App replicas that name the same store
    share one budget per client, so a load balancer cannot multiply it."""

    def __init__(self, per_window: int, storage: str = "memory://", window: int = 60,
                 namespace: str = "questions"):
        from limits import RateLimitItemPerSecond
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.per_window = per_window
        self.namespace = namespace
        self._item = RateLimitItemPerSecond(max(per_window, 1), window)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage))

    def hit(self, client: str) -> int:
        """Count one hit; 0 if allowed, else the seconds until the client may try again."""
        if self.per_window <= 0:
            return 0
        if self._limiter.hit(self._item, self.namespace, client):
            return 0
        stats = self._limiter.get_window_stats(self._item, self.namespace, client)
        return max(1, math.ceil(stats.reset_time - time.time()))


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
