"""Run the emulator: an ASGI server on Trio serving :class:`~trio_hl.emulator.app.EmulatorApp`.

The default server is our own small HTTP/1.1 + WebSocket server on Trio sockets
(:mod:`trio_hl.emulator._asgi_server`, several times cheaper per request than hypercorn, which was most of the
emulator's CPU under load); ``server="hypercorn"`` runs the same ASGI app under hypercorn's Trio worker
(the compatibility tests run against both).

``serve_emulator(...)`` is the server-shaped entry (``await nursery.start(serve_emulator)`` returns an
:class:`Emulator` handle once the socket is bound and the clock runs); ``open_emulator(...)`` is the same as
an async context manager that owns its nursery.  Port 0 binds a free port; the handle's ``url`` has the real
one.  Time is Trio time anchored to the wall clock (:class:`~trio_hl.emulator.app.TrioWallClock`) unless a
``clock_ms`` is injected, so tests under ``MockClock`` can jump the emulator's hours in milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from typing import Any, Literal

import attrs
import hypercorn.trio
import trio
from hypercorn.config import Config

from trio_hl.emulator._asgi_server import AsgiServer, ServerStatistics
from trio_hl.emulator._ratelimit import Limits
from trio_hl.emulator._server_limits import ServerLimits
from trio_hl.emulator.app import AppStatistics, AutoFund, EmulatorApp, TrioWallClock
from trio_hl.emulator.engine import Engine, InfoRequestError
from trio_hl.emulator.faults import FaultLog, FaultPlan

__all__ = ["Emulator", "open_emulator", "serve_emulator"]

_hypercorn_log = logging.getLogger("trio_hl.emulator.hypercorn")
#: The account behind :meth:`Emulator.trade` (an unlimited market account, like the simulated market's own).
_TAKER = "0x" + "7e" * 20


@attrs.define(eq=False)
class Emulator:
    """A running emulator.  ``faults`` is the live plan (assign its fields mid-test); ``log`` records every
    injected fault; ``engine`` is the in-process venue state (``engine.ground_truth(user)`` for tests)."""

    host: str
    port: int
    engine: Engine
    app: EmulatorApp
    _shutdown: trio.Event = attrs.field(factory=trio.Event, alias="_shutdown")
    _server: AsgiServer | None = attrs.field(default=None, alias="_server")

    @property
    def url(self) -> str:
        """Base URL for REST clients and the SDK (``http://127.0.0.1:PORT``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http"):] + "/ws"

    @property
    def faults(self) -> FaultPlan:
        return self.app.faults

    @property
    def log(self) -> FaultLog:
        return self.app.log

    def now_ms(self) -> int:
        """The emulator's current time (unix ms)."""
        return self.app.now_ms()

    def fund(self, address: str) -> None:
        """Allow ``address`` to act without having been named first (see :class:`AutoFund`)."""
        self.app.fund(address)

    def tick(self) -> None:
        """Advance the engine to now and push its messages (the clock task does this every tick anyway)."""
        self.app.tick()

    def trade(self, coin: str, is_buy: bool, px: Decimal | str, size: Decimal | str) -> Decimal:
        """Another (unlimited) account sends an IOC order now: it takes liquidity up to ``px`` - your resting
        orders included - and the resulting stream messages go out at once.  Returns the size it filled.

        For tests that need a fill at an exact point (e.g. while the client is disconnected)."""
        asset = next((a for a, spec in self.engine.specs.items() if spec.coin == coin), None)
        if asset is None:
            raise ValueError(f"unknown coin {coin!r}")
        self.tick()  # bring the engine to now first, so the trade's timestamp is current
        filled = self.engine.system_take(_TAKER, asset, is_buy, Decimal(px), Decimal(size))
        self.tick()
        return filled

    def drop_ws_connections(self) -> int:
        """Close every open WebSocket connection now; returns how many (clients see a disconnect and must
        reconnect, resubscribe and gap-fill)."""
        return self.app.drop_ws_connections()

    def statistics(self) -> AppStatistics:
        return self.app.statistics()

    def server_statistics(self) -> ServerStatistics | None:
        """What the built-in server refused so far (connections over the cap, timeouts, 4xx before the app,
        WebSocket protocol errors); None under hypercorn."""
        return self._server.statistics() if self._server is not None else None

    def shutdown(self) -> None:
        """Ask the server to stop gracefully (``serve_emulator`` then returns)."""
        self._shutdown.set()


def _bound_port(binds: list[str]) -> int:
    # hypercorn reports "http://127.0.0.1:PORT" (or "http://[::1]:PORT") from getsockname().
    return int(binds[0].rsplit(":", 1)[1])


async def serve_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
    faults: FaultPlan | None = None,
    auto_fund: bool | AutoFund | str = True,
    is_mainnet: bool = False,
    limits: Limits | None = None,
    clock_ms: Callable[[], int] | None = None,
    idle_timeout_s: float = 60.0,
    tick_interval_s: float = 0.05,
    welcome_message: bool = False,
    ws_queue_size: int = 4096,
    engine_options: dict[str, Any] | None = None,
    server: Literal["trio", "hypercorn"] = "trio",
    server_limits: ServerLimits | None = None,
    task_status: trio.TaskStatus[Emulator] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the emulator until cancelled (or ``Emulator.shutdown()``); ``task_status.started(Emulator)``.

    ``auto_fund``: True = :attr:`AutoFund.NAMED` (fund addresses a client names), False = OFF, or an
    :class:`AutoFund`.  ``limits``: per-IP venue limits (``Limits.unlimited()`` for load tests).
    ``engine_options``: extra keyword arguments for ``Engine`` (e.g. ``initial_usdc``, ``with_market``).
    ``server``: ``"trio"`` (default, :mod:`~trio_hl.emulator._asgi_server`) or ``"hypercorn"``.
    ``server_limits``: what one client may cost the server (:class:`ServerLimits`: body, head and WebSocket
    message caps, connection cap, idle/request/send timeouts; the defaults are safe).  Under hypercorn the
    message and head caps map onto its own settings; its timeouts stay hypercorn's.
    """
    if server not in ("trio", "hypercorn"):
        raise ValueError(f"server must be 'trio' or 'hypercorn', not {server!r}")
    clock = clock_ms if clock_ms is not None else TrioWallClock()
    fund_mode = AutoFund.coerce(auto_fund)
    engine = Engine(seed=seed, now_ms=clock(), auto_fund=fund_mode is not AutoFund.OFF, **(engine_options or {}))
    app = EmulatorApp(
        engine,
        info_error=InfoRequestError,
        clock_ms=clock,
        faults=faults if faults is not None else FaultPlan(seed=seed),
        limits=limits,
        auto_fund=fund_mode,
        is_mainnet=is_mainnet,
        idle_timeout_s=idle_timeout_s,
        ws_queue_size=ws_queue_size,
        welcome_message=welcome_message,
        tick_interval_s=tick_interval_s,
    )
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        if server == "trio":
            asgi_server = AsgiServer(app, server_limits, direct_http=app.direct_http)
            bound: int = await nursery.start(partial(asgi_server.serve, host, port))
            await nursery.start(app.run_clock)
            task_status.started(Emulator(host, bound, engine, app, _shutdown=shutdown, _server=asgi_server))
            await shutdown.wait()
        else:
            await _serve_hypercorn(nursery, app, host, port, engine, shutdown, server_limits or ServerLimits(),
                                   task_status)
        nursery.cancel_scope.cancel()


async def _serve_hypercorn(nursery: trio.Nursery, app: EmulatorApp, host: str, port: int, engine: Engine,
                           shutdown: trio.Event, limits: ServerLimits,
                           task_status: trio.TaskStatus[Emulator]) -> None:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = _hypercorn_log
    # Long keep-alive so clients under a jumping MockClock keep their pooled connections; no per-connection
    # request cap (hypercorn's default of 1000 would force benchmark clients to reconnect).
    config.keep_alive_timeout = 3600.0
    config.keep_alive_max_requests = 1 << 62
    config.graceful_timeout = 1.0
    config.max_app_queue_size = 100
    config.websocket_max_message_size = limits.max_ws_message_bytes
    config.h11_max_incomplete_size = limits.max_head_bytes
    served = trio.Event()

    async def serve_http(*, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await hypercorn.trio.serve(app, config, shutdown_trigger=shutdown.wait,  # type: ignore[arg-type]
                                   task_status=task_status)
        served.set()

    binds: list[str] = await nursery.start(serve_http)
    await nursery.start(app.run_clock)
    task_status.started(Emulator(host, _bound_port(binds), engine, app, _shutdown=shutdown))
    await shutdown.wait()
    # hypercorn drains open connections for up to graceful_timeout; then the clock task goes too.
    with trio.move_on_after(config.graceful_timeout + 1.0):
        await served.wait()


@asynccontextmanager
async def open_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
    faults: FaultPlan | None = None,
    **options: Any,
) -> AsyncIterator[Emulator]:
    """``async with open_emulator() as emu:`` — a running emulator on ``emu.url``, stopped on exit.

    Keyword ``options`` are those of :func:`serve_emulator` (``auto_fund``, ``is_mainnet``, ``limits``,
    ``clock_ms``, ``idle_timeout_s``, ``tick_interval_s``, ``welcome_message``, ``engine_options``,
    ``server``, ``server_limits``).
    """
    async with trio.open_nursery() as nursery:
        emulator: Emulator = await nursery.start(
            partial(serve_emulator, host=host, port=port, seed=seed, faults=faults, **options)
        )
        try:
            yield emulator
        finally:
            nursery.cancel_scope.cancel()
