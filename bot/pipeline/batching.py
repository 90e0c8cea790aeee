"""Group commit: writes that arrive while one is in flight go together in the next.

A 304 costs a poll almost nothing but its write; a pass of hundreds of 304s made one
transaction (and one thread hop) each. `GroupWriter` makes the first caller's write go at
once and every caller arriving meanwhile join the next one: under load, one transaction per
batch; alone, no waiting at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupWriter"]

T = TypeVar("T")


class GroupWriter(Generic[T]):
    """Run `write(items)` (blocking: in a thread) for items queued together.

    `write` returns the items it refused (by identity); their callers get `refused(item)` raised.
    An error of the write itself is raised to every caller of that batch.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[T]],
        refused: Callable[[T], BaseException],
    ) -> None:
        self._write = write
        self._refused = refused
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def put(self, item: T) -> None:
        """Write `item` with whatever else is waiting; return when it is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await done

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                refused = await asyncio.to_thread(self._write, [item for item, _ in batch])
            except BaseException as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            gone = {id(item) for item in refused}
            for item, done in batch:
                if done.done():  # its caller was cancelled
                    continue
                if id(item) in gone:
                    done.set_exception(self._refused(item))
                else:
                    done.set_result(None)
