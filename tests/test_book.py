"""core.book: snapshot semantics (replace, ignore older), best levels, mid, market-order sizing."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.book import BookLevel, OrderBook

D = Decimal


def lv(px: str, sz: str, n: int = 1) -> BookLevel:
    return BookLevel(D(px), D(sz), n)


def test_snapshot_sorts_and_exposes_best_levels() -> None:
    book = OrderBook("BTC")
    assert book.mid is None and book.best_bid is None
    assert book.apply_snapshot([lv("99", "1"), lv("100", "2")], [lv("102", "1"), lv("101", "3")], 10.0)
    assert book.best_bid == lv("100", "2") and book.best_ask == lv("101", "3")
    assert book.mid == D("100.5") and book.spread == D(1)
    assert not book.is_crossed


def test_older_snapshot_is_ignored_and_counted() -> None:
    book = OrderBook("BTC")
    book.apply_snapshot([lv("100", "1")], [lv("101", "1")], 10.0)
    assert not book.apply_snapshot([lv("50", "1")], [lv("51", "1")], 9.0)
    assert book.best_bid == lv("100", "1")
    assert book.statistics().stale_snapshots_ignored == 1
    assert book.apply_snapshot([lv("50", "1")], [lv("51", "1")], 10.0)  # same time: newer push wins
    assert book.best_bid == lv("50", "1")


def test_size_to_price_walks_the_book() -> None:
    book = OrderBook("ETH")
    book.apply_snapshot([lv("10", "1"), lv("9", "2")], [lv("11", "1"), lv("12", "2")], 1.0)
    assert book.size_to_price(True, D("1")) == D(11)
    assert book.size_to_price(True, D("2.5")) == D(12)
    assert book.size_to_price(False, D("3")) == D(9)
    assert book.size_to_price(False, D("3.01")) is None


def test_age_and_depth() -> None:
    book = OrderBook("ETH")
    assert book.age(5.0) is None
    book.apply_snapshot([lv(str(100 - i), "1") for i in range(10)], [lv(str(101 + i), "1") for i in range(10)], 2.0)
    assert book.age(5.0) == 3.0
    bids, asks = book.depth(3)
    assert [b.price for b in bids] == [D(100), D(99), D(98)] and [a.price for a in asks] == [D(101), D(102), D(103)]


prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)


@given(st.lists(prices, max_size=20), st.lists(prices, max_size=20))
def test_sides_always_sorted_best_first(bid_px: list[Decimal], ask_px: list[Decimal]) -> None:
    book = OrderBook("X")
    book.apply_snapshot([BookLevel(p, D(1)) for p in bid_px], [BookLevel(p, D(1)) for p in ask_px], 0.0)
    assert [b.price for b in book.bids] == sorted(bid_px, reverse=True)
    assert [a.price for a in book.asks] == sorted(ask_px)
    if bid_px and ask_px:
        assert book.is_crossed == (max(bid_px) >= min(ask_px))


def test_book_side_builds_levels_when_read_and_equals_its_tuple() -> None:
    from trio_hl.core.book import BookSide

    side = BookSide(["3", "2.5"], ["1", "0.25"], [2, 1], order=-1)
    assert len(side) == 2 and side[0] == lv("3", "1", 2)
    assert side._levels is None  # the best level alone was built
    assert side == (lv("3", "1", 2), lv("2.5", "0.25", 1)) and side[1:] == (lv("2.5", "0.25", 1),)
    assert side == BookSide(("3", "2.5"), ("1", "0.25"), (2, 1)) and hash(side) == hash(tuple(side))
    with pytest.raises(ValueError, match="differ in length"):
        BookSide(["1"], [], [1])
    with pytest.raises(IndexError):
        BookSide([], [], [])[0]
    book = OrderBook("X")
    asks = BookSide(["4", "5"], ["1", "2"], [1, 1], order=1)
    assert book.apply_snapshot(side, asks, 1.0)
    assert book.best_bid == lv("3", "1", 2) and book.spread == D(1) and book.mid == D("3.5")
    assert book.size_to_price(True, D("2")) == D(5) and book.depth(1) == ((lv("3", "1", 2),), (lv("4", "1"),))
    assert type(book.bids) is tuple and book.bids == tuple(side)
    # A side whose order was not verified (or is the wrong way round for its side) is sorted.
    assert book.apply_snapshot(BookSide(["1", "2"], ["1", "1"], [1, 1], order=1), BookSide([], [], []), 2.0)
    assert [b.price for b in book.bids] == [D(2), D(1)] and book.asks == ()
