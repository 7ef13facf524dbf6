"""The health monitor: turns ``conn.health()`` into debounced ``HealthChanged`` events on the event channel.

Why: a strategy quoting from stale data is the expensive failure.  ``conn.health()`` answers "how are things
right now", but a strategy consuming ``conn.events()`` wants to be *told* when to stop quoting and when it may
start again, in the same ordered stream as its fills.

What counts (``HealthIssue``):

- trading readiness, one flag for the whole connector: the WebSocket is down (``WS_DISCONNECTED``), it is up
  but the gap-fill has not finished so the submit gate is still closed (``GAP_FILLING``), or it is up but has
  delivered no frame at all for ``stream_stale_after_s`` (``STREAM_STALE``).  Hyperliquid's user channels have
  no heartbeat of their own, so their freshness is the connection's: a silent account is normal, a silent
  *connection* is not (``allMids`` is always subscribed and the venue pushes it every block; pongs arrive every
  ``ping_interval``).
- book freshness, one flag per streamed pair: its book is older than ``book_stale_after_s`` (or has never been
  seen).  The venue pushes a full ``l2Book`` snapshot every block, so a book that stops moving means a stream
  problem for that pair; it does not stop trading on the other pairs.

Hysteresis (the rule): a flag turns *bad* only after problems persisted for ``halt_after_s``, and a trouble
episode is forgotten only after ``halt_after_s`` without any problem, so repeated short blips still halt while a
single reconnect that completes within ``halt_after_s`` emits nothing.  A flag turns *good* again only after
``resume_after_s`` of continuous health (any bad sample restarts the wait).  So one outage is exactly one
``HealthChanged(trading_ready=False)`` followed by one ``HealthChanged(trading_ready=True)``, never a flurry.

Polling, deliberately: staleness is the *absence* of frames, which only a clock notices, and the hysteresis needs
the clock anyway.  A check every ``check_interval_s`` (0.1 s) reads a handful of counters; measured well under a
millisecond per check, i.e. noise next to the streams.  Alternative rejected: hooks in the WS session and the
submit gate calling into the monitor (callbacks inside those components' call stacks, and they would still need
a timer for staleness).

Events go out through the connector's fan-out (``publish``), so they are ordered with the order events and every
subscriber sees them.  No event is emitted at start: ``open_connector`` returns once trading is ready, which is
the initial state; ``conn.health()`` and ``statistics()`` give the current picture at any time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_hl.core.events import Event, HealthChanged, HealthIssue

if TYPE_CHECKING:  # the connector imports this module; the monitor only reads the value's fields
    from trio_hl.hyperliquid.connector import ConnectorHealth

__all__ = ["HealthMonitor", "HealthMonitorStats", "HealthSettings", "Hysteresis", "raw_issues"]


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a non-negative number of seconds, got {value!r}")


@attrs.frozen(kw_only=True)
class HealthSettings:
    """Thresholds of the health monitor (replace ``conn.health_monitor.settings`` to change them at run time)."""

    #: How often the monitor samples ``conn.health()``.  Bounds how late a change is noticed.
    check_interval_s: float = attrs.field(default=0.1, validator=_positive)
    #: Problems must persist this long before a halt is announced.  1 s covers one reconnect to the venue
    #: (backoff <= 0.25 s + handshake + resubscribe + gap-fill) so a single blip stays silent; 0 = halt at once.
    halt_after_s: float = attrs.field(default=1.0, validator=_non_negative)
    #: Health must hold this long, continuously, before trading is announced ready again.
    resume_after_s: float = attrs.field(default=2.0, validator=_non_negative)
    #: A book older than this is stale (None: do not watch books).  The venue pushes every block (< 1 s).
    book_stale_after_s: float | None = attrs.field(default=10.0, validator=_positive)
    #: A connected WebSocket silent for this long is stale (None: do not watch).  Keep it above the session's
    #: ``ping_interval`` when the market can be quiet (an emulator with a still market sends only pongs).
    stream_stale_after_s: float | None = attrs.field(default=15.0, validator=_positive)


class Hysteresis:
    """One debounced "fit" flag (see the module doc for the rule).  Pure: time comes in with each sample."""

    __slots__ = ("_bad_since", "_good_since", "fit")

    def __init__(self, fit: bool = True) -> None:
        self.fit = fit
        self._bad_since: float | None = None  # start of the current trouble episode (while fit)
        self._good_since: float | None = None  # start of the current healthy streak

    def update(self, raw_fit: bool, now: float, *, halt_after_s: float, resume_after_s: float) -> bool:
        """Feed one sample; True if ``fit`` flipped."""
        if raw_fit:
            if self._good_since is None:
                self._good_since = now
            healthy_for = now - self._good_since
            if not self.fit and healthy_for >= resume_after_s:
                self._flip(True)
                return True
            if self.fit and self._bad_since is not None and healthy_for >= halt_after_s:
                self._bad_since = None  # the episode is over: it never lasted long enough to matter
            return False
        self._good_since = None
        if self.fit:
            if self._bad_since is None:
                self._bad_since = now
            if now - self._bad_since >= halt_after_s:
                self._flip(False)
                return True
        return False

    def _flip(self, fit: bool) -> None:
        self.fit = fit
        self._bad_since = None
        self._good_since = None


@attrs.frozen
class HealthMonitorStats:
    """The monitor's debounced view (what the last ``HealthChanged`` said) and its activity."""

    trading_ready: bool
    issues: tuple[HealthIssue, ...]
    stale_pairs: tuple[str, ...]
    #: ``HealthChanged`` events emitted so far.
    changes: int
    #: Samples taken so far.
    checks: int
    #: Samples that showed a connector-wide issue (debounced away or not): how often trouble was seen at all.
    unhealthy_checks: int


def raw_issues(health: ConnectorHealth, settings: HealthSettings) -> tuple[tuple[HealthIssue, ...], tuple[str, ...]]:
    """The undebounced problems of one sample: connector-wide issues, and the pairs whose book is stale."""
    issues: list[HealthIssue] = []
    if not health.ws_connected:
        issues.append(HealthIssue.WS_DISCONNECTED)
    else:
        if not health.trading_ready:
            issues.append(HealthIssue.GAP_FILLING)
        limit = settings.stream_stale_after_s
        age = health.ws_last_frame_age
        if limit is not None and age is not None and age > limit:
            issues.append(HealthIssue.STREAM_STALE)
    stale: list[str] = []
    book_limit = settings.book_stale_after_s
    if book_limit is not None:
        stale = sorted(p for p, a in health.book_ages.items() if a is None or a > book_limit)
    return tuple(issues), tuple(stale)


class HealthMonitor:
    """Samples ``probe()`` (``conn.health``) and publishes a ``HealthChanged`` whenever a debounced flag flips.

    Built and started by the connector (``conn.health_monitor``); ``run`` is its task.
    """

    def __init__(
        self,
        probe: Callable[[], ConnectorHealth],
        publish: Callable[[list[Event]], None],
        *,
        clock: Callable[[], float],
        settings: HealthSettings | None = None,
    ) -> None:
        self._probe = probe
        self._publish = publish
        self._clock = clock
        self._settings = settings if settings is not None else HealthSettings()
        self._settings_changed = trio.Event()
        self._ready = Hysteresis()
        self._books: dict[str, Hysteresis] = {}
        self._issues: tuple[HealthIssue, ...] = ()
        self._halt_issues: tuple[HealthIssue, ...] = ()
        self._changes = 0
        self._checks = 0
        self._unhealthy_checks = 0
        self._last: HealthChanged | None = None
        self._sample: ConnectorHealth | None = None
        self._checked = trio.Event()

    @property
    def settings(self) -> HealthSettings:
        """The thresholds in force.  Assigning new ones takes effect at once: the monitor checks right away and
        then at the new interval (a long old interval would otherwise hide a short event after a change)."""
        return self._settings

    @settings.setter
    def settings(self, value: HealthSettings) -> None:
        if not isinstance(value, HealthSettings):
            raise TypeError(f"settings must be a HealthSettings, got {type(value).__name__}")
        self._settings = value
        self._settings_changed.set()

    @property
    def last_event(self) -> HealthChanged | None:
        """The most recent ``HealthChanged`` emitted (None while nothing changed since the start)."""
        return self._last

    def statistics(self) -> HealthMonitorStats:
        return HealthMonitorStats(
            trading_ready=self._ready.fit,
            issues=self._issues,
            stale_pairs=self._stale_pairs(),
            changes=self._changes,
            checks=self._checks,
            unhealthy_checks=self._unhealthy_checks,
        )

    async def wait_for(self, predicate: Callable[[ConnectorHealth], bool]) -> ConnectorHealth:
        """Wait for the next check whose sample satisfies ``predicate`` (undebounced); returns that sample.

        For code that must act on the raw state at the monitor's pace, e.g. "wait until reconnected":
        ``await conn.health_monitor.wait_for(lambda h: h.ws_generation > generation and h.trading_ready)``.
        """
        while True:
            checked = self._checked
            await checked.wait()
            sample = self._sample
            if sample is not None and predicate(sample):
                return sample

    def check(self, now: float) -> HealthChanged | None:
        """Take one sample at Trio time ``now``; publish and return the event if a flag flipped."""
        s = self._settings
        health = self._probe()
        self._checks += 1
        issues, stale = raw_issues(health, s)
        if issues:
            self._unhealthy_checks += 1
        self._sample = health
        self._checked.set()
        self._checked = trio.Event()
        changed = self._ready.update(not issues, now, halt_after_s=s.halt_after_s, resume_after_s=s.resume_after_s)
        for pair in health.book_ages:
            flag = self._books.setdefault(pair, Hysteresis())
            changed |= flag.update(pair not in stale, now, halt_after_s=s.halt_after_s,
                                   resume_after_s=s.resume_after_s)
        if not changed:
            return None
        stale_pairs = self._stale_pairs()
        # Connector-wide issues only while the debounced flag says halted: a halt names what persisted; if those
        # cleared but the resume wait is still running (a book flipped meanwhile), the halt's issues still stand.
        if self._ready.fit:
            self._halt_issues = ()
        elif issues:
            self._halt_issues = issues
        reported = self._halt_issues
        if stale_pairs:
            reported = (*reported, HealthIssue.BOOK_STALE)
        self._issues = reported
        self._changes += 1
        event = HealthChanged(
            timestamp=self._clock(),
            trading_ready=self._ready.fit,
            issues=reported,
            stale_pairs=stale_pairs,
            ws_reconnects=health.ws_reconnects,
        )
        self._last = event
        self._publish([event])
        return event

    def _stale_pairs(self) -> tuple[str, ...]:
        return tuple(sorted(p for p, flag in self._books.items() if not flag.fit))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check every ``settings.check_interval_s`` until cancelled (the connector's nursery owns it)."""
        task_status.started()
        while True:
            with trio.move_on_after(self._settings.check_interval_s):
                await self._settings_changed.wait()
                self._settings_changed = trio.Event()
            self.check(trio.current_time())
