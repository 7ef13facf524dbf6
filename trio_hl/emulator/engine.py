"""The emulator's venue: accounts, books, matching, positions, margin, fees, triggers, funding, statuses.

Rule followed: the venue's own semantics as clients observe them (PROTOCOL §3-§6).  Price-time priority;
a taker fills at the maker's price; ``Gtc`` rests, ``Ioc`` cancels its remainder (and is *refused* with
``Order could not immediately match against any resting orders.`` when nothing filled), ``Alo`` is refused
when it would cross; trigger orders wait for the mark price and then behave as ``Ioc`` (market) or ``Gtc``
(limit) at their limit price; one-way positions with cross or isolated margin; maker and taker fees in
USDC for perps and in the received token for spot.  Every order the engine assigned an oid to — including
refused ones, which the venue also keeps (``orderStatus`` says ``badAloPxRejected`` …) — stays queryable and
is part of :meth:`Engine.ground_truth`.  Per-order errors end with `` asset=N`` as the live venue's do.

The engine is pure and synchronous: the ASGI layer (``app.py``) verifies signatures and nonces and hands it
``(signer, action, nonce)``; time only moves through ``now_ms`` arguments and :meth:`Engine.tick`.  So the
same seed and the same calls give the same books, fills and messages, and engine tests need no event loop.

Stream messages are batched: user messages (orderUpdates, fills, userEvents) and trades are flushed at the
end of each action or tick; book-derived market data (l2Book, bbo, allMids, candle, activeAssetCtx) is
emitted by :meth:`Engine.tick` for what changed since the previous tick, the way the venue pushes once per
block.  Alternative rejected: an l2Book snapshot after every order, which at thousands of orders per second
would spend most of the emulator's time building 40-level snapshots nobody reads between two ticks.

Decisions where the venue is undocumented (PROTOCOL appendix, UNSURE), fixed here:

- Unknown asset id: per-order ``{"error": "Order has invalid asset. asset=N"}``; a malformed action (a
  ``ProtocolError`` from ``hyperliquid.messages``) → ``{"status":"err","response":"Failed to deserialize …"}``.
- ``modify``/``batchModify`` of an order that is not open: ``Cannot modify canceled or filled order. asset=N``;
  the old order ends ``canceled``, the new one has a new oid and keeps the cloid.
- Self-trade: the resting order is canceled with ``selfTradeCanceled`` and matching continues.
- A triggered order keeps its oid (``triggered``, then ``open``/``filled``/``canceled``).
- ``scheduleCancel`` errors: ``Scheduled cancel time too early, must be at least 5 seconds in the future.``
  and ``Too many scheduled cancel triggers today (max 10).``; the required-volume rule is off unless
  ``schedule_cancel_min_volume`` is set.
- The builder dex shares the account's USDC (the venue keeps a separate balance per dex).
- No liquidations: positions are never liquidated (``clearinghouseState`` still reports the venue's
  ``liquidationPx`` from the same margin model, ``_info.py``).
- The per-address action budget (PROTOCOL §8.3) is enforced here, per acting user (an agent's master, a
  ``vaultAddress`` sub-account), when :attr:`Engine.address_rule` is set (``EmulatorApp`` sets it from its
  ``Limits``; a bare engine counts requests but refuses none).  Its rule and UNSURE choices: ``_ratelimit.py``.
- Who may act for whom (signer, agent, ``vaultAddress`` sub-account or vault, agent approval) is decided in
  one place, ``_authz.py``; the venue's order and account rules (price band, minimum/maximum value, open-order
  cap, batch size, transfer amounts, sub-account names, scheduleCancel bounds) are listed in ``_rules.py``.
  Sub-accounts come from ``createSubAccount`` (or :meth:`Engine.create_sub_account`) and are funded with
  ``subAccountTransfer``; vaults from :meth:`Engine.create_vault` (the venue's ``createVault`` is not emulated).
  Auto-funding funds master accounts only, never a sub-account, vault or agent address.
- Native TWAP (``twapOrder``/``twapCancel``, info ``userTwapSliceFills``/``twapHistory``): the slicer and its
  own undocumented-venue choices are in ``_twap.py``; :meth:`Engine.tick` runs the due suborders.

Constructor options (``Engine(**engine_options)``): ``seed``, ``now_ms``, ``auto_fund`` (create and fund an
unknown signer on its first action), ``with_market`` (run :class:`~trio_hl.emulator.market.SimulatedMarket`),
``initial_usdc`` (perp USDC of a new account, 100 000), ``initial_spot`` (token name → amount),
``taker_fee``/``maker_fee`` (perp, 0.00045/0.00015; negative maker = rebate), ``spot_taker_fee``/
``spot_maker_fee`` (0.0007/0.0004), ``funding_rate`` (per interval, 0.0000125), ``funding_interval_ms``
(3 600 000; 0 disables), ``default_leverage`` (20, capped at the asset's maximum),
``schedule_cancel_min_volume`` (0), ``sub_account_min_volume`` (0; the venue asks $100 000), ``open_orders_base``
(1000, the venue's open-order cap before volume), ``market_options``
(keyword arguments of ``SimulatedMarket``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Container, Generator, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final

from trio_hl.emulator._accounts import Account, Position, q6, q8
from trio_hl.emulator._authz import Authority, Grant, is_address
from trio_hl.emulator._book import Book, Order
from trio_hl.emulator._candles import CandleStore
from trio_hl.emulator._info import InfoRequestError, answer_info, subscription_snapshot
from trio_hl.emulator._markets import MARKETS, SPOT_TOKENS, MarketSpec
from trio_hl.emulator._ratelimit import CANCEL_ACTIONS, AddressRule, address_requests
from trio_hl.emulator._rules import (
    MAX_ORDER_VALUE,
    MAX_SUB_ACCOUNTS,
    OPEN_ORDERS_BASE,
    PRICE_BAND,
    SCHEDULE_MAX_AHEAD_MS,
    SLICE,
    SPOT_PRICE_BAND,
    batch_refusal,
    open_order_cap,
    sub_account_name_ok,
    transfer_amount_ok,
)
from trio_hl.emulator._stream import StreamMessage, num, short_order, text_num, trigger_fires_above
from trio_hl.emulator._tpsl import TpslGroups
from trio_hl.emulator._twap import TwapDesk
from trio_hl.emulator.market import SimulatedMarket
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid.messages import (
    WireOrder,
    parse_batch_modify_action,
    parse_cancel_action,
    parse_cancel_by_cloid_action,
    parse_order_action,
    parse_wire_order,
)
from trio_hl.hyperliquid.wire import is_valid_price, is_valid_size

__all__ = ["Engine", "InfoRequestError", "StreamMessage"]

ZERO: Final = Decimal(0)
MIN_NOTIONAL: Final = Decimal(10)
SCHEDULE_MIN_DELAY_MS: Final = 5_000
SCHEDULE_MAX_PER_DAY: Final = 10
DAY_MS: Final = 86_400_000
#: A full l2Book snapshot goes out at least this often per coin (the venue: every block, >= 0.5 s apart).
BOOK_HEARTBEAT_MS: Final = 1_000
_DESERIALIZE: Final = "Failed to deserialize the JSON body into the target type"
_OK_DEFAULT: Final = {"status": "ok", "response": {"type": "default"}}
#: The venue's fixed fee on a ``withdraw3`` (1 USDC, its documented bridge withdrawal fee), paid out of the amount.
WITHDRAW_FEE_USDC: Final = Decimal(1)
#: A builder needs this much perp account value before users may approve it (the venue's documented minimum).
BUILDER_MIN_ACCOUNT_VALUE: Final = Decimal(100)
#: The highest ``approveBuilderFee`` rate (1 %, the venue's spot cap; its perp cap, 0.1 %, is a fee limit).
BUILDER_MAX_RATE: Final = Decimal("0.01")
_TWAP_HASH: Final = "0x" + "0" * 64  # the venue gives TWAP slice fills a zero hash
_TOKEN_BY_NAME: Final = {t.name: t for t in SPOT_TOKENS}
_DEFAULT_SPOT: Final = {"USDC": Decimal(100_000), "PURR": Decimal(100_000), "HFUN": Decimal(2_000)}


#: Memo of the venue's lot and tick checks (``is_valid_size`` / ``is_valid_price``, ~1.5 µs per order together).
#: Both depend only on the value and the market's ``szDecimals`` (and spot flag), and an order flow repeats the
#: same few sizes and prices; a hit is exactly what the check would answer.  Bounded: emptied when full.
_CHECK_MEMO: dict[tuple[Decimal, int, bool | None], bool] = {}
_CHECK_MEMO_SIZE: Final = 8192


def _valid_size(sz: Decimal, sz_decimals: int) -> bool:
    key = (sz, sz_decimals, None)
    ok = _CHECK_MEMO.get(key)
    if ok is None:
        ok = _memo_check(key, is_valid_size(sz, sz_decimals))
    return ok


def _valid_price(px: Decimal, sz_decimals: int, is_spot: bool) -> bool:
    key = (px, sz_decimals, is_spot)
    ok = _CHECK_MEMO.get(key)
    if ok is None:
        ok = _memo_check(key, is_valid_price(px, sz_decimals, is_spot))
    return ok


def _memo_check(key: tuple[Decimal, int, bool | None], ok: bool) -> bool:
    if len(_CHECK_MEMO) >= _CHECK_MEMO_SIZE:
        _CHECK_MEMO.clear()
    _CHECK_MEMO[key] = ok
    return ok


def _dec(value: Decimal | int | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _err(message: str) -> dict[str, Any]:
    return {"status": "err", "response": message}


class Engine:
    """The emulated venue (see the module docstring for the rules and the constructor options)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        now_ms: int = 0,
        auto_fund: bool = True,
        with_market: bool = True,
        initial_usdc: Decimal | int | str = 100_000,
        initial_spot: dict[str, Decimal | int | str] | None = None,
        taker_fee: Decimal | str = "0.00045",
        maker_fee: Decimal | str = "0.00015",
        spot_taker_fee: Decimal | str = "0.0007",
        spot_maker_fee: Decimal | str = "0.0004",
        funding_rate: Decimal | str = "0.0000125",
        funding_interval_ms: int = 3_600_000,
        default_leverage: int = 20,
        schedule_cancel_min_volume: Decimal | int | str = 0,
        sub_account_min_volume: Decimal | int | str = 0,
        open_orders_base: int = OPEN_ORDERS_BASE,
        market_options: dict[str, Any] | None = None,
    ) -> None:
        self.seed = seed
        self.now_ms = now_ms
        self.auto_fund = auto_fund
        self.initial_usdc = _dec(initial_usdc)
        spot = _DEFAULT_SPOT if initial_spot is None else {k: _dec(v) for k, v in initial_spot.items()}
        unknown = set(spot) - set(_TOKEN_BY_NAME)
        if unknown:
            raise ValueError(f"initial_spot: unknown tokens {sorted(unknown)}; known: {sorted(_TOKEN_BY_NAME)}")
        self.initial_spot = {_TOKEN_BY_NAME[k].index: v for k, v in spot.items()}
        self.taker_fee = _dec(taker_fee)
        self.maker_fee = _dec(maker_fee)
        self.spot_taker_fee = _dec(spot_taker_fee)
        self.spot_maker_fee = _dec(spot_maker_fee)
        self.funding_rate = _dec(funding_rate)
        self.funding_interval_ms = funding_interval_ms
        self.default_leverage = default_leverage
        self.schedule_cancel_min_volume = _dec(schedule_cancel_min_volume)
        #: Traded volume a master needs before ``createSubAccount`` (the venue asks $100 000; 0 here by default).
        self.sub_account_min_volume = _dec(sub_account_min_volume)
        #: Open orders every account may hold (the venue's 1000; +1 per $5M traded): ``_rules.py``.
        self.open_orders_base = open_orders_base

        self.specs: dict[int, MarketSpec] = {m.asset: m for m in MARKETS}
        self.spec_by_coin: dict[str, MarketSpec] = {m.coin: m for m in MARKETS}
        self.books: dict[int, Book] = {m.asset: Book(m.coin) for m in MARKETS}
        self.accounts: dict[str, Account] = {}
        #: Who may act for whom: approved agents and the single decision point (``_authz.py``).
        self.auth = Authority(self.accounts)
        #: The last decision :meth:`authorization_refusal` admitted: (action, vault, now, grant).
        self._admitted: tuple[dict[str, Any], str | None, int, Grant] | None = None
        self._sub_counter = 0
        #: user -> builder -> the highest fee rate (a fraction) the user approved with ``approveBuilderFee``.
        self.builder_approvals: dict[str, dict[str, Decimal]] = {}
        #: asset -> (reference price, lowest and highest price the band admits) for the current reference.
        self._bands: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
        #: The per-address action budget (PROTOCOL §8.3, rules in ``_ratelimit.py``); ``None`` = not enforced
        #: (requests are still counted).  ``EmulatorApp`` sets it from its ``Limits``; a bare engine has none.
        self.address_rule: AddressRule | None = None
        #: acting user -> emulator ms from which its throttled slot is free (only for addresses over the limit).
        self._throttle_free: dict[str, int] = {}
        self.orders: dict[int, Order] = {}  # every user order by oid (the market's own are not kept)
        self.oracle: dict[int, Decimal] = {m.asset: m.initial_mid for m in MARKETS}
        self.last_px: dict[int, Decimal] = {}
        self.prev_day_px: dict[int, Decimal] = dict(self.oracle)
        self.day_ntl: dict[int, Decimal] = dict.fromkeys(self.specs, ZERO)
        self.day_base: dict[int, Decimal] = dict.fromkeys(self.specs, ZERO)
        self.open_interest: dict[int, Decimal] = dict.fromkeys(self.specs, ZERO)
        self.funding_history: dict[str, list[dict[str, Any]]] = {m.coin: [] for m in MARKETS if not m.is_spot}
        self.candles = CandleStore()
        self.recent_trades: dict[str, list[dict[str, Any]]] = {m.coin: [] for m in MARKETS}
        self._triggers: dict[int, list[Order]] = {}
        self._scheduled: dict[str, int] = {}
        self._next_oid = 1_000_000 + (seed % 1000) * 1000
        self._next_tid = 1
        self._txn = 0
        self._hash_text: str | None = None  # what the current transaction's hash is derived from
        self._hash_value: str | None = "0x" + "0" * 64
        self._day = now_ms // DAY_MS
        interval = funding_interval_ms
        self._next_funding = (now_ms // interval + 1) * interval if interval > 0 else None
        # pending stream output
        #: The ``(channel, key)`` routes somebody receives, when a WS layer says so (``EmulatorApp`` passes its
        #: live routing table); ``None`` = assume every route has a listener.  Used to skip building
        #: ``orderUpdates`` nobody is subscribed to: they are kept nowhere else, and building one cost ~2 µs
        #: of every order.
        self.stream_routes: Container[tuple[str, str | None]] | None = None
        self._out: list[StreamMessage] = []
        self._updates: dict[str, list[dict[str, Any]]] = {}
        self._fills: dict[str, list[dict[str, Any]]] = {}
        self._trades: dict[str, list[dict[str, Any]]] = {}
        self._dirty_books: set[int] = set()
        self._dirty_ctx: set[int] = set()
        self._last_bbo: dict[int, tuple[Any, Any]] = {}
        self._last_book_push: dict[int, int] = {}
        self._last_mids: dict[str, str] = {}
        #: Native TWAPs (``twapOrder``/``twapCancel``; rules in ``_twap.py``).
        self.twaps: TwapDesk = TwapDesk(self)
        #: ``normalTpsl`` groups: children waiting for their parent, armed siblings (rules in ``_tpsl.py``).
        self.tpsl: TpslGroups = TpslGroups(self)
        #: user -> spot tokens credited to it from outside (auto-funding, ``deposit``), which have no ledger entry
        #: (``portfolio`` counts them as deposited).
        self.credited_spot: dict[str, dict[int, Decimal]] = {}
        self.market: SimulatedMarket | None = None
        if with_market:
            self.market = SimulatedMarket(self, seed=seed, now_ms=now_ms, **(market_options or {}))
            self._begin(now_ms)
            self.market.start(now_ms)
            self._flush_user_messages()

    # =============================================================================== accounts and identity
    def deposit(self, user: str, usdc: Decimal | int | str = 0, spot: dict[str, Decimal | int | str] | None = None,
                ) -> Account:
        """Create (if needed) and fund ``user``: a test's or a faucet's deposit.  Funded accounts may act."""
        acct = self._account(user.lower())
        tokens = {_TOKEN_BY_NAME[name].index: _dec(amount) for name, amount in (spot or {}).items()}
        self._credit(acct, _dec(usdc), tokens)
        return acct

    def create_account(self, user: str, *, unlimited: bool = False) -> Account:
        """An account with no balance (it gets ``Must deposit before performing actions`` until funded)."""
        return self._account(user.lower(), unlimited=unlimited)

    def _account(self, user: str, *, unlimited: bool = False) -> Account:
        acct = self.accounts.get(user)
        if acct is None:
            acct = self.accounts[user] = Account(user, unlimited=unlimited)
            if unlimited:
                acct.funded = True
        return acct

    def _auto_funded(self, user: str) -> Account:
        acct = self._account(user)
        if not acct.funded:
            self._credit(acct, self.initial_usdc, self.initial_spot)
        return acct

    def _credit(self, acct: Account, usdc: Decimal, spot: dict[int, Decimal]) -> None:
        """Fund ``acct`` as a bridge deposit would: the USDC lands in the perp balance with a ``deposit`` entry
        in its ledger (``userNonFundingLedgerUpdates``, as the venue records one), spot tokens in its spot
        balances (the emulator invents no transfer history for those)."""
        acct.usdc += usdc
        credited = self.credited_spot.setdefault(acct.address, {}) if not acct.unlimited else {}
        for token, amount in spot.items():
            acct.add_spot(token, amount)
            credited[token] = credited.get(token, ZERO) + amount
        acct.funded = True
        if usdc > 0 and not acct.unlimited:
            acct.ledger.append({"time": self.now_ms, "hash": self._hash, "delta": {"type": "deposit",
                                                                                "usdc": num(usdc)}})

    def create_sub_account(self, master: str, name: str) -> Account:
        """A new (empty) sub-account of ``master``, as ``createSubAccount`` makes one; its address is derived from
        the seed, the master and a counter (sub-accounts have no keys).  No name or count checks: tests' path."""
        master = master.lower()
        self._sub_counter += 1
        digest = hashlib.sha256(f"{self.seed}:sub:{master}:{self._sub_counter}".encode()).hexdigest()
        acct = self._account("0x" + digest[:40])
        acct.kind, acct.master, acct.funded = "subAccount", master, True
        acct.name = name
        self._account(master).sub_accounts.append(acct.address)
        return acct

    def create_vault(self, leader: str, usdc: Decimal | int | str = 0) -> Account:
        """A new vault led by ``leader`` holding ``usdc`` (tests and embedders; the venue's ``createVault`` is
        not emulated).  Only the leader and its agents may act for it (``_authz.py``)."""
        leader = leader.lower()
        self._sub_counter += 1
        digest = hashlib.sha256(f"{self.seed}:vault:{leader}:{self._sub_counter}".encode()).hexdigest()
        acct = self._account("0x" + digest[:40])
        acct.kind, acct.master = "vault", leader
        self._credit(acct, _dec(usdc), {})
        return acct

    def _admit_signer(self, signer: str) -> None:
        """Auto-funding (``auto_fund``): a signer the venue does not know yet, or an unfunded master, is created
        and funded on its first action.  Never an agent's address (even an expired one) or a sub-account."""
        if not self.auto_fund or signer in self.auth.agents:
            return
        acct = self.accounts.get(signer)
        if acct is None or (acct.master is None and not acct.funded):
            self._auto_funded(signer)

    def acting_user(self, signer: str, vault_address: str | None) -> str | None:
        """The account an action of ``signer`` for ``vault_address`` applies to, when the authorization layer
        admits it (``_authz.py``); ``None`` for an unknown signer or one that may not act for that account."""
        grant = self.auth.decide(signer.lower(), vault_address.lower() if vault_address else None, "noop", {},
                                 self.now_ms)
        return None if isinstance(grant, str) else grant.user

    def authorization_refusal(self, signer: str, vault_address: str | None, action: dict[str, Any], now_ms: int,
                              ) -> str | None:
        """The refusal text if ``signer`` may not send ``action`` for that account (``_authz.py``) or the action is
        larger than a batch may be (:data:`~trio_hl.emulator._rules.MAX_BATCH`), else None.  The app asks before
        it records the nonce, so a refused action leaves it unused; :meth:`action` asks again.  Only side
        effect: auto-funding a new signer (as its first action would)."""
        signer = signer.lower()
        self._admit_signer(signer)
        kind = action.get("type")
        vault = vault_address.lower() if vault_address else None
        grant = self.auth.decide(signer, vault, kind if isinstance(kind, str) else "", action, now_ms)
        if isinstance(grant, str):
            return grant
        too_big = batch_refusal(action)
        if too_big is None:
            # :meth:`action` follows at once with the same arguments (the app records the nonce in between,
            # which changes nothing here): it reuses this decision instead of taking it again
            self._admitted = (action, vault, now_ms, grant)
        return too_big

    # =================================================================================== address budget
    def address_refusal(self, signer: str, vault_address: str | None, action: dict[str, Any], now_ms: int,
                        ) -> str | None:
        """The ``Too many cumulative requests …`` text if the address budget refuses this action now, else None.

        Pure (nothing is counted): the app asks before it records the nonce, so a refused action does not
        consume it; :meth:`action` asks again and counts."""
        if self.address_rule is None:
            return None
        signer = signer.lower()
        vault = vault_address.lower() if vault_address else None
        kind = action.get("type")
        grant = self.auth.decide(signer, vault, kind if isinstance(kind, str) else "", action, now_ms)
        user = (vault or signer) if isinstance(grant, str) else grant.user
        return self._address_verdict(user, self.accounts.get(user), action, now_ms)[1]

    def _address_verdict(self, user: str, acct: Account | None, action: dict[str, Any], now: int,
                         ) -> tuple[bool, str | None]:
        """``(throttled, refusal)``: whether admitting the action uses the throttled slot, and the refusal text
        when it may not be admitted at all."""
        rule = self.address_rule
        if rule is None:
            return False, None
        used = acct.n_requests if acct is not None else 0
        vlm = acct.cum_vlm if acct is not None else ZERO
        n = address_requests(action)
        limit = rule.cap(vlm)
        if action.get("type") in CANCEL_ACTIONS:
            limit = rule.cancel_cap(limit)
        if used + n <= limit:
            return False, None
        if now >= self._throttle_free.get(user, now):
            return True, None
        return True, rule.refusal(used + n, limit, text_num(q6(vlm)))

    # ========================================================================================== actions
    def action(self, *, signer: str, action: dict[str, Any], nonce: int, vault_address: str | None, now_ms: int,
               user_signed: bool = False) -> dict[str, Any]:
        """Apply one verified action; the full ``/exchange`` answer."""
        self._begin(now_ms, f"{signer}:{nonce}")
        try:
            result = self._dispatch(signer.lower(), action, vault_address, now_ms, user_signed)
            if not isinstance(result, _Batch):
                return result
            try:
                result.parse_slice(0, len(result))
            except ProtocolError as exc:
                return _err(f"{_DESERIALIZE}: {exc}")
            return result.refusal() or result.answer(result.apply(0, len(result)))
        finally:
            self._flush_user_messages()

    def action_steps(self, *, signer: str, action: dict[str, Any], nonce: int, vault_address: str | None,
                     now_ms: int, user_signed: bool = False, slice_size: int = SLICE,
                     ) -> Generator[None, None, dict[str, Any]]:
        """:meth:`action` in slices: a generator that applies a batch ``slice_size`` items at a time, yielding
        between slices (each slice's stream messages are ready for :meth:`drain_messages` at the yield), and
        returns the same answer :meth:`action` would.  The caller (``EmulatorApp``) lets other clients' reads
        run at the yields and keeps every other action and tick out until the generator is exhausted, so the
        batch is still applied as one action (one transaction hash, nothing interleaved)."""
        self._begin(now_ms, f"{signer}:{nonce}")
        try:
            result = self._dispatch(signer.lower(), action, vault_address, now_ms, user_signed)
            if not isinstance(result, _Batch):
                return result
            n = len(result)
            for start in range(0, n, slice_size):  # parse every item first: a malformed one refuses them all
                try:
                    result.parse_slice(start, min(start + slice_size, n))
                except ProtocolError as exc:
                    return _err(f"{_DESERIALIZE}: {exc}")
                yield
            refusal = result.refusal()
            if refusal is not None:
                return refusal
            statuses: list[Any] = []
            for start in range(0, n, slice_size):
                statuses += result.apply(start, min(start + slice_size, n))
                if start + slice_size < n:
                    self._flush_user_messages()
                    yield
            return result.answer(statuses)
        finally:
            self._flush_user_messages()

    def _dispatch(self, signer: str, action: dict[str, Any], vault: str | None, now: int,
                  user_signed: bool) -> dict[str, Any] | _Batch:
        vault = vault.lower() if vault else None
        admitted, self._admitted = self._admitted, None
        if (admitted is not None and admitted[0] is action and admitted[1] == vault and admitted[2] == now
                and admitted[3].signer == signer):
            grant = admitted[3]  # decided by authorization_refusal just before, with nothing in between
        else:
            self._admit_signer(signer)
            kind = action.get("type")
            decided = self.auth.decide(signer, vault, kind if isinstance(kind, str) else "", action, now)
            if isinstance(decided, str):
                return _err(decided)
            too_big = batch_refusal(action)
            if too_big is not None:
                return _err(too_big)
            grant = decided
        principal = self.accounts[grant.principal]
        if not principal.funded:
            return _err(f"Must deposit before performing actions. User: {grant.principal}")
        acct = self.accounts[grant.user]
        throttled, refusal = self._address_verdict(acct.address, acct, action, now)
        if refusal is not None:
            return _err(refusal)
        n = address_requests(action)
        acct.n_requests += n
        if throttled:
            assert self.address_rule is not None
            self._throttle_free[acct.address] = now + self.address_rule.throttled_interval_ms * n
        kind = action.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return _err(f"{_DESERIALIZE}: unknown variant `{kind}`")
        try:
            return handler(self, acct, action, now)
        except ProtocolError as exc:
            return _err(f"{_DESERIALIZE}: {exc}")

    # ------------------------------------------------------------------------------------------ order
    def _act_order(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any] | _Batch:
        raw = action.get("orders")
        if not isinstance(raw, list):
            parse_order_action(action)  # raises the parser's own error for a missing / malformed list
            raise ProtocolError("action.orders: expected an array")
        if not raw:
            parse_order_action(action)
            return _err("Order list cannot be empty.")
        # a batch the app may slice is parsed by slices (the envelope first); a small one at once
        parsed = parse_order_action(action) if len(raw) <= SLICE else None
        head = parsed if parsed is not None else parse_order_action({**action, "orders": []})
        builder_rate = ZERO
        if head.builder_fee is not None:
            builder_rate = Decimal(head.builder_fee) / Decimal(100_000)
        if head.builder_address is not None:
            # The venue refuses an order naming a builder the user has not approved, even at fee 0 (reports:
            # hummingbot#8449, nautilus_trader#4241); the whole action is refused (UNSURE: per order?).
            approved = self.builder_approvals.get(acct.address, {}).get(head.builder_address.lower())
            if approved is None or builder_rate > approved:
                return _err("Builder fee has not been approved.")
        position_tpsl = head.grouping == "positionTpsl"

        def check(orders: list[WireOrder]) -> dict[str, Any] | None:
            if head.grouping in ("normalTpsl", "positionTpsl"):
                for w in orders[1 if head.grouping == "normalTpsl" else 0:]:
                    if w.is_trigger and not w.reduce_only:
                        return _err("TP/SL orders must be reduce only.")
            return None

        if head.grouping == "normalTpsl" and len(raw) > 1:
            # a parent with its TP/SL children is one group (``_tpsl.py``), placed whole, never sliced
            orders = parsed.orders if parsed is not None else parse_order_action(action).orders
            refusal = check(list(orders))
            if refusal is not None:
                return refusal
            if not orders[0].is_trigger:
                statuses: list[Any] = self.tpsl.place(
                    acct, orders, now, lambda w: self._place(acct, w, now, builder_rate=builder_rate))
                return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}

        if parsed is not None and len(parsed.orders) == 1:  # the common case, without the batch machinery
            (w,) = parsed.orders
            refusal = check([w])
            if refusal is not None:
                return refusal
            status = self._place(acct, w, now, builder_rate=builder_rate, position_tpsl=position_tpsl and w.is_trigger)
            return {"status": "ok", "response": {"type": "order", "data": {"statuses": [status]}}}

        def place(w: WireOrder) -> dict[str, Any]:
            return self._place(acct, w, now, builder_rate=builder_rate, position_tpsl=position_tpsl and w.is_trigger)

        batch = _Batch("order", action, "orders", lambda a: parse_order_action(a).orders, place, check)
        if parsed is not None:
            batch.items = list(parsed.orders)
        return batch

    def _place(self, acct: Account, w: WireOrder, now: int, *, builder_rate: Decimal = ZERO,
               position_tpsl: bool = False, cloid: str | None = None) -> dict[str, Any]:
        a = w.asset
        sfx = f" asset={a}"
        spec = self.specs.get(a)
        if spec is None:
            return {"error": f"Order has invalid asset.{sfx}"}
        if w.size == 0:
            return {"error": f"Order has zero size.{sfx}"}
        if w.size < 0 or not _valid_size(w.size, spec.sz_decimals):
            return {"error": f"Order has invalid size.{sfx}"}
        if w.price <= 0:
            return {"error": f"Order has invalid price.{sfx}"}
        order = Order(
            oid=self._new_oid(), user=acct.address, asset=a, coin=spec.coin, is_buy=w.is_buy, limit_px=w.price,
            sz=w.size, tif=w.tif, reduce_only=w.reduce_only and not spec.is_spot, cloid=w.cloid or cloid,
            timestamp=now, trigger_px=w.trigger_price, is_market_trigger=bool(w.trigger_is_market), tpsl=w.tpsl,
            is_position_tpsl=position_tpsl,
        )
        order.builder_rate = builder_rate
        self._remember(acct, order)
        refused = self._order_rule_refusal(acct, spec, w)
        if refused is not None:
            return self._reject(order, refused[0], f"{refused[1]}{sfx}")
        if not _valid_price(w.price, spec.sz_decimals, spec.is_spot):
            return self._reject(order, "tickRejected", f"Price must be divisible by tick size.{sfx}")
        if w.trigger_price is not None and (
            w.trigger_price <= 0 or not _valid_price(w.trigger_price, spec.sz_decimals, spec.is_spot)
        ):
            return self._reject(order, "badTriggerPxRejected", f"Invalid TP/SL price.{sfx}")
        if not order.reduce_only and w.price * w.size < MIN_NOTIONAL:
            unit = "$10" if not spec.is_spot else f"10 {SPOT_TOKENS[spec.quote_token].name}"
            return self._reject(order, "minTradeNtlRejected", f"Order must have minimum value of {unit}.{sfx}")
        if order.trigger_px is not None:
            self._triggers.setdefault(a, []).append(order)
            acct.open_orders[order.oid] = order
            self._update(order, "open", now)
            return self._resting(order)
        if order.reduce_only and self._reduce_cap(acct, order) <= 0:
            return self._reject(order, "reduceOnlyRejected", f"Reduce only order would increase position.{sfx}")
        book = self.books[a]
        if order.tif == "Alo" and book.would_cross(order.is_buy, order.limit_px):
            bid, ask = book.best_bid(), book.best_ask()
            bbo = f"{text_num(bid) if bid is not None else 'None'}@{text_num(ask) if ask is not None else 'None'}"
            return self._reject(order, "badAloPxRejected",
                                f"Post only order would have immediately matched, bbo was {bbo}.{sfx}")
        margin: Decimal | None = None
        if not acct.unlimited:
            if spec.is_spot:
                token, need = self._spot_need(spec, order)
                if need > acct.spot_available(token):
                    return self._reject(order, "insufficientSpotBalanceRejected",
                                        f"Order has insufficient spot balance to trade.{sfx}")
            elif not order.reduce_only:
                margin = self._margin_need(acct, order)
                if margin > 0 and margin > self.free_margin(acct):
                    return self._reject(order, "perpMarginRejected", f"Insufficient margin to place order.{sfx}")
        filled, notional = self._match(order, now)
        # Nothing filled: same position, same size, so the margin need just checked is the one to hold.
        return self._after_match(acct, order, filled, notional, now, sfx, margin if filled == 0 else None)

    def _order_rule_refusal(self, acct: Account, spec: MarketSpec, w: WireOrder) -> tuple[str, str] | None:
        """``(order status, refusal text)`` when one of the venue's order rules refuses the order (values and
        why: ``_rules.py``).  The order keeps its oid with that status, as the engine's other refusals do."""
        if w.trigger_price is not None and spec.is_spot:
            return "rejected", "Placing trigger orders is not enabled on spot trading yet."
        ref = self.oracle[spec.asset]
        band = self._bands.get(spec.asset)
        if band is None or band[0] is not ref:  # the bounds move with the oracle: recomputed when it changes
            width = (SPOT_PRICE_BAND if spec.is_spot else PRICE_BAND) * ref
            band = self._bands[spec.asset] = (ref, ref - width, ref + width)
        if not band[1] <= w.price <= band[2]:
            pct = SPOT_PRICE_BAND if spec.is_spot else PRICE_BAND
            return "oracleRejected", f"Order price cannot be more than {pct * 100:.0f}% away from the reference price"
        if w.price * w.size > MAX_ORDER_VALUE:
            return "rejected", f"Order value too large. Max is ${MAX_ORDER_VALUE}."
        n_open = len(acct.open_orders)
        base = self.open_orders_base
        if n_open >= base and not acct.unlimited:
            cap = open_order_cap(acct.cum_vlm, base)
            may_rest = w.trigger_price is not None or w.tif in ("Gtc", "Alo")
            if (may_rest and n_open >= cap) or w.reduce_only or w.trigger_price is not None:
                return "rejected", f"Too many open orders. Max is {cap if n_open >= cap else base}."
        return None

    def _after_match(self, acct: Account, order: Order, filled: Decimal, notional: Decimal, now: int,
                     sfx: str, margin_need: Decimal | None = None) -> dict[str, Any]:
        """Rest, finish or refuse a taker after matching; the per-order status of the answer."""
        if order.sz == 0:
            self._finish(order, "filled", now)
            return self._filled(order, filled, notional)
        if order.tif in ("Ioc", "FrontendMarket", "LiquidationMarket"):
            if filled == 0:
                if order.tif == "FrontendMarket":
                    return self._reject(order, "marketOrderNoLiquidityRejected",
                                        f"No liquidity available for market order.{sfx}")
                return self._reject(order, "iocCancelRejected",
                                    f"Order could not immediately match against any resting orders.{sfx}")
            self._finish(order, "canceled", now)
            return self._filled(order, filled, notional)
        if order.reduce_only and self._reduce_cap(acct, order) <= 0:
            self._finish(order, "reduceOnlyCanceled", now)
            return self._filled(order, filled, notional) if filled else {"error": f"Reduce only order would "
                                                                                 f"increase position.{sfx}"}
        self._rest(acct, order, now, margin_need)
        return self._resting(order)

    @staticmethod
    def _resting(order: Order) -> dict[str, Any]:
        body: dict[str, Any] = {"oid": order.oid}
        if order.cloid is not None:
            body["cloid"] = order.cloid
        return {"resting": body}

    @staticmethod
    def _filled(order: Order, filled: Decimal, notional: Decimal) -> dict[str, Any]:
        body: dict[str, Any] = {"totalSz": num(filled), "avgPx": num(notional / filled), "oid": order.oid}
        if order.cloid is not None:
            body["cloid"] = order.cloid
        return {"filled": body}

    def _reject(self, order: Order, status: str, message: str) -> dict[str, Any]:
        order.status = status
        order.status_ts = self.now_ms
        self._update(order, status, self.now_ms)
        return {"error": message}

    def _new_oid(self) -> int:
        self._next_oid += 1
        return self._next_oid

    def _remember(self, acct: Account, order: Order) -> None:
        if acct.unlimited:
            return
        self.orders[order.oid] = order
        acct.history.append(order)
        if order.cloid is not None:
            acct.by_cloid[order.cloid] = order

    def _rest(self, acct: Account, order: Order, now: int, margin_need: Decimal | None = None) -> None:
        """Put ``order`` on the book, holding its margin (``margin_need`` if the caller just computed it)."""
        spec = self.specs[order.asset]
        if not acct.unlimited:
            if spec.is_spot:
                token, need = self._spot_need(spec, order)
                order.hold = need
                acct.add_hold(token, need)
            elif not order.reduce_only:
                order.hold = self._margin_need(acct, order) if margin_need is None else margin_need
                acct.margin_hold += order.hold
        self.books[order.asset].add(order)
        acct.open_orders[order.oid] = order
        self._dirty_books.add(order.asset)
        order.status = "open"
        order.status_ts = now
        self._update(order, "open", now)

    # ---------------------------------------------------------------------------------- margin and spot
    def leverage(self, acct: Account, asset: int) -> tuple[bool, int]:
        setting = acct.leverage.get(asset)
        if setting is not None:
            return setting
        return True, min(self.default_leverage, self.specs[asset].max_leverage)

    def mark(self, asset: int) -> Decimal:
        """Mark price = the oracle (the simulated market's fair price, or what a test set)."""
        return self.oracle[asset]

    def set_mark(self, coin: str, px: Decimal | str) -> None:
        """Move an asset's oracle/mark price (tests; the simulated market does this on its own)."""
        asset = self.spec_by_coin[coin].asset
        self.oracle[asset] = _dec(px)
        self._dirty_ctx.add(asset)

    def mid(self, asset: int) -> Decimal:
        book = self.books[asset]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self.last_px.get(asset, self.oracle[asset])

    def margin_used(self, acct: Account) -> Decimal:
        used = ZERO
        for asset, pos in acct.positions.items():
            if pos.szi:
                is_cross, lev = self.leverage(acct, asset)
                used += abs(pos.szi) * self.mark(asset) / lev if is_cross else pos.iso_margin
        return used

    def account_value(self, acct: Account) -> Decimal:
        value = acct.usdc
        for asset, pos in acct.positions.items():
            value += pos.iso_margin
            if pos.szi:
                value += pos.szi * (self.mark(asset) - pos.entry_px)
        return value

    def free_margin(self, acct: Account) -> Decimal:
        return self.account_value(acct) - self.margin_used(acct) - acct.margin_hold

    def _increase_size(self, acct: Account, order: Order) -> Decimal:
        pos = acct.positions.get(order.asset)
        szi = pos.szi if pos is not None else ZERO
        if szi == 0 or (szi > 0) == order.is_buy:
            return order.sz
        return max(ZERO, order.sz - abs(szi))

    def _margin_need(self, acct: Account, order: Order) -> Decimal:
        if acct.unlimited or order.reduce_only:
            return ZERO
        return self._increase_size(acct, order) * order.limit_px / self.leverage(acct, order.asset)[1]

    @staticmethod
    def _spot_need(spec: MarketSpec, order: Order) -> tuple[int, Decimal]:
        if order.is_buy:
            return spec.quote_token, order.limit_px * order.sz
        return spec.base_token, order.sz

    def _reduce_cap(self, acct: Account, order: Order) -> Decimal:
        """How much of a reduce-only order may still fill: the opposite position's size (0 = none left)."""
        pos = acct.positions.get(order.asset)
        if pos is None or pos.szi == 0 or (pos.szi > 0) == order.is_buy:
            return ZERO
        return abs(pos.szi)

    def _release(self, acct: Account, order: Order, amount: Decimal) -> None:
        if amount == 0:
            return
        order.hold -= amount
        spec = self.specs[order.asset]
        if spec.is_spot:
            acct.add_hold(spec.quote_token if order.is_buy else spec.base_token, -amount)
        else:
            acct.margin_hold -= amount

    # ----------------------------------------------------------------------------------------- matching
    def _match(self, taker: Order, now: int) -> tuple[Decimal, Decimal]:
        """Fill ``taker`` against the book; returns (filled size, filled notional)."""
        book = self.books[taker.asset]
        taker_acct = self.accounts[taker.user]
        filled = notional = ZERO
        while taker.sz > 0:
            level = book.best_opposite(taker.is_buy, taker.limit_px)
            if level is None:
                break
            maker = level[0]
            maker_acct = self.accounts[maker.user]
            if maker.user == taker.user:
                self._finish(maker, "selfTradeCanceled", now)
                continue
            sz = min(taker.sz, maker.sz)
            if maker.reduce_only:
                cap = self._reduce_cap(maker_acct, maker)
                if cap <= 0:
                    self._finish(maker, "reduceOnlyCanceled", now)
                    continue
                sz = min(sz, cap)
            if taker.reduce_only:
                sz = min(sz, self._reduce_cap(taker_acct, taker))
                if sz <= 0:
                    break
            px = maker.limit_px
            self._trade(taker, maker, sz, px, now)
            filled += sz
            notional += sz * px
            if maker.sz == 0:
                self._finish(maker, "filled", now)
        return filled, notional

    def _trade(self, taker: Order, maker: Order, sz: Decimal, px: Decimal, now: int) -> None:
        spec = self.specs[taker.asset]
        tid = self._next_tid
        self._next_tid += 1
        for order, crossed in ((maker, False), (taker, True)):
            acct = self.accounts[order.user]
            remaining = order.sz
            order.sz -= sz
            order.filled += sz
            if order.hold:
                self._release(acct, order, order.hold * sz / remaining)
            self._fill(acct, spec, order, sz, px, crossed, tid, now)
        buyer, seller = (taker, maker) if taker.is_buy else (maker, taker)
        trade = {"coin": spec.coin, "side": taker.side, "px": num(px), "sz": num(sz), "hash": self._hash,
                 "time": now, "tid": tid, "users": [buyer.user, seller.user]}
        self._trades.setdefault(spec.coin, []).append(trade)
        recent = self.recent_trades[spec.coin]
        recent.append(trade)
        if len(recent) > 100:
            del recent[:50]
        self.candles.on_trade(spec.coin, px, sz, now)
        self.last_px[spec.asset] = px
        self.day_ntl[spec.asset] += px * sz
        self.day_base[spec.asset] += sz
        self._dirty_books.add(spec.asset)
        self._dirty_ctx.add(spec.asset)

    def _fill(self, acct: Account, spec: MarketSpec, order: Order, sz: Decimal, px: Decimal, crossed: bool,
              tid: int, now: int) -> None:
        notional = px * sz
        acct.cum_vlm += notional
        if spec.is_spot:
            rate = self.spot_taker_fee if crossed else self.spot_maker_fee
            fee_token = SPOT_TOKENS[spec.base_token if order.is_buy else spec.quote_token]
            base_before = acct.spot.get(spec.base_token, ZERO)
            raw_fee = (sz if order.is_buy else notional) * rate
            fee = raw_fee.quantize(Decimal(1).scaleb(-fee_token.wei_decimals))
            if order.is_buy:
                acct.add_spot(spec.quote_token, -notional)
                acct.add_spot(spec.base_token, sz - fee)
            else:
                acct.add_spot(spec.base_token, -sz)
                acct.add_spot(spec.quote_token, notional - fee)
            start, direction, closed, builder_fee = base_before, "Buy" if order.is_buy else "Sell", ZERO, ZERO
            fee_name = fee_token.name
        else:
            rate = self.taker_fee if crossed else self.maker_fee
            fee = q6(notional * rate)
            builder_fee = q6(notional * order.builder_rate) if order.builder_rate else ZERO
            start, direction, closed = self._apply_perp(acct, spec.asset, order.is_buy, sz, px)
            acct.usdc += closed - fee - builder_fee
            fee_name = "USDC"
        fill: dict[str, Any] = {
            "closedPnl": num(closed), "coin": spec.coin, "crossed": crossed, "dir": direction, "hash": self._hash,
            "oid": order.oid, "px": num(px), "side": order.side, "startPosition": num(start), "sz": num(sz),
            "time": now, "fee": num(fee), "feeToken": fee_name, "tid": tid, "twapId": None,
        }
        if builder_fee:
            fill["builderFee"] = num(builder_fee)
        if order.cloid is not None:
            fill["cloid"] = order.cloid
        if acct.unlimited:
            return
        acct.fills.append(fill)
        self._fills.setdefault(acct.address, []).append(fill)

    def _apply_perp(self, acct: Account, asset: int, is_buy: bool, sz: Decimal, px: Decimal,
                    ) -> tuple[Decimal, str, Decimal]:
        """Move a one-way position by a fill; returns (start position, dir, closed PnL)."""
        pos = acct.position(asset)
        start = pos.szi
        is_cross, lev = self.leverage(acct, asset)
        isolated = not is_cross and not acct.unlimited
        closed = ZERO
        if start == 0 or (start > 0) == is_buy:
            new = start + sz if is_buy else start - sz
            pos.entry_px = (abs(start) * pos.entry_px + sz * px) / abs(new)
            direction = "Open Long" if is_buy else "Open Short"
            opened = sz
        else:
            close_sz = min(sz, abs(start))
            closed = q6(close_sz * (px - pos.entry_px) * (1 if start > 0 else -1))
            if isolated:
                release = pos.iso_margin if close_sz == abs(start) else q6(pos.iso_margin * close_sz / abs(start))
                pos.iso_margin -= release
                acct.usdc += release
            new = start + sz if is_buy else start - sz
            opened = sz - close_sz
            if opened > 0:
                pos.entry_px = px
                direction = "Short > Long" if is_buy else "Long > Short"
            else:
                direction = "Close Short" if is_buy else "Close Long"
                if new == 0:
                    pos.entry_px = ZERO
                    pos.cum_since_open = ZERO
        if isolated and opened > 0:
            margin = q6(opened * px / lev)
            acct.usdc -= margin
            pos.iso_margin += margin
        pos.szi = new
        self.open_interest[asset] += max(new, ZERO) - max(start, ZERO)
        return start, direction, closed

    # ----------------------------------------------------------------------------------- order endings
    def _finish(self, order: Order, status: str, now: int) -> None:
        """Take ``order`` off the book / trigger list / open orders, release its holds, record ``status``."""
        acct = self.accounts[order.user]
        if order.trigger_px is not None and not order.triggered:
            pending = self._triggers.get(order.asset)
            if pending is not None and order in pending:
                pending.remove(order)
        elif self.books[order.asset].remove(order):
            self._dirty_books.add(order.asset)
        acct.open_orders.pop(order.oid, None)
        if order.hold:
            self._release(acct, order, order.hold)
        order.status = status
        order.status_ts = now
        self._update(order, status, now)
        if self.tpsl.busy:
            self.tpsl.on_finish(order, now)

    def emit(self, message: StreamMessage) -> None:
        """Queue a stream message from one of the engine's helpers (flushed with the engine's own)."""
        self._out.append(message)

    def end_order(self, order: Order, status: str, now: int) -> None:
        """End an open order with ``status`` (for the engine's helpers, e.g. a TP/SL group's children)."""
        self._finish(order, status, now)

    def disarm_trigger(self, order: Order) -> None:
        """Keep an untriggered order open but out of the trigger lists (a TP/SL child waiting for its parent)."""
        pending = self._triggers.get(order.asset)
        if pending is not None and order in pending:
            pending.remove(order)

    def arm_trigger(self, order: Order) -> None:
        """Put a disarmed trigger order back in its asset's trigger list."""
        if order.status == "open" and not order.triggered:
            self._triggers.setdefault(order.asset, []).append(order)

    def _update(self, order: Order, status: str, now: int) -> None:
        if self.accounts[order.user].unlimited:
            return
        routes = self.stream_routes
        if routes is not None and ("orderUpdates", order.user) not in routes:
            return
        self._updates.setdefault(order.user, []).append(
            {"order": short_order(order), "status": status, "statusTimestamp": now})

    def find_order(self, acct: Account, ref: int | str) -> Order | None:
        """A user's order by oid or by cloid (the latest order carrying that cloid)."""
        if isinstance(ref, str):
            return acct.by_cloid.get(ref.lower())
        order = self.orders.get(ref)
        return order if order is not None and order.user == acct.address else None

    # ----------------------------------------------------------------------------------------- cancels
    def _cancel_one(self, acct: Account, asset: int, ref: int | str, now: int) -> str | dict[str, Any]:
        order = self.find_order(acct, ref)
        if order is None or order.asset != asset or order.oid not in acct.open_orders:
            return {"error": f"Order was never placed, already canceled, or filled. asset={asset}"}
        self._finish(order, "canceled", now)
        return "success"

    def _act_cancel(self, acct: Account, action: dict[str, Any], now: int) -> _Batch:
        return _Batch("cancel", action, "cancels", parse_cancel_action,
                      lambda item: self._cancel_one(acct, item[0], item[1], now))

    def _act_cancel_by_cloid(self, acct: Account, action: dict[str, Any], now: int) -> _Batch:
        return _Batch("cancel", action, "cancels", parse_cancel_by_cloid_action,
                      lambda item: self._cancel_one(acct, item[0], item[1], now))

    # ---------------------------------------------------------------------------------------- modifies
    def _modify_one(self, acct: Account, ref: int | str, w: WireOrder, now: int) -> dict[str, Any]:
        old = self.find_order(acct, ref)
        if old is None or old.oid not in acct.open_orders or old.asset != w.asset:
            return {"error": f"Cannot modify canceled or filled order. asset={w.asset}"}
        self._finish(old, "canceled", now)
        return self._place(acct, w, now, builder_rate=old.builder_rate, position_tpsl=old.is_position_tpsl,
                           cloid=old.cloid)

    def _act_batch_modify(self, acct: Account, action: dict[str, Any], now: int) -> _Batch:
        return _Batch("order", action, "modifies", parse_batch_modify_action,
                      lambda item: self._modify_one(acct, item[0], item[1], now))

    def _act_modify(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        raw = action.get("oid")
        if not (type(raw) is int or isinstance(raw, str)):
            raise ProtocolError("action.oid: expected an order id or a cloid")
        status = self._modify_one(acct, raw, parse_wire_order(action.get("order"), "action.order"), now)
        if "error" in status:
            return _err(status["error"])
        return dict(_OK_DEFAULT)

    # ------------------------------------------------------------------------------------ scheduleCancel
    def _act_schedule_cancel(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        when = action.get("time")
        if when is None:
            acct.schedule_time = None
            self._scheduled.pop(acct.address, None)
            return dict(_OK_DEFAULT)
        if type(when) is not int:
            raise ProtocolError("action.time: expected an integer timestamp (ms)")
        if acct.cum_vlm < self.schedule_cancel_min_volume:
            return _err(f"Cannot set scheduled cancel time until enough volume traded. "
                        f"Required: ${text_num(self.schedule_cancel_min_volume)}. "
                        f"Traded: ${text_num(q6(acct.cum_vlm))}.")
        if when < now + SCHEDULE_MIN_DELAY_MS:
            return _err("Scheduled cancel time too early, must be at least 5 seconds in the future.")
        if when > now + SCHEDULE_MAX_AHEAD_MS:
            return _err("Scheduled cancel time too late, must be at most 1 day in the future.")
        if acct.schedule_day == now // DAY_MS and acct.schedule_count >= SCHEDULE_MAX_PER_DAY:
            return _err(f"Too many scheduled cancel triggers today (max {SCHEDULE_MAX_PER_DAY}).")
        acct.schedule_time = when
        self._scheduled[acct.address] = when
        return dict(_OK_DEFAULT)

    def _fire_scheduled(self, now: int) -> None:
        due = sorted(u for u, t in self._scheduled.items() if t <= now)
        for user in due:
            when = self._scheduled.pop(user)
            acct = self.accounts[user]
            acct.schedule_time = None
            day = when // DAY_MS
            if acct.schedule_day != day:
                acct.schedule_day, acct.schedule_count = day, 0
            acct.schedule_count += 1
            for order in list(acct.open_orders.values()):
                if order.timestamp <= when:  # an order placed after the deadline is not the switch's to cancel
                    self._finish(order, "scheduledCancel", when)

    # --------------------------------------------------------------------------------- account actions
    def _act_update_leverage(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        asset, is_cross, lev = action.get("asset"), action.get("isCross"), action.get("leverage")
        if type(asset) is not int or type(is_cross) is not bool or type(lev) is not int:
            raise ProtocolError("updateLeverage: expected asset (int), isCross (bool), leverage (int)")
        spec = self.specs.get(asset)
        if spec is None or spec.is_spot:
            return _err(f"Invalid asset for leverage update. asset={asset}")
        if not 1 <= lev <= spec.max_leverage:
            return _err(f"Invalid leverage value. asset={asset}")
        pos = acct.positions.get(asset)
        if pos is not None and pos.szi != 0 and self.leverage(acct, asset)[0] != is_cross:
            return _err(f"Cannot switch leverage type with open position. asset={asset}")
        acct.leverage[asset] = (is_cross, lev)
        self._dirty_ctx.add(asset)
        return dict(_OK_DEFAULT)

    def _act_update_isolated_margin(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        asset, ntli = action.get("asset"), action.get("ntli")
        if type(asset) is not int or type(ntli) is not int:
            raise ProtocolError("updateIsolatedMargin: expected asset (int) and ntli (int)")
        pos = acct.positions.get(asset)
        if asset not in self.specs or pos is None or pos.szi == 0 or self.leverage(acct, asset)[0]:
            return _err(f"Cannot update margin of a cross or empty position. asset={asset}")
        amount = Decimal(ntli) / Decimal(1_000_000)
        if amount > 0 and amount > self.free_margin(acct):
            return _err("Insufficient margin to update isolated margin.")
        if amount < 0 and pos.iso_margin + amount < abs(pos.szi) * self.mark(asset) / self.leverage(acct, asset)[1]:
            return _err("Insufficient isolated margin to remove.")
        pos.iso_margin += amount
        acct.usdc -= amount
        return dict(_OK_DEFAULT)

    def _act_noop(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        return dict(_OK_DEFAULT)

    def _act_usd_class_transfer(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """Spot <-> perp USDC of ``acct``: the signer's own account or, named by the amount's ``" subaccount:0x…"``
        suffix, a sub-account of it (the authorization layer resolved and checked which)."""
        raw, to_perp = action.get("amount"), action.get("toPerp")
        if not isinstance(raw, str) or type(to_perp) is not bool:
            raise ProtocolError("usdClassTransfer: expected amount (string) and toPerp (bool)")
        text = raw.partition(" subaccount:")[0]
        if len(text) > 40:
            return _err("Invalid transfer amount.")
        try:
            amount = Decimal(text)
        except ArithmeticError:
            raise ProtocolError(f"usdClassTransfer.amount: not a decimal: {text[:40]!r}") from None
        if not transfer_amount_ok(amount):
            return _err("Invalid transfer amount.")
        if to_perp:
            if acct.spot_available(0) < amount:
                return _err("Insufficient balance for token transfer.")
            acct.add_spot(0, -amount)
            acct.usdc += amount
        else:
            if self.free_margin(acct) < amount:
                return _err("Insufficient balance for token transfer.")
            acct.usdc -= amount
            acct.add_spot(0, amount)
        acct.ledger.append({"time": now, "hash": self._hash, "delta": {
            "type": "accountClassTransfer", "usdc": num(amount), "toPerp": to_perp}})
        return dict(_OK_DEFAULT)

    def _act_approve_builder_fee(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """``approveBuilderFee``: ``acct`` lets ``builder`` charge up to ``maxFeeRate`` (a percent string, e.g.
        ``"0.01%"``) on its orders.  The builder must hold at least :data:`BUILDER_MIN_ACCOUNT_VALUE` in its perp
        account, as the venue asks (``Builder has insufficient balance to be approved.``, reported by
        nautilus_trader#3610); the rate is capped at 1 % (the venue's spot maximum; perps allow 0.1 %, enforced
        when an order names the fee).  A later approval replaces the earlier one."""
        rate_text, builder = action.get("maxFeeRate"), action.get("builder")
        if not isinstance(rate_text, str) or not isinstance(builder, str) or not is_address(builder.lower()):
            raise ProtocolError("approveBuilderFee: expected maxFeeRate (\"N%\") and builder (address)")
        try:
            rate = Decimal(rate_text[:20].removesuffix("%")) / 100
        except ArithmeticError:
            raise ProtocolError(f"approveBuilderFee.maxFeeRate: not a percent: {rate_text[:20]!r}") from None
        if not rate_text.endswith("%") or not rate.is_finite() or not 0 <= rate <= BUILDER_MAX_RATE:
            return _err("Invalid max builder fee.")
        target = self.accounts.get(builder.lower())
        if target is None or self.account_value(target) < BUILDER_MIN_ACCOUNT_VALUE:
            return _err("Builder has insufficient balance to be approved.")
        self.builder_approvals.setdefault(acct.address, {})[builder.lower()] = rate
        return dict(_OK_DEFAULT)

    def _act_withdraw(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """``withdraw3``: perp USDC leaves for the bridge (to ``destination`` on Arbitrum, which the emulator does
        not model).  The account is debited ``amount``; the venue's fixed fee (:data:`WITHDRAW_FEE_USDC`) is taken
        out of it, so the bridge pays ``amount - fee``, and the ledger records ``usdc``, ``nonce`` and ``fee``
        as the venue's ``withdraw`` entries do.  Only withdrawable (free) margin may leave."""
        raw, destination, nonce = action.get("amount"), action.get("destination"), action.get("time")
        if not isinstance(raw, str) or not isinstance(destination, str) or type(nonce) is not int:
            raise ProtocolError("withdraw3: expected destination (address), amount (string), time (int)")
        if not is_address(destination.lower()):
            raise ProtocolError(f"withdraw3.destination: not an address: {destination[:50]!r}")
        try:
            amount = Decimal(raw[:40])
        except ArithmeticError:
            raise ProtocolError(f"withdraw3.amount: not a decimal: {raw[:40]!r}") from None
        if not transfer_amount_ok(amount) or amount <= WITHDRAW_FEE_USDC:
            return _err("Invalid withdrawal amount.")
        if self.free_margin(acct) < amount:
            return _err("Insufficient balance for withdrawal.")
        acct.usdc -= amount
        acct.ledger.append({"time": now, "hash": self._hash, "delta": {
            "type": "withdraw", "usdc": num(amount), "nonce": nonce, "fee": num(WITHDRAW_FEE_USDC)}})
        return dict(_OK_DEFAULT)

    def _act_sub_account_transfer(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """Perp USDC between a master (``acct``) and one of its sub-accounts (checked by ``_authz.py``);
        ``usd`` is in micro-USDC."""
        sub_user, is_deposit, usd = action.get("subAccountUser"), action.get("isDeposit"), action.get("usd")
        if not isinstance(sub_user, str) or type(is_deposit) is not bool or type(usd) is not int:
            raise ProtocolError("subAccountTransfer: expected subAccountUser (address), isDeposit (bool), usd (int)")
        amount = Decimal(usd) / Decimal(1_000_000)
        if not transfer_amount_ok(amount):
            return _err("Invalid transfer amount.")
        sub = self.accounts[sub_user.lower()]
        source, dest = (acct, sub) if is_deposit else (sub, acct)
        if self.free_margin(source) < amount:
            return _err("Insufficient balance for token transfer.")
        source.usdc -= amount
        dest.usdc += amount
        for who in (acct, sub):
            who.ledger.append({"time": now, "hash": self._hash, "delta": {
                "type": "subAccountTransfer", "usdc": num(amount), "user": source.address,
                "destination": dest.address}})
        return dict(_OK_DEFAULT)

    def _act_create_sub_account(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """A new sub-account of master ``acct``; the answer carries its address (rules: ``_rules.py``)."""
        name = action.get("name")
        if not sub_account_name_ok(name):
            return _err("Invalid sub-account name.")
        assert isinstance(name, str)
        if len(acct.sub_accounts) >= MAX_SUB_ACCOUNTS:
            return _err(f"Too many sub-accounts (max {MAX_SUB_ACCOUNTS}).")
        if acct.cum_vlm < self.sub_account_min_volume:
            return _err(f"Cannot create sub-accounts until enough volume traded. "
                        f"Required: ${text_num(self.sub_account_min_volume)}. "
                        f"Traded: ${text_num(q6(acct.cum_vlm))}.")
        sub = self.create_sub_account(acct.address, name)
        return {"status": "ok", "response": {"type": "createSubAccount", "data": sub.address}}

    def _act_approve_agent(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        agent = action.get("agentAddress")
        name = action.get("agentName") or ""
        if not isinstance(agent, str) or len(agent) != 42 or not agent.startswith("0x") or not isinstance(name, str):
            raise ProtocolError("approveAgent: expected agentAddress (0x address) and agentName (string)")
        refusal = self.auth.approve(acct, agent.lower(), name, now)
        return _err(refusal) if refusal is not None else dict(_OK_DEFAULT)

    def _act_twap_order(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        return self.twaps.place(acct, action, now)

    def _act_twap_cancel(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        return self.twaps.cancel(acct, action, now)

    # ============================================================================================ tick
    def _begin(self, now: int, seed_text: str | None = None) -> None:
        self.now_ms = max(self.now_ms, now)
        self._txn += 1
        self._hash_text = seed_text
        self._hash_value = None
        day = now // DAY_MS
        if day != self._day:
            self._day = day
            for asset in self.specs:
                self.prev_day_px[asset] = self.last_px.get(asset, self.oracle[asset])
                self.day_ntl[asset] = self.day_base[asset] = ZERO
        if self._scheduled:
            # A deadline that passed between clock ticks fires before anything else happens at ``now``, so
            # an action arriving after the deadline sees the cancel already done (as on the venue).
            self._fire_scheduled(self.now_ms)

    @property
    def _hash(self) -> str:
        """The current transaction's hash (fills, trades and ledger entries carry it): a digest of the seed, the
        transaction number and the action's ``signer:nonce``.  Computed on first use: most actions (a resting
        order, a cancel) never need it, and it cost ~1 µs per action."""
        value = self._hash_value
        if value is None:
            text = f"{self.seed}:{self._txn}:{self._hash_text}"
            value = self._hash_value = "0x" + hashlib.sha256(text.encode()).hexdigest()
        return value

    def tick(self, now_ms: int) -> None:
        """Advance to ``now_ms``: the simulated market, triggers, scheduled cancels, funding, market data."""
        self._begin(now_ms)
        if self.market is not None:
            self.market.tick(now_ms)
        self._fire_triggers(now_ms)
        if self.twaps.running:
            self.twaps.run_due(now_ms)
        if self._scheduled:
            self._fire_scheduled(now_ms)
        while self._next_funding is not None and now_ms >= self._next_funding:
            self._pay_funding(self._next_funding)
            self._next_funding += self.funding_interval_ms
        self._flush_user_messages()
        self._flush_market_data(now_ms)

    def _fire_triggers(self, now: int) -> None:
        for asset, pending in list(self._triggers.items()):
            if not pending:
                continue
            mark = self.mark(asset)
            due = [o for o in pending if _due(o, mark)]
            for order in due:
                pending.remove(order)
                self._trigger(order, now)

    def _trigger(self, order: Order, now: int) -> None:
        acct = self.accounts[order.user]
        order.triggered = True
        order.status = "triggered"
        order.status_ts = now
        self._update(order, "triggered", now)
        if self.tpsl.busy:
            self.tpsl.on_trigger(order, now)
        order.tif = "Ioc" if order.is_market_trigger else "Gtc"
        if order.is_position_tpsl:
            cap = self._reduce_cap(acct, order)
            order.sz = min(order.sz, cap) if cap > 0 else order.sz
        if order.reduce_only and self._reduce_cap(acct, order) <= 0:
            self._finish(order, "reduceOnlyCanceled", now)
            return
        acct.open_orders.pop(order.oid, None)
        self._match(order, now)
        if order.sz == 0:
            self._finish(order, "filled", now)
        elif order.tif == "Ioc":
            self._finish(order, "canceled", now)
        else:
            self._rest(acct, order, now)

    def _pay_funding(self, when: int) -> None:
        rate = self.funding_rate
        for acct in self.accounts.values():
            for asset, pos in acct.positions.items():
                if pos.szi == 0:
                    continue
                spec = self.specs[asset]
                usdc = q6(-pos.szi * self.mark(asset) * rate)
                acct.usdc += usdc
                pos.cum_all -= usdc
                pos.cum_since_open -= usdc
                pos.cum_since_change -= usdc
                if acct.unlimited:
                    continue
                event = {"time": when, "coin": spec.coin, "usdc": num(usdc), "szi": num(pos.szi),
                         "fundingRate": num(rate)}
                acct.fundings.append(event)
                self._out.append(StreamMessage("userFundings", acct.address,
                                               {"isSnapshot": False, "user": acct.address, "fundings": [event]}))
                self._out.append(StreamMessage("user", acct.address, {"funding": event}))
        for coin, history in self.funding_history.items():
            history.append({"coin": coin, "fundingRate": num(rate), "premium": "0.0", "time": when})

    # ========================================================================================= streams
    def _flush_user_messages(self) -> None:
        out = self._out
        if self._updates:
            for user, updates in self._updates.items():
                out.append(StreamMessage("orderUpdates", user, updates))
            self._updates = {}
        if self._fills:
            for user, fills in self._fills.items():
                out.append(StreamMessage("userFills", user, {"isSnapshot": False, "user": user, "fills": fills}))
                out.append(StreamMessage("user", user, {"fills": fills}))
            self._fills = {}
        if self._trades:
            for coin, trades in self._trades.items():
                out.append(StreamMessage("trades", coin, trades))
            self._trades = {}

    def _flush_market_data(self, now: int) -> None:
        out = self._out
        # The venue pushes a full l2Book snapshot every block (PROTOCOL: at least 0.5 s apart), changed or not;
        # a book that only changes pushes would look stale to a client in a quiet market.
        pushed = self._last_book_push
        books = set(self._dirty_books)
        books.update(a for a in self.specs if now - pushed.get(a, now - BOOK_HEARTBEAT_MS) >= BOOK_HEARTBEAT_MS)
        for asset in sorted(books):
            spec = self.specs[asset]
            pushed[asset] = now
            out.append(StreamMessage("l2Book", spec.coin, self.l2_book(asset, now)))
            book = self.books[asset]
            top = (book.best_bid(), book.best_ask())
            if self._last_bbo.get(asset) != top:
                self._last_bbo[asset] = top
                out.append(StreamMessage("bbo", spec.coin, {"coin": spec.coin, "time": now, "bbo": [
                    self._level(book, True), self._level(book, False)]}))
        for coin, interval, candle in self.candles.take_dirty():
            out.append(StreamMessage("candle", f"{coin}:{interval}", candle))
        dirty_ctx = self._dirty_ctx | self._dirty_books
        for asset in sorted(dirty_ctx):
            spec = self.specs[asset]
            channel = "activeSpotAssetCtx" if spec.is_spot else "activeAssetCtx"
            out.append(StreamMessage(channel, spec.coin, {"coin": spec.coin, "ctx": self.asset_ctx(spec)}))
        if dirty_ctx:
            mids = self.all_mids("")
            mids.update(self.all_mids("xyz"))
            if mids != self._last_mids:
                self._last_mids = mids
                out.append(StreamMessage("allMids", None, {"mids": mids}))
        self._dirty_books.clear()
        self._dirty_ctx.clear()

    @staticmethod
    def _level(book: Book, is_bid: bool) -> dict[str, Any] | None:
        for px, orders in book.levels(is_bid):
            return {"px": num(px), "sz": num(sum((o.sz for o in orders), ZERO)), "n": len(orders)}
        return None

    def drain_messages(self) -> list[StreamMessage]:
        """Every stream message produced since the previous call, in order."""
        self._flush_user_messages()
        out, self._out = self._out, []
        return out

    # ====================================================================================== read side
    def l2_book(self, asset: int, now: int, n_sig_figs: int | None = None, mantissa: int | None = None,
                ) -> dict[str, Any]:
        """The ``l2Book`` answer: at most 20 levels a side, optionally aggregated to ``n_sig_figs``."""
        book = self.books[asset]
        sides = []
        for is_bid in (True, False):
            levels: list[dict[str, Any]] = []
            bucket_px: Decimal | None = None
            bucket_sz = ZERO
            bucket_n = 0
            for px, orders in book.levels(is_bid):
                key = px if n_sig_figs is None else _bucket(px, n_sig_figs, mantissa, is_bid)
                if key != bucket_px:
                    if bucket_px is not None:
                        levels.append({"px": num(bucket_px), "sz": num(bucket_sz), "n": bucket_n})
                        if len(levels) == 20:
                            bucket_px = None
                            break
                    bucket_px, bucket_sz, bucket_n = key, ZERO, 0
                for o in orders:
                    bucket_sz += o.sz
                bucket_n += len(orders)
            if bucket_px is not None and len(levels) < 20:
                levels.append({"px": num(bucket_px), "sz": num(bucket_sz), "n": bucket_n})
            sides.append(levels)
        return {"coin": book.coin, "time": now, "levels": sides}

    def all_mids(self, dex: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for spec in self.specs.values():
            if spec.dex == dex and (not spec.is_spot or dex == ""):
                out[spec.coin] = num(q8(self.mid(spec.asset)))
        return out

    def asset_ctx(self, spec: MarketSpec) -> dict[str, Any]:
        asset = spec.asset
        book = self.books[asset]
        bid, ask = book.best_bid(), book.best_ask()
        mid = num(q8((bid + ask) / 2)) if bid is not None and ask is not None else None
        ctx: dict[str, Any] = {
            "dayNtlVlm": num(q6(self.day_ntl[asset])),
            "prevDayPx": num(self.prev_day_px[asset]),
            "markPx": num(self.mark(asset)),
            "midPx": mid,
            "dayBaseVlm": num(self.day_base[asset]),
        }
        if spec.is_spot:
            ctx["circulatingSupply"] = "1000000000.0"
            ctx["totalSupply"] = "1000000000.0"
            ctx["coin"] = spec.coin
            return ctx
        ctx.update({
            "funding": num(self.funding_rate),
            "openInterest": num(self.open_interest[asset]),
            "oraclePx": num(self.oracle[asset]),
            "premium": "0.0",
            "impactPxs": [num(bid), num(ask)] if bid is not None and ask is not None else None,
        })
        return ctx

    def info(self, req: dict[str, Any], now_ms: int) -> Any:
        """Answer one ``/info`` request; ``InfoRequestError`` for an unknown type or a malformed request."""
        return answer_info(self, req, now_ms)

    def subscription_snapshot(self, sub: dict[str, Any], now_ms: int) -> list[tuple[str, Any]]:
        """What the venue sends right after a subscription ack (l2Book, bbo, userFills snapshot …)."""
        return subscription_snapshot(self, sub, now_ms)

    def ground_truth(self, user: str) -> dict[str, Any]:
        """Everything the venue knows about ``user``, for tests that reconcile a client against it.

        ``{"orders": [{"oid", "cloid", "coin", "side", "limitPx", "origSz", "filledSz", "remainingSz",
        "status", "statusTimestamp", "timestamp", "isTrigger", "reduceOnly"}], "fills": [fill…],
        "positions": {coin: szi}, "usdc": str, "spot": {token: str}, "openOids": [oid…]}``; orders in placement
        order (refused ones included, with their ``…Rejected`` status), fills oldest first (all of them).
        """
        acct = self.accounts.get(user.lower())
        if acct is None:
            return {"orders": [], "fills": [], "positions": {}, "usdc": "0.0", "spot": {}, "openOids": []}
        orders = [{
            "oid": o.oid, "cloid": o.cloid, "coin": o.coin, "side": o.side, "limitPx": num(o.limit_px),
            "origSz": num(o.orig_sz), "filledSz": num(o.filled), "remainingSz": num(o.sz), "status": o.status,
            "statusTimestamp": o.status_ts, "timestamp": o.timestamp, "isTrigger": o.trigger_px is not None,
            "reduceOnly": o.reduce_only,
        } for o in acct.history]
        return {
            "orders": orders,
            "fills": list(acct.fills),
            "positions": {self.specs[a].coin: num(p.szi) for a, p in acct.positions.items() if p.szi},
            "usdc": num(acct.usdc),
            "spot": {SPOT_TOKENS[t].name: num(v) for t, v in acct.spot.items()},
            "openOids": list(acct.open_orders),
        }

    # ============================================================================ simulated market hooks
    def system_order(self, user: str, asset: int, is_buy: bool, px: Decimal, sz: Decimal, tif: str) -> Order | None:
        """Place an order for one of the market's own (unlimited) accounts; the resting order, if any."""
        acct = self._account(user, unlimited=True)
        spec = self.specs[asset]
        order = Order(oid=self._new_oid(), user=user, asset=asset, coin=spec.coin, is_buy=is_buy, limit_px=px,
                      sz=sz, tif=tif, reduce_only=False, cloid=None, timestamp=self.now_ms)
        if tif == "Alo" and self.books[asset].would_cross(is_buy, px):
            return None
        self._match(order, self.now_ms)
        if order.sz == 0 or tif == "Ioc":
            order.status = "filled" if order.sz == 0 else "canceled"
            return None
        self._rest(acct, order, self.now_ms)
        return order

    def twap_suborder(self, user: str, asset: int, is_buy: bool, sz: Decimal, px: Decimal, reduce_only: bool,
                      twap_id: int, now: int) -> tuple[Decimal, Decimal, list[dict[str, Any]], str | None]:
        """One suborder of native TWAP ``twap_id`` (``_twap.py`` decides when, how much and at what bound): an IOC
        at ``px`` matched like any taker, its fills tagged ``"twapId"`` with the all-zero hash of venue TWAP fills.
        Not kept as a user order (no orderUpdates/orderStatus entry).  Returns (filled, notional, fills, error);
        ``error`` is the refusal text when the account cannot margin (or pay for) it, and then nothing happened."""
        acct = self.accounts[user]
        spec = self.specs[asset]
        order = Order(oid=self._new_oid(), user=user, asset=asset, coin=spec.coin, is_buy=is_buy, limit_px=px,
                      sz=sz, tif="Ioc", reduce_only=reduce_only and not spec.is_spot, cloid=None, timestamp=now)
        if not acct.unlimited:
            if spec.is_spot:
                token, need = self._spot_need(spec, order)
                if need > acct.spot_available(token):
                    return ZERO, ZERO, [], "Order has insufficient spot balance to trade."
            elif not order.reduce_only:
                need = self._margin_need(acct, order)
                if need > 0 and need > self.free_margin(acct):
                    return ZERO, ZERO, [], "Insufficient margin to place order."
        first = len(acct.fills)  # a taker's own resting orders are self-trade-cancelled, never filled: only ours
        filled, notional = self._match(order, now)
        fills = acct.fills[first:]
        for fill in fills:  # the same dicts are queued for the streams (flushed at the end of the tick)
            fill["hash"] = _TWAP_HASH
            fill["twapId"] = twap_id
        order.status = "filled" if order.sz == 0 else "canceled"
        return filled, notional, fills, None

    def system_take(self, user: str, asset: int, is_buy: bool, px: Decimal, sz: Decimal) -> Decimal:
        """An IOC order from one of the market's own accounts; returns the size it filled."""
        self._account(user, unlimited=True)
        spec = self.specs[asset]
        order = Order(oid=self._new_oid(), user=user, asset=asset, coin=spec.coin, is_buy=is_buy, limit_px=px,
                      sz=sz, tif="Ioc", reduce_only=False, cloid=None, timestamp=self.now_ms)
        self._match(order, self.now_ms)
        order.status = "filled" if order.sz == 0 else "canceled"
        return sz - order.sz

    def system_cancel(self, order: Order) -> None:
        if order.status == "open":
            self._finish(order, "canceled", self.now_ms)

    def book_top(self, asset: int) -> tuple[Decimal | None, Decimal | None]:
        book = self.books[asset]
        return book.best_bid(), book.best_ask()

    def set_oracle(self, asset: int, px: Decimal) -> None:
        if self.oracle[asset] != px:
            self.oracle[asset] = px
            self._dirty_ctx.add(asset)

    def positions_of(self, user: str) -> dict[int, Position]:
        acct = self.accounts.get(user)
        return acct.positions if acct is not None else {}


class _Batch:
    """A batch action admitted but not yet parsed or applied, so :meth:`Engine.action_steps` can slice both.

    ``parse`` is the whole-action parser (``hyperliquid.messages``), run on sub-actions of ``raw[i:j]``; a
    malformed item anywhere refuses the whole action before anything is applied (its error names the item's
    index in the full list).  ``check`` sees every parsed item (e.g. TP/SL groupings) before the first is
    applied; ``apply_one`` applies one item and returns its status."""

    __slots__ = ("action", "apply_one", "check", "items", "key", "kind", "parse", "raw")

    def __init__(self, kind: str, action: dict[str, Any], key: str, parse: Callable[[Any], Sequence[Any]],
                 apply_one: Callable[[Any], Any],
                 check: Callable[[list[Any]], dict[str, Any] | None] | None = None) -> None:
        raw = action.get(key)
        if not isinstance(raw, list):
            parse(action)  # the parser's own error for a missing or malformed list
            raise ProtocolError(f"action.{key}: expected an array")
        self.kind, self.action, self.key, self.raw = kind, action, key, raw
        self.parse, self.apply_one, self.check = parse, apply_one, check
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.raw)

    def parse_slice(self, start: int, stop: int) -> None:
        """Parse items ``start`` to ``stop`` (in order, after the previous slices); ``ProtocolError`` if one is
        malformed."""
        if len(self.items) == len(self.raw):  # the handler parsed a small batch already
            return
        if start == 0 and stop == len(self.raw):
            self.items = list(self.parse(self.action))
            return
        try:
            self.items += self.parse({**self.action, self.key: self.raw[start:stop]})
        except ProtocolError as exc:
            text = re.sub(rf"action\.{self.key}\[(\d+)\]",
                          lambda m: f"action.{self.key}[{int(m.group(1)) + start}]", str(exc), count=1)
            raise ProtocolError(text) from None

    def refusal(self) -> dict[str, Any] | None:
        return self.check(self.items) if self.check is not None else None

    def apply(self, start: int, stop: int) -> list[Any]:
        one = self.apply_one
        items = self.items
        return [one(items[i]) for i in range(start, stop)]

    def answer(self, statuses: list[Any]) -> dict[str, Any]:
        return {"status": "ok", "response": {"type": self.kind, "data": {"statuses": statuses}}}


def _due(order: Order, mark: Decimal) -> bool:
    trigger = order.trigger_px
    assert trigger is not None
    return mark >= trigger if trigger_fires_above(order) else mark <= trigger


def _bucket(px: Decimal, n_sig_figs: int, mantissa: int | None, is_bid: bool) -> Decimal:
    """The aggregated level a price falls in: bids round down, asks up, to ``n_sig_figs`` figures
    (times ``mantissa`` at 5 figures)."""
    step = Decimal(1).scaleb(px.adjusted() - n_sig_figs + 1)
    if mantissa is not None and mantissa > 1:
        step *= mantissa
    whole = (px / step).to_integral_value(rounding=ROUND_FLOOR if is_bid else ROUND_CEILING)
    return whole * step


_HANDLERS: Final = {
    "order": Engine._act_order,
    "cancel": Engine._act_cancel,
    "cancelByCloid": Engine._act_cancel_by_cloid,
    "batchModify": Engine._act_batch_modify,
    "modify": Engine._act_modify,
    "scheduleCancel": Engine._act_schedule_cancel,
    "updateLeverage": Engine._act_update_leverage,
    "updateIsolatedMargin": Engine._act_update_isolated_margin,
    "noop": Engine._act_noop,
    "usdClassTransfer": Engine._act_usd_class_transfer,
    "withdraw3": Engine._act_withdraw,
    "approveBuilderFee": Engine._act_approve_builder_fee,
    "approveAgent": Engine._act_approve_agent,
    "createSubAccount": Engine._act_create_sub_account,
    "subAccountTransfer": Engine._act_sub_account_transfer,
    "twapOrder": Engine._act_twap_order,
    "twapCancel": Engine._act_twap_cancel,
}
