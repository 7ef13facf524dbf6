"""Events the connector emits: frozen values, one class per kind, delivered through memory channels.

Ordering guarantees (enforced by the tracker): for each order, ``OrderCreated`` (or a pre-creation
``OrderFailed``) comes before any fill or terminal event, then any number of ``OrderPartiallyFilled`` /
``OrderModified``, then exactly one terminal event (``OrderFilled``, ``OrderCancelled`` or ``OrderFailed``).
``OrderUnknown`` (ambiguous submit), ``OrderLost`` and ``OrderAnomaly`` describe the *submission* or the
tracker's knowledge and may precede ``OrderCreated``.  ``UnmatchedFill`` reports a fill that never found
its order (its ``client_order_id`` is the fill's, or ``""`` when the venue gave only an exchange id).
Fills that arrive after the terminal event are still applied and reported as ``LateFill``; nothing is
dropped.  ``OrderAnomaly`` reports what the tracker refused or found inconsistent (over-fills etc.).

``EVENT_KINDS`` maps every class to the short name used in ZMQ topics (``orders.hyperliquid.<kind>``).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from trio_hl.core.types import OrderState, OrderType, Side
from trio_hl.core.updates import TradeUpdate

__all__ = [
    "EVENT_KINDS",
    "Event",
    "LateFill",
    "OrderAnomaly",
    "OrderCancelled",
    "OrderCreated",
    "OrderEvent",
    "OrderFailed",
    "OrderFilled",
    "OrderLost",
    "OrderModified",
    "OrderPartiallyFilled",
    "OrderUnknown",
    "UnmatchedFill",
    "event_kind",
]


@attrs.frozen
class OrderEvent:
    """Fields every order event carries."""

    client_order_id: str
    pair: str
    timestamp: float


@attrs.frozen
class OrderCreated(OrderEvent):
    exchange_order_id: str | None
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None


@attrs.frozen
class OrderPartiallyFilled(OrderEvent):
    """One fill that leaves the order still open."""

    trade: TradeUpdate
    executed_amount: Decimal
    remaining_amount: Decimal


@attrs.frozen
class OrderFilled(OrderEvent):
    """Terminal: the whole amount executed.  ``trade`` is the fill that completed it (None if the venue's
    FILLED status was accepted after its fills had all been reported)."""

    exchange_order_id: str | None
    side: Side
    executed_amount: Decimal
    average_price: Decimal
    total_fee: Decimal
    trade: TradeUpdate | None = None


@attrs.frozen
class OrderCancelled(OrderEvent):
    exchange_order_id: str | None
    executed_amount: Decimal
    reason: str | None = None


@attrs.frozen
class OrderFailed(OrderEvent):
    """Terminal: the venue definitively refused the order (never emitted for timeouts)."""

    reason: str


@attrs.frozen
class OrderUnknown(OrderEvent):
    """The order's fate is not known (ambiguous submit); resolution is under way."""

    reason: str


@attrs.frozen
class OrderModified(OrderEvent):
    exchange_order_id: str | None
    amount: Decimal
    price: Decimal | None


@attrs.frozen
class OrderLost(OrderEvent):
    """The venue repeatedly did not know this order; it is listed for re-polling and cancellation."""

    not_found_count: int


@attrs.frozen
class LateFill(OrderEvent):
    """A fill for an order already in a terminal state; applied to its totals and reported."""

    trade: TradeUpdate
    state: OrderState
    executed_amount: Decimal


@attrs.frozen
class OrderAnomaly(OrderEvent):
    """Something inconsistent the tracker detected and refused or flagged (``kind`` is a short tag such as
    ``"overfill"`` or ``"transition_refused"``)."""

    kind: str
    detail: str


@attrs.frozen
class UnmatchedFill(OrderEvent):
    """A fill no tracked order claimed within the tracker's orphan window (another session's order, or one
    evicted from the finished-orders cache).  Reported, never dropped; ``exchange_order_id`` as the venue
    gave it."""

    trade: TradeUpdate
    exchange_order_id: str | None


Event = (
    OrderCreated
    | OrderPartiallyFilled
    | OrderFilled
    | OrderCancelled
    | OrderFailed
    | OrderUnknown
    | OrderModified
    | OrderLost
    | LateFill
    | OrderAnomaly
    | UnmatchedFill
)

EVENT_KINDS: dict[type[OrderEvent], str] = {
    OrderCreated: "created",
    OrderPartiallyFilled: "partial_fill",
    OrderFilled: "filled",
    OrderCancelled: "cancelled",
    OrderFailed: "failed",
    OrderUnknown: "unknown",
    OrderModified: "modified",
    OrderLost: "lost",
    LateFill: "late_fill",
    OrderAnomaly: "anomaly",
    UnmatchedFill: "unmatched_fill",
}


def event_kind(event: OrderEvent) -> str:
    """Short topic name of an event (``"filled"``, ``"partial_fill"``...)."""
    return EVENT_KINDS[type(event)]
