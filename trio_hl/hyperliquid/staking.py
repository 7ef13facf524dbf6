"""HYPE staking answers → frozen values: ``delegatorSummary``, ``delegations``, ``delegatorRewards`` and
``delegatorHistory`` (a tagged union: delegate / undelegate, deposit into staking, withdrawal; an unknown kind
is kept raw, never an error).  The emulator has no staking: it answers the empty shapes, these parsers read
the venue's real answers (the official SDK's recorded ``delegatorHistory`` among them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

import attrs

from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid import _wire_read as r

__all__ = [
    "Delegate",
    "Delegation",
    "DelegatorEvent",
    "DelegatorReward",
    "DelegatorSummary",
    "StakingDeposit",
    "StakingWithdrawal",
    "UnknownDelegatorDelta",
    "parse_delegations",
    "parse_delegator_history",
    "parse_delegator_rewards",
    "parse_delegator_summary",
]


@attrs.frozen
class DelegatorSummary:
    delegated: Decimal
    undelegated: Decimal
    total_pending_withdrawal: Decimal
    n_pending_withdrawals: int


def parse_delegator_summary(d: object) -> DelegatorSummary:
    what = "delegatorSummary"
    m = f.obj(d, what)
    return DelegatorSummary(f.decimal(m, "delegated", what), f.decimal(m, "undelegated", what),
                            f.decimal(m, "totalPendingWithdrawal", what), r.count(m, "nPendingWithdrawals", what))


@attrs.frozen
class Delegation:
    validator: str
    amount: Decimal
    locked_until_ms: int | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.string(d, "validator", what), f.decimal(d, "amount", what),
                   r.opt_ms(d, "lockedUntilTimestamp", what))


def parse_delegations(d: object) -> list[Delegation]:
    return r.items(d, "delegations", Delegation.from_wire)


@attrs.frozen
class DelegatorReward:
    """``source``: "delegation" or "commission"."""

    time_ms: int
    source: str
    total_amount: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(r.ms(d, "time", what), f.string(d, "source", what), f.decimal(d, "totalAmount", what))


def parse_delegator_rewards(d: object) -> list[DelegatorReward]:
    return r.items(d, "delegatorRewards", DelegatorReward.from_wire)


@attrs.frozen
class Delegate:
    """Stake delegated to (or, ``is_undelegate``, taken back from) a validator."""

    validator: str
    amount: Decimal
    is_undelegate: bool


@attrs.frozen
class StakingDeposit:
    """HYPE moved into the staking balance (``cDeposit``)."""

    amount: Decimal


@attrs.frozen
class StakingWithdrawal:
    """HYPE leaving the staking balance; ``phase`` "initiated" or "finalized"."""

    amount: Decimal
    phase: str


@attrs.frozen
class UnknownDelegatorDelta:
    kind: str
    raw: dict[str, Any]


@attrs.frozen
class DelegatorEvent:
    time_ms: int
    hash: str
    delta: Delegate | StakingDeposit | StakingWithdrawal | UnknownDelegatorDelta


def _delta(d: dict[str, Any], w: str) -> Delegate | StakingDeposit | StakingWithdrawal | UnknownDelegatorDelta:
    if len(d) != 1:
        raise ProtocolError(f"{w}: expected one kind key, got keys {sorted(d)[:10]}")
    ((kind, body),) = d.items()
    bw = f"{w}.{kind}"
    if kind == "delegate":
        b = f.obj(body, bw)
        return Delegate(f.string(b, "validator", bw), f.decimal(b, "amount", bw), f.boolean(b, "isUndelegate", bw))
    if kind == "cDeposit":
        return StakingDeposit(f.decimal(f.obj(body, bw), "amount", bw))
    if kind == "withdrawal":
        b = f.obj(body, bw)
        return StakingWithdrawal(f.decimal(b, "amount", bw), f.string(b, "phase", bw))
    return UnknownDelegatorDelta(kind, d)


def parse_delegator_history(d: object) -> list[DelegatorEvent]:
    """The info ``delegatorHistory`` answer (newest first as sent)."""
    def one(m: dict[str, Any], what: str) -> DelegatorEvent:
        return DelegatorEvent(r.ms(m, "time", what), f.string(m, "hash", what),
                              _delta(f.obj(f.field(m, "delta", what), f"{what}.delta"), f"{what}.delta"))

    return r.items(d, "delegatorHistory", one)
