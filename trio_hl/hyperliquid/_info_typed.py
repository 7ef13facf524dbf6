"""``InfoClient`` methods that return typed values: one per ``/info`` type of the official SDK's ``Info`` that
had no method yet, each sending the SDK's exact request body (PROTOCOL §5) and parsing the answer with its
``parse_<info type>``.

A mixin so ``rest.py`` keeps to transport and error translation.  The older methods there (``meta``,
``clearinghouse_state``, ``open_orders``, …) keep returning the raw JSON the connector's code reads; their typed
readers are ``info_market.parse_meta``, ``info_account.parse_clearinghouse_state``,
``messages.parse_open_orders`` and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trio_hl.hyperliquid import info_account as acc
from trio_hl.hyperliquid import info_market as mkt
from trio_hl.hyperliquid import staking
from trio_hl.hyperliquid.ledger import LedgerUpdate, parse_user_non_funding_ledger_updates
from trio_hl.hyperliquid.messages import TwapSliceFill, parse_twap_slice_fills

#: The candle intervals the venue serves (PROTOCOL §5).
CANDLE_INTERVALS = frozenset({"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M"})


def _range(req: dict[str, Any], start_ms: int, end_ms: int | None) -> dict[str, Any]:
    if start_ms < 0 or (end_ms is not None and end_ms < start_ms):
        raise ValueError(f"need 0 <= start_ms <= end_ms, got start_ms={start_ms} end_ms={end_ms}")
    req["startTime"] = start_ms
    if end_ms is not None:
        req["endTime"] = end_ms
    return req


class TypedInfoMixin:
    """Typed ``/info`` queries; the host class provides ``post``."""

    async def post(self, req: Mapping[str, Any]) -> Any:  # pragma: no cover - provided by InfoClient
        raise NotImplementedError

    # -- market data --------------------------------------------------------------------------------------

    async def candle_snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[mkt.Candle]:
        """Candles of ``coin`` opening in [start_ms, end_ms] (the venue keeps the latest 5000 per interval)."""
        if interval not in CANDLE_INTERVALS:
            raise ValueError(f"interval must be one of {sorted(CANDLE_INTERVALS)}, got {interval!r}")
        if start_ms < 0 or end_ms < start_ms:
            raise ValueError(f"need 0 <= start_ms <= end_ms, got start_ms={start_ms} end_ms={end_ms}")
        req = {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}
        return mkt.parse_candle_snapshot(await self.post({"type": "candleSnapshot", "req": req}))

    async def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None) -> list[mkt.FundingRate]:
        return mkt.parse_funding_history(
            await self.post(_range({"type": "fundingHistory", "coin": coin}, start_ms, end_ms)))

    async def meta_and_asset_ctxs(self) -> mkt.MetaAndAssetCtxs:
        return mkt.parse_meta_and_asset_ctxs(await self.post({"type": "metaAndAssetCtxs"}))

    async def spot_meta_and_asset_ctxs(self) -> mkt.SpotMetaAndAssetCtxs:
        return mkt.parse_spot_meta_and_asset_ctxs(await self.post({"type": "spotMetaAndAssetCtxs"}))

    async def perp_deploy_auction_status(self) -> mkt.DeployAuctionStatus:
        return mkt.parse_perp_deploy_auction_status(await self.post({"type": "perpDeployAuctionStatus"}))

    async def spot_deploy_state(self, user: str) -> mkt.SpotDeployState:
        return mkt.parse_spot_deploy_state(await self.post({"type": "spotDeployState", "user": user}))

    # -- account ------------------------------------------------------------------------------------------

    async def user_funding(self, user: str, start_ms: int, end_ms: int | None = None) -> list[acc.UserFunding]:
        """The user's funding payments (at most 500 per answer; page with the last ``time_ms``)."""
        return acc.parse_user_funding(
            await self.post(_range({"type": "userFunding", "user": user}, start_ms, end_ms)))

    async def user_non_funding_ledger_updates(self, user: str, start_ms: int,
                                              end_ms: int | None = None) -> list[LedgerUpdate]:
        if start_ms < 0 or (end_ms is not None and end_ms < start_ms):
            raise ValueError(f"need 0 <= start_ms <= end_ms, got start_ms={start_ms} end_ms={end_ms}")
        return parse_user_non_funding_ledger_updates(await self.post(
            {"type": "userNonFundingLedgerUpdates", "user": user, "startTime": start_ms, "endTime": end_ms}))

    async def user_fees(self, user: str) -> acc.UserFees:
        return acc.parse_user_fees(await self.post({"type": "userFees", "user": user}))

    async def portfolio(self, user: str) -> dict[str, acc.PortfolioPeriod]:
        return acc.parse_portfolio(await self.post({"type": "portfolio", "user": user}))

    async def user_role(self, user: str) -> acc.UserRole:
        return acc.parse_user_role(await self.post({"type": "userRole", "user": user}))

    async def extra_agents(self, user: str) -> list[acc.ExtraAgent]:
        return acc.parse_extra_agents(await self.post({"type": "extraAgents", "user": user}))

    async def user_vault_equities(self, user: str) -> list[acc.VaultEquity]:
        return acc.parse_user_vault_equities(await self.post({"type": "userVaultEquities", "user": user}))

    async def sub_accounts(self, user: str) -> list[acc.SubAccount]:
        return acc.parse_sub_accounts(await self.post({"type": "subAccounts", "user": user}))

    async def referral(self, user: str) -> acc.Referral:
        return acc.parse_referral(await self.post({"type": "referral", "user": user}))

    async def user_to_multi_sig_signers(self, multi_sig_user: str) -> acc.MultiSigSigners | None:
        return acc.parse_user_to_multi_sig_signers(
            await self.post({"type": "userToMultiSigSigners", "user": multi_sig_user}))

    async def user_dex_abstraction(self, user: str) -> bool | None:
        return acc.parse_user_dex_abstraction(await self.post({"type": "userDexAbstraction", "user": user}))

    async def user_abstraction(self, user: str) -> str:
        return acc.parse_user_abstraction(await self.post({"type": "userAbstraction", "user": user}))

    async def user_twap_slice_fills(self, user: str, coin_to_pair: Mapping[str, str] | None = None,
                                    ) -> list[TwapSliceFill]:
        answer = await self.post({"type": "userTwapSliceFills", "user": user})
        return parse_twap_slice_fills(answer, coin_to_pair or {})

    # -- staking ------------------------------------------------------------------------------------------

    async def delegator_summary(self, user: str) -> staking.DelegatorSummary:
        return staking.parse_delegator_summary(await self.post({"type": "delegatorSummary", "user": user}))

    async def delegations(self, user: str) -> list[staking.Delegation]:
        return staking.parse_delegations(await self.post({"type": "delegations", "user": user}))

    async def delegator_rewards(self, user: str) -> list[staking.DelegatorReward]:
        return staking.parse_delegator_rewards(await self.post({"type": "delegatorRewards", "user": user}))

    async def delegator_history(self, user: str) -> list[staking.DelegatorEvent]:
        return staking.parse_delegator_history(await self.post({"type": "delegatorHistory", "user": user}))
