"""The l2Book fast paths (whole-side checks, typed frame decoder) give exactly the per-level parser's results.

The oracle below is written independently of both: the venue grammar (``-?digits[.digits]``, at most 60 chars;
JSON integers are tolerated), positive values, non-negative integer counts, then a stable sort best-first.
The fast paths must also be *taken* for what the venue sends (a silent fallback would pass the equivalence tests
and lose the speed): the venue-form tests assert the sides are :class:`BookSide` s.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from decimal import Decimal
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from trio_hl.core.book import BookLevel, BookSide, OrderBook
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import book_frames
from trio_hl.hyperliquid._book_levels import positive_floats
from trio_hl.hyperliquid.book_frames import parse_l2_book_frame
from trio_hl.hyperliquid.messages import parse_l2_book

D = Decimal
GRAMMAR = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
NASTY = ["", ".", ".5", "5.", "1.2.3", "1..2", "1e5", "+1", " 1", "1 ", "1_0", "-1", "-0.5", "0", "0.0", "00.000",
         "NaN", "inf", "Infinity", "\u0661", "\uff11", "1,5", "9" * 61, "0." + "0" * 57 + "1", "1" * 60, "0x10",
         "\u00b2", "1\u0000", "05", "007.5", "00.5", "0.50", "10", "1.0", "[1]", "1]", "]", "[", "-0", "1E5", "1.5e3",
         "\t1", "1 ", "\"", "\\"]  # fmt: skip
values = st.one_of(
    st.decimals(min_value=D("0.000001"), max_value=D("1000000"), places=6).map(lambda d: f"{d:f}"),
    st.integers(1, 10**6).map(str),
    st.sampled_from(NASTY),
    st.sampled_from([1, 0, -3, 10**30, 1.5, None, True, ["1"]]),
)
counts = st.one_of(st.integers(-2, 50), st.sampled_from([True, "1", None, 1.0]))
level = st.fixed_dictionaries({"px": values, "sz": values, "n": counts})
side = st.lists(level, max_size=6)


def oracle(data: dict[str, Any]) -> tuple[list[BookLevel], list[BookLevel]] | None:
    """Expected book sides (sorted best-first), or None when the frame must be refused."""
    sides = []
    for raw in data["levels"]:
        out = []
        for x in raw:
            px, sz, n = x["px"], x["sz"], x["n"]
            for v in (px, sz):
                if type(v) is int:
                    if v <= 0:
                        return None
                elif type(v) is not str or len(v) > 60 or not GRAMMAR.fullmatch(v) or D(v) <= 0:
                    return None
            if type(n) is not int or n < 0:
                return None
            out.append(BookLevel(D(px), D(sz), n))
        sides.append(out)
    bids, asks = sides
    return sorted(bids, key=lambda lv: lv.price, reverse=True), sorted(asks, key=lambda lv: lv.price)


def frame(bids: list[Any], asks: list[Any], coin: str = "BTC", time: int = 1_700_000_000_000) -> str:
    return json.dumps({"channel": "l2Book", "data": {"coin": coin, "time": time, "levels": [bids, asks]}},
                      separators=(",", ":"))  # fmt: skip


@settings(max_examples=400)
@given(side, side)
@example([{"px": "2", "sz": "1", "n": 1}, {"px": "2.0", "sz": "1", "n": 1}], [])  # equal prices: sorted path
@example([{"px": "1.00000000000000001", "sz": "1", "n": 1}, {"px": "1.00000000000000002", "sz": "1", "n": 1}], [])
def test_fast_paths_match_the_oracle(bids: list[Any], asks: list[Any]) -> None:
    text = frame(bids, asks)
    data = json.loads(text)["data"]
    expected = oracle(data)
    for parse in (lambda: parse_l2_book_frame(text), lambda: parse_l2_book(data)):
        if expected is None:
            with pytest.raises(ProtocolError):
                parse()
            continue
        snap = parse()
        book = OrderBook("BTC")
        assert book.apply_snapshot(snap.bids, snap.asks, snap.timestamp)
        assert list(book.bids) == expected[0] and list(book.asks) == expected[1]
        assert book.best_bid == (expected[0][0] if expected[0] else None)
        assert book.best_ask == (expected[1][0] if expected[1] else None)


def test_venue_frames_stay_strings_until_read() -> None:
    text = frame([{"px": "100.5", "sz": "2", "n": 3}, {"px": "99", "sz": "0.001", "n": 1}],
                 [{"px": "101", "sz": "7.25", "n": 2}])  # fmt: skip
    snap = parse_l2_book_frame(text)
    assert snap.coin == "BTC" and snap.time_ms == 1_700_000_000_000
    assert type(snap.bids) is BookSide and snap.bids.order == -1
    assert type(snap.asks) is BookSide and snap.asks.order == 1
    book = OrderBook("BTC")
    book.apply_snapshot(snap.bids, snap.asks, snap.timestamp)
    assert book.best_bid == BookLevel(D("100.5"), D(2), 3) and book.mid == D("100.75")
    assert book.bids == (BookLevel(D("100.5"), D(2), 3), BookLevel(D(99), D("0.001"), 1))
    assert snap == parse_l2_book(json.loads(text)["data"])


def test_out_of_order_side_is_sorted_by_the_book() -> None:
    snap = parse_l2_book_frame(frame([{"px": "1", "sz": "1", "n": 1}, {"px": "3", "sz": "1", "n": 1}],
                                     [{"px": "9", "sz": "1", "n": 1}, {"px": "5", "sz": "1", "n": 1}]))  # fmt: skip
    assert type(snap.bids) is BookSide and snap.bids.order == 0 and snap.asks.order == 0
    book = OrderBook("X")
    book.apply_snapshot(snap.bids, snap.asks, snap.timestamp)
    assert [lv.price for lv in book.bids] == [D(3), D(1)] and [lv.price for lv in book.asks] == [D(5), D(9)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", r"l2Book frame: not JSON"),
        ('{"channel":"trades","data":[]}', r"expected an object with channel 'l2Book'"),
        ('{"channel":"l2Book"}', r"missing 'data'"),
        ('{"channel":"l2Book","data":{"coin":"X","time":-1,"levels":[[],[]]}}', r"l2Book\.time"),
        ('{"channel":"l2Book","data":{"coin":"X","time":1,"levels":[[]]}}', r"got 1 sides"),
        ('{"channel":"l2Book","data":{"coin":"X","time":1,"levels":[[{"px":"1","sz":"0","n":1}],[]]}}',
         r"l2Book\.levels\[0\]\[0\]\.sz: must be > 0"),
        ("[" * 100_000, r"not JSON \(JSON nested deeper than 64"),
    ],
)
def test_malformed_frames_raise_the_precise_error(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_l2_book_frame(text)


venue_values = st.one_of(
    st.decimals(min_value=D("0.000001"), max_value=D("1000000"), places=6).filter(lambda d: d > 0).map(str),
    st.integers(1, 10**12).map(str),
)


@settings(max_examples=200)
@given(st.lists(st.tuples(venue_values, venue_values, st.integers(0, 10**6)), max_size=20),
       st.lists(st.tuples(venue_values, venue_values, st.integers(0, 10**6)), max_size=20))  # fmt: skip
def test_what_the_venue_writes_takes_the_fast_paths(bids: list[Any], asks: list[Any]) -> None:
    def levels(side: list[Any]) -> list[dict[str, Any]]:
        return [{"px": px, "sz": sz, "n": n} for px, sz, n in side]

    text = frame(levels(bids), levels(asks))
    for snap in (parse_l2_book_frame(text), parse_l2_book(json.loads(text)["data"])):
        assert type(snap.bids) is BookSide and type(snap.asks) is BookSide
        assert snap.bids == tuple(BookLevel(D(px), D(sz), n) for px, sz, n in bids)
        assert snap.asks == tuple(BookLevel(D(px), D(sz), n) for px, sz, n in asks)
        bid_px, ask_px = [D(px) for px, _, _ in bids], [D(px) for px, _, _ in asks]
        # Verified order exactly when the prices are strictly best-first (the book then stores them as they are).
        assert (snap.bids.order == -1) == all(a > b for a, b in pairwise(bid_px))
        assert (snap.asks.order == 1) == all(a < b for a, b in pairwise(ask_px))


@pytest.mark.parametrize(
    ("values", "floats"),
    [
        (["1", "2.5", "0.001", "97000", "1" * 60], [1.0, 2.5, 0.001, 97000.0, float("1" * 60)]),
        ([], []),
        (["0." + "0" * 57 + "1"], [1e-58]),  # the smallest 60-character value: no float underflow
        (["0"], None), (["0.000"], None), (["05"], None), ([".5"], None), (["5."], None), (["1.2.3"], None),
        (["1,5"], None), (["1]"], None), (["[1]"], None), ([""], None), (["1e5"], None), (["-1"], None),
        ([" 1"], None), (["\ud800"], None), ([1], None), ([None], None), (["\u0661"], None),
    ],
)
def test_positive_floats_accepts_exactly_the_plain_positive_form(values: list[Any], floats: list[float] | None) -> None:
    assert positive_floats(values) == floats


def test_counts_are_read_only_for_levels_that_are_built() -> None:
    reads: list[int] = []

    def count(row: tuple[int]) -> int:
        reads.append(row[0])
        return row[0]

    side = BookSide(["3", "2"], ["1", "1"], [(7,), (5,)], order=-1, count=count)
    assert reads == []
    assert side[0] == BookLevel(D(3), D(1), 7) and reads == [7]
    assert side.levels() == (BookLevel(D(3), D(1), 7), BookLevel(D(2), D(1), 5)) and reads == [7, 7, 5]
    assert repr(side) == "BookSide([('3', '1', 7), ('2', '1', 5)])"
    snap = parse_l2_book_frame(frame([{"px": "2", "sz": "1", "n": 4}], [{"px": "3", "sz": "1", "n": 0}]))
    assert snap.bids[0].count == 4 and snap.asks[0].count == 0


def test_a_frame_with_a_field_the_decoder_does_not_know_takes_the_generic_path_and_is_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(book_frames, "_generic_noted", [False])
    level = {"px": "1", "sz": "2", "n": 3}
    texts = [
        json.dumps({"channel": "l2Book", "data": {"coin": "X", "time": 5, "levels": [[level], []], "spread": "0.1"}}),
        json.dumps({"channel": "l2Book", "data": {"coin": "X", "time": 5, "levels": [[{**level, "m": 1}], []]}}),
        json.dumps({"channel": "l2Book", "data": {"coin": "X", "time": 5, "levels": [[level], []]}, "extra": 1}),
        frame([{"px": "01", "sz": "2", "n": 3}], [], coin="X", time=5),  # a leading zero: valid, not the venue's
    ]
    with caplog.at_level(logging.INFO, logger="trio_hl.hyperliquid.book_frames"):
        for text in texts:
            snap = parse_l2_book_frame(text)
            assert snap.coin == "X" and snap.time_ms == 5
            assert snap.bids == (BookLevel(D(1), D(2), 3),) and snap.asks == ()
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "unknown field `spread`" in notes[0] and "generic path" in notes[0]


def test_deep_nesting_anywhere_in_a_frame_is_an_error_not_a_crash() -> None:
    # py_ecc (eth-account) raises the recursion limit to 100 000 on import: a decoder that recursed into these
    # (skipping an unknown field does) would overflow the C stack and kill the process.
    import eth_account  # noqa: F401

    assert sys.getrecursionlimit() >= 100_000
    deep = "[" * 300_000 + "]" * 300_000
    for text in (
        '{"channel":"l2Book","data":{"coin":"X","time":1,"levels":[[],[]],"x":' + deep + "}}",
        '{"channel":"l2Book","x":' + deep + ',"data":{"coin":"X","time":1,"levels":[[],[]]}}',
        '{"channel":"l2Book","data":{"coin":"X","time":1,"levels":[[{"px":"1","sz":"1","n":1,"q":' + deep + "}],[]]}}",
        '{"channel":"l2Book","data":{"coin":' + deep + ',"time":1,"levels":[[],[]]}}',
        '{"channel":"l2Book","data":{"coin":"X","time":1,"levels":[' + deep + ",[]]}}",
    ):
        with pytest.raises(ProtocolError, match="deeper than 64"):
            parse_l2_book_frame(text)


def test_text_that_is_not_utf8_or_holds_a_lone_surrogate_is_a_protocol_error() -> None:
    good = frame([{"px": "1", "sz": "2", "n": 3}], [])
    assert parse_l2_book_frame(good.encode()) == parse_l2_book_frame(good)
    for text in (good.encode().replace(b"BTC", b"\xffTC"), good.replace("BTC", "\ud800")):
        with pytest.raises(ProtocolError, match="not JSON"):
            parse_l2_book_frame(text)


def test_best_is_the_first_level_built_alone_or_taken_from_the_built_levels() -> None:
    side = BookSide(["3", "2"], ["1", "1"], [1, 2], order=-1)
    assert side.best() == BookLevel(D(3), D(1), 1) and side._levels is None and side.best() is side[0]
    built = BookSide(["3", "2"], ["1", "1"], [1, 2], order=-1)
    levels = built.levels()
    assert built.best() is levels[0]
    assert BookSide([], [], []).best() is None and BookSide([], [], []).levels() == ()
    book = OrderBook("X")
    assert book.apply_snapshot(BookSide([], [], []), BookSide(["5"], ["1"], [1], order=1), 1.0)
    assert book.best_bid is None and book.best_ask == BookLevel(D(5), D(1), 1)
    assert book.mid is None and book.spread is None and not book.is_crossed
    assert book.apply_snapshot(BookSide(["5"], ["1"], [1], order=-1), BookSide(["5"], ["2"], [1], order=1), 2.0)
    assert book.is_crossed and book.spread == 0 and book.mid == D(5)


def test_rest_data_outside_the_typed_schema_is_still_parsed_by_the_per_level_path() -> None:
    level = {"px": "2", "sz": "1", "n": 1}
    for data in ({"coin": "X", "time": 7, "levels": [[level], []], "extra": [1]},  # a field the schema lacks
                 {"coin": "X", "time": 7, "levels": [[{"px": 2, "sz": "1", "n": 1}], []]},  # a JSON integer px
                 {"coin": "X", "time": 7, "levels": [[{**level, "px": "02"}], []]}):  # a leading zero  # fmt: skip
        snap = parse_l2_book(data)
        assert snap.coin == "X" and snap.time_ms == 7 and snap.bids == (BookLevel(D(2), D(1), 1),)
        assert type(snap.bids) is tuple  # the per-level path's levels
    with pytest.raises(ProtocolError, match=r"l2Book\.levels\[0\]\[0\]\.n"):
        parse_l2_book({"coin": "X", "time": 7, "levels": [[{**level, "n": True}], []]})
    # Containers JSON does not produce are refused as before (msgspec.convert alone would read them).
    for data, message in (({"coin": "X", "time": 7, "levels": ([level], [])}, r"l2Book\.levels: expected an array"),
                          ({"coin": "X", "time": 7, "levels": [(level,), []]}, r"levels\[0\]: expected an array"),
                          ({"coin": "X", "time": 7, "levels": [[MappingProxyType(level)], []]},
                           r"levels\[0\]\[0\]: expected an object"),
                          (MappingProxyType({"coin": "X", "time": 7, "levels": [[level], []]}),
                           r"l2Book: expected an object")):  # fmt: skip
        with pytest.raises(ProtocolError, match=message):
            parse_l2_book(data)


def reference(text: str) -> tuple[str, int, list[BookLevel], list[BookLevel]] | None:
    """What a frame must parse to, read with ``json.loads`` and plain checks (None: it must be refused)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if type(doc) is not dict or doc.get("channel") != "l2Book" or type(doc.get("data")) is not dict:
        return None
    data = doc["data"]
    coin, time, levels = data.get("coin"), data.get("time"), data.get("levels")
    if type(coin) is not str or type(time) is not int or not 0 <= time < 2**53:
        return None
    if type(levels) is not list or len(levels) != 2 or any(type(side) is not list for side in levels):
        return None
    if any(type(x) is not dict or not {"px", "sz", "n"} <= x.keys() for side in levels for x in side):
        return None
    sides = oracle(data)
    return None if sides is None else (coin, time, *sides)


BASE = frame([{"px": "100.5", "sz": "2", "n": 3}, {"px": "99", "sz": "0.25", "n": 1}],
             [{"px": "101", "sz": "7.5", "n": 2}], coin="ETH", time=1_700_000_000_123)  # fmt: skip


@settings(max_examples=1000)
@given(st.lists(st.tuples(st.integers(0, len(BASE)), st.sampled_from(["delete", "insert", "replace"]),
                          st.sampled_from(list('0123456789.,:{}[]"-+eE \\xn'))), min_size=1, max_size=3))  # fmt: skip
def test_mutated_frame_text_parses_as_json_reads_it_or_is_a_protocol_error(edits: list[Any]) -> None:
    text = BASE
    for at, op, ch in edits:
        i = min(at, len(text))
        text = {"delete": text[:i] + text[i + 1:], "insert": text[:i] + ch + text[i:],
                "replace": text[:i] + ch + text[i + 1:]}[op]  # fmt: skip
    expected = reference(text)
    event("refused" if expected is None else "parsed")
    if expected is None:
        with pytest.raises(ProtocolError):
            parse_l2_book_frame(text)
        return
    snap = parse_l2_book_frame(text)
    book = OrderBook("X")
    book.apply_snapshot(snap.bids, snap.asks, snap.timestamp)
    assert (snap.coin, snap.time_ms, list(book.bids), list(book.asks)) == expected
