"""REST clients over httpx.MockTransport: every error translation, retry policy, rate-limit debits, paging."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from venue_fixtures import samples

from trio_hl.errors import (
    AmbiguousOutcomeError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
    VenueRejectedError,
)
from trio_hl.hyperliquid.ratelimit import IpRateLimiter
from trio_hl.hyperliquid.rest import (
    ExchangeClient,
    InfoClient,
    RetryPolicy,
    action_batch_length,
    open_rest_clients,
)

BASE = "http://venue.test"
USER = "0x" + "ab" * 20
CLOID = "0x" + "00" * 15 + "01"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records bodies and plays a scripted list of outcomes."""

    def __init__(self, *outcomes: httpx.Response | Exception | Handler) -> None:
        self.outcomes = list(outcomes)
        self.bodies: list[Any] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        self.paths.append(request.url.path)
        assert request.headers["content-type"] == "application/json"
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, httpx.Response):
            return outcome
        return outcome(request)


def info_client(recorder: Recorder, **kwargs: Any) -> InfoClient:
    kwargs.setdefault("rng", random.Random(0))
    return InfoClient(BASE, transport=httpx.MockTransport(recorder), **kwargs)


def exchange_client(recorder: Recorder, **kwargs: Any) -> ExchangeClient:
    return ExchangeClient(BASE, transport=httpx.MockTransport(recorder), **kwargs)


ORDER_BODY: dict[str, Any] = {
    "action": {"type": "order", "orders": [{"a": 0}], "grouping": "na"},
    "nonce": 1,
    "signature": {"r": "0x1", "s": "0x2", "v": 27},
    "vaultAddress": None,
    "expiresAfter": None,
}

# -- /exchange translations ---------------------------------------------------------------------------------


async def test_post_action_returns_ok_and_err_envelopes_as_data() -> None:
    ok = {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"resting": {"oid": 1}}]}}}
    err = {"status": "err", "response": "Invalid nonce: duplicate nonce 1"}
    rec = Recorder(httpx.Response(200, json=ok), httpx.Response(200, json=err))
    async with exchange_client(rec) as client:
        assert await client.post_action(ORDER_BODY) == ok
        assert await client.post_action(ORDER_BODY) == err
    assert rec.paths == ["/exchange", "/exchange"]
    assert rec.bodies[0] == ORDER_BODY


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.PoolTimeout("pool"),
    ],
)
async def test_action_not_sent_is_transport_error(exc: Exception) -> None:
    rec = Recorder(exc)
    async with exchange_client(rec) as client:
        with pytest.raises(TransportError) as info:
            await client.post_action(ORDER_BODY)
    assert type(info.value) is TransportError
    assert info.value.__cause__ is exc


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("no answer"),
        httpx.WriteTimeout("stuck writing"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
async def test_action_lost_after_send_is_ambiguous(exc: Exception) -> None:
    rec = Recorder(exc)
    async with exchange_client(rec) as client:
        with pytest.raises(AmbiguousOutcomeError) as info:
            await client.post_action(ORDER_BODY)
    assert info.value.__cause__ is exc
    assert len(rec.bodies) == 1  # never retried


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_action_5xx_is_ambiguous_with_server_error_cause(status: int) -> None:
    rec = Recorder(httpx.Response(status, text="upstream"))
    async with exchange_client(rec) as client:
        with pytest.raises(AmbiguousOutcomeError) as info:
            await client.post_action(ORDER_BODY)
    cause = info.value.__cause__
    assert isinstance(cause, ServerError)
    assert cause.status_code == status
    assert cause.body == "upstream"
    assert len(rec.bodies) == 1


async def test_action_429_is_rate_limited_and_penalizes(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter(rng=random.Random(1))
    rec = Recorder(httpx.Response(429, text="rate limited"))
    async with exchange_client(rec, limiter=limiter) as client:
        with pytest.raises(RateLimitedError):
            await client.post_action(ORDER_BODY)
    stats = limiter.statistics()
    assert stats.rate_limited == 1
    assert stats.penalty_remaining > 0
    assert len(rec.bodies) == 1


async def test_action_422_plain_text_is_venue_rejected() -> None:
    text = "Failed to deserialize the JSON body into the target type: missing field `nonce`"
    rec = Recorder(httpx.Response(422, text=text, headers={"content-type": "text/plain"}))
    async with exchange_client(rec) as client:
        with pytest.raises(VenueRejectedError) as info:
            await client.post_action(ORDER_BODY)
    assert "Failed to deserialize" in info.value.message
    assert "422" in info.value.message


async def test_action_non_json_200_is_protocol_error() -> None:
    rec = Recorder(httpx.Response(200, text="<html>oops</html>"))
    async with exchange_client(rec) as client:
        with pytest.raises(ProtocolError, match="non-JSON"):
            await client.post_action(ORDER_BODY)


async def test_action_json_without_status_is_protocol_error() -> None:
    rec = Recorder(httpx.Response(200, json=[1, 2]))
    async with exchange_client(rec) as client:
        with pytest.raises(ProtocolError, match="status envelope"):
            await client.post_action(ORDER_BODY)


async def test_action_body_without_action_refused_before_sending() -> None:
    rec = Recorder(httpx.Response(200, json={"status": "ok"}))
    async with exchange_client(rec) as client:
        with pytest.raises(ValueError, match="action"):
            await client.post_action({"nonce": 1})
    assert rec.bodies == []


async def test_action_weight_follows_batch_length(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    rec = Recorder(httpx.Response(200, json={"status": "ok", "response": {"type": "default"}}))
    body = dict(ORDER_BODY, action={"type": "cancel", "cancels": [{"a": 0, "o": i} for i in range(80)]})
    async with exchange_client(rec, limiter=limiter) as client:
        await client.post_action(body)
        await client.post_action(ORDER_BODY)
    assert limiter.statistics().weight_debited == 3 + 1


def test_action_batch_length() -> None:
    assert action_batch_length({"type": "order", "orders": [1, 2, 3]}) == 3
    assert action_batch_length({"type": "cancelByCloid", "cancels": [1]}) == 1
    assert action_batch_length({"type": "batchModify", "modifies": [1, 2]}) == 2
    assert action_batch_length({"type": "noop"}) == 0


# -- /info translations and retries -------------------------------------------------------------------------


async def test_info_retries_transient_errors_then_succeeds(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(503, text="busy"),
        httpx.Response(200, json={"BTC": "30000"}),
    )
    start = trio.current_time()
    async with info_client(rec, rng=random.Random(9)) as client:
        assert await client.all_mids() == {"BTC": "30000"}
        assert client.retries == 3
    ref = random.Random(9)
    expected = ref.uniform(0, 0.25) + ref.uniform(0, 0.5) + ref.uniform(0, 1.0)
    assert trio.current_time() - start == pytest.approx(expected)
    assert rec.bodies == [{"type": "allMids", "dex": ""}] * 4


async def test_info_retry_is_bounded_and_last_error_propagates(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder(httpx.Response(502, text="bad gateway"))
    async with info_client(rec, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(ServerError) as info:
            await client.meta()
    assert info.value.status_code == 502
    assert len(rec.bodies) == 3


async def test_info_read_failure_is_transport_error_not_ambiguous(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder(httpx.RemoteProtocolError("dropped"))
    async with info_client(rec, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(TransportError) as info:
            await client.meta()
    assert not isinstance(info.value, AmbiguousOutcomeError)


async def test_info_429_retried_after_penalty(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter(rng=random.Random(2))
    rec = Recorder(httpx.Response(429, text=""), httpx.Response(200, json={"universe": []}))
    async with info_client(rec, limiter=limiter) as client:
        assert await client.meta() == {"universe": []}
    assert limiter.statistics().rate_limited == 1
    assert len(rec.bodies) == 2


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(422, text="Failed to deserialize the JSON body into the target type"), VenueRejectedError),
        (httpx.Response(200, text="not json"), ProtocolError),
        (httpx.Response(200, json=["a list"]), ProtocolError),  # meta promises an object
    ],
)
async def test_info_definitive_errors_not_retried(response: httpx.Response, error: type[Exception]) -> None:
    rec = Recorder(response)
    async with info_client(rec) as client:
        with pytest.raises(error):
            await client.meta()
    assert len(rec.bodies) == 1


async def test_info_request_bodies_match_sdk() -> None:
    rec = Recorder(lambda req: httpx.Response(200, json=[] if b"Orders" in req.content else {}))
    async with info_client(rec) as client:
        await client.meta()
        await client.spot_meta()
        await client.l2_book("BTC", n_sig_figs=5, mantissa=2)
        await client.open_orders(USER)
        await client.frontend_open_orders(USER, dex="xyz")
        await client.order_status(USER, 5)
        await client.order_status(USER, CLOID)
        await client.clearinghouse_state(USER)
        await client.spot_clearinghouse_state(USER)
        await client.user_rate_limit(USER)
        await client.historical_orders(USER)
    assert rec.bodies == [
        {"type": "meta", "dex": ""},
        {"type": "spotMeta"},
        {"type": "l2Book", "coin": "BTC", "nSigFigs": 5, "mantissa": 2},
        {"type": "openOrders", "user": USER, "dex": ""},
        {"type": "frontendOpenOrders", "user": USER, "dex": "xyz"},
        {"type": "orderStatus", "user": USER, "oid": 5},
        {"type": "orderStatus", "user": USER, "oid": CLOID},
        {"type": "clearinghouseState", "user": USER, "dex": ""},
        {"type": "spotClearinghouseState", "user": USER},
        {"type": "userRateLimit", "user": USER},
        {"type": "historicalOrders", "user": USER},
    ]


async def test_order_status_argument_validation() -> None:
    rec = Recorder(httpx.Response(200, json={}))
    async with info_client(rec) as client:
        with pytest.raises(ValueError, match="cloid"):
            await client.order_status(USER, "0x1")
        with pytest.raises(ValueError, match="oid_or_cloid"):
            await client.order_status(USER, True)
    assert rec.bodies == []


async def test_info_weights_debited_including_per_item_extra(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    fills = [{"time": 1, "tid": i, "oid": 1, "side": "B"} for i in range(45)]
    rec = Recorder(
        httpx.Response(200, json={"BTC": "1"}),  # allMids: 2
        httpx.Response(200, json=fills),  # historicalOrders: 20 + 45 // 20
        httpx.Response(200, json=[]),  # openOrders: 20, no per-item weight
    )
    async with info_client(rec, limiter=limiter) as client:
        await client.all_mids()
        await client.historical_orders(USER)
        await client.open_orders(USER)
    assert limiter.statistics().weight_debited == 2 + 22 + 20


async def test_info_waits_for_rate_limiter(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    await limiter.acquire(1200)
    rec = Recorder(httpx.Response(200, json={"universe": []}))
    start = trio.current_time()
    async with info_client(rec, limiter=limiter) as client:
        await client.meta()  # 20 weight at 20/s
    assert trio.current_time() - start == pytest.approx(1.0)


# -- userFillsByTime paging ---------------------------------------------------------------------------------


def fill(t: int, tid: int) -> dict[str, Any]:
    return {"time": t, "tid": tid, "oid": 7, "side": "B", "px": "1", "sz": "1"}


def paging_handler(all_fills: list[dict[str, Any]], page_size: int) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        req = json.loads(request.content)
        end = req["endTime"]
        chosen = [f for f in all_fills if f["time"] >= req["startTime"] and (end is None or f["time"] <= end)]
        return httpx.Response(200, json=chosen[:page_size])

    return handler


def selecting_handler(all_fills: list[dict[str, Any]], page_size: int, newest: bool, descending: bool) -> Handler:
    """A venue that answers a full window with its ``newest`` (else oldest) ``page_size`` fills, listed newest
    first when ``descending``.  The official SDK's recorded 500-fill userFillsByTime answer is newest first and
    starts at the requested endTime (tests/fixtures/venue/hl_python_sdk/info_userFillsByTime.json)."""
    def handler(request: httpx.Request) -> httpx.Response:
        req = json.loads(request.content)
        end = req["endTime"]
        chosen = [f for f in all_fills if f["time"] >= req["startTime"] and (end is None or f["time"] <= end)]
        chosen.sort(key=lambda f: f["time"])
        page = chosen[-page_size:] if newest else chosen[:page_size]
        return httpx.Response(200, json=page[::-1] if descending else page)

    return handler


def test_recorded_user_fills_by_time_page_is_newest_first() -> None:
    """The fact the handler above models: the venue's full page is the window's newest fills, newest first."""
    (sample,) = samples("info", "userFillsByTime", source="hl_python_sdk")
    times = [f["time"] for f in sample.response]
    assert times == sorted(times, reverse=True) and times[0] == sample.request["endTime"]


@pytest.mark.parametrize(("newest", "descending"), [(True, True), (True, False), (False, True), (False, False)])
async def test_user_fills_by_time_gets_every_fill_whichever_end_the_venue_pages_from(newest: bool,
                                                                                     descending: bool) -> None:
    # 1 300 fills over 1 000 ms (runs of 3 per millisecond straddle page ends): three full pages' worth.
    all_fills = [fill(1000 + (i * 10) // 13, i) for i in range(1300)]
    rec = Recorder(selecting_handler(all_fills, 500, newest, descending))
    async with info_client(rec) as client:
        got = await client.user_fills_by_time(USER, 1000, 5000)
        got_open = await client.user_fills_by_time(USER, 1000)
    for answer in (got, got_open):
        assert sorted(f["tid"] for f in answer) == list(range(1300))  # every fill, once
        assert [f["time"] for f in answer] == sorted(f["time"] for f in answer)  # oldest first
    assert len(rec.bodies) <= 2 * (2 * 1300 // 500 + 1)


@pytest.mark.parametrize("page_size", [500, 2000])
async def test_user_fills_by_time_pages_and_dedups(page_size: int) -> None:
    # 2300 fills, several sharing milliseconds, including across page boundaries.
    all_fills = [fill(1000 + i // 3, i) for i in range(2300)]
    rec = Recorder(paging_handler(all_fills, page_size))
    async with info_client(rec) as client:
        got = await client.user_fills_by_time(USER, 1000)
    assert [f["tid"] for f in got] == list(range(2300))
    assert rec.bodies[0] == {
        "type": "userFillsByTime",
        "user": USER,
        "startTime": 1000,
        "endTime": None,
        "aggregateByTime": False,
    }
    # A full page is followed by the windows at or after its newest fill and at or before its oldest (bounds
    # inclusive), each within the asked window; the one a page already covers answers short.
    assert all(b["startTime"] >= 1000 for b in rec.bodies)
    assert len(rec.bodies) <= 2 * (2300 // page_size + 1) + 1


async def test_user_fills_by_time_respects_end_and_single_page() -> None:
    all_fills = [fill(1000 + i, i) for i in range(100)]
    rec = Recorder(paging_handler(all_fills, 500))
    async with info_client(rec) as client:
        got = await client.user_fills_by_time(USER, 1010, 1019)
    assert [f["tid"] for f in got] == list(range(10, 20))
    assert len(rec.bodies) == 1
    assert rec.bodies[0]["endTime"] == 1019


async def test_user_fills_by_time_malformed_and_runaway() -> None:
    async with info_client(Recorder(httpx.Response(200, json=[{"tid": 1}]))) as client:
        with pytest.raises(ProtocolError, match="malformed fill"):
            await client.user_fills_by_time(USER, 0)
    # A venue that keeps returning new full pages forever is cut off, not followed forever.
    counter = iter(range(10**9))

    def endless(request: httpx.Request) -> httpx.Response:
        base = next(counter) * 500
        return httpx.Response(200, json=[fill(base + i, base + i) for i in range(500)])

    async with info_client(Recorder(endless)) as client:
        with pytest.raises(ProtocolError, match="pages"):
            await client.user_fills_by_time(USER, 0, max_pages=3)
    async with InfoClient(BASE) as client:
        with pytest.raises(ValueError, match="start_ms"):
            await client.user_fills_by_time(USER, 10, 5)


# -- construction and sharing -------------------------------------------------------------------------------


async def test_open_rest_clients_share_client_and_limiter(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder(
        lambda req: httpx.Response(200, json={"status": "ok"} if req.url.path == "/exchange" else {"BTC": "1"})
    )
    async with open_rest_clients(BASE + "/", transport=httpx.MockTransport(rec)) as rest:
        assert rest.info.limiter is rest.exchange.limiter is rest.limiter
        await rest.info.all_mids()
        await rest.exchange.post_action(ORDER_BODY)
    assert rec.paths == ["/info", "/exchange"]
    assert rest.limiter.statistics().weight_debited == 3


def test_bad_base_url_and_missing_arguments() -> None:
    with pytest.raises(ValueError, match="base_url"):
        InfoClient("ws://x")
    with pytest.raises(ValueError, match="base_url or http"):
        ExchangeClient()
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


async def test_info_request_requires_type() -> None:
    async with info_client(Recorder(httpx.Response(200, json={}))) as client:
        with pytest.raises(ValueError, match="type"):
            await client.post({"user": USER})


async def test_real_socket_connect_refused_is_transport_error() -> None:
    # A port nobody listens on: the kernel refuses the connection, so nothing was sent.
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    async with ExchangeClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(TransportError) as info:
            await client.post_action(ORDER_BODY)
    assert not isinstance(info.value, AmbiguousOutcomeError)
