"""TP/SL groups (``grouping: "normalTpsl"``): a parent order and reduce-only trigger children that wait for it.

Rule followed (the venue as recorded and documented, PROTOCOL §3.1): the children of a ``normalTpsl`` order
act only once their parent has filled.  The answer says so per child: ``"waitingForFill"`` while the parent
rests, ``"waitingForTrigger"`` once it has filled (a ccxt recording of a filled market parent shows
``[{"filled": ...}, "waitingForTrigger", "waitingForTrigger"]``).  Until then the children are open orders
(``openOrders``, and ``frontendOpenOrders`` both at the top level and nested under the parent's ``children``,
as the SDK's recording of a resting INJ parent shows) but not armed: the mark crossing their trigger does
nothing.  When the parent fills (fully, or partially before being canceled) the children are armed with their
own sizes; when it ends with nothing filled they are canceled with it.  Once armed, the first child to trigger
cancels its siblings (``siblingFilledCanceled``, a venue status).

Decisions where the venue is undocumented (UNSURE): a parent refused outright leaves its children unplaced,
each child's status repeating the parent's error; a partially filled parent that stays open keeps its children
waiting (they arm when it completes or is canceled); modifying a parent that has not filled cancels its children
(the emulator's modify cancels the order and places a new one, which no group points to).

Alternative rejected: placing the children as independent triggers at once (the emulator's behaviour before):
a stop-loss under a parent that never filled could fire and, being reduce-only, be refused or, worse, close
a position the user opened by other means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trio_hl.emulator._book import Order

if TYPE_CHECKING:
    from trio_hl.emulator._accounts import Account
    from trio_hl.emulator.engine import Engine
    from trio_hl.hyperliquid.messages import WireOrder

__all__ = ["TpslGroups"]

WAITING_FOR_FILL = "waitingForFill"
WAITING_FOR_TRIGGER = "waitingForTrigger"


class TpslGroups:
    """The engine's live TP/SL groups: children waiting for a parent, and armed siblings."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: parent oid -> its children not yet armed (placed, open, not in the trigger lists)
        self._waiting: dict[int, list[Order]] = {}
        #: armed child oid -> the children of its group (to cancel the others when one triggers)
        self._siblings: dict[int, list[Order]] = {}

    @property
    def busy(self) -> bool:
        """Whether any group is live (the engine skips the per-order hooks otherwise: they sit on hot paths)."""
        return bool(self._waiting or self._siblings)

    def waiting_children(self, parent_oid: int) -> list[Order]:
        """The children nested under an open parent in ``frontendOpenOrders``."""
        return self._waiting.get(parent_oid, [])

    def place(self, acct: Account, orders: Sequence[WireOrder], now: int,
              place: Callable[[WireOrder], dict[str, Any]]) -> list[Any]:
        """Place a ``normalTpsl`` group with ``place(wire) -> status`` (the engine's one-order placement);
        the per-order statuses of the answer."""
        engine = self._engine
        parent_status = place(orders[0])
        body = parent_status.get("resting") or parent_status.get("filled")
        if body is None:  # refused: the children are never placed
            return [parent_status] + [dict(parent_status) for _ in orders[1:]]
        parent = engine.orders[body["oid"]]
        statuses: list[Any] = [parent_status]
        children: list[Order] = []
        for wire in orders[1:]:
            status = place(wire)
            placed = status.get("resting")
            if placed is None:
                statuses.append(status)
                continue
            children.append(engine.orders[placed["oid"]])
            statuses.append(WAITING_FOR_FILL)
        if not children:
            return statuses
        if parent.oid in acct.open_orders:  # still resting: the children wait for its fills
            for child in children:
                engine.disarm_trigger(child)
            self._waiting[parent.oid] = children
        else:  # filled (or an IOC that filled part): armed now
            self._arm(children)
            statuses = [s if s != WAITING_FOR_FILL else WAITING_FOR_TRIGGER for s in statuses]
        return statuses

    def on_finish(self, order: Order, now: int) -> None:
        """``order`` just left the book for good: arm or cancel the children waiting for it; forget it as a
        sibling."""
        children = self._waiting.pop(order.oid, None)
        if children is not None:
            if order.filled > 0:
                for child in children:
                    self._engine.arm_trigger(child)
                self._arm(children)
            else:
                for child in children:
                    if child.status == "open":
                        self._engine.end_order(child, "canceled", now)
        self._siblings.pop(order.oid, None)

    def on_trigger(self, order: Order, now: int) -> None:
        """An armed child triggered: its siblings are canceled."""
        group = self._siblings.pop(order.oid, None)
        if group is None:
            return
        for sibling in group:
            if sibling is not order and sibling.status == "open":
                self._siblings.pop(sibling.oid, None)
                self._engine.end_order(sibling, "siblingFilledCanceled", now)

    def _arm(self, children: list[Order]) -> None:
        if len(children) > 1:
            for child in children:
                self._siblings[child.oid] = children

