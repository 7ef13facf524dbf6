"""``PaperConnector``: the :class:`~trio_hl.core.connector.Connector` protocol with simulated fills.

Same machinery as the Hyperliquid connector where it matters: orders go through the same
:class:`~trio_hl.core.tracker.OrderTracker` (so the same events, in the same order, with the same guarantees),
the same SQLite :class:`~trio_hl.core.journal.Journal` (``journal_path``: a restarted paper connector restores its
orders), the same :class:`~trio_hl.core.risk.RiskManager` and the same lossless event fan-out.  Only the venue is
different: :class:`~trio_hl.paper.fills.SimVenue` fills orders against a :class:`~trio_hl.paper.market.MarketSource`
(fill model: ``trio_hl.paper.fills``), and a request reaches it ``fill_model.latency_s`` after the call.

Driving (one task owns the simulated venue, so nothing in it needs a lock):

* **Live sources** (``replay=False``): frames are applied as they arrive; requests are processed when due.
* **Replayed sources** (``replay=True``, a recording): the driver sleeps on the Trio clock until the next frame
  or request is due, applies it, then *settles*: it waits until every other task is blocked
  (``trio.testing.wait_all_tasks_blocked``) after delivering the step's order events, and again after signalling
  the book change.  Trio shuffles tasks that become runnable together; settling in two stages means a strategy's
  event task and book task never race, so a backtest is a pure function of the file, the strategy and the fill
  model.  Under ``MockClock(autojump_threshold=0)`` the clock jumps straight to the next frame: an hour of
  books replays in seconds.  When the recording ends, ``source_done`` is set; requests are still served (a
  strategy can cancel and flatten), but nothing fills any more.

Restart: orders the journal restores live re-enter the simulated book at the back of their queue (the simulated
venue died with the process; the queue position it had is not knowable), ones never answered are sent now, and a
cancel the user asked for is sent again - the same outcomes a restarted Hyperliquid connector reaches by asking.
Unlike Hyperliquid's, the paper account does not survive a restart: positions, realized PnL and fees start
from zero (``initial_balance``) - a restored order's earlier fills stay in its ``executed_amount`` but are not
in ``position()`` (the journal keeps orders, not the account, and compaction forgets finished orders).

Positions and balances are the paper account's: ``initial_balance`` of the quote asset, every fill moving the
position (average-cost, realized PnL) and paying its fee; ``balances()`` marks open positions at the mid.
Trigger orders are not simulated (refused at the call).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import attrs
import trio
import trio.testing

from trio_hl.core.book import OrderBook
from trio_hl.core.connector import Balance, Connector, Position, PublicTrade, VenueOrderStatus
from trio_hl.core.events import Event, OrderCancelled, OrderFailed, OrderFilled
from trio_hl.core.fanout import EventFanout
from trio_hl.core.journal import Journal
from trio_hl.core.order import InFlightOrder
from trio_hl.core.quantize import floor_size, round_price
from trio_hl.core.risk import RiskLimits, RiskManager
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderParams, OrderState, OrderType, Side, TradingRule
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import InvalidOrderError, TrioHLError, UnknownOrderError
from trio_hl.paper.fills import CancelRefused, FillModel, ModifyRefused, Report, SimVenue
from trio_hl.paper.market import BookFrame, MarketFrame, MarketSource, TradeFrame

__all__ = ["PaperConnector", "PaperHealth", "open_paper_connector"]

logger = logging.getLogger("trio_hl.paper")

_ZERO = Decimal(0)
_TERMINAL_EVENTS = (OrderFilled, OrderCancelled, OrderFailed)


class PaperQueueFullError(TrioHLError):
    """More requests are waiting for the simulated venue than ``max_pending`` allows; nothing was tracked."""


@attrs.frozen
class PaperHealth:
    """``health()`` of the paper connector (the :class:`~trio_hl.core.connector.HealthReport` fields, and more)."""

    trading_ready: bool
    orders_active: int
    book_ages: dict[str, float | None]
    event_backlog: int
    ack_latency_p50_ms: float | None
    ack_latency_p99_ms: float | None
    ack_latency_max_ms: float | None
    pending_requests: int
    frames: int
    fills: int
    source_done: bool


@attrs.define
class _Holding:
    size: Decimal = _ZERO
    average_price: Decimal = _ZERO


class PaperConnector:
    """A simulated-fill connector (module doc).  Built by :func:`open_paper_connector`."""

    def __init__(self, source: MarketSource, rules: Mapping[str, TradingRule], *, fill_model: FillModel,
                 tracker: OrderTracker, journal: Journal | None, clock: _PaperClock,
                 risk: RiskLimits | None = None, seed: int | None = None, event_buffer: int = 10_000,
                 market_slippage: Decimal = Decimal("0.05"), initial_balance: Decimal = Decimal(100_000),
                 max_pending: int = 10_000, generation: int = 0) -> None:
        """``generation``: 0 for a fresh run; a restart on a journal passes the journal's last record number, so
        the ids this run makes (client order ids, venue order ids, trade ids) never repeat one the journal holds -
        also when ``seed`` makes them deterministic (a seeded restart used to hand out the restored orders' ids).
        """
        self.source = source
        self.rules = dict(rules)
        self.pairs = tuple(self.rules)
        self.fill_model = fill_model
        self.market_slippage = market_slippage
        self.risk = RiskManager(risk)
        self._prefix = (seed if seed is not None else int.from_bytes(os.urandom(8), "big")) & 0xFFFFFFFFFFFFFFFF
        run_id = f"paper-{self._prefix:x}" + (f"-g{generation}" if generation else "")
        self.venue = SimVenue(fill_model, self.rules, run_id=run_id)
        self._tracker = tracker
        self._journal = journal
        self._clock = clock
        self._event_buffer = event_buffer
        self._max_pending = max_pending
        self._fanout: EventFanout[Event] = EventFanout()
        self._trade_fanouts: dict[str, EventFanout[PublicTrade]] = {p: EventFanout() for p in self.pairs}
        self._books = {p: OrderBook(p) for p in self.pairs}
        self._book_changed: dict[str, trio.Event] = {}
        #: Requests on their way to the simulated venue: (due on the Trio clock, kind, payload), in call order.
        self._requests: deque[tuple[float, str, tuple[object, ...]]] = deque()
        self._request_added = trio.Event()
        self._cancels_pending: set[str] = set()
        #: Client order id counter: a restart's ids start past every earlier run's (the high 32 bits).
        self._cids = (generation & 0xFFFFFFFF) << 32
        self._holdings: dict[str, _Holding] = {}
        self.initial_balance = initial_balance
        self.realized = _ZERO
        self.fees = _ZERO
        self._acks: deque[float] = deque(maxlen=10_000)
        self._sent_at: dict[str, float] = {}
        self.frames = 0
        self._polled = -math.inf
        self.source_done = trio.Event()
        self._ready = trio.Event()
        self._replay = bool(source.replay)
        #: Replay only: the Trio time of the first frame and that frame's timestamp (the clock's anchor).
        self._anchor: tuple[float, float] | None = None

    # ================================================================================ orders

    def buy(self, params: OrderParams) -> str:
        """See :meth:`trio_hl.core.connector.Connector.buy`."""
        return self._place(Side.BUY, params)

    def sell(self, params: OrderParams) -> str:
        """See :meth:`trio_hl.core.connector.Connector.sell`."""
        return self._place(Side.SELL, params)

    def cancel(self, pair: str, client_order_id: str) -> bool:
        """See :meth:`trio_hl.core.connector.Connector.cancel`."""
        order = self._tracker.get(client_order_id)
        if order is None:
            raise UnknownOrderError(client_order_id)
        if order.pair != pair:
            raise InvalidOrderError(f"cannot cancel {client_order_id!r} on {pair!r}: it is an order on {order.pair!r}")
        if order.is_done or order.fill_wait_deadline is not None:
            return False
        if order.cancel_requested and client_order_id in self._cancels_pending:
            return True
        self._queue("cancel", (client_order_id,))
        self._cancels_pending.add(client_order_id)
        self._tracker.start_cancel(client_order_id)
        return True

    def cancel_all(self, pair: str | None = None) -> int:
        """See :meth:`trio_hl.core.connector.Connector.cancel_all`."""
        count = 0
        for order in self._tracker.active_orders():
            if (pair is None or order.pair == pair) and not order.cancel_requested:
                count += self.cancel(order.pair, order.client_order_id)
        return count

    def modify(self, client_order_id: str, *, price: Decimal | None = None, amount: Decimal | None = None) -> None:
        """See :meth:`trio_hl.core.connector.Connector.modify`."""
        order = self._tracker.get(client_order_id)
        if order is None:
            raise UnknownOrderError(client_order_id)
        live = (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
        if order.state not in live or order.exchange_order_id is None:
            raise InvalidOrderError(f"cannot modify {client_order_id!r}: not a live, acknowledged order")
        if order.order_type not in (OrderType.LIMIT, OrderType.LIMIT_MAKER):
            raise InvalidOrderError(f"only limit orders can be modified; {client_order_id!r} is {order.order_type}")
        rule = self.rules[order.pair]
        new_price = round_price(price, rule, side=order.side) if price is not None else order.price
        new_amount = floor_size(amount, rule) if amount is not None else order.amount
        if new_amount <= order.executed_amount:
            raise InvalidOrderError(
                f"cannot modify {client_order_id!r} to amount {new_amount}: {order.executed_amount} already executed")
        self._queue("modify", (client_order_id, new_price, new_amount))

    def kill(self, reason: str) -> int:
        """See :meth:`trio_hl.core.connector.Connector.kill`."""
        self.risk.engage_kill_switch(reason)
        return self.cancel_all()

    def new_client_order_id(self) -> str:
        """``"0x"`` + 32 hex digits (the Hyperliquid format, so ids survive a switch of connector): a 64-bit
        prefix (``seed``, else random) and a counter - a seeded backtest names its orders the same every run (a
        restart on a journal counts on from past the earlier runs' ids)."""
        self._cids += 1
        return f"0x{self._prefix:016x}{self._cids:016x}"

    def events(self, buffer: int | None = None) -> trio.MemoryReceiveChannel[Event]:
        """See :meth:`trio_hl.core.connector.Connector.events`."""
        return self._fanout.subscribe(self._event_buffer if buffer is None else buffer)

    def get_order(self, client_order_id: str) -> InFlightOrder | None:
        return self._tracker.get(client_order_id)

    def open_orders(self) -> list[InFlightOrder]:
        return self._tracker.active_orders()

    @property
    def tracker(self) -> OrderTracker:
        return self._tracker

    async def query_order(self, client_order_id: str) -> VenueOrderStatus | None:
        """The simulated venue's view: None for an order whose request has not reached it."""
        await trio.lowlevel.checkpoint()
        order = self._tracker.get(client_order_id)
        if order is None or (order.exchange_order_id is None and order.state is not OrderState.FAILED):
            return None
        state = order.state if order.state.is_terminal or self.venue.is_resting(client_order_id) else None
        return VenueOrderStatus(state=state if state is not None else OrderState.OPEN, filled=order.executed_amount)

    # ================================================================================ account

    def position(self, pair: str) -> Decimal:
        holding = self._holdings.get(pair)
        return holding.size if holding is not None else _ZERO

    def positions(self) -> dict[str, Position]:
        return {p: Position(p, h.size, h.average_price) for p, h in self._holdings.items() if h.size}

    async def balances(self) -> dict[str, Balance]:
        """The quote asset: initial balance + realized PnL - fees (+ unrealized PnL at the mid in ``total``)."""
        await trio.lowlevel.checkpoint()
        cash = self.initial_balance + self.realized - self.fees
        unrealized = _ZERO
        for pair, h in self._holdings.items():
            mid = self.mid(pair)
            if h.size and mid is not None:
                unrealized += h.size * (mid - h.average_price)
        asset = self.fill_model.fee_asset
        return {asset: Balance(asset, cash + unrealized, cash)}

    # ================================================================================ market data

    def trading_rule(self, pair: str) -> TradingRule:
        try:
            return self.rules[pair]
        except KeyError:
            raise InvalidOrderError(f"unknown pair {pair!r}") from None

    def book(self, pair: str) -> OrderBook:
        try:
            return self._books[pair]
        except KeyError:
            raise InvalidOrderError(f"{pair!r} is not simulated; give it a trading rule") from None

    async def watch_book(self, pair: str) -> AsyncGenerator[OrderBook, None]:
        book = self.book(pair)
        while True:
            event = self._book_changed.setdefault(pair, trio.Event())
            await event.wait()
            yield book

    async def watch_trades(self, pair: str) -> AsyncGenerator[PublicTrade, None]:
        self.book(pair)
        with self._trade_fanouts[pair].subscribe(1024) as trades:
            async for trade in trades:
                yield trade

    def mid(self, pair: str) -> Decimal | None:
        book = self._books.get(pair)
        return None if book is None else book.mid

    def health(self) -> PaperHealth:
        now = self._clock()
        acks = sorted(self._acks)
        return PaperHealth(
            trading_ready=self._ready.is_set(),
            orders_active=len(self._tracker.active_orders()),
            book_ages={p: b.age(now) for p, b in self._books.items()},
            event_backlog=self._fanout.statistics().backlog,
            ack_latency_p50_ms=_percentile(acks, 0.5),
            ack_latency_p99_ms=_percentile(acks, 0.99),
            ack_latency_max_ms=acks[-1] if acks else None,
            pending_requests=len(self._requests),
            frames=self.frames,
            fills=self.venue.fills,
            source_done=self.source_done.is_set(),
        )

    async def wait_source_done(self) -> None:
        """Wait until the market source ended (a recording replayed to its end)."""
        await self.source_done.wait()

    # ================================================================================ internals: calls

    def _place(self, side: Side, params: OrderParams) -> str:
        if not isinstance(params, OrderParams):
            raise InvalidOrderError(f"expected OrderParams, got {type(params).__name__}")
        rule = self.rules.get(params.pair)
        if rule is None:
            raise InvalidOrderError(f"unknown pair {params.pair!r}")
        if params.order_type is OrderType.TRIGGER:
            raise InvalidOrderError("the paper connector does not simulate trigger orders")
        amount = floor_size(params.amount, rule)
        if amount <= 0 or amount < rule.min_size:
            raise InvalidOrderError(f"amount {params.amount} is below the lot size {rule.size_step} of {params.pair}")
        price = self._price(side, params, rule)
        cid = params.client_order_id if params.client_order_id is not None else self.new_client_order_id()
        if not isinstance(cid, str) or not cid:
            raise InvalidOrderError(f"client_order_id must be a non-empty string, got {cid!r}")
        if self._tracker.get(cid) is not None:
            raise InvalidOrderError(f"client_order_id {cid} is already tracked")
        self._risk_check(side, params, amount, price)
        if len(self._requests) >= self._max_pending:
            raise PaperQueueFullError(f"{len(self._requests)} requests pending")
        now = self._clock()
        order = InFlightOrder(client_order_id=cid, pair=params.pair, side=side, order_type=params.order_type,
                              amount=amount, price=price, tif=params.tif, position_action=params.position_action,
                              created_at=now, last_update=now)
        self._queue("place", (cid,))
        events = self._tracker.start_tracking(order)
        if events:
            self._publish(events)
        return cid

    def _price(self, side: Side, params: OrderParams, rule: TradingRule) -> Decimal:
        if params.order_type is not OrderType.MARKET:
            assert params.price is not None  # (OrderParams checks it for limit orders)
            return round_price(params.price, rule, side=side)
        if params.price is not None:
            return round_price(params.price, rule, side=side, aggressive=True)
        book = self._books[params.pair]
        reference = book.size_to_price(side is Side.BUY, params.amount) or book.mid
        if reference is None:
            raise InvalidOrderError(f"no book for {params.pair} yet: a market order needs a price or a book")
        factor = 1 + self.market_slippage if side is Side.BUY else 1 - self.market_slippage
        return round_price(reference * factor, rule, side=side, aggressive=True)

    def _risk_check(self, side: Side, params: OrderParams, amount: Decimal, price: Decimal) -> None:
        active = self._tracker.active_orders()
        pair = params.pair
        pending = sum((o.amount - o.executed_amount for o in active if o.pair == pair and o.side is side), _ZERO)
        self.risk.check(  # raises RiskBreachError (a RiskLimitError) before anything is tracked
            pair=pair, side=side, amount=amount, price=price, reduce_only=params.reduce_only,
            reference_price=self.mid(pair), position=self.position(pair),
            open_orders_pair=sum(1 for o in active if o.pair == pair), open_orders_total=len(active),
            pending_same_side_amount=pending, now=trio.current_time(), order_type=params.order_type,
            account_notional=self._account_notional() if self.risk.limits.max_account_notional is not None
            else None,
        )

    def _account_notional(self) -> Decimal | None:
        total = _ZERO
        active = self._tracker.active_orders()
        for pair in self.pairs:
            exposure = abs(self.position(pair)) + sum(
                (o.amount - o.executed_amount for o in active if o.pair == pair), _ZERO)
            if not exposure:
                continue
            mid = self.mid(pair)
            if mid is None:
                return None
            total += exposure * mid
        return total

    def _queue(self, kind: str, payload: tuple[object, ...]) -> None:
        now = trio.current_time()
        self._requests.append((now + self.fill_model.latency_s, kind, payload))
        if kind == "place":
            self._sent_at[str(payload[0])] = now
        self._request_added.set()

    # ================================================================================ internals: the venue

    def _apply_reports(self, reports: Iterable[Report]) -> None:
        tracker = self._tracker
        for report in reports:
            if isinstance(report, OrderUpdate):
                self._note_ack(report.client_order_id)
                events = tracker.process_order_update(report)
            elif isinstance(report, TradeUpdate):
                self._note_ack(report.client_order_id)
                self._account(report)
                events = tracker.process_trade_update(report)
            elif isinstance(report, CancelRefused):
                self._cancels_pending.discard(report.client_order_id)
                events = tracker.process_cancel_rejected(report.client_order_id, report.reason)
            else:
                assert isinstance(report, ModifyRefused)
                events = tracker.process_modify_rejected(report.client_order_id, report.reason, report.price,
                                                         report.amount)
            if events:
                self._publish(events)

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, _TERMINAL_EVENTS):
                self._cancels_pending.discard(event.client_order_id)
        self._fanout.publish(events)

    def _note_ack(self, cid: str | None) -> None:
        sent = self._sent_at.pop(cid, None) if cid is not None else None
        if sent is not None:
            self._acks.append((trio.current_time() - sent) * 1000)

    def _account(self, trade: TradeUpdate) -> None:
        """Average-cost position keeping of the paper account (realized PnL, fees)."""
        side = trade.side
        if side is None:
            return
        h = self._holdings.setdefault(trade.pair, _Holding())
        signed = trade.fill_amount if side is Side.BUY else -trade.fill_amount
        if h.size == 0 or (h.size > 0) == (signed > 0):
            total = abs(h.size) + trade.fill_amount
            h.average_price = (h.average_price * abs(h.size) + trade.fill_price * trade.fill_amount) / total
        else:
            closing = min(trade.fill_amount, abs(h.size))
            self.realized += closing * (trade.fill_price - h.average_price) * (1 if h.size > 0 else -1)
            if trade.fill_amount > abs(h.size):
                h.average_price = trade.fill_price
            elif trade.fill_amount == abs(h.size):
                h.average_price = _ZERO
        h.size += signed
        self.fees += trade.fee

    def _process_request(self, kind: str, payload: tuple[object, ...]) -> None:
        now = self._clock()
        if kind == "place":
            order = self._tracker.get(str(payload[0]))
            if order is None or order.is_done:
                return
            self._apply_reports(self.venue.place(order, now))
        elif kind == "cancel":
            cid = str(payload[0])
            order = self._tracker.get(cid)
            if order is None or order.is_done:
                self._cancels_pending.discard(cid)
                return
            self._apply_reports(self.venue.cancel(cid, now))
        else:
            target, price, amount = payload
            assert isinstance(target, str) and isinstance(price, Decimal) and isinstance(amount, Decimal)
            self._apply_reports(self.venue.modify(target, price, amount, now))
        self._flush_journal()

    def _apply_frame(self, frame: MarketFrame) -> str | None:
        """Apply one frame to the book and the venue; returns the pair whose book changed (None for a trade)."""
        self.frames += 1
        now = self._clock()
        if now - self._polled >= 1.0:  # the tracker's housekeeping (finished-order cache, orphan buffers)
            self._polled = now
            events = self._tracker.poll(now)
            if events:
                self._publish(events)
        if isinstance(frame, BookFrame):
            book = self._books.get(frame.pair)
            if book is None:
                return None
            # Received on the paper clock (book ages are seconds on it, whatever clock the source stamps with);
            # a snapshot older than the book holds is refused by both the book and the simulated venue.
            if not book.apply_snapshot(frame.bids, frame.asks, frame.timestamp, received_at=now):
                return None
            self._apply_reports(self.venue.on_book(frame.pair, frame.bids, frame.asks, now))
            if not self._ready.is_set() and all(b.timestamp is not None for b in self._books.values()):
                self._ready.set()
            self._flush_journal()
            return frame.pair
        assert isinstance(frame, TradeFrame)
        trade = frame.trade
        if trade.pair not in self._books:
            return None
        self._trade_fanouts[trade.pair].publish([trade])
        self._apply_reports(self.venue.on_trade(trade.pair, trade.side, trade.price, trade.size, now))
        self._flush_journal()
        return None

    def _book_updated(self, pair: str) -> None:
        event = self._book_changed.pop(pair, None)
        if event is not None:
            event.set()

    def _flush_journal(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    async def _settle(self, changed: str | None) -> None:
        """Replay only: let every task react to this step's events, then to its book (module doc)."""
        if self._replay:
            await trio.testing.wait_all_tasks_blocked()
        if changed is not None:
            self._book_updated(changed)
            if self._replay:
                await trio.testing.wait_all_tasks_blocked()

    async def _serve_requests_until(self, deadline: float) -> None:
        """Process every request due before ``deadline`` (Trio clock) at its due time; return at the deadline."""
        while True:
            if self._requests and self._requests[0][0] <= deadline:
                due = self._requests[0][0]
                await trio.sleep_until(due)
                _, kind, payload = self._requests.popleft()
                self._process_request(kind, payload)
                await self._settle(None)
                continue
            if deadline == math.inf or trio.current_time() < deadline:
                self._request_added = trio.Event()
                with trio.move_on_at(deadline):
                    await self._request_added.wait()
                    continue
            return

    # ================================================================================ internals: tasks

    async def _run_replay(self, frames: trio.MemoryReceiveChannel[MarketFrame]) -> None:
        async with frames:
            async for frame in frames:
                if self._anchor is None:
                    self._anchor = (trio.current_time(), frame.timestamp)
                    self._clock.anchor(*self._anchor)
                start, first = self._anchor
                await self._serve_requests_until(start + max(0.0, frame.timestamp - first))
                await self._settle(self._apply_frame(frame))
        self.source_done.set()
        await self._serve_requests_until(math.inf)

    async def _run_live(self, frames: trio.MemoryReceiveChannel[MarketFrame]) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._serve_requests_until, math.inf)
            async with frames:
                async for frame in frames:
                    await self._settle(self._apply_frame(frame))
            self.source_done.set()

    async def _start(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._fanout.run)
        for fanout in self._trade_fanouts.values():
            nursery.start_soon(fanout.run)
        send, receive = trio.open_memory_channel[MarketFrame](0 if self._replay else 1000)
        nursery.start_soon(self.source.run, send)
        nursery.start_soon(self._run_replay if self._replay else self._run_live, receive)
        # A restored order: live ones rest again, unanswered ones are sent, requested cancels sent again.
        for order in self._tracker.active_orders():
            if order.state is OrderState.PENDING_CREATE or order.exchange_order_id is None:
                self._queue("place", (order.client_order_id,))
            else:
                self.venue.restore(order)
            if order.cancel_requested:
                self._queue("cancel", (order.client_order_id,))
                self._cancels_pending.add(order.client_order_id)
        with trio.move_on_after(math.inf if self._replay else 30.0):
            await trio_wait_any(self._ready.wait, self.source_done.wait)


async def trio_wait_any(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return when the first of ``waits`` (async callables) returns."""
    async with trio.open_nursery() as nursery:
        async def one(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            nursery.cancel_scope.cancel()

        for wait in waits:
            nursery.start_soon(one, wait)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


class _PaperClock:
    """Seconds for the tracker and events: wall-anchored and following the Trio clock (so MockClock-able); a
    replay re-anchors it on the recording's first frame (:meth:`anchor`) so event times are the market's."""

    def __init__(self) -> None:
        self._base = time.time() - trio.current_time()

    def anchor(self, trio_time: float, market_time: float) -> None:
        self._base = market_time - trio_time

    def __call__(self) -> float:
        return self._base + trio.current_time()


@asynccontextmanager
async def open_paper_connector(
    source: MarketSource,
    rules: Mapping[str, TradingRule],
    *,
    fill_model: FillModel | None = None,
    journal_path: Path | str | None = None,
    risk: RiskLimits | None = None,
    seed: int | None = None,
    initial_balance: Decimal = Decimal(100_000),
    event_buffer: int = 10_000,
    market_slippage: Decimal = Decimal("0.05"),
) -> AsyncIterator[PaperConnector]:
    """``async with open_paper_connector(source, rules) as conn:`` - a running paper connector.

    ``rules``: the simulated pairs and their trading rules (``conn.trading_rule(p)`` of a live connector, or
    ``trio_hl.paper.recorded.read_rules(file)``).  Returns once every pair has a book (a live source that gives
    none within 30 s: returns anyway, ``health().trading_ready`` False) or the source ended."""
    if not rules:
        raise InvalidOrderError("open_paper_connector needs the trading rule of at least one pair")
    clock = _PaperClock()
    journal: Journal | None = None
    generation = 0
    if journal_path is not None:
        journal = Journal(journal_path)
        generation = journal.statistics().last_seq
        if generation == 0:
            tracker = OrderTracker(clock=clock)
            tracker.attach_journal(journal, fresh=True)
        else:
            restored = journal.restore(clock=clock)
            if restored.corruption is not None:
                logger.error("journal %s: %s", journal_path, restored.corruption)
            tracker = restored.tracker
    else:
        tracker = OrderTracker(clock=clock)
    try:
        async with trio.open_nursery() as nursery:
            conn = PaperConnector(source, rules, fill_model=fill_model or FillModel(), tracker=tracker,
                                  journal=journal, clock=clock, risk=risk, seed=seed, event_buffer=event_buffer,
                                  market_slippage=market_slippage, initial_balance=initial_balance,
                                  generation=generation)
            await conn._start(nursery)
            try:
                yield conn
            finally:
                nursery.cancel_scope.cancel()
    finally:
        if journal is not None:
            journal.flush()
            journal.close()


def _is_a_connector(conn: PaperConnector) -> Connector:
    """Never called: mypy checks here that ``PaperConnector`` satisfies the ``Connector`` protocol."""
    return conn
