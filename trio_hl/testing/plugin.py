"""pytest plugin (registered through the ``pytest11`` entry point): an emulator and a connector as fixtures.

Why a plugin: a strategy author should test against the same venue our own suite uses - the real wire
protocol, signatures, matching and fault injection - with two fixture names and no setup code.

Fixtures (async, for pytest-trio: use ``trio_mode = true`` or mark tests ``@pytest.mark.trio``):

- ``hl_emulator`` - a running :class:`~trio_hl.emulator.Emulator`, seeded (``--hl-seed``, default 0).  Its
  ``faults`` is the live :class:`~trio_hl.emulator.FaultPlan` (assign fields mid-test), ``drop_ws_connections()``
  forces a disconnect now, ``engine.ground_truth(user)`` is what the venue knows.
- ``hl_connector`` - a :class:`~trio_hl.HyperliquidConnector` on that emulator for a fresh funded account
  (a new random key per test; pairs ``BTC`` and ``ETH``).
- ``hl_time_travel`` - ``await hl_time_travel(seconds)`` jumps a ``MockClock`` (pytest-trio's ``mock_clock``
  fixture) and brings the emulator's engine up to the new time (scheduled cancels, funding, candles).
- ``paper_market`` / ``paper_connector`` - a :class:`~trio_hl.paper.PaperConnector` (the venue-free
  ``Connector`` with simulated fills) on a scripted market: ``paper_market`` is its
  :class:`~trio_hl.paper.ManualSource`, already showing a book for each pair (5 levels a side, 2 bps apart
  around ``mid``); ``paper_market.push_trade(pair, aggressor, price, size)`` is another participant trading.
  No sockets: a strategy test on it is deterministic and works under ``autojump_clock``.

Per-test options go in markers::

    @pytest.mark.hl_emulator(quiet=True, limits=None)     # keyword arguments of open_emulator(); quiet=True
    @pytest.mark.hl_connector(pairs=("BTC",))             # means the simulated market never moves
    async def test_my_strategy(hl_connector): ...

    @pytest.mark.paper_connector(pairs=("BTC",), mid=Decimal(50_000), latency_s=0.05, risk=RiskLimits(...))
    async def test_my_strategy_on_paper(paper_connector, paper_market): ...

Defaults: ``Limits.unlimited()`` (pass ``limits=None`` for the venue's real rate limits) and connector
timeouts short enough that a fault-injection test resolves in seconds.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing

if TYPE_CHECKING:  # imported in the fixtures: loading the plugin must stay cheap for every pytest run
    from trio_hl.emulator import Emulator
    from trio_hl.hyperliquid.connector import HyperliquidConnector
    from trio_hl.hyperliquid.ws import WsSettings
    from trio_hl.paper import ManualSource, PaperConnector

__all__ = ["TimeTravel", "fast_ws_settings", "hl_connector", "hl_emulator", "hl_seed", "hl_time_travel",
           "paper_connector", "paper_market"]


def fast_ws_settings() -> WsSettings:
    """WebSocket settings for tests: a dead or stalled stream is noticed in seconds, not the production minute."""
    from trio_hl.hyperliquid.ws import WsSettings

    return WsSettings(ping_interval=5.0, stale_timeout=10.0, ack_timeout=5.0, post_timeout=2.0, connect_timeout=5.0)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trio-hl")
    group.addoption(
        "--hl-seed",
        type=int,
        default=None,
        help="seed for the hl_emulator fixture's simulated market and faults (default: $TRIO_HL_SEED or 0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hl_emulator(**options): keyword arguments for the hl_emulator fixture")
    config.addinivalue_line("markers", "hl_connector(**config): ConnectorConfig fields for the hl_connector fixture")
    config.addinivalue_line("markers", "paper_connector(pairs=, mid=, latency_s=, risk=, ...): options of the "
                                       "paper_connector fixture")


#: trio-websocket 0.12 leaks the client socket object when the server closes first (garbage-collected later,
#: with a ResourceWarning).  Tests using our fixtures see server-side closes by design (fault injection), so the
#: warning is silenced for exactly those tests - a user's own socket leaks elsewhere still surface.
_KNOWN_LEAK = "ignore:unclosed <socket.socket:ResourceWarning"
_OUR_FIXTURES = frozenset({"hl_emulator", "hl_connector", "hl_time_travel"})
_FOREVER_MS = 10**12  # ~30 years of emulator time


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _OUR_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.filterwarnings(_KNOWN_LEAK))


def _marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    """Keyword arguments of every ``name`` marker on the test (closest last, so it wins)."""
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        merged.update(marker.kwargs)
    return merged


@pytest.fixture
def hl_seed(request: pytest.FixtureRequest) -> int:
    """The seed for this test's emulator (``--hl-seed``, else ``$TRIO_HL_SEED``, else 0)."""
    option = request.config.getoption("--hl-seed", default=None)
    if option is not None:
        return int(option)
    return int(os.environ.get("TRIO_HL_SEED", "0"))


@pytest.fixture
async def hl_emulator(request: pytest.FixtureRequest, hl_seed: int) -> AsyncIterator[Emulator]:
    """A running emulator for this test (see the module doc for options)."""
    from trio_hl.emulator import Limits, open_emulator

    options = _marker_kwargs(request, "hl_emulator")
    options.setdefault("seed", hl_seed)
    options.setdefault("limits", Limits.unlimited())
    if options.pop("quiet", False):
        # The simulated market stands still (no price moves, no takers) while the clock keeps running:
        # books keep their exact prices, and scheduled cancels, funding and book heartbeats still happen.
        engine_options = dict(options.get("engine_options") or {})
        market_options = dict(engine_options.get("market_options") or {})
        market_options.setdefault("move_interval_ms", _FOREVER_MS)
        market_options.setdefault("take_interval_ms", _FOREVER_MS)
        engine_options["market_options"] = market_options
        options["engine_options"] = engine_options
    async with open_emulator(**options) as emulator:
        yield emulator


@pytest.fixture
async def hl_connector(request: pytest.FixtureRequest, hl_emulator: Emulator) -> AsyncIterator[HyperliquidConnector]:
    """A connector on ``hl_emulator`` for a fresh account (random key; the emulator funds it on first use)."""
    from trio_hl.hyperliquid.config import ConnectorConfig
    from trio_hl.hyperliquid.connector import open_connector
    from trio_hl.hyperliquid.signing import LocalSigner

    fields = _marker_kwargs(request, "hl_connector")
    ws_settings = fields.pop("ws_settings", None) or fast_ws_settings()
    fields.setdefault("pairs", ("BTC", "ETH"))
    fields.setdefault("request_timeout", 2.0)
    fields.setdefault("private_key", LocalSigner.generate().export_private_key_hex())
    config = ConnectorConfig(base_url=hl_emulator.url, **fields)
    async with open_connector(config, ws_settings=ws_settings) as connector:
        yield connector


@attrs.define
class TimeTravel:
    """Moves time for a test running under ``MockClock``: the Trio clock and the emulator together.

    The emulator's clock follows Trio time, so jumping the ``MockClock`` moves the venue too; ``__call__`` then
    ticks the engine (scheduled cancels fire, funding accrues) and waits until every task is blocked.  Sockets
    are real, so "blocked" includes tasks waiting on the network: follow up with an event wait, not a sleep.
    """

    emulator: Emulator

    async def __call__(self, seconds: float) -> None:
        clock = trio.lowlevel.current_clock()
        if not isinstance(clock, trio.testing.MockClock):
            raise RuntimeError("hl_time_travel needs a MockClock: add pytest-trio's `mock_clock` fixture to the test")
        if seconds < 0:
            raise ValueError("time only travels forward")
        clock.jump(seconds)
        self.emulator.tick()
        await trio.testing.wait_all_tasks_blocked()


@pytest.fixture
def hl_time_travel(hl_emulator: Emulator) -> TimeTravel:
    """``await hl_time_travel(seconds)``: jump the MockClock and the emulator together (see :class:`TimeTravel`)."""
    return TimeTravel(hl_emulator)


@pytest.fixture
async def paper_market(request: pytest.FixtureRequest) -> ManualSource:
    """The scripted market of ``paper_connector`` (see the module doc), showing its opening books."""
    from decimal import Decimal

    from trio_hl.paper import ManualSource

    options = _marker_kwargs(request, "paper_connector")
    mid = Decimal(options.get("mid", 100_000))
    step = mid * 2 / 10_000
    source = ManualSource()
    for pair in options.get("pairs", ("BTC", "ETH")):
        source.push_book(pair, [(mid - step * i, Decimal(1)) for i in range(1, 6)],
                         [(mid + step * i, Decimal(1)) for i in range(1, 6)])
    return source


@pytest.fixture
async def paper_connector(request: pytest.FixtureRequest, paper_market: ManualSource) -> AsyncIterator[PaperConnector]:
    """A paper connector on ``paper_market`` (marker options: ``pairs``, ``mid``, ``latency_s``, ``taker_fee``,
    ``maker_fee``, ``risk``, ``journal_path``, ``seed``, ``rules``).  Without ``rules``, every pair gets rules of
    Hyperliquid's shape for a price of ``mid``'s size: 5 significant figures, ``d = 5 - digits(mid)`` price
    decimals at most, a lot of ``10**-(6 - d)``, a 10 (quote) minimum order value."""
    from decimal import Decimal

    from trio_hl.core.types import TradingRule
    from trio_hl.paper import FillModel, open_paper_connector

    options = _marker_kwargs(request, "paper_connector")
    model = FillModel(latency_s=options.get("latency_s", 0.0),
                      taker_fee=Decimal(options.get("taker_fee", "0.00045")),
                      maker_fee=Decimal(options.get("maker_fee", "0.00015")))
    decimals = max(0, 5 - len(str(int(Decimal(options.get("mid", 100_000))))))
    step = Decimal(1).scaleb(-(6 - decimals))
    rules = options.get("rules") or {
        p: TradingRule(p, size_step=step, min_size=step, min_notional=Decimal(10), max_price_decimals=decimals,
                       max_price_sig_figs=5) for p in options.get("pairs", ("BTC", "ETH"))}
    async with open_paper_connector(paper_market, rules, fill_model=model, risk=options.get("risk"),
                                    journal_path=options.get("journal_path"), seed=options.get("seed", 0)) as conn:
        yield conn
