"""Connector figures against the in-process emulator on loopback (one run, printed).

- ``buy()`` return latency: the synchronous call a strategy makes (validate, quantize, track, journal-append,
  queue) — p50/p99 over 20 000 calls.  Goals: p50 ≤ 15 µs, p99 ≤ 50 µs.
- submit → ack: ``buy()`` to the ``OrderCreated`` event (sign, WS post, emulator match, answer, tracker), one order
  at a time.  Goal: p50 ≤ 2 ms.
- sustained throughput: 5 000 orders queued as fast as ``buy()`` allows, until all are acknowledged (batching
  40 orders per signed action).  Goal: ≥ 2 000 orders/s.

The official SDK has no comparable figure (its ``order()`` is a blocking HTTP round trip), so the SDK ratio
is its ``Exchange.order`` round trip when ``nox -s bench`` has the SDK installed; otherwise it is skipped.

Run: ``python benchmarks/bench_connector.py``.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any

import trio

from trio_hl import ConnectorConfig, OrderCreated, OrderFailed, OrderParams, open_connector
from trio_hl.emulator import Limits, open_emulator
from trio_hl.hyperliquid.signing import LocalSigner

D = Decimal


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def main() -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=0.25) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=LocalSigner.generate().export_private_key_hex(),
                              pairs=("BTC",), submit_queue_size=200_000)
        async with open_connector(cfg) as conn:
            events = conn.events(buffer=200_000)
            mid = conn.mid("BTC")
            assert mid is not None
            px = (mid * D("0.5")).quantize(D(1))
            amount = (D(20) / px).quantize(D("0.001")) + D("0.001")

            # 1. submit -> ack, one at a time.
            acks: list[float] = []
            for i in range(300):
                t0 = time.perf_counter()
                cid = conn.buy(OrderParams("BTC", amount, px - i))
                async for e in events:
                    if isinstance(e, OrderCreated | OrderFailed) and e.client_order_id == cid:
                        break
                acks.append(time.perf_counter() - t0)
            conn.cancel_all()
            results["ack_p50_ms"] = pct(acks, 0.5) * 1e3
            results["ack_p99_ms"] = pct(acks, 0.99) * 1e3

            # 2. buy() return latency (the gate is closed so nothing is sent while we measure the call itself).
            conn.submit.close_gate()
            lat: list[float] = []
            params = [OrderParams("BTC", amount, px - 1000 - (i % 500)) for i in range(20_000)]
            for p in params:  # the user's OrderParams is built outside the timed call
                t0 = time.perf_counter_ns()
                conn.buy(p)
                lat.append((time.perf_counter_ns() - t0) / 1e3)
            results["buy_p50_us"] = pct(lat, 0.5)
            results["buy_p99_us"] = pct(lat, 0.99)
            results["buy_mean_us"] = statistics.fmean(lat)
    # 3. sustained throughput on a fresh connector.
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=0.25) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=LocalSigner.generate().export_private_key_hex(),
                              pairs=("BTC",), submit_queue_size=200_000)
        async with open_connector(cfg) as conn:
            events = conn.events(buffer=200_000)
            n = 5_000
            t0 = time.perf_counter()
            for i in range(n):
                conn.buy(OrderParams("BTC", amount, px - (i % 900)))
            done = 0
            async for e in events:
                if isinstance(e, OrderCreated | OrderFailed):
                    done += 1
                    if done == n:
                        break
            elapsed = time.perf_counter() - t0
            results["sustained_orders_per_s"] = n / elapsed
            results["sustained_actions"] = conn.health().actions_sent
    return results


def report(results: dict[str, Any]) -> str:
    lines = [
        "connector (in-process emulator, loopback)",
        f"  buy() return          p50 {results['buy_p50_us']:7.1f} us   p99 {results['buy_p99_us']:7.1f} us"
        f"   (goal p50 <= 15, p99 <= 50)",
        f"  submit -> ack         p50 {results['ack_p50_ms']:7.2f} ms   p99 {results['ack_p99_ms']:7.2f} ms"
        f"   (goal p50 <= 2)",
        f"  sustained             {results['sustained_orders_per_s']:9.0f} orders/s in "
        f"{results['sustained_actions']} signed actions   (goal >= 2000)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(trio.run(main)))
