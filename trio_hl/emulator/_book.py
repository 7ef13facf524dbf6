"""One asset's order book: price levels in price-time priority.

Rule followed: the venue matches by price, then by arrival time within a price.  Each side is a dict from
price to a FIFO ``deque`` of resting orders plus a sorted list of the prices (``bisect``); the best price is
an end of that list.  Inserting at an existing level is O(1); a new level costs one ``insort`` into a list
that rarely holds more than a few dozen prices.  Orders are removed lazily from a level only when cancelled
(an O(level) ``deque.remove``), which is rare next to fills at the head.

Alternative rejected: one heap per side.  A heap gives O(log n) best-price access but cannot list the top 20
levels in order without a sort, and every ``l2Book`` answer and stream push needs exactly that; it also
makes cancels of a mid-heap level a lazy-deletion dance.  ``sortedcontainers`` would work but is a new
dependency for no measurable gain at these sizes.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

__all__ = ["Book", "Order"]


class Order:
    """An order the engine accepted (resting, triggered, or terminal).  Mutable engine-internal state."""

    __slots__ = (
        "asset",
        "builder_rate",
        "cloid",
        "coin",
        "filled",
        "hold",
        "is_buy",
        "is_market_trigger",
        "is_position_tpsl",
        "limit_px",
        "oid",
        "orig_sz",
        "reduce_only",
        "status",
        "status_ts",
        "sz",
        "tif",
        "timestamp",
        "tpsl",
        "trigger_px",
        "triggered",
        "user",
    )

    def __init__(
        self,
        *,
        oid: int,
        user: str,
        asset: int,
        coin: str,
        is_buy: bool,
        limit_px: Decimal,
        sz: Decimal,
        tif: str | None,
        reduce_only: bool,
        cloid: str | None,
        timestamp: int,
        trigger_px: Decimal | None = None,
        is_market_trigger: bool = False,
        tpsl: str | None = None,
        is_position_tpsl: bool = False,
    ) -> None:
        self.oid = oid
        self.user = user
        self.asset = asset
        self.coin = coin
        self.is_buy = is_buy
        self.limit_px = limit_px
        self.sz = sz
        self.orig_sz = sz
        self.tif = tif
        self.reduce_only = reduce_only
        self.cloid = cloid
        self.timestamp = timestamp
        self.trigger_px = trigger_px
        self.is_market_trigger = is_market_trigger
        self.tpsl = tpsl
        self.is_position_tpsl = is_position_tpsl
        self.triggered = False
        self.filled = Decimal(0)
        self.status = "open"
        self.status_ts = timestamp
        #: Spot only: the amount of the paying token this order holds while it rests (quote for a buy).
        self.hold = Decimal(0)
        #: Builder fee rate (a fraction of notional) the user agreed to pay on this order's fills.
        self.builder_rate = Decimal(0)

    @property
    def is_trigger(self) -> bool:
        return self.trigger_px is not None

    @property
    def side(self) -> str:
        return "B" if self.is_buy else "A"

    def __repr__(self) -> str:
        return (f"Order(oid={self.oid}, {self.coin} {self.side} {self.sz}@{self.limit_px}, "
                f"status={self.status}, user={self.user})")


class _Side:
    __slots__ = ("levels", "prices")

    def __init__(self) -> None:
        self.levels: dict[Decimal, deque[Order]] = {}
        self.prices: list[Decimal] = []  # ascending

    def add(self, order: Order) -> None:
        px = order.limit_px
        level = self.levels.get(px)
        if level is None:
            self.levels[px] = deque((order,))
            bisect.insort(self.prices, px)
        else:
            level.append(order)

    def remove(self, order: Order) -> bool:
        px = order.limit_px
        level = self.levels.get(px)
        if level is None:
            return False
        try:
            level.remove(order)
        except ValueError:
            return False
        if not level:
            self.drop_level(px)
        return True

    def drop_level(self, px: Decimal) -> None:
        del self.levels[px]
        i = bisect.bisect_left(self.prices, px)
        del self.prices[i]


class Book:
    """Bids and asks of one asset.  Knows nothing of accounts: the engine decides what a match means."""

    __slots__ = ("asks", "bids", "coin")

    def __init__(self, coin: str) -> None:
        self.coin = coin
        self.bids = _Side()
        self.asks = _Side()

    def best_bid(self) -> Decimal | None:
        p = self.bids.prices
        return p[-1] if p else None

    def best_ask(self) -> Decimal | None:
        p = self.asks.prices
        return p[0] if p else None

    def add(self, order: Order) -> None:
        (self.bids if order.is_buy else self.asks).add(order)

    def remove(self, order: Order) -> bool:
        return (self.bids if order.is_buy else self.asks).remove(order)

    def would_cross(self, is_buy: bool, px: Decimal) -> bool:
        if is_buy:
            ask = self.best_ask()
            return ask is not None and ask <= px
        bid = self.best_bid()
        return bid is not None and bid >= px

    def best_opposite(self, is_buy: bool, limit_px: Decimal) -> deque[Order] | None:
        """The FIFO queue at the best opposite price if it crosses ``limit_px`` (None otherwise)."""
        if is_buy:
            prices = self.asks.prices
            if prices and prices[0] <= limit_px:
                return self.asks.levels[prices[0]]
            return None
        prices = self.bids.prices
        if prices and prices[-1] >= limit_px:
            return self.bids.levels[prices[-1]]
        return None

    def pop_empty_level(self, is_buy_side: bool, px: Decimal) -> None:
        side = self.bids if is_buy_side else self.asks
        level = side.levels.get(px)
        if level is not None and not level:
            side.drop_level(px)

    def levels(self, is_bid: bool) -> Iterator[tuple[Decimal, deque[Order]]]:
        """Levels from the best price outwards."""
        side = self.bids if is_bid else self.asks
        prices = reversed(side.prices) if is_bid else iter(side.prices)
        for px in prices:
            yield px, side.levels[px]

    def depth(self, is_bid: bool) -> int:
        return len((self.bids if is_bid else self.asks).prices)

    def orders(self) -> Iterator[Order]:
        for side in (self.bids, self.asks):
            for level in side.levels.values():
                yield from level
