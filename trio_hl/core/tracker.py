"""``OrderTracker``: a pure, synchronous state machine from order/trade updates to events.

Rules it follows (DESIGN §3, "orders are never lost"):

* **States only move forward** through :data:`trio_hl.core.order.TRANSITIONS`; terminal states are absorbing.
  An update the table refuses is counted (``refused_transitions``) and not applied; when it contradicts a
  terminal verdict (CANCELED after FILLED, say) it is also reported as
  ``OrderAnomaly(kind="transition_refused")``.  Stale live statuses and late submit timeouts are ordinary
  races and are only counted.  Nothing here raises on venue input: a venue that contradicts itself is a
  fact to report, not a reason to crash the stream that told us.
* **Fills are facts.**  They are de-duplicated by trade id per order (a same-id fill that differs in size,
  price, side, oid or time is no duplicate: applied and reported as ``OrderAnomaly(kind="fill_collision")``)
  and always applied, even to a terminal
  order (``LateFill``) - including one we wrongly believed CANCELED or FAILED.  ``executed_amount`` never
  exceeds ``amount``: the excess of an over-fill goes to ``overfill_amount`` (and into ``notional``/fees,
  because it did trade) and is reported as ``OrderAnomaly(kind="overfill")``.  Clipping silently would hide
  a position change; letting ``executed_amount`` exceed ``amount`` would break every "remaining" computation.
* **PARTIALLY_FILLED is derived** from fills; a fill is also proof that the order landed, so it moves a
  PENDING_CREATE/UNKNOWN order to live (emitting ``OrderCreated`` first).
* **FILLED waits for its fills.**  A FILLED status that arrives before the fills covering the amount arms a
  deadline (``fill_wait_timeout`` on the caller's clock); the completing fill emits ``OrderFilled``; if
  ``poll(now)`` finds the deadline passed it emits ``OrderFilled`` with what is known plus
  ``OrderAnomaly(kind="fill_timeout")``, and later fills become ``LateFill``.
* **Ambiguity is UNKNOWN, never FAILED.**  Only a definitive FAILED update makes an order FAILED.
  ``needs_resolution()`` lists UNKNOWN orders.  ``process_not_found`` counts "the venue does not know this
  order"; at ``not_found_limit`` consecutive answers the order is flagged lost (``OrderLost``) and listed
  in ``lost_orders()``; any definitive answer or fill clears the flag.  A lost order keeps its last known
  state: "lost" is our ignorance, not a venue state.
* **Cancel is a request, not a state change by itself.**  ``start_cancel`` sets ``cancel_requested`` and a
  live order shows PENDING_CANCEL; ``process_cancel_rejected`` clears it (the order shows OPEN or
  PARTIALLY_FILLED again) and reports ``CancelRejected`` (reason, state after the refusal) - the caller of
  ``cancel()`` must hear the answer.  A rejected cancel never fails the order: the usual reason is that it
  was already filled or canceled, which the venue's status/fills will tell us.  A refusal for an order
  already known to be finished (terminal, or its FILLED/CANCELED verdict in and only fills awaited) is late
  news of a race the terminal event already settled: counted (``cancels_rejected``), not reported.
* **A modify that did not apply changes nothing.**  ``process_modify_rejected`` (called once the caller knows
  the modify did not apply and has fed the order's re-read status) reports ``ModifyRejected`` - the order's
  unchanged price/amount next to the refused ones - while the order is still live; for a finished order
  (on Hyperliquid a refused modify often took the old order with it: modify is cancel + place) it is only
  counted (``modifies_rejected``): the terminal event is the answer.
* **Orphans are buffered, then reported.**  A fill or status naming an order we cannot find (its exchange
  id is not known yet, say) waits up to ``orphan_ttl`` seconds; when an order learns that id (or starts
  being tracked with that client id) the buffered messages are applied in arrival order; otherwise
  ``poll`` reports them (``UnmatchedFill`` / ``OrderAnomaly(kind="unmatched_update")``).
* **Finished orders stay findable** for ``finished_ttl`` seconds (bounded by ``max_finished``) so late
  fills and duplicate statuses still land on them.

Event order per order: ``OrderCreated`` (or a pre-creation ``OrderFailed``) before any fill or terminal
event; exactly one terminal event.  ``OrderUnknown`` / ``OrderLost`` / ``OrderAnomaly`` may precede
``OrderCreated`` because they describe the submission, not the venue order.

Time: event timestamps are the updates' own timestamps.  Deadlines (fill wait, orphan window, finished TTL)
use the injected ``clock`` when an update arrives and the ``now`` passed to ``poll``.

Journal: with a journal attached, every call that feeds the tracker (``start_tracking``, updates, fills,
not-found answers, cancel requests and rejections, and ``poll`` calls that changed something) is appended
with the clock reading it used, *including* duplicates and refused updates, so that replaying the journal
(``Journal.restore``) rebuilds an identical tracker, statistics included - except the repeats a caller counts
with :meth:`OrderTracker.count_repeated_update` without passing them in (they change nothing but two counters, and
journaling each would cost the hot path what skipping them saves): a restored tracker's ``updates_processed`` and
``duplicate_updates`` leave those out.  Appending is a deque extend;
encoding and committing happen in ``Journal.flush()``.

Alternative rejected: a per-exchange tracker that interprets venue status strings (the Hummingbot way).
Venue mapping lives in the venue package; this module sees only ``OrderState`` and works for any venue.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Protocol

import attrs

from trio_hl.core.events import (
    CancelRejected,
    Event,
    LateFill,
    ModifyRejected,
    OrderAnomaly,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderLost,
    OrderModified,
    OrderPartiallyFilled,
    OrderUnknown,
    UnmatchedFill,
)
from trio_hl.core.intern import DecimalInterner
from trio_hl.core.order import LIVE_STATES, TRANSITIONS, FillRecord, InFlightOrder
from trio_hl.core.types import OrderState, OrderType, PositionAction, Side, TimeInForce
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import InvalidOrderError

__all__ = ["JournalSink", "OrderTracker", "TrackerConfig", "TrackerSnapshot", "TrackerStats"]

_ZERO = Decimal(0)
_PENDING_CREATE = OrderState.PENDING_CREATE
_UNKNOWN = OrderState.UNKNOWN
_OPEN = OrderState.OPEN
_PARTIAL = OrderState.PARTIALLY_FILLED
_PENDING_CANCEL = OrderState.PENDING_CANCEL
_CANCELED = OrderState.CANCELED
_FILLED = OrderState.FILLED
_FAILED = OrderState.FAILED
_TERMINAL = frozenset({_CANCELED, _FILLED, _FAILED})
#: Exchange ids an order keeps from before its modifies (the most recent ones; see ``_set_exchange_id``).
MAX_PREVIOUS_IDS = 16


class JournalSink(Protocol):
    """What the tracker needs from a journal: a cheap, non-blocking append (``trio_hl.core.journal.Journal``)."""

    def append(self, kind: str, now: float, payload: Any) -> None: ...


@attrs.frozen
class TrackerConfig:
    """Tracker tunables (journaled, so a restore uses the settings the journal was written with).

    ``not_found_limit``: consecutive "venue does not know it" answers before an order is flagged lost.
    ``finished_ttl`` / ``max_finished``: how long / how many terminal orders stay findable for late messages.
    ``fill_wait_timeout``: how long a FILLED status waits for the fills that cover the amount.
    ``orphan_ttl`` / ``max_orphans``: how long / how many messages for not-yet-known orders are buffered.
    """

    not_found_limit: int = 3
    finished_ttl: float = 600.0
    fill_wait_timeout: float = 10.0
    orphan_ttl: float = 30.0
    max_finished: int = 100_000
    max_orphans: int = 10_000

    def __attrs_post_init__(self) -> None:
        if self.not_found_limit < 1:
            raise ValueError(f"not_found_limit must be >= 1, got {self.not_found_limit}")
        for name in ("finished_ttl", "fill_wait_timeout", "orphan_ttl"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.max_finished < 0 or self.max_orphans < 0:
            raise ValueError("max_finished and max_orphans must be >= 0")


@attrs.frozen
class TrackerStats:
    """Point-in-time counters.  Gauges first (current sizes), then totals since the tracker was built."""

    active: int
    pending_create: int
    unknown: int
    lost: int
    awaiting_fills: int
    finished_cached: int
    orphans_buffered: int
    orders_tracked: int
    updates_processed: int
    trades_processed: int
    transitions: int
    duplicate_updates: int
    refused_transitions: int
    fills_applied: int
    duplicate_fills: int
    #: Fills sharing a trade id with an applied fill of the order but differing from it: applied and reported.
    fill_collisions: int
    invalid_fills: int
    overfills: int
    late_fills: int
    fill_wait_timeouts: int
    lost_total: int
    modifies: int
    #: Cancels the venue refused (reported as ``CancelRejected`` only while the order was active).
    cancels_rejected: int
    #: Modifies that did not apply (reported as ``ModifyRejected`` only while the order was still live).
    modifies_rejected: int
    orphans_matched: int
    unmatched_fills: int
    unmatched_updates: int
    finished_evicted: int


@attrs.frozen
class TrackerSnapshot:
    """A comparable picture of a tracker's whole state (used to prove a journal restore is exact)."""

    config: TrackerConfig
    stats: TrackerStats
    active: tuple[InFlightOrder, ...]
    finished: tuple[InFlightOrder, ...]
    exchange_ids: tuple[tuple[str, str], ...]
    orphans: tuple[tuple[float, OrderUpdate | TradeUpdate], ...]


_COUNTERS = (
    "orders_tracked", "updates_processed", "trades_processed", "transitions", "duplicate_updates",
    "refused_transitions", "fills_applied", "duplicate_fills", "fill_collisions", "invalid_fills", "overfills",
    "late_fills", "fill_wait_timeouts", "lost_total", "modifies", "cancels_rejected", "modifies_rejected",
    "orphans_matched", "unmatched_fills", "unmatched_updates", "finished_evicted",
)


class OrderTracker:
    """Tracks in-flight orders; every ``process_*`` call returns the events it caused (see module doc).

    Not thread-safe and not async: call it from one task (the connector's).  ``clock`` is read once per call.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        journal: JournalSink | None = None,
        not_found_limit: int = 3,
        finished_ttl: float = 600.0,
        fill_wait_timeout: float = 10.0,
        orphan_ttl: float = 30.0,
        max_finished: int = 100_000,
        max_orphans: int = 10_000,
    ) -> None:
        self._clock = clock
        self._config = TrackerConfig(
            not_found_limit=not_found_limit, finished_ttl=finished_ttl, fill_wait_timeout=fill_wait_timeout,
            orphan_ttl=orphan_ttl, max_finished=max_finished, max_orphans=max_orphans,
        )
        self._active: dict[str, InFlightOrder] = {}
        #: Terminal orders, in finishing order (so TTL eviction pops from the front).
        self._finished: dict[str, InFlightOrder] = {}
        self._by_eid: dict[str, InFlightOrder] = {}
        self._unknown: dict[str, InFlightOrder] = {}
        self._lost: dict[str, InFlightOrder] = {}
        self._fill_waits: dict[str, InFlightOrder] = {}
        #: Buffered messages for orders not found yet: id -> (arrival time, message), in arrival order.
        self._orphans: dict[int, tuple[float, OrderUpdate | TradeUpdate]] = {}
        self._orphan_by_cid: dict[str, list[int]] = {}
        self._orphan_by_eid: dict[str, list[int]] = {}
        self._orphan_trade_keys: dict[tuple[Any, ...], int] = {}
        self._orphan_seq = 0
        #: Shared Decimals for what orders keep (terms, fills, totals): see ``trio_hl.core.intern``.
        self._interner = DecimalInterner()
        self._share = self._interner.share
        self.orders_tracked = 0
        self.updates_processed = 0
        self.trades_processed = 0
        self.transitions = 0
        self.duplicate_updates = 0
        self.refused_transitions = 0
        self.fills_applied = 0
        self.duplicate_fills = 0
        self.fill_collisions = 0
        self.invalid_fills = 0
        self.overfills = 0
        self.late_fills = 0
        self.fill_wait_timeouts = 0
        self.lost_total = 0
        self.modifies = 0
        self.cancels_rejected = 0
        self.modifies_rejected = 0
        self.orphans_matched = 0
        self.unmatched_fills = 0
        self.unmatched_updates = 0
        self.finished_evicted = 0
        self._journal: JournalSink | None = None
        if journal is not None:
            self.attach_journal(journal, fresh=True)

    # ------------------------------------------------------------------ configuration & journal

    @property
    def config(self) -> TrackerConfig:
        return self._config

    def attach_journal(self, journal: JournalSink, *, fresh: bool) -> None:
        """Start journaling into ``journal``.

        ``fresh=True`` (what the constructor does) writes a config record that marks the start of a new
        tracker: a restore replays from the last such record.  ``Journal.restore`` re-attaches with
        ``fresh=False`` so the restored tracker continues the same history.
        """
        self._journal = journal
        if fresh:
            journal.append("config", self._clock(), attrs.asdict(self._config))

    # ------------------------------------------------------------------ lookups

    def get(self, client_order_id: str) -> InFlightOrder | None:
        """The order (active, or finished and still cached), or ``None``.  Treat the result as read-only."""
        return self._active.get(client_order_id) or self._finished.get(client_order_id)

    def get_by_exchange_id(self, exchange_order_id: str) -> InFlightOrder | None:
        """By the venue's id, current or pre-modify."""
        return self._by_eid.get(exchange_order_id)

    def active_orders(self) -> list[InFlightOrder]:
        """Every non-terminal order (a copy of the list; the orders themselves are live)."""
        return list(self._active.values())

    def finished_orders(self) -> list[InFlightOrder]:
        """Terminal orders still in the TTL cache, oldest first."""
        return list(self._finished.values())

    def needs_resolution(self) -> list[InFlightOrder]:
        """UNKNOWN orders: submissions without a definitive answer, to resolve (status query, then noop)."""
        return list(self._unknown.values())

    def lost_orders(self) -> list[InFlightOrder]:
        """Orders the venue repeatedly did not know; re-poll and cancel them."""
        return list(self._lost.values())

    def awaiting_fills(self) -> list[InFlightOrder]:
        """Orders the venue reported FILLED whose fills have not all arrived yet (re-request their fills)."""
        return list(self._fill_waits.values())

    def __len__(self) -> int:
        return len(self._active)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._active or client_order_id in self._finished

    def __iter__(self) -> Iterator[InFlightOrder]:
        return iter(list(self._active.values()))

    def statistics(self) -> TrackerStats:
        pending = sum(1 for o in self._active.values() if o.state is _PENDING_CREATE)
        counters = {name: getattr(self, name) for name in _COUNTERS}
        return TrackerStats(
            active=len(self._active), pending_create=pending, unknown=len(self._unknown), lost=len(self._lost),
            awaiting_fills=len(self._fill_waits), finished_cached=len(self._finished),
            orphans_buffered=len(self._orphans), **counters,
        )

    def snapshot(self) -> TrackerSnapshot:
        """Everything, comparable with ``==`` (orders are copied, so later changes do not leak in)."""
        return TrackerSnapshot(
            config=self._config,
            stats=self.statistics(),
            active=tuple(_copy_order(o) for o in self._active.values()),
            finished=tuple(_copy_order(o) for o in self._finished.values()),
            exchange_ids=tuple(sorted((eid, o.client_order_id) for eid, o in self._by_eid.items())),
            orphans=tuple(self._orphans.values()),
        )

    # ------------------------------------------------------------------ inputs

    def start_tracking(self, order: InFlightOrder) -> list[Event]:
        """Track a new PENDING_CREATE order; journals the intent (durable once ``journal.flush()`` returns).

        Raises ``InvalidOrderError`` if the client order id is already tracked (a caller bug: replacing the
        order would lose it).  Returns events from buffered messages that already named this client id.
        """
        if order.state is not _PENDING_CREATE or order.executed_amount or order.fill_records:
            raise InvalidOrderError(f"start_tracking needs a fresh PENDING_CREATE order, got {order.state.name}")
        cid = order.client_order_id
        if cid in self._active or cid in self._finished:
            raise InvalidOrderError(f"client_order_id {cid!r} is already tracked")
        if order.exchange_order_id is not None and order.exchange_order_id in self._by_eid:
            raise InvalidOrderError(f"exchange_order_id {order.exchange_order_id!r} is already tracked")
        now = self._clock()
        if self._journal is not None:
            self._journal.append("track", now, _order_intent(order))
        return self._track(order, now)

    def process_order_update(self, update: OrderUpdate) -> list[Event]:
        """Apply a new state for one order (found by client id, else exchange id)."""
        now = self._clock()
        if self._journal is not None:
            self._journal.append("order", now, update)
        return self._on_order_update(update, now)

    def count_repeated_update(self) -> None:
        """Count an order update the caller recognised as repeating what an order already shows and did not pass
        in (a stream's copy of an answer already applied): the counters read as if it had been processed.

        Not journaled (see the module doc): after a restore the two counters no longer include these repeats."""
        self.updates_processed += 1
        self.duplicate_updates += 1

    def process_trade_update(self, trade: TradeUpdate) -> list[Event]:
        """Apply one fill (found by client id, else exchange id); duplicates by trade id are ignored."""
        now = self._clock()
        if self._journal is not None:
            self._journal.append("trade", now, trade)
        return self._on_trade(trade, now)

    def process_not_found(self, client_order_id: str) -> list[Event]:
        """The venue said it does not know this order.  At ``not_found_limit`` in a row: ``OrderLost``."""
        now = self._clock()
        if self._journal is not None:
            self._journal.append("not_found", now, client_order_id)
        return self._on_not_found(client_order_id, now)

    def start_cancel(self, client_order_id: str) -> bool:
        """Record that a cancel is being sent.  Returns ``False`` if there is nothing to cancel (unknown id,
        terminal, or the venue already said FILLED), else ``True``; a live order now shows PENDING_CANCEL.

        Allowed from PENDING_CREATE and UNKNOWN too (cancel-by-client-id of an order whose fate is open): the
        flag is kept and the order shows PENDING_CANCEL once the venue shows it live.
        """
        now = self._clock()
        if self._journal is not None:
            self._journal.append("cancel", now, client_order_id)
        return self._on_start_cancel(client_order_id, now)

    def process_cancel_rejected(self, client_order_id: str, reason: str | None = None) -> list[Event]:
        """The venue refused a cancel (``reason``: its text).  Clears the cancel request and returns one
        ``CancelRejected`` while the order is active; never fails the order (the refusal usually means it
        already filled or was canceled; its status and fills will say which).  Nothing for an unknown order or
        one already known to be finished (see the module doc)."""
        now = self._clock()
        if self._journal is not None:
            self._journal.append("cancel_rejected", now, (client_order_id, reason))
        return self._on_cancel_rejected(client_order_id, reason, now)

    def process_modify_rejected(
        self, client_order_id: str, reason: str, requested_price: Decimal | None = None,
        requested_amount: Decimal | None = None,
    ) -> list[Event]:
        """A modify of this order did not apply (``reason``: the venue's text, or why the caller knows).  The order
        is left as it is; one ``ModifyRejected`` (its unchanged price/amount next to the requested ones) is
        returned while it is live, nothing for an unknown or finished order (see the module doc).

        Call it after feeding the order's current venue status: the refusal of a Hyperliquid modify may have
        ended the order (cancel + place), and the event must not claim a quote that is gone."""
        now = self._clock()
        if self._journal is not None:
            self._journal.append("modify_rejected", now, (client_order_id, reason, requested_price, requested_amount))
        return self._on_modify_rejected(client_order_id, reason, requested_price, requested_amount, now)

    def poll(self, now: float) -> list[Event]:
        """Expire what is due at ``now`` (caller's clock): fill waits, orphan buffers, finished-order cache."""
        events: list[Event] = []
        now = float(now)
        changed = self._on_poll(now, events)
        if changed and self._journal is not None:
            self._journal.append("poll", now, None)
        return events

    def replay(self, kind: str, now: float, payload: Any) -> list[Event]:
        """Apply one journal record (``Journal.restore`` uses this; the record is not re-journaled)."""
        if kind == "order":
            return self._on_order_update(payload, now)
        if kind == "trade":
            return self._on_trade(payload, now)
        if kind == "track":
            return self._track(payload if isinstance(payload, InFlightOrder) else _intent_order(payload), now)
        if kind == "not_found":
            return self._on_not_found(payload, now)
        if kind == "cancel":
            self._on_start_cancel(payload, now)
            return []
        if kind == "cancel_rejected":
            return self._on_cancel_rejected(payload[0], payload[1], now)
        if kind == "modify_rejected":
            cid, reason, price, amount = payload
            return self._on_modify_rejected(cid, reason, price, amount, now)
        if kind == "poll":
            events: list[Event] = []
            self._on_poll(now, events)
            return events
        raise ValueError(f"unknown journal record kind {kind!r}")

    # ------------------------------------------------------------------ internals: tracking

    def _track(self, order: InFlightOrder, now: float) -> list[Event]:
        cid = order.client_order_id
        self._active[cid] = order
        self.orders_tracked += 1
        if order.exchange_order_id is not None:
            self._by_eid[order.exchange_order_id] = order
        events: list[Event] = []
        if self._orphan_by_cid and cid in self._orphan_by_cid:
            self._match_orphans(self._orphan_by_cid.pop(cid), now, events)
        if order.exchange_order_id is not None and self._orphan_by_eid:
            ids = self._orphan_by_eid.pop(order.exchange_order_id, None)
            if ids:
                self._match_orphans(ids, now, events)
        return events

    def _find(self, cid: str | None, eid: str | None) -> InFlightOrder | None:
        if cid is not None:
            order = self._active.get(cid)
            if order is not None:
                return order
            order = self._finished.get(cid)
            if order is not None:
                return order
        if eid is not None:
            return self._by_eid.get(eid)
        return None

    def _set_exchange_id(self, order: InFlightOrder, eid: str, now: float, events: list[Event]) -> None:
        old = order.exchange_order_id
        if old is not None:
            previous = (*order.previous_exchange_ids, old)
            if len(previous) > MAX_PREVIOUS_IDS:
                # Bounded: an order re-priced all day must not grow without limit.  Messages quoting an id this
                # old are long stale; fills still find the order by its client id.
                for gone in previous[:-MAX_PREVIOUS_IDS]:
                    if self._by_eid.get(gone) is order:
                        del self._by_eid[gone]
                previous = previous[-MAX_PREVIOUS_IDS:]
            order.previous_exchange_ids = previous
            order.executed_before_rekey = order.executed_amount
        order.exchange_order_id = eid
        self._by_eid[eid] = order
        if self._orphan_by_eid:
            ids = self._orphan_by_eid.pop(eid, None)
            if ids:
                self._match_orphans(ids, now, events)

    # ------------------------------------------------------------------ internals: status updates

    def _on_order_update(self, u: OrderUpdate, now: float) -> list[Event]:
        self.updates_processed += 1
        order = self._find(u.client_order_id, u.exchange_order_id)
        if order is None:
            return self._buffer_orphan(u, now)
        events: list[Event] = []
        state = order.state
        target = u.new_state
        eid = u.exchange_order_id
        # a message quoting a pre-modify id is stale: it must not re-key the order back
        pending_eid = eid is not None and eid != order.exchange_order_id and eid not in order.previous_exchange_ids
        if target is not _UNKNOWN and target is not _PENDING_CREATE and order.not_found_count:
            self._clear_not_found(order)
        if state in _TERMINAL:
            # Absorbing.  A duplicate terminal status is expected (stream + REST + reconcile); a different one
            # means we (or the venue) got something wrong: report it, keep the first verdict.
            if pending_eid and eid is not None:
                self._set_exchange_id(order, eid, now, events)
            if target is state:
                self.duplicate_updates += 1
            else:
                self._refuse(order, target, u, events)
            return events
        if target in LIVE_STATES:
            if target is _PENDING_CANCEL:
                order.cancel_requested = True
            target = self._live_state(order)
            if pending_eid and eid is not None:
                self._ensure_created(order, u.timestamp, events, eid)
                self._set_exchange_id(order, eid, now, events)
                if order.state in _TERMINAL:  # a buffered fill completed it
                    return events
                state = order.state
                target = self._live_state(order)
            # A modify confirmation quoting a pre-modify id is an older modify repeated late (by the stream, say):
            # applying its amount would roll the order back to a size the venue no longer has.
            if (u.amount is not None or u.price is not None) and not (
                eid is not None and eid in order.previous_exchange_ids
            ):
                self._modify(order, u, events)
            if target is state:
                if not pending_eid:
                    self.duplicate_updates += 1
                return events
            if target not in TRANSITIONS[state]:
                self._refuse(order, target, u, events)
                return events
            self._ensure_created(order, u.timestamp, events, eid)
            self._set_state(order, target, now)
            return events
        if target is _UNKNOWN or target is _PENDING_CREATE:
            if pending_eid and eid is not None:
                self._set_exchange_id(order, eid, now, events)
                if order.state in _TERMINAL:  # a buffered fill completed it: nothing is unknown any more
                    return events
                state = order.state
            if target is state:
                self.duplicate_updates += 1
                return events
            if target not in TRANSITIONS[state]:
                self._refuse(order, target, u, events)
                return events
            self._set_state(order, target, now)
            events.append(OrderUnknown(order.client_order_id, order.pair, u.timestamp, u.reason or "outcome unknown"))
            return events
        # terminal target
        if target is _CANCELED and eid is not None and eid in order.previous_exchange_ids:
            # The cancel of a pre-modify id is the venue retiring that id (a modify is cancel + place), not the
            # order's end: the order lives on under its new id.
            self.refused_transitions += 1
            return events
        if order.fill_wait_deadline is not None:
            if target is order.fill_wait_state:
                self.duplicate_updates += 1
            elif target is _FILLED and order.fill_wait_state is _CANCELED:
                self._await_fills(order, now, _FILLED, order.amount)  # the whole amount after all
            else:
                self._refuse(order, target, u, events)
            return events
        if target is not _FAILED:
            self._ensure_created(order, u.timestamp, events, eid)
        if pending_eid and eid is not None:
            self._set_exchange_id(order, eid, now, events)
            if order.state in _TERMINAL:  # a buffered fill completed it first
                if order.state is not target:
                    self._refuse(order, target, u, events)
                return events
        if u.reason is not None:
            order.reason = u.reason
        if target is _FILLED and order.executed_amount < order.amount:
            self._await_fills(order, now, _FILLED, order.amount)
            return events
        # ``executed`` counts the venue's current id only; after a modify, what executed before it is added.
        if target is _CANCELED and u.executed is not None:
            need = min(order.executed_before_rekey + u.executed, order.amount)
            if order.executed_amount < need:
                self._await_fills(order, now, _CANCELED, need)
                return events
        self._finish(order, target, now)
        events.append(self._terminal_event(order, target, u.timestamp, None))
        return events

    def _live_state(self, order: InFlightOrder) -> OrderState:
        if order.cancel_requested:
            return _PENDING_CANCEL
        return _PARTIAL if order.executed_amount else _OPEN

    def _ensure_created(self, order: InFlightOrder, ts: float, events: list[Event], eid: str | None) -> None:
        if not order.created_emitted:
            order.created_emitted = True
            events.append(OrderCreated(
                order.client_order_id, order.pair, ts, eid if eid is not None else order.exchange_order_id,
                order.side, order.order_type, order.amount, order.price,
            ))

    def _set_state(self, order: InFlightOrder, new: OrderState, now: float) -> None:
        old = order.state
        order.state = new
        order.last_update = now
        self.transitions += 1
        if old is _UNKNOWN:
            self._unknown.pop(order.client_order_id, None)
        elif new is _UNKNOWN:
            self._unknown[order.client_order_id] = order

    def _refuse(self, order: InFlightOrder, target: OrderState, u: OrderUpdate, events: list[Event]) -> None:
        """Count a refused update; report it as an anomaly only when it contradicts a *verdict*.

        A stale live status for a terminal order, or a submit timeout (UNKNOWN) for an order the stream
        already showed live, are ordinary races between the stream, REST answers and reconciliation:
        counted, not reported.  Two different terminal verdicts (CANCELED after FILLED...) are a real
        inconsistency the user must hear about.
        """
        self.refused_transitions += 1
        if target not in _TERMINAL:
            return
        status = f" (venue status {u.venue_status!r})" if u.venue_status else ""
        detail = f"{order.state.name} -> {target.name}{status} refused by the transition table"
        if order.fill_wait_deadline is not None:
            detail += "; the venue already reported FILLED"
        events.append(OrderAnomaly(order.client_order_id, order.pair, u.timestamp, "transition_refused", detail))

    def _modify(self, order: InFlightOrder, u: OrderUpdate, events: list[Event]) -> None:
        amount = u.amount if u.amount is not None else order.amount
        if amount <= order.executed_amount or amount <= 0 or (u.price is not None and u.price <= 0):
            self.refused_transitions += 1
            events.append(OrderAnomaly(
                order.client_order_id, order.pair, u.timestamp, "modify_refused",
                f"modify to amount {amount} price {u.price} with {order.executed_amount} executed",
            ))
            return
        order.amount = self._interner(amount)
        if u.price is not None:
            order.price = self._interner(u.price)
        self.modifies += 1
        self._ensure_created(order, u.timestamp, events, order.exchange_order_id)
        events.append(OrderModified(
            order.client_order_id, order.pair, u.timestamp, order.exchange_order_id, order.amount, order.price,
        ))

    def _await_fills(self, order: InFlightOrder, now: float, verdict: OrderState, amount: Decimal) -> None:
        """A verdict ahead of its fills (FILLED; CANCELED with a known executed total): hold the terminal event
        until the fills covering ``amount`` arrive, so it reports the true executed amount."""
        live = self._live_state(order)
        if order.state is not live and live in TRANSITIONS[order.state]:
            self._set_state(order, live, now)
        if order.fill_wait_deadline is None:
            order.fill_wait_deadline = now + self._config.fill_wait_timeout
        order.fill_wait_state = verdict
        order.fill_wait_amount = amount
        self._fill_waits[order.client_order_id] = order

    def _finish(self, order: InFlightOrder, state: OrderState, now: float) -> None:
        self._set_state(order, state, now)
        cid = order.client_order_id
        order.finished_at = now
        order.cancel_requested = False
        if order.fill_wait_deadline is not None:
            order.fill_wait_deadline = None
            order.fill_wait_state = order.fill_wait_amount = None
            del self._fill_waits[cid]
        if order.is_lost:
            order.is_lost = False
            del self._lost[cid]
        del self._active[cid]
        self._finished[cid] = order
        if len(self._finished) > self._config.max_finished:
            self._evict(next(iter(self._finished.values())))

    def _terminal_event(self, order: InFlightOrder, state: OrderState, ts: float, trade: TradeUpdate | None) -> Event:
        cid = order.client_order_id
        if state is _FILLED:
            avg = order.average_price
            return OrderFilled(
                cid, order.pair, ts, order.exchange_order_id, order.side, order.executed_amount,
                avg if avg is not None else _ZERO, order.total_fee, trade,
            )
        if state is _CANCELED:
            return OrderCancelled(cid, order.pair, ts, order.exchange_order_id, order.executed_amount, order.reason)
        return OrderFailed(cid, order.pair, ts, order.reason or "rejected")

    # ------------------------------------------------------------------ internals: fills

    def _on_trade(self, t: TradeUpdate, now: float) -> list[Event]:
        self.trades_processed += 1
        order = self._find(t.client_order_id, t.exchange_order_id)
        if order is None:
            return self._buffer_orphan(t, now)
        return self._apply_fill(order, t, now)

    def _apply_fill(self, order: InFlightOrder, t: TradeUpdate, now: float) -> list[Event]:
        records = order.fill_records
        events: list[Event] = []
        key: str | None = t.trade_id
        if records is not None:
            if isinstance(records, tuple):
                if records[0] == key:
                    key = self._collision_key(order, {records[0]: records}, t, events)
            elif key in records:
                key = self._collision_key(order, records, t, events)
        if key is None:
            self.duplicate_fills += 1
            return []
        amount = t.fill_amount
        price = t.fill_price
        if not amount > 0 or not price > 0:
            self.invalid_fills += 1
            events.append(OrderAnomaly(order.client_order_id, order.pair, t.timestamp, "invalid_fill",
                                       f"trade {t.trade_id}: amount {amount} price {price}"))
            return events
        if key != t.trade_id:
            t = attrs.evolve(t, trade_id=key)  # downstream de-duplication by trade id must not drop it either
        share = self._share
        amount = share(str(amount), amount)
        price = share(str(price), price)
        fee = t.fee
        fee = share(str(fee), fee)
        self.fills_applied += 1
        if order.not_found_count:
            self._clear_not_found(order)
        prior = order.executed_amount
        if prior:
            executed = prior + amount  # (later fills: sums are rarer alike, not worth a lookup each)
            order.notional += price * amount
        else:
            executed = prior + amount
            if not executed.compare_total(amount):
                executed = amount  # the fill's own (shared) object when the sum is it to the digit
            notional = order.notional + price * amount
            order.notional = share(str(notional), notional)
            # The order's own terms too, now rather than on ``buy()``'s path (two lookups, ~0.3 us there): an order
            # that fills is the one kept longest (then in the finished cache, ``finished_ttl``).
            terms = order.amount
            order.amount = share(str(terms), terms)
            limit = order.price
            if limit is not None:
                order.price = share(str(limit), limit)
        fee_asset = t.fee_asset
        if order.fee_asset == fee_asset:
            order.fee += fee
            fee_asset = order.fee_asset
        elif order.fee_asset is None:
            order.fee_asset = fee_asset = sys.intern(fee_asset)
            order.fee = fee
        else:
            others = order.other_fees
            if others is None:
                order.other_fees = others = {}
            others[fee_asset] = others.get(fee_asset, _ZERO) + fee
        # The record shares what the order already holds (equal strings from a wire parser are separate objects).
        pair, cid, eid = t.pair, t.client_order_id, t.exchange_order_id
        if pair is not order.pair and pair == order.pair:
            pair = order.pair
        if cid is not None and cid is not order.client_order_id and cid == order.client_order_id:
            cid = order.client_order_id
        if eid is not None and eid is not order.exchange_order_id and eid == order.exchange_order_id:
            eid = order.exchange_order_id
        record: FillRecord = (key, pair, price, amount, fee, fee_asset, t.timestamp, cid, eid, t.is_taker, t.side)
        if records is None:
            order.fill_records = record
        elif isinstance(records, tuple):
            order.fill_records = {records[0]: records, key: record}
        else:
            records[key] = record
        if not self.fills_applied & 63:
            self._interner.trim()  # (a fill adds at most five entries: checking every 64th bounds the overshoot)
        if executed > order.amount:
            excess = executed - order.amount
            order.overfill_amount += excess
            executed = order.amount
            self.overfills += 1
            events.append(OrderAnomaly(
                order.client_order_id, order.pair, t.timestamp, "overfill",
                f"trade {t.trade_id} fills {amount}; executed would be {order.amount + order.overfill_amount} "
                f"of {order.amount} (excess {excess} kept in overfill_amount)",
            ))
        order.executed_amount = executed
        order.last_update = now
        if order.exchange_order_id is None and t.exchange_order_id is not None:
            self._set_exchange_id(order, t.exchange_order_id, now, events)
        state = order.state
        if state in _TERMINAL:
            self.late_fills += 1
            events.append(LateFill(order.client_order_id, order.pair, t.timestamp, t, state, executed))
            return events
        self._ensure_created(order, t.timestamp, events, order.exchange_order_id)
        if executed == order.amount:
            self._finish(order, _FILLED, now)
            events.append(self._terminal_event(order, _FILLED, t.timestamp, t))
            return events
        wait_amount = order.fill_wait_amount
        if order.fill_wait_state is _CANCELED and wait_amount is not None and executed >= wait_amount:
            self._finish(order, _CANCELED, now)
            events.append(OrderPartiallyFilled(
                order.client_order_id, order.pair, t.timestamp, t, executed, order.amount - executed,
            ))
            events.append(self._terminal_event(order, _CANCELED, t.timestamp, None))
            return events
        target = self._live_state(order)
        if target is not state and target in TRANSITIONS[state]:
            self._set_state(order, target, now)
        events.append(OrderPartiallyFilled(
            order.client_order_id, order.pair, t.timestamp, t, executed, order.amount - executed,
        ))
        return events

    def _collision_key(self, order: InFlightOrder, fills: dict[str, FillRecord], t: TradeUpdate,
                       events: list[Event]) -> str | None:
        """``t``'s trade id is taken on this order: None if ``t`` repeats a fill already applied, else the key
        to apply it under (``"<trade id>~<n>"``, which also becomes the trade id the events carry, so a consumer
        that de-duplicates by trade id keeps it), with ``OrderAnomaly(kind="fill_collision")`` naming both fills.

        A fill with the same trade id but another size, price, side, oid or time is not a re-delivery: dropping
        it would hide a position change, so it is applied and reported (PROTOCOL §8.4)."""
        first = TradeUpdate(*fills[t.trade_id])
        if _same_fill(first, t):
            return None
        n = 1
        while (key := f"{t.trade_id}~{n}") in fills:
            if _same_fill(TradeUpdate(*fills[key]), t):
                return None
            n += 1
        self.fill_collisions += 1
        events.append(OrderAnomaly(
            order.client_order_id, order.pair, t.timestamp, "fill_collision",
            f"trade {t.trade_id} seen twice with different fills; both applied: {_fill_text(first)} and "
            f"{_fill_text(t)}",
        ))
        return key

    # ------------------------------------------------------------------ internals: not found, cancel

    def _on_not_found(self, cid: str, now: float) -> list[Event]:
        order = self._active.get(cid)
        if order is None or order.fill_wait_deadline is not None:
            return []
        order.not_found_count += 1
        order.last_update = now
        if order.not_found_count >= self._config.not_found_limit and not order.is_lost:
            order.is_lost = True
            self._lost[cid] = order
            self.lost_total += 1
            return [OrderLost(cid, order.pair, now, order.not_found_count)]
        return []

    def _clear_not_found(self, order: InFlightOrder) -> None:
        order.not_found_count = 0
        if order.is_lost:
            order.is_lost = False
            self._lost.pop(order.client_order_id, None)

    def _on_start_cancel(self, cid: str, now: float) -> bool:
        order = self._active.get(cid)
        if order is None or order.fill_wait_deadline is not None:
            return False
        order.cancel_requested = True
        order.last_update = now
        if order.state in LIVE_STATES and order.state is not _PENDING_CANCEL:
            self._set_state(order, _PENDING_CANCEL, now)
        return True

    def _on_cancel_rejected(self, cid: str, reason: str | None, now: float) -> list[Event]:
        self.cancels_rejected += 1
        order = self._active.get(cid)
        if order is None:
            return []  # unknown, or finished: its terminal event already answered the cancel
        if order.cancel_requested:
            order.cancel_requested = False
            order.last_update = now
            if order.state is _PENDING_CANCEL:
                self._set_state(order, self._live_state(order), now)
        # (no request outstanding: the order was cancelled twice and this answers the second cancel)
        if order.fill_wait_deadline is not None:
            return []  # the venue's verdict is in; the terminal event follows with the fills and answers it
        return [CancelRejected(cid, order.pair, now, reason or "cancel refused", order.state, order.exchange_order_id)]

    def _on_modify_rejected(self, cid: str, reason: str, price: Decimal | None, amount: Decimal | None,
                            now: float) -> list[Event]:
        self.modifies_rejected += 1
        order = self._active.get(cid)
        if order is None or order.state not in LIVE_STATES or order.fill_wait_deadline is not None:
            # Unknown, finished (its terminal event tells: on Hyperliquid a refused modify may have cancelled the
            # old order), or the venue's FILLED/CANCELED verdict is in and only its fills are awaited.
            return []
        return [ModifyRejected(cid, order.pair, now, reason or "modify refused", order.state, order.exchange_order_id,
                               order.price, order.amount, price, amount)]

    # ------------------------------------------------------------------ internals: orphans & expiry

    def _buffer_orphan(self, msg: OrderUpdate | TradeUpdate, now: float) -> list[Event]:
        cid, eid = msg.client_order_id, msg.exchange_order_id
        events: list[Event] = []
        if cid is None and eid is None:
            self._report_orphan(msg, events)
            return events
        if isinstance(msg, TradeUpdate):
            key = _orphan_trade_key(msg)
            if key in self._orphan_trade_keys:
                self.duplicate_fills += 1
                return events
        self._orphan_seq += 1
        oid = self._orphan_seq
        self._orphans[oid] = (now, msg)
        if isinstance(msg, TradeUpdate):
            self._orphan_trade_keys[_orphan_trade_key(msg)] = oid
        if cid is not None:
            self._orphan_by_cid.setdefault(cid, []).append(oid)
        if eid is not None:
            self._orphan_by_eid.setdefault(eid, []).append(oid)
        while len(self._orphans) > self._config.max_orphans:
            first = next(iter(self._orphans))
            self._report_orphan(self._drop_orphan(first), events)
        return events

    def _drop_orphan(self, oid: int) -> OrderUpdate | TradeUpdate:
        _, msg = self._orphans.pop(oid)
        if isinstance(msg, TradeUpdate):
            self._orphan_trade_keys.pop(_orphan_trade_key(msg), None)
        for index, key in ((self._orphan_by_cid, msg.client_order_id), (self._orphan_by_eid, msg.exchange_order_id)):
            if key is not None:
                ids = index.get(key)
                if ids is not None:
                    if oid in ids:
                        ids.remove(oid)
                    if not ids:
                        del index[key]
        return msg

    def _match_orphans(self, ids: list[int], now: float, events: list[Event]) -> None:
        for oid in sorted(ids):
            if oid not in self._orphans:
                continue
            msg = self._drop_orphan(oid)
            self.orphans_matched += 1
            if isinstance(msg, TradeUpdate):
                self.trades_processed -= 1  # counted when it first arrived
                events.extend(self._on_trade(msg, now))
            else:
                self.updates_processed -= 1
                events.extend(self._on_order_update(msg, now))

    def _report_orphan(self, msg: OrderUpdate | TradeUpdate, events: list[Event]) -> None:
        if isinstance(msg, TradeUpdate):
            self.unmatched_fills += 1
            events.append(UnmatchedFill(msg.client_order_id or "", msg.pair, msg.timestamp, msg, msg.exchange_order_id))
        else:
            self.unmatched_updates += 1
            events.append(OrderAnomaly(
                msg.client_order_id or "", msg.pair, msg.timestamp, "unmatched_update",
                f"{msg.new_state.name} for unknown order (exchange id {msg.exchange_order_id!r})",
            ))

    def _evict(self, order: InFlightOrder) -> None:
        del self._finished[order.client_order_id]
        self.finished_evicted += 1
        for eid in (order.exchange_order_id, *order.previous_exchange_ids):
            if eid is not None and self._by_eid.get(eid) is order:
                del self._by_eid[eid]

    def _on_poll(self, now: float, events: list[Event]) -> bool:
        changed = False
        if self._fill_waits:
            due = [o for o in self._fill_waits.values() if o.fill_wait_deadline is not None
                   and o.fill_wait_deadline <= now]
            for order in due:
                changed = True
                self.fill_wait_timeouts += 1
                verdict = order.fill_wait_state or _FILLED
                events.append(OrderAnomaly(
                    order.client_order_id, order.pair, now, "fill_timeout",
                    f"{verdict.name} without fills covering {order.fill_wait_amount}: {order.executed_amount} of "
                    f"{order.amount} after {self._config.fill_wait_timeout}s; later fills are reported as LateFill",
                ))
                self._finish(order, verdict, now)
                events.append(self._terminal_event(order, verdict, now, None))
        ttl = self._config.orphan_ttl
        while self._orphans:
            oid, (arrived, _) = next(iter(self._orphans.items()))
            if arrived + ttl > now:
                break
            changed = True
            self._report_orphan(self._drop_orphan(oid), events)
        ttl = self._config.finished_ttl
        while self._finished:
            order = next(iter(self._finished.values()))
            if order.finished_at is not None and order.finished_at + ttl > now:
                break
            changed = True
            self._evict(order)
        return changed


def _same_fill(a: TradeUpdate, b: TradeUpdate) -> bool:
    """Whether ``b`` re-delivers fill ``a`` (same trade id assumed): same size, price and time, and the same
    side and exchange order id where both say (a fill found by client id may lack the exchange id)."""
    return (
        a.fill_amount == b.fill_amount
        and a.fill_price == b.fill_price
        and a.timestamp == b.timestamp
        and (a.side is None or b.side is None or a.side is b.side)
        and (a.exchange_order_id is None or b.exchange_order_id is None or a.exchange_order_id == b.exchange_order_id)
    )


def _fill_text(t: TradeUpdate) -> str:
    side = "?" if t.side is None else t.side.name
    return f"[{side} {t.fill_amount} @ {t.fill_price} oid {t.exchange_order_id} t={t.timestamp}]"


def _orphan_trade_key(t: TradeUpdate) -> tuple[Any, ...]:
    """The orphan buffer's duplicate key: a re-delivery matches on every field :func:`_same_fill` compares, so
    a same-id fill that differs is buffered too (and reported as a collision when its order applies it)."""
    return (t.trade_id, t.client_order_id, t.exchange_order_id, t.fill_amount, t.fill_price, t.timestamp, t.side)


def _copy_order(order: InFlightOrder) -> InFlightOrder:
    records = order.fill_records
    return attrs.evolve(
        order,
        fill_records=dict(records) if isinstance(records, dict) else records,
        other_fees=None if order.other_fees is None else dict(order.other_fees),
    )


def _intent_order(intent: tuple[Any, ...]) -> InFlightOrder:
    """The order an intent describes: a decoded journal record (enum members) or one still buffered (enum values,
    see :func:`_order_intent`); ``Side(x)`` takes either."""
    cid, pair, side, order_type, amount, price, tif, action, created_at, last_update, eid = intent
    return InFlightOrder(
        client_order_id=cid, pair=pair, side=Side(side), order_type=OrderType(order_type), amount=amount, price=price,
        tif=TimeInForce(tif), position_action=PositionAction(action), created_at=created_at, last_update=last_update,
        exchange_order_id=eid,
    )


def _order_intent(order: InFlightOrder) -> tuple[Any, ...]:
    """What ``start_tracking`` journals: the order's fields as of now (the live object changes later).

    A plain tuple because this sits on ``buy()``'s path (``Journal`` encodes it at flush time), holding the enums'
    values rather than the members: a tuple of strings, Decimals, floats and None is untracked by the garbage
    collector at its first pass, so 50 000 intents waiting for a flush are not re-scanned by every later pass
    (members are objects with a ``__dict__``, which would keep the tuple tracked)."""
    return (
        order.client_order_id, order.pair, order.side._value_, order.order_type._value_, order.amount, order.price,
        order.tif._value_, order.position_action._value_, order.created_at, order.last_update,
        order.exchange_order_id,
    )
