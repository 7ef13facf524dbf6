"""The venue's order and account rules in the emulator (``emulator/_rules.py``): price band, zero size, minimum
and maximum order value, trigger orders on spot, the open-order cap, batch size, transfer amounts, sub-account
names and count, scheduleCancel bounds; and a 10 000-order batch that does not stall other clients (the real
server, a real socket)."""

from __future__ import annotations

import gc
import json
import time
from decimal import Decimal
from typing import Any

import pytest
import trio

from trio_hl.emulator import Limits, open_emulator
from trio_hl.emulator._rules import MAX_BATCH, OPEN_ORDERS_BASE, open_order_cap
from trio_hl.emulator.engine import Engine
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import exchange_body

T0 = 1_700_000_000_000
ALICE = "0x" + "a1" * 20
BTC, ETH, SOL, PURR = 0, 1, 2, 10000


def engine() -> Engine:
    e = Engine(seed=5, now_ms=T0, with_market=False, auto_fund=False)
    e.deposit(ALICE, 10_000_000, spot={"USDC": 1_000_000, "PURR": 1_000_000})
    return e


class Alice:
    def __init__(self, e: Engine) -> None:
        self.e, self.nonce = e, T0

    def act(self, action: dict[str, Any], vault: str | None = None, now: int = T0) -> dict[str, Any]:
        self.nonce += 1
        return self.e.action(signer=ALICE, action=action, nonce=self.nonce, vault_address=vault, now_ms=now)

    def place(self, *orders: dict[str, Any]) -> list[Any]:
        answer = self.act({"type": "order", "grouping": "na", "orders": list(orders)})
        assert answer["status"] == "ok", answer
        return answer["response"]["data"]["statuses"]  # type: ignore[no-any-return]


def limit(asset: int, px: str, sz: str, *, is_buy: bool = True, tif: str = "Gtc", reduce_only: bool = False,
          ) -> dict[str, Any]:
    return {"a": asset, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": {"limit": {"tif": tif}}}


def trigger(asset: int, px: str, sz: str, trigger_px: str) -> dict[str, Any]:
    return {"a": asset, "b": False, "p": px, "s": sz, "r": True,
            "t": {"trigger": {"isMarket": False, "triggerPx": trigger_px, "tpsl": "sl"}}}


# ------------------------------------------------------------------------------------------- orders
def test_price_band_is_80_percent_of_the_oracle_on_perps_and_95_on_spot() -> None:
    e = engine()
    a = Alice(e)
    e.set_mark("ETH", "3000")
    band = "Order price cannot be more than 80% away from the reference price asset=1"
    assert "resting" in a.place(limit(ETH, "5400", "0.01", tif="Alo"))[0]  # exactly 80% above: inside
    assert a.place(limit(ETH, "5401", "0.01", tif="Alo")) == [{"error": band}]
    assert a.place(limit(ETH, "599", "0.1")) == [{"error": band}]
    assert a.place(limit(ETH, "150", "1")) == [{"error": band}]  # the 1/20 of the mid
    assert "resting" in a.place(limit(ETH, "600", "0.1"))[0]  # exactly 80% below: inside
    statuses = [o["status"] for o in e.ground_truth(ALICE)["orders"]]
    assert statuses == ["open", "oracleRejected", "oracleRejected", "oracleRejected", "open"]  # refused ones kept
    e.set_mark("PURR/USDC", "0.2")
    spot_band = "Order price cannot be more than 95% away from the reference price asset=10000"
    assert a.place(limit(PURR, "0.0099", "2000")) == [{"error": spot_band}]
    assert "resting" in a.place(limit(PURR, "0.01", "2000"))[0]


def test_zero_size_min_and_max_value_and_spot_triggers() -> None:
    e = engine()
    a = Alice(e)
    e.set_mark("BTC", "100000")
    assert a.place(limit(ETH, "3000", "0")) == [{"error": "Order has zero size. asset=1"}]
    assert a.place(limit(ETH, "3000", "0.0033")) == [{"error": "Order must have minimum value of $10. asset=1"}]
    assert a.place(limit(BTC, "100000", "50.1")) == [{"error": "Order value too large. Max is $5000000. asset=0"}]
    assert "resting" in a.place(limit(BTC, "100000", "50"))[0]  # exactly $5M is allowed
    assert a.place(trigger(PURR, "0.2", "100", "0.19")) == [
        {"error": "Placing trigger orders is not enabled on spot trading yet. asset=10000"}]


def test_open_order_cap_and_its_reduce_only_and_trigger_rule() -> None:
    e = engine()
    a = Alice(e)
    e.set_mark("SOL", "150")
    cap_text = f"Too many open orders. Max is {OPEN_ORDERS_BASE}. asset=2"
    orders = [limit(SOL, f"{100 + i % 40}", "1") for i in range(OPEN_ORDERS_BASE)]
    assert all("resting" in s for s in a.place(*orders))
    assert len(e.accounts[ALICE].open_orders) == OPEN_ORDERS_BASE
    assert a.place(limit(SOL, "100", "1")) == [{"error": cap_text}]
    assert a.place(limit(SOL, "100", "1", tif="Alo")) == [{"error": cap_text}]
    # an IOC never rests, so it may still be sent (here nothing to match: the venue's IOC refusal)
    (ioc,) = a.place(limit(SOL, "100", "1", tif="Ioc"))
    assert ioc["error"].startswith("Order could not immediately match")
    # volume raises the cap (1 per $5M, up to 5000), but reduce-only and trigger orders stay capped at 1000
    e.accounts[ALICE].cum_vlm = Decimal(10_000_000)
    assert open_order_cap(e.accounts[ALICE].cum_vlm) == OPEN_ORDERS_BASE + 2
    assert "resting" in a.place(limit(SOL, "100", "1"))[0]
    assert a.place(limit(SOL, "200", "1", is_buy=False, reduce_only=True)) == [{"error": cap_text}]
    assert a.place(trigger(SOL, "140", "1", "141")) == [{"error": cap_text}]
    assert open_order_cap(Decimal(10) ** 12) == 5000
    # cancelling frees a slot
    oid = next(iter(e.accounts[ALICE].open_orders))
    assert a.act({"type": "cancel", "cancels": [{"a": SOL, "o": oid}]})["status"] == "ok"


def test_batches_larger_than_the_maximum_are_refused_whole() -> None:
    e = engine()
    a = Alice(e)
    orders = [limit(SOL, "100", "1")] * (MAX_BATCH + 1)
    assert a.act({"type": "order", "grouping": "na", "orders": orders}) == {
        "status": "err", "response": f"Too many items in one action: {MAX_BATCH + 1} (max {MAX_BATCH})."}
    assert e.ground_truth(ALICE)["orders"] == [] and e.accounts[ALICE].n_requests == 0
    cancels = [{"a": SOL, "o": 1}] * (MAX_BATCH + 1)
    assert a.act({"type": "cancel", "cancels": cancels})["status"] == "err"


def test_sliced_application_gives_the_same_answer_as_whole() -> None:
    whole, sliced = engine(), engine()
    orders = [limit(SOL, f"{100 + i % 50}", "1", tif="Gtc" if i % 3 else "Ioc") for i in range(1000)]
    action = {"type": "order", "grouping": "na", "orders": orders}
    one = whole.action(signer=ALICE, action=action, nonce=1, vault_address=None, now_ms=T0)
    steps = sliced.action_steps(signer=ALICE, action=action, nonce=1, vault_address=None, now_ms=T0, slice_size=64)
    yields = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            two = done.value
            break
        yields += 1
    assert yields == 16 + 15  # 16 slices parsed (a checkpoint after each), then 16 applied (one between each two)
    assert one == two
    assert whole.ground_truth(ALICE) == sliced.ground_truth(ALICE)


def test_a_malformed_item_late_in_a_sliced_batch_refuses_it_whole_naming_its_index() -> None:
    e = engine()
    orders = [limit(SOL, "100", "1") for _ in range(300)]
    orders[257] = {**orders[257], "s": "lots"}
    action = {"type": "order", "grouping": "na", "orders": orders}
    expected = e.action(signer=ALICE, action=action, nonce=1, vault_address=None, now_ms=T0)
    steps = e.action_steps(signer=ALICE, action=action, nonce=2, vault_address=None, now_ms=T0, slice_size=64)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            answer = done.value
            break
    assert answer == expected and answer["status"] == "err"
    assert "action.orders[257]" in answer["response"], answer
    assert e.ground_truth(ALICE)["orders"] == []  # nothing applied


# ---------------------------------------------------------------------------------------- accounts
@pytest.mark.parametrize("amount", ["1e-30", "0", "-1", "NaN", "Infinity", "0.0000001", "1000000000001",
                                    "1" * 41, "1 subaccount: subaccount:"])
def test_transfer_amounts_out_of_bounds_are_refused_and_create_nothing(amount: str) -> None:
    e = engine()
    before = set(e.accounts)
    answer = Alice(e).act({"type": "usdClassTransfer", "amount": amount, "toPerp": False, "nonce": 1})
    assert answer["status"] == "err"
    assert set(e.accounts) == before and e.accounts[ALICE].spot[0] == 1_000_000


def test_transfer_amount_at_usdc_precision_is_accepted() -> None:
    e = engine()
    assert Alice(e).act({"type": "usdClassTransfer", "amount": "0.000001", "toPerp": False, "nonce": 1})[
        "status"] == "ok"
    assert e.accounts[ALICE].spot[0] == Decimal("1000000.000001")


def test_sub_account_transfer_bounds_and_balances() -> None:
    e = engine()
    a = Alice(e)
    sub = a.act({"type": "createSubAccount", "name": "desk"})["response"]["data"]
    move = {"type": "subAccountTransfer", "subAccountUser": sub, "isDeposit": True}
    assert a.act({**move, "usd": 0}) == {"status": "err", "response": "Invalid transfer amount."}
    assert a.act({**move, "usd": -5}) == {"status": "err", "response": "Invalid transfer amount."}
    assert a.act({**move, "usd": 2_500_000})["status"] == "ok"
    assert e.accounts[sub].usdc == Decimal("2.5")
    assert a.act({**move, "isDeposit": False, "usd": 3_000_000}) == {
        "status": "err", "response": "Insufficient balance for token transfer."}
    assert a.act({**move, "isDeposit": False, "usd": 2_500_000})["status"] == "ok"
    assert e.accounts[sub].usdc == 0 and e.accounts[ALICE].usdc == 10_000_000


@pytest.mark.parametrize("name", [" subaccount:", "", " lead", "trail ", "x" * 33, "a subaccount:b", "tab\there",
                                  None, 7])
def test_bad_sub_account_names_are_refused(name: Any) -> None:
    e = engine()
    answer = Alice(e).act({"type": "createSubAccount", "name": name})
    assert answer == {"status": "err", "response": "Invalid sub-account name."}
    assert set(e.accounts) == {ALICE}


def test_at_most_ten_sub_accounts_and_the_volume_rule() -> None:
    e = engine()
    a = Alice(e)
    subs = [a.act({"type": "createSubAccount", "name": f"s{i}"})["response"]["data"] for i in range(10)]
    assert len(set(subs)) == 10 and all(e.accounts[s].master == ALICE for s in subs)
    assert a.act({"type": "createSubAccount", "name": "s10"}) == {
        "status": "err", "response": "Too many sub-accounts (max 10)."}
    strict = Engine(seed=5, now_ms=T0, with_market=False, auto_fund=False, sub_account_min_volume=100_000)
    strict.deposit(ALICE, 1000)
    answer = strict.action(signer=ALICE, action={"type": "createSubAccount", "name": "x"}, nonce=1,
                           vault_address=None, now_ms=T0)
    assert answer["response"] == ("Cannot create sub-accounts until enough volume traded. Required: $100000. "
                                  "Traded: $0.")


@pytest.mark.parametrize(("delta", "ok"), [(4_999, False), (5_000, True), (86_400_000, True),
                                           (86_400_001, False), (2**63 - T0 - 1, False)])
def test_schedule_cancel_time_bounds(delta: int, ok: bool) -> None:
    answer = Alice(engine()).act({"type": "scheduleCancel", "time": T0 + delta})
    assert (answer["status"] == "ok") is ok, answer
    if not ok and delta > 5_000:
        assert answer["response"] == "Scheduled cancel time too late, must be at most 1 day in the future."


# ------------------------------------------------------------------------------ a large batch, real socket
async def _http_post(stream: trio.SocketStream, path: str, body: bytes) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 POST on a raw socket: a minimal client, so the measured latency is the server's
    (an httpx client in the same event loop would add its own milliseconds to every read)."""
    await stream.send_all(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some()
        assert chunk, "server closed the connection"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(v) for k, _, v in (line.partition(b":") for line in lines[1:]) if k.lower() == b"content-length")
    parts = [rest]
    have = len(rest)
    while have < length:
        chunk = await stream.receive_some()
        assert chunk, "server closed the connection"
        parts.append(chunk)
        have += len(chunk)
    return int(lines[0].split()[1]), b"".join(parts)


async def test_info_answers_within_100ms_while_a_10000_order_batch_is_applied() -> None:
    """The issue's bound (a 10 000-order action held every other client for 749 ms before): another client's
    ``/info`` requests, sent back to back from before the batch is posted until its answer arrives, each answer
    within 100 ms.  The real server on a real socket.

    The objects that exist before the test (the whole test session's: modules, fixtures, Hypothesis' caches)
    are frozen out of the cyclic collector for its duration: a full collection over pytest's heap took 50-190 ms
    on a loaded 2-core box and says nothing about the emulator (whose own process holds only its own objects).
    Every object the emulator and the batch create is still collected as usual, so collections the batch causes
    are measured."""
    gc.collect()
    gc.freeze()
    try:
        await _batch_and_reads()
    finally:
        gc.unfreeze()


async def _batch_and_reads() -> None:
    signer = LocalSigner.generate()
    async with open_emulator(limits=Limits.unlimited(), auto_fund="any") as emu:
        emu.engine.set_mark("SOL", "150")
        # IOC orders that find nothing to match: each is fully processed (checks, matching, a refusal kept by
        # oid) and none rests, so the open-order cap does not cut the batch short
        orders = [{"a": SOL, "b": True, "p": f"{100 + i % 40}", "s": "1", "r": False, "t": {"limit": {"tif": "Ioc"}}}
                  for i in range(10_000)]
        action = {"type": "order", "grouping": "na", "orders": orders}
        nonce = emu.now_ms()
        body = json.dumps(exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False),
                                        None, None)).encode()
        read = json.dumps({"type": "l2Book", "coin": "SOL"}).encode()
        latencies: list[float] = []
        reads_during_apply = 0
        batch_done = trio.Event()
        reading = trio.Event()
        answer: list[bytes] = []

        async def send_batch(stream: trio.SocketStream) -> None:
            await reading.wait()
            status, raw = await _http_post(stream, "/exchange", body)
            assert status == 200
            answer.append(raw)
            batch_done.set()

        batch_stream = await trio.open_tcp_stream(emu.host, emu.port)
        reader = await trio.open_tcp_stream(emu.host, emu.port)
        async with batch_stream, reader, trio.open_nursery() as nursery:
            applied_before = len(emu.engine.orders)
            nursery.start_soon(send_batch, batch_stream)
            while not batch_done.is_set():
                started = time.perf_counter()
                reading.set()
                status, _ = await _http_post(reader, "/info", read)
                latencies.append(time.perf_counter() - started)
                assert status == 200
                if 0 < len(emu.engine.orders) - applied_before < 10_000:
                    reads_during_apply += 1
    statuses = json.loads(answer[0])["response"]["data"]["statuses"]
    assert len(statuses) == 10_000 and all(s["error"].startswith("Order could not immediately match")
                                           for s in statuses)
    assert reads_during_apply > 0, "no read overlapped the orders being applied"
    assert max(latencies) < 0.1, f"slowest /info during the batch: {max(latencies) * 1000:.0f} ms"


async def test_actions_behind_a_sliced_batch_wait_for_it_over_ws_and_http() -> None:
    """A batch larger than one slice is one action to everybody else: a later post on the same WebSocket, and
    an action from another client over HTTP, are applied after all of it (their oids come later), and every
    answer arrives (the WS one in order)."""
    from trio_websocket import open_websocket_url

    signer, other = LocalSigner.generate(), LocalSigner.generate()
    async with open_emulator(limits=Limits.unlimited(), auto_fund="any", tick_interval_s=3600.0) as emu:
        emu.engine.set_mark("SOL", "150")
        nonce = emu.now_ms()

        def body(who: LocalSigner, n: int, k: int) -> dict[str, Any]:
            action = {"type": "order", "grouping": "na",
                      "orders": [limit(SOL, f"{100 + i % 40}", "1") for i in range(n)]}
            return exchange_body(action, nonce + k, sign_l1_action(who, action, None, nonce + k, None, False),
                                 None, None)

        big, small, from_http = body(signer, 900, 1), body(signer, 1, 2), body(other, 1, 3)
        async with open_websocket_url(emu.ws_url) as ws:
            await ws.send_message(json.dumps({"method": "post", "id": 1,
                                              "request": {"type": "action", "payload": big}}))
            await ws.send_message(json.dumps({"method": "post", "id": 2,
                                              "request": {"type": "action", "payload": small}}))
            async with trio.open_nursery() as nursery:
                http_answer: list[Any] = []

                async def post_http() -> None:
                    # wait until the batch is being applied (the engine signals nothing: look at its state at
                    # every checkpoint), then act from another client
                    while not 0 < len(emu.engine.orders) < 900:
                        await trio.lowlevel.checkpoint()
                    async with await trio.open_tcp_stream(emu.host, emu.port) as stream:
                        _, raw = await _http_post(stream, "/exchange", json.dumps(from_http).encode())
                    http_answer.append(json.loads(raw))

                nursery.start_soon(post_http)
                answers = [json.loads(await ws.get_message()) for _ in range(2)]
    assert [a["data"]["id"] for a in answers] == [1, 2]
    statuses = [s for a in answers for s in a["data"]["response"]["payload"]["response"]["data"]["statuses"]]
    oids = [s["resting"]["oid"] for s in statuses]
    (http_status,) = http_answer[0]["response"]["data"]["statuses"]
    assert len(oids) == 901 and oids == sorted(oids)
    assert http_status["resting"]["oid"] > oids[899]  # after the whole batch, not between its slices


@pytest.mark.parametrize("depth", [63, 100, 100_000])  # 63 inside the body's object: 64 levels, the limit
async def test_a_large_body_nested_too_deep_is_refused_not_a_crash(depth: int) -> None:
    """Large bodies skip the regex depth scan (``app._decode_large``): hostile nesting is still a 422, and the
    server lives on.  Padded past the large-body threshold with a long string."""
    nested = "[" * depth + "]" * depth
    body = ('{"pad":"' + "x" * (100 << 10) + '","action":' + nested + ',"nonce":1,"signature":null}').encode()
    async with open_emulator() as emu, await trio.open_tcp_stream(emu.host, emu.port) as stream:
        status, text = await _http_post(stream, "/exchange", body)
        if depth >= 100:
            assert status == 422 and b"nested deeper than 64 levels" in text
        else:
            assert status == 422 and b"nested deeper" not in text  # decoded; refused as no action object
        status, _ = await _http_post(stream, "/info", b'{"type":"allMids"}')
        assert status == 200
