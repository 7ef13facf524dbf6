"""RiskManager: every limit and its exact message, reduce-only relief, kill switch and its signal, run-time update,
the rate limit on an explicit clock, the exposure check of an instruction that is not an order (a venue TWAP), and
properties against an independent oracle (exact Fraction arithmetic)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core.risk import (
    LimitName,
    PairLimits,
    RiskBreach,
    RiskBreachError,
    RiskLimits,
    RiskManager,
    RiskStatistics,
)
from trio_hl.core.types import OrderType, Side
from trio_hl.errors import ConfigError, InvalidOrderError, RiskLimitError

D = Decimal
L = LimitName


def order(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of a harmless order: buy 1 BTC at 100, mid 100, flat, nothing resting."""
    kw: dict[str, Any] = {
        "pair": "BTC",
        "side": Side.BUY,
        "amount": D(1),
        "price": D(100),
        "reduce_only": False,
        "reference_price": D(100),
        "position": D(0),
        "open_orders_pair": 0,
        "open_orders_total": 0,
        "pending_same_side_amount": D(0),
        "now": 0.0,
    }
    kw.update(overrides)
    return kw


def refuse(rm: RiskManager, **overrides: Any) -> RiskBreach:
    with pytest.raises(RiskBreachError) as info:
        rm.check(**order(**overrides))
    return info.value.breach


def manager(default: PairLimits | None = None, **account: Any) -> RiskManager:
    return RiskManager(RiskLimits(default=default or PairLimits(), **account))


# -- each limit, its boundary and its exact message ------------------------------------------------------------


def test_no_limits_accepts_anything() -> None:
    rm = RiskManager()
    for _ in range(1000):
        rm.check(**order(amount=D(10**9), price=D(1), position=D(10**9), open_orders_pair=10**6))
    assert rm.statistics().accepted == 1000


@pytest.mark.parametrize(
    ("limits", "account", "overrides", "limit", "limit_value", "actual", "message"),
    [
        (
            PairLimits(max_order_size=D(5)), {}, {"amount": D("5.5")},
            L.MAX_ORDER_SIZE, D(5), D("5.5"),
            "max_order_size breached: amount 5.5 > limit 5 [BTC buy]",
        ),
        (
            PairLimits(max_order_notional=D(1000)), {}, {"amount": D(11), "price": D(100)},
            L.MAX_ORDER_NOTIONAL, D(1000), D(1100),
            "max_order_notional breached: notional 1100 > limit 1000 [BTC buy]",
        ),
        (
            PairLimits(price_band=D("0.05")), {}, {"price": D(106), "side": Side.SELL},
            L.PRICE_BAND, D("0.05"), D("0.06"),
            "price_band breached: price 106 deviates 0.06 from reference 100 > limit 0.05 [BTC sell]",
        ),
        (
            PairLimits(max_position=D(10)), {}, {"position": D(6), "pending_same_side_amount": D(3), "amount": D(2)},
            L.MAX_POSITION, D(10), D(11),
            "max_position breached: position 11 if this order and the buy orders resting (3) fill > limit 10 "
            "(current position 6) [BTC buy]",
        ),
        (
            PairLimits(), {"max_account_notional": D(5000)}, {"account_notional": D(4950), "amount": D(1)},
            L.MAX_ACCOUNT_NOTIONAL, D(5000), D(5050),
            "max_account_notional breached: account notional 5050 with this order > limit 5000 [BTC buy]",
        ),
        (
            PairLimits(max_open_orders=3), {}, {"open_orders_pair": 3},
            L.MAX_OPEN_ORDERS, 3, 4,
            "max_open_orders breached: 4 open orders on BTC with this one > limit 3 [BTC buy]",
        ),
        (
            PairLimits(), {"max_open_orders": 20}, {"open_orders_total": 20},
            L.MAX_OPEN_ORDERS_ACCOUNT, 20, 21,
            "max_open_orders_account breached: 21 open orders on the account with this one > limit 20 [BTC buy]",
        ),
        (
            PairLimits(), {"max_orders_per_second": 0}, {},
            L.MAX_ORDERS_PER_SECOND, 0, 1,
            "max_orders_per_second breached: 1 orders within 1 s with this one > limit 0 [BTC buy]",
        ),
    ],
    ids=lambda v: v.value if isinstance(v, LimitName) else None,
)
def test_each_limit_refuses_with_its_exact_message(
    limits: PairLimits,
    account: dict[str, Any],
    overrides: dict[str, Any],
    limit: LimitName,
    limit_value: Decimal | int,
    actual: Decimal | int,
    message: str,
) -> None:
    rm = manager(limits, **account)
    breach = refuse(rm, now=7.5, **overrides)
    assert breach == RiskBreach(
        pair="BTC",
        side=overrides.get("side", Side.BUY),
        limit=limit,
        limit_value=limit_value,
        actual_value=actual,
        message=message,
        timestamp=7.5,
    )
    assert message.startswith(limit.value)
    stats = rm.statistics()
    assert stats.breaches == {limit.value: 1}
    assert (stats.checks, stats.accepted, stats.refused) == (1, 0, 1)


def test_refusal_is_a_risk_limit_error_and_a_value_error() -> None:
    rm = manager(PairLimits(max_order_size=D(1)))
    with pytest.raises(RiskLimitError, match=r"^max_order_size breached: amount 2 > limit 1"):
        rm.check(**order(amount=D(2)))
    with pytest.raises(InvalidOrderError):
        rm.check(**order(amount=D(2)))
    with pytest.raises(ValueError):
        rm.check(**order(amount=D(2)))


def test_limits_are_inclusive_boundaries() -> None:
    """A value equal to its limit passes; only strictly beyond it is refused."""
    rm = manager(
        PairLimits(
            max_order_size=D(2), max_order_notional=D(200), max_position=D(5), max_open_orders=4,
            price_band=D("0.01"),
        ),
        max_open_orders=9, max_account_notional=D(1000), max_orders_per_second=1,
    )
    rm.check(**order(amount=D(2), price=D(99), reference_price=D(100), position=D(2), pending_same_side_amount=D(1),
                     open_orders_pair=3, open_orders_total=8, account_notional=D(802)))
    assert rm.statistics().accepted == 1


def test_sell_position_is_signed() -> None:
    rm = manager(PairLimits(max_position=D(10)))
    rm.check(**order(side=Side.SELL, position=D(9), amount=D(19)))  # ends at -10
    breach = refuse(rm, side=Side.SELL, position=D(-4), pending_same_side_amount=D(5), amount=D(2))
    assert (breach.limit, breach.actual_value) == (L.MAX_POSITION, D(11))
    # Resting orders on the *other* side never count toward the worst case.
    rm.check(**order(side=Side.BUY, position=D(-4), pending_same_side_amount=D(0), amount=D(14)))


def test_price_band_below_reference_and_limit_maker() -> None:
    rm = manager(PairLimits(price_band=D("0.10")))
    rm.check(**order(price=D(90)))
    breach = refuse(rm, price=D("89.9"), order_type=OrderType.LIMIT_MAKER)
    assert breach.limit is L.PRICE_BAND
    assert breach.actual_value == D("0.101")


def test_market_and_trigger_orders_skip_the_price_band() -> None:
    """A market order's price is derived from the book (plus slippage); a trigger order's is anchored to its
    trigger price.  Neither is a typed-in price a fat-finger band should judge."""
    rm = manager(PairLimits(price_band=D("0.01")))
    rm.check(**order(order_type=OrderType.MARKET, price=D(150)))
    rm.check(**order(order_type=OrderType.MARKET, price=D(150), reference_price=None))
    rm.check(**order(order_type=OrderType.TRIGGER, price=D(50)))
    assert refuse(rm, order_type=OrderType.LIMIT, price=D(150)).limit is L.PRICE_BAND


def test_limits_fail_closed_without_a_price() -> None:
    rm = manager(PairLimits(price_band=D("0.05")))
    breach = refuse(rm, reference_price=None)
    assert breach.message == (
        "price_band (limit 0.05) cannot be checked: no reference price for limit price 100 [BTC buy]"
    )
    assert breach.actual_value is None

    rm = manager(PairLimits(max_order_notional=D(1000)))
    rm.check(**order(order_type=OrderType.MARKET, price=None, reference_price=D(100), amount=D(10)))
    assert refuse(rm, order_type=OrderType.MARKET, price=None, reference_price=D(100), amount=D(11)).actual_value == (
        D(1100)
    )
    breach = refuse(rm, order_type=OrderType.MARKET, price=None, reference_price=None)
    assert breach.message == (
        "max_order_notional (limit 1000) cannot be checked: the order has no price and there is no reference "
        "price [BTC buy]"
    )

    rm = manager(max_account_notional=D(10**6))
    breach = refuse(rm)  # no account_notional given
    assert breach.message == (
        "max_account_notional (limit 1000000) cannot be checked: the caller gave no account_notional [BTC buy]"
    )
    breach = refuse(rm, account_notional=D(0), price=None, reference_price=None, order_type=OrderType.MARKET)
    assert breach.message == (
        "max_account_notional (limit 1000000) cannot be checked: the order has no price and there is no "
        "reference price [BTC buy]"
    )


# -- reduce-only relief ------------------------------------------------------------------------------------------


def test_reducing_orders_pass_when_the_position_limit_is_hit() -> None:
    rm = manager(PairLimits(max_position=D(10)), max_account_notional=D(1000))
    big_long = {"position": D(15), "account_notional": D(5000)}  # over both limits (e.g. limits were lowered)
    assert refuse(rm, side=Side.BUY, **big_long).limit is L.MAX_POSITION
    # reduce_only: the venue clips it, it can only shrink the position, whatever its size.
    rm.check(**order(side=Side.SELL, reduce_only=True, amount=D(40), **big_long))
    # Opposite side, no larger than the position (counting the resting sells): allowed even without the flag.
    rm.check(**order(side=Side.SELL, amount=D(15), **big_long))
    rm.check(**order(side=Side.SELL, amount=D(5), pending_same_side_amount=D(10), **big_long))
    # ... but not one that could flip the position once everything on that side fills.
    breach = refuse(rm, side=Side.SELL, amount=D(16), pending_same_side_amount=D(10), **big_long)
    assert (breach.limit, breach.actual_value) == (L.MAX_POSITION, D(11))
    # Same for a short.
    rm.check(**order(side=Side.BUY, amount=D(15), position=D(-15), account_notional=D(5000)))
    # One that flips the short is not reducing: the position (1) is fine, but the account is over its notional.
    breach = refuse(rm, side=Side.BUY, amount=D(16), position=D(-15), account_notional=D(5000))
    assert (breach.limit, breach.actual_value) == (L.MAX_ACCOUNT_NOTIONAL, D(6600))


def test_reduce_only_still_obeys_fat_finger_counts_and_rate() -> None:
    """Only the exposure limits relax for reducing orders; runaway code is just as likely to be closing."""
    rm = manager(PairLimits(max_order_size=D(1), max_open_orders=1), max_orders_per_second=1)
    reducing = {"side": Side.SELL, "reduce_only": True, "position": D(50)}
    assert refuse(rm, amount=D(2), **reducing).limit is L.MAX_ORDER_SIZE
    assert refuse(rm, open_orders_pair=1, **reducing).limit is L.MAX_OPEN_ORDERS
    rm.check(**order(now=0.0, **reducing))
    assert refuse(rm, now=0.5, **reducing).limit is L.MAX_ORDERS_PER_SECOND


# -- kill switch -------------------------------------------------------------------------------------------------


def test_kill_switch_refuses_everything_until_released() -> None:
    rm = RiskManager()
    assert not rm.killed
    rm.engage_kill_switch("drawdown 5%")
    assert rm.killed and rm.kill_reason == "drawdown 5%"
    breach = refuse(rm, now=3.0)
    assert breach == RiskBreach(
        pair="BTC",
        side=Side.BUY,
        limit=L.KILL_SWITCH,
        limit_value=None,
        actual_value=None,
        message="kill_switch engaged (drawdown 5%): new orders are refused until it is released [BTC buy]",
        timestamp=3.0,
    )
    assert refuse(rm, side=Side.SELL, reduce_only=True, position=D(1)).limit is L.KILL_SWITCH
    stats = rm.statistics()
    assert (stats.killed, stats.kill_reason, stats.breaches) == (True, "drawdown 5%", {"kill_switch": 2})
    rm.release_kill_switch()
    assert not rm.killed and rm.kill_reason is None
    rm.check(**order())
    with pytest.raises(ValueError, match="non-empty reason"):
        rm.engage_kill_switch("")


def test_kill_switch_refusals_do_not_use_the_rate_budget() -> None:
    rm = manager(max_orders_per_second=1)
    rm.engage_kill_switch("test")
    for _ in range(5):
        refuse(rm, now=0.0)
    rm.release_kill_switch()
    rm.check(**order(now=0.0))


# -- rate limit --------------------------------------------------------------------------------------------------


def test_rate_limit_is_a_sliding_window_over_accepted_orders() -> None:
    rm = manager(max_orders_per_second=3)
    for t in (10.0, 10.25, 10.5):
        rm.check(**order(now=t))
    breach = refuse(rm, now=10.75)
    assert breach.message == "max_orders_per_second breached: 4 orders within 1 s with this one > limit 3 [BTC buy]"
    refuse(rm, now=10.9375)
    rm.check(**order(now=11.0))  # the window is (now - 1, now]: 10.0 has just left it
    refuse(rm, now=11.125)  # 10.25, 10.5 and 11.0 are in it
    rm.check(**order(now=11.25))  # 10.25 left
    # Refused attempts were never counted: only 11.0 and 11.25 are in (10.5625, 11.5625].
    rm.check(**order(now=11.5625))
    stats = rm.statistics()
    assert (stats.accepted, stats.breaches, stats.recent_orders) == (6, {"max_orders_per_second": 3}, 3)


def test_rate_limit_counts_only_orders_that_pass_every_limit() -> None:
    rm = manager(PairLimits(max_order_size=D(1)), max_orders_per_second=2)
    for _ in range(10):
        refuse(rm, amount=D(5), now=0.0)
    rm.check(**order(now=0.0))
    rm.check(**order(now=0.0))
    assert refuse(rm, now=0.0).limit is L.MAX_ORDERS_PER_SECOND


# -- run-time update and per-pair overrides ----------------------------------------------------------------------


def test_update_swaps_limits_at_run_time() -> None:
    rm = manager(PairLimits(max_order_size=D(10)))
    rm.check(**order(amount=D(5)))
    new = RiskLimits(default=PairLimits(max_order_size=D(4)))
    rm.update(new)
    assert rm.limits is new
    assert refuse(rm, amount=D(5)).limit_value == D(4)
    rm.update(RiskLimits())
    rm.check(**order(amount=D(10**6)))
    with pytest.raises(ConfigError):
        rm.update("nope")  # type: ignore[arg-type]
    assert rm.limits == RiskLimits()


def test_update_keeps_the_rate_history() -> None:
    rm = manager(max_orders_per_second=5)
    for t in (0.0, 0.125, 0.25, 0.375):
        rm.check(**order(now=t))
    rm.update(RiskLimits(max_orders_per_second=2))  # already 4 in the window: refused at once
    assert refuse(rm, now=0.5).limit_value == 2
    rm.check(**order(now=1.25))  # the window is (0.25, 1.25]: 0.25 is out, 0.375 still in
    rm.update(RiskLimits(max_orders_per_second=None))
    for _ in range(100):
        rm.check(**order(now=1.25))
    rm.update(RiskLimits(max_orders_per_second=1))  # enabled afresh: counts from now
    rm.check(**order(now=1.25))
    refuse(rm, now=1.25)


def test_per_pair_overrides_merge_field_by_field() -> None:
    limits = RiskLimits(
        default=PairLimits(max_order_size=D(10), max_position=D(100)),
        per_pair={"ETH": PairLimits(max_position=D(5)), "SOL": PairLimits(max_order_size=D(10**6))},
    )
    assert limits.for_pair("ETH") == PairLimits(max_order_size=D(10), max_position=D(5))
    assert limits.for_pair("BTC") is limits.default
    rm = RiskManager(limits)
    assert refuse(rm, pair="ETH", amount=D(6)).limit is L.MAX_POSITION
    assert refuse(rm, pair="ETH", amount=D(11)).limit is L.MAX_ORDER_SIZE  # inherited from the default
    rm.check(**order(pair="BTC", amount=D(6)))
    rm.check(**order(pair="SOL", amount=D(50)))  # lifted by an explicit generous value
    with pytest.raises(TypeError):
        limits.per_pair["BTC"] = PairLimits()  # type: ignore[index]


def test_first_breached_limit_in_documented_order_is_reported() -> None:
    rm = manager(PairLimits(max_order_size=D(1), max_open_orders=0))
    breach = refuse(rm, amount=D(2))
    assert breach.limit is L.MAX_ORDER_SIZE
    assert rm.statistics().breaches == {"max_order_size": 1}


# -- configuration values ----------------------------------------------------------------------------------------


def test_limits_convert_and_validate() -> None:
    assert PairLimits(max_order_size="1.5", max_position=3).max_order_size == D("1.5")
    assert PairLimits(max_position=3).max_position == D(3)
    with pytest.raises(ConfigError, match=r"^max_position must be a Decimal, int or numeric string, got float"):
        PairLimits(max_position=1.0)
    with pytest.raises(ConfigError, match="price_band must be a finite number >= 0"):
        PairLimits(price_band=D(-1))
    with pytest.raises(ConfigError, match="max_order_notional must be a finite number"):
        PairLimits(max_order_notional=D("Infinity"))
    with pytest.raises(ConfigError, match=r"^max_open_orders must be an int >= 0, got True"):
        PairLimits(max_open_orders=True)
    with pytest.raises(ConfigError, match="max_orders_per_second must be an int >= 0"):
        RiskLimits(max_orders_per_second=-1)
    with pytest.raises(ConfigError, match="per_pair"):
        RiskLimits(per_pair={"BTC": {"max_position": 1}})  # type: ignore[dict-item]


def test_statistics_is_a_frozen_snapshot() -> None:
    rm = manager(PairLimits(max_order_size=D(1)))
    refuse(rm, amount=D(2))
    stats = rm.statistics()
    refuse(rm, amount=D(2))
    assert stats.breaches == {"max_order_size": 1}
    assert rm.statistics().breaches == {"max_order_size": 2}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.checks = 0  # type: ignore[misc]
    assert isinstance(stats, RiskStatistics)


# -- property: check raises iff the oracle finds a violated limit ------------------------------------------------

PAIRS = ("BTC", "ETH")
_amounts = st.decimals(min_value=D("0.01"), max_value=D(20), places=2)
_prices = st.decimals(min_value=D(1), max_value=D(200), places=2)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


_pair_limits = st.builds(
    PairLimits,
    max_order_size=_optional(st.decimals(min_value=0, max_value=20, places=2)),
    max_order_notional=_optional(st.decimals(min_value=0, max_value=2000, places=1)),
    max_position=_optional(st.decimals(min_value=0, max_value=40, places=2)),
    max_open_orders=_optional(st.integers(0, 6)),
    price_band=_optional(st.decimals(min_value=0, max_value=D("0.5"), places=3)),
)
_risk_limits = st.builds(
    RiskLimits,
    default=_pair_limits,
    per_pair=st.dictionaries(st.sampled_from(PAIRS), _pair_limits, max_size=2),
    max_open_orders=_optional(st.integers(0, 8)),
    max_orders_per_second=_optional(st.integers(0, 4)),
    max_account_notional=_optional(st.decimals(min_value=0, max_value=20000, places=0)),
)


@st.composite
def _steps(draw: st.DrawFn) -> dict[str, Any]:
    order_type = draw(st.sampled_from(OrderType))
    price = draw(_optional(_prices)) if order_type in (OrderType.MARKET, OrderType.TRIGGER) else draw(_prices)
    return {
        "killed": draw(st.integers(0, 5)) == 0,  # mostly live, so the other limits get exercised
        # Ticks of 1/16 s: exact in binary, so float clock arithmetic is exact and the oracle can use Fractions.
        "dt": draw(st.integers(0, 12)) / 16,
        "kw": {
            "pair": draw(st.sampled_from(PAIRS)),
            "side": draw(st.sampled_from(Side)),
            "amount": draw(_amounts),
            "price": price,
            "reduce_only": draw(st.booleans()),
            "reference_price": draw(_optional(_prices)),
            "position": draw(st.decimals(min_value=-40, max_value=40, places=2)),
            "open_orders_pair": draw(st.integers(0, 8)),
            "open_orders_total": draw(st.integers(0, 10)),
            "pending_same_side_amount": draw(st.decimals(min_value=0, max_value=20, places=2)),
            "order_type": order_type,
            "account_notional": draw(_optional(st.decimals(min_value=0, max_value=20000, places=2))),
        },
    }


def _field(limits: RiskLimits, pair: str, name: str) -> Any:
    override = limits.per_pair.get(pair)
    value = None if override is None else getattr(override, name)
    return getattr(limits.default, name) if value is None else value


def _oracle(limits: RiskLimits, killed: bool, accepted: list[float], now: float, kw: Mapping[str, Any]) -> set[str]:
    """Every limit this order violates, from the rules as written, in exact rational arithmetic."""
    def f(x: Any) -> Fraction | None:
        return None if x is None else Fraction(x)

    pair, side = kw["pair"], kw["side"]
    amount, price, ref = f(kw["amount"]), f(kw["price"]), f(kw["reference_price"])
    position, pending = Fraction(kw["position"]), Fraction(kw["pending_same_side_amount"])
    assert amount is not None
    violated: set[str] = set()
    if killed:
        violated.add("kill_switch")
    size = f(_field(limits, pair, "max_order_size"))
    if size is not None and amount > size:
        violated.add("max_order_size")
    px = price if price is not None else ref
    notional = None if px is None else amount * px
    cap = f(_field(limits, pair, "max_order_notional"))
    if cap is not None and (notional is None or notional > cap):
        violated.add("max_order_notional")
    band = f(_field(limits, pair, "price_band"))
    if (
        band is not None
        and price is not None
        and kw["order_type"] in (OrderType.LIMIT, OrderType.LIMIT_MAKER)
        and (ref is None or abs(price - ref) / ref > band)
    ):
        violated.add("price_band")
    direction = 1 if side is Side.BUY else -1
    opposite = position * direction < 0
    reducing = kw["reduce_only"] or (opposite and amount + pending <= abs(position))
    max_pos = f(_field(limits, pair, "max_position"))
    if not reducing and max_pos is not None and abs(position + direction * (pending + amount)) > max_pos:
        violated.add("max_position")
    acct_cap = f(limits.max_account_notional)
    acct = f(kw["account_notional"])
    if not reducing and acct_cap is not None and (acct is None or notional is None or acct + notional > acct_cap):
        violated.add("max_account_notional")
    max_open = _field(limits, pair, "max_open_orders")
    if max_open is not None and kw["open_orders_pair"] + 1 > max_open:
        violated.add("max_open_orders")
    if limits.max_open_orders is not None and kw["open_orders_total"] + 1 > limits.max_open_orders:
        violated.add("max_open_orders_account")
    rate = limits.max_orders_per_second
    if rate is not None:
        in_window = sum(1 for t in accepted if Fraction(now) - 1 < Fraction(t) <= Fraction(now))
        if in_window + 1 > rate:
            violated.add("max_orders_per_second")
    return violated


@given(limits=_risk_limits, steps=st.lists(_steps(), min_size=1, max_size=25))
def test_check_raises_iff_some_limit_is_violated(limits: RiskLimits, steps: list[dict[str, Any]]) -> None:
    rm = RiskManager(limits)
    accepted: list[float] = []
    refusals: dict[str, int] = {}
    now = 100.0
    for step in steps:
        now += step["dt"]
        if step["killed"]:
            rm.engage_kill_switch("property")
        else:
            rm.release_kill_switch()
        violated = _oracle(limits, step["killed"], accepted, now, step["kw"])
        try:
            rm.check(now=now, **step["kw"])
        except RiskBreachError as exc:
            assert violated, f"refused by {exc.breach.limit} but the oracle finds no violation"
            assert exc.breach.limit.value in violated
            assert str(exc) == exc.breach.message and exc.breach.message.startswith(exc.breach.limit.value)
            assert exc.breach.timestamp == now
            refusals[exc.breach.limit.value] = refusals.get(exc.breach.limit.value, 0) + 1
        else:
            assert not violated, f"accepted but the oracle finds {sorted(violated)} violated"
            accepted.append(now)
    stats = rm.statistics()
    assert stats.accepted == len(accepted)
    assert stats.checks == len(steps)
    assert stats.breaches == refusals


# -- kill signal -------------------------------------------------------------------------------------------------


def test_a_kill_signal_sees_every_engagement_after_it_was_taken_even_if_released_since() -> None:
    rm = RiskManager()
    before = rm.kill_signal()
    assert not before.is_set()
    rm.engage_kill_switch("drawdown")
    assert before.is_set()
    assert rm.kill_signal().is_set()  # taken while engaged: already set
    rm.engage_kill_switch("again")  # engaging again changes nothing for the holders
    rm.release_kill_switch()
    assert before.is_set()  # a released switch never clears a signal: its holder saw a kill
    after = rm.kill_signal()
    assert not after.is_set()  # a fresh watch after the release
    rm.release_kill_switch()  # releasing a released switch does not replace it again
    rm.engage_kill_switch("third")
    assert after.is_set()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        after._event = None  # type: ignore[misc]


async def test_waiting_on_a_kill_signal_returns_when_the_switch_engages() -> None:
    rm = RiskManager()
    signal = rm.kill_signal()
    woken: list[bool] = []

    async def waiter() -> None:
        await signal.wait()
        woken.append(rm.killed)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        rm.engage_kill_switch("test")
    assert woken == [True]
    with trio.fail_after(1):
        await signal.wait()  # set: returns at once


# -- prospective exposure (a venue-run TWAP) ---------------------------------------------------------------------


def exposure(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of a harmless instruction: buy 1 BTC, mid 100, flat, nothing resting."""
    kw: dict[str, Any] = {
        "pair": "BTC",
        "side": Side.BUY,
        "amount": D(1),
        "reduce_only": False,
        "reference_price": D(100),
        "position": D(0),
        "pending_same_side_amount": D(0),
        "now": 0.0,
    }
    kw.update(overrides)
    return kw


def refuse_exposure(rm: RiskManager, **overrides: Any) -> RiskBreach:
    with pytest.raises(RiskBreachError) as info:
        rm.check_exposure(**exposure(**overrides))
    return info.value.breach


@pytest.mark.parametrize(
    ("limits", "account", "overrides", "limit", "limit_value", "actual", "message"),
    [
        (
            PairLimits(max_order_size=D(5)), {}, {"amount": D("5.5")},
            L.MAX_ORDER_SIZE, D(5), D("5.5"),
            "max_order_size breached: amount 5.5 > limit 5 [BTC buy]",
        ),
        (
            PairLimits(max_order_notional=D(1000)), {}, {"amount": D(11)},
            L.MAX_ORDER_NOTIONAL, D(1000), D(1100),
            "max_order_notional breached: notional 1100 > limit 1000 [BTC buy]",
        ),
        (
            PairLimits(max_position=D(10)), {}, {"position": D(6), "pending_same_side_amount": D(3), "amount": D(2)},
            L.MAX_POSITION, D(10), D(11),
            "max_position breached: position 11 if this instruction and the buy orders resting (3) fill > limit 10 "
            "(current position 6) [BTC buy]",
        ),
        (
            PairLimits(), {"max_account_notional": D(5000)}, {"account_notional": D(4950), "amount": D(1)},
            L.MAX_ACCOUNT_NOTIONAL, D(5000), D(5050),
            "max_account_notional breached: account notional 5050 with this instruction > limit 5000 [BTC buy]",
        ),
    ],
    ids=lambda v: v.value if isinstance(v, LimitName) else None,
)
def test_check_exposure_applies_the_order_rules_to_the_whole_amount(
    limits: PairLimits,
    account: dict[str, Any],
    overrides: dict[str, Any],
    limit: LimitName,
    limit_value: Decimal,
    actual: Decimal,
    message: str,
) -> None:
    rm = manager(limits, **account)
    breach = refuse_exposure(rm, now=7.5, **overrides)
    assert breach == RiskBreach(pair="BTC", side=Side.BUY, limit=limit, limit_value=limit_value,
                                actual_value=actual, message=message, timestamp=7.5)
    stats = rm.statistics()
    assert (stats.checks, stats.accepted, stats.refused, stats.breaches) == (1, 0, 1, {limit.value: 1})


def test_check_exposure_refuses_while_killed_and_fails_closed_without_a_mid() -> None:
    rm = RiskManager()
    rm.engage_kill_switch("drawdown")
    breach = refuse_exposure(rm, side=Side.SELL, reduce_only=True, position=D(3))
    assert breach.limit is L.KILL_SWITCH
    assert breach.message == (
        "kill_switch engaged (drawdown): new orders are refused until it is released [BTC sell]"
    )
    rm = manager(PairLimits(max_order_notional=D(10**6)))
    assert refuse_exposure(rm, reference_price=None).limit is L.MAX_ORDER_NOTIONAL
    rm = manager(max_account_notional=D(10**6))
    assert refuse_exposure(rm, account_notional=D(0), reference_price=None).message == (
        "max_account_notional (limit 1000000) cannot be checked: the instruction has no price and there is no "
        "reference price [BTC buy]"
    )


def test_check_exposure_relieves_reducing_instructions_like_orders() -> None:
    rm = manager(PairLimits(max_position=D(10)))
    rm.check_exposure(**exposure(side=Side.SELL, reduce_only=True, amount=D(40), position=D(15)))
    rm.check_exposure(**exposure(side=Side.SELL, amount=D(15), position=D(15)))
    assert refuse_exposure(rm, side=Side.SELL, amount=D(16), pending_same_side_amount=D(10),
                           position=D(15)).actual_value == D(11)


def test_check_exposure_skips_band_counts_and_rate_and_does_not_use_the_rate_budget() -> None:
    """No typed-in price, nothing resting on the book, not an order: those limits are about orders."""
    rm = manager(PairLimits(price_band=D(0), max_open_orders=0), max_open_orders=0, max_orders_per_second=0)
    rm.check_exposure(**exposure(reference_price=D(1)))
    assert rm.statistics().accepted == 1
    rm = manager(max_orders_per_second=1)
    for _ in range(5):
        rm.check_exposure(**exposure(now=0.0))
    assert rm.statistics().recent_orders == 0
    rm.check(**order(now=0.0))  # the one order the rate allows in this second
    assert rm.statistics().accepted == 6


@given(limits=_risk_limits, steps=st.lists(_steps(), min_size=1, max_size=25))
def test_check_exposure_raises_iff_an_exposure_limit_is_violated(
    limits: RiskLimits, steps: list[dict[str, Any]]
) -> None:
    """Against the oracle: an instruction is an unpriced order of its whole amount, with no count or rate limit -
    and it is refused by the same limit, value and actual figure ``check`` reports for that order."""
    exposure_only = RiskLimits(
        default=attrs.evolve(limits.default, max_open_orders=None, price_band=None),
        per_pair={p: attrs.evolve(lim, max_open_orders=None, price_band=None) for p, lim in limits.per_pair.items()},
        max_account_notional=limits.max_account_notional,
    )
    rm, twin = RiskManager(limits), RiskManager(exposure_only)
    for step in steps:
        for m in (rm, twin):
            if step["killed"]:
                m.engage_kill_switch("property")
            else:
                m.release_kill_switch()
        kw = {k: step["kw"][k] for k in ("pair", "side", "amount", "reduce_only", "reference_price", "position",
                                         "pending_same_side_amount", "account_notional")}
        as_order = {**kw, "price": None, "order_type": OrderType.MARKET, "open_orders_pair": 0,
                    "open_orders_total": 0}
        violated = _oracle(exposure_only, step["killed"], [], 0.0, as_order)
        try:
            rm.check_exposure(now=0.0, **kw)
        except RiskBreachError as exc:
            assert exc.breach.limit.value in violated
            with pytest.raises(RiskBreachError) as same:
                twin.check(now=0.0, **as_order)
            assert (same.value.breach.limit, same.value.breach.limit_value, same.value.breach.actual_value) == (
                exc.breach.limit, exc.breach.limit_value, exc.breach.actual_value)
        else:
            assert not violated, f"accepted but the oracle finds {sorted(violated)} violated"
            twin.check(now=0.0, **as_order)


_sparse_limits = st.builds(
    RiskLimits,
    per_pair=st.dictionaries(st.sampled_from(PAIRS), st.one_of(st.just(PairLimits()), _pair_limits), max_size=2),
    max_orders_per_second=_optional(st.integers(0, 4)),
)


def _outcome(rm: RiskManager, now: float, kw: dict[str, Any]) -> RiskBreach | None:
    try:
        rm.check(now=now, **kw)
    except RiskBreachError as exc:
        return exc.breach
    return None


@given(limits=st.one_of(_sparse_limits, _risk_limits), steps=st.lists(_steps(), min_size=1, max_size=25))
def test_check_unconstrained_is_check_when_no_limit_reads_the_order(
    limits: RiskLimits, steps: list[dict[str, Any]]
) -> None:
    """The connector's quick path: where it answers (True, or a refusal) it is exactly ``check`` - same refusal,
    same counters, same rate window - and it answers wherever no configured limit reads the order's figures."""
    quick, full = RiskManager(limits), RiskManager(limits)
    now = 0.0
    for step in steps:
        now += step["dt"]
        for m in (quick, full):
            if step["killed"]:
                m.engage_kill_switch("property")
            else:
                m.release_kill_switch()
        kw = step["kw"]
        lim = limits.for_pair(kw["pair"])
        reads = lim != PairLimits() or limits.max_open_orders is not None or limits.max_account_notional is not None
        try:
            answered = quick.check_unconstrained(kw["pair"], kw["side"], now)
        except RiskBreachError as exc:
            assert not reads
            with pytest.raises(RiskBreachError) as same:
                full.check(now=now, **kw)
            assert same.value.breach == exc.breach
        else:
            assert answered is not reads
            if answered:
                full.check(now=now, **kw)  # accepted there too
            else:
                assert _outcome(quick, now, kw) == _outcome(full, now, kw)
        assert quick.statistics() == full.statistics()


def test_check_unconstrained_only_where_no_limit_applies() -> None:
    rm = RiskManager(RiskLimits(per_pair={"ETH": PairLimits(max_order_size=D(1))}, max_orders_per_second=2))
    assert rm.check_unconstrained("BTC", Side.BUY, 0.0) is True
    assert rm.check_unconstrained("ETH", Side.BUY, 0.0) is False  # max_order_size reads the amount: check()
    assert rm.statistics().checks == 1
    assert rm.check_unconstrained("BTC", Side.SELL, 0.5) is True
    with pytest.raises(RiskBreachError, match="max_orders_per_second breached"):
        rm.check_unconstrained("BTC", Side.BUY, 0.75)
    rm.engage_kill_switch("test")
    with pytest.raises(RiskBreachError, match=r"kill_switch engaged \(test\)"):
        rm.check_unconstrained("BTC", Side.BUY, 5.0)
    rm.update(RiskLimits(max_open_orders=10))  # an account-wide count reads every pair's order
    rm.release_kill_switch()
    assert rm.check_unconstrained("BTC", Side.BUY, 9.0) is False
