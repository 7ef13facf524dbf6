"""``TrackerMachine``: a Hypothesis state machine that drives an ``OrderTracker`` against a model venue.

The model keeps the hidden truth per order (did the submission land, its exchange id, its fills, its final
status) and a *network*: the messages the venue has sent but the tracker has not seen yet.  Rules submit
orders (acknowledged, rejected, or timing out either way), fill and cancel them on the venue, deliver
network messages in any order, duplicate and lose them, reconcile (the venue re-sends its truth, as a REST
gap-fill would), answer "order not found", refuse modifies (leaving the order resting, or - Hyperliquid's
modify being cancel + place - taking it with them), let time pass, and restore the tracker from its SQLite
journal.

Invariants after every step: no fill counted twice; executed <= amount; states never regress; events are
well formed per order (``OrderCreated`` before fills/terminals, at most one terminal event, and exactly
one once the order is terminal; no fill, modify, ``CancelRejected`` or ``ModifyRejected`` after it; a
``ModifyRejected`` exactly when the order still rests, and it changes nothing); a restored tracker is
identical to the original.  The ``settle`` rule delivers everything the venue knows and checks that the tracker
agrees with the truth.

Subclass it to add rules for your own strategy (e.g. modifies, your cancel policy); the invariants are
inherited.  Use ``self.tracker``, ``self.now``, ``self.record(events)`` (every event must go through it so
the event invariants see it), ``self.venue_orders`` and ``self.send(message)``::

    class MyMachine(TrackerMachine):
        @rule(data=st.data())
        def cancel_all_open(self, data):
            for cid in list(self.venue_orders):
                self.user_cancel_one(cid)

    TestMyMachine = MyMachine.TestCase
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from decimal import Decimal
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from trio_hl.core.events import (
    CancelRejected,
    Event,
    LateFill,
    ModifyRejected,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderModified,
    OrderPartiallyFilled,
)
from trio_hl.core.journal import Journal
from trio_hl.core.order import LIVE_STATES, STATE_RANK, InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate

__all__ = ["TrackerMachine", "VenueOrder"]

_TERMINAL_EVENTS = (OrderFilled, OrderCancelled, OrderFailed)
_AFTER_CREATED = (OrderPartiallyFilled, OrderFilled, OrderCancelled, OrderModified, LateFill, ModifyRejected)


@attrs.define
class VenueOrder:
    """The model venue's truth about one order.

    ``status``: ``unsent`` (tracked, not submitted), ``open``, ``filled``, ``canceled``, ``rejected``
    (refused at submit) or ``never_landed`` (the submission timed out and never reached the book).
    """

    client_order_id: str
    amount: Decimal
    status: str = "unsent"
    exchange_order_id: str | None = None
    fills: list[TradeUpdate] = attrs.Factory(list)

    @property
    def executed(self) -> Decimal:
        return sum((t.fill_amount for t in self.fills), Decimal(0))


class TrackerMachine(RuleBasedStateMachine):
    """See the module doc.  Class attributes are the knobs a subclass may change."""

    pair: ClassVar[str] = "TEST"
    #: Tracker settings.  ``finished_ttl`` is long so every order stays inspectable for the invariants.
    tracker_kwargs: ClassVar[dict[str, Any]] = {
        "not_found_limit": 2, "finished_ttl": 1e12, "fill_wait_timeout": 5.0, "orphan_ttl": 20.0,
    }
    #: Most orders one run creates (keeps examples small and fast).
    max_orders: ClassVar[int] = 8

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._tmpdir = tempfile.mkdtemp(prefix="trio-hl-tracker-machine-")
        self.journal = Journal(os.path.join(self._tmpdir, "journal.sqlite"))
        self.tracker = OrderTracker(clock=self.clock, journal=self.journal, **self.tracker_kwargs)
        self.venue_orders: dict[str, VenueOrder] = {}
        self.network: list[OrderUpdate | TradeUpdate] = []
        self.events: dict[str, list[Event]] = defaultdict(list)
        self.max_rank: dict[str, int] = {}
        self._ids = 0

    def clock(self) -> float:
        return self.now

    def teardown(self) -> None:
        self.journal.close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    # ------------------------------------------------------------------ helpers for rules (and subclasses)

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def record(self, events: list[Event]) -> None:
        """Check the per-order event grammar as events arrive, then keep them."""
        for event in events:
            cid = event.client_order_id
            past = self.events[cid]
            created = any(isinstance(e, OrderCreated) for e in past)
            terminal = any(isinstance(e, _TERMINAL_EVENTS) for e in past)
            if isinstance(event, OrderCreated):
                assert not created, f"{cid}: second OrderCreated"
                assert not terminal, f"{cid}: OrderCreated after a terminal event"
            if isinstance(event, _AFTER_CREATED):
                assert created, f"{cid}: {type(event).__name__} before OrderCreated"
            if isinstance(event, _TERMINAL_EVENTS):
                assert not terminal, f"{cid}: second terminal event {event!r} after {past!r}"
            if isinstance(event, (OrderPartiallyFilled, OrderModified, CancelRejected, ModifyRejected)):
                assert not terminal, f"{cid}: {type(event).__name__} after the terminal event"
            past.append(event)

    def send(self, message: OrderUpdate | TradeUpdate) -> None:
        """The venue sends ``message``; it sits in the network until a rule delivers (or loses) it."""
        self.network.append(message)

    def deliver_message(self, message: OrderUpdate | TradeUpdate) -> None:
        if isinstance(message, TradeUpdate):
            self.record(self.tracker.process_trade_update(message))
        else:
            self.record(self.tracker.process_order_update(message))

    def status_update(self, venue: VenueOrder, state: OrderState, *, with_cid: bool = True) -> OrderUpdate:
        return OrderUpdate(
            self.pair, state, self.now, venue.client_order_id if with_cid else None, venue.exchange_order_id,
        )

    def venue_status_update(self, venue: VenueOrder) -> OrderUpdate | None:
        state = {"open": OrderState.OPEN, "filled": OrderState.FILLED, "canceled": OrderState.CANCELED}.get(
            venue.status
        )
        return None if state is None else self.status_update(venue, state)

    def orders_in(self, *statuses: str) -> list[str]:
        return [cid for cid, v in self.venue_orders.items() if v.status in statuses]

    def user_cancel_one(self, cid: str) -> None:
        """What a connector does on ``cancel()``: mark, send, and apply the venue's answer."""
        self.tracker.start_cancel(cid)
        venue = self.venue_orders[cid]
        if venue.status == "open":
            venue.status = "canceled"
            self.send(self.status_update(venue, OrderState.CANCELED))
        elif venue.status in ("filled", "canceled", "never_landed", "rejected"):
            reason = "Order was never placed, already canceled, or filled."
            order = self.tracker.get(cid)
            # reported once while the tracker still thinks the order active; a known finish already answered it
            reported = order is not None and not order.is_done and order.fill_wait_deadline is None
            events = self.tracker.process_cancel_rejected(cid, reason)
            rejected = [e for e in events if isinstance(e, CancelRejected)]
            assert len(rejected) == (1 if reported else 0), f"{cid}: {events}"
            if rejected and order is not None:
                assert (rejected[0].reason, rejected[0].state) == (reason, order.state)
                assert not order.cancel_requested and order.state is not OrderState.PENDING_CANCEL
            self.record(events)
        # "unsent": the connector would cancel locally before sending; leave it to resolution

    def modifiable(self) -> list[str]:
        """Orders a connector would let the user modify: live and acknowledged under the venue's current id."""
        out = []
        for cid, venue in self.venue_orders.items():
            order = self.tracker.get(cid)
            if (order is not None and order.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
                    and order.exchange_order_id is not None and order.exchange_order_id == venue.exchange_order_id):
                out.append(cid)
        return out

    def modify_refused_one(self, cid: str, *, ends_order: bool = False) -> None:
        """What a connector does when a modify of ``cid`` did not apply: re-read the order's status, feed it, then
        report the refusal.  ``ends_order``: the refusal took the resting order with it (Hyperliquid's modify is
        cancel + place; a post-only re-price that would cross leaves no order)."""
        venue = self.venue_orders[cid]
        if ends_order and venue.status == "open":
            venue.status = "canceled"
        update = self.venue_status_update(venue)
        if update is not None:
            self.record(self.tracker.process_order_update(update))
            self.send(update)  # (the stream says it too, later)
        order = self.tracker.get(cid)
        assert order is not None
        # reported exactly when the order still rests; a finished order (or a verdict awaiting its fills) is told
        # by its terminal event
        reported = order.state in LIVE_STATES and order.fill_wait_deadline is None
        before = (order.state, order.exchange_order_id, order.price, order.amount, order.executed_amount,
                  order.cancel_requested)
        reason = "Post only order would have immediately matched, bbo was 99@101. asset=0"
        events = self.tracker.process_modify_rejected(cid, reason, Decimal(99), order.amount + 1)
        rejected = [e for e in events if isinstance(e, ModifyRejected)]
        assert len(rejected) == (1 if reported else 0), f"{cid}: {events}"
        assert (order.state, order.exchange_order_id, order.price, order.amount, order.executed_amount,
                order.cancel_requested) == before, f"{cid}: a refused modify changed the order"
        if rejected:
            ev = rejected[0]
            assert (ev.reason, ev.state, ev.exchange_order_id, ev.price, ev.amount) == (
                reason, order.state, order.exchange_order_id, order.price, order.amount)
            assert (ev.requested_price, ev.requested_amount) == (Decimal(99), order.amount + 1)
        self.record(events)

    # ------------------------------------------------------------------ rules

    @precondition(lambda self: len(self.venue_orders) < self.max_orders)
    @rule(units=st.integers(1, 12), side=st.sampled_from(Side))
    def create_order(self, units: int, side: Side) -> None:
        cid = f"c{self.next_id()}"
        amount = Decimal(units)
        order = InFlightOrder.new(
            client_order_id=cid, pair=self.pair, side=side, amount=amount, price=Decimal(100), created_at=self.now,
        )
        self.record(self.tracker.start_tracking(order))
        self.venue_orders[cid] = VenueOrder(cid, amount)

    @precondition(lambda self: bool(self.orders_in("unsent")))
    @rule(data=st.data(), outcome=st.sampled_from(["ack", "reject", "timeout_landed", "timeout_lost", "ioc_filled"]))
    def submit(self, data: st.DataObject, outcome: str) -> None:
        cid = data.draw(st.sampled_from(self.orders_in("unsent")))
        venue = self.venue_orders[cid]
        if outcome == "reject":
            venue.status = "rejected"
            self.record(self.tracker.process_order_update(
                OrderUpdate(self.pair, OrderState.FAILED, self.now, cid, None, "Insufficient margin")
            ))
            return
        if outcome == "timeout_lost":
            venue.status = "never_landed"
            self.record(self.tracker.process_order_update(
                OrderUpdate(self.pair, OrderState.UNKNOWN, self.now, cid, None, "timeout")
            ))
            return
        venue.exchange_order_id = f"e{self.next_id()}"
        venue.status = "open"
        if outcome == "timeout_landed":
            self.record(self.tracker.process_order_update(
                OrderUpdate(self.pair, OrderState.UNKNOWN, self.now, cid, None, "timeout")
            ))
        elif outcome == "ack":
            self.record(self.tracker.process_order_update(self.status_update(venue, OrderState.OPEN)))
        self.send(self.status_update(venue, OrderState.OPEN, with_cid=data.draw(st.booleans())))
        if outcome == "ioc_filled":
            self._venue_fill(venue, venue.amount, data)

    def _venue_fill(self, venue: VenueOrder, amount: Decimal, data: st.DataObject) -> None:
        with_cid = data.draw(st.booleans())
        trade = TradeUpdate(
            f"t{self.next_id()}", self.pair, Decimal(100), amount, Decimal("0.01"), "USDC", self.now,
            venue.client_order_id if with_cid else None, venue.exchange_order_id,
        )
        venue.fills.append(trade)
        self.send(trade)
        if venue.executed == venue.amount:
            venue.status = "filled"
            self.send(self.status_update(venue, OrderState.FILLED))

    @precondition(lambda self: bool(self.orders_in("open")))
    @rule(data=st.data())
    def venue_fill(self, data: st.DataObject) -> None:
        venue = self.venue_orders[data.draw(st.sampled_from(self.orders_in("open")))]
        remaining = venue.amount - venue.executed
        amount = Decimal(data.draw(st.integers(1, int(remaining))))
        self._venue_fill(venue, amount, data)

    @precondition(lambda self: bool(self.orders_in("open")))
    @rule(data=st.data())
    def venue_cancel(self, data: st.DataObject) -> None:
        venue = self.venue_orders[data.draw(st.sampled_from(self.orders_in("open")))]
        venue.status = "canceled"
        self.send(self.status_update(venue, OrderState.CANCELED))

    @precondition(lambda self: bool(self.venue_orders))
    @rule(data=st.data())
    def user_cancel(self, data: st.DataObject) -> None:
        self.user_cancel_one(data.draw(st.sampled_from(sorted(self.venue_orders))))

    @precondition(lambda self: bool(self.modifiable()))
    @rule(data=st.data(), ends_order=st.booleans())
    def refused_modify(self, data: st.DataObject, ends_order: bool) -> None:
        self.modify_refused_one(data.draw(st.sampled_from(self.modifiable())), ends_order=ends_order)

    @precondition(lambda self: bool(self.network))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self.deliver_message(self.network.pop(data.draw(st.integers(0, len(self.network) - 1))))

    @precondition(lambda self: bool(self.network))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.deliver_message(self.network[data.draw(st.integers(0, len(self.network) - 1))])

    @precondition(lambda self: bool(self.network))
    @rule(data=st.data())
    def lose(self, data: st.DataObject) -> None:
        self.network.pop(data.draw(st.integers(0, len(self.network) - 1)))

    @precondition(lambda self: bool(self.venue_orders))
    @rule(data=st.data())
    def reconcile(self, data: st.DataObject) -> None:
        """The connector's gap-fill / status poll for one order: the venue re-sends its truth."""
        self.reconcile_one(data.draw(st.sampled_from(sorted(self.venue_orders))))

    def reconcile_one(self, cid: str) -> None:
        venue = self.venue_orders[cid]
        if venue.status == "never_landed":
            # status unknown to the venue, then the same-nonce noop is accepted: the order can never land
            self.record(self.tracker.process_not_found(cid))
            self.record(self.tracker.process_order_update(
                OrderUpdate(self.pair, OrderState.FAILED, self.now, cid, None, "never landed (nonce consumed)")
            ))
            return
        update = self.venue_status_update(venue)
        if update is not None:
            self.send(update)
        for trade in venue.fills:
            self.send(trade)

    @precondition(lambda self: bool(self.orders_in("unsent", "never_landed")))
    @rule(data=st.data())
    def not_found(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(self.orders_in("unsent", "never_landed")))
        self.record(self.tracker.process_not_found(cid))

    @rule(dt=st.sampled_from([0.5, 3.0, 7.0, 25.0]))
    def advance_time(self, dt: float) -> None:
        self.now += dt
        self.record(self.tracker.poll(self.now))

    @rule()
    def restore_from_journal(self) -> None:
        self.journal.flush()
        before = self.tracker.snapshot()
        result = self.journal.restore(clock=self.clock)
        assert result.corruption is None, str(result.corruption)
        assert result.tracker.snapshot() == before
        self.tracker = result.tracker

    @rule()
    def settle(self) -> None:
        """Deliver everything the venue knows (after a full reconcile) and check the tracker agrees."""
        for cid in sorted(self.venue_orders):
            self.reconcile_one(cid)
        while self.network:
            self.deliver_message(self.network.pop(0))
        self.now += float(self.tracker.config.fill_wait_timeout) + 1.0
        self.record(self.tracker.poll(self.now))
        for cid, venue in self.venue_orders.items():
            order = self.tracker.get(cid)
            assert order is not None, cid
            expected = {
                "unsent": {OrderState.PENDING_CREATE},
                "open": LIVE_STATES,
                "filled": {OrderState.FILLED},
                "canceled": {OrderState.CANCELED},
                "rejected": {OrderState.FAILED},
                "never_landed": {OrderState.FAILED},
            }[venue.status]
            assert order.state in expected, f"{cid}: tracker {order.state.name}, venue {venue.status}"
            assert order.executed_amount == venue.executed, f"{cid}: {order.executed_amount} != {venue.executed}"
            assert set(order.fills or ()) == {t.trade_id for t in venue.fills}
            if venue.status == "open":
                assert (order.state is OrderState.PENDING_CANCEL) == order.cancel_requested
                assert (order.state is OrderState.PARTIALLY_FILLED) == (
                    not order.cancel_requested and order.executed_amount > 0
                )
        assert not self.tracker.needs_resolution()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def fills_counted_once_and_bounded(self) -> None:
        for cid, venue in self.venue_orders.items():
            order = self.tracker.get(cid)
            assert order is not None, cid
            assert order.executed_amount <= order.amount
            fills = order.fills or {}
            truth = {t.trade_id for t in venue.fills}
            assert set(fills) <= truth, f"{cid}: foreign fills {set(fills) - truth}"
            total = sum((t.fill_amount for t in fills.values()), Decimal(0))
            assert order.executed_amount + order.overfill_amount == total
            assert order.overfill_amount == 0  # the model venue never over-fills

    @invariant()
    def states_never_regress(self) -> None:
        for cid in self.venue_orders:
            order = self.tracker.get(cid)
            assert order is not None
            rank = STATE_RANK[order.state]
            assert rank >= self.max_rank.get(cid, 0), f"{cid}: {order.state.name} regressed"
            self.max_rank[cid] = rank

    @invariant()
    def one_terminal_event_per_finished_order(self) -> None:
        for cid in self.venue_orders:
            order = self.tracker.get(cid)
            assert order is not None
            terminals = [e for e in self.events[cid] if isinstance(e, _TERMINAL_EVENTS)]
            assert len(terminals) == (1 if order.is_done else 0), f"{cid}: {order.state.name} {terminals}"
            if terminals:
                assert {OrderFilled: OrderState.FILLED, OrderCancelled: OrderState.CANCELED,
                        OrderFailed: OrderState.FAILED}[type(terminals[0])] is order.state

    @invariant()
    def indexes_agree(self) -> None:
        stats = self.tracker.statistics()
        active = self.tracker.active_orders()
        assert stats.active == len(active)
        assert {o.client_order_id for o in self.tracker.needs_resolution()} == {
            o.client_order_id for o in active if o.state is OrderState.UNKNOWN
        }
        assert {o.client_order_id for o in self.tracker.lost_orders()} == {
            o.client_order_id for o in active if o.is_lost
        }
        for order in active:
            assert not order.is_done
            if order.exchange_order_id is not None:
                assert self.tracker.get_by_exchange_id(order.exchange_order_id) is order
