"""The emulator's engine alone: synchronous, no sockets.  Every action, every per-order error string
(PROTOCOL §4.3), order statuses by oid and cloid, modify → new oid, scheduleCancel, triggers, reduce-only,
fees, funding, streams, and Hypothesis properties (books never cross; size and cash are conserved)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hl.emulator import _stream
from trio_hl.emulator import engine as engine_module
from trio_hl.emulator._stream import num
from trio_hl.emulator.engine import Engine, InfoRequestError
from trio_hl.hyperliquid.wire import is_valid_price, is_valid_size

T0 = 1_700_000_000_000
ALICE, BOB, CAROL = ("0x" + c * 40 for c in "abc")
BTC, ETH, SOL, XYZ, PURR, HFUN = 0, 1, 2, 110000, 10000, 10001
CLOID = "0x0000000000000000000000000000000a"


def engine(**options: Any) -> Engine:
    options.setdefault("with_market", False)
    return Engine(seed=7, now_ms=T0, **options)


class Client:
    """Acts for one user with increasing nonces (the engine trusts its caller for signatures and nonces)."""

    def __init__(self, e: Engine, user: str) -> None:
        self.e, self.user, self.nonce = e, user, T0

    def act(self, action: dict[str, Any], now: int = T0, vault: str | None = None) -> dict[str, Any]:
        self.nonce += 1
        return self.e.action(signer=self.user, action=action, nonce=self.nonce, vault_address=vault, now_ms=now)

    def order(self, asset: int, is_buy: bool, px: str, sz: str, tif: str = "Gtc", *, reduce_only: bool = False,
              cloid: str | None = None, now: int = T0) -> dict[str, Any]:
        return self.act(order_action([wire(asset, is_buy, px, sz, tif, reduce_only=reduce_only, cloid=cloid)]), now)

    def status(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = self.order(*args, **kwargs)
        assert response["status"] == "ok", response
        (status,) = response["response"]["data"]["statuses"]
        return status  # type: ignore[no-any-return]

    def info(self, kind: str, **fields: Any) -> Any:
        return self.e.info({"type": kind, "user": self.user, **fields}, T0)


def wire(asset: int, is_buy: bool, px: str, sz: str, tif: str = "Gtc", *, reduce_only: bool = False,
         cloid: str | None = None, trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    t = {"trigger": trigger} if trigger is not None else {"limit": {"tif": tif}}
    out: dict[str, Any] = {"a": asset, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": t}
    if cloid is not None:
        out["c"] = cloid
    return out


def order_action(orders: list[dict[str, Any]], grouping: str = "na") -> dict[str, Any]:
    return {"type": "order", "orders": orders, "grouping": grouping}


@pytest.fixture
def e() -> Engine:
    return engine()


@pytest.fixture
def alice(e: Engine) -> Client:
    return Client(e, ALICE)


@pytest.fixture
def bob(e: Engine) -> Client:
    return Client(e, BOB)


def messages(e: Engine) -> dict[tuple[str, str | None], list[Any]]:
    out: dict[tuple[str, str | None], list[Any]] = {}
    for m in e.drain_messages():
        out.setdefault((m.channel, m.key), []).append(m.data)
    return out


# ------------------------------------------------------------------------------------------- matching
def test_gtc_rests_then_a_crossing_order_fills_at_the_makers_price(e: Engine, alice: Client, bob: Client) -> None:
    rest = alice.status(ETH, False, "3000", "1", cloid=CLOID)
    oid = rest["resting"]["oid"]
    assert rest == {"resting": {"oid": oid, "cloid": CLOID}}
    taken = bob.status(ETH, True, "3100", "0.4", "Ioc")
    assert taken["filled"]["totalSz"] == "0.4" and taken["filled"]["avgPx"] == "3000.0"
    (maker_fill,) = alice.info("userFills")
    (taker_fill,) = bob.info("userFills")
    assert maker_fill["tid"] == taker_fill["tid"]
    assert maker_fill == {
        "closedPnl": "0.0", "coin": "ETH", "crossed": False, "dir": "Open Short", "hash": maker_fill["hash"],
        "oid": oid, "px": "3000.0", "side": "A", "startPosition": "0.0", "sz": "0.4", "time": T0,
        "fee": "0.18", "feeToken": "USDC", "tid": maker_fill["tid"], "cloid": CLOID, "twapId": None,
    }
    assert taker_fill["crossed"] is True and taker_fill["dir"] == "Open Long" and taker_fill["fee"] == "0.54"
    (open_order,) = alice.info("openOrders", dex="")
    assert open_order == {"coin": "ETH", "side": "A", "limitPx": "3000.0", "sz": "0.6", "oid": oid,
                          "timestamp": T0, "origSz": "1.0", "cloid": CLOID}


def test_price_time_priority(e: Engine, alice: Client, bob: Client) -> None:
    carol = Client(e, CAROL)
    first = alice.status(SOL, True, "100", "1")["resting"]["oid"]
    second = carol.status(SOL, True, "100", "1")["resting"]["oid"]
    better = carol.status(SOL, True, "100.5", "1")["resting"]["oid"]
    bob.status(SOL, False, "99", "2.5", "Ioc")
    fills = {f["oid"]: f["sz"] for f in alice.info("userFills") + carol.info("userFills")}
    assert fills == {better: "1.0", first: "1.0", second: "0.5"}


def test_ioc_with_nothing_to_match_is_refused_and_recorded(e: Engine, alice: Client) -> None:
    status = alice.status(ETH, True, "3000", "1", "Ioc", cloid=CLOID)
    assert status == {"error": "Order could not immediately match against any resting orders. asset=1"}
    answer = alice.info("orderStatus", oid=CLOID)
    assert answer["status"] == "order" and answer["order"]["status"] == "iocCancelRejected"


def test_alo_that_would_cross_names_the_bbo(e: Engine, alice: Client, bob: Client) -> None:
    bob.status(ETH, False, "3001.5", "1")
    bob.status(ETH, True, "2999", "1")
    assert alice.status(ETH, True, "3002", "1", "Alo") == {
        "error": "Post only order would have immediately matched, bbo was 2999@3001.5. asset=1"}
    assert "resting" in alice.status(ETH, True, "3001", "1", "Alo")


@pytest.mark.parametrize(("asset", "px", "sz", "error"), [
    (ETH, "3000", "0.001", "Order must have minimum value of $10. asset=1"),
    (PURR, "0.2", "10", "Order must have minimum value of 10 USDC. asset=10000"),
    (BTC, "97000.5", "0.001", "Price must be divisible by tick size. asset=0"),
    (ETH, "3000.12", "1", "Price must be divisible by tick size. asset=1"),
    (SOL, "123.456", "1", "Price must be divisible by tick size. asset=2"),
    (ETH, "3000", "0.00001", "Order has invalid size. asset=1"),
    (PURR, "0.2", "100.5", "Order has invalid size. asset=10000"),
    (ETH, "0", "1", "Order has invalid price. asset=1"),
    (ETH, "3000", "0", "Order has zero size. asset=1"),
    (7, "3000", "1", "Order has invalid asset. asset=7"),
    (ETH, "3000", "1000", "Insufficient margin to place order. asset=1"),
    (HFUN, "5", "100000", "Order has insufficient spot balance to trade. asset=10001"),
])
def test_per_order_errors(alice: Client, asset: int, px: str, sz: str, error: str) -> None:
    assert alice.status(asset, True, px, sz) == {"error": error}


def test_hip3_and_spot_assets_trade(e: Engine, alice: Client, bob: Client) -> None:
    alice.status(XYZ, False, "25", "10")
    assert bob.status(XYZ, True, "25", "10", "Ioc")["filled"]["totalSz"] == "10.0"
    state = bob.info("clearinghouseState", dex="xyz")
    assert [p["position"]["coin"] for p in state["assetPositions"]] == ["xyz:TEST"]
    assert bob.info("clearinghouseState", dex="")["assetPositions"] == []
    alice.status(HFUN, False, "5", "10")
    bob.status(HFUN, True, "5", "10", "Ioc")
    (fill,) = [f for f in bob.info("userFills") if f["coin"] == "@1"]
    assert fill["dir"] == "Buy" and fill["feeToken"] == "HFUN" and fill["fee"] == "0.007"
    balances = {b["coin"]: b["total"] for b in bob.info("spotClearinghouseState")["balances"]}
    assert balances["HFUN"] == "2009.993" and balances["USDC"] == "99950.0"


def test_resting_perp_orders_hold_their_margin_need(e: Engine, alice: Client, bob: Client) -> None:
    """What a resting order holds is its margin need at the moment it rests: after a partial fill, for the
    remainder at the new position; after only self-trade cancels, the need checked before matching."""
    acct = e.accounts.get(ALICE) or e.create_account(ALICE)
    alice.status(ETH, True, "2000", "1")
    lev = e.leverage(acct, ETH)[1]
    assert acct.margin_hold == Decimal(2000) / lev
    bob.status(ETH, False, "2100", "2")
    assert alice.status(ETH, True, "2100", "3")["resting"]  # takes bob's 2, rests 1 (long 2 now)
    assert acct.margin_hold == (Decimal(2000) + Decimal(2100)) / lev
    assert alice.status(ETH, False, "2050", "1")["resting"]  # cancels her own 2100 bid, rests: reduces, no need
    assert [(o.limit_px, o.hold) for o in acct.open_orders.values()] == [(2000, Decimal(2000) / lev), (2050, 0)]
    assert acct.margin_hold == Decimal(2000) / lev


def test_spot_hold_is_reserved_and_released(alice: Client) -> None:
    oid = alice.status(PURR, True, "0.1", "1000")["resting"]["oid"]
    usdc = alice.info("spotClearinghouseState")["balances"][0]
    assert usdc == {"coin": "USDC", "token": 0, "hold": "100.0", "total": "100000.0", "entryNtl": "0.0"}
    alice.act({"type": "cancel", "cancels": [{"a": PURR, "o": oid}]})
    assert alice.info("spotClearinghouseState")["balances"][0]["hold"] == "0.0"


def test_self_trade_cancels_the_resting_order(alice: Client) -> None:
    oid = alice.status(ETH, False, "3000", "1")["resting"]["oid"]
    assert alice.status(ETH, True, "3000", "1", "Ioc") == {
        "error": "Order could not immediately match against any resting orders. asset=1"}
    assert alice.info("orderStatus", oid=oid)["order"]["status"] == "selfTradeCanceled"


# --------------------------------------------------------------------------------------- reduce-only
def test_reduce_only_without_a_position_is_refused(alice: Client) -> None:
    assert alice.status(ETH, False, "3000", "1", reduce_only=True) == {
        "error": "Reduce only order would increase position. asset=1"}


def test_reduce_only_fills_at_most_the_position(e: Engine, alice: Client, bob: Client) -> None:
    bob.status(ETH, False, "3000", "5")
    alice.status(ETH, True, "3000", "1", "Ioc")
    bob.status(ETH, True, "2990", "5")
    filled = alice.status(ETH, False, "2900", "3", "Ioc", reduce_only=True)
    assert filled["filled"]["totalSz"] == "1.0"
    assert alice.info("clearinghouseState")["assetPositions"] == []
    assert alice.status(ETH, True, "2990", "1", reduce_only=True)["error"].startswith("Reduce only order")


def test_resting_reduce_only_is_canceled_when_the_position_is_gone(e: Engine, alice: Client, bob: Client) -> None:
    bob.status(ETH, False, "3000", "1")
    alice.status(ETH, True, "3000", "1", "Ioc")
    ro = alice.status(ETH, False, "3100", "1", reduce_only=True)["resting"]["oid"]
    bob.status(ETH, True, "2990", "1")
    alice.status(ETH, False, "2990", "1", "Ioc")  # closes the position with a plain order
    bob.status(ETH, True, "3100", "1", "Ioc")  # reaches the reduce-only order, which can no longer reduce
    assert alice.info("orderStatus", oid=ro)["order"]["status"] == "reduceOnlyCanceled"


# ---------------------------------------------------------------------------------- cancel and modify
def test_cancel_and_cancel_by_cloid(e: Engine, alice: Client) -> None:
    oid = alice.status(ETH, True, "3000", "1")["resting"]["oid"]
    alice.status(ETH, True, "2900", "1", cloid=CLOID)
    answer = alice.act({"type": "cancel", "cancels": [{"a": ETH, "o": oid}, {"a": ETH, "o": oid}]})
    assert answer == {"status": "ok", "response": {"type": "cancel", "data": {"statuses": [
        "success", {"error": "Order was never placed, already canceled, or filled. asset=1"}]}}}
    answer = alice.act({"type": "cancelByCloid", "cancels": [{"asset": ETH, "cloid": CLOID}]})
    assert answer["response"]["data"]["statuses"] == ["success"]
    assert alice.info("openOrders") == []
    other = alice.act({"type": "cancelByCloid", "cancels": [{"asset": ETH, "cloid": "0x" + "f" * 32}]})
    assert other["response"]["data"]["statuses"] == [
        {"error": "Order was never placed, already canceled, or filled. asset=1"}]


def test_batch_modify_assigns_a_new_oid_and_keeps_the_cloid(e: Engine, alice: Client) -> None:
    old = alice.status(ETH, True, "3000", "1", cloid=CLOID)["resting"]["oid"]
    answer = alice.act({"type": "batchModify", "modifies": [
        {"oid": CLOID, "order": wire(ETH, True, "3001", "2", cloid=CLOID)}]})
    (status,) = answer["response"]["data"]["statuses"]
    new = status["resting"]["oid"]
    assert new != old and status["resting"]["cloid"] == CLOID
    assert alice.info("orderStatus", oid=old)["order"]["status"] == "canceled"
    by_cloid = alice.info("orderStatus", oid=CLOID)["order"]
    assert by_cloid["status"] == "open" and by_cloid["order"]["oid"] == new
    assert by_cloid["order"]["limitPx"] == "3001.0" and by_cloid["order"]["origSz"] == "2.0"
    again = alice.act({"type": "batchModify", "modifies": [{"oid": old, "order": wire(ETH, True, "3002", "1")}]})
    assert again["response"]["data"]["statuses"] == [{"error": "Cannot modify canceled or filled order. asset=1"}]
    single = alice.act({"type": "modify", "oid": new, "order": wire(ETH, True, "3003", "1")})
    assert single == {"status": "ok", "response": {"type": "default"}}


def test_order_status_unknown_and_malformed(alice: Client) -> None:
    assert alice.info("orderStatus", oid=12345) == {"status": "unknownOid"}
    assert alice.info("orderStatus", oid="0x" + "0" * 32) == {"status": "unknownOid"}
    with pytest.raises(InfoRequestError):
        alice.info("orderStatus", oid="nope")


def test_an_order_is_not_visible_to_another_user(alice: Client, bob: Client) -> None:
    oid = alice.status(ETH, True, "3000", "1", cloid=CLOID)["resting"]["oid"]
    assert bob.info("orderStatus", oid=oid) == {"status": "unknownOid"}
    assert bob.act({"type": "cancel", "cancels": [{"a": ETH, "o": oid}]})["response"]["data"]["statuses"][0] == {
        "error": "Order was never placed, already canceled, or filled. asset=1"}


# ------------------------------------------------------------------------------------- scheduleCancel
def test_schedule_cancel_fires_at_its_time(e: Engine, alice: Client) -> None:
    oid = alice.status(ETH, True, "3000", "1")["resting"]["oid"]
    assert alice.act({"type": "scheduleCancel", "time": T0 + 4_999}) == {
        "status": "err", "response": "Scheduled cancel time too early, must be at least 5 seconds in the future."}
    assert alice.act({"type": "scheduleCancel", "time": T0 + 10_000})["status"] == "ok"
    e.tick(T0 + 9_999)
    assert alice.info("openOrders") != []
    messages(e)
    e.tick(T0 + 10_000)
    assert alice.info("openOrders") == []
    assert alice.info("orderStatus", oid=oid)["order"]["status"] == "scheduledCancel"
    (update,) = messages(e)[("orderUpdates", ALICE)][0]
    assert update["status"] == "scheduledCancel" and update["statusTimestamp"] == T0 + 10_000


def test_schedule_cancel_fires_before_a_later_action_even_between_ticks(e: Engine, alice: Client) -> None:
    old = alice.status(ETH, True, "3000", "1")["resting"]["oid"]
    assert alice.act({"type": "scheduleCancel", "time": T0 + 10_000})["status"] == "ok"
    # No tick between the deadline and this order (a slow clock task): the deadline still fires first, and
    # only for the order that was open at the deadline.
    new = alice.status(ETH, True, "2999", "1", now=T0 + 12_000)["resting"]["oid"]
    assert alice.info("orderStatus", oid=old)["order"]["status"] == "scheduledCancel"
    assert [o["oid"] for o in alice.info("openOrders")] == [new]
    e.tick(T0 + 13_000)
    assert [o["oid"] for o in alice.info("openOrders")] == [new]


def test_schedule_cancel_can_be_unset_and_is_limited_per_day(e: Engine, alice: Client) -> None:
    alice.status(ETH, True, "3000", "1")
    alice.act({"type": "scheduleCancel", "time": T0 + 10_000})
    assert alice.act({"type": "scheduleCancel"}) == {"status": "ok", "response": {"type": "default"}}
    e.tick(T0 + 20_000)
    assert len(alice.info("openOrders")) == 1
    now = T0 + 20_000
    for _ in range(10):
        assert alice.act({"type": "scheduleCancel", "time": now + 5_000}, now)["status"] == "ok"
        now += 5_000
        e.tick(now)
    limited = alice.act({"type": "scheduleCancel", "time": now + 5_000}, now)
    assert limited == {"status": "err", "response": "Too many scheduled cancel triggers today (max 10)."}


# ------------------------------------------------------------------------------------------ triggers
def test_stop_market_fires_on_the_mark_and_fills(e: Engine, alice: Client, bob: Client) -> None:
    bob.status(ETH, False, "3400", "1")
    alice.status(ETH, True, "3400", "1", "Ioc")
    bob.status(ETH, True, "3000", "5")
    stop = {"isMarket": True, "triggerPx": "3100", "tpsl": "sl"}
    answer = alice.act(order_action([wire(ETH, False, "2900", "1", reduce_only=True, trigger=stop)]))
    oid = answer["response"]["data"]["statuses"][0]["resting"]["oid"]
    (front,) = alice.info("frontendOpenOrders")
    assert front["isTrigger"] and front["orderType"] == "Stop Market"
    assert front["triggerCondition"] == "Price below 3100" and front["tif"] is None
    e.set_mark("ETH", "3150")
    e.tick(T0 + 50)
    assert alice.info("orderStatus", oid=oid)["order"]["status"] == "open"
    messages(e)
    e.set_mark("ETH", "3099")
    e.tick(T0 + 100)
    statuses = [u["status"] for u in messages(e)[("orderUpdates", ALICE)][0]]
    assert statuses == ["triggered", "filled"]
    assert alice.info("clearinghouseState")["assetPositions"] == []
    assert alice.info("userFills")[0]["px"] == "3000.0"


def test_take_profit_limit_rests_after_triggering(e: Engine, alice: Client) -> None:
    tp = {"isMarket": False, "triggerPx": "3500", "tpsl": "tp"}
    oid = alice.act(order_action([wire(ETH, False, "3600", "1", trigger=tp)]))[
        "response"]["data"]["statuses"][0]["resting"]["oid"]
    e.set_mark("ETH", "3500")
    e.tick(T0 + 50)
    (order,) = alice.info("openOrders")
    assert order["oid"] == oid and alice.info("orderStatus", oid=oid)["order"]["status"] == "open"


def test_grouped_tpsl_children_must_be_reduce_only(alice: Client) -> None:
    stop = {"isMarket": True, "triggerPx": "3100", "tpsl": "sl"}
    answer = alice.act(order_action([wire(ETH, True, "3000", "1"), wire(ETH, False, "2900", "1", trigger=stop)],
                                    "normalTpsl"))
    assert answer == {"status": "err", "response": "TP/SL orders must be reduce only."}


# ----------------------------------------------------------------------------------- account actions
def test_update_leverage_and_isolated_margin(e: Engine, alice: Client, bob: Client) -> None:
    ok = {"status": "ok", "response": {"type": "default"}}
    assert alice.act({"type": "updateLeverage", "asset": ETH, "isCross": False, "leverage": 5}) == ok
    assert alice.act({"type": "updateLeverage", "asset": ETH, "isCross": True, "leverage": 26})["status"] == "err"
    bob.status(ETH, False, "3000", "1")
    alice.status(ETH, True, "3000", "1", "Ioc")
    (pos,) = alice.info("clearinghouseState")["assetPositions"]
    assert pos["position"]["leverage"] == {"type": "isolated", "value": 5, "rawUsd": "-2400.0"}
    assert pos["position"]["marginUsed"] == "600.0"
    assert alice.act({"type": "updateIsolatedMargin", "asset": ETH, "isBuy": True, "ntli": 1_500_000}) == ok
    (pos,) = alice.info("clearinghouseState")["assetPositions"]
    assert pos["position"]["marginUsed"] == "601.5"
    switch = alice.act({"type": "updateLeverage", "asset": ETH, "isCross": True, "leverage": 5})
    assert switch["status"] == "err"


def test_unknown_and_unfunded_accounts() -> None:
    e = engine(auto_fund=False)
    ghost = Client(e, "0x" + "9" * 40)
    assert e.acting_user(ghost.user, None) is None
    assert ghost.act({"type": "noop"}) == {"status": "err",
                                           "response": f"User or API Wallet {ghost.user} does not exist."}
    e.create_account(ghost.user)
    assert ghost.act({"type": "noop"}) == {
        "status": "err", "response": f"Must deposit before performing actions. User: {ghost.user}"}
    e.deposit(ghost.user, 1000)
    assert ghost.act({"type": "noop"})["status"] == "ok"
    assert ghost.info("clearinghouseState")["withdrawable"] == "1000.0"


def test_approved_agent_acts_for_its_master(e: Engine, alice: Client) -> None:
    agent = "0x" + "7" * 40
    alice.act({"type": "approveAgent", "agentAddress": agent, "agentName": "", "nonce": alice.nonce + 1})
    assert e.acting_user(agent, None) == ALICE
    Client(e, agent).status(ETH, True, "3000", "1")
    assert len(alice.info("openOrders")) == 1
    assert agent not in e.accounts


def test_usd_class_transfer(alice: Client) -> None:
    assert alice.act({"type": "usdClassTransfer", "amount": "1.5", "toPerp": False, "nonce": 1})["status"] == "ok"
    assert alice.info("clearinghouseState")["withdrawable"] == "99998.5"
    assert alice.info("spotClearinghouseState")["balances"][0]["total"] == "100001.5"
    too_much = alice.act({"type": "usdClassTransfer", "amount": "1000000", "toPerp": True, "nonce": 2})
    assert too_much == {"status": "err", "response": "Insufficient balance for token transfer."}


def test_malformed_actions_are_deserialize_errors(alice: Client) -> None:
    assert alice.act({"type": "order", "orders": [{"a": 1}], "grouping": "na"})["response"].startswith(
        "Failed to deserialize the JSON body")
    assert alice.act({"type": "launchRocket"})["status"] == "err"


# ---------------------------------------------------------------------------------------- fees, funding
def test_maker_rebate_is_a_negative_fee() -> None:
    e = engine(maker_fee="-0.0001")
    Client(e, ALICE).status(ETH, False, "3000", "1")
    Client(e, BOB).status(ETH, True, "3000", "1", "Ioc")
    assert Client(e, ALICE).info("userFills")[0]["fee"] == "-0.3"


def test_hourly_funding_moves_cash_and_is_reported(e: Engine, alice: Client, bob: Client) -> None:
    bob.status(ETH, False, "3400", "1")
    alice.status(ETH, True, "3400", "1", "Ioc")
    messages(e)
    hour = (T0 // 3_600_000 + 1) * 3_600_000
    e.tick(hour)
    (event,) = alice.e.info({"type": "userFunding", "user": ALICE, "startTime": 0}, hour)
    assert event["delta"]["usdc"] == "-0.0425" and event["delta"]["szi"] == "1.0" and event["time"] == hour
    got = messages(e)
    assert got[("user", BOB)][0]["funding"]["usdc"] == "0.0425"
    assert got[("userFundings", ALICE)][0]["fundings"][0]["fundingRate"] == "0.0000125"
    history = e.info({"type": "fundingHistory", "coin": "ETH", "startTime": 0}, hour)
    assert history[-1] == {"coin": "ETH", "fundingRate": "0.0000125", "premium": "0.0", "time": hour}


# ------------------------------------------------------------------------------------------- streams
def test_action_messages_are_keyed_by_user_and_coin(e: Engine, alice: Client, bob: Client) -> None:
    alice.status(ETH, False, "3000", "1", cloid=CLOID)
    first = messages(e)
    (update,) = first[("orderUpdates", ALICE)][0]
    assert update["status"] == "open" and update["order"]["cloid"] == CLOID
    bob.status(ETH, True, "3000", "1", "Ioc")
    got = messages(e)
    assert got[("userFills", BOB)][0]["isSnapshot"] is False and got[("userFills", BOB)][0]["user"] == BOB
    assert got[("user", ALICE)][0]["fills"][0]["oid"] == update["order"]["oid"]
    (trade,) = got[("trades", "ETH")][0]
    assert trade["side"] == "B" and trade["users"] == [BOB, ALICE]
    assert ("l2Book", "ETH") not in got  # market data waits for the tick (one push per block)
    e.tick(T0 + 50)
    got = messages(e)
    assert got[("l2Book", "ETH")][0]["coin"] == "ETH"
    assert ("candle", "ETH:1m") in got and ("allMids", None) in got and ("activeAssetCtx", "ETH") in got


def test_order_updates_are_built_only_for_routes_somebody_receives(e: Engine, alice: Client, bob: Client) -> None:
    """``stream_routes`` (the WS layer's routing table) filters ``orderUpdates`` only; None builds them all."""
    e.stream_routes = {("orderUpdates", BOB): None}
    alice.status(ETH, False, "3000", "1")
    bob.status(ETH, False, "3001", "1")
    got = messages(e)
    assert ("orderUpdates", ALICE) not in got
    assert [u["status"] for u in got[("orderUpdates", BOB)][0]] == ["open"]
    e.stream_routes = {}
    taken = Client(e, CAROL).status(ETH, True, "3000", "1", "Ioc")
    got = messages(e)
    assert taken["filled"]["totalSz"] == "1.0" and not [k for k in got if k[0] == "orderUpdates"]
    assert got[("userFills", ALICE)] and got[("trades", "ETH")]  # fills and trades are not filtered
    e.stream_routes = None
    bob.status(ETH, False, "3002", "1")
    assert messages(e)[("orderUpdates", BOB)][0][0]["status"] == "open"


def test_transaction_hash_is_derived_from_seed_txn_and_signer_nonce(alice: Client, bob: Client) -> None:
    """The hash fills, trades and ledger entries carry (computed lazily) is ``sha256("seed:txn:signer:nonce")``:
    both sides of a trade share it, and the same calls give the same hashes."""
    hashes = []
    for _ in range(2):
        e = engine()
        a, b = Client(e, ALICE), Client(e, BOB)
        a.status(ETH, False, "3000", "1")
        b.status(ETH, True, "3000", "1", "Ioc")
        (maker,), (taker,) = a.info("userFills"), b.info("userFills")
        text = f"{e.seed}:{e._txn}:{BOB}:{b.nonce}"
        assert maker["hash"] == taker["hash"] == "0x" + hashlib.sha256(text.encode()).hexdigest()
        assert e.recent_trades["ETH"][-1]["hash"] == taker["hash"]
        hashes.append(taker["hash"])
    assert hashes[0] == hashes[1]


@given(value=st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12, places=12)
       | st.decimals(allow_nan=False, allow_infinity=False, min_value=-1000, max_value=1000))
def test_num_memo_answers_exactly_what_formatting_does(value: Decimal) -> None:
    """``num`` is memoised by value: equal decimals in other forms (``1.10``, ``1.1``, ``11E-1``) and the
    half-even rounding past 8 decimals give the same text from the memo as from a fresh computation."""
    _stream._NUM_MEMO.clear()
    fresh = num(value)
    for form in (value, value.normalize(), value + Decimal("0E-12")):
        assert num(form) == fresh
    expected = value.quantize(Decimal("1E-8")) if value.as_tuple().exponent < -8 else value  # type: ignore[operator]
    assert Decimal(fresh) == expected


@given(value=st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**9, places=9),
       sz_decimals=st.integers(0, 6), is_spot=st.booleans())
def test_tick_and_lot_check_memo_answers_what_the_checks_do(value: Decimal, sz_decimals: int, is_spot: bool) -> None:
    """The engine memoises ``is_valid_size`` / ``is_valid_price`` by value: equal decimals in another form
    (``1.50`` vs ``1.5``) get the same verdict, and a size verdict never answers a price question."""
    engine_module._CHECK_MEMO.clear()
    for form in (value, value.normalize(), value + Decimal("0E-10")):
        assert engine_module._valid_size(form, sz_decimals) == is_valid_size(value, sz_decimals)
        assert engine_module._valid_price(form, sz_decimals, is_spot) == is_valid_price(value, sz_decimals, is_spot)
        assert engine_module._valid_price(form, sz_decimals, not is_spot) == is_valid_price(value, sz_decimals,
                                                                                             not is_spot)


def test_tick_and_lot_check_memo_is_bounded(monkeypatch: pytest.MonkeyPatch, alice: Client) -> None:
    monkeypatch.setattr(engine_module, "_CHECK_MEMO_SIZE", 3)
    engine_module._CHECK_MEMO.clear()
    for _ in range(2):
        assert "resting" in alice.status(ETH, True, "2000", "0.01")
        assert alice.status(ETH, True, "2000.55", "0.01") == {"error": "Price must be divisible by tick size. asset=1"}
        assert alice.status(ETH, True, "2000", "0.00001") == {"error": "Order has invalid size. asset=1"}
        assert len(engine_module._CHECK_MEMO) <= 3


def test_num_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_stream, "_NUM_MEMO_SIZE", 4)
    _stream._NUM_MEMO.clear()
    assert [num(Decimal(i) / 4) for i in range(10)] == ["0.0", "0.25", "0.5", "0.75", "1.0", "1.25", "1.5", "1.75",
                                                          "2.0", "2.25"]
    assert len(_stream._NUM_MEMO) <= 4
    assert num(Decimal("0.123456785")) == num(Decimal("0.1234567850")) == "0.12345678"


def test_subscription_snapshots(e: Engine, alice: Client, bob: Client) -> None:
    alice.status(ETH, False, "3000", "1")
    bob.status(ETH, True, "3000", "1", "Ioc")
    (frame,) = e.subscription_snapshot({"type": "userFills", "user": BOB.upper()}, T0)
    assert frame[0] == "userFills" and frame[1]["isSnapshot"] is True and len(frame[1]["fills"]) == 1
    assert e.subscription_snapshot({"type": "l2Book", "coin": "ETH"}, T0)[0][0] == "l2Book"
    assert e.subscription_snapshot({"type": "orderUpdates", "user": BOB}, T0) == []


def test_user_fills_by_time_pages_oldest_first(e: Engine, alice: Client, bob: Client) -> None:
    alice.status(SOL, False, "100", "2500")
    for i in range(2100):
        bob.status(SOL, True, "100", "1", "Ioc", now=T0 + i)
    page = e.info({"type": "userFillsByTime", "user": BOB, "startTime": T0 + 50, "endTime": None}, T0 + 10**6)
    assert len(page) == 2000 and page[0]["time"] == T0 + 50 and page[-1]["time"] == T0 + 2049
    recent = bob.info("userFills")
    assert len(recent) == 2000 and recent[0]["time"] == T0 + 2099


# ----------------------------------------------------------------------------------------- read side
def test_meta_spot_meta_and_unknown_info() -> None:
    e = engine()
    universe = e.info({"type": "meta", "dex": ""}, T0)["universe"]
    assert [u["name"] for u in universe] == ["BTC", "ETH", "SOL"]
    assert [u["name"] for u in e.info({"type": "meta", "dex": "xyz"}, T0)["universe"]] == ["xyz:TEST"]
    spot = e.info({"type": "spotMeta"}, T0)
    assert [p["name"] for p in spot["universe"]] == ["PURR/USDC", "@1"]
    meta, ctxs = e.info({"type": "metaAndAssetCtxs"}, T0)
    assert len(ctxs) == len(meta["universe"]) and set(ctxs[0]) >= {"markPx", "oraclePx", "funding", "openInterest"}
    assert e.info({"type": "perpDexs"}, T0)[0] is None
    for bad in ({"type": "nope"}, {"type": "l2Book", "coin": "DOGE"}, {"type": "meta", "dex": "zzz"},
                {"type": "clearinghouseState"}, {"type": "l2Book", "coin": "ETH", "nSigFigs": 9}):
        with pytest.raises(InfoRequestError):
            e.info(bad, T0)


def test_l2_aggregation_by_significant_figures() -> None:
    e = engine()
    seller = Client(e, ALICE)
    for px in ("3001.1", "3001.9", "3012.5"):
        seller.status(ETH, False, px, "1")
    levels = e.info({"type": "l2Book", "coin": "ETH", "nSigFigs": 4}, T0)["levels"][1]
    assert levels == [{"px": "3002.0", "sz": "2.0", "n": 2}, {"px": "3013.0", "sz": "1.0", "n": 1}]
    bids_asks = e.info({"type": "l2Book", "coin": "ETH", "nSigFigs": 5, "mantissa": 5}, T0)["levels"][1]
    assert bids_asks[0]["px"] == "3001.5"


def test_simulated_market_is_deterministic_and_trades() -> None:
    def run(seed: int) -> tuple[Any, Any]:
        e = Engine(seed=seed, now_ms=T0)
        for i in range(1, 400):
            e.tick(T0 + 50 * i)
        return e.info({"type": "allMids"}, T0), e.info({"type": "l2Book", "coin": "BTC"}, T0)["levels"]

    assert run(3) == run(3)
    assert run(3) != run(4)
    e = Engine(seed=1, now_ms=T0)
    bid = e.info({"type": "l2Book", "coin": "SOL"}, T0)["levels"][0][0]["px"]
    alice = Client(e, ALICE)
    inside = str(Decimal(bid) + Decimal("0.01"))
    alice.status(SOL, True, inside, "1")
    for i in range(1, 1200):  # one minute: the market's takers reach the best bid
        e.tick(T0 + 50 * i)
        if alice.info("userFills"):
            break
    assert alice.info("userFills"), "a passive order at the top of the book was never filled"


def test_ground_truth_lists_every_order_and_fill(e: Engine, alice: Client, bob: Client) -> None:
    alice.status(ETH, False, "3000", "1", cloid=CLOID)
    alice.status(ETH, True, "3000", "0.001")  # refused before an oid: not an order
    alice.status(ETH, True, "2000", "1", "Ioc")  # refused with an oid (iocCancelRejected)
    bob.status(ETH, True, "3000", "1", "Ioc")
    truth = e.ground_truth(ALICE.upper())
    assert [o["status"] for o in truth["orders"]] == ["filled", "minTradeNtlRejected", "iocCancelRejected"]
    assert truth["orders"][0]["cloid"] == CLOID and truth["orders"][0]["filledSz"] == "1.0"
    assert len(truth["fills"]) == 1 and truth["positions"] == {"ETH": "-1.0"} and truth["openOids"] == []


# ---------------------------------------------------------------------------------------- properties
_ORDERS = st.lists(
    st.tuples(
        st.sampled_from([ALICE, BOB, CAROL]),
        st.sampled_from([ETH, SOL, HFUN]),
        st.booleans(),
        st.integers(-20, 20),  # price offset in ticks from the reference
        st.integers(1, 40),  # size in lots of 0.01 (x0.1 for ETH)
        st.sampled_from(["Gtc", "Ioc", "Alo"]),
        st.booleans(),  # reduce-only
    ),
    min_size=1,
    max_size=40,
)
_REF = {ETH: (Decimal(3000), Decimal("0.5"), Decimal("0.1")), SOL: (Decimal(150), Decimal("0.05"), Decimal("0.1")),
        HFUN: (Decimal(5), Decimal("0.01"), Decimal("1"))}


@settings(max_examples=60, deadline=None)
@given(orders=_ORDERS, with_market=st.booleans())
def test_books_never_cross_and_size_and_cash_are_conserved(orders: list[Any], with_market: bool) -> None:
    e = Engine(seed=11, now_ms=T0, with_market=with_market)
    clients = {u: Client(e, u) for u in (ALICE, BOB, CAROL)}
    for c in clients.values():
        c.act({"type": "noop"})
    start_usdc = {u: a.usdc for u, a in e.accounts.items()}
    start_spot = {u: dict(a.spot) for u, a in e.accounts.items()}
    now = T0
    for user, asset, is_buy, offset, lots, tif, reduce_only in orders:
        ref, tick, lot = _REF[asset]
        px = ref + tick * offset
        clients[user].order(asset, is_buy, str(px), str(lot * lots), tif, reduce_only=reduce_only, now=now)
        now += 25
        e.tick(now)
        for book in e.books.values():
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is None or ask is None or bid < ask
    for asset in e.specs:
        if not e.specs[asset].is_spot:
            assert sum((a.positions[asset].szi for a in e.accounts.values() if asset in a.positions),
                       Decimal(0)) == 0
    spot_fees: dict[str, Decimal] = {}
    perp_fees = Decimal(0)
    n_fills = 0
    for user, acct in e.accounts.items():
        if acct.unlimited:
            continue  # the market's own accounts keep no fill records
        perp = [f for f in acct.fills if f["coin"] in ("ETH", "SOL")]
        expected = sum((Decimal(f["closedPnl"]) - Decimal(f["fee"]) for f in perp), Decimal(0))
        assert acct.usdc - start_usdc.get(user, Decimal(0)) == expected, user
        perp_fees += sum((Decimal(f["fee"]) for f in perp), Decimal(0))
        n_fills += len(perp)
        for f in acct.fills:
            if f["coin"] == "@1":
                spot_fees[f["feeToken"]] = spot_fees.get(f["feeToken"], Decimal(0)) + Decimal(f["fee"])
    if with_market:
        return
    # Without the market's accounts every fill is between users: spot tokens only change hands (net: minus
    # the fees), and the venue's total perp value at one mark falls by exactly the fees (up to the 6-decimal
    # rounding of each closed PnL).
    for token, name in ((2, "HFUN"), (0, "USDC")):
        delta = sum((a.spot.get(token, Decimal(0)) - start_spot.get(u, {}).get(token, Decimal(0))
                     for u, a in e.accounts.items()), Decimal(0))
        assert delta == -spot_fees.get(name, Decimal(0))
    value = sum((e.account_value(a) for a in e.accounts.values()), Decimal(0))
    start_value = sum(start_usdc.values(), Decimal(0))
    assert abs(value - start_value + perp_fees) <= Decimal("0.000001") * n_fills
