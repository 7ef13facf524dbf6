"""Stream consumers: WebSocket frames → tracker updates and order books; the REST gap-fill.

Rules followed (PROTOCOL §6.4, DESIGN §3 "Reconnect"):

* The user's data arrives on three lossless channels — ``orderUpdates`` (status changes), ``userFills`` (the
  first frame after subscribing is a snapshot of recent fills) and ``userEvents`` (fills again, funding,
  liquidations, and ``nonUserCancel`` for orders the venue canceled itself).  Fills arrive on two channels and
  again in every gap-fill; the tracker de-duplicates by trade id, so feeding every copy is correct and simpler
  than choosing one.
* A frame that does not parse is counted and skipped (``ProtocolError`` only); an unknown order status is
  counted and causes no state change.  Nothing here may end the stream task.
* **Gap-fill** runs after every (re)connection is ready — subscriptions acked — and *before* the submit gate
  reopens: fills since the last fill we saw (minus a safety margin; duplicates are free), and ``orderStatus`` of
  every order still in flight.  Whatever happened while we were disconnected is then in the tracker before a new
  order can be sent.  Rejected alternative: trusting the ``userFills`` snapshot after reconnect — it is bounded
  to recent fills and says nothing about cancels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from trio_hl.core.book import OrderBook
from trio_hl.core.events import Event
from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderState
from trio_hl.errors import ProtocolError, VenueRejectedError
from trio_hl.hyperliquid.book_frames import parse_l2_book_frame
from trio_hl.hyperliquid.clock import TimestampJudge
from trio_hl.hyperliquid.messages import (
    FundingPayment,
    Liquidation,
    NonUserCancel,
    parse_fills,
    parse_l2_book,
    parse_open_orders,
    parse_order_snapshot,
    parse_order_status_response,
    parse_user_event,
    parse_user_fills,
)
from trio_hl.hyperliquid.rest import InfoClient

__all__ = ["GAP_FILL_MARGIN_MS", "StreamCounters", "consume_book", "consume_user_channel", "gap_fill"]

logger = logging.getLogger("trio_hl.streams")

#: Fills are re-fetched from this long before the last one seen: venue timestamps of fills in one block can
#: arrive out of order across channels, and duplicates cost nothing.
GAP_FILL_MARGIN_MS = 5_000
#: Orders whose fate the submit worker owns until the venue answered (see ``gap_fill``).
_SUBMIT_OWNED = frozenset({OrderState.PENDING_CREATE, OrderState.UNKNOWN})

Feed = Callable[[str, Any], list[Event]]


@attrs.define
class StreamCounters:
    """Mutable counters shared by the consumers (read through ``connector.health()``)."""

    frames: int = 0
    malformed: int = 0
    unknown_status: int = 0
    fundings: int = 0
    liquidations: int = 0
    non_user_cancels: int = 0
    snapshot_fills_skipped: int = 0
    gap_fills: int = 0
    gap_fill_fills: int = 0
    gap_fill_statuses: int = 0
    last_user_frame: float | None = None
    funding_events: list[FundingPayment] = attrs.field(factory=list)


async def consume_user_channel(
    channel: str,
    stream: trio.abc.ReceiveChannel[Any],
    *,
    feed: Feed,
    coin_to_pair: Mapping[str, str],
    counters: StreamCounters,
    is_ours: Callable[[Any], bool],
    clock: Callable[[], float],
    known: Callable[[Any], bool] | None = None,
) -> None:
    """Feed one user channel into the tracker until the stream ends (session closed) or the task is cancelled.

    ``known(item)``: True for an ``orderUpdates`` item the caller has handled itself (a repeat of what the tracker
    holds, or the first report of an order it placed); such an item is not parsed (see
    ``HyperliquidConnector._quick_order_update``)."""
    async for data in stream:
        counters.frames += 1
        counters.last_user_frame = trio.current_time()
        try:
            if channel == "orderUpdates":
                _order_updates(data, feed, coin_to_pair, counters, known)
            elif channel == "userFills":
                fills = parse_user_fills(data, coin_to_pair)
                for trade in fills.fills:
                    if fills.is_snapshot and not is_ours(trade):
                        # Snapshot fills of orders this process never tracked are history, not news.
                        counters.snapshot_fills_skipped += 1
                        continue
                    feed("trade", trade)
            elif channel == "userEvents":
                _user_event(data, feed, coin_to_pair, counters, clock)
        except ProtocolError as exc:
            counters.malformed += 1
            logger.warning("%s: malformed frame skipped: %s", channel, exc)


def _order_updates(data: Any, feed: Feed, coin_to_pair: Mapping[str, str], counters: StreamCounters,
                   known: Callable[[Any], bool] | None = None) -> None:
    if not isinstance(data, list):
        raise ProtocolError(f"orderUpdates: expected a list, got {type(data).__name__}")
    for item in data:
        if known is not None and known(item):
            continue
        try:
            snapshot = parse_order_snapshot(item, coin_to_pair)
        except ProtocolError as exc:
            counters.malformed += 1
            logger.warning("orderUpdates: malformed item skipped: %s", exc)
            continue
        update = snapshot.to_update()
        if update is None:
            counters.unknown_status += 1
            logger.warning("orderUpdates: unknown status %r for oid %s", snapshot.venue_status,
                           snapshot.exchange_order_id)
            continue
        feed("order", update)


def _user_event(data: Any, feed: Feed, coin_to_pair: Mapping[str, str], counters: StreamCounters,
                clock: Callable[[], float]) -> None:
    event = parse_user_event(data, coin_to_pair)
    if isinstance(event, tuple):
        for trade in event:
            feed("trade", trade)
    elif isinstance(event, NonUserCancel):
        counters.non_user_cancels += len(event.cancels)
        for update in event.to_updates(clock()):
            feed("order", update)
    elif isinstance(event, FundingPayment):
        counters.fundings += 1
        counters.funding_events.append(event)
        del counters.funding_events[:-1000]
    elif isinstance(event, Liquidation):
        counters.liquidations += 1
        logger.error("liquidation reported: %s", event)


async def consume_book(
    book: OrderBook,
    stream: trio.abc.ReceiveChannel[Any],
    *,
    changed: Callable[[str], None],
    counters: StreamCounters,
    judge: TimestampJudge | None = None,
) -> None:
    """Apply every ``l2Book`` snapshot of one coin to ``book`` (the stream conflates: latest book wins).

    The book's age runs from the local receipt time; a venue stamp ``judge`` finds unbelievable is counted and
    not used to order snapshots (see :mod:`trio_hl.hyperliquid.clock`).

    Items are the frame text (a ``raw_frames`` subscription: decoded here by the typed decoder) or decoded data."""
    async for data in stream:
        received_at = trio.current_time()
        try:
            snap = parse_l2_book_frame(data) if type(data) is str else parse_l2_book(data)
        except ProtocolError as exc:
            counters.malformed += 1
            logger.warning("l2Book %s: malformed frame skipped: %s", book.pair, exc)
            continue
        stamp: float | None = snap.timestamp
        if judge is not None and not judge.plausible(snap.timestamp, f"l2Book {book.pair}"):
            stamp = None
        if book.apply_snapshot(snap.bids, snap.asks, stamp, received_at):
            changed(book.pair)


async def gap_fill(
    info: InfoClient,
    *,
    user: str,
    since_ms: int,
    orders: list[InFlightOrder],
    feed: Feed,
    coin_to_pair: Mapping[str, str],
    counters: StreamCounters,
) -> None:
    """Fetch what the streams may have missed and feed it to the tracker (see module doc).

    Raises ``TransportError``/``ProtocolError`` if the venue cannot be read; the caller retries before opening
    the submit gate (trading on a tracker with a hole in it is exactly what this exists to prevent).
    """
    counters.gap_fills += 1
    raw_fills = await info.user_fills_by_time(user, max(0, since_ms - GAP_FILL_MARGIN_MS))
    for trade in parse_fills(raw_fills, coin_to_pair):
        counters.gap_fill_fills += 1
        feed("trade", trade)
    if not orders:
        return
    # One openOrders call (weight 20) settles every order still resting; only the others need an orderStatus
    # each (weight 2).  Asking 1 000 resting orders one by one would spend more than the venue's per-minute IP
    # budget while the submit gate is closed.
    resting = {snap.client_order_id: snap for snap in parse_open_orders(await info.open_orders(user), coin_to_pair)
               if snap.client_order_id is not None}
    for order in orders:
        snap = resting.get(order.client_order_id)
        if snap is not None:
            update = snap.to_update()
            if update is not None:
                counters.gap_fill_statuses += 1
                feed("order", attrs.evolve(update, client_order_id=order.client_order_id))
            continue
        if order.state in _SUBMIT_OWNED:
            # Not resting, and its submission has no answer yet: the submit worker (answer, or UNKNOWN and the
            # resolver) settles it; its fills come with userFillsByTime above.  Asking here would cost weight 2
            # per queued order - with hundreds queued behind a closed gate, more than the venue's per-minute IP
            # budget, so the gap-fill could never finish and the gate never reopen.
            continue
        try:
            answer = await info.order_status(user, order.client_order_id)
        except (VenueRejectedError, ValueError) as exc:
            logger.warning("orderStatus %s refused: %s", order.client_order_id, exc)
            continue
        snapshot = parse_order_status_response(answer, coin_to_pair)
        if snapshot is None:
            # The venue does not know it (yet): the submit worker / resolver owns PENDING_CREATE and UNKNOWN.
            continue
        update = snapshot.to_update()
        if update is None:
            counters.unknown_status += 1
            continue
        counters.gap_fill_statuses += 1
        feed("order", attrs.evolve(update, client_order_id=order.client_order_id))
