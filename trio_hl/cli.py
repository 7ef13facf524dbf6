"""The ``trio-hl`` command: ``demo`` | ``backtest`` | ``capture`` | ``emulator`` | ``record`` | ``orders`` | ``fills``.

Each sub-command lives in its own module; this file parses arguments and dispatches, and every command runs
through the one error path of :mod:`trio_hl.cli_errors`: a user's mistake is one line on stderr,
``trio-hl <command>: <what is wrong> (<what to do>)``, with exit status 2 when the command line must change and
1 when the world refused; Ctrl-C exits quietly with 130; a closed pipe (``trio-hl orders | head``) with 141;
anything unexpected keeps its traceback.

Arguments are checked by argparse types (sizes > 0, durations >= 0, ports in range) before anything starts,
and the start-up itself (the heavy imports included) runs inside the Ctrl-C handling: this module and
``trio_hl/__init__`` import nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from trio_hl.cli_args import port_arg, positive_float_arg, positive_int_arg
from trio_hl.cli_errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError, OneLineArgumentParser, run_command


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = OneLineArgumentParser(prog="trio-hl",
                                                            description="Trio-native Hyperliquid toolkit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo_command(sub)
    _add_backtest_command(sub)
    _add_event_commands(sub)
    _add_emulator_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trio-hl`` script; returns the exit status."""
    try:
        args = _parse(build_parser(), argv)
        if args.command == "demo":
            from trio_hl.demo.runner import demo_main

            return demo_main(args)
        if args.command in ("backtest", "capture"):
            from trio_hl.demo import backtest

            command = backtest.backtest_main if args.command == "backtest" else backtest.capture_main
            return run_command(args.command, lambda: command(args))
        if args.command in ("record", "orders", "fills"):
            return _run_event_command(args)
        if args.command == "emulator":
            return _run_emulator(args)
        return EXIT_USAGE  # pragma: no cover - argparse enforces the choices
    except KeyboardInterrupt:  # Ctrl-C while starting (imports, argument parsing): nothing to clean up
        return EXIT_INTERRUPTED


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, except that an unknown option is reported by the command it was given to
    (``trio-hl demo: unrecognized arguments: --bogus``), whose ``--help`` lists what it takes."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _add_demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``demo``: the market maker against the embedded emulator (or ``--base-url``); see ``trio_hl.demo``."""
    from trio_hl.demo.runner import add_demo_arguments

    demo = sub.add_parser("demo", help="run the market-making demo against the embedded emulator",
                          description="Quote both sides of one pair with a small market maker, show a live view, "
                                      "publish events over ZMQ; Ctrl-C (or --duration) cancels everything and "
                                      "prints a summary.")
    add_demo_arguments(demo)


def _add_backtest_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``backtest``: a strategy replayed over a recorded market on the paper connector (``trio_hl.demo.backtest``)."""
    from trio_hl.demo.backtest import add_backtest_arguments, add_capture_arguments

    backtest = sub.add_parser("backtest", help="replay a recorded market through a strategy with simulated fills",
                              description="Run a strategy (default: the demo's market maker) on the paper connector "
                                          "over a capture file, as fast as the CPU allows; print the demo's summary.")
    add_backtest_arguments(backtest)
    capture = sub.add_parser("capture", help="record a venue's books and trades (or the emulator's market) to a file",
                             description="Write a capture file for 'trio-hl backtest': a venue's live l2Book and "
                                         "trades frames for --seconds, or, without --base-url/--testnet, the "
                                         "emulator's seeded market (written at once).")
    add_capture_arguments(capture)


def _add_event_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``record`` (ZMQ events -> SQLite), ``orders`` and ``fills`` (read that database)."""
    record = sub.add_parser("record", help="record events published over ZMQ into a SQLite database")
    record.add_argument("--connect", action="append", metavar="ENDPOINT",
                        help="publisher endpoint (repeatable; default tcp://127.0.0.1:5556)")
    record.add_argument("--db", required=True, help="SQLite file (created if missing, resumed if present)")
    record.add_argument("--rcvhwm", type=positive_int_arg, default=100_000,
                        help="messages ZMQ may queue for us (default 100000)")
    orders = sub.add_parser("orders", help="print the latest state of every recorded order")
    orders.add_argument("--db", required=True, help="the SQLite file `trio-hl record` writes")
    orders.add_argument("--pair", help="only this pair's orders")
    orders.add_argument("--open", action="store_true", help="only orders not in a terminal state")
    orders.add_argument("--limit", type=positive_int_arg, help="at most N orders, the most recent first")
    fills = sub.add_parser("fills", help="print recorded fills (one row per trade and order)")
    fills.add_argument("--db", required=True, help="the SQLite file `trio-hl record` writes")
    fills.add_argument("--pair", help="only this pair's fills")
    fills.add_argument("--order", metavar="CLIENT_ORDER_ID", help="only the fills of this order")
    fills.add_argument("--limit", type=positive_int_arg, help="at most N fills, the most recent first")


def _run_event_command(args: argparse.Namespace) -> int:
    def body() -> int:
        from trio_hl.events import queries, recorder
        from trio_hl.events.zmq_publisher import DEFAULT_ENDPOINT

        if args.command == "record":
            return recorder.record_main(args.connect or [DEFAULT_ENDPOINT], args.db, rcvhwm=args.rcvhwm)
        if args.command == "orders":
            print(queries.render_orders(args.db, pair=args.pair, open_only=args.open, limit=args.limit))
        else:
            print(queries.render_fills(args.db, pair=args.pair, client_order_id=args.order, limit=args.limit))
        return 0

    def explain(exc: BaseException) -> CliError | None:
        if isinstance(exc, FileNotFoundError):
            return CliError(f"no recorder database at {args.db}", f"run `trio-hl record --db {args.db}` first")
        if args.command == "record" and type(exc).__name__ == "ZMQError":
            return CliError(f"cannot connect to {', '.join(args.connect or ['the publisher'])}: {exc}",
                            "check --connect (e.g. tcp://127.0.0.1:5557)", status=EXIT_USAGE)
        if isinstance(exc, ValueError):  # e.g. a file that is not a recorder database
            return CliError(str(exc), f"check --db {args.db}")
        return None

    return run_command(args.command, body, explain)


def _add_emulator_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``emulator``: serve the local Hyperliquid until Ctrl-C (fault flags from ``FaultPlan``)."""
    from trio_hl.emulator.faults import FaultPlan

    emu = sub.add_parser("emulator", help="run the local Hyperliquid emulator (HTTP /info, /exchange, WS /ws)",
                         description="Serve a local Hyperliquid (HTTP /info and /exchange, WebSocket /ws) until "
                                     "Ctrl-C.  The first line printed is the URL.")
    emu.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 = every interface)")
    emu.add_argument("--port", type=port_arg, default=3001,
                     help="TCP port (default 3001; 0 = any free port; the URL is printed)")
    emu.add_argument("--seed", type=int, default=0, help="seed of the simulated market and of the fault RNG")
    emu.add_argument("--no-auto-fund", action="store_true", help="never fund unknown signers")
    emu.add_argument("--auto-fund", choices=("named", "any", "off"), default=None,
                     help="which unknown signers get funded (default: named = addresses a client queried)")
    emu.add_argument("--fund", action="append", default=[], metavar="ADDRESS",
                     help="address allowed to act from the start (repeatable)")
    emu.add_argument("--mainnet", action="store_true", help="verify signatures with mainnet parameters")
    emu.add_argument("--no-rate-limit", action="store_true",
                     help="switch off the venue limits (per-IP weights and the per-address action budget)")
    emu.add_argument("--welcome-message", action="store_true",
                     help='send the legacy "Websocket connection established." frame on connect')
    emu.add_argument("--idle-timeout", type=positive_float_arg, default=60.0,
                     help="close WS clients silent for N s (default 60, the venue's)")
    emu.add_argument("--server", choices=("trio", "hypercorn"), default="trio",
                     help="HTTP/WS server: our lean Trio server (default) or hypercorn (same ASGI app)")
    emu.add_argument("--max-connections", type=int, default=None, metavar="N",
                     help="open connections the server accepts; more get 503 (default 512)")
    emu.add_argument("--request-timeout", type=float, default=None, metavar="S",
                     help="a request must arrive whole within S s of its first byte, else 408 (default 20)")
    emu.add_argument("--keep-alive-timeout", type=float, default=None, metavar="S",
                     help="close an HTTP connection idle between requests for S s (default 60)")
    FaultPlan.add_cli_arguments(emu)


def _run_emulator(args: argparse.Namespace) -> int:
    def body() -> int:
        import gc
        from functools import partial

        import trio

        from trio_hl.emulator import AutoFund, Emulator, FaultPlan, Limits, ServerLimits, serve_emulator

        auto_fund = AutoFund.OFF if args.no_auto_fund else AutoFund(args.auto_fund or "named")
        server_options = {name: value for name, value in (("max_connections", args.max_connections),
                                                           ("request_timeout_s", args.request_timeout),
                                                           ("keep_alive_timeout_s", args.keep_alive_timeout))
                          if value is not None}
        try:
            server_limits = ServerLimits(**server_options)
        except ValueError as exc:
            raise CliError(str(exc), "see `trio-hl emulator --help`", status=EXIT_USAGE) from None
        serve = partial(
            serve_emulator,
            host=args.host,
            port=args.port,
            seed=args.seed,
            faults=FaultPlan.from_cli_args(args, default_seed=args.seed),
            auto_fund=auto_fund,
            is_mainnet=args.mainnet,
            limits=Limits.unlimited() if args.no_rate_limit else Limits(),
            idle_timeout_s=args.idle_timeout,
            welcome_message=args.welcome_message,
            server=args.server,
            server_limits=server_limits,
        )

        async def run() -> None:
            async with trio.open_nursery() as nursery:
                emulator: Emulator = await nursery.start(serve)
                for address in args.fund:
                    emulator.fund(address)
                # This process is the emulator's alone: what exists now (modules, the markets, the engine's
                # tables) lives as long as it does, so the collector stops traversing it.  Under load that was
                # 2-4 us of the server's CPU per one-order action (callgrind harness, 4 000 orders, gc callbacks
                # timed: 2.6-4.5 us -> 0.4-1.5 us), mostly young collections walking the startup heap.
                gc.collect()
                gc.freeze()
                # One parseable line: scripts (and the SDK compatibility test) read the URL from it.
                print(f"trio-hl emulator: listening on {emulator.url} (ws {emulator.ws_url})", flush=True)

        trio.run(run)
        return 0

    def explain(exc: BaseException) -> CliError | None:
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
            return CliError(f"port {args.port} on {args.host} is already in use",
                            "stop what holds it, or pick another with --port; --port 0 takes any free port")
        if isinstance(exc, OSError) and exc.errno == errno.EACCES:
            return CliError(f"not allowed to listen on port {args.port}",
                            "ports below 1024 need privileges: pick another with --port")
        if isinstance(exc, OSError) and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return CliError(f"cannot listen on host {args.host!r}: {exc.strerror}",
                            "use an address of this machine with --host, e.g. 127.0.0.1", status=EXIT_USAGE)
        if type(exc).__name__ == "gaierror":
            return CliError(f"cannot resolve host {args.host!r}", "check --host", status=EXIT_USAGE)
        return None

    return run_command("emulator", body, explain)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
