"""Event <-> JSON payload: exact round trips for every kind, the envelope fields, and refusal of bad input."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from event_samples import any_event, every_event_examples, example_event
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.events import (
    EVENT_KINDS,
    CancelRejected,
    HealthChanged,
    HealthIssue,
    ModifyRejected,
    OrderCreated,
    OrderEvent,
    OrderFilled,
)
from trio_hl.core.types import OrderState, OrderType, Side
from trio_hl.core.updates import TradeUpdate
from trio_hl.errors import ProtocolError
from trio_hl.events.schema import (
    SCHEMA_VERSION,
    EventRegistry,
    decode_message,
    decode_value,
    default_registry,
    encode_event,
    encode_message,
    topic_for,
)


def _frames(event: Any, seq: int = 1, registry: EventRegistry | None = None) -> list[bytes]:
    topic, payload = encode_message(event, seq=seq, publisher_id="p1", ts=1.5, venue="hyperliquid", registry=registry)
    return [topic, payload]


@pytest.mark.parametrize("event", every_event_examples(), ids=lambda e: type(e).__name__)
def test_every_kind_round_trips_with_its_topic(event: Any) -> None:
    frames = _frames(event, seq=7)
    entry = default_registry().for_class(type(event))
    kind, family = entry.kind, entry.family
    assert frames[0] == f"{family}.hyperliquid.{kind}".encode()
    message = decode_message(frames)
    assert (message.seq, message.publisher_id, message.kind, message.family, message.venue) == (
        7, "p1", kind, family, "hyperliquid")
    assert message.type_name == type(event).__name__
    assert message.timestamp == event.timestamp
    assert message.ts == 1.5
    decoded = message.to_event()
    assert decoded == event
    assert type(decoded) is type(event)


def test_payload_layout_is_the_documented_one() -> None:
    trade = TradeUpdate("T1", "BTC", Decimal("100.10"), Decimal("0.5"), Decimal("0.0100"), "USDC", 2.25,
                        client_order_id="c1", exchange_order_id="42", is_taker=True, side=Side.BUY)
    event = OrderFilled("c1", "BTC", 3.5, "42", Side.BUY, Decimal("1"), Decimal("1E+2"), Decimal("0.02"), trade)
    payload = json.loads(_frames(event, seq=3)[1])
    assert payload == {
        "v": SCHEMA_VERSION, "publisher": "p1", "seq": 3, "ts": 1.5, "family": "orders", "venue": "hyperliquid",
        "kind": "filled", "type": "OrderFilled", "timestamp": 3.5,
        "event": {
            "client_order_id": "c1", "pair": "BTC", "timestamp": 3.5, "exchange_order_id": "42", "side": "buy",
            "executed_amount": "1", "average_price": "1E+2", "total_fee": "0.02",
            "trade": {"trade_id": "T1", "pair": "BTC", "fill_price": "100.10", "fill_amount": "0.5",
                      "fee": "0.0100", "fee_asset": "USDC", "timestamp": 2.25, "client_order_id": "c1",
                      "exchange_order_id": "42", "is_taker": True, "side": "buy"},
        },
    }


@given(any_event())
def test_any_event_round_trips_exactly(event: Any) -> None:
    decoded = decode_message(_frames(event)).to_event()
    assert decoded == event
    # Decimal equality ignores representation; exactness means the same digits and exponent too
    for a in attrs.fields(type(event)):
        before, after = getattr(event, a.name), getattr(decoded, a.name)
        if isinstance(before, Decimal):
            assert before.as_tuple() == after.as_tuple()


def test_health_events_are_their_own_family() -> None:
    event = HealthChanged(2.5, False, (HealthIssue.WS_DISCONNECTED, HealthIssue.BOOK_STALE), ("BTC", "ETH"), 4)
    topic, payload = _frames(event)
    assert topic == b"health.hyperliquid.changed"
    assert json.loads(payload)["event"] == {
        "timestamp": 2.5, "trading_ready": False, "issues": ["ws_disconnected", "book_stale"],
        "stale_pairs": ["BTC", "ETH"], "ws_reconnects": 4, "client_order_id": "", "pair": "",
    }
    assert decode_message([topic, payload]).to_event() == event
    # a custom registry knows them too, and a health kind never shadows an order kind of the same name
    registry = EventRegistry()
    assert registry.for_class(HealthChanged).topic("hyperliquid") == "health.hyperliquid.changed"
    assert registry.for_name("orders", "changed") is None
    assert not event.can_quote("BTC") and not event.can_quote("SOL")
    ready = attrs.evolve(event, trading_ready=True, issues=(HealthIssue.BOOK_STALE,), stale_pairs=("BTC",))
    assert (ready.can_quote("BTC"), ready.can_quote("ETH")) == (False, True)


def test_a_new_family_registers_without_schema_changes() -> None:
    @attrs.frozen
    class PositionUpdate:
        pair: str
        size: Decimal
        entry_price: Decimal | None
        side: Side
        timestamp: float

    registry = EventRegistry()
    registry.register(PositionUpdate, "update", family="positions")
    event = PositionUpdate("ETH", Decimal("-1.500"), None, Side.SELL, 9.0)
    frames = _frames(event, registry=registry)
    assert frames[0] == b"positions.hyperliquid.update"
    message = decode_message(frames)
    assert message.family == "positions"
    assert message.to_event(registry) == event
    # order events are still known to a custom registry
    assert registry.for_class(OrderCreated).kind == "created"


def test_a_new_order_event_field_and_class_travel_generically() -> None:
    @attrs.frozen
    class OrderExpired(OrderEvent):
        exchange_order_id: str | None
        remaining: Decimal
        order_type: OrderType = OrderType.LIMIT

    registry = EventRegistry()
    registry.register(OrderExpired, "expired")
    event = OrderExpired("c9", "SOL", 1.0, None, Decimal("0.10"), OrderType.MARKET)
    assert decode_message(_frames(event, registry=registry)).to_event(registry) == event


def test_registry_refuses_misuse() -> None:
    registry = EventRegistry()

    class NotAttrs:
        pass

    with pytest.raises(TypeError, match="not an attrs class"):
        registry.register(NotAttrs, "x")
    with pytest.raises(TypeError, match="not a registered event class"):
        encode_message(TradeUpdate("t", "BTC", Decimal(1), Decimal(1), Decimal(0), "USDC", 1.0),
                       seq=1, publisher_id="p", ts=0.0, venue="hyperliquid", registry=registry)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(TradeUpdate, "created")
    with pytest.raises(ValueError, match="non-empty token"):
        registry.register(TradeUpdate, "a.b")


def test_unencodable_values_are_refused_loudly() -> None:
    event = example_event(OrderCreated)
    with pytest.raises(TypeError, match="cannot encode a object"):
        encode_message(attrs.evolve(event, pair=object()), seq=1, publisher_id="p", ts=0.0, venue="hyperliquid")


@pytest.mark.parametrize("change", [{"amount": Decimal("NaN")}, {"timestamp": float("inf")}])
def test_non_finite_numbers_never_decode(change: dict[str, Any]) -> None:
    """Not refused on the hot encode path (trio-hl never produces them), but no subscriber accepts them."""
    message = decode_message(_frames(attrs.evolve(example_event(OrderCreated), **change)))
    with pytest.raises(ProtocolError, match=r"non-finite|expected a number"):
        message.to_event()


def _valid_payload() -> dict[str, Any]:
    return json.loads(_frames(example_event(OrderCreated))[1])


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        ([b"orders.hyperliquid.created"], "expected 2 frames"),
        ([b"orders.hyperliquid.created", b"{not json"], "undecodable"),
        ([b"orders.hyperliquid.created", b"[1, 2]"], "Expected `object`"),
        ([b"orders.hyperliquid.created", json.dumps({**_valid_payload(), "v": 2}).encode()], "schema version 2"),
        ([b"orders.hyperliquid.created", json.dumps({"v": 2, "shape": "new"}).encode()], "schema version 2"),
        ([b"orders.hyperliquid.filled", json.dumps(_valid_payload()).encode()], "does not match"),
        ([b"orders.hyperliquid.created", json.dumps({**_valid_payload(), "seq": True}).encode()], r"\$\.seq"),
        ([b"orders.hyperliquid.created", json.dumps({**_valid_payload(), "seq": 0}).encode()], "seq must be"),
        ([b"orders.hyperliquid.created", json.dumps({**_valid_payload(), "seq": 2**64}).encode()], "seq"),
        ([b"orders.hyperliquid.created", json.dumps({**_valid_payload(), "publisher": None}).encode()], "publisher"),
        ([b"orders.hyperliquid.created", json.dumps({**_valid_payload(), "timestamp": "x"}).encode()], "timestamp"),
        ([b"\xff", b"{}"], "undecodable"),
    ],
)
def test_malformed_messages_raise_protocol_error(frames: list[bytes], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode_message(frames)


def test_field_type_mismatches_become_protocol_errors() -> None:
    payload = _valid_payload()
    payload["event"]["amount"] = 1.25  # a float where a Decimal string belongs: refused, never guessed
    message = decode_message([b"orders.hyperliquid.created", json.dumps(payload).encode()])
    with pytest.raises(ProtocolError, match=r"OrderCreated\.amount"):
        message.to_event()
    payload["event"]["amount"] = "1"
    payload["event"]["side"] = "sideways"
    with pytest.raises(ProtocolError, match="sideways"):
        decode_message([b"orders.hyperliquid.created", json.dumps(payload).encode()]).to_event()
    del payload["event"]["side"]
    with pytest.raises(ProtocolError, match=r"OrderCreated\.side missing"):
        decode_message([b"orders.hyperliquid.created", json.dumps(payload).encode()]).to_event()


def test_unknown_kind_decodes_as_message_but_not_as_event() -> None:
    payload = {**_valid_payload(), "family": "funding", "kind": "payment", "type": "FundingPayment"}
    message = decode_message([topic_for("funding", "hyperliquid", "payment").encode(), json.dumps(payload).encode()])
    assert message.kind == "payment"
    with pytest.raises(ProtocolError, match=r"unknown event kind funding\.payment"):
        message.to_event()


def test_decoding_ignores_unknown_fields_and_fills_defaults() -> None:
    event = example_event(OrderFilled)
    data = encode_event(event)
    data["added_in_a_later_version"] = {"x": 1}
    del data["trade"]  # has a default: an older publisher that did not send it
    assert decode_value(OrderFilled, data) == attrs.evolve(event, trade=None)


@given(st.lists(st.binary(max_size=64), max_size=3))
def test_arbitrary_frames_only_ever_raise_protocol_error(frames: list[bytes]) -> None:
    with contextlib.suppress(ProtocolError):
        decode_message(frames)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(event=any_event(), data=st.data())
def test_mutated_payloads_only_ever_raise_protocol_error(event: Any, data: st.DataObject) -> None:
    """A peer with a different idea of the schema: any field replaced by any JSON value, at any depth."""
    topic, payload = _frames(event)
    doc = json.loads(payload)
    target = doc if data.draw(st.booleans()) else doc["event"]
    target[data.draw(st.sampled_from(sorted(target)))] = data.draw(_json)
    with contextlib.suppress(ProtocolError):
        decode_message([topic, json.dumps(doc).encode()]).to_event()


def test_every_order_kind_is_documented() -> None:
    """The topic tables subscribers in other languages read (docs/EVENTS.md, and the list in the README)."""
    root = Path(__file__).parent.parent
    events_doc = (root / "docs" / "EVENTS.md").read_text()
    readme = (root / "README.md").read_text()
    for cls, kind in EVENT_KINDS.items():
        assert f"| `{kind}`" in events_doc and f"`{cls.__name__}`" in events_doc, kind
        assert f"`{kind}`" in readme, kind


def test_cancel_rejected_payload() -> None:
    event = CancelRejected("c1", "ETH", 5.25, "Order was never placed, already canceled, or filled. asset=1",
                           OrderState.PARTIALLY_FILLED, "77")
    frames = _frames(event, seq=9)
    assert frames[0] == b"orders.hyperliquid.cancel_rejected"
    payload = json.loads(frames[1])
    assert (payload["kind"], payload["type"]) == ("cancel_rejected", "CancelRejected")
    assert payload["event"] == {
        "client_order_id": "c1", "pair": "ETH", "timestamp": 5.25,
        "reason": "Order was never placed, already canceled, or filled. asset=1", "state": "partially_filled",
        "exchange_order_id": "77",
    }
    assert decode_message(frames).to_event() == event


def test_modify_rejected_payload() -> None:
    """The order as it still rests (``price``/``amount``) and the refused values under their own names, so that a
    subscriber copying same-named fields onto its order table never records the price the venue refused."""
    event = ModifyRejected("c1", "BTC", 5.25, "Too many cumulative requests sent (10051 > 10000)",
                           OrderState.OPEN, "77", Decimal("97000"), Decimal("0.0100"), Decimal("96990.5"),
                           Decimal("0.02"))
    frames = _frames(event, seq=9)
    assert frames[0] == b"orders.hyperliquid.modify_rejected"
    payload = json.loads(frames[1])
    assert (payload["kind"], payload["type"]) == ("modify_rejected", "ModifyRejected")
    assert payload["event"] == {
        "client_order_id": "c1", "pair": "BTC", "timestamp": 5.25,
        "reason": "Too many cumulative requests sent (10051 > 10000)", "state": "open", "exchange_order_id": "77",
        "price": "97000", "amount": "0.0100", "requested_price": "96990.5", "requested_amount": "0.02",
    }
    assert decode_message(frames).to_event() == event


def test_topic_and_payload_are_the_frames_whatever_the_payload_says() -> None:
    doc = {**_valid_payload(), "topic": "orders.other.created", "payload": "x",
           "(topic frame)": "orders.other.created", "(payload frame)": "AAAA"}
    payload = json.dumps(doc).encode()
    message = decode_message([b"orders.hyperliquid.created", payload])
    assert (message.topic, message.payload) == ("orders.hyperliquid.created", payload)
    assert "topic" not in message.event and message.seq == doc["seq"]
