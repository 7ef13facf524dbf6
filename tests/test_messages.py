"""hyperliquid.messages: venue frames become frozen values; malformed frames raise ProtocolError only."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.book import BookLevel
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields, wire
from trio_hl.hyperliquid.messages import (
    ExchangeStatusKind,
    FundingPayment,
    Liquidation,
    MarketTrade,
    NonUserCancel,
    WireOrder,
    check_ok_response,
    parse_all_mids,
    parse_batch_modify_action,
    parse_cancel_action,
    parse_cancel_by_cloid_action,
    parse_cancel_statuses,
    parse_decimal,
    parse_exchange_order_statuses,
    parse_fill,
    parse_fills,
    parse_l2_book,
    parse_modify_action,
    parse_open_orders,
    parse_order_action,
    parse_order_snapshot,
    parse_order_status_response,
    parse_order_update,
    parse_trades,
    parse_user_event,
    parse_user_fills,
)
from trio_hl.hyperliquid.statuses import ActionErrorKind, ActionRejectedError, RejectReason, VenueOrderStatus

D = Decimal
COINS = {"AVAX": "AVAX", "@107": "HYPE/USDC", "BTC": "BTC"}

FILL: dict[str, Any] = {
    "closedPnl": "0.0",
    "coin": "AVAX",
    "crossed": False,
    "dir": "Open Long",
    "hash": "0xa166e3fa63c25663024b03f2e0da011a00307e4017e0a4d6b0e0a1f8c1f5e2c5",
    "oid": 90542681,
    "px": "18.435",
    "side": "B",
    "startPosition": "26.86",
    "sz": "93.53",
    "time": 1681222254710,
    "fee": "0.01",
    "feeToken": "USDC",
    "tid": 118906512037719,
}

ORDER_UPDATE: dict[str, Any] = {
    "order": {
        "coin": "BTC",
        "side": "A",
        "limitPx": "29792.0",
        "sz": "0.0",
        "oid": 91490942,
        "timestamp": 1681247412573,
        "origSz": "0.5",
        "cloid": "0x00000000000000000000000000000001",
    },
    "status": "filled",
    "statusTimestamp": 1681247412600,
}

ORDER_STATUS: dict[str, Any] = {
    "status": "order",
    "order": {
        "order": {
            "coin": "@107",
            "isPositionTpsl": False,
            "isTrigger": False,
            "limitPx": "25.1",
            "oid": 5,
            "orderType": "Limit",
            "origSz": "3.0",
            "reduceOnly": False,
            "side": "B",
            "sz": "1.0",
            "tif": "Gtc",
            "timestamp": 1724361546600,
            "triggerCondition": "N/A",
            "triggerPx": "0.0",
            "children": [],
            "cloid": None,
        },
        "status": "open",
        "statusTimestamp": 1724361546645,
    },
}

ORDER_RESPONSE: dict[str, Any] = {
    "status": "ok",
    "response": {
        "type": "order",
        "data": {
            "statuses": [
                {"resting": {"oid": 77738308}},
                {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314, "cloid": "0x" + "ab" * 16}},
                {"error": "Order must have minimum value of $10. asset=4"},
                "waitingForFill",
                "waitingForTrigger",
            ]
        },
    },
}

CANCEL_RESPONSE: dict[str, Any] = {
    "status": "ok",
    "response": {
        "type": "cancel",
        "data": {"statuses": ["success", {"error": "Order was never placed, already canceled, or filled. asset=1"}]},
    },
}

BOOK: dict[str, Any] = {
    "coin": "DYDX",
    "levels": [
        [{"px": "2.111", "sz": "134.4", "n": 1}, {"px": "2.11", "sz": "10", "n": 3}],
        [{"px": "2.112", "sz": "5.5", "n": 2}],
    ],
    "time": 1689630203930,
}


# ------------------------------------------------------------------------------------------------- fills


def test_parse_fill() -> None:
    assert parse_fill(FILL, COINS) == TradeUpdate(
        trade_id="118906512037719",
        pair="AVAX",
        fill_price=D("18.435"),
        fill_amount=D("93.53"),
        fee=D("0.01"),
        fee_asset="USDC",
        timestamp=1681222254.71,
        client_order_id=None,
        exchange_order_id="90542681",
        is_taker=False,
        side=Side.BUY,
    )
    assert parse_fill(dict(FILL, side="A")).side is Side.SELL


def test_parse_fill_spot_cloid_taker_rebate() -> None:
    fill = dict(FILL, coin="@107", cloid="0x" + "0" * 31 + "7", crossed=True, fee="-0.002", dir="Buy")
    u = parse_fill(fill, COINS)
    assert u.pair == "HYPE/USDC" and u.client_order_id == "0x" + "0" * 31 + "7"
    assert u.is_taker and u.fee == D("-0.002")
    # An unknown coin is reported under its own name rather than dropped.
    assert parse_fill(dict(FILL, coin="@999"), COINS).pair == "@999"
    # feeToken missing: USDC.
    assert parse_fill({k: v for k, v in FILL.items() if k != "feeToken"}).fee_asset == "USDC"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"px": 18.435}, r"fill\.px: expected a decimal string, got float"),
        ({"px": "1e5"}, r"fill\.px: not a decimal string: '1e5'"),
        ({"px": "NaN"}, r"fill\.px: not a decimal string"),
        ({"px": "0"}, r"fill\.px: must be > 0"),
        ({"sz": "-1"}, r"fill\.sz: must be > 0"),
        ({"sz": " 1"}, r"not a decimal string"),
        ({"tid": -1}, r"fill\.tid: expected a non-negative integer id"),
        ({"tid": "0x1f"}, r"fill\.tid: expected a non-negative integer id"),
        ({"oid": -5}, r"fill\.oid: expected a non-negative integer id"),
        ({"crossed": "false"}, r"fill\.crossed: expected a boolean, got str"),
        ({"time": "1681222254710"}, r"fill\.time: expected an integer, got str"),
        ({"time": True}, r"fill\.time: expected an integer, got bool"),
        ({"cloid": 5}, r"fill\.cloid: expected a string or null"),
        ({"coin": None}, r"fill\.coin: expected a string, got null"),
    ],
)
def test_malformed_fill(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_fill(dict(FILL, **change), COINS)


@pytest.mark.parametrize(
    "key", sorted(k for k in FILL if k in {"coin", "px", "sz", "time", "fee", "tid", "oid", "crossed"} - {"tid"})
)
def test_fill_missing_required_key(key: str) -> None:
    with pytest.raises(ProtocolError, match=rf"fill: missing '{key}'"):
        parse_fill({k: v for k, v in FILL.items() if k != key}, COINS)


def test_parse_user_fills() -> None:
    msg = {"isSnapshot": True, "user": "0xABC", "fills": [FILL, dict(FILL, tid=2)]}
    parsed = parse_user_fills(msg, COINS)
    assert parsed.user == "0xabc" and parsed.is_snapshot
    assert [f.trade_id for f in parsed.fills] == ["118906512037719", "2"]
    assert not parse_user_fills({"user": "0x1", "fills": []}).is_snapshot  # isSnapshot may be omitted
    with pytest.raises(ProtocolError, match=r"userFills\.fills\[1\]: fill: missing 'px'"):
        parse_user_fills({"user": "0x1", "fills": [FILL, {k: v for k, v in FILL.items() if k != "px"}]})


def test_parse_user_events() -> None:
    fills = parse_user_event({"fills": [FILL]}, COINS)
    assert isinstance(fills, tuple) and fills[0].trade_id == "118906512037719"
    funding = parse_user_event(
        {"funding": {"time": 1000, "coin": "BTC", "usdc": "-1.5", "szi": "0.2", "fundingRate": "0.0001"}}, COINS
    )
    assert funding == FundingPayment("BTC", 1.0, D("-1.5"), D("0.2"), D("0.0001"))
    liq = parse_user_event(
        {
            "liquidation": {
                "lid": 7,
                "liquidator": "0x1",
                "liquidated_user": "0x2",
                "liquidated_ntl_pos": "100.5",
                "liquidated_account_value": "3.2",
            }
        }
    )
    assert liq == Liquidation(7, "0x1", "0x2", D("100.5"), D("3.2"))
    cancels = parse_user_event({"nonUserCancel": [{"coin": "@107", "oid": 11}]}, COINS)
    assert cancels == NonUserCancel((("HYPE/USDC", "11"),))
    assert isinstance(cancels, NonUserCancel)
    (update,) = cancels.to_updates(5.0)
    assert update.new_state is OrderState.CANCELED and update.exchange_order_id == "11" and update.timestamp == 5.0
    with pytest.raises(ProtocolError, match="expected one of fills/funding/liquidation/nonUserCancel"):
        parse_user_event({"other": 1})


# ---------------------------------------------------------------------------------------- order updates


def test_parse_order_update_filled() -> None:
    assert parse_order_update(ORDER_UPDATE, COINS) == OrderUpdate(
        pair="BTC",
        new_state=OrderState.FILLED,
        timestamp=1681247412.6,
        client_order_id="0x00000000000000000000000000000001",
        exchange_order_id="91490942",
        reason=None,
        venue_status="filled",
    )
    snap = parse_order_snapshot(ORDER_UPDATE, COINS)
    assert snap.side is Side.SELL and snap.filled_size == D("0.5") and snap.created == 1681247412.573


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("open", OrderState.OPEN),
        ("triggered", OrderState.OPEN),
        ("canceled", OrderState.CANCELED),
        ("marginCanceled", OrderState.CANCELED),
        ("scheduledCancel", OrderState.CANCELED),
        ("rejected", OrderState.FAILED),
        ("badAloPxRejected", OrderState.FAILED),
    ],
)
def test_order_update_states_and_reasons(status: str, state: OrderState) -> None:
    u = parse_order_update(dict(ORDER_UPDATE, status=status), COINS)
    assert u is not None and u.new_state is state and u.venue_status == status
    assert u.reason == (None if state is OrderState.OPEN else status)


def test_unknown_status_means_no_update() -> None:
    msg = dict(ORDER_UPDATE, status="somethingNewCanceledMaybe")
    assert parse_order_update(msg, COINS) is None
    snap = parse_order_snapshot(msg)
    assert snap.status is VenueOrderStatus.UNKNOWN and snap.venue_status == "somethingNewCanceledMaybe"


def test_order_update_without_optional_fields() -> None:
    order = {k: v for k, v in ORDER_UPDATE["order"].items() if k not in ("origSz", "cloid")}
    snap = parse_order_snapshot(dict(ORDER_UPDATE, order=order))
    assert snap.orig_size is None and snap.filled_size is None and snap.client_order_id is None
    assert snap.pair == "BTC"  # no mapping given: the coin


def test_parse_order_status_response() -> None:
    snap = parse_order_status_response(ORDER_STATUS, COINS)
    assert snap is not None
    assert (snap.pair, snap.side, snap.limit_price, snap.remaining_size, snap.orig_size) == (
        "HYPE/USDC",
        Side.BUY,
        D("25.1"),
        D("1.0"),
        D("3.0"),
    )
    assert snap.filled_size == D("2.0")
    assert (snap.reduce_only, snap.order_type, snap.tif, snap.is_trigger, snap.trigger_price) == (
        False,
        "Limit",
        "Gtc",
        False,
        None,
    )
    assert snap.state is OrderState.OPEN and snap.status_timestamp == 1724361546.645
    assert parse_order_status_response({"status": "unknownOid"}) is None
    with pytest.raises(ProtocolError, match=r"orderStatus\.status: expected 'order' or 'unknownOid'"):
        parse_order_status_response({"status": "weird"})
    broken = copy.deepcopy(ORDER_STATUS)
    broken["order"]["order"]["side"] = "X"
    with pytest.raises(ProtocolError, match=r"orderStatus\.order: orderUpdate\.order\.side: expected 'B' or 'A'"):
        parse_order_status_response(broken)


# ------------------------------------------------------------------------------------ /exchange answers


def test_parse_exchange_order_statuses() -> None:
    resting, filled, error, waiting_fill, waiting_trigger = parse_exchange_order_statuses(ORDER_RESPONSE)
    assert resting.kind is ExchangeStatusKind.RESTING and resting.exchange_order_id == "77738308"
    assert filled.kind is ExchangeStatusKind.FILLED
    assert (filled.exchange_order_id, filled.total_size, filled.avg_price) == ("77747314", D("0.02"), D("1891.4"))
    assert filled.client_order_id == "0x" + "ab" * 16
    assert error.is_error and error.rejection is not None
    assert error.rejection.reason is RejectReason.MIN_TRADE_NTL and error.rejection.asset == 4
    assert waiting_fill.kind is ExchangeStatusKind.WAITING_FOR_FILL
    assert waiting_trigger.kind is ExchangeStatusKind.WAITING_FOR_TRIGGER


def test_parse_cancel_statuses() -> None:
    ok, missing = parse_cancel_statuses(CANCEL_RESPONSE)
    assert ok.kind is ExchangeStatusKind.SUCCESS
    assert missing.rejection is not None and missing.rejection.reason is RejectReason.MISSING_ORDER
    assert len(parse_exchange_order_statuses(CANCEL_RESPONSE)) == 2  # the general parser accepts cancels too
    with pytest.raises(ProtocolError, match=r"type: expected 'cancel', got 'order'"):
        parse_cancel_statuses(ORDER_RESPONSE)


def test_action_level_error_raises_classified() -> None:
    with pytest.raises(ActionRejectedError) as info:
        parse_exchange_order_statuses({"status": "err", "response": "Invalid nonce: duplicate nonce 1741107452532"})
    assert info.value.kind is ActionErrorKind.NONCE_DUPLICATE
    assert info.value.error.nonce == 1741107452532
    with pytest.raises(ActionRejectedError, match="Must deposit"):
        check_ok_response({"status": "err", "response": "Must deposit before performing actions. User: 0x1"})
    assert check_ok_response({"status": "ok", "response": {"type": "default"}}) == {"type": "default"}


@pytest.mark.parametrize(
    ("resp", "message"),
    [
        ({"status": "ok"}, r"missing 'response'"),
        ({"status": "maybe", "response": {}}, r"status: expected 'ok' or 'err'"),
        ({"status": "err", "response": {"x": 1}}, r"response: expected the error text"),
        ({"status": "ok", "response": {"type": "default"}}, r"type: expected 'order' or 'cancel', got 'default'"),
        ({"status": "ok", "response": {"type": "order", "data": {}}}, r"missing 'statuses'"),
        ({"status": "ok", "response": {"type": "order", "data": {"statuses": ["nope"]}}}, r"unknown status 'nope'"),
        ({"status": "ok", "response": {"type": "order", "data": {"statuses": [{"x": 1}]}}}, r"expected resting"),
        (
            {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"resting": {"oid": "x"}}]}}},
            r"statuses\[0\]\.resting\.oid: expected a non-negative integer id",
        ),
        ([], r"exchange response: expected an object, got list"),
    ],
)
def test_malformed_exchange_answers(resp: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_exchange_order_statuses(resp)


# ------------------------------------------------------------------------------------------------- books


def test_parse_l2_book() -> None:
    book = parse_l2_book(BOOK)
    assert book.coin == "DYDX" and book.time_ms == 1689630203930 and book.timestamp == 1689630203.93
    assert book.bids == (BookLevel(D("2.111"), D("134.4"), 1), BookLevel(D("2.11"), D("10"), 3))
    assert book.asks == (BookLevel(D("2.112"), D("5.5"), 2),)
    empty = parse_l2_book({"coin": "X", "levels": [[], []], "time": 1})
    assert empty.bids == () and empty.asks == ()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(levels=[[]]), r"l2Book\.levels: expected \[bids, asks\], got 1 sides"),
        (lambda b: b["levels"][0][1].update(px=2.11), r"l2Book\.levels\[0\]\[1\]\.px: expected a decimal string"),
        (lambda b: b["levels"][1][0].pop("n"), r"l2Book\.levels\[1\]\[0\]: missing 'n'"),
        (lambda b: b["levels"][1][0].update(n=-1), r"n: expected a non-negative order count"),
        (lambda b: b["levels"][1][0].update(sz="0"), r"sz: must be > 0"),
        (lambda b: b.pop("time"), r"l2Book: missing 'time'"),
        (lambda b: b.update(levels="x"), r"l2Book\.levels: expected an array, got str"),
    ],
)
def test_malformed_books(mutate: Callable[[dict[str, Any]], Any], message: str) -> None:
    book = copy.deepcopy(BOOK)
    mutate(book)
    with pytest.raises(ProtocolError, match=message):
        parse_l2_book(book)


def test_parse_decimal() -> None:
    assert parse_decimal("-0.001") == D("-0.001") and parse_decimal(5) == 5
    for bad in ["", "1.", ".5", "1e3", "Infinity", "1_000", "１", "1" * 61, None, 1.5, True]:
        with pytest.raises(ProtocolError):
            parse_decimal(bad, "x")



@given(text=st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,30})?", fullmatch=True) | st.text(max_size=12))
def test_decimal_memo_answers_exactly_what_parsing_does(text: str) -> None:
    """Parsed decimal strings are memoised: a hit is the same value in the same form (``"1.50"`` keeps its
    exponent), and a string refused once is refused again (only accepted strings are stored)."""
    _fields._DECIMAL_MEMO.clear()
    for _ in range(2):  # a miss, then a hit
        try:
            parsed = parse_decimal(text, "x")
        except ProtocolError:
            assert text not in _fields._DECIMAL_MEMO
            continue
        assert parsed == Decimal(text) and str(parsed) == str(Decimal(text))
        assert parse_order_action(
            {"type": "order", "grouping": "na",
             "orders": [{"a": 0, "b": True, "p": text, "s": text, "r": False, "t": {"limit": {"tif": "Gtc"}}}]}
        ).orders[0].price.as_tuple() == Decimal(text).as_tuple()


def test_decimal_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fields, "_DECIMAL_MEMO_SIZE", 4)
    _fields._DECIMAL_MEMO.clear()
    assert [parse_decimal(str(i)) for i in range(10)] == list(range(10))
    assert len(_fields._DECIMAL_MEMO) <= 4
    with pytest.raises(ProtocolError, match=r"x\.p: not a decimal string"):
        _fields.decimal({"p": "1e3"}, "p", "x")


# ------------------------------------------------------------------------------------------------- fuzz

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["0", "1.5", "-1", "1e5", "NaN", "B", "A", "open", "ok", "err", "success", "order"]),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=15,
)


def _mutations(template: Any) -> st.SearchStrategy[Any]:
    """The template with one nested value deleted or replaced by an arbitrary JSON value."""

    @st.composite
    def mutate(draw: st.DrawFn) -> Any:
        doc = copy.deepcopy(template)
        containers: list[Any] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict | list) and node:
                containers.append(node)
                for child in node.values() if isinstance(node, dict) else node:
                    walk(child)

        walk(doc)
        if not containers:
            return draw(json_values)
        target = draw(st.sampled_from(containers))
        key = draw(st.sampled_from(sorted(target) if isinstance(target, dict) else list(range(len(target)))))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
        return doc

    return mutate()


PARSERS: list[tuple[Callable[[Any], Any], Any]] = [
    (lambda d: parse_fill(d, COINS), FILL),
    (lambda d: parse_user_fills(d, COINS), {"isSnapshot": True, "user": "0x1", "fills": [FILL]}),
    (lambda d: parse_user_event(d, COINS), {"fills": [FILL]}),
    (
        lambda d: parse_user_event(d, COINS),
        {"funding": {"time": 1000, "coin": "BTC", "usdc": "-1.5", "szi": "0.2", "fundingRate": "0.0001"}},
    ),
    (lambda d: parse_user_event(d, COINS), {"nonUserCancel": [{"coin": "BTC", "oid": 1}]}),
    (lambda d: parse_order_update(d, COINS), ORDER_UPDATE),
    (lambda d: parse_order_status_response(d, COINS), ORDER_STATUS),
    (parse_exchange_order_statuses, ORDER_RESPONSE),
    (parse_cancel_statuses, CANCEL_RESPONSE),
    (parse_l2_book, BOOK),
]


@pytest.mark.parametrize(("parser", "template"), PARSERS)
@given(data=st.data())
def test_mutated_frames_raise_only_protocol_error(parser: Callable[[Any], Any], template: Any, data: Any) -> None:
    doc = data.draw(_mutations(template))
    with contextlib.suppress(ProtocolError, ActionRejectedError):
        parser(doc)


@pytest.mark.parametrize(("parser", "template"), PARSERS)
@given(doc=json_values)
def test_arbitrary_json_raises_only_protocol_error(parser: Callable[[Any], Any], template: Any, doc: Any) -> None:
    with contextlib.suppress(ProtocolError, ActionRejectedError):
        parser(doc)


# ------------------------------------------------------------------------- incoming actions (venue side)

wire_prices = st.builds(lambda m, e: D(m).scaleb(-e), st.integers(1, 10**9), st.integers(0, 8))
wire_cloids = st.none() | st.integers(0, 2**128 - 1).map(lambda n: f"{n:#034x}")
wire_order_types = st.one_of(
    st.sampled_from(["Gtc", "Ioc", "Alo"]).map(lambda tif: ("limit", tif, None, None)),
    st.tuples(st.just("trigger"), wire_prices, st.booleans(), st.sampled_from(["tp", "sl"])),
)
wire_orders = st.tuples(
    st.integers(0, 200_000), st.booleans(), wire_prices, wire_prices, st.booleans(), wire_order_types, wire_cloids
)


def _build(o: tuple[Any, ...]) -> dict[str, Any]:
    asset, is_buy, px, sz, ro, ot, cloid = o
    t = wire.limit_order_type(ot[1]) if ot[0] == "limit" else wire.trigger_order_type(ot[1], ot[2], ot[3])
    return wire.order_wire(asset, is_buy, px, sz, ro, t, cloid)


def _expected(o: tuple[Any, ...]) -> WireOrder:
    asset, is_buy, px, sz, ro, ot, cloid = o
    if ot[0] == "limit":
        return WireOrder(asset, is_buy, px, sz, ro, tif=ot[1], cloid=cloid)
    return WireOrder(asset, is_buy, px, sz, ro, trigger_price=ot[1], trigger_is_market=ot[2], tpsl=ot[3], cloid=cloid)


@given(st.lists(wire_orders, max_size=5), st.sampled_from(["na", "normalTpsl", "positionTpsl", 7]), st.booleans())
def test_built_order_actions_parse_back(orders: list[tuple[Any, ...]], grouping: Any, with_builder: bool) -> None:
    builder = {"b": "0x" + "AB" * 20, "f": 10} if with_builder else None
    action = wire.order_action([_build(o) for o in orders], {"p": grouping} if grouping == 7 else grouping, builder)
    # Through JSON, as the emulator receives it.
    parsed = parse_order_action(json.loads(json.dumps(action)))
    assert parsed.orders == tuple(_expected(o) for o in orders)
    assert parsed.grouping == grouping
    assert (parsed.builder_address, parsed.builder_fee) == (("0x" + "ab" * 20, 10) if with_builder else (None, None))
    assert all(p.is_trigger == (o[5][0] == "trigger") for p, o in zip(parsed.orders, orders, strict=True))


def test_built_cancel_and_modify_actions_parse_back() -> None:
    cloid = "0x" + "Cd" * 16
    assert parse_cancel_action(wire.cancel_action([(1, 5), (10001, 2**62)])) == [(1, 5), (10001, 2**62)]
    assert parse_cancel_by_cloid_action(wire.cancel_by_cloid_action([(3, cloid)])) == [(3, cloid.lower())]
    order = _build((1, True, D("1105"), D("0.1"), False, ("limit", "Gtc", None, None), None))
    parsed = parse_batch_modify_action(wire.batch_modify_action([(cloid, order), (77, order)]))
    assert [oid for oid, _ in parsed] == [cloid.lower(), 77]
    assert parsed[0][1] == WireOrder(1, True, D("1105"), D("0.1"), False, tif="Gtc")
    assert parse_modify_action(wire.modify_action(9, order)) == (9, parsed[0][1])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"type": "cancel", "cancels": []}, r"action\.type: expected 'order', got 'cancel'"),
        ({"type": "order", "orders": [], "grouping": "x"}, r"action\.grouping: unknown grouping 'x'"),
        ({"type": "order", "orders": [], "grouping": 5}, r"action\.grouping: expected a name"),
        ({"type": "order", "orders": [{}], "grouping": "na"}, r"action\.orders\[0\]: missing 't'"),
        (
            {
                "type": "order",
                "grouping": "na",
                "orders": [{"a": 0, "b": True, "p": "1", "s": "1", "r": False, "t": {}}],
            },
            r"action\.orders\[0\]\.t: expected exactly one of 'limit' and 'trigger'",
        ),
        (
            {
                "type": "order",
                "grouping": "na",
                "orders": [{"a": 0, "b": True, "p": "1.0e3", "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}}],
            },
            r"action\.orders\[0\]\.p: not a decimal string",
        ),
        (
            {
                "type": "order",
                "grouping": "na",
                "orders": [{"a": 0, "b": 1, "p": "1", "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}}],
            },
            r"action\.orders\[0\]\.b: expected a boolean, got int",
        ),
        (
            {
                "type": "order",
                "grouping": "na",
                "orders": [{"a": 0, "b": True, "p": "1", "s": "1", "r": False, "t": {"limit": {"tif": "GTC"}}}],
            },
            r"unknown time in force 'GTC'",
        ),
        (
            {
                "type": "order",
                "grouping": "na",
                "orders": [
                    {"a": 0, "b": True, "p": "1", "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}, "c": "0x1"}
                ],
            },
            r"action\.orders\[0\]\.c: expected a cloid",
        ),
        (
            {"type": "order", "orders": [], "grouping": "na", "builder": {"b": "0x1", "f": -1}},
            r"builder\.f: expected a fee >= 0",
        ),
    ],
)
def test_malformed_order_actions(action: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_order_action(action)


def test_malformed_cancel_and_modify_actions() -> None:
    with pytest.raises(ProtocolError, match=r"action\.cancels\[0\]\.o: expected an order id >= 0"):
        parse_cancel_action({"type": "cancel", "cancels": [{"a": 1, "o": -1}]})
    with pytest.raises(ProtocolError, match=r"action\.cancels\[0\]\.a: expected an asset id >= 0"):
        parse_cancel_action({"type": "cancel", "cancels": [{"a": -1, "o": 1}]})
    with pytest.raises(ProtocolError, match=r"action\.cancels\[0\]\.cloid: expected a cloid"):
        parse_cancel_by_cloid_action({"type": "cancelByCloid", "cancels": [{"asset": 1, "cloid": "0x" + "g" * 32}]})
    with pytest.raises(ProtocolError, match=r"action\.modifies\[0\]\.oid: expected an order id or a cloid"):
        parse_batch_modify_action({"type": "batchModify", "modifies": [{"oid": 1.5, "order": {}}]})
    with pytest.raises(ProtocolError, match=r"action: missing 'order'"):
        parse_modify_action({"type": "modify", "oid": 1})


ACTION_PARSERS: list[tuple[Callable[[Any], Any], Any]] = [
    (
        parse_order_action,
        wire.order_action(
            [_build((3, True, D("1.5"), D("2"), True, ("trigger", D("1.4"), True, "sl"), "0x" + "1" * 32))],
            builder={"b": "0x" + "1" * 40, "f": 1},
        ),
    ),
    (parse_cancel_action, wire.cancel_action([(1, 2)])),
    (parse_cancel_by_cloid_action, wire.cancel_by_cloid_action([(1, "0x" + "2" * 32)])),
    (
        parse_batch_modify_action,
        wire.batch_modify_action([(5, _build((3, False, D("1"), D("2"), False, ("limit", "Alo", None, None), None)))]),
    ),
]


@pytest.mark.parametrize(("parser", "template"), ACTION_PARSERS)
@given(data=st.data())
def test_mutated_actions_raise_only_protocol_error(parser: Callable[[Any], Any], template: Any, data: Any) -> None:
    doc = data.draw(_mutations(template))
    with contextlib.suppress(ProtocolError):
        parser(doc)


# ------------------------------------------------------------------------------ lists, mids, trades

OPEN_ORDER: dict[str, Any] = {
    "coin": "BTC",
    "limitPx": "29792.0",
    "oid": 91490942,
    "side": "A",
    "sz": "0.4",
    "timestamp": 1681247412573,
    "origSz": "0.5",
    "cloid": "0x" + "0" * 31 + "9",
    "reduceOnly": True,
}

TRADES: list[Any] = [
    {
        "coin": "@107",
        "side": "B",
        "px": "25.5",
        "sz": "3",
        "hash": "0x" + "00" * 32,
        "time": 1700000000123,
        "tid": 55,
        "users": ["0x1", "0x2"],
    }
]


def test_parse_fills_list() -> None:
    fills = parse_fills([FILL, dict(FILL, tid=3)], COINS)
    assert [f.trade_id for f in fills] == ["118906512037719", "3"]
    with pytest.raises(ProtocolError, match=r"fills\[0\]: fill: missing 'oid'"):
        parse_fills([{k: v for k, v in FILL.items() if k != "oid"}])
    with pytest.raises(ProtocolError, match=r"fills: expected an array, got dict"):
        parse_fills({})


def test_parse_open_orders() -> None:
    (snap,) = parse_open_orders([OPEN_ORDER], COINS)
    assert (snap.pair, snap.side, snap.remaining_size, snap.filled_size, snap.reduce_only) == (
        "BTC",
        Side.SELL,
        D("0.4"),
        D("0.1"),
        True,
    )
    assert snap.status is VenueOrderStatus.OPEN and snap.status_timestamp == snap.created == 1681247412.573
    update = snap.to_update()
    assert update is not None and update.new_state is OrderState.OPEN and update.exchange_order_id == "91490942"
    assert parse_open_orders([]) == []
    with pytest.raises(ProtocolError, match=r"openOrders\[1\]\.limitPx: expected a decimal string"):
        parse_open_orders([OPEN_ORDER, dict(OPEN_ORDER, limitPx=None)])


def test_parse_all_mids_both_forms() -> None:
    assert parse_all_mids({"BTC": "30135.0", "@1": "1.5"}) == {"BTC": D("30135.0"), "@1": D("1.5")}
    assert parse_all_mids({"mids": {"BTC": "30135.0"}}) == {"BTC": D("30135.0")}
    with pytest.raises(ProtocolError, match=r"allMids\['BTC'\]: not a decimal string"):
        parse_all_mids({"BTC": "x"})


def test_parse_trades() -> None:
    (t,) = parse_trades(TRADES, COINS)
    assert t == MarketTrade("HYPE/USDC", Side.BUY, D("25.5"), D("3"), 1700000000.123, "55", "0x" + "00" * 32)
    assert parse_trades([]) == []
    with pytest.raises(ProtocolError, match=r"trades\[0\]\.side: expected 'B' or 'A'"):
        parse_trades([dict(TRADES[0], side="S")])


MORE_PARSERS: list[tuple[Callable[[Any], Any], Any]] = [
    (lambda d: parse_fills(d, COINS), [FILL]),
    (lambda d: parse_open_orders(d, COINS), [OPEN_ORDER]),
    (parse_all_mids, {"mids": {"BTC": "1.5", "@1": "2"}}),
    (lambda d: parse_trades(d, COINS), TRADES),
]


@pytest.mark.parametrize(("parser", "template"), MORE_PARSERS)
@given(data=st.data())
def test_mutated_lists_raise_only_protocol_error(parser: Callable[[Any], Any], template: Any, data: Any) -> None:
    doc = data.draw(_mutations(template))
    with contextlib.suppress(ProtocolError):
        parser(doc)


@given(st.one_of(
    st.fixed_dictionaries({"resting": st.fixed_dictionaries(
        {"oid": st.one_of(st.integers(-5, 2**63), st.text(max_size=3), st.booleans(), st.none())},
        optional={"cloid": st.one_of(st.none(), st.text(max_size=5), st.integers())})},
        optional={"error": st.text(max_size=5), "filled": st.just({})}),
    st.fixed_dictionaries({"filled": st.fixed_dictionaries({"oid": st.integers(0, 99), "totalSz": st.just("1"),
                                                             "avgPx": st.just("2")})}),
    st.text(max_size=8),
))
def test_the_quick_resting_reader_agrees_with_the_checked_one(raw: Any) -> None:
    """Where the quick reader of an order answer's status answers, the checked parser gives the same result;
    everything else (errors, fills, odd ids) is left to the checked parser."""
    from trio_hl.hyperliquid.messages import _resting, _status_item

    quick = _resting(raw)
    if quick is None:
        return
    assert quick == _status_item(raw, "status")
    assert quick.kind is ExchangeStatusKind.RESTING
