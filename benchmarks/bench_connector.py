"""Connector figures on loopback; each row names its setup.

- ``buy()`` return latency: the synchronous call a strategy makes (validate, quantize, risk check, track,
  queue; with a journal configured the intent is journaled in the same call) timed around the call alone -
  20 000 calls (4 000 with ``--quick``) after 1 000 untimed warm-up calls, on a fresh connector per run, the
  submit gate closed so that nothing is sent meanwhile; p50/p99 are the median of 3 runs (1 with ``--quick``).
  The garbage collector stays on: how many collections fell inside timed calls, and the p99 of the calls
  without one, are in the notes.  Goals: p50 <= 10 us, p99 <= 40 us.  The same again with the SQLite journal.
- submit -> ack: ``buy()`` to the ``OrderCreated`` event (sign, WS post, emulator match, answer, tracker), one order
  at a time, 300 orders (100 with ``--quick``), the emulator in this process.  Goal: p50 <= 1 ms.
- SDK peer (only when ``hyperliquid-python-sdk`` is importable, as in ``nox -s bench``): the official SDK's
  ``Exchange.order`` (build, sign, blocking HTTP POST, parse the answer) against the *same* emulator, one order
  at a time, interleaved with ours (it runs in a worker thread while the emulator is served by the Trio loop,
  and is timed inside that thread).  The SDK has no event stream, so its "ack" is the HTTP answer; ours is the
  ``OrderCreated`` event.  ``peer_ratio`` = SDK latency / ours (> 1: we are faster).
- sustained throughput: 5 000 orders (1 000 with ``--quick``) queued by ``buy()`` as fast as it returns, timed
  until every one is acknowledged as resting (``OrderCreated``; any refusal fails the benchmark), median of 5 runs
  (3 with ``--quick``).  The goal's row runs the emulator in a process of its own, fresh for each run (a venue does
  not share the client's CPU; the 2-CPU box gives it the other core): the CPU each side spent per order is
  given.  The emulator's open-order cap is raised to the venue's maximum (5 000: "1000 + 1 per 5M USDC volume, up
  to 5000") so every order can rest.  A second row keeps the emulator in this process (one core for both).
  Goal: >= 10 000 orders/s.

The latency samples are exported (``SAMPLES``) for ``run_all.py``'s distribution plot.

Run: ``python benchmarks/bench_connector.py [--quick]``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _emulator_process import emulator_process, process_cpu_seconds, runqueue_wait_seconds

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
#: The venue's highest open-order cap (PROTOCOL 8.3): every order of a sustained run must be able to rest.
OPEN_ORDERS_CAP = 5_000
WARM_UP = 1_000
#: Raw latency samples of the last run, for run_all.py's plots: name -> {"unit", "label", "values"}.
SAMPLES: dict[str, dict[str, Any]] = {}
NOTES: list[str] = []


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover - not on Linux
        return "n/a"


def _config(url: str, **extra: Any) -> ConnectorConfig:
    return ConnectorConfig(base_url=url, private_key=LocalSigner.generate().export_private_key_hex(),
                           pairs=("BTC",), submit_queue_size=200_000, **extra)


def _order_terms(mid: Decimal | None) -> tuple[Decimal, Decimal]:
    """A price far below the market (the order rests) and a size just above the $10 minimum... at $20."""
    assert mid is not None
    px = (mid * D("0.5")).quantize(D(1))
    return px, (D(20) / px).quantize(D("0.001")) + D("0.001")


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


# ----------------------------------------------------------------------------------------------- latency


async def _ack_latency(url: str, n_ack: int, results: dict[str, Any]) -> None:
    async with open_connector(_config(url)) as conn:
        events = conn.events(buffer=200_000)
        px, amount = _order_terms(conn.mid("BTC"))
        sdk = await trio.to_thread.run_sync(_sdk_client, url) if SDK_AVAILABLE else None
        acks: list[float] = []
        sdk_acks: list[float] = []
        for i in range(n_ack):
            t0 = time.perf_counter()
            cid = conn.buy(OrderParams("BTC", amount, px - i))
            async for e in events:
                if isinstance(e, OrderCreated | OrderFailed) and e.client_order_id == cid:
                    if isinstance(e, OrderFailed):
                        raise RuntimeError(f"submit -> ack: order refused: {e.reason}")
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


async def _buy_latency(url: str, n_buy: int, journal: Path | None) -> dict[str, Any]:
    """One run: a fresh connector, its submit gate closed, WARM_UP untimed calls, then ``n_buy`` timed ones."""
    collections: list[int] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    # (no cancel on exit: the gate stays closed, so none of these orders ever leaves the process)
    async with open_connector(_config(url, journal_path=journal), cancel_on_exit=False) as conn:
        px, amount = _order_terms(conn.mid("BTC"))
        conn.submit.close_gate()
        params = [OrderParams("BTC", amount, px - 1000 - (i % 500)) for i in range(WARM_UP + n_buy)]
        buy = conn.buy
        for p in params[:WARM_UP]:
            buy(p)
        lat: list[float] = []
        with_gc: set[int] = set()
        clock = time.perf_counter_ns
        gc.callbacks.append(on_gc)
        try:
            for i, p in enumerate(params[WARM_UP:]):  # the user's OrderParams is built outside the timed call
                seen = len(collections)
                t0 = clock()
                buy(p)
                lat.append((clock() - t0) / 1e3)
                if len(collections) != seen:
                    with_gc.add(i)
        finally:
            gc.callbacks.remove(on_gc)
    clean = [v for i, v in enumerate(lat) if i not in with_gc]
    return {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "mean": statistics.fmean(lat), "samples": lat,
            "gc": [collections.count(g) for g in range(3)], "clean_p99": pct(clean, 0.99) if clean else 0.0}


async def _latency(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    n_ack, n_buy, runs = (100, 4_000, 1) if quick else (300, 20_000, 3)
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=0.25) as emu:
        await _ack_latency(emu.url, n_ack, results)
        with tempfile.TemporaryDirectory() as tmp:
            for label, journal in (("buy", None), ("buy_journal", Path(tmp))):
                per_run = [await _buy_latency(emu.url, n_buy, journal / f"run{i}.sqlite" if journal else None)
                           for i in range(runs)]
                results[f"{label}_p50_us"] = statistics.median(r["p50"] for r in per_run)
                results[f"{label}_p99_us"] = statistics.median(r["p99"] for r in per_run)
                results[f"{label}_mean_us"] = statistics.fmean(v for r in per_run for v in r["samples"])
                results[f"{label}_runs"] = [(round(r["p50"], 2), round(r["p99"], 2)) for r in per_run]
                results[f"{label}_gc"] = [sum(r["gc"][g] for r in per_run) for g in range(3)]
                results[f"{label}_clean_p99_us"] = statistics.median(r["clean_p99"] for r in per_run)
                results[f"{label}_calls"] = runs * n_buy
                if label == "buy":
                    SAMPLES["buy_us"] = {"unit": "us", "label": "buy() return (gate closed: nothing sent)",
                                         "values": per_run[len(per_run) // 2]["samples"]}
    return results


# -------------------------------------------------------------------------------------------- throughput


async def _sustained_once(url: str, n: int, emulator_pid: int | None,
                          profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """One connector on ``url``: ``n`` orders queued by ``buy()``, timed until all are acknowledged."""
    async with open_connector(_config(url)) as conn:
        events = conn.events(buffer=200_000)
        px, amount = _order_terms(conn.mid("BTC"))
        params = [OrderParams("BTC", amount, px - (i % 900)) for i in range(n)]
        emu0 = process_cpu_seconds(emulator_pid) if emulator_pid is not None else None
        waits0 = runqueue_wait_seconds(), runqueue_wait_seconds(emulator_pid) if emulator_pid is not None else None
        if profile is not None:
            profile.enable()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for p in params:
            conn.buy(p)
        created = 0
        refused: list[str] = []
        async for e in events:
            if isinstance(e, OrderCreated):
                created += 1
            elif isinstance(e, OrderFailed):
                refused.append(e.reason or "?")
            if created + len(refused) == n:
                break
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        if profile is not None:
            profile.disable()
        emu1 = process_cpu_seconds(emulator_pid) if emulator_pid is not None else None
        waits1 = runqueue_wait_seconds(), runqueue_wait_seconds(emulator_pid) if emulator_pid is not None else None
        if refused:
            raise RuntimeError(f"sustained run: {len(refused)} of {n} orders refused (first: {refused[0]})")
        result = {"orders_per_s": n / elapsed, "cpu_us": cpu / n * 1e6, "actions": conn.health().actions_sent}
        if emu0 is not None and emu1 is not None:
            result["emulator_cpu_us"] = (emu1 - emu0) / n * 1e6
        # Share of the run's wall time each side spent runnable but waiting for a CPU (other processes on the box).
        for key, before, after in (("conn_wait", waits0[0], waits1[0]), ("emulator_wait", waits0[1], waits1[1])):
            if before is not None and after is not None:
                result[key] = (after - before) / elapsed
        conn.cancel_all()
    return result


def _sustained(quick: bool, *, separate: bool, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    n, runs = (1_000, 3) if quick else (5_000, 5)
    if profile is not None:
        runs = 1
    options = {"tick_interval_s": 0.25, "engine_options": {"open_orders_base": OPEN_ORDERS_CAP}}
    per_run = []
    load_before = loadavg()
    for _ in range(runs):
        if separate:
            with emulator_process(unlimited=True, **options) as (proc, url):
                per_run.append(trio.run(_sustained_once, url, n, proc.pid, profile))
        else:
            async def in_process() -> dict[str, Any]:
                async with open_emulator(limits=Limits.unlimited(), **options) as emu:  # type: ignore[arg-type]
                    return await _sustained_once(emu.url, n, None)

            per_run.append(trio.run(in_process))
    out: dict[str, Any] = {key: statistics.median(r[key] for r in per_run) for key in per_run[0]}
    out["runs"] = [round(r["orders_per_s"]) for r in per_run]
    out["orders"] = n
    out["load"] = f"{load_before} before, {loadavg()} after"
    return out


def _split(profile: cProfile.Profile) -> dict[str, float]:
    """Share of own (tottime) time by area: the rest of trio-hl (the connector side), Trio's runtime, and everything
    else (C builtins, msgspec/json, coincurve, the stdlib); the emulator when it shares the process."""
    import pstats

    shares: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        path = filename.replace("\\", "/")
        area = ("emulator" if "trio_hl/emulator" in path else "connector (trio-hl)" if "trio_hl/" in path
                else "trio runtime" if "/trio/" in path else "other (C builtins, msgspec, coincurve, stdlib)")
        shares[area] = shares.get(area, 0.0) + tottime
    total = sum(shares.values()) or 1.0
    return {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def measure(quick: bool) -> dict[str, Any]:
    results = {"load_start": loadavg()}
    results.update(trio.run(_latency, quick))
    results["latency_load"] = loadavg()
    results["sustained"] = _sustained(quick, separate=True)
    results["sustained_in_process"] = _sustained(quick, separate=False)
    # Where the connector's time goes in a sustained run: one more run under cProfile, own time by area.
    profile = cProfile.Profile()
    _sustained(quick, separate=True, profile=profile)
    results["profile_split"] = _split(profile)
    return results


# ----------------------------------------------------------------------------------------------- report


def notes() -> list[str]:
    return NOTES


def _gc_note(r: dict[str, Any], label: str, what: str) -> str:
    gen = r[f"{label}_gc"]
    return (f"{what}: {r[f'{label}_calls']} timed calls, garbage collections inside them: {gen[0]} young, {gen[1]} "
            f"middle, {gen[2]} full; p99 of the calls without one {r[f'{label}_clean_p99_us']:.1f} us; per-run "
            f"(p50, p99) {r[f'{label}_runs']}")


def run(quick: bool) -> list[dict[str, Any]]:
    r = measure(quick)
    rows: list[dict[str, Any]] = []
    for label, what in (("buy", "buy() return latency"), ("buy_journal", "buy() return latency, SQLite journal")):
        goal = label == "buy"
        rows += [
            {"name": f"{what}, p50", "value": round(r[f"{label}_p50_us"], 2), "unit": "us",
             **({"goal": f"<= {GOALS['buy_p50_us']:g}"} if goal else {})},
            {"name": f"{what}, p99", "value": round(r[f"{label}_p99_us"], 2), "unit": "us",
             **({"goal": f"<= {GOALS['buy_p99_us']:g}"} if goal else {})},
            {"name": f"{what}, mean", "value": round(r[f"{label}_mean_us"], 2), "unit": "us"},
        ]
        NOTES.append(_gc_note(r, label, what))
    for q in ("p50", "p99"):
        row: dict[str, Any] = {"name": f"submit -> ack (OrderCreated), emulator in this process, {q}",
                               "value": round(r[f"ack_{q}_ms"], 3), "unit": "ms"}
        if q == "p50":
            row["goal"] = f"<= {GOALS['ack_p50_ms']:g}"
        if f"sdk_ack_{q}_ms" in r:
            row["peer_ratio"] = round(r[f"sdk_ack_{q}_ms"] / r[f"ack_{q}_ms"], 2)
            row["peer"] = "SDK (SDK latency / ours)"
            rows.append({"name": f"official SDK Exchange.order round trip, same emulator, {q}",
                         "value": round(r[f"sdk_ack_{q}_ms"], 3), "unit": "ms"})
        rows.append(row)
    NOTES.append(f"latency rows (buy(), submit -> ack): load average {r['load_start']} at the start, "
                 f"{r['latency_load']} at the end")
    s, si = r["sustained"], r["sustained_in_process"]
    rows.append({"name": "sustained: orders queued by buy() until all acknowledged, emulator in its own process",
                 "value": round(s["orders_per_s"]), "unit": "orders/s", "goal": f">= {GOALS['orders_per_s']}",
                 "note": (f"median of {len(s['runs'])} runs of {s['orders']} orders {s['runs']}; connector "
                          f"{s['cpu_us']:.1f} us CPU/order, emulator {s.get('emulator_cpu_us', float('nan')):.1f}; "
                          f"{s['actions']:.0f} signed actions; waiting for a CPU (other processes): connector "
                          f"{s.get('conn_wait', float('nan')):.0%} of the wall time, emulator "
                          f"{s.get('emulator_wait', float('nan')):.0%}; load {s['load']}")})
    rows.append({"name": "sustained: connector orders per CPU second (1 / its CPU time per order)",
                 "value": round(1e6 / s["cpu_us"]), "unit": "orders/s"})
    rows.append({"name": "sustained: the same, emulator in this process (one core for both)",
                 "value": round(si["orders_per_s"]), "unit": "orders/s",
                 "note": (f"median of {len(si['runs'])} runs {si['runs']}; {si['cpu_us']:.1f} us CPU/order for "
                          f"both; load {si['load']}")})
    split = ", ".join(f"{area} {share:.0%}" for area, share in r["profile_split"].items())
    NOTES.append(f"sustained run (emulator in its own process): the connector's own time under cProfile by area, "
                 f"measured in this run: {split}")
    return rows


def report(results: dict[str, Any]) -> str:
    s, si = results["sustained"], results["sustained_in_process"]
    lines = [
        f"connector (loopback; load average {results['load_start']} at the start)",
        f"  buy() return          p50 {results['buy_p50_us']:7.1f} us   p99 {results['buy_p99_us']:7.1f} us"
        f"   (goal p50 <= 10, p99 <= 40; gc {results['buy_gc']}, p99 without gc "
        f"{results['buy_clean_p99_us']:.1f})",
        f"  buy(), SQLite journal p50 {results['buy_journal_p50_us']:7.1f} us   p99 "
        f"{results['buy_journal_p99_us']:7.1f} us",
        f"  submit -> ack         p50 {results['ack_p50_ms']:7.2f} ms   p99 {results['ack_p99_ms']:7.2f} ms"
        f"   (goal p50 <= 1)",
        *([f"  SDK Exchange.order    p50 {results['sdk_ack_p50_ms']:7.2f} ms   p99 {results['sdk_ack_p99_ms']:7.2f} ms"
           "   (same emulator, interleaved)"] if "sdk_ack_p50_ms" in results else []),
        f"  sustained             {s['orders_per_s']:9.0f} orders/s (median of {s['runs']}), emulator in its own "
        f"process; connector {s['cpu_us']:.1f} us CPU/order, emulator {s.get('emulator_cpu_us', float('nan')):.1f}"
        f"   (goal >= 10000)",
        f"                        waiting for a CPU: connector {s.get('conn_wait', float('nan')):.0%} of the wall time,"
        f" emulator {s.get('emulator_wait', float('nan')):.0%} (load {s['load']})",
        f"  sustained, 1 process  {si['orders_per_s']:9.0f} orders/s (median of {si['runs']}); "
        f"{si['cpu_us']:.1f} us CPU/order",
        "  connector own time by area (cProfile): "
        + ", ".join(f"{area} {share:.0%}" for area, share in results["profile_split"].items()),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args()
    if not SDK_AVAILABLE:
        print("hyperliquid-python-sdk not importable: SDK round trip skipped (run in the `bench` nox session)")
    print(report(measure(args.quick)))
