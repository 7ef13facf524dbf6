"""Decimal → Hyperliquid wire strings, the venue's price/size rules, cloids, and L1 action builders.

Rule followed.  The venue hashes ``msgpack(action)`` byte for byte (PROTOCOL §1.1), so every number must be
the exact string the official SDK's ``float_to_wire`` would emit for the same value (at most 8 decimals,
trailing zeros stripped, no exponent; PROTOCOL §3.3), and every dict must have the SDK's key order
(PROTOCOL §3.1, §3.2, §2.2).  We produce that form from ``Decimal`` directly and *raise* where the SDK would
round: a value that needs a 9th decimal is a bug upstream, not something to send.  We also never emit
``"-0"`` (the SDK's guard for it is dead code and it can emit one).

Alternative rejected.  Going through ``float`` like the SDK (``f"{x:.8f}"`` then ``Decimal.normalize``):
it is slower, it depends on binary rounding of values the user typed in decimal, and it silently accepts
values it then rounds within 1e-12.  Formatting the Decimal's own digits is exact and cheaper.

Price rules (PROTOCOL §3.4): at most 5 significant figures unless the price is an integer, and at most
``(6 for perps | 8 for spot) − szDecimals`` decimals.  Sizes are multiples of ``10**-szDecimals``.
``round_price`` moves a price to the nearest valid one in a chosen direction; ``floor_size`` never rounds a
size up, so quantization can only make an order smaller, never larger than the user asked.

The hot path (``to_wire``, ``order_wire``, ``order_action``) does only string operations on ``str(d)``
and builds plain dicts; it is measured in ``benchmarks/bench_wire.py``.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any, Final

from trio_hl.core.types import Side, TimeInForce, TriggerKind
from trio_hl.errors import InvalidOrderError, WireFormatError

__all__ = [
    "MAX_WIRE_DECIMALS",
    "PERP_MAX_PRICE_DECIMALS",
    "PRICE_SIG_FIGS",
    "SPOT_MAX_PRICE_DECIMALS",
    "WireDict",
    "approve_agent_action",
    "batch_modify_action",
    "cancel_action",
    "cancel_by_cloid_action",
    "exchange_body",
    "floor_size",
    "format_price",
    "format_size",
    "is_valid_price",
    "is_valid_size",
    "limit_order_type",
    "market_price",
    "max_price_decimals",
    "modify_action",
    "new_cloid",
    "noop_action",
    "order_action",
    "order_wire",
    "quantize_limit",
    "round_price",
    "schedule_cancel_action",
    "tif_to_wire",
    "to_wire",
    "trigger_order_type",
    "twap_cancel_action",
    "twap_order_action",
    "update_isolated_margin_action",
    "update_leverage_action",
    "usd_class_transfer_action",
    "usd_to_ntli",
    "validate_cloid",
]

#: A JSON-ready wire dict whose insertion order is the SDK's key order.
WireDict = dict[str, Any]

MAX_WIRE_DECIMALS: Final = 8
PRICE_SIG_FIGS: Final = 5
PERP_MAX_PRICE_DECIMALS: Final = 6
SPOT_MAX_PRICE_DECIMALS: Final = 8
#: ``10**38`` and above is refused: no price, size or amount on the venue is that large, and formatting a
#: Decimal such as ``1E+999999999`` positionally would allocate gigabytes.
_MAX_ADJUSTED: Final = 37

# A private context so quantization never depends on (or is broken by) the thread's decimal context, and
# so values with more than the default 28 digits still quantize exactly.
_CTX: Final = Context(prec=80, Emin=-999999, Emax=999999)
_QUANTUM: Final = {e: Decimal(1).scaleb(e) for e in range(-40, 1)}
# The same context with the rounding built in: ``x.quantize(q, None, ctx)`` parses no keywords (a third of the
# cost of ``quantize(q, rounding=..., context=...)``; it runs twice per order in ``quantize_limit``).
_CTX_FLOOR: Final = Context(prec=80, Emin=-999999, Emax=999999, rounding=ROUND_FLOOR)
_CTX_CEILING: Final = Context(prec=80, Emin=-999999, Emax=999999, rounding=ROUND_CEILING)


def _quantum(exp: int) -> Decimal:
    q = _QUANTUM.get(exp)
    return q if q is not None else Decimal(1).scaleb(exp)


# --------------------------------------------------------------------------------------------- numbers


def _type_error(name: str, d: object) -> WireFormatError:
    return WireFormatError(
        f"{name} must be a decimal.Decimal, not {type(d).__name__} ({d!r}); convert with Decimal(str) "
        "or trio_hl.core.types.to_decimal, never through float"
    )


def to_wire(d: Decimal) -> str:
    """Format ``d`` exactly as the SDK's ``float_to_wire`` would, without ever rounding.

    ``Decimal("1670.10") -> "1670.1"``, ``Decimal("1E+2") -> "100"``, ``Decimal("-0.0") -> "0"``,
    ``Decimal("1E-8") -> "0.00000001"``.  Raises ``WireFormatError`` for a non-Decimal, a non-finite value,
    a value that needs more than 8 decimals (``Decimal("1E-9")``), or one of ``10**38`` or more.
    """
    if type(d) is not Decimal and not isinstance(d, Decimal):
        raise _type_error("value", d)
    if not d.is_finite():
        raise WireFormatError(f"value must be finite, got {d}")
    s = str(d)
    if "E" in s:
        if d.is_zero():
            return "0"
        adjusted = d.adjusted()
        if adjusted > _MAX_ADJUSTED:
            raise WireFormatError(f"value {d} is too large for the wire (limit 1E+{_MAX_ADJUSTED + 1})")
        if adjusted < -MAX_WIRE_DECIMALS:
            # Checked before formatting: "1E-999999" would otherwise expand to a million characters first.
            raise WireFormatError(
                f"value {d} needs more than {MAX_WIRE_DECIMALS} decimals; the wire carries at most "
                f"{MAX_WIRE_DECIMALS} and trio-hl refuses to round silently"
            )
        s = format(d, "f")
    elif d.adjusted() > _MAX_ADJUSTED:
        raise WireFormatError(f"value {d} is too large for the wire (limit 1E+{_MAX_ADJUSTED + 1})")
    dot = s.find(".")
    if dot >= 0:
        s = s.rstrip("0")
        if s[-1] == ".":
            s = s[:-1]
        elif len(s) - dot - 1 > MAX_WIRE_DECIMALS:
            raise WireFormatError(
                f"value {d} needs {len(s) - dot - 1} decimals; the wire carries at most {MAX_WIRE_DECIMALS} "
                "and trio-hl refuses to round silently"
            )
    if s == "-0":
        return "0"
    return s


def max_price_decimals(sz_decimals: int, is_spot: bool) -> int:
    """``(8 if spot else 6) − szDecimals``: the most decimals a price of this asset may carry."""
    return (SPOT_MAX_PRICE_DECIMALS if is_spot else PERP_MAX_PRICE_DECIMALS) - sz_decimals


def _check_sz_decimals(sz_decimals: int) -> None:
    if type(sz_decimals) is not int or sz_decimals < 0:
        raise InvalidOrderError(f"sz_decimals must be a non-negative int, got {sz_decimals!r}")


def _price_violation(s: str, sz_decimals: int, is_spot: bool) -> str | None:
    """Why the wire string ``s`` is not a valid price (None if it is).  ``s`` comes from ``to_wire``."""
    if s[0] == "-" or s == "0":
        return "a price must be > 0"
    dot = s.find(".")
    if dot < 0:
        return None  # integer prices are always valid, whatever their number of significant figures
    decimals = len(s) - dot - 1
    limit = max_price_decimals(sz_decimals, is_spot)
    if decimals > limit:
        kind = "spot" if is_spot else "perp"
        return (
            f"a {kind} price with szDecimals={sz_decimals} may have at most {max(limit, 0)} decimals "
            f"(({SPOT_MAX_PRICE_DECIMALS if is_spot else PERP_MAX_PRICE_DECIMALS} - szDecimals)), "
            f"it has {decimals}"
        )
    # Trailing zeros are already stripped, so every digit from the first non-zero one is significant.
    sig = len(s) - 1 if s[0] != "0" else len(s[2:].lstrip("0"))
    if sig > PRICE_SIG_FIGS:
        return f"a non-integer price may have at most {PRICE_SIG_FIGS} significant figures, it has {sig}"
    return None


def format_price(px: Decimal, sz_decimals: int, is_spot: bool) -> str:
    """The wire string of a limit or trigger price, after checking the venue's tick rules.

    Raises ``WireFormatError`` naming the violated rule and the value; use ``round_price`` first to make an
    arbitrary price valid.
    """
    s = to_wire(px)
    _check_sz_decimals(sz_decimals)
    why = _price_violation(s, sz_decimals, is_spot)
    if why is not None:
        raise WireFormatError(f"invalid price {px}: {why}")
    return s


def is_valid_price(px: Decimal, sz_decimals: int, is_spot: bool) -> bool:
    """Whether ``format_price`` would accept ``px`` (a non-Decimal still raises: that is a caller bug)."""
    if not isinstance(px, Decimal):
        raise _type_error("px", px)
    _check_sz_decimals(sz_decimals)
    try:
        s = to_wire(px)
    except WireFormatError:
        return False
    return _price_violation(s, sz_decimals, is_spot) is None


def format_size(sz: Decimal, sz_decimals: int) -> str:
    """The wire string of an order size; it must be > 0 and a multiple of ``10**-szDecimals``.

    Raises ``WireFormatError`` otherwise; use ``floor_size`` first to make a size valid.
    """
    s = to_wire(sz)
    _check_sz_decimals(sz_decimals)
    if s[0] == "-" or s == "0":
        raise WireFormatError(f"invalid size {sz}: a size must be > 0")
    dot = s.find(".")
    if dot >= 0 and len(s) - dot - 1 > sz_decimals:
        raise WireFormatError(
            f"invalid size {sz}: it must be a multiple of 1E-{sz_decimals} (szDecimals={sz_decimals}), "
            f"it has {len(s) - dot - 1} decimals"
        )
    return s


def is_valid_size(sz: Decimal, sz_decimals: int) -> bool:
    """Whether ``format_size`` would accept ``sz``."""
    if not isinstance(sz, Decimal):
        raise _type_error("sz", sz)
    try:
        format_size(sz, sz_decimals)
    except WireFormatError:
        return False
    return True


def _positive_decimal(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal):
        raise _type_error(name, value)
    if not value.is_finite() or value <= 0:
        raise WireFormatError(f"{name} must be a finite Decimal > 0, got {value}")


def round_price(px: Decimal, sz_decimals: int, is_spot: bool, *, side: Side, aggressive: bool) -> Decimal:
    """The nearest valid price to ``px`` in one direction.

    Passive (``aggressive=False``) rounds away from the market: a buy down, a sell up, so a resting order
    never becomes more aggressive than asked.  Aggressive rounds toward the market (buy up, sell down), for
    IOC/market prices that must still cross.  A valid price is returned unchanged (in value).

    How: a price of 10_000 or more is rounded to an integer (integers are always valid and a 5-significant
    -figure rule would be coarser); below that the step is ``10**(adjusted − 4)`` (5 significant figures),
    but never finer than ``10**−maxDecimals``.  Rounding up across a power of ten (9.99995 → 10) still gives
    a valid price.  Raises ``WireFormatError`` when rounding down would reach zero (the price is below the
    smallest valid tick of the asset).
    """
    _positive_decimal("px", px)
    _check_sz_decimals(sz_decimals)
    if not isinstance(side, Side):
        raise InvalidOrderError(f"side must be a Side, got {side!r}")
    adjusted = px.adjusted()
    if adjusted > _MAX_ADJUSTED:
        raise WireFormatError(f"price {px} is too large for the wire")
    max_dec = max(max_price_decimals(sz_decimals, is_spot), 0)
    exp = 0 if adjusted >= PRICE_SIG_FIGS - 1 else max(adjusted - (PRICE_SIG_FIGS - 1), -max_dec)
    up = (side is Side.BUY) is aggressive
    result = px.quantize(_quantum(exp), rounding=ROUND_CEILING if up else ROUND_FLOOR, context=_CTX)
    if result.is_zero():
        raise WireFormatError(
            f"price {px} is below the smallest valid price {_quantum(exp)} for szDecimals={sz_decimals} "
            f"({'spot' if is_spot else 'perp'}); cannot round it down"
        )
    return result


def quantize_limit(
    amount: Decimal, price: Decimal, sz_decimals: int, is_spot: bool, is_buy: bool
) -> tuple[Decimal, Decimal] | None:
    """``(floor_size(amount), round_price(price, passive))`` for values already known to be finite Decimals > 0
    (an ``OrderParams`` guarantees it), or None when either would be refused - the caller then runs
    :func:`floor_size` / :func:`round_price` themselves, which raise with the reason.

    Why a second spelling of the same two rules: it is what every ``buy()``/``sell()`` of a limit order runs,
    and in one frame with the per-asset quanta looked up once it costs about a third of the two checked calls
    (tests pin that both give identical results).
    """
    if amount.adjusted() > _MAX_ADJUSTED or price.adjusted() > _MAX_ADJUSTED or sz_decimals < 0:
        return None
    size = amount.quantize(_quantum(-sz_decimals), None, _CTX_FLOOR)
    adjusted = price.adjusted()
    if adjusted >= PRICE_SIG_FIGS - 1:
        exp = 0
    else:
        max_dec = (SPOT_MAX_PRICE_DECIMALS if is_spot else PERP_MAX_PRICE_DECIMALS) - sz_decimals
        exp = max(adjusted - (PRICE_SIG_FIGS - 1), -max_dec if max_dec > 0 else 0)
    px = price.quantize(_quantum(exp), None, _CTX_FLOOR if is_buy else _CTX_CEILING)
    if not size or not px:
        return None
    return size, px


def floor_size(sz: Decimal, sz_decimals: int) -> Decimal:
    """``sz`` rounded down to a multiple of ``10**-szDecimals`` (never up; the result may be zero).

    A size is a magnitude, so a negative ``sz`` is refused rather than floored away from zero.
    """
    if not isinstance(sz, Decimal):
        raise _type_error("sz", sz)
    _check_sz_decimals(sz_decimals)
    if not sz.is_finite() or sz < 0:
        raise WireFormatError(f"size must be a finite Decimal >= 0, got {sz}")
    if sz.adjusted() > _MAX_ADJUSTED:
        raise WireFormatError(f"size {sz} is too large for the wire")
    return sz.quantize(_quantum(-sz_decimals), rounding=ROUND_FLOOR, context=_CTX)


def market_price(mid_or_best: Decimal, side: Side, slippage: Decimal, sz_decimals: int, is_spot: bool) -> Decimal:
    """An aggressive IOC limit price: ``ref × (1 ± slippage)`` rounded toward the market.

    This is the SDK's ``market_open`` price rule (PROTOCOL §3.1) with exact Decimal arithmetic and a
    rounding direction that keeps the order able to cross (the SDK rounds to nearest, which can leave a
    buy a tick below the slippage bound).  ``slippage`` is a fraction (``Decimal("0.05")`` = 5 %), in
    ``[0, 1)``.
    """
    _positive_decimal("mid_or_best", mid_or_best)
    if not isinstance(slippage, Decimal):
        raise _type_error("slippage", slippage)
    if not slippage.is_finite() or slippage < 0 or slippage >= 1:
        raise WireFormatError(f"slippage must be a fraction in [0, 1), got {slippage}")
    if not isinstance(side, Side):
        raise InvalidOrderError(f"side must be a Side, got {side!r}")
    factor = _CTX.add(Decimal(1), slippage) if side is Side.BUY else _CTX.subtract(Decimal(1), slippage)
    return round_price(_CTX.multiply(mid_or_best, factor), sz_decimals, is_spot, side=side, aggressive=True)


def usd_to_ntli(amount: Decimal) -> int:
    """USD amount → the integer micro-USD ``ntli`` of ``updateIsolatedMargin`` (``1.5 → 1500000``).

    The SDK's ``float_to_usd_int``; here exact, raising if the amount has more than 6 decimals.
    """
    if not isinstance(amount, Decimal):
        raise _type_error("amount", amount)
    if not amount.is_finite():
        raise WireFormatError(f"amount must be finite, got {amount}")
    scaled = amount.scaleb(6, context=_CTX)
    if scaled != scaled.to_integral_value(context=_CTX):
        raise WireFormatError(f"amount {amount} has more than 6 decimals; ntli is an integer number of micro-USD")
    return int(scaled)


# ----------------------------------------------------------------------------------------------- cloids

_CLOID_RE: Final = re.compile(r"0x[0-9a-fA-F]{32}")
_ADDRESS_RE: Final = re.compile(r"0x[0-9a-fA-F]{40}")


class _CloidSource:
    """Unique cloids without a syscall per order: a random 64-bit process prefix + a 64-bit counter.

    Within a process the counter makes duplicates impossible (until 2**64 orders); across processes and
    restarts the random prefix makes a clash a 2**-64 event.  After ``fork`` the child draws a new prefix,
    otherwise parent and child would emit the same sequence.
    """

    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = f"0x{secrets.randbits(64):016x}"
        self.counter = itertools.count(secrets.randbits(48))


_CLOIDS: Final = _CloidSource()
if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(after_in_child=_CLOIDS.reseed)


def new_cloid() -> str:
    """A fresh client order id: ``"0x"`` + 32 lowercase hex digits (16 bytes), unique in this process."""
    return f"{_CLOIDS.prefix}{next(_CLOIDS.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def validate_cloid(s: str) -> str:
    """Check a user-supplied cloid and return its canonical (lowercase) form.

    The venue wants ``"0x"`` + 32 hex digits.  We lowercase because the venue and our tracker compare ids
    as strings; an uppercase id would fail to match the venue's echo.
    """
    if not isinstance(s, str) or _CLOID_RE.fullmatch(s) is None:
        raise InvalidOrderError(
            f"client_order_id must be '0x' followed by 32 hex digits (16 bytes), got {s!r}; "
            "use trio_hl.hyperliquid.wire.new_cloid() to make one"
        )
    return s.lower()


# ------------------------------------------------------------------------------------- action builders

_TIFS: Final = frozenset({"Gtc", "Ioc", "Alo", "FrontendMarket", "LiquidationMarket"})
_TIF_FROM_ENUM: Final = {TimeInForce.GTC: "Gtc", TimeInForce.IOC: "Ioc", TimeInForce.ALO: "Alo"}
_GROUPINGS: Final = frozenset({"na", "normalTpsl", "positionTpsl"})


def tif_to_wire(tif: TimeInForce) -> str:
    """``TimeInForce.GTC → "Gtc"`` etc."""
    try:
        return _TIF_FROM_ENUM[tif]
    except KeyError:
        raise InvalidOrderError(f"tif must be a TimeInForce, got {tif!r}") from None


def limit_order_type(tif: str | TimeInForce) -> WireDict:
    """``{"limit": {"tif": "Gtc"|"Ioc"|"Alo"}}`` (also the UI's ``FrontendMarket``/``LiquidationMarket``)."""
    if isinstance(tif, TimeInForce):
        tif = _TIF_FROM_ENUM[tif]
    elif tif not in _TIFS:
        raise InvalidOrderError(f"tif must be one of {sorted(_TIFS)}, got {tif!r}")
    return {"limit": {"tif": tif}}


def trigger_order_type(trigger_px: Decimal, is_market: bool, tpsl: str | TriggerKind) -> WireDict:
    """``{"trigger": {"isMarket", "triggerPx", "tpsl"}}`` in the SDK's key order.

    ``trigger_px`` is formatted with ``to_wire`` only; check it with ``format_price`` first if it comes
    from a user (the venue applies the price rules to trigger prices too).
    """
    if isinstance(tpsl, TriggerKind):
        tpsl = tpsl.value
    elif tpsl not in ("tp", "sl"):
        raise InvalidOrderError(f"tpsl must be 'tp' or 'sl', got {tpsl!r}")
    if type(is_market) is not bool:
        raise InvalidOrderError(f"is_market must be a bool, got {is_market!r}")
    return {"trigger": {"isMarket": is_market, "triggerPx": to_wire(trigger_px), "tpsl": tpsl}}


def order_wire(
    asset: int,
    is_buy: bool,
    px: Decimal,
    sz: Decimal,
    reduce_only: bool,
    order_type: WireDict,
    cloid: str | None = None,
) -> WireDict:
    """One order: ``{"a", "b", "p", "s", "r", "t"[, "c"]}`` (PROTOCOL §3.1).

    ``px``/``sz`` go through ``to_wire`` only: callers validate them against the asset's rules with
    ``format_price``/``format_size`` (or produce them with ``round_price``/``floor_size``) first, which needs
    szDecimals this function does not have.  ``cloid`` must already be canonical (``validate_cloid``).
    """
    w: WireDict = {
        "a": asset,
        "b": is_buy,
        "p": to_wire(px),
        "s": to_wire(sz),
        "r": reduce_only,
        "t": order_type,
    }
    if cloid is not None:
        w["c"] = cloid
    return w


def _builder_wire(builder: Mapping[str, Any]) -> WireDict:
    try:
        address, fee = builder["b"], builder["f"]
    except (KeyError, TypeError):
        raise InvalidOrderError(
            f"builder must be a mapping with 'b' (address) and 'f' (fee), got {builder!r}"
        ) from None
    if not isinstance(address, str) or _ADDRESS_RE.fullmatch(address) is None:
        raise InvalidOrderError(f"builder address must be a 0x-prefixed 20-byte hex address, got {address!r}")
    if type(fee) is not int or fee < 0:
        raise InvalidOrderError(f"builder fee must be a non-negative int (tenths of a basis point), got {fee!r}")
    return {"b": address.lower(), "f": fee}


def order_action(
    orders: list[WireDict],
    grouping: str | Mapping[str, int] = "na",
    builder: Mapping[str, Any] | None = None,
) -> WireDict:
    """``{"type": "order", "orders", "grouping"[, "builder"]}``.

    ``grouping`` is ``"na"``, ``"normalTpsl"``, ``"positionTpsl"`` or a priority grouping ``{"p": int}``.
    ``builder`` is ``{"b": address, "f": fee in tenths of a bp}``; the address is lowercased as the SDK does.
    """
    if isinstance(grouping, str):
        if grouping not in _GROUPINGS:
            raise InvalidOrderError(f"grouping must be one of {sorted(_GROUPINGS)} or {{'p': int}}, got {grouping!r}")
    elif not (isinstance(grouping, Mapping) and list(grouping) == ["p"] and type(grouping["p"]) is int):
        raise InvalidOrderError(f"grouping must be one of {sorted(_GROUPINGS)} or {{'p': int}}, got {grouping!r}")
    else:
        grouping = {"p": grouping["p"]}
    action: WireDict = {"type": "order", "orders": orders, "grouping": grouping}
    if builder is not None:
        action["builder"] = _builder_wire(builder)
    return action


def cancel_action(cancels: Iterable[tuple[int, int]]) -> WireDict:
    """``{"type": "cancel", "cancels": [{"a": asset, "o": oid}, ...]}``."""
    return {"type": "cancel", "cancels": [{"a": asset, "o": oid} for asset, oid in cancels]}


def cancel_by_cloid_action(cancels: Iterable[tuple[int, str]]) -> WireDict:
    """``{"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": "0x…"}, ...]}``."""
    return {"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": cloid} for asset, cloid in cancels]}


def batch_modify_action(modifies: Iterable[tuple[int | str, WireDict]]) -> WireDict:
    """``{"type": "batchModify", "modifies": [{"oid": oid-or-cloid, "order": order_wire}, ...]}``.

    This is what the SDK's ``modify_order``/``bulk_modify_orders_new`` send, even for a single order.
    """
    return {"type": "batchModify", "modifies": [{"oid": oid, "order": order} for oid, order in modifies]}


def modify_action(oid: int | str, order: WireDict) -> WireDict:
    """``{"type": "modify", "oid", "order"}`` — documented by the venue, never sent by the SDK."""
    return {"type": "modify", "oid": oid, "order": order}


def schedule_cancel_action(time_ms: int | None) -> WireDict:
    """``{"type": "scheduleCancel"[, "time": ms]}``; ``None`` unsets the dead-man's switch."""
    if time_ms is None:
        return {"type": "scheduleCancel"}
    if type(time_ms) is not int or time_ms < 0:
        raise InvalidOrderError(f"time_ms must be a non-negative int (unix ms) or None, got {time_ms!r}")
    return {"type": "scheduleCancel", "time": time_ms}


def update_leverage_action(asset: int, is_cross: bool, leverage: int) -> WireDict:
    """``{"type": "updateLeverage", "asset", "isCross", "leverage"}`` (leverage is an int on the wire)."""
    if type(leverage) is not int or leverage < 1:
        raise InvalidOrderError(f"leverage must be an int >= 1, got {leverage!r}")
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}


def update_isolated_margin_action(asset: int, is_buy: bool, ntli: int) -> WireDict:
    """``{"type": "updateIsolatedMargin", "asset", "isBuy", "ntli"}``; ntli = micro-USD (``usd_to_ntli``)."""
    if type(ntli) is not int:
        raise InvalidOrderError(f"ntli must be an int number of micro-USD (see usd_to_ntli), got {ntli!r}")
    return {"type": "updateIsolatedMargin", "asset": asset, "isBuy": is_buy, "ntli": ntli}


def noop_action() -> WireDict:
    """``{"type": "noop"}``: consumes its nonce, which invalidates any in-flight action with that nonce."""
    return {"type": "noop"}


def usd_class_transfer_action(amount: Decimal, to_perp: bool, nonce: int, vault_address: str | None = None) -> WireDict:
    """``{"type": "usdClassTransfer", "amount", "toPerp", "nonce"}`` (user-signed; PROTOCOL §2.2).

    With a vault (sub-account) the SDK appends ``" subaccount:<address>"`` to the amount string; so do we.
    The signing module adds ``signatureChainId`` and ``hyperliquidChain`` after these keys.
    ``nonce`` must equal the request body's nonce.
    """
    text = to_wire(amount)
    if vault_address is not None:
        text = f"{text} subaccount:{vault_address}"
    return {"type": "usdClassTransfer", "amount": text, "toPerp": to_perp, "nonce": nonce}


def approve_agent_action(agent_address: str, agent_name: str | None, nonce: int) -> WireDict:
    """``{"type": "approveAgent", "agentAddress", "agentName", "nonce"}`` (user-signed; PROTOCOL §2.2).

    An unnamed agent is signed with ``agentName: ""``.  The SDK then deletes the key before posting; the
    venue treats a missing name as ``""``, so we keep the key (the signed and the posted dict are the same).
    """
    if not isinstance(agent_address, str) or _ADDRESS_RE.fullmatch(agent_address) is None:
        raise InvalidOrderError(f"agent_address must be a 0x-prefixed 20-byte hex address, got {agent_address!r}")
    return {
        "type": "approveAgent",
        "agentAddress": agent_address,
        "agentName": "" if agent_name is None else agent_name,
        "nonce": nonce,
    }


def twap_order_action(asset: int, is_buy: bool, size: Decimal, reduce_only: bool, minutes: int,
                      randomize: bool) -> WireDict:
    """``{"type": "twapOrder", "twap": {"a", "b", "s", "r", "m", "t"}}``: the venue's native TWAP (PROTOCOL §3.2).

    Key order is the SDK's and the venue's (a, b, s, r, m, t) because the L1 hash covers ``msgpack(action)``
    byte for byte.  ``minutes`` is only checked to be a positive int: the venue's duration range is its own
    rule (``Invalid TWAP duration: N min(s)``), enforced where the caller decides (``NativeTwapParams``).
    """
    if type(asset) is not int or asset < 0:
        raise InvalidOrderError(f"asset must be an int >= 0, got {asset!r}")
    if type(minutes) is not int or minutes < 1:
        raise InvalidOrderError(f"minutes must be an int >= 1, got {minutes!r}")
    _positive_decimal("size", size)
    return {
        "type": "twapOrder",
        "twap": {"a": asset, "b": bool(is_buy), "s": to_wire(size), "r": bool(reduce_only), "m": minutes,
                 "t": bool(randomize)},
    }


def twap_cancel_action(asset: int, twap_id: int) -> WireDict:
    """``{"type": "twapCancel", "a": asset, "t": twap_id}`` (PROTOCOL §3.2)."""
    if type(asset) is not int or asset < 0:
        raise InvalidOrderError(f"asset must be an int >= 0, got {asset!r}")
    if type(twap_id) is not int or twap_id < 0:
        raise InvalidOrderError(f"twap_id must be an int >= 0, got {twap_id!r}")
    return {"type": "twapCancel", "a": asset, "t": twap_id}


def exchange_body(
    action: Mapping[str, Any],
    nonce: int,
    signature: Mapping[str, Any],
    vault_address: str | None,
    expires_after: int | None,
) -> WireDict:
    """The ``POST /exchange`` body in the SDK's order; ``vaultAddress``/``expiresAfter`` are always present
    (JSON null when unset), as the SDK sends them (PROTOCOL §4.1)."""
    return {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": vault_address,
        "expiresAfter": expires_after,
    }
