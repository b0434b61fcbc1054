"""Model calls in the server get a fixed number of intra-op threads, so that slots x threads <= cores."""

from __future__ import annotations

import asyncio

import torch

from api.concurrency import ModelSlots, threads_per_call


def test_threads_per_call_divides_the_cores_between_the_slots() -> None:
    assert threads_per_call(2, cpus=2) == 1
    assert threads_per_call(1, cpus=2) == 2
    assert threads_per_call(3, cpus=8) == 2
    assert threads_per_call(4, cpus=2) == 1  # never zero


def test_each_call_runs_with_the_slots_thread_counts() -> None:
    saved = torch.get_num_threads()
    slots_threads = 1 if saved != 1 else 2  # differs from what the threads would get by default

    def counts() -> int:
        return torch.get_num_threads()

    async def run() -> list[int]:
        slots = ModelSlots(2, 1.0, threads=slots_threads)
        return await asyncio.gather(*(slots.run(counts) for _ in range(4)))

    try:
        assert set(asyncio.run(run())) == {slots_threads}
    finally:
        torch.set_num_threads(saved)


def test_default_threads_follow_the_slots() -> None:
    assert ModelSlots(2, 1.0).threads == threads_per_call(2)
    assert ModelSlots(1, 1.0, threads=3).threads == 3
