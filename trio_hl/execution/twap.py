"""Client-side TWAP: a total size cut into IOC slices sent at a fixed interval, each bounded by a worst price.

Rule followed: each slice is an IOC limit order at the most aggressive price the caller allows: ``mid × (1 ±
max_slippage)``, tightened to ``limit_price`` when both are given (the connector then rounds a limit price on
the passive side, so rounding never loosens the bound).  With neither, a slice is a MARKET order priced by the
connector's ``market_slippage``.  What a slice does not fill carries over: slice ``i`` asks for
``(target - settled) / slices_left``, floored to the lot size, raised to the venue's minimum order value when
possible, never above what is left (see ``trio_hl.execution._base`` for why this can never over-execute).
Randomization (``randomize`` in [0, 1), seeded) moves each slice's time by up to ± half an interval and its
size by up to ± ``randomize``: a fixed, predictable rhythm is what other participants learn to trade against.

A resumed TWAP sends its remaining slices at the original interval from the moment it resumes.  Rejected
alternative: catching up on the slices missed while it was down - that is a burst, the thing a TWAP exists to
avoid.  Hyperliquid's native TWAP (``twapOrder``) is :class:`~trio_hl.execution.NativeTwap`; this slicer is for
when the caller wants its own interval, slice count and a price bound per slice (the venue's is a fixed 30 s and
3 % slippage), or a state file that resumes after a restart.  The connector's kill switch ends the run at once,
between slices too (status KILLED; see ``trio_hl.execution._base``).
"""

from __future__ import annotations

import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import attrs
import trio

from trio_hl.core.connector import Connector
from trio_hl.core.types import OrderParams, OrderType, Side, TimeInForce, to_decimal, to_positive_decimal
from trio_hl.errors import InvalidOrderError
from trio_hl.execution._base import ExecutionAlgo, ResumeMode, SliceProbe, SliceRunner

__all__ = ["Twap", "TwapParams", "plan_slice"]

_ZERO = Decimal(0)
_ONE = Decimal(1)



def _total(value: object) -> Decimal:
    return to_positive_decimal(value, "total")


def _limit_price(value: object) -> Decimal | None:
    return None if value is None else to_positive_decimal(value, "limit_price")


def _max_slippage(value: object) -> Decimal | None:
    return None if value is None else to_positive_decimal(value, "max_slippage")


def _fraction(value: object) -> Decimal:
    d = to_decimal(value, "randomize")
    if not _ZERO <= d < _ONE:
        raise InvalidOrderError(f"randomize must be in [0, 1), got {d}")
    return d


@attrs.frozen
class TwapParams:
    """What to execute.  ``slices`` orders over ``duration_s`` seconds (one every ``duration_s / slices``, the
    first at once).  ``limit_price`` is the worst price any slice may trade at; ``max_slippage`` (a fraction, e.g.
    ``Decimal("0.002")``) bounds each slice around the mid at the time it is sent."""

    pair: str
    side: Side
    total: Decimal = attrs.field(converter=_total)
    duration_s: float
    slices: int
    limit_price: Decimal | None = attrs.field(default=None, converter=_limit_price)
    max_slippage: Decimal | None = attrs.field(default=None, converter=_max_slippage)
    randomize: Decimal = attrs.field(default=_ZERO, converter=_fraction)
    seed: int | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise InvalidOrderError(f"side must be a Side, got {self.side!r}")
        if isinstance(self.slices, bool) or not isinstance(self.slices, int) or self.slices < 1:
            raise InvalidOrderError(f"slices must be an int >= 1, got {self.slices!r}")
        if not self.duration_s >= 0:
            raise InvalidOrderError(f"duration_s must be >= 0, got {self.duration_s!r}")
        if self.max_slippage is not None and self.max_slippage >= 1:
            raise InvalidOrderError(f"max_slippage must be < 1, got {self.max_slippage}")

    @property
    def interval_s(self) -> float:
        return self.duration_s / self.slices


def plan_slice(remaining: Decimal, slices_left: int, step: Decimal, *, min_amount: Decimal = _ZERO,
               jitter: Decimal = _ZERO) -> Decimal:
    """The next slice's amount: an even share of ``remaining`` scaled by ``1 + jitter``, floored to ``step``,
    raised to ``min_amount`` (rounded up to the step) when below it, and never above ``remaining`` floored to
    the step.  The last slice takes everything left.  Pure, so the over-execution bound is testable alone."""
    if remaining <= 0 or slices_left < 1:
        return _ZERO
    cap = (remaining / step).to_integral_value(ROUND_FLOOR) * step
    share = remaining if slices_left == 1 else remaining / slices_left * (_ONE + jitter)
    amount = (share / step).to_integral_value(ROUND_FLOOR) * step
    if amount < min_amount:
        amount = (min_amount / step).to_integral_value(ROUND_CEILING) * step
    return max(_ZERO, min(amount, cap))


class Twap(ExecutionAlgo):
    """A client-side TWAP on one connector.  Start ``run()`` in your nursery; cancel its scope or call
    :meth:`stop` to end it early (the live slice is cancelled and settled).  ``report()`` is the progress at any
    time and the final result after ``run()`` ends, however it ended.

    ``state_path``: JSON state file; a new ``Twap`` with the same path and params resumes (``resume=STOP``: cancel
    the journaled live slice and stop).  Resuming is exact only if the connector can tell what the journaled live
    slice did: its own ``journal_path`` or the venue's ``orderStatus`` (the default ``probe``) answers that.
    """

    kind = "twap"
    params: TwapParams

    def __init__(self, conn: Connector, params: TwapParams, *, state_path: Path | str | None = None,
                 resume: ResumeMode = ResumeMode.CONTINUE, probe: SliceProbe | None = None,
                 cleanup_timeout_s: float = 10.0) -> None:
        if not isinstance(params, TwapParams):
            raise TypeError(f"params must be TwapParams, got {type(params).__name__}")
        super().__init__(conn, params, pair=params.pair, side=params.side, target=params.total,
                         state_path=state_path, resume=resume, probe=probe, cleanup_timeout_s=cleanup_timeout_s)

    async def _work(self, runner: SliceRunner) -> None:
        await self._slices(runner)

    async def _slices(self, runner: SliceRunner) -> None:
        params, p = self.params, self.progress
        rng = random.Random(params.seed)
        for _ in range(p.slices_sent + p.slices_failed):  # resume: the same jitter sequence continues
            _draw(rng, params.randomize)
        interval = params.interval_s
        start = trio.current_time()
        index = 0
        while p.filled < params.total and p.slices_sent + p.slices_failed < params.slices:
            time_jitter, size_jitter = _draw(rng, params.randomize)
            due = start + interval * index + (float(time_jitter) * interval / 2 if index else 0.0)
            index += 1
            if await self.wait_stop_until(due):
                return
            order = self._slice_order(params.total - p.filled, params.slices - p.slices_sent - p.slices_failed,
                                      size_jitter)
            if order is None:
                p.slices_failed += 1
                runner.state.save(p)
                continue
            cid = runner.place(order)
            if cid is None:
                continue
            await runner.settle(cid, await runner.wait_terminal(cid))

    def _slice_order(self, remaining: Decimal, slices_left: int, jitter: Decimal) -> OrderParams | None:
        params = self.params
        price = self._slice_price()
        if price is None and (params.max_slippage is not None or params.limit_price is not None):
            return None  # a bounded slice cannot be priced without a mid: skip rather than trade unbounded
        reference = price if price is not None else self.conn.mid(params.pair)
        min_amount = _ZERO
        rule = self.rule
        if reference is not None and rule.min_notional > 0:
            min_amount = rule.min_notional / reference
        amount = plan_slice(remaining, slices_left, rule.size_step, min_amount=min_amount, jitter=jitter)
        if amount <= 0:
            return None
        try:
            if price is None:
                return OrderParams(params.pair, amount, order_type=OrderType.MARKET)
            return OrderParams(params.pair, amount, price, order_type=OrderType.LIMIT, tif=TimeInForce.IOC)
        except InvalidOrderError:
            return None

    def _slice_price(self) -> Decimal | None:
        params = self.params
        buy = params.side is Side.BUY
        price: Decimal | None = None
        if params.max_slippage is not None:
            mid = self.conn.mid(params.pair)
            if mid is None:
                return None
            price = mid * (_ONE + params.max_slippage) if buy else mid * (_ONE - params.max_slippage)
        if params.limit_price is not None:
            if price is None:
                price = params.limit_price
            else:
                price = min(price, params.limit_price) if buy else max(price, params.limit_price)
        return price


def _draw(rng: random.Random, randomize: Decimal) -> tuple[Decimal, Decimal]:
    """Two jitters in [-randomize, randomize] (time, size); drawn even when ``randomize`` is 0 so the sequence
    position equals the slice index on resume."""
    t = Decimal(rng.randint(-1000, 1000)) / 1000 * randomize
    s = Decimal(rng.randint(-1000, 1000)) / 1000 * randomize
    return t, s
