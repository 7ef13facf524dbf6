"""The venue's clock against ours: a startup skew check, and a judge for the venue's timestamps.

Two different questions, two different clocks (the rule this module exists for):

- *How old is this data?*  Measured on the local monotonic clock (Trio's) at receipt.  A book received 2 s ago
  is 2 s old whatever its ``time`` field says, so a skewed wall clock, a venue clock glitch or one frame stamped
  2^53 - 1 can never make a fresh book look stale or a dead one look fresh.  (The alternative - age = local wall
  time minus the venue's stamp - was what we had: a clock skew of a few seconds made every book "stale" and
  ``can_quote`` false, and one far-future stamp froze the book, since every later snapshot looked older.)
- *Is this venue timestamp believable?*  The venue's stamps still order snapshots (the REST snapshot and the
  first WS push race after a reconnect) and set the start of a fills gap-fill, so a stamp far from the venue's
  present is an **anomaly**: counted, logged (rate-limited), shown in ``conn.health()``, and never used as an
  ordering watermark or a gap-fill start.  The venue's present is estimated as local wall time plus the offset
  measured at startup, so a steady skew is not an anomaly; ``tolerance_s`` (default 60 s: blocks are sub-second,
  and NTP-disciplined clocks drift milliseconds a day) bounds how far a stamp may stray from it.

Startup: one ``l2Book`` request (weight 2) gives the venue's block time in ms; the offset is that minus the
midpoint of our wall clock around the request (error <= half the round trip).  The venue accepts a nonce only in
(T - 2 days, T + 1 day) of its own time T (PROTOCOL.md §8.1), and our nonces are our wall-clock ms, so a local
clock outside that window makes *every* action fail on its nonce.  ``open_connector`` refuses to start then, with
the measured skew in the error (:class:`ClockSkewError`), keeping a 5-minute margin to the window's edge so that
the refusal does not turn into nonce failures a few minutes after a start.  A skew inside the window is logged
(warning above 1 s) and trading goes on: nonces are only required to be unique and inside the window.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import attrs
import trio

from trio_hl.errors import ConfigError

__all__ = [
    "NONCE_WINDOW_AHEAD_S",
    "NONCE_WINDOW_BEHIND_S",
    "SKEW_MARGIN_S",
    "ClockCheck",
    "ClockSkewError",
    "TimestampJudge",
    "check_skew",
]

logger = logging.getLogger(__name__)

#: A nonce may be at most this far ahead of the venue's time (PROTOCOL.md §8.1: T + 1 day).
NONCE_WINDOW_AHEAD_S = 86_400.0
#: ... and at most this far behind it (T - 2 days).
NONCE_WINDOW_BEHIND_S = 2 * 86_400.0
#: Refuse this far inside the window's edges: a start right at the edge would fail minutes later.
SKEW_MARGIN_S = 300.0
#: A skew above this is worth a warning at startup (it is harmless to nonces, but it misleads anyone reading
#: timestamps side by side in logs).
WARN_SKEW_S = 1.0


class ClockSkewError(ConfigError):
    """The local clock is too far from the venue's for any nonce to be accepted; fix the system clock (NTP)."""

    def __init__(self, message: str, *, skew_s: float) -> None:
        super().__init__(message)
        #: Local clock minus the venue's, in seconds (positive: local clock ahead).
        self.skew_s = skew_s


@attrs.frozen
class ClockCheck:
    """One measurement of the venue's clock against ours."""

    #: Venue time minus local wall time, seconds (positive: the local clock is behind the venue's).
    offset_s: float
    #: Round trip of the request that measured it, seconds: the offset is known to within half of it.
    rtt_s: float

    @property
    def skew_s(self) -> float:
        """Local minus venue, seconds (positive: the local clock is ahead), the way people say "my clock is fast"."""
        return -self.offset_s


def _describe(seconds: float) -> str:
    magnitude = abs(seconds)
    if magnitude >= 86_400:
        return f"{magnitude / 86_400:.2f} days"
    if magnitude >= 3_600:
        return f"{magnitude / 3_600:.2f} hours"
    return f"{magnitude:.3f} s"


def check_skew(check: ClockCheck) -> None:
    """Raise :class:`ClockSkewError` when the local clock is outside the venue's nonce window (with margin)."""
    skew = check.skew_s
    ahead_limit = NONCE_WINDOW_AHEAD_S - SKEW_MARGIN_S
    behind_limit = NONCE_WINDOW_BEHIND_S - SKEW_MARGIN_S
    if skew > ahead_limit or -skew > behind_limit:
        direction = "ahead of" if skew > 0 else "behind"
        raise ClockSkewError(
            f"the local clock is {_describe(skew)} {direction} the venue's (measured skew {skew:+.3f} s, "
            f"round trip {check.rtt_s * 1000:.0f} ms); the venue accepts nonces only from 2 days behind to 1 day "
            f"ahead of its time, so every order would be refused (synchronise the system clock, e.g. with NTP)",
            skew_s=skew,
        )
    if abs(skew) > WARN_SKEW_S:
        logger.warning("local clock is %s %s the venue's (skew %+.3f s): trading continues, nonces stay inside "
                       "the venue's window", _describe(skew), "ahead of" if skew > 0 else "behind", skew)


class TimestampJudge:
    """Decides whether a venue timestamp is believable (see the module doc) and counts the ones that are not.

    ``wall`` is the local wall clock (unix seconds); ``offset_s`` the measured venue-minus-local offset.
    """

    __slots__ = ("_last_log", "_wall", "anomalies", "last_anomaly", "offset_s", "tolerance_s")

    #: At most one log line per this many seconds (Trio time): a venue clock gone wrong stamps every frame.
    LOG_EVERY_S = 10.0

    def __init__(self, wall: Callable[[], float], *, offset_s: float = 0.0, tolerance_s: float = 60.0) -> None:
        if not (math.isfinite(tolerance_s) and tolerance_s > 0):
            raise ValueError(f"tolerance_s must be a positive number of seconds, got {tolerance_s!r}")
        self._wall = wall
        self.offset_s = offset_s
        self.tolerance_s = tolerance_s
        #: Timestamps judged implausible so far.
        self.anomalies = 0
        #: The last implausible timestamp (venue seconds), for ``health()``.
        self.last_anomaly: float | None = None
        self._last_log: float | None = None

    def venue_now(self) -> float:
        """The venue's present as we estimate it (local wall time + measured offset)."""
        return self._wall() + self.offset_s

    def plausible(self, venue_ts: float, what: str, *, past_ok: bool = False) -> bool:
        """True if ``venue_ts`` (seconds) is within ``tolerance_s`` of the venue's present; else count and log.

        ``past_ok``: any past stamp is fine (historical records such as the fills a gap-fill reads); only a
        stamp from the future is judged."""
        deviation = venue_ts - self.venue_now()
        if math.isfinite(deviation) and (deviation <= self.tolerance_s if past_ok
                                         else abs(deviation) <= self.tolerance_s):
            return True
        self.anomalies += 1
        self.last_anomaly = venue_ts
        now = trio.current_time()
        if self._last_log is None or now - self._last_log >= self.LOG_EVERY_S:
            self._last_log = now
            logger.warning("%s: venue timestamp %r is %s from the venue's present as estimated here; not used for "
                           "ordering or gap-fill (%d such timestamps so far)", what, venue_ts,
                           _describe(deviation) if math.isfinite(deviation) else "infinitely far", self.anomalies)
        return False
