"""The demo's market maker in one screen: quote both sides around the mid, re-quote on moves, respect a position limit.

    python examples/market_maker.py [BASE_URL] [--paper]   # no URL: an embedded emulator

``compute_quotes`` (pure, from ``trio_hl.demo``) decides prices and sizes; this file only wires it to a connector:
one task re-quotes on book changes (cancel + replace), one follows fills.  ``trio-hl demo`` is the full version.
``run_quotes`` is written against the venue-free ``Connector`` protocol, so ``--paper`` runs the very same function on
a paper connector filling against the venue's live data (nothing is sent to the venue).
"""

from __future__ import annotations

import sys
from decimal import ROUND_UP, Decimal
from functools import partial

import trio

from trio_hl import Connector, ConnectorConfig, OrderParams, OrderType, Side, open_connector
from trio_hl.cli_errors import run_script
from trio_hl.core.events import LateFill, OrderCancelled, OrderFailed, OrderFilled, OrderPartiallyFilled
from trio_hl.demo import QuoteParams, compute_quotes, mid_moved
from trio_hl.hyperliquid.signing import LocalSigner


async def main(base_url: str | None = None, pair: str = "ETH", duration: float = 10.0,
               private_key: str | None = None, paper: bool = False) -> dict[str, Decimal]:
    if base_url is None:
        from trio_hl.emulator import open_emulator

        async with open_emulator() as emu:
            return await main(emu.url, pair, duration, paper=paper)
    key = private_key or LocalSigner.generate().export_private_key_hex()  # the emulator funds any new key
    config = ConnectorConfig(base_url=base_url, private_key=key, pairs=(pair,))
    async with open_connector(config) as conn:
        if not paper:
            return await run_quotes(conn, pair, duration)
        from trio_hl.paper import ConnectorSource, open_paper_connector

        async with open_paper_connector(ConnectorSource(conn, (pair,)), {pair: conn.trading_rule(pair)}) as trader:
            return await run_quotes(trader, pair, duration)


async def run_quotes(conn: Connector, pair: str, duration: float) -> dict[str, Decimal]:
    """The strategy: any ``Connector`` (Hyperliquid, paper, a backtest's)."""
    rule = conn.trading_rule(pair)
    mid0 = conn.mid(pair)
    assert mid0 is not None
    size = (Decimal(100) / mid0).quantize(rule.size_step, rounding=ROUND_UP)
    params = QuoteParams(size=size, spread_bps=Decimal(3), max_position=size * 3, requote_bps=Decimal(1))
    state = {"position": Decimal(0), "fills": Decimal(0), "placed": Decimal(0)}
    sides: dict[str, Side] = {}
    events = conn.events()

    def requote(mid: Decimal) -> None:
        # Cancel + replace (one batched cancel).  Simple, but for a round trip both the old and the new quote
        # may rest: the position limit can be overshot by one size.  trio-hl demo modifies in place instead.
        conn.cancel_all(pair)
        book = conn.book(pair)
        q = compute_quotes(mid, state["position"], params, rule=rule,
                           best_bid=book.best_bid.price if book.best_bid else None,
                           best_ask=book.best_ask.price if book.best_ask else None)
        for side, quote in ((Side.BUY, q.bid), (Side.SELL, q.ask)):
            if quote is not None:
                order = OrderParams(pair, quote.amount, quote.price, order_type=OrderType.LIMIT_MAKER)
                sides[conn.buy(order) if side is Side.BUY else conn.sell(order)] = side
                state["placed"] += 1

    ended: set[str] = set()

    def count_fill(event: object) -> bool:
        """Book one of our fills into the position; True if it was one.  Notes the orders that ended."""
        if isinstance(event, OrderFilled | OrderCancelled | OrderFailed):
            ended.add(event.client_order_id)
        if isinstance(event, OrderPartiallyFilled | OrderFilled | LateFill) and event.trade is not None:
            side = sides.get(event.client_order_id)
            if side is not None:
                state["position"] += event.trade.fill_amount * (1 if side is Side.BUY else -1)
                state["fills"] += 1
                print(f"fill {side.value} {event.trade.fill_amount} @ {event.trade.fill_price}"
                      f" -> position {state['position']}")
                return True
        return False

    async def follow_fills() -> None:
        async for event in events:
            if count_fill(event):
                mid = conn.mid(pair)
                if mid is not None:
                    requote(mid)  # the position changed: new skew, new room

    async def quote_loop() -> None:
        quoted: Decimal | None = None
        async for book in conn.watch_book(pair):
            if book.mid is not None and mid_moved(quoted, book.mid, params.requote_bps):
                quoted = book.mid
                requote(quoted)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow_fills)
        nursery.start_soon(quote_loop)
        await trio.sleep(duration)
        nursery.cancel_scope.cancel()
    conn.cancel_all(pair)
    # Bounded: wait until every quote's end has come through *our* channel.  Events per order are ordered
    # (fills before the terminal event), so no fill of ours is still in flight after that; the tracker's
    # open_orders() would say "done" while events are still queued for this consumer.
    with trio.move_on_after(10):
        while not ended.issuperset(sides):
            count_fill(await events.receive())
    print(f"placed {state['placed']}, fills {state['fills']}, position {state['position']}")
    return state


if __name__ == "__main__":
    urls = [a for a in sys.argv[1:] if not a.startswith("--")]
    sys.exit(run_script(partial(main, urls[0] if urls else None, paper="--paper" in sys.argv)))
