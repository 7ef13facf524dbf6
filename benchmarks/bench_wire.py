"""Wire hot path: Decimal → wire strings, price rules, order action building, nonces, message parsing.

Each figure is single-threaded operations per second, the best of several timed repeats (the least
disturbed by other processes on a shared machine).  Where the official SDK does the same job
(``float_to_wire``; ``order_request_to_order_wire`` + ``order_wires_to_order_action``) it is timed on the same
values and ``peer_ratio`` = ours / SDK (> 1: we are faster).  The SDK is optional: when it is not importable
(it only lives in the ``sdk_compat``/``bench`` nox virtualenvs) the rows say so and carry no ratio.

    python benchmarks/bench_wire.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from trio_hl.core.types import Side
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.messages import parse_fill, parse_l2_book
from trio_hl.hyperliquid.nonce import NonceService

try:
    from hyperliquid.utils import signing as sdk_signing

    SDK_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    sdk_signing = None
    SDK_AVAILABLE = False

#: The order path must never be the bottleneck of a connector that batches every 0.1 s; these goals are an
#: order of magnitude above any plausible order rate and leave the budget to signing and I/O.
GOALS = {"to_wire": 1_000_000, "format_price": 500_000, "order_wire+order_action": 200_000}


def _values(n: int) -> list[Decimal]:
    """Realistic prices and sizes: 1-5 significant figures over many magnitudes, some with trailing zeros."""
    rng = random.Random(42)
    out = []
    for _ in range(n):
        mantissa = rng.randint(1, 99999)
        exp = rng.randint(-8, 3)
        d = Decimal(mantissa).scaleb(exp)
        if d.as_tuple().exponent < -8:  # type: ignore[operator]
            d = d.quantize(Decimal("1E-8"))
        if rng.random() < 0.2:
            d = Decimal(f"{d:f}0")  # trailing zero, as from user input "1.50"
        out.append(d)
    return out


def _best_ops_per_s(fn: Callable[[], int], repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        ops = fn()
        elapsed = time.perf_counter() - t0
        best = max(best, ops / elapsed)
    return best


def _row(
    name: str, value: float, goal: float | None = None, peer: float | None = None, note: str = ""
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "value": round(value), "unit": "ops/s"}
    if goal is not None:
        row["goal"] = goal
    if peer is not None:
        row["peer_ratio"] = round(value / peer, 2)
        row["peer"] = "official SDK"
    if note:
        row["note"] = note
    return row


def run(quick: bool) -> list[dict[str, Any]]:
    n = 2_000 if quick else 20_000
    repeats = 3 if quick else 7
    values = _values(n)
    floats = [float(d) for d in values]
    rows: list[dict[str, Any]] = []

    # to_wire vs float_to_wire on the same values.
    to_wire = wire.to_wire

    def ours_to_wire() -> int:
        for d in values:
            to_wire(d)
        return n

    ours = _best_ops_per_s(ours_to_wire, repeats)
    peer = None
    if SDK_AVAILABLE:
        float_to_wire = sdk_signing.float_to_wire

        def sdk_to_wire() -> int:
            for x in floats:
                float_to_wire(x)
            return n

        peer = _best_ops_per_s(sdk_to_wire, repeats)
        rows.append(_row("sdk float_to_wire", peer))
    rows.append(_row("to_wire", ours, GOALS["to_wire"], peer, "" if SDK_AVAILABLE else "SDK not importable: no ratio"))

    # Price rules.
    prices = [
        (wire.round_price(d, 2, False, side=Side.BUY, aggressive=False) if d >= Decimal("0.0001") else Decimal(1))
        for d in values
    ]
    format_price = wire.format_price

    def bench_format_price() -> int:
        for px in prices:
            format_price(px, 2, False)
        return n

    rows.append(_row("format_price", _best_ops_per_s(bench_format_price, repeats), GOALS["format_price"]))

    round_price = wire.round_price

    def bench_round_price() -> int:
        for d in values:
            round_price(d, 0, True, side=Side.SELL, aggressive=False)
        return n

    rows.append(_row("round_price", _best_ops_per_s(bench_round_price, repeats)))

    # One order: order_wire + order_action, vs the SDK's two functions on the same floats.
    sizes = [wire.floor_size(d, 2) + Decimal("0.01") for d in values]
    cloids = [wire.new_cloid() for _ in range(n)]
    limit = wire.limit_order_type("Gtc")
    order_wire, order_action = wire.order_wire, wire.order_action

    def ours_order() -> int:
        for i in range(n):
            order_action([order_wire(3, True, prices[i], sizes[i], False, limit, cloids[i])])
        return n

    ours = _best_ops_per_s(ours_order, repeats)
    peer = None
    if SDK_AVAILABLE:
        from hyperliquid.utils.types import Cloid

        requests = [
            {
                "coin": "SOL",
                "is_buy": True,
                "sz": float(sizes[i]),
                "limit_px": float(prices[i]),
                "order_type": {"limit": {"tif": "Gtc"}},
                "reduce_only": False,
                "cloid": Cloid(cloids[i]),
            }
            for i in range(n)
        ]
        to_order_wire, to_action = sdk_signing.order_request_to_order_wire, sdk_signing.order_wires_to_order_action

        def sdk_order() -> int:
            for r in requests:
                to_action([to_order_wire(r, 3)])  # type: ignore[arg-type]
            return n

        peer = _best_ops_per_s(sdk_order, repeats)
        rows.append(_row("sdk order_request_to_order_wire+order_wires_to_order_action", peer))
    rows.append(
        _row(
            "order_wire+order_action",
            ours,
            GOALS["order_wire+order_action"],
            peer,
            "" if SDK_AVAILABLE else "SDK not importable: no ratio",
        )
    )

    def bench_cloid() -> int:
        for _ in range(n):
            wire.new_cloid()
        return n

    rows.append(_row("new_cloid", _best_ops_per_s(bench_cloid, repeats)))

    nonces = NonceService()

    def bench_nonce() -> int:
        for _ in range(n):
            nonces.next()
        return n

    rows.append(_row("NonceService.next", _best_ops_per_s(bench_nonce, repeats)))

    # Parsing: one fill, and a full 20+20-level book.
    fill = {
        "closedPnl": "0.0", "coin": "SOL", "crossed": True, "dir": "Open Long", "hash": "0x" + "ab" * 32,
        "oid": 90542681, "px": "185.435", "side": "B", "startPosition": "26.86", "sz": "93.53",
        "time": 1681222254710, "fee": "0.0123", "feeToken": "USDC", "tid": 118906512037719,
        "cloid": cloids[0],
    }  # fmt: skip
    coins = {"SOL": "SOL"}

    def bench_fill() -> int:
        for _ in range(n):
            parse_fill(fill, coins)
        return n

    rows.append(_row("parse_fill", _best_ops_per_s(bench_fill, repeats)))

    book = {
        "coin": "SOL",
        "time": 1689630203930,
        "levels": [
            [{"px": f"{185 - i * 0.01:.2f}", "sz": f"{10 + i}.5", "n": i + 1} for i in range(20)],
            [{"px": f"{185.01 + i * 0.01:.2f}", "sz": f"{12 + i}.25", "n": i + 1} for i in range(20)],
        ],
    }
    books = max(n // 20, 50)

    def bench_book() -> int:
        for _ in range(books):
            parse_l2_book(book)
        return books

    rows.append(_row("parse_l2_book (20x20 levels)", _best_ops_per_s(bench_book, repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args()
    rows = run(args.quick)
    if not SDK_AVAILABLE:
        print("hyperliquid-python-sdk not importable: SDK comparison skipped (run in the `bench` nox session)")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = []
        if "goal" in r:
            extra.append(f"goal {r['goal']:,} {'OK' if r['value'] >= r['goal'] else 'MISSED'}")
        if "peer_ratio" in r:
            extra.append(f"{r['peer_ratio']}x the SDK")
        print(f"{r['name']:<{width}}  {r['value']:>12,} {r['unit']}  {'; '.join(extra)}")


if __name__ == "__main__":
    main()
