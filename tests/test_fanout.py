"""EventFanout: every subscriber gets every item in order, a full channel holds the pump (never drops), a closed
subscriber is dropped without disturbing the others, and a long burst does not monopolise the Trio loop."""

from __future__ import annotations

import math

import trio
import trio.testing

from trio_hl.core.fanout import EventFanout


async def test_every_subscriber_gets_every_item_in_order_and_a_slow_one_applies_backpressure() -> None:
    fanout: EventFanout[int] = EventFanout()
    fast = fanout.subscribe(math.inf)  # type: ignore[arg-type]
    slow = fanout.subscribe(1)
    got_fast: list[int] = []
    got_slow: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fanout.run)
        fanout.publish(range(1000))
        await trio.testing.wait_all_tasks_blocked()
        # The slow channel holds one item and the pump waits on it: nothing is dropped, the rest stays queued.
        assert fanout.statistics().delivered < 1000
        assert fanout.statistics().backlog > 0
        for _ in range(1000):
            got_slow.append(await slow.receive())
        for _ in range(1000):
            got_fast.append(await fast.receive())
        await trio.testing.wait_all_tasks_blocked()
        assert fanout.statistics().delivered == 1000
        nursery.cancel_scope.cancel()
    assert got_fast == list(range(1000))
    assert got_slow == list(range(1000))


async def test_a_closed_subscriber_is_dropped_and_the_others_still_get_everything() -> None:
    fanout: EventFanout[int] = EventFanout()
    keep = fanout.subscribe(10_000)
    gone = fanout.subscribe(10_000)
    gone.close()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fanout.run)
        fanout.publish(range(600))
        await trio.testing.wait_all_tasks_blocked()
        assert fanout.statistics().subscribers == 1
        nursery.cancel_scope.cancel()
    assert [keep.receive_nowait() for _ in range(600)] == list(range(600))


async def test_a_long_burst_lets_other_tasks_run_before_it_is_delivered() -> None:
    fanout: EventFanout[int] = EventFanout()
    receive = fanout.subscribe(100_000)
    seen_backlog: list[int] = []

    async def other_task() -> None:
        while True:
            await trio.lowlevel.checkpoint()
            seen_backlog.append(fanout.statistics().backlog)
            if not fanout.statistics().backlog:
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fanout.run)
        await trio.testing.wait_all_tasks_blocked()
        fanout.publish(range(10_000))
        nursery.start_soon(other_task)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    # The other task ran while thousands of items were still queued: the pump yields between bursts.
    assert any(b > 1000 for b in seen_backlog)
    assert [receive.receive_nowait() for _ in range(10_000)] == list(range(10_000))


async def test_subscribers_are_closed_when_the_pump_ends() -> None:
    fanout: EventFanout[str] = EventFanout()
    receive = fanout.subscribe(10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fanout.run)
        fanout.publish(["a"])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [item async for item in receive] == ["a"]
