"""Events the connector emits: frozen values, one class per kind, delivered through memory channels.

Ordering guarantees (enforced by the tracker): for each order, ``OrderCreated`` (or a pre-creation
``OrderFailed``) comes before any fill or terminal event, then any number of ``OrderPartiallyFilled`` /
``OrderModified``, then exactly one terminal event (``OrderFilled``, ``OrderCancelled`` or ``OrderFailed``).
``OrderUnknown`` (ambiguous submit), ``OrderLost`` and ``OrderAnomaly`` describe the *submission* or the
tracker's knowledge and may precede ``OrderCreated``.  ``CancelRejected`` answers a refused cancel: it is
never emitted after the terminal event, and precedes ``OrderCreated`` when the placement is still unresolved.
``ModifyRejected`` answers a modify that did not apply while the order lives on: it comes after ``OrderCreated``
(only an acknowledged order can be modified) and never after the terminal event.
``UnmatchedFill`` reports a fill that never found its order (its ``client_order_id`` is the fill's, or ``""``
when the venue gave only an exchange id).
Fills that arrive after the terminal event are still applied and reported as ``LateFill``; nothing is
dropped.  ``OrderAnomaly`` reports what the tracker refused or found inconsistent (over-fills etc.).

``EVENT_KINDS`` maps every class to the short name used in ZMQ topics (``orders.hyperliquid.<kind>``).

``HealthChanged`` is not about an order: the connector's health monitor emits it on the same channel when
its readiness to trade or the freshness of its data changes (topic ``health.hyperliquid.changed``, see
``HEALTH_EVENT_KINDS``).  It carries empty ``client_order_id`` and ``pair`` fields so that code written
against order events (which reads those off every event before dispatching) keeps working unchanged;
dispatch on ``isinstance``.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderState, OrderType, Side
from trio_hl.core.updates import TradeUpdate

__all__ = [
    "EVENT_KINDS",
    "HEALTH_EVENT_KINDS",
    "HEALTH_FAMILY",
    "CancelRejected",
    "Event",
    "HealthChanged",
    "HealthIssue",
    "LateFill",
    "ModifyRejected",
    "OrderAnomaly",
    "OrderCancelled",
    "OrderCreated",
    "OrderEvent",
    "OrderFailed",
    "OrderFilled",
    "OrderLost",
    "OrderModified",
    "OrderPartiallyFilled",
    "OrderSnapshotEvent",
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
class CancelRejected(OrderEvent):
    """The venue refused a cancel of this order (per order in a cancel batch, or the whole action), and the
    order is still active as far as the tracker knows.  Not terminal: the order's lifecycle goes on.

    One event per refusal the venue sends for an active order - a ``cancel()``, the kill switch's
    ``cancel_all()``, or the connector's own cancels (of a lost order, of an intent re-sent after a restart).
    The usual reason is a race: the order has just filled or been cancelled (by the venue, another client or
    another cancel of ours) and the stream has not said so yet; then its terminal event follows.  A refusal
    for an order the tracker already knows is finished (terminal, or the venue's FILLED/CANCELED verdict is
    in and only fills are awaited) is *not* reported: the terminal event already answered the cancel, just
    as a stale status for a finished order is only counted (``TrackerStats.cancels_rejected``).

    Fields, and why a strategy needs them:

    * ``reason``: the venue's text, unchanged (e.g. ``"Order was never placed, already canceled, or filled.
      asset=3"``, or an action-level error that retrying cannot cure, such as an unknown signer).  "Already
      canceled or filled" means wait for the terminal event; anything else means the order may well still
      rest, so cancel again if you still want it out.  A refusal for a passing reason (a rate limit, a nonce
      race) is not reported: the cancel stays under way (PENDING_CANCEL) and the connector sends it again, at
      the venue's pace, while the order is open.
    * ``state``: the order's state right after the refusal.  The cancel request is cleared, so a resting
      order shows ``OPEN`` / ``PARTIALLY_FILLED`` again (``conn.cancel_all()`` will include it again);
      ``UNKNOWN`` / ``PENDING_CREATE`` mean the placement itself is unresolved (the connector still cancels
      the order if it turns out to be live).  It is a snapshot: read ``conn.get_order()`` for later changes.
    * ``exchange_order_id``: the venue's id, for correlating with venue tools and for subscribers of the
      event stream that keep no order table (``None`` while the placement is unresolved).
    """

    reason: str
    state: OrderState
    exchange_order_id: str | None


@attrs.frozen
class OrderModified(OrderEvent):
    exchange_order_id: str | None
    amount: Decimal
    price: Decimal | None


@attrs.frozen
class ModifyRejected(OrderEvent):
    """A modify (``conn.modify()``) did not apply, and the order still rests unchanged: same exchange id, same
    price, same amount.  Not terminal.  For a quoting strategy: "my re-quote did not happen, my order is
    still at ``price``" - re-quote (modify again, or cancel and place) if the old quote is no longer wanted.

    Every modify is answered: ``OrderModified`` (applied), ``ModifyRejected`` (not applied, the order rests as
    it was), or the order's terminal event (the order is gone).

    Hyperliquid's modify is cancel + place: the venue cancels the old order and places the new one under a new
    exchange id, same client id.  So a refusal of the *new* order (a post-only re-price that would cross, too
    little margin, an invalid size...) means the old order is already gone as well - that is what the venue
    and the emulator do: the old order ``canceled``, the refused one (``badAloPxRejected``...) the client id's
    latest.  Then this event is **not** sent, since no quote rests: the order's terminal event answers the
    modify (``OrderFailed``, reason the venue's status such as ``badAloPxRejected``: its last word on the
    client id), and ``TrackerStats.modifies_rejected`` counts the refusal.  Whether the old order survived is
    never guessed: after a per-order refusal or an unsure outcome the connector reads the order's status
    first, and reports what it shows.  The rule: one ``ModifyRejected`` per modify that did not apply while
    the order is still live afterwards; a modify that did not apply to an order that is finished (or whose
    FILLED/CANCELED verdict is in and only fills are awaited) is counted, not reported.

    When it is sent:

    * the venue refused the whole action (a rate limit, say; after the usual retries): nothing was touched,
      reported at once;
    * the modify never reached the venue (every send attempt failed to connect): reported at once;
    * the venue refused it per order and the status read afterwards still shows the order resting;
    * its outcome was unknown (a timeout, a 5xx, an unreadable answer) and the status read afterwards shows
      the order still resting under its old exchange id: it did not land.  (Had it landed, the status shows
      the new id at the new price and the connector reports ``OrderModified``, as the lost answer would have.
      A request still stuck in the network could in principle land after the read; ``OrderModified`` would
      then follow this event.)

    An unsure modify is thus never reported before the venue has been asked: if its status cannot be read,
    the connector asks again one resolve period later, for as long as it takes, and answers only then.

    Fields:

    * ``reason``: the venue's text, unchanged (``"Too many cumulative requests sent ..."``), or why the
      connector knows the modify did not apply (``"modify not sent: ..."``, ``"modify not confirmed: ...;
      the venue still shows the order unmodified"``).
    * ``state``: the order's state after the refusal (``OPEN``, ``PARTIALLY_FILLED``, or ``PENDING_CANCEL``
      when a cancel is under way).  A snapshot: read ``conn.get_order()`` for later changes.
    * ``exchange_order_id``, ``price``, ``amount``: the order as it still rests (its total amount, executed
      part included) - the values the modify did not change.
    * ``requested_price``, ``requested_amount``: what the modify asked for (total amount), which did not
      apply.  Named apart from ``price``/``amount`` so that a subscriber copying fields onto its order table
      never records a price the venue refused.
    """

    reason: str
    state: OrderState
    exchange_order_id: str | None
    price: Decimal | None
    amount: Decimal
    requested_price: Decimal | None
    requested_amount: Decimal | None


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


@attrs.frozen
class OrderSnapshotEvent(OrderEvent):
    """Where one active order stands now, for a subscriber that joined late (topic ``orders.<venue>.snapshot``).

    Not emitted on ``conn.events()`` (a strategy has ``conn.get_order`` / ``open_orders``): the ZMQ publisher
    sends one per active order whenever a new subscription arrives, so a recorder or dashboard started after the
    connector knows the side, type, size and price of orders whose ``OrderCreated`` it never saw.  Everyone
    subscribed gets them (a PUB socket cannot address one peer); they describe state, they are not
    transitions, so consumers apply them only where they know nothing better (the recorder fills missing
    columns and never moves a known order's state).
    """

    exchange_order_id: str | None
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    state: OrderState
    executed_amount: Decimal

    @classmethod
    def of(cls, order: InFlightOrder, timestamp: float) -> OrderSnapshotEvent:
        """The snapshot of a tracked order at ``timestamp`` (the order's fields as they are now)."""
        return cls(order.client_order_id, order.pair, timestamp, order.exchange_order_id, order.side,
                   order.order_type, order.amount, order.price, order.state, order.executed_amount)


class HealthIssue(enum.Enum):
    """Why the connector is not fit to quote (values are the wire strings)."""

    #: The WebSocket is down: no market data, no order updates; orders wait behind the submit gate.
    WS_DISCONNECTED = "ws_disconnected"
    #: Connected again, but the gap-fill (what happened while we were away) has not finished.
    GAP_FILLING = "gap_filling"
    #: The connection is up but silent (no frame of any kind, pongs included): the user stream is stale.
    STREAM_STALE = "stream_stale"
    #: At least one streamed book is older than the staleness threshold (the pairs are in ``stale_pairs``).
    BOOK_STALE = "book_stale"
    #: The order journal cannot be written (a full disk, an I/O error): no new orders are accepted, resting ones
    #: are being cancelled, and the connector then stops with a ``JournalError`` naming the file.
    JOURNAL_UNWRITABLE = "journal_unwritable"


@attrs.frozen
class HealthChanged:
    """The connector's fitness to trade changed (debounced by the health monitor, so a short blip is silent).

    ``trading_ready``: connected, gap-filled and the stream alive (no WS/gap-fill/stream issue).  A stale
    book affects only its pair: quote ``pair`` only while ``can_quote(pair)``.  ``issues`` lists every
    current problem (empty when all is well); ``stale_pairs`` the books that are stale, sorted.
    ``conn.health()`` is the undebounced picture at any moment.
    """

    timestamp: float
    trading_ready: bool
    issues: tuple[HealthIssue, ...]
    stale_pairs: tuple[str, ...]
    ws_reconnects: int
    #: Always ``""``: not an order event (see the module doc).
    client_order_id: str = ""
    #: Always ``""``: the pairs concerned are in ``stale_pairs``.
    pair: str = ""

    def can_quote(self, pair: str) -> bool:
        """Fit to keep quotes on ``pair``: trading ready and its book fresh."""
        return self.trading_ready and pair not in self.stale_pairs


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
    | CancelRejected
    | ModifyRejected
    | HealthChanged
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
    CancelRejected: "cancel_rejected",
    ModifyRejected: "modify_rejected",
    OrderSnapshotEvent: "snapshot",
}


#: Topic family of connector health events (``health.hyperliquid.changed``).
HEALTH_FAMILY = "health"
HEALTH_EVENT_KINDS: dict[type, str] = {HealthChanged: "changed"}


def event_kind(event: OrderEvent) -> str:
    """Short topic name of an event (``"filled"``, ``"partial_fill"``...)."""
    return EVENT_KINDS[type(event)]
