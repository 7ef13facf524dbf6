"""The public Hypothesis strategies (``trio_hl.testing.strategies`` / ``.frames``) against the connector's own code.

Three promises a user relies on when fuzzing with them:

(a) every *valid* frame parses with ``trio_hl.hyperliquid.messages`` and means what was asked for (ids, coin,
    status, Decimal values); every *malformed* frame is refused and counted exactly once by the stream consumer;
(b) a ``venue_sequences`` draw — one order's truth, delivered shuffled, duplicated across channels and
    snapshots, mixed with another order's traffic — converges through ``consume_user_channel`` into an
    ``OrderTracker`` on exactly the hidden truth (state, executed amount, each fill counted once, fees);
(c) requests that break the venue's per-asset rules are refused by order preparation and the wire formatters
    with an ``InvalidOrderError`` that says what is wrong, while valid ones pass unchanged.

The status table in ``frames`` is written from PROTOCOL §5 independently of ``hyperliquid.statuses``, so
(a) also checks the parser's table against the documentation.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hl.core.events import (
    Event,
    LateFill,
    OrderAnomaly,
    OrderCancelled,
    OrderFailed,
    OrderFilled,
    OrderPartiallyFilled,
)
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderParams, OrderState, OrderType, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import InvalidOrderError, ProtocolError, WireFormatError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.messages import (
    FundingPayment,
    Liquidation,
    NonUserCancel,
    parse_fill,
    parse_order_snapshot,
    parse_order_status_response,
    parse_user_event,
    parse_user_fills,
)
from trio_hl.hyperliquid.orders import prepare_order
from trio_hl.hyperliquid.statuses import VenueOrderStatus, parse_status, to_order_state
from trio_hl.hyperliquid.streams import StreamCounters, consume_user_channel
from trio_hl.testing import strategies as hs

NOW = 1_700_000_000.0
CLOID_RE = re.compile(r"0x[0-9a-f]{32}")
DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")

# ---------------------------------------------------------------------------------------- (a) valid frames


def test_documented_statuses_are_exactly_the_parsers_table() -> None:
    known = {s.value for s in VenueOrderStatus if s is not VenueOrderStatus.UNKNOWN}
    assert set(hs.DOCUMENTED_STATUSES) == known
    assert len(hs.DOCUMENTED_STATUSES) == len(set(hs.DOCUMENTED_STATUSES))
    for status in hs.DOCUMENTED_STATUSES:
        assert to_order_state(parse_status(status)) is hs.STATUS_OUTCOME[status], status


@given(hs.venue_statuses(documented=False))
def test_unknown_statuses_mean_no_state_change(status: str) -> None:
    assert parse_status(status) is VenueOrderStatus.UNKNOWN
    item = hs.sample_frame("orderUpdates")[0]
    item["status"] = status
    snapshot = parse_order_snapshot(item)
    assert snapshot.venue_status == status
    assert snapshot.to_update() is None


def _check_order_shape(o: dict[str, Any]) -> None:
    for key in ("limitPx", "sz"):
        assert isinstance(o[key], str) and DECIMAL_RE.fullmatch(o[key]), (key, o[key])
    assert type(o["oid"]) is int and type(o["timestamp"]) is int
    assert o["side"] in ("A", "B")
    assert o.get("cloid") is None or CLOID_RE.fullmatch(o["cloid"])


def _check_fill_shape(f: dict[str, Any]) -> None:
    for key in ("px", "sz", "fee", "closedPnl", "startPosition"):
        assert isinstance(f[key], str) and DECIMAL_RE.fullmatch(f[key]), (key, f[key])
    assert type(f["tid"]) is int and type(f["oid"]) is int and type(f["time"]) is int
    assert type(f["crossed"]) is bool
    assert f.get("cloid") is None or CLOID_RE.fullmatch(f["cloid"])


def _json_round_trip(frame: Any) -> None:
    assert json.loads(json.dumps(frame, allow_nan=False)) == frame


@given(data=st.data(), oid=hs.oids(), cloid=st.none() | hs.cloids(), coin=hs.coins())
def test_order_update_frames_parse_to_what_was_asked(data: st.DataObject, oid: int, cloid: str | None,
                                                     coin: str) -> None:
    status = data.draw(hs.venue_statuses())
    frame = data.draw(hs.order_update_frames(coin=coin, oid=oid, cloid=st.just(cloid), status=status))
    _json_round_trip(frame)
    for item in frame:
        _check_order_shape(item["order"])
        snap = parse_order_snapshot(item, {coin: "PAIR"})
        assert (snap.exchange_order_id, snap.client_order_id, snap.coin, snap.pair) == (str(oid), cloid, coin, "PAIR")
        assert snap.venue_status == status
        assert snap.state is hs.STATUS_OUTCOME.get(status)
        assert snap.orig_size is None or snap.remaining_size <= snap.orig_size
        assert snap.status_timestamp >= snap.created
        if status == hs.FILLED_STATUS:
            assert snap.remaining_size == 0


@given(oid=hs.oids(), cloid=st.none() | hs.cloids(), tid=st.integers(1, 2**50), data=st.data())
def test_fill_frames_parse_to_what_was_asked(oid: int, cloid: str | None, tid: int, data: st.DataObject) -> None:
    fill = data.draw(hs.fill_frames(coin="ETH", oid=oid, cloid=st.just(cloid), tid=tid, side=Side.SELL))
    _json_round_trip(fill)
    _check_fill_shape(fill)
    trade = parse_fill(fill)
    assert (trade.trade_id, trade.exchange_order_id, trade.client_order_id, trade.pair) == (str(tid), str(oid),
                                                                                           cloid, "ETH")
    assert trade.fill_price == Decimal(fill["px"]) and trade.fill_amount == Decimal(fill["sz"])
    assert trade.fee == Decimal(fill["fee"]) and trade.fee_asset == fill.get("feeToken", "USDC")
    assert trade.timestamp == fill["time"] / 1000
    assert fill["side"] == "A"


@given(hs.user_fills_messages())
def test_user_fills_messages_parse(msg: dict[str, Any]) -> None:
    _json_round_trip(msg)
    parsed = parse_user_fills(msg)
    assert parsed.is_snapshot is bool(msg.get("isSnapshot"))
    assert parsed.user == msg["user"]
    assert [t.trade_id for t in parsed.fills] == [str(f["tid"]) for f in msg["fills"]]
    assert len({t.trade_id for t in parsed.fills}) == len(parsed.fills)


@given(hs.user_events_messages())
def test_user_events_messages_parse_to_their_kind(msg: dict[str, Any]) -> None:
    _json_round_trip(msg)
    (kind,) = msg
    event = parse_user_event(msg)
    expected = {"fills": tuple, "funding": FundingPayment, "liquidation": Liquidation,
                "nonUserCancel": NonUserCancel}[kind]
    assert isinstance(event, expected)
    if isinstance(event, NonUserCancel):
        assert [oid for _, oid in event.cancels] == [str(c["oid"]) for c in msg["nonUserCancel"]]


@given(hs.order_status_answers(oid=42, cloid=st.just("0x" + "ab" * 16)))
def test_order_status_answers_parse(answer: dict[str, Any]) -> None:
    _json_round_trip(answer)
    snap = parse_order_status_response(answer)
    if answer["status"] == "unknownOid":
        assert snap is None
        return
    assert snap is not None
    _check_order_shape(answer["order"]["order"])
    assert (snap.exchange_order_id, snap.client_order_id) == ("42", "0x" + "ab" * 16)
    assert snap.venue_status == answer["order"]["status"]


# ------------------------------------------------------------------------------------ (a) malformed frames


def run_frames(frames: list[tuple[str, Any]], tracker: OrderTracker | None = None
               ) -> tuple[StreamCounters, OrderTracker, list[Event]]:
    """Feed ``(channel, data)`` pairs, in this order, through the connector's stream consumer into a tracker."""
    counters = StreamCounters()
    tracker = tracker if tracker is not None else OrderTracker(clock=lambda: NOW)
    events: list[Event] = []

    def feed(kind: str, value: Any) -> list[Event]:
        if kind == "order":
            assert isinstance(value, OrderUpdate)
            out = tracker.process_order_update(value)
        else:
            assert kind == "trade" and isinstance(value, TradeUpdate)
            out = tracker.process_trade_update(value)
        events.extend(out)
        return out

    async def main() -> None:
        for channel, data in frames:
            tx, rx = trio.open_memory_channel[Any](1)
            tx.send_nowait(data)
            tx.close()
            await consume_user_channel(channel, rx, feed=feed, coin_to_pair={}, counters=counters,
                                       is_ours=lambda _t: True, clock=lambda: NOW)

    trio.run(main)
    return counters, tracker, events


@pytest.mark.parametrize("channel", hs.USER_CHANNELS)
@given(data=st.data())
def test_malformed_frames_are_counted_once_and_never_applied(channel: str, data: st.DataObject) -> None:
    frame = data.draw(hs.malformed_frames(channel))
    _json_round_trip(frame)
    counters, tracker, events = run_frames([(channel, frame)])
    assert (counters.frames, counters.malformed) == (1, 1)
    assert tracker.updates_processed == tracker.trades_processed == 0
    assert events == []


@given(hs.malformed_frames("orderStatus"))
def test_malformed_order_status_answers_are_refused(answer: Any) -> None:
    with pytest.raises(ProtocolError):
        parse_order_status_response(answer)


# ------------------------------------------------------------------------------------- (b) venue sequences


def replay(seq: hs.VenueSequence) -> tuple[StreamCounters, OrderTracker, list[Event]]:
    tracker = OrderTracker(clock=lambda: NOW)
    assert tracker.start_tracking(seq.tracked_order(created_at=NOW)) == []
    counters, tracker, events = run_frames([(f.channel, f.data) for f in seq.frames], tracker)
    return counters, tracker, events


def check_converged(seq: hs.VenueSequence, counters: StreamCounters, tracker: OrderTracker,
                    events: list[Event]) -> None:
    order = tracker.get(seq.cloid)
    assert order is not None
    assert order.state is seq.expected_state, (seq.statuses, seq.executed, seq.size)
    assert order.executed_amount == seq.executed
    assert order.overfill_amount == 0 and tracker.overfills == 0
    assert order.exchange_order_id == str(seq.oid)
    assert set(order.fills or {}) == {str(f.tid) for f in seq.fills}
    if seq.fills:
        assert order.fee == seq.total_fee
        assert order.notional == sum((f.price * f.size for f in seq.fills), Decimal(0))
    ours = [e for e in events if e.client_order_id == seq.cloid]
    assert not [e for e in ours if isinstance(e, OrderAnomaly)]
    # Every fill reported exactly once, however many times it was delivered.
    reported = [e.trade for e in ours if isinstance(e, OrderPartiallyFilled | LateFill)]
    reported += [e.trade for e in ours if isinstance(e, OrderFilled) and e.trade is not None]
    assert sorted(int(t.trade_id) for t in reported) == sorted(f.tid for f in seq.fills)
    terminal = [e for e in ours if isinstance(e, OrderFilled | OrderCancelled | OrderFailed)]
    expected_terminal = {OrderState.FILLED: OrderFilled, OrderState.CANCELED: OrderCancelled,
                         OrderState.FAILED: OrderFailed}.get(seq.expected_state)
    assert [type(e) for e in terminal] == ([expected_terminal] if expected_terminal else [])
    for e in terminal:
        if isinstance(e, OrderFilled):
            # The one event a strategy acts on must carry the whole truth, even if the status beat the fills.
            assert (e.executed_amount, e.average_price, e.total_fee) == (seq.size, seq.limit_price, seq.total_fee)
    assert counters.malformed == seq.malformed_count
    assert counters.unknown_status == 0


@given(hs.venue_sequences())
def test_venue_sequence_converges_to_the_hidden_truth(seq: hs.VenueSequence) -> None:
    assert seq.executed <= seq.size
    assert seq.malformed_count == 0
    check_converged(seq, *replay(seq))


@given(hs.venue_sequences(malformed=True, max_duplicates=2))
def test_venue_sequence_with_malformed_frames_still_converges(seq: hs.VenueSequence) -> None:
    check_converged(seq, *replay(seq))


@pytest.mark.parametrize("final", hs.DOCUMENTED_STATUSES)
def test_every_documented_final_status_converges(final: str) -> None:
    # A few examples each: the unpinned tests above already draw every status; this makes sure none is missed.
    @settings(max_examples=10)
    @given(hs.venue_sequences(final_status=final, other_orders=False, max_fills=3))
    def run(seq: hs.VenueSequence) -> None:
        assert seq.final_status == final
        check_converged(seq, *replay(seq))

    run()


@given(hs.venue_sequences())
def test_venue_sequence_truth_is_consistent(seq: hs.VenueSequence) -> None:
    outcome = hs.STATUS_OUTCOME[seq.final_status]
    if outcome is OrderState.FILLED:
        assert seq.executed == seq.size
    elif outcome is OrderState.FAILED:
        assert seq.fills == () and seq.statuses == (seq.final_status,)
    else:
        assert seq.executed < seq.size
    assert len({f.tid for f in seq.fills}) == len(seq.fills)
    # Every fact reaches the consumer on at least one channel.
    delivered = {f["tid"] for fr in seq.frames if fr.channel in ("userFills", "userEvents")
                 for f in fr.data.get("fills", []) if f["oid"] == seq.oid}
    assert delivered == {f.tid for f in seq.fills}
    statuses = {item["status"] for fr in seq.frames if fr.channel == "orderUpdates"
                for item in fr.data if item["order"]["oid"] == seq.oid}
    assert statuses == set(seq.statuses)
    for fr in seq.frames:
        envelope = json.loads(fr.ws_message())
        assert envelope["data"] == fr.data
        assert envelope["channel"] == ("user" if fr.channel == "userEvents" else fr.channel)


# --------------------------------------------------------------------------------------- (c) asset rules

#: What the refusal must say, per rule (the asset name is checked separately).
REFUSAL_WORDING = {
    "lot": "lot size",
    "min_notional": "minimum",
    "tick": "smallest valid price",
    "no_reference": "no reference price",
    "too_large": "too large",
}


def test_refusal_wording_covers_every_violation() -> None:
    assert set(REFUSAL_WORDING) == set(hs.ORDER_VIOLATIONS)


@given(hs.invalid_order_params())
def test_invalid_order_params_are_refused_at_the_call(case: hs.OrderCase) -> None:
    with pytest.raises(InvalidOrderError) as info:
        prepare_order(case.params, case.side, case.asset, reference_price=case.reference_price,
                      slippage=Decimal("0.05"))
    message = str(info.value)
    assert case.violation is not None
    assert REFUSAL_WORDING[case.violation] in message, message
    assert case.asset.name in message, message


@given(hs.valid_order_params())
def test_valid_order_params_pass_unchanged(case: hs.OrderCase) -> None:
    prep = prepare_order(case.params, case.side, case.asset, reference_price=None, slippage=Decimal("0.05"))
    assert (prep.amount, prep.price) == (case.params.amount, case.params.price)
    assert prep.amount * prep.price >= hs.MIN_NOTIONAL
    wire.format_size(prep.amount, case.asset.sz_decimals)
    wire.format_price(prep.price, case.asset.sz_decimals, case.asset.is_spot)


@given(asset=hs.asset_infos(), params=hs.order_params(), side=hs.sides,
       reference=st.none() | hs.prices())
def test_preparation_never_sends_an_off_grid_or_more_aggressive_order(
    asset: Any, params: OrderParams, side: Side, reference: Decimal | None
) -> None:
    try:
        prep = prepare_order(params, side, asset, reference_price=reference, slippage=Decimal("0.05"))
    except InvalidOrderError as exc:
        assert str(exc)
        return
    assert 0 < prep.amount <= params.amount
    assert wire.is_valid_size(prep.amount, asset.sz_decimals)
    assert wire.is_valid_price(prep.price, asset.sz_decimals, asset.is_spot)
    assert prep.amount * prep.price >= hs.MIN_NOTIONAL
    if params.price is not None and params.order_type is not OrderType.MARKET:
        assert prep.price <= params.price if side is Side.BUY else prep.price >= params.price


@given(data=st.data(), asset=hs.asset_infos())
def test_wire_formatters_follow_the_asset_rules(data: st.DataObject, asset: Any) -> None:
    szd, spot = asset.sz_decimals, asset.is_spot
    good_px, bad_px = data.draw(hs.valid_prices(asset)), data.draw(hs.invalid_prices(asset))
    good_sz, bad_sz = data.draw(hs.valid_sizes(asset)), data.draw(hs.invalid_sizes(asset))
    assert Decimal(wire.format_price(good_px, szd, spot)) == good_px
    assert Decimal(wire.format_size(good_sz, szd)) == good_sz
    assert wire.is_valid_price(good_px, szd, spot) and wire.is_valid_size(good_sz, szd)
    # The refusal names the offending value (and, within the 8 wire decimals, the rule it breaks).
    with pytest.raises(WireFormatError, match=re.escape(str(bad_px))):
        wire.format_price(bad_px, szd, spot)
    with pytest.raises(WireFormatError, match=re.escape(str(bad_sz))):
        wire.format_size(bad_sz, szd)
    assert not wire.is_valid_price(bad_px, szd, spot) and not wire.is_valid_size(bad_sz, szd)


@given(hs.invalid_order_param_kwargs())
def test_order_params_refuse_invalid_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidOrderError):
        OrderParams(**kwargs)


@given(hs.invalid_cloids())
def test_invalid_cloids_are_refused(cloid: Any) -> None:
    with pytest.raises(InvalidOrderError, match="client_order_id"):
        wire.validate_cloid(cloid)
