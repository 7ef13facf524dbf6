"""The unmodified official SDK (``hyperliquid-python-sdk==0.24.0``) against the emulator, started as a user
would start it (``python -m trio_hl.cli emulator --port 0``): every call gets a venue-shaped success, and a
request from a signer the venue does not know gets the venue's error.  Runs only in ``nox -s sdk_compat``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid


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


@pytest.fixture
def wallet() -> Any:
    return Account.create()


@pytest.fixture
def clients(url: str, wallet: Any) -> tuple[Exchange, Info]:
    info = Info(url, skip_ws=True)
    info.user_state(wallet.address)  # a client reads its state first; that funds it (AutoFund.NAMED)
    return Exchange(wallet, url), info


def statuses(answer: dict[str, Any]) -> list[Any]:
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"]  # type: ignore[no-any-return]


def test_orders_modify_cancel_and_queries(clients: tuple[Exchange, Info], wallet: Any) -> None:
    exchange, info = clients
    me = wallet.address
    gtc = {"limit": {"tif": "Gtc"}}
    cloid = Cloid.from_int(7)
    (resting,) = statuses(exchange.order("ETH", True, 0.1, 1700.0, gtc, cloid=cloid))
    oid = resting["resting"]["oid"]
    bulk = statuses(exchange.bulk_orders([
        {"coin": "SOL", "is_buy": True, "sz": 1.0, "limit_px": 100.0, "order_type": gtc, "reduce_only": False},
        {"coin": "SOL", "is_buy": True, "sz": 1.0, "limit_px": 101.0, "order_type": gtc, "reduce_only": False},
    ]))
    assert all("resting" in s for s in bulk)
    (modified,) = statuses(exchange.modify_order(cloid, "ETH", True, 0.2, 1701.0, gtc, cloid=cloid))
    new_oid = modified["resting"]["oid"]
    assert new_oid != oid
    by_cloid = info.query_order_by_cloid(me, cloid)
    assert by_cloid["status"] == "order" and by_cloid["order"]["order"]["oid"] == new_oid
    assert {o["oid"] for o in info.open_orders(me)} == {new_oid} | {s["resting"]["oid"] for s in bulk}
    assert len(info.frontend_open_orders(me)) == 3
    assert statuses(exchange.cancel("SOL", bulk[0]["resting"]["oid"])) == ["success"]
    assert statuses(exchange.cancel_by_cloid("ETH", cloid)) == ["success"]
    assert statuses(exchange.cancel("ETH", new_oid)) == [
        {"error": "Order was never placed, already canceled, or filled. asset=1"}]
    book = info.l2_snapshot("ETH")
    assert book["coin"] == "ETH" and book["levels"][0] and book["levels"][1]


def test_market_open_close_leverage_and_schedule_cancel(clients: tuple[Exchange, Info], wallet: Any) -> None:
    exchange, info = clients
    me = wallet.address
    assert exchange.update_leverage(5, "SOL") == {"status": "ok", "response": {"type": "default"}}
    (opened,) = statuses(exchange.market_open("SOL", True, 2.0))
    assert opened["filled"]["totalSz"] == "2.0"
    (position,) = info.user_state(me)["assetPositions"]
    assert position["position"]["szi"] == "2.0" and position["position"]["leverage"]["value"] == 5
    (closed,) = statuses(exchange.market_close("SOL"))
    assert closed["filled"]["totalSz"] == "2.0"
    assert info.user_state(me)["assetPositions"] == []
    fills = info.user_fills(me)
    assert [f["dir"] for f in fills] == ["Close Long", "Open Long"] or len(fills) > 2
    later = int(time.time() * 1000) + 60_000
    assert exchange.schedule_cancel(later) == {"status": "ok", "response": {"type": "default"}}


def test_an_unknown_signer_gets_the_venue_error(url: str) -> None:
    stranger = Account.create()
    answer = Exchange(stranger, url).order("ETH", True, 0.1, 1700.0, {"limit": {"tif": "Gtc"}})
    assert answer == {"status": "err", "response": f"User or API Wallet {stranger.address.lower()} does not exist."}


def test_sdk_websocket_subscriptions_get_venue_shaped_messages(clients: tuple[Exchange, Info], wallet: Any,
                                                               url: str) -> None:
    """The SDK's own WebSocket manager (its thread, its websocket-client) against the emulator's /ws."""
    import threading

    exchange, _ = clients
    me = wallet.address
    ws_info = Info(url, skip_ws=False)
    got: dict[str, list[Any]] = {"l2Book": [], "userFills": [], "orderUpdates": []}
    arrived = {k: threading.Event() for k in got}
    live_fill = threading.Event()

    def on(channel: str) -> Any:
        def callback(message: Any) -> None:
            got[channel].append(message)
            arrived[channel].set()
            if channel == "userFills" and not message["data"].get("isSnapshot"):
                live_fill.set()
        return callback

    try:
        ws_info.subscribe({"type": "l2Book", "coin": "ETH"}, on("l2Book"))
        ws_info.subscribe({"type": "userFills", "user": me}, on("userFills"))
        ws_info.subscribe({"type": "orderUpdates", "user": me}, on("orderUpdates"))
        assert arrived["l2Book"].wait(10), "no l2Book message"
        book = got["l2Book"][0]
        assert book["channel"] == "l2Book" and book["data"]["coin"] == "ETH" and len(book["data"]["levels"]) == 2
        assert arrived["userFills"].wait(10), "no userFills snapshot"
        assert got["userFills"][0]["data"]["isSnapshot"] is True
        (opened,) = statuses(exchange.market_open("ETH", True, 0.05))
        assert "filled" in opened
        assert arrived["orderUpdates"].wait(10), "no orderUpdates message"
        update = got["orderUpdates"][-1]["data"][0]
        assert update["order"]["coin"] == "ETH" and update["status"] in ("open", "filled")
        assert live_fill.wait(10), "no streamed fill"
        live = [m for m in got["userFills"] if not m["data"].get("isSnapshot")]
        assert live and live[0]["data"]["fills"][0]["coin"] == "ETH"
    finally:
        ws_info.disconnect_websocket()
