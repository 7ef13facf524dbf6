"""Waiting for connector events in tests, without sleeping.

Every integration test needs "the next event of this kind (for this order), or fail after a bound"; a copy of
that loop in each test file drifts.  Time is Trio time, so under a ``MockClock`` the bound is virtual.
"""

from __future__ import annotations

import trio

from trio_hl.core.events import Event

__all__ = ["next_event"]


async def next_event(
    events: trio.MemoryReceiveChannel[Event],
    kind: type[Event] | tuple[type[Event], ...],
    *,
    client_order_id: str | None = None,
    fail_after_s: float = 15.0,
) -> Event:
    """The next event on ``events`` that is a ``kind`` (and for ``client_order_id``, when given); events before
    it are consumed.  Raises ``trio.TooSlowError`` after ``fail_after_s`` seconds, ``AssertionError`` if the
    channel ends."""
    with trio.fail_after(fail_after_s):
        async for event in events:
            if isinstance(event, kind) and client_order_id in (None, event.client_order_id):
                return event
    raise AssertionError("the event channel ended")
