"""A managed dead-man's switch: keep the venue's ``scheduleCancel`` armed only while the connector is healthy.

Rule followed (PROTOCOL §3.2 "scheduleCancel"): the venue cancels every open order of the account when the
scheduled time passes.  The time must be at least 5 s in the future when it arrives; omitting it (``time`` =
``None`` here) unsets the schedule; the schedule may *trigger* at most 10 times per UTC day (the count resets
at 00:00 UTC), and once that many triggers happened the venue refuses to set a new time.

So :class:`DeadMansSwitch` ticks every ``refresh_every_s`` of Trio time and, while ``is_healthy()`` says so,
re-sends ``now + window_s``.  A hung, partitioned or unhealthy process stops refreshing, the deadline passes and
the *venue* cancels the orders — the one party that still works when we do not.  When the connector is
unhealthy the switch deliberately does nothing: it neither refreshes nor cancels.  Alternative rejected:
actively cancelling (or unsetting) on ill health.  Ill health is exactly when our own requests are least likely
to get through, and the venue-side timer needs no request at all; an active cancel would also race the
connector's own recovery (reconnect, gap-fill) and cancel orders a healthy minute later would have kept.

Triggers are estimated, not observed: the venue does not report them.  When a deadline we may have set passes
without a later successful refresh, the switch counts one trigger on the deadline's UTC day — whether we were
unhealthy or our refreshes failed, the venue fired either way.  At ``max_triggers_per_day`` the switch stops
arming until the next UTC day and reports :attr:`DisarmReason.DAILY_CAP` instead of collecting the venue's
"Too many scheduled cancel triggers today" errors.  An :class:`~trio_hl.errors.AmbiguousOutcomeError` (or a
send that outlives ``send_timeout_s``) is treated as "may have landed": its deadline becomes the one we wait
for, so the estimate errs towards counting a trigger that did not happen (arming stops a little early) rather
than missing one (the venue would refuse us).

Send failures (:class:`~trio_hl.errors.TransportError`, :class:`~trio_hl.errors.VenueRejectedError`,
:class:`~trio_hl.errors.AmbiguousOutcomeError`, :class:`~trio_hl.errors.ProtocolError`) are counted and retried
at the next tick; any other exception propagates to the owning nursery.  Ticks are on a fixed grid
(``trio.sleep_until``), so a slow send does not make the schedule drift.  ``refresh_every_s`` may be at most
half of ``window_s``: one failed refresh must not be enough to cancel every order.

Cancelling :meth:`DeadMansSwitch.run` does *not* unset the schedule — a crash must leave it armed.  A clean
shutdown calls :meth:`DeadMansSwitch.disarm` first, which sends ``time=None`` so a normal exit keeps the orders.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import trio

from trio_hl.errors import AmbiguousOutcomeError, ProtocolError, TransportError, VenueRejectedError

__all__ = [
    "SCHEDULE_CANCEL_MAX_TRIGGERS_PER_DAY",
    "SCHEDULE_CANCEL_MIN_DELAY_S",
    "DeadMansSwitch",
    "DeadMansSwitchState",
    "DisarmReason",
]

#: The venue refuses a scheduled time less than this far in the future (PROTOCOL §3.2).
SCHEDULE_CANCEL_MIN_DELAY_S: Final = 5.0
#: The venue lets the schedule trigger at most this many times per UTC day (PROTOCOL §3.2).
SCHEDULE_CANCEL_MAX_TRIGGERS_PER_DAY: Final = 10
#: Head-room above the venue's minimum delay for request latency and clock skew between us and the venue.
LATENCY_ALLOWANCE_S: Final = 2.0
DAY_MS: Final = 86_400_000

#: What a failed send can mean: not applied (transport, rejection) or perhaps applied (ambiguous, unparseable).
_NOT_APPLIED: Final = (TransportError, VenueRejectedError)
_MAYBE_APPLIED: Final = (AmbiguousOutcomeError, ProtocolError)


class DisarmReason(enum.Enum):
    """Why the switch is not armed (``DeadMansSwitchState.disarmed_reason``; ``None`` while armed)."""

    #: ``run()`` has not ticked yet.
    NOT_STARTED = "not started"
    #: The connector was unhealthy when the switch would have armed.
    UNHEALTHY = "connector unhealthy"
    #: A deadline passed without a refresh: the venue cancelled the orders (counted in ``triggers_today``).
    FIRED = "fired"
    #: ``triggers_today`` reached ``max_triggers_per_day``: no arming until 00:00 UTC.
    DAILY_CAP = "daily trigger cap reached"
    #: The last attempt to arm failed (see ``last_error``); retried at the next tick.
    SEND_FAILED = "send failed"
    #: :meth:`DeadMansSwitch.disarm` unset the schedule.
    DISARMED = "disarmed"


@attrs.frozen(kw_only=True)
class DeadMansSwitchState:
    """A snapshot of the switch.  Times are the venue's unix ms (``clock_ms``)."""

    #: A deadline we set (or may have set, after an ambiguous send) has not yet passed.
    armed: bool
    #: The deadline in force if ``armed`` (the latest one that may have landed), else ``None``.
    deadline_ms: int | None
    #: When the last successful arm or refresh was sent.
    last_refresh_ms: int | None
    #: Successful arms and refreshes.
    refreshes: int
    #: Failed sends (each is retried at the next tick).
    failures: int
    #: Estimated triggers on the current UTC day (deadlines that passed unrefreshed).
    triggers_today: int
    #: Why the switch is not armed; ``None`` while armed.
    disarmed_reason: DisarmReason | None
    #: The last send failure (``"TypeName: message"``), kept after later successes for diagnosis.
    last_error: str | None


class DeadMansSwitch:
    """Keeps ``scheduleCancel`` at ``now + window_s`` while ``is_healthy()``; see the module docstring.

    ``send_schedule_cancel(time_ms | None)`` signs and sends ``{"type": "scheduleCancel", "time": …}`` and raises
    :mod:`trio_hl.errors` exceptions on failure.  ``clock_ms()`` is the venue's unix ms; scheduling uses the Trio
    clock.  ``send_timeout_s`` (default ``min(refresh_every_s, window_s - 5)``) bounds one send: a refresh that
    arrives after its next tick is no use, a hung send must not stall the switch, and a deadline computed at the
    tick must still be at least the venue's 5 s ahead when the send lands.
    """

    def __init__(
        self,
        *,
        send_schedule_cancel: Callable[[int | None], Awaitable[None]],
        is_healthy: Callable[[], bool],
        clock_ms: Callable[[], int],
        window_s: float = 30.0,
        refresh_every_s: float = 10.0,
        max_triggers_per_day: int = SCHEDULE_CANCEL_MAX_TRIGGERS_PER_DAY,
        send_timeout_s: float | None = None,
    ) -> None:
        min_window = SCHEDULE_CANCEL_MIN_DELAY_S + LATENCY_ALLOWANCE_S
        if not (math.isfinite(window_s) and window_s >= min_window):
            raise ValueError(
                f"window_s must be >= {min_window} s (the venue's {SCHEDULE_CANCEL_MIN_DELAY_S} s minimum delay "
                f"plus {LATENCY_ALLOWANCE_S} s for latency and clock skew), got {window_s!r}"
            )
        if not (math.isfinite(refresh_every_s) and 0 < refresh_every_s <= window_s / 2):
            raise ValueError(
                f"refresh_every_s must be > 0 and <= window_s / 2 ({window_s / 2}) so that one failed refresh "
                f"does not let the switch fire, got {refresh_every_s!r}"
            )
        if type(max_triggers_per_day) is not int or not 1 <= max_triggers_per_day <= (
            SCHEDULE_CANCEL_MAX_TRIGGERS_PER_DAY
        ):
            raise ValueError(
                f"max_triggers_per_day must be an int in 1..{SCHEDULE_CANCEL_MAX_TRIGGERS_PER_DAY} "
                f"(the venue's daily cap), got {max_triggers_per_day!r}"
            )
        # A send that takes the whole timeout must still arrive at least the venue's minimum delay ahead.
        max_timeout = window_s - SCHEDULE_CANCEL_MIN_DELAY_S
        timeout = min(refresh_every_s, max_timeout) if send_timeout_s is None else send_timeout_s
        if not (math.isfinite(timeout) and 0 < timeout <= max_timeout):
            raise ValueError(
                f"send_timeout_s must be > 0 and <= window_s - {SCHEDULE_CANCEL_MIN_DELAY_S} ({max_timeout}) so a "
                f"slow refresh still lands before the venue's minimum delay, got {send_timeout_s!r}"
            )
        self._send = send_schedule_cancel
        self._is_healthy = is_healthy
        self._clock_ms = clock_ms
        self._window_ms = round(window_s * 1000)
        self._refresh_every_s = refresh_every_s
        self._max_triggers = max_triggers_per_day
        self._send_timeout_s = timeout
        # One send at a time, so disarm()'s unset can never be overtaken by a refresh still in flight.
        self._lock = trio.Lock()
        self._deadline_ms: int | None = None
        self._last_refresh_ms: int | None = None
        self._refreshes = 0
        self._failures = 0
        self._trigger_day = -1
        self._triggers = 0
        self._reason: DisarmReason | None = DisarmReason.NOT_STARTED
        self._last_error: str | None = None
        self._disarmed = False

    # ------------------------------------------------------------------------------------------------ public
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The switch's task: tick now (arm), then every ``refresh_every_s``; never returns by itself.

        ``task_status.started()`` comes after the first tick, so ``await nursery.start(switch.run)`` returns
        with the switch armed — or with the reason it is not in :meth:`statistics`.
        """
        next_tick = trio.current_time()
        await self._tick()
        task_status.started()
        while True:
            next_tick += self._refresh_every_s
            now = trio.current_time()
            if next_tick < now:  # a send outlived whole ticks: skip them rather than burst
                next_tick += math.ceil((now - next_tick) / self._refresh_every_s) * self._refresh_every_s
            await trio.sleep_until(next_tick)
            await self._tick()

    async def disarm(self) -> None:
        """Unset the schedule (``time=None``) for a clean shutdown; the switch then stays disarmed.

        Waits for a send in flight; raises the send's :mod:`trio_hl.errors` exception if the unset fails, since
        then the orders *will* be cancelled at the current deadline and the caller should know.
        """
        self._disarmed = True
        async with self._lock:
            await self._send(None)
            self._deadline_ms = None
            self._reason = DisarmReason.DISARMED

    def statistics(self) -> DeadMansSwitchState:
        deadline = self._deadline_ms
        return DeadMansSwitchState(
            armed=deadline is not None,
            deadline_ms=deadline,
            last_refresh_ms=self._last_refresh_ms,
            refreshes=self._refreshes,
            failures=self._failures,
            triggers_today=self._triggers_on(self._clock_ms() // DAY_MS),
            disarmed_reason=self._reason,
            last_error=self._last_error,
        )

    # ----------------------------------------------------------------------------------------------- private
    def _triggers_on(self, day: int) -> int:
        return self._triggers if day == self._trigger_day else 0

    def _note_fired(self, deadline_ms: int) -> None:
        day = deadline_ms // DAY_MS  # the venue counts a trigger on the day it fires
        if day != self._trigger_day:
            self._trigger_day, self._triggers = day, 0
        self._triggers += 1
        self._deadline_ms = None
        self._reason = DisarmReason.FIRED

    async def _tick(self) -> None:
        async with self._lock:
            if self._disarmed:
                return
            now = self._clock_ms()
            if self._deadline_ms is not None and now >= self._deadline_ms:
                self._note_fired(self._deadline_ms)
            if not self._is_healthy():
                # Let it fire: no refresh, and no cancel of our own (see the module docstring).
                if self._deadline_ms is None and self._reason in (DisarmReason.NOT_STARTED, DisarmReason.SEND_FAILED):
                    self._reason = DisarmReason.UNHEALTHY
                return
            if self._deadline_ms is None and self._triggers_on(now // DAY_MS) >= self._max_triggers:
                self._reason = DisarmReason.DAILY_CAP
                return
            await self._set(now + self._window_ms)

    async def _set(self, deadline_ms: int) -> None:
        sent_at = self._clock_ms()
        maybe_applied = False
        error: BaseException | None = None
        with trio.move_on_after(self._send_timeout_s) as scope:
            try:
                await self._send(deadline_ms)
            except _NOT_APPLIED as exc:
                error = exc
            except _MAYBE_APPLIED as exc:
                error, maybe_applied = exc, True
        if scope.cancelled_caught:
            maybe_applied = True
            self._last_error = f"timeout: no answer within {self._send_timeout_s} s"
        if error is not None:
            self._last_error = f"{type(error).__name__}: {error}"
        if error is None and not scope.cancelled_caught:
            self._deadline_ms = deadline_ms
            self._last_refresh_ms = sent_at
            self._refreshes += 1
            self._reason = None
            return
        self._failures += 1
        if maybe_applied:
            # Wait for the latest deadline that may be in force (the new one, if it landed).
            self._deadline_ms = max(self._deadline_ms or deadline_ms, deadline_ms)
            self._reason = None
        elif self._deadline_ms is None:
            self._reason = DisarmReason.SEND_FAILED
