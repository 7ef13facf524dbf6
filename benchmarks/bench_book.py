"""Order book: snapshot apply and ``l2Book`` frame text -> book, against Hummingbot, NautilusTrader and a baseline.

Hyperliquid's ``l2Book`` channel pushes a complete snapshot (at most 20 levels a side) per block, so the only
book operation on the hot path is "replace the book with this snapshot" (see ``trio_hl/core/book.py``).
Measured single-threaded, 20 + 20 levels, every contender taking turns within each round (a burst of load on a shared
machine hits all alike); one warm-up round is dropped, each figure is the median of the rounds and each ratio the
median of the per-round ratios of contenders measured back to back.  Rates are per CPU second of the benchmark's
thread (``time.thread_time``; see ``_interleaved``), so the load of other processes on a shared machine does not
count as our time or theirs:

* apply only: ours on what the parser hands it (``BookSide`` s, order verified: stored, levels built when read) and
  on ``BookLevel`` tuples (sorted on apply); a naive dict-of-levels rebuild + ``sorted`` written here (labelled
  "naive baseline", not a peer); Hummingbot's ``OrderBook.apply_snapshot`` (Cython, C++ ``std::set``, float
  prices) on ``OrderBookRow`` lists; NautilusTrader's ``OrderBook.apply_deltas`` (Rust, L2_MBP) on a CLEAR + 40 ADD
  ``OrderBookDeltas`` batch.  Apply-only figures compare different amounts of work; the frame rows are the fair
  comparison;
* frame text -> book, what runs per push, each followed by reading the best bid and ask: ours
  (``parse_l2_book_frame``: typed msgspec decode + whole-side checks, then ``apply_snapshot``); Hummingbot's
  Hyperliquid connector path (``json.loads``, ``HyperliquidOrderBook.snapshot_message_from_exchange``,
  ``restore_from_snapshot_and_diffs``); NautilusTrader's Python-adapter pattern (``json.loads``, Price/Quantity
  from the strings into ``OrderBookDeltas``, ``apply_deltas``); and ``json.loads`` of the same frame as the
  reference floor (all the official SDK does: it keeps no book).  Goals: >= 1x Hummingbot, >= 0.6x ``json.loads``;
* the REST path: a decoded ``l2Book`` answer -> ``parse_l2_book`` -> apply;
* a breakdown of our frame path in CPU microseconds per frame (typed decode; checks of every price and size, order,
  sides; apply + best bid/ask), next to ``json.loads`` of the same frame: where the time goes, in every run.

The peers are importable only in ``nox -s bench_peers`` (Python 3.12: Hummingbot built from its sdist with
``--no-deps`` plus what its order book imports; NautilusTrader's wheel); elsewhere their rows are skipped and a
note says so.  ``peer_ratio`` = ours / theirs (> 1: we are faster).

    python benchmarks/bench_book.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import inspect
import json
import pkgutil
import statistics
import time
import typing
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from trio_hl.core.book import BookLevel, OrderBook
from trio_hl.hyperliquid.book_frames import _decode as _typed_decode
from trio_hl.hyperliquid.book_frames import parse_l2_book_frame
from trio_hl.hyperliquid.messages import parse_l2_book

LEVELS = 20  # Hyperliquid's l2Book depth per side
HB_FOUND = importlib.util.find_spec("hummingbot") is not None
HB_ERROR: str | None = None
try:
    from hummingbot.connector.exchange.hyperliquid.hyperliquid_order_book import HyperliquidOrderBook as HbOrderBook
    from hummingbot.core.data_type.order_book_row import OrderBookRow as HbRow

    HB_AVAILABLE = True
except Exception as exc:  # any import failure (missing, unbuilt extension, missing deps) is the finding
    HbOrderBook = HbRow = None
    HB_AVAILABLE = False
    if HB_FOUND:
        HB_ERROR = f"{type(exc).__name__}: {exc}"[:160]
NT_FOUND = importlib.util.find_spec("nautilus_trader") is not None
NT_ERROR: str | None = None
try:
    from nautilus_trader.model.book import OrderBook as NtOrderBook
    from nautilus_trader.model.data import BookOrder as NtBookOrder
    from nautilus_trader.model.data import OrderBookDelta as NtDelta
    from nautilus_trader.model.data import OrderBookDeltas as NtDeltas
    from nautilus_trader.model.enums import BookAction as NtAction
    from nautilus_trader.model.enums import BookType as NtBookType
    from nautilus_trader.model.enums import OrderSide as NtSide
    from nautilus_trader.model.identifiers import InstrumentId as NtInstrumentId
    from nautilus_trader.model.objects import Price as NtPrice
    from nautilus_trader.model.objects import Quantity as NtQuantity

    NT_AVAILABLE = True
except Exception as exc:
    NT_AVAILABLE = False
    if NT_FOUND:
        NT_ERROR = f"{type(exc).__name__}: {exc}"[:160]


def _peer_status(name: str, dist: str, available: bool, found: bool, error: str | None) -> str:
    if available:
        return f"{name} {importlib.metadata.version(dist)} importable: compared in this run"
    if found:
        return f"{name} installed but does not import ({error}): no {name} ratio"
    return f"{name} not importable in this environment (`nox -s bench_peers` installs it): no {name} ratio"


def hummingbot_status() -> str:
    """What the run-time check found (printed as a note by run_all)."""
    return _peer_status("hummingbot", "hummingbot", HB_AVAILABLE, HB_FOUND, HB_ERROR)


def nautilus_status() -> str:
    return _peer_status("nautilus_trader", "nautilus_trader", NT_AVAILABLE, NT_FOUND, NT_ERROR)


def _frames(n: int) -> list[dict[str, Any]]:
    """``n`` distinct 20+20-level l2Book data dicts (prices moving tick by tick), best-first as the venue sends."""
    out = []
    for k in range(n):
        mid = 97_000 + (k % 200)
        out.append({
            "coin": "BTC",
            "time": 1_700_000_000_000 + k,
            "levels": [
                [{"px": f"{mid - 1 - i}", "sz": f"{(k + i) % 97 / 100 + 0.01:.5f}", "n": 1 + (k + i) % 9}
                 for i in range(LEVELS)],
                [{"px": f"{mid + 1 + i}", "sz": f"{(k * 3 + i) % 89 / 100 + 0.01:.5f}", "n": 1 + (k + 2 * i) % 7}
                 for i in range(LEVELS)],
            ],
        })  # fmt: skip
    return out


class NaiveBook:
    """Baseline: a dict of levels per side rebuilt from each snapshot, then sorted best-first."""

    def __init__(self) -> None:
        self.bids: list[BookLevel] = []
        self.asks: list[BookLevel] = []
        self.timestamp: float | None = None

    def apply_snapshot(self, bids: Sequence[BookLevel], asks: Sequence[BookLevel], timestamp: float) -> bool:
        if self.timestamp is not None and timestamp < self.timestamp:
            return False
        bid_map = {lv.price: lv for lv in bids}
        ask_map = {lv.price: lv for lv in asks}
        self.bids = [bid_map[p] for p in sorted(bid_map, reverse=True)]
        self.asks = [ask_map[p] for p in sorted(ask_map)]
        self.timestamp = timestamp
        return True


def _row(name: str, value: float, unit: str = "books/s (CPU)", peer: float | None = None, peer_name: str = "",
         note: str = "", goal: str | None = None, ratio: float | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "value": round(value, 2) if value < 100 else round(value), "unit": unit}
    if peer is not None:
        row["peer_ratio"] = round(value / peer if ratio is None else ratio, 2)
        row["peer"] = peer_name
    if note:
        row["note"] = note
    if goal is not None:
        row["goal"] = goal
    return row


Runs = dict[str, list[float]]


def _interleaved(fns: dict[str, Callable[[], int]], repeats: int) -> Runs:
    """Ops per CPU second of each function in each of ``repeats`` rounds, after one warm-up round that is not kept.

    CPU time of this thread (``time.thread_time``), not wall time: on a shared machine the wall clock also counts
    the time the process waited for a CPU, which says how busy the box was, not how fast the code is (on an idle
    machine the two agree).  A peer's background threads, if any, are not charged to it.  The functions take turns
    within every round, so what load still does to the CPU (caches, a shared core) hits all of them alike."""
    runs: Runs = {name: [] for name in fns}
    clock = time.thread_time
    for round_ in range(repeats + 1):
        for name, fn in fns.items():
            t0 = clock()
            ops = fn()
            if round_:
                runs[name].append(ops / (clock() - t0))
    return runs


def _medians(runs: Runs) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in runs.items()}


def _paired(runs: Runs, ours: str, theirs: str) -> float:
    """Median over the rounds of ours / theirs measured back to back in the same round: the ratio least moved by
    load that comes and goes."""
    return statistics.median(a / b for a, b in zip(runs[ours], runs[theirs], strict=True))


def _breakdown(texts: list[str], repeats: int) -> list[dict[str, Any]]:
    """Where a frame's time goes, CPU microseconds per frame (median of rounds): the typed decode alone, the whole
    parse (decode + checks of every price and size + sides), and the whole frame -> book (+ best bid/ask)."""

    def decode() -> None:
        for t in texts:
            _typed_decode(t)

    def parse() -> None:
        for t in texts:
            parse_l2_book_frame(t)

    def full() -> None:
        book = OrderBook("BTC")
        for t in texts:
            s = parse_l2_book_frame(t)
            book.apply_snapshot(s.bids, s.asks, s.timestamp)
            book.best_bid, book.best_ask  # noqa: B018

    def loads() -> None:
        for t in texts:
            json.loads(t)

    stages = {"decode": decode, "parse": parse, "full": full, "json": loads}
    cpu: dict[str, list[float]] = {name: [] for name in stages}
    for round_ in range(repeats + 1):
        for name, fn in stages.items():
            t0 = time.thread_time()
            fn()
            if round_:
                cpu[name].append((time.thread_time() - t0) / len(texts) * 1e6)
    us = {name: statistics.median(v) for name, v in cpu.items()}
    return [
        _row("breakdown: json.loads of the frame (reference)", us["json"], unit="us/frame (CPU)"),
        _row("breakdown: typed msgspec decode (40 level structs, 80 strings)", us["decode"], unit="us/frame (CPU)"),
        _row("breakdown: the 80 strings out of the structs, their check (one float decode), order, sides",
             us["parse"] - us["decode"], unit="us/frame (CPU)"),
        _row("breakdown: apply_snapshot + best bid/ask (2 BookLevels, 4 Decimals)", us["full"] - us["parse"],
             unit="us/frame (CPU)"),
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    n = 500 if quick else 4_000
    repeats = 3 if quick else 7
    frames = _frames(n)
    texts = [json.dumps({"channel": "l2Book", "data": fr}, separators=(",", ":")) for fr in frames]
    snaps = [parse_l2_book_frame(t) for t in texts]
    rows: list[dict[str, Any]] = []

    # 1. apply only, on parsed snapshots: ours takes what the parser hands it (BookSides, order verified); the
    # naive baseline and the tuple row take BookLevel tuples (which the book sorts); the peers their own rows.
    inputs = [(s.bids, s.asks, s.timestamp) for s in snaps]
    tuples = [(tuple(s.bids), tuple(s.asks), s.timestamp) for s in snaps]
    fns: dict[str, Callable[[], int]] = {}

    def ours_apply() -> int:
        apply = OrderBook("BTC").apply_snapshot
        for b, a, ts in inputs:
            if not apply(b, a, ts):
                raise AssertionError("snapshot skipped")
        return n

    def ours_tuples() -> int:
        apply = OrderBook("BTC").apply_snapshot
        for b, a, ts in tuples:
            apply(b, a, ts)
        return n

    def naive_run() -> int:
        naive_apply = NaiveBook().apply_snapshot
        for b, a, ts in tuples:
            naive_apply(b, a, ts)
        return n

    fns = {"ours": ours_apply, "tuples": ours_tuples, "naive": naive_run}
    if HB_AVAILABLE:
        hb_inputs = [
            ([HbRow(float(lv.price), float(lv.size), k) for lv in s.bids],
             [HbRow(float(lv.price), float(lv.size), k) for lv in s.asks], k)
            for k, s in enumerate(snaps, start=1)
        ]  # fmt: skip

        def hb_apply() -> int:
            apply = HbOrderBook().apply_snapshot
            for b, a, uid in hb_inputs:
                apply(b, a, uid)
            return n

        fns["hb"] = hb_apply
    if NT_AVAILABLE:
        iid = NtInstrumentId.from_str("BTC-USD-PERP.HYPERLIQUID")
        nt_inputs = [_nt_deltas(iid, fr) for fr in frames]

        def nt_apply() -> int:
            apply = NtOrderBook(iid, NtBookType.L2_MBP).apply_deltas
            for d in nt_inputs:
                apply(d)
            return n

        fns["nt"] = nt_apply
    runs = _interleaved(fns, repeats)
    med = _medians(runs)
    if HB_AVAILABLE:
        rows.append(_row(f"hummingbot OrderBook.apply_snapshot ({LEVELS}+{LEVELS} OrderBookRow)", med["hb"]))
    if NT_AVAILABLE:
        rows.append(_row(f"nautilus_trader OrderBook.apply_deltas (clear + {2 * LEVELS} adds, L2_MBP)", med["nt"]))
    if not HB_AVAILABLE:  # the naive baseline stands in only where no peer book was measured
        rows.append(_row(f"baseline: naive dict-of-levels rebuild + sorted ({LEVELS}+{LEVELS} levels)",
                         med["naive"]))
    if HB_AVAILABLE:
        rows.append(_row("OrderBook.apply_snapshot of BookLevel tuples (sorted on apply)", med["tuples"],
                         peer=med["hb"], peer_name="hummingbot apply_snapshot", ratio=_paired(runs, "tuples", "hb")))
    else:
        rows.append(_row("OrderBook.apply_snapshot of BookLevel tuples (sorted on apply)", med["tuples"],
                         peer=med["naive"], peer_name="naive baseline", ratio=_paired(runs, "tuples", "naive")))
    rows.append(_row("OrderBook.apply_snapshot of parsed sides (order verified by the parser)", med["ours"],
                     note="stores the checked sides: no sort, levels built when read - the frame rows below "
                          "are the comparable ones"))
    if NT_AVAILABLE:
        rows.append(_row("OrderBook.apply_snapshot vs nautilus_trader apply_deltas", _paired(runs, "ours", "nt"),
                         unit="x", note="ours / nautilus_trader, same snapshots"))

    # 2. The frame path, what runs per l2Book push: frame text -> decoded -> parsed -> applied.  Every row reads
    # the best bid and ask afterwards (a book nobody reads is not the point; ours builds levels on first read).
    book = OrderBook("BTC")

    def ours_frame() -> int:
        nonlocal book
        book = OrderBook("BTC")
        apply = book.apply_snapshot
        for t in texts:
            s = parse_l2_book_frame(t)
            apply(s.bids, s.asks, s.timestamp)
            book.best_bid, book.best_ask  # noqa: B018
        return n

    book2 = OrderBook("BTC")

    def ours_dict() -> int:
        nonlocal book2
        book2 = OrderBook("BTC")
        apply = book2.apply_snapshot
        for fr in frames:
            s = parse_l2_book(fr)
            apply(s.bids, s.asks, s.timestamp)
            book2.best_bid, book2.best_ask  # noqa: B018
        return n

    def json_only() -> int:
        loads = json.loads
        for t in texts:
            loads(t)
        return n

    fns = {"ours": ours_frame, "json": json_only}
    if HB_AVAILABLE:

        def hb_frame() -> int:
            # Hummingbot's Hyperliquid connector: aiohttp's msg.json() (json.loads), then
            # HyperliquidOrderBook.snapshot_message_from_exchange, then the tracker's
            # restore_from_snapshot_and_diffs (apply_snapshot of the message's OrderBookRows).
            hb_book = HbOrderBook()
            meta = {"trading_pair": "BTC-USD"}
            for t in texts:
                data = json.loads(t)["data"]
                msg = HbOrderBook.snapshot_message_from_exchange(data, data["time"] * 1e-3, meta)
                hb_book.restore_from_snapshot_and_diffs(msg, [])
                hb_book.get_price(True), hb_book.get_price(False)
            return n

        fns["hb"] = hb_frame
    if NT_AVAILABLE:

        def nt_frame() -> int:
            # NautilusTrader's Python adapters' pattern: decode, build a CLEAR + ADD OrderBookDeltas batch
            # (Price/Quantity from the strings), apply_deltas.
            nt_book = NtOrderBook(iid, NtBookType.L2_MBP)
            for t in texts:
                nt_book.apply_deltas(_nt_deltas(iid, json.loads(t)["data"]))
                nt_book.best_bid_price(), nt_book.best_ask_price()
            return n

        fns["nt"] = nt_frame
    runs = _interleaved(fns, repeats)
    med = _medians(runs)
    floor = 0.6 * med["json"]
    vs_json = _paired(runs, "ours", "json")
    if HB_AVAILABLE:
        rows.append(_row("hummingbot: frame text -> json.loads + snapshot_message_from_exchange + restore "
                         "(+ best bid/ask)", med["hb"]))
    if NT_AVAILABLE:
        rows.append(_row("nautilus_trader: frame text -> json.loads + OrderBookDeltas + apply_deltas "
                         "(+ best bid/ask)", med["nt"]))
    rows.append(_row("reference: json.loads of the same frame (all the official SDK does; it keeps no book)",
                     med["json"], unit="frames/s (CPU)"))
    if HB_AVAILABLE:
        rows.append(_row("l2Book frame text -> parse_l2_book_frame + apply_snapshot (+ best bid/ask)", med["ours"],
                         peer=med["hb"], peer_name="hummingbot frame -> book", goal=">= " + str(round(med["hb"])),
                         ratio=_paired(runs, "ours", "hb")))
    else:
        rows.append(_row("l2Book frame text -> parse_l2_book_frame + apply_snapshot (+ best bid/ask)", med["ours"]))
    if NT_AVAILABLE:
        rows.append(_row("frame -> book vs nautilus_trader", _paired(runs, "ours", "nt"), unit="x",
                         note="ours / nautilus_trader, same frames"))
    rows.append(_row("frame -> book vs json.loads of the frame", vs_json, unit="x", goal=">= 0.6",
                     note=f"median of {repeats} paired rounds; floor {floor:,.0f} books/s this run"))
    rows.append(_row("l2Book data dict -> parse_l2_book + apply_snapshot (+ best bid/ask; the REST path)",
                     _medians(_interleaved({"d": ours_dict}, repeats))["d"]))
    rows += _breakdown(texts[:1000], repeats)
    assert book.statistics().snapshots_applied == book2.statistics().snapshots_applied == n
    assert book.best_bid is not None and book.best_bid.price == Decimal(frames[-1]["levels"][0][0]["px"])
    assert book.bids == book2.bids and book.asks == book2.asks
    return rows


def _nt_deltas(iid: Any, data: dict[str, Any]) -> Any:
    ts = data["time"] * 1_000_000
    deltas = [NtDelta.clear(iid, 0, ts, ts)]
    for side, raw in ((NtSide.BUY, data["levels"][0]), (NtSide.SELL, data["levels"][1])):
        deltas += [NtDelta(iid, NtAction.ADD, NtBookOrder(side, NtPrice.from_str(x["px"]),
                                                          NtQuantity.from_str(x["sz"]), 0), 0, 0, ts, ts)
                   for x in raw]  # fmt: skip
    return NtDeltas(iid, deltas)


def sdk_status() -> str:
    """Look for an order-book class in the installed official SDK (run time, not an assumption)."""
    if importlib.util.find_spec("hyperliquid") is None:
        return "official SDK not importable here: its lack of a book structure was not re-checked in this run"
    import hyperliquid

    found = []
    for info in pkgutil.walk_packages(hyperliquid.__path__, "hyperliquid."):
        try:
            mod = importlib.import_module(info.name)
        except Exception:  # a module that fails to import defines no class we could use
            continue
        found += [
            f"{info.name}.{name}" for name, obj in vars(mod).items()
            if inspect.isclass(obj) and obj.__module__ == info.name and "book" in name.lower()
            and not typing.is_typeddict(obj)
        ]  # fmt: skip
    version = importlib.metadata.version("hyperliquid-python-sdk")
    if found:
        return f"official SDK {version} defines {', '.join(found)}: not benchmarked here (add it)"
    return (f"official SDK {version}: no order-book class (checked its modules in this run; it hands raw l2Book "
            "dicts to callbacks), so no SDK apply ratio")


def notes() -> list[str]:
    return [hummingbot_status(), nautilus_status(), sdk_status()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args()
    rows = run(args.quick)
    for note in notes():
        print(note)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = f"  ({r['peer_ratio']}x {r['peer']})" if "peer_ratio" in r else ""
        print(f"{r['name']:<{width}}  {r['value']:>12,} {r['unit']}{extra}")


if __name__ == "__main__":
    main()
