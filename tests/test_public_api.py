"""Pin the public facade: nothing leaks in or vanishes by accident."""

import trio_hl

EXPECTED = {
    "AmbiguousOutcomeError", "CancelRejected", "ConfigError", "Connector", "ConnectorConfig", "ConnectorHealth",
    "HealthChanged",
    "HyperliquidConnector", "open_connector", "InvalidOrderError", "LateFill", "ModifyRejected", "OrderAnomaly",
    "OrderCancelled", "OrderCreated", "OrderFailed", "OrderFilled", "OrderLost", "OrderModified", "OrderParams",
    "OrderPartiallyFilled", "OrderState", "OrderType", "OrderUnknown", "OrderUpdate", "PositionAction", "ProtocolError",
    "RateLimitedError", "RiskLimitError", "ServerError", "Side", "TimeInForce", "TradeUpdate", "TradingRule",
    "TransportError", "TriggerKind", "TrioHLError", "UnknownOrderError", "UnknownPairError", "VenueRejectedError",
    "WireFormatError", "__version__", "JournalError",
}


def test_exported_names_are_pinned() -> None:
    assert set(trio_hl.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(trio_hl, name), name


def test_no_private_or_module_leaks() -> None:
    public = {n for n in dir(trio_hl) if n.isidentifier() and not n.startswith("_")}
    # sub-packages are importable attributes once imported; everything else must be in __all__
    subpackages = {"core", "errors", "hyperliquid", "emulator", "events", "testing", "cli", "cli_args", "cli_errors",
                   "demo", "execution", "paper"}
    assert public - subpackages <= set(trio_hl.__all__)


def test_lazy_exports_agree_with_all() -> None:
    """Every name in ``__all__`` (but the version) is loaded from the module ``_EXPORTS`` names, and is the
    object that module defines."""
    import importlib

    assert set(trio_hl._EXPORTS) == set(trio_hl.__all__) - {"__version__"}
    for name, module in trio_hl._EXPORTS.items():
        assert getattr(trio_hl, name) is getattr(importlib.import_module(module), name)


def test_importing_the_package_and_the_cli_loads_nothing_heavy() -> None:
    """``import trio_hl.cli`` must not import trio (nor httpx, zmq): the CLI catches a Ctrl-C during its
    start-up only for the imports that run inside ``main()``."""
    import subprocess
    import sys

    code = ("import sys, trio_hl, trio_hl.cli; "
            "print(sorted(m for m in ('trio', 'httpx', 'zmq', 'attrs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
