"""The ``Connector`` protocol: venue-free layering (core/ and execution/ import no venue code), the Hyperliquid
connector satisfying it at run time, its new members (trading rules, positions, balances, the venue's view of an
order, public trades), and ``trio_hl.core.quantize`` agreeing with Hyperliquid's wire rounding."""

from __future__ import annotations

import ast
from contextlib import aclosing
from decimal import Decimal
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

import trio_hl
from trio_hl import HyperliquidConnector, OrderFilled, OrderParams, Side
from trio_hl.core.connector import Connector, Position, PublicTrade
from trio_hl.core.quantize import floor_size, round_price
from trio_hl.core.types import OrderState, OrderType
from trio_hl.emulator import Emulator
from trio_hl.errors import InvalidOrderError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.meta import AssetInfo
from trio_hl.testing.events import next_event

D = Decimal
PACKAGE = Path(trio_hl.__file__).parent
VENUE_PACKAGES = ("trio_hl.hyperliquid", "trio_hl.emulator")
#: Modules that must stay venue-free: every module of core/ and execution/, the demo's strategy, the testing
#: toolkit's venue-free helpers (the conformance suite, the event helper) and the paper connector (all of it but
#: ``recorded.py``, the reader of Hyperliquid's capture format).
VENUE_FREE = [
    *sorted((PACKAGE / "core").rglob("*.py")),
    *sorted((PACKAGE / "execution").rglob("*.py")),
    PACKAGE / "demo" / "strategy.py",
    PACKAGE / "testing" / "events.py",
    PACKAGE / "testing" / "conformance.py",
    *sorted(p for p in (PACKAGE / "paper").rglob("*.py") if p.name != "recorded.py"),
]


def _imported_modules(path: Path) -> list[str]:
    """Every module an ``import`` statement anywhere in ``path`` names (function bodies and TYPE_CHECKING blocks
    included), relative imports resolved against the file's package."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_core_execution_and_the_demo_strategy_import_no_venue_code() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): venue
        for path in VENUE_FREE
        if (venue := [m for m in _imported_modules(path) if m.startswith(VENUE_PACKAGES)])
    }
    assert len(VENUE_FREE) > 20
    assert offenders == {}


def test_the_import_walk_sees_imports_in_functions_and_relative_ones(tmp_path: Path) -> None:
    """The check above would catch what it is for: a venue import hidden in a function, or a relative one."""
    probe = PACKAGE / "core" / "connector.py"
    assert "trio_hl.core.risk.RiskManager" in _imported_modules(probe)
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from trio_hl.hyperliquid import wire\n")
    tree_names = [n.module for n in ast.walk(ast.parse(fake.read_text())) if isinstance(n, ast.ImportFrom)]
    assert tree_names == ["trio_hl.hyperliquid"]


def test_moved_names_still_resolve_from_the_execution_package() -> None:
    from trio_hl import execution
    from trio_hl.hyperliquid.native_twap import NativeTwap

    assert execution.NativeTwap is NativeTwap
    with pytest.raises(AttributeError):
        _ = execution.NoSuchThing  # type: ignore[attr-defined]


# ====================================================================================== quantize == wire


@given(
    mantissa=st.integers(1, 10**9),
    exponent=st.integers(-12, 4),
    sz_decimals=st.integers(0, 6),
    is_spot=st.booleans(),
    side=st.sampled_from(Side),
    aggressive=st.booleans(),
)
def test_core_rounding_equals_hyperliquid_wire_rounding(mantissa: int, exponent: int, sz_decimals: int,
                                                        is_spot: bool, side: Side, aggressive: bool) -> None:
    price = D(mantissa).scaleb(exponent)
    rule = AssetInfo("X", "X", 0, sz_decimals, is_spot).trading_rule()
    try:
        expected: Decimal | None = wire.round_price(price, sz_decimals, is_spot, side=side, aggressive=aggressive)
    except InvalidOrderError:
        expected = None
    try:
        got: Decimal | None = round_price(price, rule, side=side, aggressive=aggressive)
    except InvalidOrderError:
        got = None
    assert got == expected
    assert floor_size(price, rule) == wire.floor_size(price, sz_decimals)


def test_fixed_tick_rounding_goes_the_passive_way_unless_aggressive() -> None:
    from trio_hl.core.types import TradingRule

    rule = TradingRule("X", size_step=D("0.01"), min_size=D("0.01"), price_tick=D("0.5"))
    assert round_price(D("100.3"), rule, side=Side.BUY) == D("100.0")
    assert round_price(D("100.3"), rule, side=Side.SELL) == D("100.5")
    assert round_price(D("100.3"), rule, side=Side.BUY, aggressive=True) == D("100.5")
    with pytest.raises(InvalidOrderError):
        round_price(D("0.3"), rule, side=Side.BUY)


# ====================================================================================== Hyperliquid connector


@pytest.mark.hl_emulator(quiet=True)
@pytest.mark.hl_connector(pairs=("BTC",))
async def test_hyperliquid_connector_is_a_connector_and_reports_rules_positions_and_balances(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector,
) -> None:
    conn = hl_connector
    assert isinstance(conn, Connector)
    rule = conn.trading_rule("BTC")
    assert rule.size_step == conn.registry.by_pair("BTC").size_step and rule.max_price_sig_figs == 5
    with pytest.raises(InvalidOrderError):
        conn.trading_rule("NOPE")
    assert conn.positions() == {}
    balances = await conn.balances()
    assert balances["USDC"].total == D(100_000) and balances["USDC"].available == D(100_000)
    cid = conn.new_client_order_id()
    assert wire.validate_cloid(cid) == cid and cid != conn.new_client_order_id()
    assert await conn.query_order(cid) is None

    book = conn.book("BTC")
    assert book.best_ask is not None
    ask = book.best_ask.price
    events = conn.events()
    cid = conn.buy(OrderParams("BTC", D("0.001"), ask * D("1.01"), order_type=OrderType.MARKET,
                               client_order_id=cid))
    await next_event(events, OrderFilled, client_order_id=cid)
    assert conn.positions() == {"BTC": Position("BTC", D("0.001"))}
    venue = await conn.query_order(cid)
    assert venue is not None and venue.state is OrderState.FILLED and venue.filled == D("0.001")


@pytest.mark.hl_emulator(quiet=True)
@pytest.mark.hl_connector(pairs=("BTC",))
async def test_hyperliquid_watch_trades_yields_the_public_tape(hl_emulator: Emulator,
                                                               hl_connector: HyperliquidConnector) -> None:
    """Trades taken from the (quiet) maker ladder show on ``watch_trades`` with the aggressor's side.  The first
    ``watch_trades`` subscribes, and the venue's ack is not observable from here, so the taker trades again until
    one is seen (bounded) rather than guessing how long the subscription takes."""
    conn = hl_connector
    book = conn.book("BTC")
    assert book.best_ask is not None
    ask = book.best_ask.price
    seen: list[PublicTrade] = []

    async def watch(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with aclosing(conn.watch_trades("BTC")) as trades:
            async for trade in trades:
                seen.append(trade)
                return

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(watch)
            while not seen:
                hl_emulator.trade("BTC", True, ask, D("0.001"))
                await trio.sleep(0.05)
    assert seen[0].pair == "BTC" and seen[0].side is Side.BUY and seen[0].price == ask
    assert seen[0].size == D("0.001") and seen[0].trade_id
