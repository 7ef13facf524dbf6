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

Why :class:`BookSide`: a snapshot arrives every block for every subscribed coin, and turning its 40 price and size
strings into ``Decimal`` s and ``BookLevel`` s cost ~4x the JSON decode of the frame, most of it for levels nobody
reads (a strategy typically reads the best level or two).  The parser hands the book the venue's strings, already
checked (plain positive decimals, best-first order verified); levels and their Decimals are built on first access,
so values stay exact while the per-block cost is that of the check.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, overload

import attrs

__all__ = ["BookLevel", "BookSide", "BookStats", "OrderBook"]


@attrs.frozen(slots=True)
class BookLevel:
    """One aggregated price level: price, total size, number of orders."""

    price: Decimal
    size: Decimal
    count: int = 1


_PRICE = attrgetter("price")


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


class BookSide(Sequence[BookLevel]):
    """One side of a snapshot kept as the venue sent it; each :class:`BookLevel` (and its two Decimals) is built
    the first time it is read.

    ``prices`` and ``sizes`` must be plain positive decimal strings (``digits[.digits]``, > 0): the parser checks
    them before building a side (``trio_hl.hyperliquid.messages``), so reading a level cannot fail.  ``order``
    says what the parser verified about the prices: ``-1`` strictly descending (best-first bids), ``1`` strictly
    ascending (best-first asks), ``0`` unknown (the book sorts such a side).  ``counts`` are the levels' order
    counts or, with ``count`` given, the objects ``count`` reads them from: the frame parser passes its decoded
    levels and a getter, so a count is read only for a level someone builds (the per-block cost then holds no
    per-level work for the counts at all).  Compares equal to the tuple of its levels.
    """

    __slots__ = ("_count", "_counts", "_head", "_levels", "_prices", "_sizes", "order")

    def __init__(self, prices: Sequence[str], sizes: Sequence[str], counts: Sequence[Any], order: int = 0,
                 count: Callable[[Any], int] | None = None) -> None:
        if not len(prices) == len(sizes) == len(counts):
            raise ValueError("BookSide: prices, sizes and counts differ in length")
        self._prices = prices
        self._sizes = sizes
        self._counts = counts
        self._count = count
        self.order = order
        self._head: BookLevel | None = None
        self._levels: tuple[BookLevel, ...] | None = None

    def _count_values(self) -> Iterable[int]:
        return self._counts if self._count is None else map(self._count, self._counts)

    def levels(self) -> tuple[BookLevel, ...]:
        """Every level, built once."""
        if self._levels is None:
            triples = zip(self._prices, self._sizes, self._count_values(), strict=True)
            self._levels = tuple([BookLevel(Decimal(p), Decimal(s), n) for p, s, n in triples])
        return self._levels

    def __len__(self) -> int:
        return len(self._prices)

    def best(self) -> BookLevel | None:
        """The first level (None for an empty side), built alone: what most readers want."""
        head = self._head
        if head is None:
            if self._levels is not None:
                return self._levels[0] if self._levels else None
            if not self._prices:
                return None
            counts = self._counts
            n = counts[0] if self._count is None else self._count(counts[0])
            head = self._head = BookLevel(Decimal(self._prices[0]), Decimal(self._sizes[0]), n)
        return head

    @overload
    def __getitem__(self, index: int) -> BookLevel: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[BookLevel, ...]: ...

    def __getitem__(self, index: int | slice) -> BookLevel | tuple[BookLevel, ...]:
        if index == 0 and self._levels is None:
            head = self.best()
            if head is None:
                raise IndexError("BookSide index out of range")
            return head
        return self.levels()[index]

    def __iter__(self) -> Iterator[BookLevel]:
        return iter(self.levels())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BookSide):
            return self.levels() == other.levels()
        if isinstance(other, tuple):
            return self.levels() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.levels())

    def __repr__(self) -> str:
        return f"BookSide({list(zip(self._prices, self._sizes, self._count_values(), strict=True))!r})"


@attrs.frozen
class BookStats:
    snapshots_applied: int
    stale_snapshots_ignored: int
    last_update: float | None


class OrderBook:
    """The latest L2 snapshot of one pair.  Bids are sorted best (highest) first, asks best (lowest) first."""

    __slots__ = ("_applied", "_asks", "_bids", "_ignored", "_mid", "_received_at", "_timestamp", "pair")

    def __init__(self, pair: str) -> None:
        self.pair = pair
        # A tuple, or a BookSide already in best-first order (turned into its tuple when a reader needs them all).
        self._bids: Sequence[BookLevel] = ()
        self._asks: Sequence[BookLevel] = ()
        self._timestamp: float | None = None
        self._received_at: float | None = None
        #: The mid of the held snapshot, computed on first read (every order's risk check reads it).
        self._mid: Decimal | _Unset | None = _UNSET
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
        an instant on real venues) — ``is_crossed`` tells.  A :class:`BookSide` whose order
        the parser verified is kept as it is (its levels are built when read).
        """
        if timestamp is not None and self._timestamp is not None and timestamp < self._timestamp:
            self._ignored += 1
            return False
        if type(bids) is not BookSide or bids.order >= 0:
            bids = tuple(sorted(bids, key=_PRICE, reverse=True))
        if type(asks) is not BookSide or asks.order <= 0:
            asks = tuple(sorted(asks, key=_PRICE))
        self._bids = bids
        self._asks = asks
        self._mid = _UNSET
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
        bids = self._bids
        if type(bids) is not tuple:
            bids = self._bids = tuple(bids)
        return bids

    @property
    def asks(self) -> tuple[BookLevel, ...]:
        asks = self._asks
        if type(asks) is not tuple:
            asks = self._asks = tuple(asks)
        return asks

    @property
    def best_bid(self) -> BookLevel | None:
        bids = self._bids
        if type(bids) is BookSide:  # one call, no len() first: read after every push
            return bids.best()
        return bids[0] if bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        asks = self._asks
        if type(asks) is BookSide:
            return asks.best()
        return asks[0] if asks else None

    @property
    def mid(self) -> Decimal | None:
        """Midpoint of the best bid and ask; None when either side is empty."""
        mid = self._mid
        if mid is _UNSET:
            bid, ask = self.best_bid, self.best_ask
            mid = self._mid = (bid.price + ask.price) / 2 if bid is not None and ask is not None else None
        return mid

    @property
    def spread(self) -> Decimal | None:
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return ask.price - bid.price

    @property
    def is_crossed(self) -> bool:
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid.price >= ask.price

    def depth(self, levels: int = 5) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
        """The best ``levels`` levels of each side."""
        return self.bids[:levels], self.asks[:levels]

    def size_to_price(self, is_buy: bool, amount: Decimal) -> Decimal | None:
        """Worst price reached when taking ``amount`` from the book (asks for a buy, bids for a sell);
        None when the book is too thin.  Used to price market orders from the book instead of the mid."""
        remaining = amount
        for level in self.asks if is_buy else self.bids:
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
