"""Clocks (issue 17 item 4): staleness on the local monotonic clock, venue timestamps judged and counted, and
the startup refusal of a clock outside the venue's nonce window."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import trio
import trio.testing

from trio_hl import ConnectorConfig, HyperliquidConnector, OrderParams
from trio_hl.core.book import BookLevel, OrderBook
from trio_hl.core.events import Event, HealthChanged, HealthIssue
from trio_hl.core.types import Side
from trio_hl.core.updates import TradeUpdate
from trio_hl.emulator import Limits, open_emulator
from trio_hl.emulator.app import TrioWallClock
from trio_hl.hyperliquid.clock import (
    NONCE_WINDOW_AHEAD_S,
    NONCE_WINDOW_BEHIND_S,
    SKEW_MARGIN_S,
    ClockCheck,
    ClockSkewError,
    TimestampJudge,
    check_skew,
)
from trio_hl.hyperliquid.connector import open_connector
from trio_hl.hyperliquid.health import HealthSettings
from trio_hl.hyperliquid.signing import LocalSigner
from trio_hl.hyperliquid.streams import StreamCounters, consume_book
from trio_hl.testing.plugin import fast_ws_settings

pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")

D = Decimal
HOUR = 3_600.0
DAY = 86_400.0
FAR_FUTURE_S = (2**53 - 1) / 1000  # the largest integer ms a JSON double holds exactly


def _levels(px: str) -> tuple[list[BookLevel], list[BookLevel]]:
    p = D(px)
    return [BookLevel(p - 1, D(1))], [BookLevel(p + 1, D(1))]


def _frame(coin: str, px: str, time_ms: int) -> dict[str, object]:
    p = D(px)
    return {"coin": coin, "time": time_ms,
            "levels": [[{"px": str(p - 1), "sz": "1", "n": 1}], [{"px": str(p + 1), "sz": "1", "n": 1}]]}


# ------------------------------------------------------------------------------------------ startup skew


@pytest.mark.parametrize(("skew", "refused"), [
    (0.0, False),
    (2 * HOUR, False),                                  # local 2 h fast: nonces still inside (T - 2d, T + 1d)
    (-30 * HOUR, False),                                # local 30 h slow: still inside
    (NONCE_WINDOW_AHEAD_S - SKEW_MARGIN_S - 1, False),
    (NONCE_WINDOW_AHEAD_S - SKEW_MARGIN_S + 1, True),   # within 5 min of the +1 day edge: refused
    (3 * DAY, True),
    (-(NONCE_WINDOW_BEHIND_S - SKEW_MARGIN_S - 1), False),
    (-(NONCE_WINDOW_BEHIND_S - SKEW_MARGIN_S + 1), True),
    (-5 * DAY, True),
])
def test_skew_outside_the_nonce_window_is_refused_with_the_measured_skew(skew: float, refused: bool) -> None:
    check = ClockCheck(offset_s=-skew, rtt_s=0.004)
    if not refused:
        check_skew(check)
        return
    with pytest.raises(ClockSkewError) as info:
        check_skew(check)
    assert info.value.skew_s == pytest.approx(skew)
    text = str(info.value)
    assert ("ahead of" if skew > 0 else "behind") in text
    assert f"{skew:+.3f} s" in text and "NTP" in text


def test_a_skew_inside_the_window_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="trio_hl.hyperliquid.clock"):
        check_skew(ClockCheck(offset_s=-2 * HOUR, rtt_s=0.001))
        check_skew(ClockCheck(offset_s=0.2, rtt_s=0.001))  # sub-second: not worth a line
    assert len(caplog.records) == 1 and "2.00 hours ahead of" in caplog.records[0].getMessage()


# -------------------------------------------------------------------------------------- timestamp judge


async def test_the_judge_counts_far_stamps_relative_to_the_measured_offset() -> None:
    wall = 1_700_000_000.0
    judge = TimestampJudge(lambda: wall, offset_s=2 * HOUR, tolerance_s=60)
    assert judge.plausible(wall + 2 * HOUR + 5, "x")          # the venue runs 2 h ahead: that is normal
    assert not judge.plausible(wall + 5, "x")                 # 2 h behind the venue's present: anomaly
    assert not judge.plausible(FAR_FUTURE_S, "x")
    assert not judge.plausible(float("nan"), "x")
    assert judge.plausible(wall - DAY, "fill", past_ok=True)  # a historical fill is fine...
    assert not judge.plausible(wall + 3 * HOUR, "fill", past_ok=True)  # ...a fill from the future is not
    assert judge.anomalies == 4 and judge.last_anomaly == wall + 3 * HOUR


def test_judge_refuses_a_nonsense_tolerance() -> None:
    with pytest.raises(ValueError, match="tolerance_s"):
        TimestampJudge(lambda: 0.0, tolerance_s=0)


# ------------------------------------------------------------------------------------------------- book


def test_book_age_runs_from_receipt_not_from_the_venue_stamp() -> None:
    book = OrderBook("BTC")
    bids, asks = _levels("100")
    assert book.apply_snapshot(bids, asks, timestamp=1_700_000_000.0, received_at=50.0)
    assert book.age(52.5) == 2.5  # the venue stamp (any value) plays no part
    assert book.received_at == 50.0 and book.timestamp == 1_700_000_000.0


def test_an_unbelievable_stamp_applies_without_moving_the_ordering_watermark() -> None:
    book = OrderBook("BTC")
    assert book.apply_snapshot(*_levels("100"), timestamp=1000.0, received_at=1.0)
    assert book.apply_snapshot(*_levels("101"), timestamp=None, received_at=2.0)  # judged bogus by the caller
    assert book.mid == D(101) and book.timestamp == 1000.0 and book.age(2.0) == 0.0
    assert book.apply_snapshot(*_levels("102"), timestamp=1001.0, received_at=3.0)
    assert not book.apply_snapshot(*_levels("99"), timestamp=999.0, received_at=4.0)  # genuinely older
    assert book.mid == D(102) and book.statistics().stale_snapshots_ignored == 1


async def test_one_far_future_frame_never_freezes_the_book(autojump_clock: trio.testing.MockClock) -> None:
    now_ms = 1_700_000_000_000
    judge = TimestampJudge(lambda: now_ms / 1000 + trio.current_time())
    book = OrderBook("BTC")
    counters = StreamCounters()
    changes: list[str] = []
    send, receive = trio.open_memory_channel[object](10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: consume_book(book, receive, changed=changes.append, counters=counters,
                                                judge=judge))
        frames = [_frame("BTC", "100", now_ms), _frame("BTC", "200", 2**53 - 1), _frame("BTC", "101", now_ms + 500),
                  _frame("BTC", "102", now_ms + 1000)]
        for frame in frames:
            await trio.sleep(1.0)
            await send.send(frame)
            await trio.testing.wait_all_tasks_blocked()
        assert book.mid == D(102)                  # every frame after the bogus one was applied
        assert len(changes) == 4 and judge.anomalies == 1
        assert book.statistics().stale_snapshots_ignored == 0
        await trio.sleep(7.0)
        assert book.age(trio.current_time()) == pytest.approx(7.0)  # age on the receipt clock
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------ against the emulator


def _skewed_emulator(skew_s: float):  # type: ignore[no-untyped-def]
    """An emulator whose clock is ``skew_s`` *behind* ours (so our clock looks ``skew_s`` ahead)."""
    import time

    start_ms = int((time.time() - skew_s) * 1000)
    return open_emulator(limits=Limits.unlimited(), clock_ms=TrioWallClock(start_ms))


def _config(url: str, **fields: object) -> ConnectorConfig:
    fields.setdefault("pairs", ("BTC",))
    return ConnectorConfig(base_url=url, private_key=LocalSigner.generate().export_private_key_hex(),
                           request_timeout=2.0, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("skew", [3 * DAY, -2.5 * DAY])
async def test_open_connector_refuses_a_clock_outside_the_nonce_window(skew: float) -> None:
    async with _skewed_emulator(skew) as emu:
        with pytest.raises(ClockSkewError) as info:
            async with open_connector(_config(emu.url), ws_settings=fast_ws_settings()):
                raise AssertionError("started with a clock every nonce of which the venue refuses")
        assert info.value.skew_s == pytest.approx(skew, abs=5.0)
        assert emu.statistics().ws_connections == 0  # refused before any stream opened or action was signed


async def test_a_skewed_clock_inside_the_window_trades_and_books_stay_fresh() -> None:
    # our clock 2 h fast: every venue stamp looks 2 h old
    async with (_skewed_emulator(2 * HOUR) as emu,
                open_connector(_config(emu.url), ws_settings=fast_ws_settings()) as conn):
        health = conn.health()
        assert health.clock_offset_s == pytest.approx(-2 * HOUR, abs=5.0)
        book = conn.book("BTC")
        assert book.best_bid is not None
        age = health.book_ages["BTC"]
        assert age is not None and age < 10.0  # measured on receipt: 2 h of skew does not make it stale
        assert health.timestamp_anomalies == 0  # the offset is known: venue stamps are believable
        events = conn.events()
        cid = conn.buy(OrderParams("BTC", D("0.001"), book.best_bid.price * D("0.99")))
        with trio.fail_after(10):
            async for event in events:
                if event.client_order_id == cid:
                    break
        assert conn.get_order(cid).state.is_open  # nonces 2 h fast are accepted


async def _next_health(events: trio.MemoryReceiveChannel[Event]) -> HealthChanged:
    with trio.fail_after(15):
        async for event in events:
            if isinstance(event, HealthChanged):
                return event
    raise AssertionError("event stream ended")


@pytest.mark.hl_emulator(quiet=True)
@pytest.mark.hl_connector(pairs=("BTC",))
async def test_a_stale_book_and_its_recovery_each_emit_health_changed(hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    conn.health_monitor.settings = HealthSettings(check_interval_s=0.02, halt_after_s=0.1, resume_after_s=0.1,
                                                  book_stale_after_s=0.5, stream_stale_after_s=None)
    events = conn.events()
    stale = await _next_health(events)  # a quiet market pushes no book: it ages on the receipt clock
    assert stale.stale_pairs == ("BTC",) and stale.issues == (HealthIssue.BOOK_STALE,)
    bid = conn.book("BTC").best_bid
    assert bid is not None
    conn.buy(OrderParams("BTC", D("0.001"), bid.price - 10))  # a new level: the venue pushes the book
    recovered = await _next_health(events)
    assert recovered.stale_pairs == () and recovered.can_quote("BTC")


async def test_health_counts_venue_timestamp_anomalies(hl_connector: HyperliquidConnector) -> None:
    conn = hl_connector
    before = conn.health().timestamp_anomalies
    # One fill stamped in the far future (a venue glitch) reaches the connector: counted, and it does not move
    # the gap-fill start past fills still to come.
    fill_start = conn._last_fill_ms
    trade = TradeUpdate(trade_id="t-future", pair="BTC", fill_price=D(1), fill_amount=D(1), fee=D(0),
                        fee_asset="USDC", timestamp=FAR_FUTURE_S, client_order_id="nobody", exchange_order_id="1",
                        side=Side.BUY)
    conn._feed("trade", trade)
    assert conn.health().timestamp_anomalies == before + 1
    assert conn._last_fill_ms == fill_start
