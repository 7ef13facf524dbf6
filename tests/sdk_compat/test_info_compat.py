"""Every public method of the official SDK's ``Info`` class (``hyperliquid-python-sdk==0.24.0``) against the
emulator started as a user starts it (``python -m trio_hl.cli emulator --port 0``): each returns without error
and with the venue's answer type, for an account that traded.  Before issue 16 five of them (``user_role``,
``portfolio``, ``extra_agents``, ``user_vault_equities``, ``delegator_history``) and a dozen more got HTTP 422.
Runs only in ``nox -s sdk_compat``."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account import Account
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

CLOID = Cloid.from_int(16)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "trio_hl.cli", "emulator", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def traded(url: str) -> tuple[Info, str, int]:
    """An account that rests an order (with a cloid), trades, and approves a named agent; its oid."""
    wallet = Account.create()
    info = Info(url, skip_ws=True)
    info.user_state(wallet.address)  # naming the address funds it (AutoFund.NAMED)
    exchange = Exchange(wallet, url)
    resting = exchange.order("ETH", True, 0.1, 1700.0, {"limit": {"tif": "Gtc"}}, cloid=CLOID)
    oid = resting["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert "filled" in exchange.market_open("SOL", True, 1.0)["response"]["data"]["statuses"][0]
    approved, _key = exchange.approve_agent("bot")
    assert approved["status"] == "ok"
    return info, wallet.address, oid


def calls(info: Info, me: str, oid: int) -> dict[str, tuple[Callable[[], Any], type | tuple[type, ...]]]:
    """Each public ``Info`` method with sensible arguments, and the JSON type the venue answers it with."""
    now = int(time.time() * 1000)
    day_ago = now - 86_400_000
    return {
        "user_state": (lambda: info.user_state(me), dict),
        "spot_user_state": (lambda: info.spot_user_state(me), dict),
        "open_orders": (lambda: info.open_orders(me), list),
        "frontend_open_orders": (lambda: info.frontend_open_orders(me), list),
        "all_mids": (info.all_mids, dict),
        "user_fills": (lambda: info.user_fills(me), list),
        "user_fills_by_time": (lambda: info.user_fills_by_time(me, day_ago, None, False), list),
        "meta": (info.meta, dict),
        "meta_and_asset_ctxs": (info.meta_and_asset_ctxs, list),
        "perp_dexs": (info.perp_dexs, list),
        "spot_meta": (info.spot_meta, dict),
        "spot_meta_and_asset_ctxs": (info.spot_meta_and_asset_ctxs, list),
        "funding_history": (lambda: info.funding_history("ETH", day_ago, now), list),
        "user_funding_history": (lambda: info.user_funding_history(me, day_ago, now), list),
        "l2_snapshot": (lambda: info.l2_snapshot("ETH"), dict),
        "candles_snapshot": (lambda: info.candles_snapshot("ETH", "1m", now - 600_000, now), list),
        "user_fees": (lambda: info.user_fees(me), dict),
        "user_staking_summary": (lambda: info.user_staking_summary(me), dict),
        "user_staking_delegations": (lambda: info.user_staking_delegations(me), list),
        "user_staking_rewards": (lambda: info.user_staking_rewards(me), list),
        "delegator_history": (lambda: info.delegator_history(me), list),
        "query_order_by_oid": (lambda: info.query_order_by_oid(me, oid), dict),
        "query_order_by_cloid": (lambda: info.query_order_by_cloid(me, CLOID), dict),
        "query_referral_state": (lambda: info.query_referral_state(me), dict),
        "query_sub_accounts": (lambda: info.query_sub_accounts(me), (list, type(None))),
        "query_user_to_multi_sig_signers": (lambda: info.query_user_to_multi_sig_signers(me), (dict, type(None))),
        "query_perp_deploy_auction_status": (info.query_perp_deploy_auction_status, dict),
        "query_user_dex_abstraction_state": (lambda: info.query_user_dex_abstraction_state(me), (bool, type(None))),
        "query_user_abstraction_state": (lambda: info.query_user_abstraction_state(me), str),
        "historical_orders": (lambda: info.historical_orders(me), list),
        "user_non_funding_ledger_updates": (lambda: info.user_non_funding_ledger_updates(me, day_ago, None), list),
        "portfolio": (lambda: info.portfolio(me), list),
        "user_twap_slice_fills": (lambda: info.user_twap_slice_fills(me), list),
        "user_vault_equities": (lambda: info.user_vault_equities(me), list),
        "user_role": (lambda: info.user_role(me), dict),
        "user_rate_limit": (lambda: info.user_rate_limit(me), dict),
        "query_spot_deploy_auction_status": (lambda: info.query_spot_deploy_auction_status(me), dict),
        "extra_agents": (lambda: info.extra_agents(me), list),
        "name_to_asset": (lambda: info.name_to_asset("ETH"), int),
        "set_perp_meta": (lambda: info.set_perp_meta(info.meta(), 0), type(None)),
    }


# the WebSocket methods are driven by test_subscribe_unsubscribe_and_disconnect
WS_METHODS = {"subscribe", "unsubscribe", "disconnect_websocket"}


def test_the_list_covers_every_public_info_method(traded: tuple[Info, str, int]) -> None:
    public = {name for name, member in vars(Info).items() if inspect.isfunction(member) and not name.startswith("_")}
    assert public - WS_METHODS == set(calls(*traded))


@pytest.mark.parametrize("method", sorted(calls(Info.__new__(Info), "0x0", 0)))
def test_info_method_answers_with_the_venues_type(traded: tuple[Info, str, int], method: str) -> None:
    call, answer_type = calls(*traded)[method]
    answer = call()  # a 4xx/5xx raises ClientError/ServerError in the SDK
    assert isinstance(answer, answer_type), (method, answer)
    assert not (isinstance(answer, dict) and "error" in answer), (method, answer)


def test_answers_about_the_traded_account(traded: tuple[Info, str, int]) -> None:
    info, me, oid = traded
    assert info.user_role(me) == {"role": "user"}
    assert [a["name"] for a in info.extra_agents(me)] == ["bot"]
    assert info.query_order_by_cloid(me, CLOID)["order"]["order"]["oid"] == oid
    (deposit, *_) = info.user_non_funding_ledger_updates(me, 0, None)
    assert deposit["delta"]["type"] == "deposit"
    assert [period for period, _ in info.portfolio(me)][:4] == ["day", "week", "month", "allTime"]
    (position,) = info.user_state(me)["assetPositions"]
    assert position["position"]["liquidationPx"] is None  # 1 SOL long on ~100 000 USDC: no price liquidates it


def test_subscribe_unsubscribe_and_disconnect(url: str, traded: tuple[Info, str, int]) -> None:
    ws_info = Info(url, skip_ws=False)
    got = threading.Event()
    try:
        sub_id = ws_info.subscribe({"type": "l2Book", "coin": "ETH"}, lambda message: got.set())
        assert got.wait(10), "no l2Book message"
        assert ws_info.unsubscribe({"type": "l2Book", "coin": "ETH"}, sub_id) is True
    finally:
        ws_info.disconnect_websocket()
