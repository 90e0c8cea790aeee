"""Group commit (bot/pipeline/batching.py): writes arriving during one go together in the next."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from bot.pipeline.batching import GroupWriter


class Refused(Exception):
    pass


def test_callers_arriving_during_a_write_share_the_next_one() -> None:
    """The first write goes alone at once; the nine callers that came while it ran are one
    batch; a refused item raises for its caller only."""
    batches: list[list[int]] = []
    gate = threading.Event()

    def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            gate.wait(5)  # hold the first write until everyone else is queued
        return [i for i in items if i == 7]

    async def scenario() -> list[object]:
        writer: GroupWriter[int] = GroupWriter(write, lambda item: Refused(item))
        first = asyncio.create_task(writer.put(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(writer.put(i)) for i in range(1, 10)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(scenario())
    assert batches == [[0], [1, 2, 3, 4, 5, 6, 7, 8, 9]]
    assert [type(r).__name__ for r in results].count("Refused") == 1
    assert isinstance(results[7], Refused)
    assert all(r is None for i, r in enumerate(results) if i != 7)


def test_a_failed_write_fails_every_caller_of_its_batch_and_the_next_batch_goes_on() -> None:
    calls = 0

    def write(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk gone")
        return []

    async def scenario() -> None:
        writer: GroupWriter[int] = GroupWriter(write, lambda item: Refused(item))
        with pytest.raises(OSError, match="disk gone"):
            await writer.put(1)
        await writer.put(2)  # a later batch is written

    asyncio.run(scenario())
    assert calls == 2
