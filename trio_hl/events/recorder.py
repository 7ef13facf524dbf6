"""The database writer: a ZMQ SUB client that stores every published event in SQLite.

Rule: the raw message is the record (``events``); the other tables (``orders``, ``fills``,
``state_history``) are derived from it in the same transaction, so the database never holds a derived row
without its source.  Sequence numbers are checked per publisher id: a jump is a *gap* (written to ``gaps``
and logged), a new publisher id is a *restart* (never a gap: a restarted publisher starts again at 1).
The recorder works on the JSON, not on the Python event classes, so it stores kinds newer than itself.
Rejected alternative: decoding into the event classes and writing columns per class; that couples the
recorder's version to the publisher's and drops whatever it does not know.

Trio integration: the SUB socket is read with ``NOBLOCK`` and the loop waits on ``trio.lowlevel
.wait_readable(socket.FD)`` only after ``zmq.EVENTS`` reported nothing to read (see ``trio_hl.events.core``:
the FD is edge-triggered).  SQLite calls run on the Trio thread: they take microseconds with WAL and
``synchronous=NORMAL`` and one commit per drained batch, and while they run ZMQ keeps queueing in its own
I/O thread (up to ``rcvhwm``), so nothing is lost by not using a worker thread.

The table layout and example queries are documented in ``docs/EVENTS.md``; ``trio_hl.events.queries``
reads the tables back.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import trio
import zmq

from trio_hl.cli_errors import EXIT_INTERRUPTED, is_interrupt
from trio_hl.core.types import OrderState
from trio_hl.errors import ProtocolError
from trio_hl.events.core import int_option, readable
from trio_hl.events.reader import MalformedMessage, MessageReader
from trio_hl.events.schema import DEFAULT_FAMILY, Message, decode_message

__all__ = [
    "DEFAULT_RCVHWM",
    "EventRecorder",
    "EventStore",
    "Gap",
    "RecorderStatistics",
    "record_main",
    "serve_recorder",
]

log = logging.getLogger(__name__)

#: Messages ZMQ may hold for us while we write; past it the *publisher* counts drops (and we see a gap).
DEFAULT_RCVHWM = 100_000
#: Messages handled per transaction / scheduler turn.
_BATCH = 1000
#: Bump when the table layout changes incompatibly.
RECORDER_SCHEMA = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    publisher_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    family TEXT NOT NULL,
    venue TEXT NOT NULL,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    client_order_id TEXT,
    pair TEXT,
    event_time REAL,
    published_at REAL NOT NULL,
    received_at REAL NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (publisher_id, seq)
);
CREATE INDEX IF NOT EXISTS events_by_order ON events (client_order_id);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    venue TEXT NOT NULL,
    pair TEXT,
    state TEXT,
    exchange_order_id TEXT,
    side TEXT,
    order_type TEXT,
    amount TEXT,
    price TEXT,
    executed_amount TEXT,
    average_price TEXT,
    total_fee TEXT,
    reason TEXT,
    not_found_count INTEGER,
    created_at REAL,
    updated_at REAL,
    last_kind TEXT NOT NULL,
    publisher_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    venue TEXT NOT NULL,
    trade_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    exchange_order_id TEXT,
    pair TEXT,
    fill_price TEXT NOT NULL,
    fill_amount TEXT NOT NULL,
    fee TEXT,
    fee_asset TEXT,
    is_taker INTEGER,
    trade_time REAL,
    kind TEXT NOT NULL,
    publisher_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (venue, trade_id, client_order_id)
);
CREATE TABLE IF NOT EXISTS state_history (
    id INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    note TEXT,
    event_time REAL,
    publisher_id TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_order ON state_history (client_order_id, id);
CREATE TABLE IF NOT EXISTS publishers (
    publisher_id TEXT PRIMARY KEY,
    venue TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    received INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    publisher_id TEXT NOT NULL,
    first_missing INTEGER NOT NULL,
    last_missing INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    detected_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    error TEXT NOT NULL,
    frames TEXT NOT NULL
);
"""

#: The order state an event kind implies; kinds not listed (modified, lost, anomaly, later kinds) keep the
#: state, and ``late_fill`` / ``cancel_rejected`` / ``modify_rejected`` carry their own ``state`` field.
_KIND_STATES: dict[str, OrderState] = {
    "created": OrderState.OPEN,
    "partial_fill": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "cancelled": OrderState.CANCELED,
    "failed": OrderState.FAILED,
    "unknown": OrderState.UNKNOWN,
}
#: Kinds whose events carry the order's state after them (their ``state`` field).
_OWN_STATE_KINDS = frozenset({"late_fill", "cancel_rejected", "modify_rejected"})
#: Kinds that answer a refused request: their ``reason`` is the refusal's, not the order's (it goes to the note).
_REFUSAL_KINDS = frozenset({"cancel_rejected", "modify_rejected"})
_TERMINAL_VALUES = frozenset(s.value for s in OrderState if s.is_terminal)
#: Event fields copied onto the ``orders`` row when present and not null (same names, same meaning).
_ORDER_COLUMNS = (
    "pair",
    "exchange_order_id",
    "side",
    "order_type",
    "amount",
    "price",
    "executed_amount",
    "average_price",
    "total_fee",
    "reason",
    "not_found_count",
)
_TRADE_KEYS = frozenset({"trade_id", "fill_price", "fill_amount"})


@attrs.frozen
class Gap:
    """Sequence numbers ``first_missing..last_missing`` of ``publisher_id`` never arrived."""

    publisher_id: str
    first_missing: int
    last_missing: int

    @property
    def missing(self) -> int:
        return self.last_missing - self.first_missing + 1


@attrs.frozen
class RecorderStatistics:
    #: Messages read from the socket (valid or not).
    received: int
    #: Events written to ``events``.
    recorded: int
    #: Messages whose (publisher, seq) was already stored.
    duplicates: int
    #: Messages that failed validation (logged, kept in ``rejected``).
    malformed: int
    #: Gaps detected and the total number of sequence numbers they cover.
    gaps: int
    missing: int
    #: Publisher ids seen (a restart adds one).
    publishers: int
    #: Fill rows inserted (a re-reported trade is not counted twice).
    fills: int


@attrs.define
class _PublisherState:
    last_seq: int
    #: Not yet written to the ``publishers`` row (flushed once per transaction, not once per event).
    unflushed: int = 0
    last_seen: float = 0.0


class EventStore:
    """The SQLite side: synchronous, one connection, writes inside an open transaction until ``commit()``.

    Usable on its own (tests, importing a capture): ``store.record(decode_message(frames), received_at)``.
    Re-opening an existing database resumes the per-publisher sequence check where it stopped, so events
    missed while the recorder was down show up as a gap.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(RECORDER_SCHEMA),))
            elif row[0] != str(RECORDER_SCHEMA):
                raise ValueError(f"{self.path}: recorder schema {row[0]}, this build writes {RECORDER_SCHEMA}")
            self._publishers = {
                pid: _PublisherState(last)
                for pid, last in self._db.execute("SELECT publisher_id, last_seq FROM publishers")
            }
        except BaseException:
            self._db.close()
            raise
        self._in_tx = False
        self._received = self._recorded = self._duplicates = self._malformed = 0
        self._gaps = self._missing = self._fills = 0

    def close(self) -> None:
        self.commit()
        self._db.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            for pid, state in self._publishers.items():
                if state.unflushed:
                    self._db.execute(
                        "UPDATE publishers SET last_seq = ?, last_seen = ?, received = received + ?"
                        " WHERE publisher_id = ?",
                        (state.last_seq, state.last_seen, state.unflushed, pid),
                    )
                    state.unflushed = 0
            self._db.execute("COMMIT")
            self._in_tx = False

    def statistics(self) -> RecorderStatistics:
        return RecorderStatistics(
            received=self._received,
            recorded=self._recorded,
            duplicates=self._duplicates,
            malformed=self._malformed,
            gaps=self._gaps,
            missing=self._missing,
            publishers=len(self._publishers),
            fills=self._fills,
        )

    # ----------------------------------------------------------------------------------------- writing
    def record_frames(self, frames: list[bytes], received_at: float) -> Gap | None:
        """Validate and record one multipart message; malformed ones are logged, counted and kept aside."""
        try:
            message = decode_message(frames)
        except ProtocolError as exc:
            self.reject(frames, str(exc), received_at)
            return None
        return self.record(message, received_at)

    def reject(self, frames: Sequence[bytes], error: str, received_at: float) -> None:
        """Count one received message that failed validation and keep its frames in ``rejected``."""
        self._received += 1
        self._reject(frames, error, received_at)

    def _reject(self, frames: Sequence[bytes], error: str, received_at: float) -> None:
        self._malformed += 1
        log.warning("recorder: malformed message rejected: %s", error)
        self._begin()
        shown = json.dumps([f[:65536].decode("utf-8", "replace") for f in frames])
        self._db.execute("INSERT INTO rejected (received_at, error, frames) VALUES (?, ?, ?)",
                         (received_at, error, shown))

    def record(self, message: Message, received_at: float) -> Gap | None:
        """Record one validated message; returns the gap it revealed, if any."""
        self._received += 1
        self._begin()
        event = message.event
        cur = self._db.execute(
            "INSERT OR IGNORE INTO events (publisher_id, seq, topic, family, venue, kind, type, client_order_id,"
            " pair, event_time, published_at, received_at, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                message.publisher_id,
                message.seq,
                message.topic,
                message.family,
                message.venue,
                message.kind,
                message.type_name,
                _opt_str(event.get("client_order_id")),
                _opt_str(event.get("pair")),
                message.timestamp,
                message.ts,
                received_at,
                message.payload.decode("utf-8"),
            ),
        )
        if cur.rowcount == 0:
            self._duplicates += 1
            return None
        self._recorded += 1
        gap = self._check_sequence(message, received_at)
        cid = event.get("client_order_id")
        if message.family == DEFAULT_FAMILY and isinstance(cid, str) and cid:  # "": a fill with no known order
            self._apply_order_event(message)
        for trade in _trades_in(event):
            self._insert_fill(message, trade)
        return gap

    def _check_sequence(self, message: Message, received_at: float) -> Gap | None:
        pid, seq = message.publisher_id, message.seq
        state = self._publishers.get(pid)
        gap = None
        if state is None:
            self._publishers[pid] = _PublisherState(seq)
            self._db.execute(
                "INSERT INTO publishers VALUES (?, ?, ?, ?, ?, ?, 1)", (pid, message.venue, seq, seq, received_at,
                                                                        received_at))
            if seq != 1:
                log.info("recorder: joined publisher %s at seq %d (earlier events were sent before we "
                         "subscribed)", pid, seq)
            else:
                log.info("recorder: new publisher %s (a publisher start or restart; not a gap)", pid)
            return None
        if seq > state.last_seq + 1:
            gap = Gap(pid, state.last_seq + 1, seq - 1)
            self._gaps += 1
            self._missing += gap.missing
            self._db.execute(
                "INSERT INTO gaps (publisher_id, first_missing, last_missing, missing, detected_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (pid, gap.first_missing, gap.last_missing, gap.missing, received_at),
            )
            log.warning("recorder: gap from publisher %s: seq %d..%d missing (%d events)",
                        pid, gap.first_missing, gap.last_missing, gap.missing)
        elif seq <= state.last_seq:
            # not stored before (INSERT OR IGNORE succeeded) yet older: one of the gap's events arriving late
            # through a second connection.  Recorded; the gap row stays as the record of the disorder.
            log.info("recorder: publisher %s seq %d arrived after seq %d", pid, seq, state.last_seq)
        state.last_seq = max(state.last_seq, seq)
        state.unflushed += 1
        state.last_seen = received_at
        return gap

    def _apply_snapshot(self, message: Message) -> None:
        """An ``OrderSnapshot`` (sent to late joiners): a new row takes it whole; a known row only gains the
        columns it lacks - a snapshot is a state, not a transition, and may be older than events already here."""
        event = message.event
        cid = event["client_order_id"]
        known = self._db.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (cid,)).fetchone()
        present = {c: _sql_scalar(event[c]) for c in _ORDER_COLUMNS
                   if event.get(c) is not None and not isinstance(event[c], dict | list)}
        if known:
            if present:
                sets = ", ".join(f"{c} = COALESCE({c}, ?)" for c in present)
                self._db.execute(f"UPDATE orders SET {sets} WHERE client_order_id = ?", (*present.values(), cid))
            return
        state = event.get("state") if isinstance(event.get("state"), str) else None
        values: dict[str, Any] = {
            "client_order_id": cid,
            "venue": message.venue,
            "state": state,
            "created_at": message.timestamp,
            "updated_at": message.timestamp,
            "last_kind": message.kind,
            "publisher_id": message.publisher_id,
            "last_seq": message.seq,
            **present,
        }
        self._db.execute(_upsert_order_sql(tuple(values)), tuple(values.values()))
        self._db.execute(
            "INSERT INTO state_history (client_order_id, kind, from_state, to_state, note, event_time,"
            " publisher_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, message.kind, None, state, "joined late: state from a snapshot", message.timestamp,
             message.publisher_id, message.seq),
        )

    def _apply_order_event(self, message: Message) -> None:
        if message.kind == "snapshot":
            self._apply_snapshot(message)
            return
        event = message.event
        cid = event["client_order_id"]
        row = self._db.execute(
            "SELECT state, created_at FROM orders WHERE client_order_id = ?", (cid,)
        ).fetchone()
        from_state, created_at = (row[0], row[1]) if row else (None, None)
        to_state = from_state
        note = None
        implied = _KIND_STATES.get(message.kind)
        new_state = implied.value if implied is not None else None
        if message.kind in _OWN_STATE_KINDS and isinstance(event.get("state"), str):
            new_state = event["state"]
        if new_state is not None:
            if from_state in _TERMINAL_VALUES and new_state not in _TERMINAL_VALUES:
                note = f"refused {from_state} -> {new_state}: terminal states are absorbing"
                log.warning("recorder: order %s: %s", cid, note)
            else:
                to_state = new_state
        if message.kind == "anomaly":
            note = f"{event.get('kind')}: {event.get('detail')}"
        elif message.kind == "cancel_rejected" and note is None:
            note = f"cancel refused: {event.get('reason')}"
        elif message.kind == "modify_rejected" and note is None:
            note = (f"modify refused: {event.get('reason')} (requested price {event.get('requested_price')}, "
                    f"amount {event.get('requested_amount')})")
        values: dict[str, Any] = {
            "client_order_id": cid,
            "venue": message.venue,
            "state": to_state,
            "created_at": created_at if created_at is not None else message.timestamp,
            "updated_at": message.timestamp,
            "last_kind": message.kind,
            "publisher_id": message.publisher_id,
            "last_seq": message.seq,
        }
        for column in _ORDER_COLUMNS:
            if column == "reason" and message.kind in _REFUSAL_KINDS:
                continue  # the refusal of a request, not the order's own reason (it is in the note)
            value = event.get(column)
            if value is not None and not isinstance(value, dict | list):
                values[column] = _sql_scalar(value)
        if "side" not in values:
            # A fill carries the order's side: a row first seen through its fill still gets one.
            trade = event.get("trade")
            if isinstance(trade, dict) and isinstance(trade.get("side"), str):
                values["side"] = trade["side"]
        self._db.execute(_upsert_order_sql(tuple(values)), tuple(values.values()))
        self._db.execute(
            "INSERT INTO state_history (client_order_id, kind, from_state, to_state, note, event_time,"
            " publisher_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, message.kind, from_state, to_state, note, message.timestamp, message.publisher_id, message.seq),
        )

    def _insert_fill(self, message: Message, trade: Mapping[str, Any]) -> None:
        cid = trade.get("client_order_id") or message.event.get("client_order_id")
        if not isinstance(cid, str):
            cid = ""
        is_taker = trade.get("is_taker")
        cur = self._db.execute(
            "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                message.venue,
                str(trade["trade_id"]),
                cid,
                _opt_str(trade.get("exchange_order_id")),
                _opt_str(trade.get("pair")),
                str(trade["fill_price"]),
                str(trade["fill_amount"]),
                _opt_str(trade.get("fee")),
                _opt_str(trade.get("fee_asset")),
                None if is_taker is None else int(bool(is_taker)),
                _time_or_none(trade.get("timestamp")),
                message.kind,
                message.publisher_id,
                message.seq,
            ),
        )
        self._fills += cur.rowcount


@functools.cache
def _upsert_order_sql(columns: tuple[str, ...]) -> str:
    """The upsert for one set of present columns (a handful of distinct sets: one per event kind)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("client_order_id", "created_at"))
    return (
        f"INSERT INTO orders ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        f" ON CONFLICT (client_order_id) DO UPDATE SET {updates}"
    )


_SQLITE_INT = range(-(2**63), 2**63)


def _sql_scalar(value: Any) -> Any:
    """A JSON scalar as SQLite can store it: integers beyond 64 bits become their text (SQLite would raise)."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _SQLITE_INT:
        return str(value)
    return value


def _time_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _trades_in(event: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Nested objects that look like a ``TradeUpdate`` (found by shape, so new event classes work)."""
    for value in event.values():
        if isinstance(value, dict) and value.keys() >= _TRADE_KEYS:
            yield value


# --------------------------------------------------------------------------------------------- the task


class EventRecorder:
    """Subscribes to one or more publishers and writes what arrives into an ``EventStore``."""

    def __init__(
        self,
        store: EventStore,
        connect: str | Sequence[str],
        *,
        rcvhwm: int = DEFAULT_RCVHWM,
        context: zmq.Context[Any] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.endpoints = (connect,) if isinstance(connect, str) else tuple(connect)
        if not self.endpoints:
            raise ValueError("connect: give at least one publisher endpoint")
        self._rcvhwm = rcvhwm
        self._context = context or zmq.Context.instance()
        self._wall_clock = wall_clock
        self._progress = trio.Event()

    def statistics(self) -> RecorderStatistics:
        return self.store.statistics()

    async def wait_until(self, predicate: Callable[[RecorderStatistics], bool]) -> RecorderStatistics:
        """Wait (without polling) until ``predicate(statistics())`` holds after a committed batch."""
        while True:
            stats = self.statistics()
            if predicate(stats):
                return stats
            await self._progress.wait()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, subscribe to everything and record until cancelled.

        Everything, not a topic subset: sequence numbers are per publisher across all topics, so a
        filtered subscription would see every other family as a gap.
        """
        socket = self._context.socket(zmq.SUB)
        reader = MessageReader(socket)
        try:
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RCVHWM, self._rcvhwm)
            socket.setsockopt(zmq.SUBSCRIBE, b"")
            for endpoint in self.endpoints:
                socket.connect(endpoint)
            task_status.started()
            fd = int_option(socket, zmq.FD)
            while True:
                if self._drain(reader, _BATCH) == _BATCH or readable(socket):
                    # the socket may hold more: yield, then drain again instead of waiting on the FD
                    await trio.lowlevel.checkpoint()
                else:
                    # EVENTS just said "nothing", with no socket call since: the FD will fire for what comes
                    await trio.lowlevel.wait_readable(fd)
        except (trio.Cancelled, KeyboardInterrupt):
            # stopping (Ctrl-C, scope cancelled): what already reached our socket is written, not thrown away
            self._drain(reader, self._rcvhwm or _BATCH)
            raise
        finally:
            self.store.commit()
            socket.close(linger=0)

    def _drain(self, reader: MessageReader, limit: int) -> int:
        """Record up to ``limit`` messages that can be received right now, commit, and wake waiters.

        Returns how many were handled; fewer than ``limit`` means the socket said "nothing more" (EAGAIN).
        """
        handled = 0
        store = self.store
        clock = self._wall_clock
        while handled < limit:
            try:
                message = reader.receive()
            except zmq.Again:
                break
            except MalformedMessage as exc:
                store.reject(exc.frames, str(exc), clock())
            else:
                store.record(message, clock())
            handled += 1
        if handled:
            store.commit()
            self._progress.set()
            self._progress = trio.Event()
        return handled


async def serve_recorder(
    connect: str | Sequence[str],
    db_path: str | os.PathLike[str],
    *,
    rcvhwm: int = DEFAULT_RCVHWM,
    task_status: trio.TaskStatus[EventRecorder] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Record everything from ``connect`` into ``db_path`` until cancelled; ``started(recorder)``."""
    with EventStore(db_path) as store:
        recorder = EventRecorder(store, connect, rcvhwm=rcvhwm)
        await recorder.serve(task_status=_Forward(task_status, recorder))


@attrs.frozen
class _Forward:
    """Hands the recorder (not None) to whoever started ``serve_recorder``."""

    inner: trio.TaskStatus[EventRecorder]
    recorder: EventRecorder

    def started(self, value: None = None) -> None:
        self.inner.started(self.recorder)


# --------------------------------------------------------------------------------------- command line


def record_main(connect: Sequence[str], db_path: str | os.PathLike[str], *, rcvhwm: int = DEFAULT_RCVHWM) -> int:
    """``trio-hl record``: run the recorder until Ctrl-C, then print what it did.  Returns the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with EventStore(db_path) as store:
        recorder = EventRecorder(store, connect, rcvhwm=rcvhwm)

        async def run() -> None:
            log.info("recording %s into %s (Ctrl-C to stop)", ", ".join(recorder.endpoints), store.path)
            await recorder.serve()

        interrupted = False
        try:
            trio.run(run)
        except BaseException as exc:
            if not is_interrupt(exc):
                raise
            interrupted = True  # Ctrl-C is how a recording ends; the store commits
        stats = store.statistics()
    print(f"recorded {stats.recorded} events ({stats.duplicates} duplicates, {stats.malformed} malformed, "
          f"{stats.fills} fills) from {stats.publishers} publishers; {stats.gaps} gaps, {stats.missing} missing")
    # 130 like any command stopped by Ctrl-C (the shell's convention), after the summary above.
    return EXIT_INTERRUPTED if interrupted else 0
