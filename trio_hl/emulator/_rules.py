"""The venue's order and account rules the emulator enforces, with their values and why (PROTOCOL §8.3-8.4).

Checked by the engine for every order (``Engine._place``, so ``modify``/``batchModify`` too) before anything
rests or matches; per-order refusals end with `` asset=N`` like the engine's other per-order errors.  A refused
order keeps its oid (queryable, in ``ground_truth``) like the engine's other refusals: status ``oracleRejected``
for the price band (the venue's status for a price too far from the oracle), ``rejected`` for the others
(the venue's generic refusal status; which one it uses for these is not documented).  A zero size is refused
before an oid, like an invalid size.

- **Zero size**: ``Order has zero size.`` (venue words).
- **Price band**: a limit price more than :data:`PRICE_BAND` (80 %) away from the reference price is refused
  with the venue's ``Order price cannot be more than 80% away from the reference price`` (3P captures of perp
  answers, PROTOCOL §8.4).  Reference price = the asset's oracle/mark price (``Engine.mark``): the venue's
  band is taken against its reference price, which is oracle-derived, and the book's mid can be empty or moved
  by the very client being checked.  Spot uses :data:`SPOT_PRICE_BAND` (95 %, ``… 95% away …``): PROTOCOL
  notes a 95 % variant seen for spot (UNSURE); the wider band errs on the side of accepting.  A trigger order's
  limit price is checked the same way.
- **Minimum value**: $10 (10 of the quote token on spot) of ``px × sz`` (venue words, ``Order must have
  minimum value of $10.``), not for reduce-only orders (the engine applies it).
- **Maximum value**: :data:`MAX_ORDER_VALUE` ($5 000 000) of ``px × sz``: ``Order value too large. Max is
  $5000000.`` (a recorded venue answer).
- **Trigger orders on spot**: ``Placing trigger orders is not enabled on spot trading yet.`` (venue words).
- **Open orders**: at most ``1000 + 1 per $5M of the account's traded volume, up to 5000`` open (resting or
  untriggered) orders (PROTOCOL §8.3); an order that could rest (not ``Ioc``/market) beyond that cap, and any
  reduce-only or trigger order once 1000 are open, is refused.  ``Engine(open_orders_base=N)`` raises the 1000
  (for a test that needs more open orders on one account than the venue allows, saying so).  The venue's
  words were not found; chosen: ``Too many open orders. Max is N.`` (the shape of the order-value answer).
- **Batch size**: at most :data:`MAX_BATCH` (10 000) orders, cancels or modifies in one action.  The venue
  documents no maximum (PROTOCOL §8.4); 10 000 is the address budget's initial buffer (no fresh account could
  send a larger batch anyway) and ~0.7 MiB of compact orders, under the app's 1 MiB body cap.  Refused whole,
  before any item is applied: ``Too many items in one action: N (max 10000).`` (chosen words).  Batches larger
  than :data:`SLICE` are applied in slices by the app so other clients keep being served (``EmulatorApp``).
- **Transfers**: a USDC amount must be positive, finite and have at most 6 decimals (USDC's precision on the
  perp side, the unit ``subAccountTransfer``'s integer ``usd`` counts in), and at most
  :data:`MAX_TRANSFER_USD`: ``Invalid transfer amount.`` (chosen words).
- **scheduleCancel**: at least 5 s (venue rule) and at most :data:`SCHEDULE_MAX_AHEAD_MS` (1 day, chosen: the
  venue's own horizon for a valid action nonce) in the future: ``Scheduled cancel time too late, must be at
  most 1 day in the future.`` (chosen words).
- **Sub-accounts**: at most :data:`MAX_SUB_ACCOUNTS` (10, the venue's documented number) per master; a name
  is 1 to :data:`MAX_SUB_ACCOUNT_NAME` printable characters without leading/trailing spaces and without
  ``subaccount:`` (which the SDK uses to name a sub-account inside a transfer amount): ``Invalid sub-account
  name.`` / ``Too many sub-accounts (max 10).`` (chosen words).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

__all__ = [
    "MAX_BATCH",
    "MAX_ORDER_VALUE",
    "MAX_SUB_ACCOUNTS",
    "MAX_SUB_ACCOUNT_NAME",
    "MAX_TRANSFER_USD",
    "OPEN_ORDERS_BASE",
    "OPEN_ORDERS_MAX",
    "OPEN_ORDERS_VLM_STEP",
    "PRICE_BAND",
    "SCHEDULE_MAX_AHEAD_MS",
    "SLICE",
    "SPOT_PRICE_BAND",
    "batch_length",
    "batch_refusal",
    "open_order_cap",
    "sub_account_name_ok",
    "transfer_amount_ok",
]

PRICE_BAND: Final = Decimal("0.8")
SPOT_PRICE_BAND: Final = Decimal("0.95")
MAX_ORDER_VALUE: Final = Decimal(5_000_000)
OPEN_ORDERS_BASE: Final = 1000
OPEN_ORDERS_MAX: Final = 5000
OPEN_ORDERS_VLM_STEP: Final = Decimal(5_000_000)
MAX_BATCH: Final = 10_000
#: Items parsed or applied between two checkpoints when the app slices a batch larger than this (~2-5 ms of
#: engine work on an idle box, ~3x that on a loaded one; a checkpoint costs ~10 us, well under 1 % of a slice).
SLICE: Final = 64
MAX_TRANSFER_USD: Final = Decimal(10) ** 12
SCHEDULE_MAX_AHEAD_MS: Final = 86_400_000
MAX_SUB_ACCOUNTS: Final = 10
MAX_SUB_ACCOUNT_NAME: Final = 32
_USD_QUANTUM: Final = Decimal("0.000001")
_BATCH_KEYS: Final = {"order": "orders", "cancel": "cancels", "cancelByCloid": "cancels", "batchModify": "modifies"}


def batch_length(action: dict[str, Any]) -> int:
    """How many items a batch action carries (0 for other actions or a malformed batch)."""
    key = _BATCH_KEYS.get(action.get("type"))  # type: ignore[arg-type]
    if key is None:
        return 0
    batch = action.get(key)
    return len(batch) if isinstance(batch, list) else 0


def batch_refusal(action: dict[str, Any]) -> str | None:
    n = batch_length(action)
    return f"Too many items in one action: {n} (max {MAX_BATCH})." if n > MAX_BATCH else None


def open_order_cap(cum_vlm: Decimal, base: int = OPEN_ORDERS_BASE) -> int:
    """1000 + 1 per $5M traded, at most 5000 (PROTOCOL §8.3); ``base`` is the engine's ``open_orders_base``."""
    return min(base + int(cum_vlm // OPEN_ORDERS_VLM_STEP), max(OPEN_ORDERS_MAX, base))


def transfer_amount_ok(amount: Decimal) -> bool:
    """Positive, finite, at most 6 decimals and at most :data:`MAX_TRANSFER_USD`."""
    return (
        amount.is_finite()
        and 0 < amount <= MAX_TRANSFER_USD
        and amount == amount.quantize(_USD_QUANTUM)
    )


def sub_account_name_ok(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_SUB_ACCOUNT_NAME
        and name.isprintable()
        and name == name.strip()
        and "subaccount:" not in name.lower()
    )
