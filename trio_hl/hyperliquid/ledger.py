"""The account's non-funding ledger (info ``userNonFundingLedgerUpdates``, WS ``userNonFundingLedgerUpdates``)
as a tagged union of frozen values.

Each entry is ``{"time", "hash", "delta": {"type": <kind>, ...}}``.  The kinds modelled here are the ones the
venue documents and third-party SDKs type (deposit, withdraw, accountClassTransfer, subAccountTransfer,
internalTransfer, spotTransfer, send, liquidation, vaultCreate / Deposit / Withdraw / Distribution /
LeaderCommission, rewardsClaim, spotGenesis, cStakingTransfer, deployGasAuction, borrowLend,
activateDexAbstraction).  A kind not in that list becomes :class:`UnknownLedgerDelta` carrying the raw dict:
the venue adds kinds, and a ledger read must not fail because of one (nor lose it).  A *known* kind with a
missing or malformed field is a ``ProtocolError`` naming the field, like every other parser; fields the
venue added later (``nativeTokenFee``, ``feeToken``, ``nonce`` of a spot transfer) are optional.

Sign conventions are the venue's: amounts are as sent (unsigned), the direction is in the kind
(``toPerp``, ``isDeposit``, ``user`` vs ``destination``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Self

import attrs

from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid import _wire_read as r

__all__ = [
    "AccountClassTransfer",
    "ActivateDexAbstraction",
    "BorrowLend",
    "CStakingTransfer",
    "DeployGasAuction",
    "Deposit",
    "InternalTransfer",
    "LedgerDelta",
    "LedgerUpdate",
    "LiquidationDelta",
    "RewardsClaim",
    "Send",
    "SpotGenesis",
    "SpotTransfer",
    "SubAccountTransfer",
    "UnknownLedgerDelta",
    "VaultCreate",
    "VaultDeposit",
    "VaultDistribution",
    "VaultLeaderCommission",
    "VaultWithdraw",
    "Withdraw",
    "parse_ledger_update",
    "parse_user_non_funding_ledger_updates",
    "parse_ws_user_non_funding_ledger_updates",
]

_D = f.decimal
_OD = f.opt_decimal
_S = f.string
_OS = f.opt_string


@attrs.frozen
class Deposit:
    usdc: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_D(d, "usdc", w))


@attrs.frozen
class Withdraw:
    usdc: Decimal
    fee: Decimal
    nonce: int | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_D(d, "usdc", w), _D(d, "fee", w), f.opt_integer(d, "nonce", w))


@attrs.frozen
class AccountClassTransfer:
    """USDC moved between the spot and perp balances (``to_perp``: spot → perp)."""

    usdc: Decimal
    to_perp: bool

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_D(d, "usdc", w), f.boolean(d, "toPerp", w))


@attrs.frozen
class SubAccountTransfer:
    usdc: Decimal
    user: str
    destination: str

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_D(d, "usdc", w), _S(d, "user", w), _S(d, "destination", w))


@attrs.frozen
class InternalTransfer:
    usdc: Decimal
    user: str
    destination: str
    fee: Decimal | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_D(d, "usdc", w), _S(d, "user", w), _S(d, "destination", w), _OD(d, "fee", w))


@attrs.frozen
class SpotTransfer:
    token: str
    amount: Decimal
    user: str
    destination: str
    fee: Decimal
    usdc_value: Decimal | None = None
    native_token_fee: Decimal | None = None
    nonce: int | None = None
    fee_token: str | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "token", w), _D(d, "amount", w), _S(d, "user", w), _S(d, "destination", w),
                   _D(d, "fee", w), _OD(d, "usdcValue", w), _OD(d, "nativeTokenFee", w),
                   f.opt_integer(d, "nonce", w), _OS(d, "feeToken", w))


@attrs.frozen
class Send:
    """A ``sendAsset`` transfer between dexs / accounts (``source_dex`` "" is the main perp dex, "spot" spot)."""

    token: str
    amount: Decimal
    user: str
    destination: str
    source_dex: str | None = None
    destination_dex: str | None = None
    usdc_value: Decimal | None = None
    fee: Decimal | None = None
    native_token_fee: Decimal | None = None
    nonce: int | None = None
    fee_token: str | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "token", w), _D(d, "amount", w), _S(d, "user", w), _S(d, "destination", w),
                   _OS(d, "sourceDex", w), _OS(d, "destinationDex", w), _OD(d, "usdcValue", w), _OD(d, "fee", w),
                   _OD(d, "nativeTokenFee", w), f.opt_integer(d, "nonce", w), _OS(d, "feeToken", w))


@attrs.frozen
class LiquidationDelta:
    """The account was liquidated: ``positions`` are (coin, signed size) of what was liquidated."""

    liquidated_ntl_pos: Decimal
    account_value: Decimal
    leverage_type: str
    positions: tuple[tuple[str, Decimal], ...]

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        positions = r.items(f.field(d, "liquidatedPositions", w), f"{w}.liquidatedPositions",
                            lambda p, pw: (_S(p, "coin", pw), _D(p, "szi", pw)))
        return cls(_D(d, "liquidatedNtlPos", w), _D(d, "accountValue", w), _S(d, "leverageType", w),
                   tuple(positions))


@attrs.frozen
class VaultCreate:
    vault: str
    usdc: Decimal
    fee: Decimal | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "vault", w), _D(d, "usdc", w), _OD(d, "fee", w))


@attrs.frozen
class VaultDeposit:
    vault: str
    usdc: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "vault", w), _D(d, "usdc", w))


@attrs.frozen
class VaultDistribution:
    vault: str
    usdc: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "vault", w), _D(d, "usdc", w))


@attrs.frozen
class VaultWithdraw:
    vault: str
    user: str
    requested_usd: Decimal
    commission: Decimal
    closing_cost: Decimal
    basis: Decimal
    net_withdrawn_usd: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "vault", w), _S(d, "user", w), _D(d, "requestedUsd", w), _D(d, "commission", w),
                   _D(d, "closingCost", w), _D(d, "basis", w), _D(d, "netWithdrawnUsd", w))


@attrs.frozen
class VaultLeaderCommission:
    user: str
    usdc: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "user", w), _D(d, "usdc", w))


@attrs.frozen
class RewardsClaim:
    amount: Decimal
    token: str | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_D(d, "amount", w), _OS(d, "token", w))


@attrs.frozen
class SpotGenesis:
    token: str
    amount: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "token", w), _D(d, "amount", w))


@attrs.frozen
class CStakingTransfer:
    """Tokens moved to (``is_deposit``) or from the staking balance."""

    token: str
    amount: Decimal
    is_deposit: bool

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "token", w), _D(d, "amount", w), f.boolean(d, "isDeposit", w))


@attrs.frozen
class DeployGasAuction:
    token: str
    amount: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "token", w), _D(d, "amount", w))


@attrs.frozen
class BorrowLend:
    """``operation``: "supply", "withdraw", "repay" or "borrow"."""

    token: str
    operation: str
    amount: Decimal
    interest_amount: Decimal | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "token", w), _S(d, "operation", w), _D(d, "amount", w), _OD(d, "interestAmount", w))


@attrs.frozen
class ActivateDexAbstraction:
    dex: str
    token: str
    amount: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], w: str) -> Self:
        return cls(_S(d, "dex", w), _S(d, "token", w), _D(d, "amount", w))


@attrs.frozen
class UnknownLedgerDelta:
    """A ledger kind this version does not model: ``type`` as sent, ``raw`` the whole delta (never dropped)."""

    type: str
    raw: dict[str, Any]


LedgerDelta = (
    Deposit | Withdraw | AccountClassTransfer | SubAccountTransfer | InternalTransfer | SpotTransfer | Send
    | LiquidationDelta | VaultCreate | VaultDeposit | VaultDistribution | VaultWithdraw | VaultLeaderCommission
    | RewardsClaim | SpotGenesis | CStakingTransfer | DeployGasAuction | BorrowLend | ActivateDexAbstraction
    | UnknownLedgerDelta
)

#: The venue's ``delta.type`` → the class that reads it.
KINDS: Final[dict[str, Any]] = {
    "deposit": Deposit,
    "withdraw": Withdraw,
    "accountClassTransfer": AccountClassTransfer,
    "subAccountTransfer": SubAccountTransfer,
    "internalTransfer": InternalTransfer,
    "spotTransfer": SpotTransfer,
    "send": Send,
    "liquidation": LiquidationDelta,
    "vaultCreate": VaultCreate,
    "vaultDeposit": VaultDeposit,
    "vaultDistribution": VaultDistribution,
    "vaultWithdraw": VaultWithdraw,
    "vaultLeaderCommission": VaultLeaderCommission,
    "rewardsClaim": RewardsClaim,
    "spotGenesis": SpotGenesis,
    "cStakingTransfer": CStakingTransfer,
    "deployGasAuction": DeployGasAuction,
    "borrowLend": BorrowLend,
    "activateDexAbstraction": ActivateDexAbstraction,
}


@attrs.frozen
class LedgerUpdate:
    """One ledger entry: when (``time_ms``), the L1 transaction ``hash``, and what (``delta``)."""

    time_ms: int
    hash: str
    delta: LedgerDelta

    @property
    def kind(self) -> str:
        """The venue's ``delta.type`` (also for an unknown kind)."""
        if isinstance(self.delta, UnknownLedgerDelta):
            return self.delta.type
        return _NAMES[type(self.delta)]


_NAMES: Final = {cls: name for name, cls in KINDS.items()}


def parse_ledger_update(d: object, what: str = "ledgerUpdate") -> LedgerUpdate:
    m = f.obj(d, what)
    w = f"{what}.delta"
    delta = f.obj(f.field(m, "delta", what), w)
    kind = f.string(delta, "type", w)
    cls = KINDS.get(kind)
    parsed: LedgerDelta = UnknownLedgerDelta(kind, delta) if cls is None else cls.from_wire(delta, w)
    return LedgerUpdate(r.ms(m, "time", what), f.string(m, "hash", what), parsed)


def parse_user_non_funding_ledger_updates(d: object) -> list[LedgerUpdate]:
    """The info ``userNonFundingLedgerUpdates`` answer."""
    what = "userNonFundingLedgerUpdates"
    return [parse_ledger_update(x, f"{what}[{i}]") for i, x in enumerate(f.array(d, what))]


def parse_ws_user_non_funding_ledger_updates(d: object) -> tuple[bool, list[LedgerUpdate]]:
    """WS ``userNonFundingLedgerUpdates`` data → (is_snapshot, updates)."""
    what = "userNonFundingLedgerUpdates"
    m = f.obj(d, what)
    items = f.array(f.field(m, "nonFundingLedgerUpdates", what), f"{what}.nonFundingLedgerUpdates")
    return bool(f.opt_boolean(m, "isSnapshot", what)), [
        parse_ledger_update(x, f"{what}.nonFundingLedgerUpdates[{i}]") for i, x in enumerate(items)
    ]
