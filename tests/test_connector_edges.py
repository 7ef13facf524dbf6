"""API edges of ``open_connector`` against the emulator: a cancel that is the caller's mistake raises at the call;
an exception leaving the block is the exception itself, not an ExceptionGroup around it; ``cancel_on_exit``
takes our resting orders off the venue however the block ends (or leaves them, when asked to)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio

from trio_hl import (
    ConnectorConfig,
    HyperliquidConnector,
    InvalidOrderError,
    OrderCreated,
    OrderParams,
    UnknownOrderError,
    open_connector,
)
from trio_hl.emulator import Emulator, Limits, open_emulator
from trio_hl.hyperliquid.signing import LocalSigner

pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
SIZE = Decimal("0.001")


@asynccontextmanager
async def emulator() -> AsyncIterator[Emulator]:
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu:
        yield emu


def config(emu: Emulator, key: str | None = None) -> ConnectorConfig:
    return ConnectorConfig(base_url=emu.url, private_key=key or LocalSigner.generate().export_private_key_hex(),
                           pairs=("BTC",), request_timeout=5.0)


async def rest_one(conn: HyperliquidConnector) -> str:
    """Place a BTC buy far below the market and return its id once the venue has acknowledged it."""
    mid = conn.mid("BTC")
    assert mid is not None
    with conn.events() as events:
        cid = conn.buy(OrderParams("BTC", SIZE, (mid * Decimal("0.8")).quantize(Decimal(1))))
        with trio.fail_after(10):
            async for event in events:
                if isinstance(event, OrderCreated) and event.client_order_id == cid:
                    return cid
    raise AssertionError("no OrderCreated")


def resting(emu: Emulator, conn_user: str) -> list[str]:
    """Client order ids the venue shows open for the account."""
    truth = emu.engine.ground_truth(conn_user)
    return [o["cloid"] for o in truth["orders"] if o["status"] == "open"]


# ------------------------------------------------------------------------------------------ cancel


async def test_cancel_of_an_unknown_id_or_the_wrong_pair_raises_at_the_call() -> None:
    async with emulator() as emu, open_connector(config(emu)) as conn:
        cid = await rest_one(conn)
        actions_before = conn.submit.statistics().actions_sent
        with pytest.raises(UnknownOrderError) as info:
            conn.cancel("BTC", conn.new_client_order_id())
        assert isinstance(info.value, ValueError) and "is tracked" in str(info.value)
        with pytest.raises(InvalidOrderError, match="it is an order on 'BTC'"):
            conn.cancel("ETH", cid)
        with pytest.raises(UnknownOrderError):
            conn.modify(conn.new_client_order_id(), price=Decimal(1))
        # nothing was queued for either mistake: the order still rests, untouched
        assert conn.get_order(cid).state.value == "open"  # type: ignore[union-attr]
        assert resting(emu, conn.user) == [cid]
        assert conn.submit.statistics().actions_sent == actions_before
        # a cancel of the right order on the right pair still works, and a second one is a race, not an error
        assert conn.cancel("BTC", cid) is True


# ------------------------------------------------------------------------------------------ exceptions


async def test_an_exception_in_the_block_leaves_it_unwrapped() -> None:
    class StrategyBug(Exception):
        pass

    async with emulator() as emu:
        with pytest.raises(StrategyBug) as info:
            async with open_connector(config(emu), cancel_on_exit=False):
                raise StrategyBug("boom")
    assert type(info.value) is StrategyBug and str(info.value) == "boom"
    assert info.value.__suppress_context__  # the group is not displayed with it


async def test_a_cause_set_by_the_caller_survives_the_unwrapping() -> None:
    async with emulator() as emu:
        with pytest.raises(KeyError) as info:
            async with open_connector(config(emu), cancel_on_exit=False):
                try:
                    {}["x"]
                except KeyError as exc:
                    raise KeyError("y") from exc
    assert isinstance(info.value.__cause__, KeyError) and info.value.__cause__.args == ("x",)


async def test_two_failures_stay_a_group() -> None:
    async with emulator() as emu:
        with pytest.raises(ExceptionGroup) as info:
            async with open_connector(config(emu), cancel_on_exit=False):
                raise ExceptionGroup("two", [ValueError("a"), KeyError("b")])
    leaves: list[Any] = []
    stack: list[BaseException] = [info.value]
    while stack:
        e = stack.pop()
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        else:
            leaves.append(e)
    assert sorted(type(e).__name__ for e in leaves) == ["KeyError", "ValueError"]


# ------------------------------------------------------------------------------------------ cancel_on_exit


async def test_cancel_on_exit_is_the_default_after_a_normal_exit() -> None:
    async with emulator() as emu:
        async with open_connector(config(emu)) as conn:
            cid = await rest_one(conn)
            assert resting(emu, conn.user) == [cid]
        assert resting(emu, conn.user) == []
        assert conn.get_order(cid).state.value == "canceled"  # type: ignore[union-attr]  # the tracker saw it


async def test_cancel_on_exit_after_an_exception_in_the_block() -> None:
    async with emulator() as emu:
        with pytest.raises(RuntimeError):
            async with open_connector(config(emu)) as conn:
                await rest_one(conn)
                raise RuntimeError("strategy crashed")
        assert resting(emu, conn.user) == []


async def test_cancel_on_exit_when_the_block_is_cancelled() -> None:
    """Ctrl-C or an outer timeout cancels the connector's tasks too: the cancel goes out directly."""
    async with emulator() as emu:
        user = ""
        with trio.CancelScope() as outer:
            async with open_connector(config(emu)) as conn:
                user = conn.user
                await rest_one(conn)
                outer.cancel()
                await trio.sleep_forever()
        assert outer.cancelled_caught
        assert resting(emu, user) == []


async def test_cancel_on_exit_false_leaves_orders_resting() -> None:
    async with emulator() as emu:
        async with open_connector(config(emu), cancel_on_exit=False) as conn:
            cid = await rest_one(conn)
        assert resting(emu, conn.user) == [cid]
