"""Recovery (issue 17): journal restore time versus journal age, restart recovery time versus orders in flight.

* ``restore vs age``: a tracker journals N orders the way the connector does - intent, ``"sending"`` record, OPEN
  ack, one complete fill (FILLED): four records each, flushed every 1 000 orders - and the last 1 000 stay open.
  *Compacted* runs ``Journal.compact`` whenever ``needs_compaction()`` (every ``DEFAULT_COMPACT_EVERY`` records,
  keeping the ``DEFAULT_KEEP_FINISHED`` most recently finished orders), as the connector's flusher does;
  *never compacted* is the journal before issue 17.  Figures: ``Journal(path)`` + ``restore()`` wall time
  (page cache warm: the file was just written), the file size (database + WAL), the records stored; and
  ``restore()`` + the compaction ``open_connector`` runs right after it.
* ``recovery vs in flight``: ``trio_hl.testing.chaos.burst_crash`` - a subprocess connector places N orders in
  one burst against the emulator (same box, both processes share its 2 CPUs), SIGKILL once the venue holds
  half; a new connector restarts from the journal.  Figures: seconds from ``open_connector`` until it returns
  (restore, compaction, identity check, books, gap-fill) and until no order is PENDING_CREATE/UNKNOWN.

    python benchmarks/bench_recovery.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import trio

from trio_hl.core.journal import DEFAULT_COMPACT_EVERY, DEFAULT_KEEP_FINISHED, Journal
from trio_hl.core.order import InFlightOrder
from trio_hl.core.tracker import OrderTracker
from trio_hl.core.types import OrderState, Side
from trio_hl.core.updates import OrderUpdate, TradeUpdate

OPEN_ORDERS = 1_000
GOAL_RESTORE_S = 0.5
GOAL_SETTLED_S = 30.0
_SIGNER = "0x" + "ab" * 20


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _size(path: Path) -> int:
    return sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())


def build_journal(path: Path, orders: int, *, compact: bool) -> dict[str, float]:
    """A journal that has seen ``orders`` orders, the last ``OPEN_ORDERS`` of them still open."""
    clock = _Clock()
    journal = Journal(path)
    tracker = OrderTracker(clock=clock, journal=journal)
    px, sz = Decimal("100.5"), Decimal("0.25")
    started = time.perf_counter()
    compactions: list[float] = []
    for i in range(orders):
        clock.now += 0.001
        cid = f"0x{i:032x}"
        tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY, amount=sz, price=px,
                                                 created_at=clock.now))
        journal.append_sending(clock.now, [cid], 1_800_000_000_000 + i, _SIGNER)
        tracker.process_order_update(OrderUpdate("BTC", OrderState.OPEN, clock.now, cid, str(i)))
        if i < orders - OPEN_ORDERS:
            tracker.process_trade_update(TradeUpdate(f"t{i}", "BTC", px, sz, Decimal("0.01"), "USDC", clock.now,
                                                     cid, str(i)))
        if i % 1000 == 999:
            journal.flush()
            if compact and journal.needs_compaction():
                journal.compact(tracker, clock.now)
                compactions.append(journal.statistics().last_compaction_seconds)
    journal.close()
    assert len(tracker.active_orders()) == OPEN_ORDERS
    compactions.sort()
    return {"build_s": time.perf_counter() - started, "compactions": len(compactions),
            "compaction_p50_s": compactions[len(compactions) // 2] if compactions else 0.0,
            "compaction_max_s": compactions[-1] if compactions else 0.0}


def add_finished(path: Path, orders: int) -> None:
    """Restore ``path`` and journal ``orders`` more finished orders without compacting: the state just before the
    connector's next compaction (the most records a restore can meet)."""
    clock = _Clock()
    journal = Journal(path)
    tracker = journal.restore(clock=clock).tracker
    clock.now = max(o.last_update for o in tracker.active_orders()) + 1
    px, sz = Decimal("100.5"), Decimal("0.25")
    for i in range(orders):
        clock.now += 0.001
        cid = f"0xf{i:031x}"
        tracker.start_tracking(InFlightOrder.new(client_order_id=cid, pair="BTC", side=Side.BUY, amount=sz, price=px,
                                                 created_at=clock.now))
        journal.append_sending(clock.now, [cid], 1_900_000_000_000 + i, _SIGNER)
        tracker.process_order_update(OrderUpdate("BTC", OrderState.OPEN, clock.now, cid, f"f{i}"))
        tracker.process_trade_update(TradeUpdate(f"tf{i}", "BTC", px, sz, Decimal("0.01"), "USDC", clock.now, cid,
                                                 f"f{i}"))
        if i % 1000 == 999:
            journal.flush()
    journal.close()


def measure_restore(path: Path) -> dict[str, float]:
    clock = _Clock()
    started = time.perf_counter()
    cpu = time.process_time()
    journal = Journal(path)
    result = journal.restore(clock=clock)
    restore_s = time.perf_counter() - started
    restore_cpu_s = time.process_time() - cpu
    assert result.corruption is None and len(result.tracker.active_orders()) == OPEN_ORDERS
    stored = journal.statistics().records_stored
    journal.compact(result.tracker, clock.now)
    with_compaction = time.perf_counter() - started
    journal.close()
    return {"restore_s": restore_s, "restore_cpu_s": restore_cpu_s, "restore_and_compact_s": with_compaction,
            "records": stored}


def bench_restore(ages: list[int], uncompacted_up_to: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for compact in (True, False):
            series = "compacted" if compact else "never compacted"
            for age in ages:
                if not compact and age > uncompacted_up_to:
                    continue
                path = Path(tmp) / f"j-{age}-{int(compact)}.sqlite"
                built = build_journal(path, age, compact=compact)
                size = _size(path)
                if compact and built["compactions"]:
                    rows.append({"name": f"compaction while writing {age:,} orders (on the writer's thread), p50",
                                 "value": round(built["compaction_p50_s"] * 1000, 1), "unit": "ms",
                                 "note": f"{built['compactions']:,.0f} compactions, max "
                                         f"{built['compaction_max_s'] * 1000:.1f} ms"})
                figures = measure_restore(path)
                plot = {"file": "recovery_restore", "x": age, "xlabel": "orders the journal has seen",
                        "series": series}
                row: dict[str, Any] = {
                    "name": f"restore: journal that has seen {age:,} orders, {OPEN_ORDERS:,} open, {series}",
                    "value": round(figures["restore_s"], 3), "unit": "s", "plot": plot,
                    "note": f"{figures['records']:,.0f} records, {size / 1e6:.1f} MB; CPU "
                            f"{figures['restore_cpu_s']:.3f} s; restore + compaction "
                            f"{figures['restore_and_compact_s']:.3f} s",
                }
                if compact and age >= 1_000_000:
                    row["goal"] = f"<= {GOAL_RESTORE_S}"
                rows.append(row)
                rows.append({"name": f"journal size: {age:,} orders seen, {OPEN_ORDERS:,} open, {series}",
                             "value": round(size / 1e6, 2), "unit": "MB",
                             "plot": {**plot, "file": "recovery_journal_size"}})
                if compact and age == max(ages):
                    # (one order less than a compaction's worth of records: 4 records per finished order)
                    add_finished(path, DEFAULT_COMPACT_EVERY // 4 - 1)
                    worst = measure_restore(path)
                    rows.append({
                        "name": f"restore: {age:,} orders seen, {OPEN_ORDERS:,} open, just before a compaction",
                        "value": round(worst["restore_s"], 3), "unit": "s", "goal": f"<= {GOAL_RESTORE_S}",
                        "note": f"{worst['records']:,.0f} records, {_size(path) / 1e6:.1f} MB; CPU "
                                f"{worst['restore_cpu_s']:.3f} s",
                    })
                path.unlink()
    return rows


def bench_recovery(in_flight: list[int]) -> list[dict[str, Any]]:
    from trio_hl.testing.chaos import burst_crash

    rows: list[dict[str, Any]] = []
    for n in in_flight:
        with tempfile.TemporaryDirectory() as tmp:
            report, figures = trio.run(partial(burst_crash, Path(tmp), seed=17, orders=n))
        plot = {"file": "recovery_settle", "x": n, "xlabel": "orders placed in the burst (SIGKILL at half)"}
        note = (f"{figures.get('never_sent', 0):,.0f} never sent, {figures.get('maybe_sent', 0):,.0f} maybe sent "
                f"({figures.get('status_queries', 0):,.0f} orderStatus); lost {report.lost}, duplicated "
                f"{report.duplicated}")
        row: dict[str, Any] = {"name": f"restart after a burst of {n:,} orders: every order settled",
                               "value": round(figures["settled_s"], 2), "unit": "s", "note": note,
                               "plot": {**plot, "series": "all settled"}}
        if n >= 10_000:
            row["goal"] = f"<= {GOAL_SETTLED_S}"
        rows.append(row)
        rows.append({"name": f"restart after a burst of {n:,} orders: open_connector returned", "unit": "s",
                     "value": round(figures["startup_s"], 2), "plot": {**plot, "series": "open_connector"}})
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    ages = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    rows = bench_restore(ages, uncompacted_up_to=10_000 if quick else 100_000)
    rows += bench_recovery([1_000, 3_000] if quick else [1_000, 3_000, 10_000])
    return rows


def notes() -> list[str]:
    return [f"compaction every {DEFAULT_COMPACT_EVERY:,} records, keeping the {DEFAULT_KEEP_FINISHED:,} most "
            "recently finished orders"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for row in run(args.quick):
        extra = f"  [{row['note']}]" if "note" in row else ""
        print(f"{row['name']}: {row['value']} {row['unit']}{extra}")


if __name__ == "__main__":
    main()
