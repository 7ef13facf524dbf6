"""Asset metadata: pair names ↔ wire coins ↔ asset ids, and the trading rule of each pair.

Rule followed (PROTOCOL §7).  Orders name an asset by an integer id: a perp's index in ``meta.universe``
(delisted entries keep their slot), ``10000 + spotMeta.universe[i].index`` for spot (the spot index, not the
token index), and ``100000 + dex_index * 10000 + index`` for a builder-deployed (HIP-3) perp, where
``dex_index`` is the position in the ``perpDexs`` answer (position 0, ``null``, is the default dex).  Info
and stream messages name an asset by its *coin*: the perp name (``"BTC"``, ``"xyz:TEST"``), or for spot
``"PURR/USDC"`` / ``"@N"``.  Users name it by a *pair*: the perp name, or ``"BASE/QUOTE"`` for spot
(``"HFUN/USDC"``, whose coin is ``"@1"``).  As in the SDK, a ``BASE/QUOTE`` name already taken by an earlier
spot pair is not reassigned; the later pair stays reachable by its coin.

Alternative rejected: the SDK's three loose dicts (``coin_to_asset``, ``name_to_coin``,
``asset_to_sz_decimals``) that callers must chain.  One frozen ``AssetInfo`` per asset, indexed three ways,
means a lookup returns everything the order path needs in one step, and an unknown name fails at
configuration with the nearest valid names instead of a ``KeyError`` mid-trade.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from trio_hl.core.types import TradingRule
from trio_hl.errors import ConfigError, ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid.wire import max_price_decimals

__all__ = [
    "BUILDER_DEX_ASSET_OFFSET",
    "BUILDER_DEX_ASSET_STRIDE",
    "MIN_ORDER_NOTIONAL",
    "SPOT_ASSET_OFFSET",
    "AssetInfo",
    "AssetRegistry",
    "builder_dex_asset_id",
    "spot_asset_id",
]

SPOT_ASSET_OFFSET: Final = 10_000
BUILDER_DEX_ASSET_OFFSET: Final = 100_000
BUILDER_DEX_ASSET_STRIDE: Final = 10_000
#: The venue's minimum order value ("Order must have minimum value of $10"; 10 of the quote token on spot).
MIN_ORDER_NOTIONAL: Final = Decimal(10)


def spot_asset_id(spot_index: int) -> int:
    return SPOT_ASSET_OFFSET + spot_index


def builder_dex_asset_id(dex_index: int, index: int) -> int:
    if dex_index < 1:
        raise ValueError(f"builder dex index must be >= 1 (0 is the default dex), got {dex_index}")
    return BUILDER_DEX_ASSET_OFFSET + dex_index * BUILDER_DEX_ASSET_STRIDE + index


@attrs.frozen
class AssetInfo:
    """Everything the order path needs about one asset.

    ``name`` is the user-facing pair, ``coin`` the name on the wire (info/WS ``coin`` fields), ``asset_id``
    the integer orders carry.  ``dex`` is ``""`` for the default perp dex and for spot, else the builder dex
    name.  ``max_leverage`` is None for spot.  ``base``/``quote`` are token names for spot, None for perps.
    """

    name: str
    coin: str
    asset_id: int
    sz_decimals: int
    is_spot: bool
    max_leverage: int | None = None
    dex: str = ""
    is_delisted: bool = False
    only_isolated: bool = False
    base: str | None = None
    quote: str | None = None

    @property
    def size_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.sz_decimals)

    @property
    def max_price_decimals(self) -> int:
        """``(8 if spot else 6) − szDecimals``, floored at 0 (integer prices are always valid)."""
        return max(max_price_decimals(self.sz_decimals, self.is_spot), 0)

    def trading_rule(self) -> TradingRule:
        step = self.size_step
        return TradingRule(
            pair=self.name,
            size_step=step,
            min_size=step,
            min_notional=MIN_ORDER_NOTIONAL,
            price_tick=None,
            max_price_decimals=self.max_price_decimals,
            max_price_sig_figs=5,
            is_spot=self.is_spot,
        )


def _sz_decimals(entry: dict[str, Any], what: str) -> int:
    v = f.integer(entry, "szDecimals", what)
    if v < 0:
        raise ProtocolError(f"{what}.szDecimals: must be >= 0, got {v}")
    return v


def _perp_assets(meta: object, dex: str, dex_index: int) -> list[AssetInfo]:
    what = f"meta({dex!r})" if dex else "meta"
    universe = f.array(f.field(meta, "universe", what), f"{what}.universe")
    out = []
    for index, raw in enumerate(universe):
        where = f"{what}.universe[{index}]"
        entry = f.obj(raw, where)
        name = f.string(entry, "name", where)
        if dex and ":" not in name:
            # The venue already prefixes builder-dex names ("xyz:TEST"); prefix ourselves if a source does not.
            name = f"{dex}:{name}"
        asset_id = index if dex_index == 0 else builder_dex_asset_id(dex_index, index)
        out.append(
            AssetInfo(
                name=name,
                coin=name,
                asset_id=asset_id,
                sz_decimals=_sz_decimals(entry, where),
                is_spot=False,
                max_leverage=f.opt_integer(entry, "maxLeverage", where),
                dex=dex,
                is_delisted=bool(f.opt_boolean(entry, "isDelisted", where)),
                only_isolated=bool(f.opt_boolean(entry, "onlyIsolated", where)),
            )
        )
    return out


def _spot_assets(spot_meta: object) -> list[AssetInfo]:
    tokens_raw = f.array(f.field(spot_meta, "tokens", "spotMeta"), "spotMeta.tokens")
    tokens: dict[int, tuple[str, int]] = {}
    for i, raw in enumerate(tokens_raw):
        where = f"spotMeta.tokens[{i}]"
        token = f.obj(raw, where)
        tokens[f.integer(token, "index", where)] = (f.string(token, "name", where), _sz_decimals(token, where))
    universe = f.array(f.field(spot_meta, "universe", "spotMeta"), "spotMeta.universe")
    out = []
    for i, raw in enumerate(universe):
        where = f"spotMeta.universe[{i}]"
        entry = f.obj(raw, where)
        coin = f.string(entry, "name", where)
        spot_index = f.integer(entry, "index", where)
        pair_tokens = f.array(f.field(entry, "tokens", where), f"{where}.tokens")
        if len(pair_tokens) != 2 or any(type(t) is not int for t in pair_tokens):
            raise ProtocolError(f"{where}.tokens: expected [base_token, quote_token] integers, got {pair_tokens!r}")
        try:
            (base, base_sz), (quote, _) = tokens[pair_tokens[0]], tokens[pair_tokens[1]]
        except KeyError as exc:
            raise ProtocolError(f"{where}.tokens: token {exc.args[0]} is not in spotMeta.tokens") from None
        out.append(
            AssetInfo(
                name=f"{base}/{quote}",
                coin=coin,
                asset_id=spot_asset_id(spot_index),
                sz_decimals=base_sz,
                is_spot=True,
                base=base,
                quote=quote,
            )
        )
    return out


class AssetRegistry:
    """Every tradable asset, looked up by pair name, wire coin or asset id.  Immutable once built."""

    __slots__ = ("_by_asset", "_by_coin", "_by_pair", "_coin_to_pair")

    def __init__(self, assets: Sequence[AssetInfo]) -> None:
        self._by_pair: dict[str, AssetInfo] = {}
        self._by_coin: dict[str, AssetInfo] = {}
        self._by_asset: dict[int, AssetInfo] = {}
        for a in assets:
            if a.asset_id in self._by_asset:
                other = self._by_asset[a.asset_id].coin
                raise ProtocolError(f"asset id {a.asset_id} appears twice ({other!r} and {a.coin!r})")
            if a.coin in self._by_coin:
                raise ProtocolError(f"coin {a.coin!r} appears twice")
            self._by_asset[a.asset_id] = a
            self._by_coin[a.coin] = a
        for a in assets:
            # First come keeps a BASE/QUOTE name (the SDK's rule); a coin name is never shadowed by a pair name.
            if a.name not in self._by_pair and (a.name not in self._by_coin or self._by_coin[a.name] is a):
                self._by_pair[a.name] = a
        self._coin_to_pair: dict[str, str] = {}
        for a in assets:
            pair = a.name if self._by_pair.get(a.name) is a else a.coin
            self._coin_to_pair[a.coin] = pair

    @classmethod
    def from_wire(
        cls,
        meta: Mapping[str, Any],
        spot_meta: Mapping[str, Any] | None,
        perp_dexs: Sequence[Any] | None = None,
        dex_metas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AssetRegistry:
        """Build from the venue's ``meta`` (default dex), ``spotMeta``, ``perpDexs`` and per-dex ``meta`` answers.

        ``dex_metas`` maps a builder dex name (as listed in ``perpDexs``) to its ``meta(dex=name)`` answer;
        dexes listed without a meta are skipped.  Raises ``ProtocolError`` for a malformed answer and
        ``ConfigError`` for a dex meta whose dex ``perpDexs`` does not list.
        """
        assets = _perp_assets(meta, "", 0)
        if spot_meta is not None:
            assets += _spot_assets(spot_meta)
        if dex_metas:
            if perp_dexs is None:
                raise ConfigError("dex_metas needs perp_dexs: a builder dex's asset ids depend on its perpDexs index")
            index_of: dict[str, int] = {}
            for i, entry in enumerate(f.array(perp_dexs, "perpDexs")):
                if i == 0 or entry is None:
                    continue
                index_of[f.string(entry, "name", f"perpDexs[{i}]")] = i
            for dex, dex_meta in dex_metas.items():
                if dex not in index_of:
                    raise ConfigError(f"builder dex {dex!r} is not in perpDexs (known: {sorted(index_of)})")
                assets += _perp_assets(dex_meta, dex, index_of[dex])
        return cls(assets)

    # ------------------------------------------------------------------------------------------ lookups

    def by_pair(self, pair: str) -> AssetInfo:
        """The asset a user means by ``pair`` ("BTC", "xyz:TEST", "HFUN/USDC"); a wire coin ("@1") also works.

        Raises ``ConfigError`` listing the closest known names when there is no such pair.
        """
        a = self._by_pair.get(pair) or self._by_coin.get(pair)
        if a is None:
            close = difflib.get_close_matches(str(pair), list(self._by_pair), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"unknown pair {pair!r} ({len(self._by_pair)} pairs known){hint}")
        return a

    def by_coin(self, coin: str) -> AssetInfo:
        a = self._by_coin.get(coin)
        if a is None:
            raise ConfigError(f"unknown coin {coin!r}")
        return a

    def by_asset_id(self, asset_id: int) -> AssetInfo:
        a = self._by_asset.get(asset_id)
        if a is None:
            raise ConfigError(f"unknown asset id {asset_id!r}")
        return a

    def get_coin(self, coin: str) -> AssetInfo | None:
        return self._by_coin.get(coin)

    def get_asset(self, asset_id: int) -> AssetInfo | None:
        return self._by_asset.get(asset_id)

    def trading_rule(self, pair: str) -> TradingRule:
        return self.by_pair(pair).trading_rule()

    @property
    def coin_to_pair(self) -> Mapping[str, str]:
        """Wire coin → pair name, for the message parsers (a read-only view)."""
        return _ReadOnly(self._coin_to_pair)

    def pairs(self) -> list[str]:
        return list(self._by_pair)

    def __contains__(self, pair: object) -> bool:
        return pair in self._by_pair or pair in self._by_coin

    def __iter__(self) -> Iterator[AssetInfo]:
        return iter(self._by_asset.values())

    def __len__(self) -> int:
        return len(self._by_asset)

    def __repr__(self) -> str:
        return f"AssetRegistry({len(self._by_asset)} assets)"


class _ReadOnly(Mapping[str, str]):
    __slots__ = ("_d",)

    def __init__(self, d: dict[str, str]) -> None:
        self._d = d

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def get(self, key: str, default: Any = None) -> Any:  # fast path, avoids Mapping.get's try/except
        return self._d.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)
