"""The connector end to end against the in-process emulator: lifecycles, rejects, modify, cancel_all, market,
trigger and spot orders, concurrency, restart from the journal, and every fault the emulator can inject."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from trio_hl import (
    CancelRejected,
    ConnectorConfig,
    HyperliquidConnector,
    InvalidOrderError,
    ModifyRejected,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderModified,
    OrderParams,
    OrderState,
    OrderType,
    PositionAction,
    TimeInForce,
    TriggerKind,
    open_connector,
)
from trio_hl.core.events import Event, LateFill, OrderAnomaly, OrderPartiallyFilled, OrderUnknown
from trio_hl.core.journal import Journal
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import Side
from trio_hl.core.updates import TradeUpdate
from trio_hl.emulator import Emulator, Limits, open_emulator
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.settle import NEVER_LANDED
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.ws import WsSettings
from trio_hl.testing.events import next_event

D = Decimal
# trio-websocket 0.12 leaks the client socket when the server closes first (see tests/test_ws_session.py).
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
FAST_WS = WsSettings(ping_interval=5.0, stale_timeout=10.0, ack_timeout=5.0, post_timeout=2.0,
                     connect_timeout=5.0)


@asynccontextmanager
async def running(
    *, pairs: tuple[str, ...] = ("BTC", "ETH"), journal: Path | None = None, key: str | None = None,
    emu: Emulator | None = None, quiet: bool = False, cancel_on_exit: bool = True, **config: Any,
) -> AsyncIterator[tuple[Emulator, HyperliquidConnector]]:
    """An emulator (``quiet``: the simulated market never moves, so book prices are deterministic) and a connector
    for a fresh account on it."""
    config.setdefault("request_timeout", 2.0)
    if emu is None:
        options: dict[str, Any] = {"tick_interval_s": 3600.0} if quiet else {}
        async with (
            open_emulator(limits=Limits.unlimited(), **options) as fresh,
            running(pairs=pairs, journal=journal, key=key, emu=fresh, cancel_on_exit=cancel_on_exit,
                    **config) as pair,
        ):
            yield pair
        return
    signer_key = key or LocalSigner.generate().export_private_key_hex()
    cfg = ConnectorConfig(base_url=emu.url, private_key=signer_key, pairs=pairs, journal_path=journal, **config)
    async with open_connector(cfg, ws_settings=FAST_WS, cancel_on_exit=cancel_on_exit) as conn:
        yield emu, conn


async def until(events: trio.MemoryReceiveChannel[Event], predicate: Callable[[Event], bool],
                limit: float = 10.0) -> list[Event]:
    """Collect events until one satisfies ``predicate``; returns everything received."""
    seen: list[Event] = []
    with trio.fail_after(limit):
        async for event in events:
            seen.append(event)
            if predicate(event):
                return seen
    raise AssertionError(f"event stream ended; saw {seen}")


async def eventually(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    """Poll a condition of a live system over real sockets (bounded); not a substitute for an event."""
    with trio.fail_after(limit):
        for _ in range(100_000):
            if predicate():
                return
            await trio.sleep(0.01)


def far_below(conn: HyperliquidConnector, pair: str) -> Decimal:
    mid = conn.mid(pair)
    assert mid is not None
    return (mid * D("0.8")).quantize(D(1))


def far_above(conn: HyperliquidConnector, pair: str) -> Decimal:
    mid = conn.mid(pair)
    assert mid is not None
    return (mid * D("1.2")).quantize(D(1))


NOTIONAL = D(50)


def inside_ask(conn: HyperliquidConnector, pair: str) -> Decimal:
    """A sell price strictly inside the spread: our order becomes the best ask."""
    book = conn.book(pair)
    assert book.best_bid is not None and book.best_ask is not None
    px = ((book.best_bid.price + book.best_ask.price) / 2).quantize(D(1))
    assert book.best_bid.price < px < book.best_ask.price
    return px


def size_for(conn: HyperliquidConnector, pair: str, notional: Decimal = NOTIONAL) -> Decimal:
    mid = conn.mid(pair)
    assert mid is not None
    step = conn.registry.by_pair(pair).size_step
    return max(step, (notional / mid).quantize(step, rounding="ROUND_UP"))


async def venue_status(conn: HyperliquidConnector, cid: str) -> dict[str, Any]:
    return await conn._rest.info.order_status(conn.user, cid)


# ------------------------------------------------------------------------------------------------ lifecycles


async def test_buy_returns_at_once_then_rests_then_cancels() -> None:
    async with running() as (_, conn):
        events = conn.events()
        px = far_below(conn, "BTC")
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), px))
        assert conn.get_order(cid) is not None and conn.get_order(cid).state is OrderState.PENDING_CREATE  # type: ignore[union-attr]
        seen = await until(events, lambda e: isinstance(e, OrderCreated))
        created = seen[-1]
        assert isinstance(created, OrderCreated) and created.client_order_id == cid and created.price == px
        assert (await venue_status(conn, cid))["order"]["status"] == "open"
        assert conn.cancel("BTC", cid)
        seen = await until(events, lambda e: isinstance(e, OrderCancelled))
        assert seen[-1].client_order_id == cid
        assert conn.get_order(cid).state is OrderState.CANCELED  # type: ignore[union-attr]
        assert (await venue_status(conn, cid))["order"]["status"] == "canceled"
        assert not conn.cancel("BTC", cid)


async def test_a_stream_copy_of_a_resting_order_is_counted_not_parsed_and_anything_else_is_parsed() -> None:
    """The venue reports a new resting order twice (the action's answer and orderUpdates): the second copy is
    recognised from the raw item - same client id, live, same exchange id - and only counted as a duplicate;
    every other item (another id, another status, an unknown or malformed one) goes to the parser."""
    async with running(quiet=True) as (_, conn):
        events = conn.events()
        px = far_below(conn, "BTC")
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), px))
        await until(events, lambda e: isinstance(e, OrderCreated) and e.client_order_id == cid)
        order = conn.get_order(cid)
        assert order is not None and order.exchange_order_id is not None
        oid = int(order.exchange_order_id)
        item = {"order": {"coin": "BTC", "side": "B", "limitPx": str(px), "sz": "0.001", "oid": oid,
                          "timestamp": 1, "origSz": "0.001", "cloid": cid}, "status": "open", "statusTimestamp": 1}
        before = conn.tracker.statistics()
        assert conn._quick_order_update(item) is True
        after = conn.tracker.statistics()
        assert (after.duplicate_updates, after.updates_processed) == (before.duplicate_updates + 1,
                                                                      before.updates_processed + 1)
        other = [
            {**item, "status": "canceled"},
            {**item, "order": {**item["order"], "oid": oid + 1}},  # a new id (a modify): must re-key the order
            {**item, "order": {**item["order"], "cloid": wire.new_cloid()}},  # not ours
            {**item, "order": {**item["order"], "cloid": None}},
            {**item, "order": "garbage"},
            ["not", "an", "object"],
        ]
        assert [conn._quick_order_update(x) for x in other] == [False] * len(other)
        assert conn.tracker.statistics().duplicate_updates == after.duplicate_updates  # nothing counted for them
        assert conn.cancel("BTC", cid)
        await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == cid)
        assert conn._quick_order_update(item) is False  # a finished order is never "still open"


async def test_the_first_stream_report_of_an_order_is_applied_as_the_parser_would_apply_it() -> None:
    """An ``open`` item for an order still waiting for its answer is applied without the full parser - and ends
    exactly where the parser's update takes a twin order: OPEN under the item's id, the same OrderCreated."""
    from trio_hl.hyperliquid.streams import StreamCounters, _order_updates

    async with running(quiet=True, cancel_on_exit=False) as (_, conn):  # (the venue never saw these orders)
        events = conn.events()
        conn.submit.close_gate()  # both stay PENDING_CREATE: nothing is sent
        px = far_below(conn, "BTC")
        quick, parsed = (conn.buy(OrderParams("BTC", size_for(conn, "BTC"), px)) for _ in range(2))

        def item(cid: str, oid: int, **changes: Any) -> dict[str, Any]:
            order = {"coin": "BTC", "side": "B", "limitPx": str(px), "sz": "0.001", "oid": oid, "timestamp": 1,
                     "origSz": "0.001", "cloid": cid}
            return {"order": order, "status": "open", "statusTimestamp": 1_700_000_000_123, **changes}

        # Items the quick path must leave to the parser: a bad time, another pair's coin, a negative id.
        for bad in (item(quick, 7, statusTimestamp="soon"), item(quick, 7, statusTimestamp=2**53),
                    {**item(quick, 7), "order": {**item(quick, 7)["order"], "coin": "ETH"}}, item(quick, -7)):
            assert conn._quick_order_update(bad) is False
        assert conn.get_order(quick).state is OrderState.PENDING_CREATE  # type: ignore[union-attr]
        # An order restored under a pair the venue no longer lists: left to the parser, never an exception here.
        gone = wire.new_cloid()
        conn.tracker.start_tracking(InFlightOrder(
            client_order_id=gone, pair="GONE", side=Side.BUY, order_type=OrderType.LIMIT, amount=D(1), price=px,
            tif=TimeInForce.GTC, position_action=PositionAction.OPEN, created_at=1.0, last_update=1.0))
        assert conn._quick_order_update(item(gone, 779)) is False
        assert conn._quick_order_update(item(quick, 777)) is True
        _order_updates([item(parsed, 778)], conn._feed, conn.registry.coin_to_pair, StreamCounters())
        seen = await until(events, lambda e: isinstance(e, OrderCreated) and e.client_order_id == parsed)
        created = {e.client_order_id: e for e in seen if isinstance(e, OrderCreated)}
        a, b = conn.get_order(quick), conn.get_order(parsed)
        assert a is not None and b is not None
        assert (a.state, a.exchange_order_id) == (OrderState.OPEN, "777")
        assert (b.state, b.exchange_order_id) == (OrderState.OPEN, "778")
        assert attrs.evolve(created[quick], client_order_id=parsed, exchange_order_id="778") == created[parsed]


async def test_crossing_order_fills_with_fills_and_fees() -> None:
    async with running() as (_, conn):
        events = conn.events()
        amount = size_for(conn, "ETH")
        cid = conn.buy(OrderParams("ETH", amount, order_type=OrderType.MARKET))
        seen = await until(events, lambda e: isinstance(e, OrderFilled | OrderFailed))
        filled = seen[-1]
        assert isinstance(filled, OrderFilled), seen
        assert filled.client_order_id == cid and filled.executed_amount == amount
        assert filled.average_price > 0 and filled.total_fee > 0
        order = conn.get_order(cid)
        assert order is not None and order.state is OrderState.FILLED
        assert order.executed_amount == amount and order.fills
        assert sum(t.fill_amount for t in order.fills.values()) == amount
        state = await conn.user_state()
        positions = {p["position"]["coin"]: D(p["position"]["szi"]) for p in state["assetPositions"]}
        assert positions["ETH"] == amount


async def test_invalid_params_raise_before_tracking() -> None:
    async with running() as (_, conn):
        before = conn.tracker.statistics().orders_tracked
        with pytest.raises(InvalidOrderError, match="minimum"):
            conn.buy(OrderParams("BTC", D("0.0001"), D(1000)))
        with pytest.raises(InvalidOrderError, match="unknown pair"):
            conn.buy(OrderParams("NOPE", D(1), D(10)))
        with pytest.raises(InvalidOrderError, match="client_order_id"):
            conn.sell(OrderParams("BTC", D(1), D(100000), client_order_id="abc"))
        assert conn.tracker.statistics().orders_tracked == before


async def test_venue_reject_becomes_failed_with_its_reason() -> None:
    async with running() as (_, conn):
        events = conn.events()
        # A post-only buy above the ask would cross: the venue refuses it.
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_above(conn, "BTC"),
                                   order_type=OrderType.LIMIT_MAKER))
        seen = await until(events, lambda e: isinstance(e, OrderFailed))
        failed = seen[-1]
        assert isinstance(failed, OrderFailed) and failed.client_order_id == cid
        assert "Post only order would have immediately matched" in failed.reason or failed.reason == "badAloPxRejected"


async def test_modify_tracks_the_new_exchange_id() -> None:
    async with running() as (_, conn):
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await until(events, lambda e: isinstance(e, OrderCreated))
        first_eid = conn.get_order(cid).exchange_order_id  # type: ignore[union-attr]
        new_px = far_below(conn, "BTC") - 100
        conn.modify(cid, price=new_px)
        seen = await until(events, lambda e: isinstance(e, OrderModified))
        modified = seen[-1]
        assert isinstance(modified, OrderModified) and modified.price == new_px
        assert not [e for e in seen if isinstance(e, ModifyRejected)], seen  # a modify that lands is not refused
        order = conn.get_order(cid)
        assert order is not None and order.exchange_order_id != first_eid and first_eid in order.previous_exchange_ids
        assert order.price == new_px
        status = await venue_status(conn, cid)
        assert D(status["order"]["order"]["limitPx"]) == new_px


async def test_cancel_all_is_one_batched_action() -> None:
    async with running() as (_, conn):
        events = conn.events()
        cids = [conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC") - i)) for i in range(30)]
        created: set[str] = set()
        with trio.fail_after(10):
            async for e in events:
                if isinstance(e, OrderCreated):
                    created.add(e.client_order_id)
                if created == set(cids):
                    break
        sent_before = conn.health().actions_sent
        assert conn.cancel_all() == 30
        cancelled: set[str] = set()
        with trio.fail_after(10):
            async for e in events:
                if isinstance(e, OrderCancelled):
                    cancelled.add(e.client_order_id)
                if cancelled == set(cids):
                    break
        assert conn.health().actions_sent - sent_before == 1
        assert conn.open_orders() == []
        assert await conn._rest.info.open_orders(conn.user) == []


async def test_trigger_and_reduce_only_orders() -> None:
    async with running() as (_, conn):
        events = conn.events()
        amount = size_for(conn, "ETH")
        conn.buy(OrderParams("ETH", amount, order_type=OrderType.MARKET))
        await until(events, lambda e: isinstance(e, OrderFilled))
        mid = conn.mid("ETH")
        assert mid is not None
        # A stop-loss far below the market rests untriggered.
        stop = (mid * D("0.5")).quantize(D(1))
        sl = conn.sell(OrderParams("ETH", amount, order_type=OrderType.TRIGGER, trigger_price=stop,
                                   trigger_kind=TriggerKind.STOP_LOSS, position_action=PositionAction.CLOSE))
        seen = await until(events, lambda e: isinstance(e, OrderCreated | OrderFailed) and e.client_order_id == sl)
        assert isinstance(seen[-1], OrderCreated)
        # A reduce-only buy would increase the long: refused by the venue.
        ro = conn.buy(OrderParams("ETH", amount, (mid * D("0.9")).quantize(D(1)),
                                  position_action=PositionAction.CLOSE))
        seen = await until(events, lambda e: isinstance(e, OrderFailed | OrderCreated) and e.client_order_id == ro)
        assert isinstance(seen[-1], OrderFailed)
        assert "Reduce only" in seen[-1].reason or seen[-1].reason == "reduceOnlyRejected"


async def test_spot_order_rests_and_cancels() -> None:
    async with running(pairs=("PURR/USDC",)) as (_, conn):
        events = conn.events()
        mid = conn.mid("PURR/USDC")
        assert mid is not None
        px = (mid * D("0.8")).quantize(D("0.0001"))
        amount = (D(20) / px).quantize(D(1), rounding="ROUND_UP")
        cid = conn.buy(OrderParams("PURR/USDC", amount, px))
        seen = await until(events, lambda e: isinstance(e, OrderCreated | OrderFailed))
        assert isinstance(seen[-1], OrderCreated), seen
        assert conn.cancel("PURR/USDC", cid)
        await until(events, lambda e: isinstance(e, OrderCancelled))


async def test_partial_fill_then_fill_through_the_user_stream() -> None:
    async with running(pairs=("BTC",), quiet=True) as (emu, conn):
        events = conn.events()
        amount = size_for(conn, "BTC", D(200))
        px = inside_ask(conn, "BTC")
        cid = conn.sell(OrderParams("BTC", amount, px, tif=TimeInForce.GTC))
        await until(events, lambda e: isinstance(e, OrderCreated))
        # Another account takes half, then the rest.
        async with running(pairs=("BTC",), emu=emu) as (_, taker):
            half = (amount / 2).quantize(conn.registry.by_pair("BTC").size_step)
            taker.buy(OrderParams("BTC", half, px, tif=TimeInForce.IOC))
            seen = await until(events, lambda e: isinstance(e, OrderPartiallyFilled))
            assert seen[-1].client_order_id == cid
            taker.buy(OrderParams("BTC", amount - half, px, tif=TimeInForce.IOC))
            seen = await until(events, lambda e: isinstance(e, OrderFilled))
        filled = seen[-1]
        assert isinstance(filled, OrderFilled) and filled.executed_amount == amount


# ------------------------------------------------------------------------------------------------ concurrency


async def test_a_thousand_orders_from_many_tasks_are_all_tracked_with_unique_nonces() -> None:
    async with running(pairs=("BTC",), max_batch=40) as (_, conn):
        events = conn.events(buffer=100_000)
        base = far_below(conn, "BTC")
        amount = size_for(conn, "BTC")
        cids: list[str] = []

        async def place(task: int) -> None:
            for i in range(100):
                cids.append(conn.buy(OrderParams("BTC", amount, base - task * 100 - i)))
                if i % 10 == 0:
                    await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            for task in range(10):
                nursery.start_soon(place, task)
        assert len(set(cids)) == 1000
        created: set[str] = set()
        with trio.fail_after(60):
            async for e in events:
                assert not isinstance(e, OrderFailed), e
                if isinstance(e, OrderCreated):
                    created.add(e.client_order_id)
                if len(created) == 1000:
                    break
        health = conn.health()
        assert health.orders_active == 1000
        # batching: far fewer actions than orders
        assert health.actions_sent <= 1000 // 40 + 20
        assert len(await conn._rest.info.open_orders(conn.user)) == 1000
        conn.cancel_all()


# ------------------------------------------------------------------------------------------------ faults


async def test_accept_then_timeout_is_resolved_never_duplicated() -> None:
    async with running(pairs=("BTC",), request_timeout=1.0) as (emu, conn):
        events = conn.events()
        emu.faults.accept_then_timeout_count = 1
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await until(events, lambda e: isinstance(e, OrderCreated), limit=30)
        # The answer never came: the action is ambiguous until the resolver has a definitive answer.
        await eventually(lambda: conn.submit.statistics().ambiguous_actions == 1, limit=30)
        await eventually(lambda: conn.submit.statistics().unresolved == 0, limit=30)
        assert conn.get_order(cid).state is OrderState.OPEN  # type: ignore[union-attr]
        assert conn.submit.statistics().resubmitted == 0
        opens = await conn._rest.info.open_orders(conn.user)
        assert [o["cloid"] for o in opens] == [cid]
        truth = emu.engine.ground_truth(conn.user)
        assert [o["cloid"] for o in truth["orders"]] == [cid]


async def test_unprocessed_5xx_is_proven_not_landed_and_resent_once() -> None:
    async with running(pairs=("BTC",), use_ws_post=False) as (emu, conn):
        events = conn.events()
        emu.faults.http_5xx_count = 1  # the 5xx answer is injected before the action is processed
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        seen = await until(events, lambda e: isinstance(e, OrderCreated | OrderFailed), limit=30)
        assert isinstance(seen[-1], OrderCreated)
        assert any(isinstance(e, OrderUnknown) and e.client_order_id == cid for e in seen)
        stats = conn.submit.statistics()
        assert stats.ambiguous_actions == 1 and stats.resubmitted == 1
        truth = emu.engine.ground_truth(conn.user)
        assert [o["cloid"] for o in truth["orders"]] == [cid]


async def test_accept_then_timeout_of_a_fill_is_resolved_as_filled() -> None:
    async with running(pairs=("ETH",), request_timeout=1.0) as (emu, conn):
        events = conn.events()
        emu.faults.accept_then_timeout_count = 1
        cid = conn.buy(OrderParams("ETH", size_for(conn, "ETH"), order_type=OrderType.MARKET))
        seen = await until(events, lambda e: isinstance(e, OrderFilled | OrderFailed), limit=30)
        assert isinstance(seen[-1], OrderFilled) and seen[-1].client_order_id == cid


async def test_server_errors_and_429_bursts_never_fail_an_order() -> None:
    async with running(pairs=("BTC",), use_ws_post=False) as (emu, conn):
        events = conn.events()
        emu.faults.http_429_count = 3
        cid_a = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        seen = await until(events, lambda e: isinstance(e, OrderCreated | OrderFailed))
        assert isinstance(seen[-1], OrderCreated) and seen[-1].client_order_id == cid_a
        emu.faults.http_5xx_count = 2
        cid_b = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC") - 5))
        seen = await until(events, lambda e: isinstance(e, OrderCreated | OrderFailed) and e.client_order_id == cid_b,
                           limit=30)
        assert isinstance(seen[-1], OrderCreated)
        opens = await conn._rest.info.open_orders(conn.user)
        assert sorted(o["cloid"] for o in opens) == sorted([cid_a, cid_b])


async def rest_taker(emu: Emulator, coin_asset: int, px: Decimal, size: Decimal, *, is_buy: bool = True) -> Any:
    """Another account trades over plain REST (no WebSocket), so WS faults do not touch it."""
    signer = LocalSigner.generate()
    order = wire.order_wire(coin_asset, is_buy, px, size, False, wire.limit_order_type("Ioc"), None)
    action = wire.order_action([order])
    nonce = emu.now_ms()
    body = wire.exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
    async with httpx.AsyncClient(base_url=emu.url) as client:
        await client.post("/info", json={"type": "clearinghouseState", "user": signer.address})
        answer = (await client.post("/exchange", json=body)).json()
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"][0]


async def test_ws_drop_mid_fill_misses_no_fill() -> None:
    async with running(pairs=("BTC",), quiet=True) as (emu, conn):
        events = conn.events()
        amount = size_for(conn, "BTC", D(100))
        px = inside_ask(conn, "BTC")
        cid = conn.sell(OrderParams("BTC", amount, px))
        await until(events, lambda e: isinstance(e, OrderCreated))
        gen = conn.health().ws_generation
        # Every WebSocket connection is cut within 50 ms; while we are away another account fills our order.
        emu.faults.ws_disconnect_every_s = 0.01
        await eventually(lambda: not conn.health().trading_ready)
        status = await rest_taker(emu, conn.registry.by_pair("BTC").asset_id, px, amount)
        assert "filled" in status, status
        assert conn.get_order(cid).executed_amount == 0  # type: ignore[union-attr]
        emu.faults.ws_disconnect_every_s = None
        seen = await until(events, lambda e: isinstance(e, OrderFilled), limit=30)
        assert seen[-1].client_order_id == cid
        assert conn.get_order(cid).executed_amount == amount  # type: ignore[union-attr]
        await eventually(lambda: conn.health().trading_ready, limit=30)
        assert conn.health().ws_generation > gen
        assert conn.health().gap_fills >= 2


async def test_duplicated_and_reordered_stream_messages_are_not_double_counted() -> None:
    async with running(pairs=("ETH",)) as (emu, conn):
        events = conn.events()
        emu.faults.ws_duplicate_prob = 1.0
        emu.faults.ws_reorder_prob = 0.3
        cids = [conn.buy(OrderParams("ETH", size_for(conn, "ETH"), order_type=OrderType.MARKET)) for _ in range(5)]
        filled: dict[str, OrderFilled] = {}
        with trio.fail_after(20):
            async for e in events:
                assert not isinstance(e, LateFill), e
                if isinstance(e, OrderFilled):
                    assert e.client_order_id not in filled
                    filled[e.client_order_id] = e
                if len(filled) == len(cids):
                    break
        for cid in cids:
            order = conn.get_order(cid)
            assert order is not None and order.executed_amount == order.amount and order.overfill_amount == 0
        assert conn.tracker.statistics().duplicate_fills > 0


# ------------------------------------------------------------------------------------------------ restart


async def test_restart_from_the_journal_restores_and_reconciles(tmp_path: Path) -> None:
    journal = tmp_path / "orders.sqlite"
    key = LocalSigner.generate().export_private_key_hex()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        async with running(pairs=("BTC",), journal=journal, key=key, emu=emu, cancel_on_exit=False) as (_, conn):
            events = conn.events()
            resting = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
            await until(events, lambda e: isinstance(e, OrderCreated))
            px = inside_ask(conn, "BTC")
            amount = size_for(conn, "BTC")
            filled_later = conn.sell(OrderParams("BTC", amount, px))
            await until(events, lambda e: isinstance(e, OrderCreated) and e.client_order_id == filled_later)
        # While the connector is down, its resting sell is filled by someone else.
        status = await rest_taker(emu, 0, px, amount)
        assert "filled" in status, status
        async with running(pairs=("BTC",), journal=journal, key=key, emu=emu) as (_, conn):
            assert conn.get_order(resting).state is OrderState.OPEN  # type: ignore[union-attr]
            restored = conn.get_order(filled_later)
            assert restored is not None and restored.state is OrderState.FILLED
            assert restored.executed_amount == amount
            # The venue's position at startup already holds that fill; the gap-fill's copy must not add it again.
            assert conn.position("BTC") == -amount


class Wire:
    """The network between connectors and the emulator, kept across a restart.  Logs every ``/exchange`` action
    it carries as ``(type, nonce, answer)`` and every ``orderStatus`` asked (``status_asked``: cids).
    ``hold_next_order``: the next order action is kept in the network - sent, neither processed nor answered - so
    the connector can die waiting for its answer; it reaches the venue late: right after the venue processed noop
    number ``deliver_before_noop`` (from 1, counted once the order is held) and before that noop is answered, when
    set; else just before (or, without ``original_first``, just after) a noop with its own nonce."""

    def __init__(self, on_hold: Callable[[], None] = lambda: None) -> None:
        self.log: list[tuple[str, int, Any]] = []
        self.status_asked: list[str] = []
        self.hold_next_order = False
        self.original_first = False
        self.held: tuple[httpx.URL, bytes, int] | None = None
        self.held_answer: Any = None
        self.order_held = trio.Event()
        #: Set once a noop with the held order's nonce was answered (and the held order delivered).
        self.probed = trio.Event()
        self.deliver_before_noop: int | None = None
        self.noops_since_hold = 0
        self.delivered = trio.Event()
        self._on_hold = on_hold

    @property
    def held_nonce(self) -> int:
        assert self.held is not None
        return self.held[2]

    def transport(self) -> httpx.AsyncBaseTransport:
        return _WireTransport(self)


class _WireTransport(httpx.AsyncBaseTransport):
    def __init__(self, wire_: Wire) -> None:
        self._wire = wire_
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        w = self._wire
        body = await request.aread()
        payload = json.loads(body)
        if request.url.path != "/exchange":
            if payload.get("type") == "orderStatus":
                w.status_asked.append(payload["oid"])
            return await self._forward(request.url, body)
        kind, nonce = payload["action"]["type"], payload["nonce"]
        if kind == "order" and w.hold_next_order:
            w.hold_next_order = False
            w.held = (request.url, body, nonce)
            w._on_hold()
            w.order_held.set()
            await trio.sleep_forever()  # until the connector is gone
        if kind == "noop" and w.held is not None and w.deliver_before_noop is not None:
            w.noops_since_hold += 1
            if w.noops_since_hold == w.deliver_before_noop:
                response = await self._forward(request.url, body)
                w.log.append((kind, nonce, json.loads(response.content)))
                await self._deliver_held()
                w.delivered.set()
                return response
        probes_held = (kind == "noop" and w.held is not None and nonce == w.held[2]
                       and w.deliver_before_noop is None)
        if probes_held and w.original_first:
            await self._deliver_held()
        response = await self._forward(request.url, body)
        w.log.append((kind, nonce, json.loads(response.content)))
        if probes_held and not w.original_first:
            await self._deliver_held()
        if probes_held:
            w.probed.set()
        return response

    async def _deliver_held(self) -> None:
        assert self._wire.held is not None
        url, body, _ = self._wire.held
        self._wire.held_answer = json.loads((await self._forward(url, body)).content)

    async def _forward(self, url: httpx.URL, body: bytes) -> httpx.Response:
        request = httpx.Request("POST", url, content=body, headers={"content-type": "application/json"})
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        await response.aclose()
        return httpx.Response(response.status_code, headers={"content-type": "application/json"}, content=content)

    async def aclose(self) -> None:
        await self._inner.aclose()


def crash_copy(journal: Path, copy: Path) -> None:
    """What a SIGKILL now would leave of ``journal``: its committed content (an online backup reads exactly that)."""
    source, target = sqlite3.connect(journal), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


async def settled(conn: HyperliquidConnector, cid: str, limit: float = 15.0) -> InFlightOrder:
    """The order once its submission is resolved (no longer PENDING_CREATE/UNKNOWN), waiting on its events."""
    events = conn.events()
    with trio.fail_after(limit):
        while True:
            order = conn.get_order(cid)
            assert order is not None
            if order.state not in (OrderState.PENDING_CREATE, OrderState.UNKNOWN):
                return order
            await events.receive()


@pytest.mark.parametrize("lands", [True, False], ids=["landed-before-the-fence", "after-the-fence"])
async def test_restart_settles_an_unanswered_order_by_fencing_its_nonce_then_reading_in_bulk(
    tmp_path: Path, lands: bool,
) -> None:
    """The connector dies while an order's answer is outstanding; it restarts from the journal as the crash left
    it.  The order's nonce is in it (flushed before the order left), so the restart fences it - 100 noops with
    higher nonces push it out of the venue's accepted set - and then reads the venue in bulk: the order reached
    the venue before the fence (found OPEN, no orderStatus asked) or after it (refused as too low by the venue,
    and FAILED "never landed" by us: nothing can ever make it land)."""
    live, crashed = tmp_path / "live.sqlite", tmp_path / "crashed.sqlite"
    net = Wire(on_hold=lambda: crash_copy(live, crashed))
    key = LocalSigner.generate().export_private_key_hex()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=live,
                              use_ws_post=False, request_timeout=2.0)
        async with open_connector(cfg, transport=net.transport(), ws_settings=FAST_WS) as conn:
            net.hold_next_order = True
            cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
            with trio.fail_after(10):
                await net.order_held.wait()
            user = conn.user
        assert emu.engine.ground_truth(user)["orders"] == []  # still in the network
        nonce = net.held_nonce
        # noop 1 is the restart's identity check, 2-101 the fence
        net.deliver_before_noop = 2 if lands else 101
        net.noops_since_hold = 0
        async with open_connector(attrs.evolve(cfg, journal_path=crashed), transport=net.transport(),
                                  ws_settings=FAST_WS) as conn:
            order = await settled(conn, cid)
            with trio.fail_after(10):
                await conn.restore_settled.wait()
            if lands:
                assert order.state is OrderState.OPEN, order
            else:
                assert order.state is OrderState.FAILED and order.reason == NEVER_LANDED, order
            assert net.status_asked == []  # settled by the bulk reads alone
            report = conn.restore_report
            assert report is not None and report.fenced and report.status_queries == 0
            if not lands:
                with trio.fail_after(10):
                    await net.delivered.wait()
            noops = [n for kind, n, answer in net.log if kind == "noop" and answer["status"] == "ok"]
            assert len(noops) == 2 + 100 and noops[0] < nonce < min(noops[1:])  # two identity checks, the fence
            truth = emu.engine.ground_truth(user)["orders"]
            if lands:
                assert net.held_answer["status"] == "ok"
                assert [(o["cloid"], o["status"], str(o["oid"])) for o in truth] == [
                    (cid, "open", order.exchange_order_id)]
            else:
                assert net.held_answer["status"] == "err" and "nonce too low" in net.held_answer["response"]
                assert truth == []
    with Journal(crashed) as journal:  # the fence is journaled: a second restart would not repeat it
        assert journal.restore(clock=time.time).fences == {LocalSigner(key).address.lower(): nonce}


async def test_restart_fails_orders_that_never_left_the_process_without_asking(tmp_path: Path) -> None:
    """Queued behind a held action when the process died: no "sending" record names them, so they provably
    never reached the venue - FAILED "never sent" at once, never UNKNOWN, nothing asked, no fence needed."""
    key = LocalSigner.generate().export_private_key_hex()
    path = tmp_path / "orders.sqlite"
    cids = [wire.new_cloid() for _ in range(3)]
    with Journal(path) as journal:
        tracker = OrderTracker(clock=time.time, journal=journal)
        for cid in cids:
            tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY,
                                                     amount=D("0.001"), price=D("1000"), created_at=time.time()))
    net = Wire()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        async with open_connector(cfg, transport=net.transport(), ws_settings=FAST_WS, cancel_on_exit=False) as conn:
            events = conn.events()
            orders = [conn.get_order(cid) for cid in cids]
            assert all(o is not None and o.state is OrderState.FAILED and o.reason == "never sent" for o in orders)
            assert conn.restore_settled.is_set() and conn.health().orders_unknown == 0
            cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
            await until(events, lambda e: isinstance(e, OrderCreated) and e.client_order_id == cid)
    assert net.status_asked == []
    assert [kind for kind, _, _ in net.log] == ["noop", "order"]  # the identity check, then the new order only


async def test_restart_resends_never_sent_limit_orders_when_asked_to(tmp_path: Path) -> None:
    key = LocalSigner.generate().export_private_key_hex()
    path = tmp_path / "orders.sqlite"
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0, resend_unsent_on_restart=True)
        async with open_connector(cfg, ws_settings=FAST_WS) as conn:
            price, amount = far_below(conn, "BTC"), size_for(conn, "BTC")
            user = conn.user
        cid = wire.new_cloid()
        with Journal(path) as journal:
            tracker = journal.restore(clock=time.time).tracker
            tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY, amount=amount,
                                                     price=price, created_at=time.time()))
        async with open_connector(cfg, ws_settings=FAST_WS, cancel_on_exit=False) as conn:
            order = await settled(conn, cid)
            assert order.state is OrderState.OPEN
        assert [(o["cloid"], o["status"]) for o in emu.engine.ground_truth(user)["orders"]] == [(cid, "open")]


def _journal_of_a_previous_run(path: Path, signer: str, *, sent_with: int | None) -> str:
    """A journal whose last run tracked one order and died before its answer; ``sent_with``: the nonce of the
    ``"sending"`` record it left (None: written before such records existed).  Returns the order's cid."""
    cid = wire.new_cloid()
    with Journal(path) as journal:
        tracker = OrderTracker(clock=time.time, journal=journal)
        now = time.time()
        tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY, amount=D("0.001"),
                                                 price=D("1000"), created_at=now))
        if sent_with is not None:
            journal.append_sending(now, [cid], sent_with, signer)
    if sent_with is None:  # written before "sending" records existed: its journal has no mark of them either
        db = sqlite3.connect(path)
        db.execute("DELETE FROM meta WHERE key IN ('sending_since', 'writer_boot', 'writer_full')")
        db.commit()
        db.close()
    return cid


async def test_restart_continues_nonces_after_the_journal_and_the_identity_noop_uses_them(tmp_path: Path) -> None:
    """The last run signed with a clock an hour fast; the clock has been stepped back since.  Every nonce of the new
    run - the identity check's noop first - continues after the journaled one instead of going back with it."""
    key = LocalSigner.generate().export_private_key_hex()
    path = tmp_path / "orders.sqlite"
    ahead = int(time.time() * 1000) + 3_600_000
    earlier = _journal_of_a_previous_run(path, LocalSigner(key).address, sent_with=ahead)
    net = Wire()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        async with open_connector(cfg, transport=net.transport(), ws_settings=FAST_WS,
                                  cancel_on_exit=False) as conn:
            assert (await settled(conn, earlier)).state is OrderState.FAILED
            cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
            assert (await settled(conn, cid)).state is OrderState.OPEN
    sent = [(kind, n) for kind, n, _ in net.log]
    identity = sent[0][1]
    assert sent[0][0] == "noop" and identity > ahead  # the identity check
    # then the fence for the earlier order (100 noops above its nonce: the venue never saw it, FAILED), the order
    assert [kind for kind, _ in sent[1:]] == ["noop"] * 100 + ["order"]
    assert all(identity < n for _, n in sent[1:]) and sorted(n for _, n in sent) == [n for _, n in sent]


async def test_restart_from_a_journal_without_nonces_resolves_by_asking_only(tmp_path: Path) -> None:
    """A journal written before ``"sending"`` records existed: its unanswered order is asked about
    (``landed_polls`` not-found rounds, ~4 s), never probed, then FAILED."""
    key = LocalSigner.generate().export_private_key_hex()
    path = tmp_path / "orders.sqlite"
    cid = _journal_of_a_previous_run(path, LocalSigner(key).address, sent_with=None)
    net = Wire()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), journal_path=path,
                              use_ws_post=False, request_timeout=2.0)
        async with open_connector(cfg, transport=net.transport(), ws_settings=FAST_WS) as conn:
            order = await settled(conn, cid)
            assert order.state is OrderState.FAILED and "no answer before the restart" in (order.reason or "")
            assert net.status_asked == [cid] * 4  # once, then landed_polls (3) more not-found rounds
            assert conn.submit.statistics().nonce_probes == 0
    assert [kind for kind, _, _ in net.log] == ["noop"]  # the identity check only


# ------------------------------------------------------------------------------------------------ risk


async def test_position_follows_fills_and_risk_limits_refuse_before_tracking() -> None:
    from trio_hl.core.risk import PairLimits, RiskBreachError, RiskLimits

    async with open_emulator(limits=Limits.unlimited()) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=LocalSigner.generate().export_private_key_hex(),
                              pairs=("ETH",))
        limits = RiskLimits(default=PairLimits(max_position=D("0.05"), price_band=D("0.5")))
        async with open_connector(cfg, ws_settings=FAST_WS, risk=limits) as conn:
            events = conn.events()
            amount = size_for(conn, "ETH")
            conn.buy(OrderParams("ETH", amount, order_type=OrderType.MARKET))
            conn.buy(OrderParams("ETH", amount, order_type=OrderType.MARKET))
            filled = 0
            with trio.fail_after(10):
                async for e in events:
                    filled += isinstance(e, OrderFilled)
                    if filled == 2:
                        break
            assert conn.position("ETH") == 2 * amount
            state = await conn.user_state()
            venue = {p["position"]["coin"]: D(p["position"]["szi"]) for p in state["assetPositions"]}
            assert venue["ETH"] == 2 * amount
            before = conn.tracker.statistics().orders_tracked
            with pytest.raises(RiskBreachError, match="max_position"):
                conn.buy(OrderParams("ETH", D("0.05"), far_below(conn, "ETH")))
            with pytest.raises(RiskBreachError, match="price_band"):
                conn.sell(OrderParams("ETH", amount, far_above(conn, "ETH") * 2))
            assert conn.tracker.statistics().orders_tracked == before
            # Reducing is still allowed at the position limit; the kill switch cancels and refuses everything.
            cid = conn.sell(OrderParams("ETH", amount, far_above(conn, "ETH")))
            await until(events, lambda e: isinstance(e, OrderCreated) and e.client_order_id == cid)
            assert conn.kill("test") == 1
            await until(events, lambda e: isinstance(e, OrderCancelled))
            with pytest.raises(RiskBreachError, match="kill_switch"):
                conn.sell(OrderParams("ETH", amount, far_above(conn, "ETH")))
            assert [b.limit for b in conn.risk_breaches] == ["max_position", "price_band", "kill_switch"]


async def test_max_account_notional_counts_positions_and_resting_orders_at_the_mid() -> None:
    """The connector supplies the account's gross exposure; before, every non-reducing order was refused with
    'the caller gave no account_notional' as soon as the limit was configured."""
    from trio_hl.core.risk import RiskBreachError, RiskLimits

    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=LocalSigner.generate().export_private_key_hex(),
                              pairs=("ETH",))
        async with open_connector(cfg, ws_settings=FAST_WS) as conn:
            mid = conn.mid("ETH")
            assert mid is not None
            amount = size_for(conn, "ETH")
            # Room for two resting bids (each counted at the mid once resting) but not three.
            conn.risk.update(RiskLimits(max_account_notional=(D("2.5") * amount * mid).quantize(D(1))))
            events = conn.events()
            for _ in range(2):
                cid = conn.buy(OrderParams("ETH", amount, far_below(conn, "ETH")))
                await until(events, lambda e, cid=cid: isinstance(e, OrderCreated) and e.client_order_id == cid)
            assert conn.account_notional() == 2 * amount * mid
            with pytest.raises(RiskBreachError, match="max_account_notional breached"):
                conn.buy(OrderParams("ETH", amount, far_below(conn, "ETH")))


# ------------------------------------------------------------------------------------------------ dead man


async def test_dead_mans_switch_keeps_orders_while_healthy_and_the_venue_cancels_when_not() -> None:
    """Real time (the venue's timer runs on the emulator's clock): ~16 s."""
    async with running(pairs=("BTC",), dead_mans_switch_s=7.0) as (emu, conn):
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await until(events, lambda e: isinstance(e, OrderCreated))
        state = conn.health().dead_mans_switch
        assert state is not None and state.armed and state.deadline_ms is not None
        first_deadline = state.deadline_ms
        # Healthy for longer than the window: refreshed, nothing cancelled.
        await trio.sleep(8.5)
        state = conn.health().dead_mans_switch
        assert state is not None and state.refreshes >= 3 and state.deadline_ms > first_deadline  # type: ignore[operator]
        assert conn.get_order(cid).state is OrderState.OPEN  # type: ignore[union-attr]
        # Partitioned: every WS connection is cut, the gate stays closed, the switch stops refreshing, and the
        # venue cancels the order at the deadline on its own.
        emu.faults.ws_disconnect_every_s = 0.01
        seen = await until(events, lambda e: isinstance(e, OrderCancelled), limit=20)
        assert seen[-1].client_order_id == cid
        truth = emu.engine.ground_truth(conn.user)
        assert [o["status"] for o in truth["orders"]] == ["scheduledCancel"]
        emu.faults.ws_disconnect_every_s = None


async def test_back_to_back_modifies_keep_the_order_alive() -> None:
    """The second modify re-keys the first one's new order; the venue's cancel of that intermediate order is a
    modify leg, not the end of the tracked order."""
    async with running(pairs=("BTC",), quiet=True) as (_, conn):
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await until(events, lambda e: isinstance(e, OrderCreated))
        final = far_below(conn, "BTC") - 50
        conn.modify(cid, price=final + 20)
        conn.modify(cid, price=final)
        with trio.fail_after(10):
            async for e in events:
                assert not isinstance(e, OrderCancelled), e
                if isinstance(e, OrderModified) and e.price == final:
                    break
        order = conn.get_order(cid)
        assert order is not None and order.state is OrderState.OPEN and order.price == final
        opens = await conn._rest.info.open_orders(conn.user)
        assert [(o["cloid"], D(o["limitPx"])) for o in opens] == [(cid, final)]
        assert conn.modify_cancel_legs >= 2


async def test_partial_ioc_reports_its_true_executed_amount_in_the_cancel() -> None:
    async with running(pairs=("BTC",), quiet=True) as (emu, conn):
        events = conn.events()
        book = conn.book("BTC")
        assert book.best_ask is not None
        top = book.best_ask
        amount = top.size + conn.registry.by_pair("BTC").size_step * 10  # more than the first level holds
        cid = conn.buy(OrderParams("BTC", amount, top.price, tif=TimeInForce.IOC))  # crosses that level only
        seen = await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == cid)
        cancelled = seen[-1]
        assert isinstance(cancelled, OrderCancelled) and cancelled.executed_amount == top.size
        ours = [e for e in seen if e.client_order_id == cid]
        assert not [e for e in ours if isinstance(e, (LateFill, OrderAnomaly))], ours
        truth = emu.engine.ground_truth(conn.user)
        assert [D(o["filledSz"]) for o in truth["orders"]] == [top.size]


async def test_order_status_is_the_venues_view() -> None:
    async with running(pairs=("BTC",), quiet=True) as (_emu, conn):
        events = conn.events()
        mid = conn.mid("BTC")
        assert mid is not None
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), (mid * D("0.9")).quantize(D(1))))
        await until(events, lambda e: isinstance(e, OrderCreated))
        snapshot = await conn.order_status(cid)
        assert snapshot is not None and snapshot.client_order_id == cid and snapshot.state is OrderState.OPEN
        assert snapshot.pair == "BTC" and snapshot.exchange_order_id == conn.get_order(cid).exchange_order_id  # type: ignore[union-attr]
        assert await conn.order_status("0x" + "ee" * 16) is None


async def test_position_counts_fills_of_orders_this_connector_did_not_place() -> None:
    key = LocalSigner.generate()
    async with running(pairs=("BTC",), quiet=True, key=key.export_private_key_hex()) as (emu, conn):
        book = conn.book("BTC")
        assert book.best_ask is not None
        amount = size_for(conn, "BTC")
        # Another client of the same account (a script, the web UI, a native TWAP) buys over plain REST.
        order = wire.order_wire(0, True, book.best_ask.price, amount, False, wire.limit_order_type("Ioc"), None)
        action = wire.order_action([order])
        nonce = emu.now_ms()
        body = wire.exchange_body(action, nonce, sign_l1_action(key, action, None, nonce, None, False), None, None)
        async with httpx.AsyncClient(base_url=emu.url) as client:
            answer = (await client.post("/exchange", json=body)).json()
        assert "filled" in answer["response"]["data"]["statuses"][0], answer
        await eventually(lambda: conn.position("BTC") == amount)
        assert conn.open_orders() == []  # nothing was tracked for it
        emu.tick()  # more frames (book heartbeats, duplicates on userEvents) change nothing
        await eventually(lambda: conn.health().user_stream_age is not None)
        assert conn.position("BTC") == amount


async def test_startup_survives_a_lost_answer_to_the_identity_check() -> None:
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        emu.faults.accept_then_timeout_count = 1  # the first action - the startup noop - lands, its answer is lost
        emu.faults.accept_then_timeout_hold_s = 3.0
        async with running(pairs=("BTC",), emu=emu, request_timeout=0.5) as (_, conn):
            assert conn.health().trading_ready
        assert emu.faults.accept_then_timeout_count == 0  # the fault did fire


async def test_a_cancel_requested_before_a_crash_is_sent_after_the_restart(tmp_path: Path) -> None:
    journal = tmp_path / "orders.sqlite"
    key = LocalSigner.generate().export_private_key_hex()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        async with running(pairs=("BTC",), journal=journal, key=key, emu=emu) as (_, conn):
            events = conn.events()
            cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
            await until(events, lambda e: isinstance(e, OrderCreated))
            conn.submit.close_gate()  # the process "dies" before the cancel leaves
            assert conn.cancel("BTC", cid)
            await conn._flush_journal()
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["open"]
        async with running(pairs=("BTC",), journal=journal, key=key, emu=emu) as (_, conn):
            events = conn.events()
            if conn.get_order(cid).state is not OrderState.CANCELED:  # type: ignore[union-attr]
                await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == cid)
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["canceled"]


async def test_modify_of_a_partly_filled_order_keeps_only_the_rest_on_the_book() -> None:
    async with running(pairs=("BTC",), quiet=True) as (emu, conn):
        events = conn.events()
        amount = size_for(conn, "BTC", D(200))
        px = inside_ask(conn, "BTC")
        cid = conn.sell(OrderParams("BTC", amount, px))
        await until(events, lambda e: isinstance(e, OrderCreated))
        half = (amount / 2).quantize(conn.registry.by_pair("BTC").size_step)
        assert emu.trade("BTC", True, px, half) == half
        await until(events, lambda e: isinstance(e, OrderPartiallyFilled))
        conn.modify(cid, price=px + 1)  # price only: "keep my order, move it one tick"
        await until(events, lambda e: isinstance(e, OrderModified))
        order = conn.get_order(cid)
        assert order is not None and order.amount == amount and order.executed_amount == half
        venue = await venue_status(conn, cid)
        assert D(venue["order"]["order"]["sz"]) == amount - half  # not the total again
        with pytest.raises(InvalidOrderError, match="already executed"):
            conn.modify(cid, amount=half)  # a total at or below what executed


async def test_a_cancelled_order_whose_placement_was_ambiguous_is_never_sent_again() -> None:
    async with running(pairs=("BTC",), quiet=True, use_ws_post=False) as (emu, conn):
        events = conn.events()
        emu.faults.http_5xx_count = 1  # the placement gets a 502 (not applied): ambiguous to us
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        assert conn.cancel("BTC", cid)  # pulled at once; the venue will refuse it: "never placed"
        seen = await until(events, lambda e: isinstance(e, (OrderFailed, OrderCancelled)) and e.client_order_id == cid,
                           limit=20)
        assert not any(isinstance(e, OrderCreated) for e in seen)  # never re-placed
        assert emu.engine.ground_truth(conn.user)["orders"] == []
        assert conn.submit.statistics().resubmitted == 0


async def test_a_cancel_that_never_reached_the_venue_is_sent_once_it_is_back() -> None:
    from trio_hl.errors import TransportError
    from trio_hl.hyperliquid.backoff import BackoffPolicy
    from trio_hl.hyperliquid.submit import MAX_SEND_ATTEMPTS

    async with running(pairs=("BTC",), quiet=True) as (emu, conn):
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await until(events, lambda e: isinstance(e, OrderCreated))
        worker = conn.submit
        worker._backoff = BackoffPolicy(initial=0.01, maximum=0.05)  # (only to keep the outage short)
        real = worker._send_action
        refused = 0

        async def outage(body: Any) -> Any:  # every send of the cancel fails to connect, then the venue is back
            nonlocal refused
            if body["action"]["type"] == "cancelByCloid" and refused < MAX_SEND_ATTEMPTS:
                refused += 1
                raise TransportError("connect refused (simulated outage)")
            return await real(body)

        worker._send_action = outage  # type: ignore[method-assign]
        assert conn.cancel("BTC", cid)
        await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == cid, limit=20)
        assert refused == MAX_SEND_ATTEMPTS
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["canceled"]


async def test_a_cancel_racing_a_modify_ends_the_order_without_waiting_for_the_reconciler() -> None:
    async with running(pairs=("BTC",), quiet=True, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await until(events, lambda e: isinstance(e, OrderCreated))
        order = conn.get_order(cid)
        assert order is not None and order.price is not None
        conn.modify(cid, price=order.price - 1)
        assert conn.cancel("BTC", cid)  # cancels have their own lane: this one can land before the modify
        await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == cid, limit=10)
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]][-1] == "canceled"


# ------------------------------------------------------------------------------------------------ refused cancels

MISSING_ORDER = "Order was never placed, already canceled, or filled."


def hold_the_stream(emu: Emulator) -> None:
    """From now on every stream message is held back (for far longer than any test), while HTTP answers - orders
    and cancels go over HTTP in these tests - are not: the venue acts, the connector does not hear of it.  The
    decision is taken when a message is queued, so it covers everything the next synchronous call publishes."""
    emu.faults.ws_delay_s = 3600.0
    emu.faults.ws_delay_prob = 1.0


def release_the_stream(emu: Emulator) -> None:
    """Stop holding and reconnect: the held messages die with the old connection, the gap-fill tells the truth."""
    emu.faults.ws_delay_prob = 0.0
    assert emu.drop_ws_connections() >= 1


async def test_a_cancel_the_venue_refuses_is_reported_then_the_fill_that_won_the_race() -> None:
    async with running(pairs=("BTC",), quiet=True, use_ws_post=False, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        amount = size_for(conn, "BTC")
        px = inside_ask(conn, "BTC")
        cid = conn.sell(OrderParams("BTC", amount, px))
        created = await next_event(events, OrderCreated, client_order_id=cid)
        assert isinstance(created, OrderCreated)
        hold_the_stream(emu)
        assert emu.trade("BTC", True, px, amount) == amount  # filled on the venue; the connector does not know yet
        assert conn.cancel("BTC", cid)
        assert conn.get_order(cid).state is OrderState.PENDING_CANCEL  # type: ignore[union-attr]
        rejected = await next_event(events, CancelRejected, client_order_id=cid)
        assert isinstance(rejected, CancelRejected) and rejected.reason.startswith(MISSING_ORDER)
        assert (rejected.state, rejected.exchange_order_id, rejected.pair) == (
            OrderState.OPEN, created.exchange_order_id, "BTC")
        order = conn.get_order(cid)
        assert order is not None and order.state is OrderState.OPEN and not order.cancel_requested
        release_the_stream(emu)
        seen = await until(events, lambda e: isinstance(e, OrderFilled) and e.client_order_id == cid, limit=20)
        assert not [e for e in seen if isinstance(e, CancelRejected | OrderCancelled)], seen  # answered once
        assert seen[-1].executed_amount == amount  # type: ignore[union-attr]
        assert conn.tracker.statistics().cancels_rejected == 1
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["filled"]


async def test_kill_reports_each_cancel_the_venue_refused() -> None:
    from trio_hl.core.risk import RiskBreachError

    async with running(pairs=("BTC",), quiet=True, use_ws_post=False, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        amount = size_for(conn, "BTC")
        px = inside_ask(conn, "BTC")
        taken = conn.sell(OrderParams("BTC", amount, px))
        resting = conn.sell(OrderParams("BTC", amount, far_above(conn, "BTC")))
        created: set[str] = set()
        while created != {taken, resting}:
            created.add((await next_event(events, OrderCreated)).client_order_id)
        hold_the_stream(emu)
        assert emu.trade("BTC", True, px, amount) == amount  # only the best ask: ours at px
        assert conn.kill("test") == 2  # one cancel is refused (the order is gone), the other accepted
        rejected = await next_event(events, CancelRejected)
        assert isinstance(rejected, CancelRejected)
        assert rejected.client_order_id == taken and rejected.reason.startswith(MISSING_ORDER)
        assert rejected.state is OrderState.OPEN
        release_the_stream(emu)
        seen = await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == resting, limit=20)
        if conn.get_order(taken).state is not OrderState.FILLED:  # type: ignore[union-attr]
            seen += await until(events, lambda e: isinstance(e, OrderFilled) and e.client_order_id == taken, limit=20)
        assert not [e for e in seen if isinstance(e, CancelRejected)], seen  # the accepted cancel is not one
        statuses = {o["cloid"]: o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]}
        assert statuses == {taken: "filled", resting: "canceled"}
        with pytest.raises(RiskBreachError, match="kill_switch"):
            conn.sell(OrderParams("BTC", amount, far_above(conn, "BTC")))


# ------------------------------------------------------------------------------------------- cancels that must go on

RATE_LIMITED = ("Too many cumulative requests sent (10051 > 10000) for cumulative volume traded $0. "
                "Place taker orders to free up 1 request per USDC traded.")


async def test_kill_during_a_sustained_rate_limit_keeps_cancelling_until_the_venue_lets_it_through() -> None:
    from trio_hl.hyperliquid.backoff import BackoffPolicy
    from trio_hl.hyperliquid.submit import MAX_SEND_ATTEMPTS

    async with running(pairs=("BTC",), quiet=True, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        cids = {conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC"))) for _ in range(2)}
        created: set[str] = set()
        while created != cids:
            created.add((await next_event(events, OrderCreated)).client_order_id)
        worker = conn.submit
        # (only to keep the test short: the venue's throttled pace is 10 s, the resolve period 1 s)
        worker._backoff = BackoffPolicy(initial=0.01, maximum=0.05)
        worker._resolve_interval = 0.02
        worker.budget.THROTTLED_INTERVAL = 0.02
        real = worker._send_action
        refusals = MAX_SEND_ATTEMPTS + 3  # more than one action's attempts: the old connector gave up after 12
        refused = 0
        states: set[OrderState] = set()

        async def limited(body: Any) -> Any:
            nonlocal refused
            if body["action"]["type"] == "cancelByCloid" and refused < refusals:
                refused += 1
                states.update(conn.get_order(cid).state for cid in cids)  # type: ignore[union-attr]
                return {"status": "err", "response": RATE_LIMITED}
            return await real(body)

        worker._send_action = limited  # type: ignore[method-assign]
        assert conn.kill("test") == 2
        cancelled: set[str] = set()
        seen: list[Event] = []
        while cancelled != cids:
            seen += await until(events, lambda e: isinstance(e, OrderCancelled), limit=30)
            cancelled.add(seen[-1].client_order_id)
        assert refused == refusals
        assert states == {OrderState.PENDING_CANCEL}  # still under way while refused: never OPEN again
        assert not [e for e in seen if isinstance(e, CancelRejected)], seen
        assert conn.tracker.statistics().cancels_rejected == 0
        assert {o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]} == {"canceled"}


async def test_kill_while_the_emulators_address_budget_is_spent_cancels_every_order_at_the_venues_pace(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The same kill switch against the emulator's own per-address budget (PROTOCOL §8.3), no wrapped sender:
    a tiny buffer, spent by the same address elsewhere; the venue refuses the kill's cancels until its
    throttled slot is free, and the connector re-sends them at that pace until every order is cancelled."""
    from trio_hl.emulator.faults import FaultKind
    from trio_hl.hyperliquid.wire import cancel_by_cloid_action

    mock_clock.autojump_threshold = 5.0  # (only a safety net: a stuck test times out instead of hanging)
    key = LocalSigner.generate().export_private_key_hex()
    limits = attrs.evolve(Limits.unlimited(), address_initial_buffer=3)  # cap 3, cancels up to 6
    async with (
        open_emulator(limits=limits, tick_interval_s=3600.0) as emu,
        running(emu=emu, key=key, pairs=("BTC",), reconcile_interval=60.0) as (_, conn),
    ):
        events = conn.events()
        cids = {conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC"))) for _ in range(2)}
        created: set[str] = set()
        while created != cids:
            created.add((await next_event(events, OrderCreated)).client_order_id)
        # The same address spends its budget elsewhere: a batch of 5 cancels (of nothing) takes it to 7 > 6,
        # admitted as its throttled request, which holds the slot for 5 x 10 s.
        spent_at = trio.current_time()
        signer = LocalSigner(key)
        action = cancel_by_cloid_action([(0, "0x" + f"{i:032x}") for i in range(1, 6)])
        nonce = emu.now_ms() + 1_000_000
        body = wire.exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
        async with httpx.AsyncClient(base_url=emu.url) as client:
            elsewhere = (await client.post("/exchange", json=body)).json()
        assert elsewhere["status"] == "ok"

        assert conn.kill("test") == 2
        cancelled: dict[str, float] = {}
        seen: list[Event] = []
        states: set[OrderState] = set()
        for _ in range(300):  # at most 300 s of emulator time, one second at a time
            mock_clock.jump(1.0)
            emu.tick()
            await trio.testing.wait_all_tasks_blocked(cushion=0.01)
            while True:
                try:
                    event = events.receive_nowait()
                except trio.WouldBlock:
                    break
                seen.append(event)
                if isinstance(event, OrderCancelled):
                    cancelled[event.client_order_id] = trio.current_time() - spent_at
            if set(cancelled) == cids:
                break
            if emu.statistics().address_limited:
                states.update(conn.get_order(cid).state for cid in cids - set(cancelled))  # type: ignore[union-attr]
        assert set(cancelled) == cids, (cancelled, seen)
        refusals = [r.time_ms for r in emu.log.of_kind(FaultKind.RATE_LIMITED) if "address_budget" in r.details]
        assert len(refusals) == emu.statistics().address_limited >= 2
        # re-sent at the venue's pace (one request per 10 s), not every resolve period (1 s): after the first
        # refusal and the first re-send, each re-send comes 10 s after the one before
        assert all(b - a >= 10_000 for a, b in itertools.pairwise(refusals[1:])), refusals
        assert min(cancelled.values()) >= 50.0  # not before the venue's slot was free again
        assert states == {OrderState.PENDING_CANCEL}  # refused meanwhile, never OPEN again
        assert not [e for e in seen if isinstance(e, CancelRejected)], seen
        assert {o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]} == {"canceled"}


async def test_cancelling_twice_sends_one_cancel_and_the_order_stays_pending_until_it_lands() -> None:
    async with running(pairs=("BTC",), quiet=True, use_ws_post=False, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", size_for(conn, "BTC"), far_below(conn, "BTC")))
        await next_event(events, OrderCreated, client_order_id=cid)
        worker = conn.submit
        real = worker._send_action
        sent: list[int] = []
        answered = trio.Event()

        async def watched(body: Any) -> Any:
            answer = await real(body)
            if body["action"]["type"] == "cancelByCloid":
                sent.append(len(body["action"]["cancels"]))
                answered.set()
            return answer

        worker._send_action = watched  # type: ignore[method-assign]
        hold_the_stream(emu)  # the venue cancels; the connector hears it from the answer only
        assert conn.cancel("BTC", cid)
        assert conn.cancel("BTC", cid)  # a cancel is under way: True, and nothing more is queued
        with trio.fail_after(10):
            await answered.wait()
        # (the worker maps an answer before its next checkpoint: applied by now)
        order = conn.get_order(cid)
        assert order is not None and order.state is OrderState.PENDING_CANCEL and order.cancel_requested
        assert conn.cancel("BTC", cid)  # accepted, its CANCELED not heard yet: still nothing to send
        release_the_stream(emu)
        seen = await until(events, lambda e: isinstance(e, OrderCancelled) and e.client_order_id == cid, limit=20)
        assert not [e for e in seen if isinstance(e, CancelRejected)], seen
        assert sent == [1]
        assert conn.tracker.statistics().cancels_rejected == 0
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["canceled"]


async def test_a_second_cancel_of_an_order_that_won_the_race_is_answered_once() -> None:
    async with running(pairs=("BTC",), quiet=True, use_ws_post=False, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        amount = size_for(conn, "BTC")
        px = inside_ask(conn, "BTC")
        cid = conn.sell(OrderParams("BTC", amount, px))
        await next_event(events, OrderCreated, client_order_id=cid)
        hold_the_stream(emu)
        assert emu.trade("BTC", True, px, amount) == amount  # filled on the venue; the connector does not know yet
        assert conn.cancel("BTC", cid)
        assert conn.cancel("BTC", cid)
        rejected = await next_event(events, CancelRejected, client_order_id=cid)
        assert isinstance(rejected, CancelRejected) and rejected.state is OrderState.OPEN
        # The refusal ended the request: a new cancel() is sent (and refused in turn).
        assert conn.cancel("BTC", cid)
        again = await next_event(events, CancelRejected, client_order_id=cid)
        assert isinstance(again, CancelRejected) and again.reason.startswith(MISSING_ORDER)
        release_the_stream(emu)
        seen = await until(events, lambda e: isinstance(e, OrderFilled) and e.client_order_id == cid, limit=20)
        assert not [e for e in seen if isinstance(e, CancelRejected)], seen  # one refusal per cancel sent
        assert conn.tracker.statistics().cancels_rejected == 2


# ------------------------------------------------------------------------------------ modifies that did not apply

#: What a ``modify()`` is answered by (for one order): applied, not applied with the order resting, or its end.
MODIFY_ANSWERS = (OrderModified, ModifyRejected, OrderFailed, OrderCancelled, OrderFilled)


async def resting_sell(conn: HyperliquidConnector, events: trio.MemoryReceiveChannel[Event],
                       order_type: OrderType = OrderType.LIMIT) -> tuple[str, Decimal, Decimal]:
    """A sell quote resting as the best ask: ``(cid, price, amount)``."""
    amount = size_for(conn, "BTC")
    px = inside_ask(conn, "BTC")
    cid = conn.sell(OrderParams("BTC", amount, px, order_type=order_type))
    await next_event(events, OrderCreated, client_order_id=cid)
    return cid, px, amount


async def test_a_post_only_reprice_that_would_cross_ends_the_quote_and_says_so() -> None:
    """The market maker's common failure: an Alo re-price into the book.  Hyperliquid's modify is cancel + place,
    and the emulator does what the venue does: the old order is cancelled, the new one refused
    (``badAloPxRejected``) and kept as the client id's latest.  No quote is left on the book, so no
    ``ModifyRejected`` claims one: the order's terminal event answers the modify, and the refusal is counted."""
    async with running(pairs=("BTC",), quiet=True, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        cid, px, _ = await resting_sell(conn, events, OrderType.LIMIT_MAKER)
        book = conn.book("BTC")
        assert book.best_bid is not None
        crossing = book.best_bid.price  # a sell at the best bid would take it
        conn.modify(cid, price=crossing)
        answer = await next_event(events, MODIFY_ANSWERS, client_order_id=cid)
        assert isinstance(answer, OrderFailed) and answer.reason == "badAloPxRejected", answer
        # the status re-read settled the refusal: counted, and nothing claims a resting quote
        await eventually(lambda: conn.tracker.statistics().modifies_rejected == 1)
        later = []
        while True:
            try:
                later.append(events.receive_nowait())
            except trio.WouldBlock:
                break
        assert not [e for e in later if e.client_order_id == cid], later
        order = conn.get_order(cid)
        assert order is not None and order.state is OrderState.FAILED
        truth = [(o["status"], D(o["limitPx"])) for o in emu.engine.ground_truth(conn.user)["orders"]]
        assert truth == [("canceled", px), ("badAloPxRejected", crossing)]
        assert await conn._rest.info.open_orders(conn.user) == []  # no stale quote either


async def test_a_rate_limited_modify_leaves_the_quote_where_it_was_and_says_so() -> None:
    """A refusal of the whole action touched nothing: ``ModifyRejected`` with the venue's words and the order as it
    still rests; the next re-quote goes through."""
    from trio_hl.hyperliquid.backoff import BackoffPolicy
    from trio_hl.hyperliquid.submit import MAX_SEND_ATTEMPTS

    async with running(pairs=("BTC",), quiet=True, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        cid, px, amount = await resting_sell(conn, events, OrderType.LIMIT_MAKER)
        worker = conn.submit
        worker._backoff = BackoffPolicy(initial=0.01, maximum=0.05)  # (only to keep the test short)
        real = worker._send_action
        refused = 0

        async def limited(body: Any) -> Any:
            nonlocal refused
            if body["action"]["type"] == "batchModify" and refused < MAX_SEND_ATTEMPTS:
                refused += 1
                return {"status": "err", "response": RATE_LIMITED}
            return await real(body)

        worker._send_action = limited  # type: ignore[method-assign]
        eid = conn.get_order(cid).exchange_order_id  # type: ignore[union-attr]
        conn.modify(cid, price=px + 1, amount=amount * 2)
        answer = await next_event(events, MODIFY_ANSWERS, client_order_id=cid)
        assert isinstance(answer, ModifyRejected), answer
        assert (answer.reason, answer.state, answer.exchange_order_id) == (RATE_LIMITED, OrderState.OPEN, eid)
        assert (answer.price, answer.amount) == (px, amount)  # still there
        assert (answer.requested_price, answer.requested_amount) == (px + 1, amount * 2)  # not applied
        order = conn.get_order(cid)
        assert order is not None and (order.state, order.price, order.amount) == (OrderState.OPEN, px, amount)
        opens = await conn._rest.info.open_orders(conn.user)
        assert [(o["cloid"], D(o["limitPx"]), D(o["sz"])) for o in opens] == [(cid, px, amount)]
        # the strategy re-quotes: this one lands
        conn.modify(cid, price=px + 1)
        again = await next_event(events, MODIFY_ANSWERS, client_order_id=cid)
        assert isinstance(again, OrderModified) and again.price == px + 1
        assert refused == MAX_SEND_ATTEMPTS
        assert conn.tracker.statistics().modifies_rejected == 1
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["canceled", "open"]


async def test_an_ambiguous_modify_the_venue_never_applied_is_reported_once_its_status_is_read() -> None:
    async with running(pairs=("BTC",), quiet=True, use_ws_post=False, reconcile_interval=60.0) as (emu, conn):
        events = conn.events()
        cid, px, _ = await resting_sell(conn, events)
        emu.faults.http_5xx_count = 1  # the modify gets a 502 (not applied): ambiguous to us
        conn.modify(cid, price=px + 1)
        answer = await next_event(events, MODIFY_ANSWERS, client_order_id=cid)
        assert isinstance(answer, ModifyRejected), answer
        assert answer.reason.startswith("modify not confirmed: ")
        assert answer.reason.endswith("; the venue still shows the order unmodified")
        assert (answer.state, answer.price, answer.requested_price) == (OrderState.OPEN, px, px + 1)
        assert emu.faults.http_5xx_count == 0  # the fault did fire
        assert [o["status"] for o in emu.engine.ground_truth(conn.user)["orders"]] == ["open"]


async def test_an_ambiguous_modify_that_landed_is_reported_modified() -> None:
    """Applied, answer lost: the re-read shows the new exchange id at the new price - ``OrderModified``, as the
    answer would have said (no refusal; the order is not left believing its old price)."""
    async with running(pairs=("BTC",), quiet=True, use_ws_post=False, reconcile_interval=60.0,
                       request_timeout=0.5) as (emu, conn):
        events = conn.events()
        cid, px, _ = await resting_sell(conn, events)
        old_eid = conn.get_order(cid).exchange_order_id  # type: ignore[union-attr]
        emu.faults.accept_then_timeout_count = 1
        emu.faults.accept_then_timeout_hold_s = 3.0
        conn.modify(cid, price=px + 1)
        answer = await next_event(events, MODIFY_ANSWERS, client_order_id=cid)
        assert isinstance(answer, OrderModified), answer
        assert answer.price == px + 1 and answer.exchange_order_id != old_eid
        assert emu.faults.accept_then_timeout_count == 0
        order = conn.get_order(cid)
        assert order is not None and (order.state, order.price) == (OrderState.OPEN, px + 1)
        assert conn.tracker.statistics().modifies_rejected == 0
        truth = [(o["status"], D(o["limitPx"])) for o in emu.engine.ground_truth(conn.user)["orders"]]
        assert truth == [("canceled", px), ("open", px + 1)]


async def test_position_keeps_a_fill_that_collides_with_another_on_trade_id() -> None:
    # Two fills of the account with one trade id (the two legs of a self-trade: same tid, other side and oid;
    # or a same-tid fill of another size) both move the position; a re-delivery of either does not.
    async with running(pairs=("BTC",), quiet=True) as (emu, conn):
        ms = emu.now_ms() + 1000
        buy = TradeUpdate("77", "BTC", D(100), D("0.5"), D(0), "USDC", ms / 1000, None, "901", False, Side.BUY)
        sell = attrs.evolve(buy, exchange_order_id="902", side=Side.SELL, fill_amount=D("0.2"))
        for trade in (buy, sell, buy, sell):
            conn._feed("trade", trade)
        assert conn.position("BTC") == D("0.3")
