"""Every example in ``examples/`` runs against the in-process emulator (each through its ``main(base_url, ...)``)."""

from __future__ import annotations

import importlib.util
import io
import socket
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from trio_hl.hyperliquid.signing import LocalSigner

pytest.importorskip("trio_hl.emulator.engine")

from trio_hl.demo import DemoOptions, run_demo
from trio_hl.emulator import Emulator, open_emulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Takers every ~0.3 s instead of ~3 s, so runs of a few seconds trade.
FAST_MARKET: dict[str, Any] = {"engine_options": {"market_options": {"take_interval_ms": 300}}}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with open_emulator(seed=7, **FAST_MARKET) as emulator:
        yield emulator


def test_every_example_is_tested() -> None:
    tested = {"place_and_cancel", "testnet", "market_maker", "consume_events", "zmq_subscriber"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


async def test_place_and_cancel(emu: Emulator) -> None:
    with trio.fail_after(20):
        seen = await load("place_and_cancel").main(emu.url)
    assert seen == ["OrderCreated", "OrderCancelled"]


async def test_testnet_script_runs_from_arguments_or_environment(emu: Emulator,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    module = load("testnet")
    signer = LocalSigner.generate()
    monkeypatch.setenv("TRIO_HL_BASE_URL", emu.url)
    monkeypatch.setenv("TRIO_HL_PRIVATE_KEY", signer.export_private_key_hex())
    monkeypatch.delenv("TRIO_HL_ACCOUNT_ADDRESS", raising=False)
    with trio.fail_after(20):
        assert await module.main() == ["OrderCreated", "OrderCancelled"]
    assert emu.engine.ground_truth(signer.address)["orders"][0]["status"] == "canceled"
    monkeypatch.delenv("TRIO_HL_PRIVATE_KEY")
    with pytest.raises(SystemExit, match="TRIO_HL_PRIVATE_KEY"):
        await module.main(emu.url)


async def test_market_maker_quotes_trades_and_leaves_nothing_open(emu: Emulator) -> None:
    signer = LocalSigner.generate()
    with trio.fail_after(30):
        state = await load("market_maker").main(emu.url, duration=3.0, private_key=signer.export_private_key_hex())
    truth = emu.engine.ground_truth(signer.address)
    assert state["placed"] >= 2 and len(truth["orders"]) == state["placed"]
    assert truth["openOids"] == []
    assert len(truth["fills"]) == state["fills"]
    assert Decimal(truth["positions"].get("ETH", "0")) == state["position"]


async def test_market_maker_paper_mode_runs_the_same_strategy_and_sends_nothing(emu: Emulator) -> None:
    """``--paper``: the same ``run_quotes`` on a paper connector fed by the venue's live data."""
    signer = LocalSigner.generate()
    with trio.fail_after(30):
        state = await load("market_maker").main(emu.url, duration=3.0, private_key=signer.export_private_key_hex(),
                                                paper=True)
    truth = emu.engine.ground_truth(signer.address)
    assert state["placed"] >= 2 and truth["orders"] == [] and truth["fills"] == []


async def test_consume_events_takes_profit_or_closes(emu: Emulator) -> None:
    with trio.fail_after(30):
        steps = await load("consume_events").main(emu.url, patience=0.5)
    assert steps[:2] == ["entry filled", "take-profit posted"]
    assert steps[2:] in (["take-profit filled"], ["take-profit cancelled", "closed"])


async def test_zmq_subscriber_self_contained(emu: Emulator) -> None:
    with trio.fail_after(20):
        topics = await load("zmq_subscriber").main(emu.url)
    assert topics == ["orders.hyperliquid.created", "orders.hyperliquid.cancelled"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_zmq_subscriber_reads_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    module = load("zmq_subscriber")
    topics: list[str] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:

            async def subscriber() -> None:
                topics.extend(await module.main(endpoint=endpoint, max_messages=3))

            nursery.start_soon(subscriber)
            await run_demo(DemoOptions(duration=2.0, ui=False, zmq=endpoint, emulator_options=FAST_MARKET),
                           out=io.StringIO())
    assert len(topics) == 3 and all(t.startswith("orders.hyperliquid.") for t in topics)
    out = capsys.readouterr().out
    # It joins a running demo: orders live before it subscribed come as snapshots, later ones as created.
    assert "orders.hyperliquid.created" in out or "orders.hyperliquid.snapshot" in out


async def test_readme_quick_start_runs(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    code = readme.split("## Quick start", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert code.rstrip().endswith("trio.run(main)") and "http://127.0.0.1:3001" in code
    key = LocalSigner.generate().export_private_key_hex()
    code = code.rstrip().removesuffix("trio.run(main)").replace("http://127.0.0.1:3001", emu.url)
    namespace: dict[str, Any] = {}
    exec(compile(code.replace('"0x..."', repr(key)), "README.md", "exec"), namespace)
    with trio.fail_after(20):
        await namespace["main"]()
    out = capsys.readouterr().out
    assert "OrderCreated(" in out and "OrderCancelled(" in out


def test_examples_do_not_leave_modules_behind() -> None:
    # load() executes each file as a fresh module without registering it: examples cannot leak state.
    assert not [name for name in sys.modules if name.startswith("examples_")]
