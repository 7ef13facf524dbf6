"""Accounts, one-way positions and the margin arithmetic of the emulator.

Rule followed: a perp account holds USDC cash (``usdc``); a position holds ``szi`` (signed size) and an
average ``entry_px``.  Realised PnL and fees settle into cash at each fill, so ``account value = cash +
isolated margins + unrealised PnL`` at any time.  Cross positions use ``|szi| * mark / leverage`` of margin;
an isolated position carries its own margin, moved out of cash when it grows and released pro rata when it
shrinks (``updateIsolatedMargin`` adds or removes some).  New orders reserve ``notional / leverage`` for the
part that would increase a position; an order is refused when cross margin in use, reserved order margin and
its own need exceed free cross collateral.  Maintenance margin is half the initial margin at the asset's
maximum leverage, as on the venue's first margin tier.

Alternative rejected: the venue's full margin-tier tables and liquidation engine.  Clients need consistent,
explainable numbers (margin refusals they can provoke, PnL that adds up), not a second exchange; positions
are never liquidated here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from trio_hl.emulator._book import Order

__all__ = ["Account", "Position", "q6", "q8"]

_Q6: Final = Decimal("0.000001")
_Q8: Final = Decimal("0.00000001")
ZERO: Final = Decimal(0)


def q6(d: Decimal) -> Decimal:
    """Round to 6 decimals (USDC's precision on the perp side)."""
    return d.quantize(_Q6, rounding=ROUND_HALF_EVEN)


def q8(d: Decimal) -> Decimal:
    """Round to 8 decimals (the most the wire carries)."""
    return d.quantize(_Q8, rounding=ROUND_HALF_EVEN)


class Position:
    """A one-way perp position; ``szi > 0`` is long."""

    __slots__ = ("cum_all", "cum_since_change", "cum_since_open", "entry_px", "iso_margin", "szi")

    def __init__(self) -> None:
        self.szi = ZERO
        self.entry_px = ZERO
        self.iso_margin = ZERO
        self.cum_all = ZERO
        self.cum_since_open = ZERO
        self.cum_since_change = ZERO


class Account:
    """One user (a master account, a sub-account or vault).  Agents are resolved before reaching here."""

    __slots__ = (
        "address",
        "agents",
        "by_cloid",
        "cum_vlm",
        "fills",
        "funded",
        "fundings",
        "history",
        "kind",
        "ledger",
        "leverage",
        "margin_hold",
        "master",
        "n_requests",
        "name",
        "open_orders",
        "positions",
        "schedule_count",
        "schedule_day",
        "schedule_time",
        "spot",
        "spot_hold",
        "sub_accounts",
        "unlimited",
        "usdc",
    )

    def __init__(self, address: str, *, unlimited: bool = False) -> None:
        self.address = address
        self.usdc = ZERO
        self.spot: dict[int, Decimal] = {}
        self.spot_hold: dict[int, Decimal] = {}
        self.positions: dict[int, Position] = {}
        #: asset -> (is_cross, leverage); absent = cross at the default leverage.
        self.leverage: dict[int, tuple[bool, int]] = {}
        #: oid -> resting or untriggered order, in placement order.
        self.open_orders: dict[int, Order] = {}
        #: Every order the engine accepted for this user (terminal ones too), in placement order.
        self.history: list[Order] = []
        #: latest order per cloid (a modify keeps the cloid on the new oid).
        self.by_cloid: dict[str, Order] = {}
        #: Every fill (the info answers expose the venue's most recent 10000; ground truth sees all).
        self.fills: list[dict[str, Any]] = []
        #: Perp margin reserved by resting orders that would open or increase a position.
        self.margin_hold = ZERO
        self.fundings: list[dict[str, Any]] = []
        self.ledger: list[dict[str, Any]] = []
        self.cum_vlm = ZERO
        self.n_requests = 0
        self.schedule_time: int | None = None
        self.schedule_day = -1
        self.schedule_count = 0
        #: ``"user"`` (a master account, which signs), ``"subAccount"`` or ``"vault"`` (no keys: their master /
        #: leader, ``master``, or its agents act for them; rules in ``_authz.py``).
        self.kind = "user"
        self.master: str | None = None
        self.name = ""  # a sub-account's name
        self.sub_accounts: list[str] = []  # a master's sub-accounts, in creation order
        self.agents: dict[str, str] = {}  # agent name ("" = unnamed) -> agent address (see ``_authz.py``)
        self.funded = False
        #: The simulated market's own accounts: no margin or balance checks.
        self.unlimited = unlimited

    def position(self, asset: int) -> Position:
        p = self.positions.get(asset)
        if p is None:
            p = self.positions[asset] = Position()
        return p

    def spot_available(self, token: int) -> Decimal:
        return self.spot.get(token, ZERO) - self.spot_hold.get(token, ZERO)

    def add_spot(self, token: int, amount: Decimal) -> None:
        self.spot[token] = self.spot.get(token, ZERO) + amount

    def add_hold(self, token: int, amount: Decimal) -> None:
        self.spot_hold[token] = self.spot_hold.get(token, ZERO) + amount
