"""The execution algorithms are venue-free: TWAP and iceberg run unchanged on the paper connector - a TWAP over a
recorded market on a jumping clock (minutes of schedule in milliseconds), an iceberg against scripted trades."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio
import trio.testing

from trio_hl import OrderCreated, Side
from trio_hl.core.types import TradingRule
from trio_hl.emulator.capture import write_capture
from trio_hl.execution import ExecutionStatus, Iceberg, IcebergParams, Twap, TwapParams
from trio_hl.paper import FillModel, ManualSource, open_paper_connector
from trio_hl.paper.recorded import RecordedSource, read_rules
from trio_hl.testing.events import next_event

D = Decimal
RULE = TradingRule("BTC", size_step=D("0.00001"), min_size=D("0.00001"), min_notional=D(10), max_price_decimals=1,
                   max_price_sig_figs=5)


def test_a_twap_completes_on_the_paper_connector_over_a_recorded_market(tmp_path: Path) -> None:
    path = tmp_path / "ten-minutes.jsonl"
    write_capture(path, seconds=600, seed=2)

    async def main() -> tuple[object, Decimal, int]:
        async with open_paper_connector(RecordedSource(path), read_rules(path), seed=3,
                                        fill_model=FillModel(latency_s=0.05)) as conn:
            twap = Twap(conn, TwapParams("BTC", Side.BUY, total=D("0.02"), duration_s=300, slices=10,
                                         max_slippage=D("0.002")), state_path=tmp_path / "twap.json")
            started = trio.current_time()
            report = await twap.run()
            return report, conn.position("BTC"), round(trio.current_time() - started)

    report, position, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert report.status is ExecutionStatus.COMPLETED  # type: ignore[attr-defined]
    assert report.filled == D("0.02") == position  # type: ignore[attr-defined]
    assert report.slices_sent == 10 and report.average_price is not None  # type: ignore[attr-defined]
    assert 270 <= elapsed <= 300  # the schedule ran on the recording's clock: 10 slices 30 s apart


async def test_an_iceberg_shows_one_slice_at_a_time_on_the_paper_connector(tmp_path: Path) -> None:
    source = ManualSource()
    source.push_book("BTC", [(D(99990), D(1))], [(D(100010), D(1))])
    async with open_paper_connector(source, {"BTC": RULE}, seed=4) as conn:
        events = conn.events()
        iceberg = Iceberg(conn, IcebergParams("BTC", Side.SELL, total=D("0.003"), price=D(100000),
                                              visible=D("0.001")))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(iceberg.run)
            for _ in range(3):
                created = await next_event(events, OrderCreated)
                live = [o for o in conn.open_orders() if o.pair == "BTC"]
                assert [o.amount for o in live] == [D("0.001")]  # never more than ``visible`` shown
                assert created.client_order_id == live[0].client_order_id
                source.push_trade("BTC", Side.BUY, D(100000), D("0.001"))  # someone lifts it
        report = iceberg.report()
    assert report.status is ExecutionStatus.COMPLETED and report.filled == D("0.003")
    assert conn.position("BTC") == D("-0.003") and report.average_price == D(100000)
