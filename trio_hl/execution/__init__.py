"""Execution algorithms on the venue-free :class:`~trio_hl.core.connector.Connector` protocol: client-side TWAP and
iceberg.  They import nothing from a venue package, so they run unchanged on ``HyperliquidConnector``, on the
``PaperConnector`` (live data or a backtest) and on any third connector that satisfies the protocol.

Both are Trio tasks the caller starts in its own nursery (``nursery.start_soon(algo.run)`` or ``await algo.run()``),
end early by cancelling that scope or calling ``stop()``, keep one slice live at a time, never execute more than
their target, and journal progress to a JSON state file so a restart resumes (or, with ``ResumeMode.STOP``,
cleanly stops).  See ``trio_hl.execution._base`` for the settlement and journaling rules.

The connector's kill switch (``conn.kill()``) ends every one of them at once, status KILLED: they send nothing more
and settle the slice the kill cancelled.

Hyperliquid's venue-run TWAP (``twapOrder``) is venue code and lives in ``trio_hl.hyperliquid.native_twap``
(``NativeTwap``).  For compatibility ``trio_hl.execution.NativeTwap`` (and its params/report, and
``VenueSliceProbe``) still resolve, loaded only when asked for, so importing this package loads no venue code.
"""

from __future__ import annotations

import importlib
from typing import Any

from trio_hl.execution._base import (
    ExecutionError,
    ExecutionReport,
    ExecutionResumeError,
    ExecutionStatus,
    ResumeMode,
    SliceProbe,
    VenueSlice,
)
from trio_hl.execution.iceberg import Iceberg, IcebergParams
from trio_hl.execution.twap import Twap, TwapParams, plan_slice

__all__ = [
    "ExecutionError",
    "ExecutionReport",
    "ExecutionResumeError",
    "ExecutionStatus",
    "Iceberg",
    "IcebergParams",
    "ResumeMode",
    "SliceProbe",
    "Twap",
    "TwapParams",
    "VenueSlice",
    "plan_slice",
]

#: Names that moved to the venue package, resolved lazily (see the module doc).
_MOVED = {
    "NativeTwap": "trio_hl.hyperliquid.native_twap",
    "NativeTwapParams": "trio_hl.hyperliquid.native_twap",
    "NativeTwapReport": "trio_hl.hyperliquid.native_twap",
    "VenueSliceProbe": "trio_hl.hyperliquid.order_probe",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
