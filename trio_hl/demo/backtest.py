"""``trio-hl backtest FILE --strategy module:Class``: a strategy replayed over a recorded market, on the paper
connector, as fast as the CPU allows.

The strategy is the same class that trades live: it is constructed as ``Class(conn, pair, params)`` with a
:class:`~trio_hl.core.connector.Connector` (here a :class:`~trio_hl.paper.PaperConnector`), the pair and the
demo's :class:`~trio_hl.demo.strategy.QuoteParams`, and run as ``await strategy.run(events)`` with a
``conn.events()`` channel subscribed before it starts; ``stop_quoting()``, when it has one, is called when the
recording ends.  The demo's :class:`~trio_hl.demo.strategy.MarketMaker` is the default.

The run happens under ``trio.testing.MockClock(autojump_threshold=0)``: the Trio clock jumps from one recorded
frame to the next whenever every task waits, so an hour of books replays in seconds, and the paper connector
settles every step (``trio_hl.paper.connector``) so two runs over one file give the same result.  At the end
everything is cancelled, and the summary - the demo's, computed from the connector's events, so it does not
depend on the strategy's own bookkeeping - is printed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TextIO

import attrs
import trio
import trio.testing

from trio_hl.cli_args import (
    decimal_arg,
    non_negative_decimal_arg,
    non_negative_float_arg,
    positive_decimal_arg,
    positive_float_arg,
)
from trio_hl.cli_errors import EXIT_USAGE, CliError
from trio_hl.core.connector import Connector
from trio_hl.core.events import (
    Event,
    LateFill,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderModified,
    OrderPartiallyFilled,
)
from trio_hl.demo.runner import DemoOptions, DemoSummary, quote_params
from trio_hl.demo.strategy import Inventory
from trio_hl.errors import ConfigError

__all__ = ["BacktestResult", "SessionLedger", "Strategy", "backtest", "load_strategy", "run_backtest",
           "trade_session"]

DEFAULT_STRATEGY = "trio_hl.demo.strategy:MarketMaker"


class Strategy(Protocol):
    """What ``trio-hl backtest`` (and ``trade_session``) runs: see the module doc."""

    async def run(self, events: trio.MemoryReceiveChannel[Event]) -> None: ...


def load_strategy(spec: str) -> Callable[..., Strategy]:
    """``"package.module:Class"`` -> the class (``ConfigError`` naming what is wrong)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--strategy must look like package.module:Class, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from exc
    cls = getattr(module, attr, None)
    if cls is None or not callable(cls):
        raise ConfigError(f"{module_name!r} has no class {attr!r}")
    if not callable(getattr(cls, "run", None)):
        raise ConfigError(f"{spec} has no run(events) method")
    return cls  # type: ignore[no-any-return]


@attrs.define
class SessionLedger:
    """The session's figures from the connector's events alone (any strategy): orders, fills, inventory, PnL."""

    pair: str
    conn: Connector
    inventory: Inventory = attrs.field(factory=Inventory)
    orders: set[str] = attrs.field(factory=set)
    modifies: int = 0
    cancels: int = 0
    rejected: int = 0
    _trades: set[str] = attrs.field(factory=set)
    _changed: trio.Event = attrs.field(factory=trio.Event)

    def on_event(self, event: Event) -> None:
        if getattr(event, "pair", None) != self.pair:
            return
        cid = event.client_order_id
        if isinstance(event, OrderCreated | OrderFailed):
            self.orders.add(cid)
        if isinstance(event, OrderFailed):
            self.rejected += 1
        elif isinstance(event, OrderCancelled):
            self.cancels += 1
        elif isinstance(event, OrderModified):
            self.modifies += 1
        if isinstance(event, OrderPartiallyFilled | OrderFilled | LateFill):
            trade = event.trade
            order = self.conn.get_order(cid)
            side = order.side if order is not None else None
            if trade is not None and trade.side is not None:
                side = trade.side
            if trade is not None and side is not None and trade.trade_id not in self._trades:
                self._trades.add(trade.trade_id)
                self.inventory.apply(side, trade.fill_price, trade.fill_amount, trade.fee)
        self._changed.set()
        self._changed = trio.Event()

    async def consume(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        async for event in events:
            self.on_event(event)

    async def wait_changed(self) -> None:
        await self._changed.wait()


async def trade_session(conn: Connector, factory: Callable[..., Strategy], opts: DemoOptions, *, venue: str,
                        until: Callable[[], Awaitable[object]]) -> DemoSummary:
    """Run one strategy on ``conn`` until ``until()`` returns, then stop it, cancel what it left open (waiting,
    bounded by ``opts.shutdown_timeout``, for the cancels) and return the summary."""
    pair = opts.pair
    started = trio.current_time()
    ledger = SessionLedger(pair, conn)
    kwargs: dict[str, Any] = {"requote_mode": opts.requote_mode} if opts.requote_mode != "modify" else {}
    strategy = factory(conn, pair, quote_params(opts, conn), **kwargs)
    # Both subscriptions end with the session: a channel left open on a connector that lives on fills its buffer
    # and then blocks the connector's event pump for every other subscriber.
    with conn.events() as ledger_events, conn.events() as strategy_events:
        return await _session(conn, strategy, opts, venue, until, ledger, ledger_events, strategy_events, started)


async def _session(conn: Connector, strategy: Strategy, opts: DemoOptions, venue: str,
                   until: Callable[[], Awaitable[object]], ledger: SessionLedger,
                   ledger_events: trio.MemoryReceiveChannel[Event], strategy_events: trio.MemoryReceiveChannel[Event],
                   started: float) -> DemoSummary:
    pair = opts.pair
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ledger.consume, ledger_events)
        running = trio.CancelScope()

        async def run() -> None:
            with running:
                await strategy.run(strategy_events)

        nursery.start_soon(run)
        await until()
        stop = getattr(strategy, "stop_quoting", None)
        if callable(stop):
            stop()
        running.cancel()
        conn.cancel_all(pair)
        with trio.move_on_after(opts.shutdown_timeout) as waited:
            while [o for o in conn.open_orders() if o.pair == pair] or conn.health().event_backlog or (
                    ledger_events.statistics().current_buffer_used):
                await ledger.wait_changed()
        nursery.cancel_scope.cancel()
    inv = ledger.inventory
    mid = conn.mid(pair)
    health = conn.health()
    return DemoSummary(
        pair=pair, venue=venue, seconds=trio.current_time() - started, orders_placed=len(ledger.orders),
        modifies=ledger.modifies, cancels=ledger.cancels, rejected=ledger.rejected, fills=inv.fills,
        volume=inv.volume, bought=inv.bought, sold=inv.sold, position=inv.position,
        venue_position=conn.position(pair), realized=inv.realized, unrealized=inv.unrealized(mid), fees=inv.fees,
        net_pnl=inv.net(mid), ack_latency_max_ms=getattr(health, "ack_latency_max_ms", None) or 0.0,
        ack_latency_p50_ms=health.ack_latency_p50_ms, ack_latency_p99_ms=health.ack_latency_p99_ms,
        open_orders_left=len([o for o in conn.open_orders() if o.pair == pair]),
        venue_open_orders=len(conn.open_orders()), zmq_endpoint=None, zmq_published=0,
        clean_shutdown=not waited.cancelled_caught,
    )


@attrs.frozen
class BacktestResult:
    summary: DemoSummary
    frames: int
    wall_seconds: float


async def backtest(path: Path | str, opts: DemoOptions, *, strategy: str = DEFAULT_STRATEGY,
                   fill_model: Any = None, seed: int = 0) -> BacktestResult:
    """Replay ``path`` (a capture, ``trio_hl.paper.recorded``) with ``strategy`` on a paper connector.  Run it
    under ``MockClock(autojump_threshold=0)`` to go as fast as the CPU allows (:func:`run_backtest` does)."""
    from trio_hl.paper import FillModel, open_paper_connector
    from trio_hl.paper.recorded import RecordedSource, read_rules

    wall = time.perf_counter()
    factory = load_strategy(strategy)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such capture file: {path}")
    rules = read_rules(path)
    if opts.pair not in rules:
        raise ConfigError(f"{path} records no trading rules for {opts.pair!r} (a {'trio_hl.rules'!r} line); "
                          f"it has {sorted(rules) or 'none'}")
    source = RecordedSource(path, pairs=(opts.pair,))
    async with open_paper_connector(source, {opts.pair: rules[opts.pair]}, fill_model=fill_model or FillModel(),
                                    seed=seed) as conn:
        if conn.mid(opts.pair) is None:
            raise ConfigError(f"{path} has no book for {opts.pair}")
        summary = await trade_session(conn, factory, opts, venue=f"backtest of {path.name} (paper fills)",
                                      until=conn.wait_source_done)
        frames = conn.frames
    return BacktestResult(summary, frames, time.perf_counter() - wall)


def run_backtest(path: Path | str, opts: DemoOptions, *, strategy: str = DEFAULT_STRATEGY, fill_model: Any = None,
                 seed: int = 0) -> BacktestResult:
    """:func:`backtest` in its own ``trio.run`` on an autojumping ``MockClock``."""
    async def main() -> BacktestResult:
        return await backtest(path, opts, strategy=strategy, fill_model=fill_model, seed=seed)

    result: BacktestResult = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return result


# ====================================================================================== CLI


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="capture of l2Book/trades frames, JSON lines (e.g. from trio_hl.emulator.capture)")
    parser.add_argument("--strategy", default=DEFAULT_STRATEGY,
                        help=f"module:Class constructed as Class(conn, pair, QuoteParams) (default {DEFAULT_STRATEGY})")
    parser.add_argument("--pair", default="BTC", help="pair to trade (default BTC)")
    parser.add_argument("--spread-bps", type=positive_decimal_arg, default=Decimal(3),
                        help="full quoted spread (default 3)")
    parser.add_argument("--size", type=positive_decimal_arg,
                        help="quote size in base units (default: --notional worth)")
    parser.add_argument("--notional", type=positive_decimal_arg, default=Decimal(100),
                        help="quote size in quote currency when --size is not given (default 100)")
    parser.add_argument("--max-position", type=positive_decimal_arg, help="absolute position limit (default 5 x size)")
    parser.add_argument("--skew-bps", type=non_negative_decimal_arg, default=Decimal(3),
                        help="reservation skew (default 3)")
    parser.add_argument("--requote-bps", type=non_negative_decimal_arg, default=Decimal(1),
                        help="re-quote threshold (default 1)")
    parser.add_argument("--requote-mode", choices=("modify", "cancel"), default="modify",
                        help="move live quotes with modify (default) or cancel + replace")
    parser.add_argument("--taker-fee", type=decimal_arg, default=Decimal("0.00045"),
                        help="taker fee, fraction of notional (default 0.00045)")
    parser.add_argument("--maker-fee", type=decimal_arg, default=Decimal("0.00015"),
                        help="maker fee, fraction of notional; negative = rebate (default 0.00015)")
    parser.add_argument("--latency-ms", type=non_negative_float_arg, default=50.0,
                        help="one-way order latency (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the paper connector's order ids")


def backtest_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``trio-hl backtest``: print the summary.  A file, strategy or pair that is not there raises
    :class:`~trio_hl.cli_errors.CliError` (exit 2 through the CLI's one error path)."""
    from trio_hl.paper import FillModel

    out = out if out is not None else sys.stdout
    opts = DemoOptions(pair=args.pair, spread_bps=args.spread_bps, size=args.size, notional=args.notional,
                       max_position=args.max_position, skew_bps=args.skew_bps, requote_bps=args.requote_bps,
                       requote_mode=args.requote_mode, zmq=None)
    try:
        model = FillModel(taker_fee=args.taker_fee, maker_fee=args.maker_fee, latency_s=args.latency_ms / 1000)
        result = run_backtest(args.file, opts, strategy=args.strategy, fill_model=model, seed=args.seed)
    except (ConfigError, ValueError) as exc:  # the command line names something that is not there
        raise CliError(str(exc), "check FILE, --strategy and --pair; `trio-hl capture` writes a capture",
                       status=EXIT_USAGE) from exc
    except OSError as exc:
        raise CliError(str(exc), "check the capture file") from exc
    print(result.summary.render(), file=out)
    print(f"  replay   {result.frames} frames in {result.wall_seconds:.2f} s wall", file=out, flush=True)
    return 0 if result.summary.clean_shutdown else 1


def add_capture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="capture file to write (JSON lines)")
    parser.add_argument("--pair", default="BTC", help="pair to record (default BTC)")
    parser.add_argument("--seconds", type=positive_float_arg, default=3600.0,
                        help="how much market to record (default 3600)")
    parser.add_argument("--base-url", help="record this venue's live data (no key needed: public channels only)")
    parser.add_argument("--testnet", action="store_true", help="record Hyperliquid testnet's live data")
    parser.add_argument("--seed", type=int, default=0,
                        help="without --base-url/--testnet: seed of the emulator's simulated market, which is "
                             "written at once rather than recorded in real time")


def capture_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``trio-hl capture``: record a venue's books and trades (real time), or write the emulator's seeded market
    (instantly), for ``trio-hl backtest``."""
    out = out if out is not None else sys.stdout
    if args.base_url is None and not args.testnet:
        from trio_hl.emulator.capture import write_capture

        try:
            stats = write_capture(args.out, pair=args.pair, seconds=args.seconds, seed=args.seed)
        except ValueError as exc:
            raise CliError(str(exc), "pass one of the emulator's pairs to --pair", status=EXIT_USAGE) from exc
        except OSError as exc:
            raise CliError(str(exc), "check the output path") from exc
        print(f"trio-hl capture: {args.out}: {stats.books} books, {stats.trades} trades "
              f"({args.seconds:.0f} s of the emulator's market, seed {args.seed})", file=out)
        return 0
    return _record_live(args, out)


def _record_live(args: argparse.Namespace, out: TextIO) -> int:
    from trio_hl.hyperliquid.config import TESTNET_API_URL, ConnectorConfig
    from trio_hl.hyperliquid.connector import open_connector
    from trio_hl.hyperliquid.signing import LocalSigner
    from trio_hl.paper.recorded import CaptureCounts, record_capture

    base_url = args.base_url or TESTNET_API_URL
    pairs: Any = (args.pair,)

    async def main() -> CaptureCounts:
        # Public channels only: a throwaway key, never used to sign (no identity check), names no funded account.
        config = ConnectorConfig(base_url=base_url, private_key=LocalSigner.generate().export_private_key_hex(),
                                 pairs=pairs, is_mainnet=False if args.testnet else None)
        async with open_connector(config, check_identity=False) as conn:
            return await record_capture(conn, (args.pair,), args.out, seconds=args.seconds)

    try:
        counts: CaptureCounts = trio.run(main)
    except ConfigError as exc:
        raise CliError(str(exc), "check --base-url and --pair", status=EXIT_USAGE) from exc
    except OSError as exc:
        raise CliError(str(exc), "check the output path") from exc
    print(f"trio-hl capture: {args.out}: {counts.books} books, {counts.trades} trades from {base_url}", file=out)
    return 0
