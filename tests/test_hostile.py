"""Hostile input: the stream consumers fed malformed, truncated, oversized and type-confused frames must count
and skip them (never crash) and still apply the valid frames that follow; and the private key never leaks into
logs, events, reprs or exception messages, even during a run with faults."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_hl import ConnectorConfig, OrderParams, OrderType, open_connector
from trio_hl.core.book import OrderBook
from trio_hl.core.events import Event, OrderCreated, OrderFailed, OrderFilled
from trio_hl.core.tracker import OrderTracker
from trio_hl.emulator import Limits, open_emulator
from trio_hl.errors import TrioHLError
from trio_hl.hyperliquid.signing import LocalSigner
from trio_hl.hyperliquid.streams import StreamCounters, consume_book, consume_user_channel
from trio_hl.testing.chaos import CHAOS_WS
from trio_hl.testing.strategies import USER_CHANNELS, hostile_frames, sample_frame, scalars

D = Decimal
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
COINS = {"BTC": "BTC", "ETH": "ETH", "@107": "HYPE/USDC"}


def frames_for(channel: str) -> st.SearchStrategy[list[Any]]:
    return st.lists(hostile_frames(channel), min_size=1, max_size=6)


# --------------------------------------------------------------------------------------------- harness


def run_user_channel(channel: str, frames: list[Any]) -> tuple[StreamCounters, OrderTracker, list[Event]]:
    counters = StreamCounters()
    tracker = OrderTracker(clock=lambda: 1_700_000_000.0)
    events: list[Event] = []

    def feed(kind: str, value: Any) -> list[Event]:
        if kind == "order":
            out = tracker.process_order_update(value)
        elif kind == "trade":
            out = tracker.process_trade_update(value)
        else:
            out = []
        events.extend(out)
        return out

    async def main() -> None:
        tx, rx = trio.open_memory_channel[Any](len(frames) + 1)
        for frame in frames:
            tx.send_nowait(frame)
        tx.send_nowait(sample_frame(channel))
        tx.close()
        with trio.fail_after(30):
            await consume_user_channel(channel, rx, feed=feed, coin_to_pair=COINS, counters=counters,
                                       is_ours=lambda _t: True, clock=lambda: 1_700_000_000.0)

    trio.run(main)
    return counters, tracker, events


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])


@pytest.mark.parametrize("channel", USER_CHANNELS)
@FUZZ
@given(data=st.data())
def test_user_channel_survives_garbage_and_applies_the_next_valid_frame(channel: str, data: st.DataObject) -> None:
    frames = data.draw(frames_for(channel))
    counters, tracker, _ = run_user_channel(channel, frames)
    assert counters.frames == len(frames) + 1
    # The valid frame at the end was applied: the order update or the fill reached the tracker.
    if channel == "orderUpdates":
        assert tracker.updates_processed >= 1
    else:
        assert tracker.trades_processed >= 1


@pytest.mark.parametrize("channel", USER_CHANNELS)
@FUZZ
@given(frames=st.lists(scalars, min_size=1, max_size=6))
def test_user_channel_counts_every_frame_of_the_wrong_type(channel: str, frames: list[Any]) -> None:
    counters, _, _ = run_user_channel(channel, frames)
    assert counters.malformed == len(frames)


def run_book(frames: list[Any]) -> tuple[StreamCounters, OrderBook, list[str]]:
    counters = StreamCounters()
    book = OrderBook("BTC")
    changed: list[str] = []

    async def main() -> None:
        tx, rx = trio.open_memory_channel[Any](len(frames) + 1)
        for frame in frames:
            tx.send_nowait(frame)
        last = sample_frame("l2Book")
        last["time"] = 2**52  # newer than anything the fuzz produced
        tx.send_nowait(last)
        tx.close()
        with trio.fail_after(30):
            await consume_book(book, rx, changed=changed.append, counters=counters)

    trio.run(main)
    return counters, book, changed


@FUZZ
@given(frames=frames_for("l2Book"))
def test_book_stream_survives_garbage_and_applies_the_next_valid_snapshot(frames: list[Any]) -> None:
    counters, book, changed = run_book(frames)
    assert counters.frames == 0  # book frames are not user frames; the malformed ones are counted below
    assert changed and changed[-1] == "BTC"
    assert book.best_bid is not None and book.best_bid.price == D("29791")
    assert book.best_ask is not None and book.best_ask.price == D("29792")


@FUZZ
@given(frames=st.lists(scalars, min_size=1, max_size=6))
def test_book_stream_counts_every_frame_of_the_wrong_type(frames: list[Any]) -> None:
    counters, _, _ = run_book(frames)
    assert counters.malformed == len(frames)


@pytest.mark.parametrize("channel", USER_CHANNELS)
def test_huge_integer_timestamp_is_counted_not_fatal(channel: str) -> None:
    frame = sample_frame(channel)
    if channel == "orderUpdates":
        frame[0]["statusTimestamp"] = 10**400
    else:
        frame["fills"][0]["time"] = 10**400
    counters, _, _ = run_user_channel(channel, [frame])
    assert counters.malformed == 1


# ----------------------------------------------------------------------------------------- key secrecy


async def test_private_key_never_appears_in_logs_events_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    signer = LocalSigner.generate()
    key = signer.export_private_key_hex()
    bare = key.lower().removeprefix("0x")
    forms = {bare, bare.upper(), key}
    texts: list[str] = []
    async with open_emulator(limits=Limits.unlimited()) as emu:
        config = ConnectorConfig(base_url=emu.url, private_key=key, pairs=("BTC",), request_timeout=1.0)
        texts += [repr(config), str(config)]
        async with open_connector(config, ws_settings=CHAOS_WS) as conn:
            events = conn.events()
            emu.faults.http_429_count = 2
            emu.faults.accept_then_timeout_count = 1
            emu.faults.ws_disconnect_every_s = 0.5
            emu.faults.ws_duplicate_prob = 0.5
            mid = conn.mid("BTC")
            assert mid is not None
            amount = (D(20) / mid).quantize(D("0.00001"), rounding="ROUND_UP")
            cids = [conn.buy(OrderParams("BTC", amount, order_type=OrderType.MARKET)) for _ in range(3)]
            done: set[str] = set()
            seen: list[Event] = []
            with trio.fail_after(40):
                async for e in events:
                    seen.append(e)
                    if isinstance(e, OrderFilled | OrderFailed):
                        done.add(e.client_order_id)
                    if done == set(cids):
                        break
            emu.faults.clear()
            texts += [repr(e) for e in seen] + [str(e) for e in seen]
            texts += [repr(conn), str(conn), repr(conn.health()), repr(conn.submit.statistics()),
                      repr(conn.tracker.statistics()), repr(conn.config), repr(conn.get_order(cids[0]))]
            for bad in (lambda: conn.buy(OrderParams("NOPE", D(1), D(1))),
                        lambda: conn.sell(OrderParams("BTC", D(1), D(1), client_order_id="abc")),
                        lambda: conn.modify("0x" + "ff" * 16, price=D(1))):
                with pytest.raises(TrioHLError) as info:
                    bad()
                texts += [str(info.value), repr(info.value)]
            assert any(isinstance(e, OrderCreated | OrderFilled) for e in seen), "\n".join(map(repr, seen))
    for bad_config in (dict(base_url="ftp://x", private_key=key), dict(base_url=emu.url, private_key=key,
                                                                        signer=signer)):
        with pytest.raises(TrioHLError) as info:
            ConnectorConfig(**bad_config)  # type: ignore[arg-type]
        texts += [str(info.value), repr(info.value)]
    texts += [repr(signer), str(signer)]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert caplog.records, "the run logged nothing: the log check would be vacuous"
    for text in texts:
        for form in forms:
            assert form not in text
