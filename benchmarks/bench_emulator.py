"""Emulator throughput: orders/s accepted over HTTP ``/exchange`` and over WS ``post``, with ack latency.

Setup: the emulator runs as its own process (``python -m trio_hl.cli emulator --port 0 --no-rate-limit``,
i.e. ``Limits.unlimited()``; the simulated market on, ticking every 50 ms), so the client's CPU does not count
against it.  Orders are signed before the clock starts (signing is measured in ``bench_signing.py``): each
is a resting ``Gtc`` SOL bid far below the market (every answer must be ``resting``; a refusal fails the run),
from one signer per concurrent worker with increasing nonces.

* ``http``: ``--workers`` tasks, each with its own keep-alive httpx connection, one request in flight per
  task; orders/s = accepted orders / wall time; latency = request → parsed answer.
* ``ws post``: one connection, up to ``--window`` posts in flight; latency = post sent → its ``post`` answer.

The client is one Python process too, so on a small machine the figure is a floor for the server (the
client's HTTP stack costs about as much per request as the server's, and both share the CPUs).  So each row
also shows the server's own CPU time per accepted order (user + system, read from ``/proc`` on Linux, with
the idle cost of the simulated market's ticks subtracted): ``1e6 / that`` is what one server core could
sustain if the client cost nothing; the client's own CPU per order is shown next to it (when it nears
``1e6 / rate``, the client, not the server, set the rate).  ``--runs N`` repeats each transport N times
against the same server and prints the medians (the box may be shared and noisy: compare medians, not single
runs).
Goal: >= 5 000 orders/s.

    python benchmarks/bench_emulator.py [--orders 20000] [--workers 16] [--window 64] [--runs 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import exchange_body

GOAL_ORDERS_PER_S = 5_000
SOL = 2


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_hl.cli", "emulator", "--port", "0", "--no-rate-limit", "--auto-fund", "any"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split("listening on ", 1)[1].split()[0]
    return proc, url


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_rate(pid: int, seconds: float = 1.0) -> float:
    """Fraction of a core the server burns with no client (the simulated market ticking every 50 ms)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    after = cpu_seconds(pid)
    return 0.0 if before is None or after is None else (after - before) / seconds


def signed_orders(signer: LocalSigner, count: int, nonce0: int) -> list[bytes]:
    bodies = []
    for i in range(count):
        px = f"{50 + (i % 5000) / 100:.2f}".rstrip("0").rstrip(".")
        action = {"type": "order", "orders": [{"a": SOL, "b": True, "p": px, "s": "1", "r": False,
                                               "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
        nonce = nonce0 + i
        body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
        bodies.append(json.dumps(body).encode())
    return bodies


def check(answer: Any) -> None:
    statuses = answer["response"]["data"]["statuses"]
    if "resting" not in statuses[0]:
        raise SystemExit(f"order not accepted: {answer}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def bench_http(url: str, per_worker: list[list[bytes]]) -> dict[str, float]:
    latencies: list[float] = []

    async def worker(bodies: list[bytes]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for body in bodies:
                t = time.perf_counter()
                response = await client.post("/exchange", content=body, headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - t)
                check(response.json())

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for bodies in per_worker:
            nursery.start_soon(worker, bodies)
    elapsed = time.perf_counter() - started
    return {"rate": len(latencies) / elapsed, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99)}


async def bench_ws(url: str, bodies: list[bytes], window: int) -> dict[str, float]:
    ws_url = "ws" + url[len("http"):] + "/ws"
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    slots = trio.Semaphore(window)
    done = trio.Event()
    async with open_websocket_url(ws_url, max_message_size=1 << 24) as ws:

        async def reader() -> None:
            while len(latencies) < len(bodies):
                frame = json.loads(await ws.get_message())
                if frame.get("channel") != "post":
                    continue
                post_id = frame["data"]["id"]
                latencies.append(time.perf_counter() - sent_at.pop(post_id))
                check(frame["data"]["response"]["payload"])
                slots.release()
            done.set()

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for i, body in enumerate(bodies):
                await slots.acquire()
                sent_at[i] = time.perf_counter()
                await ws.send_message(
                    f'{{"method":"post","id":{i},"request":{{"type":"action","payload":{body.decode()}}}}}')
            await done.wait()
        elapsed = time.perf_counter() - started
    return {"rate": len(latencies) / elapsed, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99)}


def measured(pid: int, idle_rate: float, orders: int, run: Any) -> dict[str, float]:
    """``run()``'s figures plus CPU microseconds per order of the server (NaN where ``/proc`` is missing)
    and of this client process (if the client is near a full core, the rate is the client's limit)."""
    cpu0, t0, client0 = cpu_seconds(pid), time.perf_counter(), time.process_time()
    row: dict[str, float] = run()
    cpu1, elapsed = cpu_seconds(pid), time.perf_counter() - t0
    row["client_us"] = (time.process_time() - client0) / orders * 1e6
    if cpu0 is None or cpu1 is None:
        row["cpu_us"] = float("nan")
    else:
        row["cpu_us"] = max(0.0, cpu1 - cpu0 - idle_rate * elapsed) / orders * 1e6
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--runs", type=int, default=1, help="runs per transport (medians are reported)")
    parser.add_argument("--quick", action="store_true", help="2 000 orders per transport")
    args = parser.parse_args()
    n = 2_000 if args.quick else args.orders
    per_worker_n = n // args.workers
    nonce0 = int(time.time() * 1000)
    t = time.perf_counter()
    # Fresh signers per run, so every run starts from empty nonce sets and an equally deep book per signer.
    runs = []
    for _ in range(args.runs):
        signers = [LocalSigner.generate() for _ in range(args.workers + 1)]
        runs.append(([signed_orders(s, per_worker_n, nonce0) for s in signers[:-1]],
                     signed_orders(signers[-1], n, nonce0)))
    print(f"pre-signed {(per_worker_n * args.workers + n) * args.runs} orders in {time.perf_counter() - t:.1f} s "
          f"(cpu count {os.cpu_count()})")
    proc, url = start_emulator()
    http_rows: list[dict[str, float]] = []
    ws_rows: list[dict[str, float]] = []
    try:
        idle = idle_cpu_rate(proc.pid)
        for http_bodies, ws_bodies in runs:
            http_rows.append(measured(proc.pid, idle, per_worker_n * args.workers,
                                      lambda b=http_bodies: trio.run(bench_http, url, b)))
            ws_rows.append(measured(proc.pid, idle, n, lambda b=ws_bodies: trio.run(bench_ws, url, b, args.window)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    if args.runs > 1:
        for name, rows in (("http", http_rows), ("ws", ws_rows)):
            print(f"{name} runs: " + ", ".join(
                f"{r['rate']:,.0f}/s (server {r['cpu_us']:.0f} us, client {r['client_us']:.0f} us cpu)" for r in rows))
    for name, rows in ((f"http /exchange ({args.workers} connections)", http_rows),
                       (f"ws post (1 connection, window {args.window})", ws_rows)):
        row = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        verdict = "ok" if row["rate"] >= GOAL_ORDERS_PER_S else "below goal"
        print(f"{name:<44} {row['rate']:>9,.0f} orders/s   ack p50 {row['p50']:6.2f} ms   "
              f"p99 {row['p99']:6.2f} ms   cpu/order server {row['cpu_us']:4.0f} us, "
              f"client {row['client_us']:4.0f} us   "
              f"(goal >= {GOAL_ORDERS_PER_S:,}/s: {verdict})")


if __name__ == "__main__":
    main()
