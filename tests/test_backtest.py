"""``trio-hl backtest``: the demo's strategy replayed over a recorded hour of books (generated here from the
emulator's seeded market, nothing committed) gives the same result twice, trades, ends flat of orders, and the
CLI prints the demo's summary; configuration errors are one line."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_hl import HyperliquidConnector
from trio_hl.cli import build_parser, main
from trio_hl.core.types import TradingRule
from trio_hl.demo import DemoOptions
from trio_hl.demo.backtest import backtest_main, run_backtest
from trio_hl.emulator.capture import write_capture
from trio_hl.paper import FillModel
from trio_hl.paper.recorded import RecordedSource, read_rules, record_capture

D = Decimal


@pytest.fixture(scope="module")
def recorded_hour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "btc-hour.jsonl"
    stats = write_capture(path, pair="BTC", seconds=3600, seed=11)
    assert stats.books > 3000 and stats.trades > 500
    return path


def test_the_capture_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_capture(a, seconds=60, seed=4)
    write_capture(b, seconds=60, seed=4)
    assert a.read_bytes() == b.read_bytes()
    frames = list(RecordedSource(a).frames())
    assert frames[0].timestamp < frames[-1].timestamp <= frames[0].timestamp + 60


def test_a_backtest_of_the_demo_strategy_over_an_hour_is_deterministic(recorded_hour: Path) -> None:
    opts = DemoOptions(pair="BTC", zmq=None)
    model = FillModel(latency_s=0.05)
    first = run_backtest(recorded_hour, opts, fill_model=model, seed=1)
    second = run_backtest(recorded_hour, opts, fill_model=model, seed=1)
    assert first.summary == second.summary
    s = first.summary
    assert s.seconds == pytest.approx(3600, abs=1)
    assert s.fills > 100 and s.orders_placed > 100 and s.modifies > 0
    assert s.bought - s.sold == s.position == s.venue_position
    assert s.open_orders_left == 0 and s.venue_open_orders == 0 and s.clean_shutdown
    assert s.ack_latency_p50_ms == pytest.approx(50.0)
    # the fill model's parameters matter: a rebate instead of a fee moves the fees by the whole volume's rebate
    rebate = run_backtest(recorded_hour, opts, fill_model=FillModel(latency_s=0.05, maker_fee=D("-0.0001")), seed=1)
    assert rebate.summary.fees < 0 < s.fees


def test_the_backtest_command_prints_the_demos_summary(recorded_hour: Path) -> None:
    out = io.StringIO()
    args = build_parser().parse_args(["backtest", str(recorded_hour), "--latency-ms", "20", "--maker-fee", "0"])
    assert backtest_main(args, out=out) == 0
    text = out.getvalue()
    assert text.startswith("trio-hl demo: BTC on backtest of btc-hour.jsonl")
    assert "fills " in text and "pnl " in text and "open at exit: ours 0" in text and "replay " in text


def test_backtest_configuration_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(tmp_path / "missing.jsonl")]) == 2  # 2: the command line must change
    err = capsys.readouterr().err
    assert err.startswith("trio-hl backtest: no such capture file") and err.count("\n") == 1
    path = tmp_path / "cap.jsonl"
    write_capture(path, seconds=5)
    assert main(["backtest", str(path), "--strategy", "nope"]) == 2
    assert "module:Class" in capsys.readouterr().err
    assert main(["backtest", str(path), "--strategy", "trio_hl.demo:NoSuchClass"]) == 2
    assert "NoSuchClass" in capsys.readouterr().err
    assert main(["backtest", str(path), "--pair", "ETH"]) == 2
    assert "no trading rules for 'ETH'" in capsys.readouterr().err
    assert main(["capture", str(tmp_path / "x.jsonl"), "--pair", "NOPE", "--seconds", "1"]) == 2
    assert "no market 'NOPE'" in capsys.readouterr().err


@pytest.mark.hl_emulator(engine_options={"market_options": {"move_interval_ms": 100, "take_interval_ms": 150}})
@pytest.mark.hl_connector(pairs=("BTC",))
async def test_a_connectors_live_data_recorded_is_a_capture_the_backtest_replays(hl_connector: HyperliquidConnector,
                                                                                  tmp_path: Path) -> None:
    """``trio-hl capture --base-url``: the live books and trades of a connector (here on the emulator, whose market
    moves every 100 ms), written in the capture format, read back frame for frame, rules included."""
    path = tmp_path / "live.jsonl"
    counts = await record_capture(hl_connector, ("BTC",), path, seconds=1.5)
    assert counts.books > 3 and counts.trades > 0
    frames = list(RecordedSource(path).frames())
    assert len(frames) == counts.books + counts.trades
    assert read_rules(path) == {"BTC": hl_connector.trading_rule("BTC")}
    # (a backtest is its own trio.run on a MockClock: in a worker thread, since this test already runs Trio)
    result = await trio.to_thread.run_sync(lambda: run_backtest(path, DemoOptions(pair="BTC", zmq=None)))
    assert result.frames == len(frames) and result.summary.clean_shutdown


class _Idle:
    """A strategy that only reads its events."""

    def __init__(self, conn: object, pair: str, params: object) -> None:
        pass

    async def run(self, events: trio.MemoryReceiveChannel[object]) -> None:
        async for _ in events:
            pass


async def test_trade_session_unsubscribes_its_event_channels(autojump_clock: trio.testing.MockClock) -> None:
    """``trade_session`` on a connector that lives on (a second session, a demo that goes on) must close the
    ``events()`` channels it opened: an abandoned subscriber fills its buffer and then blocks the connector's
    event pump for every other subscriber."""
    from trio_hl.demo.backtest import trade_session
    from trio_hl.demo.runner import DemoOptions
    from trio_hl.paper import ManualSource, open_paper_connector

    rule = TradingRule("BTC", size_step=Decimal("0.001"), min_size=Decimal("0.001"), min_notional=Decimal(10),
                       max_price_decimals=1, max_price_sig_figs=5)
    source = ManualSource()
    source.push_book("BTC", [(Decimal(99990), Decimal(2))], [(Decimal(100010), Decimal(1))])
    async with open_paper_connector(source, {"BTC": rule}, seed=1) as conn:
        opened: list[trio.MemoryReceiveChannel[object]] = []
        subscribe = conn.events

        def events(buffer: int | None = None) -> trio.MemoryReceiveChannel[object]:
            channel = subscribe(buffer)
            opened.append(channel)  # type: ignore[arg-type]
            return channel  # type: ignore[return-value]

        conn.events = events  # type: ignore[method-assign, assignment]

        async def one_second() -> None:
            await trio.sleep(1)

        await trade_session(conn, _Idle, DemoOptions(size=Decimal("0.001"), shutdown_timeout=1.0), venue="paper",
                            until=one_second)
        assert len(opened) == 2
        assert [c.statistics().open_receive_channels for c in opened] == [0, 0]
