"""Connector figures against the in-process emulator on loopback (one run, printed).

- ``buy()`` return latency: the synchronous call a strategy makes (validate, quantize, track, journal-append,
  queue) — p50/p99 over 20 000 calls (4 000 with ``--quick``).  Goals: p50 ≤ 10 µs, p99 ≤ 40 µs.
- submit → ack: ``buy()`` to the ``OrderCreated`` event (sign, WS post, emulator match, answer, tracker), one order
  at a time, 300 orders (100 with ``--quick``).  Goal: p50 ≤ 1 ms.
- SDK peer (only when ``hyperliquid-python-sdk`` is importable, as in ``nox -s bench``): the official SDK's
  ``Exchange.order`` (build, sign, blocking HTTP POST, parse the answer) against the *same* emulator, one order
  at a time, interleaved with ours (it runs in a worker thread while the emulator is served by the Trio loop,
  and is timed inside that thread).  The SDK has no event stream, so its "ack" is the HTTP answer; ours is the
  ``OrderCreated`` event.  ``peer_ratio`` = SDK latency / ours (> 1: we are faster).
- sustained throughput: 5 000 orders (1 000 with ``--quick``) queued as fast as ``buy()`` allows, until all are
  acknowledged (batching 40 orders per signed action).  Goal: ≥ 10 000 orders/s.

The latency samples are exported (``SAMPLES``) for ``run_all.py``'s distribution plot.

Run: ``python benchmarks/bench_connector.py [--quick]``.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import time
from decimal import Decimal
from typing import Any

import trio

from trio_hl import ConnectorConfig, OrderCreated, OrderFailed, OrderParams, open_connector
from trio_hl.emulator import Limits, open_emulator
from trio_hl.hyperliquid.signing import LocalSigner

try:
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    SDK_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    SDK_AVAILABLE = False

D = Decimal
GOALS = {"buy_p50_us": 10.0, "buy_p99_us": 40.0, "ack_p50_ms": 1.0, "orders_per_s": 10_000}
#: Raw latency samples of the last run, for run_all.py's plots: name -> {"unit", "label", "values"}.
SAMPLES: dict[str, dict[str, Any]] = {}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _sdk_client(url: str) -> Any:
    """A fresh SDK wallet and client, funded the way a user gets funded (it reads its state first)."""
    wallet = Account.create()
    exchange = Exchange(wallet, url)
    exchange.info.user_state(wallet.address)
    return exchange


def _sdk_order(exchange: Any, amount: float, px: float) -> float:
    """One ``Exchange.order`` round trip, timed in the calling (worker) thread; the answer must be an ack."""
    t0 = time.perf_counter()
    answer = exchange.order("BTC", True, amount, px, {"limit": {"tif": "Gtc"}})
    elapsed = time.perf_counter() - t0
    statuses = answer["response"]["data"]["statuses"] if answer.get("status") == "ok" else None
    if not statuses or "error" in statuses[0]:
        raise RuntimeError(f"SDK order not acknowledged: {answer!r}")
    return elapsed


async def main(quick: bool = False) -> dict[str, Any]:
    results: dict[str, Any] = {}
    n_ack, n_buy, n_sustained = (100, 4_000, 1_000) if quick else (300, 20_000, 5_000)
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=0.25) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=LocalSigner.generate().export_private_key_hex(),
                              pairs=("BTC",), submit_queue_size=200_000)
        async with open_connector(cfg) as conn:
            events = conn.events(buffer=200_000)
            mid = conn.mid("BTC")
            assert mid is not None
            px = (mid * D("0.5")).quantize(D(1))
            amount = (D(20) / px).quantize(D("0.001")) + D("0.001")

            # 1. submit -> ack, one at a time (interleaved with the SDK's round trip when it is importable).
            sdk = await trio.to_thread.run_sync(_sdk_client, emu.url) if SDK_AVAILABLE else None
            acks: list[float] = []
            sdk_acks: list[float] = []
            for i in range(n_ack):
                t0 = time.perf_counter()
                cid = conn.buy(OrderParams("BTC", amount, px - i))
                async for e in events:
                    if isinstance(e, OrderCreated | OrderFailed) and e.client_order_id == cid:
                        break
                acks.append(time.perf_counter() - t0)
                if sdk is not None:
                    sdk_acks.append(await trio.to_thread.run_sync(_sdk_order, sdk, float(amount), float(px - i)))
            conn.cancel_all()
            results["ack_p50_ms"] = pct(acks, 0.5) * 1e3
            results["ack_p99_ms"] = pct(acks, 0.99) * 1e3
            SAMPLES["ack_ms"] = {"unit": "ms", "label": "submit -> OrderCreated (one order at a time)",
                                 "values": [a * 1e3 for a in acks]}
            if sdk_acks:
                results["sdk_ack_p50_ms"] = pct(sdk_acks, 0.5) * 1e3
                results["sdk_ack_p99_ms"] = pct(sdk_acks, 0.99) * 1e3
                SAMPLES["sdk_ack_ms"] = {"unit": "ms", "label": "official SDK Exchange.order round trip",
                                         "values": [a * 1e3 for a in sdk_acks]}

            # 2. buy() return latency (the gate is closed so nothing is sent while we measure the call itself).
            conn.submit.close_gate()
            lat: list[float] = []
            params = [OrderParams("BTC", amount, px - 1000 - (i % 500)) for i in range(n_buy)]
            for p in params:  # the user's OrderParams is built outside the timed call
                t0 = time.perf_counter_ns()
                conn.buy(p)
                lat.append((time.perf_counter_ns() - t0) / 1e3)
            results["buy_p50_us"] = pct(lat, 0.5)
            results["buy_p99_us"] = pct(lat, 0.99)
            results["buy_mean_us"] = statistics.fmean(lat)
            SAMPLES["buy_us"] = {"unit": "us", "label": "buy() return (gate closed: nothing sent)", "values": lat}
    # 3. sustained throughput on a fresh connector.
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=0.25) as emu:
        cfg = ConnectorConfig(base_url=emu.url, private_key=LocalSigner.generate().export_private_key_hex(),
                              pairs=("BTC",), submit_queue_size=200_000)
        async with open_connector(cfg) as conn:
            events = conn.events(buffer=200_000)
            n = n_sustained
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
            # Where the sustained run's time goes: the same burst again under cProfile, own time by package.
            profile = cProfile.Profile()
            profile.enable()
            for i in range(n // 2):
                conn.buy(OrderParams("BTC", amount, px - (i % 900)))
            done = 0
            async for e in events:
                if isinstance(e, OrderCreated | OrderFailed):
                    done += 1
                    if done == n // 2:
                        break
            profile.disable()
            results["profile_split"] = _split(profile)
    return results


def _split(profile: cProfile.Profile) -> dict[str, float]:
    """Share of own (tottime) time by area: the emulator, the rest of trio-hl (the connector side), Trio's
    runtime, and everything else (C builtins, msgspec/json, coincurve, the stdlib)."""
    import pstats

    shares: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        path = filename.replace("\\", "/")
        area = ("emulator" if "trio_hl/emulator" in path else "connector (trio-hl)" if "trio_hl/" in path
                else "trio runtime" if "/trio/" in path else "other (C builtins, msgspec, coincurve, stdlib)")
        shares[area] = shares.get(area, 0.0) + tottime
    total = sum(shares.values()) or 1.0
    return {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


NOTES: list[str] = []


def notes() -> list[str]:
    return NOTES


def run(quick: bool) -> list[dict[str, Any]]:
    r = trio.run(main, quick)
    rows: list[dict[str, Any]] = [
        {"name": "buy() return latency, p50", "value": round(r["buy_p50_us"], 2), "unit": "us",
         "goal": f"<= {GOALS['buy_p50_us']:g}"},
        {"name": "buy() return latency, p99", "value": round(r["buy_p99_us"], 2), "unit": "us",
         "goal": f"<= {GOALS['buy_p99_us']:g}"},
        {"name": "buy() return latency, mean", "value": round(r["buy_mean_us"], 2), "unit": "us"},
    ]
    for q in ("p50", "p99"):
        row: dict[str, Any] = {"name": f"submit -> ack (OrderCreated), {q}", "value": round(r[f"ack_{q}_ms"], 3),
                               "unit": "ms"}
        if q == "p50":
            row["goal"] = f"<= {GOALS['ack_p50_ms']:g}"
        if f"sdk_ack_{q}_ms" in r:
            row["peer_ratio"] = round(r[f"sdk_ack_{q}_ms"] / r[f"ack_{q}_ms"], 2)
            row["peer"] = "SDK (SDK latency / ours)"
            rows.append({"name": f"official SDK Exchange.order round trip, same emulator, {q}",
                         "value": round(r[f"sdk_ack_{q}_ms"], 3), "unit": "ms"})
        rows.append(row)
    split = ", ".join(f"{area} {share:.0%}" for area, share in r["profile_split"].items())
    NOTES.append("sustained run (emulator in the same process, one core for both): own time under cProfile by "
                 f"area, measured in this run: {split}")
    rows.append({"name": "sustained: orders queued by buy() until all acknowledged",
                 "value": round(r["sustained_orders_per_s"]), "unit": "orders/s", "goal": f">= {GOALS['orders_per_s']}",
                 "note": f"{r['sustained_actions']} signed actions"})
    return rows


def report(results: dict[str, Any]) -> str:
    lines = [
        "connector (in-process emulator, loopback)",
        f"  buy() return          p50 {results['buy_p50_us']:7.1f} us   p99 {results['buy_p99_us']:7.1f} us"
        f"   (goal p50 <= 10, p99 <= 40)",
        f"  submit -> ack         p50 {results['ack_p50_ms']:7.2f} ms   p99 {results['ack_p99_ms']:7.2f} ms"
        f"   (goal p50 <= 1)",
        *([f"  SDK Exchange.order    p50 {results['sdk_ack_p50_ms']:7.2f} ms   p99 {results['sdk_ack_p99_ms']:7.2f} ms"
           "   (same emulator, interleaved)"] if "sdk_ack_p50_ms" in results else []),
        f"  sustained             {results['sustained_orders_per_s']:9.0f} orders/s in "
        f"{results['sustained_actions']} signed actions   (goal >= 10000)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args()
    if not SDK_AVAILABLE:
        print("hyperliquid-python-sdk not importable: SDK round trip skipped (run in the `bench` nox session)")
    print(report(trio.run(main, args.quick)))
