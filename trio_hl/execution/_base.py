"""What TWAP and iceberg share: the report, the JSON state file, the venue probe and the slice runner.

Rules followed (both algorithms, by construction):

* **One live slice at a time, sized from settled amounts only.**  A slice is sent only after the previous one is
  terminal *and settled*, and its amount is floored to the lot size and capped at ``target - settled``.  The venue
  cannot fill an order beyond its amount, so the sum of fills can never exceed the target.
* **Settled means the venue's number, not the stream's.**  A terminal event does not mean every fill has arrived:
  on this connector an IOC that partly matches is reported ``OrderCancelled`` (executed 0) *before* its fills come
  in as ``LateFill`` (measured against the emulator).  Sizing the next slice from ``executed_amount`` at that
  moment would over-execute.  So a slice that ends FILLED counts its full amount, one that ends FAILED (a
  definitive refusal) counts what was executed, and one that ends CANCELED short of its amount is settled by
  asking the venue (``orderStatus`` by cloid: ``origSz - sz``), whose answer for a cancelled order is final.
* **Write-ahead journal.**  The live slice's cid is written to the state file *before* ``buy()``/``sell()``, and
  progress after each slice settles.  After a restart the journaled live slice is found through the connector
  (its own journal knows every order it sent) or, failing that, through the same venue probe; an order the venue
  never saw counts zero.
* **The kill switch ends the run.**  ``conn.kill()`` refuses new orders and cancels the live slice itself; a
  running algorithm must not then spend its remaining schedule sending slices the connector refuses (the TWAP)
  or count the kill's cancel and refusals as failures until it gives up EXHAUSTED (the iceberg).  So ``run()``
  takes the connector's :class:`~trio_hl.core.risk.KillSignal` when it starts; once it is set the algorithm
  places nothing more, wakes from a wait between slices at once (the wait is on "next slice due, ``stop()`` or
  kill"), settles the slice the kill cancelled and returns status KILLED - final like STOPPED (a kill is a
  decision to stop trading: a later run with the same state file returns the report, it does not resume).  A
  run started while the switch is engaged sends nothing and returns KILLED.  Rejected alternative: treating
  the refusals as ordinary failed slices and the kill as an ordinary cancel - what this did before, ending a
  killed TWAP EXHAUSTED only at the end of its duration.

State file: one small JSON document per algorithm, replaced atomically (write a temporary file, fsync, rename).
Rejected alternative: SQLite, as the connector's journal uses.  The connector journals a high-rate append-only
stream and needs SQLite's torn-write recovery; an algorithm has one record of a few hundred bytes rewritten a few
times per slice, where rename-over is already all-or-nothing, needs no schema, and an operator can read (or
delete) it with a text editor.  The write is synchronous: it is small and happens at slice pace, and the
alternative (a worker thread) is something this package avoids.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import attrs
import trio

from trio_hl.core.connector import Connector, VenueOrderStatus
from trio_hl.core.events import Event
from trio_hl.core.order import InFlightOrder
from trio_hl.core.risk import KillSignal
from trio_hl.core.types import OrderParams, OrderState, Side
from trio_hl.errors import TransportError, TrioHLError

__all__ = [
    "ExecutionAlgo",
    "ExecutionError",
    "ExecutionReport",
    "ExecutionResumeError",
    "ExecutionStatus",
    "ResumeMode",
    "SliceProbe",
    "VenueSlice",
]

logger = logging.getLogger("trio_hl.execution")

_ZERO = Decimal(0)
STATE_VERSION = 1


class ExecutionError(TrioHLError):
    """An execution algorithm cannot go on (e.g. its connector closed while a slice was live)."""


class ExecutionResumeError(ExecutionError):
    """The state file cannot be resumed safely (other parameters, another algorithm, or a live slice whose fate
    cannot be established).  Nothing was sent."""


class ExecutionStatus(enum.Enum):
    """How a run ended (``RUNNING`` only in a snapshot taken while it runs)."""

    RUNNING = "running"
    #: The whole target was filled.
    COMPLETED = "completed"
    #: Every slice was used (TWAP) or too many slices failed in a row (iceberg); ``remaining`` > 0.
    EXHAUSTED = "exhausted"
    #: ``stop()`` was called, or a restart asked to stop: final, a later run returns this report.
    STOPPED = "stopped"
    #: The caller's cancel scope ended the run; the state file stays resumable.
    CANCELLED = "cancelled"
    #: The connector's kill switch (``conn.kill()``) ended the run short of its target: nothing more is sent, the
    #: live slice (native TWAP: the venue TWAP) was cancelled.  Final, like STOPPED.
    KILLED = "killed"

    @property
    def is_final(self) -> bool:
        """A state file in this status is never resumed (a new run returns the stored report)."""
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.EXHAUSTED, ExecutionStatus.STOPPED,
                        ExecutionStatus.KILLED)


class ResumeMode(enum.Enum):
    """What a run does when its state file shows an unfinished algorithm."""

    #: Settle (or adopt) the journaled live slice, then carry on to the target.
    CONTINUE = "continue"
    #: Cancel the journaled live slice, settle it, mark the state STOPPED and return; no new slice is sent.
    STOP = "stop"


@attrs.frozen
class ExecutionReport:
    """Where an algorithm stands (final once ``run()`` returned or was cancelled).

    ``filled`` is the venue-settled amount (see the module doc); ``average_price`` is over the fills the connector
    delivered (None before any).  ``slices_failed`` counts slices the venue refused, that could not be priced or
    sized, or (iceberg) that were cancelled by someone else.
    """

    algo_id: str
    kind: str
    pair: str
    side: Side
    target: Decimal
    filled: Decimal
    average_price: Decimal | None
    slices_sent: int
    slices_failed: int
    status: ExecutionStatus

    @property
    def remaining(self) -> Decimal:
        return self.target - self.filled


# ======================================================================================= venue probe


#: What the venue says about one of our orders (``filled`` is the venue's executed amount).  The name the
#: execution package used before :class:`~trio_hl.core.connector.VenueOrderStatus` moved to ``core``.
VenueSlice = VenueOrderStatus


class SliceProbe(Protocol):
    """Asks the venue about an order by client order id (``None``: the venue has never seen it).  The default is
    the connector's own :meth:`~trio_hl.core.connector.Connector.query_order`."""

    async def __call__(self, client_order_id: str) -> VenueOrderStatus | None: ...


# ======================================================================================= state file


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def params_to_json(params: Any) -> dict[str, Any]:
    """Algorithm params as a JSON object (Decimals as exact strings, enums by value)."""
    return {k: _encode(v) for k, v in attrs.asdict(params, recurse=False).items()}


@attrs.define
class Progress:
    """The mutable progress of one algorithm: exactly what the state file holds."""

    algo_id: str
    kind: str
    params: dict[str, Any]
    filled: Decimal = _ZERO
    #: Price x amount over fills the connector delivered, and that amount (for the average price).
    notional: Decimal = _ZERO
    priced: Decimal = _ZERO
    slices_sent: int = 0
    slices_failed: int = 0
    live_cid: str | None = None
    live_amount: Decimal | None = None
    status: ExecutionStatus = ExecutionStatus.RUNNING

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION, "algo_id": self.algo_id, "kind": self.kind, "params": self.params,
            "filled": str(self.filled), "notional": str(self.notional), "priced": str(self.priced),
            "slices_sent": self.slices_sent, "slices_failed": self.slices_failed, "live_cid": self.live_cid,
            "live_amount": None if self.live_amount is None else str(self.live_amount), "status": self.status.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Progress:
        if data.get("version") != STATE_VERSION:
            raise ExecutionResumeError(f"state file version {data.get('version')!r}, expected {STATE_VERSION}")
        try:
            live_amount = data.get("live_amount")
            return cls(
                algo_id=str(data["algo_id"]), kind=str(data["kind"]), params=dict(data["params"]),
                filled=Decimal(data["filled"]), notional=Decimal(data["notional"]), priced=Decimal(data["priced"]),
                slices_sent=int(data["slices_sent"]), slices_failed=int(data["slices_failed"]),
                live_cid=data.get("live_cid"), live_amount=None if live_amount is None else Decimal(live_amount),
                status=ExecutionStatus(data["status"]),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ExecutionResumeError(f"state file is malformed: {exc!r}") from exc


class StateFile:
    """The JSON state of one algorithm at ``path`` (``None``: kept in memory only, no resume)."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = None if path is None else Path(path)
        self.writes = 0

    def load(self) -> Progress | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExecutionResumeError(f"cannot read state file {self.path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ExecutionResumeError(f"state file {self.path} does not hold a JSON object")
        return Progress.from_json(data)

    def save(self, progress: Progress) -> None:
        """Atomically replace the file: a crash leaves the old or the new document, never a torn one."""
        self.writes += 1
        if self.path is None:
            return
        text = json.dumps(progress.to_json(), separators=(",", ":"), sort_keys=True)
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# ======================================================================================= waiting


async def wait_first(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as the first of ``waits`` returns (the others are cancelled).  For "``stop()`` or kill"
    waits; put a ``trio.move_on_*`` around it to add a timer."""
    async with trio.open_nursery() as nursery:
        for wait in waits:
            nursery.start_soon(_cancel_after, wait, nursery.cancel_scope)


async def _cancel_after(wait: Callable[[], Awaitable[object]], scope: trio.CancelScope) -> None:
    await wait()
    scope.cancel()


# ======================================================================================= slice runner


async def _next_event_for(events: trio.MemoryReceiveChannel[Event], cid: str) -> None:
    """Receive until an event about ``cid`` arrives.  The channel ends only when the connector closes."""
    while True:
        try:
            event = await events.receive()
        except trio.EndOfChannel:
            raise ExecutionError(f"the connector closed while slice {cid} was live") from None
        if event.client_order_id == cid:
            return


class SliceRunner:
    """Places one slice at a time through the public connector API, waits for it, settles it, journals it.

    Shared by :class:`~trio_hl.execution.Twap` and :class:`~trio_hl.execution.Iceberg` as a collaborator (not a
    base class): the algorithms decide *what* to send and when, this decides nothing.
    """

    def __init__(self, conn: Connector, side: Side, progress: Progress, state: StateFile,
                 probe: SliceProbe, target: Decimal) -> None:
        self.conn = conn
        self.side = side
        self.progress = progress
        self.state = state
        self.probe = probe
        self.target = target
        self._stop_requested = False

    # ---------------------------------------------------------------------------------- placing

    def place(self, params: OrderParams) -> str | None:
        """Journal the intent, then send.  Returns the cid, or None if the connector refused it at the call
        (counted as a failed slice; nothing reached the venue)."""
        p = self.progress
        if params.amount > self.target - p.filled:  # the invariant everything rests on; never reachable
            raise AssertionError(f"slice {params.amount} exceeds what is left ({self.target - p.filled})")
        cid = self.conn.new_client_order_id()
        p.live_cid, p.live_amount = cid, params.amount
        self.state.save(p)  # write-ahead: a crash after this line is resolved on restart
        try:
            sent = self.conn.buy(attrs.evolve(params, client_order_id=cid)) if self.side is Side.BUY else (
                self.conn.sell(attrs.evolve(params, client_order_id=cid)))
        except TrioHLError as exc:  # InvalidOrderError, RiskLimitError, a full submit queue: nothing was tracked
            logger.warning("%s slice refused at the call: %s", p.algo_id, exc)
            p.live_cid = p.live_amount = None
            p.slices_failed += 1
            self.state.save(p)
            return None
        p.slices_sent += 1
        return sent

    def request_stop(self) -> None:
        """Cancel the live slice now (``cancel()`` is synchronous); ``wait_terminal`` then sees it end."""
        self._stop_requested = True
        cid = self.progress.live_cid
        order = None if cid is None else self.conn.get_order(cid)
        if order is not None and not order.is_done:
            self.conn.cancel(order.pair, order.client_order_id)

    def _pair(self) -> str:
        return str(self.progress.params["pair"])

    async def wait_terminal(self, cid: str) -> InFlightOrder | None:
        """Wait (on events, no polling) until the connector shows ``cid`` terminal; None if it does not know it.

        Subscribes only for the wait, so an idle algorithm never holds back the connector's event pump."""
        with self.conn.events() as events:
            while True:
                order = self.conn.get_order(cid)
                if order is None or order.is_done:
                    return order
                if self._stop_requested and not order.cancel_requested:
                    self.conn.cancel(order.pair, cid)
                await _next_event_for(events, cid)

    async def wait_executed(self, cid: str, amount: Decimal) -> None:
        """Wait until the connector has delivered fills for ``amount`` of ``cid`` (for the average price)."""
        with self.conn.events() as events:
            while True:
                order = self.conn.get_order(cid)
                if order is None or order.executed_amount + order.overfill_amount >= amount:
                    return
                await _next_event_for(events, cid)

    # ---------------------------------------------------------------------------------- settling

    async def settle(self, cid: str, order: InFlightOrder | None, *, fill_wait_s: float = 5.0) -> Decimal:
        """The slice's definitive filled amount (see the module doc); updates and journals the progress."""
        p = self.progress
        amount = p.live_amount if p.live_amount is not None else _ZERO
        never_sent = False
        if order is not None and order.state is OrderState.FILLED:
            filled = order.amount
        elif order is not None and order.state is OrderState.FAILED:
            filled = order.executed_amount
        elif order is not None and order.executed_amount >= order.amount:
            filled = order.amount
        else:  # CANCELED short of its amount, or unknown to the connector (a restart): the venue decides
            venue = await self._probe(cid)
            if venue is None:
                filled = _ZERO  # never reached the venue (a crash between the journal write and buy())
                never_sent = order is None
            elif venue.state is not None and not venue.state.is_terminal:
                raise ExecutionResumeError(
                    f"slice {cid} is live on the venue but the connector does not track it; cancel it on the venue "
                    "(or run the connector with journal_path so it restores its orders) and resume"
                )
            else:
                filled = venue.filled
            if order is not None:  # never count less than the connector has seen: that would over-execute
                filled = max(filled, order.executed_amount)
        if filled > amount > 0:
            logger.error("slice %s: venue reports %s filled of %s", cid, filled, amount)
        if filled > 0 and order is not None:
            with trio.move_on_after(fill_wait_s):
                await self.wait_executed(cid, filled)
        if order is not None and order.executed_amount > 0:
            known = min(order.executed_amount, filled)
            avg = order.average_price
            if avg is not None:
                p.notional += avg * known
                p.priced += known
        p.filled += filled
        if filled == 0 and not never_sent and (order is None or order.state is not OrderState.CANCELED):
            p.slices_failed += 1
        p.live_cid = p.live_amount = None
        self.state.save(p)
        return filled

    async def _probe(self, cid: str) -> VenueOrderStatus | None:
        delay = 0.25
        while True:
            try:
                return await self.probe(cid)
            except TransportError as exc:
                logger.warning("orderStatus %s failed, retrying in %.2fs: %s", cid, delay, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def finish_live(self, *, cancel: bool) -> None:
        """Bring a journaled live slice to a settled end: adopt it (``cancel=False``) or cancel it first."""
        cid = self.progress.live_cid
        if cid is None:
            return
        order = self.conn.get_order(cid)
        if order is not None and not order.is_done:
            if cancel:
                self.request_stop()
            order = await self.wait_terminal(cid)
        await self.settle(cid, order)

    async def cleanup(self, timeout_s: float) -> None:
        """After a cancellation or an error: cancel and settle the live slice, shielded and bounded.  If the bound
        passes, the slice stays in the state file and the next run settles it."""
        if self.progress.live_cid is None:
            return
        with trio.move_on_after(timeout_s) as scope:
            scope.shield = True
            await self.finish_live(cancel=True)
        if scope.cancelled_caught:
            logger.error("%s: live slice %s not settled within %.1fs; the state file keeps it for the next run",
                         self.progress.algo_id, self.progress.live_cid, timeout_s)


# ======================================================================================= the run skeleton


class ExecutionAlgo:
    """The run/stop/report/resume skeleton both algorithms share; a subclass supplies ``kind`` and ``_work``.

    ``run()`` is started by the caller in its own nursery (nothing here starts background tasks).  Ending it:
    cancel the caller's scope (the live slice is cancelled and settled under a shielded, bounded cleanup; the state
    stays resumable, status CANCELLED) or call :meth:`stop` (same cleanup; the state becomes final, STOPPED).  The
    connector's kill switch ends it too (the connector cancels the live slice, the run settles it; final, KILLED:
    see the module doc).
    """

    kind = "algo"

    def __init__(self, conn: Connector, params: Any, *, pair: str, side: Side, target: Decimal,
                 state_path: Path | str | None, resume: ResumeMode, probe: SliceProbe | None,
                 cleanup_timeout_s: float) -> None:
        if not isinstance(resume, ResumeMode):
            raise TypeError(f"resume must be a ResumeMode, got {resume!r}")
        self.conn = conn
        self.params = params
        self.pair = pair
        self.side = side
        self.target = target
        self.resume = resume
        self.cleanup_timeout_s = cleanup_timeout_s
        #: The pair's lot size, price rule and minimum order value (``InvalidOrderError`` for an unknown pair).
        self.rule = conn.trading_rule(pair)
        self._state = StateFile(state_path)
        self._probe = probe
        self._stop = trio.Event()
        #: The connector's kill switch, watched from the start of ``run()``.
        self._kill: KillSignal | None = None
        self._started = False
        self._runner: SliceRunner | None = None
        stored = self._state.load()
        json_params = params_to_json(params)
        if stored is not None and (stored.kind != self.kind or stored.params != json_params):
            raise ExecutionResumeError(
                f"{state_path} holds a {stored.kind} with params {stored.params}, not this {self.kind} ({json_params})"
            )
        self.progress = stored or Progress(algo_id=uuid.uuid4().hex, kind=self.kind, params=json_params)

    @property
    def algo_id(self) -> str:
        return self.progress.algo_id

    @property
    def stop_requested(self) -> bool:
        """:meth:`stop` was called or the kill switch engaged since ``run()`` started: send nothing more."""
        return self._stop.is_set() or self.killed

    @property
    def killed(self) -> bool:
        """The connector's kill switch engaged since ``run()`` started (even if it was released again since)."""
        return self._kill is not None and self._kill.is_set()

    def report(self) -> ExecutionReport:
        """The progress now; the final result once ``run()`` has ended (returned, raised or was cancelled)."""
        p = self.progress
        return ExecutionReport(
            algo_id=p.algo_id, kind=self.kind, pair=self.pair, side=self.side, target=self.target, filled=p.filled,
            average_price=(p.notional / p.priced) if p.priced else None, slices_sent=p.slices_sent,
            slices_failed=p.slices_failed, status=p.status,
        )

    def stop(self) -> None:
        """Stop for good: cancel the live slice, settle it, mark the state STOPPED; ``run()`` then returns."""
        self._stop.set()
        if self._runner is not None:
            self._runner.request_stop()

    async def wait_stop_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` (Trio clock) unless :meth:`stop` or the kill switch comes first; True if so."""
        kill = self._kill
        if not self.stop_requested:
            with trio.move_on_at(deadline):
                if kill is None:
                    await self._stop.wait()
                else:
                    await wait_first(self._stop.wait, kill.wait)
        return self.stop_requested

    async def run(self) -> ExecutionReport:
        """Execute (or resume) to the end and return the final report.  Single use."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__}.run() is single use; make a new one (same state_path) to resume")
        self._started = True
        if self.progress.status.is_final:
            return self.report()
        self._kill = self.conn.risk.kill_signal()
        self.progress.status = ExecutionStatus.RUNNING
        return await self._run_with(self._probe if self._probe is not None else self.conn.query_order)

    async def _run_with(self, probe: SliceProbe) -> ExecutionReport:
        p = self.progress
        runner = self._runner = SliceRunner(self.conn, self.side, p, self._state, probe, self.target)
        try:
            stopping = self.resume is ResumeMode.STOP or self.stop_requested
            await runner.finish_live(cancel=stopping)  # a slice journaled by an earlier run: settle or adopt it
            if not stopping:
                await self._work(runner)
        except BaseException as exc:
            await runner.cleanup(self.cleanup_timeout_s)
            if _only_cancelled(exc):
                p.status = ExecutionStatus.CANCELLED
            self._state.save(p)
            raise
        if self._stop.is_set() or self.resume is ResumeMode.STOP:
            p.status = ExecutionStatus.STOPPED
        elif p.filled >= self.target:
            p.status = ExecutionStatus.COMPLETED
        elif self.killed:
            p.status = ExecutionStatus.KILLED
        else:
            p.status = ExecutionStatus.EXHAUSTED
        self._state.save(p)
        return self.report()

    async def _work(self, runner: SliceRunner) -> None:
        """Send slices until done or stopped (one live at a time, through ``runner``)."""
        raise NotImplementedError


def _only_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled)
