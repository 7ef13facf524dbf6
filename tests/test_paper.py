"""The paper connector: the fill model (queue position by price-time, partial fills against displayed size, fees,
trade-throughs, post-only refusals), latency on the Trio clock, recorded captures (bad lines skipped), and
``trio-hl demo --paper`` sending nothing to the venue."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_hl import (
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderParams,
    OrderPartiallyFilled,
    OrderType,
    Side,
    TimeInForce,
)
from trio_hl.core.book import BookLevel
from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderState, PositionAction, TradingRule
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.paper import FillModel, ManualSource, SimVenue, open_paper_connector
from trio_hl.paper.fills import CancelRefused, ModifyRefused
from trio_hl.paper.recorded import RecordedSource, read_rules
from trio_hl.testing.events import next_event

D = Decimal
RULE = TradingRule("BTC", size_step=D("0.001"), min_size=D("0.001"), min_notional=D(10), max_price_decimals=1,
                   max_price_sig_figs=5)
BIDS = [BookLevel(D(99990), D(2)), BookLevel(D(99980), D(3))]
ASKS = [BookLevel(D(100010), D(1)), BookLevel(D(100020), D(2))]
MODEL = FillModel(taker_fee=D("0.0005"), maker_fee=D("-0.0001"))


def venue() -> SimVenue:
    v = SimVenue(MODEL, {"BTC": RULE}, run_id="t")
    assert v.on_book("BTC", BIDS, ASKS, 0.0) == []
    return v


def order(cid: str, side: Side, amount: str, price: str, *, order_type: OrderType = OrderType.LIMIT,
          tif: TimeInForce = TimeInForce.GTC) -> InFlightOrder:
    return InFlightOrder(client_order_id=cid, pair="BTC", side=side, order_type=order_type, amount=D(amount),
                         price=D(price), tif=tif, position_action=PositionAction.OPEN, created_at=0.0,
                         last_update=0.0)


def fills(reports: list[object]) -> list[tuple[Decimal, Decimal, bool]]:
    return [(r.fill_price, r.fill_amount, r.is_taker) for r in reports if isinstance(r, TradeUpdate)]


def test_a_taker_walks_the_book_level_by_level_up_to_its_limit_and_displayed_size() -> None:
    v = venue()
    reports = v.place(order("a", Side.BUY, "5", "100020", tif=TimeInForce.IOC), 1.0)
    assert fills(reports) == [(D(100010), D(1), True), (D(100020), D(2), True)]
    assert isinstance(reports[-1], OrderUpdate) and reports[-1].new_state is OrderState.CANCELED
    assert reports[-1].executed == D(3)
    fee = [r.fee for r in reports if isinstance(r, TradeUpdate)]
    assert fee == [D(100010) * D("0.0005"), D(100020) * 2 * D("0.0005")]
    # the liquidity it took stays taken until the next snapshot: a second IOC finds nothing, and is refused
    again = v.place(order("b", Side.BUY, "1", "100020", tif=TimeInForce.IOC), 1.0)
    assert len(again) == 1 and isinstance(again[0], OrderUpdate) and again[0].new_state is OrderState.FAILED
    v.on_book("BTC", BIDS, ASKS, 2.0)
    assert fills(v.place(order("c", Side.BUY, "1", "100010", tif=TimeInForce.IOC), 2.0)) == [(D(100010), D(1), True)]


def test_a_resting_order_queues_behind_the_displayed_size_at_its_price() -> None:
    v = venue()
    reports = v.place(order("a", Side.BUY, "1", "99990"), 0.0)
    assert [type(r) for r in reports] == [OrderUpdate] and v.queue_ahead("a") == D(2)
    assert v.on_trade("BTC", Side.SELL, D(99990), D("1.5"), 1.0) == []  # the queue ahead takes it
    assert v.queue_ahead("a") == D("0.5")
    partial = v.on_trade("BTC", Side.SELL, D(99990), D(1), 2.0)  # 0.5 ahead, then 0.5 for us
    assert fills(partial) == [(D(99990), D("0.5"), False)]
    assert partial[0].fee == D(99990) * D("0.5") * D("-0.0001")  # a maker rebate
    rest = v.on_trade("BTC", Side.SELL, D(99990), D(5), 3.0)  # never more than the order's rest
    assert fills(rest) == [(D(99990), D("0.5"), False)] and not v.is_resting("a")


def test_trades_on_our_side_do_not_fill_and_a_better_priced_order_is_filled_first() -> None:
    v = venue()
    v.place(order("front", Side.BUY, "1", "100000"), 0.0)  # a new level inside the spread: first in line
    v.place(order("back", Side.BUY, "1", "99990"), 0.0)
    assert v.on_trade("BTC", Side.BUY, D(99990), D(5), 1.0) == []  # a buyer's trade fills no buy
    reports = v.on_trade("BTC", Side.SELL, D(99990), D("2.5"), 1.0)
    # the seller reaches our better bid first (at our price), then the 2 displayed ahead of "back" at 99990
    assert [(r.client_order_id, r.fill_price, r.fill_amount) for r in reports if isinstance(r, TradeUpdate)] == [
        ("front", D(100000), D(1))]
    assert v.queue_ahead("back") == D("0.5")


def test_a_snapshot_shrinks_the_queue_and_a_trade_through_fills_the_rest() -> None:
    v = venue()
    v.place(order("a", Side.SELL, "2", "100010"), 0.0)
    assert v.queue_ahead("a") == D(1)
    assert v.on_book("BTC", BIDS, [BookLevel(D(100010), D("0.25")), *ASKS[1:]], 1.0) == []
    assert v.queue_ahead("a") == D("0.25")
    crossed = v.on_book("BTC", [BookLevel(D(100015), D(1))], [BookLevel(D(100030), D(1))], 2.0)
    assert fills(crossed) == [(D(100010), D(2), False)] and not v.is_resting("a")


def test_post_only_refusals_cancels_and_modifies() -> None:
    v = venue()
    refused = v.place(order("a", Side.BUY, "1", "100010", order_type=OrderType.LIMIT_MAKER,
                            tif=TimeInForce.ALO), 0.0)
    assert isinstance(refused[0], OrderUpdate) and refused[0].new_state is OrderState.FAILED
    assert "Post only" in (refused[0].reason or "")
    v.place(order("b", Side.BUY, "1", "99900", order_type=OrderType.LIMIT_MAKER, tif=TimeInForce.ALO), 0.0)
    assert isinstance(v.modify("b", D(100010), D(1), 1.0)[0], ModifyRefused)  # would take: refused, rests as was
    moved = v.modify("b", D(99990), D(2), 1.0)
    assert isinstance(moved[0], OrderUpdate) and moved[0].price == D(99990) and moved[0].amount == D(2)
    assert v.queue_ahead("b") == D(2)  # re-queued at the back of its new level
    assert isinstance(v.cancel("b", 2.0)[0], OrderUpdate)
    assert isinstance(v.cancel("b", 2.0)[0], CancelRefused)
    small = v.place(order("c", Side.BUY, "0.0001", "99000"), 0.0)
    assert small[0].new_state is OrderState.FAILED and "minimum value" in (small[0].reason or "")  # type: ignore[union-attr]


# ============================================================================================ the connector


async def test_requests_take_the_configured_latency_on_the_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    source = ManualSource()
    source.push_book("BTC", [(D(99990), D(2))], [(D(100010), D(1))])
    async with open_paper_connector(source, {"BTC": RULE}, fill_model=FillModel(latency_s=0.25), seed=1) as conn:
        events = conn.events()
        sent = trio.current_time()
        cid = conn.buy(OrderParams("BTC", D("0.002"), D(100000)))
        await next_event(events, OrderCreated, client_order_id=cid)
        assert trio.current_time() - sent == pytest.approx(0.25)
        source.push_trade("BTC", Side.SELL, D(100000), D("0.001"))
        await next_event(events, OrderPartiallyFilled, client_order_id=cid)
        market = conn.buy(OrderParams("BTC", D("0.001"), order_type=OrderType.MARKET))
        filled = await next_event(events, OrderFilled, client_order_id=market)
        assert isinstance(filled, OrderFilled) and filled.trade is not None and filled.trade.fill_price == D(100010)
        assert conn.position("BTC") == D("0.002")
        balances = await conn.balances()
        assert balances["USDC"].available == D(100_000) - conn.fees
        assert conn.health().ack_latency_p50_ms == pytest.approx(250.0)


def test_a_recorded_capture_skips_bad_lines_and_reads_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "cap.jsonl"
    book = {"coin": "BTC", "time": 1000, "levels": [[{"px": "99990", "sz": "1", "n": 1}],
                                                   [{"px": "100010", "sz": "2", "n": 1}]]}
    trade = [{"coin": "BTC", "side": "A", "px": "99990", "sz": "0.5", "time": 1500, "tid": 7, "hash": "0x0"}]
    lines = [json.dumps({"channel": "trio_hl.rules", "data": {"BTC": {"size_step": "0.001", "min_notional": "10",
                                                                     "max_price_sig_figs": 5}}}),
             json.dumps({"channel": "l2Book", "data": book}), "{torn", json.dumps({"channel": "pong"}),
             json.dumps({"channel": "l2Book", "data": {"coin": "BTC"}}),
             json.dumps({"channel": "trades", "data": trade})]
    path.write_text("\n".join(lines) + "\n")
    source = RecordedSource(path)
    frames = list(source.frames())
    assert [type(f).__name__ for f in frames] == ["BookFrame", "TradeFrame"]
    assert frames[0].timestamp == 1.0 and frames[1].trade.side is Side.SELL  # type: ignore[union-attr]
    assert source.malformed == 2
    assert read_rules(path)["BTC"].size_step == D("0.001")


async def test_demo_paper_trades_on_live_emulator_data_and_sends_no_order(tmp_path: Path) -> None:
    from trio_hl.demo import DemoOptions, run_demo
    from trio_hl.emulator import open_emulator
    from trio_hl.hyperliquid.signing import LocalSigner

    signer = LocalSigner.generate()
    fast = {"engine_options": {"market_options": {"move_interval_ms": 200, "take_interval_ms": 300}}}
    async with open_emulator(seed=5, **fast) as emu:
        opts = DemoOptions(duration=3.0, ui=False, zmq=None, base_url=emu.url,
                           private_key=signer.export_private_key_hex(), paper=True, paper_latency_s=0.01)
        with trio.fail_after(30):
            summary = await run_demo(opts, out=io.StringIO())
        truth = emu.engine.ground_truth(signer.address)
    assert summary.venue.startswith("paper trading on ") and summary.clean_shutdown
    assert summary.orders_placed > 0 and summary.open_orders_left == 0 and summary.venue_open_orders == 0
    assert truth["orders"] == [] and truth["fills"] == []  # nothing reached the venue


async def test_a_restart_sends_what_never_reached_the_simulated_venue(autojump_clock: trio.testing.MockClock,
                                                                      tmp_path: Path) -> None:
    """The journal keeps an order the process placed but never sent (1 s latency, closed at once) and a cancel
    asked for but never sent: the restarted paper connector sends both, so the order is created, then cancelled."""
    journal = tmp_path / "paper.sqlite"

    def market() -> ManualSource:
        source = ManualSource()
        source.push_book("BTC", [(D(99990), D(2))], [(D(100010), D(1))])
        return source

    model = FillModel(latency_s=1.0)
    async with open_paper_connector(market(), {"BTC": RULE}, fill_model=model, journal_path=journal, seed=1) as conn:
        events = conn.events()
        resting = conn.buy(OrderParams("BTC", D("0.001"), D(99000)))
        await next_event(events, OrderCreated, client_order_id=resting)
        unsent = conn.buy(OrderParams("BTC", D("0.001"), D(99100)))
        assert conn.cancel("BTC", resting)  # leaves with the process, unsent
    async with open_paper_connector(market(), {"BTC": RULE}, fill_model=model, journal_path=journal, seed=2) as conn:
        events = conn.events()
        assert conn.get_order(unsent).state is OrderState.PENDING_CREATE  # type: ignore[union-attr]
        assert conn.get_order(resting).state is OrderState.PENDING_CANCEL  # type: ignore[union-attr]
        seen: set[tuple[str, str]] = set()
        with trio.fail_after(10):
            async for event in events:
                seen.add((type(event).__name__, event.client_order_id))
                if {("OrderCreated", unsent), ("OrderCancelled", resting)} <= seen:
                    break
        assert [o.client_order_id for o in conn.open_orders()] == [unsent]


# ============================================================================================ review (rev19)


def test_two_of_our_orders_at_one_price_share_the_queue_ahead_of_them() -> None:
    """Our orders at one level queue behind the same displayed size: a print that eats that size and both our
    orders fills both (the queue ahead of the second is not consumed a second time)."""
    v = venue()
    v.place(order("a", Side.BUY, "1", "99990"), 0.0)
    v.place(order("b", Side.BUY, "1", "99990"), 0.0)
    assert v.queue_ahead("a") == v.queue_ahead("b") == D(2)
    small = v.on_trade("BTC", Side.SELL, D(99990), D("1.5"), 1.0)
    assert small == [] and v.queue_ahead("a") == v.queue_ahead("b") == D("0.5")  # both were behind those 1.5
    reports = v.on_trade("BTC", Side.SELL, D(99990), D("2.5"), 2.0)  # 0.5 ahead, then a's 1, then b's 1
    assert [(r.client_order_id, r.fill_amount) for r in reports if isinstance(r, TradeUpdate)] == [
        ("a", D(1)), ("b", D(1))]
    assert not v.is_resting("a") and not v.is_resting("b")


def test_an_order_deeper_than_the_displayed_book_keeps_its_queue() -> None:
    """A snapshot shows a limited depth: an order priced beyond its side's last displayed level is not known to
    have lost the size ahead of it, so its queue does not shrink to nothing."""
    v = SimVenue(MODEL, {"BTC": RULE}, run_id="t")
    v.on_book("BTC", [BookLevel(D(99990), D(2)), BookLevel(D(99900), D(3))], ASKS, 0.0)
    v.place(order("deep", Side.BUY, "1", "99900"), 0.0)
    assert v.queue_ahead("deep") == D(3)
    v.on_book("BTC", [BookLevel(D(99990), D(2)), BookLevel(D(99950), D(3))], ASKS, 1.0)  # 99900 now off-screen
    assert v.queue_ahead("deep") == D(3)
    v.on_book("BTC", [BookLevel(D(99990), D(2)), BookLevel(D(99900), D(1))], ASKS, 2.0)  # back in view: 1 left
    assert v.queue_ahead("deep") == D(1)


def test_a_restored_order_rests_at_the_back_of_its_level() -> None:
    """An order a restarted connector restores (before any book arrived) joins the back of its level's queue
    once the first snapshot shows that level, not its front."""
    v = SimVenue(MODEL, {"BTC": RULE}, run_id="t")
    restored = order("r", Side.BUY, "1", "99990")
    restored.exchange_order_id = "old-1"
    v.restore(restored)
    v.on_book("BTC", BIDS, ASKS, 0.0)
    assert v.queue_ahead("r") == D(2)
    assert v.on_trade("BTC", Side.SELL, D(99990), D(1), 1.0) == []  # the 2 shown ahead of it trade first


async def test_a_seeded_paper_connector_restarted_on_its_journal_never_reuses_an_id(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    """A deterministic (seeded) paper connector restarted on its journal with the same seed: new client order
    ids, venue order ids and trade ids do not collide with the ones the journal restored (a reused client id
    made ``buy()`` refuse, a reused trade id on a restored order showed up as a fill collision)."""
    from trio_hl.core.events import OrderAnomaly

    journal = tmp_path / "paper.sqlite"

    def market() -> ManualSource:
        source = ManualSource()
        source.push_book("BTC", [(D(99990), D(2))], [(D(100010), D(1))])
        return source

    first_source = market()
    async with open_paper_connector(first_source, {"BTC": RULE}, journal_path=journal, seed=7) as conn:
        events = conn.events()
        first = conn.buy(OrderParams("BTC", D("0.003"), D(100000)))
        created = await next_event(events, OrderCreated, client_order_id=first)
        first_source.push_trade("BTC", Side.SELL, D(100000), D("0.001"))
        partial = await next_event(events, OrderPartiallyFilled, client_order_id=first)
        assert isinstance(created, OrderCreated) and isinstance(partial, OrderPartiallyFilled)
    second_source = market()
    async with open_paper_connector(second_source, {"BTC": RULE}, journal_path=journal, seed=7) as conn:
        events = conn.events()
        second = conn.buy(OrderParams("BTC", D("0.001"), D(99000)))
        assert second != first
        created2 = await next_event(events, OrderCreated, client_order_id=second)
        assert isinstance(created2, OrderCreated) and created2.exchange_order_id != created.exchange_order_id
        second_source.push_trade("BTC", Side.SELL, D(100000), D("0.001"))
        seen = []
        with trio.fail_after(10):
            async for event in events:
                seen.append(event)
                if isinstance(event, OrderPartiallyFilled) and event.client_order_id == first:
                    break
        assert not [e for e in seen if isinstance(e, OrderAnomaly)]
        assert seen[-1].trade.trade_id != partial.trade.trade_id  # type: ignore[attr-defined]
        assert conn.get_order(first).executed_amount == D("0.002")  # type: ignore[union-attr]


def test_a_reduce_only_order_never_grows_the_position() -> None:
    """Reduce-only, as Hyperliquid enforces it: refused when there is nothing to reduce, a taker clipped to the
    position, a resting one filled only up to the position and then cancelled (``reduceOnlyCanceled``).  The
    risk manager lets reduce-only orders past ``max_position`` because the venue clips them: the paper venue
    must too."""
    v = venue()
    refused = v.place(order("r0", Side.SELL, "1", "99990", tif=TimeInForce.IOC) | _reduce, 0.0)
    assert [(type(r), getattr(r, "new_state", None)) for r in refused] == [(OrderUpdate, OrderState.FAILED)]
    assert "Reduce only" in (refused[0].reason or "")  # type: ignore[union-attr]
    assert fills(v.place(order("long", Side.BUY, "1", "100010", tif=TimeInForce.IOC), 1.0)) == [
        (D(100010), D(1), True)]
    clipped = v.place(order("r1", Side.SELL, "2", "99980", tif=TimeInForce.IOC) | _reduce, 2.0)
    assert fills(clipped) == [(D(99990), D(1), True)]  # 1 to reduce, though 2 are bid at 99990
    assert isinstance(clipped[-1], OrderUpdate) and clipped[-1].new_state is OrderState.CANCELED
    v.on_book("BTC", BIDS, ASKS, 3.0)
    v.place(order("long2", Side.BUY, "1", "100010", tif=TimeInForce.IOC), 3.0)
    v.place(order("r2", Side.SELL, "3", "100050") | _reduce, 4.0)  # rests, 1 to reduce
    reports = v.on_trade("BTC", Side.BUY, D(100050), D(5), 5.0)
    assert fills(reports) == [(D(100050), D(1), False)]
    assert isinstance(reports[-1], OrderUpdate) and reports[-1].new_state is OrderState.CANCELED
    assert not v.is_resting("r2")


class _Reduce:
    def __ror__(self, o: InFlightOrder) -> InFlightOrder:
        o.position_action = PositionAction.CLOSE
        return o


_reduce = _Reduce()


async def test_reduce_only_orders_on_the_paper_connector_stop_at_flat(autojump_clock: trio.testing.MockClock) -> None:
    from trio_hl.core.risk import PairLimits, RiskLimits

    source = ManualSource()
    source.push_book("BTC", [(D(99990), D(5))], [(D(100010), D(5))])
    limits = RiskLimits(PairLimits(max_position=D("0.01")))
    async with open_paper_connector(source, {"BTC": RULE}, risk=limits, seed=1) as conn:
        events = conn.events()
        long = conn.buy(OrderParams("BTC", D("0.01"), D(100010), tif=TimeInForce.IOC))
        await next_event(events, OrderFilled, client_order_id=long)
        close = conn.sell(OrderParams("BTC", D("0.05"), D(99990), tif=TimeInForce.IOC,
                                      position_action=PositionAction.CLOSE))
        await next_event(events, (OrderFilled, OrderCancelled, OrderFailed), client_order_id=close)
        assert conn.position("BTC") == 0  # was -0.04: short past max_position through a "reduce-only" order
        again = conn.sell(OrderParams("BTC", D("0.05"), D(99990), tif=TimeInForce.IOC,
                                      position_action=PositionAction.CLOSE))
        failed = await next_event(events, (OrderFilled, OrderCancelled, OrderFailed), client_order_id=again)
        assert isinstance(failed, OrderFailed) and conn.position("BTC") == 0


def test_a_taker_cancels_only_the_own_orders_its_walk_reaches() -> None:
    """Self-trade prevention follows the walk: our resting sell at 100015 is not reached by a buy that the 100010
    level fills, and is cancelled (never traded with) by one that walks past it."""
    v = venue()
    v.place(order("mine", Side.SELL, "1", "100015"), 0.0)
    small = v.place(order("t1", Side.BUY, "0.5", "100020", tif=TimeInForce.IOC), 1.0)
    assert fills(small) == [(D(100010), D("0.5"), True)] and v.is_resting("mine")
    big = v.place(order("t2", Side.BUY, "1", "100020", tif=TimeInForce.IOC), 2.0)
    assert [(type(r).__name__, r.client_order_id) for r in big] == [
        ("TradeUpdate", "t2"), ("OrderUpdate", "mine"), ("TradeUpdate", "t2")]
    assert big[1].venue_status == "selfTradeCanceled" and not v.is_resting("mine")  # type: ignore[union-attr]
    assert fills(big) == [(D(100010), D("0.5"), True), (D(100020), D("0.5"), True)]


async def test_book_ages_are_seconds_since_the_snapshot_and_an_older_snapshot_is_ignored(
        autojump_clock: trio.testing.MockClock) -> None:
    """``health().book_ages`` of a live paper connector is the time since the last snapshot (it was the paper
    clock's epoch seconds minus a Trio-clock timestamp: ~1.8e9 s on a ManualSource); a snapshot older than the
    book holds is refused by the book *and* the simulated venue (the venue filled against a book nobody saw)."""
    source = ManualSource()
    source.push_book("BTC", [(D(99990), D(2))], [(D(100010), D(1))], timestamp=10.0)
    async with open_paper_connector(source, {"BTC": RULE}, seed=1) as conn:
        events = conn.events()
        await trio.sleep(2)
        age = conn.health().book_ages["BTC"]
        assert age is not None and 1.9 < age < 2.1
        cid = conn.buy(OrderParams("BTC", D("0.001"), D(100000)))
        await next_event(events, OrderCreated, client_order_id=cid)
        source.push_book("BTC", [(D(98000), D(2))], [(D(99000), D(1))], timestamp=5.0)  # older: crosses our bid
        source.push_book("BTC", [(D(99990), D(2))], [(D(100010), D(1))], timestamp=11.0)
        await trio.sleep(1)
        assert conn.book("BTC").timestamp == 11.0
        assert conn.get_order(cid).state is OrderState.OPEN and conn.position("BTC") == 0  # type: ignore[union-attr]
