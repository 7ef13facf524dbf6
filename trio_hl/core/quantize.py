"""Price and size rounding from a :class:`~trio_hl.core.types.TradingRule`: the venue-free form of the rules.

Why here: strategies and execution algorithms must round their prices and sizes before asking for an order, and
must not import a venue's wire module to do it.  A ``TradingRule`` describes the rules (a lot size, and either a
fixed tick or a significant-figure rule capped at a number of decimals, as Hyperliquid's); these functions apply
them.  For Hyperliquid rules they give exactly what ``trio_hl.hyperliquid.wire.round_price`` / ``floor_size``
give (a property test checks it), so a price rounded here is accepted on the wire unchanged.

Rounding direction: *passive* rounds away from the market (a bid down, an ask up) so a resting order is never
more aggressive than asked; *aggressive* rounds toward it (an IOC that must still cross).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

from trio_hl.core.types import Side, TradingRule
from trio_hl.errors import InvalidOrderError

__all__ = ["floor_size", "is_valid_price", "round_price"]

_CTX = Context(prec=60)


def floor_size(amount: Decimal, rule: TradingRule) -> Decimal:
    """``amount`` floored to a multiple of the lot size (``rule.size_step``); may be zero, never negative."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidOrderError(f"size must be a finite Decimal >= 0, got {amount!r}")
    step = rule.size_step
    return _CTX.multiply((amount / step).to_integral_value(ROUND_FLOOR, context=_CTX), step)


def round_price(price: Decimal, rule: TradingRule, *, side: Side, aggressive: bool = False) -> Decimal:
    """The nearest valid price to ``price`` in the direction the side and ``aggressive`` ask for (module doc).

    Raises ``InvalidOrderError`` when rounding down reaches zero (below the smallest valid price)."""
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise InvalidOrderError(f"price must be a finite Decimal > 0, got {price!r}")
    up = (side is Side.BUY) is aggressive
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    if rule.price_tick is not None:
        tick = rule.price_tick
        result = _CTX.multiply((price / tick).to_integral_value(rounding, context=_CTX), tick)
    else:
        exp = _price_exponent(price, rule)
        result = price.quantize(Decimal(1).scaleb(exp), rounding=rounding, context=_CTX)
    if result <= 0:
        raise InvalidOrderError(f"price {price} is below the smallest valid price of {rule.pair}")
    return result


def is_valid_price(price: Decimal, rule: TradingRule) -> bool:
    """True when ``price`` needs no rounding under ``rule``."""
    try:
        return round_price(price, rule, side=Side.BUY) == price
    except InvalidOrderError:
        return False


def _price_exponent(price: Decimal, rule: TradingRule) -> int:
    """The exponent of the price quantum under a significant-figure rule: integers are always valid (a price at
    or above ``10**(sig_figs - 1)`` rounds to an integer), below that ``sig_figs`` significant figures but never
    finer than ``max_price_decimals`` decimals.  With neither limit set, any price is valid to 18 decimals."""
    sig = rule.max_price_sig_figs
    max_dec = rule.max_price_decimals if rule.max_price_decimals is not None else 18
    adjusted = price.adjusted()
    if sig is None:
        return -max(max_dec, 0)
    return 0 if adjusted >= sig - 1 else max(adjusted - (sig - 1), -max(max_dec, 0))
