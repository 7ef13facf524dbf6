"""place_and_cancel against a real venue, configured from the environment.

    export TRIO_HL_PRIVATE_KEY=0x...             # the account's key, or an approved agent (API wallet) key
    export TRIO_HL_ACCOUNT_ADDRESS=0x...         # the master account, when the key is an agent's
    export TRIO_HL_BASE_URL=https://api.hyperliquid-testnet.xyz   # the default
    python examples/testnet.py

Testnet signing is forced (``is_mainnet=False``) whatever the URL: this script never signs for mainnet.
"""

from __future__ import annotations

import os
import sys
from decimal import ROUND_UP, Decimal

import trio

from trio_hl import ConnectorConfig, OrderCancelled, OrderCreated, OrderFailed, OrderParams, open_connector
from trio_hl.cli_errors import run_script
from trio_hl.hyperliquid.config import TESTNET_API_URL


async def main(base_url: str | None = None, private_key: str | None = None, account_address: str | None = None,
               pair: str = "ETH") -> list[str]:
    base_url = base_url or os.environ.get("TRIO_HL_BASE_URL") or TESTNET_API_URL
    private_key = private_key or os.environ.get("TRIO_HL_PRIVATE_KEY")
    account_address = account_address or os.environ.get("TRIO_HL_ACCOUNT_ADDRESS") or None
    if not private_key:
        raise SystemExit("set TRIO_HL_PRIVATE_KEY (and TRIO_HL_ACCOUNT_ADDRESS for an agent key)")
    config = ConnectorConfig(base_url=base_url, private_key=private_key, account_address=account_address,
                             pairs=(pair,), is_mainnet=False)
    async with open_connector(config) as conn:  # fails here, with an explanation, if the key/account is wrong
        print(f"connected to {base_url} as {conn.user}")
        events = conn.events()
        mid = conn.mid(pair)
        assert mid is not None, "no price yet"
        amount = (Decimal(11) / (mid * Decimal("0.95"))).quantize(conn.registry.by_pair(pair).size_step,
                                                                  rounding=ROUND_UP)
        cid = conn.buy(OrderParams(pair, amount, mid * Decimal("0.95")))
        seen: list[str] = []
        with trio.fail_after(30):
            async for event in events:
                if event.client_order_id != cid:
                    continue
                seen.append(type(event).__name__)
                print(f"  {type(event).__name__}")
                if isinstance(event, OrderCreated):
                    conn.cancel(pair, cid)
                elif isinstance(event, OrderCancelled | OrderFailed):
                    break
        print(f"ack latency p50 {conn.health().ack_latency_p50_ms} ms")
        return seen


if __name__ == "__main__":
    sys.exit(run_script(main, sys.argv[1] if len(sys.argv) > 1 else None))  # Ctrl-C: quiet exit 130
