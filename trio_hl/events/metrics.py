"""Prometheus metrics for a connector: ``conn.health()`` in the text exposition format, served over HTTP.

``port = await nursery.start(serve_metrics, conn, 9108)`` (port 0 picks a free one) serves ``GET /metrics``
until the nursery is cancelled.  Every scrape renders a fresh ``conn.health()`` and the health monitor's
debounced view; nothing is cached, so a scrape sees exactly what ``conn.health()`` would have said.

Why a hand-written responder: Prometheus needs one GET answered with text, and the ``prometheus_client``
package would bring a registry, a global state and a thread-based server to a Trio program that has none of
those.  This is HTTP/1.1 at its smallest: read the request head (bounded to ``MAX_REQUEST_BYTES``, with a
deadline against slow senders), answer, close the connection.  ``Connection: close`` every time keeps the
server stateless; a scrape every 15 s gains nothing from keep-alive.  Malformed requests get a 400 and the
connection is closed; they never reach the nursery.  Connections beyond ``MAX_CONNECTIONS`` at once get a
503 at once instead of queueing, so a misbehaving client cannot grow the task count without bound.

Naming follows the Prometheus conventions: ``trio_hl_`` prefix, base units (seconds), ``_total`` on
counters, a ``pair`` label on per-book series.  A figure the connector does not know yet (no frame received,
no latency measured) is ``NaN``, so the series exists from the first scrape on and alerts can test it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Protocol

import trio

if TYPE_CHECKING:
    from trio_hl.hyperliquid.connector import ConnectorHealth
    from trio_hl.hyperliquid.health import HealthMonitor, HealthMonitorStats

__all__ = [
    "CONTENT_TYPE",
    "MAX_CONNECTIONS",
    "MAX_REQUEST_BYTES",
    "MetricsSource",
    "render_metrics",
    "serve_metrics",
]

#: The Prometheus text exposition format, version 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Largest request head accepted (request line + headers).  A scraper sends ~200 bytes; 8 KiB is generous.
MAX_REQUEST_BYTES = 8192
#: Seconds a client has to send its request head (slow-sender guard).
REQUEST_TIMEOUT_S = 5.0
#: Connections served at once; more are answered 503 straight away.
MAX_CONNECTIONS = 16
_METHODS = frozenset({"GET", "HEAD"})
#: Lingering close after an error answer: at most this long and this much input discarded.
_LINGER_S = 1.0
_LINGER_BYTES = 1 << 20


class MetricsSource(Protocol):
    """What the exporter reads (``HyperliquidConnector`` fits)."""

    @property
    def health_monitor(self) -> HealthMonitor: ...

    def health(self) -> ConnectorHealth: ...


# ------------------------------------------------------------------------------------------------ rendering


def _number(value: float | int | bool | None) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float | int | bool | None]]) -> None:
        self.lines.append(f"# HELP trio_hl_{name} {help_text}")
        self.lines.append(f"# TYPE trio_hl_{name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"trio_hl_{name}{{{rendered}}} {_number(value)}" if rendered
                              else f"trio_hl_{name} {_number(value)}")

    def gauge(self, name: str, help_text: str, value: float | int | bool | None) -> None:
        self.metric(name, "gauge", help_text, [({}, value)])

    def counter(self, name: str, help_text: str, value: int) -> None:
        self.metric(name, "counter", help_text, [({}, value)])


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def render_metrics(health: ConnectorHealth, monitor: HealthMonitorStats | None = None) -> str:
    """The exposition text for one ``ConnectorHealth`` (and the monitor's debounced view, if given)."""
    out = _Exposition()
    out.gauge("trading_ready", "1 if the submit gate is open (connected and gap-filled), now.", health.trading_ready)
    out.gauge("ws_connected", "1 if the WebSocket is connected.", health.ws_connected)
    out.gauge("ws_generation", "Connections that became ready so far.", health.ws_generation)
    out.counter("ws_reconnects_total", "WebSocket reconnect attempts.", health.ws_reconnects)
    out.gauge("ws_last_frame_age_seconds", "Seconds since the last WebSocket frame (NaN: none yet).",
              health.ws_last_frame_age)
    out.gauge("user_stream_age_seconds", "Seconds since the last user-channel frame (NaN: none yet).",
              health.user_stream_age)
    pairs = sorted(health.book_ages)
    out.metric("book_age_seconds", "gauge", "Age of each streamed book (NaN: never received).",
               [({"pair": p}, health.book_ages[p]) for p in pairs])
    out.gauge("ip_tokens", "Tokens left in the per-IP REST weight bucket.", health.ip_tokens)
    out.gauge("address_requests_left", "Actions left in the per-address budget.", health.address_requests_left)
    out.gauge("orders_active", "Orders tracked and not terminal.", health.orders_active)
    out.gauge("orders_unknown", "Orders whose submission outcome is not known yet.", health.orders_unknown)
    out.gauge("orders_lost", "Orders the venue repeatedly did not know.", health.orders_lost)
    out.gauge("orders_unresolved", "Orders of ambiguous actions still being resolved.", health.orders_unresolved)
    out.gauge("submit_queue", "Requests waiting in the submit queue.", health.submit_queue)
    out.gauge("actions_in_flight", "Signed actions sent and not answered yet.", health.actions_in_flight)
    out.counter("actions_sent_total", "Signed actions sent.", health.actions_sent)
    out.counter("resends_total", "Actions re-sent after an ambiguous outcome.", health.resends)
    out.metric("ack_latency_seconds", "gauge", "Action acknowledgement latency quantiles (recent window).",
               [({"quantile": "0.5"}, _seconds(health.ack_latency_p50_ms)),
                ({"quantile": "0.99"}, _seconds(health.ack_latency_p99_ms))])
    out.gauge("event_backlog", "Events published and not yet delivered to every subscriber.", health.event_backlog)
    out.counter("malformed_frames_total", "Frames skipped as malformed.", health.malformed_frames)
    out.counter("gap_fills_total", "Gap-fills completed (startup and after reconnects).", health.gap_fills)
    dms = health.dead_mans_switch
    out.gauge("dead_mans_switch_enabled", "1 if the managed scheduleCancel is configured.", dms is not None)
    if dms is not None:
        out.gauge("dead_mans_switch_armed", "1 if a scheduleCancel deadline is in force.", dms.armed)
        out.gauge("dead_mans_switch_deadline_seconds", "Unix time of the deadline in force (NaN: none).",
                  _seconds(dms.deadline_ms))
        out.counter("dead_mans_switch_refreshes_total", "Successful arms and refreshes.", dms.refreshes)
        out.counter("dead_mans_switch_failures_total", "Failed scheduleCancel sends.", dms.failures)
        out.gauge("dead_mans_switch_triggers_today", "Estimated triggers on the current UTC day.",
                  dms.triggers_today)
    if monitor is not None:
        out.gauge("health_trading_ready", "Debounced readiness (what the last HealthChanged event said).",
                  monitor.trading_ready)
        stale = set(monitor.stale_pairs)
        out.metric("health_book_stale", "gauge", "1 if the pair's book is stale (debounced).",
                   [({"pair": p}, p in stale) for p in sorted(set(pairs) | stale)])
        out.counter("health_changes_total", "HealthChanged events emitted.", monitor.changes)
    return "\n".join(out.lines) + "\n"


# ------------------------------------------------------------------------------------------------- serving


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def _response(status: int, body: bytes, *, content_type: str = "text/plain; charset=utf-8",
              head_only: bool = False, extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n")
    return head.encode("ascii") + (b"" if head_only else body)


async def _read_head(stream: trio.abc.Stream) -> bytes:
    """The request head up to the blank line; ``_BadRequest`` if it is too long or the client hangs up early."""
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_REQUEST_BYTES:
            raise _BadRequest(431, "request head too large")
        chunk = await stream.receive_some(4096)
        if not chunk:
            raise _BadRequest(400, "connection closed before the end of the request head")
        buffer += chunk
    if end > MAX_REQUEST_BYTES:
        raise _BadRequest(431, "request head too large")
    return bytes(buffer[:end])


def _parse(head: bytes) -> tuple[str, str]:
    """``(method, path)`` of a request head; ``_BadRequest`` for anything that is not plausible HTTP/1.x."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise _BadRequest(400, "request head is not ASCII") from None
    request_line, *headers = text.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper() or not parts[1].startswith("/"):
        raise _BadRequest(400, "malformed request line")
    if parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise _BadRequest(400, "unsupported HTTP version")
    for header in headers:
        name, colon, _ = header.partition(":")
        if not colon or not name or name != name.strip() or any(c in name for c in " \t"):
            raise _BadRequest(400, "malformed header line")
    return parts[0], parts[1]


async def _handle(source: MetricsSource, limiter: trio.CapacityLimiter, stream: trio.SocketStream) -> None:
    """One connection: one request, one response, close.  Transport errors end only this connection, and the
    whole exchange is bounded in time, so a client that never reads cannot hold a slot forever."""
    async with stream:
        try:
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                await stream.send_all(_response(503, b"too many connections\n"))
                return
            try:
                with trio.move_on_after(2 * REQUEST_TIMEOUT_S):
                    await _answer(source, stream)
            finally:
                limiter.release()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away; nothing to answer


async def _answer(source: MetricsSource, stream: trio.SocketStream) -> None:
    head_only = False
    try:
        with trio.fail_after(REQUEST_TIMEOUT_S):
            head = await _read_head(stream)
        method, target = _parse(head)
        head_only = method == "HEAD"
        if method not in _METHODS:
            await stream.send_all(_response(405, b"only GET and HEAD\n", extra="Allow: GET, HEAD\r\n"))
            return
        if target.split("?", 1)[0] != "/metrics":
            await stream.send_all(_response(404, b"try /metrics\n", head_only=head_only))
            return
    except trio.TooSlowError:
        await _refuse(stream, _response(408, b"request head not received in time\n"))
        return
    except _BadRequest as exc:
        await _refuse(stream, _response(exc.status, f"{exc.reason}\n".encode()))
        return
    body = render_metrics(source.health(), source.health_monitor.statistics()).encode()
    await stream.send_all(_response(200, body, content_type=CONTENT_TYPE, head_only=head_only))


async def _refuse(stream: trio.SocketStream, response: bytes) -> None:
    """Answer an error, then close *lingering*: closing a socket with unread input makes the kernel send a
    reset, which can destroy the response before the client reads it (an oversized request is exactly that
    case).  So: send, shut our side, discard what the client still sends for a moment (bounded), close."""
    await stream.send_all(response)
    await stream.send_eof()
    with trio.move_on_after(_LINGER_S):
        discarded = 0
        while discarded < _LINGER_BYTES and (chunk := await stream.receive_some(65536)):
            discarded += len(chunk)


async def serve_metrics(
    source: MetricsSource,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` for ``source`` on ``host:port`` until cancelled; ``started(bound_port)``.

    Loopback by default: metrics reveal trading activity, so exposing them is the caller's explicit choice
    (``host="0.0.0.0"``).
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    limiter = trio.CapacityLimiter(MAX_CONNECTIONS)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, partial(_handle, source, limiter), listeners)
        task_status.started(bound)
