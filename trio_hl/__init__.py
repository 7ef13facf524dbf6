"""trio-hl: a Trio-native Hyperliquid trading toolkit.

This module only re-exports the public names (DESIGN §4); code lives in the sub-packages.

The names are loaded on first use (PEP 562 ``__getattr__``): ``import trio_hl`` alone imports nothing heavy, so
the ``trio-hl`` command can catch a Ctrl-C during its own start-up (the imports of trio, httpx, zmq... happen
inside its error handling), and ``trio-hl --help`` answers at once.  ``from trio_hl import open_connector``
works as before; type checkers read the imports under ``TYPE_CHECKING``.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
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
        UnknownOrderError,
        UnknownPairError,
        VenueRejectedError,
        WireFormatError,
    )
    from trio_hl.hyperliquid.config import ConnectorConfig
    from trio_hl.hyperliquid.connector import ConnectorHealth, HyperliquidConnector, open_connector

# name -> module that defines it; ``tests/test_public_api.py`` checks this agrees with ``__all__``.
_EXPORTS: dict[str, str] = {
    "AmbiguousOutcomeError": "trio_hl.errors",
    "CancelRejected": "trio_hl.core.events",
    "ConfigError": "trio_hl.errors",
    "Connector": "trio_hl.core.connector",
    "ConnectorConfig": "trio_hl.hyperliquid.config",
    "ConnectorHealth": "trio_hl.hyperliquid.connector",
    "HealthChanged": "trio_hl.core.events",
    "HyperliquidConnector": "trio_hl.hyperliquid.connector",
    "InvalidOrderError": "trio_hl.errors",
    "JournalError": "trio_hl.errors",
    "LateFill": "trio_hl.core.events",
    "ModifyRejected": "trio_hl.core.events",
    "OrderAnomaly": "trio_hl.core.events",
    "OrderCancelled": "trio_hl.core.events",
    "OrderCreated": "trio_hl.core.events",
    "OrderFailed": "trio_hl.core.events",
    "OrderFilled": "trio_hl.core.events",
    "OrderLost": "trio_hl.core.events",
    "OrderModified": "trio_hl.core.events",
    "OrderParams": "trio_hl.core.types",
    "OrderPartiallyFilled": "trio_hl.core.events",
    "OrderState": "trio_hl.core.types",
    "OrderType": "trio_hl.core.types",
    "OrderUnknown": "trio_hl.core.events",
    "OrderUpdate": "trio_hl.core.updates",
    "PositionAction": "trio_hl.core.types",
    "ProtocolError": "trio_hl.errors",
    "RateLimitedError": "trio_hl.errors",
    "RiskLimitError": "trio_hl.errors",
    "ServerError": "trio_hl.errors",
    "Side": "trio_hl.core.types",
    "TimeInForce": "trio_hl.core.types",
    "TradeUpdate": "trio_hl.core.updates",
    "TradingRule": "trio_hl.core.types",
    "TransportError": "trio_hl.errors",
    "TriggerKind": "trio_hl.core.types",
    "TrioHLError": "trio_hl.errors",
    "UnknownOrderError": "trio_hl.errors",
    "UnknownPairError": "trio_hl.errors",
    "VenueRejectedError": "trio_hl.errors",
    "WireFormatError": "trio_hl.errors",
    "open_connector": "trio_hl.hyperliquid.connector",
}

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
    "UnknownOrderError",
    "UnknownPairError",
    "VenueRejectedError",
    "WireFormatError",
    "__version__",
    "open_connector",
]


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_hl' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
