"""The typed ``/info`` and WebSocket parsers (info_market, info_account, ledger, staking, ws_channels) and the
typed ``InfoClient`` methods: values, the errors that name the offending field, the tagged unions' unknown
variants, and the request bodies (the official SDK's, PROTOCOL §5)."""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from typing import Any

import httpx
import pytest
from venue_fixtures import samples

from trio_hl.core.book import BookLevel
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import info_account as acc
from trio_hl.hyperliquid import info_market as mkt
from trio_hl.hyperliquid import ledger, parsers, staking
from trio_hl.hyperliquid.messages import parse_open_orders
from trio_hl.hyperliquid.rest import InfoClient
from trio_hl.hyperliquid.ws_channels import WS_PARSERS, parse_ws_data

D = Decimal
USER = "0x" + "ab" * 20


def recorded(name: str, source: str) -> Any:
    (s,) = [x for x in samples("info", name, source=source)][:1]
    return copy.deepcopy(s.response)


# -- values ---------------------------------------------------------------------------------------------


def test_candles_snapshot_and_ws() -> None:
    (c, *_) = mkt.parse_candle_snapshot(recorded("candleSnapshot", "hl_python_sdk"))
    assert c.close_ms > c.open_ms and c.interval and c.trades >= 0
    ws = mkt.parse_candle({"t": 1764806400000, "T": 1764892799999, "s": "HYPE", "i": "1d", "o": "34.668",
                           "c": "34.868", "h": "36.219", "l": "34.251", "v": "3495670.8399999999", "n": 102895})
    assert (ws.coin, ws.open, ws.high, ws.volume, ws.trades) == ("HYPE", D("34.668"), D("36.219"),
                                                                  D("3495670.8399999999"), 102895)


def test_bbo_with_an_empty_side() -> None:
    b = mkt.parse_bbo({"coin": "HYPE", "time": 5, "bbo": [{"px": "23.757", "sz": "42.09", "n": 1}, None]})
    assert b.bid == BookLevel(D("23.757"), D("42.09"), 1) and b.ask is None


def test_meta_and_asset_ctxs_keep_delisted_and_null_fields() -> None:
    (s,) = samples("info", "metaAndAssetCtxs")
    parsed = mkt.parse_meta_and_asset_ctxs(s.response)
    matic = parsed.meta.universe[3]
    assert matic.name == "MATIC" and matic.is_delisted and parsed.ctxs[3].mid_px is None
    assert parsed.ctxs[0].impact_pxs == (D("113079.0"), D("113080.0"))
    assert parsed.meta.margin_tables[-1].tiers[1].lower_bound == D("150000000.0")


def test_user_funding_n_samples_number_or_null() -> None:
    (sdk, *_) = acc.parse_user_funding(recorded("userFunding", "hl_python_sdk"))
    (net,) = acc.parse_user_funding(recorded("userFunding", "jkorf"))
    assert sdk.n_samples == 3 and sdk.coin == "APE" and sdk.usdc == D("0.145796")
    assert net.n_samples is None and net.usdc == D("-0.044263")


def test_portfolio_periods() -> None:
    p = acc.parse_portfolio(recorded("portfolio", "hl_python_sdk"))
    assert list(p) == ["day", "perpDay"]
    assert p["day"].account_value_history[0] == (1755772320063, D("160794563.9261809886"))
    assert p["day"].volume == D("55823015.6599999964")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"role": "vault"}, acc.UserRole("vault")),
        ({"role": "agent", "data": {"user": "0x1"}}, acc.UserRole("agent", user="0x1")),
        ({"role": "subAccount", "data": {"master": "0x2"}}, acc.UserRole("subAccount", master="0x2")),
        ({"role": "somethingNew"}, acc.UserRole("somethingNew")),
    ],
)
def test_user_role(raw: dict[str, Any], expected: acc.UserRole) -> None:
    assert acc.parse_user_role(raw) == expected


def test_null_answers() -> None:
    assert acc.parse_sub_accounts(None) == []
    assert acc.parse_user_to_multi_sig_signers(None) is None
    assert acc.parse_user_to_multi_sig_signers({"authorizedUsers": ["0x1", "0x2"], "threshold": 2}) == \
        acc.MultiSigSigners(("0x1", "0x2"), 2)
    assert acc.parse_user_dex_abstraction(None) is None and acc.parse_user_dex_abstraction(True) is True
    with pytest.raises(ProtocolError, match="userDexAbstraction: expected a boolean or null, got str"):
        acc.parse_user_dex_abstraction("yes")


def test_frontend_open_orders_keep_tpsl_children() -> None:
    parsed = parse_open_orders(recorded("frontendOpenOrders", "hl_python_sdk"))
    assert len(parsed) == 3
    parent = parsed[2]
    assert [c.exchange_order_id for c in parent.children] == ["3184595906", "3184595907"]
    assert [c.order_type for c in parent.children] == ["Stop Market", "Take Profit Market"]
    assert all(c.reduce_only and c.trigger_price is not None for c in parent.children)
    # The venue lists the children at the top level as well: one order, two places.
    assert {c.exchange_order_id for c in parent.children} <= {o.exchange_order_id for o in parsed}


def test_children_nesting_is_bounded() -> None:
    order = {"coin": "BTC", "side": "B", "limitPx": "1", "sz": "1", "oid": 1, "timestamp": 1, "children": []}
    deep = dict(order)
    for _ in range(6):
        deep = dict(order, children=[deep])
    with pytest.raises(ProtocolError, match=r"children: nested deeper than 4 levels"):
        parse_open_orders([deep])


# -- the ledger's tagged union -------------------------------------------------------------------------------

A, B, V = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40
LEDGER_DELTAS: list[tuple[dict[str, Any], Any]] = [
    ({"type": "deposit", "usdc": "5"}, ledger.Deposit(D(5))),
    ({"type": "withdraw", "usdc": "9.0", "nonce": 1725369497528000, "fee": "1.0"},
     ledger.Withdraw(D("9.0"), D("1.0"), 1725369497528000)),
    ({"type": "accountClassTransfer", "usdc": "4.0", "toPerp": True}, ledger.AccountClassTransfer(D(4), True)),
    ({"type": "subAccountTransfer", "usdc": "1", "user": A, "destination": B}, ledger.SubAccountTransfer(D(1), A, B)),
    ({"type": "internalTransfer", "usdc": "1", "user": A, "destination": B, "fee": "1"},
     ledger.InternalTransfer(D(1), A, B, D(1))),
    ({"type": "spotTransfer", "token": "USDC", "amount": "10.5", "usdcValue": "10.5", "user": A, "destination": B,
      "fee": "1.0", "nativeTokenFee": "0.0", "nonce": None, "feeToken": ""},
     ledger.SpotTransfer("USDC", D("10.5"), A, B, D(1), D("10.5"), D(0), None, "")),
    ({"type": "send", "user": A, "destination": B, "sourceDex": "", "destinationDex": "spot", "token": "USDC",
      "amount": "2", "usdcValue": "2", "fee": "0", "nativeTokenFee": "0", "nonce": 7, "feeToken": "USDC"},
     ledger.Send("USDC", D(2), A, B, "", "spot", D(2), D(0), D(0), 7, "USDC")),
    ({"type": "liquidation", "liquidatedNtlPos": "100", "accountValue": "-1.5", "leverageType": "Cross",
      "liquidatedPositions": [{"coin": "ETH", "szi": "-0.5"}]},
     ledger.LiquidationDelta(D(100), D("-1.5"), "Cross", (("ETH", D("-0.5")),))),
    ({"type": "vaultCreate", "vault": V, "usdc": "100", "fee": "100"}, ledger.VaultCreate(V, D(100), D(100))),
    ({"type": "vaultDeposit", "vault": V, "usdc": "3"}, ledger.VaultDeposit(V, D(3))),
    ({"type": "vaultDistribution", "vault": V, "usdc": "3"}, ledger.VaultDistribution(V, D(3))),
    ({"type": "vaultWithdraw", "vault": V, "user": A, "requestedUsd": "10", "commission": "1", "closingCost": "0",
      "basis": "8", "netWithdrawnUsd": "9"}, ledger.VaultWithdraw(V, A, D(10), D(1), D(0), D(8), D(9))),
    ({"type": "vaultLeaderCommission", "user": A, "usdc": "1"}, ledger.VaultLeaderCommission(A, D(1))),
    ({"type": "rewardsClaim", "amount": "2", "token": "USDC"}, ledger.RewardsClaim(D(2), "USDC")),
    ({"type": "spotGenesis", "token": "X", "amount": "-1"}, ledger.SpotGenesis("X", D(-1))),
    ({"type": "cStakingTransfer", "token": "HYPE", "amount": "1", "isDeposit": False},
     ledger.CStakingTransfer("HYPE", D(1), False)),
    ({"type": "deployGasAuction", "token": "HYPE", "amount": "500"}, ledger.DeployGasAuction("HYPE", D(500))),
    ({"type": "borrowLend", "token": "USDC", "operation": "supply", "amount": "5", "interestAmount": "0"},
     ledger.BorrowLend("USDC", "supply", D(5), D(0))),
    ({"type": "activateDexAbstraction", "dex": "xyz", "token": "USDC", "amount": "1"},
     ledger.ActivateDexAbstraction("xyz", "USDC", D(1))),
]


@pytest.mark.parametrize(("delta", "expected"), LEDGER_DELTAS, ids=[d["type"] for d, _ in LEDGER_DELTAS])
def test_every_known_ledger_kind(delta: dict[str, Any], expected: Any) -> None:
    (u,) = ledger.parse_user_non_funding_ledger_updates([{"time": 7, "hash": "0x0", "delta": delta}])
    assert u.delta == expected and u.kind == delta["type"] and u.time_ms == 7


def test_every_modelled_kind_is_tested() -> None:
    assert {d["type"] for d, _ in LEDGER_DELTAS} == set(ledger.KINDS)


def test_unknown_ledger_kind_is_kept_raw() -> None:
    raw = {"type": "somethingNew", "amount": "1", "weird": [1, 2]}
    (u,) = ledger.parse_user_non_funding_ledger_updates([{"time": 7, "hash": "0x0", "delta": raw}])
    assert u.delta == ledger.UnknownLedgerDelta("somethingNew", raw) and u.kind == "somethingNew"


def test_ws_ledger_frame() -> None:
    snapshot, updates = ledger.parse_ws_user_non_funding_ledger_updates(
        {"isSnapshot": True, "user": A, "nonFundingLedgerUpdates": [{"time": 1, "hash": "0x", "delta":
                                                                     {"type": "deposit", "usdc": "1"}}]})
    assert snapshot and [u.delta for u in updates] == [ledger.Deposit(D(1))]


def test_delegator_history_union() -> None:
    events = staking.parse_delegator_history(recorded("delegatorHistory", "hl_python_sdk"))
    assert [type(e.delta).__name__ for e in events] == ["Delegate", "StakingDeposit", "Delegate", "StakingDeposit"]
    assert events[0].delta == staking.Delegate("0xb8f45222a3246a2b0104696a1df26842007c5bc5", D("89968.0"), False)
    (w, u) = staking.parse_delegator_history([
        {"time": 1, "hash": "0x", "delta": {"withdrawal": {"amount": "2", "phase": "initiated"}}},
        {"time": 2, "hash": "0x", "delta": {"newKind": {"x": 1}}},
    ])
    assert w.delta == staking.StakingWithdrawal(D(2), "initiated")
    assert u.delta == staking.UnknownDelegatorDelta("newKind", {"newKind": {"x": 1}})


# -- malformed input names the field --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "raw", "message"),
    [
        (mkt.parse_candle_snapshot, [{"t": 1, "T": 2, "s": "BTC", "i": "1m", "o": "1", "c": "1", "h": "1", "l": "1",
                                      "v": "1e3", "n": 1}], r"candleSnapshot\[0\]\.v: not a decimal string"),
        (mkt.parse_candle_snapshot, {"not": "a list"}, r"candleSnapshot: expected an array, got dict"),
        (mkt.parse_funding_history, [{"coin": "BTC", "fundingRate": "0.1", "premium": 1.5, "time": 1}],
         r"fundingHistory\[0\]\.premium: expected a decimal string, got float"),
        (mkt.parse_bbo, {"coin": "X", "time": 1, "bbo": [None]}, r"bbo\.bbo: expected \[bid, ask\], got 1"),
        (mkt.parse_bbo, {"coin": "X", "time": 1, "bbo": [{"px": "0", "sz": "1", "n": 1}, None]},
         r"bbo\.bbo\[0\]: expected px > 0"),
        (mkt.parse_meta_and_asset_ctxs, [{"universe": [], "marginTables": []}, [{}]],
         r"metaAndAssetCtxs\[1\]\[0\]: missing 'funding'"),
        (mkt.parse_all_dexs_asset_ctxs, {"ctxs": [["", [{"funding": "x"}]]]},
         r"allDexsAssetCtxs\.ctxs\[0\]\[1\]\[0\]\.funding: not a decimal string"),
        (acc.parse_user_funding, [{"time": 1, "hash": "0x", "delta": {
            "type": "funding", "coin": "A", "usdc": "1", "szi": "1", "fundingRate": "1", "nSamples": "3"}}],
         r"userFunding\[0\]\.delta\.nSamples: expected an integer or null, got str"),
        (acc.parse_clearinghouse_state, {"assetPositions": [{"type": "oneWay", "position": {"coin": "A"}}]},
         r"clearinghouseState\.assetPositions\[0\]\.position: missing 'szi'"),
        (acc.parse_portfolio, [["day", {"accountValueHistory": [[1, "1", 3]], "pnlHistory": [], "vlm": "0"}]],
         r"portfolio\[0\]\[1\]\.accountValueHistory\[0\]: expected a \[key, value\] pair, got 3 elements"),
        (acc.parse_extra_agents, [{"name": "a", "address": "0x", "validUntil": -1}],
         r"extraAgents\[0\]\.validUntil: expected a unix ms timestamp"),
        (acc.parse_user_role, {"role": "agent"}, r"userRole\.data: expected an object, got null"),
        (ledger.parse_user_non_funding_ledger_updates, [{"time": 1, "hash": "0x", "delta": {"type": "deposit"}}],
         r"userNonFundingLedgerUpdates\[0\]\.delta: missing 'usdc'"),
        (ledger.parse_user_non_funding_ledger_updates, [{"time": 1, "hash": "0x", "delta": {"usdc": "1"}}],
         r"userNonFundingLedgerUpdates\[0\]\.delta: missing 'type'"),
        (staking.parse_delegator_history, [{"time": 1, "hash": "0x", "delta": {"a": {}, "b": {}}}],
         r"delegatorHistory\[0\]\.delta: expected one kind key"),
    ],
)
def test_malformed_answers_name_the_field(parse: Any, raw: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse(raw)


# -- WebSocket -----------------------------------------------------------------------------------------------


def test_ws_channel_parsers() -> None:
    ctxs = parse_ws_data("allDexsAssetCtxs", {"ctxs": [["", [
        {"funding": "0.0000125", "openInterest": "1", "prevDayPx": "1", "dayNtlVlm": "1", "premium": None,
         "oraclePx": "1", "markPx": "1", "midPx": None, "impactPxs": None, "dayBaseVlm": "1"}]], ["xyz", []]]})
    assert [(d.dex, len(d.ctxs)) for d in ctxs] == [("", 1), ("xyz", 0)]
    assert ctxs[0].ctxs[0].funding == D("0.0000125") and ctxs[0].ctxs[0].premium is None
    fundings = parse_ws_data("userFundings", {"isSnapshot": True, "user": "0xAB", "fundings": [
        {"time": 1000, "coin": "ETH", "usdc": "-1", "szi": "2", "fundingRate": "0.0001"}]}, {"ETH": "ETH-USD"})
    assert fundings.user == "0xab" and fundings.fundings[0].pair == "ETH-USD" and fundings.fundings[0].timestamp == 1
    spot = parse_ws_data("activeSpotAssetCtx", {"coin": "@1", "ctx": {
        "prevDayPx": "1", "dayNtlVlm": "1", "markPx": "1", "midPx": "1", "circulatingSupply": "5", "coin": "@1"}})
    assert isinstance(spot.ctx, mkt.SpotAssetCtx) and spot.ctx.circulating_supply == 5
    with pytest.raises(KeyError):
        parse_ws_data("pong", None)
    assert {"bbo", "candle", "allDexsAssetCtxs"} <= set(WS_PARSERS)


def test_parsers_module_reexports_every_parser() -> None:
    for name in ("parse_candle_snapshot", "parse_funding_history", "parse_user_funding",
                 "parse_user_non_funding_ledger_updates", "parse_portfolio", "parse_user_role", "parse_extra_agents",
                 "parse_user_vault_equities", "parse_delegator_history", "parse_spot_meta_and_asset_ctxs",
                 "parse_bbo", "parse_candle", "parse_all_dexs_asset_ctxs", "parse_fills", "parse_l2_book"):
        assert callable(getattr(parsers, name)), name
    assert len(parsers.__all__) == len(set(parsers.__all__))


# -- InfoClient ------------------------------------------------------------------------------------------------


class Venue:
    """A MockTransport that answers with a scripted JSON and records the request bodies."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.bodies: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, content=json.dumps(self.answer).encode())


def client(venue: Venue) -> InfoClient:
    return InfoClient("http://venue.test", transport=httpx.MockTransport(venue), rng=random.Random(0))


@pytest.mark.parametrize(
    ("call", "body", "answer", "check"),
    [
        (lambda c: c.candle_snapshot("BTC", "1h", 1, 2),
         {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1h", "startTime": 1, "endTime": 2}},
         recorded("candleSnapshot", "hl_python_sdk"), lambda v: len(v) == 5 and isinstance(v[0], mkt.Candle)),
        (lambda c: c.funding_history("BTC", 5), {"type": "fundingHistory", "coin": "BTC", "startTime": 5},
         [], lambda v: v == []),
        (lambda c: c.funding_history("BTC", 5, 9),
         {"type": "fundingHistory", "coin": "BTC", "startTime": 5, "endTime": 9}, [], lambda v: v == []),
        (lambda c: c.user_funding(USER, 5), {"type": "userFunding", "user": USER, "startTime": 5},
         recorded("userFunding", "jkorf"), lambda v: v[0].n_samples is None),
        (lambda c: c.user_non_funding_ledger_updates(USER, 5),
         {"type": "userNonFundingLedgerUpdates", "user": USER, "startTime": 5, "endTime": None},
         recorded("userNonFundingLedgerUpdates", "ccxt"), lambda v: [u.kind for u in v] == [
             "withdraw", "accountClassTransfer", "deposit"]),
        (lambda c: c.portfolio(USER), {"type": "portfolio", "user": USER}, recorded("portfolio", "hl_python_sdk"),
         lambda v: set(v) == {"day", "perpDay"}),
        (lambda c: c.user_role(USER), {"type": "userRole", "user": USER}, {"role": "user"},
         lambda v: v == acc.UserRole("user")),
        (lambda c: c.extra_agents(USER), {"type": "extraAgents", "user": USER},
         recorded("extraAgents", "hl_python_sdk"), lambda v: [a.name for a in v] == ["ok", "new"]),
        (lambda c: c.user_vault_equities(USER), {"type": "userVaultEquities", "user": USER},
         recorded("userVaultEquities", "hl_python_sdk"), lambda v: v[1].equity == D("100.003834")),
        (lambda c: c.delegator_history(USER), {"type": "delegatorHistory", "user": USER},
         recorded("delegatorHistory", "hl_python_sdk"), lambda v: len(v) == 4),
        (lambda c: c.sub_accounts(USER), {"type": "subAccounts", "user": USER}, None, lambda v: v == []),
        (lambda c: c.spot_meta_and_asset_ctxs(), {"type": "spotMetaAndAssetCtxs"},
         recorded("spotMetaAndAssetCtxs", "hl_python_sdk"), lambda v: v.ctxs[0].coin == "PURR/USDC"),
        (lambda c: c.user_fees(USER), {"type": "userFees", "user": USER}, recorded("userFees", "ccxt"),
         lambda v: v.user_add_rate == D("0.0001")),
        (lambda c: c.delegator_summary(USER), {"type": "delegatorSummary", "user": USER},
         {"delegated": "1", "undelegated": "0", "totalPendingWithdrawal": "0", "nPendingWithdrawals": 0},
         lambda v: v.delegated == 1),
        (lambda c: c.perp_deploy_auction_status(), {"type": "perpDeployAuctionStatus"},
         {"startTimeSeconds": 1, "durationSeconds": 111600, "startGas": "500.0", "currentGas": None, "endGas": None},
         lambda v: v.current_gas is None and v.start_gas == 500),
        (lambda c: c.user_abstraction(USER), {"type": "userAbstraction", "user": USER}, "default",
         lambda v: v == "default"),
    ],
)
async def test_typed_info_methods_send_the_sdk_body(call: Any, body: dict[str, Any], answer: Any, check: Any) -> None:
    venue = Venue(answer)
    async with client(venue) as c:
        value = await call(c)
    assert venue.bodies == [body]
    assert check(value)


async def test_typed_info_methods_refuse_bad_arguments() -> None:
    venue = Venue([])
    async with client(venue) as c:
        with pytest.raises(ValueError, match="interval"):
            await c.candle_snapshot("BTC", "7m", 1, 2)
        with pytest.raises(ValueError, match="start_ms"):
            await c.user_funding(USER, 10, 5)
    assert venue.bodies == []


def test_user_fees_keeps_the_volume_and_maker_tiers() -> None:
    """The recorded userFees answer's fee tiers (what a user's rate becomes at more volume or maker share) and
    the staking discount are read, not dropped."""
    fees = acc.parse_user_fees(recorded("userFees", "ccxt"))
    (vip,) = fees.fee_schedule.vip_tiers
    assert (vip.ntl_cutoff, vip.cross, vip.add) == (D("5000000.0"), D("0.0003"), D("0.00005"))
    assert (vip.spot_cross, vip.spot_add) == (None, None)
    (mm,) = fees.fee_schedule.mm_tiers
    assert (mm.maker_fraction_cutoff, mm.add) == (D("0.005"), D("-0.00001"))
    raw = recorded("userFees", "ccxt")
    raw["feeSchedule"]["stakingDiscountTiers"] = [{"bpsOfMaxSupply": "0.0001", "discount": "0.05"}]
    raw["activeStakingDiscount"] = {"bpsOfMaxSupply": "0.0", "discount": "0.0"}
    raw["feeSchedule"]["tiers"]["vip"][0].update(spotCross="0.0004", spotAdd="0.0001")
    fees = acc.parse_user_fees(raw)
    assert [(t.bps_of_max_supply, t.discount) for t in fees.fee_schedule.staking_discount_tiers] == [
        (D("0.0001"), D("0.05"))]
    assert fees.active_staking_discount == acc.StakingDiscountTier(D(0), D(0))
    assert fees.fee_schedule.vip_tiers[0].spot_cross == D("0.0004")
    raw["feeSchedule"]["tiers"]["mm"][0]["add"] = 0.1  # a float is no venue number
    with pytest.raises(ProtocolError, match=r"userFees\.feeSchedule\.tiers\.mm\[0\]\.add"):
        acc.parse_user_fees(raw)
