"""``InFlightOrder``: everything the tracker knows about one order, and the transition table it obeys.

Rule followed: an order's state moves only forward through ranks
``PENDING_CREATE (0) < UNKNOWN (1) < live {OPEN, PARTIALLY_FILLED, PENDING_CANCEL} (2) < terminal (3)``;
terminal states (CANCELED, FILLED, FAILED) are absorbing.  The three live states share one rank because
they are *views* of one fact ("the order rests on the venue"): PARTIALLY_FILLED is derived from fills (the
venue has no such status) and PENDING_CANCEL from the ``cancel_requested`` flag.  A rejected cancel clears
the flag and the order shows OPEN/PARTIALLY_FILLED again; that is not a step backwards, because nothing
the venue told us is un-learned.

Alternative rejected: a linear ladder OPEN < PARTIALLY_FILLED < PENDING_CANCEL.  It forces either a
"backwards" edge when a cancel is rejected or a lie (an order that is still resting shown as cancelling
forever), and it cannot express "cancel requested while the submission is still UNKNOWN".

The order is a mutable ``attrs`` slots class (100 000 tracked orders must fit in well under 1 KiB each, and
copying a frozen value per fill would dominate the hot path).  Only ``OrderTracker`` mutates it, through
:data:`TRANSITIONS`; callers get the live object from ``tracker.get()`` and must treat it as read-only.
Everything is ``Decimal``: ``executed_amount`` never exceeds ``amount``; an over-fill is kept in
``overfill_amount`` and reported by the tracker (see ``trio_hl.core.tracker``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

from trio_hl.core.types import OrderParams, OrderState, OrderType, PositionAction, Side, TimeInForce
from trio_hl.core.updates import TradeUpdate

__all__ = ["LIVE_STATES", "STATE_RANK", "TRANSITIONS", "FillRecord", "InFlightOrder", "is_allowed"]

_ZERO = Decimal(0)

_S = OrderState

#: Rank of each state; an allowed transition never lowers it (tests pin this).
STATE_RANK: Mapping[OrderState, int] = MappingProxyType({
    _S.PENDING_CREATE: 0,
    _S.UNKNOWN: 1,
    _S.OPEN: 2,
    _S.PARTIALLY_FILLED: 2,
    _S.PENDING_CANCEL: 2,
    _S.CANCELED: 3,
    _S.FILLED: 3,
    _S.FAILED: 3,
})

#: The states of an order resting on the venue (one rank; which one is shown is derived, see module doc).
LIVE_STATES: frozenset[OrderState] = frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL})

_TERMINALS = frozenset({_S.CANCELED, _S.FILLED, _S.FAILED})

#: The transition table: ``TRANSITIONS[current]`` is the set of states an order may move to.  Staying in the
#: same state is a no-op (a duplicate), never a transition.
#:
#: ============== ==========================================================================================
#: from           to
#: ============== ==========================================================================================
#: PENDING_CREATE UNKNOWN (ambiguous submit), any live state (venue accepted / first fill), any terminal
#: UNKNOWN        any live state (resolution found it), any terminal (resolution: filled/canceled/refused)
#: OPEN           PARTIALLY_FILLED (fill), PENDING_CANCEL (cancel requested), any terminal
#: PARTIALLY_F.   PENDING_CANCEL, any terminal
#: PENDING_CANCEL OPEN / PARTIALLY_FILLED (cancel rejected), any terminal
#: terminal       nothing (absorbing; late fills are still applied to the totals and reported)
#: ============== ==========================================================================================
#:
#: Notably refused: live -> UNKNOWN (once the venue has shown us the order, ambiguity about a later request
#: does not make its existence unknown), anything -> PENDING_CREATE, PARTIALLY_FILLED -> OPEN.
TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = MappingProxyType({
    _S.PENDING_CREATE: frozenset({_S.UNKNOWN, *LIVE_STATES, *_TERMINALS}),
    _S.UNKNOWN: frozenset({*LIVE_STATES, *_TERMINALS}),
    _S.OPEN: frozenset({_S.PARTIALLY_FILLED, _S.PENDING_CANCEL, *_TERMINALS}),
    _S.PARTIALLY_FILLED: frozenset({_S.PENDING_CANCEL, *_TERMINALS}),
    _S.PENDING_CANCEL: frozenset({_S.OPEN, _S.PARTIALLY_FILLED, *_TERMINALS}),
    _S.CANCELED: frozenset(),
    _S.FILLED: frozenset(),
    _S.FAILED: frozenset(),
})


#: One applied fill as an order keeps it: a ``TradeUpdate``'s fields, in its field order, in a plain tuple
#: (``TradeUpdate(*record)`` rebuilds it).  The tracker builds it with shared objects: its Decimals interned, the
#: ids and pair the order's own strings when equal (see ``OrderTracker``), so the update handed in, and the copies
#: a wire parser made, can die.  A tuple because building one costs ~0.13 us where the frozen attrs value costs
#: ~1.8 us, on every fill.
FillRecord = tuple[str, str, Decimal, Decimal, Decimal, str, float, "str | None", "str | None", bool, "Side | None"]


def is_allowed(current: OrderState, new: OrderState) -> bool:
    """Whether the table allows ``current -> new`` (a same-state "transition" is not one)."""
    return new in TRANSITIONS[current]


@attrs.define(slots=True, eq=True, weakref_slot=False, repr=False)
class InFlightOrder:
    """One tracked order.  Build with :meth:`new` or :meth:`from_params`; mutate only through the tracker.

    ``fills`` maps trade id -> fill (``None`` until the first fill), built on read from ``fill_records``.  Fees
    accumulate in ``fee`` in ``fee_asset`` (the first fill's asset: a venue charges one order's fees in one
    asset); a fill charged in another asset goes to ``other_fees`` and is never added to ``fee``.
    ``notional`` is ``sum(price * amount)`` over *all* fills, including an
    over-fill, so ``average_price`` is the true average of what traded.
    """

    client_order_id: str
    pair: str
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    tif: TimeInForce
    position_action: PositionAction
    created_at: float
    last_update: float
    exchange_order_id: str | None = None
    state: OrderState = OrderState.PENDING_CREATE
    executed_amount: Decimal = _ZERO
    #: Fill amount beyond ``amount`` (venue inconsistency or a missed modify); reported as an anomaly.
    overfill_amount: Decimal = _ZERO
    notional: Decimal = _ZERO
    fee: Decimal = _ZERO
    fee_asset: str | None = None
    other_fees: dict[str, Decimal] | None = None
    #: The fills applied, compactly: ``None`` before the first fill, the one :data:`FillRecord` of an order filled
    #: once (most orders: no dict), else trade id -> record in arrival order.  :attr:`fills` is the public view.
    fill_records: FillRecord | dict[str, FillRecord] | None = None
    not_found_count: int = 0
    #: Past the tracker's ``not_found_limit``: listed in ``tracker.lost_orders()`` until a definitive answer.
    is_lost: bool = False
    #: A cancel was sent and not yet answered; shown as PENDING_CANCEL while the order is live.
    cancel_requested: bool = False
    #: The venue gave a verdict (FILLED, or CANCELED with a known executed total) before all fills arrived;
    #: the tracker completes the order when they do or when this deadline (caller's clock) passes.
    fill_wait_deadline: float | None = None
    #: The verdict held back while waiting, and the executed amount that completes it.
    fill_wait_state: OrderState | None = None
    fill_wait_amount: Decimal | None = None
    #: ``OrderCreated`` was emitted (the venue showed the order exists).
    created_emitted: bool = False
    #: Exchange ids this order had before a modify; fills quoting them still find the order.
    previous_exchange_ids: tuple[str, ...] = ()
    #: ``executed_amount`` when the order last took a new exchange id (the venue counts per id).
    executed_before_rekey: Decimal = _ZERO
    #: The venue's text for the last rejection / cancel.
    reason: str | None = None
    #: Caller-clock time the order became terminal (drives the finished-orders TTL cache).
    finished_at: float | None = None

    def __repr__(self) -> str:
        """One line a person can read in a list of orders: identity, terms, state, progress (not every field:
        ``attrs.asdict(order)`` has them all)."""
        price = "market" if self.price is None else f"@ {self.price}"
        extra = "".join((
            f" eid={self.exchange_order_id}" if self.exchange_order_id else "",
            f" fills={self.fill_count}" if self.fill_records is not None else "",
            " cancel-requested" if self.cancel_requested else "",
            " lost" if self.is_lost else "",
            f" reason={self.reason!r}" if self.reason else "",
        ))
        return (f"InFlightOrder({self.client_order_id!r} {self.pair} {self.side.value} {self.order_type.value} "
                f"{self.amount} {price} {self.tif.value}: {self.state.value}, executed {self.executed_amount}"
                f"{extra})")

    @classmethod
    def new(
        cls,
        *,
        client_order_id: str,
        pair: str,
        side: Side,
        amount: Decimal,
        price: Decimal | None,
        created_at: float,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        position_action: PositionAction = PositionAction.OPEN,
    ) -> InFlightOrder:
        """A PENDING_CREATE order (amount and price already quantized by the caller)."""
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            raise ValueError(f"amount must be a finite Decimal > 0, got {amount!r}")
        if price is not None and (not isinstance(price, Decimal) or not price.is_finite() or price <= 0):
            raise ValueError(f"price must be None or a finite Decimal > 0, got {price!r}")
        if not client_order_id:
            raise ValueError("client_order_id must be a non-empty string")
        return cls(
            client_order_id=client_order_id, pair=pair, side=side, order_type=order_type, amount=amount,
            price=price, tif=tif, position_action=position_action, created_at=created_at, last_update=created_at,
        )

    @classmethod
    def from_params(cls, params: OrderParams, *, side: Side, client_order_id: str, created_at: float) -> InFlightOrder:
        """From validated user params (``params.client_order_id`` is ignored in favour of the one given)."""
        return cls.new(
            client_order_id=client_order_id, pair=params.pair, side=side, amount=params.amount, price=params.price,
            created_at=created_at, order_type=params.order_type, tif=params.tif,
            position_action=params.position_action,
        )

    @property
    def is_done(self) -> bool:
        """Terminal (CANCELED, FILLED, FAILED)."""
        return self.state in _TERMINALS

    @property
    def remaining_amount(self) -> Decimal:
        return self.amount - self.executed_amount

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted average fill price over every fill, or ``None`` before the first fill."""
        total = self.executed_amount + self.overfill_amount
        return self.notional / total if total else None

    @property
    def total_fee(self) -> Decimal:
        """Cumulative fee in ``fee_asset`` (what ``OrderFilled.total_fee`` reports)."""
        return self.fee

    @property
    def fee_by_asset(self) -> dict[str, Decimal]:
        """Every fee asset -> cumulative fee (a new dict)."""
        fees = {} if self.fee_asset is None else {self.fee_asset: self.fee}
        if self.other_fees:
            fees.update(self.other_fees)
        return fees

    @property
    def fills(self) -> dict[str, TradeUpdate] | None:
        """Trade id -> fill, in arrival order (``None`` before the first fill): a new dict of new values on every
        read (the order keeps compact records, see ``fill_records``).  An applied same-id fill that differed from
        the first is under ``"<trade id>~<n>"``, which is also its ``trade_id``."""
        records = self.fill_records
        if records is None:
            return None
        if isinstance(records, tuple):
            return {records[0]: TradeUpdate(*records)}
        return {tid: TradeUpdate(*record) for tid, record in records.items()}

    @property
    def fill_count(self) -> int:
        records = self.fill_records
        if records is None:
            return 0
        return 1 if isinstance(records, tuple) else len(records)
