"""From a user's ``OrderParams`` to a venue-valid order: quantization policy and the order wire.

Policy (the choices a user must be able to predict):

- **Size** is floored to the asset's lot (``szDecimals``): we never trade more than asked.  A size that floors
  to zero is an error, not a silent no-op.
- **Limit price** is rounded to the nearest valid price on the *passive* side (a buy rounds down, a sell up):
  the order never pays more than the user's limit.  Hyperliquid's rule is 5 significant figures and
  (6 | 8) − szDecimals decimals; integers are always valid.
- **Market price** (MARKET orders, and the protection price of market triggers) is the worst acceptable price:
  the user's ``price`` if given, else the book's price for this size (or the mid) moved by the configured
  slippage, rounded on the *aggressive* side so the slippage bound is never tightened by rounding.
- **Minimum notional** (10 USDC on Hyperliquid) is checked here, before the order is tracked, so the user gets
  a ``InvalidOrderError`` at the call instead of a venue rejection later.

Rejected alternative: sending the user's numbers as-is and letting the venue reject them.  That turns a
programming error into an asynchronous ``OrderFailed`` and burns rate-limit budget.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderParams, OrderType, PositionAction, Side, TimeInForce, TriggerKind
from trio_hl.errors import InvalidOrderError, WireFormatError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.meta import AssetInfo

__all__ = ["MIN_NOTIONAL", "PreparedOrder", "order_to_wire", "prepare_order", "wire_order_type"]

_LIMIT: Final = OrderType.LIMIT
_LIMIT_MAKER: Final = OrderType.LIMIT_MAKER
_CLOSE: Final = PositionAction.CLOSE

#: The venue's minimum order value (PROTOCOL §4.3 MinTradeNtl), in the quote currency.
MIN_NOTIONAL = Decimal(10)


class PreparedOrder:
    """The quantized amount and price of an order (plain slots class: built once per ``buy()``)."""

    __slots__ = ("amount", "price", "trigger_price")

    def __init__(self, amount: Decimal, price: Decimal, trigger_price: Decimal | None) -> None:
        self.amount = amount
        self.price = price
        self.trigger_price = trigger_price


def prepare_order(
    params: OrderParams,
    side: Side,
    asset: AssetInfo,
    *,
    reference_price: Decimal | None,
    slippage: Decimal,
) -> PreparedOrder:
    """Quantize ``params`` for ``asset``; raise ``InvalidOrderError`` naming the problem.

    ``reference_price`` is the price a market order would execute around (book price for the size, or mid);
    it is only needed for MARKET orders without a price and for market triggers without a price.
    """
    order_type = params.order_type
    if (order_type is _LIMIT or order_type is _LIMIT_MAKER) and params.price is not None:
        # The common case in one step (``OrderParams`` already made both numbers finite Decimals > 0); anything
        # the quick path cannot take (a size that floors to zero, a price below the tick...) falls through to
        # the checked path below, which raises with the reason.
        quantized = wire.quantize_limit(params.amount, params.price, asset.sz_decimals, asset.is_spot,
                                        side is Side.BUY)
        if quantized is not None:
            amount, price = quantized
            if amount * price < MIN_NOTIONAL:
                _check_notional(amount, price, asset)
            return PreparedOrder(amount, price, None)
    szd = asset.sz_decimals
    amount = wire.floor_size(params.amount, szd)
    if amount <= 0:
        raise InvalidOrderError(
            f"amount {params.amount} is below the lot size of {asset.name} (szDecimals={szd})"
        )
    try:
        if params.order_type is OrderType.MARKET:
            price = _worst_price(params.price, side, reference_price, slippage, asset, "MARKET")
        elif params.order_type is OrderType.TRIGGER:
            assert params.trigger_price is not None
            trigger = wire.round_price(params.trigger_price, szd, asset.is_spot, side=side, aggressive=False)
            if params.trigger_is_market:
                ref = params.price if params.price is not None else params.trigger_price
                price = _worst_price(None, side, ref, slippage, asset, "TRIGGER") if params.price is None else (
                    wire.round_price(ref, szd, asset.is_spot, side=side, aggressive=True)
                )
            else:
                assert params.price is not None
                price = wire.round_price(params.price, szd, asset.is_spot, side=side, aggressive=False)
            _check_notional(amount, price, asset)
            return PreparedOrder(amount, price, trigger)
        else:
            assert params.price is not None
            price = wire.round_price(params.price, szd, asset.is_spot, side=side, aggressive=False)
    except WireFormatError as exc:
        raise InvalidOrderError(f"{asset.name}: {exc}") from None
    _check_notional(amount, price, asset)
    return PreparedOrder(amount, price, None)


def _worst_price(
    given: Decimal | None, side: Side, ref: Decimal | None, slippage: Decimal, asset: AssetInfo, what: str
) -> Decimal:
    if given is not None:
        return wire.round_price(given, asset.sz_decimals, asset.is_spot, side=side, aggressive=True)
    if ref is None:
        raise InvalidOrderError(
            f"{what} order on {asset.name}: no reference price yet (no book or mid); pass price= as the worst price"
        )
    return wire.market_price(ref, side, slippage, asset.sz_decimals, asset.is_spot)


def _check_notional(amount: Decimal, price: Decimal, asset: AssetInfo) -> None:
    if amount * price < MIN_NOTIONAL:
        raise InvalidOrderError(
            f"order value {amount * price} on {asset.name} is below the venue minimum of {MIN_NOTIONAL}"
        )


#: One ``{"limit": {"tif": ...}}`` per time in force, shared by every order wire dict built here: those dicts are
#: only ever packed (msgpack, JSON), never mutated, and two fewer container allocations per order keep the
#: garbage collector's young generation from filling once every hundred ``buy()`` calls (its pause was the p99).
_LIMIT_TYPES: Final = {tif: wire.limit_order_type(tif) for tif in TimeInForce}


def wire_order_type(
    order: InFlightOrder, trigger_price: Decimal | None, trigger_kind: TriggerKind | None, trigger_is_market: bool,
) -> dict[str, Any]:
    """The ``t`` of a tracked order's wire dict: the shared ``{"limit": {"tif"}}`` or a new ``{"trigger": ...}``."""
    if order.order_type is OrderType.TRIGGER:
        assert trigger_price is not None and trigger_kind is not None
        return wire.trigger_order_type(trigger_price, trigger_is_market, trigger_kind)
    return _LIMIT_TYPES[order.tif]


def order_to_wire(
    order: InFlightOrder, asset: AssetInfo, trigger_price: Decimal | None, trigger_kind: TriggerKind | None,
    trigger_is_market: bool,
) -> dict[str, Any]:
    """The ``order`` wire dict (SDK key order) for a tracked order; the client order id is the cloid."""
    if order.order_type is OrderType.TRIGGER:
        assert trigger_price is not None and trigger_kind is not None
        order_type = wire.trigger_order_type(trigger_price, trigger_is_market, trigger_kind)
    else:
        order_type = _LIMIT_TYPES[order.tif]
    assert order.price is not None
    return wire.order_wire(
        asset.asset_id,
        order.side is Side.BUY,
        order.price,
        order.amount,
        order.position_action is _CLOSE,
        order_type,
        order.client_order_id,
    )
