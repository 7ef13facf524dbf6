"""How fast a backtest replays: the demo's market maker over a recorded hour of BTC books on the paper connector.

Generates the hour from the emulator's seeded market (``trio_hl.emulator.capture``; the generation is timed
separately), then runs ``run_backtest`` a few times on an autojumping ``MockClock`` and prints the wall time,
frames per second, and whether every run gave the same summary.

    python benchmarks/bench_backtest.py [--seconds 3600] [--runs 3] [--seed 11]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from trio_hl.demo import DemoOptions
from trio_hl.demo.backtest import run_backtest
from trio_hl.emulator.capture import write_capture
from trio_hl.paper import FillModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture.jsonl"
        t0 = time.perf_counter()
        stats = write_capture(path, seconds=args.seconds, seed=args.seed)
        print(f"capture: {stats.books} books + {stats.trades} trades over {args.seconds:.0f} s of market, "
              f"{path.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - t0:.2f} s")
        summaries = []
        for run in range(args.runs):
            result = run_backtest(path, DemoOptions(pair="BTC", zmq=None), fill_model=FillModel(latency_s=0.05))
            summaries.append(result.summary)
            s = result.summary
            print(f"run {run + 1}: {result.wall_seconds:.2f} s wall for {s.seconds:.0f} s of market "
                  f"({s.seconds / result.wall_seconds:,.0f}x real time, {result.frames / result.wall_seconds:,.0f} "
                  f"frames/s); {s.fills} fills, {s.orders_placed} orders, {s.modifies} modifies, net {s.net_pnl:+.4f}")
        print(f"identical summaries across runs: {all(x == summaries[0] for x in summaries)}")


if __name__ == "__main__":
    main()
