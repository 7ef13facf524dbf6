"""A strategy that only reacts to ``conn.events()``: buy at market, then take profit or cut the position.

    python examples/consume_events.py [BASE_URL]      # no URL: an embedded emulator

1. ``OrderFilled`` of the entry (a market buy)  -> post a reduce-only take-profit sell ``take_profit_bps`` above
   the fill price.
2. ``OrderFilled`` of the take-profit           -> done, in profit.
3. nothing within ``patience`` seconds          -> cancel it; ``OrderCancelled`` -> close at market (reduce-only).
4. ``OrderFailed`` anywhere                     -> stop and report.
Every decision is made in one event loop (the patience timer is a deadline on ``receive()``): no polling.
"""

from __future__ import annotations

import math
import sys
from decimal import ROUND_UP, Decimal

import trio

from trio_hl import (
    ConnectorConfig,
    OrderCancelled,
    OrderFailed,
    OrderFilled,
    OrderParams,
    OrderType,
    PositionAction,
    open_connector,
)
from trio_hl.cli_errors import run_script
from trio_hl.hyperliquid.signing import LocalSigner


async def main(base_url: str | None = None, pair: str = "ETH", take_profit_bps: int = 5,
               patience: float = 3.0) -> list[str]:
    """Returns the steps taken, e.g. ``["entry filled", "take-profit posted", "take-profit cancelled", "closed"]``."""
    if base_url is None:
        from trio_hl.emulator import open_emulator

        async with open_emulator() as emu:
            return await main(emu.url, pair, take_profit_bps, patience)
    config = ConnectorConfig(base_url=base_url, private_key=LocalSigner.generate().export_private_key_hex(),
                             pairs=(pair,))
    steps: list[str] = []
    async with open_connector(config) as conn:
        events = conn.events()
        mid = conn.mid(pair)
        assert mid is not None
        amount = (Decimal(50) / mid).quantize(conn.registry.by_pair(pair).size_step, rounding=ROUND_UP)
        entry = conn.buy(OrderParams(pair, amount, order_type=OrderType.MARKET))
        take_profit = close = None
        deadline = math.inf  # when to give up on the take-profit (armed once it is posted)
        with trio.fail_after(30):
            while True:
                with trio.move_on_at(deadline) as waiting:
                    event = await events.receive()
                if waiting.cancelled_caught:  # no fill in time: cancel; OrderCancelled then closes the position
                    deadline = math.inf
                    if take_profit is not None:
                        conn.cancel(pair, take_profit)
                    continue
                cid = event.client_order_id
                if isinstance(event, OrderFailed):
                    steps.append(f"failed: {event.reason}")
                    break
                if isinstance(event, OrderFilled) and cid == entry:
                    target = event.average_price * (1 + Decimal(take_profit_bps) / 10_000)
                    take_profit = conn.sell(OrderParams(pair, event.executed_amount, target,
                                                        position_action=PositionAction.CLOSE))
                    deadline = trio.current_time() + patience
                    steps += ["entry filled", "take-profit posted"]
                elif isinstance(event, OrderFilled) and cid == take_profit:
                    steps.append("take-profit filled")
                    break
                elif isinstance(event, OrderCancelled) and cid == take_profit:
                    steps.append("take-profit cancelled")
                    close = conn.sell(OrderParams(pair, amount - event.executed_amount, order_type=OrderType.MARKET,
                                                  position_action=PositionAction.CLOSE))
                elif isinstance(event, OrderFilled) and cid == close:
                    steps.append("closed")
                    break
        for step in steps:
            print(step)
        return steps


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1] if len(sys.argv) > 1 else None))  # Ctrl-C: quiet exit 130
