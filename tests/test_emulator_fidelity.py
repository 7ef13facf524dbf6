"""The emulator differences the venue recordings exposed (issue 16), one test each, on the bare engine: TP/SL
groups (statuses, nesting, arming, OCO), liquidation prices checked against the venue's own figures, the ledger
deposit of a funded account, ``nSamples``, the venue's ``totalRawUsd``, and the ``/info`` types the SDK sends
that the emulator used to refuse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from trio_hl.emulator._info import _liquidation_px
from trio_hl.emulator.engine import Engine

T0 = 1_700_000_000_000
ALICE, BOB = "0x" + "a" * 40, "0x" + "b" * 40
ETH = 1


class Client:
    def __init__(self, e: Engine, user: str) -> None:
        self.e, self.user, self.nonce = e, user, T0

    def act(self, action: dict[str, Any], now: int = T0) -> dict[str, Any]:
        self.nonce += 1
        return self.e.action(signer=self.user, action=action, nonce=self.nonce, vault_address=None, now_ms=now)

    def order(self, orders: list[dict[str, Any]], grouping: str = "na") -> list[Any]:
        answer = self.act({"type": "order", "orders": orders, "grouping": grouping})
        assert answer["status"] == "ok", answer
        return answer["response"]["data"]["statuses"]  # type: ignore[no-any-return]

    def info(self, kind: str, **fields: Any) -> Any:
        return self.e.info({"type": kind, "user": self.user, **fields}, T0)


def limit(is_buy: bool, px: str, sz: str, tif: str = "Gtc") -> dict[str, Any]:
    return {"a": ETH, "b": is_buy, "p": px, "s": sz, "r": False, "t": {"limit": {"tif": tif}}}


def trigger(is_buy: bool, px: str, sz: str, tpsl: str) -> dict[str, Any]:
    return {"a": ETH, "b": is_buy, "p": px, "s": sz, "r": True,
            "t": {"trigger": {"isMarket": True, "triggerPx": px, "tpsl": tpsl}}}


@pytest.fixture
def e() -> Engine:
    return Engine(seed=7, now_ms=T0, with_market=False)


@pytest.fixture
def alice(e: Engine) -> Client:
    return Client(e, ALICE)


@pytest.fixture
def bob(e: Engine) -> Client:
    return Client(e, BOB)


def group(alice: Client, parent: dict[str, Any]) -> list[Any]:
    return alice.order([parent, trigger(False, "3600", "1", "tp"), trigger(False, "2800", "1", "sl")], "normalTpsl")


# ------------------------------------------------------------------------------------------- TP/SL groups
def test_children_of_a_resting_parent_wait_for_its_fill_and_nest_under_it(e: Engine, alice: Client) -> None:
    statuses = group(alice, limit(True, "3000", "1"))
    parent = statuses[0]["resting"]["oid"]
    assert statuses[1:] == ["waitingForFill", "waitingForFill"]
    front = alice.info("frontendOpenOrders")
    (top,) = [o for o in front if o["oid"] == parent]
    assert [c["orderType"] for c in top["children"]] == ["Take Profit Market", "Stop Market"]
    assert {c["oid"] for c in top["children"]} <= {o["oid"] for o in front}  # also listed on their own
    assert len(alice.info("openOrders")) == 3
    e.set_mark("ETH", "2700")  # through the stop: nothing may fire while the parent has not filled
    e.tick(T0 + 100)
    assert len(alice.info("openOrders")) == 3


def test_a_filled_parent_arms_its_children_and_the_first_to_trigger_cancels_the_other(
        e: Engine, alice: Client, bob: Client) -> None:
    bob.order([limit(False, "3000", "1")])
    statuses = group(alice, limit(True, "3000", "1", "Ioc"))
    assert "filled" in statuses[0] and statuses[1:] == ["waitingForTrigger", "waitingForTrigger"]
    tp, sl = (o["oid"] for o in sorted(alice.info("openOrders"), key=lambda o: o["oid"]))
    assert all(o["children"] == [] for o in alice.info("frontendOpenOrders"))
    bob.order([limit(True, "3650", "1")])  # liquidity for the take-profit's market sell
    e.set_mark("ETH", "3650")
    e.tick(T0 + 100)
    assert alice.info("orderStatus", oid=tp)["order"]["status"] == "filled"
    assert alice.info("orderStatus", oid=sl)["order"]["status"] == "siblingFilledCanceled"
    assert alice.info("openOrders") == []


def test_children_arm_when_the_resting_parent_fills_later(e: Engine, alice: Client, bob: Client) -> None:
    statuses = group(alice, limit(True, "3000", "1"))
    parent = statuses[0]["resting"]["oid"]
    bob.order([limit(False, "3000", "1", "Ioc")])
    assert alice.info("orderStatus", oid=parent)["order"]["status"] == "filled"
    bob.order([limit(True, "2800", "1")])
    e.set_mark("ETH", "2790")
    e.tick(T0 + 100)
    assert [f["dir"] for f in alice.info("userFills")] == ["Close Long", "Open Long"]


def test_canceling_an_unfilled_parent_cancels_its_children(alice: Client) -> None:
    parent = group(alice, limit(True, "3000", "1"))[0]["resting"]["oid"]
    assert alice.act({"type": "cancel", "cancels": [{"a": ETH, "o": parent}]})["response"]["data"][
        "statuses"] == ["success"]
    assert alice.info("openOrders") == []
    assert {h["status"] for h in alice.info("historicalOrders")} == {"canceled"}


def test_a_refused_parent_places_no_children(alice: Client) -> None:
    statuses = group(alice, limit(True, "3000", "0.001"))  # $3 of notional: under the $10 minimum
    assert statuses == [{"error": "Order must have minimum value of $10. asset=1"}] * 3
    assert alice.info("openOrders") == []


# ----------------------------------------------------------------------------------------- liquidation
@pytest.mark.parametrize(("szi", "entry", "collateral", "max_leverage", "venue"), [
    # HyperLiquid.Net, 2025: HYPE isolated long, rawUsd -68.126246 -> margin = rawUsd + szi * entry
    ("2.0", "37.829", str(Decimal("-68.126246") + 2 * Decimal("37.829")), 10, "35.8559189474"),
    # ccxt, 2025: HYPE isolated short, rawUsd 211.144417
    ("-4.0", "47.9932", str(Decimal("211.144417") - 4 * Decimal("47.9932")), 10, "50.2724802381"),
    # ccxt, 2024: SOL cross short; collateral = cross account value - its uPnL - the ETH position's maintenance
    ("-0.5", "138.76", str(Decimal("11524.216934") - Decimal("0.4") - Decimal("38.192")), 50, "22881.19788911"),
])
def test_liquidation_price_matches_the_venues_recorded_figures(szi: str, entry: str, collateral: str,
                                                                max_leverage: int, venue: str) -> None:
    px = _liquidation_px(Decimal(szi), Decimal(entry), Decimal(collateral), Decimal(1) / (2 * max_leverage))
    assert px is not None and abs(px - Decimal(venue)) < Decimal("0.000001")


def test_a_well_collateralised_cross_long_has_no_liquidation_price() -> None:
    # the same ccxt answer's ETH long: 1.6 @ 1100 with ~9464 of collateral cannot be liquidated above 0
    assert _liquidation_px(Decimal("1.6"), Decimal("1100"), Decimal("9464.327134"), Decimal("0.01")) is None


def test_clearinghouse_state_reports_liquidation_prices_and_the_venues_raw_usd(
        e: Engine, alice: Client, bob: Client) -> None:
    assert alice.act({"type": "updateLeverage", "asset": ETH, "isCross": False, "leverage": 5})["status"] == "ok"
    bob.order([limit(False, "3000", "2")])
    alice.order([limit(True, "3000", "2", "Ioc")])
    state = alice.info("clearinghouseState")
    (pos,) = [p["position"] for p in state["assetPositions"]]
    margin = Decimal(pos["leverage"]["rawUsd"]) + 2 * Decimal(3000)
    expected = _liquidation_px(Decimal(2), Decimal(3000), margin, Decimal(1) / (2 * 25))
    assert expected is not None and Decimal(pos["liquidationPx"]) == expected.quantize(Decimal("0.00000001"))
    assert Decimal("2400") < Decimal(pos["liquidationPx"]) < Decimal("3000")  # 5x long: ~18% below entry
    summary = state["marginSummary"]
    signed_notional = 2 * e.mark(ETH)
    assert Decimal(summary["totalRawUsd"]) == Decimal(summary["accountValue"]) - signed_notional


# ------------------------------------------------------------------------------- ledger, funding, info
def test_an_auto_funded_account_has_its_deposit_in_the_ledger(e: Engine, alice: Client) -> None:
    alice.order([limit(True, "1000", "1")])
    (entry,) = alice.info("userNonFundingLedgerUpdates", startTime=0)
    assert entry["delta"] == {"type": "deposit", "usdc": "100000.0"} and entry["time"] == T0
    e.deposit(ALICE, 250)
    assert [x["delta"]["usdc"] for x in alice.info("userNonFundingLedgerUpdates", startTime=0)] == ["100000.0", "250.0"]


def test_user_funding_carries_a_number_of_samples(e: Engine, alice: Client, bob: Client) -> None:
    bob.order([limit(False, "3000", "1")])
    alice.order([limit(True, "3000", "1", "Ioc")])
    e.tick(T0 + 3_600_000)
    (funding,) = alice.info("userFunding", startTime=0, endTime=T0 + 3_600_000)
    assert funding["delta"]["nSamples"] == 1 and funding["delta"]["type"] == "funding"


def test_every_fill_says_whether_it_came_from_a_twap(e: Engine, alice: Client, bob: Client) -> None:
    bob.order([limit(False, "3000", "1")])
    alice.order([limit(True, "3000", "1", "Ioc")])
    assert [f["twapId"] for f in alice.info("userFills")] == [None]


def test_account_info_types_the_sdk_sends(e: Engine, alice: Client) -> None:
    assert alice.info("userRole") == {"role": "missing"}
    agent = "0x" + "c" * 40
    ok = alice.act({"type": "approveAgent", "agentAddress": agent, "agentName": "bot", "nonce": T0 + 5})
    assert ok["status"] == "ok"
    assert alice.info("userRole") == {"role": "user"}
    assert e.info({"type": "userRole", "user": agent}, T0) == {"role": "agent", "data": {"user": ALICE}}
    (extra,) = alice.info("extraAgents")
    assert extra["name"] == "bot" and extra["address"] == agent and extra["validUntil"] > T0
    periods = [p for p, _ in alice.info("portfolio")]
    assert periods == ["day", "week", "month", "allTime", "perpDay", "perpWeek", "perpMonth", "perpAllTime"]
    day, perp_day = alice.info("portfolio")[0][1], alice.info("portfolio")[4][1]
    assert perp_day["accountValueHistory"][0] == [T0, "100000.0"]  # the deposit (nothing traded since)
    assert day["accountValueHistory"][0][1] == day["accountValueHistory"][-1][1]  # perp USDC and spot tokens
    assert day["pnlHistory"][-1][1] == perp_day["pnlHistory"][-1][1] == "0.0"
    assert alice.info("subAccounts") is None and alice.info("userVaultEquities") == []
    assert alice.info("delegatorSummary")["nPendingWithdrawals"] == 0
    assert alice.info("userAbstraction") == "default"
    assert alice.info("referral")["referrerState"]["stage"] == "needToTrade"
    assert alice.info("userFees")["userCrossRate"] == "0.00045"
    assert set(e.info({"type": "perpDeployAuctionStatus"}, T0)) == {
        "startTimeSeconds", "durationSeconds", "startGas", "currentGas", "endGas"}


def test_sub_accounts_are_listed_with_their_states_in_the_venues_shape(e: Engine, alice: Client) -> None:
    from venue_fixtures import samples
    from venue_shape import compare_shape

    assert alice.info("subAccounts") is None  # the venue's answer for an account without any
    alice.info("clearinghouseState")  # names (funds) the master
    answer = alice.act({"type": "createSubAccount", "name": "Test"})
    assert answer["status"] == "ok", answer
    sub = e.accounts[ALICE].sub_accounts[0]
    moved = alice.act({"type": "subAccountTransfer", "subAccountUser": sub, "isDeposit": True, "usd": 29_780_010})
    assert moved["status"] == "ok", moved
    (entry,) = alice.info("subAccounts")
    assert (entry["name"], entry["subAccountUser"], entry["master"]) == ("Test", sub, ALICE)
    assert entry["clearinghouseState"]["marginSummary"]["accountValue"] == "29.78001"
    (recorded,) = samples("info", "subAccounts")
    mismatches = compare_shape(recorded.response, [entry], label="info/subAccounts")
    # The sub-account holds no spot token here (there is no spot transfer to a sub-account in the emulator); the
    # balances' own shape is checked against spotClearinghouseState's recordings.
    assert [m.path for m in mismatches] == ["$[0].spotState.balances"]
