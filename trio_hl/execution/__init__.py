"""Execution algorithms on the public connector API: client-side TWAP and iceberg, and the venue's native TWAP.

Both are Trio tasks the caller starts in its own nursery (``nursery.start_soon(algo.run)`` or ``await algo.run()``),
end early by cancelling that scope or calling ``stop()``, keep one slice live at a time, never execute more than
their target, and journal progress to a JSON state file so a restart resumes (or, with ``ResumeMode.STOP``,
cleanly stops).  See ``trio_hl.execution._base`` for the settlement and journaling rules.  ``NativeTwap`` hands the
slicing to the venue (``twapOrder``) and only starts, follows and cancels it (``trio_hl.execution.native_twap``).

The connector's kill switch (``conn.kill()``) ends every one of them at once, status KILLED: the client-side ones
send nothing more and settle the slice the kill cancelled; ``NativeTwap`` cancels its venue TWAP.  ``NativeTwap``
also passes the connector's pre-trade risk check before it starts (a ``RiskBreachError``, as for an order).
"""

from trio_hl.execution._base import (
    ExecutionError,
    ExecutionReport,
    ExecutionResumeError,
    ExecutionStatus,
    ResumeMode,
    SliceProbe,
    VenueSlice,
    VenueSliceProbe,
)
from trio_hl.execution.iceberg import Iceberg, IcebergParams
from trio_hl.execution.native_twap import NativeTwap, NativeTwapParams, NativeTwapReport
from trio_hl.execution.twap import Twap, TwapParams, plan_slice

__all__ = [
    "ExecutionError",
    "ExecutionReport",
    "ExecutionResumeError",
    "ExecutionStatus",
    "Iceberg",
    "IcebergParams",
    "NativeTwap",
    "NativeTwapParams",
    "NativeTwapReport",
    "ResumeMode",
    "SliceProbe",
    "Twap",
    "TwapParams",
    "VenueSlice",
    "VenueSliceProbe",
    "plan_slice",
]
