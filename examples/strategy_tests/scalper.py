"""A small user strategy, written only against the public API, to show how to test one (see test_scalper.py).

``Scalper`` buys once a few bps below the mid; whatever part of that entry fills is offered back a few bps
above the entry's limit price (fills are at or below it, so every exit fill earns at least the edge).
Two lessons the fuzz test taught it: a price near one tick must not round to zero, and a fill can arrive
*after* the entry's terminal event (``LateFill``: the venue said CANCELED before the fill message came), so
the strategy sells what it bought, not what the terminal event said.

Its decisions live in ``on_event`` - a plain method fed one event at a time - so the same code runs live
(``run``) and under a fuzzer that replays any venue history (test_scalper.py).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Protocol

import trio

from trio_hl import LateFill, OrderCancelled, OrderFailed, OrderFilled, OrderParams, OrderPartiallyFilled
from trio_hl.core.events import Event

BPS = Decimal("0.0001")


class Venue(Protocol):
    """The slice of ``HyperliquidConnector`` the strategy uses (a fake one is enough for fuzzing)."""

    def buy(self, params: OrderParams) -> str: ...
    def sell(self, params: OrderParams) -> str: ...


class Scalper:
    def __init__(self, venue: Venue, pair: str, size: Decimal, edge_bps: Decimal, tick: Decimal) -> None:
        self.venue = venue
        self.pair = pair
        self.size = size
        self.edge = edge_bps * BPS
        self.tick = tick
        self.entry: str | None = None
        self.entry_price = Decimal(0)
        self.exits: list[str] = []
        self.bought = Decimal(0)
        self.offered = Decimal(0)
        self.done = trio.Event()

    def enter(self, mid: Decimal) -> str:
        self.entry_price = max(self.tick, (mid * (1 - self.edge)).quantize(self.tick, rounding=ROUND_DOWN))
        self.entry = self.venue.buy(OrderParams(self.pair, self.size, self.entry_price))
        return self.entry

    @property
    def exit(self) -> str | None:
        return self.exits[0] if self.exits else None

    def on_event(self, event: Event) -> None:
        """React to one event.  The entry's *terminal* event (or a late fill after it) decides the exit, so
        partial fills and duplicates cannot make it sell twice; it offers exactly what was bought."""
        cid = event.client_order_id
        if cid in self.exits and isinstance(event, OrderFilled | OrderCancelled | OrderFailed):
            self.done.set()
            return
        if cid != self.entry or isinstance(event, OrderPartiallyFilled):
            return  # partial fills: wait for the terminal event, which carries the final executed amount
        if isinstance(event, OrderFilled | OrderCancelled | LateFill):
            self.bought = event.executed_amount
        elif not isinstance(event, OrderFailed):
            return
        unsold = self.bought - self.offered
        if unsold <= 0:
            if not self.exits:
                self.done.set()  # nothing bought: nothing to sell
            return
        price = (self.entry_price * (1 + self.edge)).quantize(self.tick, rounding=ROUND_UP)
        self.offered += unsold
        self.exits.append(self.venue.sell(OrderParams(self.pair, unsold, price)))

    async def run(self, events: trio.MemoryReceiveChannel[Event], mid: Decimal) -> None:
        """Live: enter, then feed events until the round trip is over (the caller bounds it with a timeout)."""
        self.enter(mid)
        async for event in events:
            self.on_event(event)
            if self.done.is_set():
                return
