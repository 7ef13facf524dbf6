"""The demo's terminal view: a frozen snapshot of what to show, and pure functions that render it.

Plain ANSI (cursor home + clear) rather than curses: no dependency, works in any terminal and in CI logs
(where the one-line form is used instead).  Rendering is separate from sampling so it is testable.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

import attrs

from trio_hl.core.types import Side

__all__ = ["OrderRow", "ViewState", "render_line", "render_screen"]

CLEAR = "\x1b[H\x1b[2J"
BOLD, DIM, GREEN, RED, RESET = "\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[31m", "\x1b[0m"


@attrs.frozen
class OrderRow:
    side: Side
    price: Decimal | None
    amount: Decimal
    executed: Decimal
    state: str


@attrs.frozen
class FillRow:
    timestamp: float
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal


@attrs.frozen
class ViewState:
    """Everything one frame shows; built by the runner from the strategy and ``conn.health()``."""

    pair: str
    venue: str
    elapsed: float
    duration: float | None
    best_bid: tuple[Decimal, Decimal] | None
    best_ask: tuple[Decimal, Decimal] | None
    mid: Decimal | None
    orders: Sequence[OrderRow]
    fills: Sequence[FillRow]
    position: Decimal
    average_price: Decimal
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    fill_count: int
    volume: Decimal
    orders_placed: int
    modifies: int
    cancels: int
    rejected: int
    ws_connected: bool
    trading_ready: bool
    reconnects: int
    user_stream_age: float | None
    book_age: float | None
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    ack_max_ms: float
    zmq_endpoint: str | None
    zmq_published: int
    zmq_subscribers: int
    #: Decimal places of this pair's prices: its tick (``price_places``), so BTC shows 97,020, not 97,020.0000.
    price_places: int = 4


def price_places(price: Decimal | None, max_decimals: int, sig_figs: int) -> int:
    """Decimal places the venue allows a price of this size (Hyperliquid: at most ``sig_figs`` significant figures
    and ``max_decimals`` decimals; an integer price is always valid), i.e. the precision of its tick."""
    if price is None or price <= 0:
        return max_decimals
    leading = price.adjusted() + 1  # digits before the point (<= 0 for a price below 1: leading zeros)
    return max(0, min(max_decimals, sig_figs - leading))


def _num(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:,.{places}f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _age(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _signed(value: Decimal, color: bool) -> str:
    text = f"{value:+,.4f}"
    if not color or value == 0:
        return text
    return f"{GREEN if value > 0 else RED}{text}{RESET}"


def render_screen(v: ViewState, *, color: bool = True) -> str:
    """A full frame, starting with the clear-screen sequence."""
    b = (lambda s: f"{BOLD}{s}{RESET}") if color else (lambda s: s)
    d = (lambda s: f"{DIM}{s}{RESET}") if color else (lambda s: s)
    left = "until Ctrl-C" if not v.duration else f"{max(v.duration - v.elapsed, 0):.0f} s left"
    net = v.realized + v.unrealized - v.fees
    px = v.price_places
    bid = f"{_num(v.best_bid[0], px)} × {_num(v.best_bid[1], 5)}" if v.best_bid else "-"
    ask = f"{_num(v.best_ask[0], px)} × {_num(v.best_ask[1], 5)}" if v.best_ask else "-"
    lines = [
        b(f"trio-hl demo — market making {v.pair} on {v.venue}") + d(f"   {v.elapsed:.0f} s, {left}   Ctrl-C stops"),
        "",
        b("book") + f"   bid {bid}   ask {ask}   mid {_num(v.mid, px + 1)}",
        "",
        b(f"our orders ({len(v.orders)})"),
    ]
    for o in v.orders or ():
        lines.append(f"  {o.side.value:<4} {_num(o.price, px):>14} × {_num(o.amount, 5):>10}"
                     f"  filled {_num(o.executed, 5)}  {o.state}")
    if not v.orders:
        lines.append(d("  none"))
    lines += ["", b(f"recent fills ({v.fill_count} total, volume {_num(v.volume, 2)})")]
    for f in v.fills:
        stamp = time.strftime("%H:%M:%S", time.localtime(f.timestamp))
        lines.append(f"  {stamp} {f.side.value:<4} {_num(f.amount, 5):>10} @ {_num(f.price, px):>14}"
                     f"  fee {_num(f.fee, 6)}")
    if not v.fills:
        lines.append(d("  none yet"))
    lines += [
        "",
        b("position") + f" {_num(v.position, 5)} @ {_num(v.average_price, px + 1)}"
        f"   realized {_signed(v.realized, color)}   unrealized {_signed(v.unrealized, color)}"
        f"   fees {_num(v.fees, 4)}   net {_signed(net, color)}",
        b("orders") + f"   placed {v.orders_placed}  modified {v.modifies}  cancelled {v.cancels}"
        f"  rejected {v.rejected}",
        "",
        b("health") + f"   ws {'up' if v.ws_connected else 'DOWN'}  trading {'ready' if v.trading_ready else 'PAUSED'}"
        f"  reconnects {v.reconnects}  user stream {_age(v.user_stream_age)}  book {_age(v.book_age)}",
        b("ack latency") + f"   p50 {_ms(v.ack_p50_ms)}  p99 {_ms(v.ack_p99_ms)}  max seen {_ms(v.ack_max_ms)}",
        b("zmq") + (f"   {v.zmq_endpoint}  published {v.zmq_published}  subscribers {v.zmq_subscribers}"
                    if v.zmq_endpoint else "   off"),
    ]
    return CLEAR + "\n".join(lines) + "\n"


def render_line(v: ViewState) -> str:
    """One log line (no ANSI): for pipes, CI and ``--no-ui``."""
    bid = _num(v.best_bid[0], v.price_places) if v.best_bid else "-"
    ask = _num(v.best_ask[0], v.price_places) if v.best_ask else "-"
    net = v.realized + v.unrealized - v.fees
    return (
        f"[{v.elapsed:5.1f}s] {v.pair} {bid}/{ask} | open {len(v.orders)} placed {v.orders_placed} "
        f"fills {v.fill_count} pos {_num(v.position, 5)} pnl {net:+,.4f} | "
        f"ws {'up' if v.ws_connected else 'DOWN'} ack p50 {_ms(v.ack_p50_ms)}"
    )
