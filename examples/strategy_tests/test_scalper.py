"""Testing a user strategy with ``trio_hl.testing`` (the worked example from the README).

Two kinds of test, both only against public APIs:

- against the emulator (``hl_emulator`` / ``hl_connector`` fixtures from the trio-hl pytest plugin): the entry
  is filled *while the WebSocket is down*; the connector's reconnect + REST gap-fill must still deliver that
  fill, and the strategy must still exit exactly once;
- a fuzz test: Hypothesis draws any truthful venue history for the entry order, delivered reordered and with
  duplicates (``order_lifecycles``); the tracker turns it into events and the strategy must offer back exactly
  what it bought - never more, never twice.  (It found two bugs in the first version of the strategy; see
  scalper.py.)

Run with ``pytest examples/strategy_tests`` (pytest-trio in trio mode, as in this project's pyproject.toml).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
from hypothesis import given, settings
from scalper import Scalper

from trio_hl import HyperliquidConnector, OrderCreated, OrderFilled, OrderParams, TradeUpdate
from trio_hl.core.tracker import OrderTracker
from trio_hl.emulator import Emulator
from trio_hl.testing.events import next_event
from trio_hl.testing.strategies import Lifecycle, order_lifecycles

D = Decimal


@pytest.mark.hl_emulator(quiet=True)  # a market that does not move: prices in the test are exact
@pytest.mark.hl_connector(pairs=("BTC",))
async def test_round_trip_survives_a_websocket_drop(hl_emulator: Emulator, hl_connector: HyperliquidConnector) -> None:
    watch = hl_connector.events()  # the test's own subscription; the strategy gets another
    mid = hl_connector.mid("BTC")
    assert mid is not None
    book = hl_connector.book("BTC")
    assert book.best_bid is not None
    # 1 bp from the mid is inside the emulator's 4 bp spread: our bid is alone at the top of the book.
    scalper = Scalper(hl_connector, "BTC", size=D("0.002"), edge_bps=D(1), tick=D(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scalper.run, hl_connector.events(), mid)
        await next_event(watch, OrderCreated)  # (any order: the strategy has not told us its id yet)
        entry = scalper.entry
        assert entry is not None and scalper.entry_price > book.best_bid.price

        hl_emulator.drop_ws_connections()  # the connector must reconnect, resubscribe and gap-fill
        assert hl_emulator.trade("BTC", False, scalper.entry_price, D("0.002")) == D("0.002")  # fills our bid

        await next_event(watch, OrderFilled, client_order_id=entry)
        created = await next_event(watch, OrderCreated)  # the strategy reacted: its exit is on the book
        exit_cid = scalper.exit
        assert exit_cid == created.client_order_id and scalper.offered == D("0.002")
        exit_price = hl_connector.get_order(exit_cid).price  # type: ignore[union-attr]
        assert exit_price is not None and exit_price > scalper.entry_price  # the edge is kept
        hl_emulator.trade("BTC", True, exit_price, D("0.002"))
        with trio.fail_after(20):
            await scalper.done.wait()

    truth = hl_emulator.engine.ground_truth(hl_connector.user)
    assert [(o["cloid"], o["status"]) for o in truth["orders"]] == [(entry, "filled"), (exit_cid, "filled")]
    assert truth["positions"] == {}  # flat: bought 0.002, sold 0.002
    assert hl_connector.health().ws_reconnects >= 1


class RecordingVenue:
    """A fake venue for the fuzz test: remembers what the strategy asked for."""

    def __init__(self, entry_cid: str) -> None:
        self.entry_cid = entry_cid
        self.sells: list[OrderParams] = []

    def buy(self, params: OrderParams) -> str:
        return self.entry_cid

    def sell(self, params: OrderParams) -> str:
        self.sells.append(params)
        return f"exit-{len(self.sells)}"


@settings(max_examples=200, deadline=None)
@given(order_lifecycles(pair="BTC"))
def test_any_venue_history_offers_back_exactly_what_was_bought(life: Lifecycle) -> None:
    venue = RecordingVenue(life.order.client_order_id)
    scalper = Scalper(venue, "BTC", size=life.order.amount, edge_bps=D(2), tick=D("0.01"))
    scalper.enter(life.order.price or D(100))
    tracker = OrderTracker(clock=lambda: 0.0, fill_wait_timeout=5.0)
    events = tracker.start_tracking(life.order)
    for message in life.messages:  # reordered, some duplicated, some carrying only the exchange id
        if isinstance(message, TradeUpdate):
            events += tracker.process_trade_update(message)
        else:
            events += tracker.process_order_update(message)
    events += tracker.poll(100.0)  # a FILLED status waiting for its fills gives up after fill_wait_timeout
    for event in events:
        scalper.on_event(event)

    offered = sum((s.amount for s in venue.sells), D(0))
    if life.final.is_terminal:
        assert offered == life.executed  # everything bought, nothing more, however the messages arrived
    else:
        assert venue.sells == []  # still open: it waits for the terminal event
    assert all(s.price is not None and s.price > scalper.entry_price for s in venue.sells)
