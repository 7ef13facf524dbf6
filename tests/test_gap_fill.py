"""The reconnect gap-fill (trio_hl.hyperliquid.streams.gap_fill) against a scripted /info: what it asks, and
what it feeds the tracker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate
from trio_hl.hyperliquid.streams import StreamCounters, gap_fill

D = Decimal
USER = "0x" + "11" * 20


def order(n: int, state: OrderState) -> InFlightOrder:
    o = InFlightOrder.new(client_order_id=f"0x{n:032x}", pair="BTC", side=Side.BUY, amount=D(1), price=D(100),
                          created_at=0.0)
    o.state = state
    return o


@attrs.define
class ScriptedInfo:
    """Only the calls gap_fill makes; every order the venue is asked about ended ``canceled``."""

    asked: list[str] = attrs.field(factory=list)

    async def user_fills_by_time(self, user: str, start_ms: int) -> list[Any]:
        return []

    async def open_orders(self, user: str) -> list[Any]:
        return []

    async def order_status(self, user: str, oid: str) -> dict[str, Any]:
        self.asked.append(oid)
        return {"status": "order", "order": {"order": {
            "coin": "BTC", "side": "B", "limitPx": "100", "sz": "1", "oid": 7, "timestamp": 1, "origSz": "1",
            "cloid": oid}, "status": "canceled", "statusTimestamp": 2}}


async def test_queued_and_unanswered_orders_are_left_to_the_submit_worker() -> None:
    # 500 orders queued behind the closed gate: asking each would cost 1 000 IP weight and the gap-fill, retried
    # under 429s, would never finish (seen in the chaos suite: the gate stayed closed and nothing was sent).
    queued = [order(i, OrderState.PENDING_CREATE) for i in range(500)]
    unknown = [order(1000, OrderState.UNKNOWN)]
    live = [order(2000, OrderState.OPEN), order(2001, OrderState.PENDING_CANCEL)]
    info = ScriptedInfo()
    fed: list[tuple[str, Any]] = []

    def feed(kind: str, value: Any) -> list[Any]:
        fed.append((kind, value))
        return []

    await gap_fill(info, user=USER, since_ms=0, orders=[*queued, *unknown, *live], feed=feed,  # type: ignore[arg-type]
                   coin_to_pair={"BTC": "BTC"}, counters=StreamCounters())
    assert info.asked == [o.client_order_id for o in live]  # only orders the venue acknowledged and no longer rests
    updates = [v for k, v in fed if k == "order"]
    assert all(isinstance(u, OrderUpdate) and u.new_state is OrderState.CANCELED for u in updates)
    assert [u.client_order_id for u in updates] == info.asked
