"""A small market maker: pure quote computation, inventory/PnL accounting, and the Trio task that drives a connector.

The quoting rule (``compute_quotes``, pure and unit-tested):

- Quote both sides around a *reservation price* ``mid × (1 − skew × q)``, where ``q = position / max_position``
  clamped to [−1, 1]: a long book shades both quotes down (sells become more attractive, buys less), a short
  book shades them up.  Half the configured spread goes on each side.
- Size each side so a full fill cannot take the position beyond ``±max_position``; a side whose size floors
  to zero (or below the venue's minimum order value) is not quoted at all.  That is the inventory limit.
- Never cross the book: quotes are post-only (ALO) on the venue, so a bid at or above the best ask would be
  refused.  A bid is capped one valid tick below the best ask, an ask one tick above the best bid.
- Prices are rounded passively (bid down, ask up) to the venue's price rules, sizes floored to its lot.

Re-quoting (``MarketMaker``): when the mid has moved more than ``requote_bps`` from the mid the live quotes
were computed at, or after a fill (the position changed), recompute.  A live, untouched order is *modified*
in place (one ``batchModify``, it keeps its client order id); a partially filled one is cancelled and replaced
once the cancel is confirmed, so the inventory limit is never exceeded by two orders on one side.

Alternative rejected: cancel-and-replace on every move.  It costs two actions per side instead of one and
leaves the side empty for a round trip; ``requote_mode="cancel"`` keeps it available for venues (or tests)
where modify is not wanted.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import trio

from trio_hl.core.book import OrderBook
from trio_hl.core.connector import Connector
from trio_hl.core.events import (
    Event,
    LateFill,
    ModifyRejected,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderModified,
    OrderPartiallyFilled,
)
from trio_hl.core.quantize import floor_size, round_price
from trio_hl.core.types import OrderParams, OrderState, OrderType, Side, TradingRule
from trio_hl.core.updates import TradeUpdate
from trio_hl.errors import InvalidOrderError, TrioHLError

__all__ = [
    "FillRecord",
    "Inventory",
    "MarketMaker",
    "MarketMakerStats",
    "Quote",
    "QuoteParams",
    "Quotes",
    "WorkingOrder",
    "compute_quotes",
    "hyperliquid_style_rule",
    "mid_moved",
]

logger = logging.getLogger("trio_hl.demo")

_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10_000)
#: Just below any valid tick: ``round_price(best_ask − ε, BUY, passive)`` is the best valid price under the ask.
_EPSILON = Decimal("1e-12")
#: One modify in flight per order: a second modify of the same order re-keys the first one's new order, and the
#: venue's "canceled" for that intermediate order can end the tracked order while it still rests (a connector
#: race, see the demo's notes).  Every modify is answered (``OrderModified``, ``ModifyRejected`` or the order's
#: end); an answer that never comes (a connector bug) is assumed lost after this long.
MODIFY_PATIENCE_S = 2.0
#: Hyperliquid's minimum order value (quote currency), the default of the ``sz_decimals`` shorthand of
#: :func:`compute_quotes`; with a ``rule`` its ``min_notional`` applies.  A smaller quote would be refused.
MIN_NOTIONAL = Decimal(10)


def hyperliquid_style_rule(sz_decimals: int, is_spot: bool = False, min_notional: Decimal = MIN_NOTIONAL,
                           ) -> TradingRule:
    """The ``sz_decimals`` shorthand: a lot of ``10**-sz_decimals``, prices of 5 significant figures and at most
    ``(8 if spot else 6) - sz_decimals`` decimals (Hyperliquid's rule, stated as data: nothing venue is imported).
    A strategy on a :class:`~trio_hl.core.connector.Connector` uses ``conn.trading_rule(pair)`` instead."""
    step = Decimal(1).scaleb(-sz_decimals)
    return TradingRule(pair="", size_step=step, min_size=step, min_notional=min_notional,
                       max_price_decimals=max((8 if is_spot else 6) - sz_decimals, 0), max_price_sig_figs=5,
                       is_spot=is_spot)


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@attrs.frozen
class QuoteParams:
    """What the strategy is told.  Sizes are in base units; spread, skew and threshold in basis points."""

    #: Size of each quote.
    size: Decimal = attrs.field(converter=_decimal)
    #: Full spread between our bid and ask (half each side of the reservation price).
    spread_bps: Decimal = attrs.field(default=Decimal(10), converter=_decimal)
    #: Largest absolute position; quotes are sized (and withdrawn) so a full fill never exceeds it.
    max_position: Decimal = attrs.field(default=Decimal(0), converter=_decimal)
    #: Reservation-price shift at a full long (−) or short (+) position.
    skew_bps: Decimal = attrs.field(default=Decimal(5), converter=_decimal)
    #: Re-quote when the mid moved more than this from the mid the live quotes were computed at.
    requote_bps: Decimal = attrs.field(default=Decimal(2), converter=_decimal)

    def __attrs_post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"size must be > 0, got {self.size}")
        if self.spread_bps <= 0:
            raise ValueError(f"spread_bps must be > 0, got {self.spread_bps}")
        if self.max_position == 0:
            object.__setattr__(self, "max_position", self.size * 5)
        if self.max_position < 0:
            raise ValueError(f"max_position must be >= 0, got {self.max_position}")
        if self.skew_bps < 0 or self.requote_bps < 0:
            raise ValueError("skew_bps and requote_bps must be >= 0")


@attrs.frozen
class Quote:
    price: Decimal
    amount: Decimal


@attrs.frozen
class Quotes:
    bid: Quote | None
    ask: Quote | None
    #: The (unrounded) price both quotes are centred on.
    reservation: Decimal


def compute_quotes(
    mid: Decimal,
    position: Decimal,
    params: QuoteParams,
    *,
    rule: TradingRule | None = None,
    sz_decimals: int | None = None,
    is_spot: bool = False,
    best_bid: Decimal | None = None,
    best_ask: Decimal | None = None,
    min_notional: Decimal | None = None,
) -> Quotes:
    """The bid and ask to show for ``mid`` and ``position`` (see module doc).  Pure: no I/O, no clock.

    Prices and sizes follow ``rule`` (``conn.trading_rule(pair)``), or the ``sz_decimals``/``is_spot`` shorthand
    (:func:`hyperliquid_style_rule`); ``min_notional`` overrides the rule's minimum order value."""
    if rule is None:
        if sz_decimals is None:
            raise ValueError("compute_quotes needs rule= (or the sz_decimals= shorthand)")
        rule = hyperliquid_style_rule(sz_decimals, is_spot)
    if min_notional is not None:
        rule = attrs.evolve(rule, min_notional=min_notional)
    if mid <= 0:
        raise ValueError(f"mid must be > 0, got {mid}")
    limit = params.max_position
    q = max(-_ONE, min(_ONE, position / limit)) if limit > 0 else _ZERO
    reservation = mid * (_ONE - params.skew_bps * q / _BPS)
    half = mid * params.spread_bps / (2 * _BPS)

    bid_px: Decimal | None = reservation - half
    ask_px: Decimal | None = reservation + half
    if best_ask is not None and bid_px is not None and bid_px >= best_ask:
        bid_px = best_ask - _EPSILON
    if best_bid is not None and ask_px is not None and ask_px <= best_bid:
        ask_px = best_bid + _EPSILON
    bid = _quote(bid_px, Side.BUY, limit - position, params.size, rule)
    ask = _quote(ask_px, Side.SELL, limit + position, params.size, rule)
    return Quotes(bid, ask, reservation)


def _quote(px: Decimal | None, side: Side, room: Decimal, size: Decimal, rule: TradingRule) -> Quote | None:
    if px is None or px <= 0 or room <= 0:
        return None
    amount = floor_size(min(size, room), rule)
    try:
        price = round_price(px, rule, side=side, aggressive=False)
    except InvalidOrderError:
        return None
    if amount <= 0 or amount * price < rule.min_notional:
        return None
    return Quote(price, amount)


def mid_moved(reference: Decimal | None, mid: Decimal, threshold_bps: Decimal) -> bool:
    """True when ``mid`` is more than ``threshold_bps`` away from ``reference`` (or there is no reference)."""
    if reference is None or reference <= 0:
        return True
    return abs(mid - reference) * _BPS > threshold_bps * reference


@attrs.define
class Inventory:
    """Average-cost position accounting: position, entry price, realized PnL, fees and volume.

    ``realized`` excludes fees (``fees`` is their sum, negative for rebates); ``net(mark)`` is
    ``realized + unrealized(mark) − fees``.
    """

    position: Decimal = _ZERO
    average_price: Decimal = _ZERO
    realized: Decimal = _ZERO
    fees: Decimal = _ZERO
    volume: Decimal = _ZERO
    bought: Decimal = _ZERO
    sold: Decimal = _ZERO
    fills: int = 0

    def apply(self, side: Side, price: Decimal, amount: Decimal, fee: Decimal = _ZERO) -> Decimal:
        """Book one fill; returns the PnL it realized (before fees)."""
        if amount <= 0:
            raise ValueError(f"fill amount must be > 0, got {amount}")
        signed = amount if side is Side.BUY else -amount
        pos = self.position
        realized = _ZERO
        if pos == 0 or (pos > 0) == (signed > 0):
            total = abs(pos) + amount
            self.average_price = (self.average_price * abs(pos) + price * amount) / total
        else:
            closing = min(amount, abs(pos))
            realized = closing * (price - self.average_price) * (1 if pos > 0 else -1)
            if amount > abs(pos):
                self.average_price = price  # flipped: the remainder opened at this price
            elif amount == abs(pos):
                self.average_price = _ZERO
        self.position = pos + signed
        self.realized += realized
        self.fees += fee
        self.volume += price * amount
        if side is Side.BUY:
            self.bought += amount
        else:
            self.sold += amount
        self.fills += 1
        return realized

    def unrealized(self, mark: Decimal | None) -> Decimal:
        if mark is None or self.position == 0:
            return _ZERO
        return self.position * (mark - self.average_price)

    def net(self, mark: Decimal | None) -> Decimal:
        return self.realized + self.unrealized(mark) - self.fees


@attrs.frozen
class FillRecord:
    """One of our fills, for display."""

    timestamp: float
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    is_taker: bool


@attrs.define
class WorkingOrder:
    """The order we keep on one side, with the price/amount we last *asked* for (a modify may be in flight)."""

    client_order_id: str
    side: Side
    price: Decimal
    amount: Decimal
    placed_at: float
    #: When the modify now in flight was sent (None: none is).
    modify_sent_at: float | None = None


@attrs.define
class MarketMakerStats:
    orders_placed: int = 0
    modifies: int = 0
    #: Modifies that did not apply while the order rested (``ModifyRejected``).
    modifies_rejected: int = 0
    cancels: int = 0
    rejected: int = 0
    created: int = 0
    cancelled: int = 0
    requotes: int = 0
    #: Time from ``buy()``/``sell()`` to the order's ``OrderCreated`` / ``OrderFailed`` event, seen by the strategy.
    ack_latency_max_ms: float = 0.0
    ack_latency_sum_ms: float = 0.0
    acks: int = 0
    last_reject: str | None = None


class MarketMaker:
    """Drive ``conn`` on one pair with :func:`compute_quotes`.

    ``await mm.run(events)`` consumes ``conn.watch_book(pair)`` and ``events`` (a ``conn.events()`` channel the
    caller subscribed *before* the first order) until cancelled.  ``stop_quoting()`` makes it place nothing
    more while it keeps accounting for fills, so the owner can ``cancel_all`` and wait for ``flat_orders()``.
    Only calls of the venue-free :class:`~trio_hl.core.connector.Connector` protocol are used, so the same class
    quotes on Hyperliquid, on the paper connector and in a backtest (``trio-hl backtest``).
    """

    def __init__(
        self,
        conn: Connector,
        pair: str,
        params: QuoteParams,
        *,
        requote_mode: str = "modify",
        recent: int = 8,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        if requote_mode not in ("modify", "cancel"):
            raise ValueError(f"requote_mode must be 'modify' or 'cancel', got {requote_mode!r}")
        self.conn = conn
        self.rule = conn.trading_rule(pair)
        self.pair = pair
        self.params = params
        self.requote_mode = requote_mode
        self.inventory = Inventory()
        self.stats = MarketMakerStats()
        self.recent_fills: deque[FillRecord] = deque(maxlen=recent)
        self.working: dict[Side, WorkingOrder | None] = {Side.BUY: None, Side.SELL: None}
        self.quoted_mid: Decimal | None = None
        self.quoting = True
        self._clock = clock
        self._sides: dict[str, Side] = {}
        self._placed_at: dict[str, float] = {}
        self._trades_seen: set[str] = set()
        #: Sides whose last order the venue refused: not re-placed before the next book update (no reject loop).
        self._blocked: set[Side] = set()
        self._changed = trio.Event()

    # ----------------------------------------------------------------------------------- setup / teardown

    async def load_position(self) -> None:
        """Start from the connector's position in this pair (perps), so limits and PnL hold on an existing
        account.  The entry price is the connector's when it knows one, else the current mid (PnL is then
        counted from now).  Spot holdings are inventory the strategy did not make: not loaded."""
        if self.rule.is_spot:
            return
        pos = self.conn.positions().get(self.pair)
        if pos is None or not pos.size:
            return
        self.inventory.position = pos.size
        mark = pos.average_price if pos.average_price is not None else self.conn.mid(self.pair)
        self.inventory.average_price = mark if mark is not None else _ZERO

    def stop_quoting(self) -> None:
        self.quoting = False

    def our_open_orders(self) -> list[Any]:
        return [o for o in self.conn.open_orders() if o.client_order_id in self._sides]

    async def flat_orders(self) -> None:
        """Return once none of our orders is open (call ``conn.cancel_all`` first); re-cancels stragglers, e.g.
        an order that was still PENDING_CREATE when ``cancel_all`` ran."""
        while True:
            open_now = self.our_open_orders()
            if not open_now:
                return
            for order in open_now:
                if not order.cancel_requested and order.state is not OrderState.PENDING_CANCEL:
                    self.conn.cancel(order.pair, order.client_order_id)
            await self._wait_changed()

    async def _wait_changed(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -------------------------------------------------------------------------------------------- tasks

    async def run(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.consume_events, events)
            nursery.start_soon(self.quote_on_book)

    async def quote_on_book(self) -> None:
        """Quote at once from the current book, then re-quote whenever the mid moved past the threshold."""
        self.on_book(self.conn.book(self.pair))
        async for book in self.conn.watch_book(self.pair):
            self.on_book(book)

    async def consume_events(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        async for event in events:
            self.on_event(event)

    # ---------------------------------------------------------------------------------------- reactions

    def on_book(self, book: OrderBook) -> None:
        mid = book.mid
        if mid is None or not self.quoting:
            return
        if self._blocked:
            self._blocked.clear()
            self.reconcile(self.quoted_mid if self.quoted_mid is not None else mid)
        if mid_moved(self.quoted_mid, mid, self.params.requote_bps):
            self.stats.requotes += 1
            self.reconcile(mid)

    def on_event(self, event: Event) -> None:
        cid = event.client_order_id
        side = self._sides.get(cid)
        if side is None:
            return
        trade: TradeUpdate | None = None
        if isinstance(event, OrderPartiallyFilled | LateFill | OrderFilled):
            trade = event.trade
        if trade is not None and trade.trade_id not in self._trades_seen:
            self._trades_seen.add(trade.trade_id)
            self.inventory.apply(side, trade.fill_price, trade.fill_amount, trade.fee)
            self.recent_fills.appendleft(FillRecord(trade.timestamp, side, trade.fill_price, trade.fill_amount,
                                                    trade.fee, trade.is_taker))
        if isinstance(event, OrderCreated | OrderFailed):
            placed = self._placed_at.pop(cid, None)
            if placed is not None:
                ms = (self._clock() - placed) * 1000
                self.stats.acks += 1
                self.stats.ack_latency_sum_ms += ms
                self.stats.ack_latency_max_ms = max(self.stats.ack_latency_max_ms, ms)
        if isinstance(event, OrderCreated):
            self.stats.created += 1
        elif isinstance(event, OrderFailed):
            self.stats.rejected += 1
            self.stats.last_reject = event.reason
            self._blocked.add(side)
        elif isinstance(event, OrderCancelled):
            self.stats.cancelled += 1
        working = self.working.get(side)
        if working is not None and working.client_order_id == cid:
            if isinstance(event, OrderFilled | OrderCancelled | OrderFailed):
                self.working[side] = None
            elif isinstance(event, OrderModified):
                working.modify_sent_at = None
            elif isinstance(event, ModifyRejected):
                # The re-quote did not happen: the order still rests where the event says.  Knowing it is what
                # lets the re-quote below go again at once (with the asked-for price kept, it would look done).
                working.modify_sent_at = None
                if event.price is not None:
                    working.price = event.price
                working.amount = event.amount
                self.stats.modifies_rejected += 1
        self._notify()
        # Fills move the skew and the room left, terminal events free a side, a confirmed modify or creation may
        # have held back a change: re-quote around the mid of the live quotes (the book path handles new mids).
        if self.quoting:
            self.reconcile(self.quoted_mid)

    def reconcile(self, mid: Decimal | None) -> None:
        """Bring both sides to the quotes for ``mid`` (the current book's when None)."""
        if not self.quoting:
            return
        book = self.conn.book(self.pair)
        mid = mid if mid is not None else book.mid
        if mid is None:
            return
        bb, ba = book.best_bid, book.best_ask
        quotes = compute_quotes(
            mid, self.inventory.position, self.params, rule=self.rule,
            best_bid=bb.price if bb else None, best_ask=ba.price if ba else None,
        )
        self.quoted_mid = mid
        self._apply(Side.BUY, quotes.bid)
        self._apply(Side.SELL, quotes.ask)

    def _apply(self, side: Side, target: Quote | None) -> None:
        conn = self.conn
        working = self.working[side]
        order = conn.get_order(working.client_order_id) if working is not None else None
        if working is not None and (order is None or order.state.is_terminal):
            self.working[side] = working = None
        if working is None or order is None:
            if target is not None and side not in self._blocked:
                self._place(side, target)
            return
        if order.cancel_requested or order.state in (OrderState.PENDING_CANCEL, OrderState.UNKNOWN,
                                                     OrderState.PENDING_CREATE):
            return  # wait for the venue's answer; the event that brings it re-quotes
        if target is None:
            self._cancel(working)
            return
        if target.price == working.price and target.amount == working.amount:
            return
        if working.modify_sent_at is not None and self._clock() - working.modify_sent_at < MODIFY_PATIENCE_S:
            return  # one modify at a time per order; its OrderModified re-quotes
        if self.requote_mode == "modify" and order.state is OrderState.OPEN and order.executed_amount == 0:
            try:
                conn.modify(working.client_order_id, price=target.price, amount=target.amount)
            except TrioHLError as exc:
                logger.info("modify of %s refused locally: %s", working.client_order_id, exc)
                self._cancel(working)
                return
            working.price, working.amount = target.price, target.amount
            working.modify_sent_at = self._clock()
            self.stats.modifies += 1
        else:
            self._cancel(working)  # replaced when its OrderCancelled (or OrderFilled) frees the side

    def _place(self, side: Side, target: Quote) -> None:
        params = OrderParams(self.pair, target.amount, target.price, order_type=OrderType.LIMIT_MAKER)
        try:
            cid = self.conn.buy(params) if side is Side.BUY else self.conn.sell(params)
        except TrioHLError as exc:  # invalid after rounding, submit queue full: skip this quote, count it
            self.stats.rejected += 1
            self.stats.last_reject = str(exc)
            return
        now = self._clock()
        self._sides[cid] = side
        self._placed_at[cid] = now
        self.working[side] = WorkingOrder(cid, side, target.price, target.amount, now)
        self.stats.orders_placed += 1

    def _cancel(self, working: WorkingOrder) -> None:
        if self.conn.cancel(self.pair, working.client_order_id):
            self.stats.cancels += 1
