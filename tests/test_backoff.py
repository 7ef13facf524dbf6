"""Backoff: full-jitter schedule, caps, determinism with a seeded RNG, sleeping on the Trio clock."""

from __future__ import annotations

import random

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.hyperliquid.backoff import Backoff, BackoffPolicy


def test_ceiling_doubles_from_250ms_to_10s() -> None:
    policy = BackoffPolicy()
    assert [policy.ceiling(n) for n in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.ceiling(10_000) == 10.0  # no float overflow after a long outage


@given(attempt=st.integers(min_value=0, max_value=5000), seed=st.integers(min_value=0, max_value=2**32))
def test_delay_is_within_full_jitter_window(attempt: int, seed: int) -> None:
    policy = BackoffPolicy()
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= policy.ceiling(attempt)


def test_seeded_schedule_is_reproducible_and_matches_uniform_draws() -> None:
    a = Backoff(rng=random.Random(7))
    b = Backoff(rng=random.Random(7))
    delays_a = [a.next_delay() for _ in range(6)]
    delays_b = [b.next_delay() for _ in range(6)]
    assert delays_a == delays_b
    ref = random.Random(7)
    assert delays_a == [ref.uniform(0.0, c) for c in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)]
    assert a.attempt == 6


def test_reset_restarts_from_first_ceiling() -> None:
    backoff = Backoff(rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() <= 0.25


def test_jitter_spreads_delays() -> None:
    # Full jitter: over many draws the delay fills the window rather than sitting at the ceiling.
    rng = random.Random(3)
    draws = [BackoffPolicy().delay(6, rng) for _ in range(1000)]
    assert min(draws) < 1.0
    assert max(draws) > 9.0


async def test_wait_sleeps_exactly_the_delay_on_the_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    backoff = Backoff(rng=random.Random(42))
    ref = random.Random(42)
    start = trio.current_time()
    slept = [await backoff.wait() for _ in range(3)]
    assert slept == [ref.uniform(0.0, 0.25), ref.uniform(0.0, 0.5), ref.uniform(0.0, 1.0)]
    assert trio.current_time() - start == pytest.approx(sum(slept), abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"initial": 0}, "initial"),
        ({"initial": float("nan")}, "initial"),
        ({"maximum": 0.1}, "maximum"),
        ({"multiplier": 0.5}, "multiplier"),
    ],
)
def test_invalid_policy_is_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BackoffPolicy(**kwargs)


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        BackoffPolicy().ceiling(-1)
