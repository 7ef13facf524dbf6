"""WebSocket data frames → typed values, one parser per channel, and :func:`parse_ws_data` to pick it by the
frame's ``channel`` (PROTOCOL §6.4).

The session (``ws.py``) routes raw ``data`` to subscribers; a subscriber that wants values instead of dicts
calls ``parse_ws_data(channel, data)``.  Channels whose data is not a market or account fact (``pong``,
``subscriptionResponse``, ``error``, ``post``) are not handled here: the session consumes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid import _wire_read as r
from trio_hl.hyperliquid.info_market import (
    PerpAssetCtx,
    SpotAssetCtx,
    parse_all_dexs_asset_ctxs,
    parse_bbo,
    parse_candle,
)
from trio_hl.hyperliquid.ledger import parse_ws_user_non_funding_ledger_updates
from trio_hl.hyperliquid.messages import (
    FundingPayment,
    TwapHistoryEntry,
    TwapSliceFill,
    parse_all_mids,
    parse_l2_book,
    parse_order_snapshot,
    parse_trades,
    parse_twap_history,
    parse_twap_slice_fills,
    parse_user_event,
    parse_user_fills,
)

__all__ = [
    "WS_PARSERS",
    "ActiveAssetCtx",
    "UserFundings",
    "UserTwapHistory",
    "UserTwapSliceFills",
    "parse_active_asset_ctx",
    "parse_user_fundings",
    "parse_user_twap_history",
    "parse_user_twap_slice_fills",
    "parse_ws_data",
]

_EMPTY: Final[Mapping[str, str]] = {}


@attrs.frozen
class ActiveAssetCtx:
    """WS ``activeAssetCtx`` (perp: ``ctx`` a :class:`PerpAssetCtx`) or ``activeSpotAssetCtx`` (spot)."""

    coin: str
    ctx: PerpAssetCtx | SpotAssetCtx


def parse_active_asset_ctx(d: object, spot: bool = False) -> ActiveAssetCtx:
    what = "activeSpotAssetCtx" if spot else "activeAssetCtx"
    m = f.obj(d, what)
    ctx = f.obj(f.field(m, "ctx", what), f"{what}.ctx")
    parsed = SpotAssetCtx.from_wire(ctx, f"{what}.ctx") if spot else PerpAssetCtx.from_wire(ctx, f"{what}.ctx")
    return ActiveAssetCtx(f.string(m, "coin", what), parsed)


@attrs.frozen
class UserFundings:
    """WS ``userFundings`` data (the first message a snapshot)."""

    user: str
    is_snapshot: bool
    fundings: tuple[FundingPayment, ...]


def parse_user_fundings(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> UserFundings:
    what = "userFundings"
    m = f.obj(d, what)

    def one(x: dict[str, Any], w: str) -> FundingPayment:
        coin = f.string(x, "coin", w)
        return FundingPayment(pair=coin_to_pair.get(coin, coin), timestamp=r.ms(x, "time", w) / 1000,
                              usdc=f.decimal(x, "usdc", w), position_size=f.decimal(x, "szi", w),
                              funding_rate=f.decimal(x, "fundingRate", w))

    return UserFundings(f.string(m, "user", what).lower(), bool(f.opt_boolean(m, "isSnapshot", what)),
                        tuple(r.items(f.field(m, "fundings", what), f"{what}.fundings", one)))


@attrs.frozen
class UserTwapSliceFills:
    user: str
    is_snapshot: bool
    fills: tuple[TwapSliceFill, ...]


def parse_user_twap_slice_fills(d: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> UserTwapSliceFills:
    """WS ``userTwapSliceFills`` data: ``{"isSnapshot"?, "user", "twapSliceFills": [{fill, twapId}]}``."""
    what = "userTwapSliceFills"
    m = f.obj(d, what)
    try:
        fills = parse_twap_slice_fills(f.field(m, "twapSliceFills", what), coin_to_pair)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}.twapSliceFills: {exc}") from None
    return UserTwapSliceFills(f.string(m, "user", what).lower(), bool(f.opt_boolean(m, "isSnapshot", what)),
                              tuple(fills))


@attrs.frozen
class UserTwapHistory:
    user: str
    is_snapshot: bool
    history: tuple[TwapHistoryEntry, ...]


def parse_user_twap_history(d: object) -> UserTwapHistory:
    """WS ``userTwapHistory`` data: ``{"isSnapshot"?, "user", "history": [twapHistory entry, ...]}``."""
    what = "userTwapHistory"
    m = f.obj(d, what)
    try:
        history = parse_twap_history(f.field(m, "history", what))
    except ProtocolError as exc:
        raise ProtocolError(f"{what}.history: {exc}") from None
    return UserTwapHistory(f.string(m, "user", what).lower(), bool(f.opt_boolean(m, "isSnapshot", what)),
                           tuple(history))


def _order_updates(d: object, coin_to_pair: Mapping[str, str]) -> list[Any]:
    out = []
    for i, x in enumerate(f.array(d, "orderUpdates")):
        try:
            out.append(parse_order_snapshot(x, coin_to_pair))
        except ProtocolError as exc:
            raise ProtocolError(f"orderUpdates[{i}]: {exc}") from None
    return out


def _mids(d: object, _: Mapping[str, str]) -> dict[str, Decimal]:
    return parse_all_mids(d)


#: channel → parser(data, coin_to_pair).
WS_PARSERS: Final[dict[str, Callable[[Any, Mapping[str, str]], Any]]] = {
    "allMids": _mids,
    "l2Book": lambda d, _: parse_l2_book(d),
    "trades": parse_trades,
    "bbo": lambda d, _: parse_bbo(d),
    "candle": lambda d, _: parse_candle(d),
    "orderUpdates": _order_updates,
    "user": parse_user_event,
    "userFills": parse_user_fills,
    "userFundings": parse_user_fundings,
    "userNonFundingLedgerUpdates": lambda d, _: parse_ws_user_non_funding_ledger_updates(d),
    "userTwapSliceFills": parse_user_twap_slice_fills,
    "userTwapHistory": lambda d, _: parse_user_twap_history(d),
    "activeAssetCtx": lambda d, _: parse_active_asset_ctx(d),
    "activeSpotAssetCtx": lambda d, _: parse_active_asset_ctx(d, spot=True),
    "allDexsAssetCtxs": lambda d, _: parse_all_dexs_asset_ctxs(d),
}


def parse_ws_data(channel: str, data: object, coin_to_pair: Mapping[str, str] = _EMPTY) -> Any:
    """The typed value of one data frame's ``data`` (``ProtocolError`` when malformed); ``KeyError`` for a
    channel without a parser here (see :data:`WS_PARSERS`)."""
    return WS_PARSERS[channel](data, coin_to_pair)
