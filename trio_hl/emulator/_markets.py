"""The emulator's listed markets and the static metadata the venue answers about them.

Rule followed (PROTOCOL §5, §7): a perp's asset id is its index in ``meta.universe`` for the default dex and
``100000 + dex_index * 10000 + index`` for a builder-deployed (HIP-3) dex; a spot pair's is ``10000 + spot
index``.  Coins are the perp name (``"xyz:TEST"`` for the builder dex), ``"PURR/USDC"`` for PURR (the one
canonical pair) and ``"@N"`` for other spot pairs.  The markets exercise what clients get wrong: three perps
with different ``szDecimals`` (so different tick sizes at realistic prices), a builder-dex asset with a
six-digit id, and spot pairs whose coin is not their name.

Alternative rejected: a configurable market list read from a file.  Every test, demo and benchmark assumes
the same markets (the interface document fixes them), so a second source of truth would only drift.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import attrs

__all__ = ["MARKETS", "PERP_DEXS", "SPOT_TOKENS", "MarketSpec", "SpotToken", "tick_for"]


@attrs.frozen
class SpotToken:
    name: str
    index: int
    sz_decimals: int
    wei_decimals: int
    full_name: str | None

    def to_wire(self) -> dict[str, Any]:
        # tokenId is a 16-byte hex id on the venue; derive a stable fake one from the index.
        return {
            "name": self.name,
            "szDecimals": self.sz_decimals,
            "weiDecimals": self.wei_decimals,
            "index": self.index,
            "tokenId": f"0x{self.index + 0xC1FB593AEFFBEB02F85E0308E9956A90:032x}",
            "isCanonical": self.index <= 1,
            "evmContract": None,
            "fullName": self.full_name,
            "deployerTradingFeeShare": "0.0",
        }


@attrs.frozen
class MarketSpec:
    """One listed market: identity, precision, leverage and the simulated market's starting mid."""

    asset: int
    coin: str
    sz_decimals: int
    is_spot: bool
    initial_mid: Decimal
    max_leverage: int = 1
    dex: str = ""
    base_token: int = 0
    quote_token: int = 0
    spot_index: int = -1
    #: Typical size of one market-maker level, in quote currency.
    level_notional: Decimal = Decimal(20000)

    @property
    def max_price_decimals(self) -> int:
        return (8 if self.is_spot else 6) - self.sz_decimals


SPOT_TOKENS: Final = (
    SpotToken("USDC", 0, 8, 8, None),
    SpotToken("PURR", 1, 0, 5, None),  # the venue gives both no fullName (2025 recording)
    SpotToken("HFUN", 2, 2, 8, None),
)

MARKETS: Final = (
    MarketSpec(0, "BTC", 5, False, Decimal(97000), max_leverage=40, level_notional=Decimal(60000)),
    MarketSpec(1, "ETH", 4, False, Decimal(3400), max_leverage=25, level_notional=Decimal(40000)),
    MarketSpec(2, "SOL", 2, False, Decimal(150), max_leverage=20, level_notional=Decimal(20000)),
    MarketSpec(110000, "xyz:TEST", 2, False, Decimal(25), max_leverage=10, dex="xyz", level_notional=Decimal(5000)),
    MarketSpec(10000, "PURR/USDC", 0, True, Decimal("0.2"), base_token=1, quote_token=0, spot_index=0,
               level_notional=Decimal(3000)),
    MarketSpec(10001, "@1", 2, True, Decimal(5), base_token=2, quote_token=0, spot_index=1,
               level_notional=Decimal(3000)),
)

#: The ``perpDexs`` answer: position 0 (``null``) is the default dex, position 1 the builder dex "xyz".
PERP_DEXS: Final[list[Any]] = [
    None,
    {
        "name": "xyz",
        "fullName": "XYZ test dex",
        "deployer": "0x0000000000000000000000000000000000000b1d",
        "oracleUpdater": None,
        "feeRecipient": None,
        "assetToStreamingOiCap": [["xyz:TEST", "1000000.0"]],
    },
]


def tick_for(px: Decimal, spec: MarketSpec) -> Decimal:
    """The price step a valid price near ``px`` has: 5 significant figures, at most the asset's decimals,
    and never below 1 for prices of 100000 and more (integers are always valid)."""
    exp = px.adjusted() - 4
    step_exp = max(exp, -spec.max_price_decimals)
    step_exp = min(step_exp, 0)  # integer prices are always allowed, so the step never exceeds 1
    return Decimal(1).scaleb(step_exp)
