"""Emulator throughput: orders/s accepted over HTTP ``/exchange`` and over WS ``post``, with ack latency.

Setup: the emulator runs as its own process (``python -m trio_hl.cli emulator --port 0 --no-rate-limit``,
i.e. ``Limits.unlimited()``; the simulated market on, ticking every 50 ms), a fresh one per client kind.
Orders are signed before the clock starts (signing is measured in ``bench_signing.py``): each is a resting
``Gtc`` SOL bid far below the market (inside the venue's 80 % price band), from a fresh signer per 1 000 orders
(the venue's open-order cap) on each concurrent connection, with increasing nonces.
Every answer is checked: HTTP status 200 / a ``post`` answer of type ``action``, ``"status":"ok"`` and
``statuses[0]`` ``resting``.  Anything else (a refusal, an error channel message, a malformed or unexpected
frame, a closed connection, 30 s without an answer) fails the run with the offending answer; nothing is
counted that was not accepted.

* ``http``: ``--workers`` keep-alive connections, one request in flight on each (no pipelining); orders/s =
  accepted orders / wall time; latency = request sent → answer read.
* ``ws post``: one connection, up to ``--window`` posts in flight; latency = post sent → its ``post`` answer.

Why a hand-rolled client by default (``--client lean``, ``benchmarks/_loadgen.py``): client and server share
the box, and with httpx and trio-websocket the *client* was the limit.  Measured on a 2-core box (20 000
orders, medians of 3 runs, box shared with other work at load 3-4): httpx spent ~760-850 µs of client CPU
per order, more than the server (hypercorn ~800 µs, the emulator's own Trio server ~390 µs), and
trio-websocket ~120-140 µs (server ~210-310 µs), so the figure described the pair and stayed pinned near the
client's ceiling however lean the server became.  The lean client writes pre-built request bytes /
pre-masked frames straight to the socket and parses answers by hand: ~50-60 µs of client CPU per order
against the emulator's Trio server (HTTP and WS), ~80-100 µs against hypercorn, which writes each answer's
head and body separately (~1.8 wakeups per answer instead of 1).  Its cost per order is mostly event-loop
wakeups, so it rises when answers trickle in one at a time and falls when several arrive together.  Every
answer is still fully parsed with ``json.loads`` and checked: ~3 µs per answer, measured, so not worth
trading strictness for a substring test.  ``--client sdk-like`` runs the httpx / trio-websocket clients
(what a realistic Python client gets); ``--client both`` runs both, each against its own fresh emulator.
Each row names the client that made it; ``--server`` picks the emulator's HTTP/WS server.

Each row also shows the server's own CPU time per accepted order (user + system, read from ``/proc`` on
Linux, with the idle cost of the simulated market's ticks subtracted): ``1e6 / that`` is what one server
core could sustain if the client cost nothing; the client's own CPU per order is shown next to it (when it
nears ``1e6 / rate``, the client, not the server, set the rate; on 2 cores, client + server CPU per order
near ``2e6 / rate`` means the box is saturated).  ``--runs N`` repeats each transport N times against the
same server and prints the medians (the box may be shared and noisy: compare medians, not single runs).
Goal: >= 5 000 orders/s.

    python benchmarks/bench_emulator.py [--orders 20000] [--workers 16] [--window 64] [--runs 1]
                                        [--client lean|sdk-like|both] [--server trio|hypercorn] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import trio
from _loadgen import LoadError, LoadResult, http_load, http_request, open_websocket, ws_close, ws_load, ws_text_frames
from trio_websocket import open_websocket_url

from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import exchange_body

GOAL_ORDERS_PER_S = 5_000
SOL = 2
CLIENTS = ("lean", "sdk-like")
T = TypeVar("T")


def start_emulator(server: str | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start ``trio-hl emulator`` (its ``--server`` if given, else its default) and return it with its URL."""
    command = [sys.executable, "-m", "trio_hl.cli", "emulator", "--port", "0", "--no-rate-limit", "--auto-fund", "any"]
    if server is not None:
        command += ["--server", server]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise SystemExit(f"emulator did not start (first output line: {line!r})")
    url = line.split("listening on ", 1)[1].split()[0]
    return proc, url


def stop_emulator(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


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


#: The venue's open-order cap (``emulator/_rules.py``): a signer never holds more resting orders than this.
OPEN_ORDER_CAP = 1000


def signed_orders(count: int, nonce0: int) -> list[bytes]:
    """``count`` resting bids, signed by a fresh signer every ``OPEN_ORDER_CAP`` orders (one account may hold
    at most that many open orders, as on the venue)."""
    bodies = []
    signer = LocalSigner.generate()
    for i in range(count):
        if i and i % OPEN_ORDER_CAP == 0:
            signer = LocalSigner.generate()
        px = f"{50 + (i % 5000) / 100:.2f}".rstrip("0").rstrip(".")
        action = {"type": "order", "orders": [{"a": SOL, "b": True, "p": px, "s": "1", "r": False,
                                               "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
        nonce = nonce0 + i
        body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
        bodies.append(json.dumps(body).encode())
    return bodies


def post_text(post_id: int, body: bytes) -> bytes:
    """The WS ``post`` request carrying exchange body ``body`` as id ``post_id``."""
    return b'{"method":"post","id":%d,"request":{"type":"action","payload":%s}}' % (post_id, body)


# --------------------------------------------------------------------------------------------- answer checks
def check_order_answer(answer: Any, where: str) -> None:
    """``answer`` is an exchange answer accepting one order as ``resting``; else the run fails."""
    try:
        status0 = answer["response"]["data"]["statuses"][0]
        ok = answer["status"] == "ok" and isinstance(status0, dict) and "resting" in status0
    except (KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        raise LoadError(f"{where}: order not accepted: {json.dumps(answer)[:500]}")


def check_http_answer(status: int, body: bytes) -> None:
    if status != 200:
        raise LoadError(f"http: status {status}: {body[:500]!r}")
    try:
        answer = json.loads(body)
    except ValueError:
        raise LoadError(f"http: answer is not JSON: {body[:500]!r}") from None
    check_order_answer(answer, "http")


def post_answer_id(text: bytes | str) -> int | None:
    """The id of the post a WS message answers (after checking it accepted the order), or ``None`` for a
    message that answers no post (e.g. a welcome or subscription frame).  An ``error`` channel message
    fails the run: it is how the server answers a post it could not read, which would never be answered."""
    try:
        frame = json.loads(text)
    except ValueError:
        raise LoadError(f"ws: message is not JSON: {text[:500]!r}") from None
    channel = frame.get("channel") if isinstance(frame, dict) else None
    if channel == "error":
        raise LoadError(f"ws: error channel: {json.dumps(frame)[:500]}")
    if channel != "post":
        return None
    try:
        data = frame["data"]
        post_id = data["id"]
        response = data["response"]
        kind = response["type"]
        payload = response["payload"]
    except (KeyError, TypeError):
        raise LoadError(f"ws: malformed post answer: {json.dumps(frame)[:500]}") from None
    if type(post_id) is not int or kind != "action":
        raise LoadError(f"ws: post answer not an accepted action: {json.dumps(frame)[:500]}")
    check_order_answer(payload, f"ws post {post_id}")
    return post_id


# ---------------------------------------------------------------------------------------------------- runs
@dataclass
class RunInput:
    """One run's pre-signed orders: one list per HTTP connection, and one list for the WS connection."""

    http_bodies: list[list[bytes]]
    ws_bodies: list[bytes]


async def lean_http(host: str, port: int, requests: list[list[bytes]]) -> LoadResult:
    return await http_load(host, port, requests, check_http_answer)


async def lean_ws(host: str, port: int, frames: list[bytes], window: int) -> LoadResult:
    ws = await open_websocket(host, port, "/ws")
    try:
        result = await ws_load(ws, frames, window, post_answer_id)
    except BaseException:
        with trio.CancelScope(shield=True):
            await ws.aclose()
        raise
    await ws_close(ws)
    return result


async def sdk_http(url: str, per_worker: list[list[bytes]]) -> LoadResult:
    """The httpx client, as a Python trading client would use it (``AsyncClient`` per task, keep-alive)."""
    latencies: list[float] = []

    async def worker(bodies: list[bytes]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for body in bodies:
                t = time.perf_counter()
                response = await client.post("/exchange", content=body, headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - t)
                check_http_answer(response.status_code, response.content)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for bodies in per_worker:
            nursery.start_soon(worker, bodies)
    return LoadResult(latencies, time.perf_counter() - started)


async def sdk_ws(url: str, texts: list[str], window: int) -> LoadResult:
    """trio-websocket, one connection, up to ``window`` posts in flight."""
    ws_url = "ws" + url[len("http"):] + "/ws"
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    slots = trio.Semaphore(window)
    async with open_websocket_url(ws_url, max_message_size=1 << 24) as ws:

        async def reader() -> None:
            while len(latencies) < len(texts):
                post_id = post_answer_id(await ws.get_message())
                if post_id is None:
                    continue
                if post_id not in sent_at:
                    raise LoadError(f"ws: answer for post {post_id}, which is not in flight")
                latencies.append(time.perf_counter() - sent_at.pop(post_id))
                slots.release()

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for i, text in enumerate(texts):
                await slots.acquire()
                sent_at[i] = time.perf_counter()
                await ws.send_message(text)
        elapsed = time.perf_counter() - started
    return LoadResult(latencies, elapsed)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def run_trio(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(fn, *args)``; a :class:`LoadError` (however deep in task groups) ends the benchmark with its
    message instead of a traceback."""
    try:
        return trio.run(fn, *args)
    except* LoadError as group:
        messages = "; ".join(str(e) for e in _leaves(group))
        raise SystemExit(f"bench_emulator: run failed, nothing counted: {messages}") from None


def measured(pid: int, idle_rate: float, fn: Callable[..., Awaitable[LoadResult]], *args: Any) -> dict[str, float]:
    """``fn(*args)``'s figures (run by :func:`run_trio`) plus CPU microseconds per order of the server (NaN
    where ``/proc`` is missing) and of this client process (if the client is near a full core, the rate is
    the client's limit)."""
    cpu0, t0, client0 = cpu_seconds(pid), time.perf_counter(), time.process_time()
    result = run_trio(fn, *args)
    cpu1, elapsed = cpu_seconds(pid), time.perf_counter() - t0
    orders = len(result.latencies)
    row = {"rate": result.rate, "p50": pct(result.latencies, 0.5), "p99": pct(result.latencies, 0.99),
           "client_us": (time.process_time() - client0) / orders * 1e6, "reconnects": float(result.reconnects)}
    if cpu0 is None or cpu1 is None:
        row["cpu_us"] = float("nan")
    else:
        row["cpu_us"] = max(0.0, cpu1 - cpu0 - idle_rate * elapsed) / orders * 1e6
    return row


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bench_client(client: str, inputs: list[RunInput], window: int,
                 server: str | None) -> tuple[list[dict[str, float]], ...]:
    """All runs of one client kind against a fresh emulator: ``(http_rows, ws_rows)``."""
    proc, url = start_emulator(server)
    http_rows: list[dict[str, float]] = []
    ws_rows: list[dict[str, float]] = []
    try:
        split = urlsplit(url)
        host, port = split.hostname or "127.0.0.1", split.port or 80
        host_header = split.netloc
        idle = idle_cpu_rate(proc.pid)
        for run in inputs:
            if client == "lean":
                # Request bytes and masked frames are built here, before the clock and the CPU counters.
                requests = [[http_request("POST", host_header, "/exchange", b) for b in bodies]
                            for bodies in run.http_bodies]
                frames = ws_text_frames([post_text(i, b) for i, b in enumerate(run.ws_bodies)])
                http_rows.append(measured(proc.pid, idle, lean_http, host, port, requests))
                ws_rows.append(measured(proc.pid, idle, lean_ws, host, port, frames, window))
            else:
                texts = [post_text(i, b).decode() for i, b in enumerate(run.ws_bodies)]
                http_rows.append(measured(proc.pid, idle, sdk_http, url, run.http_bodies))
                ws_rows.append(measured(proc.pid, idle, sdk_ws, url, texts, window))
    finally:
        stop_emulator(proc)
    return http_rows, ws_rows


def report(client: str, workers: int, window: int, http_rows: list[dict[str, float]],
           ws_rows: list[dict[str, float]]) -> None:
    if len(http_rows) > 1:
        for name, rows in (("http", http_rows), ("ws", ws_rows)):
            print(f"{client} {name} runs: " + ", ".join(
                f"{r['rate']:,.0f}/s (server {r['cpu_us']:.0f} us, client {r['client_us']:.0f} us cpu)" for r in rows))
    reconnects = sum(r["reconnects"] for r in http_rows)
    if reconnects:
        print(f"note: the server closed {reconnects:.0f} keep-alive connections ({client} http): reopened, counted")
    for name, rows in ((f"http /exchange ({client}, {workers} connections)", http_rows),
                       (f"ws post ({client}, 1 connection, window {window})", ws_rows)):
        row = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        verdict = "ok" if row["rate"] >= GOAL_ORDERS_PER_S else "below goal"
        print(f"{name:<50} {row['rate']:>9,.0f} orders/s   ack p50 {row['p50']:6.2f} ms   "
              f"p99 {row['p99']:6.2f} ms   cpu/order server {row['cpu_us']:4.0f} us, "
              f"client {row['client_us']:4.0f} us   "
              f"(goal >= {GOAL_ORDERS_PER_S:,}/s: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=16, help="HTTP keep-alive connections")
    parser.add_argument("--window", type=int, default=64, help="WS posts in flight")
    parser.add_argument("--runs", type=int, default=1, help="runs per transport (medians are reported)")
    parser.add_argument("--client", choices=(*CLIENTS, "both"), default="lean",
                        help="lean: raw Trio sockets (default); sdk-like: httpx + trio-websocket; both")
    parser.add_argument("--server", choices=("trio", "hypercorn"), default=None,
                        help="the emulator's HTTP/WS server (default: the emulator's own default)")
    parser.add_argument("--quick", action="store_true", help="2 000 orders per transport")
    args = parser.parse_args()
    if args.workers < 1 or args.window < 1 or args.runs < 1:
        parser.error("--workers, --window and --runs must be >= 1")
    n = 2_000 if args.quick else args.orders
    per_worker_n = n // args.workers
    if per_worker_n < 1:
        parser.error("--orders must be at least --workers")
    clients = list(CLIENTS) if args.client == "both" else [args.client]
    nonce0 = int(time.time() * 1000)
    t = time.perf_counter()
    # Fresh signers per run, so every run starts from empty nonce sets and an equally deep book per signer.
    inputs: dict[str, list[RunInput]] = {}
    for client in clients:
        inputs[client] = []
        for _ in range(args.runs):
            inputs[client].append(RunInput([signed_orders(per_worker_n, nonce0) for _ in range(args.workers)],
                                           signed_orders(n, nonce0)))
    print(f"pre-signed {(per_worker_n * args.workers + n) * args.runs * len(clients)} orders in "
          f"{time.perf_counter() - t:.1f} s (cpu count {os.cpu_count()}, emulator server: "
          f"{args.server or 'default'})")
    for client in clients:
        http_rows, ws_rows = bench_client(client, inputs[client], args.window, args.server)
        report(client, args.workers, args.window, http_rows, ws_rows)


if __name__ == "__main__":
    main()
