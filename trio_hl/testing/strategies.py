"""Shared Hypothesis strategies for orders, updates, fills and venue message sequences.

One module so every property test (tracker, journal, connector, emulator) draws from the same input space
and a user's strategy tests can reuse it.  Everything is ``Decimal``; amounts and prices are drawn on a grid
(``places`` decimals) like a venue's lot size and tick, so sums stay exact.

``order_lifecycles`` is the workhorse: it draws a *truthful* venue history for one order (statuses and
fills that add up) and then delivers it the way a real venue connection does - shuffled, with duplicates.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

import attrs
from hypothesis import strategies as st

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderParams, OrderState, OrderType, PositionAction, Side, TimeInForce
from trio_hl.core.updates import OrderUpdate, TradeUpdate

__all__ = [
    "Lifecycle",
    "amounts",
    "client_order_ids",
    "decimals",
    "in_flight_orders",
    "order_lifecycles",
    "order_params",
    "order_updates",
    "prices",
    "sides",
    "split_amount",
    "trade_updates",
]

sides = st.sampled_from(Side)


def decimals(min_units: int = 1, max_units: int = 10_000, places: int = 2) -> st.SearchStrategy[Decimal]:
    """Positive Decimals on a ``10**-places`` grid, between ``min_units`` and ``max_units`` grid steps."""
    scale = Decimal(1).scaleb(-places)
    return st.integers(min_units, max_units).map(lambda n: n * scale)


def amounts(places: int = 3, max_units: int = 100_000) -> st.SearchStrategy[Decimal]:
    return decimals(1, max_units, places)


def prices(places: int = 2, max_units: int = 10_000_000) -> st.SearchStrategy[Decimal]:
    return decimals(1, max_units, places)


def client_order_ids() -> st.SearchStrategy[str]:
    """Venue-style client ids (Hyperliquid uses 128-bit hex; any non-empty string works for the tracker)."""
    return st.integers(1, 2**128 - 1).map(lambda n: f"0x{n:032x}")


@st.composite
def order_params(draw: st.DrawFn, pairs: Sequence[str] = ("BTC", "ETH", "SOL")) -> OrderParams:
    """Valid ``OrderParams`` for LIMIT / LIMIT_MAKER / MARKET orders."""
    order_type = draw(st.sampled_from([OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]))
    price = draw(prices()) if order_type is not OrderType.MARKET else draw(st.none() | prices())
    return OrderParams(
        pair=draw(st.sampled_from(pairs)), amount=draw(amounts()), price=price, order_type=order_type,
        tif=draw(st.sampled_from(TimeInForce)), position_action=draw(st.sampled_from(PositionAction)),
    )


@st.composite
def in_flight_orders(draw: st.DrawFn, pair: str = "BTC", created_at: float = 0.0) -> InFlightOrder:
    """A fresh PENDING_CREATE order."""
    return InFlightOrder.new(
        client_order_id=draw(client_order_ids()), pair=pair, side=draw(sides), amount=draw(amounts()),
        price=draw(prices()), created_at=created_at,
    )


def order_updates(
    client_order_id: str | None = None, exchange_order_id: str | None = None, pair: str = "BTC"
) -> st.SearchStrategy[OrderUpdate]:
    """Any status update (including ones the tracker must refuse) for the given ids."""
    return st.builds(
        OrderUpdate, pair=st.just(pair), new_state=st.sampled_from(OrderState),
        timestamp=st.floats(0, 1e6, allow_nan=False), client_order_id=st.just(client_order_id),
        exchange_order_id=st.just(exchange_order_id), reason=st.none() | st.text(max_size=20),
    )


def trade_updates(
    client_order_id: str | None = None, exchange_order_id: str | None = None, pair: str = "BTC",
    fill_amount: st.SearchStrategy[Decimal] | None = None,
) -> st.SearchStrategy[TradeUpdate]:
    return st.builds(
        TradeUpdate, trade_id=st.integers(1, 2**62).map(str), pair=st.just(pair), fill_price=prices(),
        fill_amount=fill_amount if fill_amount is not None else amounts(),
        fee=decimals(0, 1000, 6), fee_asset=st.sampled_from(["USDC", "USDC", "BTC"]),
        timestamp=st.floats(0, 1e6, allow_nan=False), client_order_id=st.just(client_order_id),
        exchange_order_id=st.just(exchange_order_id), is_taker=st.booleans(),
    )


@st.composite
def split_amount(draw: st.DrawFn, total: Decimal, places: int = 3, max_parts: int = 5) -> list[Decimal]:
    """``total`` split into 1..max_parts positive grid amounts that sum exactly to it."""
    step = Decimal(1).scaleb(-places)
    units = int(total / step)
    if units <= 1:
        return [total]
    cuts = draw(st.lists(st.integers(1, units - 1), max_size=max_parts - 1, unique=True))
    bounds = [0, *sorted(cuts), units]
    return [(b - a) * step for a, b in itertools.pairwise(bounds)]


@attrs.frozen
class Lifecycle:
    """A truthful venue history for ``order`` (``final`` state, ``fills`` that add up) and ``messages``:
    the same facts as delivered - reordered, some duplicated, ids sometimes only the exchange id."""

    order: InFlightOrder
    exchange_order_id: str
    final: OrderState
    fills: tuple[TradeUpdate, ...]
    messages: tuple[OrderUpdate | TradeUpdate, ...]

    @property
    def executed(self) -> Decimal:
        return sum((t.fill_amount for t in self.fills), Decimal(0))


@st.composite
def order_lifecycles(draw: st.DrawFn, pair: str = "BTC") -> Lifecycle:
    """One order's truthful history delivered out of order with duplicates (see :class:`Lifecycle`)."""
    order = draw(in_flight_orders(pair=pair))
    eid = str(draw(st.integers(1, 2**40)))
    final = draw(st.sampled_from([OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED, OrderState.FAILED]))
    if final is OrderState.FILLED:
        parts = draw(split_amount(order.amount))
    elif final in (OrderState.OPEN, OrderState.CANCELED):
        parts = draw(split_amount(order.amount))[:-1]
    else:
        parts = []
    fills = tuple(
        TradeUpdate(
            trade_id=f"{eid}-{i}", pair=pair, fill_price=order.price or Decimal(1), fill_amount=part,
            fee=Decimal("0.01"), fee_asset="USDC", timestamp=float(i + 1),
            client_order_id=draw(st.sampled_from([order.client_order_id, None])), exchange_order_id=eid,
        )
        for i, part in enumerate(parts)
    )
    cid = order.client_order_id
    messages: list[OrderUpdate | TradeUpdate] = []
    if final is OrderState.FAILED:
        messages.append(OrderUpdate(pair, OrderState.FAILED, 0.5, cid, None, "rejected"))
    else:
        messages.append(OrderUpdate(pair, OrderState.OPEN, 0.5, cid, eid))
        if final is not OrderState.OPEN:
            messages.append(OrderUpdate(pair, final, 10.0, cid, eid))
    messages.extend(fills)
    dupes = draw(st.lists(st.sampled_from(messages), max_size=3))
    shuffled = draw(st.permutations([*messages, *dupes]))
    return Lifecycle(order, eid, final, fills, tuple(shuffled))
