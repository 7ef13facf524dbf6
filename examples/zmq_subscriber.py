"""Subscribe to trio-hl's ZMQ event stream and print each message's topic (and a few payload fields).

    trio-hl demo                                     # terminal 1: publishes on tcp://127.0.0.1:5557
    python examples/zmq_subscriber.py                # terminal 2: subscribe to it (Ctrl-C to stop)
    python examples/zmq_subscriber.py tcp://host:5557 orders.hyperliquid.filled   # one topic prefix only

``main(base_url=...)`` with no ``endpoint`` is self-contained: it runs a connector with a publisher on a free port
against ``base_url`` (an embedded emulator when None), places and cancels one order, and prints what arrives.
Messages are ``[topic, JSON payload]`` (schema: docs/EVENTS.md).
"""

from __future__ import annotations

import json
import sys
from decimal import ROUND_UP, Decimal
from typing import Any

import trio
import zmq

from trio_hl import ConnectorConfig, OrderParams, open_connector
from trio_hl.cli_errors import run_script
from trio_hl.events.zmq_publisher import ZmqPublisher
from trio_hl.hyperliquid.signing import LocalSigner


async def subscribe(endpoint: str, prefix: str = "", max_messages: int | None = None) -> list[str]:
    """Print topics from ``endpoint`` until ``max_messages`` arrived (forever when None); returns the topics."""
    sock = zmq.Context.instance().socket(zmq.SUB)
    topics: list[str] = []
    with sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        sock.connect(endpoint)
        print(f"subscribed to {endpoint} (Ctrl-C stops)", flush=True)
        fd = sock.getsockopt(zmq.FD)
        while max_messages is None or len(topics) < max_messages:
            # The FD is edge-triggered: wait on it only right after EVENTS said there is nothing to read.
            if not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                await trio.lowlevel.wait_readable(fd)
                continue
            topic, payload = sock.recv_multipart(zmq.NOBLOCK)
            body: dict[str, Any] = json.loads(payload)
            topics.append(topic.decode())
            event = body.get("event", body)
            print(f"{topic.decode():<32} seq={body.get('seq')} cid={event.get('client_order_id', '')}")
            await trio.lowlevel.checkpoint()
    return topics


async def main(base_url: str | None = None, endpoint: str | None = None, prefix: str = "",
               max_messages: int | None = None) -> list[str]:
    if endpoint is not None:
        return await subscribe(endpoint, prefix, max_messages)
    if base_url is None:
        from trio_hl.emulator import open_emulator

        async with open_emulator() as emu:
            return await main(emu.url)
    config = ConnectorConfig(base_url=base_url, private_key=LocalSigner.generate().export_private_key_hex(),
                             pairs=("BTC",))
    # The publisher outlives the nursery that runs its serve() task: a socket must not close under a running task.
    with ZmqPublisher("tcp://127.0.0.1:*") as publisher:
        async with open_connector(config) as conn, trio.open_nursery() as nursery:
            await nursery.start(publisher.serve, conn.events())
            topics: list[str] = []
            done = trio.Event()

            async def collect() -> None:
                topics.extend(await subscribe(publisher.endpoint, prefix, max_messages=2))
                done.set()

            nursery.start_soon(collect)
            with trio.fail_after(10):
                await publisher.wait_for_subscribers(1)  # ZMQ's slow joiner: publish only once subscribed
            mid = conn.mid("BTC")
            assert mid is not None
            amount = (Decimal(20) / mid).quantize(Decimal("0.00001"), rounding=ROUND_UP)
            cid = conn.buy(OrderParams("BTC", amount, mid * Decimal("0.9")))
            events = conn.events()
            with trio.fail_after(10):
                async for event in events:
                    if event.client_order_id == cid and conn.cancel("BTC", cid):
                        break
                await done.wait()  # the subscriber stops after two messages (created, cancelled)
            nursery.cancel_scope.cancel()
    return topics


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(run_script(main, None, args[0] if args else "tcp://127.0.0.1:5557", args[1] if len(args) > 1 else ""))
