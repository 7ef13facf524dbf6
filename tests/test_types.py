"""core.types: order parameters are validated at construction with errors that name the parameter."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hl import InvalidOrderError, OrderParams, OrderState, OrderType, PositionAction, TimeInForce, TriggerKind


def test_limit_order_needs_price() -> None:
    with pytest.raises(InvalidOrderError, match="price is required"):
        OrderParams("BTC", Decimal("1"))


def test_float_amount_is_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidOrderError, match="amount must be a Decimal"):
        OrderParams("BTC", 0.1, Decimal("100"))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["0", "-1", "NaN", "Infinity", "abc"])
def test_amount_must_be_positive_finite(bad: str) -> None:
    with pytest.raises(InvalidOrderError, match="amount"):
        OrderParams("BTC", bad, Decimal("100"))  # type: ignore[arg-type]


def test_strings_and_ints_convert_exactly() -> None:
    p = OrderParams("BTC", "0.0010", 100)  # type: ignore[arg-type]
    assert p.amount == Decimal("0.0010") and p.price == Decimal(100)


def test_limit_maker_forces_alo_and_market_forces_ioc() -> None:
    assert OrderParams("BTC", Decimal(1), Decimal(1), order_type=OrderType.LIMIT_MAKER).tif is TimeInForce.ALO
    assert OrderParams("BTC", Decimal(1), order_type=OrderType.MARKET).tif is TimeInForce.IOC


def test_trigger_needs_trigger_fields() -> None:
    with pytest.raises(InvalidOrderError, match="trigger_price"):
        OrderParams("BTC", Decimal(1), order_type=OrderType.TRIGGER)
    p = OrderParams("BTC", Decimal(1), order_type=OrderType.TRIGGER, trigger_price=Decimal(90),
                    trigger_kind=TriggerKind.STOP_LOSS, position_action=PositionAction.CLOSE)
    assert p.reduce_only


def test_trigger_fields_on_a_limit_order_are_refused() -> None:
    with pytest.raises(InvalidOrderError, match="only apply to TRIGGER"):
        OrderParams("BTC", Decimal(1), Decimal(1), trigger_price=Decimal(2))


def test_empty_pair_refused() -> None:
    with pytest.raises(InvalidOrderError, match="pair"):
        OrderParams("", Decimal(1), Decimal(1))


def test_terminal_states() -> None:
    assert {s for s in OrderState if s.is_terminal} == {OrderState.CANCELED, OrderState.FILLED, OrderState.FAILED}


@given(st.decimals(min_value=Decimal("1e-8"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False))
def test_valid_decimals_round_trip_unchanged(d: Decimal) -> None:
    p = OrderParams("ETH", d, d)
    assert p.amount == d and p.price == d
