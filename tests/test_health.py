"""Health: debounced ``HealthChanged`` events (outage, stall, blip), health figures under faults, and the
Prometheus endpoint (exposition text matching ``conn.health()``, malformed requests answered and survived)."""

from __future__ import annotations

import io
import math
import re
from decimal import Decimal
from functools import partial

import attrs
import httpx
import pytest
import trio

from trio_hl import HyperliquidConnector, OrderParams
from trio_hl.core.events import Event, HealthChanged, HealthIssue
from trio_hl.demo import DemoOptions, run_demo
from trio_hl.emulator import Emulator
from trio_hl.events.metrics import CONTENT_TYPE, MAX_REQUEST_BYTES, render_metrics, serve_metrics
from trio_hl.hyperliquid.connector import ConnectorHealth
from trio_hl.hyperliquid.health import HealthMonitor, HealthSettings, Hysteresis

pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")

D = Decimal
#: Fast thresholds for tests: a check every 20 ms, halt after 0.2 s of trouble, resume after 0.4 s of health.
FAST = HealthSettings(check_interval_s=0.02, halt_after_s=0.2, resume_after_s=0.4, book_stale_after_s=None,
                      stream_stale_after_s=None)


async def next_health(events: trio.MemoryReceiveChannel[Event], limit: float = 10.0) -> HealthChanged:
    with trio.fail_after(limit):
        async for event in events:
            if isinstance(event, HealthChanged):
                return event
    raise AssertionError("event stream ended")


def health_events_so_far(events: trio.MemoryReceiveChannel[Event]) -> list[HealthChanged]:
    seen: list[HealthChanged] = []
    while True:
        try:
            event = events.receive_nowait()
        except trio.WouldBlock:
            return seen
        if isinstance(event, HealthChanged):
            seen.append(event)


# ------------------------------------------------------------------------------------------------ hysteresis


def test_hysteresis_halts_only_on_persistent_trouble_and_resumes_after_steady_health() -> None:
    h = Hysteresis()
    timing = {"halt_after_s": 1.0, "resume_after_s": 2.0}
    # a single blip shorter than halt_after_s: silent
    assert not h.update(False, 0.0, **timing)
    assert not h.update(False, 0.9, **timing)
    assert not h.update(True, 1.0, **timing)
    assert not h.update(True, 2.0, **timing)  # 1 s healthy: the episode is forgotten
    assert not h.update(False, 2.5, **timing)
    assert not h.update(False, 3.4, **timing)
    assert h.fit
    # repeated short blips (never 1 s healthy in between) still halt, once
    assert not h.update(True, 3.5, **timing)
    assert h.update(False, 3.6, **timing)  # trouble since 2.5
    assert not h.fit
    assert not h.update(False, 3.7, **timing)
    # resume needs 2 s of continuous health; one bad sample restarts the wait
    assert not h.update(True, 4.0, **timing)
    assert not h.update(False, 5.5, **timing)
    assert not h.update(True, 6.0, **timing)
    assert not h.update(True, 7.9, **timing)
    assert h.update(True, 8.0, **timing)
    assert h.fit


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="check_interval_s"):
        HealthSettings(check_interval_s=0)
    with pytest.raises(ValueError, match="halt_after_s"):
        HealthSettings(halt_after_s=-1)
    with pytest.raises(ValueError, match="book_stale_after_s"):
        HealthSettings(book_stale_after_s=math.nan)


def _health(**changes: object) -> ConnectorHealth:
    base = ConnectorHealth(
        trading_ready=True, ws_connected=True, ws_generation=1, ws_reconnects=0, ws_last_frame_age=0.1,
        user_stream_age=None, book_ages={"BTC": 0.2, "ETH": 0.2}, ip_tokens=1200.0, address_requests_left=10_000,
        orders_active=0, orders_unknown=0, orders_lost=0, orders_unresolved=0, submit_queue=0, actions_in_flight=0,
        actions_sent=0, resends=0, ack_latency_p50_ms=None, ack_latency_p99_ms=None, event_backlog=0,
        malformed_frames=0, gap_fills=1, dead_mans_switch=None,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


async def test_monitor_reports_what_persisted_and_applies_new_settings_at_once(autojump_clock: object) -> None:
    state = {"health": _health()}
    published: list[Event] = []
    monitor = HealthMonitor(lambda: state["health"], published.extend, clock=trio.current_time,
                            settings=HealthSettings(check_interval_s=3600.0))
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        await trio.sleep(1.0)
        assert monitor.statistics().checks == 0  # the hour-long interval is still running...
        changed_at = trio.current_time()
        monitor.settings = attrs.evolve(FAST, book_stale_after_s=5.0)
        await monitor.wait_for(lambda _: True)  # ...but a new setting is applied (and checked) at once
        start = trio.current_time()
        assert start == changed_at and monitor.statistics().checks == 1
        state["health"] = _health(ws_connected=False, trading_ready=False)
        await trio.sleep(0.1)
        state["health"] = _health(trading_ready=False)  # reconnected, gap-filling: the same episode
        await trio.sleep(0.15)
        assert len(published) == 1 and isinstance(published[0], HealthChanged)
        halted = published[0]
        assert 0.2 - 1e-9 <= halted.timestamp - start <= 0.2 + FAST.check_interval_s + 1e-9  # halt_after_s + a check
        assert (halted.trading_ready, halted.issues) == (False, (HealthIssue.GAP_FILLING,))
        state["health"] = _health(book_ages={"BTC": 9.0, "ETH": 0.2})  # all fine but the BTC book
        await trio.sleep(0.3)
        # the book flipped while the resume wait ran: the halt's issues still stand beside the stale book
        assert published[1] == HealthChanged(published[1].timestamp, False,
                                             (HealthIssue.GAP_FILLING, HealthIssue.BOOK_STALE), ("BTC",), 0)
        await trio.sleep(0.2)
        assert published[2] == HealthChanged(published[2].timestamp, True, (HealthIssue.BOOK_STALE,), ("BTC",), 0)
        assert monitor.statistics().stale_pairs == ("BTC",)
        with pytest.raises(TypeError, match="HealthSettings"):
            monitor.settings = None  # type: ignore[assignment]
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------------- health events


async def test_ws_outage_halts_once_and_resumes_once(hl_emulator: Emulator, hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    conn.health_monitor.settings = FAST
    events = conn.events()
    before = conn.health().ws_reconnects
    hl_emulator.faults.ws_disconnect_every_s = 0.01  # every new connection dies at once: the WS stays down
    hl_emulator.drop_ws_connections()
    halted = await next_health(events)
    assert not halted.trading_ready
    assert halted.issues and set(halted.issues) <= {HealthIssue.WS_DISCONNECTED, HealthIssue.GAP_FILLING}
    assert not halted.can_quote("BTC")
    assert conn.health_monitor.statistics().trading_ready is False
    hl_emulator.faults.ws_disconnect_every_s = None
    resumed = await next_health(events, limit=20.0)
    assert resumed.trading_ready and resumed.issues == () and resumed.stale_pairs == ()
    assert resumed.can_quote("BTC")
    health = conn.health()
    assert health.trading_ready and health.ws_connected
    assert health.ws_reconnects > before
    assert resumed.ws_reconnects > before
    assert resumed.timestamp >= halted.timestamp
    assert conn.health_monitor.statistics().changes == 2
    assert conn.health_monitor.last_event == resumed


@pytest.mark.hl_connector(pairs=("BTC",))
async def test_single_short_blip_is_silent(hl_emulator: Emulator, hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    conn.health_monitor.settings = attrs.evolve(FAST, halt_after_s=1.5, check_interval_s=0.005)
    events = conn.events()
    generation = conn.health().ws_generation
    # a slow venue makes the reconnect's gap-fill take a while, so the monitor sees the blip for sure
    hl_emulator.faults.http_latency_s = 0.05
    hl_emulator.drop_ws_connections()
    monitor = conn.health_monitor
    with trio.fail_after(10):
        await monitor.wait_for(lambda h: not h.trading_ready)  # the monitor saw the blip...
        await monitor.wait_for(lambda h: h.ws_generation > generation and h.trading_ready)
    recovered = trio.current_time()
    hl_emulator.faults.http_latency_s = 0.0
    assert monitor.statistics().unhealthy_checks > 0
    # ...and leaves it unannounced: a whole halt window of checks after the recovery emits nothing
    quiet_until = recovered + monitor.settings.halt_after_s + 0.1
    with trio.fail_after(10):
        await monitor.wait_for(lambda _: trio.current_time() >= quiet_until)
    assert health_events_so_far(events) == []
    assert conn.health_monitor.statistics().changes == 0


async def test_stalled_stream_is_stale_then_fresh(hl_emulator: Emulator, hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    # books are left out here: a pair whose book happens not to change for a while would be a separate event
    conn.health_monitor.settings = attrs.evolve(FAST, stream_stale_after_s=0.5)
    events = conn.events()
    hl_emulator.faults.ws_stall_duration_s = 2.0
    hl_emulator.faults.ws_stall_every_s = 0.05  # the live connection goes silent within 50 ms, for 2 s
    halted = await next_health(events)
    hl_emulator.faults.ws_stall_every_s = None  # no further stall after this one
    assert not halted.trading_ready
    assert halted.issues == (HealthIssue.STREAM_STALE,)
    assert halted.ws_reconnects == 0  # stalled, not disconnected (the session's stale_timeout is 10 s)
    resumed = await next_health(events)
    assert resumed.trading_ready and resumed.issues == ()
    assert conn.health().ws_reconnects == 0


@pytest.mark.hl_emulator(quiet=True)
@pytest.mark.hl_connector(pairs=("BTC",))
async def test_a_book_that_stops_moving_is_stale_for_its_pair_only(hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    # quiet market: the book is never pushed again after the snapshot, so it ages past any threshold
    conn.health_monitor.settings = attrs.evolve(FAST, book_stale_after_s=0.3)
    events = conn.events()
    changed = await next_health(events)
    assert changed.trading_ready  # the connector is fine; only the pair's data is old
    assert changed.stale_pairs == ("BTC",) and changed.issues == (HealthIssue.BOOK_STALE,)
    assert (changed.can_quote("BTC"), changed.can_quote("ETH")) == (False, True)


# ---------------------------------------------------------------------------------- figures under faults


async def test_unknown_orders_are_counted_while_unresolved(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    conn = hl_connector
    monitor = conn.health_monitor
    monitor.settings = FAST
    book = conn.book("BTC")
    assert book.best_bid is not None
    price = (book.best_bid.price * D("0.9")).quantize(D(1))
    # Stall the stream (so no orderUpdates tell us the truth), then lose the answer to the order's action.
    hl_emulator.faults.ws_stall_duration_s = 4.0
    hl_emulator.faults.ws_stall_every_s = 0.05
    with trio.fail_after(10):
        await monitor.wait_for(lambda h: (h.ws_last_frame_age or 0.0) > 0.3)  # the market streams every 50 ms
    hl_emulator.faults.ws_stall_every_s = None
    hl_emulator.faults.accept_then_timeout_count = 1
    hl_emulator.faults.http_latency_s = 0.3  # the resolver's orderStatus takes a while: UNKNOWN is observable
    cid = conn.buy(OrderParams("BTC", D("0.001"), price))
    with trio.fail_after(15):
        unknown = await monitor.wait_for(lambda h: h.orders_unknown >= 1)
    assert (unknown.orders_unknown, unknown.orders_active, unknown.orders_lost) == (1, 1, 0)
    metrics = parse_exposition(render_metrics(unknown, monitor.statistics()))
    assert metrics[("trio_hl_orders_unknown", ())] == 1.0
    assert metrics[("trio_hl_orders_active", ())] == 1.0
    hl_emulator.faults.http_latency_s = 0.0
    with trio.fail_after(15):
        settled = await monitor.wait_for(lambda h: h.orders_unknown == 0 and h.orders_unresolved == 0)
    assert settled.orders_active == 1
    order = conn.get_order(cid)
    assert order is not None and order.exchange_order_id is not None
    assert len(hl_emulator.engine.ground_truth(conn.user)["orders"]) == 1  # landed once, never duplicated


# ---------------------------------------------------------------------------------------------- metrics

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A strict little parser of the text format: every sample's metric has HELP and TYPE lines before it."""
    assert text.endswith("\n")
    helped: set[str] = set()
    typed: dict[str, str] = {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter")
            typed[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, line
            name = match["name"]
            assert name in helped and name in typed, name
            if typed[name] == "counter":
                assert name.endswith("_total")
            labels = tuple(_LABEL.findall(match["labels"] or ""))
            key = (name, labels)
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = float(match["value"])
    return samples


async def test_metrics_endpoint_serves_the_connector_health(hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_metrics, conn, 0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/metrics")
            health = conn.health()
            assert response.status_code == 200
            assert response.headers["content-type"] == CONTENT_TYPE
            metrics = parse_exposition(response.text)
            exact = {
                "trio_hl_trading_ready": health.trading_ready,
                "trio_hl_ws_connected": health.ws_connected,
                "trio_hl_ws_generation": health.ws_generation,
                "trio_hl_ws_reconnects_total": health.ws_reconnects,
                "trio_hl_address_requests_left": health.address_requests_left,
                "trio_hl_orders_active": health.orders_active,
                "trio_hl_orders_unknown": health.orders_unknown,
                "trio_hl_orders_lost": health.orders_lost,
                "trio_hl_submit_queue": health.submit_queue,
                "trio_hl_actions_in_flight": health.actions_in_flight,
                "trio_hl_actions_sent_total": health.actions_sent,
                "trio_hl_resends_total": health.resends,
                "trio_hl_gap_fills_total": health.gap_fills,
                "trio_hl_dead_mans_switch_enabled": False,
                "trio_hl_health_trading_ready": True,
                "trio_hl_health_changes_total": 0,
            }
            for name, value in exact.items():
                assert metrics[(name, ())] == float(value), name
            assert metrics[("trio_hl_ip_tokens", ())] == pytest.approx(health.ip_tokens, abs=5)
            for pair, age in health.book_ages.items():
                assert age is not None
                assert metrics[("trio_hl_book_age_seconds", (("pair", pair),))] == pytest.approx(age, abs=1.0)
                assert metrics[("trio_hl_health_book_stale", (("pair", pair),))] == 0.0
            assert set(health.book_ages) == {"BTC", "ETH"}
            assert math.isnan(metrics[("trio_hl_ack_latency_seconds", (("quantile", "0.5"),))])  # no order yet
            head = await client.head("/metrics")
            assert head.status_code == 200 and head.content == b""
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/metrics")).status_code == 405
        nursery.cancel_scope.cancel()


async def _raw(port: int, request: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        answer = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    return answer


@pytest.mark.hl_emulator(quiet=True)
async def test_malformed_requests_get_400_and_the_server_keeps_serving(hl_connector: HyperliquidConnector) -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_metrics, hl_connector, 0)
        for bad in (b"GARBAGE\r\n\r\n", b"GET metrics HTTP/1.1\r\n\r\n", b"GET /metrics HTTP/9\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n"):  # the last one hangs up before the blank line
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(bad)
                if bad.endswith(b"\r\n\r\n"):
                    with trio.fail_after(5):
                        answer = await stream.receive_some(65536)
                    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (bad, answer)
                    assert b"Connection: close" in answer
        huge = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * (2 * MAX_REQUEST_BYTES)
        assert (await _raw(port, huge)).startswith(b"HTTP/1.1 431 ")
        answer = await _raw(port, b"GET /metrics?x=1 HTTP/1.0\r\nHost: localhost\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\n\r\n# HELP trio_hl_trading_ready " in answer
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
        nursery.cancel_scope.cancel()


def test_rendering_escapes_labels_and_marks_unknowns_nan() -> None:
    health = _health(ws_last_frame_age=None, book_ages={'we"ird\\pair\n': None}, ack_latency_p50_ms=1.5)
    metrics = parse_exposition(render_metrics(health))
    assert math.isnan(metrics[("trio_hl_book_age_seconds", (("pair", 'we\\"ird\\\\pair\\n'),))])
    assert math.isnan(metrics[("trio_hl_ws_last_frame_age_seconds", ())])
    assert metrics[("trio_hl_ack_latency_seconds", (("quantile", "0.5"),))] == 0.0015
    assert ("trio_hl_health_trading_ready", ()) not in metrics  # no monitor given


# ------------------------------------------------------------------------------------------------- demo


def test_demo_cli_takes_a_metrics_port() -> None:
    from trio_hl.cli import build_parser
    from trio_hl.demo.runner import options_from_args

    assert options_from_args(build_parser().parse_args(["demo", "--metrics-port", "0"])).metrics_port == 0
    assert options_from_args(build_parser().parse_args(["demo"])).metrics_port is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--metrics-port", "70000"])


async def test_demo_serves_metrics_while_it_trades() -> None:
    out = io.StringIO()
    opts = DemoOptions(duration=2.0, ui=False, log_interval=60.0, zmq=None, metrics_port=0)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(run_demo, opts, out=out))
            found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", out.getvalue())
            assert found, out.getvalue()
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{found[1]}/metrics")
            metrics = parse_exposition(response.text)
            assert metrics[("trio_hl_trading_ready", ())] == 1.0
            assert ("trio_hl_book_age_seconds", (("pair", "BTC"),)) in metrics
