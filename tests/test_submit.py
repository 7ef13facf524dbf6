"""The submit worker with a scripted venue: batching, answer mapping, retries of what never landed, and the
resolution of ambiguous submissions (orderStatus, then a same-nonce noop).  Mock clock: no real waiting."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trio_hl.core.events import CancelRejected, Event, ModifyRejected, OrderCancelled, OrderFailed, OrderModified
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate
from trio_hl.errors import AmbiguousOutcomeError, RateLimitedError, TransportError
from trio_hl.hyperliquid import wire
from trio_hl.hyperliquid.nonce import MAX_NONCE_AGE_MS, NonceService
from trio_hl.hyperliquid.ratelimit import AddressBudget
from trio_hl.hyperliquid.signing import LocalSigner
from trio_hl.hyperliquid.submit import (
    MAX_SEND_ATTEMPTS,
    PROBE_WINDOW_MARGIN_MS,
    CancelRequest,
    ModifyRequest,
    PlaceRequest,
    SubmitRequest,
    SubmitWorker,
)

SIGNER = LocalSigner.generate()
#: The harness's nonce clock (unix ms) when a test starts; every nonce drawn moves it by 1 ms.
NOW_MS = 1_700_000_000_000


def place(i: int) -> PlaceRequest:
    cid = f"0x{i:032x}"
    return PlaceRequest(cid, "BTC", 0, True, Decimal(100 + i), Decimal(1), False, wire.limit_order_type("Gtc"))


def ok_orders(statuses: list[Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def unknown_oid() -> dict[str, Any]:
    return {"status": "unknownOid"}


def found(cid: str, oid: int, status: str = "open", px: str = "100") -> dict[str, Any]:
    return {"status": "order", "order": {"order": {
        "coin": "BTC", "side": "B", "limitPx": px, "sz": "1", "oid": oid, "timestamp": 1, "origSz": "1",
        "cloid": cid}, "status": status, "statusTimestamp": 2}}


@attrs.define
class Venue:
    """Scripted ``send_action``/``info``: ``on_action(action, nonce)`` returns an envelope or raises."""

    on_action: Callable[[dict[str, Any], int], dict[str, Any]]
    on_info: Callable[[Mapping[str, Any]], Any] = lambda req: unknown_oid()
    actions: list[tuple[str, int, int]] = attrs.field(factory=list)  # (type, nonce, items)
    infos: list[Mapping[str, Any]] = attrs.field(factory=list)

    async def send_action(self, body: Mapping[str, Any]) -> dict[str, Any]:
        action = body["action"]
        items = len(action.get("orders", action.get("cancels", action.get("modifies", []))))
        self.actions.append((action["type"], body["nonce"], items))
        await trio.lowlevel.checkpoint()
        return self.on_action(action, body["nonce"])

    async def info(self, req: Mapping[str, Any]) -> Any:
        self.infos.append(req)
        await trio.lowlevel.checkpoint()
        return self.on_info(req)


@attrs.define
class Harness:
    venue: Venue
    worker: SubmitWorker
    send: trio.MemorySendChannel[SubmitRequest]
    fed: list[tuple[str, Any]]
    wanted: dict[str, bool]
    #: What a real tracker (``start(..., tracker=...)``) published for what the worker fed it.
    events: list[Event] = attrs.field(factory=list)

    def updates(self) -> list[OrderUpdate]:
        return [v for k, v in self.fed if k in ("order", "venue_status")]

    def states(self, cid: str) -> list[OrderState]:
        return [u.new_state for u in self.updates() if u.client_order_id == cid]


async def start(
    nursery: trio.Nursery, venue: Venue, *, max_batch: int = 40, tracker: OrderTracker | None = None,
    note_sending: Callable[[Sequence[str], int], None] | None = None,
    before_send: Callable[[], Awaitable[None]] | None = None,
    known_resting: Callable[[str, str], bool] | None = None,
) -> Harness:
    send, receive = trio.open_memory_channel[SubmitRequest](10_000)
    fed: list[tuple[str, Any]] = []
    wanted: dict[str, bool] = {}
    events: list[Event] = []

    def feed(kind: str, value: Any) -> list[Any]:
        fed.append((kind, value))
        if tracker is None:
            return []
        new: list[Event] = []  # (what the connector's feed does with these kinds)
        if kind in ("order", "venue_status"):
            new = tracker.process_order_update(value)
        elif kind == "cancel_rejected":
            new = tracker.process_cancel_rejected(*value)
        elif kind == "modify_rejected":
            new = tracker.process_modify_rejected(*value)
        elif kind == "not_found":
            new = tracker.process_not_found(value)
        events.extend(new)
        return new

    async def nothing() -> None:
        await trio.lowlevel.checkpoint()

    clock_ms = [NOW_MS]

    def tick() -> int:
        clock_ms[0] += 1
        return clock_ms[0]

    worker = SubmitWorker(
        receive, signer=SIGNER, nonces=NonceService(tick), is_mainnet=False, vault_address=None, user="0xabc",
        send_action=venue.send_action, info=venue.info, feed=feed, before_send=before_send or nothing,
        clock=trio.current_time, note_sending=note_sending, max_batch=max_batch, requeue=send.send_nowait,
        still_wanted=lambda cid: wanted.get(cid, True), known_resting=known_resting,
    )
    await nursery.start(worker.run)
    await nursery.start(worker.resolve_forever)
    worker.open_gate()
    return Harness(venue, worker, send, fed, wanted, events)


async def queue(h: Harness, requests: list[PlaceRequest]) -> None:
    for r in requests:
        h.worker.note_placing(r.cid)
        h.send.send_nowait(r)


async def test_queued_orders_are_batched_and_answers_mapped(autojump_clock: trio.testing.MockClock) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        statuses: list[Any] = []
        for o in action["orders"]:
            n = int(o["c"], 16)
            if n % 3 == 0:
                statuses.append({"resting": {"oid": 1000 + n, "cloid": o["c"]}})
            elif n % 3 == 1:
                statuses.append({"filled": {"totalSz": "1", "avgPx": "100", "oid": 1000 + n}})
            else:
                statuses.append({"error": "Order must have minimum value of $10. asset=0"})
        return ok_orders(statuses)

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        reqs = [place(i) for i in range(100)]
        await queue(h, reqs)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [n for _, _, n in h.venue.actions] == [40, 40, 20]
    assert len({nonce for _, nonce, _ in h.venue.actions}) == 3
    for i, r in enumerate(reqs):
        expected = [OrderState.OPEN, OrderState.FILLED, OrderState.FAILED][i % 3]
        assert h.states(r.cid) == [expected]
    failed = [u for u in h.updates() if u.new_state is OrderState.FAILED]
    assert failed[0].reason == "Order must have minimum value of $10. asset=0"
    assert h.worker.statistics().orders_sent == 100


async def test_a_resting_answer_the_tracker_already_holds_is_not_fed(autojump_clock: trio.testing.MockClock) -> None:
    """The stream usually reports a new order before the action's answer: ``known_resting`` says so (and counts
    the duplicate), and the worker feeds nothing for that order - but it feeds every other answer, including a
    resting one under an id the tracker does not hold."""
    asked: list[tuple[str, str]] = []

    def known(cid: str, eid: str) -> bool:
        asked.append((cid, eid))
        return int(cid, 16) % 2 == 0

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        statuses: list[Any] = [{"resting": {"oid": 1000 + int(o["c"], 16), "cloid": o["c"]}} for o in action["orders"]]
        statuses[-1] = {"filled": {"totalSz": "1", "avgPx": "100", "oid": 5}}  # never asked about: fed
        return ok_orders(statuses)

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer), known_resting=known)
        reqs = [place(i) for i in range(6)]
        await queue(h, reqs)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert asked == [(r.cid, str(1000 + i)) for i, r in enumerate(reqs[:5])]
    assert [r.cid for r in reqs if h.states(r.cid)] == [reqs[1].cid, reqs[3].cid, reqs[5].cid]
    assert h.states(reqs[5].cid) == [OrderState.FILLED]


async def test_a_request_the_wire_cannot_carry_fails_alone(autojump_clock: trio.testing.MockClock) -> None:
    """Wire dicts are built with the action (buy() formats no number).  A request whose terms cannot be written
    (never one from buy(): its terms are quantized) is FAILED with the reason; the rest of its batch goes."""
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return ok_orders([{"resting": {"oid": 1000 + int(o["c"], 16)}} for o in action["orders"]])

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        good = place(1)
        bad = place(2)._replace(price=Decimal("1E-9"))  # 9 decimals: more than the wire carries
        await queue(h, [good, bad])
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert h.states(good.cid) == [OrderState.OPEN]
    assert h.states(bad.cid) == [OrderState.FAILED]
    assert [u.reason for u in h.updates() if u.client_order_id == bad.cid] == [
        "not sent: the order's terms cannot be written on the wire"]
    assert [n for _, _, n in h.venue.actions] == [1]
    assert not h.worker._placing  # the failed placement's cancel would not wait for an answer that never comes


async def test_not_sent_and_refused_nonces_are_resent_never_failed(autojump_clock: trio.testing.MockClock) -> None:
    script: list[Any] = [TransportError("connect refused"), RateLimitedError("429"),
                         {"status": "err", "response": "Invalid nonce: duplicate nonce 5"}]

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if script:
            step = script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step  # type: ignore[no-any-return]
        return ok_orders([{"resting": {"oid": 7}}])

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        r = place(1)
        await queue(h, [r])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert len(h.venue.actions) == 4
    assert len({n for _, n, _ in h.venue.actions}) == 4  # every attempt re-signed with a fresh nonce
    assert h.states(r.cid) == [OrderState.OPEN]
    assert h.worker.statistics().resends == 3


async def test_ambiguous_order_found_by_status_is_not_probed(autojump_clock: trio.testing.MockClock) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise AmbiguousOutcomeError("read timeout")

    r = place(1)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 99)))
        await queue(h, [r])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert h.states(r.cid) == [OrderState.UNKNOWN, OrderState.OPEN]
    assert [t for t, _, _ in h.venue.actions] == ["order"]  # no noop, no resubmission
    assert h.worker.statistics().unresolved == 0


async def test_not_found_then_noop_accepted_means_never_landed_and_is_resent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if action["type"] == "noop":
            return {"status": "ok", "response": {"type": "default"}}
        if len([a for a in venue.actions if a[0] == "order"]) == 1:
            raise AmbiguousOutcomeError("connection lost after sending")
        return ok_orders([{"resting": {"oid": 5}}])

    venue = Venue(answer)
    r = place(1)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, venue)
        await queue(h, [r])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    kinds = [(t, n) for t, n, _ in venue.actions]
    assert [t for t, _ in kinds] == ["order", "noop", "order"]
    assert kinds[1][1] == kinds[0][1]  # the probe reuses the ambiguous action's nonce
    assert kinds[2][1] != kinds[0][1]
    assert h.states(r.cid) == [OrderState.UNKNOWN, OrderState.OPEN]
    assert h.worker.statistics().resubmitted == 1


async def test_never_landed_but_cancelled_meanwhile_fails_instead(autojump_clock: trio.testing.MockClock) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if action["type"] == "noop":
            return {"status": "ok", "response": {"type": "default"}}
        raise AmbiguousOutcomeError("timeout")

    r = place(1)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        h.wanted[r.cid] = False
        await queue(h, [r])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert h.states(r.cid) == [OrderState.UNKNOWN, OrderState.FAILED]
    assert "never landed" in (h.updates()[-1].reason or "")


async def test_noop_refused_as_duplicate_means_landed_keep_asking(autojump_clock: trio.testing.MockClock) -> None:
    r = place(1)
    polls = {"n": 0}

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if action["type"] == "noop":
            return {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
        raise AmbiguousOutcomeError("timeout")

    def info(req: Mapping[str, Any]) -> Any:
        polls["n"] += 1
        return found(r.cid, 42, "filled") if polls["n"] >= 3 else unknown_oid()

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=info))
        await queue(h, [r])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert [t for t, _, _ in h.venue.actions] == ["order", "noop"]  # landed: never resubmitted
    assert h.states(r.cid) == [OrderState.UNKNOWN, OrderState.FILLED]
    assert [k for k, _ in h.fed].count("not_found") == 2  # two unanswered polls before it was found


async def test_landed_but_never_found_is_failed_after_bounded_polls(autojump_clock: trio.testing.MockClock) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if action["type"] == "noop":
            return {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}
        raise AmbiguousOutcomeError("timeout")

    r = place(1)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        await queue(h, [r])
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert h.states(r.cid) == [OrderState.UNKNOWN, OrderState.FAILED]
    assert "no record" in (h.updates()[-1].reason or "")
    assert [t for t, _, _ in h.venue.actions] == ["order", "noop"]


# ------------------------------------------------------------------------------- journaled nonces, restored orders


async def test_each_attempt_of_an_order_action_journals_its_nonce_before_it_is_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The journal must name the nonce of the attempt that may have landed: each attempt (a not-sent one is
    re-signed with a fresh nonce) is noted, then flushed, then sent - in that order, every time."""
    steps: list[tuple[str, Any]] = []

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        steps.append(("send", (action["type"], nonce)))
        if action["type"] == "cancelByCloid":
            return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}
        if len([s for s in steps if s[0] == "send"]) == 1:
            raise TransportError("connect refused")  # never reached the venue: re-signed, fresh nonce
        return ok_orders([{"resting": {"oid": 1}}, {"resting": {"oid": 2}}])

    def note(cids: Sequence[str], nonce: int) -> None:
        steps.append(("note", (list(cids), nonce)))

    async def flush() -> None:
        steps.append(("flush", None))
        await trio.lowlevel.checkpoint()

    requests = [place(1), place(2)]
    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer), note_sending=note, before_send=flush)
        await queue(h, requests)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        h.send.send_nowait(CancelRequest(requests[0].cid, "BTC", 0))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    cids = [r.cid for r in requests]
    first, second = [n for kind, n, _ in h.venue.actions if kind == "order"]
    assert first != second
    assert steps == [
        ("note", (cids, first)), ("flush", None), ("send", ("order", first)),
        ("note", (cids, second)), ("flush", None), ("send", ("order", second)),
        ("flush", None), ("send", ("cancelByCloid", h.venue.actions[-1][1])),  # a cancel: flushed, not noted
    ]


async def test_restored_orders_whose_probe_is_accepted_fail_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """After a restart, the journaled nonce answers in one round what asking alone needs ``landed_polls`` rounds
    for: the noop took the nonce, so the original can never land."""
    journaled = NOW_MS - 5_000  # sent 5 s before the crash

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {"status": "ok", "response": {"type": "default"}}

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        h.worker.add_unresolved({"0xa": "BTC", "0xb": "ETH"}, nonce=journaled)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert h.venue.actions == [("noop", journaled, 0)]
    assert [i["oid"] for i in h.venue.infos] == ["0xa", "0xb"]  # asked once first (found orders need no probe)
    for cid in ("0xa", "0xb"):
        assert h.states(cid) == [OrderState.FAILED]
    assert "consumed by a noop probe" in (h.updates()[-1].reason or "")
    assert [k for k, _ in h.fed].count("not_found") == 0  # decided in the first round, no not-found rounds
    stats = h.worker.statistics()
    assert stats.nonce_probes == 1 and stats.unresolved == 0 and stats.resubmitted == 0


async def test_restored_orders_whose_nonce_was_used_are_asked_until_found(
    autojump_clock: trio.testing.MockClock,
) -> None:
    journaled = NOW_MS - 5_000
    polls = {"n": 0}

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {"status": "err", "response": f"Invalid nonce: duplicate nonce {nonce}"}

    def info(req: Mapping[str, Any]) -> Any:
        polls["n"] += 1  # the venue processed the original late: the second ask finds it
        return found("0xa", 7) if polls["n"] >= 2 else unknown_oid()

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=info))
        h.worker.add_unresolved({"0xa": "BTC"}, nonce=journaled)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert h.venue.actions == [("noop", journaled, 0)]
    assert h.states("0xa") == [OrderState.OPEN]


async def test_restored_orders_are_resolved_by_asking_when_the_nonce_cannot_be_probed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No journaled nonce (an older journal), or one too close to the venue's 2-day horizon for its answer to mean
    anything: asked ``landed_polls`` rounds, never probed, then FAILED."""
    too_old = NOW_MS - MAX_NONCE_AGE_MS + PROBE_WINDOW_MARGIN_MS // 2

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise AssertionError(f"nothing may be sent, got {action}")

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer))
        h.worker.add_unresolved({"0xa": "BTC"})
        h.worker.add_unresolved({"0xb": "BTC"}, nonce=too_old)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert h.venue.actions == []
    for cid in ("0xa", "0xb"):
        assert h.states(cid) == [OrderState.FAILED]
        assert [v for k, v in h.fed if k == "not_found"].count(cid) == 3  # landed_polls rounds
    assert "no answer before the restart" in (h.updates()[-1].reason or "")
    assert h.worker.statistics().nonce_probes == 0


async def test_a_restored_probe_refused_as_too_low_falls_back_to_asking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Too low after a restart may only mean that more than 100 actions followed the original before the crash:
    it can no longer land, but whether it did just before is for asking to say - never FAILED at once."""
    journaled = NOW_MS - 5_000
    polls = {"n": 0}

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {"status": "err", "response": f"Invalid nonce: nonce too low {nonce} < {nonce + 50}"}

    def info(req: Mapping[str, Any]) -> Any:
        polls["n"] += 1
        return found(req["oid"], 9, "filled") if req["oid"] == "0xa" and polls["n"] >= 3 else unknown_oid()

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=info))
        h.worker.add_unresolved({"0xa": "BTC"}, nonce=journaled)
        h.worker.add_unresolved({"0xb": "BTC"}, nonce=journaled + 1)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert [(t, n) for t, n, _ in h.venue.actions] == [("noop", journaled), ("noop", journaled + 1)]
    assert h.states("0xa") == [OrderState.FILLED]  # it had landed: found by a later ask
    assert h.states("0xb") == [OrderState.FAILED]
    assert [v for k, v in h.fed if k == "not_found"].count("0xb") == 3
    assert "never landed" in (h.updates()[-1].reason or "")


async def test_cancel_waits_for_its_placement_answer(autojump_clock: trio.testing.MockClock) -> None:
    release = trio.Event()
    order: list[str] = []

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        order.append(action["type"])
        if action["type"] == "cancelByCloid":
            return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}
        return ok_orders([{"resting": {"oid": 1}}])

    class SlowVenue(Venue):
        async def send_action(self, body: Mapping[str, Any]) -> dict[str, Any]:
            if body["action"]["type"] == "order":
                await release.wait()
            return answer(body["action"], body["nonce"])

    venue = SlowVenue(answer)
    r = place(1)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, venue)
        await queue(h, [r])
        h.send.send_nowait(CancelRequest(r.cid, "BTC", 0))
        await trio.testing.wait_all_tasks_blocked()
        assert order == []  # the cancel did not overtake the placement
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert order == ["order", "cancelByCloid"]


@pytest.mark.parametrize("answered", [0, 1])
async def test_fewer_statuses_than_orders_are_resolved_by_asking(
    answered: int, autojump_clock: trio.testing.MockClock,
) -> None:
    reqs = [place(1), place(2)]

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return ok_orders([{"resting": {"oid": 1}}][:answered])

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(str(req["oid"]), 9)))
        await queue(h, reqs)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    for r in reqs[answered:]:
        assert h.states(r.cid) == [OrderState.OPEN]
    assert [t for t, _, _ in h.venue.actions] == ["order"]


@attrs.define
class HoldingVenue(Venue):
    """Order actions hang until ``release`` is set; everything else answers at once."""

    release: trio.Event = attrs.field(factory=trio.Event)

    async def send_action(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body["action"]["type"] == "order":
            await self.release.wait()
        return await Venue.send_action(self, body)


async def test_a_cancel_never_waits_behind_backed_up_order_batches(autojump_clock: trio.testing.MockClock) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if action["type"] == "order":
            return ok_orders([{"resting": {"oid": 1, "cloid": o["c"]}} for o in action["orders"]])
        return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}

    venue = HoldingVenue(answer)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, venue)
        await queue(h, [place(i) for i in range(40 * 12)])  # 12 batches: 8 in flight, 4 waiting for a slot
        await trio.testing.wait_all_tasks_blocked()
        assert h.worker.statistics().actions_in_flight == 8
        h.send.send_nowait(CancelRequest("0x" + "ab" * 16, "BTC", 0))  # an order placed long ago
        await trio.testing.wait_all_tasks_blocked()
        assert [t for t, _, _ in venue.actions] == ["cancelByCloid"]  # sent at once, orders still held
        venue.release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [t for t, _, _ in venue.actions].count("order") == 12


async def test_many_ambiguous_orders_are_looked_up_with_one_history_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reqs = [place(i) for i in range(40)]
    landed = {r.cid for r in reqs[:25]}  # the venue applied part of the batch before the answer was lost

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise AmbiguousOutcomeError("read timeout")

    def info(req: Mapping[str, Any]) -> Any:
        assert req["type"] == "historicalOrders", req  # never an orderStatus per order
        return [found(cid, 100 + i)["order"] for i, cid in enumerate(sorted(landed))]

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=info))
        await queue(h, reqs)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(1.5)  # one resolution round (resolve_interval 1 s)
        nursery.cancel_scope.cancel()
    for r in reqs:
        expected = [OrderState.UNKNOWN, OrderState.OPEN] if r.cid in landed else [OrderState.UNKNOWN]
        assert h.states(r.cid) == expected, r.cid
    assert len(h.venue.infos) <= 2  # one lookup per resolution round, not 40


async def test_a_cancel_batch_does_not_wait_for_an_unrelated_placement(autojump_clock: trio.testing.MockClock) -> None:
    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        if action["type"] == "order":
            return ok_orders([{"resting": {"oid": 1, "cloid": o["c"]}} for o in action["orders"]])
        return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"] * 2}}}

    venue = HoldingVenue(answer)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, venue)
        held = place(1)
        await queue(h, [held])  # its placement hangs: its cancel must wait for the answer
        await trio.testing.wait_all_tasks_blocked()
        live = "0x" + "ab" * 16  # an order answered long ago
        h.send.send_nowait(CancelRequest(held.cid, "BTC", 0))
        h.send.send_nowait(CancelRequest(live, "BTC", 0))  # batched with it (cancel_all, kill)
        await trio.testing.wait_all_tasks_blocked()
        assert [(t, n) for t, _, n in venue.actions] == [("cancelByCloid", 1)]  # the live order's, alone, at once
        venue.release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [(t, n) for t, _, n in venue.actions] == [("cancelByCloid", 1), ("order", 1), ("cancelByCloid", 1)]


async def test_two_failed_modifies_of_one_order_in_one_batch_both_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from trio_hl.hyperliquid.submit import ModifyRequest

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        error = {"error": "Cannot modify canceled or filled order. asset=0"}
        return ok_orders([error for _ in action["modifies"]])

    r = place(1)
    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 7, "canceled")))
        for px in (101, 102):  # a quote re-priced twice before the worker woke: one batchModify, two entries
            h.send.send_nowait(ModifyRequest(r.cid, "BTC", dict(r.order, p=str(px)), total=Decimal(1)))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    # every modify reports it is over exactly once (a leaked "in flight" made the connector ignore real cancels)
    assert [v for k, v in h.fed if k == "modify_done"] == [r.cid, r.cid]
    assert h.states(r.cid) == [OrderState.CANCELED, OrderState.CANCELED]  # the status re-read after each failure


# ------------------------------------------------------------------------------ whole cancel actions refused

#: The venue's words for an address over its request budget (PROTOCOL §4.3).
RATE_LIMITED = ("Too many cumulative requests sent (10051 > 10000) for cumulative volume traded $0. "
                "Place taker orders to free up 1 request per USDC traded.")
CANCELLED_OK = {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}


def cancelling(cid: str, state: OrderState = OrderState.OPEN) -> OrderTracker:
    """A tracker holding one order (OPEN as oid 7, or UNKNOWN) whose cancel the user has just asked for."""
    tracker = OrderTracker(clock=trio.current_time)
    tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY, amount=Decimal(1),
                                             price=Decimal(100), created_at=0.0))
    tracker.process_order_update(OrderUpdate("BTC", state, 0.0, cid, "7" if state is OrderState.OPEN else None))
    assert tracker.start_cancel(cid)
    return tracker


@pytest.mark.parametrize("refusal", [RATE_LIMITED, "Invalid nonce: duplicate nonce 5"], ids=["rate_limit", "nonce"])
async def test_a_cancel_refused_for_a_passing_reason_is_sent_again_until_it_lands(
    refusal: str, autojump_clock: trio.testing.MockClock,
) -> None:
    # More refusals than one action's attempts: the old worker gave up (CancelRejected, request cleared) and the
    # order stayed on the book.  The intent stands: the order stays PENDING_CANCEL and the cancel goes again.
    r = place(1)
    tracker = cancelling(r.cid)
    refusals = MAX_SEND_ATTEMPTS + 3
    sent_at: list[float] = []
    accepted = trio.Event()

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        assert action["type"] == "cancelByCloid"
        sent_at.append(trio.current_time())
        order = tracker.get(r.cid)
        assert order is not None and order.state is OrderState.PENDING_CANCEL and order.cancel_requested
        if len(sent_at) <= refusals:
            return {"status": "err", "response": refusal}
        accepted.set()
        return CANCELLED_OK

    def info(req: Mapping[str, Any]) -> Any:
        assert req["type"] == "orderStatus" and req["oid"] == r.cid
        return found(r.cid, 7, "open")

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=info), tracker=tracker)
        h.send.send_nowait(CancelRequest(r.cid, "BTC", 0))
        with trio.fail_after(3600):
            await accepted.wait()
        await trio.testing.wait_all_tasks_blocked()
        # The orderUpdates stream reports the cancel that landed.
        h.events += tracker.process_order_update(
            OrderUpdate("BTC", OrderState.CANCELED, trio.current_time(), r.cid, "7"))
        await trio.sleep(60)  # nothing more is sent once it landed
        nursery.cancel_scope.cancel()
    assert len(sent_at) == refusals + 1
    assert "cancel_rejected" not in [k for k, _ in h.fed]
    assert not [e for e in h.events if isinstance(e, CancelRejected)]
    assert [type(e) for e in h.events] == [OrderCancelled]
    order = tracker.get(r.cid)
    assert order is not None and order.state is OrderState.CANCELED
    if refusal == RATE_LIMITED:
        # Not hammered: after the refusal each re-send waits for the throttled pace (the resolver's first check
        # comes one resolve period later), one attempt per refusal.
        gaps = [b - a for a, b in itertools.pairwise(sent_at)]
        assert gaps[0] >= 1.0
        assert all(gap >= AddressBudget.THROTTLED_INTERVAL for gap in gaps[1:]), gaps
        assert h.worker.budget.statistics().remaining_cancels <= 0


async def test_a_rate_limited_cancel_is_no_longer_sent_once_its_order_is_gone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A permanent rate limit: the cancel goes again only while the venue shows the order open.
    r = place(1)
    tracker = cancelling(r.cid)
    status = {"now": "open"}

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {"status": "err", "response": RATE_LIMITED}

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 7, status["now"])), tracker=tracker)
        h.send.send_nowait(CancelRequest(r.cid, "BTC", 0))
        await trio.sleep(35)
        tries = len(h.venue.actions)
        assert 2 <= tries <= 5  # at the throttled pace (10 s), not in bursts
        status["now"] = "filled"  # the order filled meanwhile
        await trio.sleep(600)
        nursery.cancel_scope.cancel()
    assert len(h.venue.actions) <= tries + 1
    assert h.states(r.cid)[-1] is OrderState.FILLED
    assert not [e for e in h.events if isinstance(e, CancelRejected)]


async def test_a_cancel_refused_for_good_is_reported_once_and_not_sent_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    r = place(1)
    tracker = cancelling(r.cid)
    refusal = "User or API Wallet 0x0000000000000000000000000000000000000001 does not exist."

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {"status": "err", "response": refusal}

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 7)), tracker=tracker)
        h.send.send_nowait(CancelRequest(r.cid, "BTC", 0))
        await trio.sleep(600)
        nursery.cancel_scope.cancel()
    assert [t for t, _, _ in h.venue.actions] == ["cancelByCloid"]  # retrying cannot cure it
    assert h.venue.infos == []
    rejected = [e for e in h.events if isinstance(e, CancelRejected)]
    assert len(rejected) == 1 and rejected[0].reason == refusal and rejected[0].state is OrderState.OPEN
    order = tracker.get(r.cid)
    assert order is not None and order.state is OrderState.OPEN and not order.cancel_requested


async def test_an_unsure_cancel_of_an_order_the_venue_does_not_know_is_settled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The cancel of an order whose placement is unresolved was itself lost; the venue does not know the order.
    # The request must not stay pending with nothing in flight: then the connector could not cancel the order
    # should it turn out live after all (it re-cancels only orders with no cancel request).
    r = place(1)
    tracker = cancelling(r.cid, OrderState.UNKNOWN)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise AmbiguousOutcomeError("read timeout")

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer), tracker=tracker)
        h.send.send_nowait(CancelRequest(r.cid, "BTC", 0))
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert [t for t, _, _ in h.venue.actions] == ["cancelByCloid"]
    assert h.fed == [("cancel_rejected", (r.cid, "cancel not sent: the venue does not know this order"))]
    order = tracker.get(r.cid)
    assert order is not None and order.state is OrderState.UNKNOWN and not order.cancel_requested
    assert [type(e) for e in h.events] == [CancelRejected]


async def test_cancels_an_ok_answer_has_no_status_for_are_checked(autojump_clock: trio.testing.MockClock) -> None:
    first, second = place(1), place(2)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return CANCELLED_OK  # one status, whatever the batch

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(str(req["oid"]), 8)))
        h.send.send_nowait(CancelRequest(first.cid, "BTC", 0))
        h.send.send_nowait(CancelRequest(second.cid, "BTC", 0))
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert [(t, n) for t, _, n in h.venue.actions] == [("cancelByCloid", 2), ("cancelByCloid", 1)]
    assert [req["oid"] for req in h.venue.infos] == [second.cid]  # still open: sent again


# ------------------------------------------------------------------------------------ modifies that did not apply

POST_ONLY = "Post only order would have immediately matched, bbo was 99@100. asset=0"


def resting(cid: str) -> OrderTracker:
    """A tracker holding one order resting as oid 7 at 100 for 1 - the quote a market maker re-prices."""
    tracker = OrderTracker(clock=trio.current_time)
    tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY, amount=Decimal(1),
                                             price=Decimal(100), created_at=0.0))
    tracker.process_order_update(OrderUpdate("BTC", OrderState.OPEN, 0.0, cid, "7"))
    return tracker


def reprice(cid: str, px: str = "101") -> ModifyRequest:
    """``conn.modify(cid, price=px)`` of the order ``resting`` holds."""
    order = wire.order_wire(0, True, Decimal(px), Decimal(1), False, wire.limit_order_type("Alo"), None)
    return ModifyRequest(cid, "BTC", order, total=Decimal(1), replaces="7")


def the_refusal(h: Harness) -> ModifyRejected:
    [rejected] = [e for e in h.events if isinstance(e, ModifyRejected)]
    return rejected


async def test_a_modify_refused_as_a_whole_is_reported_without_touching_the_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A refusal of the whole action applied nothing: reported at once (after the send retries), no re-read."""
    r = reprice(place(1).cid)
    tracker = resting(r.cid)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return {"status": "err", "response": RATE_LIMITED}

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer), tracker=tracker)
        h.send.send_nowait(r)
        await trio.sleep(600)
        nursery.cancel_scope.cancel()
    assert [t for t, _, _ in h.venue.actions] == ["batchModify"] * MAX_SEND_ATTEMPTS  # a rate limit may pass
    assert h.venue.infos == []
    assert [type(e) for e in h.events] == [ModifyRejected]
    rejected = the_refusal(h)
    assert (rejected.reason, rejected.state, rejected.exchange_order_id) == (RATE_LIMITED, OrderState.OPEN, "7")
    assert (rejected.price, rejected.amount, rejected.requested_price, rejected.requested_amount) == (
        Decimal(100), Decimal(1), Decimal(101), Decimal(1))
    assert [v for k, v in h.fed if k == "modify_done"] == [r.cid]
    order = tracker.get(r.cid)
    assert order is not None and (order.state, order.price, order.exchange_order_id) == (OrderState.OPEN,
                                                                                         Decimal(100), "7")


async def test_a_modify_that_never_reached_the_venue_is_reported(autojump_clock: trio.testing.MockClock) -> None:
    r = reprice(place(1).cid)
    tracker = resting(r.cid)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise TransportError("connect refused")

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer), tracker=tracker)
        h.send.send_nowait(r)
        await trio.sleep(600)
        nursery.cancel_scope.cancel()
    assert len(h.venue.actions) == MAX_SEND_ATTEMPTS and h.venue.infos == []
    rejected = the_refusal(h)
    assert rejected.reason == "modify not sent: connect refused" and rejected.state is OrderState.OPEN


async def test_a_per_order_refusal_is_reported_once_the_status_shows_the_order_still_resting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Modify is cancel + place on Hyperliquid: after a per-order refusal the old order may be gone, so its status
    is read first.  Here it still rests (oid 7, at 100): the re-quote did not happen."""
    r = reprice(place(1).cid)
    tracker = resting(r.cid)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return ok_orders([{"error": POST_ONLY}])

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 7)), tracker=tracker)
        h.send.send_nowait(r)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [(q["type"], q["oid"]) for q in h.venue.infos] == [("orderStatus", r.cid)]
    # the modify stays under way (its old order's cancel is not the order's end) until the status is read
    assert [k for k, _ in h.fed] == ["venue_status", "modify_failed", "modify_done", "modify_rejected"]
    rejected = the_refusal(h)
    assert (rejected.reason, rejected.state, rejected.price, rejected.requested_price) == (
        POST_ONLY, OrderState.OPEN, Decimal(100), Decimal(101))


async def test_a_per_order_refusal_that_took_the_order_with_it_is_answered_by_the_terminal_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """What the emulator (and the venue) do with a post-only re-price that would cross: the old order is cancelled,
    the new one refused and kept as the client id's latest.  No quote rests: no ModifyRejected claims one."""
    r = reprice(place(1).cid)
    tracker = resting(r.cid)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return ok_orders([{"error": POST_ONLY}])

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 8, "badAloPxRejected", px="101")),
                        tracker=tracker)
        h.send.send_nowait(r)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [type(e) for e in h.events] == [OrderFailed]
    assert h.events[0].reason == "badAloPxRejected"  # type: ignore[union-attr]
    assert ("modify_rejected", (r.cid, POST_ONLY, Decimal(101), Decimal(1))) in h.fed
    assert tracker.statistics().modifies_rejected == 1
    order = tracker.get(r.cid)
    assert order is not None and order.state is OrderState.FAILED


async def test_an_ambiguous_modify_the_venue_shows_did_not_land_is_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    r = reprice(place(1).cid)
    tracker = resting(r.cid)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise AmbiguousOutcomeError("read timeout")

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 7)), tracker=tracker)
        h.send.send_nowait(r)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    rejected = the_refusal(h)
    assert rejected.reason == "modify not confirmed: read timeout; the venue still shows the order unmodified"
    assert rejected.state is OrderState.OPEN and rejected.exchange_order_id == "7"


async def test_an_ambiguous_modify_that_landed_is_applied_not_rejected(autojump_clock: trio.testing.MockClock) -> None:
    """Its answer was lost, the re-read shows the order under a new id at the requested price: exactly what the
    answer would have said (OrderModified); before, the order was re-keyed silently and kept its old price."""
    r = reprice(place(1).cid)
    tracker = resting(r.cid)

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        raise AmbiguousOutcomeError("read timeout")

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=lambda req: found(r.cid, 8, px="101")), tracker=tracker)
        h.send.send_nowait(r)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [type(e) for e in h.events] == [OrderModified]
    modified = h.events[0]
    assert isinstance(modified, OrderModified) and (modified.exchange_order_id, modified.price) == ("8", Decimal(101))
    assert "modify_rejected" not in [k for k, _ in h.fed]


async def test_a_refused_modify_is_not_answered_before_the_status_can_be_read(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The re-read fails: no guess (the order may be gone).  The resolver reads it one period later, again and
    again, and only then is the modify answered."""
    r = reprice(place(1).cid)
    tracker = resting(r.cid)
    reads: list[float] = []

    def answer(action: dict[str, Any], nonce: int) -> dict[str, Any]:
        return ok_orders([{"error": POST_ONLY}])

    def info(req: Mapping[str, Any]) -> Any:
        reads.append(trio.current_time())
        if len(reads) <= 3:
            raise TransportError("connect refused")
        return found(r.cid, 7)

    async with trio.open_nursery() as nursery:
        h = await start(nursery, Venue(answer, on_info=info), tracker=tracker)
        h.send.send_nowait(r)
        await trio.testing.wait_all_tasks_blocked()
        assert len(reads) == 1 and h.events == []
        await trio.sleep(2.5)
        assert len(reads) == 3 and h.events == []  # one read per resolve period (1 s)
        await trio.sleep(1)
        assert len(reads) == 4 and the_refusal(h).reason == POST_ONLY
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert len(reads) == 4  # answered once, then never asked again
    assert len([e for e in h.events if isinstance(e, ModifyRejected)]) == 1
