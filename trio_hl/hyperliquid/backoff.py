"""Reconnect / retry delays: capped exponential backoff with *full jitter*, on the Trio clock.

Rule followed: the n-th consecutive failure (n = 0, 1, 2, …) waits ``uniform(0, min(maximum, initial * 2**n))``
seconds — 250 ms ceiling on the first retry, doubling to a 10 s ceiling (DESIGN §3 "Reconnect").  A success
resets the attempt counter.

Why full jitter and not plain exponential or "equal jitter": when the venue drops every connection at once (a
deploy, a load-balancer restart) all clients reconnect together.  Plain exponential backoff keeps them in
lock-step, so each wave hits the server at the same instant; full jitter spreads each wave uniformly over its
whole window, which is what minimises both the total work done by the server and the time until everyone is
back (the AWS "Exponential Backoff and Jitter" analysis).  The cost is that an individual retry may come almost
immediately, which is harmless for reconnects and idempotent info calls.

The random source is injectable (``random.Random(seed)``) so tests assert exact delays; time is read and slept
on the Trio clock so ``MockClock``/``autojump_clock`` make the schedule exact and instant in tests.
"""

from __future__ import annotations

import math
import random

import attrs
import trio

__all__ = ["Backoff", "BackoffPolicy"]


@attrs.frozen
class BackoffPolicy:
    """The schedule: ceiling ``min(maximum, initial * multiplier**attempt)``, delay uniform in ``[0, ceiling]``."""

    #: Ceiling of the first retry, seconds.
    initial: float = 0.25
    #: Largest ceiling, seconds.
    maximum: float = 10.0
    #: Growth of the ceiling per consecutive failure.
    multiplier: float = 2.0

    def __attrs_post_init__(self) -> None:
        if not (math.isfinite(self.initial) and self.initial > 0):
            raise ValueError(f"initial must be a positive finite number of seconds, got {self.initial!r}")
        if not (math.isfinite(self.maximum) and self.maximum >= self.initial):
            raise ValueError(f"maximum must be finite and >= initial ({self.initial}), got {self.maximum!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay after ``attempt`` consecutive failures (0-based)."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        # Compare in log space so a long outage (attempt in the thousands) cannot overflow a float.
        if attempt * math.log(self.multiplier) >= math.log(self.maximum / self.initial):
            return self.maximum
        return min(self.maximum, self.initial * self.multiplier**attempt)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """A full-jitter delay for ``attempt``: uniform over ``[0, ceiling(attempt)]``."""
        return rng.uniform(0.0, self.ceiling(attempt))


class Backoff:
    """The stateful side of a :class:`BackoffPolicy`: counts consecutive failures and sleeps on the Trio clock.

    One instance per retry loop (one per WebSocket session, one per info call, one shared by the IP limiter's
    429 penalty).  Not shared between unrelated loops: a failure streak is a property of one conversation.
    """

    def __init__(self, policy: BackoffPolicy | None = None, *, rng: random.Random | None = None) -> None:
        self.policy = policy if policy is not None else BackoffPolicy()
        # An unseeded Random draws from OS entropy; tests pass random.Random(seed) for exact schedules.
        self._rng = rng if rng is not None else random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Consecutive failures recorded since the last :meth:`reset`."""
        return self._attempt

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next try."""
        delay = self.policy.delay(self._attempt, self._rng)
        self._attempt += 1
        return delay

    async def wait(self) -> float:
        """Record a failure, sleep the jittered delay on the Trio clock, and return the delay slept."""
        delay = self.next_delay()
        await trio.sleep(delay)
        return delay

    def reset(self) -> None:
        """A success: the next failure starts again from the smallest ceiling."""
        self._attempt = 0
