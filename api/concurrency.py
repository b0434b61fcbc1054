"""A bounded number of concurrent model calls, run off the event loop.

Query encoding and ranking are CPU-bound: run on the event loop they would stall every other request
(including /health), and run without a bound they would oversubscribe the cores so that every request gets
slower. Requests beyond the bound wait a little for a slot and are then told to come back (503 +
Retry-After) instead of queueing without limit.

Each model call also gets a fixed number of PyTorch intra-op threads (`threads_per_call`, by default the
cores divided by the slots), so that slots x threads never exceeds the cores. An OpenMP team meets at a
barrier after every operation, so a team with more threads than free cores waits for whichever member is
descheduled: on the 2-core development machine, with other processes busy, encoding one 10-token query took
a median 221 ms with 2 threads against 40 ms with 1. A single short query gains little from a second thread
(18 -> 13 ms on idle cores) compared with what a second slot gains by encoding another query beside it, and
the CPU time per search stays the same (~21 ms, benchmarks/query_latency.py). FAISS searches one query at a
time with 1 thread for the same reason (search/storage/vectors.py).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class ModelBusyError(Exception):
    """Every model slot stayed taken for the whole queue timeout."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"The search service is busy: try again in {retry_after_s} s")


def available_cpus() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_call(slots: int, cpus: int | None = None) -> int:
    """Intra-op threads for each of `slots` concurrent model calls so that slots x threads <= cores."""
    return max(1, (cpus or available_cpus()) // max(1, slots))


_configured = threading.local()


def use_compute_threads(threads: int) -> None:
    """Give the calling thread `threads` PyTorch intra-op threads (once per thread).

    OpenMP's thread count belongs to the calling thread once PyTorch has set it up there, so each worker
    of the thread pool sets it itself before its first model call; threads started later take the
    process-wide default this also sets.
    """
    if getattr(_configured, "threads", None) == threads:
        return
    import torch

    torch.set_num_threads(threads)
    _configured.threads = threads


class ModelSlots:
    """At most `limit` calls at once; create it inside the serving event loop (the app's lifespan).

    `threads` is each call's intra-op thread count (None: `threads_per_call(limit)`).
    """

    def __init__(self, limit: int, queue_timeout_s: float, threads: int | None = None) -> None:
        self.limit = limit
        self.threads = threads if threads is not None else threads_per_call(limit)
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
            return await run_in_threadpool(self._call, func, *args, **kwargs)
        finally:
            self.in_use -= 1
            self._semaphore.release()

    def _call(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Runs in the worker thread: its compute threads first, then the call."""
        use_compute_threads(self.threads)
        return func(*args, **kwargs)
