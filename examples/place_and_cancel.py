"""Place a limit buy well below the market, wait until the venue has it, cancel it, wait for the cancel.

    python examples/place_and_cancel.py                 # against an embedded emulator
    python examples/place_and_cancel.py http://127.0.0.1:3001   # against `trio-hl emulator --port 3001`
"""

from __future__ import annotations

import sys
from decimal import ROUND_UP, Decimal

import trio

from trio_hl import ConnectorConfig, OrderCancelled, OrderCreated, OrderFailed, OrderParams, open_connector
from trio_hl.cli_errors import run_script
from trio_hl.hyperliquid.signing import LocalSigner


async def main(base_url: str | None = None, pair: str = "BTC", private_key: str | None = None) -> list[str]:
    """Returns the kinds of the events seen for the order, e.g. ``["OrderCreated", "OrderCancelled"]``."""
    if base_url is None:
        from trio_hl.emulator import open_emulator

        async with open_emulator() as emu:
            return await main(emu.url, pair)
    key = private_key or LocalSigner.generate().export_private_key_hex()  # the emulator funds any new key
    config = ConnectorConfig(base_url=base_url, private_key=key, pairs=(pair,))
    async with open_connector(config) as conn:
        events = conn.events()  # subscribe before placing: the channel only carries events from now on
        mid = conn.mid(pair)
        assert mid is not None, "no price yet"
        amount = (Decimal(20) / mid).quantize(conn.registry.by_pair(pair).size_step, rounding=ROUND_UP)
        cid = conn.buy(OrderParams(pair, amount, mid * Decimal("0.9")))  # returns at once; rounded for the venue
        print(f"placed {cid}: buy {amount} {pair} at ~{mid * Decimal('0.9'):.2f}")
        seen: list[str] = []
        with trio.fail_after(10):
            async for event in events:
                if event.client_order_id != cid:
                    continue
                seen.append(type(event).__name__)
                print(f"  {type(event).__name__}: {event}")
                if isinstance(event, OrderCreated):
                    conn.cancel(pair, cid)
                elif isinstance(event, OrderCancelled | OrderFailed):
                    break
        return seen


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1] if len(sys.argv) > 1 else None))  # Ctrl-C: quiet exit 130
