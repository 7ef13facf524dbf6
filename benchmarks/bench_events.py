"""Events out: throughput and latency of memory channel -> ZmqPublisher -> SUB subscriber.

Measures, on loopback TCP with the subscriber in a separate process (as the recorder is in production):

* ``publish cost``: ``ZmqPublisher.publish()`` with no subscriber, i.e. what publishing costs the task that
  handles orders (encode to JSON + non-blocking send);
* ``throughput``: events/s from the first ``send()`` into the channel until the subscriber has received and
  decoded (``MessageReader.receive``: the validated ``Message``, envelope and event fields decoded, as
  ``decode_message`` gives it) the last one; drops (HWM) are reported too;
* ``recorder``: events/s the SQLite recorder writes (decode + every derived row), without ZMQ;
* ``latency``: paced events (well below saturation), from just before ``send()`` into the channel to the
  subscriber having decoded the message; p50 / p99.  Both processes read ``CLOCK_MONOTONIC``.

    python benchmarks/bench_events.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

import attrs
import trio
import zmq

from trio_hl.core.events import OrderCreated, OrderPartiallyFilled
from trio_hl.core.types import OrderType, Side
from trio_hl.core.updates import TradeUpdate
from trio_hl.events.reader import MalformedMessage, MessageReader
from trio_hl.events.recorder import EventStore
from trio_hl.events.schema import encode_message
from trio_hl.events.zmq_publisher import ZmqPublisher

GOAL_EVENTS_PER_S = 100_000


#: ``CLOCK_MONOTONIC`` (what ``time.monotonic`` reads on Linux): comparable between the two processes.  The
#: C function itself, not a Python wrapper around ``clock_gettime``: the subscriber reads it per message.
_now = time.monotonic


def _events() -> list[Any]:
    trade = TradeUpdate("123456789", "BTC", Decimal("97123.5"), Decimal("0.01234"), Decimal("0.0216"), "USDC",
                        1_732_000_000.123, client_order_id="0x1b2c3d4e5f60718293a4b5c6d7e8f901",
                        exchange_order_id="4455667788", is_taker=False)
    return [
        OrderCreated("0x1b2c3d4e5f60718293a4b5c6d7e8f901", "BTC", 0.0, "4455667788", Side.BUY, OrderType.LIMIT,
                     Decimal("0.05"), Decimal("97123.5")),
        OrderPartiallyFilled("0x1b2c3d4e5f60718293a4b5c6d7e8f901", "BTC", 0.0, trade, Decimal("0.01234"),
                             Decimal("0.03766")),
    ]


# ------------------------------------------------------------------------------------ subscriber process


def subscriber(endpoint: str, expected: int) -> None:
    """Runs in the child: receive and decode until ``expected`` messages or 3 s of silence; print JSON."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVTIMEO, 3000)
    sock.connect(endpoint)
    reader = MessageReader(sock)
    latencies: list[float] = []
    first = last = 0.0
    count = 0
    last_seq = 0
    gaps = 0
    malformed = 0
    cpu_first = 0.0
    receive, clock = reader.receive, _now
    while count < expected:
        try:
            message = receive(0)  # blocking (RCVTIMEO): the validated Message, event fields decoded
        except zmq.Again:
            break
        except MalformedMessage:
            malformed += 1
            continue
        last = clock()
        if count == 0:
            first = last
            cpu_first = time.process_time()
        count += 1
        seq = message.seq
        if seq != last_seq + 1 and last_seq:
            gaps += 1
        last_seq = seq
        sent = message.timestamp
        if sent:
            latencies.append(last - sent)
    cpu = time.process_time() - cpu_first  # main thread and ZMQ's I/O thread, first message to the end
    print(json.dumps({"count": count, "first": first, "last": last, "gaps": gaps, "malformed": malformed,
                      "cpu": cpu, "latencies": latencies}))
    sock.close(linger=0)
    ctx.term()


def _start_subscriber(endpoint: str, expected: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--subscriber", endpoint, str(expected)],
        stdout=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------------------------------- phases


def bench_recorder(n: int) -> float:
    """EventStore alone (SQLite, one commit per 1000 like the recorder's batches): events/s written."""
    events = _events()
    frames = [list(encode_message(events[i & 1], seq=i + 1, publisher_id="bench", ts=1.0, venue="hyperliquid"))
              for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp, EventStore(os.path.join(tmp, "bench.sqlite")) as store:
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            store.record_frames(f, 1.0)
            if i % 1000 == 999:
                store.commit()
        store.commit()
        elapsed = time.perf_counter() - t0
        assert store.statistics().recorded == n
    return n / elapsed


def bench_publish_cost(n: int) -> float:
    events = _events()
    with ZmqPublisher("tcp://127.0.0.1:*") as pub:
        t0 = time.perf_counter()
        for i in range(n):
            pub.publish(events[i & 1])
        elapsed = time.perf_counter() - t0
        assert pub.statistics().published == n
    return n / elapsed


async def _throughput(n: int) -> dict[str, Any]:
    events = _events()
    # unbounded queue: this phase measures sustained flow; drops are the subject of the publisher's tests
    with ZmqPublisher("tcp://127.0.0.1:*", sndhwm=0) as pub:
        child = _start_subscriber(pub.endpoint, n)
        send, receive = trio.open_memory_channel[Any](1024)
        async with trio.open_nursery() as nursery:
            await nursery.start(pub.serve, receive)
            with trio.fail_after(30):
                await pub.wait_for_subscribers(1)
            start = _now()
            cpu_start = time.process_time()
            async with send:
                # a producer like the tracker's: hand events over without a scheduler round trip while the
                # channel has room, wait (backpressure) only when it is full
                for i in range(n):
                    try:
                        send.send_nowait(events[i & 1])
                    except trio.WouldBlock:
                        await send.send(events[i & 1])
        published_at = _now()  # serve() has returned: every event went through publish()
        cpu = time.process_time() - cpu_start  # the process: producer, publisher task and ZMQ's I/O thread
        out, _ = await trio.to_thread.run_sync(child.communicate)
        result = json.loads(out)
        stats = pub.statistics()
    return {"start": start, "published_at": published_at, **result, "dropped": stats.dropped,
            "published": stats.published, "publisher_cpu": cpu}


async def _latency(n: int, interval: float) -> dict[str, Any]:
    events = _events()
    with ZmqPublisher("tcp://127.0.0.1:*") as pub:
        child = _start_subscriber(pub.endpoint, n)
        send, receive = trio.open_memory_channel[Any](1024)
        async with trio.open_nursery() as nursery:
            await nursery.start(pub.serve, receive)
            with trio.fail_after(30):
                await pub.wait_for_subscribers(1)
            async with send:
                for i in range(n):
                    await send.send(attrs.evolve(events[i & 1], timestamp=_now()))
                    await trio.sleep(interval)  # pacing: measure transit, not queueing behind a burst
        out, _ = await trio.to_thread.run_sync(child.communicate)
    return dict(json.loads(out))


def run(quick: bool) -> list[dict[str, Any]]:
    n_cost = 50_000 if quick else 300_000
    n_tput = 50_000 if quick else 300_000
    n_lat = 1_000 if quick else 5_000
    rows: list[dict[str, Any]] = []

    rate = bench_publish_cost(n_cost)
    rows.append({"name": "events: publish() cost on the order loop (no subscriber)", "value": round(1e6 / rate, 2),
                 "unit": "us/event"})

    # the machine is shared: repeat the end-to-end run (5 times) and report the median and every run
    runs = [trio.run(_throughput, n_tput) for _ in range(1 if quick else 5)]
    rates = sorted(t["count"] / (t["last"] - t["start"]) for t in runs)
    pub_rates = sorted(t["published"] / (t["published_at"] - t["start"]) for t in runs)
    spread = f" (runs: {', '.join(f'{r:,.0f}' for r in rates)})" if len(rates) > 1 else ""
    rows.append({"name": "events: channel -> publisher -> subscriber (decoded), other process",
                 "value": round(statistics.median(rates)), "unit": "events/s" + spread,
                 "goal": f">= {GOAL_EVENTS_PER_S}"})
    rows.append({"name": "events: channel -> publisher (publisher side alone, same runs)",
                 "value": round(statistics.median(pub_rates)), "unit": "events/s"})
    # CPU time per event (not wall time): what each side costs, whatever else the machine is running
    pub_cpu = statistics.median(t["publisher_cpu"] / n_tput for t in runs)
    sub_cpu = statistics.median(t["cpu"] / max(t["count"] - 1, 1) for t in runs)
    rows.append({"name": "events: CPU per event, publisher process (producer + publish + ZMQ I/O)",
                 "value": round(pub_cpu * 1e6, 2), "unit": "us/event (median of the same runs)"})
    rows.append({"name": "events: CPU per event, subscriber process (receive + decode + ZMQ I/O)",
                 "value": round(sub_cpu * 1e6, 2), "unit": "us/event (median of the same runs)"})
    lost = sum(n_tput - t["count"] for t in runs)
    rows.append({"name": "events: lost in throughput runs", "value": lost,
                 "unit": f"events (dropped at HWM {sum(t['dropped'] for t in runs)}, "
                         f"gaps seen {sum(t['gaps'] for t in runs)}, malformed {sum(t['malformed'] for t in runs)})"})

    rows.append({"name": "events: recorder into SQLite (decode + events/orders/fills/history rows)",
                 "value": round(bench_recorder(20_000 if quick else 100_000)), "unit": "events/s"})

    lat = trio.run(_latency, n_lat, 0.0005)
    samples = sorted(lat["latencies"])
    rows.append({"name": "events: latency channel send -> subscriber decoded, p50", "unit": "us",
                 "value": round(statistics.median(samples) * 1e6, 1)})
    rows.append({"name": "events: latency channel send -> subscriber decoded, p99", "unit": "us",
                 "value": round(samples[int(len(samples) * 0.99) - 1] * 1e6, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--subscriber", nargs=2, metavar=("ENDPOINT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber(args.subscriber[0], int(args.subscriber[1]))
        return
    for row in run(args.quick):
        goal = f"  (goal {row['goal']})" if "goal" in row else ""
        print(f"{row['name']:<70} {row['value']:>12} {row['unit']}{goal}")


if __name__ == "__main__":
    main()
