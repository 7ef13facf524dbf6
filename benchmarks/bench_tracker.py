"""Order tracker and journal: throughput, per-order cost, memory, journal append/flush, scaling.

Measures (pure Python, one core, updates pre-built so only the tracker is timed; rates per CPU second of the
thread, except the journal's append + flush and flush latencies, which are wall time: see ``_cpu``):

* ``mixed updates``: ``process_order_update`` / ``process_trade_update`` calls per second over a realistic mix
  per order (OPEN ack, stream OPEN duplicate, two partial fills, the completing fill, FILLED status; every
  fourth order is canceled instead after one fill, every tenth fill is delivered twice), with and without a
  journal attached (appends only; flushing is measured separately);
* ``start_tracking``: microseconds per new order (journal attached: includes the intent copy);
* ``memory``: tracemalloc bytes per tracked order at 1k / 10k / 100k open orders (ids, Decimals, indexes
  included), then after one fill each (the goal applies at 100k);
* ``journal``: records/s through append + flush (encode, CRC, one transaction per batch) and the latency of
  the flush the submit worker does before signing (a handful of intents), p50/p99, ``synchronous=NORMAL``
  and ``FULL``;
* ``scaling``: mixed updates/s on random orders among 1k / 10k / 100k resident open orders, and memory per
  open order at the same sizes (rows carry ``plot`` metadata: ``run_all.py`` draws them as curves);
* ``baseline``: the same mixed workload and scaling through ``NaiveTracker`` below — a dict-of-dicts tracker
  doing only the id indexing, fill de-duplication and executed/notional/fee accounting, with no transition
  table, no anomaly detection, no fill-wait, no orphan buffering, no eviction and tuples for events.  It is
  written here, not a peer: it shows what the safety machinery costs over the bare bookkeeping;
* ``hummingbot`` (``nox -s bench_peers`` only): the same mixed workload through Hummingbot's
  ``ClientOrderTracker`` (its InFlightOrder/OrderUpdate/TradeUpdate, a connector stub counting events), at 200 and
  2 000 orders, interleaved with ours (see ``bench_vs_hummingbot``);
* ``nautilus_trader`` (``nox -s bench_peers`` only): an order's lifecycle (create -> accepted -> complete fill)
  vs ``OrderFactory.limit`` + ``Order.apply``, and ``start_tracking`` vs ``Cache.add_order``.

    python benchmarks/bench_tracker.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import os
import random
import statistics
import tempfile
import time
import tracemalloc
from decimal import Decimal
from typing import Any

from trio_hl.core.journal import Journal
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate

#: The clock of every CPU-bound row: CPU seconds of this thread.  On a box shared by several busy processes the
#: wall clock mostly measures the wait for a CPU (at load 5.6 on 2 CPUs the same mixed run reads 124k updates/s by
#: the wall and 380k per CPU second); that wait is nobody's work.  On a quiet box the two agree.  The journal rows
#: (SQLite, fsync) keep the wall clock: their waiting is part of what they measure.
_cpu = time.thread_time

GOAL_UPDATES_PER_S = 200_000
GOAL_BYTES_PER_ORDER = 1024
PAIR = "BTC"


def _clock() -> float:
    return 0.0


def _cid(i: int) -> str:
    return f"0x{i:032x}"


def _orders(n: int, start: int = 0) -> list[InFlightOrder]:
    return [
        InFlightOrder.new(client_order_id=_cid(start + i), pair=PAIR, side=Side.BUY if i % 2 else Side.SELL,
                          amount=Decimal("0.0300"), price=Decimal(f"{97000 + i % 500}.5"), created_at=0.0)
        for i in range(n)
    ]


def _workload(n: int, start: int = 0) -> tuple[list[InFlightOrder], list[OrderUpdate | TradeUpdate]]:
    orders = _orders(n, start)
    messages: list[OrderUpdate | TradeUpdate] = []
    tid = start * 10
    for i, o in enumerate(orders):
        cid, eid = o.client_order_id, str(10_000_000 + start + i)
        messages.append(OrderUpdate(PAIR, OrderState.OPEN, 1.0, cid, eid))
        messages.append(OrderUpdate(PAIR, OrderState.OPEN, 1.0, cid, eid))
        parts = ["0.0100", "0.0100", "0.0100"] if i % 4 else ["0.0100"]
        for part in parts:
            tid += 1
            trade = TradeUpdate(str(tid), PAIR, o.price or Decimal(1), Decimal(part), Decimal("0.0043"), "USDC",
                                1.5, cid if i % 2 else None, eid)
            messages.append(trade)
            if tid % 10 == 0:
                messages.append(trade)
        messages.append(OrderUpdate(PAIR, OrderState.FILLED if i % 4 else OrderState.CANCELED, 2.0, cid, eid))
    return orders, messages


def _run_messages(tracker: OrderTracker | NaiveTracker, messages: list[OrderUpdate | TradeUpdate]) -> float:
    on_order, on_trade = tracker.process_order_update, tracker.process_trade_update
    started = _cpu()
    for m in messages:
        if type(m) is TradeUpdate:
            on_trade(m)
        else:
            on_order(m)  # type: ignore[arg-type]
    return _cpu() - started


_DONE = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.FAILED})
_ZERO = Decimal(0)


class NaiveTracker:
    """Baseline bookkeeping only (see the module docstring): what a first, trusting implementation does."""

    __slots__ = ("active", "by_eid", "finished")

    def __init__(self) -> None:
        self.active: dict[str, dict[str, Any]] = {}
        self.by_eid: dict[str, dict[str, Any]] = {}
        self.finished: dict[str, dict[str, Any]] = {}

    def start_tracking(self, o: InFlightOrder) -> list[tuple[Any, ...]]:
        self.active[o.client_order_id] = {
            "cid": o.client_order_id, "pair": o.pair, "side": o.side, "amount": o.amount, "price": o.price,
            "state": OrderState.PENDING_CREATE, "eid": None, "executed": _ZERO, "notional": _ZERO, "fee": _ZERO,
            "fills": set(), "created": False,
        }  # fmt: skip
        return []

    def _find(self, cid: str | None, eid: str | None) -> dict[str, Any] | None:
        rec = None
        if cid is not None:
            rec = self.active.get(cid) or self.finished.get(cid)
        if rec is None and eid is not None:
            rec = self.by_eid.get(eid)
        return rec

    def _finish(self, rec: dict[str, Any], state: OrderState, events: list[tuple[Any, ...]]) -> None:
        rec["state"] = state
        self.finished[rec["cid"]] = self.active.pop(rec["cid"])
        events.append(("done", rec["cid"], state, rec["executed"]))

    def process_order_update(self, u: OrderUpdate) -> list[tuple[Any, ...]]:
        rec = self._find(u.client_order_id, u.exchange_order_id)
        if rec is None or rec["state"] in _DONE:
            return []
        events: list[tuple[Any, ...]] = []
        eid = u.exchange_order_id
        if eid is not None and rec["eid"] is None:
            rec["eid"] = eid
            self.by_eid[eid] = rec
        if not rec["created"] and u.new_state is not OrderState.FAILED:
            rec["created"] = True
            events.append(("created", rec["cid"], eid))
        if u.new_state in _DONE:
            self._finish(rec, u.new_state, events)
        else:
            rec["state"] = u.new_state
        return events

    def process_trade_update(self, t: TradeUpdate) -> list[tuple[Any, ...]]:
        rec = self._find(t.client_order_id, t.exchange_order_id)
        if rec is None or t.trade_id in rec["fills"]:
            return []
        rec["fills"].add(t.trade_id)
        rec["executed"] += t.fill_amount
        rec["notional"] += t.fill_amount * t.fill_price
        rec["fee"] += t.fee
        events: list[tuple[Any, ...]] = [("fill", rec["cid"], t, rec["executed"])]
        if rec["state"] not in _DONE and rec["executed"] >= rec["amount"]:
            self._finish(rec, OrderState.FILLED, events)
        return events


def _outcome_ours(tracker: OrderTracker) -> dict[str, tuple[OrderState, Decimal]]:
    return {o.client_order_id: (o.state, o.executed_amount) for o in tracker.finished_orders()}


def _outcome_naive(tracker: NaiveTracker) -> dict[str, tuple[OrderState, Decimal]]:
    return {cid: (r["state"], r["executed"]) for cid, r in tracker.finished.items()}


def bench_mixed_pair(n: int, runs: int = 5) -> tuple[float, float]:
    """Ours (no journal) and the naive baseline on the same workload, interleaved, both checked to agree: the
    median of ``runs`` runs each, after one warm-up run of each that is not counted."""
    ours: list[float] = []
    naive_rates: list[float] = []
    for run in range(runs + 1):
        orders, messages = _workload(n)
        tracker = OrderTracker(clock=_clock)
        naive = NaiveTracker()
        for o in orders:
            tracker.start_tracking(o)
        for o in _orders(n):
            naive.start_tracking(o)
        gc.collect()
        rate = len(messages) / _run_messages(tracker, messages)
        gc.collect()
        naive_rate = len(messages) / _run_messages(naive, messages)
        if _outcome_ours(tracker) != _outcome_naive(naive):
            raise AssertionError("baseline and tracker disagree on the workload's outcome")
        if run:
            ours.append(rate)
            naive_rates.append(naive_rate)
    return statistics.median(ours), statistics.median(naive_rates)


def bench_vs_hummingbot(n: int, repeats: int = 3) -> tuple[float, float]:
    """Ours and Hummingbot's ``ClientOrderTracker`` on the same mixed workload of ``n`` orders, interleaved.

    Smaller than the other workloads on purpose: Hummingbot's ``all_fillable_orders`` merges its active and
    cached orders into a new dict on every fill, so its cost per update grows with the orders it holds (that is
    the finding; at 20 000 orders one run would take minutes).  Outcomes must agree (Hummingbot keeps only its
    last 1 000 finished orders: those are compared)."""
    best_ours = best_hb = 0.0
    for _ in range(repeats):
        orders, messages = _workload(n)
        tracker = OrderTracker(clock=_clock)
        for o in orders:
            tracker.start_tracking(o)
        gc.collect()
        best_ours = max(best_ours, len(messages) / _run_messages(tracker, messages))
        gc.collect()
        rate, outcome = _run_hummingbot(orders, messages)
        best_hb = max(best_hb, rate)
        ours_outcome = _outcome_ours(tracker)
        if not outcome or any(ours_outcome[cid] != v for cid, v in outcome.items()):
            raise AssertionError("hummingbot's tracker and ours disagree on the workload's outcome")
    return best_ours, best_hb


try:  # Hummingbot (``nox -s bench_peers`` only): its ClientOrderTracker and the types it takes
    from hummingbot.connector.client_order_tracker import ClientOrderTracker as HB_TRACKER
    from hummingbot.core.data_type import common as hb_common
    from hummingbot.core.data_type import in_flight_order as hb_order
    from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee, TokenAmount
except Exception:  # not installed, or one of its imports failing
    HB_TRACKER = None


HB_PAIR = "BTC-USDC"  # Hummingbot splits its pairs on "-"


class _HbConnectorStub:
    """What ClientOrderTracker calls on its connector: a clock and ``trigger_event`` (events counted)."""

    current_timestamp = 0.0

    def __init__(self) -> None:
        self.events = 0

    def trigger_event(self, tag: Any, event: Any) -> None:
        self.events += 1


def _run_hummingbot(orders: list[InFlightOrder], messages: list[OrderUpdate | TradeUpdate]
                    ) -> tuple[float, dict[str, tuple[OrderState, Decimal]]]:
    """The same workload through Hummingbot's ClientOrderTracker: its own InFlightOrder, OrderUpdate and
    TradeUpdate values (built before the clock starts).  ``process_order_update`` only schedules
    ``_process_order_update`` as an asyncio task; the bench awaits that coroutine directly, which spares
    Hummingbot the task creation and loop round trip per update (in its favour)."""
    import asyncio

    states = {OrderState.OPEN: hb_order.OrderState.OPEN, OrderState.FILLED: hb_order.OrderState.FILLED,
              OrderState.CANCELED: hb_order.OrderState.CANCELED}
    by_cid = {o.client_order_id: o for o in orders}
    eid_to_cid: dict[str, str] = {}
    hb_messages: list[Any] = []
    for m in messages:
        if type(m) is TradeUpdate:
            cid = m.client_order_id or eid_to_cid[m.exchange_order_id or ""]
            fee = AddedToCostTradeFee(flat_fees=[TokenAmount(m.fee_asset, m.fee)])
            hb_messages.append(hb_order.TradeUpdate(m.trade_id, cid, m.exchange_order_id or "", HB_PAIR, m.timestamp,
                                                    m.fill_price, m.fill_amount, m.fill_price * m.fill_amount, fee))
        else:
            u: OrderUpdate = m  # type: ignore[assignment]
            if u.client_order_id is not None and u.exchange_order_id is not None:
                eid_to_cid[u.exchange_order_id] = u.client_order_id
            hb_messages.append(hb_order.OrderUpdate(HB_PAIR, u.timestamp, states[u.new_state], u.client_order_id,
                                                    u.exchange_order_id))

    async def drive() -> tuple[float, Any]:
        stub = _HbConnectorStub()
        tracker = HB_TRACKER(stub)  # type: ignore[arg-type]
        for o in by_cid.values():
            tracker.start_tracking_order(hb_order.InFlightOrder(
                o.client_order_id, HB_PAIR, hb_common.OrderType.LIMIT,
                hb_common.TradeType.BUY if o.side is Side.BUY else hb_common.TradeType.SELL, o.amount, 0.0,
                price=o.price,
            ))
        on_order, on_trade = tracker._process_order_update, tracker.process_trade_update
        trade_type = hb_order.TradeUpdate
        started = _cpu()
        for m in hb_messages:
            if type(m) is trade_type:
                on_trade(m)
            else:
                await on_order(m)
        return _cpu() - started, tracker

    elapsed, tracker = asyncio.run(drive())
    names = {hb_order.OrderState.FILLED: OrderState.FILLED, hb_order.OrderState.CANCELED: OrderState.CANCELED}
    outcome = {cid: (names.get(o.current_state, OrderState.OPEN), o.executed_amount_base)
               for cid, o in tracker.all_orders.items()}
    return len(hb_messages) / elapsed, outcome


def bench_mixed(n: int, journal: bool, runs: int = 5) -> float:
    """Mixed updates/s, the median of ``runs`` runs after one warm-up run that is not counted."""
    rates: list[float] = []
    for run in range(runs + 1):
        orders, messages = _workload(n)
        with tempfile.TemporaryDirectory() as tmp:
            j = Journal(os.path.join(tmp, "j.sqlite")) if journal else None
            tracker = OrderTracker(clock=_clock, journal=j)
            for o in orders:
                tracker.start_tracking(o)
            if j is not None:
                j.flush()
            gc.collect()
            elapsed = _run_messages(tracker, messages)
            if run:
                rates.append(len(messages) / elapsed)
            assert tracker.statistics().active == 0
            if j is not None:
                j.close()
    return statistics.median(rates)


def profile_mixed(n: int, journal: bool, top: int = 6) -> str:
    """Where one mixed run's time goes (cProfile, own time per function, as a share of the run): printed with a
    goal row the run missed.  cProfile inflates call overhead alike everywhere; the shares are what it tells."""
    import cProfile
    import pstats

    orders, messages = _workload(n)
    with tempfile.TemporaryDirectory() as tmp:
        j = Journal(os.path.join(tmp, "j.sqlite")) if journal else None
        tracker = OrderTracker(clock=_clock, journal=j)
        for o in orders:
            tracker.start_tracking(o)
        if j is not None:
            j.flush()
        gc.collect()
        profiler = cProfile.Profile()
        profiler.enable()
        _run_messages(tracker, messages)
        profiler.disable()
        if j is not None:
            j.close()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1.0
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    parts = [f"{func[2]} ({os.path.basename(func[0]) or 'builtin'}) {v[2] / total:.0%}" for func, v in ranked]
    return ", ".join(parts)


def bench_start_tracking(n: int, journal: bool, runs: int = 5) -> float:
    """Microseconds per ``start_tracking``, the median of ``runs`` runs after a warm-up run that is not counted."""
    per_order: list[float] = []
    for run in range(runs + 1):
        orders = _orders(n)
        with tempfile.TemporaryDirectory() as tmp:
            j = Journal(os.path.join(tmp, "j.sqlite")) if journal else None
            tracker = OrderTracker(clock=_clock, journal=j)
            gc.collect()
            start = tracker.start_tracking
            started = _cpu()
            for o in orders:
                start(o)
            if run:
                per_order.append((_cpu() - started) / n)
            if j is not None:
                j.close()
    return statistics.median(per_order) * 1e6


#: Where the time of a goal row that missed went (``profile_mixed``), for the report's notes.
PROFILES: list[str] = []

#: Who holds a filled order's bytes, by the file that allocated them (bench_memory at the largest size).
MEMORY_BY_FILE: dict[str, float] = {}


def bench_memory(n: int) -> tuple[float, float]:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    before = tracemalloc.take_snapshot()
    tracker = OrderTracker(clock=_clock)
    for i, o in enumerate(_orders(n)):
        tracker.start_tracking(o)
        tracker.process_order_update(OrderUpdate(PAIR, OrderState.OPEN, 1.0, o.client_order_id, str(10_000_000 + i)))
    gc.collect()
    open_bytes = (tracemalloc.get_traced_memory()[0] - base) / n
    for i, o in enumerate(tracker.active_orders()):
        tracker.process_trade_update(TradeUpdate(str(i), PAIR, Decimal("97000.5"), Decimal("0.0100"),
                                                 Decimal("0.0043"), "USDC", 1.5, o.client_order_id,
                                                 o.exchange_order_id))
    gc.collect()
    filled_bytes = (tracemalloc.get_traced_memory()[0] - base) / n
    MEMORY_BY_FILE.clear()
    for stat in tracemalloc.take_snapshot().compare_to(before, "filename"):
        name = os.path.basename(stat.traceback[0].filename)
        if name != "tracemalloc.py" and stat.size_diff / n >= 1:
            MEMORY_BY_FILE[name] = MEMORY_BY_FILE.get(name, 0.0) + stat.size_diff / n
    tracemalloc.stop()
    assert len(tracker) == n
    return open_bytes, filled_bytes


def bench_memory_hummingbot(n: int) -> float:
    """Bytes per order in Hummingbot's ClientOrderTracker: ``n`` open orders with one (partial) fill each, built
    the way ``bench_memory`` builds ours (ids, Decimals and the fill created inside the measurement)."""
    import asyncio

    async def fill() -> Any:
        tracker = HB_TRACKER(_HbConnectorStub())  # type: ignore[misc]
        for i in range(n):
            cid = _cid(i)
            tracker.start_tracking_order(hb_order.InFlightOrder(
                cid, HB_PAIR, hb_common.OrderType.LIMIT, hb_common.TradeType.BUY, Decimal("0.0300"), 0.0,
                price=Decimal(f"{97000 + i % 500}.5"),
            ))
            await tracker._process_order_update(hb_order.OrderUpdate(HB_PAIR, 1.0, hb_order.OrderState.OPEN, cid,
                                                                     str(10_000_000 + i)))
        for i, order in enumerate(list(tracker.active_orders.values())):
            fee = AddedToCostTradeFee(flat_fees=[TokenAmount("USDC", Decimal("0.0043"))])
            tracker.process_trade_update(hb_order.TradeUpdate(
                str(i), order.client_order_id, order.exchange_order_id, HB_PAIR, 1.5, Decimal("97000.5"),
                Decimal("0.0100"), Decimal("97000.5") * Decimal("0.0100"), fee))
        return tracker

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracker = asyncio.run(fill())
    gc.collect()
    used = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    assert len(tracker.active_orders) == n
    return used


def bench_memory_naive(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracker = NaiveTracker()
    for i, o in enumerate(_orders(n)):
        tracker.start_tracking(o)
        tracker.process_order_update(OrderUpdate(PAIR, OrderState.OPEN, 1.0, o.client_order_id, str(10_000_000 + i)))
    gc.collect()
    open_bytes = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    assert len(tracker.active) == n
    return open_bytes


def bench_journal_throughput(n: int) -> float:
    _, messages = _workload(n // 6)
    with tempfile.TemporaryDirectory() as tmp:
        j = Journal(os.path.join(tmp, "j.sqlite"))
        started = time.perf_counter()
        for i, m in enumerate(messages):
            j.append("trade" if type(m) is TradeUpdate else "order", 1.0, m)
            if i % 1000 == 999:
                j.flush()
        j.flush()
        elapsed = time.perf_counter() - started
        j.close()
    return len(messages) / elapsed


def bench_flush_latency(n: int, synchronous: str, batch: int = 4) -> tuple[float, float]:
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        j = Journal(os.path.join(tmp, "j.sqlite"), synchronous=synchronous)  # type: ignore[arg-type]
        tracker = OrderTracker(clock=_clock, journal=j)
        orders = _orders(n * batch)
        for k in range(n):
            for o in orders[k * batch:(k + 1) * batch]:
                tracker.start_tracking(o)
            started = time.perf_counter()
            j.flush()
            samples.append(time.perf_counter() - started)
        j.close()
    samples.sort()
    return statistics.median(samples) * 1e6, samples[max(0, int(len(samples) * 0.99) - 1)] * 1e6


def bench_scaling(resident: int, n_updates: int, repeats: int = 3) -> tuple[float, float]:
    """Updates/s of ours and of the naive baseline with ``resident`` open orders, best of ``repeats`` passes
    (interleaved, so a burst of load on a shared machine hits both alike).  Each pass sends fresh trade ids;
    fills are small enough that no order completes, so every pass sees the same resident population."""
    rng = random.Random(resident)
    orders = _orders(resident)
    trackers: list[Any] = [OrderTracker(clock=_clock), NaiveTracker()]
    for tracker in trackers:
        for i, o in enumerate(orders):
            tracker.start_tracking(o)
            tracker.process_order_update(
                OrderUpdate(PAIR, OrderState.OPEN, 1.0, o.client_order_id, str(10_000_000 + i)))
    best = [0.0, 0.0]
    for r in range(repeats):
        messages: list[OrderUpdate | TradeUpdate] = []
        for k in range(n_updates):
            i = rng.randrange(resident)
            if k % 2:
                messages.append(TradeUpdate(f"s{r}-{k}", PAIR, Decimal("97000.5"), Decimal("0.00001"), Decimal("0"),
                                            "USDC", 1.5, None, str(10_000_000 + i)))
            else:
                messages.append(OrderUpdate(PAIR, OrderState.OPEN, 1.0, orders[i].client_order_id,
                                            str(10_000_000 + i)))
        for j, tracker in enumerate(trackers):
            gc.collect()
            best[j] = max(best[j], len(messages) / _run_messages(tracker, messages))
    assert len(trackers[0].active_orders()) == len(trackers[1].active) == resident
    return best[0], best[1]


RESIDENT = (1_000, 10_000, 100_000)
BASELINE = "naive baseline (bookkeeping only)"


def _plot(x: int, series: str) -> dict[str, Any]:
    return {"file": "tracker_scaling", "x": x, "xlabel": "open orders held by the tracker", "series": series}


def bench_lifecycle_vs_nautilus(n: int, repeats: int) -> list[dict[str, Any]]:
    """One order's life, create -> accepted -> one complete fill, ours vs NautilusTrader (``nox -s bench_peers``).

    Ours: ``InFlightOrder.new`` + ``start_tracking`` + the OPEN status + the fill through ``OrderTracker`` (events
    built).  NautilusTrader: ``OrderFactory.limit`` + ``Order.apply`` of ``OrderSubmitted``, ``OrderAccepted`` and
    ``OrderFilled``.  Both sides' updates/events are built before the clock starts; the two take turns per repeat.
    ``start_tracking`` is compared with NautilusTrader's ``Cache.add_order`` (its order registry).  Each figure is
    the median of ``repeats`` passes after a warm-up pass that is not counted."""
    from nautilus_trader.cache.cache import Cache
    from nautilus_trader.common.component import TestClock
    from nautilus_trader.common.factories import OrderFactory
    from nautilus_trader.model.enums import OrderSide
    from nautilus_trader.model.identifiers import StrategyId, TraderId
    from nautilus_trader.model.objects import Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.test_kit.stubs.events import TestEventStubs

    version = importlib.metadata.version("nautilus_trader")
    inst = TestInstrumentProvider.btcusdt_binance()
    qty, px = Quantity.from_str("0.030000"), Price.from_str("97000.50")
    amount, price = Decimal("0.0300"), Decimal("97000.5")
    rates: dict[str, list[float]] = {"ours": [], "nt": [], "ours_start": [], "nt_add": []}
    for rep in range(repeats + 1):  # (the first pass warms both up and is not counted)
        factory = OrderFactory(TraderId("T-001"), StrategyId(f"S-{rep:03d}"), TestClock())
        probe = [factory.limit(inst.id, OrderSide.BUY, qty, px) for _ in range(n)]
        nt_events = [(TestEventStubs.order_submitted(o), TestEventStubs.order_accepted(o),
                      TestEventStubs.order_filled(o, inst, last_px=px)) for o in probe]  # fmt: skip
        factory = OrderFactory(TraderId("T-001"), StrategyId(f"S-{rep:03d}"), TestClock())  # same ids again
        cids = [_cid(rep * n + i) for i in range(n)]
        ours_updates = [(OrderUpdate(PAIR, OrderState.OPEN, 1.0, cid, str(i)),
                         TradeUpdate(str(i), PAIR, price, amount, Decimal("0.0043"), "USDC", 1.5, cid, str(i)))
                        for i, cid in enumerate(cids)]  # fmt: skip
        tracker = OrderTracker(clock=_clock)
        new, start = InFlightOrder.new, tracker.start_tracking
        on_update, on_trade = tracker.process_order_update, tracker.process_trade_update
        t0 = _cpu()
        for cid, (opened, fill) in zip(cids, ours_updates, strict=True):
            start(new(client_order_id=cid, pair=PAIR, side=Side.BUY, amount=amount, price=price, created_at=0.0))
            on_update(opened)
            on_trade(fill)
        if rep:
            rates["ours"].append(n / (_cpu() - t0))
        assert tracker.get(cids[-1]) is not None and tracker.get(cids[-1]).state is OrderState.FILLED  # type: ignore[union-attr]
        limit = factory.limit
        t0 = _cpu()
        for submitted, accepted, filled in nt_events:
            order = limit(inst.id, OrderSide.BUY, qty, px)
            order.apply(submitted)
            order.apply(accepted)
            order.apply(filled)
        if rep:
            rates["nt"].append(n / (_cpu() - t0))
        assert order.is_closed
        orders = [InFlightOrder.new(client_order_id=_cid(10**9 + rep * n + i), pair=PAIR, side=Side.BUY,
                                    amount=amount, price=price, created_at=0.0) for i in range(n)]  # fmt: skip
        tracker = OrderTracker(clock=_clock)
        t0 = _cpu()
        for o in orders:
            tracker.start_tracking(o)
        if rep:
            rates["ours_start"].append(n / (_cpu() - t0))
        cache = Cache()
        add = cache.add_order
        t0 = _cpu()
        for o in probe:
            add(o)
        if rep:
            rates["nt_add"].append(n / (_cpu() - t0))
    best = {key: statistics.median(values) for key, values in rates.items()}  # (medians, not best runs)
    peer = f"nautilus_trader {version}"
    return [
        {"name": f"{peer}: OrderFactory.limit + apply(submitted, accepted, filled)", "value": round(best["nt"]),
         "unit": "orders/s"},
        {"name": "order lifecycle: new + start_tracking + OPEN + complete fill (tracker events)",
         "value": round(best["ours"]), "unit": "orders/s", "peer_ratio": round(best["ours"] / best["nt"], 2),
         "peer": f"{peer} Order.apply lifecycle", "goal": f">= {round(best['nt'])}"},
        {"name": f"{peer}: Cache.add_order", "value": round(best["nt_add"]), "unit": "orders/s"},
        {"name": "tracker: start_tracking (vs Cache.add_order)", "value": round(best["ours_start"]),
         "unit": "orders/s", "peer_ratio": round(best["ours_start"] / best["nt_add"], 2), "peer": f"{peer} Cache"},
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    n = 20_000 if quick else 100_000
    rows: list[dict[str, Any]] = []
    if importlib.util.find_spec("nautilus_trader") is not None:
        rows += bench_lifecycle_vs_nautilus(2_000 if quick else 10_000, 3 if quick else 5)
    else:
        rows.append({"name": "order lifecycle vs nautilus_trader", "value": None, "unit": "",
                     "note": "nautilus_trader not importable here: `nox -s bench_peers` installs it"})
    if HB_TRACKER is not None:
        hb_name = f"hummingbot {importlib.metadata.version('hummingbot')} ClientOrderTracker"
        for size in (200, 2_000):
            ours_small, hb = bench_vs_hummingbot(size)
            rows.append({"name": f"{hb_name}: mixed updates, {size:,} orders", "value": round(hb),
                         "unit": "updates/s"})
            rows.append({"name": f"tracker: mixed updates, {size:,} orders (vs hummingbot)", "unit": "updates/s",
                         "value": round(ours_small), "peer_ratio": round(ours_small / hb, 1), "peer": hb_name})
    else:
        rows.append({"name": "tracker vs hummingbot ClientOrderTracker", "value": None, "unit": "",
                     "note": "hummingbot not importable here: `nox -s bench_peers` compares it"})
    runs = 3 if quick else 5
    ours, naive = bench_mixed_pair(n // 5, runs)
    rows.append({"name": "tracker: mixed order/trade updates, no journal", "value": round(ours),
                 "unit": "updates/s", "goal": f">= {GOAL_UPDATES_PER_S}", "peer_ratio": round(ours / naive, 2),
                 "peer": BASELINE})
    rows.append({"name": f"{BASELINE}: same mixed updates", "value": round(naive), "unit": "updates/s"})
    with_journal = bench_mixed(n // 5, True, runs)
    rows.append({"name": "tracker: mixed order/trade updates, journal appends", "unit": "updates/s",
                 "value": round(with_journal), "goal": f">= {GOAL_UPDATES_PER_S}"})
    PROFILES.clear()
    for journal, rate in ((False, ours), (True, with_journal)):
        if rate < GOAL_UPDATES_PER_S:
            where = "with journal appends" if journal else "no journal"
            PROFILES.append(f"mixed updates {where} missed {GOAL_UPDATES_PER_S:,}/s ({rate:,.0f}/s, load "
                            f"{os.getloadavg()[0]:.1f}); own time by function under cProfile: "
                            + profile_mixed(n // 5, journal))
    rows.append({"name": "tracker: start_tracking, no journal", "value": round(bench_start_tracking(n // 2, False), 2),
                 "unit": "us/order"})
    rows.append({"name": "tracker: start_tracking, journal (intent buffered)", "unit": "us/order",
                 "value": round(bench_start_tracking(n // 2, True), 2)})
    rows.append({"name": "journal: append + flush (batches of 1000)", "unit": "records/s",
                 "value": round(bench_journal_throughput(n))})
    for sync in ("NORMAL", "FULL"):
        p50, p99 = bench_flush_latency(200 if quick else 1000, sync)
        rows.append({"name": f"journal: flush of 4 intents, synchronous={sync}, p50", "value": round(p50, 1),
                     "unit": "us"})
        rows.append({"name": f"journal: flush of 4 intents, synchronous={sync}, p99", "value": round(p99, 1),
                     "unit": "us"})
    updates = 50_000 if quick else 200_000
    for resident in RESIDENT:
        ours, naive = bench_scaling(resident, updates)
        rows.append({"name": f"tracker: updates/s with {resident:,} resident open orders", "unit": "updates/s",
                     "value": round(ours), "peer_ratio": round(ours / naive, 2), "peer": BASELINE,
                     "plot": _plot(resident, "OrderTracker")})
        rows.append({"name": f"{BASELINE}: updates/s with {resident:,} resident open orders", "unit": "updates/s",
                     "value": round(naive), "plot": _plot(resident, BASELINE)})
    for resident in RESIDENT:
        open_b, fill_b = bench_memory(resident)
        naive_b = bench_memory_naive(resident)
        goal = {"goal": f"<= {GOAL_BYTES_PER_ORDER}"} if resident == RESIDENT[-1] else {}
        rows.append({"name": f"tracker: memory per open order at {resident:,} orders (tracemalloc)",
                     "value": round(open_b), "unit": "bytes/order", **goal,
                     "plot": _plot(resident, "OrderTracker, open")})
        hb_b = bench_memory_hummingbot(resident) if HB_TRACKER is not None and resident <= 10_000 else None
        if hb_b is not None:
            rows.append({"name": f"hummingbot ClientOrderTracker: memory per order at {resident:,} orders, one fill "
                                 "each", "value": round(hb_b), "unit": "bytes/order"})
        rows.append({"name": f"tracker: memory per order at {resident:,} orders, one fill each",
                     "value": round(fill_b), "unit": "bytes/order", **goal,
                     **({"peer_ratio": round(hb_b / fill_b, 2), "peer": "hummingbot (its bytes / ours)"}
                        if hb_b is not None else {}),
                     "plot": _plot(resident, "OrderTracker, one fill each")})
        rows.append({"name": f"{BASELINE}: memory per open order at {resident:,} orders", "value": round(naive_b),
                     "unit": "bytes/order", "plot": _plot(resident, f"{BASELINE}, open")})
    return rows


def notes() -> list[str]:
    """Where a filled order's bytes are, measured in this run (the largest memory run), by allocating file; and
    the profile of any updates/s goal row that missed."""
    found = list(PROFILES)
    if MEMORY_BY_FILE:
        labels = {"order.py": "InFlightOrder objects",
                  "tracker.py": "the tracker (id indexes, fill records, shared Decimals and their table)",
                  "bench_tracker.py": "the caller's client/exchange/trade ids (kept) and the Decimals first seen"}
        parts = [f"{labels.get(name, name)} {size:,.0f} B" for name, size in
                 sorted(MEMORY_BY_FILE.items(), key=lambda kv: -kv[1])]
        found.append(f"memory per filled order at {RESIDENT[-1]:,} orders by allocating file: " + "; ".join(parts))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args()
    for row in run(args.quick):
        goal = f"  (goal {row['goal']})" if "goal" in row else ""
        print(f"{row['name']:<66} {row['value']:>12} {row['unit']}{goal}")
    for note in notes():
        print(note)


if __name__ == "__main__":
    main()
