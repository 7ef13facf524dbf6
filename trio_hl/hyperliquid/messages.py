"""Venue messages → frozen values: fills, order updates, order status, ``/exchange`` answers, L2 books,
and (for the emulator) the incoming order/cancel/modify actions.

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
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, NamedTuple

import attrs

from trio_hl.core.book import BookLevel
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid._book_levels import level_sides, typed_data
from trio_hl.hyperliquid.fill_keys import derived_trade_id
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
    "MarketTrade",
    "NonUserCancel",
    "OrderSnapshot",
    "OrderStatusResult",
    "TwapAnswer",
    "TwapHistoryEntry",
    "TwapSliceFill",
    "UserEvent",
    "UserFills",
    "WireOrder",
    "WireOrderAction",
    "WireTwap",
    "check_ok_response",
    "parse_all_mids",
    "parse_batch_modify_action",
    "parse_cancel_action",
    "parse_cancel_by_cloid_action",
    "parse_cancel_statuses",
    "parse_decimal",
    "parse_exchange_order_statuses",
    "parse_fill",
    "parse_fills",
    "parse_l2_book",
    "parse_modify_action",
    "parse_open_orders",
    "parse_order_action",
    "parse_order_snapshot",
    "parse_order_status_response",
    "parse_order_update",
    "parse_trades",
    "parse_twap_cancel_action",
    "parse_twap_cancel_response",
    "parse_twap_history",
    "parse_twap_order_action",
    "parse_twap_order_response",
    "parse_twap_slice_fills",
    "parse_user_event",
    "parse_user_fills",
    "parse_wire_order",
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
        raise ProtocolError(f"{what}.side: expected 'B' or 'A', got {raw[:40]!r}") from None


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


#: Above 2**53 an int no longer converts to float exactly (callers divide by 1000), and far above it the
#: division raises OverflowError instead of a ProtocolError.  2**53 ms is ~285 000 years: no real timestamp.
_MAX_MS = 2**53


def _ms(d: dict[str, Any], key: str, what: str) -> int:
    v = f.integer(d, key, what)
    if not 0 <= v < _MAX_MS:
        raise ProtocolError(f"{what}.{key}: expected a unix ms timestamp, got {v}"[:200])
    return v


def _pair(coin: str, coin_to_pair: Mapping[str, str]) -> str:
    pair = coin_to_pair.get(coin)
    return coin if pair is None else pair


# ------------------------------------------------------------------------------------------------- fills


def parse_fill(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> TradeUpdate:
    """One fill (info ``userFills``/``userFillsByTime``, WS ``userFills`` and ``userEvents.fills``).

    ``tid`` → ``trade_id`` (the de-duplication key; a fill without ``tid`` - the venue's fills from before it
    added one - gets ``fill_keys.derived_trade_id``, a stable digest of its own fields), ``oid`` →
    ``exchange_order_id``, ``cloid`` → ``client_order_id``, ``crossed`` → ``is_taker``, ``time`` (ms) →
    ``timestamp`` (s).  ``fee`` is the venue's ``fee`` as sent (negative = rebate); UNSURE whether it already
    includes ``builderFee``, which is not added here.  A fill without ``feeToken`` is taken to be charged in USDC.
    """
    what = "fill"
    m = f.obj(d, what)
    coin = f.string(m, "coin", what)
    return TradeUpdate(
        trade_id=derived_trade_id(m) if m.get("tid") is None else _id(m, "tid", what),
        pair=_pair(coin, coin_to_pair),
        fill_price=_positive(m, "px", what),
        fill_amount=_positive(m, "sz", what),
        fee=f.decimal(m, "fee", what),
        fee_asset=f.opt_string(m, "feeToken", what) or "USDC",
        timestamp=_ms(m, "time", what) / 1000,
        client_order_id=f.opt_string(m, "cloid", what),
        exchange_order_id=_id(m, "oid", what),
        is_taker=f.boolean(m, "crossed", what),
        side=_side(m, what) if "side" in m else None,
    )


def parse_fills(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> list[TradeUpdate]:
    """The info ``userFills`` / ``userFillsByTime`` answer (a list of fills)."""
    items = f.array(d, "fills")
    return [_fill_at(x, i, coin_to_pair, "fills") for i, x in enumerate(items)]


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
        fills=tuple(_fill_at(x, i, coin_to_pair, f"{what}.fills") for i, x in enumerate(fills)),
    )


def _fill_at(x: object, i: int, coin_to_pair: Mapping[str, str], what: str) -> TradeUpdate:
    try:
        return parse_fill(x, coin_to_pair)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}[{i}]: {exc}") from None


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
        return tuple(_fill_at(x, i, coin_to_pair, f"{what}.fills") for i, x in enumerate(fills))
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
    #: ``frontendOpenOrders`` nests the TP/SL orders of a ``normalTpsl`` group under their parent (each an open
    #: order of its own, waiting for the parent to fill); empty everywhere else.  The venue also lists each child
    #: at the top level of the same answer (the recorded SDK answer does): flatten by exchange order id.
    children: tuple[OrderSnapshot, ...] = ()

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
        # A cancel's snapshot says how much had executed (origSz - sz): the tracker waits for those fills.
        # Only a strictly partial figure is used: should the venue ever zero ``sz`` on cancel, origSz - sz
        # would claim the whole size executed (impossible for a CANCELED order) - ignored rather than waited on.
        executed = self.filled_size if state is OrderState.CANCELED else None
        if executed is not None and self.orig_size is not None and executed >= self.orig_size:
            executed = None
        return OrderUpdate(
            pair=self.pair,
            new_state=state,
            timestamp=self.status_timestamp,
            client_order_id=self.client_order_id,
            exchange_order_id=self.exchange_order_id,
            reason=reason,
            venue_status=self.venue_status,
            executed=executed if executed is not None and executed > 0 else None,
        )


def _order_fields(o: dict[str, Any], w: str, coin_to_pair: Mapping[str, str]) -> dict[str, Any]:
    """The fields of a venue order object (WS/basic or frontend form), as ``OrderSnapshot`` keywords."""
    coin = f.string(o, "coin", w)
    trigger_px = f.opt_decimal(o, "triggerPx", w)
    if trigger_px is not None and trigger_px.is_zero():
        trigger_px = None  # frontend orders say "0.0" when there is no trigger
    return {
        "pair": _pair(coin, coin_to_pair),
        "coin": coin,
        "side": _side(o, w),
        "limit_price": f.decimal(o, "limitPx", w),
        "remaining_size": f.decimal(o, "sz", w),
        "orig_size": f.opt_decimal(o, "origSz", w),
        "exchange_order_id": _id(o, "oid", w),
        "client_order_id": f.opt_string(o, "cloid", w),
        "created": _ms(o, "timestamp", w) / 1000,
        "reduce_only": f.opt_boolean(o, "reduceOnly", w),
        "order_type": f.opt_string(o, "orderType", w),
        "tif": f.opt_string(o, "tif", w),
        "is_trigger": f.opt_boolean(o, "isTrigger", w),
        "trigger_price": trigger_px,
    }


def parse_order_snapshot(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> OrderSnapshot:
    """``{"order": {...}, "status": "...", "statusTimestamp": ms}`` → ``OrderSnapshot``.

    The shape of WS ``orderUpdates`` items, of the ``order`` object of ``orderStatus``, and of
    ``historicalOrders`` entries.
    """
    what = "orderUpdate"
    m = f.obj(d, what)
    status_raw = f.string(m, "status", what)
    w = f"{what}.order"
    fields = _order_fields(f.obj(f.field(m, "order", what), w), w, coin_to_pair)
    return OrderSnapshot(
        status=parse_status(status_raw),
        venue_status=status_raw,
        status_timestamp=_ms(m, "statusTimestamp", what) / 1000,
        **fields,
    )


#: The venue's ``historicalOrders`` answer holds at most this many entries (the most recent ones).
HISTORICAL_ORDERS_LIMIT = 2000


def parse_historical_orders(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> list[OrderSnapshot]:
    """The info ``historicalOrders`` answer: the account's most recent orders (at most
    :data:`HISTORICAL_ORDERS_LIMIT`), every status including refusals; a modified order appears once per oid."""
    items = f.array(d, "historicalOrders")
    out = []
    for i, raw in enumerate(items):
        try:
            out.append(parse_order_snapshot(raw, coin_to_pair))
        except ProtocolError as exc:
            raise ProtocolError(f"historicalOrders[{i}]: {exc}") from None
    return out


def parse_open_orders(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> list[OrderSnapshot]:
    """The info ``openOrders`` / ``frontendOpenOrders`` answer (a list of bare order objects) → snapshots with
    status ``open`` stamped at the order's creation time (the answer carries no status time).  The TP/SL
    ``children`` a ``frontendOpenOrders`` parent carries are parsed into its ``children`` (never dropped: the
    recorded SDK answer nests two orders that way)."""
    return _open_orders(d, "openOrders", coin_to_pair, 0)


#: ``children`` nest one level on the venue (TP/SL under their parent); deeper nesting is refused as malformed
#: rather than followed without bound.
_MAX_CHILD_DEPTH = 4


def _open_orders(d: object, what: str, coin_to_pair: Mapping[str, str], depth: int) -> list[OrderSnapshot]:
    items = f.array(d, what)
    out = []
    for i, raw in enumerate(items):
        w = f"{what}[{i}]"
        o = f.obj(raw, w)
        fields = _order_fields(o, w, coin_to_pair)
        kids = o.get("children")
        children: tuple[OrderSnapshot, ...] = ()
        if kids:
            if depth >= _MAX_CHILD_DEPTH:
                raise ProtocolError(f"{w}.children: nested deeper than {_MAX_CHILD_DEPTH} levels")
            children = tuple(_open_orders(kids, f"{w}.children", coin_to_pair, depth + 1))
        out.append(
            OrderSnapshot(
                status=VenueOrderStatus.OPEN, venue_status="open", status_timestamp=fields["created"],
                children=children, **fields,
            )
        )
    return out


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
    return [_resting(x) or _status_item(x, f"{what}.data.statuses[{i}]") for i, x in enumerate(items)]


def _resting(raw: object) -> OrderStatusResult | None:
    """The usual answer, ``{"resting": {"oid": n[, "cloid": s]}}``, read without building the error labels the
    checked path formats per item; None for anything else (``_status_item`` reads it, with its messages)."""
    if type(raw) is dict and "error" not in raw:
        x = raw.get("resting")
        if type(x) is dict:
            oid = x.get("oid")
            cloid = x.get("cloid")
            if type(oid) is int and oid >= 0 and (cloid is None or type(cloid) is str):
                return OrderStatusResult(ExchangeStatusKind.RESTING, exchange_order_id=str(oid),
                                         client_order_id=cloid)
    return None


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
    """A full L2 snapshot (REST ``l2Book`` or WS ``l2Book``): bids best-first, asks best-first.

    ``bids`` / ``asks`` are tuples of levels, or :class:`~trio_hl.core.book.BookSide` s (which compare equal to
    those tuples and build their levels when read) for sides that passed the whole-side checks."""

    coin: str
    time_ms: int
    bids: Sequence[BookLevel]
    asks: Sequence[BookLevel]

    @property
    def timestamp(self) -> float:
        return self.time_ms / 1000


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
    # Books are the one high-rate message: sides kept as the venue's strings after whole-snapshot checks (see
    # _book_levels), else the per-level path below, which raises the precise ProtocolError.
    typed = typed_data(d)
    if typed is not None:
        sides = level_sides(*typed.levels)
        if sides is not None:
            return L2BookSnapshot(typed.coin, typed.time, *sides)
    m = f.obj(d, what)
    levels = f.array(f.field(m, "levels", what), f"{what}.levels")
    if len(levels) != 2:
        raise ProtocolError(f"{what}.levels: expected [bids, asks], got {len(levels)} sides")
    return L2BookSnapshot(
        coin=f.string(m, "coin", what),
        time_ms=_ms(m, "time", what),
        bids=_checked_levels(levels[0], f"{what}.levels[0]"),
        asks=_checked_levels(levels[1], f"{what}.levels[1]"),
    )


# ------------------------------------------------------------------------------------ mids and trades


def parse_all_mids(d: object) -> dict[str, Decimal]:
    """Coin → mid: the info ``allMids`` answer (a flat object) or the WS ``allMids`` data (``{"mids": {...}}``)."""
    m = f.obj(d, "allMids")
    inner = m.get("mids")
    if len(m) == 1 and isinstance(inner, dict):
        m = inner
    return {coin: f.decimal_value(v, f"allMids[{coin[:40]!r}]") for coin, v in m.items()}


@attrs.frozen
class MarketTrade:
    """A public trade (WS ``trades``): ``side`` is the aggressor's, ``trade_id`` the venue's ``tid``."""

    pair: str
    side: Side
    price: Decimal
    size: Decimal
    timestamp: float
    trade_id: str
    hash: str | None = None


def parse_trades(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> list[MarketTrade]:
    """WS ``trades`` data: a list of ``{coin, side, px, sz, hash, time, tid, users}``."""
    items = f.array(d, "trades")
    out = []
    for i, raw in enumerate(items):
        w = f"trades[{i}]"
        m = f.obj(raw, w)
        out.append(
            MarketTrade(
                pair=_pair(f.string(m, "coin", w), coin_to_pair),
                side=_side(m, w),
                price=_positive(m, "px", w),
                size=_positive(m, "sz", w),
                timestamp=_ms(m, "time", w) / 1000,
                trade_id=_id(m, "tid", w),
                hash=f.opt_string(m, "hash", w),
            )
        )
    return out


# ------------------------------------------------------------------------------ incoming actions (venue side)
#
# The emulator receives the same dicts the builders in ``wire.py`` produce.  These parsers turn them into
# values with the same strictness as the rest of this module; a ``ProtocolError`` here is what the venue
# answers with HTTP 422 ("Failed to deserialize the JSON body into the target type").  Price/size *rules*
# (tick, lot, minimum notional) are not checked here: they are per-order venue rejections, not shape errors.

_WIRE_TIFS: Final = frozenset({"Gtc", "Ioc", "Alo", "FrontendMarket", "LiquidationMarket"})
_WIRE_GROUPINGS: Final = frozenset({"na", "normalTpsl", "positionTpsl"})


class WireOrder(NamedTuple):
    """One order as sent on the wire (``order_wire``), parsed.

    Exactly one of ``tif`` (a limit order) and ``trigger_price`` (a trigger order, with ``trigger_is_market``
    and ``tpsl``) is set.  ``cloid`` is lowercased.

    A ``NamedTuple`` rather than a frozen attrs class (immutable, compared by value, the same fields): the
    emulator makes one for every order it receives, and the frozen attrs instance cost ~3 us to build against
    ~0.5 us (measured), a third of parsing a one-order action.
    """

    asset: int
    is_buy: bool
    price: Decimal
    size: Decimal
    reduce_only: bool
    tif: str | None = None
    trigger_price: Decimal | None = None
    trigger_is_market: bool | None = None
    tpsl: str | None = None
    cloid: str | None = None

    @property
    def is_trigger(self) -> bool:
        return self.trigger_price is not None


class WireOrderAction(NamedTuple):
    """An ``order`` action: the orders in request order, the grouping, and the optional builder fee.
    (A ``NamedTuple`` for the reason :class:`WireOrder` is one: built for every action the emulator receives.)"""

    orders: tuple[WireOrder, ...]
    grouping: str | int
    builder_address: str | None = None
    builder_fee: int | None = None


def _cloid_value(v: object, what: str) -> str:
    if not isinstance(v, str) or len(v) != 34 or not v.startswith("0x"):
        raise ProtocolError(f"{what}: expected a cloid '0x' + 32 hex digits, got {v!r}"[:200])
    try:
        int(v[2:], 16)
    except ValueError:
        raise ProtocolError(f"{what}: expected a cloid '0x' + 32 hex digits, got {v!r}") from None
    return v.lower()


def _asset(d: dict[str, Any], key: str, what: str) -> int:
    v = f.integer(d, key, what)
    if v < 0:
        raise ProtocolError(f"{what}.{key}: expected an asset id >= 0, got {v}")
    return v


def parse_wire_order(d: object, what: str = "order") -> WireOrder:
    """``{"a", "b", "p", "s", "r", "t"[, "c"]}`` → ``WireOrder``; ``ProtocolError`` when malformed."""
    m = f.obj(d, what)
    t_what = f"{what}.t"
    t = f.obj(f.field(m, "t", what), t_what)
    cloid = None if m.get("c") is None else _cloid_value(m["c"], f"{what}.c")
    # Plain locals, not a dict of keywords splatted into the constructor (that cost ~5% of parsing an order).
    asset = _asset(m, "a", what)
    is_buy = f.boolean(m, "b", what)
    price = f.decimal(m, "p", what)
    size = f.decimal(m, "s", what)
    reduce_only = f.boolean(m, "r", what)
    if ("limit" in t) == ("trigger" in t):
        raise ProtocolError(f"{t_what}: expected exactly one of 'limit' and 'trigger', got keys {sorted(t)[:10]}")
    if "limit" in t:
        tif = f.string(t["limit"], "tif", f"{t_what}.limit")
        if tif not in _WIRE_TIFS:
            raise ProtocolError(f"{t_what}.limit.tif: unknown time in force {tif[:40]!r}")
        return WireOrder(asset=asset, is_buy=is_buy, price=price, size=size, reduce_only=reduce_only, tif=tif,
                         cloid=cloid)
    w = f"{t_what}.trigger"
    trigger = f.obj(t["trigger"], w)
    tpsl = f.string(trigger, "tpsl", w)
    if tpsl not in ("tp", "sl"):
        raise ProtocolError(f"{w}.tpsl: expected 'tp' or 'sl', got {tpsl[:40]!r}")
    return WireOrder(
        asset=asset,
        is_buy=is_buy,
        price=price,
        size=size,
        reduce_only=reduce_only,
        trigger_price=f.decimal(trigger, "triggerPx", w),
        trigger_is_market=f.boolean(trigger, "isMarket", w),
        tpsl=tpsl,
        cloid=cloid,
    )


def _action(d: object, expected_type: str) -> dict[str, Any]:
    m = f.obj(d, "action")
    action_type = f.string(m, "type", "action")
    if action_type != expected_type:
        raise ProtocolError(f"action.type: expected {expected_type!r}, got {action_type[:40]!r}")
    return m


def parse_order_action(d: object) -> WireOrderAction:
    """An ``order`` action → its orders, grouping (a name, or the priority int of ``{"p": n}``) and builder."""
    m = _action(d, "order")
    orders = f.array(f.field(m, "orders", "action"), "action.orders")
    parsed = tuple(parse_wire_order(o, f"action.orders[{i}]") for i, o in enumerate(orders))
    raw_grouping = f.field(m, "grouping", "action")
    grouping: str | int
    if isinstance(raw_grouping, str):
        if raw_grouping not in _WIRE_GROUPINGS:
            raise ProtocolError(f"action.grouping: unknown grouping {raw_grouping[:40]!r}")
        grouping = raw_grouping
    elif isinstance(raw_grouping, dict):
        grouping = f.integer(raw_grouping, "p", "action.grouping")
    else:
        raise ProtocolError(f"action.grouping: expected a name or {{'p': int}}, got {type(raw_grouping).__name__}")
    builder = m.get("builder")
    if builder is None:
        return WireOrderAction(parsed, grouping)
    address = f.string(builder, "b", "action.builder")
    fee = f.integer(builder, "f", "action.builder")
    if fee < 0:
        raise ProtocolError(f"action.builder.f: expected a fee >= 0, got {fee}")
    return WireOrderAction(parsed, grouping, address.lower(), fee)


def parse_cancel_action(d: object) -> list[tuple[int, int]]:
    """A ``cancel`` action → ``[(asset, oid), ...]``."""
    m = _action(d, "cancel")
    items = f.array(f.field(m, "cancels", "action"), "action.cancels")
    out = []
    for i, raw in enumerate(items):
        w = f"action.cancels[{i}]"
        c = f.obj(raw, w)
        oid = f.integer(c, "o", w)
        if oid < 0:
            raise ProtocolError(f"{w}.o: expected an order id >= 0, got {oid}")
        out.append((_asset(c, "a", w), oid))
    return out


def parse_cancel_by_cloid_action(d: object) -> list[tuple[int, str]]:
    """A ``cancelByCloid`` action → ``[(asset, cloid), ...]`` (cloids lowercased)."""
    m = _action(d, "cancelByCloid")
    items = f.array(f.field(m, "cancels", "action"), "action.cancels")
    out = []
    for i, raw in enumerate(items):
        w = f"action.cancels[{i}]"
        c = f.obj(raw, w)
        out.append((_asset(c, "asset", w), _cloid_value(f.field(c, "cloid", w), f"{w}.cloid")))
    return out


def _oid_or_cloid(v: object, what: str) -> int | str:
    if type(v) is int and v >= 0:
        return v
    if isinstance(v, str):
        return _cloid_value(v, what)
    raise ProtocolError(f"{what}: expected an order id or a cloid, got {v!r}"[:200])


def parse_batch_modify_action(d: object) -> list[tuple[int | str, WireOrder]]:
    """A ``batchModify`` action → ``[(oid or cloid, new order), ...]``."""
    m = _action(d, "batchModify")
    items = f.array(f.field(m, "modifies", "action"), "action.modifies")
    out = []
    for i, raw in enumerate(items):
        w = f"action.modifies[{i}]"
        x = f.obj(raw, w)
        out.append(
            (_oid_or_cloid(f.field(x, "oid", w), f"{w}.oid"), parse_wire_order(f.field(x, "order", w), f"{w}.order"))
        )
    return out


def parse_modify_action(d: object) -> tuple[int | str, WireOrder]:
    """A single ``modify`` action → ``(oid or cloid, new order)``."""
    m = _action(d, "modify")
    return _oid_or_cloid(f.field(m, "oid", "action"), "action.oid"), parse_wire_order(
        f.field(m, "order", "action"), "action.order"
    )


# --------------------------------------------------------------------------------------------- native TWAP
# PROTOCOL §3.2 / §4.3: a ``twapOrder`` answer is ``status: "ok"`` even when refused; the verdict is the inner
# ``data.status``: ``{"running": {"twapId": N}}`` or ``{"error": "..."}``; ``twapCancel`` answers ``"success"``
# or ``{"error": "..."}``.  ``userTwapSliceFills`` items are ``{"fill": <fill>, "twapId": N}``.


@attrs.frozen
class TwapAnswer:
    """The inner verdict of a ``twapOrder`` / ``twapCancel`` answer: ``twap_id`` for a running TWAP (None for a
    cancel), ``error`` the venue's text when refused (the refusal is definitive)."""

    twap_id: int | None = None
    error: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None


def _twap_status(resp: object, rtype: str) -> object:
    response = check_ok_response(resp)
    what = "exchange response.response"
    got = f.string(response, "type", what)
    if got != rtype:
        raise ProtocolError(f"{what}.type: expected {rtype!r}, got {got[:80]!r}")
    data = f.obj(f.field(response, "data", what), f"{what}.data")
    return f.field(data, "status", f"{what}.data")


def parse_twap_order_response(resp: object) -> TwapAnswer:
    """A ``twapOrder`` answer → ``TwapAnswer(twap_id=N)`` or ``TwapAnswer(error=...)``.  ``status: "err"`` raises
    ``ActionRejectedError``; anything else malformed ``ProtocolError``."""
    what = "exchange response.response.data.status"
    status = f.obj(_twap_status(resp, "twapOrder"), what)
    if "error" in status:
        return TwapAnswer(error=f.string(status, "error", what))
    running = f.obj(f.field(status, "running", what), f"{what}.running")
    twap_id = f.integer(running, "twapId", f"{what}.running")
    if twap_id < 0:
        raise ProtocolError(f"{what}.running.twapId: expected an id >= 0, got {twap_id}")
    return TwapAnswer(twap_id=twap_id)


def parse_twap_cancel_response(resp: object) -> TwapAnswer:
    """A ``twapCancel`` answer → ``TwapAnswer()`` for ``"success"``, ``TwapAnswer(error=...)`` when refused."""
    what = "exchange response.response.data.status"
    status = _twap_status(resp, "twapCancel")
    if status == "success":
        return TwapAnswer()
    return TwapAnswer(error=f.string(f.obj(status, what), "error", what))


@attrs.frozen
class TwapSliceFill:
    """One fill of a native TWAP's suborder (``userTwapSliceFills``)."""

    twap_id: int
    trade: TradeUpdate


def parse_twap_slice_fills(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> list[TwapSliceFill]:
    """The info ``userTwapSliceFills`` answer: ``[{"fill": <fill>, "twapId": N}, ...]``."""
    items = f.array(d, "userTwapSliceFills")
    out = []
    for i, raw in enumerate(items):
        what = f"userTwapSliceFills[{i}]"
        item = f.obj(raw, what)
        try:
            trade = parse_fill(f.field(item, "fill", what), coin_to_pair)
        except ProtocolError as exc:
            raise ProtocolError(f"{what}.{exc}") from None
        out.append(TwapSliceFill(twap_id=f.integer(item, "twapId", what), trade=trade))
    return out


@attrs.frozen
class TwapHistoryEntry:
    """One ``twapHistory`` record: the TWAP's state when recorded and its status (``activated``, ``finished``,
    ``terminated``, ``error``; ``description`` carries the reason of an ``error``)."""

    twap_id: int | None
    coin: str
    side: Side
    status: str
    description: str | None
    size: Decimal
    executed_size: Decimal
    executed_notional: Decimal
    timestamp_ms: int

    @property
    def is_terminal(self) -> bool:
        return self.status != "activated"


def parse_twap_history(d: object) -> list[TwapHistoryEntry]:
    """The info ``twapHistory`` answer: ``[{"time", "state": {coin, sz, executedSz, executedNtl, timestamp, …},
    "status": {"status"[, "description"]}, "twapId"?}]`` (``twapId`` may be absent on old venue records)."""
    items = f.array(d, "twapHistory")
    out = []
    for i, raw in enumerate(items):
        what = f"twapHistory[{i}]"
        item = f.obj(raw, what)
        state = f.obj(f.field(item, "state", what), f"{what}.state")
        status = f.obj(f.field(item, "status", what), f"{what}.status")
        out.append(TwapHistoryEntry(
            twap_id=f.opt_integer(item, "twapId", what),
            coin=f.string(state, "coin", f"{what}.state"),
            side=_side(state, f"{what}.state"),
            status=f.string(status, "status", f"{what}.status"),
            description=f.opt_string(status, "description", f"{what}.status"),
            size=f.decimal(state, "sz", f"{what}.state"),
            executed_size=f.decimal(state, "executedSz", f"{what}.state"),
            executed_notional=f.decimal(state, "executedNtl", f"{what}.state"),
            timestamp_ms=f.integer(state, "timestamp", f"{what}.state"),
        ))
    return out


@attrs.frozen
class WireTwap:
    """A ``twapOrder`` action as sent (``twap_order_action``), parsed (for the emulator)."""

    asset: int
    is_buy: bool
    size: Decimal
    reduce_only: bool
    minutes: int
    randomize: bool


def parse_twap_order_action(d: object) -> WireTwap:
    """A ``twapOrder`` action → ``WireTwap``; ``ProtocolError`` when malformed (the duration range and the size
    rules are venue rejections, not shape errors)."""
    m = _action(d, "twapOrder")
    w = "action.twap"
    t = f.obj(f.field(m, "twap", "action"), w)
    return WireTwap(
        asset=_asset(t, "a", w),
        is_buy=f.boolean(t, "b", w),
        size=f.decimal(t, "s", w),
        reduce_only=f.boolean(t, "r", w),
        minutes=f.integer(t, "m", w),
        randomize=f.boolean(t, "t", w),
    )


def parse_twap_cancel_action(d: object) -> tuple[int, int]:
    """A ``twapCancel`` action → ``(asset, twap_id)``."""
    m = _action(d, "twapCancel")
    twap_id = f.integer(m, "t", "action")
    if twap_id < 0:
        raise ProtocolError(f"action.t: expected a TWAP id >= 0, got {twap_id}")
    return _asset(m, "a", "action"), twap_id
