"""Venue fidelity, *shape*: every recorded venue answer (``tests/fixtures/venue``) against the emulator's answer
to the same request, compared key by key and JSON type by JSON type (rules: ``tests/venue_shape.py``).

The emulator runs for real (``open_emulator``, HTTP and WebSocket) and an account it funded goes through what
makes every answer non-trivial: resting, filled and refused orders, a TP/SL group under a resting parent and one
under a filled parent, a cancel, a modify, a leverage change, a class transfer, an agent, a spot trade, a TWAP,
funding payments (the emulator's clock is injected and jumped), then every ``/info`` type the official SDK's
``Info`` class sends and a WS ``post``.  The answers are collected once per module; each recording is one test.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url
from venue_fixtures import Sample, all_samples, samples
from venue_shape import CONDITIONAL, DOCUMENTED, RETIRED, ShapeIndex, compare_shape

from trio_hl.emulator import open_emulator
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action, sign_user_action
from trio_hl.hyperliquid.wire import (
    approve_agent_action,
    batch_modify_action,
    cancel_action,
    exchange_body,
    limit_order_type,
    modify_action,
    order_action,
    order_wire,
    trigger_order_type,
    twap_order_action,
    update_leverage_action,
    usd_class_transfer_action,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a whole hour (funding lands on hour boundaries)
BTC, ETH, PURR = 0, 1, 10000
FUNDING_MS = 60_000
CLOID = "0x0000000000000000000000000000c10d"


class Scenario:
    """One funded account driven through the emulator; every answer it got, by what asked for it."""

    def __init__(self, url: str, clock: list[int], tick: Callable[[], None]) -> None:
        self.url, self.clock, self.tick = url, clock, tick
        self.me = LocalSigner.generate()
        self.user = self.me.address.lower()
        self.nonces = itertools.count(T0)
        self.exchange: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.oids: dict[str, int] = {}

    async def post(self, client: httpx.AsyncClient, path: str, body: Any) -> Any:
        response = await client.post(path, json=body)
        assert response.status_code == 200, (path, body, response.text)
        return response.json()

    async def act(self, client: httpx.AsyncClient, label: str, action: dict[str, Any], *,
                  user_signed: bool = False) -> Any:
        nonce = action.get("nonce", next(self.nonces))
        if "nonce" in action:
            signature = sign_user_action(self.me, action, False)
        else:
            signature = sign_l1_action(self.me, action, None, nonce, None, False)
        answer = await self.post(client, "/exchange", exchange_body(action, nonce, signature, None, None))
        assert answer["status"] == "ok", (label, answer)
        self.exchange[label] = answer
        return answer

    def advance(self, ms: int, step: int = 1_000) -> None:
        end = self.clock[0] + ms
        while self.clock[0] < end:
            self.clock[0] = min(end, self.clock[0] + step)
            self.tick()

    async def mid(self, client: httpx.AsyncClient, coin: str) -> Decimal:
        return Decimal((await self.post(client, "/info", {"type": "allMids"}))[coin])


def px(value: Decimal) -> Decimal:
    """A valid BTC price: 5 significant figures, no decimals (szDecimals 5 leaves none)."""
    return Decimal(int(Decimal(f"{value:.5g}")))


def order(asset: int, is_buy: bool, price: Decimal, size: str, tif: str = "Gtc", *, reduce_only: bool = False,
          cloid: str | None = None) -> dict[str, Any]:
    return order_wire(asset, is_buy, price, Decimal(size), reduce_only, limit_order_type(tif), cloid)


def trigger(asset: int, is_buy: bool, price: Decimal, size: str, tpsl: str) -> dict[str, Any]:
    return order_wire(asset, is_buy, price, Decimal(size), True, trigger_order_type(price, True, tpsl))


async def run_scenario() -> tuple[Scenario, list[dict[str, Any]]]:
    clock = [T0]
    frames: list[dict[str, Any]] = []
    async with open_emulator(clock_ms=lambda: clock[0], tick_interval_s=3600.0,
                             engine_options={"funding_interval_ms": FUNDING_MS}) as emu:
        s = Scenario(emu.url, clock, emu.tick)
        async with httpx.AsyncClient(base_url=emu.url) as client, open_websocket_url(emu.ws_url) as ws:
            await s.post(client, "/info", {"type": "clearinghouseState", "user": s.me.address})  # funds it
            posted = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_frames, ws, frames, posted)
                await subscribe_all(ws, s.user)
                await drive(s, client)
                await post_over_ws(ws, s)
                await query_everything(s, client)
                with trio.fail_after(5):
                    await posted.wait()  # the last thing asked over the socket has been answered
                nursery.cancel_scope.cancel()
    return s, frames


async def read_frames(ws: WebSocketConnection, frames: list[dict[str, Any]], posted: trio.Event) -> None:
    while True:
        frame = json.loads(await ws.get_message())
        frames.append(frame)
        if frame.get("channel") == "post" and frame["data"]["id"] == 2:
            posted.set()


async def subscribe_all(ws: WebSocketConnection, user: str) -> None:
    subs: list[dict[str, Any]] = [
        {"type": "l2Book", "coin": "BTC"}, {"type": "trades", "coin": "BTC"}, {"type": "bbo", "coin": "BTC"},
        {"type": "candle", "coin": "BTC", "interval": "1d"}, {"type": "allMids"},
        {"type": "orderUpdates", "user": user}, {"type": "userEvents", "user": user},
        {"type": "userFills", "user": user}, {"type": "userFundings", "user": user},
        {"type": "userTwapSliceFills", "user": user}, {"type": "userTwapHistory", "user": user},
        {"type": "userNonFundingLedgerUpdates", "user": user},
    ]
    for sub in subs:
        await ws.send_message(json.dumps({"method": "subscribe", "subscription": sub}))


async def drive(s: Scenario, client: httpx.AsyncClient) -> None:
    btc = await s.mid(client, "BTC")
    low, high = px(btc * Decimal("0.9")), px(btc * Decimal("1.05"))
    await s.act(client, "updateLeverage", update_leverage_action(BTC, True, 10))
    await s.act(client, "updateLeverage/isolated", update_leverage_action(ETH, False, 5))
    eth = await s.mid(client, "ETH")
    await s.act(client, "order/isolated", order_action([order(ETH, True, Decimal(int(eth * Decimal("1.05"))),
                                                              "0.5", "Ioc")]))
    rest = await s.act(client, "order/resting", order_action([order(BTC, True, low, "0.01")]))
    s.oids["resting"] = rest["response"]["data"]["statuses"][0]["resting"]["oid"]
    await s.act(client, "order/filled", order_action([order(BTC, True, high, "0.02", "Ioc")]))
    await s.act(client, "order/error", order_action([order(BTC, True, low, "0.0001")]))
    await s.act(client, "order/tpsl_resting_parent", order_action(
        [order(BTC, True, low, "0.01"), trigger(BTC, False, px(btc * Decimal("1.2")), "0.01", "tp"),
         trigger(BTC, False, px(btc * Decimal("0.8")), "0.01", "sl")], grouping="normalTpsl"))
    await s.act(client, "order/tpsl_filled_parent", order_action(
        [order(BTC, True, high, "0.01", "Ioc"), trigger(BTC, False, px(btc * Decimal("1.3")), "0.01", "tp"),
         trigger(BTC, False, px(btc * Decimal("0.7")), "0.01", "sl")], grouping="normalTpsl"))
    await s.act(client, "cancel", cancel_action([(BTC, s.oids["resting"])]))
    modified = await s.act(client, "order/to_modify", order_action([order(BTC, True, low, "0.01", cloid=CLOID)]))
    oid = modified["response"]["data"]["statuses"][0]["resting"]["oid"]
    await s.act(client, "batchModify", batch_modify_action([(oid, order(BTC, True, low - 1, "0.01", cloid=CLOID))]))
    await s.act(client, "modify", modify_action(CLOID, order(BTC, True, low - 2, "0.01", cloid=CLOID)))
    purr = await s.mid(client, "PURR/USDC")
    await s.act(client, "order/spot", order_action([order(PURR, True, (purr * Decimal("1.05")).quantize(
        Decimal("0.0001")), "100", "Ioc")]))
    await s.act(client, "usdClassTransfer", usd_class_transfer_action(Decimal(100), False, next(s.nonces)))
    agent = LocalSigner.generate()
    await s.act(client, "approveAgent", approve_agent_action(agent.address, "bot", next(s.nonces)))
    await s.act(client, "twapOrder", twap_order_action(BTC, True, Decimal("0.02"), False, 5, False))
    s.advance(3 * FUNDING_MS)  # funding thrice, TWAP slices, candles


async def post_over_ws(ws: WebSocketConnection, s: Scenario) -> None:
    """A post of each kind, after re-subscribing the user channels whose snapshot was empty at the start."""
    for kind in ("userTwapSliceFills", "userTwapHistory", "userFills", "userFundings"):
        sub = {"type": kind, "user": s.user}
        await ws.send_message(json.dumps({"method": "unsubscribe", "subscription": sub}))
        await ws.send_message(json.dumps({"method": "subscribe", "subscription": sub}))
    await ws.send_message(json.dumps({"method": "post", "id": 1, "request": {
        "type": "info", "payload": {"type": "l2Book", "coin": "BTC"}}}))
    nonce = next(s.nonces)
    action = cancel_action([(BTC, 1)])
    body = exchange_body(action, nonce, sign_l1_action(s.me, action, None, nonce, None, False), None, None)
    await ws.send_message(json.dumps({"method": "post", "id": 2, "request": {"type": "action", "payload": body}}))


def info_requests(s: Scenario) -> dict[str, dict[str, Any]]:
    """One request per ``/info`` type the SDK's ``Info`` sends, about the scenario's account."""
    u = s.user
    now = s.clock[0]
    return {
        "allMids": {"type": "allMids"}, "meta": {"type": "meta"}, "metaAndAssetCtxs": {"type": "metaAndAssetCtxs"},
        "spotMeta": {"type": "spotMeta"}, "spotMetaAndAssetCtxs": {"type": "spotMetaAndAssetCtxs"},
        "perpDexs": {"type": "perpDexs"}, "l2Book": {"type": "l2Book", "coin": "BTC"},
        "candleSnapshot": {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m",
                                                             "startTime": T0, "endTime": now}},
        "fundingHistory": {"type": "fundingHistory", "coin": "BTC", "startTime": T0},
        "clearinghouseState": {"type": "clearinghouseState", "user": u},
        "spotClearinghouseState": {"type": "spotClearinghouseState", "user": u},
        "openOrders": {"type": "openOrders", "user": u},
        "frontendOpenOrders": {"type": "frontendOpenOrders", "user": u},
        "userFills": {"type": "userFills", "user": u},
        "userFillsByTime": {"type": "userFillsByTime", "user": u, "startTime": T0},
        "historicalOrders": {"type": "historicalOrders", "user": u},
        "orderStatus": {"type": "orderStatus", "user": u, "oid": CLOID},
        "userFunding": {"type": "userFunding", "user": u, "startTime": T0},
        "userNonFundingLedgerUpdates": {"type": "userNonFundingLedgerUpdates", "user": u, "startTime": T0},
        "userRateLimit": {"type": "userRateLimit", "user": u},
        "userFees": {"type": "userFees", "user": u},
        "portfolio": {"type": "portfolio", "user": u},
        "userRole": {"type": "userRole", "user": u},
        "extraAgents": {"type": "extraAgents", "user": u},
        "userVaultEquities": {"type": "userVaultEquities", "user": u},
        "delegatorHistory": {"type": "delegatorHistory", "user": u},
        "delegatorSummary": {"type": "delegatorSummary", "user": u},
        "delegations": {"type": "delegations", "user": u},
        "delegatorRewards": {"type": "delegatorRewards", "user": u},
        "referral": {"type": "referral", "user": u},
        "subAccounts": {"type": "subAccounts", "user": u},
        "userToMultiSigSigners": {"type": "userToMultiSigSigners", "user": u},
        "perpDeployAuctionStatus": {"type": "perpDeployAuctionStatus"},
        "userDexAbstraction": {"type": "userDexAbstraction", "user": u},
        "userAbstraction": {"type": "userAbstraction", "user": u},
        "spotDeployState": {"type": "spotDeployState", "user": u},
        "userTwapSliceFills": {"type": "userTwapSliceFills", "user": u},
    }


async def query_everything(s: Scenario, client: httpx.AsyncClient) -> None:
    for name, request in info_requests(s).items():
        response = await client.post("/info", json=request)
        s.info[name] = response.json() if response.status_code == 200 else f"HTTP {response.status_code}: " \
                                                                             f"{response.text[:200]}"


@pytest.fixture(scope="module")
def emulated() -> tuple[Scenario, list[dict[str, Any]]]:
    return trio.run(run_scenario)


#: /info answers the emulator gives empty because it has no such thing (issue 16: "an honest empty answer of the
#: right shape"): the answer, and why.  Their recordings can only be checked against that empty answer.
EMPTY_ANSWERS: dict[str, tuple[Any, str]] = {
    "userVaultEquities": ([], "no vaults in the emulator"),
    "delegatorHistory": ([], "no staking in the emulator"),
    "subAccounts": (None, "the scenario's account has no sub-account, and the venue answers null to an account "
                          "without any (NKTKAS: `SubAccountsResponse = [...] | null`); the listing's shape is checked "
                          "in test_emulator_fidelity"),
}


def _exchange_answer(sample: Sample, scenario: Scenario) -> Any:
    if sample.name == "order":
        statuses = sample.response["response"]["data"]["statuses"]
        if len(statuses) == 3:
            return scenario.exchange["order/tpsl_filled_parent"]
        first = statuses[0]
        kind = next(iter(first)) if isinstance(first, dict) else first
        return scenario.exchange[f"order/{kind}"]
    return scenario.exchange[sample.name]


def _ws_frame(sample: Sample, frames: list[dict[str, Any]]) -> Any:
    channel = sample.response["channel"]
    same = [f for f in frames if f.get("channel") == channel]
    if channel == "subscriptionResponse":
        kind = sample.response["data"]["subscription"]["type"]
        same = [f for f in same if f["data"]["subscription"]["type"] == kind]
    elif channel == "user":
        keys = set(sample.response["data"])
        same = [f for f in same if set(f["data"]) == keys]
    elif isinstance(sample.response.get("data"), dict) and "isSnapshot" in sample.response["data"]:
        snapshot = sample.response["data"]["isSnapshot"]
        same = [f for f in same if f["data"].get("isSnapshot") == snapshot] or same
    assert same, f"the emulator sent no {channel!r} frame of this kind ({len(frames)} frames in all)"
    return max(same, key=lambda f: len(json.dumps(f)))  # the richest one: most elements to compare


def _index(sample: Sample) -> ShapeIndex:
    return ShapeIndex.of((s.response, s.numbers_stringified) for s in samples(sample.kind, sample.name))


@pytest.mark.parametrize("sample", all_samples(), ids=lambda s: s.id)
def test_emulator_answer_has_the_recorded_shape(sample: Sample, emulated: tuple[Scenario, list[Any]]) -> None:
    scenario, frames = emulated
    label = f"{sample.kind}/{sample.name}"
    if sample.kind == "info":
        actual = scenario.info[sample.name]
        if sample.name in EMPTY_ANSWERS:
            empty, why = EMPTY_ANSWERS[sample.name]
            assert actual == empty and isinstance(sample.response, list), (why, actual)
            return
    elif sample.kind == "exchange":
        actual = _exchange_answer(sample, scenario)
    else:
        actual = _ws_frame(sample, frames)
    problems = compare_shape(sample.response, actual, label=label, index=_index(sample),
                             numbers_stringified=sample.numbers_stringified)
    assert not problems, f"{label} vs {sample.id} ({sample.repo} {sample.path}):\n  " + "\n  ".join(
        map(str, problems)) + f"\nemulator answer: {json.dumps(actual)[:1500]}"


def test_every_sdk_info_type_is_answered(emulated: tuple[Scenario, list[Any]]) -> None:
    scenario, _ = emulated
    refused = {name: answer for name, answer in scenario.info.items()
               if isinstance(answer, str) and answer.startswith("HTTP ")}
    assert not refused


def test_rule_tables_name_real_answers() -> None:
    known = {f"{s.kind}/{s.name}" for s in all_samples()}
    for table in (RETIRED, CONDITIONAL, DOCUMENTED):
        assert set(table) <= known | {"ws/user"}, set(table) - known


def _integral_strings(value: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """Every string made of digits only (``"3000"``), with the key it sits under."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _integral_strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _integral_strings(v, key)
    elif isinstance(value, str) and _INTEGRAL.fullmatch(value):
        yield key, value


_INTEGRAL = re.compile(r"-?\d+")


def test_the_venue_never_prints_an_integral_number_bare() -> None:
    """The fact the next test relies on: in every recorded answer (ccxt's recorder, which rewrites numbers as
    strings, aside) a number string always has a decimal point - ``"3000.0"``, ``"0.0"`` - never ``"3000"``."""
    checked = 0
    for sample in all_samples():
        if not sample.numbers_stringified:
            assert list(_integral_strings(sample.response)) == [], sample.id
            checked += 1
    assert checked >= 40


def test_emulator_prints_integral_numbers_as_the_venue_does(emulated: tuple[Scenario, list[Any]]) -> None:
    """Every answer and frame of the scenario: ``"3000.0"`` where the SDK's ``float_to_wire`` would say ``"3000"``
    (a client comparing number strings, or keying a dict on them, sees the venue's form)."""
    scenario, frames = emulated
    answers: list[Any] = [*scenario.info.values(), *scenario.exchange.values(), *frames]
    bare = [(key, text) for answer in answers for key, text in _integral_strings(answer)]
    assert bare == [], sorted(set(bare))
    assert any(text.endswith(".0") for answer in answers for text in _leaf_strings(answer))


def _leaf_strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaf_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaf_strings(v)
    elif isinstance(value, str):
        yield value
