"""Emulator throughput: orders/s accepted over HTTP ``/exchange`` and over WS ``post``, with ack latency.

Goal (issue 21): >= 10 000 orders/s over each transport with **one order per signed action**, the emulator in
its own process on a 2-CPU box, the client in another.  Each such order pays a full signature recovery
(libsecp256k1 ecrecover), msgpack + keccak hashing, JSON, framing, the venue's checks and matching.  The
batched rows (``--batch``, default 20 orders per signed action, as a connector's submit worker sends under
load) are reported next to them, clearly labelled: they are not the goal's measure.

Setup: per run a fresh emulator process (``python -m trio_hl.cli emulator --port 0 --no-rate-limit --auto-fund
any``, i.e. ``Limits.unlimited()``; the simulated market on, ticking every 50 ms), so no run inherits a book the
previous one filled.  Orders are signed before the clock starts (signing is measured in ``bench_signing.py``),
fresh for every run: distinct resting ``Gtc`` SOL bids far below the market (inside the venue's 80 % price
band), each with its own price, every action with its own nonce, from a fresh signer per 1 000 orders (the
venue's open-order cap).  Every answer is checked: HTTP status 200 / a ``post`` answer of type ``action``,
``"status":"ok"`` and exactly one ``resting`` status per order of the action.  Anything else (a refusal, an
error channel message, a malformed or unexpected frame, a closed connection, 30 s without an answer) fails
the run with the offending answer; nothing is counted that was not accepted.

* ``http``: ``--workers`` keep-alive connections, one request in flight on each (no pipelining); orders/s =
  accepted orders / wall time; latency = request sent -> answer read.
* ``ws post``: one connection, up to ``--window`` posts in flight; latency = post sent -> its ``post`` answer.

Figures: the median of ``--runs`` runs (5; 3 with ``--quick``), each run listed; the load average before and
after.  Each row shows the server's own CPU time per accepted order (user + system from ``/proc``, the idle
cost of the simulated market's ticks subtracted): ``1e6 / that`` is what one server core could sustain if the
client cost nothing; the client's own CPU per order is shown next to it (when it nears ``1e6 / rate``, the
client set the rate; on 2 cores, client + server CPU per order near ``2e6 / rate`` means the box is
saturated).  After the runs, the server's CPU per one-order action is broken down in-process (same app and
engine, no sockets, best of 3 on fresh engines): JSON decode, signature recovery and within it the bare
libsecp256k1 ecrecover, the venue's checks + the engine, answer encoding; what the measured server CPU leaves
beyond them is the transport (HTTP/WS parsing and framing, the event loop, syscalls).  That is the profile
that explains a missed goal.

Why a hand-rolled client by default (``--client lean``, ``benchmarks/_loadgen.py``): client and server share
the box, and with httpx and trio-websocket the *client* was the limit.  Measured on a 2-core box (20 000
orders, medians of 3 runs, box shared with other work at load 3-4): httpx spent ~760-850 µs of client CPU
per order, more than the server (hypercorn ~800 µs, the emulator's own Trio server ~390 µs), and
trio-websocket ~120-140 µs (server ~210-310 µs), so the figure described the pair and stayed pinned near the
client's ceiling however lean the server became.  The lean client writes pre-built request bytes /
pre-masked frames straight to the socket and parses answers by hand: ~40-60 µs of client CPU per order over
HTTP, ~7-10 µs over WS.  Every answer is still fully parsed with ``json.loads`` and checked.  ``--client
sdk-like`` runs the httpx / trio-websocket clients (what a realistic Python client gets); ``--client both``
runs both.  Each row names the client that made it; ``--server`` picks the emulator's HTTP/WS server.

    python benchmarks/bench_emulator.py [--orders 20000] [--workers 16] [--window 64] [--runs 5] [--batch 20]
                                        [--client lean|sdk-like|both] [--server trio|hypercorn] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
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
from trio_websocket import open_websocket_url

from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import exchange_body

# ``_loadgen`` sits next to this file: importable when run as a script and when ``run_all.py`` loads it by path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _loadgen import (
    LoadError,
    LoadResult,
    http_load,
    http_request,
    open_websocket,
    ws_close,
    ws_load,
    ws_text_frames,
)

GOAL_ORDERS_PER_S = 10_000
#: Orders per signed action in the batched rows (what a connector's submit worker sends under load).
BATCH = 20
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


def signed_actions(orders: int, nonce0: int, per_action: int = 1) -> list[bytes]:
    """``/exchange`` bodies carrying ``orders`` distinct resting bids, ``per_action`` per signed action (the last
    action may hold fewer), signed by a fresh signer every ``OPEN_ORDER_CAP`` orders (one account may hold at
    most that many open orders, as on the venue).  Every order has its own price, every action its own nonce."""
    bodies = []
    signer = LocalSigner.generate()
    placed = 0
    nonce = nonce0
    while placed < orders:
        if placed and placed % OPEN_ORDER_CAP == 0:
            signer = LocalSigner.generate()
        count = min(per_action, orders - placed, OPEN_ORDER_CAP - placed % OPEN_ORDER_CAP)
        wire = []
        for i in range(placed, placed + count):
            px = f"{50 + (i % 5000) / 100:.2f}".rstrip("0").rstrip(".")
            wire.append({"a": SOL, "b": True, "p": px, "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}})
        action = {"type": "order", "orders": wire, "grouping": "na"}
        body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
        bodies.append(json.dumps(body).encode())
        placed += count
        nonce += 1
    return bodies


def signed_orders(count: int, nonce0: int) -> list[bytes]:
    """``count`` one-order actions (see :func:`signed_actions`)."""
    return signed_actions(count, nonce0, 1)


def post_text(post_id: int, body: bytes) -> bytes:
    """The WS ``post`` request carrying exchange body ``body`` as id ``post_id``."""
    return b'{"method":"post","id":%d,"request":{"type":"action","payload":%s}}' % (post_id, body)


# --------------------------------------------------------------------------------------------- answer checks
def orders_in(body: bytes) -> int:
    """How many orders an ``/exchange`` body carries (so each answer is checked for exactly that many)."""
    return len(json.loads(body)["action"]["orders"])


def check_order_answer(answer: Any, where: str, orders: int = 1) -> None:
    """``answer`` is an exchange answer accepting all ``orders`` orders of its action as ``resting``; else the
    run fails."""
    try:
        statuses = answer["response"]["data"]["statuses"]
        ok = (answer["status"] == "ok" and len(statuses) == orders
              and all(isinstance(s, dict) and "resting" in s for s in statuses))
    except (KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        raise LoadError(f"{where}: order(s) not accepted: {json.dumps(answer)[:500]}")


def check_http_answer(status: int, body: bytes, orders: int = 1) -> None:
    if status != 200:
        raise LoadError(f"http: status {status}: {body[:500]!r}")
    try:
        answer = json.loads(body)
    except ValueError:
        raise LoadError(f"http: answer is not JSON: {body[:500]!r}") from None
    check_order_answer(answer, "http", orders)


def post_answer_id(text: bytes | str, orders: int = 1) -> int | None:
    """The id of the post a WS message answers (after checking it accepted its ``orders`` orders), or ``None``
    for a message that answers no post (e.g. a welcome or subscription frame).  An ``error`` channel message
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
    check_order_answer(payload, f"ws post {post_id}", orders)
    return post_id


# ---------------------------------------------------------------------------------------------------- runs
@dataclass
class RunInput:
    """One run's pre-signed actions at one batch size: one list per HTTP connection, one for the WS connection."""

    per_action: int
    http_bodies: list[list[bytes]]
    ws_bodies: list[bytes]


def run_input(orders: int, workers: int, per_action: int, nonce0: int) -> RunInput:
    """Fresh signers (so every run starts from empty nonce sets and an equally deep book per signer);
    ``orders // workers`` orders per HTTP connection and ``orders`` on the WS connection, both rounded down to
    whole actions."""
    per_worker = orders // workers // per_action * per_action
    total = orders // per_action * per_action
    return RunInput(per_action, [signed_actions(per_worker, nonce0, per_action) for _ in range(workers)],
                    signed_actions(total, nonce0, per_action))


async def lean_http(host: str, port: int, requests: list[list[bytes]], per_action: int) -> LoadResult:
    return await http_load(host, port, requests, functools.partial(check_http_answer, orders=per_action))


async def lean_ws(host: str, port: int, frames: list[bytes], window: int, per_action: int) -> LoadResult:
    ws = await open_websocket(host, port, "/ws")
    try:
        result = await ws_load(ws, frames, window, functools.partial(post_answer_id, orders=per_action))
    except BaseException:
        with trio.CancelScope(shield=True):
            await ws.aclose()
        raise
    await ws_close(ws)
    return result


async def sdk_http(url: str, per_worker: list[list[bytes]], per_action: int) -> LoadResult:
    """The httpx client, as a Python trading client would use it (``AsyncClient`` per task, keep-alive)."""
    latencies: list[float] = []

    async def worker(bodies: list[bytes]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for body in bodies:
                t = time.perf_counter()
                response = await client.post("/exchange", content=body, headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - t)
                check_http_answer(response.status_code, response.content, per_action)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for bodies in per_worker:
            nursery.start_soon(worker, bodies)
    return LoadResult(latencies, time.perf_counter() - started)


async def sdk_ws(url: str, texts: list[str], window: int, per_action: int) -> LoadResult:
    """trio-websocket, one connection, up to ``window`` posts in flight."""
    ws_url = "ws" + url[len("http"):] + "/ws"
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    slots = trio.Semaphore(window)
    async with open_websocket_url(ws_url, max_message_size=1 << 24) as ws:

        async def reader() -> None:
            while len(latencies) < len(texts):
                post_id = post_answer_id(await ws.get_message(), per_action)
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


def measured(pid: int, idle_rate: float, per_action: int, fn: Callable[..., Awaitable[LoadResult]],
             *args: Any) -> dict[str, float]:
    """``fn(*args)``'s figures (run by :func:`run_trio`): orders/s (accepted answers x ``per_action`` / wall
    time), ack latency of an action, and CPU microseconds per *order* of the server (NaN where ``/proc`` is
    missing) and of this client process (if the client is near a full core, the rate is the client's limit)."""
    cpu0, t0, client0 = cpu_seconds(pid), time.perf_counter(), time.process_time()
    result = run_trio(fn, *args, per_action)
    cpu1, elapsed = cpu_seconds(pid), time.perf_counter() - t0
    orders = len(result.latencies) * per_action
    row = {"rate": result.rate * per_action, "p50": pct(result.latencies, 0.5), "p99": pct(result.latencies, 0.99),
           "client_us": (time.process_time() - client0) / orders * 1e6, "reconnects": float(result.reconnects)}
    if cpu0 is None or cpu1 is None:
        row["cpu_us"] = float("nan")
    else:
        row["cpu_us"] = max(0.0, cpu1 - cpu0 - idle_rate * elapsed) / orders * 1e6
    return row


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


#: (transport, orders per signed action) -> one row per run.
Rows = dict[tuple[str, int], list[dict[str, float]]]


def bench_client(client: str, runs: int, orders: int, workers: int, window: int, batches: list[int],
                 server: str | None) -> Rows:
    """Every run of one client kind: a fresh emulator per run (so no run inherits a book the previous ones
    filled), then for each batch size an HTTP and a WS load with freshly signed actions."""
    rows: Rows = {}
    for _ in range(runs):
        proc, url = start_emulator(server)
        try:
            split = urlsplit(url)
            host, port = split.hostname or "127.0.0.1", split.port or 80
            host_header = split.netloc
            idle = idle_cpu_rate(proc.pid, 0.5)
            for per_action in batches:
                # Signing, request bytes and masked frames: all before the clock and the CPU counters.
                run = run_input(orders, workers, per_action, int(time.time() * 1000))
                if client == "lean":
                    requests = [[http_request("POST", host_header, "/exchange", b) for b in bodies]
                                for bodies in run.http_bodies]
                    frames = ws_text_frames([post_text(i, b) for i, b in enumerate(run.ws_bodies)])
                    http = measured(proc.pid, idle, per_action, lean_http, host, port, requests)
                    ws = measured(proc.pid, idle, per_action, lean_ws, host, port, frames, window)
                else:
                    texts = [post_text(i, b).decode() for i, b in enumerate(run.ws_bodies)]
                    http = measured(proc.pid, idle, per_action, sdk_http, url, run.http_bodies)
                    ws = measured(proc.pid, idle, per_action, sdk_ws, url, texts, window)
                rows.setdefault(("http", per_action), []).append(http)
                rows.setdefault(("ws", per_action), []).append(ws)
        finally:
            stop_emulator(proc)
    return rows


# -------------------------------------------------------------------------------------------- the breakdown
def server_breakdown(bodies: list[bytes], repeats: int = 3) -> dict[str, float]:
    """Where a one-order action's server CPU goes, measured in this process on ``bodies`` (pre-signed
    one-order actions) with the emulator's own app and engine, no sockets: best of ``repeats`` passes, each on a
    fresh engine, CPU microseconds per order.  What the transport costs is the server's measured CPU per order
    minus the sum of these (HTTP/WS parsing and framing, the event loop, syscalls)."""
    import coincurve
    import msgspec

    from trio_hl.emulator._ratelimit import Limits
    from trio_hl.emulator.app import AutoFund, EmulatorApp, TrioWallClock
    from trio_hl.emulator.engine import Engine, InfoRequestError
    from trio_hl.hyperliquid.signing import l1_digest, parse_signature, recover_l1_signer

    encode = msgspec.json.Encoder().encode
    decode = msgspec.json.Decoder().decode
    requests = [decode(b) for b in bodies]
    sigs = []
    digests = []
    for r in requests:
        rr, s, v = parse_signature(r["signature"])
        sigs.append(rr.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]))
        digests.append(l1_digest(r["action"], None, r["nonce"], None, False))

    def cpu_us(fn: Callable[[], object]) -> float:
        t = time.process_time()
        fn()
        return (time.process_time() - t) / len(bodies) * 1e6

    async def one_pass() -> dict[str, float]:
        clock = TrioWallClock()
        app = EmulatorApp(Engine(seed=0, now_ms=clock(), auto_fund=True), info_error=InfoRequestError,
                          clock_ms=clock, limits=Limits.unlimited(), auto_fund=AutoFund.ANY)
        answers: list[Any] = []
        out = {
            "json decode": cpu_us(lambda: [decode(b) for b in bodies]),
            "signature recovery (recover_l1_signer)": cpu_us(
                lambda: [recover_l1_signer(r["action"], None, r["nonce"], None, False, r["signature"])
                         for r in requests]),
            "of which libsecp256k1 ecrecover": cpu_us(
                lambda: [coincurve.PublicKey.from_signature_and_message(s, d, hasher=None)
                         for s, d in zip(sigs, digests, strict=True)]),
            "verify + apply (handle_exchange, recovery included)": cpu_us(
                lambda: answers.extend(app.handle_exchange(r, "127.0.0.1", charge_rest=True) for r in requests)),
        }
        out["of which checks + engine (without recovery)"] = max(
            0.0, out["verify + apply (handle_exchange, recovery included)"]
            - out["signature recovery (recover_l1_signer)"])
        out["answer encode"] = cpu_us(lambda: [encode(a.payload) for a in answers])
        for answer in answers:
            check_order_answer(answer.payload, "breakdown")
        return out

    best: dict[str, float] = {}
    for _ in range(repeats):
        for key, value in trio.run(one_pass).items():
            best[key] = min(value, best.get(key, math.inf))
    return best


# ------------------------------------------------------------------------------------------------- report
def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def _median_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def _label(transport: str, per_action: int, client: str, workers: int, window: int) -> str:
    where = (f"http /exchange ({client}, {workers} connections)" if transport == "http"
             else f"ws post ({client}, 1 connection, window {window})")
    if per_action == 1:
        return f"{where}, 1 order per signed action"
    return f"{where}, BATCHED {per_action} orders per signed action (not the goal's measure)"


def rows_for(client: str, workers: int, window: int, rows: Rows, load: str) -> list[dict[str, Any]]:
    """``run_all.py`` rows: the median of the runs, each run shown in the note with its CPU per order."""
    out: list[dict[str, Any]] = []
    for (transport, per_action), runs in rows.items():
        med = _median_row(runs)
        reconnects = sum(r["reconnects"] for r in runs)
        note = (f"median of {len(runs)} runs: " + ", ".join(f"{r['rate']:,.0f}" for r in runs)
                + f"; ack p50 {med['p50']:.2f} ms, p99 {med['p99']:.2f} ms (per action)"
                + f"; cpu/order server {med['cpu_us']:.0f} us, client {med['client_us']:.0f} us"
                + f"; load avg {load}")
        if reconnects:
            note += f"; {reconnects:.0f} keep-alive connections closed by the server (reopened, counted)"
        row: dict[str, Any] = {"name": _label(transport, per_action, client, workers, window),
                               "value": round(med["rate"]), "unit": "orders/s", "note": note}
        if per_action == 1:
            row["goal"] = f">= {GOAL_ORDERS_PER_S}"
        out.append(row)
    return out


def breakdown_rows(stages: dict[str, float], server_cpu: dict[str, float]) -> list[dict[str, Any]]:
    """The in-process breakdown as rows, and per transport what is left for it (server CPU per order measured
    in the runs minus the app's stages)."""
    out: list[dict[str, Any]] = [{"name": f"server cpu, one-order action, in-process: {name}",
                                  "value": round(us, 1), "unit": "us/order"} for name, us in stages.items()]
    app_us = (stages["json decode"] + stages["verify + apply (handle_exchange, recovery included)"]
              + stages["answer encode"])
    ecrecover = stages["of which libsecp256k1 ecrecover"]
    for transport, us in server_cpu.items():
        out.append({"name": f"server cpu, one-order action over {transport}: transport + event loop "
                            f"(measured server cpu - in-process stages)",
                    "value": round(max(0.0, us - app_us), 1), "unit": "us/order",
                    "note": f"server {us:.0f} us/order measured; ecrecover alone {100 * ecrecover / us:.0f}% of it; "
                            f"one core at this cost: {1e6 / us:,.0f} orders/s"})
    return out


def run(quick: bool, *, orders: int | None = None, runs: int | None = None, workers: int = 16, window: int = 64,
        batch: int = BATCH, client: str = "lean", server: str | None = None) -> list[dict[str, Any]]:
    """Every row (``run_all.py`` calls this): both transports, one order per action and ``batch`` per action,
    the median of ``runs`` runs, then the in-process breakdown of the server's CPU per order."""
    n = orders if orders is not None else (2_000 if quick else 20_000)
    runs = runs if runs is not None else (3 if quick else 5)
    if OPEN_ORDER_CAP % batch:
        raise ValueError(f"the batch size must divide the open-order cap {OPEN_ORDER_CAP}")
    if n // workers < batch:
        raise ValueError("orders per HTTP connection must be at least one batch")
    load_before = loadavg()
    clients = list(CLIENTS) if client == "both" else [client]
    out: list[dict[str, Any]] = []
    server_cpu: dict[str, float] = {}
    for kind in clients:
        rows = bench_client(kind, runs, n, workers, window, [1, batch], server)
        out += rows_for(kind, workers, window, rows, f"{load_before} before, {loadavg()} after")
        if kind == "lean":
            for transport in ("http", "ws"):
                server_cpu[transport] = _median_row(rows[(transport, 1)])["cpu_us"]
    if server_cpu and not any(math.isnan(v) for v in server_cpu.values()):
        stages = server_breakdown(signed_orders(min(n, 4_000), int(time.time() * 1000)))
        out += breakdown_rows(stages, server_cpu)
    return out


def notes() -> list[str]:
    return [f"cpu count {os.cpu_count()}; the emulator runs in its own process (`trio-hl emulator --no-rate-limit "
            f"--auto-fund any`), a fresh one per run; every answer is parsed and checked; signing is not timed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="orders per transport per run")
    parser.add_argument("--workers", type=int, default=16, help="HTTP keep-alive connections")
    parser.add_argument("--window", type=int, default=64, help="WS posts in flight")
    parser.add_argument("--runs", type=int, default=5, help="runs per transport (medians are reported)")
    parser.add_argument("--batch", type=int, default=BATCH, help="orders per signed action in the batched rows")
    parser.add_argument("--client", choices=(*CLIENTS, "both"), default="lean",
                        help="lean: raw Trio sockets (default); sdk-like: httpx + trio-websocket; both")
    parser.add_argument("--server", choices=("trio", "hypercorn"), default=None,
                        help="the emulator's HTTP/WS server (default: the emulator's own default)")
    parser.add_argument("--quick", action="store_true", help="2 000 orders per transport, 3 runs")
    args = parser.parse_args()
    if args.workers < 1 or args.window < 1 or args.runs < 1 or args.batch < 1:
        parser.error("--workers, --window, --runs and --batch must be >= 1")
    try:
        rows = run(args.quick, orders=None if args.quick else args.orders, runs=3 if args.quick else args.runs,
                   workers=args.workers, window=args.window, batch=args.batch, client=args.client, server=args.server)
    except ValueError as exc:
        parser.error(str(exc))
    for row in rows:
        goal = ""
        if "goal" in row:
            verdict = "ok" if row["value"] >= GOAL_ORDERS_PER_S else "MISSED"
            goal = f"   (goal {row['goal']}: {verdict})"
        print(f"{row['name']:<100} {row['value']:>9,} {row['unit']}{goal}")
        if row.get("note"):
            print(f"    {row['note']}")
    for note in notes():
        print(note)


if __name__ == "__main__":
    main()
