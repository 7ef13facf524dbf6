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
    sub.add_parser("demo", help="run the market-making demo against the embedded emulator")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        print("trio-hl demo: the market-making demo is not built yet; available today: the wire, signing "
              "and nonce modules (see README).")
        return 0
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
