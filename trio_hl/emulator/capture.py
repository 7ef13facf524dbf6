"""A recorded market without a network: the emulator's seeded simulated market written as a capture file.

``write_capture(path, pair="BTC", seconds=3600, seed=0)`` drives the emulator's engine (its random-walk fair
price, maker ladder and takers; ``trio_hl.emulator.market``) on a virtual clock and writes, as JSON lines, the
``l2Book`` and ``trades`` frames its WebSocket layer would have sent for ``pair`` - the capture format
``trio_hl.paper.recorded`` replays - preceded by the pair's trading rules.  Same seed, same file, byte for byte:
backtests and their tests get an hour of realistic books in a second or two, and nothing large is committed.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from trio_hl.emulator.engine import Engine
from trio_hl.hyperliquid.meta import AssetInfo
from trio_hl.paper.recorded import rules_frame

__all__ = ["CaptureStats", "write_capture"]

#: 2026-01-01T00:00:00Z: recordings start at a fixed time so that two runs are identical.
DEFAULT_START_MS = 1_767_225_600_000


@attrs.frozen
class CaptureStats:
    books: int
    trades: int
    seconds: float


def write_capture(path: Path | str, *, pair: str = "BTC", seconds: float = 3600.0, seed: int = 0,
                  step_ms: int = 250, start_ms: int = DEFAULT_START_MS) -> CaptureStats:
    """Write ``seconds`` of ``pair``'s market (module doc); the engine is advanced every ``step_ms``."""
    engine = Engine(seed=seed, now_ms=start_ms)
    spec = engine.spec_by_coin.get(pair)
    if spec is None:
        raise ValueError(f"the emulator has no market {pair!r}; it has {sorted(engine.spec_by_coin)}")
    rule = AssetInfo(spec.coin, spec.coin, spec.asset, spec.sz_decimals, spec.is_spot).trading_rule()
    books = trades = 0
    end = start_ms + int(seconds * 1000)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(rules_frame({pair: rule}), separators=(",", ":")) + "\n")
        engine.drain_messages()
        now = start_ms
        while now <= end:
            engine.tick(now)
            for msg in engine.drain_messages():
                if msg.key != spec.coin or msg.channel not in ("l2Book", "trades"):
                    continue
                if msg.channel == "l2Book":
                    books += 1
                else:
                    trades += len(msg.data)
                f.write(json.dumps({"channel": msg.channel, "data": msg.data}, separators=(",", ":")) + "\n")
            now += step_ms
    return CaptureStats(books=books, trades=trades, seconds=seconds)
