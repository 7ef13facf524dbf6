"""Client-side rate limiting: the venue's weighted IP budget and the per-address action budget.

Rules followed (PROTOCOL §8.2–8.3):

* **IP weight** — 1200 weight per minute per IP, shared by every REST call.  Info requests weigh 2 (``l2Book``,
  ``allMids``, ``clearinghouseState``, ``orderStatus``, ``spotClearinghouseState``, ``exchangeStatus``), 60
  (``userRole``) or 20 (everything else); some add weight per 20 returned items (``userFills``,
  ``userFillsByTime``, ``historicalOrders``, ``fundingHistory``, …) or per 60 (``candleSnapshot``).  An
  exchange action weighs ``1 + floor(batch_length / 40)``.
* **Address budget** — actions only: one request per 1 USDC traded plus a 10 000 buffer; a batch of *n* orders or
  cancels costs *n*; cancels may go further, to ``min(cap + 100000, 2 * cap)``; once exhausted an address gets one
  request every 10 s.

:class:`IpRateLimiter` is a token bucket (capacity 1200, refilled continuously at 20/s) and not a sliding
window log: the venue documents a per-minute *aggregate*, a bucket enforces the same long-run rate with O(1)
state and, unlike a fixed window, never lets a burst of 2×1200 straddle a window edge.  Weight is debited
*before* a request (so we never send what we could not afford) and the per-item extra weight *after* the
response, when the item count is known — the bucket may then go negative, which is exactly the debt the venue
holds against us.  Waiters queue FIFO on a ``trio.Lock`` (Trio locks are fair), so a heavy request is not starved
by a stream of light ones, and each waiter sleeps exactly until its weight has refilled — no polling.

A 429 means our estimate was wrong (another process shares the IP, or the venue counts differently):
:meth:`IpRateLimiter.penalize` empties the bucket and blocks *every* task for a full-jitter backoff that grows
with consecutive 429s; the streak ends at the next successful response (:meth:`IpRateLimiter.note_success`).

Time is the Trio clock (``trio.current_time()``), so tests with ``autojump_clock`` assert exact waits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid.backoff import Backoff, BackoffPolicy

__all__ = [
    "IP_WEIGHT_PER_MINUTE",
    "AddressBudget",
    "AddressBudgetStatistics",
    "IpRateLimiter",
    "IpRateLimiterStatistics",
    "exchange_weight",
    "info_extra_weight",
    "info_weight",
]

#: The venue's REST budget per IP (PROTOCOL §8.2).
IP_WEIGHT_PER_MINUTE = 1200

_LIGHT_INFO = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_HEAVY_INFO = frozenset({"userRole"})
_PER_20_ITEMS = frozenset(
    {
        "recentTrades",
        "historicalOrders",
        "userFills",
        "userFillsByTime",
        "fundingHistory",
        "userFunding",
        "nonUserFundingUpdates",
        "twapHistory",
        "userTwapSliceFills",
        "userTwapSliceFillsByTime",
        "delegatorHistory",
        "delegatorRewards",
        "validatorStats",
    }
)
_PER_60_ITEMS = frozenset({"candleSnapshot"})


def info_weight(request_type: str) -> int:
    """The up-front IP weight of an ``/info`` request of this ``type`` (2, 20 or 60)."""
    if request_type in _LIGHT_INFO:
        return 2
    if request_type in _HEAVY_INFO:
        return 60
    return 20


def info_extra_weight(request_type: str, n_items: int) -> int:
    """The weight the venue adds after answering with ``n_items`` items (0 for types without per-item weight)."""
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    if request_type in _PER_20_ITEMS:
        return n_items // 20
    if request_type in _PER_60_ITEMS:
        return n_items // 60
    return 0


def exchange_weight(batch_length: int) -> int:
    """IP weight of one ``/exchange`` action carrying ``batch_length`` orders/cancels: ``1 + floor(n / 40)``."""
    if batch_length < 0:
        raise ValueError(f"batch_length must be >= 0, got {batch_length}")
    return 1 + batch_length // 40


@attrs.frozen
class IpRateLimiterStatistics:
    """A snapshot of :class:`IpRateLimiter`."""

    #: Weight available now (negative while paying off per-item debt).
    tokens: float
    capacity: int
    #: Total weight debited, up-front and after responses.
    weight_debited: int
    #: ``acquire`` calls that had to wait (for refill or a 429 penalty).
    waits: int
    #: Seconds spent waiting, summed over calls.
    wait_seconds: float
    #: 429 answers reported through :meth:`IpRateLimiter.penalize`.
    rate_limited: int
    #: Seconds until the current 429 penalty ends (0 when none).
    penalty_remaining: float
    #: Tasks currently inside ``acquire``.
    tasks_waiting: int


class IpRateLimiter:
    """Weighted token bucket for the per-IP REST budget, shared by every task of a process.

    ``await acquire(w)`` returns once ``w`` weight has been debited; ``charge(w)`` debits without waiting (the
    after-response per-item weight); ``penalize()`` reacts to a 429.
    """

    def __init__(
        self,
        *,
        capacity: int = IP_WEIGHT_PER_MINUTE,
        per_seconds: float = 60.0,
        penalty: BackoffPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        if not (math.isfinite(per_seconds) and per_seconds > 0):
            raise ValueError(f"per_seconds must be > 0, got {per_seconds}")
        self.capacity = capacity
        #: Refill rate, weight per second.
        self.rate = capacity / per_seconds
        # A 429 penalty starts at 1 s: the venue's window is a minute, so sub-second retries would only
        # collect more 429s.
        self._penalty = Backoff(penalty if penalty is not None else BackoffPolicy(initial=1.0, maximum=60.0), rng=rng)
        self._tokens = float(capacity)
        self._stamp: float | None = None  # Trio time of the last refill (None until first use)
        self._blocked_until = -math.inf
        self._lock = trio.Lock()
        self._weight_debited = 0
        self._waits = 0
        self._wait_seconds = 0.0
        self._rate_limited = 0
        self._tasks_waiting = 0

    def _refill(self) -> float:
        now = trio.current_time()
        if self._stamp is not None and now > self._stamp:
            self._tokens = min(float(self.capacity), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return now

    async def acquire(self, weight: int) -> None:
        """Wait (FIFO, without polling) until ``weight`` is available, then debit it."""
        if not 0 < weight <= self.capacity:
            raise ValueError(f"weight must be in 1..{self.capacity}, got {weight}")
        self._tasks_waiting += 1
        started = trio.current_time()
        waited = False
        try:
            async with self._lock:
                while True:
                    now = self._refill()
                    if now < self._blocked_until:
                        waited = True
                        await trio.sleep_until(self._blocked_until)
                        continue
                    if self._tokens >= weight:
                        self._tokens -= weight
                        self._weight_debited += weight
                        return
                    waited = True
                    # Sleep exactly until the deficit has refilled; re-check after (a 429 may have arrived).
                    await trio.sleep((weight - self._tokens) / self.rate)
        finally:
            self._tasks_waiting -= 1
            if waited:
                self._waits += 1
                self._wait_seconds += trio.current_time() - started

    def charge(self, weight: int) -> None:
        """Debit ``weight`` now, possibly into debt; used for the per-item weight known only after a response."""
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        if weight:
            self._refill()
            self._tokens -= weight
            self._weight_debited += weight

    def penalize(self) -> float:
        """Record a 429: empty the bucket and block every task for a growing jittered delay; returns it."""
        now = self._refill()
        self._rate_limited += 1
        delay = self._penalty.next_delay()
        self._tokens = min(self._tokens, 0.0)
        self._blocked_until = max(self._blocked_until, now + delay)
        return delay

    def note_success(self) -> None:
        """A request went through: the next 429 starts a fresh penalty streak."""
        self._penalty.reset()

    def statistics(self) -> IpRateLimiterStatistics:
        now = self._refill()
        return IpRateLimiterStatistics(
            tokens=self._tokens,
            capacity=self.capacity,
            weight_debited=self._weight_debited,
            waits=self._waits,
            wait_seconds=self._wait_seconds,
            rate_limited=self._rate_limited,
            penalty_remaining=max(0.0, self._blocked_until - now),
            tasks_waiting=self._tasks_waiting,
        )


@attrs.frozen
class AddressBudgetStatistics:
    """A snapshot of :class:`AddressBudget`."""

    n_requests_used: int
    n_requests_cap: int
    n_requests_surplus: int
    #: Requests new orders may still use before the address is throttled.
    remaining_orders: int
    #: Requests cancels may still use (cancels have the larger ``min(cap + 100000, 2 * cap)`` limit).
    remaining_cancels: int
    cancel_priority: bool
    #: Requests debited locally since the last refresh from ``userRateLimit``.
    debited_since_refresh: int
    #: ``acquire`` calls that had to wait for the throttled pace (or for cancels to go first).
    throttled_waits: int
    #: Seconds since the last refresh (None if never refreshed).
    refresh_age: float | None
    #: Whether any refresh has happened; before it the cap is the venue's initial buffer (an estimate).
    refreshed: bool


class AddressBudget:
    """The per-address action budget (``userRateLimit``'s ``nRequestsUsed`` / ``nRequestsCap``), tracked locally.

    The venue is the authority: :meth:`refresh` (from a ``userRateLimit`` answer) replaces the local estimate;
    between refreshes every action debits its request count (``n`` for a batch of ``n`` orders or cancels).

    When the budget runs low (fewer than ``low_water`` order requests left) :attr:`cancel_priority` turns on and
    new orders in :meth:`acquire` wait while cancels are queued, so risk-reducing cancels are never starved by
    new orders.  When the order budget is exhausted the venue allows one request per 10 s; :meth:`acquire`
    paces orders to that (10 s per request of the batch) instead of sending requests that would be refused.
    """

    #: The venue's initial request buffer, used as the cap until the first refresh.
    INITIAL_BUFFER = 10_000
    #: Seconds per request once the address is throttled.
    THROTTLED_INTERVAL = 10.0

    def __init__(self, *, low_water: int = 500, cap: int = INITIAL_BUFFER, used: int = 0) -> None:
        if low_water < 0:
            raise ValueError(f"low_water must be >= 0, got {low_water}")
        self.low_water = low_water
        self._used = used
        self._cap = cap
        self._surplus = 0
        self._debited_since_refresh = 0
        self._refreshed_at: float | None = None
        self._next_throttled = -math.inf
        self._cancels_waiting = 0
        self._cancels_done = trio.Event()
        self._throttled_waits = 0
        self._lock = trio.Lock()

    # -- venue truth ---------------------------------------------------------------------------------------

    def refresh(self, *, used: int, cap: int, surplus: int = 0) -> None:
        """Replace the local estimate with the venue's numbers."""
        if used < 0 or cap < 0 or surplus < 0:
            raise ValueError(f"budget numbers must be >= 0, got used={used} cap={cap} surplus={surplus}")
        self._used, self._cap, self._surplus = used, cap, surplus
        self._debited_since_refresh = 0
        self._refreshed_at = trio.current_time()

    def refresh_from_wire(self, answer: Mapping[str, Any]) -> None:
        """:meth:`refresh` from a ``userRateLimit`` answer; raises ``ProtocolError`` on a malformed one."""
        try:
            used, cap = answer["nRequestsUsed"], answer["nRequestsCap"]
            surplus = answer.get("nRequestsSurplus", 0)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProtocolError(f"malformed userRateLimit answer: {answer!r}") from exc
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (used, cap, surplus)):
            raise ProtocolError(f"malformed userRateLimit answer: {answer!r}")
        self.refresh(used=used, cap=cap, surplus=surplus)

    def mark_exhausted(self, *, cancels: bool = False) -> None:
        """The venue said "Too many cumulative requests": the order budget is spent, whatever we estimated.

        ``cancels=True`` when it said so to a cancel: then the larger cancel budget is spent too, and cancels
        are paced like orders (one request per :attr:`THROTTLED_INTERVAL`) until a refresh says otherwise."""
        cap = self._cancel_cap if cancels else self._cap
        self._used = max(self._used, cap + self._surplus)
        # The refusal means the venue's one-request slot is taken now: the next request waits a whole interval
        # (sending "at once" only earned a second refusal, measured against the emulator's budget).
        self._next_throttled = max(self._next_throttled, trio.current_time() + self.THROTTLED_INTERVAL)

    # -- derived -------------------------------------------------------------------------------------------

    @property
    def remaining_orders(self) -> int:
        return self._cap + self._surplus - self._used

    @property
    def remaining_cancels(self) -> int:
        return self._cancel_cap + self._surplus - self._used

    @property
    def _cancel_cap(self) -> int:
        return min(self._cap + 100_000, 2 * self._cap)

    @property
    def cancel_priority(self) -> bool:
        """True when the budget is low: cancels go first and new orders wait."""
        return self.remaining_orders < self.low_water

    # -- gating --------------------------------------------------------------------------------------------

    def debit(self, n: int) -> None:
        """Count ``n`` requests (a batch of ``n`` orders or cancels) without waiting."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._used += n
        self._debited_since_refresh += n

    async def acquire(self, n: int, *, cancel: bool = False) -> None:
        """Wait until a batch of ``n`` orders (or cancels, ``cancel=True``) may be sent, then debit it.

        Cancels never wait for orders; they are paced only once even the cancel budget is spent.  Orders wait
        for queued cancels while :attr:`cancel_priority` holds, and for the 10 s/request pace once exhausted.
        """
        if n <= 0:
            raise ValueError(f"n must be > 0, got {n}")
        if cancel:
            self._cancels_waiting += 1
            try:
                if self.remaining_cancels < n:
                    await self._pace(n)
                self.debit(n)
            finally:
                self._cancels_waiting -= 1
                if self._cancels_waiting == 0:
                    self._cancels_done.set()
                    self._cancels_done = trio.Event()
            return
        waited = False
        while self.cancel_priority and self._cancels_waiting:
            waited = True
            await self._cancels_done.wait()
        if waited:
            self._throttled_waits += 1
        if self.remaining_orders < n:
            await self._pace(n)
        self.debit(n)

    async def _pace(self, n: int) -> None:
        async with self._lock:
            now = trio.current_time()
            start = max(now, self._next_throttled)
            self._next_throttled = start + self.THROTTLED_INTERVAL * n
            if start > now:
                self._throttled_waits += 1
                await trio.sleep_until(start)

    def statistics(self) -> AddressBudgetStatistics:
        return AddressBudgetStatistics(
            n_requests_used=self._used,
            n_requests_cap=self._cap,
            n_requests_surplus=self._surplus,
            remaining_orders=self.remaining_orders,
            remaining_cancels=self.remaining_cancels,
            cancel_priority=self.cancel_priority,
            debited_since_refresh=self._debited_since_refresh,
            throttled_waits=self._throttled_waits,
            refresh_age=None if self._refreshed_at is None else trio.current_time() - self._refreshed_at,
            refreshed=self._refreshed_at is not None,
        )
