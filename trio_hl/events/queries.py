"""Reading a recorder database back: typed rows, filters, and the text tables of ``trio-hl orders|fills``.

Read-only by construction (``mode=ro``), so a query never blocks or corrupts a recording in progress (WAL
lets readers and the writer run together).  Amounts come back as ``Decimal`` (stored as exact strings).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from trio_hl.core.types import OrderState

__all__ = [
    "FILL_COLUMNS",
    "ORDER_COLUMNS",
    "FillRow",
    "OrderRow",
    "format_table",
    "query_fills",
    "query_orders",
    "render_fills",
    "render_orders",
]

_TERMINAL_VALUES = frozenset(s.value for s in OrderState if s.is_terminal)


@attrs.frozen
class OrderRow:
    client_order_id: str
    pair: str | None
    state: str | None
    side: str | None
    order_type: str | None
    amount: Decimal | None
    price: Decimal | None
    executed_amount: Decimal | None
    average_price: Decimal | None
    total_fee: Decimal | None
    exchange_order_id: str | None
    reason: str | None
    updated_at: float | None


@attrs.frozen
class FillRow:
    trade_id: str
    client_order_id: str
    pair: str | None
    side: str | None
    fill_price: Decimal
    fill_amount: Decimal
    fee: Decimal | None
    fee_asset: str | None
    is_taker: bool | None
    trade_time: float | None
    kind: str


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _open_read_only(path: str | os.PathLike[str]) -> sqlite3.Connection:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no recorder database at {p!r} (run `trio-hl record --db {p}` first)")
    return sqlite3.connect(f"file:{p}?mode=ro", uri=True)


def query_orders(
    db_path: str | os.PathLike[str], *, pair: str | None = None, open_only: bool = False, limit: int | None = None
) -> list[OrderRow]:
    """Latest state per order, most recently updated first."""
    sql = (
        "SELECT client_order_id, pair, state, side, order_type, amount, price, executed_amount, average_price,"
        " total_fee, exchange_order_id, reason, updated_at FROM orders WHERE 1=1"
    )
    args: list[Any] = []
    if pair is not None:
        sql += " AND pair = ?"
        args.append(pair)
    if open_only:
        sql += f" AND state NOT IN ({', '.join('?' for _ in _TERMINAL_VALUES)})"
        args.extend(sorted(_TERMINAL_VALUES))
    sql += " ORDER BY updated_at DESC, client_order_id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    db = _open_read_only(db_path)
    try:
        return [
            OrderRow(r[0], r[1], r[2], r[3], r[4], _dec(r[5]), _dec(r[6]), _dec(r[7]), _dec(r[8]), _dec(r[9]),
                     r[10], r[11], r[12])
            for r in db.execute(sql, args)
        ]
    finally:
        db.close()


def query_fills(
    db_path: str | os.PathLike[str],
    *,
    pair: str | None = None,
    client_order_id: str | None = None,
    limit: int | None = None,
) -> list[FillRow]:
    """One row per (trade id, order), newest first; the side comes from the order's row."""
    sql = (
        "SELECT f.trade_id, f.client_order_id, f.pair, o.side, f.fill_price, f.fill_amount, f.fee, f.fee_asset,"
        " f.is_taker, f.trade_time, f.kind FROM fills f LEFT JOIN orders o USING (client_order_id) WHERE 1=1"
    )
    args: list[Any] = []
    if pair is not None:
        sql += " AND f.pair = ?"
        args.append(pair)
    if client_order_id is not None:
        sql += " AND f.client_order_id = ?"
        args.append(client_order_id)
    sql += " ORDER BY f.trade_time DESC, f.trade_id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    db = _open_read_only(db_path)
    try:
        return [
            FillRow(r[0], r[1], r[2], r[3], Decimal(r[4]), Decimal(r[5]), _dec(r[6]), r[7],
                    None if r[8] is None else bool(r[8]), r[9], r[10])
            for r in db.execute(sql, args)
        ]
    finally:
        db.close()


def format_table(rows: Sequence[Any], columns: Sequence[str]) -> str:
    """Plain aligned text table of attrs rows (``columns`` are field names); numbers right-aligned."""
    cells = [[_cell(getattr(row, c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        bool(rows) and all(isinstance(getattr(r, c), Decimal | int | float) or getattr(r, c) is None for r in rows)
        for c in columns
    ]
    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))
    out = [line(list(columns)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(s.rstrip() for s in out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value)) + f".{int(value % 1 * 1000):03d}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)



ORDER_COLUMNS = ("client_order_id", "pair", "state", "side", "order_type", "amount", "price", "executed_amount",
                 "average_price", "total_fee", "exchange_order_id", "reason", "updated_at")
FILL_COLUMNS = ("trade_time", "trade_id", "client_order_id", "pair", "side", "fill_price", "fill_amount", "fee",
                "fee_asset", "is_taker", "kind")


def render_orders(db_path: str | os.PathLike[str], *, pair: str | None = None, open_only: bool = False,
                  limit: int | None = None) -> str:
    """``trio-hl orders``: the ``orders`` table as text (times in UTC)."""
    rows = query_orders(db_path, pair=pair, open_only=open_only, limit=limit)
    return format_table(rows, ORDER_COLUMNS) + f"\n({len(rows)} orders)"


def render_fills(db_path: str | os.PathLike[str], *, pair: str | None = None, client_order_id: str | None = None,
                 limit: int | None = None) -> str:
    """``trio-hl fills``: the ``fills`` table as text (times in UTC)."""
    rows = query_fills(db_path, pair=pair, client_order_id=client_order_id, limit=limit)
    return format_table(rows, FILL_COLUMNS) + f"\n({len(rows)} fills)"
