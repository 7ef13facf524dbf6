"""Settling the orders a restart restored without an answer: in bulk, and definitively.

The problem (issue 17): a process killed in the middle of a burst leaves thousands of orders journaled with no
answer.  Asking ``orderStatus`` for each costs weight 2 apiece against an IP budget of 1 200 per minute - about
ten orders a second - and "the venue does not know it" is no proof while the signed action may still be on
its way.  What this module does instead, in this order:

1. **Fence.**  The venue keeps each signer's 100 highest nonces and refuses a nonce that is not above the
   smallest of them (PROTOCOL §8.1).  Once 100 actions with nonces above every pre-crash nonce are *accepted*,
   no pre-crash action can be accepted any more: whatever the venue does not know by then never will.  We send
   ``STORED_NONCES`` ``noop`` actions with fresh nonces (about a millisecond each over a WebSocket post; a noop
   changes nothing but the nonce set, and counts one request against the address budget).  A noop whose answer
   is lost may or may not count, so only answered ones do.  The fence is journaled (``"fence"``: signer,
   highest pre-crash nonce), so a second restart that finds the same orders unsettled skips it.  Orders whose
   nonce is already outside the venue's window (older than two days) need no fence.
2. **Bulk reads, after the fence.**  ``userFillsByTime`` since the first of those submissions, ``openOrders``
   and ``historicalOrders`` (three requests, weight ~60).  Every order found is settled with the venue's status.
3. **Coverage.**  ``historicalOrders`` holds the account's 2 000 most recent orders.  When it is shorter than
   that it holds them all; otherwise every order placed after its oldest entry is in it.  An order not in it
   whose placement would be later than that never landed.  Our send times are on our clock, the venue's
   timestamps on its own: the answer itself bounds the difference - its newest timestamp was stamped before we
   received it, so the venue's clock is at least ``newest - received`` ahead of ours, and an order we sent at
   ``t`` can only have been placed after ``t + newest - received``.  No guessed margin: a skewed clock only
   shrinks what counts as covered.  UNSURE which timestamp the venue sorts the list by (placement or last
   status): we take the later of the oldest placement time and the oldest status time, right for either.
4. **Per-order reads only for the rest**: orders sent before what the history covers.  ``orderStatus`` each
   (a few at a time); not found after the fence means never landed.

An order that provably never landed is FAILED with a reason that says so.  Orders without a usable nonce (a
journal from before ``"sending"`` records, another signer, a nonce the venue's window already refuses for
another reason) are left to the submit worker's ask-only resolution.

Rejected alternative: one ``noop`` probe per journaled nonce (what the live path does for one ambiguous
action).  Each probe answers for one action only, and after a restart the journaled nonce of a batch may
already be below the venue's floor (more actions followed it before the crash), where a refusal says nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs
import trio

from trio_hl.core.events import Event
from trio_hl.core.journal import Submission
from trio_hl.core.types import OrderState
from trio_hl.core.updates import OrderUpdate
from trio_hl.hyperliquid.messages import (
    HISTORICAL_ORDERS_LIMIT,
    OrderSnapshot,
    parse_fills,
    parse_historical_orders,
    parse_open_orders,
    parse_order_status_response,
)
from trio_hl.hyperliquid.nonce import MAX_NONCE_AGE_MS
from trio_hl.hyperliquid.rest import InfoClient
from trio_hl.hyperliquid.streams import GAP_FILL_MARGIN_MS

__all__ = ["FILLS_MARGIN_MS", "NEVER_LANDED", "SettleReport", "settle_restored"]

logger = logging.getLogger("trio_hl.settle")

#: Fills are read from this long before the first restored submission (on top of the gap-fill margin): the
#: journal's clock and the venue's may differ a little, and a fill read twice is de-duplicated.
FILLS_MARGIN_MS: Final = 30_000
#: The reason given to a restored order the venue provably never received.
NEVER_LANDED: Final = "never landed: unknown to the venue after its nonce can no longer be accepted"
#: ``orderStatus`` requests in flight at once for the orders the bulk reads could not settle.
_STATUS_CONCURRENCY: Final = 8

Feed = Callable[[str, Any], list[Event]]


@attrs.frozen
class SettleReport:
    """What one settlement did (also logged)."""

    orders: int
    found_bulk: int
    found_by_status: int
    never_landed: int
    fenced: bool
    status_queries: int
    seconds: float


async def settle_restored(
    orders: Mapping[str, Submission],
    *,
    pair_of: Mapping[str, str],
    info: InfoClient,
    user: str,
    fenced_through: int | None,
    fence: Callable[[int], Awaitable[None]],
    feed: Feed,
    coin_to_pair: Mapping[str, str],
    now_ms: Callable[[], int],
    still_open: Callable[[str], bool],
) -> SettleReport:
    """Settle ``orders`` (client id -> the journaled submission that last carried it, all signed by our signer).

    ``fenced_through``: the highest nonce already fenced (journaled), or None.  ``fence(nonce)`` pushes the
    venue's accepted nonces past ``nonce`` and journals it.  ``still_open(cid)``: whether the tracker still awaits
    the order's answer (a stream may settle it meanwhile).  Raises the transport errors of the reads; the caller
    retries (everything done so far is in the tracker and journal, so a retry - or a restart - continues).
    """
    started = trio.current_time()
    cids = [cid for cid in orders if still_open(cid)]
    if not cids:
        return SettleReport(0, 0, 0, 0, False, 0, 0.0)
    now = now_ms()
    highest = max(orders[cid].nonce for cid in cids)
    fenced = False
    if highest > now - MAX_NONCE_AGE_MS and (fenced_through is None or fenced_through < highest):
        await fence(highest)
        fenced = True
    since = min(int(orders[cid].at * 1000) for cid in cids) - GAP_FILL_MARGIN_MS - FILLS_MARGIN_MS
    for trade in parse_fills(await info.user_fills_by_time(user, max(0, since)), coin_to_pair):
        feed("trade", trade)
    known: dict[str, OrderSnapshot] = {}
    history = parse_historical_orders(await info.historical_orders(user), coin_to_pair)
    received = now_ms()
    for snap in history:
        if snap.client_order_id is None:
            continue
        cid = snap.client_order_id.lower()
        seen = known.get(cid)
        if seen is None or int(snap.exchange_order_id) > int(seen.exchange_order_id):
            known[cid] = snap
    for snap in parse_open_orders(await info.open_orders(user), coin_to_pair):
        if snap.client_order_id is not None:
            known[snap.client_order_id.lower()] = snap  # (resting now: newer than any history entry)
    covered_from = -1  # (sent after this by our clock: would be in the history had it landed)
    if len(history) >= HISTORICAL_ORDERS_LIMIT:
        oldest_placed = min(int(s.created * 1000) for s in history)
        oldest_status = min(int(s.status_timestamp * 1000) for s in history)
        newest = max(max(int(s.created * 1000), int(s.status_timestamp * 1000)) for s in history)
        venue_ahead_at_least = newest - received
        covered_from = max(oldest_placed, oldest_status) - venue_ahead_at_least
    found_bulk = 0
    never: list[str] = []
    ask: list[str] = []
    for cid in cids:
        if not still_open(cid):
            continue
        bulk = known.get(cid.lower())
        if bulk is not None:
            if _apply(bulk, cid, pair_of[cid], feed):
                found_bulk += 1
            continue
        if int(orders[cid].at * 1000) > covered_from:
            never.append(cid)
        else:
            ask.append(cid)
    _never_landed(never, pair_of, feed, now_ms)
    found_by_status = 0
    never_by_status: list[str] = []
    if ask:
        limiter = trio.CapacityLimiter(_STATUS_CONCURRENCY)
        results: dict[str, OrderSnapshot | None] = {}

        async def one(cid: str) -> None:
            async with limiter:
                results[cid] = parse_order_status_response(
                    await info.order_status(user, cid), coin_to_pair)

        async with trio.open_nursery() as nursery:
            for cid in ask:
                nursery.start_soon(one, cid)
        for cid in ask:
            if not still_open(cid):
                continue
            status = results.get(cid)
            if status is None:
                never_by_status.append(cid)
            elif _apply(status, cid, pair_of[cid], feed):
                found_by_status += 1
        _never_landed(never_by_status, pair_of, feed, now_ms)
    report = SettleReport(
        orders=len(cids), found_bulk=found_bulk, found_by_status=found_by_status,
        never_landed=len(never) + len(never_by_status), fenced=fenced, status_queries=len(ask),
        seconds=trio.current_time() - started,
    )
    logger.info("restored orders settled: %s", report)
    return report


def _apply(snap: OrderSnapshot, cid: str, pair: str, feed: Feed) -> bool:
    update = snap.to_update()
    if update is None:
        logger.warning("restored order %s: venue status %r not understood; left to the resolver", cid,
                       snap.venue_status)
        return False
    feed("order", attrs.evolve(update, client_order_id=cid, pair=pair))
    return True


def _never_landed(cids: list[str], pair_of: Mapping[str, str], feed: Feed, now_ms: Callable[[], int]) -> None:
    now = now_ms() / 1000
    for cid in cids:
        feed("order", OrderUpdate(pair=pair_of[cid], new_state=OrderState.FAILED, timestamp=now, client_order_id=cid,
                                  reason=NEVER_LANDED, venue_status="rejected"))
