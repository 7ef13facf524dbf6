"""The ``trio-hl`` command: ``demo`` | ``emulator`` | ``record`` | ``bench``.

Sub-commands are registered as the pieces they drive land; each lives in its own module and this file
only parses arguments and dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trio-hl", description="Trio-native Hyperliquid toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_command(sub)
    _add_event_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from trio_hl.demo.runner import demo_main

        return demo_main(args)
    if args.command in ("record", "orders", "fills"):
        return _run_event_command(args)
    return 2  # pragma: no cover - argparse enforces the choices


def _add_demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``demo``: the market maker against the embedded emulator (or ``--base-url``); see ``trio_hl.demo``."""
    from trio_hl.demo.runner import add_demo_arguments

    demo = sub.add_parser("demo", help="run the market-making demo against the embedded emulator",
                          description="Quote both sides of one pair with a small market maker, show a live view, "
                                      "publish events over ZMQ; Ctrl-C (or --duration) cancels everything and "
                                      "prints a summary.")
    add_demo_arguments(demo)


def _add_event_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``record`` (ZMQ events -> SQLite), ``orders`` and ``fills`` (read that database)."""
    record = sub.add_parser("record", help="record events published over ZMQ into a SQLite database")
    record.add_argument("--connect", action="append", metavar="ENDPOINT",
                        help="publisher endpoint (repeatable; default tcp://127.0.0.1:5556)")
    record.add_argument("--db", required=True, help="SQLite file (created if missing, resumed if present)")
    record.add_argument("--rcvhwm", type=int, default=100_000, help="messages ZMQ may queue for us (default 100000)")
    orders = sub.add_parser("orders", help="print the latest state of every recorded order")
    orders.add_argument("--db", required=True)
    orders.add_argument("--pair")
    orders.add_argument("--open", action="store_true", help="only orders not in a terminal state")
    orders.add_argument("--limit", type=int)
    fills = sub.add_parser("fills", help="print recorded fills (one row per trade and order)")
    fills.add_argument("--db", required=True)
    fills.add_argument("--pair")
    fills.add_argument("--order", metavar="CLIENT_ORDER_ID")
    fills.add_argument("--limit", type=int)


def _run_event_command(args: argparse.Namespace) -> int:
    from trio_hl.events import queries, recorder
    from trio_hl.events.zmq_publisher import DEFAULT_ENDPOINT

    try:
        if args.command == "record":
            return recorder.record_main(args.connect or [DEFAULT_ENDPOINT], args.db, rcvhwm=args.rcvhwm)
        if args.command == "orders":
            print(queries.render_orders(args.db, pair=args.pair, open_only=args.open, limit=args.limit))
        else:
            print(queries.render_fills(args.db, pair=args.pair, client_order_id=args.order, limit=args.limit))
    except (FileNotFoundError, ValueError) as exc:
        print(f"trio-hl {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
