"""The conformance harness for ``HyperliquidConnector`` on the emulator (``trio_hl.testing.conformance``).

One account (a fixed random key) on a running emulator whose market is quiet (``hl_emulator`` with
``quiet=True``): the maker ladder stands still, so the front-of-book prices the suite computes stay inside the
spread; "another participant" is the emulator's taker account (``Emulator.trade``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from trio_hl.core.connector import Connector
from trio_hl.core.risk import RiskLimits
from trio_hl.core.types import Side
from trio_hl.emulator import Emulator
from trio_hl.hyperliquid.config import ConnectorConfig
from trio_hl.hyperliquid.connector import open_connector
from trio_hl.hyperliquid.signing import LocalSigner
from trio_hl.testing.plugin import fast_ws_settings

__all__ = ["EmulatorHarness"]


class EmulatorHarness:
    def __init__(self, emulator: Emulator, pair: str = "BTC", size: Decimal = Decimal("0.001")) -> None:
        self.emulator = emulator
        self.pair = pair
        self.size = size
        self._key = LocalSigner.generate().export_private_key_hex()

    @asynccontextmanager
    async def open(self, *, journal_path: Path | None = None,
                   risk: RiskLimits | None = None) -> AsyncIterator[Connector]:
        pairs: Any = (self.pair,)  # (mypy cannot see through ConnectorConfig's attrs converter on ``pairs``)
        config = ConnectorConfig(base_url=self.emulator.url, private_key=self._key, pairs=pairs,
                                 request_timeout=2.0, journal_path=None if journal_path is None else str(journal_path))
        # A journaled opening stands for a process the suite will restart: its orders must outlive the block, as
        # they outlive a crash (no cancel on exit); otherwise the connector's default (cancel on exit) applies.
        async with open_connector(config, ws_settings=fast_ws_settings(), risk=risk,
                                  cancel_on_exit=journal_path is None) as conn:
            yield conn

    async def trade_against(self, conn: Connector, taker_side: Side, price: Decimal, amount: Decimal) -> None:
        self.emulator.trade(self.pair, taker_side is Side.BUY, price, amount)
