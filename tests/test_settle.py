"""``settle_restored``: the fence, the bulk reads, what ``historicalOrders`` covers, and per-order reads only for
what it does not (issue 17), against a scripted venue."""

from __future__ import annotations

from typing import Any

import trio

from trio_hl.core.events import Event
from trio_hl.core.journal import Submission
from trio_hl.core.types import OrderState
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.hyperliquid.messages import HISTORICAL_ORDERS_LIMIT
from trio_hl.hyperliquid.settle import NEVER_LANDED, settle_restored

NOW_MS = 1_800_000_000_000


def _order(oid: int, cloid: str | None, ts: int, status: str = "open") -> dict[str, Any]:
    order = {"coin": "BTC", "side": "B", "limitPx": "100", "sz": "1", "oid": oid, "timestamp": ts, "origSz": "1",
             "cloid": cloid}
    return {"order": order, "status": status, "statusTimestamp": ts}


class Venue:
    """The four reads ``settle_restored`` makes, answered from lists; counts ``orderStatus`` requests."""

    def __init__(self, *, history: list[dict[str, Any]], open_: list[dict[str, Any]] | None = None,
                 status: dict[str, dict[str, Any]] | None = None, fills: list[dict[str, Any]] | None = None) -> None:
        self.history = history
        self.open = open_ or []
        self.status = status or {}
        self.fills = fills or []
        self.status_asked: list[str] = []
        self.fills_since: list[int] = []

    async def user_fills_by_time(self, user: str, start_ms: int) -> list[dict[str, Any]]:
        self.fills_since.append(start_ms)
        return self.fills

    async def historical_orders(self, user: str) -> list[Any]:
        return self.history

    async def open_orders(self, user: str) -> list[Any]:
        return [entry["order"] for entry in self.open]

    async def order_status(self, user: str, cid: str) -> dict[str, Any]:
        self.status_asked.append(cid)
        if cid in self.status:
            return {"status": "order", "order": self.status[cid]}
        return {"status": "unknownOid"}


class Fed:
    def __init__(self) -> None:
        self.updates: dict[str, OrderUpdate] = {}
        self.trades: list[TradeUpdate] = []

    def __call__(self, kind: str, value: Any) -> list[Event]:
        if kind == "order":
            self.updates[value.client_order_id] = value
        elif kind == "trade":
            self.trades.append(value)
        return []

    def still_open(self, cid: str) -> bool:
        return cid not in self.updates


def cid(i: int) -> str:
    return f"0x{i:032x}"


async def settle(venue: Venue, orders: dict[str, Submission], *, fenced_through: int | None = None
                 ) -> tuple[Any, Fed, list[int]]:
    fed = Fed()
    fences: list[int] = []

    async def fence(nonce: int) -> None:
        fences.append(nonce)

    report = await settle_restored(
        orders, pair_of={c: "BTC" for c in orders}, info=venue, user="0xuser",  # type: ignore[arg-type]
        fenced_through=fenced_through, fence=fence, feed=fed, coin_to_pair={"BTC": "BTC"}, now_ms=lambda: NOW_MS,
        still_open=fed.still_open,
    )
    return report, fed, fences


async def test_found_orders_are_applied_and_the_rest_never_landed_when_the_history_holds_everything() -> None:
    sent = NOW_MS - 5_000
    orders = {cid(i): Submission(NOW_MS - 10 + i, "0xsigner", sent / 1000) for i in range(4)}
    venue = Venue(history=[_order(11, cid(0), sent, "filled"), _order(12, cid(1), sent, "canceled")],
                  open_=[_order(13, cid(2), sent)])
    report, fed, fences = await settle(venue, orders)
    assert fences == [NOW_MS - 10 + 3]  # the highest journaled nonce, once
    assert {c: u.new_state for c, u in fed.updates.items()} == {
        cid(0): OrderState.FILLED, cid(1): OrderState.CANCELED, cid(2): OrderState.OPEN, cid(3): OrderState.FAILED}
    assert fed.updates[cid(3)].reason == NEVER_LANDED
    assert venue.status_asked == []
    assert report.found_bulk == 3 and report.never_landed == 1 and report.fenced
    assert venue.fills_since and venue.fills_since[0] < sent  # fills read from before the first submission


async def test_orders_older_than_a_capped_history_are_asked_one_by_one() -> None:
    oldest = NOW_MS - 3_000
    # A full history whose oldest entry is at ``oldest`` and newest 1 001 ms before the answer arrived (by our
    # clock): the venue's clock is at least 1 001 ms behind ours, so an order sent after oldest + 1 001 by ours
    # would be in it had it landed.
    history = [_order(100 + i, None, oldest + i) for i in range(HISTORICAL_ORDERS_LIMIT)]
    covered_from = oldest + 1_001
    old_landed, old_gone, recent_gone = cid(1), cid(2), cid(3)
    orders = {
        old_landed: Submission(NOW_MS - 100, "0xsigner", (oldest - 1_000) / 1000),
        old_gone: Submission(NOW_MS - 99, "0xsigner", (oldest - 1_000) / 1000),
        recent_gone: Submission(NOW_MS - 98, "0xsigner", (covered_from + 1) / 1000),
    }
    venue = Venue(history=history, status={old_landed: _order(7, old_landed, oldest - 900, "canceled")})
    report, fed, _ = await settle(venue, orders)
    assert sorted(venue.status_asked) == sorted([old_landed, old_gone])  # not the one the history covers
    assert fed.updates[old_landed].new_state is OrderState.CANCELED
    assert fed.updates[old_gone].reason == NEVER_LANDED and fed.updates[recent_gone].reason == NEVER_LANDED
    assert report.found_by_status == 1 and report.status_queries == 2 and report.never_landed == 2


async def test_a_journaled_fence_is_not_repeated_and_an_expired_nonce_needs_none() -> None:
    venue = Venue(history=[])
    orders = {cid(1): Submission(NOW_MS - 1_000, "0xsigner", (NOW_MS - 2_000) / 1000)}
    report, fed, fences = await settle(venue, orders, fenced_through=NOW_MS - 1_000)
    assert fences == [] and not report.fenced and fed.updates[cid(1)].reason == NEVER_LANDED
    expired = {cid(2): Submission(NOW_MS - 3 * 86_400_000, "0xsigner", (NOW_MS - 3 * 86_400_000) / 1000)}
    report, _, fences = await settle(Venue(history=[]), expired)
    assert fences == [] and not report.fenced and report.never_landed == 1


async def test_orders_settled_meanwhile_by_the_stream_are_left_alone() -> None:
    venue = Venue(history=[])
    orders = {cid(1): Submission(NOW_MS - 1_000, "0xsigner", (NOW_MS - 2_000) / 1000)}
    fed = Fed()
    fed.updates[cid(1)] = OrderUpdate("BTC", OrderState.OPEN, 1.0, cid(1), "5")

    async def fence(nonce: int) -> None:  # pragma: no cover - nothing to fence
        raise AssertionError("fenced an order that was already settled")

    report = await settle_restored(
        orders, pair_of={cid(1): "BTC"}, info=venue, user="0xuser",  # type: ignore[arg-type]
        fenced_through=None, fence=fence, feed=fed, coin_to_pair={}, now_ms=lambda: NOW_MS,
        still_open=fed.still_open,
    )
    assert report.orders == 0 and fed.updates[cid(1)].new_state is OrderState.OPEN
    await trio.lowlevel.checkpoint()


async def test_a_venue_clock_ahead_of_ours_widens_what_the_history_covers() -> None:
    """The history's oldest entry is at venue time ``oldest``; an order we sent 500 ms before that by our clock is
    covered only if the venue's clock is provably more than 500 ms ahead of ours - which the newest entry,
    stamped no later than when the answer reached us, proves or not."""
    oldest = NOW_MS - 3_000
    orders = {cid(1): Submission(NOW_MS - 100, "0xsigner", (oldest - 500) / 1000)}
    for ahead, asked in ((0, 1), (600, 0)):
        history = [_order(100 + i, None, oldest + i) for i in range(HISTORICAL_ORDERS_LIMIT - 1)]
        history.append(_order(99, None, NOW_MS + ahead))  # stamped as the answer left the venue
        venue = Venue(history=history)
        report, fed, _ = await settle(venue, orders)
        assert report.status_queries == asked and fed.updates[cid(1)].reason == NEVER_LANDED
