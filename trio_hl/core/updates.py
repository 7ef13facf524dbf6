"""Update values the tracker consumes: what a venue (or our own submit path) says about an order.

Venue adapters build these from wire messages (``from_wire`` constructors live in the venue package);
the tracker never sees a wire dict.  Either id may be missing: a venue fill may carry only the exchange
id, a submit answer only the client id.  Timestamps are float seconds (venue time where the venue gives
one, otherwise the caller's clock).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from trio_hl.core.types import OrderState, Side

__all__ = ["OrderUpdate", "TradeUpdate"]


@attrs.frozen
class OrderUpdate:
    """A new state for one order, from the venue or from the submit path.

    ``reason`` carries the venue's text for rejections and cancels; ``venue_status`` the raw status name
    (kept for logs and the journal, never matched on by the tracker).  ``amount`` / ``price`` are set only
    when the venue confirms a modify: the tracker then updates the order and emits ``OrderModified``
    (together with a new ``exchange_order_id`` when the venue re-keys modified orders).
    """

    pair: str
    new_state: OrderState
    timestamp: float
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    reason: str | None = None
    venue_status: str | None = None
    amount: Decimal | None = None
    price: Decimal | None = None
    #: The venue's executed total at this status, when it says so (an IOC's ``filled.totalSz``; a snapshot's
    #: ``origSz - sz``).  A CANCELED status whose fills have not all arrived yet then waits for them, so the
    #: terminal event carries the true executed amount instead of being followed by ``LateFill``s.
    executed: Decimal | None = None


@attrs.frozen
class TradeUpdate:
    """One fill.  ``trade_id`` is the venue's unique trade id: the key for fill de-duplication."""

    trade_id: str
    pair: str
    fill_price: Decimal
    fill_amount: Decimal
    fee: Decimal
    fee_asset: str
    timestamp: float
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    is_taker: bool = False
    #: The account's side of the trade, when the venue says (it always does on Hyperliquid).  It lets
    #: ``position()`` count fills of orders this connector did not place (a native TWAP, another client).
    side: Side | None = None
