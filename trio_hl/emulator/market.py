"""A seeded simulated market, so that clients and demo strategies always have counterparties.

Rule followed: a real venue is never empty.  Every listed asset gets a fair price doing a random walk in
whole ticks (mean-reverting towards its starting mid so hours of running cannot walk it away), a ladder of
resting orders on both sides placed by a market-maker account, re-quoted when the fair price moves, and
occasional aggressive IOC orders from a second (taker) account that trade against the top of the book — a
client quoting inside the spread gets filled.  Both accounts are engine accounts flagged ``unlimited`` (no
margin or balance checks, no user streams): they are not funded users, but their fills move positions and
cash like anyone's, so conservation holds over the whole venue.

Everything is driven by :meth:`SimulatedMarket.tick` with the engine's time and one ``random.Random(seed)``,
so the same seed and the same tick times give the same market.  Randomness only picks integers (tick steps,
size percentages, delays); every price and size is Decimal arithmetic on those, rounded to a valid price with
``hyperliquid.wire.round_price``.

Alternative rejected: replaying recorded venue data.  It needs files, ties the emulator to one day's prices,
and cannot react to the client's own orders (a replayed book never fills a passive order at the right time).
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Final, Protocol

from trio_hl.core.types import Side
from trio_hl.emulator._book import Order
from trio_hl.emulator._markets import MARKETS, MarketSpec, tick_for
from trio_hl.hyperliquid.wire import floor_size, round_price

__all__ = ["MARKET_MAKER", "MARKET_TAKER", "MarketVenue", "SimulatedMarket"]

#: The market's own accounts (never funded users; visible in ``trades.users``).
MARKET_MAKER: Final = "0x000000000000000000000000000000000000aa01"
MARKET_TAKER: Final = "0x000000000000000000000000000000000000aa02"


class MarketVenue(Protocol):
    """What the simulated market needs from the engine."""

    def system_order(self, user: str, asset: int, is_buy: bool, px: Decimal, sz: Decimal,
                     tif: str) -> Order | None: ...
    def system_cancel(self, order: Order) -> None: ...
    def set_oracle(self, asset: int, px: Decimal) -> None: ...
    def book_top(self, asset: int) -> tuple[Decimal | None, Decimal | None]: ...


class _AssetState:
    __slots__ = ("next_move", "next_take", "orders", "spec", "start_ticks", "step", "ticks")

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.step = tick_for(spec.initial_mid, spec)
        self.ticks = int(spec.initial_mid / self.step)
        self.start_ticks = self.ticks
        self.orders: list[Order] = []
        self.next_move = 0
        self.next_take = 0

    @property
    def fair(self) -> Decimal:
        return self.step * self.ticks


class SimulatedMarket:
    """Random-walk fair prices, a maker ladder and occasional takers (see the module docstring).

    ``levels``: resting orders per side (10).  ``spread_bps``: distance between ladder levels and from the
    fair price to the first one (2 bps).  ``move_interval_ms``: how often the fair price may move and the
    ladder is re-quoted (1000).  ``take_interval_ms``: mean time between taker orders per asset (3000).
    ``take_fraction_pct``: taker size as a percentage range of one level (20-100).
    """

    def __init__(self, venue: MarketVenue, *, seed: int = 0, now_ms: int = 0, levels: int = 10,
                 spread_bps: int = 2, move_interval_ms: int = 1000, take_interval_ms: int = 3000,
                 take_fraction_pct: tuple[int, int] = (20, 100), max_move_ticks: int = 3) -> None:
        self._venue = venue
        self._rng = random.Random(seed)
        self.levels = levels
        self.spread_bps = spread_bps
        self.move_interval_ms = move_interval_ms
        self.take_interval_ms = take_interval_ms
        self.take_fraction_pct = take_fraction_pct
        self.max_move_ticks = max_move_ticks
        self._assets = [_AssetState(spec) for spec in MARKETS]
        for state in self._assets:
            state.next_move = now_ms + self._rng.randint(0, move_interval_ms)
            state.next_take = now_ms + self._rng.randint(take_interval_ms // 2, take_interval_ms * 3 // 2)

    def start(self, now_ms: int) -> None:
        """Publish the starting fair prices and place the first ladders."""
        for state in self._assets:
            self._venue.set_oracle(state.spec.asset, state.fair)
            self._requote(state)

    def fair_price(self, coin: str) -> Decimal:
        for state in self._assets:
            if state.spec.coin == coin:
                return state.fair
        raise KeyError(coin)

    def tick(self, now_ms: int) -> None:
        for state in self._assets:
            if now_ms >= state.next_move:
                state.next_move = now_ms + self.move_interval_ms
                self._move(state)
                self._requote(state)
            if now_ms >= state.next_take:
                half = self.take_interval_ms // 2
                state.next_take = now_ms + self._rng.randint(half, self.take_interval_ms + half)
                self._take(state)

    def _move(self, state: _AssetState) -> None:
        rng = self._rng
        drift = (state.ticks - state.start_ticks) / max(state.start_ticks, 1)  # reversion: a float weight only
        up = rng.random() < 0.5 - max(-0.4, min(0.4, drift * 5))
        size = rng.randint(0, self.max_move_ticks)
        state.ticks = max(state.start_ticks // 4, state.ticks + (size if up else -size))
        self._venue.set_oracle(state.spec.asset, state.fair)

    def _requote(self, state: _AssetState) -> None:
        for resting in state.orders:
            self._venue.system_cancel(resting)
        state.orders = []
        spec = state.spec
        fair = state.fair
        gap = fair * self.spread_bps / 10_000
        for i in range(1, self.levels + 1):
            for is_buy in (True, False):
                raw = fair - gap * i if is_buy else fair + gap * i
                if raw <= 0:
                    continue
                side = Side.BUY if is_buy else Side.SELL
                px = round_price(raw, spec.sz_decimals, spec.is_spot, side=side, aggressive=False)
                pct = self._rng.randint(50, 150)
                sz = floor_size(spec.level_notional * pct / 100 / px, spec.sz_decimals)
                if sz <= 0:
                    continue
                order = self._venue.system_order(MARKET_MAKER, spec.asset, is_buy, px, sz, "Alo")
                if order is not None:
                    state.orders.append(order)

    def _take(self, state: _AssetState) -> None:
        spec = state.spec
        is_buy = self._rng.random() < 0.5
        bid, ask = self._venue.book_top(spec.asset)
        ref = ask if is_buy else bid
        if ref is None:
            return
        low, high = self.take_fraction_pct
        pct = self._rng.randint(low, high)
        sz = floor_size(spec.level_notional * pct / 100 / ref, spec.sz_decimals)
        if sz <= 0:
            return
        side = Side.BUY if is_buy else Side.SELL
        limit = ref * (Decimal("1.001") if is_buy else Decimal("0.999"))
        px = round_price(limit, spec.sz_decimals, spec.is_spot, side=side, aggressive=True)
        self._venue.system_order(MARKET_TAKER, spec.asset, is_buy, px, sz, "Ioc")
