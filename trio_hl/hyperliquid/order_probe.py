"""Hyperliquid's ``orderStatus`` as a venue-free :class:`~trio_hl.core.connector.VenueOrderStatus`.

``HyperliquidConnector.query_order`` answers with it, and execution algorithms settle a short-cancelled slice from
it (the venue's ``origSz - sz`` for a cancelled order is final; the stream's fills may still be on their way).
"""

from __future__ import annotations

from decimal import Decimal

from trio_hl.core.connector import VenueOrderStatus
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid.rest import InfoClient
from trio_hl.hyperliquid.statuses import parse_status, to_order_state

__all__ = ["VenueSliceProbe", "venue_order_status"]


async def venue_order_status(info: InfoClient, user: str, client_order_id: str) -> VenueOrderStatus | None:
    """One ``orderStatus`` call (weight 2) by cloid; None for ``unknownOid``.  ``ProtocolError`` for an answer
    of another shape; the info client's ``TransportError`` propagates."""
    answer = await info.order_status(user, client_order_id)
    if answer.get("status") == "unknownOid":
        return None
    try:
        entry = answer["order"]
        order = entry["order"]
        filled = Decimal(str(order["origSz"])) - Decimal(str(order["sz"]))
        state = to_order_state(parse_status(entry.get("status")))
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise ProtocolError(f"orderStatus {client_order_id}: unexpected answer {answer!r:.300}") from exc
    return VenueOrderStatus(state=state, filled=filled)


class VenueSliceProbe:
    """A slice probe (``trio_hl.execution.SliceProbe``) over ``orderStatus`` with an explicit info client and
    user, for callers that probe another account than the connector's."""

    def __init__(self, info: InfoClient, user: str) -> None:
        self._info = info
        self._user = user

    async def __call__(self, client_order_id: str) -> VenueOrderStatus | None:
        return await venue_order_status(self._info, self._user, client_order_id)
