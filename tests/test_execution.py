"""Execution algorithms (TWAP, iceberg) against the emulator: full size within bounds, never more than the target
(pure property and end to end with partial IOC fills), at most ``visible`` shown, cancellation leaves nothing open,
resume from the state file (after a cancelled run, after a crash with a live slice, and STOP mode), and the
connector's kill switch ending a run at once with status KILLED."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_hl import HyperliquidConnector, OrderCreated, OrderFilled, OrderParams, OrderPartiallyFilled, Side
from trio_hl.core.events import Event
from trio_hl.emulator import Emulator
from trio_hl.execution import (
    ExecutionReport,
    ExecutionResumeError,
    ExecutionStatus,
    Iceberg,
    IcebergParams,
    ResumeMode,
    Twap,
    TwapParams,
    plan_slice,
)
from trio_hl.execution._base import Progress, StateFile, params_to_json
from trio_hl.hyperliquid import wire
from trio_hl.testing.events import next_event

D = Decimal
QUIET = pytest.mark.hl_emulator(quiet=True)  # the simulated market never moves (levels depend on --hl-seed)
BTC_ONLY = pytest.mark.hl_connector(pairs=("BTC",))


def venue_fills(emu: Emulator, conn: HyperliquidConnector) -> list[dict[str, Any]]:
    return list(emu.engine.ground_truth(conn.user)["fills"])


def venue_filled(emu: Emulator, conn: HyperliquidConnector) -> Decimal:
    return sum((D(f["sz"]) for f in venue_fills(emu, conn)), D(0))


def open_on_venue(emu: Emulator, conn: HyperliquidConnector) -> list[dict[str, Any]]:
    return [o for o in emu.engine.ground_truth(conn.user)["orders"] if o["status"] == "open"]


# ============================================================================= slice sizing: the pure bound


@given(
    remaining=st.decimals(min_value=D("0.00001"), max_value=D(1000), places=5),
    slices_left=st.integers(1, 50),
    step_exp=st.integers(0, 5),
    min_amount=st.decimals(min_value=0, max_value=D(100), places=5),
    jitter=st.decimals(min_value=D("-0.99"), max_value=D("0.99"), places=2),
)
def test_plan_slice_is_a_step_multiple_never_above_what_is_left(
    remaining: Decimal, slices_left: int, step_exp: int, min_amount: Decimal, jitter: Decimal
) -> None:
    step = D(1).scaleb(-step_exp)
    amount = plan_slice(remaining, slices_left, step, min_amount=min_amount, jitter=jitter)
    assert D(0) <= amount <= remaining
    assert amount % step == 0


@given(
    total=st.decimals(min_value=D("0.001"), max_value=D(100), places=3),
    slices=st.integers(1, 20),
    fractions=st.lists(st.decimals(min_value=0, max_value=1, places=3), min_size=20, max_size=20),
    jitters=st.lists(st.decimals(min_value=D("-0.9"), max_value=D("0.9"), places=1), min_size=20, max_size=20),
)
def test_a_whole_schedule_with_partial_fills_never_over_executes(
    total: Decimal, slices: int, fractions: list[Decimal], jitters: list[Decimal]
) -> None:
    step, filled = D("0.001"), D(0)
    for i in range(slices):
        amount = plan_slice(total - filled, slices - i, step, min_amount=D("0.01"), jitter=jitters[i])
        filled += (amount * fractions[i] / step).to_integral_value("ROUND_FLOOR") * step  # a partial IOC fill
        assert filled <= total
    if all(f == 1 for f in fractions[:slices]):
        assert filled == total  # every slice filled in full: the last one took everything left


# ==================================================================================================== TWAP


@QUIET
@BTC_ONLY
async def test_twap_executes_the_full_size_within_the_limit(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    ask = hl_connector.book("BTC").best_ask
    assert ask is not None and ask.size >= D("0.05")
    limit = ask.price + 30
    params = TwapParams("BTC", Side.BUY, D("0.05"), duration_s=0.5, slices=5, limit_price=limit,
                        max_slippage=D("0.001"), randomize=D("0.5"), seed=7)
    with trio.fail_after(15):
        report = await Twap(hl_connector, params).run()
    assert report.status is ExecutionStatus.COMPLETED
    assert report.filled == D("0.05") == venue_filled(hl_emulator, hl_connector)
    assert report.slices_sent == 5 and report.slices_failed == 0
    assert report.average_price == ask.price
    orders = hl_emulator.engine.ground_truth(hl_connector.user)["orders"]
    assert len(orders) == 5 and all(D(o["limitPx"]) <= limit for o in orders)
    assert all(D(f["px"]) <= limit for f in venue_fills(hl_emulator, hl_connector))
    assert not open_on_venue(hl_emulator, hl_connector)


@QUIET
@BTC_ONLY
async def test_twap_with_too_little_liquidity_carries_leftovers_and_never_over_executes(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    # Only the best ask's size rests at <= the limit; the total is 1.6 times that: two slices fill, the third
    # fills part (a partial IOC, reported cancelled before its fill arrives), the carried-over last one finds nothing.
    ask = hl_connector.book("BTC").best_ask
    assert ask is not None
    total = (ask.size * D("1.6")).quantize(D("0.00001"))
    params = TwapParams("BTC", Side.BUY, total, duration_s=0.4, slices=4, limit_price=ask.price)
    with trio.fail_after(15):
        report = await Twap(hl_connector, params).run()
    assert report.filled == ask.size == venue_filled(hl_emulator, hl_connector)
    assert report.status is ExecutionStatus.EXHAUSTED and report.remaining == total - ask.size
    assert report.slices_sent == 4 and report.slices_failed == 1
    sizes = [D(o["origSz"]) for o in hl_emulator.engine.ground_truth(hl_connector.user)["orders"]]
    assert all(abs(size - total / 4) <= D("0.00001") for size in sizes[:3])  # even shares, floored to the lot
    assert sizes[3] == total - ask.size  # the leftover carried into the last slice


@QUIET
@BTC_ONLY
async def test_twap_resumes_from_its_state_file_to_exactly_the_target(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector, tmp_path: Path
) -> None:
    path = tmp_path / "twap.json"
    params = TwapParams("BTC", Side.SELL, D("0.06"), duration_s=3.0, slices=6, max_slippage=D("0.001"))
    events = hl_connector.events()
    first = Twap(hl_connector, params, state_path=path)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first.run)
            for _ in range(3):
                await next_event(events, OrderFilled)
            nursery.cancel_scope.cancel()  # "the process stops" mid-way
    stopped = first.report()
    assert stopped.status is ExecutionStatus.CANCELLED
    assert D("0.03") <= stopped.filled < D("0.06")
    assert json.loads(path.read_text())["status"] == "cancelled"

    second = Twap(hl_connector, params, state_path=path)
    assert second.algo_id == first.algo_id
    with trio.fail_after(15):
        report = await second.run()
    assert report.status is ExecutionStatus.COMPLETED
    assert report.filled == D("0.06") == venue_filled(hl_emulator, hl_connector)
    # Final: a third run sends nothing and returns the stored report.
    third = await Twap(hl_connector, params, state_path=path).run()
    assert third == report
    assert venue_filled(hl_emulator, hl_connector) == D("0.06")


@QUIET
@BTC_ONLY
async def test_state_file_of_other_params_is_refused(hl_connector: HyperliquidConnector, tmp_path: Path) -> None:
    path = tmp_path / "twap.json"
    params = TwapParams("BTC", Side.BUY, D("0.02"), duration_s=0, slices=2, max_slippage=D("0.001"))
    await Twap(hl_connector, params, state_path=path).run()
    with pytest.raises(ExecutionResumeError, match="not this twap"):
        Twap(hl_connector, TwapParams("BTC", Side.BUY, D("0.03"), duration_s=0, slices=2), state_path=path)


# ================================================================================================= iceberg



def ice_params(conn: HyperliquidConnector) -> IcebergParams:
    """Sell 0.05 showing 0.02, priced strictly inside the spread: each slice becomes the best ask, and a taker
    buying up to that price trades with it alone."""
    book = conn.book("BTC")
    assert book.best_bid is not None and book.best_ask is not None
    px = ((book.best_bid.price + book.best_ask.price) / 2).quantize(D(1))
    assert book.best_bid.price < px < book.best_ask.price
    return IcebergParams("BTC", Side.SELL, D("0.05"), price=px, visible=D("0.02"))


def assert_shows_at_most_visible(emu: Emulator, conn: HyperliquidConnector, visible: Decimal) -> None:
    live = open_on_venue(emu, conn)
    assert len(live) <= 1, live
    assert sum((D(o["remainingSz"]) for o in live), D(0)) <= visible


async def take_slices(emu: Emulator, conn: HyperliquidConnector, events: trio.MemoryReceiveChannel[Event],
                      ice: IcebergParams, until: Decimal) -> Decimal:
    """Another account takes each slice in two trades; checks what the venue shows after every step."""
    taken = D(0)
    while taken < until:
        await next_event(events, OrderCreated)
        assert_shows_at_most_visible(emu, conn, ice.visible)
        for chunk in (D("0.007"), ice.visible):  # a partial fill, then the rest of the slice
            taken += emu.trade("BTC", True, ice.price, chunk)
            assert_shows_at_most_visible(emu, conn, ice.visible)
    return taken


@QUIET
@BTC_ONLY
async def test_iceberg_shows_at_most_visible_and_fills_the_total(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    params = ice_params(hl_connector)
    events = hl_connector.events()
    ice = Iceberg(hl_connector, params)
    result: list[ExecutionReport] = []

    async def run() -> None:
        result.append(await ice.run())

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            taken = await take_slices(hl_emulator, hl_connector, events, params, params.total)
    assert taken == params.total
    (report,) = result
    assert report.status is ExecutionStatus.COMPLETED and report.filled == params.total
    assert report.slices_sent == 3 and report.average_price == params.price
    assert venue_filled(hl_emulator, hl_connector) == params.total
    assert not open_on_venue(hl_emulator, hl_connector)


@QUIET
@BTC_ONLY
async def test_cancelling_an_iceberg_cancels_its_slice_and_leaves_nothing_open(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector, tmp_path: Path
) -> None:
    params = ice_params(hl_connector)
    events = hl_connector.events()
    ice = Iceberg(hl_connector, params, state_path=tmp_path / "ice.json")
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ice.run)
            await next_event(events, OrderCreated)
            assert hl_emulator.trade("BTC", True, params.price, D("0.005")) == D("0.005")
            nursery.cancel_scope.cancel()
    report = ice.report()
    assert report.status is ExecutionStatus.CANCELLED
    assert report.filled == D("0.005") == venue_filled(hl_emulator, hl_connector)
    assert not open_on_venue(hl_emulator, hl_connector)
    assert json.loads((tmp_path / "ice.json").read_text())["live_cid"] is None


@QUIET
@BTC_ONLY
async def test_stop_cancels_the_slice_and_is_final(hl_emulator: Emulator, hl_connector: HyperliquidConnector,
                                                   tmp_path: Path) -> None:
    params = ice_params(hl_connector)
    events = hl_connector.events()
    path = tmp_path / "ice.json"
    ice = Iceberg(hl_connector, params, state_path=path)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ice.run)
            await next_event(events, OrderCreated)
            ice.stop()
    assert ice.report().status is ExecutionStatus.STOPPED
    assert not open_on_venue(hl_emulator, hl_connector)
    again = await Iceberg(hl_connector, params, state_path=path).run()
    assert again.status is ExecutionStatus.STOPPED and again.slices_sent == 1
    assert len(hl_emulator.engine.ground_truth(hl_connector.user)["orders"]) == 1


# ===================================================================================== crash with a live slice


def crashed_state(path: Path, params: IcebergParams, live_cid: str, live_amount: Decimal) -> None:
    """The state file as a crash leaves it: the live slice journaled (write-ahead), its outcome not."""
    StateFile(path).save(Progress(algo_id="crashed", kind="iceberg", params=params_to_json(params), slices_sent=1,
                                  live_cid=live_cid, live_amount=live_amount))


@QUIET
@BTC_ONLY
async def test_resume_adopts_a_live_slice_and_finishes_exactly(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector, tmp_path: Path
) -> None:
    params = ice_params(hl_connector)
    events = hl_connector.events()
    path = tmp_path / "ice.json"
    cid = hl_connector.sell(OrderParams("BTC", params.visible, params.price, client_order_id=wire.new_cloid()))
    await next_event(events, OrderCreated)
    hl_emulator.trade("BTC", True, params.price, D("0.004"))  # filled while "we were down"
    crashed_state(path, params, cid, params.visible)
    ice = Iceberg(hl_connector, params, state_path=path)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ice.run)
            hl_emulator.trade("BTC", True, params.price, params.visible)  # the adopted slice's rest
            await take_slices(hl_emulator, hl_connector, events, params, params.total - params.visible)
    report = ice.report()
    assert report.status is ExecutionStatus.COMPLETED
    assert report.filled == params.total == venue_filled(hl_emulator, hl_connector)


@QUIET
@BTC_ONLY
async def test_resume_in_stop_mode_cancels_the_journaled_slice(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector, tmp_path: Path
) -> None:
    params = ice_params(hl_connector)
    events = hl_connector.events()
    path = tmp_path / "ice.json"
    cid = hl_connector.sell(OrderParams("BTC", params.visible, params.price, client_order_id=wire.new_cloid()))
    await next_event(events, OrderCreated)
    hl_emulator.trade("BTC", True, params.price, D("0.003"))
    crashed_state(path, params, cid, params.visible)
    with trio.fail_after(15):
        report = await Iceberg(hl_connector, params, state_path=path, resume=ResumeMode.STOP).run()
    assert report.status is ExecutionStatus.STOPPED
    assert report.filled == D("0.003") == venue_filled(hl_emulator, hl_connector)
    assert not open_on_venue(hl_emulator, hl_connector)


@QUIET
@BTC_ONLY
async def test_a_journaled_slice_the_venue_never_saw_counts_zero(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector, tmp_path: Path
) -> None:
    path = tmp_path / "twap.json"
    params = TwapParams("BTC", Side.BUY, D("0.02"), duration_s=0.2, slices=2, max_slippage=D("0.001"))
    # Crashed between the write-ahead and buy(): the slice is journaled but was never counted as sent.
    StateFile(path).save(Progress(algo_id="crashed", kind="twap", params=params_to_json(params),
                                  live_cid=wire.new_cloid(), live_amount=D("0.01")))
    with trio.fail_after(15):
        report = await Twap(hl_connector, params, state_path=path).run()
    assert report.filled == D("0.02") == venue_filled(hl_emulator, hl_connector)
    assert report.status is ExecutionStatus.COMPLETED and report.slices_failed == 0


# ============================================================================================== kill switch


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """Virtual Trio time that jumps to the next deadline after 2 ms of real idleness (far above loopback latency):
    a TWAP interval of minutes costs nothing, and "within N seconds" is exact in Trio time."""
    return trio.testing.MockClock(autojump_threshold=0.002)


@QUIET
@BTC_ONLY
async def test_kill_between_twap_slices_ends_it_killed_at_once_and_for_good(
    virtual_clock: trio.testing.MockClock, hl_emulator: Emulator, hl_connector: HyperliquidConnector, tmp_path: Path
) -> None:
    """Slices are 2 minutes apart; after the kill the run neither waits for the next one nor sends it (the
    connector would refuse it): it returns KILLED within seconds of Trio time, and the state file is final."""
    path = tmp_path / "twap.json"
    params = TwapParams("BTC", Side.BUY, D("0.05"), duration_s=600, slices=5, max_slippage=D("0.001"))
    events = hl_connector.events()
    twap = Twap(hl_connector, params, state_path=path)
    done = trio.Event()

    async def run() -> None:
        await twap.run()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await next_event(events, OrderFilled)
        killed_at = trio.current_time()
        hl_connector.kill("test")
        with trio.fail_after(params.interval_s / 4):
            await done.wait()
    assert trio.current_time() - killed_at < params.interval_s / 4
    report = twap.report()
    assert report.status is ExecutionStatus.KILLED
    assert (report.slices_sent, report.slices_failed) == (1, 0)  # no refused slice counted as a failure
    assert report.filled == D("0.01") == venue_filled(hl_emulator, hl_connector)
    assert len(hl_emulator.engine.ground_truth(hl_connector.user)["orders"]) == 1
    assert json.loads(path.read_text())["status"] == "killed"
    hl_connector.risk.release_kill_switch()
    again = await Twap(hl_connector, params, state_path=path).run()  # final: a kill is not resumed
    assert again == report
    assert len(hl_emulator.engine.ground_truth(hl_connector.user)["orders"]) == 1


@QUIET
@BTC_ONLY
async def test_kill_ends_an_iceberg_killed_with_its_partial_fill_not_exhausted(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    """The kill cancels the resting slice; the iceberg settles it (0.005 filled) and ends - not after
    ``max_failures`` refusals and cancels counted as failures."""
    params = ice_params(hl_connector)
    events = hl_connector.events()
    ice = Iceberg(hl_connector, params)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ice.run)
            await next_event(events, OrderCreated)
            assert hl_emulator.trade("BTC", True, params.price, D("0.005")) == D("0.005")
            await next_event(events, OrderPartiallyFilled)
            assert hl_connector.kill("test") == 1
    report = ice.report()
    assert report.status is ExecutionStatus.KILLED
    assert (report.slices_sent, report.slices_failed) == (1, 0)
    assert report.filled == D("0.005") == venue_filled(hl_emulator, hl_connector)
    assert [o["status"] for o in hl_emulator.engine.ground_truth(hl_connector.user)["orders"]] == ["canceled"]


@QUIET
@BTC_ONLY
@pytest.mark.parametrize("kind", ["twap", "iceberg"])
async def test_an_algorithm_run_while_the_kill_switch_is_engaged_sends_nothing_and_ends_killed(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector, kind: str
) -> None:
    hl_connector.kill("test")
    algo: Twap | Iceberg
    if kind == "twap":
        algo = Twap(hl_connector, TwapParams("BTC", Side.BUY, D("0.05"), duration_s=600, slices=5))
    else:
        algo = Iceberg(hl_connector, ice_params(hl_connector))
    with trio.fail_after(15):
        report = await algo.run()
    assert report.status is ExecutionStatus.KILLED
    assert (report.filled, report.slices_sent, report.slices_failed) == (0, 0, 0)
    assert hl_emulator.engine.ground_truth(hl_connector.user)["orders"] == []
    assert hl_connector.risk.statistics().refused == 0  # not even tried
