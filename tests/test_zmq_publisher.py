"""The publisher over real ZMQ sockets on loopback: topics, envelopes, sequence, and never blocking."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import zmq
from event_samples import all_kinds_examples, example_event

from trio_hl.core.events import EVENT_KINDS, OrderCreated, OrderFailed
from trio_hl.core.types import OrderType, Side
from trio_hl.core.updates import TradeUpdate
from trio_hl.events.core import int_option, readable
from trio_hl.events.schema import decode_message
from trio_hl.events.zmq_publisher import PublisherStatistics, ZmqPublisher, serve_publisher


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.term()


def _sub(ctx: zmq.Context[Any], endpoint: str, prefix: bytes = b"", rcvhwm: int = 1000) -> zmq.Socket[Any]:
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, rcvhwm)
    sock.setsockopt(zmq.SUBSCRIBE, prefix)
    sock.connect(endpoint)
    return sock


async def _recv(sock: zmq.Socket[Any]) -> list[bytes]:
    while not readable(sock):
        await trio.lowlevel.wait_readable(int_option(sock, zmq.FD))
    return sock.recv_multipart(zmq.NOBLOCK)


@pytest.fixture
async def publisher(ctx: zmq.Context[Any]) -> AsyncIterator[ZmqPublisher]:
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as pub:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pub.watch_subscriptions)
            yield pub
            nursery.cancel_scope.cancel()


async def test_serve_publisher_reports_the_bound_port_and_publishes_every_kind(ctx: zmq.Context[Any]) -> None:
    send, receive = trio.open_memory_channel[Any](100)
    events = all_kinds_examples()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            endpoint = await nursery.start(serve_publisher, receive, "tcp://127.0.0.1:*")
            assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith(":*")
            assert int(endpoint.rsplit(":", 1)[1]) > 0
            sub = _sub(ctx, endpoint)
            try:
                # slow joiner: a probe proves the subscription is live before the real events
                probe = example_event(OrderCreated, "probe")
                while True:
                    await send.send(probe)
                    with trio.move_on_after(0.05):
                        await _recv(sub)
                        break
                while readable(sub):
                    sub.recv_multipart(zmq.NOBLOCK)
                for event in events:
                    await send.send(event)
                received = [decode_message(await _recv(sub)) for _ in events]
            finally:
                sub.close()
            await send.aclose()  # serve_publisher returns once its channel is closed
    assert [m.to_event() for m in received] == events
    assert [m.topic for m in received] == [f"orders.hyperliquid.{EVENT_KINDS[type(e)]}" for e in events]
    seqs = [m.seq for m in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(events)))
    assert len({m.publisher_id for m in received}) == 1


async def test_topics_filter_by_prefix_and_seq_spans_all_topics(
    publisher: ZmqPublisher, ctx: zmq.Context[Any]
) -> None:
    only_failed = _sub(ctx, publisher.endpoint, b"orders.hyperliquid.failed")
    try:
        with trio.fail_after(10):
            await publisher.wait_for_subscribers(1)
        created = example_event(OrderCreated)
        failed = example_event(OrderFailed)
        for event in (created, failed, created, failed):
            assert publisher.publish(event)
        with trio.fail_after(10):
            got = [decode_message(await _recv(only_failed)) for _ in range(2)]
        assert [m.seq for m in got] == [2, 4]
        assert all(m.kind == "failed" for m in got)
        await trio.testing.wait_all_tasks_blocked()
        assert not readable(only_failed)
    finally:
        only_failed.close()


async def test_ipc_endpoint_and_fresh_publisher_id_per_start(ctx: zmq.Context[Any], tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/events.sock"
    ids = set()
    for _ in range(2):
        with ZmqPublisher(endpoint, context=ctx) as pub:
            assert pub.endpoint == endpoint
            ids.add(pub.publisher_id)
    assert len(ids) == 2


async def test_no_subscriber_never_blocks_and_counts(publisher: ZmqPublisher) -> None:
    n = 50_000
    event = example_event(OrderCreated)
    accepted = sum(publisher.publish(event) for _ in range(n))
    stats = publisher.statistics()
    assert accepted == n
    assert (stats.published, stats.dropped, stats.last_seq, stats.subscriptions) == (n, 0, n, 0)


async def test_stalled_subscriber_costs_drops_not_blocking(ctx: zmq.Context[Any], tmp_path: Path) -> None:
    n = 50_000
    with ZmqPublisher(f"ipc://{tmp_path}/slow.sock", context=ctx, sndhwm=10) as pub:
        stalled = _sub(ctx, pub.endpoint, rcvhwm=10)  # connected, subscribed, never reads during the burst
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pub.watch_subscriptions)
                with trio.fail_after(10):
                    await pub.wait_for_subscribers(1)
                nursery.cancel_scope.cancel()
            event = example_event(OrderCreated)
            results = [pub.publish(event) for _ in range(n)]
            stats = pub.statistics()
            assert stats.dropped > 0
            assert stats.published + stats.dropped == n == stats.last_seq
            assert results.count(False) == stats.dropped
            # what the subscriber did get is in order, and the drops show up to it as seq gaps
            seqs = []
            while readable(stalled):
                seqs.append(decode_message(stalled.recv_multipart(zmq.NOBLOCK)).seq)
            assert seqs and seqs == sorted(seqs)
            assert seqs[0] == 1
            assert len(seqs) < n
        finally:
            stalled.close()


async def test_serve_with_a_stalled_subscriber_drains_its_channel(ctx: zmq.Context[Any], tmp_path: Path) -> None:
    """The order path's side of the guarantee: its sends into the event channel keep completing."""
    n = 20_000
    send, receive = trio.open_memory_channel[Any](16)
    pub = ZmqPublisher(f"ipc://{tmp_path}/slow2.sock", context=ctx, sndhwm=10)
    stalled = _sub(ctx, pub.endpoint, rcvhwm=10)
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(pub.serve, receive)
                await pub.wait_for_subscribers(1)
                event = example_event(OrderCreated)
                async with send:
                    for _ in range(n):
                        await send.send(event)
        stats = pub.statistics()
        assert stats.published + stats.dropped == n
        assert stats.dropped > 0
    finally:
        stalled.close()
        pub.close()


async def test_subscriptions_are_counted_and_released(publisher: ZmqPublisher, ctx: zmq.Context[Any]) -> None:
    a = _sub(ctx, publisher.endpoint, b"orders.")
    b = _sub(ctx, publisher.endpoint, b"orders.")  # same prefix, second peer: still counted
    with trio.fail_after(10):
        await publisher.wait_for_subscribers(2)
    assert publisher.statistics().subscriptions == 2
    a.close()
    b.close()
    with trio.fail_after(10):
        assert await publisher.wait_subscriptions(lambda n: n == 0) == 0
    assert publisher.statistics().subscriptions == 0


async def test_unregistered_class_raises_without_consuming_a_seq(publisher: ZmqPublisher) -> None:
    trade = TradeUpdate("t", "BTC", Decimal(1), Decimal(1), Decimal(0), "USDC", 1.0)
    with pytest.raises(TypeError, match="not a registered event class"):
        publisher.publish(trade)
    assert publisher.statistics().last_seq == 0


async def test_unencodable_event_is_counted_and_skipped(publisher: ZmqPublisher) -> None:
    bad = attrs.evolve(example_event(OrderCreated), pair=object())
    assert publisher.publish(bad) is False
    assert publisher.publish(example_event(OrderCreated)) is True
    stats = publisher.statistics()
    assert (stats.unencodable, stats.published, stats.last_seq) == (1, 1, 2)


def test_statistics_are_frozen(ctx: zmq.Context[Any]) -> None:
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as pub:
        stats = pub.statistics()
    assert isinstance(stats, PublisherStatistics)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.published = 5  # type: ignore[misc]


def test_bind_failure_is_raised_and_leaves_no_socket(ctx: zmq.Context[Any]) -> None:
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as first, pytest.raises(zmq.ZMQError):
        ZmqPublisher(first.endpoint, context=ctx)
    # context.term() in the fixture would hang on a leaked socket


async def test_payloads_never_contain_a_secret(publisher: ZmqPublisher, ctx: zmq.Context[Any]) -> None:
    """Events carry no key material: scan every published byte for a private key held by this process."""
    from eth_account import Account

    key = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    address = Account.from_key(key).address
    sub = _sub(ctx, publisher.endpoint)
    try:
        with trio.fail_after(10):
            await publisher.wait_for_subscribers(1)
            events = [*all_kinds_examples(),
                      OrderFailed("c", "BTC", 1.0, reason=f"signed by {address}: rejected"),
                      OrderCreated("c", "BTC", 1.0, None, Side.BUY, OrderType.LIMIT, Decimal(1), Decimal(2))]
            for event in events:
                publisher.publish(event)
            blobs = [b"".join(await _recv(sub)) for _ in events]
    finally:
        sub.close()
    needles = {key[2:].lower(), key[2:].upper(), key[2:34].lower()}
    for blob in blobs:
        text = blob.decode()
        assert not any(n in text.lower() or n in text for n in needles)
        json.loads(blob[blob.index(b"{"):])  # and the payload is plain JSON
    assert any(address.lower() in b.decode().lower() for b in blobs)  # the scan does see what is there
