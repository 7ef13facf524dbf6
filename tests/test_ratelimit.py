"""IP token bucket and address budget: exact waits on the autojump clock, 429 penalty, per-item weights."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid.backoff import BackoffPolicy
from trio_hl.hyperliquid.ratelimit import (
    AddressBudget,
    IpRateLimiter,
    exchange_weight,
    info_extra_weight,
    info_weight,
)

# -- weights ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_type", "weight"),
    [
        ("l2Book", 2),
        ("allMids", 2),
        ("clearinghouseState", 2),
        ("orderStatus", 2),
        ("spotClearinghouseState", 2),
        ("exchangeStatus", 2),
        ("userRole", 60),
        ("meta", 20),
        ("userFillsByTime", 20),
        ("frontendOpenOrders", 20),
        ("someFutureType", 20),
    ],
)
def test_info_weight(request_type: str, weight: int) -> None:
    assert info_weight(request_type) == weight


@pytest.mark.parametrize(
    ("request_type", "n_items", "extra"),
    [
        ("userFillsByTime", 0, 0),
        ("userFillsByTime", 19, 0),
        ("userFillsByTime", 20, 1),
        ("userFillsByTime", 2000, 100),
        ("userFills", 45, 2),
        ("historicalOrders", 500, 25),
        ("fundingHistory", 40, 2),
        ("candleSnapshot", 59, 0),
        ("candleSnapshot", 120, 2),
        ("l2Book", 1000, 0),
        ("openOrders", 1000, 0),
    ],
)
def test_info_extra_weight(request_type: str, n_items: int, extra: int) -> None:
    assert info_extra_weight(request_type, n_items) == extra


@pytest.mark.parametrize(("n", "weight"), [(0, 1), (1, 1), (39, 1), (40, 2), (79, 2), (80, 3), (1000, 26)])
def test_exchange_weight(n: int, weight: int) -> None:
    assert exchange_weight(n) == weight


def test_negative_counts_refused() -> None:
    with pytest.raises(ValueError, match="n_items"):
        info_extra_weight("userFills", -1)
    with pytest.raises(ValueError, match="batch_length"):
        exchange_weight(-1)


# -- IP limiter ---------------------------------------------------------------------------------------------


async def test_full_bucket_does_not_wait(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    start = trio.current_time()
    for _ in range(60):
        await limiter.acquire(20)
    assert trio.current_time() == start
    stats = limiter.statistics()
    assert stats.tokens == 0
    assert stats.weight_debited == 1200
    assert stats.waits == 0


async def test_empty_bucket_waits_exactly_for_refill(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()  # 1200 / 60 s = 20 weight per second
    await limiter.acquire(1200)
    start = trio.current_time()
    await limiter.acquire(20)
    assert trio.current_time() - start == pytest.approx(1.0)
    await limiter.acquire(2)
    assert trio.current_time() - start == pytest.approx(1.1)
    stats = limiter.statistics()
    assert stats.waits == 2
    assert stats.wait_seconds == pytest.approx(1.1)


async def test_waiters_are_served_fifo(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    await limiter.acquire(1200)
    order: list[tuple[str, float]] = []
    start = trio.current_time()

    async def take(name: str, weight: int) -> None:
        await limiter.acquire(weight)
        order.append((name, trio.current_time() - start))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(take, "heavy", 60)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(take, "light", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 2
    # The light request queued behind the heavy one is not allowed to overtake it.
    assert [name for name, _ in order] == ["heavy", "light"]
    assert order[0][1] == pytest.approx(3.0)
    assert order[1][1] == pytest.approx(3.1)


async def test_refill_caps_at_capacity(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    await limiter.acquire(100)
    await trio.sleep(3600)
    assert limiter.statistics().tokens == 1200


async def test_charge_creates_debt_that_delays_later_requests(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter()
    await limiter.acquire(1200)
    limiter.charge(info_extra_weight("userFillsByTime", 2000))  # 100 extra
    assert limiter.statistics().tokens == -100
    start = trio.current_time()
    await limiter.acquire(20)
    assert trio.current_time() - start == pytest.approx(6.0)  # (100 + 20) / 20 per second


async def test_weight_out_of_range_refused() -> None:
    limiter = IpRateLimiter()
    with pytest.raises(ValueError, match="weight"):
        await limiter.acquire(0)
    with pytest.raises(ValueError, match="weight"):
        await limiter.acquire(1201)
    with pytest.raises(ValueError, match="weight"):
        limiter.charge(-1)


async def test_penalize_blocks_all_tasks_with_growing_jittered_delay(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter(rng=random.Random(5))
    ref = random.Random(5)
    expected_first = ref.uniform(0.0, 1.0)
    expected_second = ref.uniform(0.0, 2.0)

    delay = limiter.penalize()
    assert delay == expected_first
    stats = limiter.statistics()
    assert stats.rate_limited == 1
    assert stats.tokens == 0
    assert stats.penalty_remaining == pytest.approx(expected_first)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(limiter.acquire, 2)
    # Blocked for the penalty, then the three 2-weight requests need 6 weight refilled from an empty bucket
    # (part of it refilled during the penalty itself).
    assert trio.current_time() - start == pytest.approx(max(expected_first, 6 / 20))

    # A second consecutive 429 doubles the ceiling; a success resets the streak.
    assert limiter.penalize() == expected_second
    limiter.note_success()
    assert limiter.penalize() == ref.uniform(0.0, 1.0)


async def test_penalty_arriving_while_waiting_extends_the_wait(autojump_clock: trio.testing.MockClock) -> None:
    limiter = IpRateLimiter(penalty=BackoffPolicy(initial=5.0, maximum=5.0), rng=random.Random(0))
    await limiter.acquire(1200)
    start = trio.current_time()
    done_at: list[float] = []

    async def waiter() -> None:
        await limiter.acquire(20)  # needs 1 s of refill
        done_at.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(0.5)
        penalty = limiter.penalize()
    assert done_at == [pytest.approx(0.5 + max(penalty, 1.0))]


# -- address budget -----------------------------------------------------------------------------------------


async def test_address_budget_refresh_and_debit() -> None:
    budget = AddressBudget(low_water=100)
    assert budget.statistics().refreshed is False
    budget.refresh_from_wire({"cumVlm": "2854574.5", "nRequestsUsed": 2890, "nRequestsCap": 2864574})
    budget.debit(10)
    stats = budget.statistics()
    assert stats.n_requests_used == 2900
    assert stats.remaining_orders == 2864574 - 2900
    assert stats.remaining_cancels == 2864574 + 100_000 - 2900
    assert stats.debited_since_refresh == 10
    assert stats.refreshed is True
    assert stats.cancel_priority is False


async def test_cancel_limit_is_twice_cap_for_small_caps() -> None:
    budget = AddressBudget()
    budget.refresh(used=0, cap=10_000, surplus=5)
    assert budget.remaining_cancels == 20_005
    assert budget.remaining_orders == 10_005


async def test_malformed_user_rate_limit_answer() -> None:
    budget = AddressBudget()
    with pytest.raises(ProtocolError):
        budget.refresh_from_wire({"nRequestsUsed": "12"})
    with pytest.raises(ProtocolError):
        budget.refresh_from_wire({"nRequestsUsed": 1, "nRequestsCap": True})


async def test_low_budget_sets_cancel_priority(autojump_clock: trio.testing.MockClock) -> None:
    budget = AddressBudget(low_water=50)
    budget.refresh(used=9_900, cap=10_000)
    assert budget.cancel_priority is False
    await budget.acquire(60)
    assert budget.cancel_priority is True
    assert budget.statistics().remaining_orders == 40


async def test_exhausted_orders_are_paced_but_cancels_are_not(autojump_clock: trio.testing.MockClock) -> None:
    budget = AddressBudget(low_water=50)
    budget.refresh(used=10_000, cap=10_000)
    start = trio.current_time()
    await budget.acquire(1)  # first throttled request goes at once
    await budget.acquire(2)  # then 10 s per request
    assert trio.current_time() - start == pytest.approx(10.0)
    await budget.acquire(5, cancel=True)  # cancels still have budget (2 * cap)
    assert trio.current_time() - start == pytest.approx(10.0)
    await budget.acquire(1)
    assert trio.current_time() - start == pytest.approx(30.0)
    assert budget.statistics().throttled_waits == 2


async def test_orders_wait_for_queued_cancels_when_budget_low(autojump_clock: trio.testing.MockClock) -> None:
    budget = AddressBudget(low_water=50)
    # Both budgets exhausted: cancels are paced, and new orders must let them go first.
    budget.refresh(used=20_000, cap=10_000)
    budget.mark_exhausted()
    log: list[str] = []

    async def cancel() -> None:
        await budget.acquire(1, cancel=True)
        log.append("cancel")

    async def order() -> None:
        await budget.acquire(1)
        log.append("order")

    async with trio.open_nursery() as nursery:
        await budget.acquire(1, cancel=True)  # occupies the throttled slot for 10 s
        nursery.start_soon(cancel)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(order)
        await trio.testing.wait_all_tasks_blocked()
        assert log == []
    assert log == ["cancel", "order"]


async def test_mark_exhausted() -> None:
    budget = AddressBudget()
    budget.refresh(used=10, cap=10_000)
    budget.mark_exhausted()
    assert budget.remaining_orders == 0
    assert budget.cancel_priority is True


async def test_mark_exhausted_by_a_refused_cancel_paces_cancels_too(autojump_clock: trio.testing.MockClock) -> None:
    budget = AddressBudget()
    budget.refresh(used=10, cap=10_000)
    budget.mark_exhausted(cancels=True)
    assert budget.remaining_cancels == 0 and budget.remaining_orders < 0
    start = trio.current_time()
    await budget.acquire(1, cancel=True)  # the refusal just now means the venue's slot is taken: a full interval
    assert trio.current_time() - start == pytest.approx(AddressBudget.THROTTLED_INTERVAL)
    await budget.acquire(1, cancel=True)  # then the venue's pace
    assert trio.current_time() - start == pytest.approx(2 * AddressBudget.THROTTLED_INTERVAL)


async def test_address_budget_bad_arguments() -> None:
    budget = AddressBudget()
    with pytest.raises(ValueError, match="n must be > 0"):
        await budget.acquire(0)
    with pytest.raises(ValueError, match="budget numbers"):
        budget.refresh(used=-1, cap=0)
    with pytest.raises(ValueError, match="low_water"):
        AddressBudget(low_water=-1)
