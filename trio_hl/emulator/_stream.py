"""The venue's JSON shapes for orders, and the stream message the engine emits.

Rule followed (PROTOCOL §5, §6.4): numbers travel as decimal strings in ``float_to_wire`` form (at most 8
decimals, no trailing zeros), ids and timestamps as integers; an order appears in two shapes — the short one
of ``openOrders`` / WS ``orderUpdates`` and the "frontend" one of ``frontendOpenOrders`` / ``orderStatus`` /
``historicalOrders``.  Both are built here from the engine's mutable :class:`Order`, so the info answers and
the streams can never disagree about an order.

Alternative rejected: caching the wire dict on the order.  Orders change at every fill; rebuilding a dict
of a dozen fields when asked is cheaper than invalidating a cache on every mutation.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import attrs

from trio_hl.emulator._book import Order
from trio_hl.hyperliquid.wire import to_wire

__all__ = ["StreamMessage", "frontend_order", "num", "order_status_entry", "short_order"]

_Q8: Final = Decimal("0.00000001")


@attrs.frozen(slots=True)
class StreamMessage:
    """One message for the WS layer: ``channel`` as sent, ``key`` the routing key (a coin, a lowercase user,
    ``"coin:interval"`` for candles, ``None`` for allMids), ``data`` the JSON-able payload."""

    channel: str
    key: str | None
    data: Any


#: Memo of :func:`num`.  The same prices and sizes are printed over and over (three per order update, two per
#: book level, per fill, per trade) and formatting one costs ~1.3 µs (``as_tuple`` + ``to_wire``) against
#: ~0.1 µs for a hit.  ``num`` is a function of the *value* alone (``1``, ``1.0`` and ``1E+0`` print alike, the
#: rounding is by value), so a hit is exactly what a miss would compute.  Bounded: emptied when full.
_NUM_MEMO: dict[Decimal, str] = {}
_NUM_MEMO_SIZE: Final = 8192


def num(d: Decimal) -> str:
    """A decimal as the venue prints it: rounded half-even to 8 decimals, trailing zeros stripped, and an integral
    value keeps one decimal place - ``"3000.0"``, ``"0.0"``, ``"-5.0"``, as every recorded venue answer prints
    them (``tests/fixtures/venue``: ``"triggerPx":"0.0"``, ``"sz":"50.0"``, ``"hold":"0.0"``), where the SDK's
    ``float_to_wire`` form that requests use would give ``"3000"``."""
    text = _NUM_MEMO.get(d)
    if text is None:
        exact = d
        if d.as_tuple().exponent < -8:  # type: ignore[operator]
            d = d.quantize(_Q8, rounding=ROUND_HALF_EVEN)
        text = to_wire(d)
        if "." not in text:
            text += ".0"
        if len(_NUM_MEMO) >= _NUM_MEMO_SIZE:
            _NUM_MEMO.clear()
        _NUM_MEMO[exact] = text
    return text


def text_num(d: Decimal) -> str:
    """A decimal as the venue writes it *inside a sentence*: ``"3000"``, not ``"3000.0"``.

    The venue's JSON number strings keep a decimal place on integral values (:func:`num`), but its messages print
    them bare: "Order value too large. Max is $5000000.", "... for cumulative volume traded $0.", trigger
    conditions such as "Price above 45000"."""
    text = num(d)
    return text[:-2] if text.endswith(".0") else text


def short_order(o: Order) -> dict[str, Any]:
    """``openOrders`` / ``orderUpdates`` order: ``sz`` is what remains, ``origSz`` what was asked."""
    out: dict[str, Any] = {
        "coin": o.coin,
        "side": "B" if o.is_buy else "A",
        "limitPx": num(o.limit_px),
        "sz": num(o.sz),
        "oid": o.oid,
        "timestamp": o.timestamp,
        "origSz": num(o.orig_sz),
    }
    if o.cloid is not None:
        out["cloid"] = o.cloid
    if o.reduce_only:
        out["reduceOnly"] = True
    return out


def _order_type(o: Order) -> str:
    if o.trigger_px is None:
        return "Market" if o.tif in ("Ioc", "FrontendMarket") and o.status != "open" else "Limit"
    kind = "Take Profit" if o.tpsl == "tp" else "Stop"
    return f"{kind} {'Market' if o.is_market_trigger else 'Limit'}"


def trigger_fires_above(o: Order) -> bool:
    """A buy stop and a sell take-profit fire when the mark rises to the trigger; the other two when it falls."""
    return o.is_buy == (o.tpsl == "sl")


def frontend_order(o: Order) -> dict[str, Any]:
    """The ``frontendOpenOrders`` / ``orderStatus`` order shape (PROTOCOL §5)."""
    if o.trigger_px is None:
        condition = "N/A"
        trigger_px = "0.0"
    else:
        condition = f"Price {'above' if trigger_fires_above(o) else 'below'} {text_num(o.trigger_px)}"
        trigger_px = num(o.trigger_px)
    return {
        "coin": o.coin,
        "side": "B" if o.is_buy else "A",
        "limitPx": num(o.limit_px),
        "sz": num(o.sz),
        "oid": o.oid,
        "timestamp": o.timestamp,
        "triggerCondition": condition,
        "isTrigger": o.trigger_px is not None,
        "triggerPx": trigger_px,
        "children": [],
        "isPositionTpsl": o.is_position_tpsl,
        "reduceOnly": o.reduce_only,
        "orderType": _order_type(o),
        "origSz": num(o.orig_sz),
        "tif": None if o.trigger_px is not None else o.tif,
        "cloid": o.cloid,
    }


def order_status_entry(o: Order, *, frontend: bool) -> dict[str, Any]:
    """``{"order": {...}, "status": ..., "statusTimestamp": ...}`` (orderStatus, historicalOrders, WS)."""
    return {
        "order": frontend_order(o) if frontend else short_order(o),
        "status": o.status,
        "statusTimestamp": o.status_ts,
    }
