"""Who may act for whom (PROTOCOL §8.4): the emulator's one authorization decision point.

Every ``/exchange`` action reaches :meth:`Authority.decide` before anything else in the engine looks at it
(``Engine.authorization_refusal`` asks it before the app records the nonce, ``Engine.action`` asks it again
before dispatching, so a bare engine is guarded too).  It answers three questions and nothing else:

1. **Who signed?**  The recovered signer is an account (a master account: sub-accounts and vaults have no keys)
   or an API wallet (agent) some account approved and that has not expired.  Anything else is unknown:
   ``User or API Wallet 0x… does not exist.`` (venue words).
2. **For whom?**  The account the action applies to: the signer's own account (an agent's: its owner), or
   ``vaultAddress`` when given, or the account the action names — ``usdClassTransfer``'s
   ``"<amount> subaccount:0x…"`` (the SDK's way of naming a sub-account there), ``subAccountTransfer``'s
   ``subAccountUser``.  A ``vaultAddress`` that is no sub-account or vault: ``Vault not registered: 0x…``
   (venue words).
3. **May it?**  The account itself or its agent; a master (or its agent) for its sub-accounts and for the
   vaults it leads; nobody else.  Then the per-action rules below.

Rules and refusal texts.  Where the venue's words are known they are used; the others (marked *chosen*) were
not found in any capture, so these are ours — the action is refused either way:

- A funded signer naming an account it does not control (*chosen*): ``User or API Wallet 0x… is not
  authorized to act for 0x….``
- User-signed actions (``approveAgent``, ``usdClassTransfer`` … EIP-712 signatures) must be signed by the
  account itself; an agent's is refused (*chosen*): ``API Wallet 0x… cannot sign user actions.``  The venue
  lets agents sign L1 actions only.
- Moving money between accounts (``subAccountTransfer``) by an agent (*chosen*): ``API Wallet 0x… cannot move
  funds.``  (Agents hold no funds and never move them.)
- ``createSubAccount`` only for a master account, itself or through its agent, never with a ``vaultAddress``
  (*chosen*): ``Only a master account can create sub-accounts.``
- ``approveAgent``: only the account itself approves (an agent cannot: rule above); with ``vaultAddress`` the
  master approves an agent for that sub-account / vault.  Limits per owner (PROTOCOL §8.4: "3 API wallets per
  master account plus 2 per sub-account", read as named ones): one unnamed agent (a new one replaces it),
  :data:`NAMED_AGENTS_MASTER` named agents for a master, :data:`NAMED_AGENTS_SUB` for a sub-account or vault; a
  name already in use replaces *that owner's* agent of that name, never another account's.  More names
  (*chosen*): ``Too many named API wallets (max N).``  An address that is any account's agent already, or is an
  account itself, cannot be approved (*chosen*): ``Agent address 0x… is already used by another account.`` /
  ``Agent address 0x… is already a user.``  Re-approving one's own agent under a new name moves it.
- Agent expiry: ``validUntil`` is the approval time + 90 days, or the ``valid_until <ms>`` suffix of the name
  (``"bot valid_until 1767225600000"``, the name proper being ``"bot"``), which must lie in the future and at
  most 180 days away (*chosen*): ``Invalid agent validUntil V: must be in the future and at most 180 days
  away.``  An expired agent is unknown (``… does not exist.``) and its name is free again; its address is never
  approved again.  Names longer than :data:`MAX_AGENT_NAME` characters (*chosen* bound): ``Invalid agent name.``

Not modelled: pruning agents when the master's funds reach zero, multi-sig users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, NamedTuple

import attrs

from trio_hl.emulator._accounts import Account
from trio_hl.hyperliquid.signing import USER_SIGNED_ACTION_TYPES

__all__ = [
    "AGENT_DEFAULT_VALIDITY_MS",
    "AGENT_MAX_VALIDITY_MS",
    "MAX_AGENT_NAME",
    "NAMED_AGENTS_MASTER",
    "NAMED_AGENTS_SUB",
    "Agent",
    "Authority",
    "Grant",
    "is_address",
]

AGENT_DEFAULT_VALIDITY_MS: Final = 90 * 86_400_000
AGENT_MAX_VALIDITY_MS: Final = 180 * 86_400_000
NAMED_AGENTS_MASTER: Final = 3
NAMED_AGENTS_SUB: Final = 2
MAX_AGENT_NAME: Final = 64
#: Actions that move money from one account to another (agents may not).
_MOVES_FUNDS: Final = frozenset({"subAccountTransfer"})
_SUB_MARK: Final = " subaccount:"
_ADDRESS: Final = re.compile(r"0x[0-9a-f]{40}")
_VALID_UNTIL: Final = re.compile(r"^(.*?)\s*valid_until\s+(\d{1,19})$")


def is_address(text: str) -> bool:
    """``0x`` + 40 lowercase hex digits (callers lowercase first)."""
    return _ADDRESS.fullmatch(text) is not None


@attrs.frozen
class Agent:
    """An approved API wallet: the account it acts for, its name (``""`` = unnamed) and its expiry (ms)."""

    address: str
    owner: str
    name: str
    valid_until: int


class Grant(NamedTuple):
    """A decision to admit an action: who signed, the account it is (or acts for), the account the action
    applies to (``user``), whether an agent signed, and the other account the action names, if any.

    A ``NamedTuple`` rather than an attrs class: one is made for every action, and a frozen attrs instance
    cost ~1 us more to build (measured under the order path's profile)."""

    signer: str
    principal: str
    user: str
    via_agent: bool
    other: str | None = None


class Authority:
    """The approved agents, and :meth:`decide` (the single decision point)."""

    def __init__(self, accounts: Mapping[str, Account]) -> None:
        self._accounts = accounts
        #: agent address -> grant; expired ones stay (their address is never approved again).
        self.agents: dict[str, Agent] = {}

    # ----------------------------------------------------------------------------------- the decision
    def signer_account(self, signer: str, now: int) -> tuple[str, bool] | None:
        """``(account the signer is or acts for, via_agent)``; ``None`` for an unknown or expired signer."""
        agent = self.agents.get(signer)
        if agent is not None:
            return (agent.owner, True) if now < agent.valid_until else None
        acct = self._accounts.get(signer)
        if acct is None or acct.master is not None:
            return None  # sub-accounts and vaults have no keys: a signature never speaks for one directly
        return signer, False

    def decide(self, signer: str, vault: str | None, action_type: str, action: Mapping[str, object],
               now: int) -> Grant | str:
        """Admit ``action`` (a :class:`Grant`) or refuse it (the venue's answer text)."""
        resolved = self.signer_account(signer, now)
        if resolved is None:
            return f"User or API Wallet {signer} does not exist."
        principal, via_agent = resolved
        if via_agent and action_type in USER_SIGNED_ACTION_TYPES:
            return f"API Wallet {signer} cannot sign user actions."
        user = principal
        if vault is not None and vault != principal:
            target = self._accounts.get(vault)
            if target is None or target.master is None:
                return f"Vault not registered: {vault}"
            user = vault
        other: str | None = None
        if action_type == "usdClassTransfer":
            amount = action.get("amount")
            if isinstance(amount, str) and _SUB_MARK in amount:
                named = amount.partition(_SUB_MARK)[2].lower()
                target = self._accounts.get(named) if is_address(named) else None
                if target is None or target.master is None:
                    return f"Vault not registered: {named[:42]}"
                if vault is not None and named != user:
                    return f"User or API Wallet {signer} is not authorized to act for {named}."
                user = named
        elif action_type == "subAccountTransfer":
            if via_agent:
                return f"API Wallet {signer} cannot move funds."
            named_raw = action.get("subAccountUser")
            named = named_raw.lower() if isinstance(named_raw, str) else ""
            sub = self._accounts.get(named) if is_address(named) else None
            if sub is None or sub.kind != "subAccount":
                return f"Vault not registered: {named[:42]}"
            if sub.master != user:
                return f"User or API Wallet {signer} is not authorized to act for {named}."
            other = named
        elif action_type == "createSubAccount" and user != principal:
            return "Only a master account can create sub-accounts."
        elif via_agent and action_type in _MOVES_FUNDS:
            return f"API Wallet {signer} cannot move funds."
        if user != principal and self._accounts[user].master != principal:
            return f"User or API Wallet {signer} is not authorized to act for {user}."
        return Grant(signer, principal, user, via_agent, other)

    # ----------------------------------------------------------------------------------------- agents
    def approve(self, owner: Account, agent_address: str, raw_name: str, now: int) -> str | None:
        """Approve ``agent_address`` for ``owner`` (already authorized by :meth:`decide`); the refusal text or
        ``None``.  Rules: module docstring."""
        name, valid_until = raw_name, now + AGENT_DEFAULT_VALIDITY_MS
        match = _VALID_UNTIL.match(raw_name)
        if match is not None:
            name, until = match.group(1), int(match.group(2))
            if not now < until <= now + AGENT_MAX_VALIDITY_MS:
                return f"Invalid agent validUntil {until}: must be in the future and at most 180 days away."
            valid_until = until
        if len(name) > MAX_AGENT_NAME or not name.isprintable():
            return "Invalid agent name."
        if agent_address in self._accounts:
            return f"Agent address {agent_address} is already a user."
        existing = self.agents.get(agent_address)
        if existing is not None and (existing.owner != owner.address or now >= existing.valid_until):
            return f"Agent address {agent_address} is already used by another account."
        self._prune(owner, now)
        if name and name not in owner.agents:
            cap = NAMED_AGENTS_MASTER if owner.master is None else NAMED_AGENTS_SUB
            if sum(1 for n in owner.agents if n) >= cap:
                return f"Too many named API wallets (max {cap})."
        if existing is not None:  # the owner's own agent under another name: move it
            owner.agents.pop(existing.name, None)
        replaced = owner.agents.get(name)
        if replaced is not None and replaced != agent_address:
            # the replaced agent is retired (its address stays known, so it is never approved again)
            old = self.agents[replaced]
            self.agents[replaced] = attrs.evolve(old, valid_until=min(old.valid_until, now))
        owner.agents[name] = agent_address
        self.agents[agent_address] = Agent(agent_address, owner.address, name, valid_until)
        return None

    def _prune(self, owner: Account, now: int) -> None:
        """Free the names of ``owner``'s expired agents."""
        for name, address in list(owner.agents.items()):
            agent = self.agents.get(address)
            if agent is None or now >= agent.valid_until:
                del owner.agents[name]

    def agents_of(self, owner: str, now: int) -> list[Agent]:
        """``owner``'s live agents (for tests and info answers)."""
        return [a for a in self.agents.values() if a.owner == owner and now < a.valid_until]
