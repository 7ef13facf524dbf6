"""One conformance suite for every :class:`~trio_hl.core.connector.Connector`: the protocol's contract, as tests.

Use it for your own connector: implement a :class:`ConformanceHarness` (how to open your connector, how another
market participant trades against a resting order) and subclass :class:`ConnectorConformance` in a test module
with a ``conformance_harness`` fixture returning it::

    class TestMyConnectorConformance(ConnectorConformance):
        @pytest.fixture
        def conformance_harness(self, my_venue) -> ConformanceHarness:
            return MyHarness(my_venue)

pytest collects every ``test_conformance_*`` method (they are Trio tests: ``pytest-trio`` runs them).  What is
checked: the lifecycle (create -> partial fill -> fill, cancel, modify, a venue refusal), per-order event
ordering (created first, exactly one terminal event, nothing but late fills after it), ``cancel_all``, risk limits
and the kill switch refusing at the call with nothing tracked, and a restart restoring live orders from the
journal.  trio-hl runs it for ``HyperliquidConnector`` on the emulator (``trio_hl.testing.emulator_harness``)
and for ``PaperConnector`` (:class:`PaperHarness`), see ``tests/test_conformance.py``.

The harness places orders at the *front* of the book - inside the spread, on a price level of their own - so a
trade by another participant at that price reaches them first on any venue.  It needs a market whose spread is at
least two price ticks wide and quiet for the length of a test (the emulator's ``quiet=True``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest
import trio

from trio_hl.core.connector import Connector
from trio_hl.core.events import (
    Event,
    LateFill,
    OrderAnomaly,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderModified,
    OrderPartiallyFilled,
)
from trio_hl.core.quantize import round_price
from trio_hl.core.risk import PairLimits, RiskLimits
from trio_hl.core.types import OrderParams, OrderState, OrderType, Side
from trio_hl.errors import InvalidOrderError, RiskLimitError, UnknownOrderError

if TYPE_CHECKING:
    from trio_hl.paper import ManualSource

__all__ = ["ConformanceHarness", "ConnectorConformance", "PaperHarness", "front_price", "order_history"]

D = Decimal
_TERMINAL = (OrderFilled, OrderCancelled, OrderFailed)
_SIZE = D("0.001")
_MID = D(100_000)


class ConformanceHarness(Protocol):
    """What the suite needs from one connector implementation and its market."""

    #: A pair with a quiet two-sided book.
    pair: str
    #: An order size (base units) whose value clears the venue's minimum at the pair's price.
    size: Decimal

    def open(self, *, journal_path: Path | None = None,
             risk: RiskLimits | None = None) -> AbstractAsyncContextManager[Connector]:
        """A running connector for the harness's account (the same account every time: a restart test opens it
        twice with one ``journal_path``)."""
        ...

    async def trade_against(self, conn: Connector, taker_side: Side, price: Decimal, amount: Decimal) -> None:
        """Another participant sends a taker order of ``amount`` at ``price`` now (``taker_side`` is theirs)."""
        ...


def front_price(conn: Connector, pair: str, side: Side) -> Decimal:
    """A price inside the spread one tick off our side's best, rounded passively: it rests, alone at its level,
    at the front of the book.  Fails the test if the spread has no room."""
    book = conn.book(pair)
    bid, ask = book.best_bid, book.best_ask
    assert bid is not None and ask is not None, f"{pair}: the conformance suite needs a two-sided book"
    rule = conn.trading_rule(pair)
    price = round_price((bid.price + ask.price) / 2, rule, side=side)
    assert bid.price < price < ask.price, f"{pair}: the spread {bid.price}..{ask.price} has no room for a price"
    return price


def order_history(events: Sequence[Event], cid: str) -> list[type[Event]]:
    """The kinds of the events about ``cid``, in order (health events and other orders' events left out)."""
    return [type(e) for e in events if getattr(e, "client_order_id", None) == cid]


async def _collect_until(events: trio.MemoryReceiveChannel[Event], seen: list[Event], kind: type[Event],
                         cid: str, fail_after_s: float = 15.0) -> Event:
    with trio.fail_after(fail_after_s):
        async for event in events:
            seen.append(event)
            if isinstance(event, kind) and event.client_order_id == cid:
                return event
    raise AssertionError(f"the event channel ended before {kind.__name__} for {cid}")


def _check_ordering(history: list[type[Event]]) -> None:
    """Per order: created (or a refusal) first, exactly one terminal event, only late fills/anomalies after it."""
    assert history, "no event at all"
    assert history[0] in (OrderCreated, OrderFailed), history
    terminal = [i for i, kind in enumerate(history) if kind in _TERMINAL]
    assert len(terminal) == 1, history
    assert all(kind in (LateFill, OrderAnomaly) for kind in history[terminal[0] + 1:]), history


class ConnectorConformance:
    """The suite (module doc).  Subclass it and provide the ``conformance_harness`` fixture."""

    @pytest.fixture
    def conformance_harness(self) -> ConformanceHarness:
        raise NotImplementedError("provide a conformance_harness fixture in your subclass (see the module doc)")

    @pytest.mark.trio
    async def test_conformance_is_a_connector_with_rules_and_a_book(self, conformance_harness: ConformanceHarness,
                                                                    ) -> None:
        h = conformance_harness
        async with h.open() as conn:
            assert isinstance(conn, Connector)
            rule = conn.trading_rule(h.pair)
            assert rule.size_step > 0 and h.size % rule.size_step == 0
            with pytest.raises(InvalidOrderError):
                conn.trading_rule("NO-SUCH-PAIR")
            assert conn.mid(h.pair) is not None and conn.health().trading_ready
            a, b = conn.new_client_order_id(), conn.new_client_order_id()
            assert a != b and conn.get_order(a) is None

    @pytest.mark.trio
    async def test_conformance_lifecycle_create_partial_fill(self, conformance_harness: ConformanceHarness) -> None:
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            price = front_price(conn, h.pair, Side.BUY)
            cid = conn.buy(OrderParams(h.pair, h.size * 2, price))
            assert conn.get_order(cid) is not None
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, cid)
            await h.trade_against(conn, Side.SELL, price, h.size)
            partial = await _collect_until(events, seen, OrderPartiallyFilled, cid)
            assert isinstance(partial, OrderPartiallyFilled)
            assert partial.executed_amount == h.size and partial.trade.fill_price == price
            assert conn.get_order(cid).state is OrderState.PARTIALLY_FILLED  # type: ignore[union-attr]
            await h.trade_against(conn, Side.SELL, price, h.size)
            filled = await _collect_until(events, seen, OrderFilled, cid)
            assert isinstance(filled, OrderFilled) and filled.executed_amount == h.size * 2
            order = conn.get_order(cid)
            assert order is not None and order.state is OrderState.FILLED and order.average_price == price
            assert conn.position(h.pair) == h.size * 2 and conn.positions()[h.pair].size == h.size * 2
            assert cid not in {o.client_order_id for o in conn.open_orders()}
            _check_ordering(order_history(seen, cid))
            assert order_history(seen, cid)[:3] == [OrderCreated, OrderPartiallyFilled, OrderFilled]
            venue = await conn.query_order(cid)  # the venue's own view agrees
            assert venue is not None and venue.state is OrderState.FILLED and venue.filled == h.size * 2

    @pytest.mark.trio
    async def test_conformance_partial_fill_then_cancel(self, conformance_harness: ConformanceHarness) -> None:
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            price = front_price(conn, h.pair, Side.SELL)
            cid = conn.sell(OrderParams(h.pair, h.size * 3, price))
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, cid)
            await h.trade_against(conn, Side.BUY, price, h.size)
            await _collect_until(events, seen, OrderPartiallyFilled, cid)
            assert conn.cancel(h.pair, cid)
            cancelled = await _collect_until(events, seen, OrderCancelled, cid)
            assert isinstance(cancelled, OrderCancelled) and cancelled.executed_amount == h.size
            assert conn.position(h.pair) == -h.size
            assert order_history(seen, cid) == [OrderCreated, OrderPartiallyFilled, OrderCancelled]
            venue = await conn.query_order(cid)
            assert venue is not None and venue.state is OrderState.CANCELED and venue.filled == h.size

    @pytest.mark.trio
    async def test_conformance_market_order_takes_the_best_price(self, conformance_harness: ConformanceHarness,
                                                                  ) -> None:
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            ask = conn.book(h.pair).best_ask
            assert ask is not None and ask.size >= h.size
            cid = conn.buy(OrderParams(h.pair, h.size, order_type=OrderType.MARKET))
            seen: list[Event] = []
            filled = await _collect_until(events, seen, OrderFilled, cid)
            assert isinstance(filled, OrderFilled) and filled.trade is not None
            assert filled.trade.is_taker and filled.trade.fill_price == ask.price
            assert conn.position(h.pair) == h.size
            _check_ordering(order_history(seen, cid))

    @pytest.mark.trio
    async def test_conformance_cancel(self, conformance_harness: ConformanceHarness) -> None:
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            cid = conn.sell(OrderParams(h.pair, h.size, front_price(conn, h.pair, Side.SELL)))
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, cid)
            assert conn.cancel(h.pair, cid) is True
            await _collect_until(events, seen, OrderCancelled, cid)
            assert conn.get_order(cid).state is OrderState.CANCELED  # type: ignore[union-attr]
            assert conn.cancel(h.pair, cid) is False  # terminal: nothing to cancel
            with pytest.raises(UnknownOrderError):  # the caller's mistake: raised at the call, nothing sent
                conn.cancel(h.pair, conn.new_client_order_id())
            with pytest.raises(InvalidOrderError, match="it is an order on"):
                conn.cancel(h.pair + "-OTHER", cid)  # not the order's pair
            assert order_history(seen, cid) == [OrderCreated, OrderCancelled]
            assert await conn.query_order(conn.new_client_order_id()) is None

    @pytest.mark.trio
    async def test_conformance_cancel_before_the_acknowledgement(self, conformance_harness: ConformanceHarness,
                                                                 ) -> None:
        """A cancel asked for in the same tick as the order (before the venue acknowledged it) is not lost and
        does not overtake the order: created, then cancelled.  A modify that early raises (not acknowledged)."""
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            cid = conn.buy(OrderParams(h.pair, h.size, front_price(conn, h.pair, Side.BUY)))
            with pytest.raises(InvalidOrderError):
                conn.modify(cid, amount=h.size * 2)
            assert conn.cancel(h.pair, cid) is True
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCancelled, cid)
            assert order_history(seen, cid) == [OrderCreated, OrderCancelled]
            order = conn.get_order(cid)
            assert order is not None and order.state is OrderState.CANCELED and order.executed_amount == 0

    @pytest.mark.trio
    async def test_conformance_modify(self, conformance_harness: ConformanceHarness) -> None:
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            price = front_price(conn, h.pair, Side.BUY)
            cid = conn.buy(OrderParams(h.pair, h.size, price))
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, cid)
            rule = conn.trading_rule(h.pair)
            lower = round_price(price - price / 1000, rule, side=Side.BUY)
            conn.modify(cid, price=lower, amount=h.size * 2)
            modified = await _collect_until(events, seen, OrderModified, cid)
            assert isinstance(modified, OrderModified) and modified.price == lower and modified.amount == h.size * 2
            order = conn.get_order(cid)
            assert order is not None and order.price == lower and order.amount == h.size * 2 and order.state.is_open
            conn.cancel(h.pair, cid)
            await _collect_until(events, seen, OrderCancelled, cid)
            with pytest.raises(InvalidOrderError):
                conn.modify(cid, price=price)  # no longer live
            _check_ordering(order_history(seen, cid))

    @pytest.mark.trio
    async def test_conformance_reject(self, conformance_harness: ConformanceHarness) -> None:
        """A post-only order that would take is refused by the venue (``OrderFailed``, no ``OrderCreated``);
        invalid parameters raise at the call with nothing tracked."""
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            ask = conn.book(h.pair).best_ask
            assert ask is not None
            cid = conn.buy(OrderParams(h.pair, h.size, ask.price, order_type=OrderType.LIMIT_MAKER))
            seen: list[Event] = []
            failed = await _collect_until(events, seen, OrderFailed, cid)
            assert isinstance(failed, OrderFailed) and failed.reason
            assert order_history(seen, cid) == [OrderFailed]
            assert conn.get_order(cid).state is OrderState.FAILED  # type: ignore[union-attr]
            before = len(conn.open_orders())
            with pytest.raises(InvalidOrderError):
                conn.buy(OrderParams("NO-SUCH-PAIR", h.size, ask.price))
            taken = conn.new_client_order_id()
            conn.buy(OrderParams(h.pair, h.size, front_price(conn, h.pair, Side.BUY), client_order_id=taken))
            with pytest.raises(InvalidOrderError):  # a duplicate client order id
                conn.buy(OrderParams(h.pair, h.size, front_price(conn, h.pair, Side.BUY), client_order_id=taken))
            assert len(conn.open_orders()) == before + 1
            conn.cancel_all()

    @pytest.mark.trio
    async def test_conformance_self_trade(self, conformance_harness: ConformanceHarness) -> None:
        """An order that crosses our own resting order never trades with it: a post-only one is refused, any
        other cancels the resting order (Hyperliquid: ``selfTradeCanceled``) and goes on against the market."""
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            price = front_price(conn, h.pair, Side.SELL)
            maker = conn.sell(OrderParams(h.pair, h.size, price))
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, maker)
            post_only = conn.buy(OrderParams(h.pair, h.size, price, order_type=OrderType.LIMIT_MAKER))
            await _collect_until(events, seen, OrderFailed, post_only)
            assert conn.get_order(maker).state is OrderState.OPEN  # type: ignore[union-attr]
            taker = conn.buy(OrderParams(h.pair, h.size, price))
            if not any(isinstance(e, OrderCancelled) and e.client_order_id == maker for e in seen):
                await _collect_until(events, seen, OrderCancelled, maker)
            if not any(isinstance(e, OrderCreated) and e.client_order_id == taker for e in seen):
                await _collect_until(events, seen, OrderCreated, taker)
            assert conn.position(h.pair) == 0
            assert not [e for e in seen if isinstance(e, OrderPartiallyFilled | OrderFilled)]
            order = conn.get_order(taker)
            assert order is not None and order.state is OrderState.OPEN and order.executed_amount == 0
            assert order_history(seen, maker) == [OrderCreated, OrderCancelled]
            conn.cancel(h.pair, taker)
            await _collect_until(events, seen, OrderCancelled, taker)

    @pytest.mark.trio
    async def test_conformance_event_ordering_and_cancel_all(self, conformance_harness: ConformanceHarness) -> None:
        h = conformance_harness
        async with h.open() as conn:
            events = conn.events()
            rule = conn.trading_rule(h.pair)
            top = front_price(conn, h.pair, Side.BUY)
            cids = []
            for i in range(3):
                price = round_price(top - top * i / 2000, rule, side=Side.BUY)
                cids.append(conn.buy(OrderParams(h.pair, h.size, price)))
            seen: list[Event] = []
            for cid in cids:
                if not any(isinstance(e, OrderCreated) and e.client_order_id == cid for e in seen):
                    await _collect_until(events, seen, OrderCreated, cid)
            assert conn.cancel_all(h.pair) == 3
            assert conn.cancel_all(h.pair) == 0  # each already has its cancel under way
            for cid in cids:
                if not any(isinstance(e, OrderCancelled) and e.client_order_id == cid for e in seen):
                    await _collect_until(events, seen, OrderCancelled, cid)
            for cid in cids:
                assert order_history(seen, cid) == [OrderCreated, OrderCancelled]
            assert [o for o in conn.open_orders() if o.client_order_id in cids] == []

    @pytest.mark.trio
    async def test_conformance_risk_limits_and_kill_switch(self, conformance_harness: ConformanceHarness) -> None:
        h = conformance_harness
        async with h.open(risk=RiskLimits(PairLimits(max_order_size=h.size * 2))) as conn:
            events = conn.events()
            price = front_price(conn, h.pair, Side.BUY)
            with pytest.raises(RiskLimitError):
                conn.buy(OrderParams(h.pair, h.size * 3, price))
            assert conn.open_orders() == []
            cid = conn.buy(OrderParams(h.pair, h.size, price))
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, cid)
            assert conn.kill("conformance") == 1
            await _collect_until(events, seen, OrderCancelled, cid)
            with pytest.raises(RiskLimitError):
                conn.buy(OrderParams(h.pair, h.size, price))
            conn.risk.release_kill_switch()
            again = conn.buy(OrderParams(h.pair, h.size, price))
            await _collect_until(events, seen, OrderCreated, again)
            conn.cancel(h.pair, again)
            await _collect_until(events, seen, OrderCancelled, again)

    @pytest.mark.trio
    async def test_conformance_restart_from_the_journal(self, conformance_harness: ConformanceHarness,
                                                         tmp_path: Path) -> None:
        h = conformance_harness
        journal = tmp_path / "journal.sqlite"
        async with h.open(journal_path=journal) as conn:
            events = conn.events()
            price = front_price(conn, h.pair, Side.BUY)
            cid = conn.buy(OrderParams(h.pair, h.size * 2, price))
            seen: list[Event] = []
            await _collect_until(events, seen, OrderCreated, cid)
            await h.trade_against(conn, Side.SELL, price, h.size)
            await _collect_until(events, seen, OrderPartiallyFilled, cid)
        async with h.open(journal_path=journal) as conn:
            order = conn.get_order(cid)
            assert order is not None and order.state.is_open and order.executed_amount == h.size
            assert order.price == price and cid in {o.client_order_id for o in conn.open_orders()}
            events = conn.events()
            seen = []
            # a new order after the restart gets ids of its own (none the journal restored)
            rule = conn.trading_rule(h.pair)
            fresh = conn.buy(OrderParams(h.pair, h.size, round_price(price - price / 1000, rule, side=Side.BUY)))
            assert fresh != cid
            created = await _collect_until(events, seen, OrderCreated, fresh)
            assert isinstance(created, OrderCreated) and created.exchange_order_id != order.exchange_order_id
            await h.trade_against(conn, Side.SELL, price, h.size)
            filled = await _collect_until(events, seen, OrderFilled, cid)
            assert not [e for e in seen if isinstance(e, OrderAnomaly)]  # the fill is new, not a collision
            assert isinstance(filled, OrderFilled) and filled.trade is not None
            order = conn.get_order(cid)
            assert order is not None and order.state is OrderState.FILLED and order.executed_amount == h.size * 2
            conn.cancel(h.pair, fresh)
            await _collect_until(events, seen, OrderCancelled, fresh)


# ============================================================================================ the paper harness


class PaperHarness:
    """The paper connector on a scripted, quiet market (a :class:`~trio_hl.paper.ManualSource` per opening,
    showing the same book): a "trade by another participant" is a public trade pushed on the source."""

    def __init__(self, pair: str = "BTC", size: Decimal = _SIZE, mid: Decimal = _MID, latency_s: float = 0.0,
                 ) -> None:
        from trio_hl.core.types import TradingRule

        self.pair = pair
        self.size = size
        self.mid = mid
        self.latency_s = latency_s
        self.rule = TradingRule(pair, size_step=D("0.00001"), min_size=D("0.00001"), min_notional=D(10),
                                max_price_decimals=1, max_price_sig_figs=5)
        self.sources: list[ManualSource] = []
        #: Every opening uses the same seed: a restarted connector must not reuse an id the journal restored even
        #: when its ids are deterministic (the restart test places a new order after the restart).
        self.seed = 1

    @asynccontextmanager
    async def open(self, *, journal_path: Path | None = None,
                   risk: RiskLimits | None = None) -> AsyncIterator[Connector]:
        from trio_hl.paper import FillModel, ManualSource, open_paper_connector

        source = ManualSource()
        step = self.mid * 2 / 10_000  # the emulator's ladder: 2 bps apart, first level 2 bps off the mid
        source.push_book(self.pair, [(self.mid - step * i, D(1)) for i in range(1, 6)],
                         [(self.mid + step * i, D(1)) for i in range(1, 6)])
        self.sources.append(source)
        async with open_paper_connector(source, {self.pair: self.rule}, journal_path=journal_path, risk=risk,
                                        fill_model=FillModel(latency_s=self.latency_s), seed=self.seed) as conn:
            yield conn

    async def trade_against(self, conn: Connector, taker_side: Side, price: Decimal, amount: Decimal) -> None:
        self.sources[-1].push_trade(self.pair, taker_side, price, amount)
        await trio.lowlevel.checkpoint()
