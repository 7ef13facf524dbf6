"""trio-hl: a Trio-native Hyperliquid trading toolkit.

This module only re-exports the public names (DESIGN §4); code lives in the sub-packages.
"""

from trio_hl.core.connector import Connector
from trio_hl.core.events import (
    CancelRejected,
    HealthChanged,
    LateFill,
    ModifyRejected,
    OrderAnomaly,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderLost,
    OrderModified,
    OrderPartiallyFilled,
    OrderUnknown,
)
from trio_hl.core.types import (
    OrderParams,
    OrderState,
    OrderType,
    PositionAction,
    Side,
    TimeInForce,
    TradingRule,
    TriggerKind,
)
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import (
    AmbiguousOutcomeError,
    ConfigError,
    InvalidOrderError,
    JournalError,
    ProtocolError,
    RateLimitedError,
    RiskLimitError,
    ServerError,
    TransportError,
    TrioHLError,
    VenueRejectedError,
    WireFormatError,
)
from trio_hl.hyperliquid.config import ConnectorConfig
from trio_hl.hyperliquid.connector import ConnectorHealth, HyperliquidConnector, open_connector

__version__ = "0.1.0"

__all__ = [
    "AmbiguousOutcomeError",
    "CancelRejected",
    "ConfigError",
    "Connector",
    "ConnectorConfig",
    "ConnectorHealth",
    "HealthChanged",
    "HyperliquidConnector",
    "InvalidOrderError",
    "JournalError",
    "LateFill",
    "ModifyRejected",
    "OrderAnomaly",
    "OrderCancelled",
    "OrderCreated",
    "OrderFailed",
    "OrderFilled",
    "OrderLost",
    "OrderModified",
    "OrderParams",
    "OrderPartiallyFilled",
    "OrderState",
    "OrderType",
    "OrderUnknown",
    "OrderUpdate",
    "PositionAction",
    "ProtocolError",
    "RateLimitedError",
    "RiskLimitError",
    "ServerError",
    "Side",
    "TimeInForce",
    "TradeUpdate",
    "TradingRule",
    "TransportError",
    "TriggerKind",
    "TrioHLError",
    "VenueRejectedError",
    "WireFormatError",
    "__version__",
    "open_connector",
]
