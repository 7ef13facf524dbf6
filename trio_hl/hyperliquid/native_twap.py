"""Hyperliquid's native TWAP (``twapOrder``) driven from a connector: start it, follow it, cancel it.

Rule followed (PROTOCOL §3.2, §4.3).  The venue slices the order itself: one market suborder every 30 s for
``minutes`` minutes, each bounded by 3 % slippage, catching up missed size up to 3× a suborder.  So the client's
job is small: send one signed ``twapOrder`` (through the connector's submit worker, so it shares the connector's
nonces and retries), read the TWAP's id from the answer, follow its progress, and send ``twapCancel`` when asked
to stop — or when the caller's cancel scope ends the run, because a venue TWAP left running after its owner gave
up is exactly the fire-and-forget this package avoids.

Progress is *polled*, not streamed: suborders carry no cloid and are not orders the connector placed, so its
tracker sees their fills as foreign (they surface, if at all, as ``UnmatchedFill``) and ``conn.position()`` does
not include them.  Every ``poll_interval_s`` the run asks ``/info`` for ``userTwapSliceFills`` (the fills, for
the executed size and the average price) and ``twapHistory`` (the status: ``activated``, ``finished``,
``terminated`` or ``error`` with its reason).  Both weigh 20 plus 1 per 20 items returned, so the 10 s default
spends about 240 of the 1200/min IP budget; raise it for long TWAPs.  The venue serves only the 2000 most recent
slice fills; the executed size is the larger of their sum and ``twapHistory``'s ``executedSz``.

Rejected alternative: following the fills on the connector's ``userFills`` stream filtered by ``twapId``.  The
parsed ``TradeUpdate`` has no ``twapId`` and the tracker, not this module, owns that stream; polling two cheap
info types is honest about what is known and survives WebSocket reconnects without a gap-fill of its own.

Risk (``conn.risk``, ``trio_hl.core.risk``).  A ``twapOrder`` commits the account to
``total`` without being an order the connector tracks, so it gets the connector's check the way an order
would, before anything is sent: ``run()`` raises the same ``RiskBreachError`` as ``buy()``/``sell()`` when the
kill switch is engaged or the whole ``total``, judged as one order at the current mid, breaches
``max_order_size``, ``max_order_notional``, ``max_position`` (counting the position and our resting orders on
that side) or ``max_account_notional`` (:meth:`RiskManager.check_exposure`; reduce-only relief as for orders).
The price band, open-order counts and order rate do not apply: it has no price, rests nothing, is not an order.
Judging the total rather than one suborder is deliberate: the venue executes all of it (a suborder catches up
to 3× its size) and nothing on this side can take it back short of the kill switch.

Kill switch.  ``conn.kill()`` cancels the connector's orders; a venue TWAP is not one, and left alone it goes
on trading for up to 24 h.  So ``run()`` takes the connector's ``KillSignal`` before it starts, and between
polls it waits on "poll timer, ``stop()`` or kill" (a small nursery, no callback): once the switch engages the
run sends ``twapCancel`` at once — not at the next poll — polls once for what executed, and returns status
KILLED (``venue_status`` ``terminated``).  A kill engaged while the ``twapOrder`` is in flight is seen as soon
as the answer arrives: the TWAP is cancelled right after the venue accepted it.  Rejected alternative: report
STOPPED, as for ``stop()`` — the caller would not know the risk layer, not its own code, ended it.  The
connector's position limit does not see a running TWAP's unexecuted rest (only its fills, as they happen), so
two TWAPs each within ``max_position`` can together exceed it.

Limits (documented, not hidden): no state file or resume — a TWAP runs on the venue, so after a restart look it
up with ``twapHistory`` and cancel it there; a ``twapOrder`` whose answer was lost (``AmbiguousOutcomeError``)
is looked up in ``twapHistory`` (a new TWAP with the same coin, side and size) and adopted, else the run raises
``ExecutionError`` without knowing whether it runs.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import attrs
import trio

from trio_hl.core.risk import KillSignal
from trio_hl.core.types import Side, to_decimal
from trio_hl.errors import AmbiguousOutcomeError, InvalidOrderError, TransportError
from trio_hl.execution._base import ExecutionError, ExecutionStatus, wait_first
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.connector import HyperliquidConnector
from trio_hl.hyperliquid.messages import (
    TwapHistoryEntry,
    parse_twap_cancel_response,
    parse_twap_history,
    parse_twap_order_response,
    parse_twap_slice_fills,
)
from trio_hl.hyperliquid.rest import InfoClient

__all__ = ["MAX_TWAP_MINUTES", "MIN_TWAP_MINUTES", "NativeTwap", "NativeTwapParams", "NativeTwapReport"]

logger = logging.getLogger("trio_hl.execution")

#: The venue's documented duration range (5 minutes to 24 hours); outside it the venue answers
#: ``Invalid TWAP duration: N min(s)``, so the params refuse it at the call instead.
MIN_TWAP_MINUTES = 5
MAX_TWAP_MINUTES = 1440
_ZERO = Decimal(0)


def _total(value: object) -> Decimal:
    d = to_decimal(value, "total")
    if d <= 0:
        raise InvalidOrderError(f"total must be > 0, got {d}")
    return d


@attrs.frozen
class NativeTwapParams:
    """What the venue should execute: ``total`` of ``pair`` on ``side`` over ``minutes`` (5 … 1440), optionally
    reduce-only and with the venue's randomized suborders."""

    pair: str
    side: Side
    total: Decimal = attrs.field(converter=_total)
    minutes: int
    reduce_only: bool = False
    randomize: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise InvalidOrderError(f"side must be a Side, got {self.side!r}")
        if type(self.minutes) is not int or not MIN_TWAP_MINUTES <= self.minutes <= MAX_TWAP_MINUTES:
            raise InvalidOrderError(
                f"minutes must be an int from {MIN_TWAP_MINUTES} to {MAX_TWAP_MINUTES}, got {self.minutes!r}")


@attrs.frozen
class NativeTwapReport:
    """Where a native TWAP stands.  ``filled``/``average_price`` are the venue's (polled, so up to one poll
    interval old while running); ``venue_status`` is ``twapHistory``'s (None before the first answer) and
    ``description`` its reason for an ``error``.  ``status``: COMPLETED (all executed), EXHAUSTED (the venue
    finished or errored short of the total), STOPPED (``stop()`` or someone cancelled it on the venue),
    KILLED (the connector's kill switch engaged; the venue TWAP was cancelled), CANCELLED (the caller's scope
    ended the run; the venue TWAP was cancelled)."""

    twap_id: int | None
    pair: str
    side: Side
    target: Decimal
    filled: Decimal
    average_price: Decimal | None
    status: ExecutionStatus
    venue_status: str | None
    description: str | None

    @property
    def remaining(self) -> Decimal:
        return self.target - self.filled


class NativeTwap:
    """A venue-run TWAP on one connector.  ``await run()`` (or start it in your nursery) returns the final
    report; :meth:`stop` cancels it on the venue and lets ``run()`` return; cancelling the caller's scope cancels
    it on the venue too (shielded, bounded by ``cleanup_timeout_s``); so does ``conn.kill()`` (status KILLED).
    ``run()`` refuses to start what the connector's risk limits would refuse.  ``report()`` is the progress at
    any time.

    ``info``: an ``InfoClient`` to poll with (default: the connector's own, so polls share its IP rate
    limiter).  ``poll_interval_s``: seconds between progress polls (see the module doc for their weight).
    """

    def __init__(self, conn: HyperliquidConnector, params: NativeTwapParams, *, info: InfoClient | None = None,
                 poll_interval_s: float = 10.0, cleanup_timeout_s: float = 10.0) -> None:
        if not isinstance(params, NativeTwapParams):
            raise TypeError(f"params must be NativeTwapParams, got {type(params).__name__}")
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
        self.conn = conn
        self.params = params
        self.asset = conn.registry.by_pair(params.pair)
        if wire.floor_size(params.total, self.asset.sz_decimals) != params.total:
            raise InvalidOrderError(
                f"total {params.total} is not a multiple of {params.pair}'s lot {self.asset.size_step}")
        self.poll_interval_s = poll_interval_s
        self.cleanup_timeout_s = cleanup_timeout_s
        self._info = info
        self._stop = trio.Event()
        self._accepted = trio.Event()
        self._started = False
        self.twap_id: int | None = None
        self._filled = _ZERO
        self._notional = _ZERO
        self._venue: TwapHistoryEntry | None = None
        self._status = ExecutionStatus.RUNNING
        self.polls = 0

    # ------------------------------------------------------------------------------------------ public
    def stop(self) -> None:
        """Cancel the TWAP on the venue (from ``run()``'s task) and let ``run()`` return STOPPED (KILLED if the kill
        switch engaged first)."""
        self._stop.set()

    async def wait_running(self) -> int:
        """Wait until the venue accepted the TWAP; its id.  (A refused TWAP makes ``run()`` raise instead, which
        ends a nursery waiting here too.)"""
        await self._accepted.wait()
        assert self.twap_id is not None
        return self.twap_id

    def report(self) -> NativeTwapReport:
        p = self.params
        venue = self._venue
        return NativeTwapReport(
            twap_id=self.twap_id, pair=p.pair, side=p.side, target=p.total, filled=self._filled,
            average_price=self._notional / self._filled if self._filled else None, status=self._status,
            venue_status=venue.status if venue is not None else None,
            description=venue.description if venue is not None else None,
        )

    async def run(self) -> NativeTwapReport:
        """Start the TWAP on the venue, follow it to its end, return the final report.  Single use.

        Raises ``RiskBreachError`` (a ``RiskLimitError``), before anything is sent, when the connector's kill
        switch is engaged or the total breaches its risk limits (see the module doc); ``ExecutionError`` when the
        venue refuses the TWAP (its text, e.g. ``Invalid TWAP duration``) or when a lost answer cannot be
        resolved; transport errors of the start propagate (nothing was started)."""
        if self._started:
            raise RuntimeError("NativeTwap.run() is single use")
        self._started = True
        kill = self.conn.risk.kill_signal()  # before the check: a kill from here on is seen by the run
        self._check_risk()
        return await self._run(self._info if self._info is not None else self.conn.info, kill)

    def _check_risk(self) -> None:
        """The connector's pre-trade check for the whole total as one order at the mid (``check_exposure``), with
        what the connector would count for an order: its position and our resting orders on this side."""
        p, conn = self.params, self.conn
        pair = self.asset.name
        resting = sum((o.amount - o.executed_amount for o in conn.open_orders() if o.pair == pair and o.side is p.side),
                      _ZERO)
        conn.risk.check_exposure(pair=pair, side=p.side, amount=p.total, reduce_only=p.reduce_only,
                                 reference_price=conn.mid(pair), position=conn.position(pair),
                                 pending_same_side_amount=resting, now=trio.current_time(),
                                 account_notional=(conn.account_notional()
                                                   if conn.risk.limits.max_account_notional is not None else None))

    # -------------------------------------------------------------------------------------------- run
    async def _run(self, info: InfoClient, kill: KillSignal) -> NativeTwapReport:
        p = self.params
        known = {e.twap_id for e in await self._history(info)}
        if kill.is_set():  # engaged while twapHistory was read: refused, as buy() would be
            self._check_risk()
        action = wire.twap_order_action(self.asset.asset_id, p.side is Side.BUY, p.total, p.reduce_only, p.minutes,
                                        p.randomize)
        try:
            answer = parse_twap_order_response(await self.conn.submit.send_single(action))
        except AmbiguousOutcomeError as exc:
            self.twap_id = await self._adopt(info, known, exc)
        else:
            if answer.error is not None:
                raise ExecutionError(f"the venue refused the TWAP: {answer.error}")
            self.twap_id = answer.twap_id
        self._accepted.set()
        try:
            await self._follow(info, kill)
        except BaseException as exc:
            await self._cancel_on_exit(info)
            if _only_cancelled(exc):
                self._status = ExecutionStatus.CANCELLED
            raise
        return self.report()

    async def _follow(self, info: InfoClient, kill: KillSignal) -> None:
        """Poll until the venue ends the TWAP; between polls wait for the timer, ``stop()`` or the kill switch."""
        while not (self._stop.is_set() or kill.is_set()):
            await self._poll(info)
            venue = self._venue
            if venue is not None and venue.is_terminal:
                self._finish(venue)
                return
            with trio.move_on_after(self.poll_interval_s):
                await wait_first(self._stop.wait, kill.wait)
        await self._cancel(info)
        if not kill.is_set():
            self._status = ExecutionStatus.STOPPED
        elif self._filled >= self.params.total:
            self._status = ExecutionStatus.COMPLETED  # it had finished on the venue before the kill: nothing lost
        else:
            self._status = ExecutionStatus.KILLED

    def _finish(self, venue: TwapHistoryEntry) -> None:
        if self._filled >= self.params.total:
            self._status = ExecutionStatus.COMPLETED
        elif venue.status == "terminated":
            self._status = ExecutionStatus.STOPPED  # cancelled on the venue by someone else
        else:
            self._status = ExecutionStatus.EXHAUSTED

    async def _cancel(self, info: InfoClient) -> None:
        """``twapCancel``, then one poll so the report holds what executed up to the cancel.  The venue's
        ``never placed, already canceled, or filled`` means it ended on its own first: not an error."""
        assert self.twap_id is not None
        answer = parse_twap_cancel_response(
            await self.conn.submit.send_single(wire.twap_cancel_action(self.asset.asset_id, self.twap_id)))
        if answer.error is not None:
            logger.info("twapCancel %s: %s", self.twap_id, answer.error)
        await self._poll(info)

    async def _cancel_on_exit(self, info: InfoClient) -> None:
        if self.twap_id is None or (self._venue is not None and self._venue.is_terminal):
            return
        with trio.move_on_after(self.cleanup_timeout_s) as scope:
            scope.shield = True
            await self._cancel(info)
        if scope.cancelled_caught:
            logger.error("TWAP %s: twapCancel not confirmed within %.1fs; it may still run on the venue",
                         self.twap_id, self.cleanup_timeout_s)

    # ------------------------------------------------------------------------------------------- venue
    async def _history(self, info: InfoClient) -> list[TwapHistoryEntry]:
        return parse_twap_history(await info.post({"type": "twapHistory", "user": self.conn.user}))

    async def _poll(self, info: InfoClient) -> None:
        """Refresh filled/notional (slice fills, or ``twapHistory``'s totals when larger) and the venue status."""
        self.polls += 1
        fills = parse_twap_slice_fills(await info.post({"type": "userTwapSliceFills", "user": self.conn.user}))
        seen: set[str] = set()
        filled = notional = _ZERO
        for item in fills:
            trade = item.trade
            if item.twap_id != self.twap_id or trade.trade_id in seen:
                continue
            seen.add(trade.trade_id)
            filled += trade.fill_amount
            notional += trade.fill_amount * trade.fill_price
        entry = next((e for e in await self._history(info) if e.twap_id == self.twap_id), None)
        if entry is not None:
            self._venue = entry
            if entry.executed_size > filled:  # older slice fills fell out of the 2000-item window
                filled, notional = entry.executed_size, entry.executed_notional
        self._filled, self._notional = filled, notional

    async def _adopt(self, info: InfoClient, known: set[int | None], cause: AmbiguousOutcomeError) -> int:
        """After a lost ``twapOrder`` answer: the one new TWAP with our coin, side and size, if the venue has it."""
        p = self.params
        for _ in range(3):
            try:
                history = await self._history(info)
            except TransportError as exc:
                logger.warning("twapHistory after an ambiguous twapOrder failed: %s", exc)
            else:
                new = [e for e in history if e.twap_id not in known and e.coin == self.asset.coin
                       and e.size == p.total and e.side is p.side]
                if len(new) == 1 and new[0].twap_id is not None:
                    return new[0].twap_id
                if len(new) > 1:
                    break
            await trio.sleep(self.poll_interval_s)
        raise ExecutionError(f"twapOrder outcome unknown ({cause}); check twapHistory and cancel it there if it runs")


def _only_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled)
