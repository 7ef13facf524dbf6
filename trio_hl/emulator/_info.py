"""``POST /info`` answers and WS subscription snapshots, read from the engine's state.

Rule followed (PROTOCOL §5, §6.4): request bodies exactly as the SDK sends them (``dex`` optional, ``""`` the
first perp dex; users case-insensitive); answers field for field as the venue's, decimals as strings.  Lists
follow the venue's paging: ``userFills`` the 2000 most recent (newest first), ``userFillsByTime`` at most 2000
from ``startTime`` (oldest first, so a client pages with the last time it saw), ``historicalOrders`` the 2000
most recent.  A request the venue could not deserialize (unknown ``type``, missing or mistyped field) raises
:class:`InfoRequestError`, which the app answers with HTTP 422 plain text.

Alternative rejected: one method per type on the engine.  The read side is a projection of state; keeping
it apart keeps ``engine.py`` about matching, and one table here lists every type the emulator answers.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from trio_hl.emulator._accounts import Account, q6
from trio_hl.emulator._candles import INTERVALS
from trio_hl.emulator._info_account import ACCOUNT_INFO, auction
from trio_hl.emulator._markets import MARKETS, PERP_DEXS, SPOT_TOKENS
from trio_hl.emulator._ratelimit import NO_ADDRESS_LIMIT_BUFFER
from trio_hl.emulator._stream import frontend_order, num, short_order

if TYPE_CHECKING:
    from trio_hl.emulator.engine import Engine

__all__ = ["InfoRequestError", "answer_info", "subscription_snapshot"]

ZERO: Final = Decimal(0)
PAGE: Final = 2000
REACHABLE_FILLS: Final = 10_000


class InfoRequestError(Exception):
    """An ``/info`` request the venue would refuse to deserialize (the app answers HTTP 422)."""


def _user(req: dict[str, Any]) -> str:
    user = req.get("user")
    if not isinstance(user, str) or not user.startswith("0x"):
        raise InfoRequestError("missing field `user` (a 0x address)")
    return user.lower()


def _int(req: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    v = req.get(key)
    if v is None and not required:
        return None
    if type(v) is not int:
        raise InfoRequestError(f"missing or invalid field `{key}` (an integer)")
    return v


def _dex(req: dict[str, Any]) -> str:
    dex = req.get("dex", "")
    if dex is None:
        return ""
    if not isinstance(dex, str) or (dex and all(d is None or d["name"] != dex for d in PERP_DEXS)):
        raise InfoRequestError(f"unknown perp dex {dex!r}"[:100])
    return dex


def _coin_spec(engine: Engine, coin: Any) -> Any:
    spec = engine.spec_by_coin.get(coin) if isinstance(coin, str) else None
    if spec is None:
        raise InfoRequestError(f"unknown coin {coin!r}"[:100])
    return spec


# ------------------------------------------------------------------------------------------------ meta
def _meta(engine: Engine, dex: str) -> dict[str, Any]:
    perps = [m for m in MARKETS if not m.is_spot and m.dex == dex]
    return {
        "universe": [{"name": m.coin, "szDecimals": m.sz_decimals, "maxLeverage": m.max_leverage,
                      "marginTableId": m.max_leverage} for m in perps],
        "marginTables": [[lev, {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": lev}]}]
                         for lev in sorted({m.max_leverage for m in perps})],
        "collateralToken": 0,
    }


def _spot_meta() -> dict[str, Any]:
    pairs = sorted((m for m in MARKETS if m.is_spot), key=lambda m: m.spot_index)
    return {
        "tokens": [t.to_wire() for t in SPOT_TOKENS],
        "universe": [{"name": m.coin, "tokens": [m.base_token, m.quote_token], "index": m.spot_index,
                      "isCanonical": m.coin == "PURR/USDC"} for m in pairs],
    }


def _meta_and_ctxs(engine: Engine, req: dict[str, Any], now: int) -> Any:
    dex = _dex(req)
    ctxs = [engine.asset_ctx(m) for m in MARKETS if not m.is_spot and m.dex == dex]
    return [_meta(engine, dex), ctxs]


def _spot_meta_and_ctxs(engine: Engine, req: dict[str, Any], now: int) -> Any:
    pairs = sorted((m for m in MARKETS if m.is_spot), key=lambda m: m.spot_index)
    return [_spot_meta(), [engine.asset_ctx(m) for m in pairs]]


# ----------------------------------------------------------------------------------------------- market
def _l2(engine: Engine, req: dict[str, Any], now: int) -> Any:
    spec = _coin_spec(engine, req.get("coin"))
    n_sig = req.get("nSigFigs")
    mantissa = req.get("mantissa")
    if n_sig is not None and (type(n_sig) is not int or not 2 <= n_sig <= 5):
        raise InfoRequestError("nSigFigs must be null or an integer from 2 to 5")
    if mantissa is not None and (type(mantissa) is not int or mantissa not in (1, 2, 5) or n_sig != 5):
        raise InfoRequestError("mantissa must be 1, 2 or 5, and only with nSigFigs 5")
    return engine.l2_book(spec.asset, now, n_sig, mantissa)


def _candles(engine: Engine, req: dict[str, Any], now: int) -> Any:
    inner = req.get("req")
    if not isinstance(inner, dict):
        raise InfoRequestError("missing field `req`")
    spec = _coin_spec(engine, inner.get("coin"))
    interval = inner.get("interval")
    if interval not in INTERVALS:
        raise InfoRequestError(f"unknown candle interval {interval!r}"[:100])
    start = _int(inner, "startTime")
    end = _int(inner, "endTime", required=False)
    assert start is not None
    return engine.candles.snapshot(spec.coin, interval, start, now if end is None else end)


def _funding_history(engine: Engine, req: dict[str, Any], now: int) -> Any:
    spec = _coin_spec(engine, req.get("coin"))
    start, end = _range(req, now)
    history = engine.funding_history.get(spec.coin, [])
    return [h for h in history if start <= h["time"] <= end][:500]


def _range(req: dict[str, Any], now: int) -> tuple[int, int]:
    start = _int(req, "startTime")
    end = _int(req, "endTime", required=False)
    assert start is not None
    return start, now if end is None else end


# ------------------------------------------------------------------------------------------------ users
def _account(engine: Engine, req: dict[str, Any]) -> Account | None:
    return engine.accounts.get(_user(req))


def _open_orders(engine: Engine, req: dict[str, Any], *, frontend: bool) -> list[dict[str, Any]]:
    acct = _account(engine, req)
    dex = _dex(req)
    if acct is None:
        return []
    orders = [o for o in acct.open_orders.values() if engine.specs[o.asset].dex == dex]
    if frontend:
        return [frontend_with_children(engine, o) for o in reversed(orders)]
    return [short_order(o) for o in reversed(orders)]


def frontend_with_children(engine: Engine, o: Any) -> dict[str, Any]:
    """The frontend order shape with the TP/SL children still waiting for it nested under ``children`` (they
    are also listed on their own, as the venue lists them)."""
    shaped = frontend_order(o)
    waiting = engine.tpsl.waiting_children(o.oid)
    if waiting:
        shaped["children"] = [frontend_order(child) for child in waiting]
    return shaped


def _status_entry(engine: Engine, o: Any) -> dict[str, Any]:
    return {"order": frontend_with_children(engine, o), "status": o.status, "statusTimestamp": o.status_ts}


def _order_status(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    ref = req.get("oid")
    if not (type(ref) is int or isinstance(ref, str)):
        raise InfoRequestError("missing field `oid` (an order id or a cloid)")
    if isinstance(ref, str) and (len(ref) != 34 or not ref.startswith("0x")):
        raise InfoRequestError("`oid` must be an integer or a 0x-prefixed 16-byte cloid")
    order = engine.find_order(acct, ref) if acct is not None else None
    if order is None:
        return {"status": "unknownOid"}
    return {"status": "order", "order": _status_entry(engine, order)}


def _clearinghouse(engine: Engine, req: dict[str, Any], now: int) -> Any:
    """The venue's account summary.  ``totalRawUsd`` is the venue's: account value minus the signed notional of
    the positions at the mark (so cash after paying entry notional).  ``liquidationPx`` is the mark at which the
    account's (cross) or the position's (isolated) equity equals the maintenance margin, at the engine's
    maintenance rate of half the initial margin at the asset's maximum leverage, other positions held at their
    current marks; ``null`` when no positive price gets there (a long with enough collateral).  Checked against
    recordings: an isolated long and short (HyperLiquid.Net, ccxt) and a cross short (ccxt) match the venue's
    figures to its last digit."""
    acct = _account(engine, req)
    dex = _dex(req)
    positions: list[dict[str, Any]] = []
    cross: list[tuple[dict[str, Any], Decimal, Decimal, Decimal, Decimal, Decimal]] = []
    ntl = margin = cross_margin = cross_ntl = cross_maint = upnl_cross = upnl_iso = iso_margin = ZERO
    signed_ntl = cross_signed_ntl = ZERO
    if acct is not None:
        for asset, pos in acct.positions.items():
            spec = engine.specs[asset]
            if pos.szi == 0 or spec.dex != dex:
                continue
            is_cross, lev = engine.leverage(acct, asset)
            mark = engine.mark(asset)
            value = abs(pos.szi) * mark
            upnl = pos.szi * (mark - pos.entry_px)
            used = value / lev if is_cross else pos.iso_margin
            maint_rate = Decimal(1) / (2 * spec.max_leverage)
            leverage: dict[str, Any] = {"type": "cross" if is_cross else "isolated", "value": lev}
            liq: Decimal | None = None
            if not is_cross:
                leverage["rawUsd"] = num(q6(pos.iso_margin - pos.szi * pos.entry_px))
                liq = _liquidation_px(pos.szi, pos.entry_px, pos.iso_margin, maint_rate)
            entry_ntl = abs(pos.szi) * pos.entry_px / lev
            position = {
                "coin": spec.coin, "szi": num(pos.szi), "leverage": leverage, "entryPx": num(pos.entry_px),
                "positionValue": num(q6(value)), "unrealizedPnl": num(q6(upnl)),
                "returnOnEquity": num(q8r(upnl / entry_ntl)) if entry_ntl else "0.0",
                "liquidationPx": None if liq is None else num(liq), "marginUsed": num(q6(used)),
                "maxLeverage": spec.max_leverage,
                "cumFunding": {"allTime": num(q6(pos.cum_all)), "sinceOpen": num(q6(pos.cum_since_open)),
                               "sinceChange": num(q6(pos.cum_since_change))},
            }
            positions.append({"type": "oneWay", "position": position})
            ntl += value
            margin += used
            signed_ntl += pos.szi * mark
            if is_cross:
                maint = value * maint_rate
                cross.append((position, pos.szi, pos.entry_px, upnl, maint, maint_rate))
                cross_margin += used
                cross_ntl += value
                cross_signed_ntl += pos.szi * mark
                cross_maint += maint
                upnl_cross += upnl
            else:
                upnl_iso += upnl
                iso_margin += pos.iso_margin
        usdc = acct.usdc
    else:
        usdc = ZERO
    cross_value = usdc + upnl_cross
    for position, szi, entry, upnl, maint, maint_rate in cross:
        # equity this position can lose before the account hits maintenance, the others held where they are
        collateral = cross_value - upnl - (cross_maint - maint)
        liq = _liquidation_px(szi, entry, collateral, maint_rate)
        position["liquidationPx"] = None if liq is None else num(liq)
    value = cross_value + iso_margin + upnl_iso
    withdrawable = max(ZERO, cross_value - cross_margin - (acct.margin_hold if acct is not None else ZERO))
    return {
        "assetPositions": positions,
        "crossMaintenanceMarginUsed": num(q6(cross_maint)),
        "crossMarginSummary": {"accountValue": num(q6(cross_value)), "totalMarginUsed": num(q6(cross_margin)),
                               "totalNtlPos": num(q6(cross_ntl)),
                               "totalRawUsd": num(q6(cross_value - cross_signed_ntl))},
        "marginSummary": {"accountValue": num(q6(value)), "totalMarginUsed": num(q6(margin)),
                          "totalNtlPos": num(q6(ntl)), "totalRawUsd": num(q6(value - signed_ntl))},
        "time": now,
        "withdrawable": num(q6(withdrawable)),
    }


def _liquidation_px(szi: Decimal, entry: Decimal, collateral: Decimal, maint_rate: Decimal) -> Decimal | None:
    """The mark ``p`` where ``collateral + szi * (p - entry) = |szi| * p * maint_rate``; ``None`` if ``p <= 0``."""
    denominator = szi - abs(szi) * maint_rate
    if denominator == 0:
        return None
    px = (szi * entry - collateral) / denominator
    return px.quantize(Decimal("0.0000000001")) if px > 0 else None


def q8r(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.0000001"))


def _spot_state(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    if acct is None:
        return {"balances": []}
    balances = []
    for token in SPOT_TOKENS:
        total = acct.spot.get(token.index, ZERO)
        hold = acct.spot_hold.get(token.index, ZERO)
        if total or hold:
            balances.append({"coin": token.name, "token": token.index, "hold": num(hold), "total": num(total),
                             "entryNtl": "0.0"})
    return {"balances": balances}


def _user_fills(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    if acct is None:
        return []
    return list(reversed(acct.fills[-PAGE:]))


def _user_fills_by_time(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    start, end = _range(req, now)
    if acct is None:
        return []
    out = []
    for fill in acct.fills[-REACHABLE_FILLS:]:
        if start <= fill["time"] <= end:
            out.append(fill)
            if len(out) == PAGE:
                break
    return out


def _historical_orders(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    if acct is None:
        return []
    return [_status_entry(engine, o) for o in reversed(acct.history[-PAGE:])]


def _ledger_page(entries: list[dict[str, Any]], req: dict[str, Any], now: int) -> list[dict[str, Any]]:
    """One page of a user's ledger-like history.  With ``startTime``: at most 500 from it, oldest first (PROTOCOL
    §5).  Without it (the venue's own web app and ccxt's ``fetch_ledger``/``fetch_funding_history`` send none;
    the venue answers rather than refusing, nktkas/hyperliquid#102): the latest :data:`PAGE`, newest first, up to
    ``endTime`` if given."""
    if req.get("startTime") is None:
        end = _int(req, "endTime", required=False)
        latest = [e for e in entries if end is None or e["time"] <= end]
        return latest[-PAGE:][::-1]
    start, end = _range(req, now)
    return [e for e in entries if start <= e["time"] <= end][:500]


def _user_funding(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    page = _ledger_page(acct.fundings if acct is not None else [], req, now)
    # nSamples: the venue's count of premium samples behind the rate (a number; recorded 3 in 2023 answers,
    # typed ``number | null`` by NKTKAS); the emulator pays one fixed rate per interval, so one sample.
    return [{"delta": {"coin": f["coin"], "fundingRate": f["fundingRate"], "nSamples": 1, "szi": f["szi"],
                       "type": "funding", "usdc": f["usdc"]}, "hash": "0x" + "0" * 64, "time": f["time"]}
            for f in page]


def _ledger(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    return _ledger_page(acct.ledger if acct is not None else [], req, now)


def _max_builder_fee(engine: Engine, req: dict[str, Any], now: int) -> Any:
    """The fee (tenths of a basis point) ``user`` approved for ``builder``; 0 when none."""
    user, builder = _user(req), req.get("builder")
    if not isinstance(builder, str) or not builder.startswith("0x"):
        raise InfoRequestError("missing field `builder` (a 0x address)")
    rate = engine.builder_approvals.get(user, {}).get(builder.lower(), ZERO)
    return int(rate * 100_000)


def _rate_limit(engine: Engine, req: dict[str, Any], now: int) -> Any:
    acct = _account(engine, req)
    vlm = acct.cum_vlm if acct is not None else ZERO
    used = acct.n_requests if acct is not None else 0
    # the enforced rule's cap (``_ratelimit.py``); with the rule off a cap no client reaches
    rule = engine.address_rule
    cap = rule.cap(vlm) if rule is not None else NO_ADDRESS_LIMIT_BUFFER + int(vlm)
    return {"cumVlm": num(q6(vlm)), "nRequestsUsed": used, "nRequestsCap": cap, "nRequestsSurplus": 0}


_Handler = Callable[["Engine", dict[str, Any], int], Any]
_TABLE: Final[dict[str, _Handler]] = {
    "meta": lambda e, r, n: _meta(e, _dex(r)),
    "spotMeta": lambda e, r, n: _spot_meta(),
    "metaAndAssetCtxs": _meta_and_ctxs,
    "spotMetaAndAssetCtxs": _spot_meta_and_ctxs,
    "allMids": lambda e, r, n: e.all_mids(_dex(r)),
    "l2Book": _l2,
    "candleSnapshot": _candles,
    "fundingHistory": _funding_history,
    "openOrders": lambda e, r, n: _open_orders(e, r, frontend=False),
    "frontendOpenOrders": lambda e, r, n: _open_orders(e, r, frontend=True),
    "orderStatus": _order_status,
    "clearinghouseState": _clearinghouse,
    "spotClearinghouseState": _spot_state,
    "userFills": _user_fills,
    "userFillsByTime": _user_fills_by_time,
    "historicalOrders": _historical_orders,
    "userFunding": _user_funding,
    "maxBuilderFee": _max_builder_fee,
    "userNonFundingLedgerUpdates": _ledger,
    "userRateLimit": _rate_limit,
    "perpDexs": lambda e, r, n: PERP_DEXS,
    "exchangeStatus": lambda e, r, n: {"time": n, "specialStatuses": None},
    # native TWAP (engine.twaps, rules in _twap.py)
    "userTwapSliceFills": lambda e, r, n: e.twaps.slice_fills(_user(r)),
    "twapHistory": lambda e, r, n: e.twaps.history(_user(r)),
    "perpDeployAuctionStatus": lambda e, r, n: auction(n),
}
# account standing and the features the emulator has not got (``_info_account.py``): all take a ``user``


def _with_user(handler: Callable[[Engine, str, int], Any]) -> _Handler:
    return lambda e, r, n: handler(e, _user(r), n)


_TABLE.update({kind: _with_user(handler) for kind, handler in ACCOUNT_INFO.items()})


def answer_info(engine: Engine, req: dict[str, Any], now: int) -> Any:
    kind = req.get("type")
    handler = _TABLE.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise InfoRequestError(f"unknown variant `{kind}`"[:200])
    return handler(engine, req, now)


# ------------------------------------------------------------------------------------------- snapshots
def subscription_snapshot(engine: Engine, sub: dict[str, Any], now: int) -> list[tuple[str, Any]]:
    """The frames the venue sends after a subscription ack: the current book / bbo / mids / ctx, and the
    ``isSnapshot: true`` first message of the user history channels.  Order and event channels start empty."""
    kind = sub.get("type")
    coin = sub.get("coin")
    spec = engine.spec_by_coin.get(coin) if isinstance(coin, str) else None
    if kind == "l2Book" and spec is not None:
        try:
            return [("l2Book", _l2(engine, sub, now))]
        except InfoRequestError:
            return []
    if kind == "bbo" and spec is not None:
        book = engine.l2_book(spec.asset, now)
        levels = book["levels"]
        return [("bbo", {"coin": spec.coin, "time": now,
                         "bbo": [levels[0][0] if levels[0] else None, levels[1][0] if levels[1] else None]})]
    if kind == "allMids":
        return [("allMids", {"mids": engine.all_mids(_dex(sub) if isinstance(sub.get("dex", ""), str) else "")})]
    if kind == "trades" and spec is not None:
        recent = engine.recent_trades.get(spec.coin, [])
        return [("trades", recent[-20:])] if recent else []
    if kind == "activeAssetCtx" and spec is not None:
        channel = "activeSpotAssetCtx" if spec.is_spot else "activeAssetCtx"
        return [(channel, {"coin": spec.coin, "ctx": engine.asset_ctx(spec)})]
    if kind == "candle" and spec is not None and isinstance(sub.get("interval"), str):
        latest = engine.candles.latest(spec.coin, sub["interval"]) if sub["interval"] in INTERVALS else None
        return [("candle", latest)] if latest is not None else []
    user = sub.get("user")
    if not isinstance(user, str):
        return []
    user = user.lower()
    acct = engine.accounts.get(user)
    if kind == "userFills":
        fills = acct.fills[-PAGE:] if acct is not None else []
        return [("userFills", {"isSnapshot": True, "user": user, "fills": list(fills)})]
    if kind == "userFundings":
        fundings = acct.fundings[-PAGE:] if acct is not None else []
        return [("userFundings", {"isSnapshot": True, "user": user, "fundings": list(fundings)})]
    if kind == "userNonFundingLedgerUpdates":
        ledger = acct.ledger[-PAGE:] if acct is not None else []
        return [("userNonFundingLedgerUpdates", {"isSnapshot": True, "user": user,
                                                 "nonFundingLedgerUpdates": list(ledger)})]
    if kind == "userTwapSliceFills":  # oldest first, as the recorded snapshot
        return [("userTwapSliceFills", {"isSnapshot": True, "user": user,
                                        "twapSliceFills": list(reversed(engine.twaps.slice_fills(user)))})]
    if kind == "userTwapHistory":
        return [("userTwapHistory", {"isSnapshot": True, "user": user,
                                     "history": engine.twaps.history_records(user)})]
    if kind == "activeAssetData" and spec is not None and not spec.is_spot:
        return [("activeAssetData", _active_asset_data(engine, acct, user, spec))]
    return []


def _active_asset_data(engine: Engine, acct: Account | None, user: str, spec: Any) -> dict[str, Any]:
    if acct is None:
        is_cross, lev, free = True, min(engine.default_leverage, spec.max_leverage), ZERO
    else:
        is_cross, lev = engine.leverage(acct, spec.asset)
        free = max(ZERO, engine.free_margin(acct))
    mark = engine.mark(spec.asset)
    max_sz = (free * lev / mark).quantize(Decimal(1).scaleb(-spec.sz_decimals)) if mark else ZERO
    avail = num(q6(free))
    return {"user": user, "coin": spec.coin, "leverage": {"type": "cross" if is_cross else "isolated", "value": lev},
            "maxTradeSzs": [num(max_sz), num(max_sz)], "availableToTrade": [avail, avail], "markPx": num(mark)}
