"""CCXT's own Hyperliquid client (PyPI ``ccxt``, unmodified, its own EIP-712/msgpack signing) trading against
the emulator started as a user would start it (``python -m trio_hl.cli emulator --port 0``).

Runs only in ``nox -s sdk_compat`` (ccxt is installed there and nowhere else: never a runtime or dev
dependency).  ccxt's synchronous client blocks, so the emulator runs in its own process and the test talks
to it over a real socket, exactly as a user's bot would.  Each test uses a fresh key: the emulator lets an
address act once a client has named it (ccxt's ``load_markets`` / ``fetch_balance`` do) and funds it on its
first signed action (``AutoFund.NAMED``), so every test starts with ``set_leverage`` as a bot would.

ccxt's own limitations met here (documented in ``docs/EMULATOR_FIDELITY.md`` too):

- ``cancel_all_orders`` raises ``NotSupported`` in ccxt's Hyperliquid client (4.5.x); ``cancel_all_orders_after``
  (the venue's dead-man switch, ``scheduleCancel``) and ``cancel_orders_for_symbols`` are what it offers.
- ``fetch_trades`` is the *user's* fills in ccxt's Hyperliquid client (the venue has no public trades
  endpoint over HTTP), so it is checked with the account's own fills.
- ``fetch_positions`` without a HIP-3 symbol asks the first perp dex only (as the venue answers); HIP-3
  positions need a HIP-3 symbol, which ccxt turns into ``dex``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
from eth_account import Account

ETH = "ETH/USDC:USDC"
SOL = "SOL/USDC:USDC"
BTC = "BTC/USDC:USDC"
HIP3 = "XYZ-TEST/USDC:USDC"
PURR = "PURR/USDC"
HFUN = "HFUN/USDC"
FUNDED_USDC = 100_000.0  # the emulator's default funding (``Engine.initial_usdc``)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "trio_hl.cli", "emulator", "--port", "0",
                             # every test's fresh client loads the markets from one IP: together they exceed
                             # the venue's per-IP budget (ccxt throttles each client, not the sum)
                             "--no-rate-limit"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the first line names the URL once the socket listens
    try:
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def _client(url: str, wallet: Any = None) -> Any:
    config: dict[str, Any] = {}
    if wallet is not None:
        config = {"walletAddress": wallet.address, "privateKey": wallet.key.hex()}
    ex = ccxt.hyperliquid(config)
    ex.set_sandbox_mode(True)  # testnet signing (source "b", chain "Testnet"): what the emulator verifies
    ex.urls["api"] = {"public": url, "private": url}
    ex.load_markets()
    return ex


@pytest.fixture(scope="module")
def public(url: str) -> Any:
    return _client(url)


@pytest.fixture
def wallet() -> Any:
    return Account.create()


@pytest.fixture
def ex(url: str, wallet: Any) -> Any:
    client = _client(url, wallet)
    assert client.fetch_balance()["USDC"]["total"] == 0  # named, not yet funded (first action funds)
    assert client.set_leverage(5, ETH) == {"status": "ok", "response": {"type": "default"}}
    return client


def _px(ex: Any, symbol: str, factor: float) -> float:
    """A valid price ``factor`` times the current mid (tick and significant figures as the venue wants)."""
    ticker = ex.fetch_ticker(symbol)
    mid = (ticker["bid"] + ticker["ask"]) / 2 if ticker["bid"] else ticker["last"]
    return float(ex.price_to_precision(symbol, mid * factor))


def _open_ids(ex: Any, symbol: str | None = None) -> set[str]:
    return {o["id"] for o in ex.fetch_open_orders(symbol)}


# ---------------------------------------------------------------------------------------------- public

def test_load_markets_lists_perp_spot_and_hip3_markets(public: Any) -> None:
    markets = public.markets
    assert set(markets) == {BTC, ETH, SOL, HIP3, PURR, HFUN}
    eth = markets[ETH]
    assert (eth["type"], eth["swap"], eth["linear"], eth["settle"], eth["baseId"]) == ("swap", True, True, "USDC", "1")
    assert eth["precision"]["amount"] == 0.0001 and eth["limits"]["leverage"]["max"] == 25
    hip3 = markets[HIP3]
    assert hip3["swap"] and hip3["baseId"] == "110000" and hip3["info"]["dex"] == "xyz" and hip3["info"]["hip3"]
    purr = markets[PURR]
    assert (purr["type"], purr["id"], purr["baseId"]) == ("spot", "PURR/USDC", "10000")
    assert markets[HFUN]["spot"] and markets[HFUN]["id"] == "@1"
    assert set(public.fetch_currencies()) == {"USDC", "PURR", "HFUN"}


def test_tickers_book_candles_and_funding(public: Any) -> None:
    ticker = public.fetch_ticker(ETH)
    assert 0 < ticker["bid"] < ticker["ask"] and abs(ticker["last"] / 3400 - 1) < 0.2
    tickers = public.fetch_tickers()
    assert set(tickers) == set(public.markets)
    assert tickers[PURR]["last"] > 0 and tickers[HIP3]["last"] > 0

    book = public.fetch_order_book(ETH)
    bids, asks = book["bids"], book["asks"]
    assert bids and asks and bids[0][0] < asks[0][0]
    assert [b[0] for b in bids] == sorted((b[0] for b in bids), reverse=True)
    assert [a[0] for a in asks] == sorted(a[0] for a in asks)
    assert all(size > 0 for _, size in bids + asks)
    spot_book = public.fetch_order_book(PURR)
    assert spot_book["bids"][0][0] < spot_book["asks"][0][0]

    now = public.milliseconds()
    candles = public.fetch_ohlcv(ETH, "1m", since=now - 3_600_000)
    assert candles
    for t, o, h, low, c, v in candles:
        assert t % 60_000 == 0 and t <= now and low <= min(o, c) <= max(o, c) <= h and v >= 0

    rate = public.fetch_funding_rate(ETH)
    assert rate["fundingRate"] == float(rate["info"]["funding"])
    assert rate["fundingTimestamp"] % 3_600_000 == 0 and 0 < rate["fundingTimestamp"] - now <= 3_600_000
    rates = public.fetch_funding_rates()
    assert set(rates) == {BTC, ETH, SOL}  # ccxt asks the first perp dex only
    # A fresh emulator has paid no hourly funding yet: the history is the venue-shaped empty list.
    assert public.fetch_funding_rate_history(ETH, since=now - 86_400_000) == []
    assert public.fetch_status()["status"] == "ok"
    assert abs(public.fetch_time() - now) < 60_000


# ------------------------------------------------------------------------------------------------ orders

def test_resting_limit_with_client_id_edit_fetch_and_cancel(ex: Any) -> None:
    cloid = "0x" + "ab" * 16
    price = _px(ex, ETH, 0.98)
    placed = ex.create_order(ETH, "limit", "buy", 0.01, price, {"clientOrderId": cloid})
    assert re.fullmatch(r"\d+", placed["id"]) and placed["clientOrderId"] == cloid
    order = ex.fetch_order(placed["id"], ETH)
    assert (order["status"], order["side"], order["type"], order["price"], order["amount"], order["clientOrderId"]) \
        == ("open", "buy", "limit", price, 0.01, cloid)
    assert ex.fetch_order(None, ETH, {"clientOrderId": cloid})["id"] == placed["id"]
    assert _open_ids(ex) == {placed["id"]}

    new_price = _px(ex, ETH, 0.97)
    edited = ex.edit_order(placed["id"], ETH, "limit", "buy", 0.02, new_price)
    assert edited["id"] != placed["id"]
    after = ex.fetch_order(edited["id"], ETH)
    assert (after["status"], after["price"], after["amount"]) == ("open", new_price, 0.02)
    assert _open_ids(ex, ETH) == {edited["id"]}

    ex.cancel_order(edited["id"], ETH)
    assert ex.fetch_order(edited["id"], ETH)["status"] == "canceled"
    assert _open_ids(ex) == set()
    assert edited["id"] in {o["id"] for o in ex.fetch_canceled_orders(ETH)}
    with pytest.raises(ccxt.OrderNotFound, match="never placed, already canceled, or filled"):
        ex.cancel_order(edited["id"], ETH)

    again = ex.create_order(ETH, "limit", "sell", 0.01, _px(ex, ETH, 1.02), {"clientOrderId": "0x" + "cd" * 16})
    ex.cancel_order(None, ETH, {"clientOrderId": "0x" + "cd" * 16})
    assert ex.fetch_order(again["id"], ETH)["status"] == "canceled"


def test_crossing_limit_market_reduce_only_fills_positions_and_balance(ex: Any) -> None:
    start = ex.fetch_balance()["USDC"]["total"]
    assert start == FUNDED_USDC
    crossing = ex.create_order(ETH, "limit", "buy", 0.01, _px(ex, ETH, 1.01))
    filled = ex.fetch_order(crossing["id"], ETH)
    assert (filled["status"], filled["filled"], filled["remaining"]) == ("closed", 0.01, 0.0)
    market = ex.create_order(ETH, "market", "buy", 0.01, _px(ex, ETH, 1.0))
    assert market["filled"] == 0.01 and market["average"] > 0

    (position,) = ex.fetch_positions([ETH])
    assert (position["symbol"], position["side"], position["contracts"], position["leverage"]) == (ETH, "long", 0.02, 5)
    assert position["marginMode"] == "cross" and position["entryPrice"] > 0
    used = ex.fetch_balance()["USDC"]["used"]
    assert used == pytest.approx(position["notional"] / 5, rel=1e-3)

    with pytest.raises(ccxt.InvalidOrder, match="Reduce only order would increase position"):
        ex.create_order(ETH, "market", "buy", 0.01, _px(ex, ETH, 1.0), {"reduceOnly": True})
    closed = ex.create_order(ETH, "market", "sell", 0.02, _px(ex, ETH, 1.0), {"reduceOnly": True})
    assert closed["filled"] == 0.02
    assert ex.fetch_positions([ETH]) == []

    trades = ex.fetch_my_trades(ETH)
    assert sorted(t["order"] for t in trades) == sorted([crossing["id"], market["id"], closed["id"]])
    assert {t["side"] for t in trades} == {"buy", "sell"} and all(t["fee"]["cost"] > 0 for t in trades)
    assert [t["id"] for t in ex.fetch_trades(ETH)] == [t["id"] for t in trades]  # ccxt: the user's fills
    fees = sum(t["fee"]["cost"] for t in trades)
    pnl = sum(float(t["info"]["closedPnl"]) for t in trades)
    assert ex.fetch_balance()["USDC"]["total"] == pytest.approx(start - fees + pnl, abs=1e-6)
    assert {crossing["id"], market["id"], closed["id"]} <= {o["id"] for o in ex.fetch_closed_orders(ETH)}


def test_post_only_refused_and_trigger_orders_rest_until_canceled(ex: Any) -> None:
    ticker = ex.fetch_ticker(ETH)
    with pytest.raises(ccxt.InvalidOrder, match="Post only order would have immediately matched"):
        ex.create_order(ETH, "limit", "buy", 0.01, ticker["ask"] + 1, {"postOnly": True})
    maker = ex.create_order(ETH, "limit", "buy", 0.01, _px(ex, ETH, 0.99), {"postOnly": True})
    assert ex.fetch_order(maker["id"], ETH)["timeInForce"] == "ALO"

    ex.create_order(ETH, "market", "buy", 0.01, _px(ex, ETH, 1.0))
    stop_px = _px(ex, ETH, 0.95)
    stop = ex.create_order(ETH, "market", "sell", 0.01, stop_px, {"stopLossPrice": stop_px, "reduceOnly": True})
    take_px = _px(ex, ETH, 1.05)
    take = ex.create_order(ETH, "limit", "sell", 0.01, take_px, {"takeProfitPrice": take_px, "reduceOnly": True})
    trigger_px = _px(ex, ETH, 1.03)
    entry = ex.create_order(ETH, "limit", "buy", 0.01, trigger_px, {"triggerPrice": trigger_px})
    by_id = {o["id"]: o for o in ex.fetch_open_orders(ETH)}
    assert set(by_id) == {maker["id"], stop["id"], take["id"], entry["id"]}
    assert (by_id[stop["id"]]["triggerPrice"], by_id[stop["id"]]["reduceOnly"]) == (stop_px, True)
    assert by_id[take["id"]]["triggerPrice"] == take_px and by_id[entry["id"]]["triggerPrice"] == trigger_px
    assert by_id[maker["id"]]["triggerPrice"] is None
    cancelled = ex.cancel_orders([stop["id"], take["id"], entry["id"], maker["id"]], ETH)
    assert len(cancelled) == 4
    assert _open_ids(ex) == set()


def test_batch_create_cancel_and_dead_man_switch(ex: Any) -> None:
    placed = ex.create_orders([
        {"symbol": ETH, "type": "limit", "side": "buy", "amount": 0.01, "price": _px(ex, ETH, 0.98)},
        {"symbol": ETH, "type": "limit", "side": "sell", "amount": 0.01, "price": _px(ex, ETH, 1.02)},
        {"symbol": SOL, "type": "limit", "side": "buy", "amount": 0.1, "price": _px(ex, SOL, 0.98)},
    ])
    ids = [o["id"] for o in placed]
    assert len(set(ids)) == 3 and _open_ids(ex) == set(ids)
    ex.cancel_orders(ids[:2], ETH)
    assert _open_ids(ex) == {ids[2]}
    with pytest.raises(ccxt.NotSupported):
        ex.cancel_all_orders(SOL)  # ccxt limitation (see the module docstring)
    ex.cancel_orders_for_symbols([{"id": ids[2], "symbol": SOL}])
    assert _open_ids(ex) == set()
    assert {o["status"] for o in ex.fetch_canceled_orders(ETH)} == {"canceled"}
    assert ex.cancel_all_orders_after(60_000) == {"status": "ok", "response": {"type": "default"}}
    with pytest.raises(ccxt.ExchangeError, match="Scheduled cancel time too early"):
        ex.cancel_all_orders_after(1_000)  # the venue wants at least 5 s


def test_leverage_and_isolated_margin_reach_the_position(ex: Any) -> None:
    assert ex.set_margin_mode("isolated", SOL, {"leverage": 4}) == {"status": "ok", "response": {"type": "default"}}
    ex.create_order(SOL, "market", "buy", 0.1, _px(ex, SOL, 1.0))
    (position,) = ex.fetch_positions([SOL])
    assert (position["marginMode"], position["leverage"], position["contracts"]) == ("isolated", 4, 0.1)
    assert position["collateral"] == pytest.approx(position["notional"] / 4, rel=0.02)
    assert ex.set_leverage(3, ETH) == {"status": "ok", "response": {"type": "default"}}


def test_spot_and_hip3_trading(ex: Any) -> None:
    spot = ex.fetch_balance({"type": "spot"})["total"]
    assert spot["PURR"] > 0 and spot["USDC"] > 0
    bought = ex.create_order(PURR, "market", "buy", 100, _px(ex, PURR, 1.0))
    assert bought["filled"] == 100
    after = ex.fetch_balance({"type": "spot"})["total"]
    assert 99 < after["PURR"] - spot["PURR"] <= 100  # spot buy fees are taken in the base token
    assert after["USDC"] == pytest.approx(spot["USDC"] - bought["cost"], abs=1e-6)
    resting = ex.create_order(PURR, "limit", "buy", 100, _px(ex, PURR, 0.95))
    assert _open_ids(ex, PURR) == {resting["id"]}
    ex.cancel_order(resting["id"], PURR)

    hip3 = ex.create_order(HIP3, "limit", "buy", 1, _px(ex, HIP3, 0.97))
    assert {o["symbol"] for o in ex.fetch_open_orders(HIP3)} == {HIP3}
    ex.cancel_order(hip3["id"], HIP3)
    ex.create_order(HIP3, "market", "buy", 1, _px(ex, HIP3, 1.0))
    (position,) = ex.fetch_positions([HIP3])
    assert (position["symbol"], position["contracts"]) == (HIP3, 1)
    assert ex.fetch_positions([ETH]) == []  # the first perp dex holds none of it


def test_transfer_withdraw_and_ledger(ex: Any, wallet: Any) -> None:
    perp, spot = ex.fetch_balance()["USDC"]["total"], ex.fetch_balance({"type": "spot"})["total"]["USDC"]
    assert ex.transfer("USDC", 50, "swap", "spot")["status"] == "ok"
    assert ex.transfer("USDC", 20, "spot", "swap")["status"] == "ok"
    assert ex.fetch_balance()["USDC"]["total"] == perp - 30
    assert ex.fetch_balance({"type": "spot"})["total"]["USDC"] == spot + 30

    withdrawn = ex.withdraw("USDC", 10, wallet.address)
    assert withdrawn["info"] == {"status": "ok", "response": {"type": "default"}}  # ccxt parses no amount back
    assert ex.fetch_balance()["USDC"]["total"] == perp - 40
    with pytest.raises(ccxt.InsufficientFunds, match="Insufficient balance for withdrawal"):
        ex.withdraw("USDC", 10 * FUNDED_USDC, wallet.address)

    ledger = ex.fetch_ledger("USDC")  # no ``since``: ccxt omits startTime, the venue answers the latest
    kinds = sorted(e["info"]["delta"]["type"] for e in ledger)
    assert kinds == ["accountClassTransfer", "accountClassTransfer", "deposit", "withdraw"]
    (withdrawal,) = ex.fetch_withdrawals("USDC", since=0)
    assert withdrawal["amount"] == 10 and withdrawal["info"]["delta"]["fee"] == "1.0"
    (deposit,) = ex.fetch_deposits("USDC", since=0)
    assert deposit["amount"] == FUNDED_USDC
    assert ex.fetch_funding_history(ETH) == []  # no position held through an hourly settlement


def test_builder_code_approval_and_fee(url: str, ex: Any, wallet: Any) -> None:
    """ccxt approves a builder (``approveBuilderFee``) when it first loads markets and then names it on every
    order.  A fresh client's approval comes before the emulator funded the account (its first signed action
    does), so it is refused and ccxt trades without a builder; a client started once the account holds money
    approves ccxt's 0.01 % for a funded builder, names it on its orders, and the fills pay it."""
    ex.create_order(ETH, "limit", "buy", 0.01, _px(ex, ETH, 0.98))
    assert ex.options.get("approvedBuilderFee") is None and ex.options["builderFee"] is False

    builder_wallet = Account.create()
    _client(url, builder_wallet).set_leverage(5, ETH)  # funded: 100 000 USDC, above the venue's 100 USDC minimum
    restarted = ccxt.hyperliquid({"walletAddress": wallet.address, "privateKey": wallet.key.hex(),
                                  "options": {"builder": builder_wallet.address}})
    restarted.set_sandbox_mode(True)
    restarted.urls["api"] = {"public": url, "private": url}
    restarted.load_markets()
    assert restarted.options["approvedBuilderFee"] is True and restarted.options["builderFee"] is True
    assert restarted.publicPostInfo({"type": "maxBuilderFee", "user": wallet.address,
                                     "builder": builder_wallet.address}) == "10"  # ccxt's 0.01 % (raw body)
    bought = restarted.create_order(ETH, "market", "buy", 0.01, _px(restarted, ETH, 1.0))
    (fill,) = [t for t in restarted.fetch_my_trades(ETH) if t["order"] == bought["id"]]
    assert float(fill["info"]["builderFee"]) == pytest.approx(fill["cost"] * 0.0001, abs=1e-6)


def test_twap_batch_edit_sub_account_and_fees(ex: Any) -> None:
    twap = ex.create_twap_order(ETH, "buy", 0.5, 5 * 60_000)  # ccxt takes milliseconds, sends whole minutes
    assert re.fullmatch(r"\d+", twap["id"])
    # ccxt's error table knows this text only for a 120-minute TWAP ("Min is $1200"): ExchangeError, not InvalidOrder
    with pytest.raises(ccxt.ExchangeError, match=r"TWAP order value too small. Min is \$50, which is \$10 per minute"):
        ex.create_twap_order(SOL, "buy", 0.1, 5 * 60_000)
    assert ex.cancel_twap_order(twap["id"], ETH)["info"]["status"] == "success"

    first = ex.create_order(ETH, "limit", "buy", 0.01, _px(ex, ETH, 0.97))
    second = ex.create_order(ETH, "limit", "sell", 0.01, _px(ex, ETH, 1.03))
    edited = ex.edit_orders([
        {"id": first["id"], "symbol": ETH, "type": "limit", "side": "buy", "amount": 0.02, "price": _px(ex, ETH, 0.96)},
        {"id": second["id"], "symbol": ETH, "type": "limit", "side": "sell", "amount": 0.02,
         "price": _px(ex, ETH, 1.04)},
    ])
    new_ids = {o["id"] for o in edited}
    assert len(new_ids) == 2 and not new_ids & {first["id"], second["id"]}
    by_id = {o["id"]: o for o in ex.fetch_orders(ETH)}
    assert {i: by_id[i]["status"] for i in (first["id"], second["id"], *new_ids)} == {
        first["id"]: "canceled", second["id"]: "canceled", **dict.fromkeys(new_ids, "open")}
    assert {by_id[i]["amount"] for i in new_ids} == {0.02}

    sub = ex.create_sub_account("ccxt-alpha")
    assert re.fullmatch(r"0x[0-9a-f]{40}", sub["response"]["data"])
    fee = ex.fetch_trading_fee(ETH)
    assert 0 < fee["maker"] < fee["taker"] < 0.001
    assert ex.fetch_open_interest(ETH)["openInterestAmount"] > 0
