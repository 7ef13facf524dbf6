"""Pin the public facade: nothing leaks in or vanishes by accident."""

import trio_hl

EXPECTED = {
    "AmbiguousOutcomeError", "CancelRejected", "ConfigError", "Connector", "ConnectorConfig", "ConnectorHealth",
    "HealthChanged",
    "HyperliquidConnector", "open_connector", "InvalidOrderError", "LateFill", "ModifyRejected", "OrderAnomaly",
    "OrderCancelled", "OrderCreated", "OrderFailed", "OrderFilled", "OrderLost", "OrderModified", "OrderParams",
    "OrderPartiallyFilled", "OrderState", "OrderType", "OrderUnknown", "OrderUpdate", "PositionAction", "ProtocolError",
    "RateLimitedError", "RiskLimitError", "ServerError", "Side", "TimeInForce", "TradeUpdate", "TradingRule",
    "TransportError", "TriggerKind", "TrioHLError", "VenueRejectedError", "WireFormatError", "__version__",
    "JournalError",
}


def test_exported_names_are_pinned() -> None:
    assert set(trio_hl.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(trio_hl, name), name


def test_no_private_or_module_leaks() -> None:
    public = {n for n in dir(trio_hl) if n.isidentifier() and not n.startswith("_")}
    # sub-packages are importable attributes once imported; everything else must be in __all__
    subpackages = {"core", "errors", "hyperliquid", "emulator", "events", "testing", "cli", "demo", "execution",
                   "paper"}
    assert public - subpackages <= set(trio_hl.__all__)
