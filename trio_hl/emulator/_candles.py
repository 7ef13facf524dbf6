"""OHLCV candles per coin and interval, updated at each trade.

Rule followed (PROTOCOL §5 ``candleSnapshot``, §6.4 ``candle``): a candle covers ``[t, T]`` with
``T = t + interval − 1 ms``; prices and volume are strings, ``n`` the trade count; only the latest 5000 candles
per interval are kept.  Intervals are aligned on the Unix epoch, except ``1M`` (calendar months, UTC).

Alternative rejected: storing trades and aggregating on request.  Each trade touches 14 small dicts here,
while a ``candleSnapshot`` over weeks would otherwise rescan every trade since start.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from decimal import Decimal
from typing import Any, Final

from trio_hl.emulator._stream import num

__all__ = ["INTERVALS", "CandleStore"]

_MIN: Final = 60_000
INTERVALS: Final[dict[str, int]] = {
    "1m": _MIN, "3m": 3 * _MIN, "5m": 5 * _MIN, "15m": 15 * _MIN, "30m": 30 * _MIN, "1h": 60 * _MIN,
    "2h": 120 * _MIN, "4h": 240 * _MIN, "8h": 480 * _MIN, "12h": 720 * _MIN, "1d": 1440 * _MIN,
    "3d": 3 * 1440 * _MIN, "1w": 7 * 1440 * _MIN, "1M": 0,
}
_KEEP: Final = 5000


def _bounds(interval: str, now_ms: int) -> tuple[int, int]:
    length = INTERVALS[interval]
    if length:
        start = now_ms - now_ms % length
        return start, start + length - 1
    day = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
    first = dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)
    following = dt.datetime(day.year + (day.month == 12), day.month % 12 + 1, 1, tzinfo=dt.UTC)
    return int(first.timestamp()) * 1000, int(following.timestamp()) * 1000 - 1


class _Candle:
    __slots__ = ("c", "end", "h", "l", "n", "o", "start", "v")

    def __init__(self, start: int, end: int, px: Decimal) -> None:
        self.start = start
        self.end = end
        self.o = self.h = self.l = self.c = px
        self.v = Decimal(0)
        self.n = 0

    def to_wire(self, coin: str, interval: str) -> dict[str, Any]:
        return {"t": self.start, "T": self.end, "s": coin, "i": interval, "o": num(self.o), "c": num(self.c),
                "h": num(self.h), "l": num(self.l), "v": num(self.v), "n": self.n}


class CandleStore:
    """Candles of every coin; ``dirty`` lists the coins traded since the last :meth:`take_dirty`."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], deque[_Candle]] = {}
        self._dirty: set[str] = set()

    def on_trade(self, coin: str, px: Decimal, sz: Decimal, time_ms: int) -> None:
        for interval in INTERVALS:
            series = self._series.get((coin, interval))
            if series is None:
                series = self._series[(coin, interval)] = deque(maxlen=_KEEP)
            last = series[-1] if series else None
            if last is None or time_ms > last.end:
                last = _Candle(*_bounds(interval, time_ms), px)
                series.append(last)
            last.h = max(last.h, px)
            last.l = min(last.l, px)
            last.c = px
            last.v += sz
            last.n += 1
        self._dirty.add(coin)

    def take_dirty(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(coin, interval, latest candle)`` for every coin traded since the previous call."""
        out = []
        for coin in sorted(self._dirty):
            for interval in INTERVALS:
                series = self._series.get((coin, interval))
                if series:
                    out.append((coin, interval, series[-1].to_wire(coin, interval)))
        self._dirty.clear()
        return out

    def snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        series = self._series.get((coin, interval), ())
        return [c.to_wire(coin, interval) for c in series if c.end >= start_ms and c.start <= end_ms]

    def latest(self, coin: str, interval: str) -> dict[str, Any] | None:
        series = self._series.get((coin, interval))
        return series[-1].to_wire(coin, interval) if series else None
