"""Iceberg: a large limit order shown ``visible`` at a time - one resting slice, the next only when it has filled.

Rule followed: at most one slice of at most ``visible`` rests on the venue at any moment, so the book never shows
more than ``visible`` of our size.  The next slice is placed only after the previous one is terminal *and
settled* (``trio_hl.execution._base``), sized ``min(visible, target - settled)`` floored to the lot size.
Rejected alternative: modifying the resting order's size up after each fill (one request instead of two).  On
Hyperliquid a modify re-keys the order and loses queue priority anyway, and a modify racing a fill could leave
more than ``visible`` resting; cancel-free replacement after a full fill has no such window.

A slice that ends without filling (the venue refused it, or someone else cancelled it: a dead-man's switch, a
``cancel_all``) counts as failed, and ``max_failures`` of those in a row end the run (EXHAUSTED): re-placing
forever into a venue that keeps refusing helps no one.  A last slice below the venue's minimum order value cannot
be placed; the run ends EXHAUSTED with that remainder unfilled.  The connector's kill switch is not a failure:
its cancel of the resting slice is settled and the run ends KILLED at once (``trio_hl.execution._base``).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import attrs

from trio_hl.core.connector import Connector
from trio_hl.core.types import OrderParams, OrderState, OrderType, Side, to_positive_decimal
from trio_hl.errors import InvalidOrderError
from trio_hl.execution._base import ExecutionAlgo, ResumeMode, SliceProbe, SliceRunner

__all__ = ["Iceberg", "IcebergParams"]

_ZERO = Decimal(0)



def _total(value: object) -> Decimal:
    return to_positive_decimal(value, "total")


def _price(value: object) -> Decimal:
    return to_positive_decimal(value, "price")


def _visible(value: object) -> Decimal:
    return to_positive_decimal(value, "visible")


@attrs.frozen
class IcebergParams:
    """``total`` at ``price`` (a limit: a buy never pays more), showing at most ``visible`` at a time.
    ``post_only``: slices are ALO (the venue refuses one that would take liquidity)."""

    pair: str
    side: Side
    total: Decimal = attrs.field(converter=_total)
    price: Decimal = attrs.field(converter=_price)
    visible: Decimal = attrs.field(converter=_visible)
    post_only: bool = False
    max_failures: int = 3

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise InvalidOrderError(f"side must be a Side, got {self.side!r}")
        if self.visible > self.total:
            raise InvalidOrderError(f"visible ({self.visible}) must not exceed total ({self.total})")
        if isinstance(self.max_failures, bool) or not isinstance(self.max_failures, int) or self.max_failures < 1:
            raise InvalidOrderError(f"max_failures must be an int >= 1, got {self.max_failures!r}")


class Iceberg(ExecutionAlgo):
    """An iceberg on one connector (run/stop/report/resume as for :class:`~trio_hl.execution.Twap`).

    ``visible`` is floored to the pair's lot size at construction and must stay above zero and meet the venue's
    minimum order value at ``price`` (checked here, so a wrong size fails at the call, not at the first slice).
    """

    kind = "iceberg"
    params: IcebergParams

    def __init__(self, conn: Connector, params: IcebergParams, *, state_path: Path | str | None = None,
                 resume: ResumeMode = ResumeMode.CONTINUE, probe: SliceProbe | None = None,
                 cleanup_timeout_s: float = 10.0) -> None:
        if not isinstance(params, IcebergParams):
            raise TypeError(f"params must be IcebergParams, got {type(params).__name__}")
        super().__init__(conn, params, pair=params.pair, side=params.side, target=params.total,
                         state_path=state_path, resume=resume, probe=probe, cleanup_timeout_s=cleanup_timeout_s)
        rule = self.rule
        self.visible = _floor(params.visible, rule.size_step)
        if self.visible <= 0:
            raise InvalidOrderError(f"visible {params.visible} is below the lot size {rule.size_step} of {params.pair}")
        if self.visible * params.price < rule.min_notional:
            raise InvalidOrderError(
                f"visible {self.visible} at {params.price} is below the minimum order value {rule.min_notional}"
            )
        self._min_notional = rule.min_notional
        self._step = rule.size_step

    async def _work(self, runner: SliceRunner) -> None:
        params, p = self.params, self.progress
        failures = 0
        while p.filled < params.total and not self.stop_requested and failures < params.max_failures:
            amount = min(self.visible, _floor(params.total - p.filled, self._step))
            if amount <= 0 or amount * params.price < self._min_notional:
                return  # what is left cannot be placed: EXHAUSTED with that remainder
            order_type = OrderType.LIMIT_MAKER if params.post_only else OrderType.LIMIT
            cid = runner.place(OrderParams(params.pair, amount, params.price, order_type=order_type))
            if cid is None:
                failures += 1
                continue
            order = await runner.wait_terminal(cid)
            filled = await runner.settle(cid, order)
            if filled > 0:
                failures = 0
            elif not self.stop_requested:
                failures += 1
                if order is not None and order.state is OrderState.CANCELED:
                    p.slices_failed += 1  # cancelled by someone else: the runner counts only refusals
                    runner.state.save(p)


def _floor(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(ROUND_FLOOR) * step
