"""The emulator's ``/ws`` against real trio-websocket clients: subscribe/ack/snapshot, routing by
(channel, key), unsubscribe, ping, idle close on the Trio clock, post, limits, slow-client drop (PROTOCOL §6)."""

from __future__ import annotations

import gc
import json
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from trio_hl.emulator import FaultKind, Limits, open_emulator
from trio_hl.emulator.app import venue_ack
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import cancel_action, exchange_body, update_leverage_action

# Explicit ticks only: the tests decide when the engine produces market data.
QUIET = {"tick_interval_s": 3600.0}


@attrs.frozen
class Msg:
    """A stream message as the engine emits it (channel, routing key, data)."""

    channel: str
    key: str | None
    data: Any


async def recv(ws: WebSocketConnection) -> Any:
    with trio.fail_after(5):
        return json.loads(await ws.get_message())


async def send(ws: WebSocketConnection, obj: Any) -> None:
    await ws.send_message(json.dumps(obj))


async def subscribe(ws: WebSocketConnection, sub: dict[str, Any]) -> list[Any]:
    """Subscribe, assert the ack, and return the frames that follow up to a pong (the snapshot, if any)."""
    await send(ws, {"method": "subscribe", "subscription": sub})
    ack = await recv(ws)
    assert ack == {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": venue_ack(sub)}}
    return await until_pong(ws)


async def until_pong(ws: WebSocketConnection) -> list[Any]:
    await send(ws, {"method": "ping"})
    frames = []
    while (frame := await recv(ws)) != {"channel": "pong"}:
        frames.append(frame)
    return frames


async def test_ping_pong_is_exact() -> None:
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        await send(ws, {"method": "ping"})
        assert await ws.get_message() == '{"channel":"pong"}'


async def test_l2book_ack_snapshot_then_stream() -> None:
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        snapshot = await subscribe(ws, {"type": "l2Book", "coin": "BTC"})
        assert snapshot and snapshot[0]["channel"] == "l2Book"
        assert snapshot[0]["data"]["coin"] == "BTC"
        emu.app.publish([Msg("l2Book", "BTC", {"coin": "BTC", "levels": [[], []], "time": 1}),
                         Msg("l2Book", "ETH", {"coin": "ETH", "levels": [[], []], "time": 2})])
        frames = await until_pong(ws)
    assert frames == [{"channel": "l2Book", "data": {"coin": "BTC", "levels": [[], []], "time": 1}}]


async def test_user_channels_route_by_lowercase_user_and_user_events_use_channel_user() -> None:
    alice, bob = "0x" + "a" * 40, "0x" + "b" * 40
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws_a, \
            open_websocket_url(emu.ws_url) as ws_b:
        await subscribe(ws_a, {"type": "orderUpdates", "user": alice.upper().replace("0X", "0x")})
        await subscribe(ws_a, {"type": "userEvents", "user": alice})
        await subscribe(ws_b, {"type": "orderUpdates", "user": bob})
        emu.app.publish([
            Msg("orderUpdates", alice, [{"order": {"oid": 1}, "status": "open"}]),
            Msg("orderUpdates", bob, [{"order": {"oid": 2}, "status": "open"}]),
            Msg("user", alice, {"fills": []}),
        ])
        got_a = await until_pong(ws_a)
        got_b = await until_pong(ws_b)
    assert got_a == [
        {"channel": "orderUpdates", "data": [{"order": {"oid": 1}, "status": "open"}]},
        {"channel": "user", "data": {"fills": []}},
    ]
    assert got_b == [{"channel": "orderUpdates", "data": [{"order": {"oid": 2}, "status": "open"}]}]


async def test_candle_and_all_mids_routes() -> None:
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        await subscribe(ws, {"type": "candle", "coin": "ETH", "interval": "1m"})
        await subscribe(ws, {"type": "allMids"})
        emu.app.publish([Msg("candle", "ETH:5m", {"s": "ETH", "i": "5m"}), Msg("candle", "ETH:1m", {"s": "ETH"}),
                         Msg("allMids", None, {"mids": {"BTC": "1"}})])
        frames = await until_pong(ws)
    assert frames == [{"channel": "candle", "data": {"s": "ETH"}},
                      {"channel": "allMids", "data": {"mids": {"BTC": "1"}}}]


async def test_unsubscribe_stops_data_and_errors_are_venue_strings() -> None:
    sub = {"type": "trades", "coin": "SOL"}
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        await subscribe(ws, sub)
        await send(ws, {"method": "subscribe", "subscription": sub})
        again = await recv(ws)
        await send(ws, {"method": "unsubscribe", "subscription": sub})
        ack = await recv(ws)
        emu.app.publish([Msg("trades", "SOL", [{"coin": "SOL"}])])
        after = await until_pong(ws)
        await send(ws, {"method": "unsubscribe", "subscription": sub})
        twice = await recv(ws)
        await send(ws, {"method": "subscribe", "subscription": {"type": "nope"}})
        invalid = await recv(ws)
        await ws.send_message("{not json")
        garbage = await recv(ws)
    shown = json.dumps(sub, separators=(",", ":"))
    assert again == {"channel": "error", "data": f"Already subscribed: {shown}"}
    assert ack == {"channel": "subscriptionResponse", "data": {"method": "unsubscribe",
                                                               "subscription": venue_ack(sub)}}
    assert after == []
    assert twice == {"channel": "error", "data": f"Already unsubscribed: {shown}"}
    assert invalid["channel"] == "error" and invalid["data"].startswith("Invalid subscription")
    assert garbage == {"channel": "error", "data": "Error parsing JSON into valid websocket request: {not json"}


async def test_closing_a_connection_frees_its_subscriptions() -> None:
    async with open_emulator(**QUIET) as emu:
        async with open_websocket_url(emu.ws_url) as ws:
            await subscribe(ws, {"type": "bbo", "coin": "BTC"})
            assert emu.statistics().ws_subscriptions == 1
        with trio.fail_after(5):
            while emu.statistics().ws_connections:  # the server notices the close once everything is idle
                await trio.testing.wait_all_tasks_blocked(cushion=0.01)
        assert emu.statistics().ws_subscriptions == 0
        emu.app.publish([Msg("bbo", "BTC", {})])  # no subscriber left: must not raise


# trio-websocket's client leaves its socket to the garbage collector when the *server* ends the connection
# (a refused handshake, a server-side close); collect it inside the test so the ResourceWarning is
# attributed here, where it is expected, and not to whichever test runs next.
_CLIENT_SOCKET_LEAK = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                                 "ignore::ResourceWarning")


@_CLIENT_SOCKET_LEAK
async def test_idle_connection_is_closed_after_60s(autojump_clock: trio.testing.MockClock) -> None:
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        start = trio.current_time()
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert 60 <= trio.current_time() - start <= 60.3  # never early; the deadline is pushed every 0.25 s
        assert closed.value.reason.code == 1000
        assert emu.log.count(FaultKind.WS_IDLE_CLOSE) == 1
    gc.collect()


async def test_pinging_client_stays_connected(autojump_clock: trio.testing.MockClock) -> None:
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        for _ in range(4):  # 200 s of Trio time, a ping every 50 s like the SDK
            await trio.sleep(50)
            assert await until_pong(ws) == []
        assert emu.log.count(FaultKind.WS_IDLE_CLOSE) == 0


async def test_post_info_and_action() -> None:
    signer = LocalSigner.generate()
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        emu.fund(signer.address)
        await send(ws, {"method": "post", "id": 7, "request": {"type": "info", "payload": {"type": "meta"}}})
        info = await recv(ws)
        nonce = emu.now_ms()
        action = update_leverage_action(0, True, 4)
        body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
        await send(ws, {"method": "post", "id": 8, "request": {"type": "action", "payload": body}})
        acted = await recv(ws)
        await send(ws, {"method": "post", "id": 9, "request": {"type": "action", "payload": body}})
        replay = await recv(ws)
        await send(ws, {"method": "post", "id": 10, "request": {"type": "info", "payload": {"type": "bogus"}}})
        bad_info = await recv(ws)
        await send(ws, {"method": "post", "id": "x", "request": {"type": "info", "payload": {}}})
        bad_post = await recv(ws)
    assert info["channel"] == "post" and info["data"]["id"] == 7
    assert info["data"]["response"]["type"] == "info"
    assert info["data"]["response"]["payload"]["type"] == "meta"
    assert "universe" in info["data"]["response"]["payload"]["data"]
    assert acted == {"channel": "post", "data": {"id": 8, "response": {
        "type": "action", "payload": {"status": "ok", "response": {"type": "default"}}}}}
    assert replay["data"]["response"]["payload"] == {
        "status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
    assert bad_info["data"]["id"] == 10 and bad_info["data"]["response"]["type"] == "error"
    assert bad_info["data"]["response"]["payload"].startswith("422 Unprocessable Entity: Failed to deserialize")
    assert bad_post["channel"] == "error"


async def test_user_and_subscription_limits() -> None:
    async with open_emulator(limits=Limits(ws_subscriptions=12), **QUIET) as emu, \
            open_websocket_url(emu.ws_url) as ws:
        for i in range(10):
            await subscribe(ws, {"type": "userFills", "user": f"0x{i:040x}"})
        await send(ws, {"method": "subscribe", "subscription": {"type": "userFills", "user": "0x" + "f" * 40}})
        too_many_users = await recv(ws)
        await subscribe(ws, {"type": "orderUpdates", "user": f"0x{3:040x}"})  # a tracked user: allowed
        await subscribe(ws, {"type": "l2Book", "coin": "ETH"})
        await send(ws, {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "SOL"}})
        too_many_subs = await recv(ws)
    assert too_many_users == {"channel": "error", "data": "Cannot track more than 10 total users."}
    assert too_many_subs == {"channel": "error", "data": "Cannot subscribe to more than 12 channels."}


@_CLIENT_SOCKET_LEAK
async def test_connection_limit_rejects_the_handshake() -> None:
    async with open_emulator(limits=Limits(ws_connections=1), **QUIET) as emu, open_websocket_url(emu.ws_url):
        with pytest.raises(HandshakeError):
            async with open_websocket_url(emu.ws_url):
                pass  # pragma: no cover
    gc.collect()


async def test_welcome_message_is_optional() -> None:
    async with open_emulator(welcome_message=True, **QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        assert await ws.get_message() == "Websocket connection established."
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        await send(ws, {"method": "ping"})
        assert await ws.get_message() == '{"channel":"pong"}'


@_CLIENT_SOCKET_LEAK
async def test_slow_client_is_dropped_without_blocking_others() -> None:
    """A client that stops reading fills its socket buffers, then its bounded queue: it is dropped and logged,
    while a client that reads keeps receiving every frame."""
    pad = "x" * 100_000
    async with open_emulator(ws_queue_size=8, **QUIET) as emu, open_websocket_url(emu.ws_url) as slow, \
            open_websocket_url(emu.ws_url) as fast:
        await subscribe(slow, {"type": "l2Book", "coin": "BTC"})
        await subscribe(fast, {"type": "l2Book", "coin": "BTC"})
        # The fast client acknowledges every frame through a channel and the publisher waits for it, so the
        # fast client can never fall behind, whatever the machine's load; the slow one never reads.
        got_send, got_receive = trio.open_memory_channel[int](1)

        async def read_fast() -> None:
            while True:
                frame = json.loads(await fast.get_message())
                await got_send.send(frame["data"]["time"])

        published = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_fast)
            with trio.fail_after(30):
                while not emu.log.count(FaultKind.WS_QUEUE_OVERFLOW):
                    published += 1
                    emu.app.publish([Msg("l2Book", "BTC", {"coin": "BTC", "time": published, "pad": pad})])
                    assert await got_receive.receive() == published
            nursery.cancel_scope.cancel()
        assert published > 8
        assert await until_pong(fast) == []
        assert emu.statistics().ws_overflow_drops == 1
        record = emu.log.of_kind(FaultKind.WS_QUEUE_OVERFLOW)[0]
        assert record.details["queue_size"] == 8
        with pytest.raises(ConnectionClosed), trio.fail_after(10):
            while True:
                await slow.get_message()
    gc.collect()


async def test_order_updates_reach_the_subscriber_of_the_signer() -> None:
    """End to end with the real engine: an action's stream messages are pushed right after it is applied."""
    signer = LocalSigner.generate()
    user = signer.address.lower()
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        await subscribe(ws, {"type": "orderUpdates", "user": user})
        mids = emu.engine.info({"type": "allMids"}, emu.now_ms())
        price = int(float(mids["ETH"]) * 0.5)
        meta = emu.engine.info({"type": "meta"}, emu.now_ms())
        asset = [a["name"] for a in meta["universe"]].index("ETH")
        action = {"type": "order", "orders": [{"a": asset, "b": True, "p": str(price), "s": "0.1", "r": False,
                                               "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
        nonce = emu.now_ms()
        body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
        await send(ws, {"method": "post", "id": 1, "request": {"type": "action", "payload": body}})
        frames = [await recv(ws), await recv(ws)]
    by_channel = {f["channel"]: f["data"] for f in frames}
    statuses = by_channel["post"]["response"]["payload"]["response"]["data"]["statuses"]
    oid = statuses[0]["resting"]["oid"]
    assert by_channel["orderUpdates"][0]["order"]["oid"] == oid
    assert by_channel["orderUpdates"][0]["status"] == "open"


async def test_order_updates_follow_the_live_subscriptions() -> None:
    """orderUpdates are only built for users somebody is subscribed to (the engine reads the live routing
    table): an order placed before the subscription still has its later updates pushed, and an unsubscribe
    stops them.  The answers themselves never depend on subscriptions."""
    signer = LocalSigner.generate()
    user = signer.address.lower()
    sub = {"type": "orderUpdates", "user": user}
    async with open_emulator(**QUIET) as emu, open_websocket_url(emu.ws_url) as ws:
        emu.fund(user)
        nonce = emu.now_ms()

        async def post(post_id: int, action: dict[str, Any]) -> Any:
            nonlocal nonce
            nonce += 1
            body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
            await send(ws, {"method": "post", "id": post_id, "request": {"type": "action", "payload": body}})
            return await until_pong(ws)

        order = {"type": "order", "orders": [{"a": 2, "b": True, "p": "100", "s": "1", "r": False,
                                              "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
        (placed,) = await post(1, order)
        oid = placed["data"]["response"]["payload"]["response"]["data"]["statuses"][0]["resting"]["oid"]
        await subscribe(ws, sub)
        canceled = await post(2, cancel_action([(2, oid)]))
        again = await post(3, order)
        oid2 = again[-1]["data"]["response"]["payload"]["response"]["data"]["statuses"][0]["resting"]["oid"]
        await send(ws, {"method": "unsubscribe", "subscription": sub})
        await recv(ws)
        (quiet,) = await post(4, cancel_action([(2, oid2)]))
    assert [f["channel"] for f in canceled] == ["orderUpdates", "post"]
    assert canceled[0]["data"][0]["status"] == "canceled" and canceled[0]["data"][0]["order"]["oid"] == oid
    assert [f["channel"] for f in again] == ["orderUpdates", "post"]
    assert again[0]["data"][0]["status"] == "open" and again[0]["data"][0]["order"]["oid"] == oid2
    assert quiet["channel"] == "post"
    assert quiet["data"]["response"]["payload"]["response"]["data"]["statuses"] == ["success"]
