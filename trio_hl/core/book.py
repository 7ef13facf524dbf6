"""L2 order book built from full snapshots.

Why snapshots only: Hyperliquid's ``l2Book`` channel pushes a complete (≤ 20 levels a side) snapshot per
block, and the REST ``l2Book`` answer has the same shape, so there is no diff stream to sequence and no
gap to repair — a newer snapshot simply replaces the book.  The alternative (maintaining a diff-applied
book with sequence numbers, as on venues that stream deltas) would add state that can only go wrong here.

A snapshot older than the one held is ignored (and counted): after a reconnect the REST snapshot and the
first WS push can arrive in either order.

Two clocks, kept apart: the venue's ``timestamp`` only orders snapshots; the book's *age* is measured from
``received_at``, the local monotonic time (Trio's) at receipt.  A skewed wall clock or a bogus venue stamp then
cannot make a fresh book look stale; a caller that judged a stamp unbelievable passes ``timestamp=None``, which
applies the snapshot without moving the ordering watermark (one far-future stamp can no longer freeze the book).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

__all__ = ["BookLevel", "BookStats", "OrderBook"]


@attrs.frozen(slots=True)
class BookLevel:
    """One aggregated price level: price, total size, number of orders."""

    price: Decimal
    size: Decimal
    count: int = 1


@attrs.frozen
class BookStats:
    snapshots_applied: int
    stale_snapshots_ignored: int
    last_update: float | None


class OrderBook:
    """The latest L2 snapshot of one pair.  Bids are sorted best (highest) first, asks best (lowest) first."""

    __slots__ = ("_applied", "_asks", "_bids", "_ignored", "_received_at", "_timestamp", "pair")

    def __init__(self, pair: str) -> None:
        self.pair = pair
        self._bids: tuple[BookLevel, ...] = ()
        self._asks: tuple[BookLevel, ...] = ()
        self._timestamp: float | None = None
        self._received_at: float | None = None
        self._applied = 0
        self._ignored = 0

    def apply_snapshot(self, bids: Sequence[BookLevel], asks: Sequence[BookLevel], timestamp: float | None,
                       received_at: float | None = None) -> bool:
        """Replace the book with a snapshot taken at ``timestamp`` (venue time, seconds), received at
        ``received_at`` (local monotonic seconds; ``age`` is measured from it).

        Returns False (and keeps the current book) when the snapshot is older than the one held.  ``timestamp``
        None (unknown or judged unbelievable) applies the snapshot and leaves the ordering watermark where it
        was.  Without ``received_at`` the venue timestamp stands in for it (one clock for both: tests, replays).
        Levels are re-sorted defensively; a crossed snapshot is accepted as the venue sent it (it can happen for
        an instant on real venues) — ``is_crossed`` tells.
        """
        if timestamp is not None and self._timestamp is not None and timestamp < self._timestamp:
            self._ignored += 1
            return False
        self._bids = tuple(sorted(bids, key=lambda lv: lv.price, reverse=True))
        self._asks = tuple(sorted(asks, key=lambda lv: lv.price))
        if timestamp is not None:
            self._timestamp = timestamp
        self._received_at = received_at if received_at is not None else timestamp
        self._applied += 1
        return True

    @property
    def timestamp(self) -> float | None:
        return self._timestamp

    @property
    def bids(self) -> tuple[BookLevel, ...]:
        return self._bids

    @property
    def asks(self) -> tuple[BookLevel, ...]:
        return self._asks

    @property
    def best_bid(self) -> BookLevel | None:
        return self._bids[0] if self._bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        return self._asks[0] if self._asks else None

    @property
    def mid(self) -> Decimal | None:
        """Midpoint of the best bid and ask; None when either side is empty."""
        if not self._bids or not self._asks:
            return None
        return (self._bids[0].price + self._asks[0].price) / 2

    @property
    def spread(self) -> Decimal | None:
        if not self._bids or not self._asks:
            return None
        return self._asks[0].price - self._bids[0].price

    @property
    def is_crossed(self) -> bool:
        return bool(self._bids and self._asks and self._bids[0].price >= self._asks[0].price)

    def depth(self, levels: int = 5) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
        """The best ``levels`` levels of each side."""
        return self._bids[:levels], self._asks[:levels]

    def size_to_price(self, is_buy: bool, amount: Decimal) -> Decimal | None:
        """Worst price reached when taking ``amount`` from the book (asks for a buy, bids for a sell);
        None when the book is too thin.  Used to price market orders from the book instead of the mid."""
        remaining = amount
        for level in self._asks if is_buy else self._bids:
            remaining -= level.size
            if remaining <= 0:
                return level.price
        return None

    @property
    def received_at(self) -> float | None:
        """Local monotonic time the current snapshot was received (None before the first)."""
        return self._received_at

    def age(self, now: float) -> float | None:
        """Seconds since the current snapshot was received, ``now`` on the clock ``received_at`` was given in
        (Trio's, in the connector); None before the first snapshot."""
        return None if self._received_at is None else now - self._received_at

    def statistics(self) -> BookStats:
        return BookStats(self._applied, self._ignored, self._timestamp)

    def __repr__(self) -> str:
        bb, ba = self.best_bid, self.best_ask
        return (
            f"OrderBook({self.pair!r}, bid={bb.price if bb else None}, ask={ba.price if ba else None}, "
            f"levels={len(self._bids)}/{len(self._asks)})"
        )
