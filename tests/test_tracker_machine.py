"""Run the tracker state machine (``trio_hl.testing.tracker_machine``) against the model venue."""

from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from trio_hl.core.types import OrderState
from trio_hl.core.updates import OrderUpdate
from trio_hl.testing.tracker_machine import TrackerMachine

TestTrackerMachine = TrackerMachine.TestCase
TestTrackerMachine.settings = settings(
    settings.default,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow],
)


class ModifyingMachine(TrackerMachine):
    """A user-style subclass: adds a modify rule (the venue re-keys the order) and keeps every invariant."""

    def acknowledged_open(self) -> list[str]:
        """Open orders whose current exchange id the tracker knows: what a user can modify (the connector refuses
        to modify an order the venue has not acknowledged yet)."""
        out = []
        for cid in self.orders_in("open"):
            order = self.tracker.get(cid)
            if order is not None and order.exchange_order_id == self.venue_orders[cid].exchange_order_id:
                out.append(cid)
        return out

    @precondition(lambda self: bool(self.acknowledged_open()))
    @rule(data=st.data(), extra=st.integers(0, 5))
    def modify(self, data: st.DataObject, extra: int) -> None:
        cid = data.draw(st.sampled_from(self.acknowledged_open()))
        venue = self.venue_orders[cid]
        venue.amount = venue.executed + 1 + extra
        venue.exchange_order_id = f"e{self.next_id()}"
        update = OrderUpdate(self.pair, OrderState.OPEN, self.now, cid, venue.exchange_order_id,
                             amount=venue.amount, price=Decimal(101))
        # the modify answer is applied synchronously by the submit path; the stream repeats it later
        self.record(self.tracker.process_order_update(update))
        self.send(update)
        order = self.tracker.get(cid)
        assert order is not None
        if not order.is_done:
            assert order.amount == venue.amount and self.tracker.get_by_exchange_id(venue.exchange_order_id) is order


TestModifyingMachine = ModifyingMachine.TestCase
TestModifyingMachine.settings = settings(
    settings.default,
    max_examples=50,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow],
)
