"""Lossless fan-out of events from synchronous producers to any number of async consumers.

Why this shape: the tracker is synchronous and is called from ``buy()`` (a plain method that must never
block or await) as well as from stream tasks.  So producers append to a backlog (O(1), never blocks) and one
pump task, owned by the connector's nursery, moves events into each consumer's *bounded* memory channel
with ``await send`` — a slow consumer applies backpressure to the pump, never to the order path, and
nothing is dropped.  The backlog that builds up behind a stalled consumer is visible in ``statistics()``.

Rejected alternatives: a single memory channel with ``send_nowait`` (would have to drop or raise on a
full buffer, i.e. lose order events or fail ``buy()``), and callbacks (a consumer's bug or slowness runs
inside the tracker's call stack).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

import attrs
import trio

__all__ = ["EventFanout", "FanoutStats"]

T = TypeVar("T")
#: Items the pump delivers between two checkpoints of its own (see ``EventFanout.run``).
_BURST = 256


@attrs.frozen
class FanoutStats:
    backlog: int
    subscribers: int
    published: int
    delivered: int


class EventFanout(Generic[T]):
    """Broadcast every published item to every subscriber, in order, losslessly."""

    def __init__(self) -> None:
        self._backlog: deque[T] = deque()
        self._subscribers: list[trio.MemorySendChannel[T]] = []
        self._wakeup = trio.Event()
        self._published = 0
        self._delivered = 0

    def publish(self, items: Iterable[T]) -> None:
        """Queue ``items`` for every subscriber.  Never blocks; safe from synchronous code."""
        before = len(self._backlog)
        self._backlog.extend(items)
        added = len(self._backlog) - before
        if added:
            self._published += added
            self._wakeup.set()

    def subscribe(self, buffer: int) -> trio.MemoryReceiveChannel[T]:
        """A new channel receiving every item published from now on.  Close it to unsubscribe."""
        send, receive = trio.open_memory_channel[T](buffer)
        self._subscribers.append(send)
        return receive

    async def run(self) -> None:
        """The pump.  Runs until cancelled; closes every subscriber channel on exit so consumers end.

        A channel with room takes the item at once (``send_nowait``); only a full one is awaited (the
        backpressure).  An ``await send`` per item and subscriber would be a trip through the scheduler each -
        at thousands of order events a second, more than the rest of the event's delivery - so the pump
        yields once per ``_BURST`` items instead (and whenever a channel is full or the backlog is empty)."""
        backlog = self._backlog
        try:
            while True:
                if not backlog:
                    self._wakeup = trio.Event()
                    await self._wakeup.wait()
                    continue
                for _ in range(min(len(backlog), _BURST)):
                    item = backlog.popleft()
                    for send in list(self._subscribers):
                        try:
                            try:
                                send.send_nowait(item)
                            except trio.WouldBlock:
                                await send.send(item)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            self._subscribers.remove(send)
                    self._delivered += 1
                await trio.lowlevel.checkpoint()
        finally:
            for send in self._subscribers:
                send.close()
            self._subscribers.clear()

    def statistics(self) -> FanoutStats:
        return FanoutStats(len(self._backlog), len(self._subscribers), self._published, self._delivered)
