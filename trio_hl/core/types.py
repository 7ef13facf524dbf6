"""Exchange-agnostic order vocabulary: enums and frozen value classes.

Why here and not in the venue package: the tracker, the journal, risk checks and user strategies all speak
this vocabulary, and none of them should have to know Hyperliquid's wire names.  Venue code maps to and
from these types in one place (``trio_hl.hyperliquid.wire`` / ``statuses``).

Numbers are ``decimal.Decimal`` end to end.  Floats are refused at construction: a float has already lost
the value the user meant, and an order path that silently rounds is a bug nobody sees until a fill.
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from trio_hl.errors import InvalidOrderError

__all__ = [
    "OrderParams",
    "OrderState",
    "OrderType",
    "PositionAction",
    "Side",
    "TimeInForce",
    "TradingRule",
    "TriggerKind",
    "to_decimal",
    "to_positive_decimal",
]


#: For every enum below: members are singletons compared by identity, so the identity hash is a valid hash and
#: it runs in C.  ``Enum.__hash__`` is a Python function (it hashes the member's name): ~0.1 us on every dict or
#: set lookup keyed by a member, and the order path does several per order (transition table, per-side totals).
_IDENTITY_HASH = object.__hash__


class Side(enum.Enum):
    __hash__ = _IDENTITY_HASH

    BUY = "buy"
    SELL = "sell"

    @property
    def is_buy(self) -> bool:
        return self is Side.BUY

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.Enum):
    __hash__ = _IDENTITY_HASH

    LIMIT = "limit"
    #: Post-only limit; the venue cancels it rather than let it take liquidity.
    LIMIT_MAKER = "limit_maker"
    #: Aggressive IOC limit priced from the book/mid with slippage.
    MARKET = "market"
    #: Take-profit / stop-loss order resting until the mark crosses ``trigger_price``.
    TRIGGER = "trigger"


class TimeInForce(enum.Enum):
    __hash__ = _IDENTITY_HASH

    GTC = "gtc"
    IOC = "ioc"
    #: Add-liquidity-only (post-only).
    ALO = "alo"


class PositionAction(enum.Enum):
    __hash__ = _IDENTITY_HASH

    OPEN = "open"
    #: Reduce-only: the order may only shrink the position.
    CLOSE = "close"


class TriggerKind(enum.Enum):
    __hash__ = _IDENTITY_HASH

    TAKE_PROFIT = "tp"
    STOP_LOSS = "sl"


class OrderState(enum.Enum):
    """Lifecycle states of a tracked order (DESIGN §3).

    PARTIALLY_FILLED is derived from fills (venues report no such status).  UNKNOWN means "we sent it and
    do not know whether it landed"; it is never turned into FAILED without a definitive answer.
    """

    __hash__ = _IDENTITY_HASH

    PENDING_CREATE = "pending_create"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    UNKNOWN = "unknown"
    CANCELED = "canceled"
    FILLED = "filled"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Live on the venue (or possibly live): anything that is not terminal."""
        return self not in _TERMINAL


_TERMINAL = frozenset({OrderState.CANCELED, OrderState.FILLED, OrderState.FAILED})


def to_decimal(value: Any, name: str) -> Decimal:
    """Convert ``value`` to a finite Decimal or raise ``InvalidOrderError`` naming the parameter.

    Accepts Decimal, int and str.  Rejects float (already rounded by the time we see it) and bool.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool | float):
        raise InvalidOrderError(
            f"{name} must be a Decimal, int or numeric string, not {type(value).__name__} ({value!r}); "
            "floats lose precision before trio-hl sees them"
        )
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise InvalidOrderError(f"{name} must be numeric, got {value!r}") from None
    else:
        raise InvalidOrderError(f"{name} must be a Decimal, int or numeric string, got {type(value).__name__}")
    if not result.is_finite():
        raise InvalidOrderError(f"{name} must be finite, got {value!r}")
    return result


def to_positive_decimal(value: Any, name: str) -> Decimal:
    """:func:`to_decimal`, and > 0 (``InvalidOrderError`` naming the parameter otherwise)."""
    return _positive(value, name)


def _positive(value: Any, name: str) -> Decimal:
    d = to_decimal(value, name)
    if d <= 0:
        raise InvalidOrderError(f"{name} must be > 0, got {d}")
    return d


def _amount(value: Any) -> Decimal:
    return _positive(value, "amount")


def _price(value: Any) -> Decimal | None:
    return None if value is None else _positive(value, "price")


def _trigger_price(value: Any) -> Decimal | None:
    return None if value is None else _positive(value, "trigger_price")


@attrs.frozen(kw_only=False)
class OrderParams:
    """What the user asks for; the side comes from ``buy()`` / ``sell()``.

    Validated at construction: amount > 0; price > 0 when given; LIMIT and LIMIT_MAKER need a price;
    TRIGGER needs ``trigger_price`` and ``trigger_kind``; LIMIT_MAKER implies ALO; MARKET implies IOC.
    ``price`` on a MARKET order is the worst acceptable price (otherwise the connector derives one from the
    book with its configured slippage).  Venue-specific rounding happens later, in the connector.
    """

    pair: str = attrs.field()
    amount: Decimal = attrs.field(converter=_amount)
    price: Decimal | None = attrs.field(default=None, converter=_price)
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    position_action: PositionAction = PositionAction.OPEN
    client_order_id: str | None = None
    trigger_price: Decimal | None = attrs.field(default=None, converter=_trigger_price)
    trigger_kind: TriggerKind | None = None
    #: For TRIGGER orders: execute as market once triggered (True) or rest as a limit at ``price``.
    trigger_is_market: bool = True

    @pair.validator
    def _check_pair(self, _attr: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidOrderError(f"pair must be a non-empty string, got {value!r}")

    def __attrs_post_init__(self) -> None:
        t = self.order_type
        if not isinstance(t, OrderType):
            raise InvalidOrderError(f"order_type must be an OrderType, got {t!r}")
        if not isinstance(self.tif, TimeInForce):
            raise InvalidOrderError(f"tif must be a TimeInForce, got {self.tif!r}")
        if not isinstance(self.position_action, PositionAction):
            raise InvalidOrderError(f"position_action must be a PositionAction, got {self.position_action!r}")
        if t in (OrderType.LIMIT, OrderType.LIMIT_MAKER) and self.price is None:
            raise InvalidOrderError(f"price is required for {t.name} orders")
        if t is OrderType.LIMIT_MAKER and self.tif is not TimeInForce.ALO:
            object.__setattr__(self, "tif", TimeInForce.ALO)
        if t is OrderType.MARKET and self.tif is not TimeInForce.IOC:
            object.__setattr__(self, "tif", TimeInForce.IOC)
        if t is OrderType.TRIGGER:
            if self.trigger_price is None or self.trigger_kind is None:
                raise InvalidOrderError("TRIGGER orders need trigger_price and trigger_kind")
            if not self.trigger_is_market and self.price is None:
                raise InvalidOrderError("a TRIGGER order with trigger_is_market=False needs a limit price")
        elif self.trigger_price is not None or self.trigger_kind is not None:
            raise InvalidOrderError(f"trigger_price/trigger_kind only apply to TRIGGER orders, not {t.name}")

    @property
    def reduce_only(self) -> bool:
        return self.position_action is PositionAction.CLOSE


@attrs.frozen
class TradingRule:
    """Per-pair quantization and minimums, exchange-agnostic.

    ``size_step`` is the lot size.  Prices follow either a fixed ``price_tick`` or, on venues such as
    Hyperliquid, a significant-figure rule (``max_price_sig_figs``) capped at ``max_price_decimals``
    decimals; integer prices are always allowed under the sig-fig rule.
    """

    pair: str
    size_step: Decimal
    min_size: Decimal
    min_notional: Decimal = Decimal(0)
    price_tick: Decimal | None = None
    max_price_decimals: int | None = None
    max_price_sig_figs: int | None = None
    is_spot: bool = False
