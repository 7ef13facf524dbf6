"""``open_connector(config)``: the Hyperliquid connector and the nursery that owns all of its tasks.

Shape (DESIGN §1): ``async with open_connector(config) as conn:`` loads the venue's metadata, restores the
journal, checks the identity (a signed ``noop``), connects one WebSocket session (user channels, books, posts),
gap-fills, and then runs as tasks of one nursery: the stream consumers, the connection watcher (reconnect ⇒ close
the submit gate ⇒ gap-fill ⇒ reopen), the submit worker, the UNKNOWN resolver, the reconciler, the journal flusher
and the event pump.  Leaving the block cancels them all and flushes the journal.

Nonces: one ``NonceService`` per connector signs everything, the identity noop included, and continues after the
highest nonce the journal recorded for the signer.

Restart (issue 17): orders the journal proves never left the process (no write-ahead ``"sending"`` record) are
FAILED "never sent" at once (or sent now: ``resend_unsent_on_restart``); those that may have left are settled in
bulk behind a nonce fence (``trio_hl.hyperliquid.settle``; ``conn.restore_settled`` is set when done); orders
without a usable journaled nonce are resolved by asking (``trio_hl.hyperliquid.submit``).  The journal is
compacted after the restore and every ``compact_every`` records.

Storage failure: when the journal cannot be written, ``buy``/``sell``/``modify`` raise ``JournalError`` (naming the
file), the order action whose write-ahead record failed is not sent (FAILED "not sent"), cancels still go out, a
``HealthChanged`` with ``JOURNAL_UNWRITABLE`` is published, everything live is cancelled, and the connector ends
with the ``JournalError``; orders not confirmed cancelled by then are left to a ``scheduleCancel`` that stays armed.

``buy()``/``sell()``/``cancel()`` are plain methods: validate and quantize (raising before anything is tracked),
track and journal, queue, return.  They never await, so a strategy's hot path never yields to the scheduler.

Crash policy: stream consumers never see a venue error they cannot skip (they count it); connection loss is the
``WsSession``'s business (it reconnects forever).  Any other exception in a task is a bug: it propagates and
cancels the connector loudly, out of the ``async with``.  Nothing is swallowed.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import random
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from functools import partial
from typing import Any, ParamSpec, TypeVar

import attrs
import httpx
import trio

from trio_hl.core.book import OrderBook
from trio_hl.core.connector import Balance, Connector, Position, PublicTrade, VenueOrderStatus
from trio_hl.core.events import (
    Event,
    HealthChanged,
    HealthIssue,
    OrderCancelled,
    OrderCreated,
    OrderFailed,
    OrderFilled,
    OrderPartiallyFilled,
    OrderSnapshotEvent,
)
from trio_hl.core.fanout import EventFanout
from trio_hl.core.journal import Journal, Submission
from trio_hl.core.order import LIVE_STATES, InFlightOrder
from trio_hl.core.risk import RiskBreach, RiskBreachError, RiskLimits, RiskManager
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderParams, OrderState, OrderType, PositionAction, Side, TradingRule
from trio_hl.core.updates import OrderUpdate, TradeUpdate
from trio_hl.errors import (
    AmbiguousOutcomeError,
    ConfigError,
    InvalidOrderError,
    JournalError,
    ProtocolError,
    TransportError,
    TrioHLError,
    UnknownOrderError,
    UnknownPairError,
    VenueRejectedError,
)
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.clock import ClockCheck, TimestampJudge, check_skew
from trio_hl.hyperliquid.config import ConnectorConfig
from trio_hl.hyperliquid.deadman import DeadMansSwitch, DeadMansSwitchState
from trio_hl.hyperliquid.health import HealthMonitor
from trio_hl.hyperliquid.messages import (
    OrderSnapshot,
    parse_all_mids,
    parse_l2_book,
    parse_order_status_response,
    parse_trades,
)
from trio_hl.hyperliquid.meta import AssetInfo, AssetRegistry
from trio_hl.hyperliquid.nonce import MAX_NONCE_LEAD_MS, STORED_NONCES, NonceService
from trio_hl.hyperliquid.order_probe import venue_order_status
from trio_hl.hyperliquid.orders import order_to_wire, prepare_order, wire_order_type
from trio_hl.hyperliquid.rest import InfoClient, RestClients, open_rest_clients
from trio_hl.hyperliquid.settle import SettleReport, settle_restored
from trio_hl.hyperliquid.signing import LocalSigner, Signer, sign_l1_action
from trio_hl.hyperliquid.statuses import ActionErrorKind, classify_action_error
from trio_hl.hyperliquid.streams import StreamCounters, consume_book, consume_user_channel, gap_fill
from trio_hl.hyperliquid.submit import CancelRequest, ModifyRequest, PlaceRequest, SubmitRequest, SubmitWorker
from trio_hl.hyperliquid.ws import Disconnected, Ready, WsSession, WsSettings, serve_ws_session

__all__ = ["ConnectorHealth", "HyperliquidConnector", "open_connector"]

logger = logging.getLogger("trio_hl.connector")

_ZERO = Decimal(0)
_PENDING_FILL_EVENTS = (OrderPartiallyFilled, OrderFilled)
#: Trade ids remembered for position de-duplication (a fill is re-delivered within minutes, not days).
_FILLS_REMEMBERED = 100_000
#: The largest unix-ms timestamp the parsers accept (``messages._ms``).
_MAX_MS = 2**53
#: Replaced exchange ids remembered per order for modify-leg recognition (see ``_replaced_eids``).
_REPLACED_IDS_KEPT = 8
#: Tries of the startup identity check before a transient venue failure fails ``open_connector``.
_IDENTITY_ATTEMPTS = 6
#: After a storage failure, orders not confirmed cancelled are left to a ``scheduleCancel`` this far ahead (the
#: venue refuses one less than 5 s ahead).
_WIND_DOWN_SCHEDULE_MS = 10_000
_TERMINAL_EVENTS = (OrderFilled, OrderCancelled, OrderFailed)


class SubmitQueueFullError(TrioHLError):
    """``buy()`` found the submit queue full (``submit_queue_size``); nothing was tracked."""


@attrs.frozen
class ConnectorHealth:
    """A point-in-time picture for dashboards and strategies (``conn.health()``)."""

    trading_ready: bool
    ws_connected: bool
    ws_generation: int
    ws_reconnects: int
    ws_last_frame_age: float | None
    user_stream_age: float | None
    book_ages: dict[str, float | None]
    ip_tokens: float
    address_requests_left: int
    orders_active: int
    orders_unknown: int
    orders_lost: int
    orders_unresolved: int
    submit_queue: int
    actions_in_flight: int
    actions_sent: int
    resends: int
    ack_latency_p50_ms: float | None
    ack_latency_p99_ms: float | None
    event_backlog: int
    malformed_frames: int
    gap_fills: int
    dead_mans_switch: DeadMansSwitchState | None
    #: Venue clock minus local wall clock, seconds, measured at startup (None: not measured).
    clock_offset_s: float | None = None
    #: Venue timestamps judged unbelievable so far (far from the venue's present; see ``hyperliquid.clock``):
    #: counted, never used to order books or to start a gap-fill.
    timestamp_anomalies: int = 0


class _WallClock:
    """Unix seconds that follow the Trio clock (wall-anchored, so journal times survive a restart; MockClock-able)."""

    def __init__(self) -> None:
        # The run's clock object itself: ``trio.current_time()`` reaches it through two more Python frames, and
        # this is read twice per order on the buy() path.  A Trio run keeps one clock for its whole life.
        self._read = trio.lowlevel.current_clock().current_time
        self._base = time.time() - self._read()

    def __call__(self) -> float:
        return self._base + self._read()


class HyperliquidConnector:
    """The public handle (see module doc).  Built by :func:`open_connector`; never construct it directly."""

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        rest: RestClients,
        registry: AssetRegistry,
        signer: Signer,
        user: str,
        tracker: OrderTracker,
        journal: Journal | None,
        clock: Callable[[], float],
        risk: RiskLimits | None = None,
        nonces: NonceService | None = None,
        submissions: dict[str, Submission] | None = None,
        clock_check: ClockCheck | None = None,
        never_sent: Sequence[str] = (),
        fences: dict[str, int] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.user = user
        self.signer_address = signer.address
        self._rest = rest
        self._signer = signer
        self._tracker = tracker
        self._journal = journal
        self._clock = clock
        #: ``trio.current_time`` without its two Python frames (the risk check's clock, read on every buy()).
        self._monotonic = trio.lowlevel.current_clock().current_time
        self._fanout: EventFanout[Event] = EventFanout()
        self._books: dict[str, OrderBook] = {}
        self._book_changed: dict[str, trio.Event] = {}
        self._mids: dict[str, Decimal] = {}
        self._counters = StreamCounters()
        self._clock_check = clock_check
        #: Judges venue timestamps against the venue's present (local wall clock + the measured offset).
        self._timestamps = TimestampJudge(clock, offset_s=clock_check.offset_s if clock_check else 0.0)
        #: The signer's one nonce source (the identity check's noop included: ``open_connector`` makes it).
        self._nonces = nonces if nonces is not None else NonceService(lambda: int(clock() * 1000))
        #: Journaled submissions of the restored orders still without an answer (used once, at startup).
        self._restored_submissions = submissions or {}
        #: Restored orders the journal proves never left the process, and the nonces already fenced (journal).
        self._never_sent = tuple(never_sent)
        self._fences = fences or {}
        #: Set once the orders restored without an answer are settled (at once when there were none).
        self.restore_settled = trio.Event()
        self.restore_report: SettleReport | None = None
        #: The journal could not be written: no new orders; what rests is cancelled (see ``_storage_failed``).
        self.storage_error: JournalError | None = None
        #: Leave the venue's scheduleCancel armed on exit (a storage failure left orders it must cancel).
        self.keep_dead_mans_switch = False
        self._submit_tx, submit_rx = trio.open_memory_channel[SubmitRequest](config.submit_queue_size)
        self._trigger_info: dict[str, tuple[Decimal | None, Any, bool]] = {}
        self._session: WsSession | None = None
        self._nursery: trio.Nursery | None = None
        #: Public trades per pair, subscribed on the first ``watch_trades`` of the pair (see there).
        self._trade_fanouts: dict[str, EventFanout[PublicTrade]] = {}
        self._trade_subscribing: dict[str, trio.Lock] = {}
        self._last_fill_ms = 0
        self._ws_generation_seen = 0
        #: Exchange ids a modify replaces.  Hyperliquid reports a modify as ``canceled`` for the old oid plus the
        #: order under a new oid; that cancel (which may arrive before the modify's own answer) is not the order's
        #: end.  Cleared for an id whose modify failed.
        self._replaced_eids: dict[str, str] = {}
        self.modify_cancel_legs = 0
        self._modifies_in_flight: Counter[str] = Counter()
        #: Cancel requests per order the venue has not refused: queued, in flight, being sent again, or accepted
        #: (then the order's end is on its way).  Each refusal (``cancel_rejected``) settles one; the order's end
        #: all.  With ``cancel_requested`` it makes a second ``cancel()`` a no-op (see ``cancel``).
        self._cancels_pending: Counter[str] = Counter()
        #: Pre-trade risk limits (none configured: only the kill switch) and the kill switch, whose signal the
        #: execution algorithms wait on.  Limits can be replaced at run time: ``conn.risk.update(...)``.
        self.risk = RiskManager(risk)
        #: The most recent refusals (a strategy can inspect them; each one was also raised at the call).
        self.risk_breaches: list[RiskBreach] = []
        self._positions: dict[str, Decimal] = {}
        #: Orders the user asked to cancel, until they are terminal (see ``cancel``).
        self._cancel_intents: set[str] = set()
        #: Venue time (ms) of the clearinghouseState ``position()`` was seeded from; earlier fills are in it.
        self._positions_as_of_ms = -1
        self._fills_counted: dict[tuple[Any, ...], None] = {}  # insertion-ordered set of fill keys, bounded
        self._open_by_pair: Counter[str] = Counter()
        self._pending_amount: dict[tuple[str, Side], Decimal] = {}
        self._counted: set[str] = set()
        self._budget_refreshed = -math.inf
        #: The managed ``scheduleCancel`` (``config.dead_mans_switch_s``); None when off.
        self.dead_mans_switch: DeadMansSwitch | None = None
        #: Debounced ``HealthChanged`` events on ``events()`` (``trio_hl.hyperliquid.health``); tune ``.settings``.
        self.health_monitor = HealthMonitor(self.health, self._fanout.publish, clock=clock)
        self.submit = SubmitWorker(
            submit_rx,
            signer=signer,
            nonces=self._nonces,
            is_mainnet=config.mainnet,
            vault_address=config.vault_address.lower() if config.vault_address else None,
            user=user,
            send_action=self._send_action,
            info=rest.info.post,
            feed=self._feed,
            before_send=self._flush_journal,
            note_sending=self._journal_sending if journal is not None else None,
            clock=clock,
            still_wanted=self._still_wanted,
            known_resting=self._rests_as_tracked,
            max_batch=config.max_batch,
            max_in_flight=config.max_actions_in_flight,
        )

    # ================================================================================== public: orders

    def buy(self, params: OrderParams) -> str:
        """Track and queue a buy; returns its client order id at once.  Invalid params raise before tracking."""
        return self._place(Side.BUY, params)

    def sell(self, params: OrderParams) -> str:
        """Track and queue a sell; returns its client order id at once.  Invalid params raise before tracking."""
        return self._place(Side.SELL, params)

    def place_batch(self, orders: Iterable[tuple[Side, OrderParams]]) -> list[str]:
        """Validate every order first, then track and queue them all (one action if they fit one batch).

        All-or-nothing validation: if any order is invalid, none is tracked.
        """
        prepared = [(side, params, self._prepare(side, params)) for side, params in orders]
        return [self._track_and_queue(side, params, asset, prep) for side, params, (asset, prep) in prepared]

    def cancel(self, pair: str, client_order_id: str) -> bool:
        """Queue a cancel by client order id.  Returns False if there is nothing left to cancel (already terminal,
        or known FILLED): a race with the venue, not a mistake.  The outcome arrives as an event
        (``OrderCancelled`` or a fill; a refusal by the venue as ``CancelRejected``, usually followed by the
        terminal event of the race it lost).

        Raises at the call, before anything is queued, when the mistake is the caller's: ``UnknownOrderError``
        for an id this connector never tracked (a typo, another connector's order, an order from before a
        restart without a journal), ``InvalidOrderError`` when ``pair`` is not the order's pair.  Both are
        ``ValueError`` too.

        One cancel per order at a time: while one is under way (the order shows PENDING_CANCEL) another call
        returns True and sends nothing - the pending cancel's outcome answers both.  A second cancel on the wire
        would only earn a refusal ("already canceled") reported as a second ``CancelRejected``, and its answer
        would clear the pending state while the first was still in flight.  Once a refusal has cleared the
        request (the order shows OPEN again), ``cancel()`` sends a new one."""
        order = self._tracker.get(client_order_id)
        if order is None:
            raise UnknownOrderError(client_order_id)
        if order.pair != self._pair_name(pair):
            raise InvalidOrderError(f"cannot cancel {client_order_id!r} on {pair!r}: it is an order on {order.pair!r}")
        if order.is_done or order.fill_wait_deadline is not None:
            return False
        if order.cancel_requested and self._cancels_pending[client_order_id] > 0:
            self._cancel_intents.add(client_order_id)  # (it may be the connector's own cancel of a lost order)
            return True
        asset = self.registry.by_pair(order.pair)
        self._queue(CancelRequest(client_order_id, order.pair, asset.asset_id))  # first: the step that can refuse
        self._cancels_pending[client_order_id] += 1
        self._tracker.start_cancel(client_order_id)
        # The user's intent outlives a refused or unsent cancel: an order whose placement was ambiguous may still
        # be found live (or be proven unplaced) later, and must then be cancelled, never re-sent.
        self._cancel_intents.add(client_order_id)
        return True

    def cancel_all(self, pair: str | None = None) -> int:
        """Cancel every live order (of ``pair`` if given); batched into ``cancelByCloid`` actions.  Returns how
        many cancels were queued."""
        count = 0
        for order in self._tracker.active_orders():
            if pair is not None and order.pair != pair:
                continue
            if order.state in (OrderState.PENDING_CANCEL,) or order.cancel_requested:
                continue
            if self.cancel(order.pair, order.client_order_id):
                count += 1
        return count

    def modify(self, client_order_id: str, *, price: Decimal | None = None, amount: Decimal | None = None) -> None:
        """Queue a modify (``batchModify``) of a live limit order's price and/or amount (``amount`` is the new
        *total*, what already executed included; it must exceed the executed part).

        Every modify is answered by an event.  Applied: the venue re-keys the order (new exchange id), the
        tracker follows it and emits ``OrderModified``.  Not applied while the order still rests (a refusal of the
        whole action such as a rate limit, a modify that never reached the venue, an ambiguous one the venue
        shows did not land): ``ModifyRejected`` - the order keeps its old price and amount.  Refused in a way that
        ended the order (Hyperliquid's modify is cancel + place: a post-only re-price that would cross leaves
        no order at all): the order's terminal event (``OrderFailed``, the venue's status as reason).
        """
        self._refuse_if_storage_failed()
        order = self._tracker.get(client_order_id)
        if order is None:
            raise UnknownOrderError(client_order_id)
        live = (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
        if order.state not in live or order.exchange_order_id is None:
            # Only an acknowledged order: the venue re-keys a modified order, and the tracker must already know
            # the id it had so that fills quoting it still find the order.
            raise InvalidOrderError(f"cannot modify {client_order_id!r}: not a live, acknowledged order")
        if order.order_type not in (OrderType.LIMIT, OrderType.LIMIT_MAKER):
            raise InvalidOrderError(f"only limit orders can be modified; {client_order_id!r} is {order.order_type}")
        params = OrderParams(
            order.pair,
            amount if amount is not None else order.amount,
            price if price is not None else order.price,
            order_type=order.order_type,
            tif=order.tif,
            position_action=order.position_action,
        )
        asset, prep = self._prepare(order.side, params)
        # A Hyperliquid modify cancels the order and places a new one of size ``s``: what must still execute.
        # Sending the total would put the executed part back on the book (1.5x the intent after half a fill).
        remaining = prep.amount - order.executed_amount
        if remaining <= 0:
            raise InvalidOrderError(
                f"cannot modify {client_order_id!r} to amount {prep.amount}: {order.executed_amount} already executed")
        draft = attrs.evolve(order, amount=remaining, price=prep.price)
        self._queue(ModifyRequest(client_order_id, order.pair, order_to_wire(draft, asset, None, None, False),
                                  total=prep.amount, replaces=order.exchange_order_id))
        if order.exchange_order_id is not None:
            self._replaced_eids[order.exchange_order_id] = client_order_id
            # Bounded per order: a quote re-priced every 100 ms must not grow this for ever.  Only the most recent
            # ids can still see a late modify leg; older legs are also recognised by ``previous_exchange_ids``.
            mine = [e for e, c in self._replaced_eids.items() if c == client_order_id]
            for eid in mine[:-_REPLACED_IDS_KEPT]:
                del self._replaced_eids[eid]
        self._modifies_in_flight[client_order_id] += 1

    def events(self, buffer: int | None = None) -> trio.MemoryReceiveChannel[Event]:
        """A new lossless channel of every event from now on (close it to unsubscribe)."""
        return self._fanout.subscribe(self.config.event_buffer if buffer is None else buffer)

    def get_order(self, client_order_id: str) -> InFlightOrder | None:
        return self._tracker.get(client_order_id)

    def open_orders(self) -> list[InFlightOrder]:
        return self._tracker.active_orders()

    def order_snapshots(self) -> list[OrderSnapshotEvent]:
        """One ``OrderSnapshotEvent`` per active order: what a late event subscriber needs (the ZMQ publisher's
        ``snapshot=``), since it never saw those orders' ``OrderCreated``."""
        now = self._clock()
        return [OrderSnapshotEvent.of(order, now) for order in self._tracker.active_orders()]

    @property
    def tracker(self) -> OrderTracker:
        return self._tracker

    # ==================================================================================== public: data

    def book(self, pair: str) -> OrderBook:
        """The live L2 book of a streamed pair (``config.pairs``)."""
        name = self.registry.by_pair(pair).name
        try:
            return self._books[name]
        except KeyError:
            raise InvalidOrderError(f"{pair!r} is not streamed; add it to ConnectorConfig.pairs") from None

    async def watch_book(self, pair: str) -> AsyncGenerator[OrderBook, None]:
        """Yield the book each time it changed since the last yield (conflating: a slow reader sees the newest)."""
        book = self.book(pair)
        name = book.pair
        while True:
            event = self._book_changed.setdefault(name, trio.Event())
            await event.wait()
            yield book

    def mid(self, pair: str) -> Decimal | None:
        return self._mid_of(self.registry.by_pair(pair))

    def _mid_of(self, asset: AssetInfo) -> Decimal | None:
        book = self._books.get(asset.name)
        mid = book.mid if book is not None else None
        return mid if mid is not None else self._mids.get(asset.coin)

    async def user_state(self) -> dict[str, Any]:
        """The venue's ``clearinghouseState`` of the account (positions, margin)."""
        return await self._rest.info.clearinghouse_state(self.user)

    @property
    def info(self) -> InfoClient:
        """The connector's ``/info`` client: queries through it share the connector's IP rate limiter (a
        second client would spend the same per-IP budget without knowing it)."""
        return self._rest.info

    async def order_status(self, client_order_id: str) -> OrderSnapshot | None:
        """Ask the venue about one order (``orderStatus`` by cloid, through the connector's rate limiter).

        None if the venue has never seen it.  This is the venue's view only: the tracker is not updated
        (the streams and the reconciler do that), so a caller can compare the two."""
        answer = await self._rest.info.post({"type": "orderStatus", "user": self.user, "oid": client_order_id})
        return parse_order_status_response(answer, self.registry.coin_to_pair)

    def health(self) -> ConnectorHealth:
        now = trio.current_time()
        ws = self._session.statistics() if self._session is not None else None
        stats = self._tracker.statistics()
        submit = self.submit.statistics()
        last = self._counters.last_user_frame
        return ConnectorHealth(
            trading_ready=self.submit.gate_open,
            ws_connected=bool(ws and ws.connected),
            ws_generation=ws.generation if ws else 0,
            ws_reconnects=ws.reconnects if ws else 0,
            ws_last_frame_age=ws.last_frame_age if ws else None,
            user_stream_age=None if last is None else now - last,
            book_ages={p: b.age(now) for p, b in self._books.items()},
            ip_tokens=self._rest.limiter.statistics().tokens,
            address_requests_left=self.submit.budget.remaining_orders,
            orders_active=stats.active,
            orders_unknown=stats.unknown,
            orders_lost=stats.lost,
            orders_unresolved=submit.unresolved,
            submit_queue=submit.queued,
            actions_in_flight=submit.actions_in_flight,
            actions_sent=submit.actions_sent,
            resends=submit.resends,
            ack_latency_p50_ms=submit.ack_latency_p50_ms,
            ack_latency_p99_ms=submit.ack_latency_p99_ms,
            event_backlog=self._fanout.statistics().backlog,
            malformed_frames=self._counters.malformed + (ws.malformed_frames if ws else 0),
            gap_fills=self._counters.gap_fills,
            clock_offset_s=self._clock_check.offset_s if self._clock_check is not None else None,
            timestamp_anomalies=self._timestamps.anomalies,
            dead_mans_switch=None if self.dead_mans_switch is None else self.dead_mans_switch.statistics(),
        )

    # ============================================================== public: the rest of the Connector protocol

    def trading_rule(self, pair: str) -> TradingRule:
        """Lot size, price rule and minimum order value of ``pair`` (``trio_hl.core.quantize`` rounds with it)."""
        try:
            return self.registry.by_pair(pair).trading_rule()
        except (KeyError, ConfigError, ValueError) as exc:
            raise InvalidOrderError(f"unknown pair {pair!r}") from exc

    def new_client_order_id(self) -> str:
        """A fresh cloid (``"0x"`` + 32 hex digits)."""
        return wire.new_cloid()

    async def query_order(self, client_order_id: str) -> VenueOrderStatus | None:
        """The venue's ``orderStatus`` of one order as a venue-free value (through the connector's limiter)."""
        return await venue_order_status(self._rest.info, self.user, client_order_id)

    def positions(self) -> dict[str, Position]:
        """Every non-zero position ``position()`` tracks (entry prices are the venue's business: None here)."""
        return {pair: Position(pair, size) for pair, size in self._positions.items() if size}

    async def balances(self) -> dict[str, Balance]:
        """USDC (perp margin: account value, withdrawable) and every spot token (total, total - hold).  The spot
        USDC balance is reported as ``"USDC:spot"`` so it never hides the perp account's."""
        out: dict[str, Balance] = {}
        state = await self._rest.info.clearinghouse_state(self.user)
        try:
            summary = state.get("marginSummary") or {}
            out["USDC"] = Balance("USDC", Decimal(str(summary.get("accountValue", "0"))),
                                  Decimal(str(state.get("withdrawable", "0"))))
            spot = await self._rest.info.spot_clearinghouse_state(self.user)
            for b in spot.get("balances", []):
                coin = str(b.get("coin"))
                name = f"{coin}:spot" if coin == "USDC" else coin
                total = Decimal(str(b.get("total", "0")))
                out[name] = Balance(name, total, total - Decimal(str(b.get("hold", "0"))))
        except (AttributeError, ArithmeticError, TypeError) as exc:
            raise ProtocolError(f"balances: unexpected clearinghouse answer: {exc!r}") from exc
        return out

    async def watch_trades(self, pair: str) -> AsyncGenerator[PublicTrade, None]:
        """Yield every public trade of ``pair`` from now on (the venue's ``trades`` channel).

        The channel is subscribed on the first call for a pair and kept (one WS subscription per pair, resumed
        across reconnects by the session); every watcher gets its own lossless copy.  Trades that happen during
        a reconnect are not replayed: the venue has no gap-fill for the public tape.  The first call raises
        ``VenueRejectedError`` if the venue refuses the subscription, ``TransportError`` if it never acks it.
        Close it with ``contextlib.aclosing`` when you stop early."""
        name = self.book(pair).pair
        fanout = await self._trade_fanout(name)
        with fanout.subscribe(1024) as trades:
            async for trade in trades:
                yield trade

    async def _trade_fanout(self, name: str) -> EventFanout[PublicTrade]:
        lock = self._trade_subscribing.setdefault(name, trio.Lock())
        async with lock:
            fanout = self._trade_fanouts.get(name)
            if fanout is None:
                if self._session is None or self._nursery is None:
                    raise RuntimeError("the connector is not running")
                stream = await self._session.subscribe({"type": "trades", "coin": self.registry.by_pair(name).coin})
                fanout = EventFanout()
                self._nursery.start_soon(fanout.run)
                self._nursery.start_soon(self._consume_trades, name, stream, fanout)
                self._trade_fanouts[name] = fanout
            return fanout

    async def _consume_trades(self, name: str, stream: trio.abc.ReceiveChannel[Any],
                              fanout: EventFanout[PublicTrade]) -> None:
        async for data in stream:
            try:
                trades = parse_trades(data, self.registry.coin_to_pair)
            except ProtocolError as exc:
                self._counters.malformed += 1
                logger.warning("trades %s: malformed frame skipped: %s", name, exc)
                continue
            fanout.publish([PublicTrade(t.pair, t.side, t.price, t.size, t.timestamp, t.trade_id) for t in trades])

    async def wait_trading_ready(self) -> None:
        """Wait until the submit gate is open (after startup reconciliation or a reconnect gap-fill)."""
        await self.submit.wait_gate_open()

    # ==================================================================================== internals

    def _pair_name(self, pair: str) -> str | None:
        try:
            return self.registry.by_pair(pair).name
        except (KeyError, ValueError, ConfigError):
            return None

    def _prepare(self, side: Side, params: OrderParams) -> tuple[AssetInfo, Any]:
        if not isinstance(params, OrderParams):
            raise InvalidOrderError(f"expected OrderParams, got {type(params).__name__}")
        try:
            asset = self.registry.by_pair(params.pair)
        except (KeyError, ConfigError, ValueError) as exc:
            raise InvalidOrderError(f"unknown pair {params.pair!r}") from exc
        reference = None
        if params.order_type is OrderType.MARKET and params.price is None:
            book = self._books.get(asset.name)
            if book is not None:
                reference = book.size_to_price(side is Side.BUY, params.amount) or book.mid
            if reference is None:
                reference = self._mids.get(asset.coin)
        prep = prepare_order(params, side, asset, reference_price=reference, slippage=self.config.market_slippage)
        return asset, prep

    def _place(self, side: Side, params: OrderParams) -> str:
        asset, prep = self._prepare(side, params)
        return self._track_and_queue(side, params, asset, prep)

    def _track_and_queue(self, side: Side, params: OrderParams, asset: AssetInfo, prep: Any) -> str:
        if self.storage_error is not None:
            self._refuse_if_storage_failed()
        cid = params.client_order_id
        if cid is None:
            cid = wire.new_cloid()
        else:
            try:
                cid = wire.validate_cloid(cid)
            except (InvalidOrderError, ValueError) as exc:
                raise InvalidOrderError(f"client_order_id must be '0x' + 32 hex digits, got {cid!r}") from exc
        if self._tracker.get(cid) is not None:
            raise InvalidOrderError(f"client_order_id {cid} is already tracked")
        self._risk_check(side, params, asset, prep)
        now = self._clock()
        order = InFlightOrder(
            client_order_id=cid,
            pair=asset.name,
            side=side,
            order_type=params.order_type,
            amount=prep.amount,
            price=prep.price,
            tif=params.tif,
            position_action=params.position_action,
            created_at=now,
            last_update=now,
        )
        order_type = wire_order_type(order, prep.trigger_price, params.trigger_kind, params.trigger_is_market)
        # Queue first (it is the step that can refuse: a full queue), then track.  Both happen in this one
        # synchronous call, so the submit worker can never see the request before the order is tracked.
        self._queue(PlaceRequest(cid, asset.name, asset.asset_id, side is Side.BUY, prep.price, prep.amount,
                                 params.position_action is PositionAction.CLOSE, order_type))
        self.submit.note_placing(cid)
        self._count_open(order)
        events = self._tracker.start_tracking(order)
        if events:
            self._publish(events)
        return cid

    def _queue(self, request: SubmitRequest) -> None:
        try:
            self._submit_tx.send_nowait(request)
        except trio.WouldBlock:
            raise SubmitQueueFullError("submit queue full") from None

    def _feed(self, kind: str, value: Any) -> list[Event]:
        tracker = self._tracker
        if kind in ("order", "venue_status"):
            update: OrderUpdate = value
            # (a status just read from the venue is its latest order of the client id: never a modify's leg)
            if kind == "order" and update.new_state is OrderState.CANCELED and self._is_modify_leg(update):
                self.modify_cancel_legs += 1
                return []
            events = tracker.process_order_update(update)
        elif kind == "trade":
            trade: TradeUpdate = value
            ms = int(trade.timestamp * 1000)
            # A fill stamped in the future must not move the gap-fill's start past fills still to come.
            if self._timestamps.plausible(trade.timestamp, "fill", past_ok=True):
                self._last_fill_ms = max(self._last_fill_ms, ms)
            events = tracker.process_trade_update(trade)
            self._count_fill(trade, ms)
        elif kind == "not_found":
            events = tracker.process_not_found(value)
        elif kind == "modify_done":
            self._modifies_in_flight[value] -= 1
            if self._modifies_in_flight[value] <= 0:
                del self._modifies_in_flight[value]
            return []
        elif kind == "modify_failed":
            for eid, cid in list(self._replaced_eids.items()):
                if cid == value:
                    del self._replaced_eids[eid]
            return []
        elif kind == "modify_rejected":
            events = tracker.process_modify_rejected(*value)
        elif kind == "cancel_rejected":
            cid = value[0]
            if self._cancels_pending[cid] > 1:
                self._cancels_pending[cid] -= 1
            else:
                self._cancels_pending.pop(cid, None)
            events = tracker.process_cancel_rejected(cid, value[1])
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown feed kind {kind!r}")
        if events:
            self._publish(events)
        return events

    def _publish(self, events: list[Event]) -> None:
        """Every event goes out through here: exposure bookkeeping (for risk checks and ``position()``), then the
        fan-out to ``events()`` subscribers."""
        for event in events:
            trade = getattr(event, "trade", None)
            order = self._tracker.get(event.client_order_id)
            # (a LateFill is not subtracted: the terminal event before it already released the order's rest)
            if trade is not None and order is not None and isinstance(event, _PENDING_FILL_EVENTS):
                key = (order.pair, order.side)
                self._pending_amount[key] = max(_ZERO, self._pending_amount.get(key, _ZERO) - trade.fill_amount)
            cid = event.client_order_id
            if cid in self._cancel_intents and order is not None:
                if order.is_done:
                    self._cancel_intents.discard(cid)
                elif isinstance(event, OrderCreated) and not order.cancel_requested:
                    # Found live after the user cancelled it (an ambiguous placement that landed; a cancel the
                    # venue refused as "never placed" while it was in flight): cancel it now.
                    self._tracker.start_cancel(cid)
                    self._requeue_cancel(order)
            if isinstance(event, _TERMINAL_EVENTS):
                self._cancels_pending.pop(cid, None)
            if isinstance(event, _TERMINAL_EVENTS) and order is not None and event.client_order_id in self._counted:
                self._counted.discard(event.client_order_id)
                self._open_by_pair[order.pair] -= 1
                key = (order.pair, order.side)
                rest = max(_ZERO, order.amount - order.executed_amount)
                self._pending_amount[key] = max(_ZERO, self._pending_amount.get(key, _ZERO) - rest)
        self._fanout.publish(events)

    def _count_open(self, order: InFlightOrder) -> None:
        self._counted.add(order.client_order_id)
        self._open_by_pair[order.pair] += 1
        key = (order.pair, order.side)
        self._pending_amount[key] = self._pending_amount.get(key, _ZERO) + order.amount

    def _count_fill(self, trade: TradeUpdate, ms: int) -> None:
        """Every fill of the account moves ``position()`` once - ours, a native TWAP's, another client's.

        Deduplicated by trade id (the same fill arrives on userFills, userEvents and gap-fills); fills at or
        before the venue snapshot ``position()`` was seeded from are already in it.  The side is the venue's
        (``TradeUpdate.side``), else that of our order."""
        # The trade id with what a re-delivery repeats exactly: a fill sharing its trade id with another of other
        # size, price, side or oid (the tracker's "fill_collision") still moves the position (fill_keys).
        tid = (trade.trade_id, trade.side, trade.exchange_order_id, trade.fill_amount, trade.fill_price, ms)
        if tid in self._fills_counted or ms <= self._positions_as_of_ms:
            return
        side = trade.side
        if side is None:
            order = self._tracker.get(trade.client_order_id or "") or self._tracker.get_by_exchange_id(
                trade.exchange_order_id or "")
            if order is None:
                return
            side = order.side
        self._fills_counted[tid] = None
        if len(self._fills_counted) > _FILLS_REMEMBERED:
            del self._fills_counted[next(iter(self._fills_counted))]
        signed = trade.fill_amount if side is Side.BUY else -trade.fill_amount
        self._positions[trade.pair] = self._positions.get(trade.pair, _ZERO) + signed

    def position(self, pair: str) -> Decimal:
        """Signed position in base units: the venue's at startup plus every account fill seen since (perps and
        spot), including fills of orders this connector did not place."""
        name = self._pair_name(pair)
        return self._positions.get(name or pair, _ZERO)

    def account_notional(self) -> Decimal | None:
        """Gross exposure in quote units, for ``max_account_notional``: per pair, ``(|position| + resting buys +
        resting sells) * mid``, summed.  None when a pair with exposure has no mid (the risk check then fails
        closed rather than guess)."""
        pairs = {p for p, v in self._positions.items() if v}
        pairs |= {p for (p, _), amount in self._pending_amount.items() if amount}
        total = _ZERO
        for pair in pairs:
            exposure = (abs(self._positions.get(pair, _ZERO)) + self._pending_amount.get((pair, Side.BUY), _ZERO)
                        + self._pending_amount.get((pair, Side.SELL), _ZERO))
            if not exposure:
                continue
            mid = self.mid(pair)
            if mid is None:
                return None
            total += exposure * mid
        return total

    def _risk_check(self, side: Side, params: OrderParams, asset: AssetInfo, prep: Any) -> None:
        pair = asset.name
        try:
            if self.risk.check_unconstrained(pair, side, self._monotonic()):
                return  # no configured limit reads the figures below: none is computed
            self.risk.check(
                pair=pair, side=side, amount=prep.amount, price=prep.price, reduce_only=params.reduce_only,
                reference_price=self._mid_of(asset), position=self._positions.get(pair, _ZERO),
                open_orders_pair=self._open_by_pair[pair], open_orders_total=len(self._counted),
                pending_same_side_amount=self._pending_amount.get((pair, side), _ZERO),
                now=self._monotonic(), order_type=params.order_type,
                account_notional=(self.account_notional() if self.risk.limits.max_account_notional is not None
                                  else None),
                **self._unknown_counts(pair),
            )
        except RiskBreachError as exc:
            self.risk_breaches.append(exc.breach)
            del self.risk_breaches[:-1000]
            raise

    def _unknown_counts(self, pair: str) -> dict[str, int]:
        """UNKNOWN orders (on ``pair``, on the account) for the risk check's refusal message: they count as open."""
        unknown = self._tracker.needs_resolution()
        if not unknown:
            return {}
        return {"unknown_orders_pair": sum(1 for o in unknown if o.pair == pair), "unknown_orders_total": len(unknown)}

    def kill(self, reason: str) -> int:
        """Kill switch: refuse every new order (until ``risk.release_kill_switch()``) and cancel everything live.
        Returns how many cancels were queued; each cancel the venue refuses is reported as ``CancelRejected``.
        A refusal for a passing reason (a rate limit, a nonce race) is not one: that cancel is sent again, at
        the venue's pace, while its order is open (it shows PENDING_CANCEL meanwhile)."""
        self.risk.engage_kill_switch(reason)
        return self.cancel_all()

    def _is_modify_leg(self, update: OrderUpdate) -> bool:
        """A ``canceled`` that a modify caused, not the order's end (see ``_replaced_eids``): its id was replaced
        by a modify, or a modify of the order is still in flight (the old order's cancel can precede the answer;
        a genuine cancel in that window makes the modify fail, and the failed modify re-reads the status)."""
        eid = update.exchange_order_id
        order = (self._tracker.get(update.client_order_id) if update.client_order_id is not None
                 else self._tracker.get_by_exchange_id(eid) if eid is not None else None)
        in_flight = order is not None and self._modifies_in_flight.get(order.client_order_id, 0) > 0
        if eid is not None and eid in self._replaced_eids:
            if order is not None and not in_flight and eid == order.exchange_order_id:
                # No modify is under way and this is the order's current id: whatever modify once meant to
                # replace it is over, so this cancel is the order's own (a stale entry must not swallow it).
                del self._replaced_eids[eid]
                return False
            return True
        if order is None:
            return False
        if eid is not None and eid in order.previous_exchange_ids:
            return True
        return in_flight

    def _requeue_cancel(self, order: InFlightOrder) -> None:
        """The connector's own cancel of ``order`` (never refused for a full queue, see ``SubmitWorker.requeue``)."""
        cid = order.client_order_id
        self.submit.requeue(CancelRequest(cid, order.pair, self.registry.by_pair(order.pair).asset_id))
        self._cancels_pending[cid] += 1

    def _quick_order_update(self, item: Any) -> bool:
        """Handle an ``orderUpdates`` item that says ``open`` for an order this connector placed, without the full
        parser; True when handled.  Two cases:

        * the tracker already holds the order live under that exchange id: the item repeats the action's answer
          (the venue reports every new resting order twice) and is counted as the duplicate it is;
        * the order still waits for its first answer: the item is applied as the ``OPEN`` update the full path
          would build from it (pair, exchange id, status time) - only the fields that update carries are read,
          and checked as the parser checks them (a non-negative integer ``oid``, a unix-ms ``statusTimestamp``,
          the ``coin`` of the order's own pair).

        Why: the full parse validates and converts every field of the item (prices, sizes, times, flags) into an
        ``OrderSnapshot`` that the tracker then mostly ignores; at thousands of orders a second that was a fifth of
        the connector's CPU per order.  Anything else (another status, a new exchange id after a modify, an order
        with not-found answers to clear, one we do not track, a malformed item) takes the full path."""
        if type(item) is not dict or item.get("status") != "open":
            return False
        wire_order = item.get("order")
        if type(wire_order) is not dict:
            return False
        cid = wire_order.get("cloid")
        oid = wire_order.get("oid")
        if type(cid) is not str or type(oid) is not int or oid < 0:
            return False
        eid = str(oid)
        if self._rests_as_tracked(cid, eid):
            return True
        order = self._tracker.get(cid)
        if order is None or order.state is not OrderState.PENDING_CREATE or order.exchange_order_id is not None:
            return False
        stamp = item.get("statusTimestamp")
        if type(stamp) is not int or not 0 <= stamp < _MAX_MS:
            return False
        try:
            coin = self.registry.by_pair(order.pair).coin
        except (KeyError, ValueError, ConfigError):  # (an order restored under a pair the venue no longer lists)
            return False
        if wire_order.get("coin") != coin:
            return False
        self._feed("order", OrderUpdate(pair=order.pair, new_state=OrderState.OPEN, timestamp=stamp / 1000,
                                        client_order_id=cid, exchange_order_id=eid, venue_status="open"))
        return True

    def _rests_as_tracked(self, cid: str, eid: str) -> bool:
        """True, counted as a duplicate update, when the tracker holds ``cid`` live under exchange id ``eid`` with
        nothing to clear: a report that it rests there changes nothing (see ``_quick_order_update``)."""
        order = self._tracker.get(cid)
        if (order is None or order.state not in LIVE_STATES or order.not_found_count
                or order.exchange_order_id != eid):
            return False
        self._tracker.count_repeated_update()
        return True

    def _still_wanted(self, cid: str) -> bool:
        order = self._tracker.get(cid)
        return order is not None and cid not in self._cancel_intents and not order.cancel_requested and (
            order.state in (OrderState.UNKNOWN, OrderState.PENDING_CREATE))

    def _is_ours(self, trade: TradeUpdate) -> bool:
        t = self._tracker
        return bool(
            (trade.client_order_id and t.get(trade.client_order_id) is not None)
            or (trade.exchange_order_id and t.get_by_exchange_id(trade.exchange_order_id) is not None)
        )

    async def _flush_journal(self) -> None:
        """Commit the journal (the submit worker calls this right before every send).  A failure raises
        ``JournalError``: an order action is then not sent (its write-ahead record is not on disk), a cancel goes
        out anyway; and the connector winds down (``_storage_failed``)."""
        if self._journal is not None:
            try:
                self._journal.flush()
            except JournalError as exc:
                self._storage_failed(exc)
                raise

    def _refuse_if_storage_failed(self) -> None:
        error = self.storage_error
        if error is not None:
            raise JournalError(error.path, error.action, error.cause,
                               " - no new orders or modifies are accepted; resting orders are being cancelled")

    def _storage_failed(self, error: JournalError) -> None:
        """The journal cannot be written: refuse new orders at once, say so on the event channel, cancel what
        rests.  ``_flush_forever`` then waits for the cancels and ends the connector with the error."""
        if self.storage_error is not None:
            return
        self.storage_error = error
        logger.critical("%s; refusing new orders and cancelling %d live order(s)", error,
                        len(self._tracker.active_orders()))
        ws = self._session.statistics() if self._session is not None else None
        self._fanout.publish([HealthChanged(
            timestamp=self._clock(), trading_ready=False, issues=(HealthIssue.JOURNAL_UNWRITABLE,),
            stale_pairs=(), ws_reconnects=ws.reconnects if ws else 0,
        )])
        self.cancel_all()

    def _journal_sending(self, cids: Sequence[str], nonce: int) -> None:
        """The submit worker is about to send an order action (it flushes the journal next, then sends)."""
        if self._journal is not None:
            self._journal.append_sending(self._clock(), cids, nonce, self.signer_address)

    async def _send_action(self, body: Any) -> dict[str, Any]:
        session = self._session
        if self.config.use_ws_post and session is not None and session.is_ready:
            payload = await session.post("action", body, response_timeout=self.config.request_timeout)
            if not isinstance(payload, dict):
                raise ProtocolError(f"post answer: expected an object, got {type(payload).__name__}")
            return payload
        return await self._rest.exchange.post_action(body)

    def _book_updated(self, pair: str) -> None:
        event = self._book_changed.pop(pair, None)
        if event is not None:
            event.set()

    # ---------------------------------------------------------------------------------------- tasks

    async def _start(self, nursery: trio.Nursery, ws_settings: WsSettings | None, rng: random.Random | None) -> None:
        cfg = self.config
        coin_to_pair = self.registry.coin_to_pair
        self._nursery = nursery
        nursery.start_soon(self._fanout.run)
        # Books: REST snapshot first so conn.book() is usable at once.
        for pair in cfg.pairs:
            asset = self.registry.by_pair(pair)
            book = self._books[asset.name] = OrderBook(asset.name)
            try:
                snap = parse_l2_book(await self._rest.info.l2_book(asset.coin))
                stamp = snap.timestamp if self._timestamps.plausible(snap.timestamp, f"l2Book {pair}") else None
                book.apply_snapshot(snap.bids, snap.asks, stamp, trio.current_time())
            except (TransportError, ProtocolError, VenueRejectedError) as exc:
                logger.warning("initial l2Book %s failed: %s", pair, exc)
        try:
            self._mids.update(parse_all_mids(await self._rest.info.all_mids()))
        except (TransportError, ProtocolError, VenueRejectedError) as exc:
            logger.warning("initial allMids failed: %s", exc)

        settings = ws_settings if ws_settings is not None else WsSettings(
            stale_timeout=max(cfg.stale_after, 51.0), post_timeout=cfg.request_timeout
        )
        session: WsSession = await nursery.start(partial(serve_ws_session, cfg.ws_url, settings=settings, rng=rng))
        self._session = session
        events = session.connection_events()
        user = self.user
        for channel in ("orderUpdates", "userFills", "userEvents"):
            stream = await session.subscribe({"type": channel, "user": user})
            nursery.start_soon(partial(
                consume_user_channel, channel, stream, feed=self._feed, coin_to_pair=coin_to_pair,
                counters=self._counters, is_ours=self._is_ours, clock=self._clock,
                known=self._quick_order_update,
            ))
        for pair in cfg.pairs:
            asset = self.registry.by_pair(pair)
            stream = await session.subscribe({"type": "l2Book", "coin": asset.coin}, raw_frames=True)
            nursery.start_soon(partial(
                consume_book, self._books[asset.name], stream, changed=self._book_updated, counters=self._counters,
                judge=self._timestamps
            ))
        mids_stream = await session.subscribe({"type": "allMids"})
        nursery.start_soon(self._consume_mids, mids_stream)
        # Startup reconciliation = the first gap-fill: restored orders and fills missed while we were down.
        restored = self._tracker.active_orders()
        for o in restored:
            self._count_open(o)
        await self._load_positions()
        await self._refresh_budget()
        since = min((int(o.created_at * 1000) for o in restored), default=int(self._clock() * 1000))
        self._last_fill_ms = max(self._last_fill_ms, since)
        self._ws_generation_seen = session.generation
        await self._gap_fill_until_done()
        resent = self._settle_never_sent()
        unknown = {o.client_order_id: o.pair for o in self._tracker.needs_resolution()}
        pending = [o for o in restored if o.state is OrderState.PENDING_CREATE and o.client_order_id not in resent]
        for o in pending:  # intent journaled, never answered: its fate is as open as an UNKNOWN's
            unknown[o.client_order_id] = o.pair
            self._feed("order", OrderUpdate(pair=o.pair, new_state=OrderState.UNKNOWN, timestamp=self._clock(),
                                            client_order_id=o.client_order_id, reason="restored without an answer"))
        to_settle = self._resolve_restored(unknown)
        # A cancel the user asked for before the restart may never have been sent (or its answer was lost with
        # the process): the intent is journaled, so send it again.  Cancelling an order that is already gone
        # only earns a harmless "already canceled" refusal.
        for o in restored:
            if o.cancel_requested and not o.is_done:
                self._cancel_intents.add(o.client_order_id)
                self._requeue_cancel(o)
        nursery.start_soon(self._watch_connection, events)
        await nursery.start(self.submit.run)
        await nursery.start(self.submit.resolve_forever)
        if to_settle:
            nursery.start_soon(self._settle_restored_forever, to_settle)
        else:
            self.restore_settled.set()
        nursery.start_soon(self._reconcile_forever)
        if self._journal is not None:
            nursery.start_soon(self._flush_forever)
        self.submit.open_gate()
        if cfg.dead_mans_switch_s is not None:
            self.dead_mans_switch = DeadMansSwitch(
                send_schedule_cancel=self._send_schedule_cancel,
                is_healthy=self._is_healthy,
                clock_ms=lambda: int(self._clock() * 1000),
                window_s=cfg.dead_mans_switch_s,
                refresh_every_s=cfg.dead_mans_switch_s / 3,
            )
            await nursery.start(self.dead_mans_switch.run)
        await nursery.start(self.health_monitor.run)

    def _settle_never_sent(self) -> set[str]:
        """Restored orders the journal proves never left the process: FAILED "never sent", or - with
        ``resend_unsent_on_restart`` - queued again (limit orders; returned).  Never UNKNOWN: nothing to ask."""
        resent: set[str] = set()
        now = self._clock()
        for cid in self._never_sent:
            order = self._tracker.get(cid)
            if order is None or order.state is not OrderState.PENDING_CREATE:
                continue
            if (self.config.resend_unsent_on_restart and not order.cancel_requested and order.price is not None
                    and order.order_type in (OrderType.LIMIT, OrderType.LIMIT_MAKER)):
                asset = self.registry.by_pair(order.pair)
                self.submit.requeue(PlaceRequest(
                    cid, order.pair, asset.asset_id, order.side is Side.BUY, order.price, order.amount,
                    order.position_action is PositionAction.CLOSE, wire_order_type(order, None, None, False)))
                self.submit.note_placing(cid)
                resent.add(cid)
                continue
            self._feed("order", OrderUpdate(pair=order.pair, new_state=OrderState.FAILED, timestamp=now,
                                            client_order_id=cid, reason="never sent", venue_status="rejected"))
        if self._never_sent:
            logger.info("restored %d order(s) that never left the process: %d sent now, the rest FAILED",
                        len(self._never_sent), len(resent))
        self._never_sent = ()
        return resent

    def _resolve_restored(self, unknown: dict[str, str]) -> dict[str, Submission]:
        """Split the orders restored without an answer: those whose submission this signer journaled are returned,
        to be settled in bulk (``trio_hl.hyperliquid.settle``); the rest (no ``"sending"`` record: an older
        journal, or one whose tail a power loss may have taken; another signer's nonce) go to the resolver, to be
        resolved by asking only."""
        me = self.signer_address.lower()
        settle: dict[str, Submission] = {}
        unprobed: dict[str, str] = {}
        for cid, pair in unknown.items():
            submission = self._restored_submissions.get(cid)
            if submission is not None and submission.signer == me:
                settle[cid] = submission
            else:
                unprobed[cid] = pair
        self._restored_submissions = {}
        # (the not-found rounds an earlier run spent are journaled as the orders' not-found counts: continue them)
        done = min((o.not_found_count for cid in unprobed if (o := self._tracker.get(cid)) is not None), default=0)
        self.submit.add_unresolved(unprobed, polls_done=done)
        return settle

    async def _settle_restored_forever(self, orders: dict[str, Submission]) -> None:
        """Settle the restored maybe-sent orders (see ``settle_restored``), retrying until the venue answers."""
        pair_of = {cid: order.pair for cid in orders if (order := self._tracker.get(cid)) is not None}
        orders = {cid: s for cid, s in orders.items() if cid in pair_of}
        delay = 0.25
        while True:
            try:
                self.restore_report = await settle_restored(
                    orders, pair_of=pair_of, info=self._rest.info, user=self.user,
                    fenced_through=self._fences.get(self.signer_address.lower()), fence=self._fence,
                    feed=self._feed, coin_to_pair=self.registry.coin_to_pair,
                    now_ms=lambda: int(self._clock() * 1000), still_open=self._awaits_answer,
                )
                break
            except (TransportError, ProtocolError, VenueRejectedError) as exc:
                logger.warning("settling restored orders failed, retrying in %.2fs: %s", delay, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.restore_settled.set()

    def _awaits_answer(self, cid: str) -> bool:
        order = self._tracker.get(cid)
        return order is not None and order.state in (OrderState.PENDING_CREATE, OrderState.UNKNOWN)

    async def _fence(self, nonce: int) -> None:
        """Make every action of ours with a nonce at or below ``nonce`` unacceptable to the venue: have
        ``STORED_NONCES`` noops with higher nonces accepted (the venue keeps only the 100 highest and refuses
        anything not above the smallest; PROTOCOL §8.1), then journal it so a later restart does not repeat it."""
        self._nonces.advance_past(nonce)
        accepted = 0
        delay = 0.1
        while accepted < STORED_NONCES:
            try:
                await self.submit.send_single(wire.noop_action())
            except (TransportError, AmbiguousOutcomeError, VenueRejectedError) as exc:
                # (an ambiguous noop may or may not count: only answered ones are counted)
                logger.info("fence noop failed (%d of %d accepted), retrying in %.2fs: %s", accepted,
                            STORED_NONCES, delay, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            accepted += 1
        signer = self.signer_address.lower()
        self._fences[signer] = max(self._fences.get(signer, nonce), nonce)
        if self._journal is not None:
            self._journal.append_fence(self._clock(), signer, nonce)
            await self._flush_journal()

    async def _send_schedule_cancel(self, time_ms: int | None) -> None:
        await self.submit.send_single(wire.schedule_cancel_action(time_ms))

    def _is_healthy(self) -> bool:
        """Healthy enough to keep orders on the book: connected, gap-filled (gate open), worker not backed up."""
        session = self._session
        return (self.submit.gate_open and session is not None and session.is_ready
                and self.submit.statistics().queued < self.config.submit_queue_size)

    async def _refresh_budget(self) -> None:
        try:
            self.submit.budget.refresh_from_wire(await self._rest.info.user_rate_limit(self.user))
            self._budget_refreshed = trio.current_time()
        except (TransportError, ProtocolError, VenueRejectedError) as exc:
            logger.info("userRateLimit not refreshed: %s", exc)

    async def _load_positions(self) -> None:
        """Seed ``position()`` from the venue (perp positions; spot balances of traded pairs' base tokens)."""
        try:
            state = await self._rest.info.clearinghouse_state(self.user)
            as_of = state.get("time")
            if isinstance(as_of, int) and not isinstance(as_of, bool):
                self._positions_as_of_ms = as_of
            for item in state.get("assetPositions", []):
                pos = item.get("position", {}) if isinstance(item, dict) else {}
                asset = self.registry.get_coin(str(pos.get("coin")))
                if asset is not None:
                    self._positions[asset.name] = Decimal(str(pos.get("szi", "0")))
            spot = await self._rest.info.spot_clearinghouse_state(self.user)
            balances = {b.get("coin"): Decimal(str(b.get("total", "0"))) for b in spot.get("balances", [])
                        if isinstance(b, dict)}
            for asset in self.registry:
                if asset.is_spot and asset.base in balances and asset.name in self.config.pairs:
                    self._positions[asset.name] = balances[asset.base]
        except (TransportError, ProtocolError, VenueRejectedError, ArithmeticError, AttributeError) as exc:
            logger.warning("initial positions not loaded: %s", exc)

    async def _consume_mids(self, stream: trio.abc.ReceiveChannel[Any]) -> None:
        async for data in stream:
            try:
                self._mids.update(parse_all_mids(data))
            except ProtocolError as exc:
                self._counters.malformed += 1
                logger.warning("allMids: malformed frame skipped: %s", exc)

    async def _gap_fill_until_done(self) -> None:
        backoff_s = 0.25
        while True:
            try:
                await gap_fill(
                    self._rest.info, user=self.user, since_ms=self._last_fill_ms,
                    orders=self._tracker.active_orders(), feed=self._feed,
                    coin_to_pair=self.registry.coin_to_pair, counters=self._counters,
                )
                return
            except (TransportError, ProtocolError, VenueRejectedError) as exc:
                # (a 4xx - a CDN's 403, a 422 - is as transient here as a 5xx: the gate stays closed meanwhile)
                logger.warning("gap-fill failed, retrying in %.2fs: %s", backoff_s, exc)
                await trio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 10.0)

    async def _watch_connection(self, events: trio.abc.ReceiveChannel[Any]) -> None:
        """Disconnected ⇒ close the submit gate; Ready (a new generation) ⇒ gap-fill ⇒ reopen."""
        async for event in events:
            if isinstance(event, Disconnected):
                self.submit.close_gate()
            elif isinstance(event, Ready) and event.generation > self._ws_generation_seen:
                self.submit.close_gate()
                self._ws_generation_seen = event.generation
                await self._gap_fill_until_done()
                if self._session is not None and self._session.is_ready:
                    self.submit.open_gate()

    async def _reconcile_forever(self) -> None:
        """Periodic safety net: tracker deadlines, lost orders cancelled, status polls when the stream is quiet."""
        cfg = self.config
        while True:
            events = self._tracker.poll(self._clock())
            if events:
                self._publish(events)
            for eid, cid in list(self._replaced_eids.items()):
                kept = self._tracker.get(cid)
                if kept is None or kept.state in (OrderState.CANCELED, OrderState.FILLED, OrderState.FAILED):
                    del self._replaced_eids[eid]
            for cid in [c for c in self._cancels_pending if self._tracker.get(c) is None]:
                del self._cancels_pending[cid]  # (the order is forgotten: nothing can ask about its cancel)
            for order in self._tracker.lost_orders():
                if not order.cancel_requested and self._tracker.start_cancel(order.client_order_id):
                    self._requeue_cancel(order)
            if trio.current_time() - self._budget_refreshed > 60.0:
                await self._refresh_budget()
            session = self._session
            stale = session is None or not session.is_ready
            if self.submit.gate_open:
                try:
                    await self._check_open_orders()
                except (TransportError, ProtocolError, VenueRejectedError) as exc:
                    logger.info("reconcile poll failed: %s", exc)
            interval = cfg.reconcile_interval / (4 if stale else 1)
            await trio.sleep(min(interval, 1.0) if self._tracker.awaiting_fills() else interval)

    async def _check_open_orders(self) -> None:
        """One ``openOrders`` call (cheap, weight 20) finds live orders the streams may have missed news of: any
        order we believe live for a while that the venue no longer lists gets an ``orderStatus`` poll."""
        horizon = self._clock() - self.config.reconcile_interval
        live = [o for o in self._tracker.active_orders()
                if o.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL)
                and o.last_update < horizon]
        if not live:
            return
        listed = await self._rest.info.open_orders(self.user)
        on_venue = {str(o.get("cloid")) for o in listed if isinstance(o, dict)}
        on_venue |= {str(o.get("oid")) for o in listed if isinstance(o, dict)}
        missing = [o for o in live if o.client_order_id not in on_venue and o.exchange_order_id not in on_venue]
        if missing:
            await gap_fill(
                self._rest.info, user=self.user, since_ms=self._last_fill_ms, orders=missing, feed=self._feed,
                coin_to_pair=self.registry.coin_to_pair, counters=self._counters,
            )

    async def _flush_forever(self) -> None:
        """Commit the journal every 50 ms and compact it every ``compact_every`` records; on a write failure, wind
        down (see ``_wind_down``) and end the connector with the ``JournalError``."""
        journal = self._journal
        assert journal is not None
        while self.storage_error is None:
            await trio.sleep(0.05)
            try:
                await self._flush_journal()
                if journal.needs_compaction():
                    journal.compact(self._tracker, self._clock())
            except JournalError as exc:
                self._storage_failed(exc)
        error = self.storage_error
        await self._wind_down()
        raise error

    async def _wind_down(self) -> None:
        """After a storage failure: wait (up to ``request_timeout`` x 3) for every live order to be cancelled.  If
        some remain, arm the venue's ``scheduleCancel`` (the dead-man's switch) a little ahead, so they are
        cancelled even though this process stops managing them; it stays armed when the connector exits."""
        with trio.move_on_after(self.config.request_timeout * 3):
            while self._tracker.active_orders():
                self.cancel_all()  # (orders that came back from an unresolved state since)
                await trio.sleep(0.1)
        left = self._tracker.active_orders()
        if not left:
            logger.critical("storage failure: every order is cancelled")
            return
        self.keep_dead_mans_switch = True
        try:
            with trio.fail_after(self.config.request_timeout):
                await self._send_schedule_cancel(int(self._clock() * 1000) + _WIND_DOWN_SCHEDULE_MS)
            logger.critical("storage failure: %d order(s) not confirmed cancelled; the venue cancels them all at "
                            "the scheduleCancel deadline in %d s", len(left), _WIND_DOWN_SCHEDULE_MS // 1000)
        except (TrioHLError, trio.TooSlowError) as exc:
            logger.critical("storage failure: %d order(s) not confirmed cancelled and scheduleCancel failed (%s); "
                            "a dead-man's switch armed earlier is the only protection left", len(left), exc)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _unwrap_single_exception(
    factory: Callable[_P, AbstractAsyncContextManager[_T]],
) -> Callable[_P, AbstractAsyncContextManager[_T]]:
    """``open_connector``'s exception policy (its docstring): a group of one real exception is re-raised as that
    exception (its traceback and cause kept; the group stays its undisplayed ``__context__``); anything else
    passes unchanged."""

    @functools.wraps(factory)
    @asynccontextmanager
    async def unwrapped(*args: _P.args, **kwargs: _P.kwargs) -> AsyncIterator[_T]:
        try:
            async with factory(*args, **kwargs) as value:
                yield value
        except BaseExceptionGroup as group:
            real = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
            if len(real) != 1:
                raise
            only = real[0]
            cause = only.__cause__
            raise only from cause  # (``from`` keeps the exception's own cause and hides the group's noise)

    return unwrapped


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _cancel_live_orders_on_exit(conn: HyperliquidConnector, *, tasks_alive: bool) -> None:
    """``cancel_on_exit``: take our live orders off the venue before the connector's tasks stop (see
    ``open_connector``).  Bounded by the request timeout and shielded; a failure is logged, never raised over
    the exception that may be ending the block."""
    live = conn.open_orders()
    if not live:
        return
    with trio.move_on_after(conn.config.request_timeout) as scope:
        scope.shield = True
        try:
            if tasks_alive:
                with conn.events() as events:
                    conn.cancel_all()
                    while conn.open_orders():
                        await events.receive()
            else:
                # Over REST, signed here: the WebSocket session's reader is one of the cancelled tasks, so a post
                # on it would never be answered.  The venue's per-order statuses are not needed: the next
                # connector (or a restart from the journal) learns each order's end from the venue.
                action = wire.cancel_by_cloid_action(
                    [(conn.registry.by_pair(o.pair).asset_id, o.client_order_id) for o in live])
                cfg = conn.config
                vault = cfg.vault_address.lower() if cfg.vault_address else None
                nonce = conn._nonces.next()
                signature = sign_l1_action(conn._signer, action, vault, nonce, None, cfg.mainnet)
                await conn._rest.exchange.post_action(wire.exchange_body(action, nonce, signature, vault, None))
        except (TrioHLError, trio.EndOfChannel) as exc:
            logger.error("cancel on exit failed; %d order(s) may still rest on the venue: %s", len(live), exc)
            return
    if scope.cancelled_caught:
        left = len(conn.open_orders()) if tasks_alive else len(live)
        logger.error("cancel on exit not confirmed within %.1f s; %d order(s) may still rest on the venue",
                     conn.config.request_timeout, left)


def _pair_suggestions(registry: AssetRegistry, pair: str) -> tuple[str, ...]:
    """Names the venue lists that look like ``pair`` (or its first few, when none does): what to type instead."""
    listed = registry.pairs()
    return tuple(difflib.get_close_matches(str(pair), listed, n=3, cutoff=0.5) or listed[:4])


async def _load_registry(rest: RestClients) -> AssetRegistry:
    info = rest.info
    meta = await info.meta()
    spot_meta = await info.spot_meta()
    dex_metas: dict[str, Any] = {}
    perp_dexs: list[Any] | None = None
    try:
        perp_dexs = await info.perp_dexs()
    except (VenueRejectedError, ProtocolError):
        perp_dexs = None
    if perp_dexs:
        for entry in perp_dexs[1:]:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                dex_metas[entry["name"]] = await info.meta(entry["name"])
    return AssetRegistry.from_wire(meta, spot_meta, perp_dexs, dex_metas or None)


async def _measure_clock(
    rest: RestClients, registry: AssetRegistry, pairs: Sequence[str], wall: Callable[[], float],
) -> ClockCheck | None:
    """The venue's clock against ours from one ``l2Book`` answer (its ``time`` is the venue's block time, ms).

    None if no book could be read for it (a venue without a listed coin, a refusal): then nothing is refused
    and venue timestamps are judged against the local clock alone (see ``hyperliquid.clock``)."""
    coin = registry.by_pair(pairs[0]).coin if pairs else next((a.coin for a in registry), None)
    if coin is None:
        return None
    before = wall()
    try:
        snap = parse_l2_book(await rest.info.l2_book(coin))
    except (ProtocolError, VenueRejectedError) as exc:
        logger.warning("clock check skipped: l2Book %s could not be read: %s", coin, exc)
        return None
    after = wall()
    return ClockCheck(offset_s=snap.timestamp - (before + after) / 2, rtt_s=after - before)


async def _check_identity(
    rest: RestClients, signer: Signer, cfg: ConnectorConfig, user: str, nonces: NonceService,
) -> None:
    """Sign a ``noop`` so a wrong key/account/agent/network combination fails here, with an explanation, instead
    of on the first order with the venue's terse ``User or API Wallet … does not exist``.  Its nonces come from
    the connector's ``nonces``: one source per signer, so a wall clock stepped back cannot make a later action
    reuse (or undercut) the noop's nonce."""
    await rest.info.clearinghouse_state(user)  # names the account (and checks the venue answers at all)
    action = wire.noop_action()
    vault = cfg.vault_address.lower() if cfg.vault_address else None
    # A 5xx, a 429 or a lost answer says nothing about the key: try again (a noop with a fresh nonce is harmless
    # even if an earlier one landed), a bounded number of times, so a flaky venue does not fail the startup.
    delay = 0.25
    for attempt in range(_IDENTITY_ATTEMPTS):
        nonce = nonces.next()
        body = wire.exchange_body(action, nonce, sign_l1_action(signer, action, vault, nonce, None, cfg.mainnet),
                                  vault, None)
        try:
            answer = await rest.exchange.post_action(body)
            break
        except (TransportError, AmbiguousOutcomeError) as exc:
            if attempt == _IDENTITY_ATTEMPTS - 1:
                raise
            logger.warning("identity check: %s; retrying in %.2fs", exc, delay)
            await trio.sleep(delay)
            delay = min(delay * 2, 4.0)
    if answer.get("status") == "err":
        error = classify_action_error(str(answer.get("response")))
        if error.kind in (ActionErrorKind.UNKNOWN_SIGNER, ActionErrorKind.MUST_DEPOSIT, ActionErrorKind.SIGNATURE):
            raise ConfigError(
                f"the venue refused our signer {signer.address} (account {cfg.account_address or signer.address}, "
                f"vault {cfg.vault_address}, {'mainnet' if cfg.mainnet else 'testnet'} signing): {error.message}. "
                "If an agent (API wallet) key signs, set account_address to the master account and approve the "
                "agent first; check is_mainnet matches the URL."
            )


def _continue_nonces(nonces: NonceService, journaled: int | None) -> None:
    """Continue after the highest nonce the journal saw this signer use, so a wall clock that stepped back since
    the last run cannot make us repeat (or undercut) one.  A nonce the venue's window would refuse today (more
    than a day ahead of our clock) is not followed: every action would be refused."""
    if journaled is None:
        return
    if journaled < nonces.now_ms() + MAX_NONCE_LEAD_MS:
        nonces.advance_past(journaled)
    else:
        logger.warning("journaled nonce %d is more than a day ahead of the clock; not continued from", journaled)


@_unwrap_single_exception
@asynccontextmanager
async def open_connector(
    config: ConnectorConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ws_settings: WsSettings | None = None,
    rng: random.Random | None = None,
    check_identity: bool = True,
    risk: RiskLimits | None = None,
    cancel_on_exit: bool = True,
) -> AsyncIterator[HyperliquidConnector]:
    """``async with open_connector(config) as conn:`` — a running connector (see module doc).

    **Leaving the block** cancels the connector's tasks.  With ``cancel_on_exit=True`` (the default) it first
    cancels every order of ours still live on the venue, and waits (bounded by ``config.request_timeout``,
    shielded from the cancellation that may be ending the block) until they are gone: a strategy that ends,
    crashes or is stopped with Ctrl-C must not leave quotes resting that nobody watches any more.  On a normal
    exit or an exception in the block the cancels go the usual way (``cancel_all``, outcomes as events, the
    journal follows); when the block is being cancelled (Ctrl-C, an outer timeout) or a connector task failed,
    the connector's tasks are gone, so one ``cancelByCloid`` action is sent directly.  Pass
    ``cancel_on_exit=False`` for orders meant to outlive the process - a GTC order placed by a script, or a
    restart that resumes from the journal; the dead-man's switch (``config.dead_mans_switch_s``) is the
    venue-side net for a process that dies without running any exit code.

    **Exceptions**: Trio wraps whatever leaves a nursery in an ``ExceptionGroup``
    (``strict_exception_groups``).  This context manager unwraps a group holding exactly one exception (after
    setting aside the ``trio.Cancelled`` echoes in the connector's own tasks) and re-raises that exception
    itself, so ``except ValueError:`` around the block catches a ``ValueError`` raised inside it.  Two or more
    distinct failures stay an ``ExceptionGroup`` (use ``except*``): dropping one would hide a bug.
    """
    signer: Signer
    if config.signer is not None:
        signer = config.signer  # type: ignore[assignment]
    else:
        assert config.private_key is not None
        signer = LocalSigner(config.private_key.reveal())
    user = (config.vault_address or config.account_address or signer.address).lower()
    clock = _WallClock()
    timeouts = httpx.Timeout(config.request_timeout, connect=min(config.request_timeout, 5.0))
    async with open_rest_clients(config.base_url, transport=transport, timeouts=timeouts, rng=rng) as rest:
        registry = await _load_registry(rest)
        for pair in config.pairs:
            try:
                registry.by_pair(pair)
            except (KeyError, ValueError, ConfigError) as exc:
                raise UnknownPairError(pair, _pair_suggestions(registry, pair)) from exc
        clock_check = await _measure_clock(rest, registry, config.pairs, clock)
        if clock_check is not None:
            check_skew(clock_check)  # raises ClockSkewError: outside the nonce window nothing could trade
        nonces = NonceService(lambda: int(clock() * 1000))
        submissions: dict[str, Submission] = {}
        never_sent: tuple[str, ...] = ()
        fences: dict[str, int] = {}
        journal: Journal | None = None
        if config.journal_path is not None:
            journal = Journal(config.journal_path)
            if journal.statistics().last_seq == 0:
                tracker = OrderTracker(clock=clock, not_found_limit=config.not_found_limit)
                tracker.attach_journal(journal, fresh=True)
            else:
                restored = journal.restore(clock=clock)
                if restored.corruption is not None:
                    logger.error("journal %s: %s", config.journal_path, restored.corruption)
                tracker = restored.tracker
                submissions = restored.submissions
                never_sent = restored.never_sent
                fences = restored.fences
                _continue_nonces(nonces, restored.highest_nonces.get(signer.address.lower()))
                # Drop what the restore did not need (finished orders): the next restore reads only open orders.
                journal.compact(tracker, clock())
        else:
            tracker = OrderTracker(clock=clock, not_found_limit=config.not_found_limit)
        conn: HyperliquidConnector | None = None
        try:
            if check_identity:
                await _check_identity(rest, signer, config, user, nonces)
            async with trio.open_nursery() as nursery:
                conn = HyperliquidConnector(config, rest=rest, registry=registry, signer=signer, user=user,
                                            tracker=tracker, journal=journal, clock=clock, risk=risk,
                                            nonces=nonces, submissions=submissions, clock_check=clock_check,
                                            never_sent=never_sent, fences=fences)
                await conn._start(nursery, ws_settings, rng)
                leaving: BaseException | None = None
                try:
                    yield conn
                except BaseException as exc:
                    leaving = exc
                    raise
                finally:
                    if cancel_on_exit:
                        # The tasks still run on a normal exit or an exception in the block; not when the
                        # block is being cancelled (they are cancelled too) or a connector task failed.
                        tasks_alive = isinstance(leaving, Exception | None) and not nursery.cancel_scope.cancel_called
                        await _cancel_live_orders_on_exit(conn, tasks_alive=tasks_alive)
                    if conn.dead_mans_switch is not None and not conn.keep_dead_mans_switch:
                        # A clean exit unsets the schedule (a crash leaves it armed, which is the point).
                        with trio.move_on_after(config.request_timeout) as scope:
                            scope.shield = True
                            try:
                                await conn.dead_mans_switch.disarm()
                            except TrioHLError as exc:
                                logger.error("dead-man's switch not disarmed; the venue will cancel at the "
                                             "deadline: %s", exc)
                    nursery.cancel_scope.cancel()
        finally:
            if journal is not None:
                try:
                    journal.close()
                except JournalError as exc:
                    if conn is None or conn.storage_error is None:
                        raise
                    logger.error("%s (at close, after the storage failure)", exc)



def _is_a_connector(conn: HyperliquidConnector) -> Connector:
    """Never called: mypy checks here that ``HyperliquidConnector`` satisfies the ``Connector`` protocol."""
    return conn
