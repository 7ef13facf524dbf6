"""Per-account venue answers → frozen values: margin and spot state, rate budget, fees, funding payments,
portfolio history, role, agents, vault equities, sub-accounts, referral and multi-sig state.

Same rules as ``messages`` and ``info_market``: ``Decimal`` for every venue number, ``ProtocolError`` naming the
path for malformed input, None for keys older answers lack.  Two recorded facts shape the types:

* ``userFunding`` entries carry ``delta.nSamples`` as a number in the official SDK's 2023 recording and as null
  in HyperLiquid.Net's 2025 one, so ``n_samples`` is ``int | None``.
* ``subAccounts`` answers null, not ``[]``, for an account without sub-accounts; ``userToMultiSigSigners``
  null for an account that is not a multi-sig one; ``userDexAbstraction`` null when never set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self

import attrs

from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f
from trio_hl.hyperliquid import _wire_read as r

__all__ = [
    "AssetPosition",
    "ClearinghouseState",
    "DailyVolume",
    "ExtraAgent",
    "FeeSchedule",
    "Leverage",
    "MarginSummary",
    "MmTier",
    "MultiSigSigners",
    "PortfolioPeriod",
    "Referral",
    "SpotBalance",
    "SpotClearinghouseState",
    "StakingDiscountTier",
    "SubAccount",
    "UserFees",
    "UserFunding",
    "UserRateLimit",
    "UserRole",
    "VaultEquity",
    "VipTier",
    "parse_clearinghouse_state",
    "parse_extra_agents",
    "parse_portfolio",
    "parse_referral",
    "parse_spot_clearinghouse_state",
    "parse_sub_accounts",
    "parse_user_abstraction",
    "parse_user_dex_abstraction",
    "parse_user_fees",
    "parse_user_funding",
    "parse_user_rate_limit",
    "parse_user_role",
    "parse_user_to_multi_sig_signers",
    "parse_user_vault_equities",
]


# ------------------------------------------------------------------------------------- clearinghouse state


@attrs.frozen
class MarginSummary:
    account_value: Decimal
    total_ntl_pos: Decimal
    total_raw_usd: Decimal
    total_margin_used: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.decimal(d, "accountValue", what), f.decimal(d, "totalNtlPos", what),
                   f.decimal(d, "totalRawUsd", what), f.decimal(d, "totalMarginUsed", what))


@attrs.frozen
class Leverage:
    """``type`` "cross" or "isolated"; ``raw_usd`` (isolated only) is the isolated margin's raw USD."""

    type: str
    value: int
    raw_usd: Decimal | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.string(d, "type", what), r.count(d, "value", what), f.opt_decimal(d, "rawUsd", what))


@attrs.frozen
class AssetPosition:
    """One ``assetPositions[].position`` (``szi`` signed: negative is short)."""

    coin: str
    szi: Decimal
    leverage: Leverage
    entry_px: Decimal | None
    position_value: Decimal
    unrealized_pnl: Decimal
    return_on_equity: Decimal
    liquidation_px: Decimal | None
    margin_used: Decimal
    max_leverage: int | None
    cum_funding_all_time: Decimal | None
    cum_funding_since_open: Decimal | None
    cum_funding_since_change: Decimal | None
    type: str = "oneWay"

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        w = f"{what}.position"
        p = f.obj(f.field(d, "position", what), w)
        cum = p.get("cumFunding")
        c = None if cum is None else f.obj(cum, f"{w}.cumFunding")
        cw = f"{w}.cumFunding"
        return cls(
            coin=f.string(p, "coin", w), szi=f.decimal(p, "szi", w),
            leverage=Leverage.from_wire(f.obj(f.field(p, "leverage", w), f"{w}.leverage"), f"{w}.leverage"),
            entry_px=f.opt_decimal(p, "entryPx", w), position_value=f.decimal(p, "positionValue", w),
            unrealized_pnl=f.decimal(p, "unrealizedPnl", w), return_on_equity=f.decimal(p, "returnOnEquity", w),
            liquidation_px=f.opt_decimal(p, "liquidationPx", w), margin_used=f.decimal(p, "marginUsed", w),
            max_leverage=f.opt_integer(p, "maxLeverage", w),
            cum_funding_all_time=None if c is None else f.decimal(c, "allTime", cw),
            cum_funding_since_open=None if c is None else f.decimal(c, "sinceOpen", cw),
            cum_funding_since_change=None if c is None else f.decimal(c, "sinceChange", cw),
            type=f.string(d, "type", what),
        )


@attrs.frozen
class ClearinghouseState:
    """The info ``clearinghouseState`` answer (one perp dex): margin summaries and open positions."""

    asset_positions: tuple[AssetPosition, ...]
    margin_summary: MarginSummary
    cross_margin_summary: MarginSummary
    cross_maintenance_margin_used: Decimal | None
    withdrawable: Decimal
    time_ms: int | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            asset_positions=tuple(r.items(f.field(d, "assetPositions", what), f"{what}.assetPositions",
                                          AssetPosition.from_wire)),
            margin_summary=MarginSummary.from_wire(f.obj(f.field(d, "marginSummary", what), f"{what}.marginSummary"),
                                                   f"{what}.marginSummary"),
            cross_margin_summary=MarginSummary.from_wire(
                f.obj(f.field(d, "crossMarginSummary", what), f"{what}.crossMarginSummary"),
                f"{what}.crossMarginSummary"),
            cross_maintenance_margin_used=f.opt_decimal(d, "crossMaintenanceMarginUsed", what),
            withdrawable=f.decimal(d, "withdrawable", what), time_ms=r.opt_ms(d, "time", what),
        )


def parse_clearinghouse_state(d: object) -> ClearinghouseState:
    return ClearinghouseState.from_wire(f.obj(d, "clearinghouseState"), "clearinghouseState")


@attrs.frozen
class SpotBalance:
    """One spot token balance; ``total - hold`` is what is free.  ``token`` is None for the venue's
    outcome/borrow pseudo-coins (``+N`` / ``oN``), which carry no token id."""

    coin: str
    token: int | None
    total: Decimal
    hold: Decimal
    entry_ntl: Decimal | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.string(d, "coin", what), f.opt_integer(d, "token", what), f.decimal(d, "total", what),
                   f.decimal(d, "hold", what), f.opt_decimal(d, "entryNtl", what))


@attrs.frozen
class SpotClearinghouseState:
    """The info ``spotClearinghouseState`` answer."""

    balances: tuple[SpotBalance, ...]
    token_to_available_after_maintenance: tuple[tuple[int, Decimal], ...] = ()

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        avail = d.get("tokenToAvailableAfterMaintenance")
        return cls(
            balances=tuple(r.items(f.field(d, "balances", what), f"{what}.balances", SpotBalance.from_wire)),
            token_to_available_after_maintenance=() if avail is None else r.decimal_pairs(
                avail, f"{what}.tokenToAvailableAfterMaintenance"),
        )


def parse_spot_clearinghouse_state(d: object) -> SpotClearinghouseState:
    return SpotClearinghouseState.from_wire(f.obj(d, "spotClearinghouseState"), "spotClearinghouseState")


# ---------------------------------------------------------------------------------------- budget and fees


@attrs.frozen
class UserRateLimit:
    """The info ``userRateLimit`` answer: the address's action budget (PROTOCOL §8.3)."""

    cum_vlm: Decimal
    n_requests_used: int
    n_requests_cap: int
    n_requests_surplus: int | None = None

    @property
    def remaining(self) -> int:
        return self.n_requests_cap + (self.n_requests_surplus or 0) - self.n_requests_used


def parse_user_rate_limit(d: object) -> UserRateLimit:
    what = "userRateLimit"
    m = f.obj(d, what)
    return UserRateLimit(f.decimal(m, "cumVlm", what), r.count(m, "nRequestsUsed", what),
                         r.count(m, "nRequestsCap", what), f.opt_integer(m, "nRequestsSurplus", what))


@attrs.frozen
class DailyVolume:
    date: str
    user_cross: Decimal
    user_add: Decimal
    exchange: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.string(d, "date", what), f.decimal(d, "userCross", what), f.decimal(d, "userAdd", what),
                   f.decimal(d, "exchange", what))


@attrs.frozen
class VipTier:
    """A volume tier: from ``ntl_cutoff`` of 14-day volume on, taker ``cross`` and maker ``add`` (spot rates
    where sent)."""

    ntl_cutoff: Decimal
    cross: Decimal
    add: Decimal
    spot_cross: Decimal | None = None
    spot_add: Decimal | None = None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.decimal(d, "ntlCutoff", what), f.decimal(d, "cross", what), f.decimal(d, "add", what),
                   f.opt_decimal(d, "spotCross", what), f.opt_decimal(d, "spotAdd", what))


@attrs.frozen
class MmTier:
    """A market-maker tier: from ``maker_fraction_cutoff`` of the venue's maker volume on, maker ``add``
    (negative: a rebate)."""

    maker_fraction_cutoff: Decimal
    add: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.decimal(d, "makerFractionCutoff", what), f.decimal(d, "add", what))


@attrs.frozen
class StakingDiscountTier:
    """A staking discount: from ``bps_of_max_supply`` of HYPE staked on, fees cut by ``discount``."""

    bps_of_max_supply: Decimal
    discount: Decimal

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.decimal(d, "bpsOfMaxSupply", what), f.decimal(d, "discount", what))


@attrs.frozen
class FeeSchedule:
    """The base fee schedule: taker (``cross``) and maker (``add``) rates, spot rates where sent, and the tiers
    that lower them (volume, maker share, staking): what a user's rate becomes, so they are read, not dropped."""

    cross: Decimal
    add: Decimal
    referral_discount: Decimal
    spot_cross: Decimal | None = None
    spot_add: Decimal | None = None
    vip_tiers: tuple[VipTier, ...] = ()
    mm_tiers: tuple[MmTier, ...] = ()
    staking_discount_tiers: tuple[StakingDiscountTier, ...] = ()

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        raw_tiers = d.get("tiers")
        tiers = {} if raw_tiers is None else f.obj(raw_tiers, f"{what}.tiers")
        vip, mm, staking = tiers.get("vip"), tiers.get("mm"), d.get("stakingDiscountTiers")
        return cls(
            f.decimal(d, "cross", what), f.decimal(d, "add", what), f.decimal(d, "referralDiscount", what),
            f.opt_decimal(d, "spotCross", what), f.opt_decimal(d, "spotAdd", what),
            vip_tiers=() if vip is None else tuple(r.items(vip, f"{what}.tiers.vip", VipTier.from_wire)),
            mm_tiers=() if mm is None else tuple(r.items(mm, f"{what}.tiers.mm", MmTier.from_wire)),
            staking_discount_tiers=() if staking is None else tuple(
                r.items(staking, f"{what}.stakingDiscountTiers", StakingDiscountTier.from_wire)),
        )


@attrs.frozen
class UserFees:
    """The info ``userFees`` answer: the rates this user pays (taker ``cross``, maker ``add``; a negative maker
    rate is a rebate), the schedule they come from, and recent daily volume."""

    user_cross_rate: Decimal
    user_add_rate: Decimal
    active_referral_discount: Decimal
    fee_schedule: FeeSchedule
    daily_user_vlm: tuple[DailyVolume, ...]
    user_spot_cross_rate: Decimal | None = None
    user_spot_add_rate: Decimal | None = None
    active_staking_discount: StakingDiscountTier | None = None


def parse_user_fees(d: object) -> UserFees:
    what = "userFees"
    m = f.obj(d, what)
    return UserFees(
        user_cross_rate=f.decimal(m, "userCrossRate", what), user_add_rate=f.decimal(m, "userAddRate", what),
        active_referral_discount=f.decimal(m, "activeReferralDiscount", what),
        fee_schedule=FeeSchedule.from_wire(f.obj(f.field(m, "feeSchedule", what), f"{what}.feeSchedule"),
                                           f"{what}.feeSchedule"),
        daily_user_vlm=tuple(r.items(f.field(m, "dailyUserVlm", what), f"{what}.dailyUserVlm", DailyVolume.from_wire)),
        user_spot_cross_rate=f.opt_decimal(m, "userSpotCrossRate", what),
        user_spot_add_rate=f.opt_decimal(m, "userSpotAddRate", what),
        active_staking_discount=None if m.get("activeStakingDiscount") is None else StakingDiscountTier.from_wire(
            f.obj(m["activeStakingDiscount"], f"{what}.activeStakingDiscount"), f"{what}.activeStakingDiscount"),
    )


# ------------------------------------------------------------------------------------------- user funding


@attrs.frozen
class UserFunding:
    """One funding payment of the user (info ``userFunding``): ``usdc`` signed (negative = paid)."""

    time_ms: int
    hash: str
    coin: str
    usdc: Decimal
    szi: Decimal
    funding_rate: Decimal
    n_samples: int | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        w = f"{what}.delta"
        delta = f.obj(f.field(d, "delta", what), w)
        kind = f.string(delta, "type", w)
        if kind != "funding":
            raise ProtocolError(f"{w}.type: expected 'funding', got {kind[:40]!r}")
        return cls(
            time_ms=r.ms(d, "time", what), hash=f.string(d, "hash", what), coin=f.string(delta, "coin", w),
            usdc=f.decimal(delta, "usdc", w), szi=f.decimal(delta, "szi", w),
            funding_rate=f.decimal(delta, "fundingRate", w), n_samples=f.opt_integer(delta, "nSamples", w),
        )


def parse_user_funding(d: object) -> list[UserFunding]:
    """The info ``userFunding`` answer (at most 500 per call; page by time)."""
    return r.items(d, "userFunding", UserFunding.from_wire)


# ---------------------------------------------------------------------------------------------- portfolio


@attrs.frozen
class PortfolioPeriod:
    """One period of the ``portfolio`` answer (``day``, ``week``, ``month``, ``allTime`` and their ``perp…``
    twins): account value and PnL as (ms, value) points, and the period's traded volume."""

    period: str
    account_value_history: tuple[tuple[int, Decimal], ...]
    pnl_history: tuple[tuple[int, Decimal], ...]
    volume: Decimal


def parse_portfolio(d: object) -> dict[str, PortfolioPeriod]:
    """The info ``portfolio`` answer (``[[period, {...}], ...]``) by period name, in the venue's order."""
    what = "portfolio"
    out: dict[str, PortfolioPeriod] = {}
    for i, raw in enumerate(f.array(d, what)):
        w = f"{what}[{i}]"
        name, body = r.pair(raw, w)
        period = r.str_value(name, f"{w}[0]")
        b = f.obj(body, f"{w}[1]")
        bw = f"{w}[1]"
        if period in out:
            raise ProtocolError(f"{w}[0]: period {period[:40]!r} listed twice")
        out[period] = PortfolioPeriod(
            period=period,
            account_value_history=_points(f.field(b, "accountValueHistory", bw), f"{bw}.accountValueHistory"),
            pnl_history=_points(f.field(b, "pnlHistory", bw), f"{bw}.pnlHistory"),
            volume=f.decimal(b, "vlm", bw),
        )
    return out


def _points(raw: object, what: str) -> tuple[tuple[int, Decimal], ...]:
    points = r.decimal_pairs(raw, what)
    for i, (t, _) in enumerate(points):
        if not 0 <= t < 2**53:
            raise ProtocolError(f"{what}[{i}][0]: expected a unix ms timestamp, got {t}")
    return points


# ------------------------------------------------------------------------------------ role, agents, vaults


@attrs.frozen
class UserRole:
    """The info ``userRole`` answer: ``role`` is "missing", "user", "agent", "vault" or "subAccount" (another
    string is kept as sent).  ``user`` is the master of an agent, ``master`` the owner of a sub-account."""

    role: str
    user: str | None = None
    master: str | None = None


def parse_user_role(d: object) -> UserRole:
    what = "userRole"
    m = f.obj(d, what)
    role = f.string(m, "role", what)
    data = m.get("data")
    if role == "agent":
        return UserRole(role, user=f.string(f.obj(data, f"{what}.data"), "user", f"{what}.data"))
    if role == "subAccount":
        return UserRole(role, master=f.string(f.obj(data, f"{what}.data"), "master", f"{what}.data"))
    return UserRole(role)


@attrs.frozen
class ExtraAgent:
    """An approved API wallet (info ``extraAgents``), valid until ``valid_until_ms``."""

    name: str
    address: str
    valid_until_ms: int

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.string(d, "name", what), f.string(d, "address", what), r.ms(d, "validUntil", what))


def parse_extra_agents(d: object) -> list[ExtraAgent]:
    return r.items(d, "extraAgents", ExtraAgent.from_wire)


@attrs.frozen
class VaultEquity:
    """The user's equity in one vault (info ``userVaultEquities``), locked until ``locked_until_ms``."""

    vault_address: str
    equity: Decimal
    locked_until_ms: int | None

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(f.string(d, "vaultAddress", what), f.decimal(d, "equity", what),
                   r.opt_ms(d, "lockedUntilTimestamp", what))


def parse_user_vault_equities(d: object) -> list[VaultEquity]:
    return r.items(d, "userVaultEquities", VaultEquity.from_wire)


@attrs.frozen
class SubAccount:
    """One sub-account (info ``subAccounts``) with its perp and spot state."""

    name: str
    sub_account_user: str
    master: str
    clearinghouse_state: ClearinghouseState
    spot_state: SpotClearinghouseState

    @classmethod
    def from_wire(cls, d: dict[str, Any], what: str) -> Self:
        return cls(
            name=f.string(d, "name", what), sub_account_user=f.string(d, "subAccountUser", what),
            master=f.string(d, "master", what),
            clearinghouse_state=ClearinghouseState.from_wire(
                f.obj(f.field(d, "clearinghouseState", what), f"{what}.clearinghouseState"),
                f"{what}.clearinghouseState"),
            spot_state=SpotClearinghouseState.from_wire(f.obj(f.field(d, "spotState", what), f"{what}.spotState"),
                                                        f"{what}.spotState"),
        )


def parse_sub_accounts(d: object) -> list[SubAccount]:
    """The info ``subAccounts`` answer; null (no sub-accounts) is ``[]``."""
    return [] if d is None else r.items(d, "subAccounts", SubAccount.from_wire)


# ------------------------------------------------------------------------------------ referral, multi-sig


@attrs.frozen
class Referral:
    """The info ``referral`` answer.  ``referrer_stage`` is "ready", "needToCreateCode" or "needToTrade";
    ``referral_code`` is the user's own code once ready."""

    referred_by: str | None
    referred_by_code: str | None
    cum_vlm: Decimal
    unclaimed_rewards: Decimal
    claimed_rewards: Decimal
    builder_rewards: Decimal | None
    referrer_stage: str | None
    referral_code: str | None
    n_referrals: int | None


def parse_referral(d: object) -> Referral:
    what = "referral"
    m = f.obj(d, what)
    by = m.get("referredBy")
    b = None if by is None else f.obj(by, f"{what}.referredBy")
    state = m.get("referrerState")
    s = None if state is None else f.obj(state, f"{what}.referrerState")
    data = None if s is None or s.get("data") is None else f.obj(s["data"], f"{what}.referrerState.data")
    dw = f"{what}.referrerState.data"
    return Referral(
        referred_by=None if b is None else f.string(b, "referrer", f"{what}.referredBy"),
        referred_by_code=None if b is None else f.opt_string(b, "code", f"{what}.referredBy"),
        cum_vlm=f.decimal(m, "cumVlm", what), unclaimed_rewards=f.decimal(m, "unclaimedRewards", what),
        claimed_rewards=f.decimal(m, "claimedRewards", what), builder_rewards=f.opt_decimal(m, "builderRewards", what),
        referrer_stage=None if s is None else f.string(s, "stage", f"{what}.referrerState"),
        referral_code=None if data is None else f.opt_string(data, "code", dw),
        n_referrals=None if data is None else f.opt_integer(data, "nReferrals", dw),
    )


@attrs.frozen
class MultiSigSigners:
    """The info ``userToMultiSigSigners`` answer for a multi-sig account."""

    authorized_users: tuple[str, ...]
    threshold: int


def parse_user_to_multi_sig_signers(d: object) -> MultiSigSigners | None:
    """None when the account is not a multi-sig account (the venue answers null)."""
    if d is None:
        return None
    what = "userToMultiSigSigners"
    m = f.obj(d, what)
    users = f.array(f.field(m, "authorizedUsers", what), f"{what}.authorizedUsers")
    return MultiSigSigners(
        tuple(r.str_value(u, f"{what}.authorizedUsers[{i}]") for i, u in enumerate(users)),
        r.count(m, "threshold", what),
    )


def parse_user_dex_abstraction(d: object) -> bool | None:
    """The info ``userDexAbstraction`` answer: a boolean, or null when the user never set it."""
    if d is None or type(d) is bool:
        return d
    raise ProtocolError(f"userDexAbstraction: expected a boolean or null, got {type(d).__name__}")


def parse_user_abstraction(d: object) -> str:
    """The info ``userAbstraction`` answer: the account mode as a string ("default", "disabled",
    "unifiedAccount", "portfolioMargin"; a new mode is returned as sent)."""
    return r.str_value(d, "userAbstraction")
