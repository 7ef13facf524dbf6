"""Native venue TWAP (``twapOrder``/``twapCancel``): the emulator engine alone (answer shapes, error strings, one
suborder per 30 s on the engine clock, catch-up, the 3 % bound, cancel, margin and reduce-only endings, the info
answers), the wire builders and parsers, and ``NativeTwap`` run through a connector against the emulator - its
pre-trade risk check and the kill switch included."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing

from trio_hl import HyperliquidConnector, OrderCreated, OrderParams, Side
from trio_hl.core.risk import PairLimits, RiskBreachError, RiskLimits
from trio_hl.emulator import Emulator
from trio_hl.emulator.engine import Engine
from trio_hl.errors import InvalidOrderError, ProtocolError
from trio_hl.execution import ExecutionStatus
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.messages import (
    TwapAnswer,
    parse_twap_cancel_response,
    parse_twap_history,
    parse_twap_order_response,
    parse_twap_slice_fills,
)
from trio_hl.hyperliquid.native_twap import NativeTwap, NativeTwapParams, NativeTwapReport
from trio_hl.testing.events import next_event

D = Decimal
T0 = 1_700_000_000_000
ALICE, BOB = "0x" + "a" * 40, "0x" + "b" * 40
BTC, ETH = 0, 1
ZERO_HASH = "0x" + "0" * 64


def engine(**options: Any) -> Engine:
    options.setdefault("with_market", False)
    return Engine(seed=7, now_ms=T0, **options)


class Client:
    """Acts for one user with increasing nonces (the engine trusts its caller for signatures and nonces)."""

    def __init__(self, e: Engine, user: str) -> None:
        self.e, self.user, self.nonce = e, user, T0

    def act(self, action: dict[str, Any], now: int = T0) -> dict[str, Any]:
        self.nonce += 1
        return self.e.action(signer=self.user, action=action, nonce=self.nonce, vault_address=None, now_ms=now)

    def rest(self, asset: int, is_buy: bool, px: str, sz: str) -> None:
        order = {"a": asset, "b": is_buy, "p": px, "s": sz, "r": False, "t": {"limit": {"tif": "Gtc"}}}
        answer = self.act({"type": "order", "orders": [order], "grouping": "na"})
        assert "resting" in answer["response"]["data"]["statuses"][0], answer

    def twap(self, asset: int, is_buy: bool, sz: str, minutes: int, *, reduce_only: bool = False,
             randomize: bool = False, now: int = T0) -> dict[str, Any]:
        return self.act(wire.twap_order_action(asset, is_buy, D(sz), reduce_only, minutes, randomize), now)

    def twap_id(self, *args: Any, **kwargs: Any) -> int:
        answer = self.twap(*args, **kwargs)
        twap_id = answer["response"]["data"]["status"]["running"]["twapId"]
        assert isinstance(twap_id, int)
        return twap_id

    def info(self, kind: str) -> Any:
        return self.e.info({"type": kind, "user": self.user}, self.e.now_ms)

    def fills(self) -> list[dict[str, Any]]:
        return list(self.e.ground_truth(self.user)["fills"])

    def executed(self) -> Decimal:
        return sum((D(f["sz"]) for f in self.fills()), D(0))

    def history(self, twap_id: int) -> dict[str, Any]:
        (entry,) = [h for h in self.info("twapHistory") if h["twapId"] == twap_id]
        return entry  # type: ignore[no-any-return]


@pytest.fixture
def e() -> Engine:
    return engine()


@pytest.fixture
def alice(e: Engine) -> Client:
    return Client(e, ALICE)


@pytest.fixture
def bob(e: Engine) -> Client:
    return Client(e, BOB)


def at_slice(k: int) -> int:
    """Engine time of suborder ``k`` (0-based) of a TWAP placed at T0."""
    return T0 + 30_000 * k


# ============================================================================================ answer shapes


def test_twap_order_answers_running_with_an_id_and_is_activated(alice: Client) -> None:
    answer = alice.twap(BTC, True, "0.1", 5)
    assert answer["status"] == "ok"
    assert answer["response"]["type"] == "twapOrder"
    twap_id = answer["response"]["data"]["status"]["running"]["twapId"]
    assert parse_twap_order_response(answer) == TwapAnswer(twap_id=twap_id)
    entry = alice.history(twap_id)
    assert entry["status"] == {"status": "activated"}
    assert entry["state"] == {"coin": "BTC", "executedNtl": "0.0", "executedSz": "0.0", "minutes": 5,
                              "randomize": False, "reduceOnly": False, "side": "B", "sz": "0.1", "timestamp": T0,
                              "user": ALICE}
    assert alice.twap_id(BTC, True, "0.1", 5) == twap_id + 1  # ids are never reused


@pytest.mark.parametrize("minutes", [1, 4, 1441, 100_000])
def test_a_duration_outside_5_to_1440_minutes_is_refused_inside_an_ok_answer(alice: Client, minutes: int) -> None:
    answer = alice.twap(BTC, True, "0.1", minutes)
    assert answer == {"status": "ok", "response": {"type": "twapOrder", "data": {"status": {
        "error": f"Invalid TWAP duration: {minutes} min(s)"}}}}
    assert parse_twap_order_response(answer).error == f"Invalid TWAP duration: {minutes} min(s)"
    assert alice.info("twapHistory") == []


@pytest.mark.parametrize("minutes", [5, 1440])
def test_the_duration_bounds_themselves_are_accepted(alice: Client, minutes: int) -> None:
    # 0.2 BTC (~$19 400) is above the $10-per-minute minimum even over 24 h ($14 400)
    assert "running" in alice.twap(BTC, True, "0.2", minutes)["response"]["data"]["status"]


def test_unknown_asset_and_invalid_size_are_per_order_style_errors(alice: Client) -> None:
    status = alice.twap(4242, True, "0.1", 5)["response"]["data"]["status"]
    assert status == {"error": "Order has invalid asset. asset=4242"}
    status = alice.twap(BTC, True, "0.000001", 5)["response"]["data"]["status"]  # BTC has 5 size decimals
    assert status == {"error": "Order has invalid size. asset=0"}


def test_a_malformed_twap_action_is_a_deserialize_error(alice: Client) -> None:
    answer = alice.act({"type": "twapOrder", "twap": {"a": 0, "b": True, "s": "0.1", "r": False, "m": "5", "t": False}})
    assert answer["status"] == "err"
    assert answer["response"].startswith("Failed to deserialize the JSON body into the target type: action.twap.m")


def test_cancel_answers_success_once_then_the_venue_error(alice: Client) -> None:
    twap_id = alice.twap_id(BTC, True, "0.1", 5)
    answer = alice.act(wire.twap_cancel_action(BTC, twap_id))
    assert answer == {"status": "ok", "response": {"type": "twapCancel", "data": {"status": "success"}}}
    assert parse_twap_cancel_response(answer) == TwapAnswer()
    again = alice.act(wire.twap_cancel_action(BTC, twap_id))
    assert again["response"]["data"]["status"] == {"error": "TWAP was never placed, already canceled, or filled."}
    assert alice.history(twap_id)["status"] == {"status": "terminated"}


def test_cancel_of_an_unknown_id_another_users_twap_or_the_wrong_asset_is_refused(alice: Client, bob: Client) -> None:
    twap_id = alice.twap_id(BTC, True, "0.1", 5)
    never = {"error": "TWAP was never placed, already canceled, or filled."}
    assert alice.act(wire.twap_cancel_action(BTC, twap_id + 99))["response"]["data"]["status"] == never
    assert bob.act(wire.twap_cancel_action(BTC, twap_id))["response"]["data"]["status"] == never
    assert alice.act(wire.twap_cancel_action(ETH, twap_id))["response"]["data"]["status"] == never
    assert alice.history(twap_id)["status"] == {"status": "activated"}


# ================================================================================================= slicing


def test_one_suborder_every_30_s_of_total_over_2m_until_exactly_the_size(e: Engine, alice: Client, bob: Client) -> None:
    bob.rest(BTC, True, "96000", "5")
    bob.rest(BTC, False, "97000", "5")
    twap_id = alice.twap_id(BTC, True, "1", 5)  # 10 suborders of 0.1
    e.tick(T0)
    assert alice.executed() == D("0.1")  # the first suborder goes at the first tick
    e.tick(at_slice(1) - 1)
    assert alice.executed() == D("0.1")  # not a millisecond early
    for k in range(1, 10):
        e.tick(at_slice(k))
        assert alice.executed() == D("0.1") * (k + 1)
    entry = alice.history(twap_id)
    assert entry["status"] == {"status": "finished"}
    assert entry["state"]["executedSz"] == "1.0"
    assert entry["state"]["executedNtl"] == "97000.0"
    e.tick(at_slice(20))
    assert alice.executed() == D(1)  # nothing after the end
    fills = alice.fills()
    assert len(fills) == 10
    assert all(f["twapId"] == twap_id and f["hash"] == ZERO_HASH and f["crossed"] for f in fills)
    assert [f["time"] for f in fills] == [at_slice(k) for k in range(10)]


def test_slice_fills_reach_userfills_info_streams_and_userTwapSliceFills(e: Engine, alice: Client,
                                                                       bob: Client) -> None:
    bob.rest(ETH, False, "3400", "10")
    twap_id = alice.twap_id(ETH, True, "1", 5)
    e.drain_messages()
    e.tick(T0)
    messages = e.drain_messages()
    streamed = [f for m in messages if m.channel == "userFills" and m.key == ALICE for f in m.data["fills"]]
    assert [(f["sz"], f["twapId"]) for f in streamed] == [("0.1", twap_id)]
    assert not [m for m in messages if m.channel == "orderUpdates" and m.key == ALICE]  # suborders are not orders
    assert alice.info("userFills")[0]["twapId"] == twap_id
    (item,) = alice.info("userTwapSliceFills")
    assert item["twapId"] == twap_id and item["fill"]["sz"] == "0.1"
    (parsed,) = parse_twap_slice_fills(alice.info("userTwapSliceFills"))
    assert parsed.twap_id == twap_id and parsed.trade.fill_amount == D("0.1")
    (entry,) = parse_twap_history(alice.info("twapHistory"))
    assert (entry.twap_id, entry.status, entry.executed_size, entry.is_terminal) == (twap_id, "activated", D("0.1"),
                                                                                      False)


def test_missed_suborders_are_caught_up_at_most_3x_the_nominal_size(e: Engine, alice: Client, bob: Client) -> None:
    twap_id = alice.twap_id(BTC, True, "1", 5)  # nominal 0.1; no asks yet
    e.tick(at_slice(0))
    e.tick(at_slice(1))
    assert alice.executed() == 0
    bob.rest(BTC, False, "97000", "5")
    e.tick(at_slice(2))
    assert alice.executed() == D("0.3")  # schedule 0.3 behind, capped at 3 x 0.1
    e.tick(at_slice(3))
    assert alice.executed() == D("0.4")  # back on schedule: a nominal suborder again
    for k in range(4, 10):
        e.tick(at_slice(k))
    assert alice.executed() == D(1)
    assert alice.history(twap_id)["status"] == {"status": "finished"}


def test_a_shortfall_the_catch_up_cannot_cover_is_left_unexecuted(e: Engine, alice: Client, bob: Client) -> None:
    twap_id = alice.twap_id(BTC, True, "1", 5)
    for k in range(8):  # 8 suborders with nothing to buy
        e.tick(at_slice(k))
    bob.rest(BTC, False, "97000", "5")
    e.tick(at_slice(8))
    e.tick(at_slice(9))
    assert alice.executed() == D("0.6")  # two suborders of at most 0.3
    assert alice.history(twap_id)["status"] == {"status": "finished"}


def test_suborders_never_trade_beyond_3_percent_of_the_mid(e: Engine, alice: Client, bob: Client) -> None:
    bob.rest(BTC, True, "99000", "1")
    bob.rest(BTC, False, "101000", "0.05")  # mid 100000: within the bound
    bob.rest(BTC, False, "103100", "5")  # beyond mid x 1.03
    alice.twap_id(BTC, True, "1", 5)
    e.tick(at_slice(0))
    prices = {f["px"] for f in alice.fills()}
    assert alice.executed() == D("0.05")
    assert prices == {"101000.0"}


def test_a_time_jump_runs_every_due_suborder_at_the_jumps_time(e: Engine, alice: Client, bob: Client) -> None:
    bob.rest(BTC, False, "97000", "5")
    alice.twap_id(BTC, True, "1", 5)
    e.tick(at_slice(4))  # suborders 0..4 were due
    assert alice.executed() == D("0.5")
    assert {f["time"] for f in alice.fills()} == {at_slice(4)}  # fill times never go backwards


def test_cancel_stops_slicing_and_keeps_what_executed(e: Engine, alice: Client, bob: Client) -> None:
    bob.rest(BTC, False, "97000", "5")
    twap_id = alice.twap_id(BTC, True, "1", 5)
    for k in range(3):
        e.tick(at_slice(k))
    alice.act(wire.twap_cancel_action(BTC, twap_id), now=at_slice(3) - 1)
    for k in range(3, 12):
        e.tick(at_slice(k))
    assert alice.executed() == D("0.3")
    entry = alice.history(twap_id)
    assert entry["status"] == {"status": "terminated"}
    assert entry["state"]["executedSz"] == "0.3"


def test_randomized_sizes_vary_but_still_add_up_to_the_size_and_repeat_with_the_seed(bob: Client) -> None:
    def run() -> list[str]:
        e = engine()
        seller, buyer = Client(e, BOB), Client(e, ALICE)
        seller.rest(BTC, False, "97000", "5")
        buyer.twap_id(BTC, True, "1", 5, randomize=True)
        for k in range(10):
            e.tick(at_slice(k))
        return [f["sz"] for f in buyer.fills()]

    sizes = run()
    assert len(set(sizes)) > 1
    assert sum((D(s) for s in sizes), D(0)) == D(1)
    assert max(D(s) for s in sizes) <= D("0.3")
    assert run() == sizes


def test_a_suborder_the_account_cannot_margin_ends_the_twap_in_error() -> None:
    e = engine(initial_usdc=1000)  # 1000 USDC at 40x margins about 0.41 BTC
    e.deposit(BOB, usdc=10_000_000)
    seller, buyer = Client(e, BOB), Client(e, ALICE)
    seller.rest(BTC, False, "97000", "20")
    twap_id = buyer.twap_id(BTC, True, "10", 5)  # suborders of 1 BTC
    e.tick(at_slice(0))
    assert buyer.executed() == 0
    assert buyer.history(twap_id)["status"] == {"status": "error", "description": "Insufficient margin to place order."}
    e.tick(at_slice(5))
    assert buyer.executed() == 0


def test_reduce_only_sends_nothing_without_a_position_and_stops_at_flat(e: Engine, alice: Client,
                                                                      bob: Client) -> None:
    bob.rest(BTC, True, "96000", "5")
    bob.rest(BTC, False, "97000", "5")
    flat = alice.twap_id(BTC, False, "1", 5, reduce_only=True)
    e.tick(at_slice(0))
    assert alice.executed() == 0
    alice.act(wire.twap_cancel_action(BTC, flat))
    alice.twap_id(BTC, True, "0.15", 5)  # open a 0.15 BTC long first (10 suborders of 0.015)
    for k in range(10):
        e.tick(at_slice(k))
    assert e.ground_truth(ALICE)["positions"] == {"BTC": "0.15"}
    closing = alice.twap_id(BTC, False, "1", 5, reduce_only=True, now=at_slice(10))
    for k in range(10, 20):
        e.tick(at_slice(k))
    assert e.ground_truth(ALICE)["positions"] == {}  # closed to flat, never flipped short
    assert alice.history(closing)["state"]["executedSz"] == "0.15"


# ============================================================================================ wire builders


def test_twap_order_action_has_the_sdk_key_order_and_wire_strings() -> None:
    action = wire.twap_order_action(3, False, D("1.2300"), True, 30, True)
    assert action == {"type": "twapOrder", "twap": {"a": 3, "b": False, "s": "1.23", "r": True, "m": 30, "t": True}}
    assert list(action) == ["type", "twap"]
    assert list(action["twap"]) == ["a", "b", "s", "r", "m", "t"]
    cancel = wire.twap_cancel_action(3, 77738308)
    assert cancel == {"type": "twapCancel", "a": 3, "t": 77738308}
    assert list(cancel) == ["type", "a", "t"]


@pytest.mark.parametrize("kwargs", [{"minutes": 0}, {"minutes": True}, {"asset": -1}, {"asset": 1.0}])
def test_twap_order_action_refuses_bad_arguments_at_the_call(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"asset": 0, "is_buy": True, "size": D(1), "reduce_only": False, "minutes": 5,
                            "randomize": False}
    args.update(kwargs)
    with pytest.raises(InvalidOrderError):
        wire.twap_order_action(**args)


def test_twap_answer_parsers_reject_other_shapes() -> None:
    with pytest.raises(ProtocolError):
        parse_twap_order_response({"status": "ok", "response": {"type": "order", "data": {"status": {}}}})
    with pytest.raises(ProtocolError):
        parse_twap_order_response({"status": "ok", "response": {"type": "twapOrder", "data": {"status": {}}}})
    with pytest.raises(ProtocolError):
        parse_twap_cancel_response({"status": "ok", "response": {"type": "twapCancel", "data": {"status": "done"}}})
    with pytest.raises(ProtocolError):
        parse_twap_slice_fills([{"fill": {"coin": "BTC"}, "twapId": 1}])


# ============================================================================== NativeTwap via a connector
# Real sockets, real time for the client (it polls every 50 ms); the venue's TWAP clock is driven by explicit
# engine ticks at the suborder times, so a 5-minute TWAP takes well under a second.

QUIET = pytest.mark.hl_emulator(quiet=True)  # the simulated market rests its levels and never moves
BTC_ONLY = pytest.mark.hl_connector(pairs=("BTC",))


def run_suborders(emu: Emulator, twap_id: int, ks: range) -> None:
    """Tick the venue to suborders ``ks`` of ``twap_id`` and push what they produced to the streams."""
    start = emu.engine.twaps.twaps[twap_id].timestamp
    for k in ks:
        emu.engine.tick(start + 30_000 * k)
    emu.app.publish(emu.engine.drain_messages())


def venue_twap_fills(emu: Emulator, conn: HyperliquidConnector, twap_id: int) -> list[dict[str, Any]]:
    return [f for f in emu.engine.ground_truth(conn.user)["fills"] if f.get("twapId") == twap_id]


@QUIET
@BTC_ONLY
async def test_native_twap_executes_on_the_venue_and_reports_the_venues_figures(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    twap = NativeTwap(hl_connector, NativeTwapParams("BTC", Side.BUY, D("0.05"), minutes=5), poll_interval_s=0.05)
    reports: list[NativeTwapReport] = []

    async def run() -> None:
        reports.append(await twap.run())

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            twap_id = await twap.wait_running()
            run_suborders(hl_emulator, twap_id, range(10))
    (report,) = reports
    fills = venue_twap_fills(hl_emulator, hl_connector, twap_id)
    assert len(fills) >= 10  # one suborder per 30 s (a suborder may take several levels)
    venue_sz = sum((D(f["sz"]) for f in fills), D(0))
    venue_ntl = sum((D(f["sz"]) * D(f["px"]) for f in fills), D(0))
    assert venue_sz == D("0.05")
    assert (report.twap_id, report.status, report.venue_status) == (twap_id, ExecutionStatus.COMPLETED, "finished")
    assert report.filled == D("0.05") and report.remaining == 0
    assert report.average_price == venue_ntl / venue_sz
    assert hl_connector.open_orders() == []  # the venue sliced it: the connector placed nothing


@QUIET
@BTC_ONLY
async def test_native_twap_stop_cancels_it_on_the_venue(hl_emulator: Emulator,
                                                        hl_connector: HyperliquidConnector) -> None:
    twap = NativeTwap(hl_connector, NativeTwapParams("BTC", Side.SELL, D("0.05"), minutes=5), poll_interval_s=0.05)
    reports: list[NativeTwapReport] = []

    async def run() -> None:
        reports.append(await twap.run())

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            twap_id = await twap.wait_running()
            run_suborders(hl_emulator, twap_id, range(3))
            twap.stop()
    run_suborders(hl_emulator, twap_id, range(3, 12))  # the venue sends nothing after the cancel
    (report,) = reports
    assert hl_emulator.engine.twaps.twaps[twap_id].status == "terminated"
    assert sum((D(f["sz"]) for f in venue_twap_fills(hl_emulator, hl_connector, twap_id)), D(0)) == D("0.015")
    assert (report.status, report.venue_status, report.filled) == (ExecutionStatus.STOPPED, "terminated", D("0.015"))


@QUIET
@BTC_ONLY
async def test_cancelling_the_run_cancels_the_venue_twap(hl_emulator: Emulator,
                                                         hl_connector: HyperliquidConnector) -> None:
    twap = NativeTwap(hl_connector, NativeTwapParams("BTC", Side.BUY, D("0.05"), minutes=30), poll_interval_s=0.05)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(twap.run)
            twap_id = await twap.wait_running()
            nursery.cancel_scope.cancel()
    assert hl_emulator.engine.twaps.twaps[twap_id].status == "terminated"
    assert twap.report().status is ExecutionStatus.CANCELLED


@QUIET
@BTC_ONLY
async def test_native_twap_params_refuse_what_the_venue_would(hl_connector: HyperliquidConnector) -> None:
    for minutes in (4, 1441):
        with pytest.raises(InvalidOrderError, match="minutes"):
            NativeTwapParams("BTC", Side.BUY, D("0.05"), minutes=minutes)
    with pytest.raises(InvalidOrderError, match="lot"):
        NativeTwap(hl_connector, NativeTwapParams("BTC", Side.BUY, D("0.000001"), minutes=5))


@QUIET
@BTC_ONLY
async def test_a_lost_twap_order_answer_is_resolved_from_twap_history(hl_emulator: Emulator,
                                                                      hl_connector: HyperliquidConnector) -> None:
    hl_emulator.faults.accept_then_timeout_count = 1  # the venue starts the TWAP; its answer never comes
    twap = NativeTwap(hl_connector, NativeTwapParams("BTC", Side.BUY, D("0.05"), minutes=5), poll_interval_s=0.05)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(twap.run)
            twap_id = await twap.wait_running()
            run_suborders(hl_emulator, twap_id, range(10))
    assert hl_emulator.faults.accept_then_timeout_count == 0  # the fault did hit the twapOrder
    assert list(hl_emulator.engine.twaps.twaps) == [twap_id]  # adopted, not sent twice
    assert twap.report().status is ExecutionStatus.COMPLETED
    assert twap.report().filled == D("0.05")


# ========================================================================= NativeTwap: risk and kill switch


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """Trio time (and the emulator's, which follows it) is virtual: it jumps to the next deadline after 2 ms of
    real idleness - far above loopback latency, so no request times out that would not on a real clock.  A poll
    interval of minutes then costs nothing, and "within N seconds" is an exact statement about Trio time."""
    return trio.testing.MockClock(autojump_threshold=0.002)


def venue_twaps(emu: Emulator) -> dict[int, Any]:
    return dict(emu.engine.twaps.twaps)


@QUIET
@BTC_ONLY
async def test_native_twap_refuses_to_start_while_the_kill_switch_is_engaged(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    hl_connector.kill("drawdown")
    twap = NativeTwap(hl_connector, NativeTwapParams("BTC", Side.BUY, D("0.05"), minutes=5), poll_interval_s=0.05)
    with trio.fail_after(10), pytest.raises(RiskBreachError, match=r"^kill_switch engaged \(drawdown\)") as refused:
        await twap.run()
    assert refused.value.breach.limit == "kill_switch"
    assert venue_twaps(hl_emulator) == {}  # nothing reached the venue
    assert hl_emulator.engine.info({"type": "twapHistory", "user": hl_connector.user}, hl_emulator.now_ms()) == []
    assert twap.twap_id is None and twap.polls == 0
    assert hl_connector.risk.statistics().breaches == {"kill_switch": 1}


@QUIET
@BTC_ONLY
async def test_native_twap_total_beyond_the_risk_limits_is_refused_before_anything_is_sent(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    """The whole total is judged as one order at the mid; our resting orders on the same side count toward
    ``max_position``, as for an order.  A total exactly at every limit runs."""
    conn = hl_connector
    total = D("0.05")
    mid = conn.mid("BTC")
    assert mid is not None
    params = NativeTwapParams("BTC", Side.BUY, total, minutes=5)
    cases = [
        (PairLimits(max_order_size=D("0.04")), "max_order_size", D("0.04"), total),
        (PairLimits(max_order_notional=total * mid - 1), "max_order_notional", total * mid - 1, total * mid),
        (PairLimits(max_position=D("0.049")), "max_position", D("0.049"), total),
    ]
    for limits, name, limit_value, actual in cases:
        conn.risk.update(RiskLimits(default=limits))
        with trio.fail_after(10), pytest.raises(RiskBreachError, match=f"^{name} breached") as refused:
            await NativeTwap(conn, params).run()
        breach = refused.value.breach
        assert (breach.limit, breach.limit_value, breach.actual_value) == (name, limit_value, actual)

    events = conn.events()
    book = conn.book("BTC")
    assert book.best_bid is not None
    resting = conn.buy(OrderParams("BTC", D("0.01"), book.best_bid.price - 1000))
    await next_event(events, OrderCreated, client_order_id=resting)
    conn.risk.update(RiskLimits(default=PairLimits(max_position=D("0.055"))))
    with pytest.raises(RiskBreachError, match=r"^max_position breached: position 0.060+ if this instruction and "
                                              r"the buy orders resting \(0.010*\)"), trio.fail_after(10):
        await NativeTwap(conn, params).run()
    # Account-wide: the resting bid counts at the mid (the connector supplies the account's gross exposure).
    exposure = conn.account_notional()
    assert exposure == D("0.01") * mid
    conn.risk.update(RiskLimits(max_account_notional=exposure + total * mid - 1))
    with pytest.raises(RiskBreachError, match=r"^max_account_notional breached"), trio.fail_after(10):
        await NativeTwap(conn, params).run()
    assert venue_twaps(hl_emulator) == {}

    conn.risk.update(RiskLimits(default=PairLimits(max_order_size=total, max_order_notional=total * mid,
                                                   max_position=total + D("0.01"))))
    twap = NativeTwap(conn, params, poll_interval_s=0.05)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(twap.run)
            twap_id = await twap.wait_running()
            twap.stop()
    assert list(venue_twaps(hl_emulator)) == [twap_id]
    assert twap.report().status is ExecutionStatus.STOPPED
    assert conn.risk.statistics().breaches == {"max_order_size": 1, "max_order_notional": 1, "max_position": 2,
                                               "max_account_notional": 1}


@QUIET
@BTC_ONLY
async def test_kill_cancels_a_running_native_twap_on_the_venue_at_once(
    virtual_clock: trio.testing.MockClock, hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    """Polls are a minute apart; the kill lands between two of them and the run ends - twapCancel, one poll -
    within a quarter of that, in Trio time.  The venue trades nothing after it."""
    poll = 60.0
    twap = NativeTwap(hl_connector, NativeTwapParams("BTC", Side.BUY, D("0.05"), minutes=30), poll_interval_s=poll)
    reports: list[NativeTwapReport] = []
    done = trio.Event()

    async def run() -> None:
        reports.append(await twap.run())
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        twap_id = await twap.wait_running()
        run_suborders(hl_emulator, twap_id, range(3))
        executed = sum((D(f["sz"]) for f in venue_twap_fills(hl_emulator, hl_connector, twap_id)), D(0))
        assert executed > 0
        killed_at = trio.current_time()
        hl_connector.kill("test")
        with trio.fail_after(poll / 4):
            await done.wait()
    assert trio.current_time() - killed_at < poll / 4
    (report,) = reports
    assert (report.twap_id, report.status, report.venue_status) == (twap_id, ExecutionStatus.KILLED, "terminated")
    assert report.filled == executed and report.remaining == D("0.05") - executed
    assert hl_emulator.engine.twaps.twaps[twap_id].status == "terminated"
    run_suborders(hl_emulator, twap_id, range(3, 60))
    assert sum((D(f["sz"]) for f in venue_twap_fills(hl_emulator, hl_connector, twap_id)), D(0)) == executed
