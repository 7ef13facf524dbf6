"""Shared Hypothesis strategies for orders, updates, fills and venue message sequences.

One module so every property test (tracker, journal, connector, emulator) draws from the same input space
and a user's strategy tests can reuse it.  Everything is ``Decimal``; amounts and prices are drawn on a grid
(``places`` decimals) like a venue's lot size and tick, so sums stay exact.

Three levels:

* **order level** (this file): ``OrderParams``, ``OrderUpdate`` / ``TradeUpdate`` values and
  ``order_lifecycles``, a *truthful* history for one order (statuses and fills that add up) delivered the way
  a venue connection does - shuffled, with duplicates - for code below the parsers (the tracker, journal).
* **wire level** (``trio_hl.testing.frames``, re-exported here): the venue's JSON frames in every documented
  status, malformed and hostile variants, and ``venue_sequences``, the same truthful-history idea at the
  wire, for code that starts at the parsers (the connector's stream consumers, or a user's own).
* **asset rules** (this file): requests that must pass or fail the venue's per-asset price and size rules
  (``valid_order_params``, ``invalid_order_params``, ``invalid_prices`` ...), for order-preparation code.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

import attrs
from hypothesis import strategies as st

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderParams, OrderState, OrderType, PositionAction, Side, TimeInForce, TriggerKind
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.hyperliquid.meta import AssetInfo
from trio_hl.testing.frames import (
    CANCEL_STATUSES,
    DOCUMENTED_STATUSES,
    FILLED_STATUS,
    LIVE_STATUSES,
    REJECT_STATUSES,
    STATUS_OUTCOME,
    USER_CHANNELS,
    VenueFill,
    VenueFrame,
    VenueSequence,
    addresses,
    cloids,
    coins,
    decimals,
    fill_frames,
    hostile_frames,
    json_values,
    malformed_frames,
    ms_timestamps,
    mutated,
    oids,
    order_status_answers,
    order_update_frames,
    order_update_items,
    sample_frame,
    scalars,
    user_events_messages,
    user_fills_messages,
    venue_sequences,
    venue_statuses,
    wire_decimal,
)

__all__ = [
    "CANCEL_STATUSES",
    "DOCUMENTED_STATUSES",
    "FILLED_STATUS",
    "LIVE_STATUSES",
    "MIN_NOTIONAL",
    "ORDER_VIOLATIONS",
    "REJECT_STATUSES",
    "STATUS_OUTCOME",
    "USER_CHANNELS",
    "Lifecycle",
    "OrderCase",
    "VenueFill",
    "VenueFrame",
    "VenueSequence",
    "addresses",
    "amounts",
    "asset_infos",
    "client_order_ids",
    "cloids",
    "coins",
    "decimals",
    "fill_frames",
    "hostile_frames",
    "in_flight_orders",
    "invalid_cloids",
    "invalid_order_param_kwargs",
    "invalid_order_params",
    "invalid_prices",
    "invalid_sizes",
    "json_values",
    "malformed_frames",
    "ms_timestamps",
    "mutated",
    "oids",
    "order_lifecycles",
    "order_params",
    "order_status_answers",
    "order_update_frames",
    "order_update_items",
    "order_updates",
    "prices",
    "sample_frame",
    "scalars",
    "sides",
    "split_amount",
    "trade_updates",
    "user_events_messages",
    "user_fills_messages",
    "valid_order_params",
    "valid_prices",
    "valid_sizes",
    "venue_sequences",
    "venue_statuses",
    "wire_decimal",
]

sides = st.sampled_from(Side)


def amounts(places: int = 3, max_units: int = 100_000) -> st.SearchStrategy[Decimal]:
    return decimals(1, max_units, places)


def prices(places: int = 2, max_units: int = 10_000_000) -> st.SearchStrategy[Decimal]:
    return decimals(1, max_units, places)


def client_order_ids() -> st.SearchStrategy[str]:
    """Venue-style client ids (Hyperliquid uses 128-bit hex; any non-empty string works for the tracker)."""
    return cloids()


@st.composite
def order_params(draw: st.DrawFn, pairs: Sequence[str] = ("BTC", "ETH", "SOL")) -> OrderParams:
    """Valid ``OrderParams`` for LIMIT / LIMIT_MAKER / MARKET orders."""
    order_type = draw(st.sampled_from([OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]))
    price = draw(prices()) if order_type is not OrderType.MARKET else draw(st.none() | prices())
    return OrderParams(
        pair=draw(st.sampled_from(pairs)), amount=draw(amounts()), price=price, order_type=order_type,
        tif=draw(st.sampled_from(TimeInForce)), position_action=draw(st.sampled_from(PositionAction)),
    )


@st.composite
def in_flight_orders(draw: st.DrawFn, pair: str = "BTC", created_at: float = 0.0) -> InFlightOrder:
    """A fresh PENDING_CREATE order."""
    return InFlightOrder.new(
        client_order_id=draw(client_order_ids()), pair=pair, side=draw(sides), amount=draw(amounts()),
        price=draw(prices()), created_at=created_at,
    )


def order_updates(
    client_order_id: str | None = None, exchange_order_id: str | None = None, pair: str = "BTC"
) -> st.SearchStrategy[OrderUpdate]:
    """Any status update (including ones the tracker must refuse) for the given ids."""
    return st.builds(
        OrderUpdate, pair=st.just(pair), new_state=st.sampled_from(OrderState),
        timestamp=st.floats(0, 1e6, allow_nan=False), client_order_id=st.just(client_order_id),
        exchange_order_id=st.just(exchange_order_id), reason=st.none() | st.text(max_size=20),
    )


def trade_updates(
    client_order_id: str | None = None, exchange_order_id: str | None = None, pair: str = "BTC",
    fill_amount: st.SearchStrategy[Decimal] | None = None,
) -> st.SearchStrategy[TradeUpdate]:
    return st.builds(
        TradeUpdate, trade_id=st.integers(1, 2**62).map(str), pair=st.just(pair), fill_price=prices(),
        fill_amount=fill_amount if fill_amount is not None else amounts(),
        fee=decimals(0, 1000, 6), fee_asset=st.sampled_from(["USDC", "USDC", "BTC"]),
        timestamp=st.floats(0, 1e6, allow_nan=False), client_order_id=st.just(client_order_id),
        exchange_order_id=st.just(exchange_order_id), is_taker=st.booleans(),
        side=st.none() | sides,
    )


@st.composite
def split_amount(draw: st.DrawFn, total: Decimal, places: int = 3, max_parts: int = 5) -> list[Decimal]:
    """``total`` split into 1..max_parts positive grid amounts that sum exactly to it."""
    step = Decimal(1).scaleb(-places)
    units = int(total / step)
    if units <= 1:
        return [total]
    cuts = draw(st.lists(st.integers(1, units - 1), max_size=max_parts - 1, unique=True))
    bounds = [0, *sorted(cuts), units]
    return [(b - a) * step for a, b in itertools.pairwise(bounds)]


@attrs.frozen
class Lifecycle:
    """A truthful venue history for ``order`` (``final`` state, ``fills`` that add up) and ``messages``:
    the same facts as delivered - reordered, some duplicated, ids sometimes only the exchange id."""

    order: InFlightOrder
    exchange_order_id: str
    final: OrderState
    fills: tuple[TradeUpdate, ...]
    messages: tuple[OrderUpdate | TradeUpdate, ...]

    @property
    def executed(self) -> Decimal:
        return sum((t.fill_amount for t in self.fills), Decimal(0))


@st.composite
def order_lifecycles(draw: st.DrawFn, pair: str = "BTC") -> Lifecycle:
    """One order's truthful history delivered out of order with duplicates (see :class:`Lifecycle`)."""
    order = draw(in_flight_orders(pair=pair))
    eid = str(draw(st.integers(1, 2**40)))
    final = draw(st.sampled_from([OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED, OrderState.FAILED]))
    if final is OrderState.FILLED:
        parts = draw(split_amount(order.amount))
    elif final in (OrderState.OPEN, OrderState.CANCELED):
        parts = draw(split_amount(order.amount))[:-1]
    else:
        parts = []
    fills = tuple(
        TradeUpdate(
            trade_id=f"{eid}-{i}", pair=pair, fill_price=order.price or Decimal(1), fill_amount=part,
            fee=Decimal("0.01"), fee_asset="USDC", timestamp=float(i + 1),
            client_order_id=draw(st.sampled_from([order.client_order_id, None])), exchange_order_id=eid,
        )
        for i, part in enumerate(parts)
    )
    cid = order.client_order_id
    messages: list[OrderUpdate | TradeUpdate] = []
    if final is OrderState.FAILED:
        messages.append(OrderUpdate(pair, OrderState.FAILED, 0.5, cid, None, "rejected"))
    else:
        messages.append(OrderUpdate(pair, OrderState.OPEN, 0.5, cid, eid))
        if final is not OrderState.OPEN:
            messages.append(OrderUpdate(pair, final, 10.0, cid, eid))
    messages.extend(fills)
    dupes = draw(st.lists(st.sampled_from(messages), max_size=3))
    shuffled = draw(st.permutations([*messages, *dupes]))
    return Lifecycle(order, eid, final, fills, tuple(shuffled))


# ------------------------------------------------------------------------------------------- asset rules
#
# Written from PROTOCOL §3.4 rather than from ``trio_hl.hyperliquid.wire``, so that tests of the wire code
# check it against the venue's rules instead of against itself: prices have at most 5 significant figures
# unless they are integers, and at most (6 for perps | 8 for spot) - szDecimals decimals; sizes are
# multiples of 10**-szDecimals; an order is worth at least 10 USDC.

#: The venue's minimum order value (PROTOCOL §4.3 ``MinTradeNtl``).
MIN_NOTIONAL = Decimal(10)
#: The rules ``invalid_order_params`` can break; see its docstring.
ORDER_VIOLATIONS = ("lot", "min_notional", "tick", "no_reference", "too_large")


def _max_price_decimals(asset: AssetInfo) -> int:
    return max((8 if asset.is_spot else 6) - asset.sz_decimals, 0)


@st.composite
def asset_infos(draw: st.DrawFn, *, is_spot: bool | None = None) -> AssetInfo:
    """A perp (``BTC``, asset = universe index, szDecimals 0..5) or spot asset (``@N``, asset = 10000 + N,
    szDecimals 0..6), with the same shape ``AssetRegistry`` builds from ``meta`` / ``spotMeta``."""
    spot = draw(st.booleans()) if is_spot is None else is_spot
    if spot:
        index = draw(st.integers(1, 500))
        base = draw(st.sampled_from(["PURR", "HYPE", "HFUN", "JEFF"]))
        return AssetInfo(name=f"{base}/USDC", coin=f"@{index}", asset_id=10_000 + index,
                         sz_decimals=draw(st.integers(0, 6)), is_spot=True, base=base, quote="USDC")
    name = draw(st.sampled_from(["BTC", "ETH", "SOL", "kPEPE", "DOGE"]))
    return AssetInfo(name=name, coin=name, asset_id=draw(st.integers(0, 200)), sz_decimals=draw(st.integers(0, 5)),
                     is_spot=False, max_leverage=draw(st.sampled_from([3, 10, 20, 50])))


def valid_prices(asset: AssetInfo) -> st.SearchStrategy[Decimal]:
    """Prices the venue accepts for ``asset``: up to 5 significant figures within the decimal limit, or any
    integer."""
    limit = _max_price_decimals(asset)
    return st.one_of(
        st.builds(lambda m, e: Decimal(m).scaleb(e), st.integers(1, 99_999), st.integers(-limit, 4)),
        st.integers(1, 10**7).map(Decimal),
    )


def valid_sizes(asset: AssetInfo, max_lots: int = 10**7) -> st.SearchStrategy[Decimal]:
    """Sizes the venue accepts for ``asset``: positive multiples of ``10**-szDecimals``."""
    step = asset.size_step
    return st.integers(1, max_lots).map(lambda k: k * step)


def _off_grid(base_places: int, *, max_extra: int = 3, below_one_step: bool = False) -> st.SearchStrategy[Decimal]:
    """Decimals with more than ``base_places`` decimals (the last one non-zero); ``below_one_step`` keeps
    them under ``10**-base_places``."""

    @st.composite
    def build(draw: st.DrawFn) -> Decimal:
        extra = draw(st.integers(1, max_extra))
        top = 10**extra - 1 if below_one_step else 10 ** (extra + 6)
        j = draw(st.integers(1, top).filter(lambda n: n % 10 != 0))
        return Decimal(j).scaleb(-(base_places + extra))

    return build()


def invalid_prices(asset: AssetInfo) -> st.SearchStrategy[Decimal]:
    """Prices the venue refuses for ``asset`` (``format_price`` must raise): a non-integer with 6+ significant
    figures, more decimals than ``(6|8) - szDecimals``, zero or negative."""
    too_many_figures = st.builds(
        lambda m, e: Decimal(m).scaleb(e),
        st.integers(100_001, 99_999_999).filter(lambda m: m % 10 != 0), st.integers(-8, -1),
    )
    return st.one_of(
        too_many_figures,
        _off_grid(_max_price_decimals(asset)),
        st.just(Decimal(0)),
        valid_prices(asset).map(lambda p: -p),
    )


def invalid_sizes(asset: AssetInfo) -> st.SearchStrategy[Decimal]:
    """Sizes the venue refuses for ``asset`` (``format_size`` must raise): off the lot grid, zero, negative."""
    return st.one_of(_off_grid(asset.sz_decimals), st.just(Decimal(0)), valid_sizes(asset).map(lambda s: -s))


def invalid_cloids() -> st.SearchStrategy[object]:
    """Client order ids the venue cannot take: wrong length, no ``0x``, not hex, not a string."""
    return st.one_of(
        st.sampled_from(["", "0x", "0x" + "0" * 31, "0x" + "0" * 33, "0X" + "0" * 32, "0x" + "g" * 32,
                         "00" * 17, " 0x" + "0" * 32, "my-order-1", "0x" + "0" * 31 + "\n"]),
        st.text(max_size=40).filter(lambda s: not (len(s) == 34 and s.startswith("0x"))),
        st.integers(0, 2**128), st.none(), st.binary(min_size=16, max_size=16),
    )


@attrs.frozen
class OrderCase:
    """One request to order preparation: ``params`` for ``side`` on ``asset`` with the market's
    ``reference_price`` (None: no book or mid yet), and the venue rule it breaks (``violation``, one of
    ``ORDER_VIOLATIONS``; None when the request is valid)."""

    params: OrderParams
    side: Side
    asset: AssetInfo
    reference_price: Decimal | None = None
    violation: str | None = None


_PRICED_TYPES = (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET)


def _params(draw: st.DrawFn, asset: AssetInfo, amount: Decimal, price: Decimal | None,
            order_type: OrderType) -> OrderParams:
    return OrderParams(
        pair=asset.name, amount=amount, price=price, order_type=order_type, tif=draw(st.sampled_from(TimeInForce)),
        position_action=draw(st.sampled_from(PositionAction)),
    )


def _lots_below(notional: Decimal, price: Decimal, step: Decimal) -> int:
    """The most lots of ``step`` at ``price`` worth less than ``notional`` (exact: no rounded division)."""
    lots = int(notional / (price * step))
    while lots * step * price >= notional and lots > 0:
        lots -= 1
    while (lots + 1) * step * price < notional:
        lots += 1
    return lots


@st.composite
def valid_order_params(draw: st.DrawFn, asset: AssetInfo | None = None) -> OrderCase:
    """A priced LIMIT / LIMIT_MAKER / MARKET request already on ``asset``'s grids and worth at least
    ``MIN_NOTIONAL``: preparation must accept it and change neither amount nor price."""
    a = draw(asset_infos()) if asset is None else asset
    price = draw(valid_prices(a))
    step = a.size_step
    min_lots = _lots_below(MIN_NOTIONAL, price, step) + 1
    lots = draw(st.integers(min_lots, min_lots * 100))
    params = _params(draw, a, lots * step, price, draw(st.sampled_from(_PRICED_TYPES)))
    return OrderCase(params, draw(sides), a)


@st.composite
def invalid_order_params(
    draw: st.DrawFn, asset: AssetInfo | None = None, violations: tuple[str, ...] = ORDER_VIOLATIONS
) -> OrderCase:
    """A request ``OrderParams`` accepts but the venue's rules for ``asset`` do not, so preparation must
    refuse it at the call (``InvalidOrderError``) rather than let the venue reject it later.

    ``violation`` is one of: ``lot`` (amount below one lot: it floors to zero), ``min_notional`` (worth less
    than ``MIN_NOTIONAL``), ``tick`` (a price below the smallest tick, on the side where rounding goes down),
    ``no_reference`` (a MARKET order without a price before any book or mid exists), ``too_large`` (a price
    no wire number can carry).  Off-grid prices and sizes are *not* here: preparation quantizes those by
    policy (``invalid_prices``/``invalid_sizes`` give them to the strict wire formatters instead).
    """
    a = draw(asset_infos()) if asset is None else asset
    rule = draw(st.sampled_from(violations))
    step = a.size_step
    priced = st.sampled_from(_PRICED_TYPES)
    if rule == "lot":
        amount = draw(_off_grid(a.sz_decimals, below_one_step=True))
        return OrderCase(_params(draw, a, amount, draw(valid_prices(a)), draw(priced)), draw(sides), a,
                         violation=rule)
    if rule == "min_notional":
        price = draw(valid_prices(a))
        if price * step >= MIN_NOTIONAL:
            price = Decimal(1)
        amount = draw(st.integers(1, _lots_below(MIN_NOTIONAL, price, step))) * step
        return OrderCase(_params(draw, a, amount, price, draw(priced)), draw(sides), a, violation=rule)
    if rule == "tick":
        price = draw(_off_grid(_max_price_decimals(a), below_one_step=True))
        # Passive rounding of a buy and aggressive rounding of a sell both go down, to zero.
        side = draw(sides)
        order_type = OrderType.MARKET if side is Side.SELL else draw(st.sampled_from(_PRICED_TYPES[:2]))
        return OrderCase(_params(draw, a, draw(valid_sizes(a)), price, order_type), side, a, violation=rule)
    if rule == "no_reference":
        return OrderCase(_params(draw, a, draw(valid_sizes(a)), None, OrderType.MARKET), draw(sides), a,
                         violation=rule)
    if rule == "too_large":
        price = Decimal(draw(st.integers(1, 99_999))).scaleb(draw(st.integers(38, 60)))
        return OrderCase(_params(draw, a, draw(valid_sizes(a)), price, draw(priced)), draw(sides), a,
                         violation=rule)
    raise ValueError(f"invalid_order_params: unknown violation {rule!r}")


@st.composite
def invalid_order_param_kwargs(draw: st.DrawFn) -> dict[str, object]:
    """Keyword arguments ``OrderParams(**kwargs)`` must refuse with ``InvalidOrderError``: non-positive,
    float, bool or non-numeric amounts and prices, missing prices, trigger fields on the wrong order type,
    an empty pair, strings where enums belong."""
    base: dict[str, object] = {"pair": "BTC", "amount": Decimal("0.01"), "price": Decimal(30000)}
    bad_numbers = st.sampled_from([0, -1, "-0.5", "0", 1.5, 0.0, True, "abc", "NaN", "Infinity", None, Decimal("-0"),
                                   Decimal("NaN"), [1]])
    case = draw(st.sampled_from([
        "amount", "price", "limit_without_price", "maker_without_price", "trigger_on_limit", "trigger_incomplete",
        "trigger_limit_without_price", "pair", "order_type", "tif",
    ]))
    if case == "amount":
        return {**base, "amount": draw(bad_numbers)}
    if case == "price":
        return {**base, "price": draw(bad_numbers.filter(lambda v: v is not None))}
    if case == "limit_without_price":
        return {**base, "price": None}
    if case == "maker_without_price":
        return {**base, "price": None, "order_type": OrderType.LIMIT_MAKER}
    if case == "trigger_on_limit":
        return {**base, **draw(st.sampled_from([{"trigger_price": Decimal(1)},
                                                {"trigger_kind": TriggerKind.STOP_LOSS}]))}
    if case == "trigger_incomplete":
        return {**base, "order_type": OrderType.TRIGGER,
                **draw(st.sampled_from([{"trigger_price": Decimal(1)}, {"trigger_kind": TriggerKind.TAKE_PROFIT}]))}
    if case == "trigger_limit_without_price":
        return {**base, "price": None, "order_type": OrderType.TRIGGER, "trigger_price": Decimal(1),
                "trigger_kind": TriggerKind.STOP_LOSS, "trigger_is_market": False}
    if case == "pair":
        return {**base, "pair": draw(st.sampled_from(["", 7, None]))}
    if case == "order_type":
        return {**base, "order_type": "limit"}
    return {**base, "tif": "Gtc"}
