"""Emulator differences found by driving ccxt's Hyperliquid client against it (``tests/sdk_compat/
test_ccxt_compat.py`` runs the client itself in ``nox -s sdk_compat``): ``withdraw3`` (ccxt's ``withdraw``),
builder-fee approval, the TWAP minimum value, and ledger/funding history asked for without ``startTime``
(ccxt's ``fetch_ledger`` / ``fetch_funding_history`` without ``since``).  On the bare engine, so each rule is
checked without a network or ccxt."""

from __future__ import annotations

from typing import Any

import pytest

from trio_hl.emulator.engine import Engine

T0 = 1_700_000_000_000
ALICE = "0x" + "a" * 40
DEST = "0x" + "d" * 40
ETH = 1


@pytest.fixture
def e() -> Engine:
    return Engine(seed=7, now_ms=T0, with_market=False)


def act(e: Engine, action: dict[str, Any], nonce: int, now: int = T0) -> dict[str, Any]:
    return e.action(signer=ALICE, action=action, nonce=nonce, vault_address=None, now_ms=now)


def withdraw(amount: str, nonce: int, destination: str = DEST) -> dict[str, Any]:
    return {"type": "withdraw3", "hyperliquidChain": "Testnet", "signatureChainId": "0x66eee",
            "destination": destination, "amount": amount, "time": nonce}


def info(e: Engine, kind: str, now: int = T0, **fields: Any) -> Any:
    return e.info({"type": kind, "user": ALICE, **fields}, now)


def withdrawable(e: Engine) -> str:
    return info(e, "clearinghouseState")["withdrawable"]  # type: ignore[no-any-return]


def test_withdraw_debits_the_amount_and_records_the_fee(e: Engine) -> None:
    assert act(e, withdraw("10.5", T0 + 1), T0 + 1) == {"status": "ok", "response": {"type": "default"}}
    assert withdrawable(e) == "99989.5"
    entries = info(e, "userNonFundingLedgerUpdates", startTime=0)
    assert [x["delta"]["type"] for x in entries] == ["deposit", "withdraw"]
    assert entries[1]["delta"] == {"type": "withdraw", "usdc": "10.5", "nonce": T0 + 1, "fee": "1.0"}


def test_withdraw_refusals(e: Engine) -> None:
    act(e, {"type": "noop"}, T0 + 1)  # funded on first action
    assert act(e, withdraw("200000", T0 + 2), T0 + 2) == {
        "status": "err", "response": "Insufficient balance for withdrawal."}
    for bad in ("0", "-5", "1", "0.0000001", "1e40"):
        assert act(e, withdraw(bad, T0 + 3), T0 + 3)["response"] == "Invalid withdrawal amount.", bad
    answer = act(e, withdraw("5", T0 + 4, destination="nowhere"), T0 + 4)
    assert answer["status"] == "err" and "Failed to deserialize" in answer["response"]
    assert withdrawable(e) == "100000.0"  # nothing left the account


def test_margin_held_by_a_position_cannot_be_withdrawn(e: Engine) -> None:
    seller = {"a": ETH, "b": False, "p": "3000", "s": "30", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    e.action(signer="0x" + "b" * 40, action={"type": "order", "orders": [seller], "grouping": "na"},
             nonce=T0 + 1, vault_address=None, now_ms=T0)
    buy = {**seller, "b": True, "t": {"limit": {"tif": "Ioc"}}}
    assert act(e, {"type": "order", "orders": [buy], "grouping": "na"}, T0 + 2)["status"] == "ok"
    free = float(withdrawable(e))
    value = float(info(e, "clearinghouseState")["marginSummary"]["accountValue"])
    assert free < value - 30 * 3000 / 20 + 1  # the position's margin (20x max leverage) is held back
    assert act(e, withdraw(f"{int(free) + 1}", T0 + 3), T0 + 3)["response"] == "Insufficient balance for withdrawal."
    assert act(e, withdraw(f"{int(free) - 1}", T0 + 4), T0 + 4)["status"] == "ok"


def test_ledger_without_start_time_is_the_latest_page_newest_first(e: Engine) -> None:
    for i in range(3):
        act(e, {"type": "usdClassTransfer", "amount": f"{i + 1}", "toPerp": False}, T0 + 1 + i, T0 + 10 * i)
    latest = info(e, "userNonFundingLedgerUpdates", now=T0 + 100)
    assert [x["delta"].get("usdc") for x in latest] == ["3.0", "2.0", "1.0", "100000.0"]
    until = info(e, "userNonFundingLedgerUpdates", now=T0 + 100, endTime=T0 + 10)
    assert [x["delta"].get("usdc") for x in until] == ["2.0", "1.0", "100000.0"]
    assert [x["delta"].get("usdc") for x in info(e, "userNonFundingLedgerUpdates", now=T0 + 100,
                                                                    startTime=T0 + 5)] == ["2.0", "3.0"]
    assert info(e, "userFunding") == []
    assert info(e, "userNonFundingLedgerUpdates", user="0x" + "c" * 40) == []


# ------------------------------------------------------------------------------------------ builder codes
BUILDER = "0x" + "b" * 40


def builder_order(fee: int, builder: str = BUILDER) -> dict[str, Any]:
    return {"type": "order", "grouping": "na", "builder": {"b": builder, "f": fee}, "orders": [
        {"a": ETH, "b": True, "p": "3000", "s": "0.01", "r": False, "t": {"limit": {"tif": "Gtc"}}}]}


def approve_builder(rate: str, nonce: int, builder: str = BUILDER) -> dict[str, Any]:
    return {"type": "approveBuilderFee", "hyperliquidChain": "Testnet", "signatureChainId": "0x66eee",
            "maxFeeRate": rate, "builder": builder, "nonce": nonce}


def test_an_order_naming_an_unapproved_builder_is_refused_even_at_fee_zero(e: Engine) -> None:
    refused = {"status": "err", "response": "Builder fee has not been approved."}
    assert act(e, builder_order(0), T0 + 1) == refused
    assert e.info({"type": "maxBuilderFee", "user": ALICE, "builder": BUILDER}, T0) == 0
    assert info(e, "openOrders") == []


def test_approval_needs_a_funded_builder_and_bounds_the_fee(e: Engine) -> None:
    assert act(e, approve_builder("0.01%", T0 + 1), T0 + 1) == {
        "status": "err", "response": "Builder has insufficient balance to be approved."}
    e.deposit(BUILDER, 100)
    for bad in ("2%", "-0.01%", "0.01", "abc%"):
        answer = act(e, approve_builder(bad, T0 + 2), T0 + 2)
        assert answer["status"] == "err", bad
    assert act(e, approve_builder("0.01%", T0 + 3), T0 + 3)["status"] == "ok"
    assert e.info({"type": "maxBuilderFee", "user": ALICE, "builder": BUILDER.upper().replace("0X", "0x")}, T0) == 10
    assert act(e, builder_order(11), T0 + 4)["response"] == "Builder fee has not been approved."
    (status,) = act(e, builder_order(10), T0 + 5)["response"]["data"]["statuses"]
    assert "resting" in status
    assert act(e, approve_builder("0%", T0 + 6), T0 + 6)["status"] == "ok"  # a later approval replaces it
    assert act(e, builder_order(10), T0 + 7)["response"] == "Builder fee has not been approved."
    assert act(e, builder_order(0), T0 + 8)["status"] == "ok"


def test_a_twap_below_ten_dollars_per_minute_is_refused(e: Engine) -> None:
    def twap(sz: str, minutes: int, reduce_only: bool = False) -> Any:
        answer = act(e, {"type": "twapOrder", "twap": {"a": ETH, "b": True, "s": sz, "r": reduce_only, "m": minutes,
                                                         "t": False}}, T0 + minutes)
        return answer["response"]["data"]["status"]

    # ETH's mark is 3400: 0.5 ETH = $1 700 covers 170 minutes, not 171
    assert twap("0.5", 171) == {"error": "TWAP order value too small. Min is $1710, which is $10 per minute."}
    assert "running" in twap("0.5", 170)
    assert "running" in twap("0.001", 30, reduce_only=True)  # reduce-only is spared, as per-order minimums are
