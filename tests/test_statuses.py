"""hyperliquid.statuses: every documented status maps to a state; error strings classify by their prefix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.types import OrderState
from trio_hl.errors import VenueRejectedError
from trio_hl.hyperliquid.nonce import NonceRegistry, NonceRejected
from trio_hl.hyperliquid.statuses import (
    ActionErrorKind,
    ActionRejectedError,
    RejectReason,
    VenueOrderStatus,
    classify_action_error,
    parse_order_error,
    parse_status,
    to_order_state,
)

# PROTOCOL §5, "Order status values", verbatim.
DOCUMENTED = [
    "open",
    "filled",
    "canceled",
    "triggered",
    "rejected",
    "marginCanceled",
    "vaultWithdrawalCanceled",
    "openInterestCapCanceled",
    "selfTradeCanceled",
    "reduceOnlyCanceled",
    "siblingFilledCanceled",
    "delistedCanceled",
    "liquidatedCanceled",
    "scheduledCancel",
    "tickRejected",
    "minTradeNtlRejected",
    "perpMarginRejected",
    "reduceOnlyRejected",
    "badAloPxRejected",
    "iocCancelRejected",
    "badTriggerPxRejected",
    "marketOrderNoLiquidityRejected",
    "positionIncreaseAtOpenInterestCapRejected",
    "positionFlipAtOpenInterestCapRejected",
    "tooAggressiveAtOpenInterestCapRejected",
    "openInterestIncreaseRejected",
    "insufficientSpotBalanceRejected",
    "oracleRejected",
    "perpMaxPositionRejected",
]


def test_every_documented_status_is_known_and_nothing_else() -> None:
    assert len(DOCUMENTED) == 29
    assert {s.value for s in VenueOrderStatus} - {"unknown"} == set(DOCUMENTED)
    for name in DOCUMENTED:
        assert parse_status(name).value == name


@pytest.mark.parametrize("name", DOCUMENTED)
def test_status_to_state(name: str) -> None:
    state = to_order_state(parse_status(name))
    if name in ("open", "triggered"):
        assert state is OrderState.OPEN
    elif name == "filled":
        assert state is OrderState.FILLED
    elif name in ("canceled", "scheduledCancel") or name.endswith("Canceled"):
        assert state is OrderState.CANCELED
    else:
        assert name == "rejected" or name.endswith("Rejected")
        assert state is OrderState.FAILED


@given(
    st.one_of(
        st.text(max_size=30), st.none(), st.integers(), st.lists(st.integers()), st.dictionaries(st.text(), st.text())
    )
)
def test_parse_status_never_raises(value: object) -> None:
    status = parse_status(value)
    if value not in DOCUMENTED:
        assert status is VenueOrderStatus.UNKNOWN
        assert to_order_state(status) is None


def test_case_matters_and_unknown_means_no_state_change() -> None:
    assert parse_status("Open") is VenueOrderStatus.UNKNOWN
    assert parse_status("unknown") is VenueOrderStatus.UNKNOWN
    assert to_order_state(VenueOrderStatus.UNKNOWN) is None


@pytest.mark.parametrize(
    ("message", "reason", "asset"),
    [
        ("Price must be divisible by tick size. asset=0", RejectReason.TICK, 0),
        ("Order must have minimum value of $10. asset=4", RejectReason.MIN_TRADE_NTL, 4),
        ("Order must have minimum value of 10 USDC. asset=10001", RejectReason.MIN_TRADE_NTL, 10001),
        ("Insufficient margin to place order. asset=1", RejectReason.PERP_MARGIN, 1),
        ("Reduce only order would increase position. asset=1", RejectReason.REDUCE_ONLY, 1),
        (
            "Post only order would have immediately matched, bbo was 1.2@3.4. asset=3",
            RejectReason.BAD_ALO_PX,
            3,
        ),
        ("Order could not immediately match against any resting orders. asset=2", RejectReason.IOC_CANCEL, 2),
        ("Invalid TP/SL price. asset=2", RejectReason.BAD_TRIGGER_PX, 2),
        ("No liquidity available for market order. asset=2", RejectReason.NO_LIQUIDITY, 2),
        ("Order would increase open interest while open interest is capped asset=5", RejectReason.OI_CAP, 5),
        (
            "Order rejected due to price more aggressive than oracle while at open interest cap asset=5",
            RejectReason.OI_CAP_TOO_AGGRESSIVE,
            5,
        ),
        ("Order would increase open interest too quickly asset=5", RejectReason.OI_INCREASE, 5),
        (
            "(Spot-only) Order has insufficient spot balance to trade",
            RejectReason.OTHER,
            None,
        ),
        ("Order has insufficient spot balance to trade asset=10000", RejectReason.INSUFFICIENT_SPOT_BALANCE, 10000),
        ("Order price too far from oracle asset=7", RejectReason.ORACLE, 7),
        (
            "Order would cause position to exceed margin tier limit at current leverage asset=0",
            RejectReason.MAX_POSITION,
            0,
        ),
        ("Order has invalid size. asset=0", RejectReason.INVALID_SIZE, 0),
        ("Order has invalid price. asset=0", RejectReason.INVALID_PRICE, 0),
        ("Order was never placed, already canceled, or filled. asset=1", RejectReason.MISSING_ORDER, 1),
        ("Order was never placed, already canceled, or filled.", RejectReason.MISSING_ORDER, None),
        ("Something new happened", RejectReason.OTHER, None),
        ("", RejectReason.OTHER, None),
    ],
)
def test_order_error_taxonomy(message: str, reason: RejectReason, asset: int | None) -> None:
    r = parse_order_error(message)
    assert r.reason is reason
    assert r.asset == asset
    assert r.message == message  # the venue's text is kept whole


def test_rejection_maps_to_its_venue_status() -> None:
    assert (
        parse_order_error("Price must be divisible by tick size. asset=0").venue_status
        is VenueOrderStatus.TICK_REJECTED
    )
    assert parse_order_error("Order has invalid size.").venue_status is VenueOrderStatus.REJECTED
    assert to_order_state(parse_order_error("Invalid TP/SL price.").venue_status) is OrderState.FAILED


@given(st.text(max_size=200))
def test_error_parsers_never_raise(text: str) -> None:
    assert parse_order_error(text).message == text
    assert classify_action_error(text).message == text


@pytest.mark.parametrize(
    ("message", "kind", "nonce", "floor", "retryable"),
    [
        ("Invalid nonce: duplicate nonce 1741107452532", ActionErrorKind.NONCE_DUPLICATE, 1741107452532, None, True),
        ("Invalid nonce: nonce too low 17 < 20", ActionErrorKind.NONCE_TOO_LOW, 17, 20, True),
        ("L1 error: Invalid nonce: nonce too low 17 < 20", ActionErrorKind.NONCE_TOO_LOW, 17, 20, True),
        ("Invalid nonce: nonce too far from current time 5", ActionErrorKind.NONCE_WINDOW, 5, None, False),
        ("User or API Wallet 0xabc does not exist.", ActionErrorKind.UNKNOWN_SIGNER, None, None, False),
        ("Must deposit before performing actions. User: 0xabc", ActionErrorKind.MUST_DEPOSIT, None, None, False),
        ("Unable to recover signer.", ActionErrorKind.SIGNATURE, None, None, False),
        (
            "Too many cumulative requests sent (10001 > 10000) for cumulative volume traded $0. Place taker orders.",
            ActionErrorKind.RATE_LIMITED,
            None,
            None,
            True,
        ),
        ("Action already expired", ActionErrorKind.EXPIRED, None, None, True),
        ("Request expired at 123", ActionErrorKind.EXPIRED, None, None, True),
        ("Insufficient balance for withdrawal.", ActionErrorKind.INSUFFICIENT_BALANCE, None, None, False),
        (
            "Cannot set scheduled cancel time until enough volume traded. Required: $1000000. Traded: $5.",
            ActionErrorKind.SCHEDULE_CANCEL_VOLUME,
            None,
            None,
            False,
        ),
        ("Something else", ActionErrorKind.OTHER, None, None, False),
    ],
)
def test_action_error_taxonomy(
    message: str, kind: ActionErrorKind, nonce: int | None, floor: int | None, retryable: bool
) -> None:
    e = classify_action_error(message)
    assert (e.kind, e.nonce, e.floor, e.retryable, e.message) == (kind, nonce, floor, retryable, message)


def test_nonce_registry_messages_classify_back() -> None:
    # The emulator's nonce strings and the connector's classifier must agree.
    reg = NonceRegistry(capacity=1, check_time_window=True)
    now = 1_700_000_000_000
    reg.accept("u", now, now)
    expectations = [
        (now, ActionErrorKind.NONCE_DUPLICATE),
        (now - 1, ActionErrorKind.NONCE_TOO_LOW),
        (1, ActionErrorKind.NONCE_WINDOW),
    ]
    for nonce, kind in expectations:
        with pytest.raises(NonceRejected) as info:
            reg.accept("u", nonce, now)
        parsed = classify_action_error(info.value.message)
        assert parsed.kind is kind and parsed.nonce == nonce


def test_action_rejected_error() -> None:
    err = ActionRejectedError(classify_action_error("Unable to recover signer."))
    assert isinstance(err, VenueRejectedError)
    assert err.kind is ActionErrorKind.SIGNATURE and err.message == "Unable to recover signer."


# Real venue texts (issue 16, PROTOCOL §4.3 / §8.4, public SDK issues quoting live answers), each also tried with
# the venue's variants: with and without " asset=N", and with the "L1 error: " prefix.
REAL_ORDER_ERRORS = [
    ("Order price cannot be more than 80% away from the reference price", RejectReason.PRICE_BAND),
    ("Order price cannot be more than 95% away from the reference price", RejectReason.PRICE_BAND),
    ("Order value too large. Max is $5000000.", RejectReason.MAX_ORDER_VALUE),
    ("Insufficient spot balance", RejectReason.INSUFFICIENT_SPOT_BALANCE),
    ("Order has insufficient spot balance to trade.", RejectReason.INSUFFICIENT_SPOT_BALANCE),
    ("Order has zero size.", RejectReason.INVALID_SIZE),
    ("Placing trigger orders is not enabled on spot trading yet.", RejectReason.UNSUPPORTED),
    ("Price too far from oracle", RejectReason.ORACLE),
    ("Order price too far from oracle", RejectReason.ORACLE),
    ("Order would increase open interest while capped.", RejectReason.OI_CAP),
    ("Order would increase open interest while open interest is capped", RejectReason.OI_CAP),
    ("Order rejected due to price more aggressive than oracle at cap.", RejectReason.OI_CAP_TOO_AGGRESSIVE),
    ("Order would exceed margin tier limit at current leverage.", RejectReason.MAX_POSITION),
    ("Cannot modify canceled or filled order.", RejectReason.MISSING_ORDER),
    ("Order must have minimum value of 10 USDC.", RejectReason.MIN_TRADE_NTL),
    ("Post only order would have immediately matched, bbo was 23.757@23.758.", RejectReason.BAD_ALO_PX),
]


@pytest.mark.parametrize(("text", "reason"), REAL_ORDER_ERRORS)
@pytest.mark.parametrize(("prefix", "suffix", "asset"), [("", "", None), ("", " asset=10000", 10000),
                                                          ("L1 error: ", " asset=4", 4), ("L1 error: ", "", None)])
def test_real_order_error_variants(text: str, reason: RejectReason, prefix: str, suffix: str,
                                   asset: int | None) -> None:
    message = prefix + text + suffix
    r = parse_order_error(message)
    assert (r.reason, r.asset, r.message) == (reason, asset, message)


def test_the_issue_spot_balance_refusal_is_a_spot_balance_refusal() -> None:
    r = parse_order_error("Insufficient spot balance asset=10000")
    assert r.reason is RejectReason.INSUFFICIENT_SPOT_BALANCE and r.asset == 10000
    assert r.venue_status is VenueOrderStatus.INSUFFICIENT_SPOT_BALANCE_REJECTED


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Vault not registered: 0x1234567890abcdef1234567890abcdef12345678", ActionErrorKind.VAULT_NOT_REGISTERED),
        ("L1 error: Vault not registered: 0xabc", ActionErrorKind.VAULT_NOT_REGISTERED),
        ("Action disabled when unified account is active.", ActionErrorKind.UNIFIED_ACCOUNT),
        ("Insufficient balance for token transfer.", ActionErrorKind.INSUFFICIENT_BALANCE),
        ("Insufficient balance for token transfer gas.", ActionErrorKind.INSUFFICIENT_BALANCE),
        ("L1 error: User or API Wallet 0xabc does not exist.", ActionErrorKind.UNKNOWN_SIGNER),
    ],
)
def test_real_action_errors(message: str, kind: ActionErrorKind) -> None:
    e = classify_action_error(message)
    assert (e.kind, e.retryable, e.message) == (kind, False, message)
