"""Recorded Hyperliquid market data as a replayed source: a JSON-lines capture of WebSocket frames.

File format: one JSON object per line, exactly the frames the venue's WebSocket sends -
``{"channel": "l2Book", "data": {"coin", "time", "levels": [[bids], [asks]]}}`` and
``{"channel": "trades", "data": [{"coin", "side", "px", "sz", "time", "tid", ...}]}`` - so a capture is just the
raw stream written line by line.  Other channels (``subscriptionResponse``, ``pong``…) are skipped.  One optional
line ``{"channel": "trio_hl.rules", "data": {PAIR: {"size_step", "min_notional", "max_price_sig_figs",
"max_price_decimals", "is_spot"}}}`` records the trading rules, so a backtest needs nothing but the file
(``trio_hl.emulator.capture`` writes it).

Why not the recorder's database: ``trio-hl record`` stores order *events* (ours), not market data; a backtest
needs the market.  Bad lines are logged, counted (``RecordedSource.malformed``) and skipped, never fatal: one
torn line at the end of a capture interrupted mid-write must not make the rest unusable.

This module reads Hyperliquid's frame format, so it is venue code by nature (it parses with
``trio_hl.hyperliquid.messages``); the paper connector that consumes its frames is not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import trio

from trio_hl.core.book import BookLevel
from trio_hl.core.connector import Connector, PublicTrade
from trio_hl.core.types import Side, TradingRule
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid.messages import parse_l2_book, parse_trades
from trio_hl.paper.market import BookFrame, MarketFrame, TradeFrame

__all__ = ["RULES_CHANNEL", "CaptureCounts", "RecordedSource", "read_rules", "record_capture", "rules_frame"]

logger = logging.getLogger("trio_hl.paper")

RULES_CHANNEL = "trio_hl.rules"


def rules_frame(rules: dict[str, TradingRule]) -> dict[str, Any]:
    """The optional rules line of a capture (module doc)."""
    return {"channel": RULES_CHANNEL, "data": {
        pair: {"size_step": str(r.size_step), "min_size": str(r.min_size), "min_notional": str(r.min_notional),
               "price_tick": None if r.price_tick is None else str(r.price_tick),
               "max_price_decimals": r.max_price_decimals, "max_price_sig_figs": r.max_price_sig_figs,
               "is_spot": r.is_spot}
        for pair, r in rules.items()}}


def read_rules(path: Path | str) -> dict[str, TradingRule]:
    """The trading rules a capture records (empty when it has no rules line).  Only the head of the file is read:
    the rules line is written first."""
    with open(path, encoding="utf-8") as f:
        for _, line in zip(range(100), f, strict=False):
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("channel") == RULES_CHANNEL and isinstance(msg.get("data"), dict):
                out = {}
                for pair, r in msg["data"].items():
                    tick = r.get("price_tick")
                    out[pair] = TradingRule(
                        pair=pair, size_step=Decimal(r["size_step"]), min_size=Decimal(r.get("min_size",
                                                                                             r["size_step"])),
                        min_notional=Decimal(r.get("min_notional", "0")),
                        price_tick=None if tick is None else Decimal(tick),
                        max_price_decimals=r.get("max_price_decimals"), max_price_sig_figs=r.get("max_price_sig_figs"),
                        is_spot=bool(r.get("is_spot", False)))
                return out
    return {}


class RecordedSource:
    """Replay a capture file (module doc); ``pairs`` limits the frames to those pairs (default: all).

    ``frames()`` is the plain iterator (also usable without Trio); ``run`` sends them for the paper connector."""

    replay = True

    def __init__(self, path: Path | str, pairs: tuple[str, ...] | None = None) -> None:
        self.path = Path(path)
        self.pairs = pairs
        self.malformed = 0
        self.frames_read = 0

    def frames(self) -> Iterator[MarketFrame]:
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield from self._parse(line)
                except (ValueError, ProtocolError, KeyError, TypeError) as exc:
                    self.malformed += 1
                    logger.warning("%s:%d: malformed line skipped: %s", self.path, number, exc)

    def _parse(self, line: str) -> Iterator[MarketFrame]:
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise ProtocolError("a line must be a JSON object")
        channel = msg.get("channel")
        if channel == "l2Book":
            snap = parse_l2_book(msg["data"])
            if self.pairs is None or snap.coin in self.pairs:
                self.frames_read += 1
                yield BookFrame(snap.coin, snap.timestamp, tuple(snap.bids), tuple(snap.asks))
        elif channel == "trades":
            for t in parse_trades(msg["data"]):
                if self.pairs is None or t.pair in self.pairs:
                    self.frames_read += 1
                    yield TradeFrame(PublicTrade(t.pair, t.side, t.price, t.size, t.timestamp, t.trade_id))

    async def run(self, send: trio.MemorySendChannel[MarketFrame]) -> None:
        async with send:
            for frame in self.frames():
                await send.send(frame)



# ============================================================================================ recording


@attrs.frozen
class CaptureCounts:
    books: int
    trades: int


def _level(level: BookLevel) -> dict[str, Any]:
    return {"px": str(level.price), "sz": str(level.size), "n": level.count}


async def record_capture(conn: Connector, pairs: tuple[str, ...], path: Path | str, *, seconds: float) -> CaptureCounts:
    """Write ``seconds`` of ``conn``'s books and public trades of ``pairs`` to ``path`` in the capture format
    (module doc; the rules line first), for a later ``trio-hl backtest``.  Books are written as ``watch_book``
    yields them (conflating: a slow disk skips intermediate snapshots, never trades).  A trade id that is not an
    integer (a connector other than Hyperliquid's) is replaced by a counter, as the format wants integers.

    One writer task owns the file (trio's file wrapper: each write runs on a worker thread, so a slow disk never
    stalls the event loop); the watchers hand it lines through a channel."""
    counts = {"l2Book": 0, "trades": 0}
    send, receive = trio.open_memory_channel[tuple[str, str]](10_000)
    counter = 0

    def line(channel: str, data: Any) -> tuple[str, str]:
        return channel, json.dumps({"channel": channel, "data": data}, separators=(",", ":")) + "\n"

    async def watch_books(pair: str, out: trio.MemorySendChannel[tuple[str, str]]) -> None:
        async with out, aclosing(conn.watch_book(pair)) as stream:
            async for book in stream:
                if book.timestamp is not None:
                    levels = [[_level(lv) for lv in book.bids], [_level(lv) for lv in book.asks]]
                    await out.send(line("l2Book", {"coin": pair, "time": int(book.timestamp * 1000),
                                                   "levels": levels}))

    async def watch_trades(pair: str, out: trio.MemorySendChannel[tuple[str, str]]) -> None:
        nonlocal counter
        async with out, aclosing(conn.watch_trades(pair)) as stream:
            async for t in stream:
                counter += 1
                tid = int(t.trade_id) if t.trade_id.isascii() and t.trade_id.isdigit() else counter
                await out.send(line("trades", [{"coin": pair, "side": "B" if t.side is Side.BUY else "A",
                                                "px": str(t.price), "sz": str(t.size),
                                                "time": int(t.timestamp * 1000), "tid": tid}]))

    async with await trio.open_file(path, "w", encoding="utf-8") as f:
        rules = rules_frame({p: conn.trading_rule(p) for p in pairs})
        await f.write(json.dumps(rules, separators=(",", ":")) + "\n")
        async with trio.open_nursery() as nursery:
            with trio.move_on_after(seconds):
                async with send:
                    for pair in pairs:
                        nursery.start_soon(watch_books, pair, send.clone())
                        nursery.start_soon(watch_trades, pair, send.clone())
                async with receive:
                    # Counted when written, not when built: lines still queued when the time is up are not in
                    # the file, and the counts must say what the file holds.
                    async for channel, text in receive:
                        await f.write(text)
                        counts[channel] += 1
            nursery.cancel_scope.cancel()
    return CaptureCounts(counts["l2Book"], counts["trades"])
