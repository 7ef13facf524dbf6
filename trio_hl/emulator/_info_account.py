"""``/info`` answers about an account's standing rather than its trading: role, agents, portfolio history, fees,
referral, sub-accounts, and the venue features the emulator does not have (staking, vault equities, multi-sig,
deployments, account abstraction).

Rule followed (issue 16): every request type the official SDK's ``Info`` class sends gets the venue's shape
(recordings in ``tests/fixtures/venue`` where they exist, the SDK's docstrings and the NKTKAS schemas
otherwise).  Where the emulator has the concept the answer is computed from its state; where it has not, the
answer is the one the venue gives an account that never used the feature: empty lists, ``null``, zero sums,
``"default"`` abstraction, ``{"role": "missing"}`` for an address nobody funded.  Never a 422: a client that
calls these at start-up must not fail against the emulator.

Decisions where the venue is undocumented (UNSURE): a named agent's ``validUntil`` is the one the authorization
layer keeps (``_authz.py``: approval + 90 days, or the approver's ``valid_until``); ``portfolio`` knows only
two points per period, the account's first deposit (when inside the period) and now, since the emulator
keeps no value history; its ``pnlHistory`` is value minus net deposits; spot tokens other than USDC are valued
at their USDC pair's mid, and tokens credited from outside count as deposited at today's mid (so holding them
makes no PnL: the emulator does not know what they were worth when they arrived).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from trio_hl.emulator._accounts import Account, q6
from trio_hl.emulator._markets import MARKETS
from trio_hl.emulator._stream import num

if TYPE_CHECKING:
    from trio_hl.emulator.engine import Engine

__all__ = ["ACCOUNT_INFO"]

ZERO: Final = Decimal(0)
DAY_MS: Final = 86_400_000
#: The venue's portfolio periods, in its order; ``None`` = all time.
PERIODS: Final = (("day", DAY_MS), ("week", 7 * DAY_MS), ("month", 30 * DAY_MS), ("allTime", None))
REFERRAL_VOLUME: Final = Decimal(10_000)  # volume an account trades before it may create a referral code


def _acct(engine: Engine, user: str) -> Account | None:
    return engine.accounts.get(user)


def _user_role(engine: Engine, user: str, now: int) -> Any:
    agent = engine.auth.agents.get(user)
    if agent is not None and now < agent.valid_until:
        return {"role": "agent", "data": {"user": agent.owner}}
    acct = engine.accounts.get(user)
    if acct is None or not acct.funded or acct.unlimited:
        return {"role": "missing"}
    if acct.master is not None:
        return {"role": "subAccount", "data": {"master": acct.master}}
    return {"role": "user"}


def _extra_agents(engine: Engine, user: str, now: int) -> Any:
    acct = _acct(engine, user)
    if acct is None:
        return []
    return [{"name": agent.name, "address": agent.address, "validUntil": agent.valid_until}
            for agent in engine.auth.agents_of(acct.address, now) if agent.name]


def _spot_value(engine: Engine, tokens: dict[int, Decimal]) -> Decimal:
    """Spot holdings in USDC: USDC at par, other tokens at their USDC pair's mid."""
    value = tokens.get(0, ZERO)
    for spec in MARKETS:
        if spec.is_spot and spec.quote_token == 0:
            held = tokens.get(spec.base_token, ZERO)
            if held:
                value += held * engine.mid(spec.asset)
    return value


def _net_deposits(engine: Engine, acct: Account, *, perp_only: bool) -> Decimal:
    """What came in from outside: USDC deposits minus withdrawals, and for the whole account the spot tokens
    credited to it (at today's mids, so their price moves are not counted as PnL); for the perp view, class
    transfers in and out of the perp balance instead of spot credits."""
    total = ZERO
    for entry in acct.ledger:
        delta = entry["delta"]
        kind = delta.get("type")
        if kind == "deposit":
            total += Decimal(delta["usdc"])
        elif kind == "withdraw":
            total -= Decimal(delta["usdc"])
        elif kind == "accountClassTransfer" and perp_only:
            total += Decimal(delta["usdc"]) if delta["toPerp"] else -Decimal(delta["usdc"])
    if not perp_only:
        total += _spot_value(engine, engine.credited_spot.get(acct.address, {}))
    return total


def _portfolio(engine: Engine, user: str, now: int) -> Any:
    acct = _acct(engine, user)
    out: list[Any] = []
    for perp_only in (False, True):
        if acct is None:
            value = deposits = ZERO
            since = now
        else:
            value = engine.account_value(acct) + (ZERO if perp_only else _spot_value(engine, acct.spot))
            deposits = _net_deposits(engine, acct, perp_only=perp_only)
            since = acct.ledger[0]["time"] if acct.ledger else now
        for name, window in PERIODS:
            start = now - window if window is not None else 0
            values: list[list[Any]] = []
            pnls: list[list[Any]] = []
            if acct is not None and acct.ledger and since >= start:
                first = Decimal(acct.ledger[0]["delta"].get("usdc", "0"))
                if not perp_only:
                    first += _spot_value(engine, engine.credited_spot.get(acct.address, {}))
                values.append([since, num(q6(first))])
                pnls.append([since, "0.0"])
            values.append([now, num(q6(value))])
            pnls.append([now, num(q6(value - deposits))])
            vlm = ZERO
            if acct is not None:
                for fill in acct.fills:
                    if fill["time"] >= start and not (perp_only and engine.spec_by_coin[fill["coin"]].is_spot):
                        vlm += Decimal(fill["px"]) * Decimal(fill["sz"])
            label = name if not perp_only else "perp" + name[0].upper() + name[1:]
            out.append([label, {"accountValueHistory": values, "pnlHistory": pnls, "vlm": num(q6(vlm))}])
    return out


def _user_fees(engine: Engine, user: str, now: int) -> Any:
    acct = _acct(engine, user)
    taker, maker = num(engine.taker_fee), num(engine.maker_fee)
    spot_taker, spot_maker = num(engine.spot_taker_fee), num(engine.spot_maker_fee)
    daily: dict[str, list[Decimal]] = {}
    if acct is not None:
        for fill in acct.fills:
            day = _iso_day(fill["time"])
            cross_add = daily.setdefault(day, [ZERO, ZERO])
            cross_add[0 if fill["crossed"] else 1] += Decimal(fill["px"]) * Decimal(fill["sz"])
    return {
        "dailyUserVlm": [{"date": day, "userCross": num(q6(v[0])), "userAdd": num(q6(v[1])),
                          "exchange": num(q6(v[0] + v[1]))} for day, v in sorted(daily.items())],
        "feeSchedule": {"cross": taker, "add": maker, "spotCross": spot_taker, "spotAdd": spot_maker,
                        "tiers": {"vip": [], "mm": []}, "referralDiscount": "0.0", "stakingDiscountTiers": []},
        "userCrossRate": taker, "userAddRate": maker, "userSpotCrossRate": spot_taker, "userSpotAddRate": spot_maker,
        "activeReferralDiscount": "0.0", "trial": None, "feeTrialEscrow": "0.0", "nextTrialAvailableTimestamp": None,
        "stakingLink": None, "activeStakingDiscount": {"bpsOfMaxSupply": "0.0", "discount": "0.0"},
    }


def _iso_day(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%d")


def _referral(engine: Engine, user: str, now: int) -> Any:
    acct = _acct(engine, user)
    vlm = acct.cum_vlm if acct is not None else ZERO
    state: dict[str, Any] = (
        {"stage": "needToTrade", "data": {"required": num(REFERRAL_VOLUME)}} if vlm < REFERRAL_VOLUME
        else {"stage": "needToCreateCode"}
    )
    return {"referredBy": None, "cumVlm": num(q6(vlm)), "unclaimedRewards": "0.0", "claimedRewards": "0.0",
            "builderRewards": "0.0", "referrerState": state, "rewardHistory": [], "tokenToState": []}


def auction(now: int) -> dict[str, Any]:
    # no deployments here: an auction that started at the top of the current hour and never had gas
    return {"startTimeSeconds": now // 3_600_000 * 3600, "durationSeconds": 111_600, "startGas": "0.0",
            "currentGas": None, "endGas": None}


def _sub_accounts(engine: Engine, user: str, now: int) -> Any:
    """A master's sub-accounts (``createSubAccount``), each with its perp and spot state, in creation order: the
    venue's shape (recorded: ``tests/fixtures/venue/jkorf/info_subAccounts.json``).  ``null`` for an account
    without any, as the venue answers."""
    acct = _acct(engine, user)
    if acct is None or not acct.sub_accounts:
        return None
    answer = []
    for address in acct.sub_accounts:
        sub = engine.accounts[address]
        answer.append({
            "name": sub.name,
            "subAccountUser": address,
            "master": acct.address,
            "clearinghouseState": engine.info({"type": "clearinghouseState", "user": address}, now),
            "spotState": engine.info({"type": "spotClearinghouseState", "user": address}, now),
        })
    return answer


def _nothing(value: Any) -> Any:
    """An answer for a feature the emulator has not got: the venue's answer to an account that never used it."""
    def answer(engine: Engine, user: str, now: int) -> Any:
        return value() if callable(value) else value
    return answer


#: type -> handler(engine, user, now); ``_info.py`` validates ``user`` and registers them.
ACCOUNT_INFO: Final[dict[str, Any]] = {
    "userRole": _user_role,
    "extraAgents": _extra_agents,
    "portfolio": _portfolio,
    "userFees": _user_fees,
    "referral": _referral,
    # features the emulator does not have
    "userVaultEquities": _nothing(list),
    "delegatorHistory": _nothing(list),
    "delegations": _nothing(list),
    "delegatorRewards": _nothing(list),
    "delegatorSummary": _nothing(lambda: {"delegated": "0.0", "undelegated": "0.0", "totalPendingWithdrawal": "0.0",
                                          "nPendingWithdrawals": 0}),
    "subAccounts": _sub_accounts,
    "userToMultiSigSigners": _nothing(None),
    "userDexAbstraction": _nothing(None),
    "userAbstraction": _nothing("default"),
    "spotDeployState": lambda engine, user, now: {"states": [], "gasAuction": auction(now)},
}
