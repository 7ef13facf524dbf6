"""Market data the paper connector consumes, and the sources that produce it.

A source is a producer task (``await source.run(send)``) that sends :data:`MarketFrame` values - book snapshots
and public trades - into a channel the paper connector owns.  ``replay`` says what the timestamps mean:

* ``replay=True`` (a recording): frame timestamps are the market's time.  The connector sleeps on the Trio clock
  until each frame is due and settles every step before the next (module doc of ``trio_hl.paper.connector``), so
  under ``trio.testing.MockClock(autojump_threshold=0)`` a backtest runs as fast as the CPU allows and gives the
  same result every time.
* ``replay=False`` (live): frames are applied as they arrive; timestamps are only for book ages.

Sources here are venue-free: :class:`ConnectorSource` (paper trading on another connector's live data),
:class:`FrameSource` (frames from any iterable, replayed) and :class:`ManualSource` (pushed by a test or a
simulation).  Reading a recorded Hyperliquid capture is ``trio_hl.paper.recorded``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import aclosing
from decimal import Decimal
from typing import Protocol

import attrs
import trio

from trio_hl.core.book import BookLevel
from trio_hl.core.connector import Connector, PublicTrade
from trio_hl.core.types import Side

__all__ = ["BookFrame", "ConnectorSource", "FrameSource", "ManualSource", "MarketFrame", "MarketSource",
           "TradeFrame"]


@attrs.frozen
class BookFrame:
    """A full L2 snapshot of one pair at ``timestamp`` (seconds); levels best first."""

    pair: str
    timestamp: float
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@attrs.frozen
class TradeFrame:
    """One public trade."""

    trade: PublicTrade

    @property
    def pair(self) -> str:
        return self.trade.pair

    @property
    def timestamp(self) -> float:
        return self.trade.timestamp


MarketFrame = BookFrame | TradeFrame


class MarketSource(Protocol):
    """A producer of market frames for the paper connector (module doc)."""

    #: True: a recording, replayed on the Trio clock (deterministic); False: live frames, applied on arrival.
    replay: bool

    async def run(self, send: trio.MemorySendChannel[MarketFrame]) -> None:
        """Send frames until the source ends (then return; the connector sees the channel close) or is cancelled."""
        ...


class FrameSource:
    """Frames from any iterable, in order, replayed (``replay=True``): a recording already in memory, or a
    generator.  Timestamps must not go backwards (a frame older than the previous one is sent at once)."""

    replay = True

    def __init__(self, frames: Iterable[MarketFrame]) -> None:
        self._frames = frames

    async def run(self, send: trio.MemorySendChannel[MarketFrame]) -> None:
        async with send:
            for frame in self._frames:
                await send.send(frame)


class ManualSource:
    """Frames pushed by the caller (``push_book`` / ``push_trade``), applied on arrival (``replay=False``).
    For tests and simulations that script the market; ``close()`` ends it."""

    replay = False

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[MarketFrame](10_000)
        self._trade_ids = 0

    def push_book(self, pair: str, bids: Sequence[tuple[Decimal, Decimal]], asks: Sequence[tuple[Decimal, Decimal]],
                  timestamp: float | None = None) -> None:
        """A new snapshot: ``bids``/``asks`` as (price, size), best first."""
        self._send.send_nowait(BookFrame(
            pair, trio.current_time() if timestamp is None else timestamp,
            tuple(BookLevel(p, s) for p, s in bids), tuple(BookLevel(p, s) for p, s in asks)))

    def push_trade(self, pair: str, aggressor: Side, price: Decimal, size: Decimal,
                   timestamp: float | None = None) -> None:
        """A public trade whose taker was on ``aggressor``'s side."""
        self._trade_ids += 1
        self._send.send_nowait(TradeFrame(PublicTrade(
            pair, aggressor, price, size, trio.current_time() if timestamp is None else timestamp,
            f"manual-{self._trade_ids}")))

    def close(self) -> None:
        self._send.close()

    async def run(self, send: trio.MemorySendChannel[MarketFrame]) -> None:
        async with send:
            async for frame in self._receive:
                await send.send(frame)


class ConnectorSource:
    """Another connector's live books and public trades (paper trading on real data): ``replay=False``.

    Books conflate (``watch_book``: the newest snapshot wins, as for any reader of that connector); trades do not.
    """

    replay = False

    def __init__(self, conn: Connector, pairs: Sequence[str]) -> None:
        self._conn = conn
        self.pairs = tuple(pairs)

    async def run(self, send: trio.MemorySendChannel[MarketFrame]) -> None:
        async with send, trio.open_nursery() as nursery:
            for pair in self.pairs:
                book = self._conn.book(pair)
                if book.timestamp is not None:
                    await send.send(BookFrame(pair, book.timestamp, book.bids, book.asks))
                nursery.start_soon(self._books, pair, send.clone())
                nursery.start_soon(self._trades, pair, send.clone())

    async def _books(self, pair: str, send: trio.MemorySendChannel[MarketFrame]) -> None:
        async with send, aclosing(self._conn.watch_book(pair)) as books:
            async for book in books:
                await send.send(BookFrame(pair, book.timestamp or 0.0, book.bids, book.asks))

    async def _trades(self, pair: str, send: trio.MemorySendChannel[MarketFrame]) -> None:
        async with send, aclosing(self._conn.watch_trades(pair)) as trades:
            async for trade in trades:
                await send.send(TradeFrame(attrs.evolve(trade, pair=pair)))
