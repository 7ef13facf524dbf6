"""A local Hyperliquid speaking the real HTTP/WS protocol.

``async with open_emulator() as emu:`` serves ``POST /info``, ``POST /exchange`` and ``/ws`` on
``emu.url`` (port 0 → a free port); ``emu.faults`` is the live :class:`FaultPlan`, ``emu.log`` what it
injected.  From a shell: ``trio-hl emulator --port 3001``.
"""

from trio_hl.emulator._asgi_server import ServerStatistics
from trio_hl.emulator._ratelimit import Limits
from trio_hl.emulator._server_limits import ServerLimits
from trio_hl.emulator.app import AutoFund
from trio_hl.emulator.faults import FaultKind, FaultLog, FaultPlan, FaultRecord
from trio_hl.emulator.server import Emulator, open_emulator, serve_emulator

__all__ = [
    "AutoFund",
    "Emulator",
    "FaultKind",
    "FaultLog",
    "FaultPlan",
    "FaultRecord",
    "Limits",
    "ServerLimits",
    "ServerStatistics",
    "open_emulator",
    "serve_emulator",
]
