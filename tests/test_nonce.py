"""hyperliquid.nonce: strictly increasing per-signer nonces, and the venue's nonce book for the emulator."""

from __future__ import annotations

import itertools
import random

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.errors import VenueRejectedError
from trio_hl.hyperliquid.nonce import (
    MAX_NONCE_AGE_MS,
    MAX_NONCE_LEAD_MS,
    NonceRegistry,
    NonceRejected,
    NonceRejection,
    NonceService,
    check_window,
    wall_clock_ms,
    within_window,
)

NOW = 1_700_000_000_000


class FakeClock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_next_follows_the_clock_when_it_moves() -> None:
    clock = FakeClock()
    svc = NonceService(clock)
    assert svc.peek_last() is None
    assert svc.next() == NOW
    clock.now += 5
    assert svc.next() == NOW + 5
    assert svc.peek_last() == NOW + 5
    assert svc.lead_ms() == 0


def test_next_is_strictly_increasing_within_one_millisecond() -> None:
    svc = NonceService(FakeClock())
    assert [svc.next() for _ in range(5)] == [NOW, NOW + 1, NOW + 2, NOW + 3, NOW + 4]
    assert svc.lead_ms() == 4


def test_clock_stepping_back_never_repeats_a_nonce() -> None:
    clock = FakeClock()
    svc = NonceService(clock)
    first = svc.next()
    clock.now -= 60_000
    assert svc.next() == first + 1
    clock.now = NOW + 10
    assert svc.next() == NOW + 10


def test_restart_from_journal_and_advance_past() -> None:
    clock = FakeClock()
    svc = NonceService(clock, last=NOW + 100)
    assert svc.peek_last() == NOW + 100
    assert svc.next() == NOW + 101
    svc.advance_past(NOW + 500)
    assert svc.next() == NOW + 501
    svc.advance_past(5)  # behind us: no effect
    assert svc.next() == NOW + 502
    with pytest.raises(ValueError, match="last"):
        NonceService(clock, last=-1)


def test_default_clock_is_wall_clock_ms() -> None:
    before = wall_clock_ms()
    n = NonceService().next()
    assert before <= n <= wall_clock_ms() + 1
    assert repr(NonceService(last=3)) == "NonceService(last=3)"


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=200))
def test_any_clock_trajectory_gives_strictly_increasing_nonces_at_or_after_now(steps: list[int]) -> None:
    clock = FakeClock()
    svc = NonceService(clock)
    previous = 0
    for step in steps:
        clock.now += step
        n = svc.next()
        assert n > previous
        assert n >= clock.now
        previous = n


async def test_many_concurrent_tasks_never_share_a_nonce(autojump_clock: trio.testing.MockClock) -> None:
    # The clock is frozen in a millisecond for a while and then jumps, while 50 tasks interleave.
    clock = FakeClock()
    svc = NonceService(clock)
    issued: list[int] = []
    per_task: dict[int, list[int]] = {}
    rng = random.Random(7)

    async def worker(i: int) -> None:
        mine = per_task.setdefault(i, [])
        for _ in range(100):
            n = svc.next()
            issued.append(n)
            mine.append(n)
            if rng.random() < 0.1:
                clock.now += rng.randint(0, 3)
            await trio.sleep(rng.random() / 100)

    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(worker, i)

    assert len(issued) == 5000
    assert len(set(issued)) == 5000
    assert issued == sorted(issued)  # in the order they were handed out, strictly increasing
    for nonces in per_task.values():
        assert all(a < b for a, b in itertools.pairwise(nonces))


# ------------------------------------------------------------------------------------------------ window


def test_check_window_bounds_are_exclusive() -> None:
    check_window(NOW, NOW)
    check_window(NOW - MAX_NONCE_AGE_MS + 1, NOW)
    check_window(NOW + MAX_NONCE_LEAD_MS - 1, NOW)
    for bad in (NOW - MAX_NONCE_AGE_MS, NOW - 172_800_001, NOW + MAX_NONCE_LEAD_MS, NOW + 86_400_001, 5):
        with pytest.raises(NonceRejected, match="Invalid nonce: nonce too far from current time") as info:
            check_window(bad, NOW)
        assert info.value.kind is NonceRejection.OUT_OF_WINDOW
        assert info.value.nonce == bad
        assert isinstance(info.value, VenueRejectedError)



def test_within_window_keeps_the_margin_on_both_sides() -> None:
    margin = 600_000
    assert within_window(NOW, NOW, margin_ms=margin)
    assert within_window(NOW - MAX_NONCE_AGE_MS + margin + 1, NOW, margin_ms=margin)
    assert not within_window(NOW - MAX_NONCE_AGE_MS + margin, NOW, margin_ms=margin)
    assert within_window(NOW + MAX_NONCE_LEAD_MS - margin - 1, NOW, margin_ms=margin)
    assert not within_window(NOW + MAX_NONCE_LEAD_MS - margin, NOW, margin_ms=margin)
    assert within_window(NOW - MAX_NONCE_AGE_MS + 1, NOW) and not within_window(NOW - MAX_NONCE_AGE_MS, NOW)


def test_service_reports_the_clock_it_follows() -> None:
    clock = FakeClock()
    nonces = NonceService(clock, last=NOW + 50)
    assert nonces.now_ms() == NOW and nonces.next() == NOW + 51  # (now_ms draws nothing)
    clock.now += 10
    assert nonces.now_ms() == NOW + 10


# ---------------------------------------------------------------------------------------------- registry


def test_registry_rejects_duplicates_with_the_venue_text() -> None:
    reg = NonceRegistry()
    reg.accept("0xAbC", NOW, NOW)
    with pytest.raises(NonceRejected) as info:
        reg.accept("0xabc", NOW, NOW)  # signers compare case-insensitively
    assert info.value.message == f"Invalid nonce: duplicate nonce {NOW}"
    assert info.value.kind is NonceRejection.DUPLICATE
    reg.accept("0xdef", NOW, NOW)  # another signer has its own set
    assert reg.is_used("0xABC", NOW)
    assert not reg.is_used("0xabc", NOW + 1)


def test_registry_keeps_the_100_highest_and_rejects_below_the_floor() -> None:
    reg = NonceRegistry()
    for i in range(100):
        reg.accept("u", NOW + 2 * i, NOW)
    assert reg.floor("u") == NOW
    # Below the smallest stored nonce: too low, with the venue's wording.
    with pytest.raises(NonceRejected) as info:
        reg.accept("u", NOW - 1, NOW)
    assert info.value.message == f"Invalid nonce: nonce too low {NOW - 1} < {NOW}"
    assert info.value.kind is NonceRejection.TOO_LOW
    # Between stored nonces (a gap) is fine and evicts the smallest.
    reg.accept("u", NOW + 1, NOW)
    assert reg.floor("u") == NOW + 1
    assert len(reg.stored("u")) == 100
    assert not reg.is_used("u", NOW)
    # The evicted nonce can no longer be replayed: it is now too low.
    with pytest.raises(NonceRejected, match=f"nonce too low {NOW} < {NOW + 1}"):
        reg.accept("u", NOW, NOW)


def test_registry_before_the_set_is_full_accepts_any_order() -> None:
    reg = NonceRegistry(capacity=3)
    reg.accept("u", NOW + 10, NOW)
    reg.accept("u", NOW + 5, NOW)
    assert reg.floor("u") is None
    reg.accept("u", NOW + 7, NOW)
    assert reg.floor("u") == NOW + 5
    assert reg.stored("u") == [NOW + 5, NOW + 7, NOW + 10]
    assert reg.stored("nobody") == []
    assert reg.floor("nobody") is None


def test_registry_window_check_can_be_disabled() -> None:
    with pytest.raises(NonceRejected, match="too far"):
        NonceRegistry().accept("u", 1, NOW)
    NonceRegistry(check_time_window=False).accept("u", 1, NOW)
    with pytest.raises(ValueError, match="capacity"):
        NonceRegistry(capacity=0)
    with pytest.raises(ValueError, match="nonce"):
        NonceRegistry().accept("u", "1", NOW)  # type: ignore[arg-type]


@given(st.lists(st.integers(0, 300), max_size=400), st.integers(1, 20))
def test_registry_matches_a_naive_model(nonces: list[int], capacity: int) -> None:
    reg = NonceRegistry(capacity=capacity, check_time_window=False)
    model: list[int] = []
    for n in nonces:
        if n in model:
            expected: NonceRejection | None = NonceRejection.DUPLICATE
        elif len(model) >= capacity and n < min(model):
            expected = NonceRejection.TOO_LOW
        else:
            expected = None
        try:
            reg.accept("u", n, 0)
        except NonceRejected as exc:
            assert exc.kind is expected
        else:
            assert expected is None
            model.append(n)
            model = sorted(model)[-capacity:]
        assert reg.stored("u") == model
