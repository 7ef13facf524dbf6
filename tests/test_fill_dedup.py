"""Fill identity: fills without ``tid`` parse with a stable derived id, and neither ``userFillsByTime`` paging
nor the tracker ever drops a fill that differs from the one it collides with (PROTOCOL §8.4).

The recorded 2023 ``userFillsByTime`` page (tests/fixtures/venue, official SDK cassette) is the real case: no
``tid`` at all, and up to 7 fills of one order sharing time, oid and side - the old (tid, oid, side) key kept
31 of its 57 fills.
"""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from venue_fixtures import samples

from trio_hl.core.events import Event, OrderAnomaly, OrderFilled, OrderPartiallyFilled
from trio_hl.core.journal import Journal
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.hyperliquid.fill_keys import FillDeduper, derived_trade_id, raw_fill_key
from trio_hl.hyperliquid.messages import parse_fill, parse_fills
from trio_hl.hyperliquid.rest import InfoClient

D = Decimal
USER = "0x" + "ab" * 20


def recorded_tidless_page() -> list[dict[str, Any]]:
    (sample,) = samples("info", "userFillsByTime", source="hl_python_sdk")
    fills = sample.response
    assert isinstance(fills, list) and fills and all("tid" not in f for f in fills)
    return copy.deepcopy(fills)


# -- derived trade ids --------------------------------------------------------------------------------------


def test_recorded_fills_without_tid_parse_with_distinct_stable_ids() -> None:
    raw = recorded_tidless_page()
    parsed = parse_fills(raw)
    assert len(parsed) == len(raw) == 57
    ids = [t.trade_id for t in parsed]
    assert len(set(ids)) == 57  # every fill of a sweep has its own id
    assert all(i.startswith("x") and len(i) == 17 for i in ids)  # never a numeric tid
    # Stable: the same fill read again (another dict, keys in another order) gets the same id.
    again = [dict(reversed(list(f.items()))) for f in copy.deepcopy(raw)]
    assert [t.trade_id for t in parse_fills(again)] == ids
    # The old key was (tid, oid, side): it kept 31 of the 57.
    assert len({(f.get("tid"), f["oid"], f["side"]) for f in raw}) == 31


def test_derived_id_changes_with_any_economic_field() -> None:
    base = recorded_tidless_page()[0]
    first = derived_trade_id(base)
    for key, value in (("sz", "1.1"), ("px", "9.9"), ("time", base["time"] + 1), ("oid", 1), ("side", "B"),
                       ("startPosition", "0.0"), ("coin", "BTC")):
        assert derived_trade_id(dict(base, **{key: value})) != first, key


def test_venue_tid_wins_and_null_tid_is_derived() -> None:
    base = recorded_tidless_page()[0]
    assert parse_fill(dict(base, tid=118906512037719)).trade_id == "118906512037719"
    assert parse_fill(dict(base, tid=None)).trade_id == derived_trade_id(base)


# -- FillDeduper ------------------------------------------------------------------------------------------


def leg(t: int, tid: int, side: str, oid: int, sz: str = "1", px: str = "10") -> dict[str, Any]:
    return {"coin": "ETH", "time": t, "tid": tid, "side": side, "oid": oid, "px": px, "sz": sz, "crossed": True,
            "fee": "0", "startPosition": "0", "dir": "Buy", "closedPnl": "0", "hash": "0x0"}


def test_deduper_keeps_both_legs_of_a_self_trade_and_drops_exact_rereads() -> None:
    d = FillDeduper()
    buy, sell = leg(5, 77, "B", 1), leg(5, 77, "A", 2)
    assert d.add(buy) and d.add(sell)
    assert not d.add(dict(buy)) and not d.add(dict(sell, sz="1.0"))  # "1.0" == "1": a re-read
    assert d.fills == [buy, sell] and d.duplicates == 2 and d.collisions == []


def test_deduper_keeps_and_records_a_collision() -> None:
    d = FillDeduper()
    a, b = leg(5, 77, "B", 1, sz="1"), leg(5, 77, "B", 1, sz="2")
    assert d.add(a) and d.add(b)
    assert not d.add(dict(b))  # the second one re-read is a duplicate of itself, not a new collision
    assert d.fills == [a, b] and d.duplicates == 1
    (c,) = d.collisions
    assert (c.first, c.second, c.key) == (a, b, raw_fill_key(a))
    assert "'1'/'2'" in c.describe()


# -- InfoClient.user_fills_by_time -------------------------------------------------------------------------


def paging(all_fills: list[dict[str, Any]], page_size: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        req = json.loads(request.content)
        chosen = [f for f in all_fills if f["time"] >= req["startTime"]]
        return httpx.Response(200, json=chosen[:page_size])

    return httpx.MockTransport(handler)


async def test_user_fills_by_time_keeps_every_recorded_tidless_fill() -> None:
    raw = recorded_tidless_page()
    raw.sort(key=lambda f: f["time"])
    async with InfoClient("http://venue.test", transport=paging(raw, 500), rng=random.Random(0)) as client:
        got = await client.user_fills_by_time(USER, 0)
    assert len(got) == 57 and client.fill_collisions == 0
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, raw))


async def test_user_fills_by_time_500_fill_page_with_both_legs_and_page_overlap() -> None:
    # 700 fills: 200 self-trades (both legs share time, coin and tid, one per side) and 300 tid-less fills of
    # 100 sweeping orders (3 fills each sharing time, oid, side).  Pages of 500 overlap on the boundary
    # millisecond, so the second page re-reads fills: those are the only ones to drop.
    fills: list[dict[str, Any]] = []
    for i in range(200):
        fills += [leg(1000 + i, 10_000 + i, "B", 2 * i), leg(1000 + i, 10_000 + i, "A", 2 * i + 1)]
    for i in range(100):
        for j in range(3):
            f = leg(2000 + i, 0, "A", 50_000 + i, sz=str(j + 1), px=f"{10 + j}")
            f["startPosition"] = str(100 - j)
            del f["tid"]
            fills.append(f)
    async with InfoClient("http://venue.test", transport=paging(fills, 500), rng=random.Random(0)) as client:
        got = await client.user_fills_by_time(USER, 0)
    assert len(got) == 700 and client.fill_collisions == 0
    assert len({raw_fill_key(f) for f in got}) == 700
    trades = parse_fills(got)
    assert len({t.trade_id for t in trades}) == 200 + 300  # the two legs of a trade share their venue tid
    assert sum(t.fill_amount for t in trades) == 400 + 100 * 6


async def test_user_fills_by_time_keeps_a_colliding_fill_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    a, b = leg(5, 77, "B", 1, sz="1"), leg(5, 77, "B", 1, sz="3")
    async with InfoClient("http://venue.test", transport=paging([a, b], 500), rng=random.Random(0)) as client:
        got = await client.user_fills_by_time(USER, 0)
    assert got == [a, b] and client.fill_collisions == 1
    assert "differ" in caplog.text


# -- tracker ----------------------------------------------------------------------------------------------


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def trade(tid: str, amount: str, price: str = "100", ts: float = 2.0, eid: str = "e1", side: Side | None = Side.BUY,
          cid: str | None = "c1") -> TradeUpdate:
    return TradeUpdate(tid, "BTC", D(price), D(amount), D("0.01"), "USDC", ts, cid, eid, False, side)


def tracked(tracker: OrderTracker, amount: str = "5") -> InFlightOrder:
    tracker.start_tracking(InFlightOrder.new(client_order_id="c1", pair="BTC", side=Side.BUY, amount=D(amount),
                                             price=D(100), created_at=0.0))
    tracker.process_order_update(OrderUpdate("BTC", OrderState.OPEN, 1.0, "c1", "e1"))
    o = tracker.get("c1")
    assert o is not None
    return o


def anomalies(events: list[Event]) -> list[OrderAnomaly]:
    return [e for e in events if isinstance(e, OrderAnomaly)]


@pytest.mark.parametrize(
    "other",
    [trade("t1", "2"), trade("t1", "1", price="101"), trade("t1", "1", ts=3.0), trade("t1", "1", side=Side.SELL),
     trade("t1", "1", eid="e1", cid="c1", price="100.5")],
)
def test_tracker_applies_and_reports_a_same_tid_fill_that_differs(other: TradeUpdate) -> None:
    tracker = OrderTracker(clock=Clock())
    o = tracked(tracker)
    tracker.process_trade_update(trade("t1", "1"))
    events = tracker.process_trade_update(other)
    (anomaly,) = anomalies(events)
    assert anomaly.kind == "fill_collision" and anomaly.client_order_id == "c1"
    assert f"{D(1)} @ 100" in anomaly.detail and f"{other.fill_amount} @ {other.fill_price}" in anomaly.detail
    (part,) = [e for e in events if isinstance(e, OrderPartiallyFilled)]
    assert part.trade == attrs.evolve(other, trade_id="t1~1")  # a consumer keyed by trade id keeps it too
    assert o.executed_amount == 1 + other.fill_amount and o.fill_count == 2
    # Either fill delivered again is a duplicate now, not a third fill nor a second anomaly.
    assert tracker.process_trade_update(trade("t1", "1")) == []
    assert tracker.process_trade_update(other) == []
    stats = tracker.statistics()
    assert (stats.fill_collisions, stats.duplicate_fills, stats.fills_applied) == (1, 2, 2)


def test_tracker_still_drops_an_identical_redelivery_without_exchange_id() -> None:
    tracker = OrderTracker(clock=Clock())
    o = tracked(tracker)
    tracker.process_trade_update(trade("t1", "1"))
    assert tracker.process_trade_update(trade("t1", "1", side=None)) == []  # same fill, side not given
    assert o.executed_amount == 1 and tracker.statistics().fill_collisions == 0


def test_tracker_three_way_collision_and_completion() -> None:
    tracker = OrderTracker(clock=Clock())
    o = tracked(tracker, amount="6")
    tracker.process_trade_update(trade("t1", "1"))
    assert [a.kind for a in anomalies(tracker.process_trade_update(trade("t1", "2")))] == ["fill_collision"]
    events = tracker.process_trade_update(trade("t1", "3"))
    assert [a.kind for a in anomalies(events)] == ["fill_collision"]
    assert any(isinstance(e, OrderFilled) for e in events) and o.state is OrderState.FILLED
    assert o.fills is not None and sorted(o.fills) == ["t1", "t1~1", "t1~2"]


def test_orphan_buffer_keeps_a_differing_same_tid_fill() -> None:
    tracker = OrderTracker(clock=Clock())
    tracker.start_tracking(InFlightOrder.new(client_order_id="c1", pair="BTC", side=Side.BUY, amount=D(5),
                                             price=D(100), created_at=0.0))
    # Both fills arrive before the order's exchange id is known: buffered as orphans.
    assert tracker.process_trade_update(trade("t1", "1", cid=None)) == []
    assert tracker.process_trade_update(trade("t1", "1", cid=None)) == []  # an exact repeat: dropped
    assert tracker.process_trade_update(trade("t1", "2", cid=None)) == []  # differs: buffered too
    assert tracker.statistics().orphans_buffered == 2
    events = tracker.process_order_update(OrderUpdate("BTC", OrderState.OPEN, 1.0, "c1", "e1"))
    assert [a.kind for a in anomalies(events)] == ["fill_collision"]
    o = tracker.get("c1")
    assert o is not None and o.executed_amount == 3
    assert tracker.statistics().duplicate_fills == 1


def test_journal_replay_reproduces_a_collision(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite")
    tracker = OrderTracker(clock=clock, journal=journal)
    tracked(tracker)
    tracker.process_trade_update(trade("t1", "1"))
    tracker.process_trade_update(trade("t1", "2"))
    tracker.process_trade_update(trade("t1", "2"))
    journal.flush()
    restored = journal.restore(clock=clock).tracker
    assert restored.snapshot() == tracker.snapshot()
    assert restored.statistics().fill_collisions == 1
    journal.close()


# -- the same tid-less fill rendered twice (WebSocket snapshot, then userFillsByTime) ----------------------------


def rerendered(fill: dict[str, Any]) -> dict[str, Any]:
    """The same fill as another source may write it: trailing zeros on the numbers, the fee and the realised
    PnL rounded differently (derived amounts, not identity), the hash in capitals."""
    out = dict(fill)
    for key in ("px", "sz", "startPosition"):
        out[key] = fill[key] + ("0" if "." in fill[key] else ".0")
    out["fee"] = str(D(fill["fee"]) + D("0.000001"))
    out["closedPnl"] = str(D(fill["closedPnl"]) + D("0.000001"))
    out["hash"] = "0x" + fill["hash"][2:].upper()
    return out


def test_derived_id_is_the_same_for_a_rerendered_fill() -> None:
    for fill in recorded_tidless_page():
        assert derived_trade_id(rerendered(fill)) == derived_trade_id(fill)


def test_tracker_and_deduper_count_a_rerendered_tidless_fill_once() -> None:
    raw = recorded_tidless_page()[0]
    ws, rest = parse_fill(raw), parse_fill(rerendered(raw))
    assert ws.trade_id == rest.trade_id
    d = FillDeduper()
    assert d.add(raw) and not d.add(rerendered(raw))
    assert d.duplicates == 1 and d.collisions == []
    tracker = OrderTracker(clock=Clock())
    tracker.start_tracking(InFlightOrder.new(client_order_id="c1", pair="SUI", side=Side.SELL, amount=D(1000),
                                             price=D(1), created_at=0.0))
    tracker.process_order_update(OrderUpdate("SUI", OrderState.OPEN, 1.0, "c1", str(raw["oid"])))
    tracker.process_trade_update(ws)
    assert tracker.process_trade_update(rest) == []
    o = tracker.get("c1")
    assert o is not None and o.executed_amount == D(raw["sz"])
    assert tracker.statistics().fill_collisions == 0


def test_a_venue_fill_rerendered_with_another_fee_is_one_fill_not_a_collision() -> None:
    """WS then gap-fill (or a reconnect's snapshot): the same tid'd fill with its numbers written another way and
    its fee rounded otherwise is a duplicate for the parser's trade id, the FillDeduper and the tracker."""
    raw = dict(leg(5, 77, "B", 1, sz="0.10", px="2000.0"), fee="0.0123", closedPnl="0.0")
    again = dict(raw, sz="0.1", px="2000", fee="0.012300", closedPnl="0")
    d = FillDeduper()
    assert d.add(raw) and not d.add(again) and d.collisions == []
    first, second = parse_fill(raw), parse_fill(again)
    assert first.trade_id == second.trade_id == "77"
    tracker = OrderTracker(clock=Clock())
    tracker.start_tracking(InFlightOrder.new(client_order_id="c1", pair="ETH", side=Side.BUY, amount=D(1),
                                             price=D(2000), created_at=0.0))
    tracker.process_order_update(OrderUpdate("ETH", OrderState.OPEN, 1.0, "c1", "1"))
    assert tracker.process_trade_update(first)
    assert tracker.process_trade_update(second) == []
    o = tracker.get("c1")
    assert o is not None and o.executed_amount == D("0.1") and o.fee == D("0.0123")
    stats = tracker.statistics()
    assert (stats.fill_collisions, stats.duplicate_fills) == (0, 1)
