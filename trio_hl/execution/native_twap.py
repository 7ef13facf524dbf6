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

Limits (documented, not hidden): no pre-trade risk check (``conn.risk``) and no kill-switch coverage
(``conn.kill()`` cancels orders, not TWAPs); no state file or resume — a TWAP runs on the venue, so after a
restart look it up with ``twapHistory`` and cancel it there; a ``twapOrder`` whose answer was lost
(``AmbiguousOutcomeError``) is looked up in ``twapHistory`` (a new TWAP with the same coin, side and size) and
adopted, else the run raises ``ExecutionError`` without knowing whether it runs.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import attrs
import trio

from trio_hl.core.types import Side, to_decimal
from trio_hl.errors import AmbiguousOutcomeError, InvalidOrderError, TransportError
from trio_hl.execution._base import ExecutionError, ExecutionStatus
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
    CANCELLED (the caller's scope ended the run; the venue TWAP was cancelled)."""

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
    it on the venue too (shielded, bounded by ``cleanup_timeout_s``).  ``report()`` is the progress at any time.

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
        """Cancel the TWAP on the venue (from ``run()``'s task) and let ``run()`` return STOPPED."""
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

        Raises ``ExecutionError`` when the venue refuses the TWAP (its text, e.g. ``Invalid TWAP duration``) or
        when a lost answer cannot be resolved; transport errors of the start propagate (nothing was started)."""
        if self._started:
            raise RuntimeError("NativeTwap.run() is single use")
        self._started = True
        return await self._run(self._info if self._info is not None else self.conn.info)

    # -------------------------------------------------------------------------------------------- run
    async def _run(self, info: InfoClient) -> NativeTwapReport:
        p = self.params
        known = {e.twap_id for e in await self._history(info)}
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
            await self._follow(info)
        except BaseException as exc:
            await self._cancel_on_exit(info)
            if _only_cancelled(exc):
                self._status = ExecutionStatus.CANCELLED
            raise
        return self.report()

    async def _follow(self, info: InfoClient) -> None:
        while True:
            await self._poll(info)
            venue = self._venue
            if venue is not None and venue.is_terminal:
                self._finish(venue)
                return
            with trio.move_on_after(self.poll_interval_s):
                await self._stop.wait()
            if self._stop.is_set():
                await self._cancel(info)
                self._status = ExecutionStatus.STOPPED
                return

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
