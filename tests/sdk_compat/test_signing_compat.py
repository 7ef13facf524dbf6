"""Our signing vs the official SDK (``hyperliquid-python-sdk``), byte for byte.

Runs only in the ``nox -s sdk_compat`` virtualenv.  Actions are produced by the SDK itself: a real ``Exchange``
whose ``_post_action`` records what it would have posted (action, nonce, signature) instead of sending it, with
``get_timestamp_ms`` pinned to a Hypothesis-drawn nonce.  So each example compares *signing* on exactly the
dict the SDK builds, for orders (limit/trigger, grouping, builder, cloid), cancels, cancelByCloid,
batchModify, scheduleCancel, updateLeverage, updateIsolatedMargin and noop, with and without a vault and
expiresAfter, on mainnet and testnet; and for every user-signed action the SDK's ``Exchange`` can send.
Example counts are at least 500 + 100 + 300 here whatever the Hypothesis profile (``ci-deep`` raises them).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import hyperliquid.exchange as hl_exchange
import pytest
from eth_account import Account
from hyperliquid.exchange import Exchange
from hyperliquid.utils import signing as sdk
from hyperliquid.utils.constants import MAINNET_API_URL
from hyperliquid.utils.types import Cloid
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hl.hyperliquid import signing as S

KEY = "0x" + "5a" * 31 + "01"
WALLET = Account.from_key(KEY)
SIGNER = S.LocalSigner(KEY)
TESTNET_URL = "http://127.0.0.1:9"  # never contacted: _post_action is replaced

META = {
    "universe": [{"name": "BTC", "szDecimals": 5}, {"name": "ETH", "szDecimals": 4}, {"name": "SOL", "szDecimals": 2}]
}
SPOT_META = {
    "universe": [{"name": "PURR/USDC", "tokens": [1, 0], "index": 0}, {"name": "@1", "tokens": [2, 0], "index": 1}],
    "tokens": [
        {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0},
        {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1},
        {"name": "HYPE", "szDecimals": 2, "weiDecimals": 8, "index": 2},
    ],
}
COINS = ["BTC", "ETH", "SOL", "PURR/USDC", "@1"]


def at_least(n: int) -> settings:
    """``n`` examples, or the active profile's count if that is larger (``HYPOTHESIS_PROFILE=ci-deep``)."""
    return settings(max_examples=max(n, settings().max_examples))


class RecordingExchange(Exchange):  # type: ignore[misc]
    """The SDK's Exchange, minus the network: every action is recorded as it would be posted."""

    def __init__(self, is_mainnet: bool, vault: str | None, expires_after: int | None) -> None:
        super().__init__(
            WALLET, MAINNET_API_URL if is_mainnet else TESTNET_URL, meta=META, vault_address=vault, spot_meta=SPOT_META
        )
        self.set_expires_after(expires_after)
        self.posted: list[dict[str, Any]] = []

    def _post_action(self, action: Any, signature: Any, nonce: int) -> Any:
        # JSON round trip: exactly what reaches a server (and the emulator's recover path).
        self.posted.append(json.loads(json.dumps({"action": action, "nonce": nonce, "signature": signature})))
        return {"status": "ok", "response": {"type": "default"}}


def run_sdk(
    call: Callable[[RecordingExchange], Any], is_mainnet: bool, vault: str | None, expires: int | None, nonce: int
) -> dict[str, Any]:
    ex = RecordingExchange(is_mainnet, vault, expires)
    with mock.patch.object(hl_exchange, "get_timestamp_ms", return_value=nonce):
        call(ex)
    assert len(ex.posted) == 1
    return ex.posted[0]


# ------------------------------------------------------------------------------------------------ strategies

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
mixed_addresses = addresses.map(S.to_checksum_address) | addresses
nonces = st.integers(0, 2**64 - 1) | st.integers(1_600_000_000_000, 1_900_000_000_000)
# Floats the SDK's float_to_wire accepts: at most 8 decimals, built from exact decimals.
wire_floats = st.builds(lambda n, d: float(Decimal(n).scaleb(-d)), st.integers(1, 10**9), st.integers(0, 6))
cloids = st.integers(0, 2**128 - 1).map(Cloid.from_int)
limit_types = st.sampled_from(["Gtc", "Ioc", "Alo"]).map(lambda tif: {"limit": {"tif": tif}})
trigger_types = st.builds(
    lambda px, is_market, tpsl: {"trigger": {"triggerPx": px, "isMarket": is_market, "tpsl": tpsl}},
    wire_floats,
    st.booleans(),
    st.sampled_from(["tp", "sl"]),
)


@st.composite
def order_requests(draw: st.DrawFn) -> dict[str, Any]:
    order: dict[str, Any] = {
        "coin": draw(st.sampled_from(COINS)),
        "is_buy": draw(st.booleans()),
        "sz": draw(wire_floats),
        "limit_px": draw(wire_floats),
        "order_type": draw(limit_types | trigger_types),
        "reduce_only": draw(st.booleans()),
    }
    cloid = draw(st.none() | cloids)
    if cloid is not None:
        order["cloid"] = cloid
    return order


def _orders(reqs: list[dict[str, Any]], builder: dict[str, Any] | None, grouping: Any) -> Callable[[Any], Any]:
    return lambda ex: ex.bulk_orders(reqs, builder, grouping)


order_calls = st.builds(
    _orders,
    st.lists(order_requests(), min_size=1, max_size=4),
    st.none() | st.builds(lambda b, f: {"b": b, "f": f}, mixed_addresses, st.integers(0, 1000)),
    st.sampled_from(["na", "normalTpsl", "positionTpsl"]) | st.builds(lambda p: {"p": p}, st.integers(0, 10**6)),
)
cancel_calls = st.lists(
    st.builds(lambda c, o: {"coin": c, "oid": o}, st.sampled_from(COINS), st.integers(0, 2**63)), min_size=1, max_size=5
).map(lambda reqs: lambda ex: ex.bulk_cancel(reqs))
cancel_by_cloid_calls = st.lists(
    st.builds(lambda c, cl: {"coin": c, "cloid": cl}, st.sampled_from(COINS), cloids), min_size=1, max_size=5
).map(lambda reqs: lambda ex: ex.bulk_cancel_by_cloid(reqs))


@st.composite
def modify_requests(draw: st.DrawFn) -> dict[str, Any]:
    order = draw(order_requests())
    order.setdefault("cloid", None)  # what modify_order passes when no cloid is given
    return {"oid": draw(st.integers(0, 2**63) | cloids), "order": order}


modify_calls = st.lists(modify_requests(), min_size=1, max_size=3).map(
    lambda reqs: lambda ex: ex.bulk_modify_orders_new(reqs)
)
other_l1_calls = st.one_of(
    st.builds(lambda t: lambda ex: ex.schedule_cancel(t), st.none() | st.integers(0, 2**63)),
    st.builds(
        lambda lev, coin, cross: lambda ex: ex.update_leverage(lev, coin, cross),
        st.integers(1, 100),
        st.sampled_from(COINS[:3]),
        st.booleans(),
    ),
    st.builds(
        lambda amt, coin: lambda ex: ex.update_isolated_margin(amt, coin),
        st.builds(lambda n: n / 100, st.integers(-(10**8), 10**8)),
        st.sampled_from(COINS[:3]),
    ),
    st.just(lambda ex: ex.noop(ex_nonce(ex))),
)


def ex_nonce(ex: Any) -> int:
    return int(hl_exchange.get_timestamp_ms())


l1_calls = st.one_of(order_calls, cancel_calls, cancel_by_cloid_calls, modify_calls, other_l1_calls)


# --------------------------------------------------------------------------------------------------- L1


@at_least(500)
@given(
    call=l1_calls,
    is_mainnet=st.booleans(),
    vault=st.none() | mixed_addresses,
    expires=st.none() | nonces,
    nonce=nonces,
)
def test_l1_actions_sign_like_the_sdk(
    call: Callable[[Any], Any], is_mainnet: bool, vault: str | None, expires: int | None, nonce: int
) -> None:
    posted = run_sdk(call, is_mainnet, vault, expires, nonce)
    action, sdk_sig = posted["action"], posted["signature"]
    assert posted["nonce"] == nonce
    assert S.action_hash(action, vault, nonce, expires) == bytes(sdk.action_hash(action, vault, nonce, expires))
    ours = S.sign_l1_action(SIGNER, action, vault, nonce, expires, is_mainnet)
    assert ours == sdk_sig
    assert json.dumps(ours) == json.dumps(sdk_sig)  # same key order and value forms on the wire
    assert S.recover_l1_signer(action, vault, nonce, expires, is_mainnet, sdk_sig) == WALLET.address
    assert sdk.recover_agent_or_user_from_l1_action(action, ours, vault, nonce, expires, is_mainnet) == WALLET.address


@at_least(100)
@given(
    reqs=st.lists(order_requests(), min_size=1, max_size=3),
    is_mainnet=st.booleans(),
    vault=st.none() | mixed_addresses,
    expires=st.none() | nonces,
    nonce=nonces,
    outer=mixed_addresses,
)
def test_sdk_helper_built_actions_and_multisig_envelopes(
    reqs: list[dict[str, Any]], is_mainnet: bool, vault: str | None, expires: int | None, nonce: int, outer: str
) -> None:
    """Actions from the SDK's own builders, signed directly; also the multi-sig L1 envelope (a msgpack array)
    and the SendMultiSig user-signed envelope."""
    wires = [sdk.order_request_to_order_wire(r, i) for i, r in enumerate(reqs)]
    action = sdk.order_wires_to_order_action(wires)
    assert S.sign_l1_action(SIGNER, action, vault, nonce, expires, is_mainnet) == sdk.sign_l1_action(
        WALLET, action, vault, nonce, expires, is_mainnet
    )
    envelope = [WALLET.address.lower(), outer.lower(), action]
    assert S.sign_l1_action(SIGNER, envelope, vault, nonce, expires, is_mainnet) == (
        sdk.sign_multi_sig_l1_action_payload(WALLET, action, is_mainnet, vault, nonce, expires, WALLET.address, outer)
    )
    without_type = {k: v for k, v in action.items() if k != "type"}
    multi_sig_envelope = {"multiSigActionHash": S.action_hash(without_type, vault, nonce, expires), "nonce": nonce}
    ours = S.sign_user_signed_action(
        SIGNER, multi_sig_envelope, S.SEND_MULTI_SIG.payload_types, S.SEND_MULTI_SIG.primary_type, is_mainnet
    )
    assert ours == sdk.sign_multi_sig_action(WALLET, action, is_mainnet, vault, nonce, expires)


# ------------------------------------------------------------------------------------------- user-signed

amount_floats = st.builds(lambda n, d: float(Decimal(n).scaleb(-d)), st.integers(0, 10**9), st.integers(0, 6))
names = st.text(min_size=0, max_size=16)
user_calls = st.one_of(
    st.builds(lambda a, d: lambda ex: ex.usd_transfer(a, d), amount_floats, mixed_addresses),
    st.builds(
        lambda a, d, t: lambda ex: ex.spot_transfer(a, d, t),
        amount_floats,
        mixed_addresses,
        st.sampled_from(["PURR:0xc1fb593aeffbeb02f85e0308e9956a90", "USDC:0x6d1e7cde53ba9467b783cb7c530ce054"]),
    ),
    st.builds(lambda a, d: lambda ex: ex.withdraw_from_bridge(a, d), amount_floats, mixed_addresses),
    st.builds(lambda a, p: lambda ex: ex.usd_class_transfer(a, p), amount_floats, st.booleans()),
    st.builds(
        lambda d, s, t, tok, a: lambda ex: ex.send_asset(d, s, t, tok, a),
        mixed_addresses,
        st.sampled_from(["", "spot", "xyz"]),
        st.sampled_from(["", "spot", "xyz"]),
        st.sampled_from(["USDC", "PURR:0xc1fb593aeffbeb02f85e0308e9956a90"]),
        amount_floats,
    ),
    st.builds(lambda n: lambda ex: ex.approve_agent(n), st.none() | names),
    st.builds(
        lambda b, r: lambda ex: ex.approve_builder_fee(b, r),
        mixed_addresses,
        st.sampled_from(["0.001%", "0.1%", "0.01%"]),
    ),
    st.builds(
        lambda v, w, u: lambda ex: ex.token_delegate(v, w, u), mixed_addresses, st.integers(0, 2**64 - 1), st.booleans()
    ),
    st.builds(
        lambda users, t: lambda ex: ex.convert_to_multi_sig_user(users, t),
        st.lists(addresses, max_size=4),
        st.integers(0, 4),
    ),
    st.builds(lambda u, e: lambda ex: ex.user_dex_abstraction(u, e), mixed_addresses, st.booleans()),
    st.builds(
        lambda u, a: lambda ex: ex.user_set_abstraction(u, a),
        mixed_addresses,
        st.sampled_from(["disabled", "unifiedAccount", "portfolioMargin"]),
    ),
)


@at_least(300)
@given(call=user_calls, is_mainnet=st.booleans(), vault=st.none() | addresses, nonce=nonces)
def test_user_signed_actions_sign_like_the_sdk(
    call: Callable[[Any], Any], is_mainnet: bool, vault: str | None, nonce: int
) -> None:
    posted = run_sdk(call, is_mainnet, vault, None, nonce)
    action, sdk_sig = posted["action"], posted["signature"]
    # The venue's check: everything from the posted action itself.
    assert S.recover_user_signed_signer(action, sdk_sig, is_mainnet) == WALLET.address

    # Re-sign the pre-signing dict (the SDK appends the two keys; approveAgent without a name drops agentName).
    kind = S.USER_SIGNED_ACTION_TYPES[action["type"]]
    ours_action = {k: v for k, v in action.items() if k not in ("signatureChainId", "hyperliquidChain")}
    unnamed_agent = action["type"] == "approveAgent" and "agentName" not in action
    if unnamed_agent:
        ours_action["agentName"] = ""
    ours = S.sign_user_signed_action(SIGNER, ours_action, kind.payload_types, kind.primary_type, is_mainnet)
    assert ours == sdk_sig
    if unnamed_agent:
        del ours_action["agentName"]
    assert list(ours_action.items()) == list(action.items())  # same posted dict, same key order
    assert (
        sdk.recover_user_from_user_signed_action(
            copy.deepcopy(action) | {"agentName": action.get("agentName", "")},
            ours,
            kind.payload_types,
            kind.primary_type,
            is_mainnet,
        )
        == WALLET.address
    )


SDK_TABLES = {
    "usdSend": sdk.USD_SEND_SIGN_TYPES,
    "spotSend": sdk.SPOT_TRANSFER_SIGN_TYPES,
    "withdraw3": sdk.WITHDRAW_SIGN_TYPES,
    "usdClassTransfer": sdk.USD_CLASS_TRANSFER_SIGN_TYPES,
    "sendAsset": sdk.SEND_ASSET_SIGN_TYPES,
    "tokenDelegate": sdk.TOKEN_DELEGATE_TYPES,
    "userDexAbstraction": sdk.USER_DEX_ABSTRACTION_SIGN_TYPES,
    "userSetAbstraction": sdk.USER_SET_ABSTRACTION_SIGN_TYPES,
    "convertToMultiSigUser": sdk.CONVERT_TO_MULTI_SIG_USER_SIGN_TYPES,
}


@pytest.mark.parametrize("action_type", sorted(SDK_TABLES))
def test_type_tables_equal_the_sdk(action_type: str) -> None:
    assert S.USER_SIGNED_ACTION_TYPES[action_type].payload_types == SDK_TABLES[action_type]
    assert S.SEND_MULTI_SIG.payload_types == sdk.MULTI_SIG_ENVELOPE_SIGN_TYPES


def test_preimage_example_with_sdk() -> None:
    action = {"type": "dummy", "num": 100000000000}
    vault = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
    assert S.action_hash(action, vault, 0, 1700000000000) == bytes(sdk.action_hash(action, vault, 0, 1700000000000))


def test_session_uses_the_sdk_pinned_eth_account() -> None:
    """The SDK pins eth-account<0.14; our package must co-install with it (this venv proves it does)."""
    from importlib.metadata import version

    major, minor = (int(p) for p in version("eth-account").split(".")[:2])
    assert (major, minor) < (0, 14)
    assert version("hyperliquid-python-sdk") == "0.24.0"
