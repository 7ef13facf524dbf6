"""The public pytest plugin (trio_hl.testing.plugin): hl_emulator, hl_connector, markers, seed, time travel."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio
import trio.testing

from trio_hl import Connector, HyperliquidConnector, OrderCreated, OrderFilled, OrderParams, Side
from trio_hl.emulator import Emulator
from trio_hl.paper import ManualSource
from trio_hl.testing.events import next_event

D = Decimal
# (no ResourceWarning filter here: the plugin adds it to every test that uses its fixtures)


@pytest.mark.hl_emulator(quiet=True)
async def test_connector_fixture_trades_on_the_emulator_fixture(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    events = hl_connector.events()
    book = hl_connector.book("BTC")
    assert book.best_bid is not None
    px = (book.best_bid.price * D("0.9")).quantize(D(1))
    cid = hl_connector.buy(OrderParams("BTC", D("0.001"), px))
    created = await next_event(events, OrderCreated)
    assert created.client_order_id == cid
    truth = hl_emulator.engine.ground_truth(hl_connector.user)
    assert [(o["cloid"], o["status"]) for o in truth["orders"]] == [(cid, "open")]
    assert hl_connector.config.pairs == ("BTC", "ETH")


@pytest.mark.hl_emulator(quiet=True)
@pytest.mark.hl_connector(pairs=("ETH",))
async def test_markers_configure_the_fixtures(hl_emulator: Emulator, hl_connector: HyperliquidConnector) -> None:
    assert hl_connector.config.pairs == ("ETH",)
    market = hl_emulator.engine.market  # quiet: the simulated market does not move, the clock still runs
    assert market is not None and market.move_interval_ms >= 10**12 and market.take_interval_ms >= 10**12
    assert hl_emulator.app.tick_interval_s < 1.0


@pytest.mark.hl_emulator(quiet=True)
async def test_fill_while_disconnected_arrives_after_the_gap_fill(
    hl_emulator: Emulator, hl_connector: HyperliquidConnector
) -> None:
    events = hl_connector.events()
    book = hl_connector.book("BTC")
    assert book.best_bid is not None and book.best_ask is not None
    px = ((book.best_bid.price + book.best_ask.price) / 2).quantize(D(1))  # our order becomes the best ask
    cid = hl_connector.sell(OrderParams("BTC", D("0.002"), px))
    await next_event(events, OrderCreated)
    reconnects = hl_connector.health().ws_reconnects
    assert hl_emulator.drop_ws_connections() >= 1  # closed now: the trade's messages go to no one
    assert hl_emulator.trade("BTC", True, px, D("0.002")) == D("0.002")
    filled = await next_event(events, OrderFilled, fail_after_s=30)
    assert filled.client_order_id == cid
    assert hl_connector.get_order(cid).executed_amount == D("0.002")  # type: ignore[union-attr]
    assert hl_connector.health().ws_reconnects > reconnects


def test_seed_option_reaches_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_seed(hl_seed):
            assert hl_seed == 42
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--hl-seed", "42").assert_outcomes(passed=1)


async def test_time_travel_moves_the_emulator_with_the_mock_clock(
    mock_clock: trio.testing.MockClock, hl_emulator: Emulator, hl_time_travel: object
) -> None:
    before = hl_emulator.now_ms()
    await hl_time_travel(3600.0)  # type: ignore[operator]
    assert hl_emulator.now_ms() - before == 3_600_000


async def test_time_travel_refuses_without_a_mock_clock(hl_emulator: Emulator, hl_time_travel: object) -> None:
    with pytest.raises(RuntimeError, match="mock_clock"):
        await hl_time_travel(1.0)  # type: ignore[operator]


@pytest.mark.paper_connector(pairs=("SOL",), mid=Decimal(150), latency_s=0.1)
async def test_paper_fixtures_give_a_scripted_market_under_a_jumping_clock(
    paper_connector: Connector, paper_market: ManualSource, autojump_clock: trio.testing.MockClock,
) -> None:
    """The paper fixtures: a ``Connector`` on a scripted market, its options from the marker, no sockets, so a
    strategy test runs under ``autojump_clock`` (the 0.1 s latency passes in no wall time)."""
    conn = paper_connector
    assert conn.mid("SOL") == Decimal(150) and isinstance(conn, Connector)
    events = conn.events()
    sent = trio.current_time()
    cid = conn.buy(OrderParams("SOL", Decimal("0.1"), Decimal("149.99")))
    await next_event(events, OrderCreated, client_order_id=cid)
    assert trio.current_time() - sent == pytest.approx(0.1)
    paper_market.push_trade("SOL", Side.SELL, Decimal("149.99"), Decimal("0.1"))
    filled = await next_event(events, OrderFilled, client_order_id=cid)
    assert isinstance(filled, OrderFilled) and conn.position("SOL") == Decimal("0.1")
