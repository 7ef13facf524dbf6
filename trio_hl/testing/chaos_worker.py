"""A connector in its own process running the chaos workload, for kill-and-restart tests.

``TRIO_HL_CHAOS_KEY=<hex> python -m trio_hl.testing.chaos_worker --url URL --journal PATH --seed N --orders N``
(``--burst``: every order at once, as fast as ``buy()`` returns, instead of the paced random workload; then
it waits to be killed).

Prints ``cid <client order id>`` (flushed) for every placement, so the parent knows what was placed before it
sends SIGKILL.  The private key comes from the environment, never from the command line (``ps`` shows argv).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import attrs
import trio

from trio_hl.hyperliquid.connector import open_connector
from trio_hl.testing.chaos import CHAOS_WS, ChaosConfig, Workload, connector_config, drive, settle

__all__ = ["main"]


def _print_cid(cid: str) -> None:
    sys.stdout.write(f"cid {cid}\n")
    sys.stdout.flush()


async def work(url: str, journal: Path, seed: int, orders: int, key: str, burst: bool = False) -> None:
    cfg = ChaosConfig(seed=seed, orders=orders)
    config = connector_config(url, key, cfg, journal)
    if burst:
        # Actions of 40: most of the burst still waits behind the 8 actions in flight when the parent kills us, so
        # the restart meets orders never sent, maybe sent and landed alike (with the default of 199, 8 actions in
        # flight carry a 1 500-order burst whole).
        config = attrs.evolve(config, max_batch=40)
    async with open_connector(config, ws_settings=CHAOS_WS) as conn:
        workload = Workload(conn, random.Random(seed), pairs=cfg.pairs, on_place=_print_cid)
        if burst:
            await workload.burst(orders)
            await trio.sleep_forever()  # (the parent kills us mid-burst; never exit on our own, however slow)
        else:
            await drive(conn, workload, orders, cfg.mean_gap_s)
        await settle(conn, cfg.settle_timeout_s)
        sys.stdout.write("done\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args(argv)
    key = os.environ.get("TRIO_HL_CHAOS_KEY")
    if not key:
        parser.error("set TRIO_HL_CHAOS_KEY to the account's private key (hex)")
    trio.run(work, args.url, args.journal, args.seed, args.orders, key, args.burst)


if __name__ == "__main__":
    main()
