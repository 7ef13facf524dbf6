"""Market-wide venue answers → frozen values: candles, funding rates, best bid/offer, asset contexts, perp and
spot metadata, builder dexs, deploy auctions.

Same rules as ``messages`` (PROTOCOL §5, §6.4): every number is a ``Decimal`` (or an ``int`` where the venue
sends a JSON integer: decimals, leverage, counts, ms stamps), every malformed answer a ``ProtocolError`` whose
message names the path of the field; optional keys the venue added over time (``marginTableId``,
``dayBaseVlm``, ``totalSupply``, …) are None when absent so older recordings still parse.  Each value class
reads one wire object with ``from_wire(obj, path)``; the ``parse_<info type>`` functions read whole answers.

``meta.AssetRegistry`` stays the connector's view of the tradeable assets (ids, tick rules); ``PerpMeta`` /
``SpotMeta`` here are the answers as the venue sends them, for a user who wants the fields it drops.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

import attrs

from trio_hl.core.book import BookLevel
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid import _wire_read as r

__all__ = [
    "Bbo",
    "Candle",
    "DeployAuctionStatus",
    "DexAssetCtxs",
    "FundingRate",
    "MarginTable",
    "MarginTier",
    "MetaAndAssetCtxs",
    "PerpAssetCtx",
    "PerpAssetMeta",
    "PerpDex",
    "PerpMeta",
    "SpotAssetCtx",
    "SpotDeployState",
    "SpotDeployToken",
    "SpotMeta",
    "SpotMetaAndAssetCtxs",
    "SpotPair",
    "SpotToken",
    "parse_all_dexs_asset_ctxs",
    "parse_bbo",
    "parse_candle",
    "parse_candle_snapshot",
    "parse_funding_history",
    "parse_meta",
    "parse_meta_and_asset_ctxs",
    "parse_perp_deploy_auction_status",
    "parse_perp_dexs",
    "parse_spot_deploy_state",
    "parse_spot_meta",
    "parse_spot_meta_and_asset_ctxs",
]


# ------------------------------------------------------------------------------------------------ candles


@attrs.frozen
class Candle:
    """One candle (info ``candleSnapshot`` item, WS ``candle`` data).  ``close_ms`` is the venue's ``T``
    (open + interval - 1 ms); the newest candle of a snapshot may still be forming."""

    coin: str
    interval: str
    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            coin=f.string(d, "s", what), interval=f.string(d, "i", what), open_ms=r.ms(d, "t", what),
            close_ms=r.ms(d, "T", what), open=f.decimal(d, "o", what), high=f.decimal(d, "h", what),
            low=f.decimal(d, "l", what), close=f.decimal(d, "c", what), volume=f.decimal(d, "v", what),
            trades=r.count(d, "n", what),
        )


def parse_candle_snapshot(d: object) -> list[Candle]:
    """The info ``candleSnapshot`` answer, oldest first as sent."""
    return r.items(d, "candleSnapshot", Candle.from_wire)


def parse_candle(d: object) -> Candle:
    """WS ``candle`` data: one candle, sent whenever it changes."""
    return Candle.from_wire(f.obj(d, "candle"), "candle")


# ------------------------------------------------------------------------------------------- funding rates


@attrs.frozen
class FundingRate:
    """One hourly funding settlement of a coin (info ``fundingHistory``)."""

    coin: str
    funding_rate: Decimal
    premium: Decimal
    time_ms: int

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(coin=f.string(d, "coin", what), funding_rate=f.decimal(d, "fundingRate", what),
                   premium=f.decimal(d, "premium", what), time_ms=r.ms(d, "time", what))


def parse_funding_history(d: object) -> list[FundingRate]:
    """The info ``fundingHistory`` answer."""
    return r.items(d, "fundingHistory", FundingRate.from_wire)


# ------------------------------------------------------------------------------------------------------ bbo


def _level(raw: object, what: str) -> BookLevel | None:
    if raw is None:
        return None
    m = f.obj(raw, what)
    n = r.count(m, "n", what)
    px, sz = f.decimal(m, "px", what), f.decimal(m, "sz", what)
    if px <= 0 or sz <= 0:
        raise ProtocolError(f"{what}: expected px > 0 and sz > 0, got px {px} sz {sz}")
    return BookLevel(px, sz, n)


@attrs.frozen
class Bbo:
    """WS ``bbo`` data: the best bid and ask (None for an empty side), sent when either changes on a block."""

    coin: str
    time_ms: int
    bid: BookLevel | None
    ask: BookLevel | None


def parse_bbo(d: object) -> Bbo:
    what = "bbo"
    m = f.obj(d, what)
    sides = f.array(f.field(m, "bbo", what), f"{what}.bbo")
    if len(sides) != 2:
        raise ProtocolError(f"{what}.bbo: expected [bid, ask], got {len(sides)} elements")
    return Bbo(coin=f.string(m, "coin", what), time_ms=r.ms(m, "time", what),
               bid=_level(sides[0], f"{what}.bbo[0]"), ask=_level(sides[1], f"{what}.bbo[1]"))


# ------------------------------------------------------------------------------------------- asset contexts


def _impact(m: dict[str, Any], what: str) -> tuple[Decimal, Decimal] | None:
    raw = m.get("impactPxs")
    if raw is None:
        return None
    bid, ask = r.pair(raw, f"{what}.impactPxs")
    return f.decimal_value(bid, f"{what}.impactPxs[0]"), f.decimal_value(ask, f"{what}.impactPxs[1]")


@attrs.frozen
class PerpAssetCtx:
    """A perp's market state (``metaAndAssetCtxs``, WS ``activeAssetCtx`` / ``allDexsAssetCtxs``).  ``mid_px``,
    ``premium`` and ``impact_pxs`` are None when the book is empty (a delisted asset)."""

    funding: Decimal
    open_interest: Decimal
    prev_day_px: Decimal
    day_ntl_vlm: Decimal
    premium: Decimal | None
    oracle_px: Decimal
    mark_px: Decimal
    mid_px: Decimal | None
    impact_pxs: tuple[Decimal, Decimal] | None
    day_base_vlm: Decimal | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            funding=f.decimal(d, "funding", what), open_interest=f.decimal(d, "openInterest", what),
            prev_day_px=f.decimal(d, "prevDayPx", what), day_ntl_vlm=f.decimal(d, "dayNtlVlm", what),
            premium=f.opt_decimal(d, "premium", what), oracle_px=f.decimal(d, "oraclePx", what),
            mark_px=f.decimal(d, "markPx", what), mid_px=f.opt_decimal(d, "midPx", what),
            impact_pxs=_impact(d, what), day_base_vlm=f.opt_decimal(d, "dayBaseVlm", what),
        )


@attrs.frozen
class SpotAssetCtx:
    """A spot pair's market state (``spotMetaAndAssetCtxs``, WS ``activeSpotAssetCtx``)."""

    coin: str
    prev_day_px: Decimal
    day_ntl_vlm: Decimal
    mark_px: Decimal
    mid_px: Decimal | None
    circulating_supply: Decimal
    total_supply: Decimal | None
    day_base_vlm: Decimal | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            coin=f.string(d, "coin", what), prev_day_px=f.decimal(d, "prevDayPx", what),
            day_ntl_vlm=f.decimal(d, "dayNtlVlm", what), mark_px=f.decimal(d, "markPx", what),
            mid_px=f.opt_decimal(d, "midPx", what), circulating_supply=f.decimal(d, "circulatingSupply", what),
            total_supply=f.opt_decimal(d, "totalSupply", what), day_base_vlm=f.opt_decimal(d, "dayBaseVlm", what),
        )


@attrs.frozen
class DexAssetCtxs:
    """One perp dex's contexts in a WS ``allDexsAssetCtxs`` frame (``dex`` "" is the first perp dex)."""

    dex: str
    ctxs: tuple[PerpAssetCtx, ...]


def parse_all_dexs_asset_ctxs(d: object) -> list[DexAssetCtxs]:
    """WS ``allDexsAssetCtxs`` data: ``{"ctxs": [[dex, [ctx, ...]], ...]}``, contexts in universe order."""
    what = "allDexsAssetCtxs"
    m = f.obj(d, what)
    out = []
    for i, raw in enumerate(f.array(f.field(m, "ctxs", what), f"{what}.ctxs")):
        w = f"{what}.ctxs[{i}]"
        dex, ctxs = r.pair(raw, w)
        out.append(DexAssetCtxs(r.str_value(dex, f"{w}[0]"), tuple(r.items(ctxs, f"{w}[1]", PerpAssetCtx.from_wire))))
    return out


# ------------------------------------------------------------------------------------------------ perp meta


@attrs.frozen
class PerpAssetMeta:
    """One ``meta.universe`` entry.  Its index in the universe is the asset id (delisted ones keep theirs)."""

    name: str
    sz_decimals: int
    max_leverage: int
    margin_table_id: int | None = None
    only_isolated: bool = False
    is_delisted: bool = False
    margin_mode: str | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            name=f.string(d, "name", what), sz_decimals=r.count(d, "szDecimals", what),
            max_leverage=r.count(d, "maxLeverage", what), margin_table_id=f.opt_integer(d, "marginTableId", what),
            only_isolated=bool(f.opt_boolean(d, "onlyIsolated", what)),
            is_delisted=bool(f.opt_boolean(d, "isDelisted", what)), margin_mode=f.opt_string(d, "marginMode", what),
        )


@attrs.frozen
class MarginTier:
    lower_bound: Decimal
    max_leverage: int

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.decimal(d, "lowerBound", what), r.count(d, "maxLeverage", what))


@attrs.frozen
class MarginTable:
    id: int
    description: str
    tiers: tuple[MarginTier, ...]


def _margin_tables(raw: object, what: str) -> tuple[MarginTable, ...]:
    out = []
    for i, entry in enumerate(f.array(raw, what)):
        w = f"{what}[{i}]"
        table_id, table = r.pair(entry, w)
        t = f.obj(table, f"{w}[1]")
        out.append(MarginTable(
            id=r.int_value(table_id, f"{w}[0]"), description=f.string(t, "description", f"{w}[1]"),
            tiers=tuple(r.items(f.field(t, "marginTiers", f"{w}[1]"), f"{w}[1].marginTiers", MarginTier.from_wire)),
        ))
    return tuple(out)


@attrs.frozen
class PerpMeta:
    """The info ``meta`` answer (one perp dex)."""

    universe: tuple[PerpAssetMeta, ...]
    margin_tables: tuple[MarginTable, ...]
    collateral_token: int | None = None


def _perp_meta(d: object, what: str) -> PerpMeta:
    m = f.obj(d, what)
    tables = m.get("marginTables")
    return PerpMeta(
        universe=tuple(r.items(f.field(m, "universe", what), f"{what}.universe", PerpAssetMeta.from_wire)),
        margin_tables=() if tables is None else _margin_tables(tables, f"{what}.marginTables"),
        collateral_token=f.opt_integer(m, "collateralToken", what),
    )


def parse_meta(d: object) -> PerpMeta:
    return _perp_meta(d, "meta")


@attrs.frozen
class MetaAndAssetCtxs:
    """The info ``metaAndAssetCtxs`` answer: ``ctxs[i]`` is the context of ``meta.universe[i]``."""

    meta: PerpMeta
    ctxs: tuple[PerpAssetCtx, ...]


def parse_meta_and_asset_ctxs(d: object) -> MetaAndAssetCtxs:
    what = "metaAndAssetCtxs"
    meta, ctxs = r.pair(d, what)
    parsed = MetaAndAssetCtxs(_perp_meta(meta, f"{what}[0]"),
                              tuple(r.items(ctxs, f"{what}[1]", PerpAssetCtx.from_wire)))
    if len(parsed.ctxs) != len(parsed.meta.universe):
        raise ProtocolError(f"{what}: {len(parsed.meta.universe)} assets but {len(parsed.ctxs)} contexts")
    return parsed


# ------------------------------------------------------------------------------------------------ spot meta


@attrs.frozen
class SpotToken:
    """One ``spotMeta.tokens`` entry (``index`` is the token id, not a spot pair index)."""

    name: str
    sz_decimals: int
    wei_decimals: int
    index: int
    token_id: str
    is_canonical: bool
    full_name: str | None = None
    evm_contract: str | None = None
    deployer_trading_fee_share: Decimal | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        evm = d.get("evmContract")
        return cls(
            name=f.string(d, "name", what), sz_decimals=r.count(d, "szDecimals", what),
            wei_decimals=r.count(d, "weiDecimals", what), index=r.count(d, "index", what),
            token_id=f.string(d, "tokenId", what), is_canonical=f.boolean(d, "isCanonical", what),
            full_name=f.opt_string(d, "fullName", what),
            evm_contract=None if evm is None else f.string(evm, "address", f"{what}.evmContract"),
            deployer_trading_fee_share=f.opt_decimal(d, "deployerTradingFeeShare", what),
        )


@attrs.frozen
class SpotPair:
    """One ``spotMeta.universe`` entry: coin ``name`` ("PURR/USDC" or "@N"), (base, quote) token ids."""

    name: str
    base_token: int
    quote_token: int
    index: int
    is_canonical: bool

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        base, quote = r.pair(f.field(d, "tokens", what), f"{what}.tokens")
        return cls(
            name=f.string(d, "name", what), base_token=r.int_value(base, f"{what}.tokens[0]"),
            quote_token=r.int_value(quote, f"{what}.tokens[1]"), index=r.count(d, "index", what),
            is_canonical=f.boolean(d, "isCanonical", what),
        )


@attrs.frozen
class SpotMeta:
    """The info ``spotMeta`` answer."""

    universe: tuple[SpotPair, ...]
    tokens: tuple[SpotToken, ...]


def _spot_meta(d: object, what: str) -> SpotMeta:
    m = f.obj(d, what)
    return SpotMeta(
        universe=tuple(r.items(f.field(m, "universe", what), f"{what}.universe", SpotPair.from_wire)),
        tokens=tuple(r.items(f.field(m, "tokens", what), f"{what}.tokens", SpotToken.from_wire)),
    )


def parse_spot_meta(d: object) -> SpotMeta:
    return _spot_meta(d, "spotMeta")


@attrs.frozen
class SpotMetaAndAssetCtxs:
    """The info ``spotMetaAndAssetCtxs`` answer (contexts carry their ``coin``)."""

    meta: SpotMeta
    ctxs: tuple[SpotAssetCtx, ...]


def parse_spot_meta_and_asset_ctxs(d: object) -> SpotMetaAndAssetCtxs:
    what = "spotMetaAndAssetCtxs"
    meta, ctxs = r.pair(d, what)
    return SpotMetaAndAssetCtxs(_spot_meta(meta, f"{what}[0]"),
                                tuple(r.items(ctxs, f"{what}[1]", SpotAssetCtx.from_wire)))


# ------------------------------------------------------------------------------------- builder dexs, deploys


@attrs.frozen
class PerpDex:
    """One builder-deployed perp dex (``perpDexs``; the first entry, the main dex, is null on the wire)."""

    name: str
    full_name: str
    deployer: str
    oracle_updater: str | None = None
    fee_recipient: str | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            name=f.string(d, "name", what), full_name=f.string(d, "fullName", what),
            deployer=f.string(d, "deployer", what), oracle_updater=f.opt_string(d, "oracleUpdater", what),
            fee_recipient=f.opt_string(d, "feeRecipient", what),
        )


def parse_perp_dexs(d: object) -> list[PerpDex | None]:
    """The info ``perpDexs`` answer, by dex index (index 0, the main dex, is None)."""
    out: list[PerpDex | None] = []
    for i, raw in enumerate(f.array(d, "perpDexs")):
        w = f"perpDexs[{i}]"
        out.append(None if raw is None else PerpDex.from_wire(f.obj(raw, w), w))
    return out


@attrs.frozen
class DeployAuctionStatus:
    """A Dutch gas auction (``perpDeployAuctionStatus``, ``spotDeployState.gasAuction``): gas falls from
    ``start_gas`` over ``duration_s``; ``current_gas`` is None once it is over."""

    start_time_s: int
    duration_s: int
    start_gas: Decimal
    current_gas: Decimal | None
    end_gas: Decimal | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            start_time_s=r.count(d, "startTimeSeconds", what), duration_s=r.count(d, "durationSeconds", what),
            start_gas=f.decimal(d, "startGas", what), current_gas=f.opt_decimal(d, "currentGas", what),
            end_gas=f.opt_decimal(d, "endGas", what),
        )


def parse_perp_deploy_auction_status(d: object) -> DeployAuctionStatus:
    return DeployAuctionStatus.from_wire(f.obj(d, "perpDeployAuctionStatus"), "perpDeployAuctionStatus")


@attrs.frozen
class SpotDeployToken:
    """One token being deployed by the user (``spotDeployState.states``); only the spec is always present."""

    token: int
    name: str
    sz_decimals: int
    wei_decimals: int
    full_name: str | None
    spots: tuple[int, ...]
    max_supply: Decimal | None
    deployer_trading_fee_share: Decimal | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        spec = f.obj(f.field(d, "spec", what), f"{what}.spec")
        spots = d.get("spots")
        return cls(
            token=r.count(d, "token", what), name=f.string(spec, "name", f"{what}.spec"),
            sz_decimals=r.count(spec, "szDecimals", f"{what}.spec"),
            wei_decimals=r.count(spec, "weiDecimals", f"{what}.spec"), full_name=f.opt_string(d, "fullName", what),
            spots=() if spots is None else tuple(
                r.int_value(x, f"{what}.spots[{i}]") for i, x in enumerate(f.array(spots, f"{what}.spots"))),
            max_supply=f.opt_decimal(d, "maxSupply", what),
            deployer_trading_fee_share=f.opt_decimal(d, "deployerTradingFeeShare", what),
        )


@attrs.frozen
class SpotDeployState:
    """The info ``spotDeployState`` answer: the user's token deployments and the current gas auction."""

    states: tuple[SpotDeployToken, ...]
    gas_auction: DeployAuctionStatus


def parse_spot_deploy_state(d: object) -> SpotDeployState:
    what = "spotDeployState"
    m = f.obj(d, what)
    return SpotDeployState(
        states=tuple(r.items(f.field(m, "states", what), f"{what}.states", SpotDeployToken.from_wire)),
        gas_auction=DeployAuctionStatus.from_wire(f.obj(f.field(m, "gasAuction", what), f"{what}.gasAuction"),
                                                  f"{what}.gasAuction"),
    )
