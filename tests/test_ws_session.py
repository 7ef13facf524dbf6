"""WsSession against a scriptable fake venue (``trio_websocket.serve_websocket`` on 127.0.0.1, port 0).

The fake venue is deliberately tiny and written here (not ``trio_hl.emulator``) so every test decides exactly what
the server does: ack or withhold acks, reject a subscription, push frames, answer posts in any order, go silent,
close, refuse handshakes.  Time is virtual (``MockClock``); synchronisation is by events and by a *barrier* (a
frame pushed after the frames under test on the same ordered socket), never by real sleeps.
"""

from __future__ import annotations

import collections
import json
import math
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from trio_hl.errors import (
    AmbiguousOutcomeError,
    RateLimitedError,
    ServerError,
    TransportError,
    VenueRejectedError,
)
from trio_hl.hyperliquid.backoff import BackoffPolicy
from trio_hl.hyperliquid.ws import (
    BANNER,
    Delivery,
    Disconnected,
    Ready,
    SubscriptionStream,
    VenueErrorFrame,
    WsSession,
    WsSettings,
    open_ws_session,
)

USER = "0x" + "ab" * 20
BTC_BOOK = {"type": "l2Book", "coin": "BTC"}
ETH_BOOK = {"type": "l2Book", "coin": "ETH"}
ETH_TRADES = {"type": "trades", "coin": "ETH"}
FILLS = {"type": "userFills", "user": USER}
NOTIFY = {"type": "notification", "user": USER}

#: Autojump, but only after 2 ms of *real* idleness.  With threshold 0 the clock may jump while a loopback frame
#: is still inside the kernel (every task is "blocked" on I/O), firing connect/ack timeouts that never happen on
#: a real clock.  2 ms is orders of magnitude above loopback latency and keeps the file fast.
AUTOJUMP_THRESHOLD = 0.002

#: trio-websocket 0.12 never closes a *client* socket after the server rejected the handshake or closed the
#: connection first (the reader exits on the server's FIN without closing the stream; ``aclose()`` returns early
#: because a close reason is already set).  The fd is freed by GC with a ResourceWarning; that is the library's,
#: not WsSession's, so it is silenced here and only here.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD)


# -- the fake venue -------------------------------------------------------------------------------------------


class FakeConn:
    """One accepted connection: what the client sent (by method), and ways to push frames or close."""

    def __init__(self, ws: WebSocketConnection, opened_at: float) -> None:
        self.ws = ws
        self.opened_at = opened_at
        self.received: list[dict[str, Any]] = []
        self.pings: list[float] = []
        self.closed = trio.Event()
        self.closed_at: float | None = None
        self._inbox: dict[str, tuple[trio.MemorySendChannel[Any], trio.MemoryReceiveChannel[Any]]] = (
            collections.defaultdict(lambda: trio.open_memory_channel[Any](math.inf))
        )

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("method") == method]

    async def next(self, method: str) -> dict[str, Any]:
        """The next message of ``method`` the client sent on this connection (waits for it)."""
        msg: dict[str, Any] = await self._inbox[method][1].receive()
        return msg

    async def push(self, frame: Any) -> None:
        await self.ws.send_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def ack(self, sub: dict[str, Any], method: str = "subscribe") -> None:
        await self.push({"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}})

    async def answer(self, post_id: int, payload: Any, kind: str = "info") -> None:
        await self.push({"channel": "post", "data": {"id": post_id, "response": {"type": kind, "payload": payload}}})

    async def close(self) -> None:
        await self.ws.aclose()


class FakeVenue:
    def __init__(self) -> None:
        self.ack_subscriptions = True
        self.answer_pings = True
        self.send_banner = False
        #: Coins whose subscription is refused with an ``Invalid subscription`` error frame, and its prefix.
        self.reject_coins: set[str] = set()
        self.reject_prefix = "Invalid subscription: "
        #: Handshakes to refuse (HTTP 503) before accepting again; math.inf refuses forever.
        self.refuse_handshakes: float = 0
        self.attempts: list[float] = []
        self.conns: list[FakeConn] = []
        self._new_conn = trio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self, nursery: trio.Nursery) -> None:
        server = await nursery.start(serve_websocket, self._handler, "127.0.0.1", 0, None)
        self.port = server.port

    async def conn(self, index: int) -> FakeConn:
        """The ``index``-th accepted connection (0-based), waiting for it."""
        while len(self.conns) <= index:
            await self._new_conn.wait()
        return self.conns[index]

    async def _handler(self, request: WebSocketRequest) -> None:
        self.attempts.append(trio.current_time())
        if self.refuse_handshakes > 0:
            self.refuse_handshakes -= 1
            await request.reject(503)
            return
        ws = await request.accept()
        conn = FakeConn(ws, trio.current_time())
        self.conns.append(conn)
        self._new_conn.set()
        self._new_conn = trio.Event()
        try:
            if self.send_banner:
                await conn.push(BANNER)
            while True:
                msg = json.loads(await ws.get_message())
                conn.received.append(msg)
                method = msg.get("method")
                conn._inbox[method][0].send_nowait(msg)
                if method == "ping":
                    conn.pings.append(trio.current_time())
                    if self.answer_pings:
                        await conn.push({"channel": "pong"})
                elif method in ("subscribe", "unsubscribe"):
                    sub = msg["subscription"]
                    if method == "subscribe" and sub.get("coin") in self.reject_coins:
                        await conn.push({"channel": "error", "data": self.reject_prefix + json.dumps(sub)})
                    elif self.ack_subscriptions:
                        await conn.ack(sub, method)
        except ConnectionClosed:
            pass
        finally:
            conn.closed_at = trio.current_time()
            conn.closed.set()


@pytest.fixture
async def venue(nursery: trio.Nursery) -> FakeVenue:
    v = FakeVenue()
    await v.start(nursery)
    return v


@asynccontextmanager
async def session_for(
    venue: FakeVenue,
    subscriptions: Sequence[dict[str, Any]] = (),
    *,
    seed: int = 0,
    **settings: Any,
) -> AsyncIterator[WsSession]:
    """An open session; a virtual hour bounds every test so a deadlock fails instead of hanging."""
    with trio.fail_after(3600):
        async with open_ws_session(
            venue.url, subscriptions=subscriptions, settings=WsSettings(**settings), rng=random.Random(seed)
        ) as session:
            yield session


async def next_event(session: WsSession) -> Ready | Disconnected | VenueErrorFrame:
    event: Ready | Disconnected | VenueErrorFrame = await session.connection_events().receive()
    return event


async def barrier(session: WsSession, conn: FakeConn, marker: str = "barrier") -> SubscriptionStream:
    """Push a notification after everything already pushed; return once the session delivered it.

    Frames on one socket are handled in order, so when the marker arrives every earlier frame has been handled.
    The session must be subscribed to :data:`NOTIFY`.
    """
    stream = session.stream(NOTIFY)
    await conn.push({"channel": "notification", "data": {"notification": marker}})
    while (await stream.receive())["notification"] != marker:
        pass
    return stream


def trade(coin: str, tid: int) -> dict[str, Any]:
    return {"channel": "trades", "data": [{"coin": coin, "side": "B", "px": "1", "sz": "1", "tid": tid}]}


def book(coin: str, n: int) -> dict[str, Any]:
    return {"channel": "l2Book", "data": {"coin": coin, "levels": [[], []], "time": n}}


def fills(n: int) -> dict[str, Any]:
    return {"channel": "userFills", "data": {"user": USER, "fills": [{"tid": n}]}}


# -- subscribe / unsubscribe ----------------------------------------------------------------------------------


async def test_subscribe_returns_only_after_the_ack(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, [BTC_BOOK, FILLS]) as session:
        conn = venue.conns[0]
        assert [m["subscription"] for m in conn.sent("subscribe")] == [BTC_BOOK, FILLS]
        venue.ack_subscriptions = False
        streams: list[SubscriptionStream] = []
        async with trio.open_nursery() as nursery:

            async def subscribe() -> None:
                streams.append(await session.subscribe(ETH_TRADES))

            nursery.start_soon(subscribe)
            for _ in range(3):  # drain BTC_BOOK / FILLS from the inbox
                msg = await conn.next("subscribe")
                if msg["subscription"] == ETH_TRADES:
                    break
            await trio.sleep(5)
            assert streams == []  # no ack yet: subscribe() is still waiting
            await conn.ack(ETH_TRADES)
        (trades,) = streams
        btc = session.stream(BTC_BOOK)
        user = session.stream(FILLS)

        await conn.push(book("ETH", 1))  # nobody subscribed to ETH's book
        await conn.push(trade("ETH", 7))
        await conn.push(fills(3))
        await conn.push(book("BTC", 2))
        assert (await trades.receive())[0]["tid"] == 7
        assert (await user.receive())["fills"] == [{"tid": 3}]
        assert (await btc.receive())["time"] == 2
        stats = session.statistics()
        assert stats.unrouted_frames == 1
        assert stats.subscriptions == 3
        assert trades.delivery is Delivery.DROP_OLDEST
        assert btc.delivery is Delivery.CONFLATE
        assert user.delivery is Delivery.LOSSLESS


async def test_unacked_subscribe_times_out_but_stays_registered(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue) as session:
        venue.ack_subscriptions = False
        start = trio.current_time()
        with pytest.raises(TransportError):
            await session.subscribe(BTC_BOOK, ack_timeout=3)
        assert trio.current_time() - start == pytest.approx(3)
        assert session.subscriptions() == [BTC_BOOK]


async def test_unsubscribe_sends_the_same_object_waits_for_its_ack_and_ends_the_stream(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue, [BTC_BOOK, NOTIFY]) as session:
        conn = venue.conns[0]
        stream = session.stream(BTC_BOOK)
        venue.ack_subscriptions = False  # withhold the unsubscribe ack: unsubscribe() waits for it, bounded
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session.unsubscribe, BTC_BOOK)
            msg = await conn.next("unsubscribe")
            assert msg == {"method": "unsubscribe", "subscription": BTC_BOOK}
            await trio.sleep(2)
            await conn.ack(BTC_BOOK, "unsubscribe")
        assert trio.current_time() - start == pytest.approx(2)  # returned on the ack, not the 10 s timeout
        assert session.subscriptions() == [NOTIFY]
        with pytest.raises(trio.EndOfChannel):
            await stream.receive()
        await conn.push(book("BTC", 1))
        await barrier(session, conn)
        assert session.statistics().unrouted_frames == 1
        with pytest.raises(ValueError, match="not subscribed"):
            await session.unsubscribe(BTC_BOOK)


@pytest.mark.parametrize("prefix", ["Invalid subscription: ", "Invalid subscription "])
async def test_rejected_subscription_raises_and_is_not_kept(
    clock: trio.testing.MockClock, venue: FakeVenue, prefix: str
) -> None:
    venue.reject_prefix = prefix
    venue.reject_coins = {"NOPE"}
    bad = {"type": "l2Book", "coin": "NOPE"}
    async with session_for(venue, [BTC_BOOK]) as session:
        assert await next_event(session) == Ready(1)
        start = trio.current_time()
        with pytest.raises(VenueRejectedError, match="Invalid subscription"):
            await session.subscribe(bad)
        assert trio.current_time() == start  # refused at once, not after the ack timeout
        assert session.subscriptions() == [BTC_BOOK]
        event = await next_event(session)
        assert isinstance(event, VenueErrorFrame) and "NOPE" in event.message
        # not re-sent on the next connection
        await venue.conns[0].close()
        conn2 = await venue.conn(1)
        assert await session.wait_ready(1) == 2
        assert [m["subscription"] for m in conn2.sent("subscribe")] == [BTC_BOOK]


async def test_refused_initial_subscription_is_dropped_and_its_stream_ended(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    venue.reject_coins = {"NOPE"}
    bad = {"type": "l2Book", "coin": "NOPE"}
    async with session_for(venue, [BTC_BOOK, bad]) as session:
        assert session.subscriptions() == [BTC_BOOK]
        with pytest.raises(ValueError, match="not subscribed"):
            session.stream(bad)
        event = await next_event(session)
        assert isinstance(event, VenueErrorFrame) and "NOPE" in event.message
        assert await next_event(session) == Ready(1)
        # a subscription the venue starts refusing after a reconnect ends its stream instead of going quiet
        btc = session.stream(BTC_BOOK)
        venue.reject_coins = {"BTC"}
        await venue.conns[0].close()
        await venue.conn(1)
        assert await session.wait_ready(1) == 2
        assert session.subscriptions() == []
        with pytest.raises(trio.EndOfChannel):
            await btc.receive()


async def test_stream_is_the_object_subscribe_returned(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue) as session:
        stream = await session.subscribe(ETH_TRADES)
        assert session.stream({"type": "trades", "coin": "ETH"}) is stream
        with pytest.raises(ValueError, match="not subscribed"):
            session.stream(BTC_BOOK)


async def test_subscription_routes_must_be_distinct(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, [BTC_BOOK]) as session:
        with pytest.raises(ValueError, match="same route"):
            await session.subscribe({"type": "l2Book", "coin": "BTC", "nSigFigs": 3})
        with pytest.raises(ValueError, match="coin"):
            await session.subscribe({"type": "l2Book"})


# -- reconnect ------------------------------------------------------------------------------------------------


async def test_reconnect_resubscribes_waits_for_every_ack_and_loses_nothing(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue, [BTC_BOOK, FILLS]) as session:
        events = session.connection_events()
        assert await events.receive() == Ready(1)
        conn1 = venue.conns[0]
        user = session.stream(FILLS)
        for n in range(5):
            await conn1.push(fills(n))
        venue.ack_subscriptions = False
        await conn1.close()

        conn2 = await venue.conn(1)
        event = await events.receive()
        assert isinstance(event, Disconnected)
        assert event.generation == 1
        assert [(await conn2.next("subscribe"))["subscription"] for _ in range(2)] == [BTC_BOOK, FILLS]
        await conn2.ack(BTC_BOOK)
        await trio.sleep(1)
        assert not session.is_ready  # one ack is still missing
        assert session.generation == 1
        await conn2.ack(FILLS)
        assert await events.receive() == Ready(2)
        assert session.is_ready and session.generation == 2

        for n in range(5, 305):
            await conn2.push(fills(n))
        got = [(await user.receive())["fills"][0]["tid"] for _ in range(305)]
        assert got == list(range(305))
        stats = session.statistics()
        assert stats.disconnects == 1
        assert stats.reconnects == 1
        assert stats.dropped_messages == 0


async def test_missing_ack_on_reconnect_ends_that_connection(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, [BTC_BOOK]) as session:
        await venue.conns[0].close()
        venue.ack_subscriptions = False
        conn2 = await venue.conn(1)
        await conn2.next("subscribe")
        await conn2.closed.wait()
        assert conn2.closed_at - conn2.opened_at == pytest.approx(10)  # ack_timeout
        venue.ack_subscriptions = True
        assert await session.wait_ready(1) == 2
        assert len(venue.conns) == 3


# -- backoff --------------------------------------------------------------------------------------------------


async def test_backoff_schedule_is_exact_full_jitter(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    venue.refuse_handshakes = 7
    async with session_for(venue, seed=1234) as session:
        assert session.generation == 1
        stats = session.statistics()
    assert stats.connect_failures == 7
    assert stats.reconnects == 7
    gaps = [b - a for a, b in zip(venue.attempts, venue.attempts[1:], strict=False)]
    policy = BackoffPolicy()
    ref = random.Random(1234)
    expected = [policy.delay(n, ref) for n in range(7)]
    assert gaps == pytest.approx(expected, abs=1e-9)
    for n, gap in enumerate(gaps):
        assert 0 <= gap <= policy.ceiling(n) + 1e-9


@pytest.mark.parametrize(("uptime", "resets"), [(10.5, True), (9.5, False)])
async def test_stable_connection_resets_the_backoff_streak(
    clock: trio.testing.MockClock, venue: FakeVenue, uptime: float, resets: bool
) -> None:
    venue.refuse_handshakes = 3
    async with session_for(venue, seed=99) as session:
        conn = venue.conns[0]
        await trio.sleep_until(conn.opened_at + uptime)
        closed_at = trio.current_time()
        await conn.close()
        await venue.conn(1)
        assert await session.wait_ready(1) == 2
    policy = BackoffPolicy()
    ref = random.Random(99)
    first_three = [policy.delay(n, ref) for n in range(3)]
    gaps = [b - a for a, b in zip(venue.attempts, venue.attempts[1 : 3 + 1], strict=False)]
    assert gaps == pytest.approx(first_three, abs=1e-9)
    expected = policy.delay(0 if resets else 3, ref)
    assert venue.attempts[-1] - closed_at == pytest.approx(expected, abs=1e-9)


# -- staleness and ping ---------------------------------------------------------------------------------------


async def test_silent_server_is_declared_stale_and_reconnected(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    venue.answer_pings = False
    async with session_for(venue, [BTC_BOOK]) as session:
        events = session.connection_events()
        assert await events.receive() == Ready(1)
        conn1 = venue.conns[0]
        event = await events.receive()
        assert isinstance(event, Disconnected) and "stale" in event.reason
        # the last frame was the ack, at connect time; a ping went out at 50 s and got no pong
        assert trio.current_time() - conn1.opened_at == pytest.approx(60)
        assert len(conn1.pings) == 1
        venue.answer_pings = True
        assert await events.receive() == Ready(2)
        stats = session.statistics()
        assert stats.stale_disconnects == 1
        assert len(venue.conns) == 2


async def test_idle_server_that_answers_pings_is_not_stale_and_pings_every_interval(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue, [FILLS]) as session:
        conn = venue.conns[0]
        await trio.sleep_until(conn.opened_at + 50 * 12 + 1)
        stats = session.statistics()
        assert stats.disconnects == 0
        assert stats.stale_disconnects == 0
        assert stats.pings_sent == 12
        assert stats.pongs_received == 12
        assert len(venue.conns) == 1
        assert conn.pings == pytest.approx([conn.opened_at + 50 * k for k in range(1, 13)])
        assert conn.sent("ping")[0] == {"method": "ping"}


async def test_custom_ping_interval_is_honoured(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, ping_interval=7, stale_timeout=9) as session:
        conn = venue.conns[0]
        await trio.sleep_until(conn.opened_at + 7 * 10 + 1)
        assert conn.pings == pytest.approx([conn.opened_at + 7 * k for k in range(1, 11)])
        assert session.statistics().disconnects == 0


# -- post -----------------------------------------------------------------------------------------------------


async def test_post_ids_unique_and_answers_matched_out_of_order(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue) as session:
        conn = venue.conns[0]
        results: dict[int, Any] = {}

        async def post(n: int) -> None:
            results[n] = await session.post("info", {"type": "l2Book", "coin": f"C{n}"})

        async with trio.open_nursery() as nursery:
            for n in range(6):
                nursery.start_soon(post, n)
            msgs = [await conn.next("post") for _ in range(6)]
            ids = [m["id"] for m in msgs]
            assert len(set(ids)) == 6
            for msg in reversed(msgs):
                coin = msg["request"]["payload"]["coin"]
                assert msg["request"]["type"] == "info"
                await conn.answer(msg["id"], {"type": "l2Book", "data": {"coin": coin}})
        assert results == {n: {"type": "l2Book", "data": {"coin": f"C{n}"}} for n in range(6)}
        assert session.statistics().posts_in_flight == 0
        assert session.statistics().posts_sent == 6


@pytest.mark.parametrize(
    ("kind", "payload", "error"),
    [
        ("action", "429 Too Many Requests: slow down", RateLimitedError),
        ("info", "429 Too Many Requests", RateLimitedError),
        ("action", "500 Internal Server Error: boom", AmbiguousOutcomeError),
        ("action", "502 Bad Gateway", AmbiguousOutcomeError),
        ("info", "503 Service Unavailable", ServerError),
        ("action", "400 Bad Request: invalid nonce", VenueRejectedError),
        ("info", "Unknown request", VenueRejectedError),
    ],
)
async def test_post_error_answers_are_classified(
    clock: trio.testing.MockClock, venue: FakeVenue, kind: Any, payload: str, error: type[Exception]
) -> None:
    async with session_for(venue) as session:
        conn = venue.conns[0]
        async with trio.open_nursery() as nursery:

            async def answer() -> None:
                msg = await conn.next("post")
                await conn.answer(msg["id"], payload, kind="error")

            nursery.start_soon(answer)
            with pytest.raises(error) as info:
                await session.post(kind, {"type": "x"})
        if error is AmbiguousOutcomeError:
            assert isinstance(info.value.__cause__, ServerError)
        if error is VenueRejectedError:
            assert info.value.message == payload  # type: ignore[attr-defined]


async def test_too_many_pending_error_frame_fails_that_post_only(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue) as session:
        conn = venue.conns[0]
        outcomes: dict[str, Any] = {}

        async def post(name: str) -> None:
            try:
                outcomes[name] = await session.post("action", {"name": name})
            except RateLimitedError as exc:
                outcomes[name] = exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(post, "a")
            first = await conn.next("post")
            nursery.start_soon(post, "b")
            second = await conn.next("post")
            await conn.push({"channel": "error", "data": f"too many pending post requests id={second['id']}"})
            await conn.answer(first["id"], {"status": "ok"}, kind="action")
        assert outcomes["a"] == {"status": "ok"}
        assert isinstance(outcomes["b"], RateLimitedError)


@pytest.mark.parametrize(("kind", "error"), [("action", AmbiguousOutcomeError), ("info", TransportError)])
async def test_connection_drop_after_sending_a_post(
    clock: trio.testing.MockClock, venue: FakeVenue, kind: Any, error: type[Exception]
) -> None:
    async with session_for(venue) as session:
        conn = venue.conns[0]
        async with trio.open_nursery() as nursery:

            async def drop() -> None:
                await conn.next("post")
                await conn.close()

            nursery.start_soon(drop)
            with pytest.raises(error) as info:
                await session.post(kind, {"type": "order"})
        assert not isinstance(info.value, AmbiguousOutcomeError) or kind == "action"
        assert session.statistics().posts_in_flight == 0


@pytest.mark.parametrize(("kind", "error"), [("action", AmbiguousOutcomeError), ("info", TransportError)])
async def test_unanswered_post_times_out(
    clock: trio.testing.MockClock, venue: FakeVenue, kind: Any, error: type[Exception]
) -> None:
    async with session_for(venue) as session:
        start = trio.current_time()
        with pytest.raises(error) as info:
            await session.post(kind, {"type": "x"}, response_timeout=4)
        assert type(info.value) is error
        assert trio.current_time() - start == pytest.approx(4)
        assert len(venue.conns[0].sent("post")) == 1
        assert session.statistics().posts_in_flight == 0


async def test_post_never_sent_is_a_transport_error_even_for_an_action(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue) as session:
        venue.refuse_handshakes = math.inf
        await venue.conns[0].close()
        await venue.conns[0].closed.wait()
        with pytest.raises(TransportError) as info:
            await session.post("action", {"type": "order"}, response_timeout=5)
        assert type(info.value) is TransportError
        assert "not sent" in str(info.value)
        assert venue.conns[0].sent("post") == []
        assert session.statistics().connect_failures >= 1


async def test_post_waits_for_the_next_connection(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue) as session:
        await venue.conns[0].close()
        async with trio.open_nursery() as nursery:

            async def serve() -> None:
                conn = await venue.conn(1)
                msg = await conn.next("post")
                await conn.answer(msg["id"], {"ok": True})

            nursery.start_soon(serve)
            assert await session.post("info", {"type": "meta"}) == {"ok": True}


async def test_at_most_max_posts_in_flight(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, max_posts_in_flight=3) as session:
        conn = venue.conns[0]
        results: list[int] = []

        async def post(n: int) -> None:
            results.append((await session.post("info", {"n": n}))["n"])

        async with trio.open_nursery() as nursery:
            for n in range(7):
                nursery.start_soon(post, n)
            first = [await conn.next("post") for _ in range(3)]
            await trio.sleep(5)
            assert len(conn.sent("post")) == 3
            assert session.statistics().posts_in_flight == 3
            await conn.answer(first[0]["id"], first[0]["request"]["payload"])
            fourth = await conn.next("post")
            await trio.sleep(5)
            assert len(conn.sent("post")) == 4
            for msg in [*first[1:], fourth]:
                await conn.answer(msg["id"], msg["request"]["payload"])
            for _ in range(3):
                msg = await conn.next("post")
                await conn.answer(msg["id"], msg["request"]["payload"])
        assert sorted(results) == list(range(7))
        assert len(conn.sent("post")) == 7


# -- delivery policies ----------------------------------------------------------------------------------------


async def test_conflating_stream_keeps_only_the_latest(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, [BTC_BOOK, NOTIFY]) as session:
        conn = venue.conns[0]
        stream = session.stream(BTC_BOOK)
        for n in range(10):
            await conn.push(book("BTC", n))
        await barrier(session, conn)
        assert (await stream.receive())["time"] == 9
        with pytest.raises(trio.WouldBlock):
            stream.receive_nowait()
        assert stream.statistics().dropped == 9
        assert session.statistics().dropped_messages == 9


async def test_drop_oldest_stream_keeps_the_newest_and_counts_drops(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue, [ETH_TRADES, NOTIFY], market_buffer=4) as session:
        conn = venue.conns[0]
        stream = session.stream(ETH_TRADES)
        for n in range(10):
            await conn.push(trade("ETH", n))
        await barrier(session, conn)
        assert [stream.receive_nowait()[0]["tid"] for _ in range(4)] == [6, 7, 8, 9]
        assert stream.statistics().dropped == 6
        assert session.statistics().dropped_messages == 6


async def test_lossless_stream_applies_backpressure_and_never_goes_stale(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    async with session_for(venue, [FILLS], user_buffer=2) as session:
        conn = venue.conns[0]
        stream = session.stream(FILLS)
        for n in range(40):
            await conn.push(fills(n))
        await trio.sleep(1)
        assert stream.statistics().buffered == 2  # the receive loop waits instead of growing the buffer
        got = []
        for _ in range(40):
            await trio.sleep(10)  # 400 s total: far beyond stale_timeout, but the session is waiting on *us*
            got.append((await stream.receive())["fills"][0]["tid"])
        assert got == list(range(40))
        stats = session.statistics()
        assert stats.dropped_messages == 0
        assert stats.disconnects == 0
        assert stats.stale_disconnects == 0


# -- bad frames -----------------------------------------------------------------------------------------------

BAD_FRAMES = [
    "not json at all",
    "{truncated",
    "[1, 2, 3]",
    '"a string"',
    '{"data": 1}',
    '{"channel": 5, "data": {}}',
    '{"channel": "l2Book", "data": {"coin": 5}}',
    '{"channel": "l2Book", "data": "BTC"}',
    '{"channel": "trades", "data": []}',
    '{"channel": "trades", "data": ["x"]}',
    '{"channel": "userFills", "data": {"fills": []}}',
    '{"channel": "subscriptionResponse", "data": "nope"}',
    '{"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": {"type": 3}}}',
    '{"channel": "post", "data": {"id": 1}}',
    '{"channel": "post", "data": [1]}',
    "[" * 100_000 + "]" * 100_000,  # deeper than json's recursion limit
]


async def test_malformed_frames_are_counted_and_never_fatal(clock: trio.testing.MockClock, venue: FakeVenue) -> None:
    async with session_for(venue, [BTC_BOOK, NOTIFY]) as session:
        conn = venue.conns[0]
        stream = session.stream(BTC_BOOK)
        await conn.push(BANNER)
        for frame in BAD_FRAMES:
            await conn.push(frame)
        await conn.push('{"channel": "someFutureChannel", "data": {}}')
        # An error frame whose id has more digits than int() converts (it used to end the session).
        await conn.push(json.dumps({"channel": "error", "data": "too many pending post requests id=" + "9" * 5000}))
        await conn.ws.send_message(b"\xff\xfe binary junk")
        # UTF-16 bytes: not UTF-8, so refused before the JSON decoder can guess an encoding (it used to segfault).
        await conn.ws.send_message(("\u2200" + "[" * 99_000 + "]" * 99_000).encode("utf-16-le"))
        await conn.push(book("BTC", 1))
        await barrier(session, conn)
        stats = session.statistics()
        assert stats.malformed_frames == len(BAD_FRAMES) + 2
        assert stats.ignored_frames == 1
        assert stats.unrouted_frames == 1
        assert stats.disconnects == 0
        assert (await stream.receive())["time"] == 1
        async with trio.open_nursery() as nursery:

            async def answer() -> None:
                msg = await conn.next("post")
                await conn.answer(msg["id"], "pong")

            nursery.start_soon(answer)
            assert await session.post("info", {"type": "meta"}) == "pong"


# -- Hypothesis: junk never crashes the session ---------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_subscriptions = st.sampled_from([BTC_BOOK, ETH_BOOK, ETH_TRADES, FILLS, {"type": "candle"}, {"type": 1}])
_frames = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from([BANNER, json.dumps(book("BTC", 1)), json.dumps(trade("ETH", 1)), json.dumps(fills(1))]),
    st.builds(
        lambda channel, data: json.dumps({"channel": channel, "data": data}),
        st.sampled_from(["l2Book", "trades", "userFills", "bbo", "candle", "user", "pong", "post", "error", "x"]),
        _json_values,
    ),
    st.builds(
        lambda method, sub: json.dumps(
            {"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}
        ),
        st.sampled_from(["subscribe", "unsubscribe", 3]),
        _subscriptions,
    ),
    st.builds(
        lambda prefix, sub: json.dumps({"channel": "error", "data": prefix + json.dumps(sub)}),
        st.sampled_from(["Invalid subscription: ", "Already subscribed: ", "too many pending post requests id="]),
        _subscriptions | st.integers(),
    ),
    st.builds(
        lambda post_id, kind, payload: json.dumps(
            {"channel": "post", "data": {"id": post_id, "response": {"type": kind, "payload": payload}}}
        ),
        st.integers(1000, 1010) | st.text(max_size=3),
        st.sampled_from(["info", "action", "error", "???"]),
        _json_values,
    ),
)


@settings(max_examples=60)
@given(frames=st.lists(_frames, max_size=25))
def test_random_frames_never_crash_the_session(frames: list[str]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            venue = FakeVenue()
            await venue.start(nursery)
            async with session_for(venue, [BTC_BOOK, ETH_TRADES, FILLS, NOTIFY]) as session:
                conn = venue.conns[0]
                for frame in frames:
                    await conn.push(frame)
                await barrier(session, conn)
                stats = session.statistics()
                assert stats.disconnects == 0
                assert stats.frames_received >= len(frames)
                async with trio.open_nursery() as inner:

                    async def answer() -> None:
                        msg = await conn.next("post")
                        await conn.answer(msg["id"], {"ok": 1})

                    inner.start_soon(answer)
                    assert await session.post("info", {"type": "meta"}) == {"ok": 1}
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD))


# -- raw l2Book frames ----------------------------------------------------------------------------------------


async def test_raw_frames_stream_carries_book_frame_text_routed_by_coin(
    clock: trio.testing.MockClock, venue: FakeVenue
) -> None:
    """A raw_frames l2Book subscription gets the venue-layout frame text as it came; other layouts and other
    coins take the decoding path (data delivered decoded; a frame for nobody counted as unrouted)."""
    async with session_for(venue, [NOTIFY]) as session:
        conn = venue.conns[0]
        with pytest.raises(ValueError, match="l2Book only"):
            await session.subscribe(ETH_TRADES, raw_frames=True)
        btc = await session.subscribe(BTC_BOOK, raw_frames=True)
        plain = await session.subscribe(ETH_BOOK)
        compact = json.dumps(book("BTC", 1), separators=(",", ":"))
        assert compact.startswith('{"channel":"l2Book","data":{"coin":"BTC",')
        await conn.push(compact)
        assert await btc.receive() == compact
        await conn.push(json.dumps(book("BTC", 2)))  # another layout (spaces): decoded and routed as data
        assert await btc.receive() == book("BTC", 2)["data"]
        await conn.push(json.dumps(book("ETH", 3), separators=(",", ":")))  # not a raw subscription: data
        assert await plain.receive() == book("ETH", 3)["data"]
        await conn.push(json.dumps(book("SOL", 4), separators=(",", ":")))  # nobody's
        await conn.push('{"channel":"l2Book","data":{"coin":"B\\u0054C","levels":[[],[]],"time":5}}')
        await barrier(session, conn)
        # The escaped coin decodes to "BTC": it is delivered as data, never mistaken for another coin's text.
        assert await btc.receive() == {"coin": "BTC", "levels": [[], []], "time": 5}
        assert session.statistics().unrouted_frames == 1


@pytest.mark.parametrize("payload", ["Request timed out", "internal error", ""])
async def test_an_action_post_error_without_a_status_is_ambiguous(
    clock: trio.testing.MockClock, venue: FakeVenue, payload: str
) -> None:
    """The venue's post error mirrors an HTTP status; one without it says nothing about whether the action was
    applied, so an order in it must be resolved (UNKNOWN), never failed as if refused."""
    async with session_for(venue) as session:
        conn = venue.conns[0]
        async with trio.open_nursery() as nursery:

            async def answer() -> None:
                msg = await conn.next("post")
                await conn.answer(msg["id"], payload, kind="error")

            nursery.start_soon(answer)
            with pytest.raises(AmbiguousOutcomeError) as info:
                await session.post("action", {"type": "x"})
    assert isinstance(info.value.__cause__, VenueRejectedError) and payload in str(info.value)
