"""Coalescing: many coroutines asking the database the same kind of question within a few
milliseconds get one answer from one blocking call.

A reconnect storm is thousands of streams arriving within seconds, each needing its session
checked and its missed events replayed. Asked one by one, that is thousands of threads
waiting for a pooled connection; coalesced, it is a few dozen calls in the hub's small
thread pool, and a waiting stream costs a future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """`await get(key)`: the value `fetch` gives for it, fetched together with every other key
    asked for within `delay_s` (or as soon as `max_batch` keys wait). `fetch` runs off the
    event loop (through `run`) and returns a value for every key it was given."""

    def __init__(self, fetch: Callable[[Sequence[K]], dict[K, V]],
                 run: Callable[..., Awaitable[dict[K, V]]], *, delay_s: float = 0.005,
                 max_batch: int = 500) -> None:
        self._fetch = fetch
        self._run = run
        self._delay_s = delay_s
        self._max_batch = max_batch
        self._waiting: dict[K, asyncio.Future[V]] = {}
        # Keys whose fetch is under way: asking again shares the answer, not a second fetch.
        self._fetching: dict[K, asyncio.Future[V]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self.calls = 0  # fetches made, for tests and metrics

    async def get(self, key: K) -> V:
        future = self._waiting.get(key) or self._fetching.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
            if len(self._waiting) >= self._max_batch:
                self._start()
            elif self._flush is None:
                self._flush = asyncio.get_running_loop().call_later(self._delay_s, self._start)
        return await asyncio.shield(future)

    def _start(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._waiting = self._waiting, {}
        if batch:
            self._fetching.update(batch)
            asyncio.get_running_loop().create_task(self._answer(batch))

    async def _answer(self, batch: dict[K, asyncio.Future[V]]) -> None:
        self.calls += 1
        try:
            values = await self._run(self._fetch, list(batch))
        except Exception as exc:  # every waiter learns of the failure
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            for key in batch:
                self._fetching.pop(key, None)
        for key, future in batch.items():
            if not future.done():
                future.set_result(values[key])
