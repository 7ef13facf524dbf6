"""The submit worker: queued order intents → signed, batched actions → tracker updates.

Rules followed (PROTOCOL §4, §8; DESIGN §3):

* **Track before submit.**  ``buy()`` has already tracked and journaled the order when its request reaches this
  queue; the worker flushes the journal right before each send, so an order that reaches the venue is always
  on disk - and so is the nonce of the order action carrying it (``note_sending``, written into that same
  flush: a restart can then probe the nonce, see below).
* **Batching.**  Whatever is queued when the worker wakes is grouped into one action per kind (orders,
  cancels by cloid, batch modifies), at most ``max_batch`` items each, in queue order.  A burst of 1 000
  ``buy()`` calls costs 6 signatures and 6 round trips (``max_batch`` 199), not 1 000.  Up to
  ``max_actions_in_flight`` order and modify actions are on the wire at once, and as many cancel actions:
  cancels travel on their own lane so a backed-up order lane never delays them, and a cancel waits for the
  answer to its own order's placement so it can never overtake it.
* **What is definitive.**  A per-order ``error`` status or a whole-action ``status:"err"`` means the venue did not
  apply it: the orders become FAILED (nonce and rate-limit refusals are re-signed with a fresh nonce and sent
  again instead, because the intent is still valid and nothing landed).  Not-sent transport failures are retried
  the same way.  Anything after the bytes left — a timeout, a dropped socket, a 5xx — is **ambiguous**: the
  orders become UNKNOWN and go to the resolver, never to FAILED and never back to the wire.
* **Resolution of UNKNOWN** (:meth:`SubmitWorker.resolve`): ask ``orderStatus`` by cloid for each order.  Found ⇒
  apply it.  Not found ⇒ sign a ``noop`` with the *same nonce* as the ambiguous action.  Accepted ⇒ that nonce is
  now used by the noop, so the original can never land ⇒ the orders are sent again once with a fresh nonce (the
  intent is still the user's; no duplicate is possible), or FAILED if the user cancelled meanwhile.  Refused as a
  duplicate ⇒ the original landed ⇒ its orders either exist (keep asking) or were refused by the matching
  engine; after ``landed_polls`` more not-found answers they are FAILED with that reason - unless one of our
  own probes was ambiguous (it may be the one that used the nonce): then the original can no longer land and
  the venue has no record, so the orders are sent again.  Refused as too low ⇒ the nonce fell out of the
  venue's window, so the original can no longer land either ⇒ sent again.
* **Orders restored from the journal without an answer**: the connector settles those whose submission this
  signer journaled in bulk, behind a nonce fence (``trio_hl.hyperliquid.settle``).  The others - an older
  journal, another signer - come here (:meth:`SubmitWorker.add_unresolved`) and are resolved by asking only:
  ``landed_polls`` not-found rounds, then FAILED.  ``add_unresolved`` with a ``nonce`` still gets the live
  probe treatment (asked, then a noop of that nonce if it is well inside the venue's window: accepted fails
  them at once, "already used" means they landed; a probe refused as too low leaves it to asking, since the
  nonce may only have dropped below the venue's 100 highest).
* **Unsure cancels** - ambiguous, never sent, or refused for a passing reason (a rate limit, a nonce race) - are
  checked with ``orderStatus`` one resolve period later and sent again while the order is still open, for as
  long as that takes (the stream alone would never report a cancel that did not land, and a kill switch must
  not give up during a rate limit).  A rate-limited cancel is not retried in a burst: the refusal marks the
  cancel budget spent, so the re-send waits for the venue's throttled pace (one request per 10 s).  Only a
  definitive refusal (bad signature, unknown signer…) or a per-order error is reported as a rejected cancel.
  One cancel per order at a time: the connector does not queue another while one is under way.
* **Modifies that did not apply are answered** (``"modify_rejected"`` → ``ModifyRejected``), never dropped:
  a strategy re-quoting by ``modify()`` must learn that its order still rests at the old price.  A Hyperliquid
  modify is cancel + place, so a per-order refusal (a post-only re-price that would cross, too little
  margin...) usually means the venue has already cancelled the old order too (the emulator does exactly
  that): the order's status is re-read first, and the refusal is reported only if the order still rests -
  otherwise its terminal event is the answer.  Until that read the modify stays under way (the old order's
  ``canceled`` is taken for the modify's own leg), and the read - the venue's latest order of the client id -
  is applied as the truth: a refused re-price ends the order once, as the venue says (its refused order,
  ``badAloPxRejected``...), never as a CANCELED contradicted by a FAILED a moment later.  A refusal of the
  whole action, or a modify that never reached the venue, touched nothing: reported at once.  An ambiguous
  modify (timeout, 5xx, unreadable or missing answer) is settled by the re-read: the order under its old
  exchange id ⇒ it did not land (reported); under a new one at the requested price ⇒ it landed (applied as
  the answer would have been, ``OrderModified``).  A re-read that fails is retried by the resolver one period
  later, until it answers (the modify stays under way meanwhile).

Rejected alternative: resubmitting an order whose submission timed out (with the same cloid, hoping the venue
deduplicates).  Hyperliquid rejects a duplicate cloid only while the first order is still open; a first order
that filled at once would be doubled.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, NamedTuple

import attrs
import trio

from trio_hl.core.events import Event
from trio_hl.core.types import OrderState
from trio_hl.core.updates import OrderUpdate
from trio_hl.errors import (
    AmbiguousOutcomeError,
    InvalidOrderError,
    JournalError,
    ProtocolError,
    RateLimitedError,
    TransportError,
    VenueRejectedError,
    WireFormatError,
)
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.backoff import Backoff, BackoffPolicy
from trio_hl.hyperliquid.messages import (
    HISTORICAL_ORDERS_LIMIT,
    ExchangeStatusKind,
    OrderSnapshot,
    OrderStatusResult,
    parse_cancel_statuses,
    parse_exchange_order_statuses,
    parse_historical_orders,
    parse_order_status_response,
)
from trio_hl.hyperliquid.nonce import NonceService, within_window
from trio_hl.hyperliquid.ratelimit import AddressBudget
from trio_hl.hyperliquid.signing import Signer, sign_l1_action
from trio_hl.hyperliquid.statuses import ActionErrorKind, ActionRejectedError, classify_action_error

__all__ = ["PROBE_WINDOW_MARGIN_MS", "CancelRequest", "ModifyRequest", "PlaceRequest", "SubmitStats", "SubmitWorker"]

logger = logging.getLogger("trio_hl.submit")
_RESTING: Final = ExchangeStatusKind.RESTING

#: Not-sent failures (connect refused, 429) of one action retried before its orders are FAILED.
MAX_SEND_ATTEMPTS: Final = 12
#: An ambiguous action (or a restart's restored orders) with at least this many orders is looked up with one
#: ``historicalOrders`` call rather than an ``orderStatus`` per order.
_HISTORY_LOOKUP_MIN: Final = 10
#: A restored nonce is probed only if it is at least this far inside the venue's window (now - 2 days, now +
#: 1 day): room for the time until the probe reaches the venue and for a venue clock a little off ours.
PROBE_WINDOW_MARGIN_MS: Final = 10 * 60 * 1000


class PlaceRequest(NamedTuple):
    """One order to place: its client id, pair and wire terms (quantized: valid for the asset).  ``order`` is the
    wire dict, built when the action is: ``buy()`` builds this one tuple and formats no number - the worker does
    that for the whole batch right before signing.  (A named tuple, not an attrs class: a third of the
    constructor's cost, and one container allocation per ``buy()`` instead of two - the young GC generation
    fills a third less often.)"""

    cid: str
    pair: str
    asset: int
    is_buy: bool
    price: Decimal
    size: Decimal
    reduce_only: bool
    #: ``{"limit": {"tif": ...}}`` (shared) or ``{"trigger": {...}}``.
    order_type: dict[str, Any]

    @property
    def order(self) -> dict[str, Any]:
        """The ``order`` wire dict (SDK key order); raises ``WireFormatError`` for terms the wire cannot carry."""
        return wire.order_wire(self.asset, self.is_buy, self.price, self.size, self.reduce_only, self.order_type,
                               self.cid)


@attrs.frozen
class CancelRequest:
    cid: str
    pair: str
    asset: int


@attrs.frozen
class ModifyRequest:
    """``order`` is the wire order the venue will place (its ``s`` is what is left to execute: a Hyperliquid
    modify cancels and places anew); ``total`` the order's new total amount, executed part included;
    ``replaces`` the exchange id the order had when the modify was asked for (an ambiguous modify whose
    re-read still shows that id did not land)."""

    cid: str
    pair: str
    order: dict[str, Any]
    total: Decimal | None = None
    replaces: str | None = None

    @property
    def requested_amount(self) -> Decimal:
        return self.total if self.total is not None else Decimal(self.order["s"])


SubmitRequest = PlaceRequest | CancelRequest | ModifyRequest


@attrs.frozen
class SubmitStats:
    queued: int
    actions_sent: int
    orders_sent: int
    actions_in_flight: int
    ambiguous_actions: int
    resends: int
    resubmitted: int
    unresolved: int
    #: ``noop`` probes sent with an unresolved action's nonce (answered or not).
    nonce_probes: int
    ack_latency_p50_ms: float | None
    ack_latency_p99_ms: float | None


@attrs.define
class _Ambiguous:
    """One action whose outcome is open: its nonce and the orders it carried."""

    nonce: int
    cids: list[str]
    pair_of: dict[str, str]
    #: None until the noop probe answered; then "free" (original cannot land), "used" (it landed), "too_low"
    #: (it can no longer land) or, for restored orders only, "spent" (too low: it can no longer land, whether it
    #: did is for asking to say).  "unprobed": no usable nonce, resolved by asking only.
    nonce_state: str | None = None
    landed_polls: int = 0
    #: A noop probe of this nonce was itself ambiguous: a later "used" may be our own probe, not the original.
    probe_ambiguous: bool = False
    #: The placements themselves (absent for orders restored from the journal): re-sent once proven not landed.
    requests: dict[str, PlaceRequest] = attrs.field(factory=dict)
    #: Restored from the journal after a restart (see the module doc).
    restored: bool = False


class _NotSent(Exception):
    """An action that never reached the venue after every retry (its orders are definitively not placed)."""


Transport = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
InfoCall = Callable[[Mapping[str, Any]], Awaitable[Any]]
Apply = Callable[[str, Any], list[Event]]


class SubmitWorker:
    """Drains the submit channel; signs, sends and maps answers (see module doc).  One per connector.

    Collaborators are passed in (no connector import): ``send_action(body)`` returns the venue envelope or raises
    the :mod:`trio_hl.errors` transport classes; ``info(req)`` is an idempotent ``/info`` call; ``feed(kind,
    value)`` hands an ``OrderUpdate`` (``"order"``; ``"venue_status"``: the order's status just read from the venue,
    applied as it is), a FAILED-cancel cid (``"cancel_rejected"``) or a not-found cid (``"not_found"``) to the
    tracker and publishes the events (``"modify_done"`` / ``"modify_failed"``: a modify is over / its answer did
    not confirm it; ``"modify_rejected"``: ``(cid, reason, requested price, requested amount)`` of a modify known
    not to have applied, fed after the order's re-read status).  Every cancel request ends in a
    ``"cancel_rejected"``, or in the order's end (accepted, or found finished), or is sent again.  Every modify
    ends in an applied answer, a ``"modify_rejected"``, or a re-read status that shows it landed or ended the
    order.
    """

    def __init__(
        self,
        receive: trio.MemoryReceiveChannel[SubmitRequest],
        *,
        signer: Signer,
        nonces: NonceService,
        is_mainnet: bool,
        vault_address: str | None,
        user: str,
        send_action: Transport,
        info: InfoCall,
        feed: Apply,
        before_send: Callable[[], Awaitable[None]],
        clock: Callable[[], float],
        note_sending: Callable[[Sequence[str], int], None] | None = None,
        requeue: Callable[[SubmitRequest], None] | None = None,
        budget: AddressBudget | None = None,
        still_wanted: Callable[[str], bool] | None = None,
        known_resting: Callable[[str, str], bool] | None = None,
        max_batch: int = 199,
        max_in_flight: int = 8,
        backoff: BackoffPolicy | None = None,
        resolve_interval: float = 1.0,
        landed_polls: int = 3,
    ) -> None:
        self._rx = receive
        self._signer = signer
        self._nonces = nonces
        self._mainnet = is_mainnet
        self._vault = vault_address
        self._user = user
        self._send_action = send_action
        self._info = info
        self._feed = feed
        self._before_send = before_send
        #: Journals ``(client order ids, nonce)`` of an order action; ``before_send`` then flushes it.
        self._note_sending = note_sending
        #: Requests the worker (or the connector's background tasks) send again: an unbounded internal channel,
        #: so a full user-facing queue can never make a background task raise (or drop a cancel).  ``requeue``
        #: overrides it (tests).
        self._internal_tx, self._internal_rx = trio.open_memory_channel[SubmitRequest](math.inf)
        self._requeue = requeue if requeue is not None else self._internal_tx.send_nowait
        #: The per-address action budget: orders wait (cancels first) when it runs low.
        self.budget = budget if budget is not None else AddressBudget()
        self._still_wanted = still_wanted if still_wanted is not None else (lambda _cid: True)
        #: ``known_resting(cid, eid)``: True (and counted as a duplicate) when the order already rests under that
        #: exchange id - the orderUpdates stream usually reports a new order before the action's answer does, and
        #: the answer then changes nothing: no update is built or fed for it.
        self._known_resting = known_resting
        self._resubmitted = 0
        self._clock = clock
        self._max_batch = max(1, min(max_batch, 1000))
        self._slots = trio.Semaphore(max(1, max_in_flight))
        #: Cancels have their own slots (and lane, see :meth:`run`): never stuck behind order batches.
        self._cancel_slots = trio.Semaphore(max(1, max_in_flight))
        self._lanes: tuple[trio.MemoryReceiveChannel[SubmitRequest], trio.MemoryReceiveChannel[CancelRequest]] | None
        self._lanes = None
        self._backoff = backoff if backoff is not None else BackoffPolicy(initial=0.1, maximum=5.0)
        self._resolve_interval = resolve_interval
        self._landed_polls = landed_polls
        self._carry: SubmitRequest | None = None
        #: Placements sent or queued and not yet answered; the event is made only when a cancel or modify has to
        #: wait for the answer (most never do: no per-order Event allocated on the buy() path).
        self._placing: dict[str, trio.Event | None] = {}
        self._ambiguous: list[_Ambiguous] = []
        #: Cancels whose answer was lost: checked by ``orderStatus`` and re-sent while the order is still open.
        self._unsure_cancels: dict[str, CancelRequest] = {}
        #: Failed modifies whose re-read status is still owed: ``(request, venue refusal or None, why unsure)``.
        self._unsure_modifies: list[tuple[ModifyRequest, str | None, str]] = []
        self._ambiguous_added = trio.Event()
        self._latencies: deque[float] = deque(maxlen=2048)
        self._gate_open = trio.Event()
        self._actions_sent = 0
        self._orders_sent = 0
        self._ambiguous_total = 0
        self._resends = 0
        self._in_flight = 0
        self._probes = 0

    # ------------------------------------------------------------------------------------------ the gate

    def open_gate(self) -> None:
        """Allow sending (after startup reconciliation and after every reconnect gap-fill)."""
        self._gate_open.set()

    def close_gate(self) -> None:
        if self._gate_open.is_set():
            self._gate_open = trio.Event()

    @property
    def gate_open(self) -> bool:
        return self._gate_open.is_set()

    async def wait_gate_open(self) -> None:
        """Return once sending is allowed (the gate may close and reopen any number of times meanwhile)."""
        while not self._gate_open.is_set():
            await self._gate_open.wait()

    def requeue(self, request: SubmitRequest) -> None:
        """Queue ``request`` again from inside the connector (never refused: background tasks must not fail on
        a full user-facing queue)."""
        self._requeue(request)

    def note_placing(self, cid: str) -> None:
        """Called by ``buy()``: the order's cancel must wait for the placement's answer."""
        self._placing.setdefault(cid, None)  # a waiter's event, if any, is kept: the answer sets it

    # ------------------------------------------------------------------------------------------- tasks

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send everything queued: orders and modifies on one lane, cancels on their own.

        Why two lanes: an order batch may wait - for a send slot, or for the address budget when it runs low.
        A cancel queued behind it must not wait with it (a strategy pulling quotes in a fast market, or a kill
        switch, is exactly when the order lane is backed up).  The dispatcher never blocks on cancels; the
        order lane holds as many requests as the submit queue, so a cancel is held up only when more orders
        than that are already waiting.
        """
        size = self._rx.statistics().max_buffer_size
        place_tx, place_rx = trio.open_memory_channel[SubmitRequest](size)
        cancel_tx, cancel_rx = trio.open_memory_channel[CancelRequest](math.inf)
        self._lanes = (place_rx, cancel_rx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dispatch, self._rx, place_tx, cancel_tx)
            nursery.start_soon(self._dispatch, self._internal_rx, place_tx, cancel_tx)
            nursery.start_soon(self._cancel_lane, cancel_rx, nursery)
            task_status.started()
            while True:
                batch = await self._next_batch(place_rx)
                await self._gate_open.wait()
                await self._slots.acquire()
                nursery.start_soon(self._send_batch, batch, self._slots)

    async def _dispatch(
        self,
        source: trio.MemoryReceiveChannel[SubmitRequest],
        place_tx: trio.MemorySendChannel[SubmitRequest],
        cancel_tx: trio.MemorySendChannel[CancelRequest],
    ) -> None:
        # Everything already queued moves in one go (no checkpoint in between), so the lanes see a burst as a
        # burst and batch it exactly as a single queue would.
        while True:
            request: SubmitRequest = await source.receive()
            while True:
                if isinstance(request, CancelRequest):
                    cancel_tx.send_nowait(request)  # unbounded: at most one pending cancel per tracked order
                else:
                    try:
                        place_tx.send_nowait(request)
                    except trio.WouldBlock:
                        await place_tx.send(request)
                try:
                    request = source.receive_nowait()
                except trio.WouldBlock:
                    break

    async def _cancel_lane(self, cancels: trio.MemoryReceiveChannel[CancelRequest], nursery: trio.Nursery) -> None:
        while True:
            batch: list[SubmitRequest] = [await cancels.receive()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(cancels.receive_nowait())
                except trio.WouldBlock:
                    break
            await self._gate_open.wait()
            await self._cancel_slots.acquire()
            nursery.start_soon(self._send_batch, batch, self._cancel_slots)

    async def _next_batch(self, lane: trio.MemoryReceiveChannel[SubmitRequest]) -> list[SubmitRequest]:
        first = self._carry if self._carry is not None else await lane.receive()
        self._carry = None
        batch: list[SubmitRequest] = [first]
        kind = type(first)
        while len(batch) < self._max_batch:
            try:
                item = lane.receive_nowait()
            except trio.WouldBlock:
                break
            if type(item) is not kind:
                self._carry = item
                break
            batch.append(item)
        return batch

    async def _send_batch(self, batch: list[SubmitRequest], slots: trio.Semaphore) -> None:
        self._in_flight += 1
        try:
            first = batch[0]
            if isinstance(first, PlaceRequest):
                await self._place([r for r in batch if isinstance(r, PlaceRequest)])
            elif isinstance(first, CancelRequest):
                await self._cancel([r for r in batch if isinstance(r, CancelRequest)])
            else:
                await self._modify([r for r in batch if isinstance(r, ModifyRequest)])
        finally:
            self._in_flight -= 1
            slots.release()

    # ------------------------------------------------------------------------------------------ sending

    async def _sign_and_send(
        self, action: dict[str, Any], *, nonce: int | None = None, retry_rate_limited: bool = True,
        sending: Sequence[str] | None = None,
    ) -> tuple[dict[str, Any], int]:
        """Send ``action`` until the venue answers; returns ``(envelope, nonce)`` of an ``ok`` answer.

        ``sending``: the client order ids an order action carries.  Each attempt's nonce is noted for them
        (``note_sending``) and the journal flushed (``before_send``) right before that attempt is sent, so the
        journal always names the nonce of the attempt that may have landed: an earlier attempt was refused or
        never sent, and a probe of its nonce would prove nothing about the later one.

        Raises ``AmbiguousOutcomeError`` (with ``.nonce`` set) when it may have landed, ``ActionRejectedError``
        for a refusal (its kind says whether it is definitive: retryable kinds were retried ``MAX_SEND_ATTEMPTS``
        times first - except a rate limit with ``retry_rate_limited=False``, raised at once so the caller can
        pace the next try), ``_NotSent`` when every attempt failed before reaching the venue.
        """
        backoff: Backoff | None = None  # made on the first retry (its Random seeds from OS entropy: not per send)
        fixed = nonce is not None
        attempts = 0
        while True:
            attempts += 1
            n = nonce if fixed and nonce is not None else self._nonces.next()
            signature = sign_l1_action(self._signer, action, self._vault, n, None, self._mainnet)
            body = wire.exchange_body(action, n, signature, self._vault, None)
            if sending is not None:
                if self._note_sending is not None:
                    self._note_sending(sending, n)
                await self._before_send()
            started = trio.current_time()
            try:
                envelope = await self._send_action(body)
            except AmbiguousOutcomeError as exc:
                exc.nonce = n  # type: ignore[attr-defined]
                raise
            except (RateLimitedError, TransportError) as exc:
                if fixed or attempts >= MAX_SEND_ATTEMPTS:
                    raise _NotSent(str(exc)) from exc
                self._resends += 1
                backoff = backoff if backoff is not None else Backoff(self._backoff)
                await backoff.wait()
                continue
            except (VenueRejectedError, ProtocolError) as exc:
                # A 4xx or an unparseable 200: the venue refused or garbled it.  A garbled 200 could hide a success,
                # so it is ambiguous; a 4xx is a definitive refusal of the request.
                if isinstance(exc, ProtocolError):
                    amb = AmbiguousOutcomeError(f"unreadable answer: {exc}")
                    amb.nonce = n  # type: ignore[attr-defined]
                    raise amb from exc
                raise ActionRejectedError(classify_action_error(str(exc))) from exc
            self._latencies.append(trio.current_time() - started)
            self._actions_sent += 1
            if envelope.get("status") == "err":
                error = classify_action_error(str(envelope.get("response")))
                if error.kind is ActionErrorKind.RATE_LIMITED:
                    self.budget.mark_exhausted()
                throttled = error.kind is ActionErrorKind.RATE_LIMITED and not retry_rate_limited
                if error.retryable and not fixed and not throttled and attempts < MAX_SEND_ATTEMPTS:
                    if error.kind is ActionErrorKind.NONCE_TOO_LOW and error.floor is not None:
                        self._nonces.advance_past(error.floor)
                    self._resends += 1
                    backoff = backoff if backoff is not None else Backoff(self._backoff)
                    await backoff.wait()
                    continue
                raise ActionRejectedError(error)
            return envelope, n

    async def send_single(self, action: dict[str, Any]) -> dict[str, Any]:
        """Sign and send one non-order action (``scheduleCancel``, ``updateLeverage``…) with this worker's nonces and
        retries; returns the ``ok`` envelope.  Raises ``TransportError`` if it never got through,
        ``AmbiguousOutcomeError`` or ``ActionRejectedError`` (a ``VenueRejectedError``)."""
        try:
            envelope, _ = await self._sign_and_send(action)
        except _NotSent as exc:
            raise TransportError(str(exc)) from exc
        return envelope

    async def _place(self, batch: list[PlaceRequest]) -> None:
        orders: list[dict[str, Any]] = []
        unsendable: list[PlaceRequest] = []
        for r in batch:
            try:
                orders.append(r.order)
            except (WireFormatError, InvalidOrderError):
                unsendable.append(r)
        if unsendable:
            # (Never from buy(): its terms are quantized for the asset.  A request built otherwise is refused
            # here, each order FAILED with the reason, rather than failing the whole worker.)
            self._fail_all(unsendable, "not sent: the order's terms cannot be written on the wire")
            batch = [r for r in batch if r not in unsendable]
            for r in unsendable:
                event = self._placing.pop(r.cid, None)
                if event is not None:
                    event.set()
            if not batch:
                return
        await self.budget.acquire(len(batch))
        action = wire.order_action(orders)
        self._orders_sent += len(batch)
        try:
            try:
                # (the journal is flushed inside, after the nonce is chosen: one commit holds the intents and it)
                envelope, _ = await self._sign_and_send(action, sending=[r.cid for r in batch])
                statuses = parse_exchange_order_statuses(envelope)
            except AmbiguousOutcomeError as exc:
                self._mark_ambiguous(batch, getattr(exc, "nonce", 0), str(exc))
                return
            except ActionRejectedError as exc:
                self._fail_all(batch, exc.error.message)
                return
            except _NotSent as exc:
                self._fail_all(batch, f"not sent: {exc}")
                return
            except JournalError as exc:
                # The write-ahead records could not be committed, so the action was not sent (never send what a
                # restart could not account for); the connector winds down.
                self._fail_all(batch, f"not sent: {exc}")
                return
            except ProtocolError as exc:
                self._mark_ambiguous(batch, 0, f"unreadable answer: {exc}")
                return
            self._apply_statuses(batch, statuses)
        finally:
            for r in batch:
                event = self._placing.pop(r.cid, None)
                if event is not None:
                    event.set()

    def _apply_statuses(self, batch: Sequence[PlaceRequest | ModifyRequest], statuses: list[OrderStatusResult]) -> None:
        now = self._clock()
        missing: list[PlaceRequest | ModifyRequest] = []
        known = self._known_resting
        for i, r in enumerate(batch):
            if i >= len(statuses):
                missing.append(r)
                continue
            st = statuses[i]
            if (known is not None and st.kind is _RESTING and st.exchange_order_id is not None
                    and known(r.cid, st.exchange_order_id)):
                continue  # the stream's copy came first: this answer repeats it (counted by ``known``)
            self._feed("order", _status_update(r, st, now))
        if missing:
            # An "ok" answer with fewer statuses than orders: the venue applied the action but we cannot tell
            # these orders' fate from it.  Resolve them by asking.
            self._ambiguous.append(_Ambiguous(nonce=0, cids=[r.cid for r in missing],
                                              pair_of={r.cid: r.pair for r in missing}, nonce_state="used"))
            self._ambiguous_added.set()

    def _fail_all(self, batch: Sequence[PlaceRequest], reason: str) -> None:
        now = self._clock()
        for r in batch:
            self._feed("order", OrderUpdate(pair=r.pair, new_state=OrderState.FAILED, timestamp=now,
                                            client_order_id=r.cid, reason=reason, venue_status="rejected"))

    def _mark_ambiguous(self, batch: Sequence[PlaceRequest], nonce: int, reason: str) -> None:
        now = self._clock()
        self._ambiguous_total += 1
        for r in batch:
            self._feed("order", OrderUpdate(pair=r.pair, new_state=OrderState.UNKNOWN, timestamp=now,
                                            client_order_id=r.cid, reason=reason))
        self._ambiguous.append(_Ambiguous(nonce=nonce, cids=[r.cid for r in batch],
                                          pair_of={r.cid: r.pair for r in batch},
                                          nonce_state=None if nonce else "used",
                                          requests={r.cid: r for r in batch}))
        self._ambiguous_added.set()

    async def _cancel(self, batch: list[CancelRequest]) -> None:
        # Cancels of orders whose placement is unanswered wait for that answer (a cancel must not overtake its
        # order); the others go at once - a placement paced by a spent budget must not hold up cancels of live
        # orders batched with it (cancel_all, kill).
        ready = [r for r in batch if not self._placing_open(r.cid)]
        waiting = [r for r in batch if self._placing_open(r.cid)]
        if ready:
            await self._send_cancels(ready)
        for r in waiting:
            await self._placed(r.cid)
        if waiting:
            await self._send_cancels(waiting)

    def _placing_open(self, cid: str) -> bool:
        return cid in self._placing  # answered placements leave the dict when their event is set

    async def _placed(self, cid: str) -> None:
        """Wait until the placement of ``cid`` is answered (at once if it is not under way)."""
        if cid not in self._placing:
            return
        event = self._placing[cid]
        if event is None:
            event = self._placing[cid] = trio.Event()
        await event.wait()

    async def _send_cancels(self, batch: list[CancelRequest]) -> None:
        await self.budget.acquire(len(batch), cancel=True)
        try:
            await self._before_send()
        except JournalError as exc:
            # A cancel goes out even when the journal cannot be written: taking orders off the book is exactly
            # what a storage failure calls for, and a restart learns their end from the venue.
            logger.error("journal not written before a cancel (sending it anyway): %s", exc)
        action = wire.cancel_by_cloid_action([(r.asset, r.cid) for r in batch])
        try:
            # A rate limit is not retried in a burst here: the venue lets a limited address through once per
            # 10 s, so the re-send waits for the budget's throttled pace instead (see below).
            envelope, _ = await self._sign_and_send(action, retry_rate_limited=False)
            statuses = parse_cancel_statuses(envelope)
        except (AmbiguousOutcomeError, ProtocolError):
            # A cancel that may or may not have landed.  The stream usually tells (CANCELED), but if it did not
            # land nothing else would ever re-send it: the resolver checks each order and cancels again.
            self._retry_cancels(batch)
            return
        except ActionRejectedError as exc:
            if exc.error.retryable:
                # Refused for a passing reason (a rate limit, a nonce race): nothing was applied and the user
                # still wants the orders out - giving up here would leave them resting with the intent dropped
                # (a kill switch during a rate limit).  The orders stay PENDING_CANCEL; the resolver re-sends
                # each cancel while its order is open, for as long as it takes.  A rate limit also spends the
                # cancel budget, so those re-sends go at the venue's throttled pace, not in a burst.
                if exc.kind is ActionErrorKind.RATE_LIMITED:
                    self.budget.mark_exhausted(cancels=True)
                logger.warning("cancel of %d order(s) refused for now, will be sent again: %s", len(batch), exc)
                self._retry_cancels(batch)
                return
            # Definitive (bad signature, unknown signer, no deposit...): sending it again cannot help.
            for r in batch:
                self._feed("cancel_rejected", (r.cid, str(exc)))
            return
        except _NotSent:
            # Never reached the venue (an outage): not a refusal.  The resolver checks each order once the venue
            # answers again and re-sends the cancel while it is open.
            self._retry_cancels(batch)
            return
        for i, r in enumerate(batch):
            if i < len(statuses) and statuses[i].kind is ExchangeStatusKind.ERROR:
                rejection = statuses[i].rejection
                self._feed("cancel_rejected", (r.cid, rejection.message if rejection else "cancel refused"))
            # SUCCESS: the orderUpdates stream (or the reconciler) delivers CANCELED with its timestamp.
        if len(statuses) < len(batch):
            # An "ok" answer without a status for some cancels: their fate is open, so they are checked.
            self._retry_cancels(batch[len(statuses):])

    def _retry_cancels(self, batch: list[CancelRequest]) -> None:
        """Cancels whose fate is open or that must go again: the resolver checks each order one period later."""
        for r in batch:
            self._unsure_cancels[r.cid] = r
        self._ambiguous_added.set()

    async def _modify(self, batch: list[ModifyRequest]) -> None:
        done: set[int] = set()  # id() of the requests already finished (two modifies of one order may share a batch)
        try:
            await self._modify_batch(batch, done)
        finally:
            for r in batch:
                if id(r) not in done:
                    self._feed("modify_done", r.cid)

    async def _modify_batch(self, batch: list[ModifyRequest], done: set[int]) -> None:
        for r in batch:
            await self._placed(r.cid)
        await self.budget.acquire(len(batch))
        try:
            await self._before_send()
        except JournalError as exc:
            for r in batch:
                self._modify_over(r, done)
                self._reject_modify(r, f"modify not sent: {exc}")
            return
        action = wire.batch_modify_action([(r.cid, r.order) for r in batch])
        try:
            envelope, _ = await self._sign_and_send(action)
            statuses = parse_exchange_order_statuses(envelope)
        except (ActionRejectedError, _NotSent) as exc:
            # Refused as a whole, or never reached the venue: nothing was applied, no order was touched.
            reason = exc.error.message if isinstance(exc, ActionRejectedError) else f"modify not sent: {exc}"
            logger.warning("modify of %s did not apply: %s", [r.cid for r in batch], reason)
            for r in batch:
                self._modify_over(r, done)
                self._reject_modify(r, reason)
            return
        except (AmbiguousOutcomeError, ProtocolError) as exc:
            logger.warning("modify of %s not confirmed: %s", [r.cid for r in batch], exc)
            for r in batch:
                await self._modify_failed(r, done, None, f"modify not confirmed: {exc}")
            return
        now = self._clock()
        for i, r in enumerate(batch):
            st = statuses[i] if i < len(statuses) else None
            if st is not None and st.kind is ExchangeStatusKind.RESTING and st.exchange_order_id is not None:
                self._feed("order", OrderUpdate(
                    pair=r.pair, new_state=OrderState.OPEN, timestamp=now, client_order_id=r.cid,
                    exchange_order_id=st.exchange_order_id, venue_status="open",
                    amount=r.requested_amount, price=Decimal(r.order["p"]),
                ))
            elif st is not None and st.kind is ExchangeStatusKind.FILLED:
                self._feed("order", _status_update(r, st, now))
            elif st is not None and st.kind is ExchangeStatusKind.ERROR:
                refusal = st.rejection.message if st.rejection is not None else "modify refused"
                logger.info("modify of %s refused: %s", r.cid, refusal)
                await self._modify_failed(r, done, refusal, refusal)
            else:
                # No status for it in an "ok" answer, or one we cannot map: whether it applied is open.
                await self._modify_failed(r, done, None, "modify not confirmed: no usable status in the answer")

    def _modify_over(self, r: ModifyRequest, done: set[int] | None) -> None:
        """A modify that did not (certainly) apply is over: the connector stops ignoring cancels of the order's
        old id (a CANCELED it sees from now on is real).  ``done``: the batch's set of finished requests (None
        once the resolver has taken the request over)."""
        self._feed("modify_failed", r.cid)
        if done is None or id(r) not in done:
            if done is not None:
                done.add(id(r))
            self._feed("modify_done", r.cid)

    def _reject_modify(self, r: ModifyRequest, reason: str) -> None:
        self._feed("modify_rejected", (r.cid, reason, Decimal(r.order["p"]), r.requested_amount))

    async def _modify_failed(self, r: ModifyRequest, done: set[int], refusal: str | None, unsure: str) -> None:
        """A modify the venue refused per order (``refusal``: its text) or whose outcome is open (``unsure``:
        why).  It stays under way until the order's status has been read (``_settle_modify``): a refused
        Hyperliquid modify may itself have cancelled the old order, and that cancel must not end the order
        before the status says what became of it.  If the status cannot be read now, the resolver reads it
        later (and ends the modify then)."""
        try:
            await self._settle_modify(r, refusal, unsure, done)
        except (TransportError, ProtocolError, VenueRejectedError) as exc:
            logger.info("status of %s after a failed modify not known yet: %s", r.cid, exc)
            done.add(id(r))  # (the resolver ends it, not the batch)
            self._unsure_modifies.append((r, refusal, unsure))
            self._ambiguous_added.set()

    async def _settle_modify(self, r: ModifyRequest, refusal: str | None, unsure: str,
                             done: set[int] | None = None) -> None:
        """Read the order's status and feed it, end the modify, then answer it.

        The status read by client id is the venue's latest order of that id, so it is fed as the truth
        (``"venue_status"``: never taken for a modify's cancel leg) - a cancel that beat the modify ends the
        order at once, and a refused re-price that took the old order with it ends it as the venue says (its
        refused order, e.g. ``badAloPxRejected``).  Refused (``refusal`` set): the tracker reports the refusal
        only if the order is still live.  Unsure: the old exchange id still open ⇒ the modify did not land
        (reported, ``unsure`` as the reason); a new id open at the requested price ⇒ it landed, and is applied as
        its answer would have been (``OrderModified``); anything else (the order ended, a status we cannot read)
        needs no answer of ours.  Raises the read's transport errors (then nothing was fed)."""
        answer = await self._info({"type": "orderStatus", "user": self._user, "oid": r.cid})
        snapshot = parse_order_status_response(answer)
        update = None if snapshot is None else snapshot.to_update()
        rejected = refusal
        if snapshot is not None and update is not None:
            price = Decimal(r.order["p"])
            if refusal is None and update.new_state is OrderState.OPEN:
                if r.replaces is not None and snapshot.exchange_order_id == r.replaces:
                    rejected = f"{unsure}; the venue still shows the order unmodified"
                elif snapshot.limit_price == price and (
                    snapshot.orig_size is None or snapshot.orig_size == Decimal(r.order["s"])
                ):
                    update = attrs.evolve(update, amount=r.requested_amount, price=price)
            self._feed("venue_status", attrs.evolve(update, client_order_id=r.cid, pair=r.pair))
        self._modify_over(r, done)
        if rejected is not None:
            self._reject_modify(r, rejected)

    # ------------------------------------------------------------------------------------- resolution

    async def resolve_forever(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The resolver task: works through ambiguous actions until each order has a definitive answer."""
        task_status.started()
        while True:
            if not self._ambiguous and not self._unsure_cancels and not self._unsure_modifies:
                self._ambiguous_added = trio.Event()
                await self._ambiguous_added.wait()
                continue
            await self._gate_open.wait()
            if self._unsure_cancels or self._unsure_modifies:
                # Give the stream one period to report the cancel before asking (and a failed status read of a
                # modify's order one period before the next).
                await trio.sleep(self._resolve_interval)
                for request in list(self._unsure_cancels.values()):
                    try:
                        await self._resolve_cancel(request)
                    except (TransportError, ProtocolError, VenueRejectedError) as exc:
                        logger.info("check of ambiguous cancel %s postponed: %s", request.cid, exc)
                for owed in list(self._unsure_modifies):
                    try:
                        await self._settle_modify(*owed)  # (it ends the modify)
                    except (TransportError, ProtocolError, VenueRejectedError) as exc:
                        logger.info("status of %s after a failed modify postponed: %s", owed[0].cid, exc)
                        continue
                    self._unsure_modifies.remove(owed)
            for item in list(self._ambiguous):
                try:
                    done = await self._resolve_one(item)
                except (TransportError, ProtocolError, VenueRejectedError) as exc:
                    logger.info("resolution of nonce %s postponed: %s", item.nonce, exc)
                    done = False
                if done:
                    self._ambiguous.remove(item)
            if self._ambiguous:
                await trio.sleep(self._resolve_interval)

    async def _resolve_cancel(self, request: CancelRequest) -> None:
        """A cancel whose outcome is open (or that must go again): report the order's venue status; cancel again
        if it is still open.  Every way out settles the cancel request - re-sent, answered by a terminal status,
        or refused: a request left pending with nothing in flight would make the connector ignore the user's
        next ``cancel()`` of the order, and keep it from cancelling an order found live after all."""
        answer = await self._info({"type": "orderStatus", "user": self._user, "oid": request.cid})
        snapshot = parse_order_status_response(answer)
        self._unsure_cancels.pop(request.cid, None)
        update = None if snapshot is None else snapshot.to_update()
        if snapshot is not None and (update is None or update.new_state is OrderState.OPEN):
            # Still open (or a status we cannot read: a cancel of a finished order is only refused): again.
            self._resends += 1
            self._requeue(request)
            return
        if update is None:
            # The venue does not know the order (its placement is unresolved; that resolution reports it), so
            # there is nothing to cancel now - what the venue would have answered to the cancel itself.
            # Clearing the request lets the connector cancel the order should it turn out live after all.
            self._feed("cancel_rejected", (request.cid, "cancel not sent: the venue does not know this order"))
            return
        self._feed("order", attrs.evolve(update, client_order_id=request.cid, pair=request.pair))

    async def _history(self) -> dict[str, OrderSnapshot] | None:
        """The account's recent orders by cloid (latest oid wins: a modify keeps the cloid), or None when the
        answer is capped - then an order missing from it may simply be older, and only ``orderStatus`` can say."""
        snapshots = parse_historical_orders(await self._info({"type": "historicalOrders", "user": self._user}))
        if len(snapshots) >= HISTORICAL_ORDERS_LIMIT:
            return None
        latest: dict[str, OrderSnapshot] = {}
        for snap in snapshots:
            cid = snap.client_order_id
            if cid is None:
                continue
            cid = cid.lower()
            seen = latest.get(cid)
            if seen is None or int(snap.exchange_order_id) > int(seen.exchange_order_id):
                latest[cid] = snap
        return latest

    async def _resolve_one(self, item: _Ambiguous) -> bool:
        still: list[str] = []
        # Many orders (a restart restores every unanswered placement): one historicalOrders call (weight 20 +
        # 1 per 20 entries) instead of an orderStatus each (weight 2 apiece), which at a few hundred orders would
        # spend the IP budget for minutes on every resolution round.
        history = await self._history() if len(item.cids) >= _HISTORY_LOOKUP_MIN else None
        for cid in item.cids:
            if history is not None:
                snapshot = history.get(cid.lower())
            else:
                snapshot = parse_order_status_response(
                    await self._info({"type": "orderStatus", "user": self._user, "oid": cid}))
            if snapshot is None:
                still.append(cid)
                continue
            update = snapshot.to_update()
            if update is not None:
                self._feed("order", attrs.evolve(update, client_order_id=cid, pair=item.pair_of[cid]))
        item.cids = still
        if not still:
            return True
        if item.nonce_state is None:
            now_ms = self._nonces.now_ms()
            if item.restored and not within_window(item.nonce, now_ms, margin_ms=PROBE_WINDOW_MARGIN_MS):
                # Too old (or too far ahead) for the venue to judge it: a refusal would say nothing.  Ask only.
                item.nonce_state = "unprobed"
            else:
                item.nonce_state = await self._probe_nonce(item)
                if item.nonce_state == "too_low" and item.restored:
                    # Below the venue's floor, perhaps only because more actions followed it before the crash:
                    # the original can no longer land, but it may have landed just before (see module doc).
                    item.nonce_state = "spent"
        if item.nonce_state == "free":
            # Proven: the original can never land.  The intent is still the user's, so send it again (a fresh
            # nonce; no duplicate is possible) unless they asked to cancel it meanwhile.
            self._resubmit_or_fail(item, "submission never landed (its nonce was consumed by a noop probe)")
            return True
        if item.nonce_state == "too_low":
            # The nonce left the venue's window: the original cannot land any more, and it did not (not found).
            self._resubmit_or_fail(item, "submission never landed (its nonce expired from the venue's window)")
            return True
        item.landed_polls += 1
        if item.landed_polls > self._landed_polls:
            if item.probe_ambiguous or item.nonce_state == "spent":
                # The nonce is consumed (by the original, by our own probe, or pushed below the venue's floor: we
                # cannot tell) so the original can never land from now on, and the venue has no record of the
                # orders: sending them again cannot duplicate anything.
                self._resubmit_or_fail(item, "submission never landed (nonce consumed, venue has no record)")
            elif item.nonce_state == "unprobed":
                self._fail_cids(item, "no answer before the restart, and the venue has no record of this order")
            else:
                self._fail_cids(item, "the action landed but the venue has no record of this order (refused)")
            return True
        for cid in still:
            self._feed("not_found", cid)
        return False

    async def _probe_nonce(self, item: _Ambiguous) -> str:
        """Send a ``noop`` with the item's nonce: "free" if accepted, "used" if already used, "too_low" if expired.

        An ambiguous probe may itself have consumed the nonce, so it marks the item: a later "used" then proves
        only that the original can no longer land, not that it did."""
        self._probes += 1
        try:
            await self._sign_and_send(wire.noop_action(), nonce=item.nonce)
        except ActionRejectedError as exc:
            if exc.error.kind is ActionErrorKind.NONCE_DUPLICATE:
                return "used"
            if exc.error.kind in (ActionErrorKind.NONCE_TOO_LOW, ActionErrorKind.NONCE_WINDOW):
                return "too_low"
            raise TransportError(f"noop probe refused: {exc}") from exc
        except AmbiguousOutcomeError as exc:
            item.probe_ambiguous = True
            raise TransportError(f"noop probe ambiguous: {exc}") from exc
        except _NotSent as exc:
            raise TransportError(f"noop probe not sent: {exc}") from exc
        return "free"

    def _resubmit_or_fail(self, item: _Ambiguous, reason: str) -> None:
        failed: list[str] = []
        for cid in item.cids:
            request = item.requests.get(cid)
            if request is not None and self._still_wanted(cid):
                self._resubmitted += 1
                self._requeue(request)
                self.note_placing(cid)  # (after the requeue: a placing event nobody will ever set blocks cancels)
            else:
                failed.append(cid)
        item.cids = failed
        self._fail_cids(item, reason)

    def _fail_cids(self, item: _Ambiguous, reason: str) -> None:
        now = self._clock()
        for cid in item.cids:
            self._feed("order", OrderUpdate(pair=item.pair_of[cid], new_state=OrderState.FAILED, timestamp=now,
                                            client_order_id=cid, reason=reason, venue_status="rejected"))

    def add_unresolved(self, cids: Mapping[str, str], *, nonce: int | None = None, polls_done: int = 0) -> None:
        """Orders restored UNKNOWN from the journal (``cids``: client order id -> pair).  ``nonce``: that of the
        action that last carried them, journaled before it was sent by *this worker's signer* - they are then
        resolved like a live ambiguous action (asked, then probed with a noop of that nonce, if it is still well
        inside the venue's window); without it, by asking only (see the module doc).  ``polls_done``: not-found
        rounds an earlier run already spent on them (journaled), so a second restart continues the count."""
        if cids:
            state = "unprobed" if nonce is None else None
            self._ambiguous.append(_Ambiguous(nonce=nonce or 0, cids=list(cids), pair_of=dict(cids),
                                              nonce_state=state, restored=True,
                                              landed_polls=max(0, polls_done)))
            self._ambiguous_added.set()

    # -------------------------------------------------------------------------------------- statistics

    def statistics(self) -> SubmitStats:
        lat = sorted(self._latencies)
        p50 = p99 = None
        if lat:
            p50 = lat[len(lat) // 2] * 1000
            p99 = lat[min(len(lat) - 1, math.ceil(len(lat) * 0.99) - 1)] * 1000
        return SubmitStats(
            queued=self._rx.statistics().current_buffer_used + (self._carry is not None)
            + self._internal_rx.statistics().current_buffer_used
            + sum(lane.statistics().current_buffer_used for lane in self._lanes or ()),
            actions_sent=self._actions_sent,
            orders_sent=self._orders_sent,
            actions_in_flight=self._in_flight,
            ambiguous_actions=self._ambiguous_total,
            resends=self._resends,
            resubmitted=self._resubmitted,
            unresolved=sum(len(a.cids) for a in self._ambiguous),
            nonce_probes=self._probes,
            ack_latency_p50_ms=p50,
            ack_latency_p99_ms=p99,
        )


def _status_update(r: PlaceRequest | ModifyRequest, st: OrderStatusResult, now: float) -> OrderUpdate:
    if st.kind is ExchangeStatusKind.RESTING:
        return OrderUpdate(pair=r.pair, new_state=OrderState.OPEN, timestamp=now, client_order_id=r.cid,
                           exchange_order_id=st.exchange_order_id, venue_status="open")
    if st.kind is ExchangeStatusKind.FILLED:
        size = Decimal(r.order["s"])
        if st.total_size is not None and st.total_size < size:
            # An IOC (or market) order that took less than its size: the rest was cancelled by the venue at
            # once.  CANCELED with the executed total waits for those fills, so the terminal event is exact.
            return OrderUpdate(pair=r.pair, new_state=OrderState.CANCELED, timestamp=now, client_order_id=r.cid,
                               exchange_order_id=st.exchange_order_id, venue_status="filled",
                               reason="IOC remainder cancelled", executed=st.total_size)
        return OrderUpdate(pair=r.pair, new_state=OrderState.FILLED, timestamp=now, client_order_id=r.cid,
                           exchange_order_id=st.exchange_order_id, venue_status="filled")
    if st.kind is ExchangeStatusKind.ERROR:
        rejection = st.rejection
        return OrderUpdate(pair=r.pair, new_state=OrderState.FAILED, timestamp=now, client_order_id=r.cid,
                           reason=rejection.message if rejection else "rejected",
                           venue_status=rejection.venue_status.value if rejection else "rejected")
    # waitingForFill / waitingForTrigger: accepted by the venue, not yet on the book.
    return OrderUpdate(pair=r.pair, new_state=OrderState.OPEN, timestamp=now, client_order_id=r.cid,
                       venue_status=st.kind.value)
