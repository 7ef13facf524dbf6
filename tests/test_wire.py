"""hyperliquid.wire: exact wire strings, the venue's tick/lot rules, cloids, and SDK key order of actions."""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import msgpack
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from trio_hl.core.types import Side, TimeInForce, TriggerKind
from trio_hl.errors import InvalidOrderError, WireFormatError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.wire import (
    approve_agent_action,
    batch_modify_action,
    cancel_action,
    cancel_by_cloid_action,
    exchange_body,
    floor_size,
    format_price,
    format_size,
    is_valid_price,
    is_valid_size,
    limit_order_type,
    market_price,
    modify_action,
    new_cloid,
    noop_action,
    order_action,
    order_wire,
    round_price,
    schedule_cancel_action,
    to_wire,
    trigger_order_type,
    update_isolated_margin_action,
    update_leverage_action,
    usd_class_transfer_action,
    usd_to_ntli,
    validate_cloid,
)

D = Decimal


# ----------------------------------------------------------------------------------------------- to_wire


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The SDK's observed float_to_wire outputs (PROTOCOL §3.3), as Decimals.
        ("0.0", "0"),
        ("1.0", "1"),
        ("100", "100"),
        ("1670.1", "1670.1"),
        ("0.0147", "0.0147"),
        ("1E-8", "0.00000001"),
        ("0.3", "0.3"),
        ("1E+20", "100000000000000000000"),
        ("12345678.0", "12345678"),
        ("-1.5", "-1.5"),
        # Decimal-specific forms.
        ("1670.10000", "1670.1"),
        ("1E+2", "100"),
        ("1.0E-7", "0.0000001"),
        ("0E-20", "0"),
        ("0E+5", "0"),
        ("1.000000000000", "1"),
        ("123.45678900", "123.456789"),
    ],
)
def test_to_wire_matches_sdk_form(value: str, expected: str) -> None:
    assert to_wire(D(value)) == expected


@pytest.mark.parametrize("value", ["-0", "-0.0", "-0E-12", "-0E+3", "-0.00000000"])
def test_to_wire_never_emits_negative_zero(value: str) -> None:
    assert to_wire(D(value)) == "0"


@pytest.mark.parametrize("value", ["1E-9", "0.000000001", "1.123456789", "-0.000000005", "1.5E-9"])
def test_to_wire_refuses_more_than_8_decimals(value: str) -> None:
    with pytest.raises(WireFormatError, match="at most 8"):
        to_wire(D(value))


@pytest.mark.parametrize("value", [1.5, 1, "1.5", None, True])
def test_to_wire_refuses_non_decimals(value: object) -> None:
    with pytest.raises(WireFormatError, match=r"must be a decimal\.Decimal"):
        to_wire(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity", "NaN123"])
def test_to_wire_refuses_non_finite(value: str) -> None:
    with pytest.raises(WireFormatError, match="finite"):
        to_wire(D(value))


def test_to_wire_refuses_absurd_magnitudes_without_formatting_them() -> None:
    with pytest.raises(WireFormatError, match="too large"):
        to_wire(D("1E+999999999"))
    with pytest.raises(WireFormatError, match="too large"):
        to_wire(D("1" * 40))


def test_to_wire_refuses_tiny_magnitudes_without_formatting_them() -> None:
    with pytest.raises(WireFormatError, match="more than 8 decimals"):
        to_wire(D("1E-999999"))
    assert to_wire(D("1.0E-8")) == "0.00000001"


def test_to_wire_is_a_wire_error_and_a_value_error() -> None:
    with pytest.raises(ValueError):
        to_wire(D("1E-9"))


wire_decimals = st.builds(lambda m, e: D(m).scaleb(e), st.integers(-(10**15), 10**15), st.integers(-12, 12))


@given(wire_decimals)
def test_to_wire_is_exact_or_raises(d: Decimal) -> None:
    try:
        s = to_wire(d)
    except WireFormatError:
        # Only raised when the value genuinely needs a 9th decimal.
        assert d.normalize().as_tuple().exponent < -8  # type: ignore[operator]
        return
    assert D(s) == d
    assert "E" not in s and "e" not in s
    assert s != "-0"
    if "." in s:
        assert not s.endswith("0") and not s.endswith(".")
        assert len(s.split(".")[1]) <= 8
    # Canonical: equal values give equal strings.
    assert to_wire(d.normalize()) == s


# ------------------------------------------------------------------------------------------ price rules


@pytest.mark.parametrize(
    ("px", "sz_decimals", "is_spot", "ok"),
    [
        # PROTOCOL §3.4 examples.
        ("1234.5", 0, False, True),
        ("1234.56", 0, False, False),
        ("0.001234", 0, False, True),
        ("0.0012345", 0, False, False),
        ("0.01234", 1, False, True),
        ("0.012345", 1, False, False),
        ("123456", 0, False, True),
        ("12345.6", 0, False, False),
        ("0.0001234", 0, True, True),
        ("0.0001234", 1, True, True),
        ("0.0001234", 3, True, False),
        # Integer prices are valid even where the decimals budget is negative.
        ("123456789", 7, False, True),
        ("1.5", 6, False, False),
        ("100.000", 5, False, True),
        ("0", 0, False, False),
        ("-1", 0, False, False),
        ("1E-9", 0, True, False),
    ],
)
def test_price_rule_examples(px: str, sz_decimals: int, is_spot: bool, ok: bool) -> None:
    assert is_valid_price(D(px), sz_decimals, is_spot) is ok
    if ok:
        assert D(format_price(D(px), sz_decimals, is_spot)) == D(px)
    else:
        with pytest.raises(WireFormatError, match=r"invalid price|at most 8"):
            format_price(D(px), sz_decimals, is_spot)


def test_format_price_error_names_rule_and_value() -> None:
    with pytest.raises(WireFormatError, match=r"invalid price 12345\.6: .*at most 5 significant figures, it has 6"):
        format_price(D("12345.6"), 0, False)
    with pytest.raises(WireFormatError, match=r"invalid price 0\.0012345: .*at most 6 decimals.*it has 7"):
        format_price(D("0.0012345"), 0, False)
    with pytest.raises(WireFormatError, match="> 0"):
        format_price(D("-0.5"), 0, False)


def test_sz_decimals_must_be_a_non_negative_int() -> None:
    with pytest.raises(InvalidOrderError, match="sz_decimals"):
        format_price(D("1"), -1, False)
    with pytest.raises(InvalidOrderError, match="sz_decimals"):
        floor_size(D("1"), 1.5)  # type: ignore[arg-type]


def _oracle_valid(px: Decimal, sz_decimals: int, is_spot: bool) -> bool:
    """The rule written independently, from the Decimal's digit tuple."""
    if px <= 0:
        return False
    n = px.normalize()
    _sign, digits, exp = n.as_tuple()
    assert isinstance(exp, int)
    if exp >= 0:
        return True
    decimals = -exp
    limit = (8 if is_spot else 6) - sz_decimals
    return decimals <= min(limit, 8) and len(digits) <= 5


positive_prices = st.builds(lambda m, e: D(m).scaleb(e), st.integers(1, 10**9), st.integers(-12, 4))
sz_decimals_st = st.integers(0, 8)


@given(positive_prices, sz_decimals_st, st.booleans())
def test_format_price_agrees_with_an_independent_rule(px: Decimal, sz_decimals: int, is_spot: bool) -> None:
    expected = _oracle_valid(px, sz_decimals, is_spot)
    assert is_valid_price(px, sz_decimals, is_spot) is expected
    if expected:
        assert D(format_price(px, sz_decimals, is_spot)) == px


def _oracle_round(px: Decimal, sz_decimals: int, is_spot: bool, up: bool) -> Decimal:
    """Nearest valid price below (or above) px by brute force over every decimal count."""
    candidates = []
    for k in range(9):
        q = D(1).scaleb(-k)
        c = px.quantize(q, rounding=ROUND_CEILING if up else ROUND_FLOOR)
        if c > 0 and _oracle_valid(c, sz_decimals, is_spot):
            candidates.append(c)
    return min(candidates) if up else max(candidates)


@given(positive_prices, sz_decimals_st, st.booleans(), st.sampled_from(list(Side)), st.booleans())
def test_round_price_properties(px: Decimal, sz_decimals: int, is_spot: bool, side: Side, aggressive: bool) -> None:
    up = (side is Side.BUY) == aggressive
    try:
        r = round_price(px, sz_decimals, is_spot, side=side, aggressive=aggressive)
    except WireFormatError as exc:
        assert not up and "below the smallest valid price" in str(exc)
        assert not any(
            _oracle_valid(c, sz_decimals, is_spot)
            for k in range(9)
            for c in [px.quantize(D(1).scaleb(-k), rounding=ROUND_FLOOR)]
        )
        return
    assert is_valid_price(r, sz_decimals, is_spot)
    if up:
        assert r >= px
    else:
        assert r <= px
    # Passive buy ≤ input, aggressive buy ≥ input, and the mirror for sells.
    if side is Side.BUY:
        assert (r <= px) if not aggressive else (r >= px)
    else:
        assert (r >= px) if not aggressive else (r <= px)
    assert r == _oracle_round(px, sz_decimals, is_spot, up)  # the *nearest* valid price that way
    assert round_price(r, sz_decimals, is_spot, side=side, aggressive=aggressive) == r  # idempotent
    if is_valid_price(px, sz_decimals, is_spot):
        assert r == px


@pytest.mark.parametrize(
    ("px", "side", "aggressive", "expected"),
    [
        ("12345.67", Side.BUY, False, "12345"),
        ("12345.67", Side.SELL, False, "12346"),
        ("123456.7", Side.BUY, True, "123457"),
        ("9.99995", Side.BUY, True, "10"),
        ("10.00049", Side.SELL, True, "10"),
        ("1.234567", Side.BUY, False, "1.2345"),
        ("1.234567", Side.SELL, False, "1.2346"),
    ],
)
def test_round_price_examples(px: str, side: Side, aggressive: bool, expected: str) -> None:
    assert round_price(D(px), 0, False, side=side, aggressive=aggressive) == D(expected)


def test_round_price_below_smallest_tick() -> None:
    # Perp with szDecimals=5 allows 1 decimal: 0.04 cannot be rounded down to a valid price.
    with pytest.raises(WireFormatError, match=r"below the smallest valid price 0\.1"):
        round_price(D("0.04"), 5, False, side=Side.BUY, aggressive=False)
    assert round_price(D("0.04"), 5, False, side=Side.SELL, aggressive=False) == D("0.1")


@pytest.mark.parametrize("bad", [D(0), D(-1), D("NaN")])
def test_round_price_refuses_non_positive(bad: Decimal) -> None:
    with pytest.raises(WireFormatError, match="> 0"):
        round_price(bad, 0, False, side=Side.BUY, aggressive=False)


def test_market_price_examples() -> None:
    assert market_price(D("100"), Side.BUY, D("0.05"), 2, False) == D("105")
    assert market_price(D("100"), Side.SELL, D("0.05"), 2, False) == D("95")
    # 1.23456 * 1.05 = 1.296288 -> aggressive buy rounds up to 1.2963 (5 sig figs)
    assert market_price(D("1.23456"), Side.BUY, D("0.05"), 0, False) == D("1.2963")
    with pytest.raises(WireFormatError, match="slippage"):
        market_price(D("100"), Side.BUY, D("1"), 2, False)
    with pytest.raises(WireFormatError, match="slippage"):
        market_price(D("100"), Side.BUY, D("-0.01"), 2, False)


@given(positive_prices, st.sampled_from(list(Side)), st.decimals(0, "0.5", places=4), sz_decimals_st, st.booleans())
def test_market_price_stays_beyond_the_slippage_bound(
    ref: Decimal, side: Side, slippage: Decimal, sz_decimals: int, is_spot: bool
) -> None:
    try:
        px = market_price(ref, side, slippage, sz_decimals, is_spot)
    except WireFormatError:
        assume(False)
        return
    assert is_valid_price(px, sz_decimals, is_spot)
    bound = ref * (1 + slippage) if side is Side.BUY else ref * (1 - slippage)
    assert (px >= bound) if side is Side.BUY else (px <= bound)


# ------------------------------------------------------------------------------------------- size rules


@pytest.mark.parametrize(
    ("sz", "sz_decimals", "ok"),
    [("1.001", 3, True), ("1.0001", 3, False), ("1.000", 0, True), ("5", 0, True), ("0", 2, False), ("-1", 2, False)],
)
def test_size_rule_examples(sz: str, sz_decimals: int, ok: bool) -> None:
    assert is_valid_size(D(sz), sz_decimals) is ok
    if not ok:
        with pytest.raises(WireFormatError, match="invalid size"):
            format_size(D(sz), sz_decimals)


sizes = st.builds(lambda m, e: D(m).scaleb(e), st.integers(0, 10**12), st.integers(-12, 3))


@given(sizes, sz_decimals_st)
def test_floor_size_never_rounds_up(sz: Decimal, sz_decimals: int) -> None:
    f = floor_size(sz, sz_decimals)
    step = D(1).scaleb(-sz_decimals)
    assert f <= sz
    assert sz - f < step
    assert f % step == 0
    if f > 0:
        assert D(format_size(f, sz_decimals)) == f
    if is_valid_size(sz, sz_decimals):
        assert f == sz


def test_floor_size_refuses_negative() -> None:
    with pytest.raises(WireFormatError, match=">= 0"):
        floor_size(D("-0.5"), 2)
    assert floor_size(D("0.009"), 2) == 0


# ---------------------------------------------------------------------------------------------- cloids


def test_new_cloid_shape_and_uniqueness() -> None:
    ids = [new_cloid() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for c in ids[:100]:
        assert validate_cloid(c) == c
        assert len(c) == 34 and c.startswith("0x") and c == c.lower()


def test_cloid_source_reseeds_after_fork_hook() -> None:
    before = new_cloid()
    wire._CLOIDS.reseed()  # what the after-fork hook does in a child
    after = new_cloid()
    assert before[:18] != after[:18]


def test_validate_cloid() -> None:
    assert validate_cloid("0x" + "AB" * 16) == "0x" + "ab" * 16
    for bad in ["0x1", "ab" * 17, "0x" + "g" * 32, "0x" + "0" * 33, 5, None, " 0x" + "0" * 32]:
        with pytest.raises(InvalidOrderError, match="32 hex digits"):
            validate_cloid(bad)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------- action builders


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(", ", ": "))


def test_order_action_matches_sdk_capture_byte_for_byte() -> None:
    # PROTOCOL §4.2, captured from the official SDK.
    o = order_wire(1, True, D("1100"), D("0.2"), False, limit_order_type("Gtc"), "0x00000000000000000000000000000001")
    action = order_action([o], builder={"b": "0x8C967E73E7B15087C42A10D344CFF4C96D877F1D", "f": 1})
    assert _dumps(action) == (
        '{"type": "order", "orders": [{"a": 1, "b": true, "p": "1100", "s": "0.2", "r": false, '
        '"t": {"limit": {"tif": "Gtc"}}, "c": "0x00000000000000000000000000000001"}], "grouping": "na", '
        '"builder": {"b": "0x8c967e73e7b15087c42a10d344cff4c96d877f1d", "f": 1}}'
    )


def test_trigger_order_matches_sdk_capture() -> None:
    o = order_wire(10001, False, D("12.5"), D("1.5"), True, trigger_order_type(D("12"), True, "sl"))
    assert _dumps(order_action([o])) == (
        '{"type": "order", "orders": [{"a": 10001, "b": false, "p": "12.5", "s": "1.5", "r": true, '
        '"t": {"trigger": {"isMarket": true, "triggerPx": "12", "tpsl": "sl"}}}], "grouping": "na"}'
    )
    assert trigger_order_type(D("12"), False, TriggerKind.TAKE_PROFIT)["trigger"]["tpsl"] == "tp"


def test_other_actions_match_sdk_captures() -> None:
    assert _dumps(cancel_action([(1, 123)])) == '{"type": "cancel", "cancels": [{"a": 1, "o": 123}]}'
    assert _dumps(cancel_by_cloid_action([(10000, "0x00000000000000000000000000000007")])) == (
        '{"type": "cancelByCloid", "cancels": [{"asset": 10000, "cloid": "0x00000000000000000000000000000007"}]}'
    )
    cloid = "0x00000000000000000000000000000001"
    modified = order_wire(1, True, D("1105"), D("0.1"), False, limit_order_type(TimeInForce.GTC), cloid)
    assert _dumps(batch_modify_action([(cloid, modified)])) == (
        '{"type": "batchModify", "modifies": [{"oid": "0x00000000000000000000000000000001", "order": '
        '{"a": 1, "b": true, "p": "1105", "s": "0.1", "r": false, "t": {"limit": {"tif": "Gtc"}}, '
        '"c": "0x00000000000000000000000000000001"}}]}'
    )
    assert list(modify_action(5, modified)) == ["type", "oid", "order"]
    assert _dumps(update_leverage_action(1, True, 21)) == (
        '{"type": "updateLeverage", "asset": 1, "isCross": true, "leverage": 21}'
    )
    assert _dumps(update_isolated_margin_action(1, True, usd_to_ntli(D("1.5")))) == (
        '{"type": "updateIsolatedMargin", "asset": 1, "isBuy": true, "ntli": 1500000}'
    )
    assert schedule_cancel_action(None) == {"type": "scheduleCancel"}
    assert list(schedule_cancel_action(1_700_000_000_000).items()) == [
        ("type", "scheduleCancel"),
        ("time", 1_700_000_000_000),
    ]
    assert noop_action() == {"type": "noop"}


def test_user_signed_action_key_orders() -> None:
    t = usd_class_transfer_action(D("1.5"), True, 1795294451219)
    assert list(t.items()) == [
        ("type", "usdClassTransfer"),
        ("amount", "1.5"),
        ("toPerp", True),
        ("nonce", 1795294451219),
    ]
    vault = "0x" + "ab" * 20
    assert usd_class_transfer_action(D("2"), False, 1, vault)["amount"] == f"2 subaccount:{vault}"
    agent = "0x652Dd10A0Ac0Df7D87683C2Df7A62C20d6B61E8B"
    a = approve_agent_action(agent, None, 7)
    assert list(a.items()) == [("type", "approveAgent"), ("agentAddress", agent), ("agentName", ""), ("nonce", 7)]
    assert approve_agent_action(agent, "bot", 7)["agentName"] == "bot"
    with pytest.raises(InvalidOrderError, match="agent_address"):
        approve_agent_action("0x123", None, 7)


def test_exchange_body_key_order_and_nulls() -> None:
    sig = {"r": "0x1", "s": "0x2", "v": 27}
    body = exchange_body(noop_action(), 5, sig, None, None)
    assert _dumps(body) == (
        '{"action": {"type": "noop"}, "nonce": 5, "signature": {"r": "0x1", "s": "0x2", "v": 27}, '
        '"vaultAddress": null, "expiresAfter": null}'
    )


def test_msgpack_of_order_action_is_stable() -> None:
    # The signing hash depends on these exact bytes: keys in insertion order, strings for numbers.
    o = order_wire(0, True, D("30000.0"), D("0.00100"), False, limit_order_type("Ioc"))
    packed = msgpack.packb(order_action([o]))
    assert packed == msgpack.packb(
        {
            "type": "order",
            "orders": [{"a": 0, "b": True, "p": "30000", "s": "0.001", "r": False, "t": {"limit": {"tif": "Ioc"}}}],
            "grouping": "na",
        }
    )


def test_builder_argument_validation() -> None:
    with pytest.raises(InvalidOrderError, match="tif"):
        limit_order_type("gtc")
    with pytest.raises(InvalidOrderError, match="tpsl"):
        trigger_order_type(D("1"), True, "stop")
    with pytest.raises(InvalidOrderError, match="grouping"):
        order_action([], grouping="bogus")
    with pytest.raises(InvalidOrderError, match="grouping"):
        order_action([], grouping={"p": "1"})  # type: ignore[dict-item]
    assert order_action([], grouping={"p": 3})["grouping"] == {"p": 3}
    assert order_action([], grouping="normalTpsl")["grouping"] == "normalTpsl"
    with pytest.raises(InvalidOrderError, match="builder"):
        order_action([], builder={"b": "0x1"})
    with pytest.raises(InvalidOrderError, match="builder fee"):
        order_action([], builder={"b": "0x" + "1" * 40, "f": -1})
    with pytest.raises(InvalidOrderError, match="leverage"):
        update_leverage_action(1, True, 0)
    with pytest.raises(InvalidOrderError, match="time_ms"):
        schedule_cancel_action(-5)
    with pytest.raises(WireFormatError, match="6 decimals"):
        usd_to_ntli(D("0.0000001"))
    with pytest.raises(WireFormatError, match=r"decimal\.Decimal"):
        order_wire(0, True, 1.5, D("1"), False, limit_order_type("Gtc"))  # type: ignore[arg-type]


@given(positive_prices, positive_prices, sz_decimals_st, st.booleans(), st.booleans())
def test_quantize_limit_is_floor_size_and_passive_round_price(
    amount: Decimal, px: Decimal, sz_decimals: int, is_spot: bool, is_buy: bool
) -> None:
    """The buy() path's one-step spelling gives exactly what the two checked functions give, and None exactly
    where one of them would refuse (its caller then lets that function raise the reason)."""
    side = Side.BUY if is_buy else Side.SELL
    size = floor_size(amount, sz_decimals)
    try:
        price: Decimal | None = round_price(px, sz_decimals, is_spot, side=side, aggressive=False)
    except WireFormatError:
        price = None
    got = wire.quantize_limit(amount, px, sz_decimals, is_spot, is_buy)
    if price is None or not size:
        assert got is None
    else:
        assert got is not None
        assert got == (size, price)
        assert (str(got[0]), str(got[1])) == (str(size), str(price))  # same exponent too, so the same wire text


def test_quantize_limit_refuses_what_the_checked_path_refuses() -> None:
    assert wire.quantize_limit(D("0.0001"), D(100), 2, False, True) is None  # floors to zero
    assert wire.quantize_limit(D(1), D("0.0000001"), 5, False, True) is None  # below the smallest tick
    assert wire.quantize_limit(D("1E+40"), D(100), 2, False, True) is None  # too large for the wire
    assert wire.quantize_limit(D(1), D("123456.7"), 2, False, False) == (D(1), D(123457))
