"""The emulator's per-IP limits (PROTOCOL §8.2): REST weight, WS message rate, WS subscription/user caps.

Rule followed: the venue states its REST limit as "aggregated weight 1200 per minute per IP".  We model it as
a token bucket of capacity 1200 refilled continuously at 20 weight/s, checked *before* a request with the
request's base weight; list-answer extras (``userFills`` +1 per 20 items, …) are charged *after* the answer,
so the balance may go negative and the next requests wait the debt off — the venue cannot know the answer
size before it computes it either.

Alternative rejected: a fixed one-minute window.  It lets a client burst 2×1200 across a window boundary and
then fail for up to a minute, which makes client back-off tests depend on where the window happens to fall.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs

__all__ = ["INFO_WEIGHTS", "Limits", "TokenBuckets", "exchange_weight", "info_base_weight", "info_extra_weight"]

_WEIGHT_2: Final = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_PER_20_ITEMS: Final = frozenset(
    {
        "recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory", "userFunding",
        "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills", "userTwapSliceFillsByTime",
        "delegatorHistory", "delegatorRewards", "validatorStats",
    }
)
INFO_WEIGHTS: Final = {**dict.fromkeys(_WEIGHT_2, 2), "userRole": 60}
"""Info types whose base weight is not the default 20."""


def info_base_weight(req_type: str) -> int:
    return INFO_WEIGHTS.get(req_type, 20)


def info_extra_weight(req_type: str, answer: Any) -> int:
    """Extra weight of a list answer: +1 per 20 items (``candleSnapshot``: per 60 items)."""
    if not isinstance(answer, list):
        return 0
    if req_type == "candleSnapshot":
        return len(answer) // 60
    if req_type in _PER_20_ITEMS:
        return len(answer) // 20
    return 0


def exchange_weight(action: dict[str, Any]) -> int:
    """``1 + floor(batch_length / 40)``: a batch is orders, cancels or modifies (whichever the action carries)."""
    for key in ("orders", "cancels", "modifies"):
        batch = action.get(key)
        if isinstance(batch, list):
            return 1 + len(batch) // 40
    return 1


@attrs.frozen
class Limits:
    """Per-IP venue limits; ``None`` switches one off.  ``Limits.unlimited()`` for benchmarks.

    Defaults are the documented values (PROTOCOL §8.2); the WS connection limit follows the official dump
    (100), not the 3P summary (10).
    """

    rest_weight_per_minute: int | None = 1200
    ws_messages_per_minute: int | None = 2000
    ws_connections: int | None = 100
    ws_subscriptions: int | None = 1000
    ws_users: int | None = 10
    ws_inflight_posts: int | None = 100

    @classmethod
    def unlimited(cls) -> Limits:
        return cls(None, None, None, None, None, None)


class TokenBuckets:
    """One token bucket per key (client IP): ``capacity`` tokens, refilled at ``capacity / 60`` per second."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}

    def _level(self, key: str) -> float:
        now = self._clock()
        tokens, stamp = self._state.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - stamp) * self._rate)

    def try_take(self, key: str, weight: int) -> bool:
        """Take ``weight`` tokens if the balance covers it; False (nothing taken) otherwise."""
        level = self._level(key)
        if level < weight:
            self._state[key] = (level, self._clock())
            return False
        self._state[key] = (level - weight, self._clock())
        return True

    def charge(self, key: str, weight: int) -> None:
        """Take ``weight`` tokens unconditionally (the balance may go negative: a debt paid by waiting)."""
        if weight:
            self._state[key] = (self._level(key) - weight, self._clock())

    def available(self, key: str) -> float:
        return self._level(key)
