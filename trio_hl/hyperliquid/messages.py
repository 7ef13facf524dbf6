"""Venue messages → frozen values: fills, order updates, order status, ``/exchange`` answers, L2 books.

Rule followed (PROTOCOL §4.3, §5, §6.4).  Wire dicts stop here: the connector's stream and submit code call
these parsers and hand the tracker ``TradeUpdate`` / ``OrderUpdate`` values (and the book ``BookLevel``s),
never a dict.  Every parser is strict about shape and raises ``trio_hl.errors.ProtocolError`` with the path
of the offending field for anything malformed (missing key, wrong JSON type, a number that is not a plain
decimal string) — never ``KeyError``/``TypeError``/``InvalidOperation``.  The stream code logs and counts a
``ProtocolError`` and goes on with the next frame.

What is *not* an error: an order status we do not know (``parse_order_update`` returns None: "no state
change, log and count"), a coin we do not know (its pair is reported as the coin itself, so a fill is never
dropped), optional keys the venue sometimes omits (``cloid``, ``origSz``, ``builderFee``, ``feeToken``).

Alternative rejected: ``TypedDict``s over the raw JSON.  They document the shape but check nothing at run
time, so a truncated frame would surface as a ``KeyError`` deep inside the tracker.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from trio_hl.core.book import BookLevel
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid.statuses import (
    ActionRejectedError,
    OrderRejection,
    VenueOrderStatus,
    classify_action_error,
    parse_order_error,
    parse_status,
    to_order_state,
)

__all__ = [
    "ExchangeStatusKind",
    "FundingPayment",
    "L2BookSnapshot",
    "Liquidation",
    "NonUserCancel",
    "OrderSnapshot",
    "OrderStatusResult",
    "UserEvent",
    "UserFills",
    "check_ok_response",
    "parse_cancel_statuses",
    "parse_decimal",
    "parse_exchange_order_statuses",
    "parse_fill",
    "parse_l2_book",
    "parse_order_snapshot",
    "parse_order_status_response",
    "parse_order_update",
    "parse_user_event",
    "parse_user_fills",
]

_SIDES: Final = {"B": Side.BUY, "A": Side.SELL}
_EMPTY: Final[Mapping[str, str]] = {}


def parse_decimal(value: object, what: str = "value") -> Decimal:
    """A venue decimal string (``"1891.4"``) → Decimal; ``ProtocolError`` for anything else."""
    return f.decimal_value(value, what)


def _side(d: dict[str, Any], what: str) -> Side:
    raw = f.string(d, "side", what)
    try:
        return _SIDES[raw]
    except KeyError:
        raise ProtocolError(f"{what}.side: expected 'B' or 'A', got {raw!r}") from None


def _positive(d: dict[str, Any], key: str, what: str) -> Decimal:
    v = f.decimal(d, key, what)
    if v <= 0:
        raise ProtocolError(f"{what}.{key}: must be > 0, got {v}")
    return v


def _id(d: dict[str, Any], key: str, what: str) -> str:
    """An integer id (oid, tid) as our string id; a digit string is tolerated."""
    v = f.field(d, key, what)
    if type(v) is int and v >= 0:
        return str(v)
    if isinstance(v, str) and v.isascii() and v.isdigit():
        return v
    raise ProtocolError(f"{what}.{key}: expected a non-negative integer id, got {v!r}"[:200])


def _ms(d: dict[str, Any], key: str, what: str) -> int:
    v = f.integer(d, key, what)
    if v < 0:
        raise ProtocolError(f"{what}.{key}: expected a unix ms timestamp, got {v}")
    return v


def _pair(coin: str, coin_to_pair: Mapping[str, str]) -> str:
    pair = coin_to_pair.get(coin)
    return coin if pair is None else pair


# ------------------------------------------------------------------------------------------------- fills


def parse_fill(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> TradeUpdate:
    """One fill (info ``userFills``/``userFillsByTime``, WS ``userFills`` and ``userEvents.fills``).

    ``tid`` → ``trade_id`` (the de-duplication key), ``oid`` → ``exchange_order_id``, ``cloid`` →
    ``client_order_id``, ``crossed`` → ``is_taker``, ``time`` (ms) → ``timestamp`` (s).  ``fee`` is the
    venue's ``fee`` as sent (negative = rebate); UNSURE whether it already includes ``builderFee``, which
    is not added here.  A fill without ``feeToken`` is taken to be charged in USDC.
    """
    what = "fill"
    m = f.obj(d, what)
    coin = f.string(m, "coin", what)
    return TradeUpdate(
        trade_id=_id(m, "tid", what),
        pair=_pair(coin, coin_to_pair),
        fill_price=_positive(m, "px", what),
        fill_amount=_positive(m, "sz", what),
        fee=f.decimal(m, "fee", what),
        fee_asset=f.opt_string(m, "feeToken", what) or "USDC",
        timestamp=_ms(m, "time", what) / 1000,
        client_order_id=f.opt_string(m, "cloid", what),
        exchange_order_id=_id(m, "oid", what),
        is_taker=f.boolean(m, "crossed", what),
    )


@attrs.frozen
class UserFills:
    """A WS ``userFills`` message: the first one after subscribing is a snapshot (``is_snapshot``)."""

    user: str
    is_snapshot: bool
    fills: tuple[TradeUpdate, ...]


def parse_user_fills(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> UserFills:
    what = "userFills"
    m = f.obj(d, what)
    fills = f.array(f.field(m, "fills", what), f"{what}.fills")
    return UserFills(
        user=f.string(m, "user", what).lower(),
        is_snapshot=bool(f.opt_boolean(m, "isSnapshot", what)),
        fills=tuple(_fill_at(x, i, coin_to_pair, what) for i, x in enumerate(fills)),
    )


def _fill_at(x: object, i: int, coin_to_pair: Mapping[str, str], what: str) -> TradeUpdate:
    try:
        return parse_fill(x, coin_to_pair)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}.fills[{i}]: {exc}") from None


# ---------------------------------------------------------------------------------------- user events


@attrs.frozen
class FundingPayment:
    """A funding settlement (``userEvents.funding``); ``usdc`` is signed (negative = paid)."""

    pair: str
    timestamp: float
    usdc: Decimal
    position_size: Decimal
    funding_rate: Decimal


@attrs.frozen
class Liquidation:
    liquidation_id: int
    liquidator: str
    liquidated_user: str
    liquidated_notional: Decimal
    liquidated_account_value: Decimal


@attrs.frozen
class NonUserCancel:
    """Orders the venue canceled on its own (``userEvents.nonUserCancel``): (pair, exchange order id) pairs.

    The message carries no time and no reason; ``to_updates`` stamps them with the caller's clock.
    """

    cancels: tuple[tuple[str, str], ...]

    def to_updates(self, timestamp: float) -> list[OrderUpdate]:
        return [
            OrderUpdate(
                pair=pair,
                new_state=OrderState.CANCELED,
                timestamp=timestamp,
                exchange_order_id=oid,
                reason="nonUserCancel",
                venue_status="nonUserCancel",
            )
            for pair, oid in self.cancels
        ]


UserEvent = tuple[TradeUpdate, ...] | FundingPayment | Liquidation | NonUserCancel


def parse_user_event(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> UserEvent:
    """A WS ``userEvents`` message (channel ``"user"``): fills (a tuple of ``TradeUpdate``), a funding payment,
    a liquidation, or non-user cancels.  Exactly one of the four keys must be present."""
    what = "userEvents"
    m = f.obj(d, what)
    if "fills" in m:
        fills = f.array(m["fills"], f"{what}.fills")
        return tuple(_fill_at(x, i, coin_to_pair, what) for i, x in enumerate(fills))
    if "funding" in m:
        w = f"{what}.funding"
        x = f.obj(m["funding"], w)
        return FundingPayment(
            pair=_pair(f.string(x, "coin", w), coin_to_pair),
            timestamp=_ms(x, "time", w) / 1000,
            usdc=f.decimal(x, "usdc", w),
            position_size=f.decimal(x, "szi", w),
            funding_rate=f.decimal(x, "fundingRate", w),
        )
    if "liquidation" in m:
        w = f"{what}.liquidation"
        x = f.obj(m["liquidation"], w)
        return Liquidation(
            liquidation_id=f.integer(x, "lid", w),
            liquidator=f.string(x, "liquidator", w),
            liquidated_user=f.string(x, "liquidated_user", w),
            liquidated_notional=f.decimal(x, "liquidated_ntl_pos", w),
            liquidated_account_value=f.decimal(x, "liquidated_account_value", w),
        )
    if "nonUserCancel" in m:
        w = f"{what}.nonUserCancel"
        items = f.array(m["nonUserCancel"], w)
        cancels = []
        for i, raw in enumerate(items):
            x = f.obj(raw, f"{w}[{i}]")
            cancels.append((_pair(f.string(x, "coin", f"{w}[{i}]"), coin_to_pair), _id(x, "oid", f"{w}[{i}]")))
        return NonUserCancel(tuple(cancels))
    raise ProtocolError(f"{what}: expected one of fills/funding/liquidation/nonUserCancel, got keys {sorted(m)[:10]}")


# ------------------------------------------------------------------------------------------ order status


@attrs.frozen
class OrderSnapshot:
    """One order as the venue reports it (WS ``orderUpdates`` item, ``orderStatus``, ``historicalOrders``).

    ``remaining_size`` is the venue's ``sz`` (what is still open); ``orig_size`` its ``origSz`` when sent.
    The frontend-only fields (``reduce_only`` … ``trigger_price``) are None where the source omits them.
    """

    pair: str
    coin: str
    side: Side
    limit_price: Decimal
    remaining_size: Decimal
    orig_size: Decimal | None
    exchange_order_id: str
    client_order_id: str | None
    created: float
    status: VenueOrderStatus
    venue_status: str
    status_timestamp: float
    reduce_only: bool | None = None
    order_type: str | None = None
    tif: str | None = None
    is_trigger: bool | None = None
    trigger_price: Decimal | None = None

    @property
    def filled_size(self) -> Decimal | None:
        return None if self.orig_size is None else self.orig_size - self.remaining_size

    @property
    def state(self) -> OrderState | None:
        """Our lifecycle state (None for a status we do not know)."""
        return to_order_state(self.status)

    def to_update(self) -> OrderUpdate | None:
        """The tracker update this snapshot means; None for an unknown status (log and count it)."""
        state = to_order_state(self.status)
        if state is None:
            return None
        reason = None if state is OrderState.OPEN or state is OrderState.FILLED else self.venue_status
        return OrderUpdate(
            pair=self.pair,
            new_state=state,
            timestamp=self.status_timestamp,
            client_order_id=self.client_order_id,
            exchange_order_id=self.exchange_order_id,
            reason=reason,
            venue_status=self.venue_status,
        )


def parse_order_snapshot(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> OrderSnapshot:
    """``{"order": {...}, "status": "...", "statusTimestamp": ms}`` → ``OrderSnapshot``."""
    what = "orderUpdate"
    m = f.obj(d, what)
    status_raw = f.string(m, "status", what)
    w = f"{what}.order"
    o = f.obj(f.field(m, "order", what), w)
    coin = f.string(o, "coin", w)
    trigger_px = f.opt_decimal(o, "triggerPx", w)
    if trigger_px is not None and trigger_px.is_zero():
        trigger_px = None  # frontend orders say "0.0" when there is no trigger
    return OrderSnapshot(
        pair=_pair(coin, coin_to_pair),
        coin=coin,
        side=_side(o, w),
        limit_price=f.decimal(o, "limitPx", w),
        remaining_size=f.decimal(o, "sz", w),
        orig_size=f.opt_decimal(o, "origSz", w),
        exchange_order_id=_id(o, "oid", w),
        client_order_id=f.opt_string(o, "cloid", w),
        created=_ms(o, "timestamp", w) / 1000,
        status=parse_status(status_raw),
        venue_status=status_raw,
        status_timestamp=_ms(m, "statusTimestamp", what) / 1000,
        reduce_only=f.opt_boolean(o, "reduceOnly", w),
        order_type=f.opt_string(o, "orderType", w),
        tif=f.opt_string(o, "tif", w),
        is_trigger=f.opt_boolean(o, "isTrigger", w),
        trigger_price=trigger_px,
    )


def parse_order_update(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> OrderUpdate | None:
    """A WS ``orderUpdates`` item (or the ``order`` object of an ``orderStatus`` answer) → ``OrderUpdate``.

    Returns None when the status is one we do not know: no state change; the caller logs and counts it
    (``parse_order_snapshot`` gives the raw status for the log).
    """
    return parse_order_snapshot(d, coin_to_pair).to_update()


def parse_order_status_response(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> OrderSnapshot | None:
    """The info ``orderStatus`` answer: the order, or None for ``{"status": "unknownOid"}`` (the venue has
    never seen this oid/cloid)."""
    what = "orderStatus"
    m = f.obj(d, what)
    status = f.string(m, "status", what)
    if status == "unknownOid":
        return None
    if status != "order":
        raise ProtocolError(f"{what}.status: expected 'order' or 'unknownOid', got {status[:80]!r}")
    try:
        return parse_order_snapshot(f.field(m, "order", what), coin_to_pair)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}.order: {exc}") from None


# ---------------------------------------------------------------------------------------- /exchange answers


class ExchangeStatusKind(enum.Enum):
    RESTING = "resting"
    FILLED = "filled"
    ERROR = "error"
    SUCCESS = "success"
    WAITING_FOR_FILL = "waitingForFill"
    WAITING_FOR_TRIGGER = "waitingForTrigger"


_BARE_STATUSES: Final = {
    "success": ExchangeStatusKind.SUCCESS,
    "waitingForFill": ExchangeStatusKind.WAITING_FOR_FILL,
    "waitingForTrigger": ExchangeStatusKind.WAITING_FOR_TRIGGER,
}


@attrs.frozen
class OrderStatusResult:
    """The venue's answer for one order (or cancel) of a batch, in request order.

    ``RESTING``: on the book (``exchange_order_id``).  ``FILLED``: filled at once (``total_size`` at
    ``avg_price``).  ``ERROR``: refused (``rejection``; definitive).  ``SUCCESS``: a cancel succeeded.
    ``WAITING_FOR_FILL`` / ``WAITING_FOR_TRIGGER``: accepted, not yet live (grouped TP/SL children; UNSURE
    when the venue sends these).
    """

    kind: ExchangeStatusKind
    exchange_order_id: str | None = None
    client_order_id: str | None = None
    total_size: Decimal | None = None
    avg_price: Decimal | None = None
    rejection: OrderRejection | None = None

    @property
    def is_error(self) -> bool:
        return self.kind is ExchangeStatusKind.ERROR


def _status_item(raw: object, what: str) -> OrderStatusResult:
    if isinstance(raw, str):
        kind = _BARE_STATUSES.get(raw)
        if kind is None:
            raise ProtocolError(f"{what}: unknown status {raw[:80]!r}")
        return OrderStatusResult(kind)
    m = f.obj(raw, what)
    if "error" in m:
        message = f.string(m, "error", what)
        return OrderStatusResult(ExchangeStatusKind.ERROR, rejection=parse_order_error(message))
    if "resting" in m:
        w = f"{what}.resting"
        x = f.obj(m["resting"], w)
        return OrderStatusResult(
            ExchangeStatusKind.RESTING, exchange_order_id=_id(x, "oid", w), client_order_id=f.opt_string(x, "cloid", w)
        )
    if "filled" in m:
        w = f"{what}.filled"
        x = f.obj(m["filled"], w)
        return OrderStatusResult(
            ExchangeStatusKind.FILLED,
            exchange_order_id=_id(x, "oid", w),
            client_order_id=f.opt_string(x, "cloid", w),
            total_size=f.decimal(x, "totalSz", w),
            avg_price=f.decimal(x, "avgPx", w),
        )
    for key, kind in _BARE_STATUSES.items():
        if key in m:  # tolerate the object form {"waitingForFill": {...}} as well
            return OrderStatusResult(kind)
    raise ProtocolError(f"{what}: expected resting/filled/error/success, got keys {sorted(m)[:10]}")


def check_ok_response(resp: object) -> dict[str, Any]:
    """The ``response`` object of an ``/exchange`` answer with ``status: "ok"``.

    Raises ``ActionRejectedError`` (a ``VenueRejectedError``, with the parsed ``ActionError``) for
    ``status: "err"``, and ``ProtocolError`` for any other shape.
    """
    what = "exchange response"
    m = f.obj(resp, what)
    status = f.string(m, "status", what)
    if status == "err":
        text = f.field(m, "response", what)
        if not isinstance(text, str):
            raise ProtocolError(f"{what}.response: expected the error text, got {type(text).__name__}")
        raise ActionRejectedError(classify_action_error(text))
    if status != "ok":
        raise ProtocolError(f"{what}.status: expected 'ok' or 'err', got {status[:80]!r}")
    return f.obj(f.field(m, "response", what), f"{what}.response")


def _statuses(resp: object, types: tuple[str, ...]) -> list[OrderStatusResult]:
    response = check_ok_response(resp)
    what = "exchange response.response"
    rtype = f.string(response, "type", what)
    if rtype not in types:
        raise ProtocolError(f"{what}.type: expected {' or '.join(map(repr, types))}, got {rtype[:80]!r}")
    data = f.obj(f.field(response, "data", what), f"{what}.data")
    items = f.array(f.field(data, "statuses", f"{what}.data"), f"{what}.data.statuses")
    return [_status_item(x, f"{what}.data.statuses[{i}]") for i, x in enumerate(items)]


def parse_exchange_order_statuses(resp: object) -> list[OrderStatusResult]:
    """Per-order results of an ``order`` / ``batchModify`` (or cancel) ``/exchange`` answer, in request order.

    The venue may return fewer statuses than orders (whole-batch pre-validation errors); callers must not
    assume equal lengths.  ``status: "err"`` raises ``ActionRejectedError``; malformed input ``ProtocolError``.
    """
    return _statuses(resp, ("order", "cancel"))


def parse_cancel_statuses(resp: object) -> list[OrderStatusResult]:
    """Per-cancel results of a ``cancel`` / ``cancelByCloid`` answer (``SUCCESS`` or ``ERROR``)."""
    return _statuses(resp, ("cancel",))


# --------------------------------------------------------------------------------------------------- books


@attrs.frozen
class L2BookSnapshot:
    """A full L2 snapshot (REST ``l2Book`` or WS ``l2Book``): bids best-first, asks best-first."""

    coin: str
    time_ms: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def timestamp(self) -> float:
        return self.time_ms / 1000


def _levels(raw: object, what: str) -> tuple[BookLevel, ...]:
    # Books are the one high-rate message: try a fast path that builds no error paths, and fall back to the
    # checked path (which raises the precise ProtocolError) at the first level that does not fit.
    if type(raw) is list:
        fast = []
        match = f.DECIMAL_RE.fullmatch
        limit = f.MAX_DECIMAL_LEN
        for x in raw:
            if type(x) is not dict:
                break
            px, sz, n = x.get("px"), x.get("sz"), x.get("n")
            if not (
                type(px) is str
                and type(sz) is str
                and type(n) is int
                and n >= 0
                and len(px) <= limit
                and len(sz) <= limit
                and match(px)
                and match(sz)
            ):
                break
            dpx, dsz = Decimal(px), Decimal(sz)
            if dpx <= 0 or dsz <= 0:
                break
            fast.append(BookLevel(dpx, dsz, n))
        else:
            return tuple(fast)
    return _checked_levels(raw, what)


def _checked_levels(raw: object, what: str) -> tuple[BookLevel, ...]:
    items = f.array(raw, what)
    out = []
    for i, x in enumerate(items):
        w = f"{what}[{i}]"
        m = f.obj(x, w)
        n = f.integer(m, "n", w)
        if n < 0:
            raise ProtocolError(f"{w}.n: expected a non-negative order count, got {n}")
        out.append(BookLevel(_positive(m, "px", w), _positive(m, "sz", w), n))
    return tuple(out)


def parse_l2_book(d: object) -> L2BookSnapshot:
    """``{"coin", "levels": [[bids…], [asks…]], "time"}`` with levels ``{"px", "sz", "n"}`` → snapshot."""
    what = "l2Book"
    m = f.obj(d, what)
    levels = f.array(f.field(m, "levels", what), f"{what}.levels")
    if len(levels) != 2:
        raise ProtocolError(f"{what}.levels: expected [bids, asks], got {len(levels)} sides")
    return L2BookSnapshot(
        coin=f.string(m, "coin", what),
        time_ms=_ms(m, "time", what),
        bids=_levels(levels[0], f"{what}.levels[0]"),
        asks=_levels(levels[1], f"{what}.levels[1]"),
    )
