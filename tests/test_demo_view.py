"""The demo's live view shows prices at the pair's tick precision, and orders have a one-line repr."""

from __future__ import annotations

from decimal import Decimal

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import Side
from trio_hl.demo.view import price_places


def test_price_places_follow_the_venue_tick() -> None:
    # Hyperliquid perps: 5 significant figures, at most 6 - szDecimals decimals (BTC: 1, ETH: 2)
    assert price_places(Decimal("97020"), 1, 5) == 0  # BTC: whole dollars
    assert price_places(Decimal("3512.3"), 2, 5) == 1  # ETH
    assert price_places(Decimal("151.23"), 4, 5) == 2  # SOL
    assert price_places(Decimal("0.0123456"), 6, 5) == 6  # capped by the decimals rule
    assert price_places(Decimal("123456"), 1, 5) == 0  # more integer digits than sig figs: integers only
    assert price_places(None, 3, 5) == 3  # no price yet: the decimals rule alone


def test_order_repr_is_one_short_line() -> None:
    order = InFlightOrder.new(client_order_id="0x" + "ab" * 16, pair="BTC", side=Side.BUY, amount=Decimal("0.001"),
                              price=Decimal("97020"), created_at=1.0)
    text = repr(order)
    assert text == (f"InFlightOrder('0x{'ab' * 16}' BTC buy limit 0.001 @ 97020 gtc: pending_create, "
                    "executed 0)")
    assert "\n" not in text and len(text) < 120
