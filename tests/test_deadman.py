"""The dead-man's switch on the autojump clock: exact arm/refresh times, letting it fire while unhealthy, re-arming,
the venue's daily trigger cap and 5 s minimum delay, failures counted and retried, disarm on clean shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing

from trio_hl.emulator import Limits, open_emulator
from trio_hl.emulator.app import TrioWallClock
from trio_hl.errors import AmbiguousOutcomeError, TransportError, VenueRejectedError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.deadman import (
    DAY_MS,
    SCHEDULE_CANCEL_MIN_DELAY_S,
    DeadMansSwitch,
    DeadMansSwitchState,
    DisarmReason,
)
from trio_hl.hyperliquid.rest import ExchangeClient
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action

# 2024-03-01 00:00:00 UTC, minus ten minutes: the UTC day rolls over 600 s into a test.
MIDNIGHT_MS = 1_709_251_200_000
START_MS = MIDNIGHT_MS - 600_000


@attrs.define
class FakeVenue:
    """Records every ``send_schedule_cancel`` call as (Trio time since start, time_ms) and fails on demand."""

    start: float
    calls: list[tuple[float, int | None]] = attrs.field(factory=list)
    fail_with: list[BaseException | None] = attrs.field(factory=list)  # consumed one per call; None = succeed
    hang: bool = False
    healthy: bool = True

    def clock_ms(self) -> int:
        return START_MS + round((trio.current_time() - self.start) * 1000)

    def now(self) -> float:
        return trio.current_time() - self.start

    async def send(self, time_ms: int | None) -> None:
        self.calls.append((self.now(), time_ms))
        if self.hang:
            await trio.sleep_forever()
        if self.fail_with:
            error = self.fail_with.pop(0)
            if error is not None:
                raise error

    def times(self) -> list[float]:
        return [t for t, _ in self.calls]


def make_switch(venue: FakeVenue, **options: Any) -> DeadMansSwitch:
    return DeadMansSwitch(send_schedule_cancel=venue.send, is_healthy=lambda: venue.healthy,
                          clock_ms=venue.clock_ms, **options)


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[FakeVenue, DeadMansSwitch]]:
    venue = FakeVenue(start=trio.current_time())
    healthy = options.pop("healthy", True)
    venue.healthy = healthy
    venue.fail_with = options.pop("fail_with", [])
    switch = make_switch(venue, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(switch.run)
        yield venue, switch
        nursery.cancel_scope.cancel()


async def sleep_to(venue: FakeVenue, t: float) -> None:
    """Sleep until ``t`` seconds after the start, and a hair more so a tick due at ``t`` has run."""
    await trio.sleep_until(venue.start + t + 0.001)


def at(seconds: float) -> int:
    return START_MS + round(seconds * 1000)


# ------------------------------------------------------------------------------------------------- arming


async def test_arms_at_start_at_least_the_venue_minimum_ahead(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        assert venue.calls == [(0.0, at(30))]
        deadline = venue.calls[0][1]
        assert deadline is not None and deadline >= venue.clock_ms() + SCHEDULE_CANCEL_MIN_DELAY_S * 1000
        assert switch.statistics() == DeadMansSwitchState(
            armed=True, deadline_ms=at(30), last_refresh_ms=at(0), refreshes=1, failures=0, triggers_today=0,
            disarmed_reason=None, last_error=None)


async def test_refreshes_every_interval_while_healthy_exactly(autojump_clock: trio.testing.MockClock) -> None:
    async with running(window_s=30.0, refresh_every_s=10.0) as (venue, switch):
        await sleep_to(venue, 125)
        assert venue.times() == [10.0 * i for i in range(13)]
        assert [ms for _, ms in venue.calls] == [at(10 * i + 30) for i in range(13)]
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(150) and stats.last_refresh_ms == at(120)
        assert stats.refreshes == 13 and stats.triggers_today == 0


async def test_a_slow_send_does_not_make_the_schedule_drift(autojump_clock: trio.testing.MockClock) -> None:
    venue = FakeVenue(start=trio.current_time())

    async def slow_send(time_ms: int | None) -> None:
        await trio.sleep(3)
        await venue.send(time_ms)

    switch = DeadMansSwitch(send_schedule_cancel=slow_send, is_healthy=lambda: True, clock_ms=venue.clock_ms)
    async with trio.open_nursery() as nursery:
        await nursery.start(switch.run)
        await sleep_to(venue, 45)
        nursery.cancel_scope.cancel()
    # Each send lands 3 s after its tick; the ticks stay on the 10 s grid and the deadline is from the tick.
    assert venue.calls == [(10.0 * i + 3, at(10 * i + 30)) for i in range(5)]


async def test_no_arming_while_unhealthy_from_the_start(autojump_clock: trio.testing.MockClock) -> None:
    async with running(healthy=False) as (venue, switch):
        await sleep_to(venue, 30)
        assert venue.calls == []
        assert switch.statistics().disarmed_reason is DisarmReason.UNHEALTHY
        assert not switch.statistics().armed
        venue.healthy = True
        await sleep_to(venue, 40)
        assert venue.calls == [(40.0, at(70))]
        assert switch.statistics().armed and switch.statistics().disarmed_reason is None


# ---------------------------------------------------------------------------------------- letting it fire


async def test_stops_refreshing_when_unhealthy_and_counts_the_trigger(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        await sleep_to(venue, 25)
        venue.healthy = False  # last refresh at 20 s: deadline 50 s
        await sleep_to(venue, 49)
        assert venue.times() == [0, 10, 20]
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(50) and stats.triggers_today == 0
        await sleep_to(venue, 50)
        stats = switch.statistics()
        assert not stats.armed and stats.deadline_ms is None
        assert stats.triggers_today == 1 and stats.disarmed_reason is DisarmReason.FIRED
        await sleep_to(venue, 95)
        assert venue.times() == [0, 10, 20]  # never an active cancel or unset of our own
        assert switch.statistics().triggers_today == 1


async def test_recovery_before_the_deadline_is_no_trigger(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        await sleep_to(venue, 5)
        venue.healthy = False
        await sleep_to(venue, 15)  # the tick at 10 s sent nothing; the deadline (30 s) is still ahead
        venue.healthy = True
        await sleep_to(venue, 25)
        assert venue.calls == [(0.0, at(30)), (20.0, at(50))]
        stats = switch.statistics()
        assert stats.armed and stats.triggers_today == 0


async def test_rearms_after_recovery_from_a_fire(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        venue.healthy = False
        await sleep_to(venue, 35)  # fired at 30 s
        assert switch.statistics().disarmed_reason is DisarmReason.FIRED
        venue.healthy = True
        await sleep_to(venue, 40)
        assert venue.calls == [(0.0, at(30)), (40.0, at(70))]
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(70) and stats.triggers_today == 1
        assert stats.disarmed_reason is None


async def test_daily_cap_stops_arming_until_utc_midnight(autojump_clock: trio.testing.MockClock) -> None:
    # Ten minutes before midnight: fire twice (cap 2), then stay healthy.
    async with running(max_triggers_per_day=2) as (venue, switch):
        venue.healthy = False
        await sleep_to(venue, 35)   # fired at 30 s
        venue.healthy = True
        await sleep_to(venue, 40)   # re-armed: deadline 70 s
        venue.healthy = False
        await sleep_to(venue, 75)   # fired at 70 s
        assert switch.statistics().triggers_today == 2
        venue.healthy = True
        await sleep_to(venue, 590)
        assert venue.times() == [0, 40]  # the venue's cap would refuse us: we do not even ask
        stats = switch.statistics()
        assert not stats.armed and stats.disarmed_reason is DisarmReason.DAILY_CAP
        assert stats.failures == 0 and stats.triggers_today == 2
        await sleep_to(venue, 600)  # 00:00 UTC: a new day, a new allowance
        assert venue.calls[-1] == (600.0, MIDNIGHT_MS + 30_000)
        stats = switch.statistics()
        assert stats.armed and stats.triggers_today == 0 and stats.disarmed_reason is None


async def test_trigger_counts_on_the_deadlines_utc_day(autojump_clock: trio.testing.MockClock) -> None:
    async with running(max_triggers_per_day=1) as (venue, switch):
        await sleep_to(venue, 575)
        venue.healthy = False  # last refresh at 570 s: fires at 600 s, the first instant of the new day
        await sleep_to(venue, 600)
        assert switch.statistics().triggers_today == 1
        venue.healthy = True
        await sleep_to(venue, 700)
        assert venue.times()[-1] == 570  # cap of 1 reached on the new day
        assert switch.statistics().disarmed_reason is DisarmReason.DAILY_CAP


# ----------------------------------------------------------------------------------------------- failures


async def test_send_failures_are_counted_and_retried_next_tick(autojump_clock: trio.testing.MockClock) -> None:
    errors: list[BaseException | None] = [TransportError("connect refused"), VenueRejectedError("nope")]
    async with running(fail_with=errors) as (venue, switch):
        stats = switch.statistics()
        assert not stats.armed and stats.failures == 1 and stats.disarmed_reason is DisarmReason.SEND_FAILED
        assert stats.last_error == "TransportError: connect refused"
        await sleep_to(venue, 10)
        assert switch.statistics().failures == 2
        assert switch.statistics().last_error == "VenueRejectedError: nope"
        await sleep_to(venue, 20)
        assert venue.calls == [(0.0, at(30)), (10.0, at(40)), (20.0, at(50))]
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(50) and stats.refreshes == 1 and stats.failures == 2


async def test_failed_refreshes_keep_the_old_deadline_and_count_its_fire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as (venue, switch):
        venue.fail_with = [TransportError("down")] * 3
        await sleep_to(venue, 20)  # refreshes at 10 and 20 s failed: the venue still holds 30 s
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(30) and stats.failures == 2
        await sleep_to(venue, 30)  # the deadline passed unrefreshed: the venue fired although we were healthy
        stats = switch.statistics()
        assert stats.triggers_today == 1 and stats.failures == 3 and not stats.armed
        await sleep_to(venue, 40)
        assert switch.statistics().armed and switch.statistics().deadline_ms == at(70)


async def test_ambiguous_send_waits_for_the_later_deadline(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        venue.fail_with = [AmbiguousOutcomeError("timeout after sending")]
        await sleep_to(venue, 15)
        venue.healthy = False
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(40) and stats.failures == 1 and stats.refreshes == 1
        await sleep_to(venue, 35)
        assert switch.statistics().triggers_today == 0  # 30 s passed, but the 40 s deadline may be the live one
        await sleep_to(venue, 40)
        assert switch.statistics().triggers_today == 1


async def test_hung_send_times_out_and_counts_as_a_maybe(autojump_clock: trio.testing.MockClock) -> None:
    async with running(send_timeout_s=2.0) as (venue, switch):
        venue.hang = True
        await sleep_to(venue, 13)
        stats = switch.statistics()
        assert stats.failures == 1 and stats.last_error == "timeout: no answer within 2.0 s"
        assert stats.armed and stats.deadline_ms == at(40)
        venue.hang = False
        await sleep_to(venue, 20)
        assert venue.times() == [0, 10, 20] and switch.statistics().refreshes == 2


async def test_other_exceptions_propagate(autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(ExceptionGroup) as caught:
        async with running(fail_with=[None, KeyError("bug")]) as (venue, _):
            await sleep_to(venue, 60)
    assert caught.group_contains(KeyError)


# ------------------------------------------------------------------------------------------------- disarm


async def test_disarm_sends_none_and_stays_disarmed(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        await trio.sleep_until(venue.start + 15)
        await switch.disarm()
        assert venue.calls[-1] == (15.0, None)
        await sleep_to(venue, 100)
        assert venue.calls == [(0.0, at(30)), (10.0, at(40)), (15.0, None)]
        stats = switch.statistics()
        assert not stats.armed and stats.deadline_ms is None and stats.disarmed_reason is DisarmReason.DISARMED
        assert stats.triggers_today == 0


async def test_disarm_waits_for_a_send_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    venue = FakeVenue(start=trio.current_time())
    release = trio.Event()

    async def slow_send(time_ms: int | None) -> None:
        if time_ms is not None:
            await release.wait()
        await venue.send(time_ms)

    switch = DeadMansSwitch(send_schedule_cancel=slow_send, is_healthy=lambda: True, clock_ms=venue.clock_ms)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(switch.run)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(switch.disarm)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        await sleep_to(venue, 50)
        nursery.cancel_scope.cancel()
    assert [ms for _, ms in venue.calls] == [at(30), None]  # the unset is last: nothing overtakes it


async def test_failed_disarm_raises_and_reports_still_armed(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, switch):
        venue.fail_with = [TransportError("down")]
        with pytest.raises(TransportError):
            await switch.disarm()
        stats = switch.statistics()
        assert stats.armed and stats.deadline_ms == at(30)


async def test_cancelling_run_leaves_the_schedule_armed(autojump_clock: trio.testing.MockClock) -> None:
    async with running() as (venue, _):
        await sleep_to(venue, 5)
    assert venue.calls == [(0.0, at(30))]  # a crash must not unset: no None was sent


# ------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"window_s": 6.9, "refresh_every_s": 3.0}, "window_s must be >= 7.0"),
        ({"window_s": float("inf")}, "window_s"),
        ({"refresh_every_s": 15.1}, r"refresh_every_s must be > 0 and <= window_s / 2 \(15.0\)"),
        ({"refresh_every_s": 0.0}, "refresh_every_s"),
        ({"max_triggers_per_day": 0}, r"max_triggers_per_day must be an int in 1..10"),
        ({"max_triggers_per_day": 11}, "max_triggers_per_day"),
        ({"send_timeout_s": -1.0}, "send_timeout_s"),
        ({"send_timeout_s": 25.1}, r"send_timeout_s must be > 0 and <= window_s - 5.0 \(25.0\)"),
        ({"window_s": 7.0, "refresh_every_s": 3.5, "send_timeout_s": 2.5}, "send_timeout_s"),
    ],
)
def test_bad_configuration_raises_at_construction(options: dict[str, Any], match: str) -> None:
    venue = FakeVenue(start=0.0)
    with pytest.raises(ValueError, match=match):
        make_switch(venue, **options)


async def test_default_send_timeout_keeps_the_minimum_delay(autojump_clock: trio.testing.MockClock) -> None:
    # window 7 s: a send may take at most 2 s, so the deadline is still >= 5 s ahead when it lands.
    async with running(window_s=7.0, refresh_every_s=3.5) as (venue, switch):
        venue.hang = True
        await sleep_to(venue, 5.5)  # the send started at the 3.5 s tick gives up at 5.5 s
        stats = switch.statistics()
        assert stats.last_error == "timeout: no answer within 2.0 s" and stats.deadline_ms == at(10.5)
        assert venue.calls[-1] == (3.5, at(10.5))


def test_day_length() -> None:
    assert DAY_MS == 24 * 3600 * 1000 and MIDNIGHT_MS % DAY_MS == 0



# ------------------------------------------------------------------------------------ against the emulator
# The emulator's time follows the Trio clock (TrioWallClock), so under autojump its scheduled cancels fire in
# milliseconds of real time.  A fixed noon start keeps the UTC day (and the venue's trigger count) stable.
EMU_NOON_MS = MIDNIGHT_MS + DAY_MS // 2


@attrs.define
class EmulatorAccount:
    """One account speaking plain signed REST to the emulator: what the connector's sender will do."""

    url: str
    now_ms: Callable[[], int]
    signer: LocalSigner = attrs.field(factory=LocalSigner.generate)
    last_nonce: int = 0

    def _body(self, action: dict[str, Any]) -> dict[str, Any]:
        self.last_nonce = nonce = max(self.now_ms(), self.last_nonce + 1)
        return wire.exchange_body(action, nonce, sign_l1_action(self.signer, action, None, nonce, None, False),
                                  None, None)

    async def info(self, request: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(base_url=self.url) as client:
            return (await client.post("/info", json=request)).json()

    async def act(self, action: dict[str, Any]) -> dict[str, Any]:
        async with ExchangeClient(self.url) as exchange:
            answer = await exchange.post_action(self._body(action))
        if answer["status"] != "ok":
            raise VenueRejectedError(str(answer["response"]))
        return answer

    async def send_schedule_cancel(self, time_ms: int | None) -> None:
        await self.act(wire.schedule_cancel_action(time_ms))

    async def rest_buy(self) -> int:
        """A BTC bid far below the market: it rests until someone cancels it."""
        order = wire.order_wire(0, True, Decimal(50000), Decimal("0.001"), False, wire.limit_order_type("Gtc"), None)
        answer = await self.act(wire.order_action([order]))
        status = answer["response"]["data"]["statuses"][0]
        assert "resting" in status, status
        return int(status["resting"]["oid"])

    async def order_status(self, oid: int) -> str:
        answer = await self.info({"type": "orderStatus", "user": self.signer.address, "oid": oid})
        return str(answer["order"]["status"])


@asynccontextmanager
async def emulator_account() -> AsyncIterator[EmulatorAccount]:
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=0.5, clock_ms=TrioWallClock(EMU_NOON_MS),
                             engine_options={"with_market": False}) as emu:
        account = EmulatorAccount(emu.url, emu.now_ms)
        await account.info({"type": "clearinghouseState", "user": account.signer.address})  # names (funds) it
        yield account


async def test_emulator_cancels_resting_orders_only_once_unhealthy(autojump_clock: trio.testing.MockClock) -> None:
    async with emulator_account() as account, trio.open_nursery() as nursery:
        healthy = True
        switch = DeadMansSwitch(send_schedule_cancel=account.send_schedule_cancel, is_healthy=lambda: healthy,
                                clock_ms=account.now_ms)
        oid = await account.rest_buy()
        await nursery.start(switch.run)
        assert switch.statistics().armed
        await trio.sleep(120)  # four windows: without the refreshes the venue would have fired three times
        assert await account.order_status(oid) == "open"
        stats = switch.statistics()
        assert stats.failures == 0 and stats.refreshes >= 12 and stats.triggers_today == 0

        healthy = False
        await trio.sleep(10)  # past the next tick: no refresh is still in flight
        stats = switch.statistics()
        deadline = stats.deadline_ms
        assert stats.armed and deadline is not None and deadline > account.now_ms()
        await trio.sleep((deadline - 1_000 - account.now_ms()) / 1000)
        assert await account.order_status(oid) == "open"  # one second before the deadline
        await trio.sleep((deadline + 1_000 - account.now_ms()) / 1000)  # the emulator's time is the Trio clock
        assert await account.order_status(oid) == "scheduledCancel"
        await trio.sleep(10)  # the switch's next tick notices the deadline passed
        stats = switch.statistics()
        assert stats.triggers_today == 1 and stats.disarmed_reason is DisarmReason.FIRED

        healthy = True  # recovery re-arms; the venue accepts it (a trigger is not the end of the day)
        await trio.sleep(10)
        stats = switch.statistics()
        assert stats.armed and stats.failures == 0
        second = await account.rest_buy()
        await switch.disarm()
        await trio.sleep(120)  # disarmed: a clean exit keeps the orders
        assert await account.order_status(second) == "open"
        nursery.cancel_scope.cancel()


async def test_switch_stops_exactly_where_the_venue_cap_would_refuse(autojump_clock: trio.testing.MockClock) -> None:
    async with emulator_account() as account, trio.open_nursery() as nursery:
        healthy = True
        switch = DeadMansSwitch(send_schedule_cancel=account.send_schedule_cancel, is_healthy=lambda: healthy,
                                clock_ms=account.now_ms)
        await nursery.start(switch.run)
        for fired in range(1, 11):  # ten fires: the venue's daily maximum
            healthy = False
            await trio.sleep(40)
            assert switch.statistics().triggers_today == fired
            healthy = True
            await trio.sleep(10)
        stats = switch.statistics()
        assert not stats.armed and stats.disarmed_reason is DisarmReason.DAILY_CAP and stats.failures == 0
        # The venue agrees: an attempt to set the time now is refused with its cap error.
        with pytest.raises(VenueRejectedError, match="Too many scheduled cancel triggers today"):
            await account.send_schedule_cancel(account.now_ms() + 30_000)
        nursery.cancel_scope.cancel()
