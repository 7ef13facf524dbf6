"""*Parse* half of the venue-fidelity suite (issue 16): every recorded real venue answer and frame under
tests/fixtures/venue/ goes through the project's own parser; nothing may raise and nothing may be dropped -
the fills, levels, orders (TP/SL children included), ledger entries, candles, … counted in the recording
equal those counted in the parsed value.  WebSocket data frames must also route to the subscription that
asked for them (``ws._frame_route`` against ``subscription_route`` of the recorded subscribe request).

ccxt's recorder wrote JSON numbers as strings (``numbers_stringified``); such samples get their integer
fields (ids, ms stamps, counts) turned back into numbers first, by key, which is what the venue sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
from test_venue_shape import info_requests, run_scenario
from venue_fixtures import Sample, all_samples

from trio_hl.hyperliquid import info_account as acc
from trio_hl.hyperliquid import info_market as mkt
from trio_hl.hyperliquid import staking
from trio_hl.hyperliquid.fill_keys import FillDeduper
from trio_hl.hyperliquid.ledger import parse_user_non_funding_ledger_updates
from trio_hl.hyperliquid.messages import (
    OrderSnapshot,
    check_ok_response,
    parse_all_mids,
    parse_exchange_order_statuses,
    parse_fills,
    parse_historical_orders,
    parse_l2_book,
    parse_open_orders,
    parse_order_status_response,
    parse_twap_slice_fills,
)
from trio_hl.hyperliquid.ws import _frame_route, subscription_route
from trio_hl.hyperliquid.ws_channels import WS_PARSERS, parse_ws_data

#: Keys whose values the venue sends as JSON integers (ids, ms stamps, counts, decimals, leverage).
_INT_KEYS = frozenset({
    "time", "oid", "tid", "timestamp", "statusTimestamp", "n", "t", "T", "token", "value", "maxLeverage", "twapId",
    "nSamples", "validUntil", "lockedUntilTimestamp", "szDecimals", "weiDecimals", "index", "nRequestsUsed",
    "nRequestsCap", "nRequestsSurplus", "lid", "marginTableId", "collateralToken", "nonce", "tokens",
})


def destringify(x: Any, key: str | None = None) -> Any:
    if isinstance(x, dict):
        return {k: destringify(v, k) for k, v in x.items()}
    if isinstance(x, list):
        return [destringify(v, key) for v in x]
    if key in _INT_KEYS and isinstance(x, str) and x.isdigit():
        return int(x)
    return x


def answer(sample: Sample) -> Any:
    return destringify(sample.response) if sample.numbers_stringified else sample.response


def n_orders(raw: list[Any]) -> int:
    return sum(1 + n_orders(o.get("children") or []) for o in raw)


def n_snapshots(parsed: list[OrderSnapshot] | tuple[OrderSnapshot, ...]) -> int:
    return sum(1 + n_snapshots(o.children) for o in parsed)


def n_fills_kept(raw: list[Any]) -> int:
    d = FillDeduper()
    for x in raw:
        d.add(x)
    return len(d.fills)


def _len(x: Any) -> int:
    return 0 if x is None else len(x)


# (info type) -> (parse answer, count items in the raw answer, count items in the parsed value)
Counter = Callable[[Any], int]
INFO: dict[str, tuple[Callable[[Any], Any], Counter, Counter]] = {
    "allMids": (parse_all_mids, len, len),
    "candleSnapshot": (mkt.parse_candle_snapshot, len, len),
    "fundingHistory": (mkt.parse_funding_history, len, len),
    "meta": (mkt.parse_meta, lambda a: len(a["universe"]) + len(a.get("marginTables", [])),
             lambda p: len(p.universe) + len(p.margin_tables)),
    "metaAndAssetCtxs": (mkt.parse_meta_and_asset_ctxs, lambda a: len(a[0]["universe"]) + len(a[1]),
                         lambda p: len(p.meta.universe) + len(p.ctxs)),
    "spotMetaAndAssetCtxs": (mkt.parse_spot_meta_and_asset_ctxs,
                             lambda a: len(a[0]["universe"]) + len(a[0]["tokens"]) + len(a[1]),
                             lambda p: len(p.meta.universe) + len(p.meta.tokens) + len(p.ctxs)),
    "l2Book": (parse_l2_book, lambda a: len(a["levels"][0]) + len(a["levels"][1]),
               lambda p: len(p.bids) + len(p.asks)),
    "clearinghouseState": (acc.parse_clearinghouse_state, lambda a: len(a["assetPositions"]),
                           lambda p: len(p.asset_positions)),
    "spotClearinghouseState": (acc.parse_spot_clearinghouse_state, lambda a: len(a["balances"]),
                               lambda p: len(p.balances)),
    "userRateLimit": (acc.parse_user_rate_limit, lambda a: 1, lambda p: 1),
    "userFees": (acc.parse_user_fees, lambda a: len(a["dailyUserVlm"]), lambda p: len(p.daily_user_vlm)),
    "userFunding": (acc.parse_user_funding, len, len),
    "portfolio": (acc.parse_portfolio,
                  lambda a: sum(len(b["accountValueHistory"]) + len(b["pnlHistory"]) for _, b in a),
                  lambda p: sum(len(x.account_value_history) + len(x.pnl_history) for x in p.values())),
    "userRole": (acc.parse_user_role, lambda a: 1, lambda p: 1),
    "extraAgents": (acc.parse_extra_agents, len, len),
    "userVaultEquities": (acc.parse_user_vault_equities, len, len),
    "subAccounts": (acc.parse_sub_accounts, _len, len),
    "delegatorHistory": (staking.parse_delegator_history, len, len),
    "userNonFundingLedgerUpdates": (parse_user_non_funding_ledger_updates, len, len),
    "openOrders": (parse_open_orders, n_orders, n_snapshots),
    "frontendOpenOrders": (parse_open_orders, n_orders, n_snapshots),
    "historicalOrders": (parse_historical_orders, len, len),
    "orderStatus": (parse_order_status_response, lambda a: int(a["status"] == "order"),
                    lambda p: int(p is not None)),
    "userFills": (parse_fills, len, len),
    "userFillsByTime": (parse_fills, len, len),
    "userTwapSliceFills": (parse_twap_slice_fills, len, len),
    # No permissive recording of these exists (PROVENANCE.md); the emulator's answers go through them below.
    "spotMeta": (mkt.parse_spot_meta, lambda a: len(a["universe"]) + len(a["tokens"]),
                 lambda p: len(p.universe) + len(p.tokens)),
    "perpDexs": (mkt.parse_perp_dexs, len, len),
    "perpDeployAuctionStatus": (mkt.parse_perp_deploy_auction_status, lambda a: 1, lambda p: 1),
    "spotDeployState": (mkt.parse_spot_deploy_state, lambda a: len(a["states"]), lambda p: len(p.states)),
    "delegatorSummary": (staking.parse_delegator_summary, lambda a: 1, lambda p: 1),
    "delegations": (staking.parse_delegations, len, len),
    "delegatorRewards": (staking.parse_delegator_rewards, len, len),
    "referral": (acc.parse_referral, lambda a: 1, lambda p: 1),
    "userToMultiSigSigners": (acc.parse_user_to_multi_sig_signers,
                              lambda a: 0 if a is None else len(a["authorizedUsers"]),
                              lambda p: 0 if p is None else len(p.authorized_users)),
    "userDexAbstraction": (acc.parse_user_dex_abstraction, lambda a: 1, lambda p: 1),
    "userAbstraction": (acc.parse_user_abstraction, lambda a: 1, lambda p: 1),
}

# channel -> count items in the raw data (the parsed value is counted by WS_COUNT_OUT)
WS_COUNT_IN: dict[str, Counter] = {
    "allMids": lambda d: len(d["mids"]),
    "l2Book": lambda d: len(d["levels"][0]) + len(d["levels"][1]),
    "trades": len,
    "bbo": lambda d: sum(x is not None for x in d["bbo"]),
    "candle": lambda d: 1,
    "orderUpdates": len,
    "user": lambda d: len(d["fills"]) if "fills" in d else 1,
    "userTwapHistory": lambda d: len(d["history"]),
    "userTwapSliceFills": lambda d: len(d["twapSliceFills"]),
}
WS_COUNT_OUT: dict[str, Counter] = {
    "allMids": len,
    "l2Book": lambda p: len(p.bids) + len(p.asks),
    "trades": len,
    "bbo": lambda p: (p.bid is not None) + (p.ask is not None),
    "candle": lambda p: 1,
    "orderUpdates": len,
    "user": lambda p: len(p) if isinstance(p, tuple) else 1,
    "userTwapHistory": lambda p: len(p.history),
    "userTwapSliceFills": lambda p: len(p.fills),
}


def test_every_recorded_kind_has_a_parser() -> None:
    """A new recorded info type or channel must come with its parser (and counts) here."""
    missing = []
    for s in all_samples():
        if s.kind == "info" and s.name not in INFO:
            missing.append(s.id)
        if s.kind == "ws" and s.name != "subscriptionResponse" and s.name not in WS_COUNT_IN:
            missing.append(s.id)
    assert missing == []
    assert len(all_samples()) >= 60


@pytest.mark.parametrize("sample", [s for s in all_samples() if s.kind == "info"], ids=lambda s: s.id)
def test_info_answer_parses_without_losing_items(sample: Sample) -> None:
    parse, count_in, count_out = INFO[sample.name]
    raw = answer(sample)
    parsed = parse(raw)
    assert count_out(parsed) == count_in(raw)
    if sample.name in ("userFills", "userFillsByTime"):
        # No two recorded fills collapse under the de-duplication key either.
        assert n_fills_kept(raw) == len(raw)


@pytest.mark.parametrize("sample", [s for s in all_samples() if s.kind == "exchange"], ids=lambda s: s.id)
def test_exchange_answer_parses(sample: Sample) -> None:
    raw = answer(sample)
    if sample.name == "order":
        statuses = parse_exchange_order_statuses(raw)
        assert len(statuses) == len(raw["response"]["data"]["statuses"])
        assert [s.kind.value for s in statuses] == [
            next(iter(x)) if isinstance(x, dict) else x for x in raw["response"]["data"]["statuses"]
        ]
    else:
        assert check_ok_response(raw) == {"type": "default"}


@pytest.mark.parametrize("sample", [s for s in all_samples() if s.kind == "ws"], ids=lambda s: s.id)
def test_ws_frame_parses_and_routes(sample: Sample) -> None:
    frame = answer(sample)
    channel, data = frame["channel"], frame["data"]
    assert channel == sample.name
    if channel == "subscriptionResponse":
        # The session's ack handling: the acked subscription maps to the route of the one requested.
        assert subscription_route(data["subscription"]) == subscription_route(sample.request["subscription"])
        return
    parsed = parse_ws_data(channel, data)
    assert WS_COUNT_OUT[channel](parsed) == WS_COUNT_IN[channel](data)
    if sample.request is not None:
        assert _frame_route(channel, data) == subscription_route(sample.request["subscription"])


# -- the emulator's answers go through the same parsers -----------------------------------------------------


@pytest.fixture(scope="module")
def emulated() -> tuple[Any, list[dict[str, Any]]]:
    """The shape suite's scenario (a funded account that traded, a TP/SL group, a TWAP, funding, transfers): one
    answer per ``/info`` type the SDK sends, and every WebSocket frame the account's subscriptions got."""
    return trio.run(run_scenario)


def test_every_sdk_info_type_has_a_parser(emulated: tuple[Any, list[dict[str, Any]]]) -> None:
    scenario, _ = emulated
    assert set(INFO) == set(info_requests(scenario)) and len(INFO) == 37


@pytest.mark.parametrize("name", sorted(INFO))
def test_emulator_info_answer_parses_without_losing_items(name: str,
                                                          emulated: tuple[Any, list[dict[str, Any]]]) -> None:
    scenario, _ = emulated
    raw = scenario.info[name]
    assert not (isinstance(raw, str) and raw.startswith("HTTP ")), raw
    parse, count_in, count_out = INFO[name]
    assert count_out(parse(raw)) == count_in(raw)


def test_emulator_ws_frames_parse_without_losing_items(emulated: tuple[Any, list[dict[str, Any]]]) -> None:
    _, frames = emulated
    parsed = 0
    for frame in frames:
        channel = frame.get("channel")
        if channel not in WS_PARSERS:
            continue
        value = parse_ws_data(channel, frame["data"])
        if channel in WS_COUNT_IN:
            assert WS_COUNT_OUT[channel](value) == WS_COUNT_IN[channel](frame["data"]), frame
        parsed += 1
    assert parsed >= 10
