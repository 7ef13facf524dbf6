"""hyperliquid.meta: asset ids, name/coin mapping and trading rules from the venue's meta answers."""

from __future__ import annotations

import contextlib
import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.types import TradingRule
from trio_hl.errors import ConfigError, ProtocolError
from trio_hl.hyperliquid.meta import AssetInfo, AssetRegistry, builder_dex_asset_id, spot_asset_id

META: dict[str, Any] = {
    "universe": [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 50},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 25, "onlyIsolated": False},
        {"name": "OLD", "szDecimals": 1, "maxLeverage": 3, "isDelisted": True},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20, "onlyIsolated": True},
    ],
    "marginTables": [],
    "collateralToken": 0,
}
SPOT_META: dict[str, Any] = {
    "tokens": [
        {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0, "tokenId": "0x0", "isCanonical": True},
        {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1, "tokenId": "0x1", "isCanonical": True},
        {"name": "HFUN", "szDecimals": 2, "weiDecimals": 8, "index": 2, "tokenId": "0x2", "isCanonical": False},
        {"name": "HYPE", "szDecimals": 2, "weiDecimals": 8, "index": 150, "tokenId": "0x3", "isCanonical": False},
    ],
    "universe": [
        {"name": "PURR/USDC", "tokens": [1, 0], "index": 0, "isCanonical": True},
        {"name": "@1", "tokens": [2, 0], "index": 1, "isCanonical": False},
        {"name": "@107", "tokens": [150, 0], "index": 107, "isCanonical": False},
        # A second HFUN/USDC market: its BASE/QUOTE name is taken, so only its coin reaches it.
        {"name": "@108", "tokens": [2, 0], "index": 108, "isCanonical": False},
    ],
}
PERP_DEXS: list[Any] = [None, {"name": "xyz", "fullName": "XYZ dex", "deployer": "0x" + "1" * 40}, {"name": "abc"}]
XYZ_META: dict[str, Any] = {"universe": [{"name": "xyz:TEST", "szDecimals": 2, "maxLeverage": 10}]}
ABC_META: dict[str, Any] = {"universe": [{"name": "FOO", "szDecimals": 0}, {"name": "abc:BAR", "szDecimals": 3}]}


@pytest.fixture
def registry() -> AssetRegistry:
    return AssetRegistry.from_wire(META, SPOT_META, PERP_DEXS, {"xyz": XYZ_META, "abc": ABC_META})


def test_matches_the_sdk_mapping_on_its_mock_universe() -> None:
    # PROTOCOL §7 [VERIFIED]: the SDK's coin_to_asset / name_to_coin / sz decimals for this universe.
    spot = {"tokens": SPOT_META["tokens"][:3], "universe": SPOT_META["universe"][:2]}
    meta = {"universe": META["universe"][:2]}
    reg = AssetRegistry.from_wire(meta, spot)
    assert {a.coin: a.asset_id for a in reg} == {"PURR/USDC": 10000, "@1": 10001, "BTC": 0, "ETH": 1}
    assert {a.asset_id: a.sz_decimals for a in reg} == {10000: 0, 10001: 2, 0: 5, 1: 4}
    for name, coin in {"PURR/USDC": "PURR/USDC", "@1": "@1", "HFUN/USDC": "@1", "BTC": "BTC", "ETH": "ETH"}.items():
        assert reg.by_pair(name).coin == coin


def test_perp_assets(registry: AssetRegistry) -> None:
    btc = registry.by_pair("BTC")
    assert btc == AssetInfo(name="BTC", coin="BTC", asset_id=0, sz_decimals=5, is_spot=False, max_leverage=50)
    old = registry.by_pair("OLD")
    assert old.asset_id == 2 and old.is_delisted  # delisted entries keep their slot
    assert registry.by_pair("SOL").asset_id == 3 and registry.by_pair("SOL").only_isolated


def test_spot_assets_use_spot_index_and_base_quote_names(registry: AssetRegistry) -> None:
    hype = registry.by_pair("HYPE/USDC")
    assert (hype.coin, hype.asset_id, hype.sz_decimals, hype.base, hype.quote) == ("@107", 10107, 2, "HYPE", "USDC")
    assert hype.is_spot and hype.max_leverage is None
    assert registry.by_pair("HFUN/USDC").coin == "@1"  # the first market keeps the name
    assert registry.by_coin("@108").asset_id == 10108
    assert registry.by_pair("@108").name == "HFUN/USDC"
    assert registry.coin_to_pair["@1"] == "HFUN/USDC"
    assert registry.coin_to_pair["@108"] == "@108"  # not reachable by name, so its coin is its pair
    assert registry.coin_to_pair["PURR/USDC"] == "PURR/USDC"


def test_builder_dex_assets(registry: AssetRegistry) -> None:
    t = registry.by_pair("xyz:TEST")
    assert (t.asset_id, t.dex, t.coin) == (110000, "xyz", "xyz:TEST")
    assert registry.by_pair("abc:FOO").asset_id == 120000  # an unprefixed name gets its dex prefix
    assert registry.by_pair("abc:BAR").asset_id == 120001
    assert registry.by_asset_id(110000) is t
    assert builder_dex_asset_id(1, 0) == 110000 and spot_asset_id(3) == 10003
    with pytest.raises(ValueError, match="builder dex index"):
        builder_dex_asset_id(0, 1)


def test_trading_rules(registry: AssetRegistry) -> None:
    assert registry.trading_rule("BTC") == TradingRule(
        pair="BTC",
        size_step=Decimal("0.00001"),
        min_size=Decimal("0.00001"),
        min_notional=Decimal(10),
        max_price_decimals=1,
        max_price_sig_figs=5,
        is_spot=False,
    )
    purr = registry.trading_rule("PURR/USDC")
    assert purr.size_step == 1 and purr.max_price_decimals == 8 and purr.is_spot
    assert registry.trading_rule("HFUN/USDC").max_price_decimals == 6


def test_unknown_pair_lists_close_matches(registry: AssetRegistry) -> None:
    with pytest.raises(ConfigError, match=r"unknown pair 'BTCC'.*did you mean 'BTC'"):
        registry.by_pair("BTCC")
    with pytest.raises(ConfigError, match=r"unknown pair 'HFUN/USDT'.*'HFUN/USDC'"):
        registry.by_pair("HFUN/USDT")
    with pytest.raises(ConfigError, match="unknown coin"):
        registry.by_coin("HFUN/USDC")  # a pair name is not a coin
    with pytest.raises(ConfigError, match="unknown asset id 7"):
        registry.by_asset_id(7)
    assert registry.get_coin("nope") is None and registry.get_asset(99) is None


def test_container_protocol(registry: AssetRegistry) -> None:
    assert "BTC" in registry and "@1" in registry and "DOGE" not in registry
    assert len(registry) == 4 + 4 + 1 + 2
    assert "HFUN/USDC" in registry.pairs() and "@108" not in registry.pairs()
    assert repr(registry) == "AssetRegistry(11 assets)"
    assert len(registry.coin_to_pair) == 11 and registry.coin_to_pair.get("zzz") is None


def test_dex_meta_needs_perp_dexs_and_a_listed_dex() -> None:
    with pytest.raises(ConfigError, match="needs perp_dexs"):
        AssetRegistry.from_wire(META, SPOT_META, None, {"xyz": XYZ_META})
    with pytest.raises(ConfigError, match=r"'nope' is not in perpDexs"):
        AssetRegistry.from_wire(META, SPOT_META, PERP_DEXS, {"nope": XYZ_META})
    # A listed dex without a meta is simply not loaded.
    reg = AssetRegistry.from_wire(META, None, PERP_DEXS, {"xyz": XYZ_META})
    assert "abc:BAR" not in reg and "xyz:TEST" in reg


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m, s: m.pop("universe"), r"meta: missing 'universe'"),
        (lambda m, s: m["universe"][1].pop("szDecimals"), r"meta\.universe\[1\]: missing 'szDecimals'"),
        (lambda m, s: m["universe"][0].update(szDecimals="5"), r"meta\.universe\[0\]\.szDecimals: expected an integer"),
        (lambda m, s: m["universe"][0].update(szDecimals=-1), r"szDecimals: must be >= 0"),
        (lambda m, s: m["universe"].append("x"), r"meta\.universe\[4\]: expected an object, got str"),
        (lambda m, s: s["universe"][0].update(tokens=[1]), r"spotMeta\.universe\[0\]\.tokens: expected \[base"),
        (lambda m, s: s["universe"][0].update(tokens=[1, 99]), r"token 99 is not in spotMeta\.tokens"),
        (lambda m, s: s["tokens"][0].pop("index"), r"spotMeta\.tokens\[0\]: missing 'index'"),
        (lambda m, s: s["universe"].append(dict(s["universe"][0])), r"appears twice"),
    ],
)
def test_malformed_meta_raises_protocol_error(mutate: Any, message: str) -> None:
    meta, spot = copy.deepcopy(META), copy.deepcopy(SPOT_META)
    mutate(meta, spot)
    with pytest.raises(ProtocolError, match=message):
        AssetRegistry.from_wire(meta, spot)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 200) | st.text(max_size=5),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.sampled_from(["name", "szDecimals", "index", "tokens", "universe"]), kids, max_size=5)
    ),
    max_leaves=20,
)


@given(json_values, json_values)
def test_fuzzed_meta_only_raises_protocol_error(meta: Any, spot: Any) -> None:
    with contextlib.suppress(ProtocolError):
        AssetRegistry.from_wire(meta, spot)


@given(st.data())
def test_truncated_meta_only_raises_protocol_error(data: st.DataObject) -> None:
    meta, spot = copy.deepcopy(META), copy.deepcopy(SPOT_META)
    target = data.draw(st.sampled_from([meta["universe"], spot["universe"], spot["tokens"]]))
    entry = data.draw(st.sampled_from(target))
    key = data.draw(st.sampled_from(sorted(entry)))
    if data.draw(st.booleans()):
        del entry[key]
    else:
        entry[key] = data.draw(json_values)
    with contextlib.suppress(ProtocolError):
        AssetRegistry.from_wire(meta, spot)
