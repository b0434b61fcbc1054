"""A bounded number of concurrent model calls, run off the event loop.

Query encoding and ranking are CPU-bound: run on the event loop they would stall every other request
(including /health), and run without a bound they would oversubscribe the cores so that every request gets
slower. Requests beyond the bound wait a little for a slot and are then told to come back (503 +
Retry-After) instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class ModelBusyError(Exception):
    """Every model slot stayed taken for the whole queue timeout."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"The search service is busy: try again in {retry_after_s} s")


class ModelSlots:
    """At most `limit` calls at once; create it inside the serving event loop (the app's lifespan)."""

    def __init__(self, limit: int, queue_timeout_s: float) -> None:
        self.limit = limit
        self.queue_timeout_s = queue_timeout_s
        self._semaphore = asyncio.Semaphore(limit)
        self.in_use = 0
        self.rejected = 0

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.queue_timeout_s))

    async def run(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run `func` in the thread pool once a slot is free, or raise ModelBusyError after the timeout."""
        if self._semaphore.locked():
            try:
                await asyncio.wait_for(self._semaphore.acquire(), timeout=self.queue_timeout_s)
            except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
                self.rejected += 1
                raise ModelBusyError(self.retry_after_s) from None
        else:
            await self._semaphore.acquire()  # free now: never times out, even with a zero timeout
        self.in_use += 1
        try:
            # The thread pool call is not abandoned when the client goes away, so the slot is only freed
            # once the CPU work has really finished: the bound holds even for cancelled requests.
            return await run_in_threadpool(func, *args, **kwargs)
        finally:
            self.in_use -= 1
            self._semaphore.release()
