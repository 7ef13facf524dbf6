"""``Connector``: the venue-free surface a strategy, an execution algorithm or a test helper is written against.

Why a ``typing.Protocol`` and not a base class: implementations share no code through it (the Hyperliquid connector
and the paper connector share the tracker, the journal, the risk manager and the event fan-out by *composition*),
and a third-party connector must be able to satisfy it without inheriting from us.  It is runtime-checkable, so
``isinstance(conn, Connector)`` checks the members are there; mypy checks the signatures.

The docstrings below are the contract every implementation keeps (``trio_hl.testing.conformance`` checks it, for
``HyperliquidConnector`` on the emulator and for ``PaperConnector``):

* **Calls never wait.**  ``buy``/``sell``/``cancel``/``cancel_all``/``modify``/``kill`` are plain methods: they
  validate, track (and journal) and queue, then return.  What the venue made of a request arrives as events.
* **Refusals at the call raise before anything is tracked:** ``InvalidOrderError`` (bad parameters, unknown pair,
  a duplicate client order id), ``RiskLimitError`` (a pre-trade limit or the kill switch, see
  ``trio_hl.core.risk``), and an implementation-specific ``TrioHLError`` when its queue is full.  Nothing raised
  by these calls leaves an order half-tracked.
* **Every outcome is an event** on ``events()``:

  ===============================  ==============================================================================
  outcome                          events, in order, for that order
  ===============================  ==============================================================================
  accepted, rests                  ``OrderCreated``
  refused by the venue             ``OrderFailed`` (reason: the venue's text); no ``OrderCreated`` before it
  partly filled                    ``OrderPartiallyFilled`` per fill (carrying the ``TradeUpdate``)
  filled                           ``OrderFilled`` (the last fill)
  cancelled                        ``OrderCancelled`` (an IOC's unfilled rest included)
  cancel refused                   ``CancelRejected`` (the order's state after the refusal), then usually the
                                   terminal event of the race it lost
  modified                         ``OrderModified`` (new price/amount)
  modify not applied               ``ModifyRejected`` (the order still rests as before), or the order's terminal
                                   event if the refusal ended it
  send outcome unknown             ``OrderUnknown``, later resolved to one of the above (never guessed FAILED)
  fill after the terminal event    ``LateFill`` (applied, never dropped)
  ===============================  ==============================================================================

* **Ordering of ``events()``:** per order, ``OrderCreated`` (or a refusal's ``OrderFailed``) precedes its fills and
  its modifications, and exactly one terminal event (``OrderFilled``, ``OrderCancelled``, ``OrderFailed``) ends it;
  only ``LateFill``/``OrderAnomaly`` may follow.  Across orders, events come in the order the connector learned
  them.  Each ``events()`` call is a new lossless subscription from that moment on (subscribe *before* the first
  order); a slow reader applies backpressure to the connector's event pump, it never loses an event.
  ``HealthChanged`` events share the channel; dispatch on ``isinstance``.
* **Market data conflates:** ``watch_book`` yields the newest book (a slow reader skips intermediate ones);
  ``watch_trades`` yields every public trade seen while the iterator is alive.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs
import trio

from trio_hl.core.book import OrderBook
from trio_hl.core.events import Event
from trio_hl.core.order import InFlightOrder
from trio_hl.core.risk import RiskManager
from trio_hl.core.types import OrderParams, OrderState, Side, TradingRule

__all__ = ["Balance", "Connector", "HealthReport", "Position", "PublicTrade", "VenueOrderStatus"]


@attrs.frozen
class PublicTrade:
    """One trade on the public tape of a pair (anyone's).  ``side`` is the aggressor's (the taker's) side."""

    pair: str
    side: Side
    price: Decimal
    size: Decimal
    timestamp: float
    trade_id: str


@attrs.frozen
class Position:
    """The account's signed position in one pair, in base units (negative: short).

    ``average_price`` is the entry price when the connector knows it (None otherwise)."""

    pair: str
    size: Decimal
    average_price: Decimal | None = None


@attrs.frozen
class Balance:
    """One asset of the account: ``total`` it holds, ``available`` of it for new orders or withdrawal."""

    asset: str
    total: Decimal
    available: Decimal


@attrs.frozen
class VenueOrderStatus:
    """What the venue (not the tracker) says about one order: its lifecycle ``state`` (None if the venue's status
    maps to none) and how much of it executed.  The venue's answer for a terminal order is final."""

    state: OrderState | None
    filled: Decimal


class HealthReport(Protocol):
    """The part of ``health()`` every connector reports (implementations add their own fields)."""

    @property
    def trading_ready(self) -> bool:
        """Orders would be sent now (False while reconnecting, gap-filling, or before the market data arrived)."""

    @property
    def orders_active(self) -> int:
        """Tracked orders not yet terminal."""

    @property
    def book_ages(self) -> Mapping[str, float | None]:
        """Seconds since each streamed pair's book was last updated (None: never)."""

    @property
    def event_backlog(self) -> int:
        """Events published but not yet delivered to every ``events()`` subscriber."""

    @property
    def ack_latency_p50_ms(self) -> float | None:
        """Median time from sending an order action to its answer (None before any)."""

    @property
    def ack_latency_p99_ms(self) -> float | None:
        """99th percentile of the same."""


@runtime_checkable
class Connector(Protocol):
    """The venue-free connector surface (module doc: raising, events, ordering).

    ``risk`` is the pre-trade :class:`~trio_hl.core.risk.RiskManager` (limits replaceable at run time, the kill
    switch's :meth:`~trio_hl.core.risk.RiskManager.kill_signal` for algorithms to watch)."""

    risk: RiskManager

    # ------------------------------------------------------------------------------------------- orders

    def buy(self, params: OrderParams) -> str:
        """Track and queue a buy; return its client order id at once (``params.client_order_id`` if given).

        Raises ``InvalidOrderError`` (invalid, unknown pair, duplicate id) or ``RiskLimitError`` before anything
        is tracked.  Then: ``OrderCreated`` or ``OrderFailed``, fills, one terminal event (module doc)."""

    def sell(self, params: OrderParams) -> str:
        """As :meth:`buy`, selling."""

    def cancel(self, pair: str, client_order_id: str) -> bool:
        """Queue a cancel.  False (and nothing sent) for an order already terminal (a race, not a mistake); True
        otherwise - a second call while one cancel is under way sends nothing more.  Outcome: ``OrderCancelled``,
        or a fill that won the race, or ``CancelRejected``.  Raises ``UnknownOrderError`` for an id never
        tracked and ``InvalidOrderError`` when ``pair`` is not the order's (the caller's mistakes, raised at the
        call; the venue's refusals stay events)."""

    def cancel_all(self, pair: str | None = None) -> int:
        """Cancel every live order (of ``pair`` if given); return how many cancels were queued."""

    def modify(self, client_order_id: str, *, price: Decimal | None = None, amount: Decimal | None = None) -> None:
        """Queue a change of a live, acknowledged limit order's price and/or total amount (executed part
        included).  Raises ``InvalidOrderError`` for an order that is not live and acknowledged, not a limit
        order, or an amount not above what already executed.  Outcome: ``OrderModified``, ``ModifyRejected``,
        or the order's terminal event."""

    def kill(self, reason: str) -> int:
        """Kill switch: refuse every new order until ``risk.release_kill_switch()`` and cancel everything live;
        return how many cancels were queued.  Running execution algorithms stop (they watch the kill signal)."""

    def new_client_order_id(self) -> str:
        """A fresh client order id in this venue's format, for callers that must journal an id before
        ``buy()``/``sell()`` (an execution algorithm's write-ahead state)."""

    def events(self, buffer: int | None = None) -> trio.MemoryReceiveChannel[Event]:
        """A new lossless channel of every event from now on (close it to unsubscribe; ordering: module doc)."""

    # ------------------------------------------------------------------------------------------- orders: state

    def get_order(self, client_order_id: str) -> InFlightOrder | None:
        """The tracked order (None if unknown or forgotten).  Read-only for callers."""

    def open_orders(self) -> list[InFlightOrder]:
        """Every tracked order that is not terminal."""

    async def query_order(self, client_order_id: str) -> VenueOrderStatus | None:
        """Ask the venue itself about one order (None: the venue never saw it).  The tracker is not updated.
        Raises ``TransportError`` when the venue cannot be asked now (the caller may retry)."""

    # ------------------------------------------------------------------------------------------- account

    def position(self, pair: str) -> Decimal:
        """Signed position in ``pair`` (base units): the venue's at startup plus every account fill since."""

    def positions(self) -> dict[str, Position]:
        """Every non-zero position, by pair."""

    async def balances(self) -> dict[str, Balance]:
        """The account's balances by asset (the quote currency's ``available`` is what margin is left).
        Raises ``TransportError`` when the venue cannot be asked now."""

    # ------------------------------------------------------------------------------------------- market data

    def trading_rule(self, pair: str) -> TradingRule:
        """Lot size, price rule and minimum order value of ``pair`` (round with ``trio_hl.core.quantize``).
        Raises ``InvalidOrderError`` for an unknown pair."""

    def book(self, pair: str) -> OrderBook:
        """The live L2 book of a streamed pair (``InvalidOrderError`` if the pair is not streamed)."""

    def watch_book(self, pair: str) -> AsyncGenerator[OrderBook, None]:
        """Yield the book each time it changed since the last yield (conflating)."""

    def watch_trades(self, pair: str) -> AsyncGenerator[PublicTrade, None]:
        """Yield every public trade of ``pair`` from now on, in the venue's order, while iterating."""

    def mid(self, pair: str) -> Decimal | None:
        """The book's mid, else the venue's last published mid; None if neither is known."""

    def health(self) -> HealthReport:
        """A point-in-time picture (see :class:`HealthReport`)."""
