"""The emulator's venue limits: per IP (PROTOCOL §8.2: REST weight, WS message rate, WS subscription/user caps)
and per address (§8.3: the action budget, :class:`AddressRule`).

Rule followed: the venue states its REST limit as "aggregated weight 1200 per minute per IP".  We model it as
a token bucket of capacity 1200 refilled continuously at 20 weight/s, checked *before* a request with the
request's base weight; list-answer extras (``userFills`` +1 per 20 items, …) are charged *after* the answer,
so the balance may go negative and the next requests wait the debt off — the venue cannot know the answer
size before it computes it either.

Alternative rejected: a fixed one-minute window.  It lets a client burst 2×1200 across a window boundary and
then fail for up to a minute, which makes client back-off tests depend on where the window happens to fall.

Address budget (PROTOCOL §8.3), enforced by the engine (``Engine.address_refusal``) for the account an action
acts for, *before* its nonce is recorded:

* Counted per *acting user*: an agent's (``approveAgent``) actions count against its master account, an action
  with ``vaultAddress`` against that sub-account or vault (the venue: "sub-accounts count as separate users").
  Actions only, never ``/info``; every ``/exchange`` action counts, a batch of n orders, cancels or modifies
  (``order``, ``cancel``, ``cancelByCloid``, ``batchModify``) as n requests, anything else as 1.
* ``cap = initial_buffer + floor(cumVlm)`` (10 000 + 1 request per 1 USDC traded, maker or taker fills of the
  account); ``cancel``/``cancelByCloid`` may go to ``min(cap + 100000, 2 * cap)``.
* Within its limit an action is admitted and ``nRequestsUsed += n``.  Over it, the address is throttled: one
  request per 10 s.  An action of n requests is then admitted when the address's throttle slot is free, and
  admitting it holds the slot for ``n × 10 s`` of emulator time (the pace the connector's ``AddressBudget``
  keeps); the first action after the budget runs out finds the slot free.  Admitted throttled requests count
  too, so ``nRequestsUsed`` may run past ``nRequestsCap`` (as live answers show).
* A refused action is not applied, not counted and does *not* consume its nonce; the answer is
  ``{"status":"err","response":"Too many cumulative requests sent (U > L) for cumulative volume traded $V.
  Place taker orders to free up 1 request per USDC traded."}`` with ``U`` = used + n (what it would have
  made), ``L`` the limit it broke (the cancel limit for cancels) and ``V`` the account's volume as the
  venue writes numbers in sentences (``$0``, ``$1234.5``).

UNSURE (venue undocumented), chosen here: how a batch is paced while throttled (n × 10 s, above); whether
the slot is free at the moment the budget runs out (yes); whether a refusal consumes the nonce (no) or counts
as used (no); that every action type counts (the docs say "actions"); the order of checks (the address budget
comes after the signature and the unknown-user check, before the nonce).  ``reserveRequestWeight`` (buying
requests) and the stale-``expiresAfter`` 5× cancel cost are not modelled (``nRequestsSurplus`` is 0).
With the rule off (``Limits.unlimited()``) the counters still run and ``userRateLimit`` reports
``nRequestsCap = 10**12 + floor(cumVlm)``: a cap that never binds, so a client pacing itself from that answer
(the connector's ``AddressBudget``) is not throttled by a limit the emulator does not enforce.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import attrs

__all__ = [
    "CANCEL_ACTIONS",
    "INFO_WEIGHTS",
    "NO_ADDRESS_LIMIT_BUFFER",
    "AddressRule",
    "Limits",
    "TokenBuckets",
    "address_requests",
    "exchange_weight",
    "info_base_weight",
    "info_extra_weight",
]

_WEIGHT_2: Final = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_PER_20_ITEMS: Final = frozenset(
    {
        "recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory", "userFunding",
        "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills", "userTwapSliceFillsByTime",
        "delegatorHistory", "delegatorRewards", "validatorStats",
    }
)
INFO_WEIGHTS: Final = {**dict.fromkeys(_WEIGHT_2, 2), "userRole": 60}
"""Info types whose base weight is not the default 20."""


def info_base_weight(req_type: str) -> int:
    return INFO_WEIGHTS.get(req_type, 20)


def info_extra_weight(req_type: str, answer: Any) -> int:
    """Extra weight of a list answer: +1 per 20 items (``candleSnapshot``: per 60 items)."""
    if not isinstance(answer, list):
        return 0
    if req_type == "candleSnapshot":
        return len(answer) // 60
    if req_type in _PER_20_ITEMS:
        return len(answer) // 20
    return 0


def exchange_weight(action: dict[str, Any]) -> int:
    """``1 + floor(batch_length / 40)``: a batch is orders, cancels or modifies (whichever the action carries)."""
    for key in ("orders", "cancels", "modifies"):
        batch = action.get(key)
        if isinstance(batch, list):
            return 1 + len(batch) // 40
    return 1


#: Actions that may use the larger cancel limit ``min(cap + 100000, 2 * cap)``.
CANCEL_ACTIONS: Final = frozenset({"cancel", "cancelByCloid"})
#: ``userRateLimit``'s buffer when the address rule is off: a cap no client reaches.
NO_ADDRESS_LIMIT_BUFFER: Final = 10**12
_BATCH_KEYS: Final = {"order": "orders", "cancel": "cancels", "cancelByCloid": "cancels", "batchModify": "modifies"}


def address_requests(action: dict[str, Any]) -> int:
    """How many requests an action counts against its address: n for a batch of n orders, cancels or modifies,
    otherwise 1 (an empty batch too: it is still a request)."""
    key = _BATCH_KEYS.get(action.get("type"))  # type: ignore[arg-type]
    if key is not None:
        batch = action.get(key)
        if isinstance(batch, list) and batch:
            return len(batch)
    return 1


@attrs.frozen
class AddressRule:
    """The per-address action budget (PROTOCOL §8.3; the rule and its UNSURE points are in the module doc)."""

    initial_buffer: int = 10_000
    #: Emulator ms per request once the address is over its limit (the venue: one request per 10 s).
    throttled_interval_ms: int = 10_000
    #: Cancels may exceed the cap by this much (but at most double it).
    cancel_extra: int = 100_000

    def cap(self, cum_vlm: Decimal) -> int:
        """``nRequestsCap``: the buffer plus one request per whole USDC traded."""
        return self.initial_buffer + int(cum_vlm)  # int() floors a non-negative volume

    def cancel_cap(self, cap: int) -> int:
        return min(cap + self.cancel_extra, 2 * cap)

    @staticmethod
    def refusal(used: int, limit: int, cum_vlm_text: str) -> str:
        """The venue's words (PROTOCOL §4.3) for an action that would take ``used`` requests past ``limit``."""
        return (f"Too many cumulative requests sent ({used} > {limit}) for cumulative volume traded "
                f"${cum_vlm_text}. Place taker orders to free up 1 request per USDC traded.")


@attrs.frozen
class Limits:
    """The venue's limits; ``None`` switches one off.  ``Limits.unlimited()`` (benchmarks, CLI ``--no-rate-limit``)
    switches them all off.

    Defaults are the documented values (PROTOCOL §8.2, §8.3); the WS connection limit follows the official dump
    (100), not the 3P summary (10).  ``address_initial_buffer``: the per-address action budget every address
    starts with (``None``: no address budget); a test wanting to reach the throttled state quickly sets a small
    one (``Limits(address_initial_buffer=20)``).  ``address_throttled_interval_ms`` and ``address_cancel_extra``:
    the throttled pace and the cancels' extra allowance (see :class:`AddressRule`).
    """

    rest_weight_per_minute: int | None = 1200
    ws_messages_per_minute: int | None = 2000
    ws_connections: int | None = 100
    ws_subscriptions: int | None = 1000
    ws_users: int | None = 10
    ws_inflight_posts: int | None = 100
    address_initial_buffer: int | None = 10_000
    address_throttled_interval_ms: int = 10_000
    address_cancel_extra: int = 100_000

    @classmethod
    def unlimited(cls) -> Limits:
        return cls(rest_weight_per_minute=None, ws_messages_per_minute=None, ws_connections=None,
                   ws_subscriptions=None, ws_users=None, ws_inflight_posts=None, address_initial_buffer=None)

    def address_rule(self) -> AddressRule | None:
        """The per-address rule these limits configure (``None`` when off)."""
        if self.address_initial_buffer is None:
            return None
        return AddressRule(self.address_initial_buffer, self.address_throttled_interval_ms,
                           self.address_cancel_extra)


class TokenBuckets:
    """One token bucket per key (client IP): ``capacity`` tokens, refilled at ``capacity / 60`` per second."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}

    def _level(self, key: str) -> float:
        now = self._clock()
        tokens, stamp = self._state.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - stamp) * self._rate)

    def try_take(self, key: str, weight: int) -> bool:
        """Take ``weight`` tokens if the balance covers it; False (nothing taken) otherwise."""
        level = self._level(key)
        if level < weight:
            self._state[key] = (level, self._clock())
            return False
        self._state[key] = (level - weight, self._clock())
        return True

    def charge(self, key: str, weight: int) -> None:
        """Take ``weight`` tokens unconditionally (the balance may go negative: a debt paid by waiting)."""
        if weight:
            self._state[key] = (self._level(key) - weight, self._clock())

    def available(self, key: str) -> float:
        return self._level(key)
