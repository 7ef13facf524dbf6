"""``trio-hl demo``: the market maker end to end, against the embedded emulator or a real venue.

One nursery owns everything: the emulator (unless ``base_url`` is given), the connector, the ZMQ publisher,
the strategy, the terminal view and the Ctrl-C watcher.  Shutdown is the same for Ctrl-C and for the end of
``duration``: stop quoting, ``cancel_all``, wait (bounded) until none of our orders is open, let the event
pump and the publisher drain (bounded), check the venue's own open-order list, print a summary.

The emulator's key is generated here and never printed.  For a real venue the key comes from
``--private-key`` or ``TRIO_HL_PRIVATE_KEY`` (prefer the environment: command lines end up in shell history).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import ROUND_UP, Decimal
from typing import Any, TextIO

import attrs
import trio
import zmq

from trio_hl.cli_args import duration_arg, non_negative_decimal_arg, port_arg, positive_decimal_arg
from trio_hl.core.connector import Connector
from trio_hl.core.events import Event
from trio_hl.core.secret import Secret, optional_secret
from trio_hl.demo.strategy import MarketMaker, QuoteParams
from trio_hl.demo.view import FillRow, OrderRow, ViewState, price_places, render_line, render_screen
from trio_hl.errors import ConfigError, TransportError, TrioHLError
from trio_hl.events.metrics import serve_metrics
from trio_hl.events.zmq_publisher import ZmqPublisher
from trio_hl.hyperliquid.config import MAINNET_API_URL, TESTNET_API_URL, ConnectorConfig
from trio_hl.hyperliquid.connector import HyperliquidConnector, open_connector
from trio_hl.hyperliquid.rest import open_rest_clients
from trio_hl.hyperliquid.signing import LocalSigner

__all__ = ["DemoOptionError", "DemoOptions", "DemoSummary", "add_demo_arguments", "demo_main", "run_demo"]

DEFAULT_ZMQ = "tcp://127.0.0.1:5557"
KEY_ENV = "TRIO_HL_PRIVATE_KEY"


class DemoOptionError(ConfigError):
    """An option of the demo cannot work with this venue (a size below the lot size, an order value below the
    venue's minimum...).  ``todo`` says what to change; raised before the first quote is placed."""

    def __init__(self, what: str, todo: str) -> None:
        super().__init__(f"{what} ({todo})")
        self.what = what
        self.todo = todo


@attrs.frozen(kw_only=True)
class DemoOptions:
    pair: str = "BTC"
    #: Seconds to trade; 0 = until Ctrl-C.
    duration: float = 30.0
    #: The embedded emulator's book is 4 bps wide (2 bps from its fair price to the first level), so the default
    #: quotes sit inside it and its takers trade with us.
    spread_bps: Decimal = Decimal(3)
    #: Quote size in base units; None = ``notional`` worth at the first mid.
    size: Decimal | None = None
    notional: Decimal = Decimal(100)
    #: Absolute position limit in base units; None = 5 × size.
    max_position: Decimal | None = None
    skew_bps: Decimal = Decimal(3)
    requote_bps: Decimal = Decimal(1)
    requote_mode: str = "modify"
    #: None = start the embedded emulator.
    base_url: str | None = None
    #: Held as a :class:`~trio_hl.core.secret.Secret` (``***`` in repr/asdict, refuses to pickle).
    private_key: Secret | None = attrs.field(default=None, converter=optional_secret)
    account_address: str | None = None
    vault_address: str | None = None
    testnet: bool = False
    allow_mainnet: bool = False
    #: ZMQ endpoint of the event publisher (None = off; ``tcp://127.0.0.1:*`` = any free port).
    zmq: str | None = DEFAULT_ZMQ
    #: Port of the Prometheus endpoint ``http://127.0.0.1:<port>/metrics`` (None = off; 0 = any free port).
    metrics_port: int | None = None
    #: Live view: True = ANSI screen, False = a line every ``log_interval`` s, None = screen iff a TTY.
    ui: bool | None = None
    refresh_interval: float = 0.5
    log_interval: float = 5.0
    seed: int = 0
    #: Extra keyword arguments of ``open_emulator`` (e.g. ``engine_options={"market_options": {...}}``).
    emulator_options: Mapping[str, Any] = attrs.field(factory=dict)
    #: Bound on the shutdown phases (waiting for cancels, draining events).
    shutdown_timeout: float = 10.0
    #: Paper trading: the venue's live market data, fills simulated by ``trio_hl.paper`` (no order is sent).
    paper: bool = False
    #: Paper trading: one-way latency of the simulated venue, seconds.
    paper_latency_s: float = 0.05


@attrs.frozen
class DemoSummary:
    pair: str
    venue: str
    seconds: float
    orders_placed: int
    modifies: int
    cancels: int
    rejected: int
    fills: int
    volume: Decimal
    bought: Decimal
    sold: Decimal
    position: Decimal
    venue_position: Decimal | None
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    net_pnl: Decimal
    ack_latency_max_ms: float
    ack_latency_p50_ms: float | None
    ack_latency_p99_ms: float | None
    open_orders_left: int
    venue_open_orders: int | None
    zmq_endpoint: str | None
    zmq_published: int
    clean_shutdown: bool
    #: The run was ended by Ctrl-C (the CLI then exits 130, after the same clean shutdown).
    interrupted: bool = False

    def render(self) -> str:
        def ms(x: float | None) -> str:
            return "-" if x is None else f"{x:.1f} ms"

        venue_pos = "" if self.venue_position is None else f" (venue says {self.venue_position})"
        venue_open = "?" if self.venue_open_orders is None else str(self.venue_open_orders)
        lines = [
            f"trio-hl demo: {self.pair} on {self.venue}, {self.seconds:.1f} s"
            f"{'' if self.clean_shutdown else '  (shutdown timed out)'}",
            f"  orders   placed {self.orders_placed}, modified {self.modifies}, cancelled {self.cancels}, "
            f"rejected {self.rejected}; open at exit: ours {self.open_orders_left}, venue {venue_open}",
            f"  fills    {self.fills}  (bought {self.bought}, sold {self.sold}, volume {self.volume:,.2f})",
            f"  position {self.position}{venue_pos}",
            f"  pnl      realized {self.realized:+,.4f}, unrealized {self.unrealized:+,.4f}, fees {self.fees:,.4f}, "
            f"net {self.net_pnl:+,.4f}",
            f"  acks     max {ms(self.ack_latency_max_ms)} (order placed -> created), connector p50 "
            f"{ms(self.ack_latency_p50_ms)}, p99 {ms(self.ack_latency_p99_ms)}",
        ]
        if self.zmq_endpoint:
            lines.append(f"  zmq      {self.zmq_endpoint}, {self.zmq_published} events published")
        return "\n".join(lines)


# ====================================================================================== the run


@asynccontextmanager
async def _venue(opts: DemoOptions) -> AsyncIterator[tuple[str, str, bool | None, str]]:
    """(base_url, private key, is_mainnet, label): the embedded emulator or the configured venue."""
    if opts.base_url is None and not opts.testnet:
        from trio_hl.emulator import open_emulator

        async with open_emulator(seed=opts.seed, **opts.emulator_options) as emu:
            # A throwaway key the emulator funds on first use; it never leaves this process.
            yield emu.url, LocalSigner.generate().export_private_key_hex(), False, f"embedded emulator {emu.url}"
        return
    base_url = opts.base_url or TESTNET_API_URL
    key = opts.private_key.reveal() if opts.private_key else os.environ.get(KEY_ENV)
    if not key:
        raise ConfigError(f"a private key is needed for {base_url}: set {KEY_ENV} (or pass --private-key)")
    is_mainnet: bool | None = False if opts.testnet else None
    if base_url.rstrip("/") == MAINNET_API_URL and not opts.testnet and not opts.allow_mainnet:
        raise ConfigError("refusing to trade on mainnet without --allow-mainnet")
    yield base_url, key, is_mainnet, base_url


def quote_params(opts: DemoOptions, conn: Connector) -> QuoteParams:
    """The strategy's parameters, checked against the venue's rules for the pair (known once meta is loaded):
    a size the venue would round away or refuse is an error here, before anything is quoted, not a demo that
    runs its whole duration placing nothing."""
    size = opts.size
    rule = conn.trading_rule(opts.pair)
    mid = conn.mid(opts.pair)
    if size is None:
        if mid is None:
            raise DemoOptionError(f"no mid price for {opts.pair} to size quotes from --notional", "pass --size")
        size = (opts.notional / mid).quantize(rule.size_step, rounding=ROUND_UP)
    elif size < rule.min_size or size % rule.size_step:
        below = size < rule.min_size
        raise DemoOptionError(
            f"--size {size} is {'below' if below else 'not a multiple of'} {opts.pair}'s lot size {rule.size_step}",
            f"use a multiple of {rule.size_step}" + (f", at least {rule.min_size}" if below else ""),
        )
    if mid is not None and rule.min_notional and size * mid < rule.min_notional:
        least = (rule.min_notional / mid).quantize(rule.size_step, rounding=ROUND_UP)
        raise DemoOptionError(
            f"--size {size} {opts.pair} is worth {size * mid:.2f}, below the venue's minimum order value "
            f"{rule.min_notional}", f"use --size {least} or more")
    if opts.max_position is not None and opts.max_position < size:
        raise DemoOptionError(f"--max-position {opts.max_position} is below the quote size {size}",
                              "raise --max-position to at least the size, or lower --size")
    return QuoteParams(
        size=size,
        spread_bps=opts.spread_bps,
        max_position=opts.max_position if opts.max_position is not None else size * 5,
        skew_bps=opts.skew_bps,
        requote_bps=opts.requote_bps,
    )


async def run_demo(
    opts: DemoOptions,
    *,
    out: TextIO | None = None,
    handle_sigint: bool = False,
    task_status: trio.TaskStatus[MarketMaker] = trio.TASK_STATUS_IGNORED,
) -> DemoSummary:
    """Run the demo (see module doc) and return its summary (also printed to ``out``).

    ``task_status.started(strategy)`` fires once quoting has begun.  ``handle_sigint``: turn the first Ctrl-C
    into a clean shutdown (the CLI sets it; it needs the main thread).  A second Ctrl-C aborts.
    """
    out = out if out is not None else sys.stdout
    ui = opts.ui if opts.ui is not None else out.isatty()
    started = trio.current_time()
    async with AsyncExitStack() as stack:
        base_url, key, is_mainnet, venue = await stack.enter_async_context(_venue(opts))
        # (typed Any: mypy cannot see through ConnectorConfig's attrs ``converter=tuple`` on ``pairs``)
        pairs: Any = (opts.pair,)
        config = ConnectorConfig(
            base_url=base_url, private_key=key, account_address=opts.account_address,
            vault_address=opts.vault_address, pairs=pairs, is_mainnet=is_mainnet, request_timeout=5.0,
        )
        del key
        conn = await stack.enter_async_context(open_connector(config))
        # The strategy trades on ``trader``: the connector itself, or (``--paper``) a paper connector filling
        # against that connector's live books and trades.  Same strategy class either way (``Connector``).
        trader: Connector = conn
        if opts.paper:
            from trio_hl.paper import ConnectorSource, FillModel, open_paper_connector

            trader = await stack.enter_async_context(open_paper_connector(
                ConnectorSource(conn, (opts.pair,)), {opts.pair: conn.trading_rule(opts.pair)},
                fill_model=FillModel(latency_s=opts.paper_latency_s), seed=opts.seed))
            venue = f"paper trading on {venue}"
        publisher = None
        if opts.zmq:
            try:
                publisher = stack.enter_context(ZmqPublisher(opts.zmq, snapshot=conn.order_snapshots))
            except zmq.ZMQError as exc:  # e.g. address in use: trade anyway, and say so
                print(f"trio-hl demo: ZMQ publisher not started on {opts.zmq}: {exc}", file=sys.stderr)
        mm = MarketMaker(trader, opts.pair, quote_params(opts, trader), requote_mode=opts.requote_mode)
        await mm.load_position()
        strategy_events = trader.events()
        publisher_events = trader.events() if publisher is not None else None
        stop = trio.Event()
        interrupted = trio.Event()
        clean = True
        async with trio.open_nursery() as nursery:
            if publisher is not None and publisher_events is not None:
                await nursery.start(publisher.serve, publisher_events)
            if opts.metrics_port is not None:
                try:
                    port = await nursery.start(serve_metrics, conn, opts.metrics_port)
                    print(f"trio-hl demo: metrics on http://127.0.0.1:{port}/metrics", file=out, flush=True)
                except OSError as exc:  # e.g. address in use: trade anyway, and say so (as for ZMQ)
                    print(f"trio-hl demo: metrics not served on port {opts.metrics_port}: {exc}", file=sys.stderr)
            if handle_sigint:
                await nursery.start(_watch_sigint, stop, interrupted)  # installed before we say "quoting"
            nursery.start_soon(mm.consume_events, strategy_events)
            quoting = trio.CancelScope()

            async def quote() -> None:
                with quoting:
                    await mm.quote_on_book()

            nursery.start_soon(quote)
            nursery.start_soon(_show, conn, mm, opts, venue, publisher, out, ui, started, stop)
            task_status.started(mm)
            if not ui:  # (the live screen says it itself) - also the line a script waits for before a Ctrl-C
                print(f"trio-hl demo: quoting {mm.pair} on {venue} "
                      f"({'until Ctrl-C' if not opts.duration else f'{opts.duration:g} s, Ctrl-C stops'})",
                      file=out, flush=True)
            with trio.move_on_after(opts.duration if opts.duration > 0 else math.inf):
                await stop.wait()

            # ---- shutdown: no new quotes, cancel everything, wait (bounded) until nothing of ours is open
            mm.stop_quoting()
            quoting.cancel()
            trader.cancel_all(mm.pair)
            with trio.move_on_after(opts.shutdown_timeout) as waited:
                await mm.flat_orders()
                await _drain(trader, strategy_events, publisher_events)
            clean = not waited.cancelled_caught
            if opts.paper:  # the paper connector is the venue of its orders
                venue_open: int | None = len(trader.open_orders())
                venue_position: Decimal | None = trader.position(mm.pair)
            else:
                venue_open = await _venue_open_orders(base_url, conn.user)
                venue_position = await _venue_position(conn, mm)
            health = trader.health()
            nursery.cancel_scope.cancel()
        inv = mm.inventory
        mid = conn.mid(mm.pair)
        stats = publisher.statistics() if publisher is not None else None
        summary = DemoSummary(
            pair=mm.pair, venue=venue, seconds=trio.current_time() - started,
            orders_placed=mm.stats.orders_placed, modifies=mm.stats.modifies, cancels=mm.stats.cancels,
            rejected=mm.stats.rejected, fills=inv.fills, volume=inv.volume, bought=inv.bought, sold=inv.sold,
            position=inv.position, venue_position=venue_position, realized=inv.realized,
            unrealized=inv.unrealized(mid), fees=inv.fees, net_pnl=inv.net(mid),
            ack_latency_max_ms=mm.stats.ack_latency_max_ms, ack_latency_p50_ms=health.ack_latency_p50_ms,
            ack_latency_p99_ms=health.ack_latency_p99_ms, open_orders_left=len(mm.our_open_orders()),
            venue_open_orders=venue_open, zmq_endpoint=stats.endpoint if stats else None,
            zmq_published=stats.published if stats else 0, clean_shutdown=clean,
            interrupted=interrupted.is_set(),
        )
    print(summary.render(), file=out, flush=True)
    return summary


class ShutdownAborted(KeyboardInterrupt):
    """A second Ctrl-C cut the clean shutdown short: orders may still rest on the venue."""


async def _watch_sigint(stop: trio.Event, interrupted: trio.Event,
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            if interrupted.is_set():
                raise ShutdownAborted  # second Ctrl-C: abort the clean shutdown
            interrupted.set()
            stop.set()


async def _drain(conn: Connector, *channels: trio.MemoryReceiveChannel[Event] | None) -> None:
    """Wait until the connector's event backlog and our channels are empty (the pump and the publisher run)."""
    # Polled: neither the fan-out's backlog nor a memory channel's buffer has a change notification, and
    # this runs once, at shutdown, for milliseconds.
    while conn.health().event_backlog or any(  # noqa: ASYNC110
        ch is not None and ch.statistics().current_buffer_used for ch in channels
    ):
        await trio.sleep(0.01)


async def _venue_open_orders(base_url: str, user: str) -> int | None:
    """The venue's own count of the account's open orders (independent of our tracker)."""
    try:
        async with open_rest_clients(base_url) as rest:
            return len(await rest.info.open_orders(user))
    except (TrioHLError, TransportError):
        return None


async def _venue_position(conn: HyperliquidConnector, mm: MarketMaker) -> Decimal | None:
    asset = conn.registry.by_pair(mm.pair)
    if asset.is_spot:
        return None
    try:
        state = await conn.user_state()
    except TrioHLError:
        return None
    for entry in state.get("assetPositions", []):
        pos = entry.get("position", {}) if isinstance(entry, dict) else {}
        if pos.get("coin") == asset.coin:
            return Decimal(str(pos.get("szi", "0")))
    return Decimal(0)


def view_state(conn: HyperliquidConnector, mm: MarketMaker, opts: DemoOptions, venue: str,
               publisher: ZmqPublisher | None, elapsed: float) -> ViewState:
    book = conn.book(mm.pair)
    health = conn.health()
    acks = mm.conn.health()  # the connector the strategy trades on (``--paper``: the paper connector's acks)
    bb, ba = book.best_bid, book.best_ask
    mid = book.mid
    inv = mm.inventory
    pstats = publisher.statistics() if publisher is not None else None
    rule = conn.trading_rule(mm.pair)
    return ViewState(
        pair=mm.pair, venue=venue, elapsed=elapsed, duration=opts.duration or None,
        best_bid=(bb.price, bb.size) if bb else None, best_ask=(ba.price, ba.size) if ba else None, mid=mid,
        orders=[OrderRow(o.side, o.price, o.amount, o.executed_amount, o.state.value) for o in mm.our_open_orders()],
        fills=[FillRow(f.timestamp, f.side, f.price, f.amount, f.fee) for f in mm.recent_fills],
        position=inv.position, average_price=inv.average_price, realized=inv.realized,
        unrealized=inv.unrealized(mid), fees=inv.fees, fill_count=inv.fills, volume=inv.volume,
        orders_placed=mm.stats.orders_placed, modifies=mm.stats.modifies, cancels=mm.stats.cancels,
        rejected=mm.stats.rejected, ws_connected=health.ws_connected, trading_ready=health.trading_ready,
        reconnects=health.ws_reconnects, user_stream_age=health.user_stream_age,
        book_age=health.book_ages.get(mm.pair), ack_p50_ms=acks.ack_latency_p50_ms,
        ack_p99_ms=acks.ack_latency_p99_ms, ack_max_ms=mm.stats.ack_latency_max_ms,
        zmq_endpoint=pstats.endpoint if pstats else None, zmq_published=pstats.published if pstats else 0,
        zmq_subscribers=pstats.subscriptions if pstats else 0,
        price_places=price_places(mid, 8 if rule.max_price_decimals is None else rule.max_price_decimals,
                                  5 if rule.max_price_sig_figs is None else rule.max_price_sig_figs),
    )


async def _show(conn: HyperliquidConnector, mm: MarketMaker, opts: DemoOptions, venue: str,
                publisher: ZmqPublisher | None, out: TextIO, ui: bool, started: float, stop: trio.Event) -> None:
    interval = opts.refresh_interval if ui else opts.log_interval
    while True:
        await trio.sleep(interval)
        state = view_state(conn, mm, opts, venue, publisher, trio.current_time() - started)
        try:
            out.write(render_screen(state) if ui else render_line(state) + "\n")
            out.flush()
        except BrokenPipeError:
            # The reader went away (``trio-hl demo --no-ui | head``): stop as for Ctrl-C, so every order is
            # cancelled; the summary's own write then fails the same way and the CLI exits quietly (141).
            stop.set()
            return


# ====================================================================================== CLI


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pair", default="BTC", help="pair to quote (default BTC)")
    parser.add_argument("--duration", type=duration_arg, default=30.0,
                        help="seconds to trade; 0 = until Ctrl-C (default 30)")
    parser.add_argument("--spread-bps", type=positive_decimal_arg, default=Decimal(3),
                        help="full quoted spread in basis points (default 3)")
    parser.add_argument("--size", type=positive_decimal_arg,
                        help="quote size in base units, a multiple of the pair's lot size (default: --notional worth)")
    parser.add_argument("--notional", type=positive_decimal_arg, default=Decimal(100),
                        help="quote size in quote currency when --size is not given (default 100)")
    parser.add_argument("--max-position", type=positive_decimal_arg,
                        help="absolute position limit in base units (default 5 x size)")
    parser.add_argument("--skew-bps", type=non_negative_decimal_arg, default=Decimal(3),
                        help="reservation price shift at a full position (default 3)")
    parser.add_argument("--requote-bps", type=non_negative_decimal_arg, default=Decimal(1),
                        help="re-quote when the mid moves more than this (default 1)")
    parser.add_argument("--requote-mode", choices=("modify", "cancel"), default="modify",
                        help="move live quotes with modify (default) or cancel + replace")
    parser.add_argument("--base-url", help="trade on this venue instead of the embedded emulator")
    parser.add_argument("--private-key", help=f"signing key for --base-url (prefer the {KEY_ENV} env variable)")
    parser.add_argument("--account-address", help="master account when the key is an agent (API wallet)")
    parser.add_argument("--vault-address", help="trade for this vault / sub-account")
    parser.add_argument("--testnet", action="store_true",
                        help=f"testnet signing (and {TESTNET_API_URL} when --base-url is not given)")
    parser.add_argument("--allow-mainnet", action="store_true", help="allow --base-url to be the mainnet URL")
    parser.add_argument("--zmq", default=DEFAULT_ZMQ, help=f"event publisher endpoint (default {DEFAULT_ZMQ})")
    parser.add_argument("--no-zmq", action="store_true", help="do not publish events over ZMQ")
    parser.add_argument("--metrics-port", type=port_arg, metavar="N",
                        help="serve Prometheus metrics on http://127.0.0.1:N/metrics (0 = any free port; default off)")
    parser.add_argument("--no-ui", action="store_true", help="print a status line every few seconds instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of the embedded emulator's market")
    parser.add_argument("--paper", action="store_true",
                        help="paper trading: the venue's live books and trades, fills simulated locally (no order "
                             "is sent); see 'trio-hl backtest' for recorded data")


def options_from_args(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        pair=args.pair, duration=args.duration, spread_bps=args.spread_bps, size=args.size, notional=args.notional,
        max_position=args.max_position, skew_bps=args.skew_bps, requote_bps=args.requote_bps,
        requote_mode=args.requote_mode, base_url=args.base_url, private_key=args.private_key,
        account_address=args.account_address, vault_address=args.vault_address, testnet=args.testnet,
        allow_mainnet=args.allow_mainnet, zmq=None if args.no_zmq else args.zmq,
        ui=False if args.no_ui else None, seed=args.seed, metrics_port=args.metrics_port, paper=args.paper,
    )


def check_options(opts: DemoOptions) -> None:
    """What can be checked before anything starts (no emulator, no connection): the key, mainnet, the sizes
    against each other.  Raises ``CliError`` (exit 2: the command line must change)."""
    from trio_hl.cli_errors import EXIT_USAGE, CliError

    if opts.base_url is not None or opts.testnet:
        url = opts.base_url or TESTNET_API_URL
        if not (opts.private_key or os.environ.get(KEY_ENV)):
            raise CliError(f"a private key is needed to trade on {url}",
                           f"set {KEY_ENV}, or pass --private-key", status=EXIT_USAGE)
        if url.rstrip("/") == MAINNET_API_URL and not opts.testnet and not opts.allow_mainnet:
            raise CliError(f"{url} is mainnet: real money", "add --allow-mainnet if that is what you mean",
                           status=EXIT_USAGE)
    if opts.size is not None and opts.max_position is not None and opts.max_position < opts.size:
        raise CliError(f"--max-position {opts.max_position} is below --size {opts.size}: no quote would fit",
                       "raise --max-position to at least the size, or lower --size", status=EXIT_USAGE)


def explain_error(opts: DemoOptions, exc: BaseException) -> Any:
    """The one-line form of a failure that is the user's (or the venue's) doing, for ``run_command``."""
    from trio_hl.cli_errors import EXIT_USAGE, CliError
    from trio_hl.errors import UnknownPairError

    venue = opts.base_url or (TESTNET_API_URL if opts.testnet else "the embedded emulator")
    if isinstance(exc, DemoOptionError):
        return CliError(exc.what, exc.todo, status=EXIT_USAGE)
    if isinstance(exc, UnknownPairError):
        listed = ", ".join(exc.suggestions)
        return CliError(f"pair {exc.pair!r} is not listed by {venue}",
                        f"pass --pair with one it lists, e.g. {listed}" if listed else "check --pair",
                        status=EXIT_USAGE)
    if isinstance(exc, TransportError):
        reason = exc.__cause__ if exc.__cause__ is not None else exc  # httpx's words, not our wrapper's
        return CliError(f"cannot reach the venue at {venue}: {reason}",
                        "check --base-url and your network; is the venue up?")
    if isinstance(exc, ConfigError):
        return CliError(str(exc), "check --private-key, --account-address and --vault-address; "
                                  "see `trio-hl demo --help`")
    return None


def _contains(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains(e, kind) for e in exc.exceptions)
    return isinstance(exc, kind)


def demo_main(args: argparse.Namespace) -> int:
    """``trio-hl demo``: 0 after a clean shutdown, 1 after an unclean one, 130 after a Ctrl-C (once everything is
    cancelled and the summary printed); a user's mistake is one line (see ``trio_hl.cli_errors``)."""
    from trio_hl.cli_errors import EXIT_INTERRUPTED, is_interrupt, run_command

    opts = options_from_args(args)

    async def main() -> DemoSummary:
        return await run_demo(opts, handle_sigint=True)

    def body() -> int:
        check_options(opts)
        try:
            summary: Any = trio.run(main)
        except BaseException as exc:
            if is_interrupt(exc) and _contains(exc, ShutdownAborted):
                print("trio-hl demo: interrupted during shutdown (orders may still be open on the venue)",
                      file=sys.stderr)
            raise
        if summary.interrupted:
            return EXIT_INTERRUPTED
        return 0 if summary.clean_shutdown else 1

    return run_command("demo", body, lambda exc: explain_error(opts, exc))
