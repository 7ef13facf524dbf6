"""Our wire output vs the official ``hyperliquid-python-sdk`` (0.24.0), byte for byte.

Runs only in ``nox -s sdk_compat`` (the SDK pins ``eth-account<0.14`` and lives in its own virtualenv; the
conftest beside this file skips collection elsewhere).  The SDK's ``Exchange`` is driven for real, with its
``_post_action`` replaced by a recorder and its signing functions by a stub (the signature is not what is
compared here; ``test_signing_compat.py`` covers signing), so every action is exactly what it would post.
Actions are compared as JSON text (content *and* key order) and as msgpack bytes (what the venue hashes).

Where the SDK itself is unfaithful — ``float_to_wire`` of a value a float cannot hold to 8 decimals emits
the float's binary expansion (``1234567890123.45`` → ``"1234567890123.44995117"``), and it silently turns
``1e-13`` into ``"0"`` — we deliberately differ (we are exact, or raise); those cases are pinned separately.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import eth_account
import msgpack
import pytest
from hyperliquid import exchange as sdk_exchange
from hyperliquid import info as sdk_info
from hyperliquid.exchange import Exchange
from hyperliquid.utils.signing import float_to_usd_int, float_to_wire
from hyperliquid.utils.types import Cloid
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hl.errors import WireFormatError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.meta import AssetRegistry

D = Decimal

META: dict[str, Any] = {
    "universe": [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 50},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
    ]
}
SPOT_META: dict[str, Any] = {
    "tokens": [
        {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0},
        {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1},
        {"name": "HFUN", "szDecimals": 2, "weiDecimals": 8, "index": 2},
    ],
    "universe": [
        {"name": "PURR/USDC", "tokens": [1, 0], "index": 0, "isCanonical": True},
        {"name": "@1", "tokens": [2, 0], "index": 1, "isCanonical": False},
    ],
}
PERP_DEXS: list[Any] = [None, {"name": "xyz"}, {"name": "abc"}]
DEX_METAS: dict[str, Any] = {
    "xyz": {"universe": [{"name": "xyz:TEST", "szDecimals": 2, "maxLeverage": 10}]},
    "abc": {"universe": [{"name": "abc:FOO", "szDecimals": 1}, {"name": "abc:BAR", "szDecimals": 3}]},
}
REGISTRY = AssetRegistry.from_wire(META, SPOT_META, PERP_DEXS, DEX_METAS)
PAIRS = ["BTC", "ETH", "SOL", "PURR/USDC", "HFUN/USDC"]


def _examples(n: int) -> Any:
    """``n`` examples, or more under a deeper profile (``HYPOTHESIS_PROFILE=ci-deep``)."""
    return settings(max_examples=max(n, settings.default.max_examples))


class Recorder:
    """An SDK ``Exchange`` whose posts are recorded instead of sent."""

    def __init__(self) -> None:
        wallet = eth_account.Account.from_key("0x" + "11" * 32)
        self.exchange = Exchange(wallet, "http://127.0.0.1:9", meta=META, spot_meta=SPOT_META)
        self.posted: list[tuple[dict[str, Any], int]] = []
        self.exchange._post_action = self._record  # type: ignore[method-assign]

    def _record(self, action: dict[str, Any], signature: Any, nonce: int) -> dict[str, str]:
        self.posted.append((action, nonce))
        return {"status": "ok"}

    def last(self) -> tuple[dict[str, Any], int]:
        return self.posted.pop()


@pytest.fixture(scope="module")
def sdk() -> Iterator[Recorder]:
    stub = {"r": "0x1", "s": "0x2", "v": 27}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("sign_l1_action", "sign_agent", "sign_usd_class_transfer_action"):
            mp.setattr(sdk_exchange, name, lambda *args, **kwargs: stub)
        yield Recorder()


def assert_same_wire(ours: Any, theirs: Any) -> None:
    """Equal content and key order (JSON text), and equal msgpack bytes (what the signature hashes)."""
    assert json.dumps(ours) == json.dumps(theirs)
    assert msgpack.packb(ours) == msgpack.packb(theirs)


# ----------------------------------------------------------------------------------------------- numbers

# Values a double holds faithfully to 8 decimals: |x| < 1e7 with at most 8 decimals (≤ 15 significant digits).
faithful = st.integers(0, 8).flatmap(
    lambda e: st.integers(-(10 ** (7 + e)) + 1, 10 ** (7 + e) - 1).map(lambda m: D(m).scaleb(-e))
)
# Integers a double holds exactly.
exact_integers = st.integers(-(2**53), 2**53).map(D)


@_examples(300)
@given(faithful | exact_integers)
def test_to_wire_equals_float_to_wire(d: Decimal) -> None:
    theirs = float_to_wire(float(d))
    ours = wire.to_wire(d)
    if theirs == "-0":
        assert ours == "0"  # the SDK's -0 guard is dead code; we never emit -0
    else:
        assert ours == theirs


def test_negative_zero_is_the_one_deliberate_difference() -> None:
    assert float_to_wire(-0.0) == "-0"
    assert wire.to_wire(D("-0.0")) == "0"


def test_where_the_sdk_is_unfaithful_we_are_exact_or_raise() -> None:
    assert float_to_wire(1234567890123.45) == "1234567890123.44995117"
    assert wire.to_wire(D("1234567890123.45")) == "1234567890123.45"
    assert float_to_wire(1e-13) == "0"  # silently rounded away
    with pytest.raises(WireFormatError):
        wire.to_wire(D("1E-13"))
    with pytest.raises(ValueError):
        float_to_wire(1e-9)
    with pytest.raises(WireFormatError):
        wire.to_wire(D("1E-9"))


@_examples(50)
@given(st.integers(1, 10**7), st.integers(9, 12))
def test_more_than_8_decimals_always_raises_for_us(m: int, places: int) -> None:
    d = D(m).scaleb(-places)
    if d.normalize().as_tuple().exponent >= -8:  # type: ignore[operator]
        return
    with pytest.raises(WireFormatError):
        wire.to_wire(d)


# ---------------------------------------------------------------------------------------------- orders

prices = st.builds(lambda m, e: D(m).scaleb(-e), st.integers(1, 10**6), st.integers(0, 6))
sizes = st.builds(lambda m, e: D(m).scaleb(-e), st.integers(1, 10**6), st.integers(0, 5))
some_cloids = st.integers(0, 2**128 - 1).map(lambda n: f"{n:#034x}")
cloids = st.none() | some_cloids
order_types = st.one_of(
    st.sampled_from(["Gtc", "Ioc", "Alo"]).map(lambda tif: ("limit", tif)),
    st.tuples(st.just("trigger"), prices, st.booleans(), st.sampled_from(["tp", "sl"])),
)


def _sdk_order_type(t: tuple[Any, ...]) -> dict[str, Any]:
    if t[0] == "limit":
        return {"limit": {"tif": t[1]}}
    return {"trigger": {"triggerPx": float(t[1]), "isMarket": t[2], "tpsl": t[3]}}


def _our_order_type(t: tuple[Any, ...]) -> dict[str, Any]:
    if t[0] == "limit":
        return wire.limit_order_type(t[1])
    return wire.trigger_order_type(t[1], t[2], t[3])


order_requests = st.tuples(st.sampled_from(PAIRS), st.booleans(), prices, sizes, st.booleans(), order_types, cloids)


def _sdk_request(req: tuple[Any, ...]) -> dict[str, Any]:
    pair, is_buy, px, sz, reduce_only, otype, cloid = req
    r: dict[str, Any] = {
        "coin": pair,
        "is_buy": is_buy,
        "sz": float(sz),
        "limit_px": float(px),
        "order_type": _sdk_order_type(otype),
        "reduce_only": reduce_only,
    }
    if cloid is not None:
        r["cloid"] = Cloid(cloid)
    return r


def _our_order(req: tuple[Any, ...]) -> dict[str, Any]:
    pair, is_buy, px, sz, reduce_only, otype, cloid = req
    return wire.order_wire(REGISTRY.by_pair(pair).asset_id, is_buy, px, sz, reduce_only, _our_order_type(otype), cloid)


builders = st.none() | st.tuples(
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex().upper()), st.integers(0, 100)
)
groupings = st.sampled_from(["na", "normalTpsl", "positionTpsl"]) | st.integers(0, 10**6).map(lambda p: {"p": p})


@_examples(150)
@given(st.lists(order_requests, min_size=1, max_size=4), builders, groupings)
def test_order_action_equals_sdk(sdk: Recorder, reqs: list[tuple[Any, ...]], builder: Any, grouping: Any) -> None:
    sdk_builder = None if builder is None else {"b": builder[0], "f": builder[1]}
    sdk.exchange.bulk_orders([_sdk_request(r) for r in reqs], sdk_builder, grouping)
    theirs, _ = sdk.last()
    ours = wire.order_action(
        [_our_order(r) for r in reqs], grouping, sdk_builder and {"b": builder[0], "f": builder[1]}
    )
    assert_same_wire(ours, theirs)


@_examples(60)
@given(st.lists(st.tuples(st.sampled_from(PAIRS), st.integers(0, 2**63)), min_size=1, max_size=5))
def test_cancel_action_equals_sdk(sdk: Recorder, cancels: list[tuple[str, int]]) -> None:
    sdk.exchange.bulk_cancel([{"coin": pair, "oid": oid} for pair, oid in cancels])
    theirs, _ = sdk.last()
    assert_same_wire(wire.cancel_action([(REGISTRY.by_pair(p).asset_id, oid) for p, oid in cancels]), theirs)


@_examples(60)
@given(st.lists(st.tuples(st.sampled_from(PAIRS), some_cloids), min_size=1, max_size=5))
def test_cancel_by_cloid_action_equals_sdk(sdk: Recorder, cancels: list[tuple[str, str]]) -> None:
    sdk.exchange.bulk_cancel_by_cloid([{"coin": pair, "cloid": Cloid(c)} for pair, c in cancels])
    theirs, _ = sdk.last()
    assert_same_wire(wire.cancel_by_cloid_action([(REGISTRY.by_pair(p).asset_id, c) for p, c in cancels]), theirs)


@_examples(100)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**63) | some_cloids, order_requests),
        min_size=1,
        max_size=3,
    )
)
def test_batch_modify_action_equals_sdk(sdk: Recorder, modifies: list[tuple[Any, tuple[Any, ...]]]) -> None:
    requests = []
    for oid, req in modifies:
        order = _sdk_request(req)
        order.setdefault("cloid", None)  # modify_order always passes the key
        requests.append({"oid": Cloid(oid) if isinstance(oid, str) else oid, "order": order})
    sdk.exchange.bulk_modify_orders_new(requests)
    theirs, _ = sdk.last()
    assert_same_wire(wire.batch_modify_action([(oid, _our_order(req)) for oid, req in modifies]), theirs)


@_examples(30)
@given(st.none() | st.integers(0, 2**62))
def test_schedule_cancel_action_equals_sdk(sdk: Recorder, time_ms: int | None) -> None:
    sdk.exchange.schedule_cancel(time_ms)
    theirs, _ = sdk.last()
    assert_same_wire(wire.schedule_cancel_action(time_ms), theirs)


@_examples(50)
@given(st.sampled_from(PAIRS[:3]), st.integers(1, 100), st.booleans())
def test_update_leverage_action_equals_sdk(sdk: Recorder, pair: str, leverage: int, is_cross: bool) -> None:
    sdk.exchange.update_leverage(leverage, pair, is_cross)
    theirs, _ = sdk.last()
    assert_same_wire(wire.update_leverage_action(REGISTRY.by_pair(pair).asset_id, is_cross, leverage), theirs)


@_examples(50)
@given(
    st.sampled_from(PAIRS[:3]), st.builds(lambda m, e: D(m).scaleb(-e), st.integers(-(10**9), 10**9), st.integers(0, 6))
)
def test_update_isolated_margin_action_equals_sdk(sdk: Recorder, pair: str, amount: Decimal) -> None:
    ours = wire.update_isolated_margin_action(REGISTRY.by_pair(pair).asset_id, True, wire.usd_to_ntli(amount))
    try:
        sdk.exchange.update_isolated_margin(float(amount), pair)
    except ValueError:
        # The SDK refuses some valid amounts: float_to_usd_int(17047114.4) sees 17047114399999.998 and raises
        # "float_to_int causes rounding".  We are exact there.
        assert ours["ntli"] == int(amount.scaleb(6))
        return
    theirs, _ = sdk.last()
    assert_same_wire(ours, theirs)


def test_sdk_refuses_a_valid_isolated_margin_amount_we_accept() -> None:
    with pytest.raises(ValueError, match="float_to_int causes rounding"):
        float_to_usd_int(17047114.4)
    assert wire.usd_to_ntli(D("17047114.4")) == 17_047_114_400_000


@_examples(40)
@given(
    st.builds(lambda m, e: D(m).scaleb(-e), st.integers(1, 10**8), st.integers(1, 4)).filter(
        lambda d: d % 1 != 0 and d >= D("0.0001")
    ),
    st.booleans(),
)
def test_usd_class_transfer_action_equals_sdk(sdk: Recorder, amount: Decimal, to_perp: bool) -> None:
    # The SDK sends str(float): identical to ours for non-integer amounts >= 1e-4 (it would send "1.0" and
    # "1e-05" where we send "1" and "0.00001"; both parse to the same amount on the venue).
    sdk.exchange.usd_class_transfer(float(amount), to_perp)
    theirs, nonce = sdk.last()
    assert_same_wire(wire.usd_class_transfer_action(amount, to_perp, nonce), theirs)


def test_approve_agent_action_equals_sdk_when_named(sdk: Recorder) -> None:
    sdk.exchange.approve_agent("bot")
    theirs, nonce = sdk.last()
    assert_same_wire(wire.approve_agent_action(theirs["agentAddress"], "bot", nonce), theirs)
    # Unnamed: the SDK deletes agentName after signing it as ""; we keep the key (see approve_agent_action).
    sdk.exchange.approve_agent(None)
    theirs, nonce = sdk.last()
    ours = wire.approve_agent_action(theirs["agentAddress"], None, nonce)
    assert ours["agentName"] == "" and "agentName" not in theirs
    assert {k: v for k, v in ours.items() if k != "agentName"} == theirs


def test_exchange_body_equals_sdk_post(sdk: Recorder) -> None:
    captured: list[dict[str, Any]] = []
    ex = sdk.exchange
    original = Exchange._post_action
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ex, "post", lambda path, payload: captured.append(payload))
        original(ex, {"type": "noop"}, {"r": "0x1", "s": "0x2", "v": 27}, 42)
    assert_same_wire(
        wire.exchange_body({"type": "noop"}, 42, {"r": "0x1", "s": "0x2", "v": 27}, None, None), captured[0]
    )


# ------------------------------------------------------------------------------------------------- meta


def test_asset_registry_equals_sdk_info_maps() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sdk_info.Info, "perp_dexs", lambda self: PERP_DEXS)
        mp.setattr(sdk_info.Info, "meta", lambda self, dex="": META if dex == "" else DEX_METAS[dex])
        info = sdk_info.Info("http://127.0.0.1:9", True, META, SPOT_META, ["", "xyz", "abc"])
    assert {a.coin: a.asset_id for a in REGISTRY} == info.coin_to_asset
    assert {a.asset_id: a.sz_decimals for a in REGISTRY} == info.asset_to_sz_decimals
    for name, coin in info.name_to_coin.items():
        assert REGISTRY.by_pair(name).coin == coin
        assert REGISTRY.by_pair(name).asset_id == info.name_to_asset(name)
