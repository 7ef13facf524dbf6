"""OrderTracker: every documented transition and edge case, plus a property over shuffled lifecycles."""

from __future__ import annotations

import itertools
import weakref
from decimal import Decimal

import attrs
import pytest
from hypothesis import given

from trio_hl.core.events import (
    CancelRejected,
    Event,
    LateFill,
    ModifyRejected,
    OrderAnomaly,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderLost,
    OrderModified,
    OrderPartiallyFilled,
    OrderUnknown,
    UnmatchedFill,
)
from trio_hl.core.order import STATE_RANK, TRANSITIONS, InFlightOrder, is_allowed
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderParams, OrderState, OrderType, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import InvalidOrderError
from trio_hl.testing.strategies import Lifecycle, order_lifecycles

S = OrderState
D = Decimal
PAIR = "BTC"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> OrderTracker:
    return OrderTracker(clock=clock, not_found_limit=3, finished_ttl=60.0, fill_wait_timeout=5.0, orphan_ttl=10.0)


def order(cid: str = "c1", amount: str = "2", price: str = "100", side: Side = Side.BUY) -> InFlightOrder:
    return InFlightOrder.new(client_order_id=cid, pair=PAIR, side=side, amount=D(amount), price=D(price),
                             created_at=0.0)


def status(state: OrderState, cid: str | None = "c1", eid: str | None = "e1", ts: float = 1.0,
           reason: str | None = None, **kw: D) -> OrderUpdate:
    return OrderUpdate(PAIR, state, ts, cid, eid, reason, None, **kw)


def fill(tid: str, amount: str, price: str = "100", cid: str | None = "c1", eid: str | None = "e1",
         fee: str = "0.01", fee_asset: str = "USDC") -> TradeUpdate:
    return TradeUpdate(tid, PAIR, D(price), D(amount), D(fee), fee_asset, 2.0, cid, eid)


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ + (f":{e.kind}" if isinstance(e, OrderAnomaly) else "") for e in events]


def open_order(tracker: OrderTracker, cid: str = "c1", eid: str = "e1", amount: str = "2") -> InFlightOrder:
    tracker.start_tracking(order(cid, amount))
    assert kinds(tracker.process_order_update(status(S.OPEN, cid, eid))) == ["OrderCreated"]
    o = tracker.get(cid)
    assert o is not None
    return o


# ---------------------------------------------------------------------- the table


def test_table_never_lowers_rank_and_terminals_absorb() -> None:
    for current, targets in TRANSITIONS.items():
        for target in targets:
            assert STATE_RANK[target] >= STATE_RANK[current], (current, target)
        if current.is_terminal:
            assert not targets
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), [
    (S.OPEN, S.UNKNOWN), (S.PARTIALLY_FILLED, S.OPEN), (S.OPEN, S.PENDING_CREATE), (S.UNKNOWN, S.PENDING_CREATE),
    (S.FILLED, S.CANCELED), (S.CANCELED, S.OPEN), (S.FAILED, S.FILLED),
])
def test_table_refuses(current: OrderState, target: OrderState) -> None:
    assert not is_allowed(current, target)


def test_every_state_pair_is_either_allowed_or_refused_without_raising(tracker: OrderTracker) -> None:
    # Drive an order into each reachable state, then throw every possible status at it: nothing raises,
    # and the state never loses rank.
    for i, target in enumerate(itertools.product(S, S)):
        cid = f"x{i}"
        tracker.start_tracking(order(cid))
        tracker.process_order_update(status(target[0], cid, f"ex{i}"))
        before = tracker.get(cid)
        assert before is not None
        rank = STATE_RANK[before.state]
        tracker.process_order_update(status(target[1], cid, f"ex{i}"))
        after = tracker.get(cid)
        assert after is not None and STATE_RANK[after.state] >= rank


# ---------------------------------------------------------------------- happy path and fills


def test_open_partial_fill_then_complete(tracker: OrderTracker) -> None:
    assert tracker.start_tracking(order()) == []
    o = tracker.get("c1")
    assert o is not None and o.state is S.PENDING_CREATE
    ev = tracker.process_order_update(status(S.OPEN))
    assert ev == [OrderCreated("c1", PAIR, 1.0, "e1", Side.BUY, OrderType.LIMIT, D(2), D(100))]
    assert o.state is S.OPEN and tracker.get_by_exchange_id("e1") is o
    ev = tracker.process_trade_update(fill("t1", "0.5"))
    assert kinds(ev) == ["OrderPartiallyFilled"]
    assert isinstance(ev[0], OrderPartiallyFilled)
    assert ev[0].executed_amount == D("0.5") and ev[0].remaining_amount == D("1.5")
    assert o.state is S.PARTIALLY_FILLED
    ev = tracker.process_trade_update(fill("t2", "1.5", price="102"))
    assert kinds(ev) == ["OrderFilled"]
    done = ev[0]
    assert isinstance(done, OrderFilled)
    assert done.executed_amount == D(2) and done.average_price == D("101.5") and done.total_fee == D("0.02")
    assert done.trade is not None and done.trade.trade_id == "t2"
    assert o.state is S.FILLED and o.finished_at == 0.0
    # the venue's FILLED status afterwards is a duplicate: no second terminal event
    assert tracker.process_order_update(status(S.FILLED)) == []
    stats = tracker.statistics()
    assert (stats.active, stats.finished_cached, stats.duplicate_updates, stats.fills_applied) == (0, 1, 1, 2)


def test_duplicate_fill_is_ignored_and_counted(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.process_trade_update(fill("t1", "1"))
    assert tracker.process_trade_update(fill("t1", "1")) == []
    assert tracker.process_trade_update(fill("t1", "1", cid=None)) == []  # same trade via exchange id
    assert o.executed_amount == D(1) and o.fill_count == 1
    assert tracker.statistics().duplicate_fills == 2


def test_overfill_is_reported_capped_and_kept(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.process_trade_update(fill("t1", "1.5", price="100"))
    ev = tracker.process_trade_update(fill("t2", "1", price="110"))
    assert kinds(ev) == ["OrderAnomaly:overfill", "OrderFilled"]
    assert o.executed_amount == D(2) and o.overfill_amount == D("0.5")
    assert o.average_price == (D("150") + D("110")) / D("2.5")  # over every fill that traded
    ev = tracker.process_trade_update(fill("t3", "0.25"))
    assert kinds(ev) == ["OrderAnomaly:overfill", "LateFill"]
    assert o.overfill_amount == D("0.75") and o.executed_amount == D(2)
    assert tracker.statistics().overfills == 2


def test_invalid_fill_is_refused(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    assert kinds(tracker.process_trade_update(fill("t1", "0"))) == ["OrderAnomaly:invalid_fill"]
    assert o.executed_amount == 0 and tracker.statistics().invalid_fills == 1


def test_fees_are_kept_per_asset(tracker: OrderTracker) -> None:
    o = open_order(tracker, amount="3")
    tracker.process_trade_update(fill("t1", "1", fee="0.1", fee_asset="USDC"))
    tracker.process_trade_update(fill("t2", "1", fee="0.2", fee_asset="USDC"))
    tracker.process_trade_update(fill("t3", "1", fee="0.001", fee_asset="BTC"))
    assert o.fee_by_asset == {"USDC": D("0.3"), "BTC": D("0.001")}


def test_filled_status_waits_for_its_fills(tracker: OrderTracker, clock: Clock) -> None:
    o = open_order(tracker)
    clock.now = 1.0
    assert tracker.process_order_update(status(S.FILLED)) == []
    assert not o.is_done and tracker.awaiting_fills() == [o]
    assert tracker.start_cancel("c1") is False  # nothing left to cancel
    assert kinds(tracker.process_trade_update(fill("t1", "1"))) == ["OrderPartiallyFilled"]
    ev = tracker.process_trade_update(fill("t2", "1"))
    assert kinds(ev) == ["OrderFilled"] and o.state is S.FILLED
    assert tracker.awaiting_fills() == [] and tracker.poll(100.0) == []


def test_filled_status_times_out_then_late_fill(tracker: OrderTracker, clock: Clock) -> None:
    o = open_order(tracker)
    tracker.process_trade_update(fill("t1", "0.5"))
    clock.now = 10.0
    tracker.process_order_update(status(S.FILLED))
    assert tracker.poll(14.9) == []
    ev = tracker.poll(15.0)
    assert kinds(ev) == ["OrderAnomaly:fill_timeout", "OrderFilled"]
    assert isinstance(ev[1], OrderFilled) and ev[1].executed_amount == D("0.5") and ev[1].trade is None
    assert o.state is S.FILLED
    ev = tracker.process_trade_update(fill("t2", "1.5"))
    assert kinds(ev) == ["LateFill"] and o.executed_amount == D(2)
    assert tracker.statistics().fill_wait_timeouts == 1


def test_other_verdict_while_waiting_for_fills_is_refused(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.process_order_update(status(S.FILLED))
    assert kinds(tracker.process_order_update(status(S.CANCELED))) == ["OrderAnomaly:transition_refused"]
    assert not o.is_done and o.fill_wait_deadline is not None


def test_cancel_with_a_known_executed_total_waits_for_those_fills(tracker: OrderTracker) -> None:
    # A partial IOC: the venue says "cancelled, 0.5 executed" before the fill message arrives.
    o = open_order(tracker)
    assert tracker.process_order_update(status(S.CANCELED, reason="ioc", executed=D("0.5"))) == []
    assert not o.is_done and tracker.awaiting_fills() == [o]
    assert tracker.start_cancel("c1") is False  # already over on the venue
    assert tracker.process_order_update(status(S.CANCELED, executed=D("0.5"))) == []  # duplicate: no-op
    ev = tracker.process_trade_update(fill("t1", "0.5"))
    assert kinds(ev) == ["OrderPartiallyFilled", "OrderCancelled"]
    assert isinstance(ev[1], OrderCancelled) and ev[1].executed_amount == D("0.5") and ev[1].reason == "ioc"
    assert o.state is S.CANCELED and tracker.awaiting_fills() == []
    assert tracker.statistics().late_fills == 0


def test_cancel_whose_fills_already_arrived_finishes_at_once(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    assert kinds(tracker.process_trade_update(fill("t1", "0.5"))) == ["OrderCreated", "OrderPartiallyFilled"]
    ev = tracker.process_order_update(status(S.CANCELED, executed=D("0.5")))
    assert kinds(ev) == ["OrderCancelled"] and ev[0].executed_amount == D("0.5")  # type: ignore[attr-defined]


def test_cancel_waiting_for_fills_times_out_as_cancelled(tracker: OrderTracker, clock: Clock) -> None:
    o = open_order(tracker)
    clock.now = 10.0
    tracker.process_order_update(status(S.CANCELED, executed=D("0.5")))
    assert tracker.poll(14.9) == []
    ev = tracker.poll(15.0)
    assert kinds(ev) == ["OrderAnomaly:fill_timeout", "OrderCancelled"] and o.state is S.CANCELED
    assert kinds(tracker.process_trade_update(fill("t1", "0.5"))) == ["LateFill"]


def test_filled_after_a_partial_cancel_verdict_waits_for_the_whole_amount(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.process_order_update(status(S.CANCELED, executed=D("0.5")))
    assert tracker.process_order_update(status(S.FILLED)) == []
    assert kinds(tracker.process_trade_update(fill("t1", "0.5"))) == ["OrderPartiallyFilled"]
    assert kinds(tracker.process_trade_update(fill("t2", "1.5"))) == ["OrderFilled"] and o.state is S.FILLED


@pytest.mark.parametrize("believed", [S.CANCELED, S.FAILED])
def test_fill_after_terminal_is_applied_and_reported(tracker: OrderTracker, believed: OrderState) -> None:
    o = open_order(tracker)
    tracker.process_order_update(status(believed, reason="gone"))
    ev = tracker.process_trade_update(fill("t1", "1"))
    assert kinds(ev) == ["LateFill"]
    late = ev[0]
    assert isinstance(late, LateFill) and late.state is believed and late.executed_amount == D(1)
    assert o.state is believed and o.executed_amount == D(1)
    assert tracker.statistics().late_fills == 1


def test_conflicting_terminal_verdict_is_reported_not_applied(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    assert kinds(tracker.process_order_update(status(S.CANCELED))) == ["OrderCancelled"]
    assert kinds(tracker.process_order_update(status(S.FILLED))) == ["OrderAnomaly:transition_refused"]
    assert o.state is S.CANCELED
    # a stale OPEN is an ordinary race: counted, not reported
    assert tracker.process_order_update(status(S.OPEN)) == []
    assert tracker.statistics().refused_transitions == 2


def test_fill_before_open_creates_the_order(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    ev = tracker.process_trade_update(fill("t1", "1", eid=None))
    assert kinds(ev) == ["OrderCreated", "OrderPartiallyFilled"]
    o = tracker.get("c1")
    assert o is not None and o.state is S.PARTIALLY_FILLED
    assert tracker.process_order_update(status(S.OPEN)) == []  # late OPEN: nothing new
    assert o.exchange_order_id == "e1" and o.state is S.PARTIALLY_FILLED


def test_fill_learns_the_exchange_id(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    tracker.process_trade_update(fill("t1", "1", eid="e9"))
    assert tracker.get_by_exchange_id("e9") is tracker.get("c1")


def test_fill_by_unknown_exchange_id_waits_for_the_order(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    assert tracker.process_trade_update(fill("t1", "1", cid=None)) == []
    assert tracker.statistics().orphans_buffered == 1
    ev = tracker.process_order_update(status(S.OPEN))
    assert kinds(ev) == ["OrderCreated", "OrderPartiallyFilled"]
    o = tracker.get("c1")
    assert o is not None and o.executed_amount == D(1)
    stats = tracker.statistics()
    assert (stats.orphans_buffered, stats.orphans_matched, stats.trades_processed) == (0, 1, 1)


def test_orphan_completing_the_order_during_open(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    tracker.process_trade_update(fill("t1", "2", cid=None))
    ev = tracker.process_order_update(status(S.OPEN))
    assert kinds(ev) == ["OrderCreated", "OrderFilled"]


def test_fill_by_client_id_before_tracking_is_matched_at_start(tracker: OrderTracker) -> None:
    assert tracker.process_trade_update(fill("t1", "1", eid=None)) == []
    assert kinds(tracker.start_tracking(order())) == ["OrderCreated", "OrderPartiallyFilled"]


def test_unmatched_fill_is_reported_after_the_window(tracker: OrderTracker, clock: Clock) -> None:
    clock.now = 5.0
    trade = fill("t1", "1", cid=None, eid="nobody")
    tracker.process_trade_update(trade)
    tracker.process_trade_update(trade)  # duplicate while buffered
    assert tracker.poll(14.0) == []
    ev = tracker.poll(15.0)
    assert ev == [UnmatchedFill("", PAIR, 2.0, trade, "nobody")]
    assert tracker.statistics().unmatched_fills == 1
    assert tracker.statistics().orphans_buffered == 0


def test_unmatched_status_and_idless_messages_are_reported(tracker: OrderTracker) -> None:
    ev = tracker.process_order_update(status(S.OPEN, cid=None, eid=None))
    assert kinds(ev) == ["OrderAnomaly:unmatched_update"]
    tracker.process_order_update(status(S.CANCELED, cid="ghost", eid=None))
    assert kinds(tracker.poll(100.0)) == ["OrderAnomaly:unmatched_update"]
    assert tracker.statistics().unmatched_updates == 2


def test_orphan_buffer_is_bounded(clock: Clock) -> None:
    tracker = OrderTracker(clock=clock, max_orphans=2)
    tracker.process_trade_update(fill("t1", "1", cid=None, eid="a"))
    tracker.process_trade_update(fill("t2", "1", cid=None, eid="b"))
    ev = tracker.process_trade_update(fill("t3", "1", cid=None, eid="c"))
    assert kinds(ev) == ["UnmatchedFill"] and isinstance(ev[0], UnmatchedFill) and ev[0].trade.trade_id == "t1"


# ---------------------------------------------------------------------- ambiguity, failure, not found


def test_submit_timeout_is_unknown_until_resolved_open(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    ev = tracker.process_order_update(status(S.UNKNOWN, eid=None, reason="timeout"))
    assert ev == [OrderUnknown("c1", PAIR, 1.0, "timeout")]
    o = tracker.get("c1")
    assert o is not None and o.state is S.UNKNOWN and tracker.needs_resolution() == [o]
    assert tracker.process_order_update(status(S.UNKNOWN, eid=None)) == []  # still unknown
    assert kinds(tracker.process_order_update(status(S.OPEN))) == ["OrderCreated"]
    assert tracker.needs_resolution() == [] and o.state is S.OPEN
    assert tracker.statistics().unknown == 0


def test_unknown_resolved_as_never_landed_is_a_pre_creation_failure(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    tracker.process_order_update(status(S.UNKNOWN, eid=None))
    ev = tracker.process_order_update(status(S.FAILED, eid=None, reason="nonce consumed"))
    assert ev == [OrderFailed("c1", PAIR, 1.0, "nonce consumed")]
    assert tracker.needs_resolution() == []


def test_rejection_at_submit(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    ev = tracker.process_order_update(status(S.FAILED, eid=None, reason="Insufficient margin"))
    assert ev == [OrderFailed("c1", PAIR, 1.0, "Insufficient margin")]
    o = tracker.get("c1")
    assert o is not None and o.state is S.FAILED and o.reason == "Insufficient margin"


def test_unknown_resolved_as_filled_or_canceled_creates_first(tracker: OrderTracker) -> None:
    tracker.start_tracking(order("c1"))
    tracker.start_tracking(order("c2"))
    tracker.process_order_update(status(S.UNKNOWN, "c1", None))
    tracker.process_order_update(status(S.UNKNOWN, "c2", None))
    assert kinds(tracker.process_order_update(status(S.CANCELED, "c1", "e1"))) == ["OrderCreated", "OrderCancelled"]
    assert kinds(tracker.process_order_update(status(S.FILLED, "c2", "e2"))) == ["OrderCreated"]
    o2 = tracker.get("c2")
    assert o2 is not None and o2.state is S.OPEN and tracker.needs_resolution() == []


def test_live_order_never_becomes_unknown(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    assert tracker.process_order_update(status(S.UNKNOWN)) == []
    assert o.state is S.OPEN and tracker.statistics().refused_transitions == 1


def test_not_found_limit_makes_an_order_lost_until_a_definitive_answer(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    assert tracker.process_not_found("c1") == []
    assert tracker.process_not_found("c1") == []
    assert tracker.process_not_found("c1") == [OrderLost("c1", PAIR, 0.0, 3)]
    assert tracker.process_not_found("c1") == []  # reported once
    assert tracker.lost_orders() == [o] and o.is_lost and o.state is S.OPEN
    assert tracker.statistics().lost == 1
    tracker.process_order_update(status(S.OPEN))
    assert tracker.lost_orders() == [] and not o.is_lost and o.not_found_count == 0


def test_lost_order_found_by_its_fill_and_terminal(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    for _ in range(3):
        tracker.process_not_found("c1")
    tracker.process_trade_update(fill("t1", "2"))
    assert o.state is S.FILLED and tracker.lost_orders() == [] and not o.is_lost


def test_not_found_for_terminal_or_untracked_is_ignored(tracker: OrderTracker) -> None:
    open_order(tracker)
    tracker.process_order_update(status(S.CANCELED))
    assert tracker.process_not_found("c1") == []
    assert tracker.process_not_found("nobody") == []


# ---------------------------------------------------------------------- cancel


def test_cancel_request_and_rejection(tracker: OrderTracker, clock: Clock) -> None:
    o = open_order(tracker)
    assert tracker.start_cancel("c1") is True and o.state is S.PENDING_CANCEL and o.cancel_requested
    tracker.process_trade_update(fill("t1", "1"))
    assert o.state is S.PENDING_CANCEL  # a fill does not undo the request
    clock.now = 4.5
    rejected = CancelRejected("c1", PAIR, 4.5, "no", S.PARTIALLY_FILLED, "e1")
    assert tracker.process_cancel_rejected("c1", "no") == [rejected]
    assert o.state is S.PARTIALLY_FILLED and not o.cancel_requested
    tracker.start_cancel("c1")
    ev = tracker.process_order_update(status(S.CANCELED, reason="canceled"))
    assert ev == [OrderCancelled("c1", PAIR, 1.0, "e1", D(1), "canceled")]


def test_cancel_rejected_for_an_order_that_was_filled_never_fails_it(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.start_cancel("c1")
    tracker.process_trade_update(fill("t1", "2"))
    assert o.state is S.FILLED
    assert tracker.process_cancel_rejected("c1", "Order was never placed, already canceled, or filled.") == []
    assert o.state is S.FILLED


def test_cancel_rejected_back_to_open(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.start_cancel("c1")
    [ev] = tracker.process_cancel_rejected("c1")
    assert o.state is S.OPEN
    assert isinstance(ev, CancelRejected) and (ev.state, ev.reason) == (S.OPEN, "cancel refused")  # no text given


MISSING = "Order was never placed, already canceled, or filled. asset=3"


def test_refused_cancel_is_reported_once_and_the_race_it_lost_ends_the_order(tracker: OrderTracker,
                                                                             clock: Clock) -> None:
    """The usual refusal: the order filled on the venue before our cancel arrived, and the stream had not said so
    yet.  The strategy hears the refusal (once), the order shows live again, then the fill ends it."""
    o = open_order(tracker)
    assert tracker.start_cancel("c1")
    clock.now = 7.0
    events = tracker.process_cancel_rejected("c1", MISSING)
    assert events == [CancelRejected("c1", PAIR, 7.0, MISSING, S.OPEN, "e1")]
    assert o.state is S.OPEN and not o.cancel_requested and o.last_update == 7.0
    assert tracker.statistics().cancels_rejected == 1
    assert kinds(tracker.process_trade_update(fill("t1", "2"))) == ["OrderFilled"]
    # the same refusal again (a duplicate answer) after the order finished: counted, not reported
    assert tracker.process_cancel_rejected("c1", MISSING) == []
    assert tracker.statistics().cancels_rejected == 2


def test_second_cancel_of_one_order_is_answered_too(tracker: OrderTracker) -> None:
    """Cancelled twice before the first answer: each refusal answers one cancel (the request flag is cleared by
    the first)."""
    o = open_order(tracker)
    tracker.start_cancel("c1")
    tracker.start_cancel("c1")
    first, second = tracker.process_cancel_rejected("c1", "a"), tracker.process_cancel_rejected("c1", "b")
    assert [(e.reason, e.state) for e in first + second if isinstance(e, CancelRejected)] == [
        ("a", S.OPEN), ("b", S.OPEN)]
    assert o.state is S.OPEN and not o.cancel_requested


def test_refused_cancel_of_an_unresolved_placement_keeps_it_unknown(tracker: OrderTracker) -> None:
    """A cancel of an order whose placement timed out: "never placed" is the venue's truth *so far*; the order
    stays UNKNOWN (resolution decides), and the refusal is reported with that state and no exchange id."""
    tracker.start_tracking(order())
    assert tracker.start_cancel("c1")
    tracker.process_order_update(status(S.UNKNOWN, eid=None, reason="timeout"))
    [ev] = tracker.process_cancel_rejected("c1", MISSING)
    assert isinstance(ev, CancelRejected) and (ev.state, ev.exchange_order_id) == (S.UNKNOWN, None)
    o = tracker.get("c1")
    assert o is not None and o.state is S.UNKNOWN and not o.cancel_requested
    assert [x.client_order_id for x in tracker.needs_resolution()] == ["c1"]


def test_refused_cancel_of_a_finished_or_unknown_order_is_counted_not_reported(tracker: OrderTracker) -> None:
    assert tracker.process_cancel_rejected("nobody", MISSING) == []
    open_order(tracker, "done")
    tracker.start_cancel("done")
    assert kinds(tracker.process_order_update(status(S.CANCELED, "done"))) == ["OrderCancelled"]
    assert tracker.process_cancel_rejected("done", MISSING) == []
    # the venue's FILLED verdict is in and only its fills are awaited: the coming OrderFilled answers the cancel
    waiting = open_order(tracker, "waiting", "e2")
    tracker.start_cancel("waiting")
    assert tracker.process_order_update(status(S.FILLED, "waiting", "e2")) == []
    assert tracker.process_cancel_rejected("waiting", MISSING) == []
    assert not waiting.cancel_requested and waiting.state is S.OPEN and tracker.awaiting_fills() == [waiting]
    assert tracker.statistics().cancels_rejected == 3


def test_replaying_a_refusal_gives_the_same_event(clock: Clock) -> None:
    """``Journal.restore`` replays records through ``replay`` (and discards the events: they were published by the
    run that wrote them); the replay must rebuild the same state, so it computes the same event."""
    live = OrderTracker(clock=clock)
    live.start_tracking(order())
    live.process_order_update(status(S.OPEN))
    live.start_cancel("c1")
    clock.now = 2.0
    events = live.process_cancel_rejected("c1", MISSING)
    replayed = OrderTracker(clock=clock)
    replayed.replay("track", 0.0, order())
    replayed.replay("order", 0.0, status(S.OPEN))
    replayed.replay("cancel", 0.0, "c1")
    assert replayed.replay("cancel_rejected", 2.0, ("c1", MISSING)) == events
    assert replayed.snapshot() == live.snapshot()


def test_cancel_while_pending_or_unknown_applies_once_live(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    assert tracker.start_cancel("c1") is True
    o = tracker.get("c1")
    assert o is not None and o.state is S.PENDING_CREATE and o.cancel_requested
    tracker.process_order_update(status(S.UNKNOWN, eid=None))
    assert o.state is S.UNKNOWN
    tracker.process_order_update(status(S.OPEN))
    assert o.state is S.PENDING_CANCEL


def test_cancel_of_terminal_or_untracked_order(tracker: OrderTracker) -> None:
    assert tracker.start_cancel("nobody") is False
    open_order(tracker)
    tracker.process_order_update(status(S.CANCELED))
    assert tracker.start_cancel("c1") is False


# ---------------------------------------------------------------------- modify, lookups, cache


def test_modify_remaps_exchange_id_and_keeps_the_old_one(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    ev = tracker.process_order_update(status(S.OPEN, eid="e2", amount=D(3), price=D(101)))
    assert ev == [OrderModified("c1", PAIR, 1.0, "e2", D(3), D(101))]
    assert o.exchange_order_id == "e2" and o.previous_exchange_ids == ("e1",)
    assert tracker.get_by_exchange_id("e2") is o and tracker.get_by_exchange_id("e1") is o
    tracker.process_trade_update(fill("t1", "1", cid=None, eid="e1"))  # a fill of the pre-modify order
    assert o.executed_amount == D(1)
    assert kinds(tracker.process_order_update(status(S.OPEN, eid="e3", amount=D(1)))) == ["OrderAnomaly:modify_refused"]
    assert o.amount == D(3) and tracker.statistics().modifies == 1


POST_ONLY = "Post only order would have immediately matched, bbo was 99@101. asset=0"


def test_a_modify_that_did_not_apply_is_reported_with_the_order_as_it_still_rests(tracker: OrderTracker,
                                                                                  clock: Clock) -> None:
    """"My re-quote did not happen, my order is still at the old price": the event says both, changes nothing."""
    o = open_order(tracker, amount="3")
    before = tracker.snapshot().active
    clock.now = 4.5
    assert tracker.process_modify_rejected("c1", POST_ONLY, D(102), D(5)) == [
        ModifyRejected("c1", PAIR, 4.5, POST_ONLY, S.OPEN, "e1", D(100), D(3), D(102), D(5))]
    assert tracker.snapshot().active == before  # nothing about the order changed (last_update included)
    assert o.state is S.OPEN and (o.price, o.amount, o.exchange_order_id) == (D(100), D(3), "e1")
    assert tracker.statistics().modifies_rejected == 1 and tracker.statistics().modifies == 0


def test_a_refused_modify_reports_the_live_state_it_leaves(tracker: OrderTracker) -> None:
    o = open_order(tracker, amount="3")
    tracker.process_trade_update(fill("t1", "1"))
    [ev] = tracker.process_modify_rejected("c1", "Too many cumulative requests sent", D(99), None)
    assert isinstance(ev, ModifyRejected) and ev.state is S.PARTIALLY_FILLED and ev.requested_amount is None
    assert tracker.start_cancel("c1")
    [ev] = tracker.process_modify_rejected("c1", "")  # no text: a generic reason, never an empty one
    assert isinstance(ev, ModifyRejected) and (ev.state, ev.reason) == (S.PENDING_CANCEL, "modify refused")
    assert o.cancel_requested  # the cancel under way is untouched


def test_a_modify_refusal_that_ended_the_order_is_counted_not_reported(tracker: OrderTracker) -> None:
    """Hyperliquid's modify is cancel + place: a refused re-price usually took the old order with it.  The caller
    feeds the re-read status first (the refused order, under a new id, is the client id's latest), so the
    terminal event answers the modify, and the refusal is only counted."""
    open_order(tracker)
    ended = tracker.process_order_update(status(S.FAILED, eid="e2", reason="badAloPxRejected"))
    assert kinds(ended) == ["OrderFailed"]
    assert tracker.process_modify_rejected("c1", POST_ONLY, D(102), D(2)) == []
    assert tracker.process_modify_rejected("nobody", POST_ONLY) == []
    # the venue's FILLED verdict is in, its fills are awaited: the coming OrderFilled tells
    open_order(tracker, "c2", "e3")
    assert tracker.process_order_update(status(S.FILLED, "c2", "e3")) == []
    assert tracker.process_modify_rejected("c2", "Cannot modify canceled or filled order. asset=0") == []
    assert tracker.statistics().modifies_rejected == 3


def test_replaying_a_refused_modify_gives_the_same_event(clock: Clock) -> None:
    live = OrderTracker(clock=clock)
    live.start_tracking(order())
    live.process_order_update(status(S.OPEN))
    clock.now = 2.0
    events = live.process_modify_rejected("c1", POST_ONLY, D(101), D(2))
    replayed = OrderTracker(clock=clock)
    replayed.replay("track", 0.0, order())
    replayed.replay("order", 0.0, status(S.OPEN))
    assert replayed.replay("modify_rejected", 2.0, ("c1", POST_ONLY, D(101), D(2))) == events
    assert replayed.snapshot() == live.snapshot()


def test_stale_message_with_a_pre_modify_id_does_not_rekey(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.process_order_update(status(S.OPEN, eid="e2", amount=D(3)))
    assert tracker.process_order_update(status(S.OPEN, eid="e1")) == []
    assert tracker.process_order_update(status(S.OPEN, cid=None, eid="e1")) == []
    assert o.exchange_order_id == "e2" and o.previous_exchange_ids == ("e1",)


def test_remap_without_modify_emits_nothing(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    assert tracker.process_order_update(status(S.OPEN, eid="e2")) == []
    assert tracker.get_by_exchange_id("e2") is o


def test_duplicate_client_id_is_a_caller_error(tracker: OrderTracker) -> None:
    tracker.start_tracking(order())
    with pytest.raises(InvalidOrderError, match="already tracked"):
        tracker.start_tracking(order())
    o = tracker.get("c1")
    assert o is not None
    with pytest.raises(InvalidOrderError):
        tracker.start_tracking(o)


def test_finished_orders_expire_on_the_callers_clock(tracker: OrderTracker, clock: Clock) -> None:
    open_order(tracker)
    clock.now = 100.0
    tracker.process_order_update(status(S.CANCELED))
    assert tracker.poll(159.0) == [] and "c1" in tracker
    tracker.poll(160.0)
    assert tracker.get("c1") is None and tracker.get_by_exchange_id("e1") is None
    assert tracker.statistics().finished_evicted == 1
    # a very late fill for it is now an orphan, reported rather than dropped
    tracker.process_trade_update(fill("t1", "1"))
    assert kinds(tracker.poll(200.0)) == ["UnmatchedFill"]


def test_finished_cache_is_bounded(clock: Clock) -> None:
    tracker = OrderTracker(clock=clock, max_finished=2)
    for i in range(3):
        tracker.start_tracking(order(f"c{i}"))
        tracker.process_order_update(status(S.FAILED, f"c{i}", None))
    assert [o.client_order_id for o in tracker.finished_orders()] == ["c1", "c2"]


def test_lookups_and_views(tracker: OrderTracker) -> None:
    o = open_order(tracker)
    tracker.start_tracking(order("c2"))
    assert len(tracker) == 2 and list(tracker) == tracker.active_orders()
    assert tracker.get("c1") is o and tracker.get("zzz") is None and "c2" in tracker
    assert tracker.statistics().pending_create == 1


def test_in_flight_order_from_params() -> None:
    params = OrderParams("ETH", D("1.5"), D("3000"), order_type=OrderType.LIMIT_MAKER)
    o = InFlightOrder.from_params(params, side=Side.SELL, client_order_id="0x01", created_at=5.0)
    assert (o.pair, o.amount, o.price, o.side, o.created_at, o.state) == (
        "ETH", D("1.5"), D("3000"), Side.SELL, 5.0, S.PENDING_CREATE)
    assert o.tif is params.tif and o.average_price is None and o.total_fee == 0
    with pytest.raises(ValueError, match="amount"):
        InFlightOrder.new(client_order_id="x", pair="BTC", side=Side.BUY, amount=D(0), price=None, created_at=0.0)


def test_bad_config_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="not_found_limit"):
        OrderTracker(clock=clock, not_found_limit=0)
    with pytest.raises(ValueError, match="orphan_ttl"):
        OrderTracker(clock=clock, orphan_ttl=-1)


# ---------------------------------------------------------------------- property: any delivery order


def _check_grammar(events: list[Event]) -> None:
    created = terminal = False
    for e in events:
        if isinstance(e, OrderCreated):
            assert not created and not terminal
            created = True
        elif isinstance(e, OrderFailed) and not created:
            assert not terminal
            terminal = True
        elif isinstance(e, (OrderFilled, OrderCancelled, OrderFailed)):
            assert created and not terminal
            terminal = True
        elif isinstance(e, OrderPartiallyFilled):
            assert created and not terminal
        elif isinstance(e, LateFill):
            assert terminal


@given(order_lifecycles())
def test_any_delivery_order_converges_to_the_truth(life: Lifecycle) -> None:
    clock = Clock()
    tracker = OrderTracker(clock=clock, fill_wait_timeout=5.0)
    events = tracker.start_tracking(life.order)
    for message in life.messages:
        if isinstance(message, TradeUpdate):
            events += tracker.process_trade_update(message)
        else:
            events += tracker.process_order_update(message)
    clock.now = 100.0
    events += tracker.poll(100.0)
    o = tracker.get(life.order.client_order_id)
    assert o is not None
    assert o.executed_amount == life.executed and o.overfill_amount == 0
    assert set(o.fills or ()) == {t.trade_id for t in life.fills}
    if life.final is S.OPEN:
        assert o.state is (S.PARTIALLY_FILLED if life.executed else S.OPEN)
    else:
        assert o.state is life.final
    _check_grammar([e for e in events if e.client_order_id == life.order.client_order_id])
    terminals = [e for e in events if isinstance(e, (OrderFilled, OrderCancelled, OrderFailed))]
    assert len(terminals) == (0 if life.final is S.OPEN else 1)
    assert not any(isinstance(e, OrderAnomaly) for e in events)
    assert tracker.statistics().orphans_buffered == 0


# ---------------------------------------------------------------------- review regressions


def test_unknown_with_an_id_that_completes_a_buffered_fill_leaves_the_order_filled(tracker: OrderTracker) -> None:
    tracker.start_tracking(order("c1", amount="1"))
    tracker.process_trade_update(fill("t1", "1", cid=None, eid="E1"))  # buffered: nobody knows E1 yet
    ev = tracker.process_order_update(status(S.UNKNOWN, "c1", "E1", reason="timeout"))
    o = tracker.get("c1")
    assert o is not None and o.state is S.FILLED and kinds(ev) == ["OrderCreated", "OrderFilled"]
    assert tracker.needs_resolution() == []
    # and a later verdict is an ordinary refused/duplicate update, never an exception
    tracker.process_order_update(status(S.CANCELED, "c1", "E1"))
    assert o.state is S.FILLED


def test_cancel_with_executed_after_a_modify_counts_the_fills_before_it(tracker: OrderTracker) -> None:
    o = open_order(tracker, "c1", "E1", amount="1")
    tracker.process_trade_update(fill("t1", "0.4", eid="E1"))
    tracker.process_order_update(status(S.OPEN, "c1", "E2", amount=D(1), price=D(101)))  # modify: new id E2
    # E2 traded 0.3 and was cancelled; the venue's figure (origSz - sz of E2) is 0.3
    assert tracker.process_order_update(status(S.CANCELED, "c1", "E2", executed=D("0.3"))) == []
    ev = tracker.process_trade_update(fill("t2", "0.3", eid="E2"))
    assert kinds(ev) == ["OrderPartiallyFilled", "OrderCancelled"]
    assert o.state is S.CANCELED and o.executed_amount == D("0.7")


def test_the_cancel_of_a_pre_modify_id_does_not_end_the_order(tracker: OrderTracker) -> None:
    o = open_order(tracker, "c1", "E1")
    tracker.process_order_update(status(S.OPEN, "c1", "E2", amount=D(2), price=D(101)))
    assert tracker.process_order_update(status(S.CANCELED, "c1", "E1")) == []  # the venue retiring E1
    assert o.state is S.OPEN and o.exchange_order_id == "E2"
    assert kinds(tracker.process_order_update(status(S.CANCELED, "c1", "E2"))) == ["OrderCancelled"]


def test_an_order_modified_all_day_keeps_a_bounded_id_history(tracker: OrderTracker) -> None:
    from trio_hl.core.tracker import MAX_PREVIOUS_IDS

    o = open_order(tracker, "c1", "E0")
    for i in range(1, 500):
        tracker.process_order_update(status(S.OPEN, "c1", f"E{i}", amount=D(2), price=D(100 + i % 7)))
    assert o.exchange_order_id == "E499" and len(o.previous_exchange_ids) == MAX_PREVIOUS_IDS
    assert tracker.get_by_exchange_id("E0") is None and tracker.get_by_exchange_id("E498") is o
    assert kinds(tracker.process_trade_update(fill("t1", "1", cid="c1", eid="E0"))) == ["OrderPartiallyFilled"]


# ---------------------------------------------------------------------- what an order keeps (memory)


def test_fills_read_back_as_the_updates_applied(tracker: OrderTracker) -> None:
    o = open_order(tracker, amount="3")
    first, second = fill("t1", "1"), fill("t2", "0.5", price="101")
    other = TradeUpdate("t1", PAIR, D("102"), D("0.25"), D("0.01"), "USDC", 2.0, "c1", "e1")  # same tid, differs
    tracker.process_trade_update(first)
    assert o.fills == {"t1": first} and o.fill_count == 1
    tracker.process_trade_update(second)
    tracker.process_trade_update(other)
    tracker.process_trade_update(first)  # a re-delivery: no fill
    assert o.fills == {"t1": first, "t2": second, "t1~1": attrs.evolve(other, trade_id="t1~1")}
    assert o.fill_count == 3 and o.executed_amount == D("1.75")
    assert list(o.fills) == ["t1", "t2", "t1~1"]  # arrival order


def test_the_tracker_keeps_no_update_handed_in_only_shared_equal_objects(tracker: OrderTracker) -> None:
    """What the caller built (a fill, its Decimals, its id strings) can die once applied: the order keeps equal
    objects it shares with other orders - which is why 100 000 filled orders fit in well under 1 KiB each."""
    first = open_order(tracker, "c1", "e1", amount="2")
    second = open_order(tracker, "c2", "e2", amount="2")
    assert second.amount is not first.amount  # (shared from the first fill on: not on buy()'s path)
    tracker.process_trade_update(fill("t1", "0.5", cid="c1"))
    cid, eid = "".join(("c", "2")), "".join(("e", "2"))  # equal to the order's ids, other objects (as parsed)
    trade = TradeUpdate("t2", PAIR, D("100"), D("0.5"), D("0.01"), "USDC", 2.0, cid, eid)
    gone = weakref.ref(trade)
    tracker.process_trade_update(trade)
    del trade
    assert gone() is None
    kept = second.fill_records
    assert isinstance(kept, tuple)
    assert kept[7] is second.client_order_id and kept[8] is second.exchange_order_id
    assert second.amount is first.amount and second.price is first.price
    assert second.executed_amount is first.executed_amount and second.notional is first.notional
    assert second.fee is first.fee and second.fee_asset is first.fee_asset


def test_sharing_never_changes_how_a_number_is_written(tracker: OrderTracker) -> None:
    first = open_order(tracker, "c1", "e1", amount="2")
    second = open_order(tracker, "c2", "e2", amount="2.0")
    assert str(first.amount) == "2" and str(second.amount) == "2.0"
    tracker.process_trade_update(fill("t1", "0.50", cid="c1"))
    tracker.process_trade_update(fill("t2", "0.5", cid="c2"))
    assert str(first.executed_amount) == "0.50" and str(second.executed_amount) == "0.5"
    assert first.fills is not None and str(first.fills["t1"].fill_amount) == "0.50"
