"""Journal: exact restore, durability point, corruption reporting, threads."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hl.core.journal import Journal, Submission
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import JournalError
from trio_hl.testing.strategies import Lifecycle, order_lifecycles

S = OrderState
D = Decimal


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def order(cid: str, amount: str = "2", price: str = "100.10") -> InFlightOrder:
    return InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.SELL, amount=D(amount), price=D(price),
                             created_at=0.25)


def busy_tracker(path: Path, clock: Clock, **kw: object) -> tuple[OrderTracker, Journal]:
    """A tracker with one order in every interesting condition."""
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal, not_found_limit=2, fill_wait_timeout=5.0, **kw)  # type: ignore[arg-type]
    for cid in ("open", "partial", "unknown", "lost", "cancelling", "filled", "failed", "waiting", "ioc"):
        tr.start_tracking(order(cid))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 1.0, "open", "e-open"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 1.0, "partial", "e-partial"))
    tr.process_trade_update(TradeUpdate("t1", "BTC", D("100.10"), D("0.500"), D("0.0100"), "USDC", 1.5, None,
                                        "e-partial"))
    tr.process_order_update(OrderUpdate("BTC", S.UNKNOWN, 1.0, "unknown", None, "timeout"))
    tr.process_order_update(OrderUpdate("BTC", S.UNKNOWN, 1.0, "lost", None, "timeout"))
    tr.process_not_found("lost")
    tr.process_not_found("lost")
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 1.0, "cancelling", "e-c"))
    tr.start_cancel("cancelling")
    tr.process_trade_update(TradeUpdate("t2", "BTC", D("100.1"), D("2"), D("0.02"), "USDC", 2.0, "filled", "e-f"))
    tr.process_order_update(OrderUpdate("BTC", S.FAILED, 1.0, "failed", None, "Insufficient margin"))
    clock.now = 3.0
    tr.process_order_update(OrderUpdate("BTC", S.FILLED, 3.0, "waiting", "e-w"))
    tr.process_order_update(OrderUpdate("BTC", S.CANCELED, 3.0, "ioc", "e-ioc", "ioc", executed=D("0.5")))
    tr.process_trade_update(TradeUpdate("t9", "BTC", D("1"), D("1"), D("0"), "USDC", 3.0, None, "e-orphan"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 3.0, "open", "e-open2", amount=D("3.0"), price=D("99.5")))
    return tr, journal


def test_restore_is_identical(tmp_path: Path) -> None:
    clock = Clock()
    tr, journal = busy_tracker(tmp_path / "j.sqlite", clock)
    journal.flush()
    result = journal.restore(clock=clock)
    assert result.corruption is None
    restored = result.tracker
    assert restored.snapshot() == tr.snapshot()
    assert [o.client_order_id for o in restored.needs_resolution()] == ["unknown", "lost"]
    assert [o.client_order_id for o in restored.lost_orders()] == ["lost"]
    assert [o.client_order_id for o in restored.awaiting_fills()] == ["waiting", "ioc"]
    ioc = restored.get("ioc")
    assert ioc is not None and ioc.fill_wait_state is S.CANCELED and ioc.fill_wait_amount == D("0.5")
    partial = restored.get("partial")
    assert partial is not None and str(partial.executed_amount) == "0.500"  # Decimal-exact, exponent kept
    # the restored tracker keeps journaling into the same history, and behaves the same from here on
    clock.now = 10.0
    assert restored.poll(10.0) == tr.poll(10.0)
    journal.close()
    again = Journal(tmp_path / "j.sqlite")
    assert again.restore(clock=clock).tracker.snapshot() == tr.snapshot()
    again.close()


def test_restore_replays_refused_cancels(tmp_path: Path) -> None:
    """A refusal is replayed like any record: same state and counters, and its event is not re-published (restore
    returns a tracker, never events: the run that wrote the journal published them)."""
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite")
    tr = OrderTracker(clock=clock, journal=journal)
    tr.start_tracking(order("c1"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 1.0, "c1", "e1"))
    tr.start_cancel("c1")
    assert len(tr.process_cancel_rejected("c1", "Order was never placed, already canceled, or filled.")) == 1
    assert tr.process_cancel_rejected("gone", None) == []
    tr.start_cancel("c1")  # cancelled again; still pending at the "crash"
    journal.flush()
    result = journal.restore(clock=clock)
    assert result.corruption is None
    assert result.tracker.snapshot() == tr.snapshot()
    restored = result.tracker.get("c1")
    assert restored is not None and restored.state is S.PENDING_CANCEL and restored.cancel_requested
    assert result.tracker.statistics().cancels_rejected == 2
    journal.close()


def test_restore_replays_refused_modifies(tmp_path: Path) -> None:
    """A modify that did not apply is journaled with the prices it asked for (exact decimals), and replayed."""
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite")
    tr = OrderTracker(clock=clock, journal=journal)
    tr.start_tracking(order("c1"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 1.0, "c1", "e1"))
    clock.now = 3.0
    assert len(tr.process_modify_rejected("c1", "modify not sent: connect refused", Decimal("97000.50"), None)) == 1
    assert tr.process_modify_rejected("gone", "refused", Decimal(1), Decimal("0.010")) == []
    journal.flush()
    result = journal.restore(clock=clock)
    assert result.corruption is None and result.records_replayed == 4  # track, order, two refusals
    assert result.tracker.snapshot() == tr.snapshot()
    assert result.tracker.statistics().modifies_rejected == 2
    journal.close()


def test_unflushed_records_are_not_durable_and_flushed_ones_are(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal)
    tr.start_tracking(order("a"))
    assert journal.flush() == 2  # config + intent
    tr.start_tracking(order("b"))
    assert journal.statistics().pending == 1
    # a second process opening the file sees exactly what was flushed
    other = Journal(path)
    restored = other.restore(clock=clock).tracker
    assert restored.get("a") is not None and restored.get("b") is None
    other.close()
    journal.close()


def test_survives_sigkill_after_flush(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    script = textwrap.dedent(f"""
        import os, signal
        from decimal import Decimal
        from trio_hl.core.journal import Journal, Submission
        from trio_hl.core.order import InFlightOrder
        from trio_hl.core.tracker import OrderTracker
        from trio_hl.core.types import Side
        j = Journal({str(path)!r})
        t = OrderTracker(clock=lambda: 1.0, journal=j)
        for i in range(100):
            t.start_tracking(InFlightOrder.new(client_order_id=f"c{{i}}", pair="BTC", side=Side.BUY,
                                               amount=Decimal("1.5"), price=Decimal("7"), created_at=1.0))
        j.flush()
        t.start_tracking(InFlightOrder.new(client_order_id="unflushed", pair="BTC", side=Side.BUY,
                                           amount=Decimal("1"), price=Decimal("7"), created_at=1.0))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    journal = Journal(path)
    result = journal.restore(clock=Clock())
    assert result.corruption is None
    assert len(result.tracker) == 100 and result.tracker.get("unflushed") is None
    journal.close()


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_corrupt_record_is_reported_and_skipped(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal)
    for cid in ("a", "b", "c"):
        tr.start_tracking(order(cid))
    journal.close()
    _tamper(path, "UPDATE records SET body = replace(body, '\"b\"', '\"x\"') WHERE seq = 3")
    _tamper(path, "DELETE FROM records WHERE seq = 4")
    journal = Journal(path)
    result = journal.restore(clock=clock)
    assert result.corruption is not None
    problems = [(s.first_seq, s.last_seq, s.reason.split(" ")[0]) for s in result.corruption.skipped]
    assert problems == [(3, 3, "checksum"), (4, 4, "missing")]
    assert "seq 3" in str(result.corruption)
    assert result.tracker.get("a") is not None and result.tracker.get("x") is None
    # appending continues after the highest sequence; the gap stays reported
    result.tracker.start_tracking(order("d"))
    journal.flush()
    again = journal.restore(clock=clock)
    assert again.corruption is not None
    assert [(r.first_seq, r.last_seq) for r in again.corruption.skipped] == [(3, 3), (4, 4)]
    assert again.tracker.get("d") is not None
    journal.close()


def test_undecodable_record_is_reported(tmp_path: Path) -> None:
    import zlib

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    OrderTracker(clock=Clock(), journal=journal).start_tracking(order("a"))
    journal.close()
    body = '[1.0,["only-one-field"]]'
    crc = zlib.crc32(f"2:track:{body}".encode())
    _tamper(path, f"UPDATE records SET body = '{body}', crc = {crc} WHERE seq = 2")
    journal = Journal(path)
    result = journal.restore(clock=Clock())
    assert result.corruption is not None and "undecodable" in result.corruption.skipped[0].reason
    journal.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match=f"journal {path}: open failed: DatabaseError: file is not a database"):
        Journal(path)


def test_failed_flush_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=Clock(), journal=journal)
    journal.flush()
    _tamper(path, "CREATE TRIGGER boom BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    tr.start_tracking(order("a"))
    tr.start_tracking(order("b"))
    with pytest.raises(JournalError, match=f"journal {path}: write failed: IntegrityError: disk on fire") as err:
        journal.flush()
    assert isinstance(err.value.cause, sqlite3.IntegrityError) and err.value.path == str(path)
    assert journal.statistics().pending == 2
    _tamper(path, "DROP TRIGGER boom")
    assert journal.flush() == 2
    restored = journal.restore(clock=Clock())
    assert restored.corruption is None and restored.tracker.snapshot() == tr.snapshot()
    journal.close()


def test_new_tracker_on_a_journal_starts_a_fresh_history(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    OrderTracker(clock=Clock(), journal=journal).start_tracking(order("old"))
    second = OrderTracker(clock=Clock(), journal=journal, not_found_limit=7)
    second.start_tracking(order("new"))
    result = journal.restore(clock=Clock())
    assert result.tracker.get("old") is None and result.tracker.get("new") is not None
    assert result.tracker.config.not_found_limit == 7
    journal.close()


def test_wal_and_synchronous_settings(tmp_path: Path) -> None:
    with Journal(tmp_path / "a.sqlite", synchronous="FULL") as journal:
        journal.flush()
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with pytest.raises(ValueError, match="synchronous"):
        Journal(tmp_path / "b.sqlite", synchronous="OFF")  # type: ignore[arg-type]


def test_closed_journal_refuses_writes(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.close()
    journal.close()  # idempotent
    journal.append("poll", 1.0, None)
    with pytest.raises(JournalError, match="journal is closed"):
        journal.flush()


async def test_flush_in_a_worker_thread_while_appending(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    tracker = OrderTracker(clock=trio.current_time, journal=journal)
    done = trio.Event()

    async def flusher() -> None:
        while not done.is_set():
            await trio.to_thread.run_sync(journal.flush)
        await trio.to_thread.run_sync(journal.flush)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(flusher)
        for i in range(2000):
            tracker.start_tracking(order(f"c{i}"))
            if i % 50 == 0:
                await trio.lowlevel.checkpoint()
        done.set()
    restored = journal.restore(clock=trio.current_time)
    assert restored.corruption is None
    assert restored.tracker.snapshot() == tracker.snapshot()
    assert [o.client_order_id for o in restored.tracker.active_orders()] == [f"c{i}" for i in range(2000)]
    journal.close()


@settings(max_examples=30)
@given(st.lists(order_lifecycles(), min_size=1, max_size=4, unique_by=lambda lc: lc.order.client_order_id))
def test_restore_matches_for_any_lifecycles(tmp_path_factory: pytest.TempPathFactory,
                                            lifes: list[Lifecycle]) -> None:
    clock = Clock()
    path = tmp_path_factory.mktemp("j") / "j.sqlite"
    with Journal(path) as journal:
        tracker = OrderTracker(clock=clock, journal=journal)
        for life in lifes:
            tracker.start_tracking(life.order)
        for i, message in enumerate(m for life in lifes for m in life.messages):
            clock.now = float(i)
            if isinstance(message, TradeUpdate):
                tracker.process_trade_update(message)
            else:
                tracker.process_order_update(message)
            if i % 3 == 0:
                tracker.poll(clock.now)
        journal.flush()
        result = journal.restore(clock=clock)
        assert result.corruption is None
        assert result.tracker.snapshot() == tracker.snapshot()


def test_env_has_no_leftover_wal_lock(tmp_path: Path) -> None:
    # closing checkpoints the WAL: nothing but the database file need be copied for a backup
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        OrderTracker(clock=Clock(), journal=journal).start_tracking(order("a"))
    assert not os.path.exists(f"{path}-wal") or os.path.getsize(f"{path}-wal") == 0


def test_a_record_the_tracker_cannot_replay_is_skipped_not_fatal(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal)
    tr.start_tracking(order("ok"))
    tr.start_tracking(order("poison"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 1.0, "ok", "e-ok"))
    journal.close()
    # Records are journaled before they are applied: one that once made the tracker raise (a tracker bug) is
    # on disk.  Simulate the bug at replay time: that record raises KeyError.
    real = OrderTracker.replay

    def replay(self: OrderTracker, kind: str, now: float, payload: Any) -> Any:
        if kind == "track" and payload[0] == "poison":
            raise KeyError("poison")
        return real(self, kind, now, payload)

    monkeypatch.setattr(OrderTracker, "replay", replay)
    again = Journal(path)
    result = again.restore(clock=clock)
    again.close()
    assert result.corruption is not None and len(result.corruption.skipped) == 1
    assert "KeyError" in result.corruption.skipped[0].reason
    restored = result.tracker.get("ok")
    assert restored is not None and restored.state is S.OPEN  # every valid record still applied


def test_sending_records_name_the_latest_nonce_of_each_unanswered_order(tmp_path: Path) -> None:
    """``"sending"`` records are read, not replayed: the tracker restores as before, and the orders still without
    an answer come back with the latest submission that carried them."""
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal)
    for cid in ("pending", "unknown", "answered", "never-sent"):
        tr.start_tracking(order(cid))
    clock.now = 1.0
    journal.append_sending(clock.now, ["pending", "unknown", "answered"], 1_700_000_000_001, "0xABC")
    clock.now = 2.0
    journal.append_sending(clock.now, ["unknown"], 1_700_000_000_005, "0xabc")  # its re-send, a fresh nonce
    journal.append_sending(clock.now, ["other-signer"], 1_700_000_000_009, "0xdef")
    tr.process_order_update(OrderUpdate("BTC", S.UNKNOWN, 2.0, "unknown", None, "timeout"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 2.0, "answered", "e-1"))
    journal.close()
    journal = Journal(path)
    result = journal.restore(clock=clock)
    journal.close()
    assert result.corruption is None
    assert result.tracker.snapshot() == tr.snapshot()
    assert result.records_replayed == 6  # four intents and two updates; the sending records are not replayed
    assert result.submissions == {
        "pending": Submission(1_700_000_000_001, "0xabc", 1.0),  # signers are stored lower-case
        "unknown": Submission(1_700_000_000_005, "0xabc", 2.0),
    }
    assert result.highest_nonces == {"0xabc": 1_700_000_000_005, "0xdef": 1_700_000_000_009}


def test_a_journal_written_before_sending_records_existed_still_restores(tmp_path: Path) -> None:
    """Old journals (no ``"sending"`` kind; ``order`` records of nine fields, ``trade`` of ten) restore exactly as
    before, with no submissions: their unanswered orders are resolved by asking."""
    import json
    import zlib

    path = tmp_path / "old.sqlite"
    rows = [
        ("config", [0.0, {"not_found_limit": 3, "finished_ttl": 600.0, "fill_wait_timeout": 10.0, "orphan_ttl": 30.0,
                          "max_finished": 100000, "max_orphans": 10000}]),
        ("track", [0.5, ["0xa", "BTC", "buy", "limit", "0.01", "100", "gtc", "open", 0.5, 0.5, None]]),
        ("track", [0.5, ["0xb", "BTC", "buy", "limit", "0.01", "100", "gtc", "open", 0.5, 0.5, None]]),
        ("order", [1.0, ["BTC", "unknown", 1.0, "0xb", None, "timeout", None, None, None]]),
    ]
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, "
                       "crc INTEGER NOT NULL); CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);")
    for seq, (kind, raw) in enumerate(rows, 1):
        body = json.dumps(raw, separators=(",", ":"))
        crc = zlib.crc32(f"{seq}:{kind}:{body}".encode())
        conn.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (seq, kind, body, crc))
    conn.execute("INSERT INTO meta VALUES ('last_seq', ?)", (len(rows),))
    conn.commit()
    conn.close()
    with Journal(path) as journal:
        result = journal.restore(clock=Clock())
    assert result.corruption is None and result.records_replayed == 3
    assert [(o.client_order_id, o.state) for o in result.tracker.active_orders()] == [
        ("0xa", S.PENDING_CREATE), ("0xb", S.UNKNOWN)]
    assert result.submissions == {} and result.highest_nonces == {}


def test_a_malformed_sending_record_is_reported_and_skipped(tmp_path: Path) -> None:
    import zlib

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=Clock(), journal=journal)
    tr.start_tracking(order("a"))
    journal.append_sending(0.0, ["a"], 1_700_000_000_001, "0xabc")
    journal.close()
    body = '[0.0,[["a"],"not-a-nonce","0xabc"]]'
    _tamper(path, f"UPDATE records SET body = '{body}', crc = {zlib.crc32(f'3:sending:{body}'.encode())} WHERE seq = 3")
    with Journal(path) as journal:
        result = journal.restore(clock=Clock())
    assert result.corruption is not None and "undecodable 'sending'" in result.corruption.skipped[0].reason
    assert result.submissions == {} and result.tracker.get("a") is not None


# ----------------------------------------------------------------------------------- never sent, fences


def test_pending_orders_without_a_sending_record_are_never_sent(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal)
    for cid in ("sent", "queued-1", "queued-2", "answered"):
        tr.start_tracking(order(cid))
    journal.append_sending(1.0, ["sent", "answered"], 1_700_000_000_001, "0xabc")
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, 2.0, "answered", "e-1"))
    journal.close()
    with Journal(path) as again:
        result = again.restore(clock=clock)
    assert result.never_sent == ("queued-1", "queued-2")
    assert set(result.submissions) == {"sent"}


def test_orders_journaled_before_sending_records_were_trusted_are_not_declared_never_sent(tmp_path: Path) -> None:
    """A journal from before this version, or whose writer did not fsync and the machine rebooted since: the
    missing "sending" record may have been lost, so nothing journaled before the reopening counts as never sent."""
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=Clock(), journal=journal)
    tr.start_tracking(order("before"))
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 'another-boot' WHERE key = 'writer_boot'")  # a power loss since
    conn.commit()
    conn.close()
    journal = Journal(path)
    result = journal.restore(clock=Clock())
    assert result.never_sent == ()
    result.tracker.start_tracking(order("after"))  # this process's own records are trusted again
    journal.close()
    with Journal(path) as again:
        assert again.restore(clock=Clock()).never_sent == ("after",)


def test_a_fsyncing_writer_is_trusted_across_a_reboot(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, synchronous="FULL")
    OrderTracker(clock=Clock(), journal=journal).start_tracking(order("q"))
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 'another-boot' WHERE key = 'writer_boot'")
    conn.commit()
    conn.close()
    with Journal(path) as again:
        assert again.restore(clock=Clock()).never_sent == ("q",)


def test_fence_records_keep_the_highest_dead_nonce_per_signer(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    OrderTracker(clock=Clock(), journal=journal)
    journal.append_fence(1.0, "0xABC", 100)
    journal.append_fence(2.0, "0xabc", 250)
    journal.append_fence(2.0, "0xdef", 7)
    journal.close()
    with Journal(path) as again:
        result = again.restore(clock=Clock())
    assert result.fences == {"0xabc": 250, "0xdef": 7} and result.corruption is None


# ------------------------------------------------------------------------------------------- compaction


def _history(tracker: OrderTracker, clock: Clock, finished: int, start: int = 0) -> None:
    """``finished`` orders that open, fill and end."""
    for i in range(start, start + finished):
        cid = f"done-{i}"
        clock.now += 0.001
        tracker.start_tracking(order(cid))
        tracker.process_order_update(OrderUpdate("BTC", S.OPEN, clock.now, cid, f"e-{cid}"))
        tracker.process_trade_update(TradeUpdate(f"t-{cid}", "BTC", D("100.10"), D("2"), D("0.01"), "USDC",
                                                 clock.now, cid, f"e-{cid}"))


def test_compaction_keeps_every_active_order_exactly(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    tr, journal = busy_tracker(path, clock)
    _history(tr, clock, 500)
    journal.append_fence(clock.now, "0xabc", 5)
    journal.append_fence(clock.now, "0xabc", 9)
    journal.append_sending(clock.now, ["unknown", "done-1"], 1_700_000_000_001, "0xabc")
    tr.poll(clock.now + 1000.0)  # expires the orphan and evicts finished orders (a "poll" record)
    before = {o.client_order_id: o for o in tr.active_orders()}
    journal.flush()
    stored = journal.statistics().records_stored
    dropped = journal.compact(tr, clock.now)
    assert dropped > 1500 and journal.statistics().records_stored == stored - dropped
    journal.close()
    with Journal(path) as again:
        result = again.restore(clock=clock)
    assert result.corruption is None
    assert {o.client_order_id: o for o in result.tracker.active_orders()} == before
    # the history is gone; the orders the poll finished (still in the finished cache) are kept, as they ended
    assert result.tracker.finished_orders() == tr.finished_orders()
    assert sorted(o.client_order_id for o in tr.finished_orders()) == ["ioc", "waiting"]
    assert result.fences == {"0xabc": 9}
    assert result.submissions == {"unknown": Submission(1_700_000_000_001, "0xabc", clock.now)}


def test_compaction_keeps_a_recent_orphan_and_drops_an_old_one(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal, orphan_ttl=30.0)
    tr.process_trade_update(TradeUpdate("t-old", "BTC", D("1"), D("1"), D("0"), "USDC", 0.0, "late", "e-late"))
    clock.now = 100.0
    tr.process_trade_update(TradeUpdate("t-new", "BTC", D("1"), D("1"), D("0"), "USDC", 100.0, "early", "e-early"))
    journal.compact(tr, clock.now)
    tr.start_tracking(order("early"))  # the order the orphan was waiting for
    journal.close()
    with Journal(path) as again:
        restored = again.restore(clock=clock).tracker
    early = restored.get("early")
    assert early is not None and early.executed_amount == D("1")  # matched after the restore, as live
    assert restored.statistics().orphans_buffered == 0


def test_a_compacted_journal_restores_and_continues_after_restart(tmp_path: Path) -> None:
    """Compaction, more records, a restart, another compaction: sequence numbers stay increasing, the records
    kept below the mark are counted, and the journal's size tracks the open orders, not the history."""
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path, compact_every=1000, keep_finished=0)
    tr = OrderTracker(clock=clock, journal=journal)
    for i in range(20):
        tr.start_tracking(order(f"open-{i}"))
    for round_ in range(10):
        _history(tr, clock, 400, start=round_ * 400)
        journal.flush()
        if journal.needs_compaction():
            journal.compact(tr, clock.now)
    journal.close()
    journal = Journal(path, compact_every=1000, keep_finished=0)
    result = journal.restore(clock=clock)
    assert result.corruption is None
    assert sorted(o.client_order_id for o in result.tracker.active_orders()) == sorted(f"open-{i}" for i in range(20))
    assert journal.statistics().records_stored < 1000 + 21
    _history(result.tracker, clock, 400, start=10_000)
    journal.compact(result.tracker, clock.now)
    journal.close()
    with Journal(path, keep_finished=0) as again:
        final = again.restore(clock=clock)
        assert final.corruption is None and len(final.tracker.active_orders()) == 20
        assert again.statistics().records_stored == 21  # the config record and the 20 open intents


def test_a_record_deleted_below_the_compaction_mark_is_reported(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    tr = OrderTracker(clock=clock, journal=journal)
    tr.start_tracking(order("a"))
    tr.start_tracking(order("b"))
    _history(tr, clock, 10)
    journal.compact(tr, clock.now)
    journal.close()
    _tamper(path, "DELETE FROM records WHERE seq = 3")  # the intent of "b"
    with Journal(path) as again:
        result = again.restore(clock=clock)
    assert result.corruption is not None
    assert "1 record(s) missing below the compaction mark" in str(result.corruption)


def test_journal_errors_name_the_path_and_the_cause(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "j.sqlite"
    with pytest.raises(JournalError, match=f"journal {missing}: open failed: .*directory {missing.parent} does not"):
        Journal(missing)
    with pytest.raises(JournalError, match=f"journal {tmp_path}: open failed: .*it is a directory"):
        Journal(tmp_path)


def test_compaction_keeps_the_most_recently_finished_orders(tmp_path: Path) -> None:
    """A restart right after a crash still knows how the last orders ended (``keep_finished`` of them)."""
    clock = Clock()
    path = tmp_path / "j.sqlite"
    journal = Journal(path, keep_finished=10)
    tr = OrderTracker(clock=clock, journal=journal)
    _history(tr, clock, 100)
    journal.compact(tr, clock.now)
    journal.close()
    with Journal(path) as again:
        restored = again.restore(clock=clock).tracker
    assert [o.client_order_id for o in restored.finished_orders()] == [f"done-{i}" for i in range(90, 100)]
    assert restored.finished_orders() == tr.finished_orders()[-10:]


def test_records_msgspec_cannot_write_exactly_still_round_trip(tmp_path: Path) -> None:
    """Bodies are written by msgspec (fast) unless it would not write them the way ``json.loads`` reads back: a
    non-finite timestamp (msgspec writes null), a lone surrogate, an integer beyond 64 bits, a config with an
    infinite TTL.  Those go through the stdlib writer; the restore is identical either way."""
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite")
    tr = OrderTracker(clock=clock, journal=journal, finished_ttl=float("inf"))
    tr.start_tracking(order("c1"))
    tr.start_tracking(order("c2"))
    tr.process_order_update(OrderUpdate("BTC", S.OPEN, float("inf"), "c1", "e1"))
    tr.process_trade_update(TradeUpdate("t1", "BTC", D("100.10"), D("0.5"), D("0.01"), "USDC", float("nan"), "c1",
                                        "e1"))
    tr.process_trade_update(TradeUpdate("t2", "BTC", D("100.10"), D("0.00001"), D("0"), "USDC", 1e-05, "c2", None))
    tr.process_order_update(OrderUpdate("BTC", S.CANCELED, 2.0, "c2", "e2", "r\u00e9sum\u00e9 \ud800"))
    journal.append_sending(1.0, ["c1", "c2"], 2**70, "0xAB")
    journal.flush()
    with contextlib.closing(sqlite3.connect(tmp_path / "j.sqlite")) as db:  # (3.13 warns of an unclosed one)
        rows = db.execute("SELECT kind, body FROM records ORDER BY seq").fetchall()
    bodies = [body for _, body in rows]
    assert "Infinity" in bodies[0] and "Infinity" in bodies[3] and "NaN" in bodies[4]  # config, order, trade
    # (msgspec's shortest form of 1e-05, which json.loads reads as the same float; the stdlib's escape)
    assert "0.00001" in bodies[5] and "\\ud800" in bodies[6]
    result = journal.restore(clock=clock)
    assert result.corruption is None
    assert result.tracker.config.finished_ttl == float("inf")
    assert result.highest_nonces == {"0xab": 2**70}
    restored, original = result.tracker.get("c1"), tr.get("c1")
    assert restored is not None and original is not None
    assert restored.fills is not None and original.fills is not None
    assert str(restored.fills["t1"].timestamp) == "nan"  # (NaN != NaN: snapshots cannot compare it)
    assert restored.state is original.state is S.PARTIALLY_FILLED
    cancelled = result.tracker.get("c2")
    assert cancelled is not None and cancelled == tr.get("c2") and cancelled.reason == "r\u00e9sum\u00e9 \ud800"
    assert result.tracker.get("c2").fills["t2"].timestamp == 1e-05  # type: ignore[union-attr]
    journal.close()
