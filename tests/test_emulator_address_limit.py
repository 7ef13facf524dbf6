"""The emulator's per-address action budget (PROTOCOL §8.3; rules and UNSURE choices in
``trio_hl/emulator/_ratelimit.py``): the buffer, growth with traded volume, one request per 10 s once exhausted,
the cancels' larger limit, who is charged (master for an agent, the sub-account for a vault), the exact
refusal, ``userRateLimit``, and the HTTP front end (the refusal leaves the nonce unused; ``Limits``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import httpx
import trio
import trio.testing

from trio_hl.emulator import Limits, open_emulator
from trio_hl.emulator._ratelimit import NO_ADDRESS_LIMIT_BUFFER, AddressRule, address_requests
from trio_hl.emulator.engine import Engine
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import exchange_body, noop_action

T0 = 1_700_000_000_000
ALICE, BOB, CAROL = ("0x" + c * 40 for c in "abc")
ETH = 1
NOOP: dict[str, Any] = {"type": "noop"}


def refusal(used: int, limit: int, volume: str = "0") -> dict[str, Any]:
    """The venue's answer (PROTOCOL §4.3), exactly."""
    return {"status": "err", "response": f"Too many cumulative requests sent ({used} > {limit}) for cumulative "
                                         f"volume traded ${volume}. Place taker orders to free up 1 request "
                                         f"per USDC traded."}


def engine(buffer: int | None) -> Engine:
    e = Engine(seed=7, now_ms=T0, with_market=False)
    e.address_rule = None if buffer is None else AddressRule(initial_buffer=buffer)
    return e


class Client:
    """Acts for one address with increasing nonces (the engine trusts its caller for signatures and nonces)."""

    def __init__(self, e: Engine, user: str) -> None:
        self.e, self.user, self.nonce = e, user, T0

    def act(self, action: dict[str, Any], now: int = T0, vault: str | None = None) -> dict[str, Any]:
        self.nonce += 1
        return self.e.action(signer=self.user, action=action, nonce=self.nonce, vault_address=vault, now_ms=now)

    def orders(self, n: int, now: int = T0, *, px: str = "2000") -> dict[str, Any]:
        return self.act(order_action([wire(True, px, "1")] * n), now)

    def limit(self) -> Any:
        return self.e.info({"type": "userRateLimit", "user": self.user}, T0)


def wire(is_buy: bool, px: str, sz: str, tif: str = "Gtc") -> dict[str, Any]:
    return {"a": ETH, "b": is_buy, "p": px, "s": sz, "r": False, "t": {"limit": {"tif": tif}}}


def order_action(orders: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "order", "orders": orders, "grouping": "na"}


def cancels(n: int) -> dict[str, Any]:
    return {"type": "cancel", "cancels": [{"a": ETH, "o": 1} for _ in range(n)]}


def ok(answer: dict[str, Any]) -> bool:
    return answer["status"] == "ok"


# ------------------------------------------------------------------------------------------------- the rule
def test_the_venue_numbers_and_what_counts_as_a_request() -> None:
    rule = Limits().address_rule()
    assert rule == AddressRule(initial_buffer=10_000, throttled_interval_ms=10_000, cancel_extra=100_000)
    assert rule.cap(Decimal(0)) == 10_000
    assert rule.cap(Decimal("150000.999999")) == 160_000  # one per *whole* USDC
    assert rule.cancel_cap(10_000) == 20_000  # min(cap + 100000, 2 * cap): doubled while small ...
    assert rule.cancel_cap(160_000) == 260_000  # ... +100 000 once large
    assert Limits.unlimited().address_rule() is None
    assert Limits(address_initial_buffer=20).address_rule() == AddressRule(initial_buffer=20)
    assert address_requests(order_action([wire(True, "2000", "1")] * 7)) == 7
    assert address_requests(cancels(3)) == 3
    assert address_requests({"type": "cancelByCloid", "cancels": [{}, {}]}) == 2
    assert address_requests({"type": "batchModify", "modifies": [{}] * 4}) == 4
    assert address_requests(order_action([])) == 1
    assert address_requests(NOOP) == 1
    assert address_requests({"type": "updateLeverage", "asset": 1, "isCross": True, "leverage": 5}) == 1


def test_the_buffer_is_spent_by_requests_a_batch_counting_each_order() -> None:
    e = engine(buffer=5)
    alice = Client(e, ALICE)
    assert ok(alice.orders(3))
    assert ok(alice.act(NOOP))
    assert ok(alice.act(NOOP))  # 5 of 5
    assert alice.limit() == {"cumVlm": "0.0", "nRequestsUsed": 5, "nRequestsCap": 5, "nRequestsSurplus": 0}
    assert ok(alice.act(NOOP))  # over the cap: the throttled request of this 10 s slot
    assert alice.act(NOOP) == refusal(7, 5)
    assert alice.orders(2) == refusal(8, 5)
    assert alice.limit()["nRequestsUsed"] == 6  # refusals are not counted (and not applied)
    assert len(e.accounts[ALICE].open_orders) == 3
    assert ok(Client(e, BOB).orders(5))  # per address: another one has its own buffer


def test_once_exhausted_one_request_per_10_s_of_emulator_time() -> None:
    e = engine(buffer=2)
    alice = Client(e, ALICE)
    assert ok(alice.orders(2))
    assert ok(alice.act(NOOP, T0))  # the first request over the cap finds the slot free
    assert alice.act(NOOP, T0 + 9_999) == refusal(4, 2)
    assert ok(alice.act(NOOP, T0 + 10_000))
    assert alice.act(NOOP, T0 + 10_001) == refusal(5, 2)
    # a batch of n holds the slot for n x 10 s (the pace the connector's AddressBudget keeps)
    assert ok(alice.orders(3, T0 + 20_000))
    assert alice.act(NOOP, T0 + 49_999) == refusal(8, 2)
    assert ok(alice.act(NOOP, T0 + 50_000))
    # throttled requests count: used runs past the cap
    assert alice.limit() == {"cumVlm": "0.0", "nRequestsUsed": 8, "nRequestsCap": 2, "nRequestsSurplus": 0}


def test_cancels_may_go_to_min_of_cap_plus_100000_and_twice_the_cap() -> None:
    e = engine(buffer=2)  # cap 2, cancels up to min(2 + 100000, 2 * 2) = 4
    alice = Client(e, ALICE)
    placed = alice.orders(2)["response"]["data"]["statuses"]
    first, second = (s["resting"]["oid"] for s in placed)
    assert ok(alice.act(NOOP))  # 3 > 2: the throttled slot
    assert alice.act(NOOP) == refusal(4, 2)  # orders and everything else: refused now
    one = alice.act({"type": "cancel", "cancels": [{"a": ETH, "o": first}]})  # 4 <= 4: a cancel still goes
    assert one["response"]["data"]["statuses"] == ["success"]
    assert alice.act({"type": "cancel", "cancels": [{"a": ETH, "o": second}]}) == refusal(5, 4)
    assert list(e.accounts[ALICE].open_orders) == [second]


def test_the_cancel_limit_binds_too_and_then_cancels_are_throttled_like_the_rest() -> None:
    e = engine(buffer=2)  # cap 2, cancels up to min(2 + 100000, 4) = 4
    alice = Client(e, ALICE)
    assert ok(alice.orders(2))
    assert ok(alice.act(cancels(2)))  # 4 <= 4: within the cancel limit, the slot untouched
    assert ok(alice.act(NOOP))  # 5 > 2: the throttled slot
    assert alice.act(cancels(1)) == refusal(6, 4)
    assert alice.act({"type": "cancelByCloid", "cancels": [{"asset": ETH, "cloid": "0x" + "1" * 32}]}) == \
        refusal(6, 4)
    assert ok(alice.act(cancels(1), T0 + 10_000))


def test_traded_volume_raises_the_cap_one_request_per_usdc() -> None:
    e = engine(buffer=3)
    alice, bob = Client(e, ALICE), Client(e, BOB)
    assert ok(bob.act(order_action([wire(False, "3000", "1")])))
    assert ok(alice.act(order_action([wire(True, "3000", "0.4", "Ioc")])))  # 1200 USDC, taker
    assert ok(alice.act(NOOP))
    assert ok(alice.act(NOOP))  # 3 of 3 before the trade would have run out
    assert alice.limit() == {"cumVlm": "1200.0", "nRequestsUsed": 3, "nRequestsCap": 1203, "nRequestsSurplus": 0}
    assert bob.limit()["nRequestsCap"] == 1203  # the maker's volume counts as well
    e.accounts[ALICE].n_requests = 1203  # (as if it had sent that many)
    assert ok(alice.act(NOOP))  # the throttled slot
    assert alice.act(NOOP) == refusal(1205, 1203, "1200")


def test_an_agent_spends_its_masters_budget_and_a_sub_account_has_its_own() -> None:
    e = engine(buffer=3)
    alice = Client(e, ALICE)
    agent = Client(e, "0x" + "7" * 40)
    assert ok(alice.act({"type": "approveAgent", "agentAddress": agent.user, "agentName": "", "nonce": 1}))
    assert ok(agent.orders(2))
    assert alice.limit()["nRequestsUsed"] == 3  # approveAgent + 2 orders, all the master's
    assert agent.user not in e.accounts
    assert ok(agent.act(NOOP))  # the throttled slot
    assert agent.act(NOOP) == refusal(5, 3)
    assert alice.act(NOOP) == refusal(5, 3)  # the same budget
    sub = e.create_sub_account(ALICE, "carol").address
    assert ok(alice.act(NOOP, vault=sub))  # a sub-account / vault counts as its own user
    assert Client(e, sub).limit()["nRequestsUsed"] == 1


def test_without_the_rule_requests_are_counted_and_never_refused() -> None:
    e = engine(buffer=None)
    alice = Client(e, ALICE)
    assert all(ok(alice.orders(40)) for _ in range(5))
    assert e.address_refusal(ALICE, None, NOOP, T0) is None
    assert alice.limit() == {"cumVlm": "0.0", "nRequestsUsed": 200, "nRequestsCap": NO_ADDRESS_LIMIT_BUFFER,
                             "nRequestsSurplus": 0}


# --------------------------------------------------------------------------------------- over HTTP
def signed(signer: LocalSigner, action: dict[str, Any], nonce: int) -> dict[str, Any]:
    return exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)


async def test_the_refusal_over_http_leaves_the_nonce_unused(mock_clock: trio.testing.MockClock) -> None:
    signer = LocalSigner.generate()
    limits = attrs.evolve(Limits.unlimited(), address_initial_buffer=1)
    async with open_emulator(limits=limits, tick_interval_s=3600.0) as emu, \
            httpx.AsyncClient(base_url=emu.url) as client:
        emu.fund(signer.address)
        nonce = emu.now_ms()

        async def send(n: int) -> Any:
            return (await client.post("/exchange", json=signed(signer, noop_action(), n))).json()

        first, throttled, refused = await send(nonce), await send(nonce + 1), await send(nonce + 2)
        mock_clock.jump(9.999)
        still = await send(nonce + 2)
        mock_clock.jump(0.001)
        again = await send(nonce + 2)  # the refused requests' nonce was never used
        limit = (await client.post("/info", json={"type": "userRateLimit", "user": signer.address})).json()
    assert (first["status"], throttled["status"], again["status"]) == ("ok", "ok", "ok")
    assert refused == still == refusal(3, 1)
    assert limit == {"cumVlm": "0.0", "nRequestsUsed": 3, "nRequestsCap": 1, "nRequestsSurplus": 0}
    assert emu.statistics().address_limited == 2


async def test_unlimited_reports_a_cap_no_client_reaches() -> None:
    signer = LocalSigner.generate()
    async with open_emulator(limits=Limits.unlimited(), tick_interval_s=3600.0) as emu, \
            httpx.AsyncClient(base_url=emu.url) as client:
        emu.fund(signer.address)
        nonce = emu.now_ms()
        answers = [(await client.post("/exchange", json=signed(signer, noop_action(), nonce + i))).json()
                   for i in range(3)]
        limit = (await client.post("/info", json={"type": "userRateLimit", "user": signer.address})).json()
    assert [a["status"] for a in answers] == ["ok"] * 3
    assert limit == {"cumVlm": "0.0", "nRequestsUsed": 3, "nRequestsCap": NO_ADDRESS_LIMIT_BUFFER,
                     "nRequestsSurplus": 0}
