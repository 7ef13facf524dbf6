"""Recorder: publisher -> SUB -> SQLite over real sockets; gaps, restarts, dedup, malformed input, queries."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import zmq
from event_samples import all_kinds_examples, example_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_hl.cli import main as cli_main
from trio_hl.core.events import (
    EVENT_KINDS,
    CancelRejected,
    LateFill,
    ModifyRejected,
    OrderCancelled,
    OrderCreated,
    OrderFilled,
    OrderPartiallyFilled,
    OrderUnknown,
)
from trio_hl.core.types import OrderState, OrderType, Side
from trio_hl.core.updates import TradeUpdate
from trio_hl.events.core import int_option, readable
from trio_hl.events.queries import query_fills, query_orders, render_orders
from trio_hl.events.recorder import EventRecorder, EventStore, Gap, RecorderStatistics, serve_recorder
from trio_hl.events.schema import decode_message, encode_message
from trio_hl.events.zmq_publisher import ZmqPublisher


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.term()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "orders.sqlite"


def _rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _message(event: Any, seq: int, publisher_id: str = "pubA") -> Any:
    return decode_message(list(encode_message(event, seq=seq, publisher_id=publisher_id, ts=100.0 + seq,
                                              venue="hyperliquid")))


class Rig:
    """A publisher and a recorder on one loopback endpoint, both served in the test's nursery."""

    def __init__(self, publisher: ZmqPublisher, recorder: EventRecorder) -> None:
        self.publisher = publisher
        self.recorder = recorder

    async def publish(self, *events: Any) -> RecorderStatistics:
        before = self.recorder.statistics().received
        for event in events:
            assert self.publisher.publish(event)
        with trio.fail_after(10):
            return await self.recorder.wait_until(lambda s: s.received >= before + len(events))


@pytest.fixture
async def rig(ctx: zmq.Context[Any], db: Path) -> AsyncIterator[Rig]:
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as pub, EventStore(db) as store:
        recorder = EventRecorder(store, pub.endpoint, context=ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pub.watch_subscriptions)
            await nursery.start(recorder.serve)
            with trio.fail_after(10):
                await pub.wait_for_subscribers(1)
            yield Rig(pub, recorder)
            nursery.cancel_scope.cancel()


async def test_every_kind_round_trips_into_sqlite(rig: Rig, db: Path) -> None:
    events = all_kinds_examples()
    stats = await rig.publish(*events)
    assert (stats.recorded, stats.gaps, stats.malformed, stats.duplicates) == (len(events), 0, 0, 0)
    rows = _rows(db, "SELECT seq, topic, kind, client_order_id, payload FROM events ORDER BY seq")
    assert [r[0] for r in rows] == list(range(1, len(events) + 1))
    assert [r[2] for r in rows] == [EVENT_KINDS[type(e)] for e in events]
    assert [r[1] for r in rows] == [f"orders.hyperliquid.{r[2]}" for r in rows]
    # the stored payload is the published one: decodes back to the identical event, Decimals exact
    for (_, topic, _, _, payload), event in zip(rows, events, strict=True):
        decoded = decode_message([topic.encode(), payload.encode()]).to_event()
        assert decoded == event
        assert json.loads(payload)["event"].get("amount", "12.3400") == "12.3400"
    states = dict(_rows(db, "SELECT client_order_id, state FROM orders"))
    assert states["cid-created"] == "open"
    assert states["cid-partial_fill"] == "partially_filled"
    assert states["cid-filled"] == "filled"
    assert states["cid-cancelled"] == "canceled"
    assert states["cid-failed"] == "failed"
    assert states["cid-unknown"] == "unknown"
    assert states["cid-late_fill"] == example_event(LateFill).state.value
    assert states["cid-cancel_rejected"] == example_event(CancelRejected).state.value
    assert states["cid-modify_rejected"] == example_event(ModifyRejected).state.value
    assert states["cid-modified"] is None  # a modify alone says nothing about the state
    fills = _rows(db, "SELECT trade_id, fill_price, kind FROM fills ORDER BY trade_id")
    carrying_trades = {EVENT_KINDS[type(e)] for e in events if any(isinstance(v, TradeUpdate) for v in attrs.astuple(
        e, recurse=False))}
    assert {"partial_fill", "filled", "late_fill"} <= carrying_trades
    assert {f[2] for f in fills} == carrying_trades
    assert all(f[1] == "12.3400" for f in fills)
    with_order = [e for e in events if e.client_order_id]
    assert len(_rows(db, "SELECT * FROM state_history")) == len(with_order)


def _trade(tid: str, amount: str, cid: str = "c1", price: str = "100.5") -> TradeUpdate:
    return TradeUpdate(tid, "BTC", Decimal(price), Decimal(amount), Decimal("0.01"), "USDC", 10.0,
                       client_order_id=cid, exchange_order_id="77")


async def test_order_lifecycle_and_fill_dedup(rig: Rig, db: Path) -> None:
    t1, t2 = _trade("T1", "0.4"), _trade("T2", "0.6")
    created = OrderCreated("c1", "BTC", 1.0, "77", Side.BUY, OrderType.LIMIT, Decimal("1.0"), Decimal("100.5"))
    partial = OrderPartiallyFilled("c1", "BTC", 2.0, t1, Decimal("0.4"), Decimal("0.6"))
    filled = OrderFilled("c1", "BTC", 3.0, "77", Side.BUY, Decimal("1.0"), Decimal("100.5"), Decimal("0.02"), t2)
    stats = await rig.publish(created, partial, partial, filled)  # the partial fill is reported twice
    late = LateFill("c1", "BTC", 4.0, t1, OrderState.FILLED, Decimal("1.0"))  # and once more, late
    stats = await rig.publish(late)
    assert stats.recorded == 5
    assert stats.fills == 2
    fills = query_fills(db)
    assert sorted(f.trade_id for f in fills) == ["T1", "T2"]
    assert {f.side for f in fills} == {"buy"}
    assert sum(f.fill_amount for f in fills) == Decimal("1.0")
    [order] = query_orders(db)
    assert (order.state, order.executed_amount, order.average_price, order.amount) == (
        "filled", Decimal("1.0"), Decimal("100.5"), Decimal("1.0"))
    assert order.exchange_order_id == "77"
    history = _rows(db, "SELECT kind, from_state, to_state FROM state_history ORDER BY id")
    assert history == [
        ("created", None, "open"),
        ("partial_fill", "open", "partially_filled"),
        ("partial_fill", "partially_filled", "partially_filled"),
        ("filled", "partially_filled", "filled"),
        ("late_fill", "filled", "filled"),
    ]


async def test_terminal_state_is_absorbing(rig: Rig, db: Path) -> None:
    await rig.publish(
        OrderCancelled("c2", "ETH", 1.0, "9", Decimal(0), reason="user"),
        OrderUnknown("c2", "ETH", 2.0, reason="timeout"),
    )
    assert _rows(db, "SELECT state, reason, last_kind FROM orders") == [("canceled", "timeout", "unknown")]
    [(note,)] = _rows(db, "SELECT note FROM state_history WHERE kind = 'unknown'")
    assert "terminal states are absorbing" in note


async def test_refused_cancel_is_history_not_the_orders_reason(rig: Rig, db: Path) -> None:
    refusal = "Order was never placed, already canceled, or filled. asset=0"
    await rig.publish(
        OrderCreated("c3", "BTC", 1.0, "5", Side.SELL, OrderType.LIMIT, Decimal("1"), Decimal("100")),
        CancelRejected("c3", "BTC", 2.0, refusal, OrderState.OPEN, "5"),
        OrderCancelled("c3", "BTC", 3.0, "5", Decimal(0)),
        CancelRejected("c3", "BTC", 4.0, refusal, OrderState.OPEN, "5"),  # (a publisher never sends this one)
    )
    assert _rows(db, "SELECT state, reason, last_kind FROM orders") == [("canceled", None, "cancel_rejected")]
    history = _rows(db, "SELECT kind, from_state, to_state, note FROM state_history ORDER BY id")
    assert history[:3] == [
        ("created", None, "open", None),
        ("cancel_rejected", "open", "open", f"cancel refused: {refusal}"),
        ("cancelled", "open", "canceled", None),
    ]
    assert history[3][:3] == ("cancel_rejected", "canceled", "canceled")
    assert "terminal states are absorbing" in history[3][3]


async def test_refused_modify_keeps_the_orders_price_and_amount(rig: Rig, db: Path) -> None:
    """The row keeps the price and amount the order still rests at; the refused ones and the reason are history."""
    refusal = "Too many cumulative requests sent (10051 > 10000)"
    await rig.publish(
        OrderCreated("c4", "BTC", 1.0, "5", Side.BUY, OrderType.LIMIT_MAKER, Decimal("2"), Decimal("100")),
        ModifyRejected("c4", "BTC", 2.0, refusal, OrderState.OPEN, "5", Decimal("100"), Decimal("2"),
                       Decimal("101.5"), Decimal("3")),
    )
    rows = _rows(db, "SELECT state, price, amount, reason, exchange_order_id, last_kind FROM orders")
    assert rows == [("open", "100", "2", None, "5", "modify_rejected")]
    history = _rows(db, "SELECT kind, from_state, to_state, note FROM state_history ORDER BY id")
    assert history == [
        ("created", None, "open", None),
        ("modify_rejected", "open", "open", f"modify refused: {refusal} (requested price 101.5, amount 3)"),
    ]


async def _wait_subscribed(xpub: zmq.Socket[Any]) -> None:
    while True:
        while readable(xpub):
            if xpub.recv(zmq.NOBLOCK)[:1] == b"\x01":
                return
        await trio.lowlevel.wait_readable(int_option(xpub, zmq.FD))


@pytest.fixture
async def raw_rig(ctx: zmq.Context[Any], db: Path) -> AsyncIterator[tuple[zmq.Socket[Any], EventRecorder]]:
    """A hand-driven XPUB (so tests choose the sequence numbers) and a recorder."""
    xpub = ctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    xpub.setsockopt(zmq.SNDHWM, 0)  # unbounded: these tests choose every seq, so the socket must not drop
    xpub.bind("tcp://127.0.0.1:*")
    try:
        with EventStore(db) as store:
            recorder = EventRecorder(store, xpub.getsockopt_string(zmq.LAST_ENDPOINT), context=ctx)
            async with trio.open_nursery() as nursery:
                await nursery.start(recorder.serve)
                with trio.fail_after(10):
                    await _wait_subscribed(xpub)
                yield xpub, recorder
                nursery.cancel_scope.cancel()
    finally:
        xpub.close()


async def _send(xpub: zmq.Socket[Any], recorder: EventRecorder, frames: list[list[bytes]]) -> RecorderStatistics:
    before = recorder.statistics().received
    for f in frames:
        xpub.send_multipart(f)
    with trio.fail_after(10):
        return await recorder.wait_until(lambda s: s.received >= before + len(frames))


def _frames(event: Any, seq: int, publisher_id: str = "pubA") -> list[bytes]:
    return list(encode_message(event, seq=seq, publisher_id=publisher_id, ts=1.0, venue="hyperliquid"))


async def test_sequence_gap_is_detected_and_recorded(raw_rig: tuple[zmq.Socket[Any], EventRecorder],
                                                     db: Path) -> None:
    xpub, recorder = raw_rig
    event = example_event(OrderCreated)
    stats = await _send(xpub, recorder, [_frames(event, s) for s in (1, 2, 5, 6, 10)])
    assert (stats.recorded, stats.gaps, stats.missing) == (5, 2, 5)
    assert _rows(db, "SELECT publisher_id, first_missing, last_missing, missing FROM gaps ORDER BY id") == [
        ("pubA", 3, 4, 2), ("pubA", 7, 9, 3)]


async def test_publisher_restart_is_not_a_gap(raw_rig: tuple[zmq.Socket[Any], EventRecorder], db: Path) -> None:
    xpub, recorder = raw_rig
    event = example_event(OrderCreated)
    frames = [_frames(event, s, "first") for s in (1, 2, 3)] + [_frames(event, s, "second") for s in (1, 2)]
    stats = await _send(xpub, recorder, frames)
    assert (stats.recorded, stats.gaps, stats.publishers) == (5, 0, 2)
    assert _rows(db, "SELECT publisher_id, first_seq, last_seq FROM publishers ORDER BY first_seen, publisher_id") \
        == [("first", 1, 3), ("second", 1, 2)]


async def test_real_publisher_restart_on_the_same_endpoint(ctx: zmq.Context[Any], db: Path, tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/restart.sock"
    event = example_event(OrderCreated)
    with EventStore(db) as store:
        recorder = EventRecorder(store, endpoint, context=ctx)
        async with trio.open_nursery() as nursery:
            await nursery.start(recorder.serve)
            ids = []
            for round_ in range(2):
                with ZmqPublisher(endpoint, context=ctx) as pub:
                    ids.append(pub.publisher_id)
                    async with trio.open_nursery() as inner:
                        inner.start_soon(pub.watch_subscriptions)
                        with trio.fail_after(15):  # the SUB reconnects on its own schedule after a restart
                            await pub.wait_for_subscribers(1)
                        inner.cancel_scope.cancel()
                    for _ in range(3):
                        pub.publish(event)
                    with trio.fail_after(10):
                        await recorder.wait_until(lambda s, n=round_: s.recorded >= 3 * (n + 1))
            nursery.cancel_scope.cancel()
        stats = store.statistics()
    assert (stats.recorded, stats.gaps, stats.missing, stats.publishers) == (6, 0, 0, 2)
    assert ids[0] != ids[1]


async def test_malformed_frames_are_kept_aside_and_recording_continues(
    raw_rig: tuple[zmq.Socket[Any], EventRecorder], db: Path
) -> None:
    xpub, recorder = raw_rig
    good = _frames(example_event(OrderCreated), 1)
    stats = await _send(xpub, recorder, [[b"orders.hyperliquid.created", b"{broken"], [b"lonely"], good])
    assert (stats.malformed, stats.recorded, stats.received) == (2, 1, 3)
    errors = [r[0] for r in _rows(db, "SELECT error FROM rejected ORDER BY id")]
    assert "undecodable" in errors[0] and "expected 2 frames" in errors[1]


async def test_a_flood_is_drained_completely(raw_rig: tuple[zmq.Socket[Any], EventRecorder]) -> None:
    """Edge-triggered FD: many messages arriving while the recorder is busy must all be read, in several
    bursts, without the loop going to sleep on an FD that will never fire again."""
    xpub, recorder = raw_rig
    event = example_event(OrderCreated)
    seq = 0
    for burst in (1, 5000, 3, 2500):
        stats = await _send(xpub, recorder, [_frames(event, seq + i + 1) for i in range(burst)])
        seq += burst
        assert stats.recorded == seq
    assert stats.gaps == 0


def test_duplicates_are_ignored(db: Path) -> None:
    event = example_event(OrderCreated)
    with EventStore(db) as store:
        assert store.record(_message(event, 1), 1.0) is None
        assert store.record(_message(event, 1), 2.0) is None
        stats = store.statistics()
    assert (stats.recorded, stats.duplicates) == (1, 1)
    assert _rows(db, "SELECT COUNT(*) FROM events") == [(1,)]


def test_reopened_store_resumes_the_sequence_check(db: Path) -> None:
    event = example_event(OrderCreated)
    with EventStore(db) as store:
        for s in (1, 2, 3):
            store.record(_message(event, s), 1.0)
    with EventStore(db) as store:
        assert store.record(_message(event, 6), 2.0) == Gap("pubA", 4, 5)
        assert store.statistics().publishers == 1


def test_joining_a_running_publisher_is_not_a_gap(db: Path) -> None:
    event = example_event(OrderCreated)
    with EventStore(db) as store:
        assert store.record(_message(event, 500), 1.0) is None
        assert store.record(_message(event, 501), 1.0) is None
        assert store.statistics().gaps == 0
    assert _rows(db, "SELECT first_seq, last_seq FROM publishers") == [(500, 501)]


def test_other_families_are_stored_raw(db: Path) -> None:
    payload = json.loads(_frames(example_event(OrderCreated), 1)[1])
    payload.update(family="positions", kind="update", type="PositionUpdate",
                   event={"pair": "ETH", "size": "-2.5", "timestamp": 3.0})
    frames = [b"positions.hyperliquid.update", json.dumps(payload).encode()]
    with EventStore(db) as store:
        store.record_frames(frames, 1.0)
        assert store.statistics().recorded == 1
    assert _rows(db, "SELECT family, kind, pair FROM events") == [("positions", "update", "ETH")]
    assert _rows(db, "SELECT COUNT(*) FROM orders") == [(0,)]


def test_queries_and_cli_tables(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore(db) as store:
        store.record(_message(OrderCreated("a", "BTC", 1.0, None, Side.BUY, OrderType.LIMIT, Decimal("2"),
                                           Decimal("50000")), 1), 1.0)
        store.record(_message(OrderCreated("b", "ETH", 2.0, None, Side.SELL, OrderType.LIMIT, Decimal("3.10"),
                                           Decimal("3000")), 2), 1.0)
        fill = _trade("T9", "3.10", cid="b", price="3000")
        store.record(_message(OrderFilled("b", "ETH", 3.0, "5", Side.SELL, Decimal("3.10"), Decimal("3000"),
                                          Decimal("0.5"), fill), 3), 1.0)
    assert [o.client_order_id for o in query_orders(db)] == ["b", "a"]  # most recently updated first
    assert [o.client_order_id for o in query_orders(db, open_only=True)] == ["a"]
    assert [o.client_order_id for o in query_orders(db, pair="ETH")] == ["b"]
    assert "(2 orders)" in render_orders(db)
    assert cli_main(["orders", "--db", str(db), "--open"]) == 0
    out = capsys.readouterr().out
    assert "50000" in out and "(1 orders)" in out
    assert cli_main(["fills", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "T9" in out and "sell" in out and "3.10" in out and "(1 fills)" in out
    assert cli_main(["fills", "--db", str(db.with_name("missing.sqlite"))]) == 1
    assert "no recorder database" in capsys.readouterr().err


async def test_serve_recorder_hands_back_the_recorder(ctx: zmq.Context[Any], db: Path) -> None:
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as pub:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pub.watch_subscriptions)
            recorder = await nursery.start(serve_recorder, pub.endpoint, db)
            assert isinstance(recorder, EventRecorder)
            with trio.fail_after(10):
                await pub.wait_for_subscribers(1)
            pub.publish(example_event(OrderCreated))
            with trio.fail_after(10):
                await recorder.wait_until(lambda s: s.recorded == 1)
            nursery.cancel_scope.cancel()
    assert _rows(db, "SELECT client_order_id FROM orders") == [("cid-created",)]


def test_statistics_are_frozen(db: Path) -> None:
    with EventStore(db) as store:
        stats = store.statistics()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.recorded = 1  # type: ignore[misc]


def _count_events(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return -1  # not created yet
    try:
        return int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return -1  # tables not created yet
    finally:
        con.close()


def test_the_documented_queries_run(db: Path) -> None:
    """docs/EVENTS.md's SQL is executed against a real recording, so the document cannot drift."""
    doc = (Path(__file__).parent.parent / "docs" / "EVENTS.md").read_text()
    block = doc[doc.index("```sql") + len("```sql"):]
    block = block[: block.index("```")]
    code = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in code.split(";") if s.strip()]
    assert len(statements) >= 5
    with EventStore(db) as store:
        for seq, event in enumerate(all_kinds_examples(), start=1):
            store.record(_message(event, seq), 1.0)
    con = sqlite3.connect(db)
    try:
        results = [con.execute(s, ("cid-filled",) if "?" in s else ()).fetchall() for s in statements]
    finally:
        con.close()
    assert results[0]  # open orders exist in the sample (created, unknown, ...)
    assert results[1]  # and fills


async def test_cli_record_writes_until_ctrl_c(ctx: zmq.Context[Any], db: Path) -> None:
    import signal
    import subprocess
    import sys

    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as pub:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pub.watch_subscriptions)
            proc = await trio.lowlevel.open_process(
                [sys.executable, "-m", "trio_hl.cli", "record", "--connect", pub.endpoint, "--db", str(db)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                # (SIGINT default in the child even when this run was started in a shell's background)
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            try:
                with trio.fail_after(30):
                    await pub.wait_for_subscribers(1)
                    for event in all_kinds_examples():
                        pub.publish(event)
                    # another process: no event to wait on, so poll its database (a condition, not a sleep-as-sync)
                    while _count_events(db) != len(EVENT_KINDS):  # noqa: ASYNC110
                        await trio.sleep(0.05)
                proc.send_signal(signal.SIGINT)
                # Its own budget: the exit commits and closes a WAL database (fsyncs), which on a box busy with
                # disk I/O has taken longer than the whole recording (seen at 30 s in CI-like runs under load).
                with trio.fail_after(90):
                    assert await proc.wait() == 130  # stopped by Ctrl-C, after committing and summarising
                assert proc.stdout is not None
                out = (await proc.stdout.receive_some(65536)).decode()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            nursery.cancel_scope.cancel()
    assert f"recorded {len(EVENT_KINDS)} events" in out
    assert "0 gaps" in out


@given(st.lists(st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.integers(1, 4)), max_size=40))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_gap_accounting_matches_a_model(tmp_path: Path, steps: list[tuple[str, int]]) -> None:
    """Each step: publisher ``pid`` advances its seq by ``jump`` (1 = no loss).  A publisher id seen for the
    first time is a (re)start at whatever seq it has: never a gap."""
    seqs: dict[str, int] = {}
    expected_gaps = expected_missing = 0
    path = tmp_path / f"model-{uuid.uuid4().hex}.sqlite"
    event = example_event(OrderCreated)
    with EventStore(path) as store:
        for pid, jump in steps:
            expected: Gap | None = None
            if pid in seqs:
                if jump > 1:
                    expected = Gap(pid, seqs[pid] + 1, seqs[pid] + jump - 1)
                    expected_gaps += 1
                    expected_missing += jump - 1
                seqs[pid] += jump
            else:
                seqs[pid] = jump
            assert store.record(_message(event, seqs[pid], pid), 1.0) == expected
        stats = store.statistics()
    assert (stats.gaps, stats.missing, stats.publishers, stats.recorded) == (
        expected_gaps, expected_missing, len(seqs), len(steps))
    assert _rows(path, "SELECT COALESCE(SUM(missing), 0) FROM gaps") == [(expected_missing,)]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
def test_the_store_never_crashes_on_hostile_payloads(tmp_path: Path, data: st.DataObject) -> None:
    """Any field of a valid message replaced by any JSON value: recorded or rejected, never an exception."""
    path = tmp_path / f"fuzz-{uuid.uuid4().hex}.sqlite"
    with EventStore(path) as store:
        for seq, event in enumerate(all_kinds_examples(), start=1):
            topic, payload = encode_message(event, seq=seq, publisher_id="p", ts=1.0, venue="hyperliquid")
            doc = json.loads(payload)
            for _ in range(data.draw(st.integers(0, 2))):
                inner = doc.get("event")
                target = doc if not isinstance(inner, dict) or data.draw(st.booleans()) else inner
                key = data.draw(st.sampled_from(sorted(target)) | st.text(max_size=4)) if target else "x"
                target[key] = data.draw(_json_values)
            store.record_frames([topic, json.dumps(doc).encode()], 1.0)
        stats = store.statistics()
    assert stats.received == len(EVENT_KINDS) == stats.recorded + stats.malformed + stats.duplicates


EVENT_KINDS_BY_NAME = {kind: cls for cls, kind in EVENT_KINDS.items()}


def test_out_of_range_integers_are_stored_as_text_not_crashes(db: Path) -> None:
    """SQLite integers are 64-bit; JSON integers are not.  Found by the hostile-payload fuzz."""
    lost = json.loads(_frames(example_event(EVENT_KINDS_BY_NAME["lost"]), 1)[1])
    lost["event"]["not_found_count"] = 2**70
    fill = json.loads(_frames(example_event(OrderPartiallyFilled), 2)[1])
    fill["event"]["trade"]["fill_price"] = 2**80
    fill["event"]["trade"]["timestamp"] = 2**70
    with EventStore(db) as store:
        store.record_frames([b"orders.hyperliquid.lost", json.dumps(lost).encode()], 1.0)
        store.record_frames([b"orders.hyperliquid.partial_fill", json.dumps(fill).encode()], 1.0)
        assert store.statistics().recorded == 2
    # stored (numeric affinity may turn the text into a REAL); the exact value stays in events.payload
    assert _rows(db, "SELECT CAST(not_found_count AS REAL) FROM orders WHERE last_kind = 'lost'") == [(2.0**70,)]
    assert _rows(db, "SELECT fill_price, trade_time FROM fills") == [(str(2**80), float(2**70))]
    [(payload,)] = _rows(db, "SELECT payload FROM events WHERE kind = 'lost'")
    assert json.loads(payload)["event"]["not_found_count"] == 2**70


def test_a_fill_without_an_order_is_recorded_without_inventing_one(db: Path) -> None:
    """An orphan fill (``client_order_id`` "" when the venue gave only an exchange id) goes to ``fills``
    only; the kind need not be known to this recorder."""
    doc = json.loads(_frames(example_event(OrderPartiallyFilled), 1)[1])
    doc.update(kind="unmatched_fill", type="UnmatchedFill")
    doc["event"] = {"client_order_id": "", "pair": "BTC", "timestamp": 5.0, "exchange_order_id": "88",
                    "trade": {**doc["event"]["trade"], "client_order_id": None, "trade_id": "T-orphan"}}
    with EventStore(db) as store:
        store.record_frames([b"orders.hyperliquid.unmatched_fill", json.dumps(doc).encode()], 1.0)
        assert (store.statistics().recorded, store.statistics().fills) == (1, 1)
    assert _rows(db, "SELECT COUNT(*) FROM orders") == [(0,)]
    assert _rows(db, "SELECT trade_id, client_order_id, kind FROM fills") == [("T-orphan", "", "unmatched_fill")]


async def test_one_recorder_two_publishers(ctx: zmq.Context[Any], db: Path) -> None:
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as a, ZmqPublisher("tcp://127.0.0.1:*", context=ctx) as b, \
            EventStore(db) as store:
        recorder = EventRecorder(store, [a.endpoint, b.endpoint], context=ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.watch_subscriptions)
            nursery.start_soon(b.watch_subscriptions)
            await nursery.start(recorder.serve)
            with trio.fail_after(10):
                await a.wait_for_subscribers(1)
                await b.wait_for_subscribers(1)
            for i in range(5):
                a.publish(example_event(OrderCreated, f"a{i}"))
                b.publish(example_event(OrderCreated, f"b{i}"))
            with trio.fail_after(10):
                stats = await recorder.wait_until(lambda s: s.recorded == 10)
            nursery.cancel_scope.cancel()
    assert (stats.publishers, stats.gaps) == (2, 0)
    assert _rows(db, "SELECT publisher_id, last_seq FROM publishers ORDER BY publisher_id") == sorted(
        [(a.publisher_id, 5), (b.publisher_id, 5)])


# ------------------------------------------------------------------------------------- late subscribers


async def test_a_late_recorder_gets_snapshots_so_its_rows_have_side_and_type(
    hl_connector: Any, ctx: zmq.Context[Any], db: Path
) -> None:
    from trio_hl import OrderParams

    conn = hl_connector
    book = conn.book("BTC")
    assert book.best_bid is not None and book.best_ask is not None
    events = conn.events()
    buy = conn.buy(OrderParams("BTC", Decimal("0.001"), book.best_bid.price - 50))
    sell = conn.sell(OrderParams("ETH", Decimal("0.01"), conn.book("ETH").best_ask.price + 50))
    live: set[str] = set()
    with trio.fail_after(10):
        async for event in events:
            if isinstance(event, OrderCreated):
                live.add(event.client_order_id)
            if live == {buy, sell}:
                break
    # The publisher starts now: both OrderCreated events happened before any subscriber existed.
    with ZmqPublisher("tcp://127.0.0.1:*", context=ctx, snapshot=conn.order_snapshots) as pub, EventStore(db) as st_:
        recorder = EventRecorder(st_, pub.endpoint, context=ctx)
        async with trio.open_nursery() as nursery:
            await nursery.start(pub.serve, conn.events())
            await nursery.start(recorder.serve)
            with trio.fail_after(10):
                await recorder.wait_until(lambda s: s.recorded >= 2)  # the two snapshots
            conn.cancel("BTC", buy)
            conn.cancel("ETH", sell)
            with trio.fail_after(10):
                await recorder.wait_until(lambda s: s.recorded >= 4)  # + the two cancellations
            nursery.cancel_scope.cancel()
        assert pub.statistics().snapshots_sent == 2
    rows = {r[0]: (r[1], r[2], Decimal(r[3]), r[4])
            for r in _rows(db, "SELECT client_order_id, side, order_type, amount, state FROM orders")}
    assert rows == {buy: ("buy", "limit", Decimal("0.001"), "canceled"),
                    sell: ("sell", "limit", Decimal("0.01"), "canceled")}


def test_a_snapshot_never_moves_a_known_orders_state_and_fills_only_missing_columns(db: Path) -> None:
    from trio_hl.core.events import OrderSnapshotEvent

    t = TradeUpdate("t1", "BTC", Decimal(100), Decimal("0.5"), Decimal(0), "USDC", 1.0, "c1", "9", side=Side.SELL)
    with EventStore(db) as store:
        # First seen through a partial fill (joined late, no snapshot yet): the fill's side is taken.
        store.record(_message(OrderPartiallyFilled("c1", "BTC", 1.0, t, Decimal("0.5"), Decimal("0.5")), 1), 1.0)
        store.commit()
        assert _rows(db, "SELECT side, order_type, state FROM orders")[0] == ("sell", None, "partially_filled")
        # An older snapshot arrives afterwards: it supplies the type and amount, the state stays.
        snap = OrderSnapshotEvent("c1", "BTC", 0.5, "9", Side.SELL, OrderType.LIMIT, Decimal(1), Decimal(100),
                             OrderState.OPEN, Decimal(0))
        store.record(_message(snap, 2), 2.0)
        store.commit()
    rows = _rows(db, "SELECT side, order_type, amount, state FROM orders")
    assert rows == [("sell", "limit", "1", "partially_filled")]
