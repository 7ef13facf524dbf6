"""Readers shared by the ``/info`` answer parsers (``info_market``, ``info_account``, ``ledger``): lists of
items with the index in every error path, millisecond stamps, and ``[key, value]`` pair lists.

Kept apart from ``_fields`` (the per-field primitives every hot-path parser uses) because these build error
paths eagerly: fine for REST answers, not for a book frame.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid import _fields as f

T = TypeVar("T")

#: See ``messages._MAX_MS``: above 2**53 an int no longer converts to float exactly.
_MAX_MS = 2**53


def ms(d: dict[str, Any], key: str, what: str) -> int:
    """A unix timestamp in milliseconds."""
    v = f.integer(d, key, what)
    if not 0 <= v < _MAX_MS:
        raise ProtocolError(f"{what}.{key}: expected a unix ms timestamp, got {v}"[:200])
    return v


def opt_ms(d: dict[str, Any], key: str, what: str) -> int | None:
    return None if d.get(key) is None else ms(d, key, what)


def count(d: dict[str, Any], key: str, what: str) -> int:
    """A non-negative integer (a number of trades, samples, requests)."""
    v = f.integer(d, key, what)
    if v < 0:
        raise ProtocolError(f"{what}.{key}: expected an integer >= 0, got {v}")
    return v


def items(d: object, what: str, parse: Callable[[dict[str, Any], str], T]) -> list[T]:
    """A JSON array of objects, each read by ``parse(obj, path)`` with its index in the path."""
    out = []
    for i, raw in enumerate(f.array(d, what)):
        w = f"{what}[{i}]"
        out.append(parse(f.obj(raw, w), w))
    return out


def pair(raw: object, what: str) -> tuple[Any, Any]:
    """A two-element JSON array (``[time, value]``, ``[id, table]``) as a tuple."""
    a = f.array(raw, what)
    if len(a) != 2:
        raise ProtocolError(f"{what}: expected a [key, value] pair, got {len(a)} elements")
    return a[0], a[1]


def int_value(v: object, what: str) -> int:
    if type(v) is not int:
        raise ProtocolError(f"{what}: expected an integer, got {'null' if v is None else type(v).__name__}")
    return v


def str_value(v: object, what: str) -> str:
    if not isinstance(v, str):
        raise ProtocolError(f"{what}: expected a string, got {'null' if v is None else type(v).__name__}")
    return v


def decimal_pairs(d: object, what: str, key_kind: str = "int") -> tuple[tuple[Any, Decimal], ...]:
    """``[[key, "decimal"], ...]`` (``key_kind`` "int" for token ids and ms stamps, "str" for names)."""
    out = []
    for i, raw in enumerate(f.array(d, what)):
        w = f"{what}[{i}]"
        k, v = pair(raw, w)
        key = int_value(k, f"{w}[0]") if key_kind == "int" else str_value(k, f"{w}[0]")
        out.append((key, f.decimal_value(v, f"{w}[1]")))
    return tuple(out)
