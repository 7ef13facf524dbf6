"""The paper venue: how simulated orders fill against a market we only observe (a live or recorded book + tape).

Fill model (documented, deterministic, pure: no clock, no I/O; :class:`SimVenue` returns what happened):

* **Our orders never move the market.**  The recorded (or live) book is what everybody else shows; our orders are
  matched against it and against the public tape, never shown in it.  One exception keeps a taker honest:
  displayed size our taker orders consumed stays consumed until the next book snapshot of that pair, so two IOCs
  cannot take the same level twice.  (A snapshot replaces the book: what the market refilled is not known.)
* **Taking (marketable orders):** a buy walks the asks from the best up to its limit price (a MARKET order:
  the connector's slippage bound), level by level, filling at each level's price up to its displayed size:
  partial fills against displayed size, never more than is shown.  Fee: ``taker_fee`` x notional.
  An IOC's unfilled rest is cancelled; an IOC that takes nothing is refused (as Hyperliquid refuses it:
  "could not immediately match").  A post-only (ALO) order that would take is refused.
* **Resting: queue position by price-time.**  An order joining a price level that already shows size ``S`` on
  its side queues behind all of it (``queue_ahead = S``); at a new level (inside the spread) it is first.  The
  queue ahead only shrinks: by public trades at our price (they fill the queue front first; our own orders at
  one level are all behind the same front, so a print eats it once for all of them), and to the level's
  displayed size whenever a snapshot shows less (who left was ahead of us: the optimistic, common convention).
  A snapshot that does not reach down to our price (a book shows a limited depth) says nothing about our
  level: the queue is kept.  An order restored by a restarted connector before its pair's first snapshot joins
  the back of its level once a snapshot shows it (until then its queue is unknown: nothing fills it at its
  own price).
* **Resting fills.**  A public trade whose aggressor is on the other side fills our resting orders in price-
  time priority: orders priced better than the print first (the aggressor would have reached them before the
  printed level), then, at the printed price, what is left once the queue ahead is used up; each fill at *our*
  price, as maker (fee ``maker_fee`` x notional; negative = rebate), never more than the print's size in all.
  A snapshot whose opposite best price reaches ours (the market traded through us) fills the whole rest at our
  price, as maker - the only fill rule when a source records books and no trades.
* **Latency** (``latency_s``, one way) is the connector's business: a request reaches this venue that long after
  the call, and its answer comes back at once.
* **Reduce-only** (``PositionAction.CLOSE``), as Hyperliquid enforces it: refused when the venue's position
  has nothing on the other side to reduce; a taker fills at most the position (an IOC's rest is cancelled, a
  GTC's rests); a resting one fills at most what is left of the position, and is cancelled
  (``reduceOnlyCanceled``) as soon as a fill leaves nothing to reduce (Hyperliquid cancels it when the next
  taker reaches it; a paper order does not wait for that).  The position is the simulated
  venue's own tally of fills (the risk manager lets reduce-only orders past ``max_position`` because the venue
  clips them).
* **Self-trade:** our orders never trade with each other.  A post-only order that would match one of ours is
  refused; any other order that reaches one of ours (as it walks the market's levels) cancels the resting one
  (``selfTradeCanceled``) and goes on, as Hyperliquid does.
* **Modify** re-queues the order at the back of its (new) level, as a cancel + place does on most venues; a
  post-only modify that would take is refused and the order rests as it was.

Rejected alternative: a probabilistic fill model (a fill chance per level touched).  It needs a random source in
the matching path and makes two runs over the same file differ unless seeded everywhere; the queue model above is
deterministic and errs the documented way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs

from trio_hl.core.book import BookLevel
from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderState, OrderType, PositionAction, Side, TimeInForce, TradingRule
from trio_hl.core.updates import OrderUpdate, TradeUpdate

__all__ = ["CancelRefused", "FillModel", "ModifyRefused", "Report", "SimVenue"]

_ZERO = Decimal(0)
#: The queue ahead of an order restored before its pair's first snapshot (module doc).
_UNKNOWN_QUEUE = Decimal("Infinity")

#: Refusal texts (Hyperliquid's wording where it has one, so logs read the same on both).
POST_ONLY_CROSSES = "Post only order would have immediately matched, bbo was {bbo}."
IOC_NO_MATCH = "Order could not immediately match against any resting orders."
NOT_LIVE = "Order was never placed, already canceled, or filled."
MIN_VALUE = "Order must have minimum value of {value}."
REDUCE_ONLY = "Reduce only order would increase position."


@attrs.frozen
class FillModel:
    """Fees (fractions of notional, e.g. ``Decimal("0.00045")`` = 4.5 bps; a negative maker fee is a rebate),
    the fee asset, and the one-way ``latency_s`` from a call to the simulated venue."""

    taker_fee: Decimal = Decimal("0.00045")
    maker_fee: Decimal = Decimal("0.00015")
    latency_s: float = 0.0
    fee_asset: str = "USDC"

    def __attrs_post_init__(self) -> None:
        if not self.latency_s >= 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s!r}")


@attrs.frozen
class CancelRefused:
    client_order_id: str
    reason: str


@attrs.frozen
class ModifyRefused:
    client_order_id: str
    reason: str
    price: Decimal | None
    amount: Decimal | None


Report = OrderUpdate | TradeUpdate | CancelRefused | ModifyRefused


@attrs.define
class _Resting:
    cid: str
    eid: str
    pair: str
    side: Side
    price: Decimal
    amount: Decimal
    executed: Decimal
    post_only: bool
    queue_ahead: Decimal
    seq: int
    reduce_only: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.executed


class SimVenue:
    """The matching side of the paper connector (module doc).  Synchronous and deterministic."""

    def __init__(self, model: FillModel, rules: Mapping[str, TradingRule], *, run_id: str = "paper") -> None:
        """``run_id`` prefixes trade ids: they must stay unique across restarts of one journal (the tracker
        de-duplicates fills by trade id)."""
        self.model = model
        self.run_id = run_id
        self.rules = rules
        self._bids: dict[str, tuple[BookLevel, ...]] = {}
        self._asks: dict[str, tuple[BookLevel, ...]] = {}
        #: Displayed size our taker orders consumed, per (pair, is_ask, price), until the pair's next snapshot.
        self._consumed: dict[tuple[str, bool, Decimal], Decimal] = {}
        self._resting: dict[str, _Resting] = {}
        #: The venue's signed position per pair: its own tally of the fills it made (for reduce-only).
        self._position: dict[str, Decimal] = {}
        self._seq = 0
        self._eids = 0
        self._tids = 0
        self.fills = 0

    # ------------------------------------------------------------------------------------------- queries

    def is_resting(self, cid: str) -> bool:
        return cid in self._resting

    def queue_ahead(self, cid: str) -> Decimal | None:
        r = self._resting.get(cid)
        return None if r is None else r.queue_ahead

    def best(self, pair: str) -> tuple[Decimal | None, Decimal | None]:
        bids, asks = self._bids.get(pair, ()), self._asks.get(pair, ())
        return (bids[0].price if bids else None, asks[0].price if asks else None)

    # ------------------------------------------------------------------------------------------- requests

    def place(self, order: InFlightOrder, now: float) -> list[Report]:
        """A new order reaches the venue (``order.price`` set; a MARKET order's price is its worst price)."""
        pair, cid = order.pair, order.client_order_id
        price = order.price
        assert price is not None, "the paper connector prices every order before it is sent"
        rule = self.rules[pair]
        if order.amount * price < rule.min_notional:
            return [self._refuse(order, MIN_VALUE.format(value=rule.min_notional), now)]
        post_only = order.tif is TimeInForce.ALO or order.order_type is OrderType.LIMIT_MAKER
        ioc = order.tif is TimeInForce.IOC or order.order_type is OrderType.MARKET
        if post_only and self._crosses(pair, order.side, price):
            bid, ask = self.best(pair)
            return [self._refuse(order, POST_ONLY_CROSSES.format(bbo=f"({bid}, {ask})"), now)]
        reduce_only = order.position_action is PositionAction.CLOSE
        take = order.amount
        if reduce_only:
            take = min(take, self._reduce_cap(pair, order.side))
            if take <= 0:
                return [self._refuse(order, REDUCE_ONLY, now)]
        self._eids += 1
        eid = f"{self.run_id}-o{self._eids}"
        if ioc:
            reports: list[Report] = self._take(pair, order.side, price, take, cid, eid, now)
            executed = _executed(reports)
            if not executed:
                return [*reports, OrderUpdate(pair, OrderState.FAILED, now, cid, eid, IOC_NO_MATCH,
                                              "iocCancelRejected")]
            if executed < order.amount:
                reports.append(OrderUpdate(pair, OrderState.CANCELED, now, cid, eid, "IOC rest cancelled",
                                           "canceled", executed=executed))
            return reports
        reports = [OrderUpdate(pair, OrderState.OPEN, now, cid, eid, venue_status="open")]
        taken = self._take(pair, order.side, price, take, cid, eid, now)
        reports.extend(taken)
        executed = _executed(taken)
        if executed < order.amount:
            self._seq += 1
            self._resting[cid] = _Resting(cid, eid, pair, order.side, price, order.amount, executed, post_only,
                                          self._displayed(pair, order.side, price), self._seq, reduce_only)
        return reports

    def restore(self, order: InFlightOrder) -> None:
        """Re-enter an order a restarted connector restored live (at the back of its level's queue)."""
        price = order.price
        if price is None or order.exchange_order_id is None:
            return
        self._seq += 1
        post_only = order.tif is TimeInForce.ALO or order.order_type is OrderType.LIMIT_MAKER
        # Before the pair's first snapshot the size ahead is unknown: infinite until a snapshot shows the level
        # (``on_book`` takes the min), so the order joins the back of its level, never the front.
        ahead = self._displayed(order.pair, order.side, price) if order.pair in self._bids else _UNKNOWN_QUEUE
        self._resting[order.client_order_id] = _Resting(
            order.client_order_id, order.exchange_order_id, order.pair, order.side, price, order.amount,
            order.executed_amount, post_only, ahead, self._seq, order.position_action is PositionAction.CLOSE)

    def cancel(self, cid: str, now: float) -> list[Report]:
        r = self._resting.pop(cid, None)
        if r is None:
            return [CancelRefused(cid, NOT_LIVE)]
        return [OrderUpdate(r.pair, OrderState.CANCELED, now, cid, r.eid, "cancelled", "canceled")]

    def modify(self, cid: str, price: Decimal, amount: Decimal, now: float) -> list[Report]:
        """Change a resting order to ``price`` and total ``amount`` (executed part included)."""
        r = self._resting.get(cid)
        if r is None:
            return [ModifyRefused(cid, NOT_LIVE, price, amount)]
        if amount <= r.executed:
            return [ModifyRefused(cid, f"amount {amount} is not above the executed {r.executed}", price, amount)]
        if r.post_only and self._crosses(r.pair, r.side, price):
            bid, ask = self.best(r.pair)
            return [ModifyRefused(cid, POST_ONLY_CROSSES.format(bbo=f"({bid}, {ask})"), price, amount)]
        r.price, r.amount = price, amount
        self._seq += 1
        r.seq = self._seq
        r.queue_ahead = self._displayed(r.pair, r.side, price)
        reports: list[Report] = [OrderUpdate(r.pair, OrderState.OPEN, now, cid, r.eid, venue_status="open",
                                             amount=amount, price=price)]
        take = min(r.remaining, self._reduce_cap(r.pair, r.side)) if r.reduce_only else r.remaining
        taken = self._take(r.pair, r.side, price, take, cid, r.eid, now)
        r.executed += _executed(taken)
        reports.extend(taken)
        if r.remaining <= 0:
            del self._resting[cid]
        return reports

    # ------------------------------------------------------------------------------------------- market

    def on_book(self, pair: str, bids: Sequence[BookLevel], asks: Sequence[BookLevel], now: float) -> list[Report]:
        """A new snapshot of the market's book: trade-throughs fill, queues shrink to what is displayed."""
        self._bids[pair] = tuple(bids)
        self._asks[pair] = tuple(asks)
        for key in [k for k in self._consumed if k[0] == pair]:
            del self._consumed[key]
        reports: list[Report] = []
        best_bid, best_ask = self.best(pair)
        for r in self._by_priority(pair):
            crossed = (best_ask is not None and best_ask <= r.price) if r.side is Side.BUY else (
                best_bid is not None and best_bid >= r.price)
            if crossed:
                reports.extend(self._maker_fill(r, r.remaining, now))
            elif self._in_view(pair, r.side, r.price):
                r.queue_ahead = min(r.queue_ahead, self._displayed(pair, r.side, r.price))
        return reports

    def on_trade(self, pair: str, aggressor: Side, price: Decimal, size: Decimal, now: float) -> list[Report]:
        """A public trade: fills our resting orders on the other side in price-time priority (module doc)."""
        reports: list[Report] = []
        budget = size
        at_price: list[_Resting] = []
        for r in self._by_priority(pair):
            if r.side is aggressor:
                continue
            if r.price == price:
                at_price.append(r)
                continue
            better = r.price > price if r.side is Side.BUY else r.price < price
            if better and budget > 0:
                filled = self._maker_fill(r, min(r.remaining, budget), now)
                budget -= sum((t.fill_amount for t in filled if isinstance(t, TradeUpdate)), _ZERO)
                reports.extend(filled)
        # At the printed price, in time order: each order's ``queue_ahead`` is the market's size ahead of it,
        # counted from the level's front, so the print eats the market's part of the queue once for all of them
        # (the second of two orders behind the same 2 lots is not behind 4).
        eaten = _ZERO
        for r in at_price:
            gap = min(max(r.queue_ahead - eaten, _ZERO), budget)
            eaten += gap
            budget -= gap
            if budget > 0:
                filled = self._maker_fill(r, min(r.remaining, budget), now)
                budget -= sum((t.fill_amount for t in filled if isinstance(t, TradeUpdate)), _ZERO)
                reports.extend(filled)
        for r in at_price:
            r.queue_ahead = max(r.queue_ahead - eaten, _ZERO)
        return reports

    # ------------------------------------------------------------------------------------------- internals

    def _by_priority(self, pair: str) -> list[_Resting]:
        """Our resting orders of ``pair``, best price first per side, then by time (a stable, total order)."""
        mine = [r for r in self._resting.values() if r.pair == pair]
        return sorted(mine, key=lambda r: (r.side is Side.SELL, -r.price if r.side is Side.BUY else r.price, r.seq))

    def _maker_fill(self, r: _Resting, amount: Decimal, now: float) -> list[Report]:
        """Fill ``amount`` of a resting order as maker (a reduce-only one: at most the position left, and
        cancelled once nothing is left to reduce)."""
        if r.reduce_only:
            amount = min(amount, self._reduce_cap(r.pair, r.side))
            if amount <= 0:
                del self._resting[r.cid]
                return [OrderUpdate(r.pair, OrderState.CANCELED, now, r.cid, r.eid, "reduce-only order cancelled: "
                                    "nothing left to reduce", "reduceOnlyCanceled", executed=r.executed)]
        r.executed += amount
        if r.remaining <= 0:
            del self._resting[r.cid]
        reports: list[Report] = [self._trade(r.pair, r.side, r.price, amount, r.cid, r.eid, now, taker=False)]
        if r.reduce_only and r.remaining > 0 and self._reduce_cap(r.pair, r.side) <= 0:
            del self._resting[r.cid]
            reports.append(OrderUpdate(r.pair, OrderState.CANCELED, now, r.cid, r.eid, "reduce-only order "
                                       "cancelled: nothing left to reduce", "reduceOnlyCanceled",
                                       executed=r.executed))
        return reports

    def _reduce_cap(self, pair: str, side: Side) -> Decimal:
        """How much a reduce-only order on ``side`` may still fill: the opposite position's size (0: none)."""
        position = self._position.get(pair, _ZERO)
        return -position if side is Side.BUY and position < 0 else (
            position if side is Side.SELL and position > 0 else _ZERO)

    def _take(self, pair: str, side: Side, limit: Decimal, amount: Decimal, cid: str, eid: str,
              now: float) -> list[Report]:
        """Walk the market's opposite side up to ``limit``; our own opposite orders the walk reaches (priced
        better than a level it takes from, or within the limit when it walks all the way) are cancelled, never
        traded with (self-trade prevention as on Hyperliquid: the resting order is cancelled)."""
        levels = self._asks.get(pair, ()) if side is Side.BUY else self._bids.get(pair, ())
        is_ask = side is Side.BUY
        reports: list[Report] = []
        left = amount
        for level in levels:
            if left <= 0 or (level.price > limit if side is Side.BUY else level.price < limit):
                break
            key = (pair, is_ask, level.price)
            available = level.size - self._consumed.get(key, _ZERO)
            if available <= 0:
                continue
            reports.extend(self._self_trade(pair, side, level.price, now, inclusive=False))
            take = min(left, available)
            self._consumed[key] = self._consumed.get(key, _ZERO) + take
            left -= take
            reports.append(self._trade(pair, side, level.price, take, cid, eid, now, taker=True))
        if left > 0:
            reports.extend(self._self_trade(pair, side, limit, now, inclusive=True))
        return reports

    def _own_crossed(self, pair: str, side: Side, bound: Decimal, *, inclusive: bool) -> list[_Resting]:
        """Our resting orders opposite ``side`` priced better than ``bound`` (or at it, when ``inclusive``)."""
        def crossed(r: _Resting) -> bool:
            if r.side is side:
                return False
            if r.price == bound:
                return inclusive
            return r.price < bound if side is Side.BUY else r.price > bound

        return [r for r in self._by_priority(pair) if crossed(r)]

    def _self_trade(self, pair: str, side: Side, bound: Decimal, now: float, *, inclusive: bool) -> list[Report]:
        reports: list[Report] = []
        for r in self._own_crossed(pair, side, bound, inclusive=inclusive):
            del self._resting[r.cid]
            reports.append(OrderUpdate(pair, OrderState.CANCELED, now, r.cid, r.eid, "self-trade: the resting "
                                       "order is cancelled", "selfTradeCanceled", executed=r.executed))
        return reports

    def _trade(self, pair: str, side: Side, price: Decimal, amount: Decimal, cid: str, eid: str, now: float, *,
               taker: bool) -> TradeUpdate:
        self._tids += 1
        self.fills += 1
        self._position[pair] = self._position.get(pair, _ZERO) + (amount if side is Side.BUY else -amount)
        rate = self.model.taker_fee if taker else self.model.maker_fee
        return TradeUpdate(f"{self.run_id}-{self._tids}", pair, price, amount, price * amount * rate,
                           self.model.fee_asset, now, cid, eid, taker, side)

    def _crosses(self, pair: str, side: Side, price: Decimal) -> bool:
        """Whether an order at ``price`` would match at once: the market's best, or one of our own orders."""
        bid, ask = self.best(pair)
        if (ask is not None and price >= ask) if side is Side.BUY else (bid is not None and price <= bid):
            return True
        return bool(self._own_crossed(pair, side, price, inclusive=True))

    def _in_view(self, pair: str, side: Side, price: Decimal) -> bool:
        """Whether the pair's snapshot reaches ``price`` on ``side`` (an empty side shows nobody ahead)."""
        levels = self._bids.get(pair, ()) if side is Side.BUY else self._asks.get(pair, ())
        if not levels:
            return True
        return price >= levels[-1].price if side is Side.BUY else price <= levels[-1].price

    def _displayed(self, pair: str, side: Side, price: Decimal) -> Decimal:
        for level in self._bids.get(pair, ()) if side is Side.BUY else self._asks.get(pair, ()):
            if level.price == price:
                return level.size
        return _ZERO

    def _refuse(self, order: InFlightOrder, reason: str, now: float) -> OrderUpdate:
        return OrderUpdate(order.pair, OrderState.FAILED, now, order.client_order_id, None, reason, "rejected")


def _executed(reports: Sequence[Report]) -> Decimal:
    """The size the trades among ``reports`` filled."""
    return sum((r.fill_amount for r in reports if isinstance(r, TradeUpdate)), _ZERO)
