"""Who may act for whom in the emulator (``emulator/_authz.py``, PROTOCOL §8.4): the authorization table
(every action type the engine supports × owner, its agent, master for its sub-account, leader for its vault,
a stranger and a stranger's agent), agent approval rules (who approves, named/unnamed limits, replacement,
expiry, hijack attempts) and the issue's attacks, engine-level and over the real HTTP server with real
signatures."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from trio_hl.emulator import open_emulator
from trio_hl.emulator._authz import AGENT_DEFAULT_VALIDITY_MS, NAMED_AGENTS_MASTER, NAMED_AGENTS_SUB
from trio_hl.emulator.engine import _HANDLERS, Engine
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action, sign_user_action
from trio_hl.hyperliquid.wire import approve_agent_action, exchange_body, usd_class_transfer_action

T0 = 1_700_000_000_000
ALICE = "0x" + "a1" * 20
MALLORY = "0x" + "66" * 20
ALICE_AGENT = "0x" + "a9" * 20
MALLORY_AGENT = "0x" + "69" * 20
NEW_AGENT = "0x" + "4e" * 20
CLOID = "0x" + "0" * 31 + "1"
ETH = 1


class World:
    """Alice (a master with a sub-account, a vault she leads and an approved agent) and Mallory (a funded
    stranger with her own agent), each acting with increasing nonces."""

    def __init__(self) -> None:
        self.e = Engine(seed=3, now_ms=T0, with_market=False, auto_fund=False)
        self.e.deposit(ALICE, 10_000, spot={"USDC": 1_000})
        self.e.deposit(MALLORY, 10_000, spot={"USDC": 1_000})
        self.sub = self.e.create_sub_account(ALICE, "alpha").address
        self.vault = self.e.create_vault(ALICE, 5_000).address
        self.e.deposit(self.sub, 1_000)
        self.nonce = T0
        assert self.ok(self.act(ALICE, approve(ALICE_AGENT)))
        assert self.ok(self.act(MALLORY, approve(MALLORY_AGENT)))

    def act(self, signer: str, action: dict[str, Any], vault: str | None = None, now: int = T0) -> dict[str, Any]:
        self.nonce += 1
        return self.e.action(signer=signer, action=action, nonce=self.nonce, vault_address=vault, now_ms=now)

    @staticmethod
    def ok(answer: dict[str, Any]) -> bool:
        return answer.get("status") == "ok"

    def requests(self) -> dict[str, int]:
        return {address: acct.n_requests for address, acct in self.e.accounts.items()}


def approve(agent: str, name: str = "") -> dict[str, Any]:
    return {"type": "approveAgent", "agentAddress": agent, "agentName": name, "nonce": 1}


def order() -> dict[str, Any]:
    return {"type": "order", "grouping": "na", "orders": [
        {"a": ETH, "b": True, "p": "3000", "s": "0.01", "r": False, "t": {"limit": {"tif": "Gtc"}}, "c": CLOID}]}


# Every action type the engine supports, built for a target account ("sub-account" actions name it in the
# action itself: usdClassTransfer's amount suffix, subAccountTransfer's subAccountUser).
ACTIONS: dict[str, Callable[[str | None, str], dict[str, Any]]] = {
    "order": lambda target, sub: order(),
    "cancel": lambda target, sub: {"type": "cancel", "cancels": [{"a": ETH, "o": 123}]},
    "cancelByCloid": lambda target, sub: {"type": "cancelByCloid", "cancels": [{"asset": ETH, "cloid": CLOID}]},
    "batchModify": lambda target, sub: {"type": "batchModify",
                                        "modifies": [{"oid": 123, "order": order()["orders"][0]}]},
    "modify": lambda target, sub: {"type": "modify", "oid": 123, "order": order()["orders"][0]},
    "scheduleCancel": lambda target, sub: {"type": "scheduleCancel", "time": T0 + 60_000},
    "updateLeverage": lambda target, sub: {"type": "updateLeverage", "asset": ETH, "isCross": True, "leverage": 5},
    "updateIsolatedMargin": lambda target, sub: {"type": "updateIsolatedMargin", "asset": ETH, "isBuy": True,
                                                 "ntli": 1_000_000},
    "noop": lambda target, sub: {"type": "noop"},
    "usdClassTransfer": lambda target, sub: {"type": "usdClassTransfer", "toPerp": False, "nonce": 1,
                                             "amount": "1" + (f" subaccount:{target}" if target else "")},
    "approveAgent": lambda target, sub: approve(NEW_AGENT),
    "twapOrder": lambda target, sub: {"type": "twapOrder", "twap": {"a": ETH, "b": True, "s": "0.1", "r": False,
                                                                    "m": 5, "t": False}},
    "twapCancel": lambda target, sub: {"type": "twapCancel", "a": ETH, "t": 1},
    "createSubAccount": lambda target, sub: {"type": "createSubAccount", "name": "beta"},
    "subAccountTransfer": lambda target, sub: {"type": "subAccountTransfer", "subAccountUser": target or sub,
                                               "isDeposit": True, "usd": 1_000_000},
    "withdraw3": lambda target, sub: {"type": "withdraw3", "destination": ALICE, "amount": "2", "time": 1},
    "approveBuilderFee": lambda target, sub: {"type": "approveBuilderFee", "maxFeeRate": "0.01%",
                                              "builder": MALLORY, "nonce": 1},
}
# Actions that name their target inside the action instead of (only) in vaultAddress.
NAMED_IN_ACTION = {"usdClassTransfer", "subAccountTransfer"}
USER_SIGNED = {"usdClassTransfer", "approveAgent", "withdraw3", "approveBuilderFee"}


def test_the_table_covers_every_action_the_engine_supports() -> None:
    assert set(ACTIONS) == set(_HANDLERS)


# Rows: (signer, target kind).  Expected: "ok:<account the action applies to>" or the refusal text.
ROWS = ["owner", "agent", "master-for-sub-account", "leader-for-vault", "stranger-for-sub-account",
        "stranger-for-vault", "stranger's-agent-for-sub-account", "stranger's-agent-for-vault",
        "stranger-for-account"]


def expected(w: World, action: str, row: str) -> str:
    """The matrix, written out as rules a reader can check against ``_authz.py``'s docstring."""
    sub, vault = w.sub, w.vault
    denied = "User or API Wallet {s} is not authorized to act for {t}."
    if row == "owner":
        return "ok:" + ALICE
    if row == "agent":
        if action in USER_SIGNED:
            return f"API Wallet {ALICE_AGENT} cannot sign user actions."
        if action == "subAccountTransfer":
            return f"API Wallet {ALICE_AGENT} cannot move funds."
        return "ok:" + ALICE
    if row in ("master-for-sub-account", "leader-for-vault"):
        target = sub if row == "master-for-sub-account" else vault
        if action == "createSubAccount":
            return "Only a master account can create sub-accounts."
        if action == "subAccountTransfer":
            # money moves master -> sub-account (the master's action); a vault is no sub-account
            return "ok:" + ALICE if target == sub else f"Vault not registered: {vault}"
        return "ok:" + target
    signer = MALLORY if row.startswith("stranger-") else MALLORY_AGENT
    if signer == MALLORY_AGENT and action in USER_SIGNED:
        return f"API Wallet {MALLORY_AGENT} cannot sign user actions."
    if signer == MALLORY_AGENT and action == "subAccountTransfer":
        return f"API Wallet {MALLORY_AGENT} cannot move funds."
    if row == "stranger-for-account":  # a master account is no vault, whichever way it is named
        return f"Vault not registered: {ALICE}"
    target = sub if row.endswith("sub-account") else vault
    if action == "createSubAccount":
        return "Only a master account can create sub-accounts."
    if action == "subAccountTransfer" and target == vault:
        return f"Vault not registered: {vault}"
    return denied.format(s=signer, t=target)


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("action_type", sorted(ACTIONS))
def test_authorization_table(action_type: str, row: str) -> None:
    w = World()
    signer = {"owner": ALICE, "agent": ALICE_AGENT, "master-for-sub-account": ALICE, "leader-for-vault": ALICE,
              "stranger-for-sub-account": MALLORY, "stranger-for-vault": MALLORY,
              "stranger's-agent-for-sub-account": MALLORY_AGENT, "stranger's-agent-for-vault": MALLORY_AGENT,
              "stranger-for-account": MALLORY}[row]
    target = None
    if row.endswith("sub-account"):
        target = w.sub
    elif row.endswith("vault"):
        target = w.vault
    elif row == "stranger-for-account":
        target = ALICE
    action = ACTIONS[action_type](target, w.sub)
    vault = None if action_type in NAMED_IN_ACTION else target
    want = expected(w, action_type, row)
    before = w.requests()
    books_before = {a: acct.open_orders.copy() for a, acct in w.e.accounts.items()}
    answer = w.act(signer, action, vault)
    after = w.requests()
    if want.startswith("ok:"):
        user = want[3:]
        response = answer.get("response")
        assert not (isinstance(response, str) and response in _refusals(w)), answer
        # the action was admitted and charged to exactly the account it applies to
        assert {a: n - before.get(a, 0) for a, n in after.items() if n != before.get(a, 0)} == {user: 1}, answer
        if action_type == "order":
            (status,) = answer["response"]["data"]["statuses"]
            assert list(w.e.accounts[user].open_orders) == [status["resting"]["oid"]]
    else:
        assert answer == {"status": "err", "response": want}
        assert after == before  # nothing charged, nothing created
        assert {a: acct.open_orders for a, acct in w.e.accounts.items()} == books_before
        assert w.e.auth.agents.get(NEW_AGENT) is None


def _refusals(w: World) -> set[str]:
    texts = set()
    for signer in (ALICE, ALICE_AGENT, MALLORY, MALLORY_AGENT):
        texts |= {f"API Wallet {signer} cannot sign user actions.", f"API Wallet {signer} cannot move funds.",
                  f"User or API Wallet {signer} does not exist."}
        for target in (w.sub, w.vault, ALICE):
            texts.add(f"User or API Wallet {signer} is not authorized to act for {target}.")
    return texts | {f"Vault not registered: {a}" for a in (w.sub, w.vault, ALICE)} | {
        "Only a master account can create sub-accounts."}


# ----------------------------------------------------------------------------------------- the attacks
def test_a_stranger_cannot_move_a_sub_accounts_money_or_create_accounts_with_it() -> None:
    w = World()
    sub = w.e.accounts[w.sub]
    for amount in (f"50 subaccount:{w.sub}", "1 subaccount: subaccount:", "1 subaccount:0xnothex",
                   f"1 subaccount:{'0x' + '5' * 40}"):
        answer = w.act(MALLORY, {"type": "usdClassTransfer", "amount": amount, "toPerp": False, "nonce": 1})
        assert answer["status"] == "err", (amount, answer)
    assert sub.usdc == 1000 and set(w.e.accounts) == {ALICE, MALLORY, w.sub, w.vault}
    assert w.act(ALICE, {"type": "usdClassTransfer", "amount": f"50 subaccount:{w.sub}", "toPerp": False,
                         "nonce": 1})["status"] == "ok"
    assert sub.usdc == 950 and sub.spot[0] == 50


def test_a_stranger_cannot_hijack_a_victims_agent() -> None:
    w = World()
    assert w.act(MALLORY, approve(ALICE_AGENT)) == {
        "status": "err", "response": f"Agent address {ALICE_AGENT} is already used by another account."}
    assert w.act(MALLORY, approve(ALICE_AGENT, "bot")) == {
        "status": "err", "response": f"Agent address {ALICE_AGENT} is already used by another account."}
    assert w.e.acting_user(ALICE_AGENT, None) == ALICE
    status = w.act(ALICE_AGENT, order())["response"]["data"]["statuses"][0]
    assert "resting" in status and w.e.accounts[ALICE].open_orders
    # Mallory re-approving *her* unnamed agent replaces only hers
    assert w.ok(w.act(MALLORY, approve(NEW_AGENT)))
    assert w.e.acting_user(MALLORY_AGENT, None) is None and w.e.acting_user(NEW_AGENT, None) == MALLORY
    assert w.e.acting_user(ALICE_AGENT, None) == ALICE


def test_a_stranger_cannot_approve_an_agent_for_a_sub_account_or_vault() -> None:
    w = World()
    for target in (w.sub, w.vault):
        answer = w.act(MALLORY, approve(NEW_AGENT), vault=target)
        assert answer == {"status": "err",
                          "response": f"User or API Wallet {MALLORY} is not authorized to act for {target}."}
    assert NEW_AGENT not in w.e.auth.agents


def test_an_agent_cannot_approve_agents() -> None:
    w = World()
    assert w.act(ALICE_AGENT, approve(NEW_AGENT)) == {
        "status": "err", "response": f"API Wallet {ALICE_AGENT} cannot sign user actions."}


def test_unknown_vault_and_keyless_signers() -> None:
    w = World()
    ghost = "0x" + "9" * 40
    assert w.act(ALICE, {"type": "noop"}, vault=ghost) == {"status": "err",
                                                           "response": f"Vault not registered: {ghost}"}
    # a signature that recovers to a sub-account's address speaks for nobody (sub-accounts have no keys)
    assert w.act(w.sub, {"type": "noop"}) == {"status": "err",
                                              "response": f"User or API Wallet {w.sub} does not exist."}
    assert ghost not in w.e.accounts


def test_auto_funding_never_makes_a_vault_address_an_account() -> None:
    e = Engine(seed=3, now_ms=T0, with_market=False, auto_fund=True)
    victim_sub = e.create_sub_account(ALICE, "x").address
    answer = e.action(signer=MALLORY, action={"type": "noop"}, nonce=1, vault_address=victim_sub, now_ms=T0)
    assert answer["response"] == f"User or API Wallet {MALLORY} is not authorized to act for {victim_sub}."
    ghost = "0x" + "9" * 40
    answer = e.action(signer=MALLORY, action={"type": "noop"}, nonce=2, vault_address=ghost, now_ms=T0)
    assert answer["response"] == f"Vault not registered: {ghost}" and ghost not in e.accounts


# --------------------------------------------------------------------------------------- agent rules
def test_agent_limits_named_and_unnamed() -> None:
    w = World()
    names = [f"bot{i}" for i in range(NAMED_AGENTS_MASTER + 1)]
    agents = ["0x" + f"{i + 1:02x}" * 20 for i in range(len(names))]
    for name, agent in zip(names[:-1], agents[:-1], strict=True):
        assert w.ok(w.act(ALICE, approve(agent, name)))
    assert w.act(ALICE, approve(agents[-1], names[-1])) == {
        "status": "err", "response": f"Too many named API wallets (max {NAMED_AGENTS_MASTER})."}
    # a used name is replaced (the old agent is retired), the unnamed one too; counts unchanged
    assert w.ok(w.act(ALICE, approve(agents[-1], names[0])))
    assert w.e.acting_user(agents[0], None) is None and w.e.acting_user(agents[-1], None) == ALICE
    assert w.ok(w.act(ALICE, approve(NEW_AGENT)))
    assert w.e.acting_user(ALICE_AGENT, None) is None and w.e.acting_user(NEW_AGENT, None) == ALICE
    # a retired agent's address is never approved again, by anybody
    assert w.act(ALICE, approve(agents[0], "again"))["status"] == "err"
    # a sub-account has its own, smaller set, approved by its master
    for i in range(NAMED_AGENTS_SUB):
        assert w.ok(w.act(ALICE, approve("0x" + f"{0x30 + i:02x}" * 20, f"s{i}"), vault=w.sub))
    assert w.act(ALICE, approve("0x" + "3f" * 20, "s9"), vault=w.sub) == {
        "status": "err", "response": f"Too many named API wallets (max {NAMED_AGENTS_SUB})."}
    assert w.e.acting_user("0x" + "30" * 20, None) == w.sub


def test_a_sub_accounts_agent_acts_only_for_that_sub_account() -> None:
    w = World()
    assert w.ok(w.act(ALICE, approve(NEW_AGENT, "subbot"), vault=w.sub))
    assert "resting" in w.act(NEW_AGENT, order())["response"]["data"]["statuses"][0]
    assert w.e.accounts[w.sub].open_orders and not w.e.accounts[ALICE].open_orders
    assert w.act(NEW_AGENT, order(), vault=w.vault) == {
        "status": "err", "response": f"User or API Wallet {NEW_AGENT} is not authorized to act for {w.vault}."}


def test_agent_expiry_default_and_valid_until() -> None:
    w = World()
    day = 86_400_000
    assert w.act(ALICE_AGENT, {"type": "noop"}, now=T0 + AGENT_DEFAULT_VALIDITY_MS - 1)["status"] == "ok"
    assert w.act(ALICE_AGENT, {"type": "noop"}, now=T0 + AGENT_DEFAULT_VALIDITY_MS) == {
        "status": "err", "response": f"User or API Wallet {ALICE_AGENT} does not exist."}
    until = T0 + 10 * day
    assert w.ok(w.act(ALICE, approve(NEW_AGENT, f"short valid_until {until}")))
    assert w.e.auth.agents[NEW_AGENT].name == "short"
    assert w.act(NEW_AGENT, {"type": "noop"}, now=until - 1)["status"] == "ok"
    assert w.act(NEW_AGENT, {"type": "noop"}, now=until)["status"] == "err"
    for bad in (T0 - 1, T0 + 181 * day):
        answer = w.act(ALICE, approve("0x" + "5a" * 20, f"x valid_until {bad}"))
        assert answer == {"status": "err", "response": f"Invalid agent validUntil {bad}: must be in the future and "
                                                       f"at most 180 days away."}


def test_an_account_cannot_be_approved_as_an_agent() -> None:
    w = World()
    assert w.act(ALICE, approve(MALLORY)) == {"status": "err",
                                              "response": f"Agent address {MALLORY} is already a user."}
    assert w.act(ALICE, approve(w.sub))["status"] == "err"


# ------------------------------------------------------------------------------- over HTTP, real signatures
def _l1(signer: LocalSigner, action: dict[str, Any], nonce: int, vault: str | None = None) -> dict[str, Any]:
    return exchange_body(action, nonce, sign_l1_action(signer, action, vault, nonce, None, False), vault, None)


async def test_over_http_a_stranger_cannot_trade_for_a_sub_account_or_vault_nor_hijack_an_agent() -> None:
    alice, mallory, agent = LocalSigner.generate(), LocalSigner.generate(), LocalSigner.generate()
    async with open_emulator() as emu, httpx.AsyncClient(base_url=emu.url) as http:
        for who in (alice, mallory):
            named = await http.post("/info", json={"type": "clearinghouseState", "user": who.address})
            assert named.status_code == 200
        nonce = emu.now_ms()
        created = (await http.post("/exchange", json=_l1(alice, {"type": "createSubAccount", "name": "desk"},
                                                         nonce))).json()
        sub = created["response"]["data"]
        vault = emu.engine.create_vault(alice.address, 1_000).address
        approval = approve_agent_action(agent.address, "bot", nonce + 1)
        body = exchange_body(approval, nonce + 1, sign_user_action(alice, approval, False), None, None)
        assert (await http.post("/exchange", json=body)).json()["status"] == "ok"
        for target in (sub, vault):
            answer = (await http.post("/exchange", json=_l1(mallory, order(), nonce + 2, target))).json()
            assert answer == {"status": "err",
                              "response": f"User or API Wallet {mallory.address.lower()} is not authorized to act "
                                          f"for {target}."}
        hijack = approve_agent_action(agent.address, "bot", nonce + 3)
        body = exchange_body(hijack, nonce + 3, sign_user_action(mallory, hijack, False), None, None)
        assert (await http.post("/exchange", json=body)).json() == {
            "status": "err", "response": f"Agent address {agent.address.lower()} is already used by another account."}
        move = usd_class_transfer_action(Decimal(1), False, nonce + 4, sub)
        body = exchange_body(move, nonce + 4, sign_user_action(mallory, move, False), None, None)
        assert (await http.post("/exchange", json=body)).json()["status"] == "err"
        # the real owner's agent trades for the vault the owner leads
        answer = (await http.post("/exchange", json=_l1(agent, order(), nonce + 5, vault))).json()
        assert "resting" in answer["response"]["data"]["statuses"][0]
        assert emu.engine.accounts[vault].open_orders
        assert not emu.engine.accounts[sub].open_orders
