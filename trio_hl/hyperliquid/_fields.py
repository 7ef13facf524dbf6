"""Strict readers for venue JSON: every shape error becomes a ``ProtocolError`` naming the path.

Why a module of tiny helpers instead of ``d["px"]`` everywhere: a venue (or a fault-injecting emulator)
can send a frame with a key missing, a number where a string belongs, or ``"1e400"``; those must surface
as one exception type with a precise message (the stream code logs and counts it), never as a
``KeyError``/``TypeError`` from deep inside a parser.  Decimal strings are matched against the plain
form the venue emits (``-?digits[.digits]``): ``Decimal()`` alone would also take ``" 1_0 "``, ``"1e9"``
or ``"NaN"``, none of which a well-formed frame contains.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final

from trio_hl.errors import ProtocolError

DECIMAL_RE: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
#: Longer numeric strings are refused before parsing: nothing on the venue needs 60 digits.
MAX_DECIMAL_LEN: Final = 60


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected an object, got {_kind(value)}")
    return value


def array(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProtocolError(f"{what}: expected an array, got {_kind(value)}")
    return value


def field(d: object, key: str, what: str) -> Any:
    if not isinstance(d, dict):  # ``obj`` inlined: every field of every parsed message passes here
        raise ProtocolError(f"{what}: expected an object, got {_kind(d)}")
    try:
        return d[key]
    except KeyError:
        raise ProtocolError(f"{what}: missing {key!r}") from None


def string(d: object, key: str, what: str) -> str:
    v = field(d, key, what)
    if not isinstance(v, str):
        raise ProtocolError(f"{what}.{key}: expected a string, got {_kind(v)}")
    return v


def opt_string(d: dict[str, Any], key: str, what: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise ProtocolError(f"{what}.{key}: expected a string or null, got {_kind(v)}")
    return v


def integer(d: object, key: str, what: str) -> int:
    v = field(d, key, what)
    if type(v) is not int:
        raise ProtocolError(f"{what}.{key}: expected an integer, got {_kind(v)}")
    return v


def opt_integer(d: dict[str, Any], key: str, what: str) -> int | None:
    v = d.get(key)
    if v is not None and type(v) is not int:
        raise ProtocolError(f"{what}.{key}: expected an integer or null, got {_kind(v)}")
    return v


def boolean(d: object, key: str, what: str) -> bool:
    v = field(d, key, what)
    if type(v) is not bool:
        raise ProtocolError(f"{what}.{key}: expected a boolean, got {_kind(v)}")
    return v


def opt_boolean(d: dict[str, Any], key: str, what: str) -> bool | None:
    v = d.get(key)
    if v is not None and type(v) is not bool:
        raise ProtocolError(f"{what}.{key}: expected a boolean or null, got {_kind(v)}")
    return v


#: Memo of parsed decimal strings.  The same few strings arrive over and over (an order's price and size, book
#: levels, fill sizes) and checking plus parsing one costs ~0.5 µs against ~0.05 µs for a hit.  Only strings
#: that passed the check are stored, and a ``Decimal`` is immutable, so a hit is exactly what a miss would
#: return.  Bounded: emptied when full.
_DECIMAL_MEMO: dict[str, Decimal] = {}
_DECIMAL_MEMO_SIZE: Final = 8192


def decimal_value(v: object, what: str) -> Decimal:
    """A venue number: a plain decimal string (or, leniently, a JSON integer)."""
    if type(v) is str:
        cached = _DECIMAL_MEMO.get(v)
        if cached is not None:
            return cached
    if isinstance(v, str):
        if len(v) > MAX_DECIMAL_LEN or DECIMAL_RE.fullmatch(v) is None:
            raise ProtocolError(f"{what}: not a decimal string: {v[:80]!r}")
        parsed = Decimal(v)
        if type(v) is str:
            if len(_DECIMAL_MEMO) >= _DECIMAL_MEMO_SIZE:
                _DECIMAL_MEMO.clear()
            _DECIMAL_MEMO[v] = parsed
        return parsed
    if type(v) is int:
        return Decimal(v)
    raise ProtocolError(f"{what}: expected a decimal string, got {_kind(v)}")


def decimal(d: object, key: str, what: str) -> Decimal:
    v = field(d, key, what)
    if type(v) is str:  # a memo hit needs no path for an error message
        cached = _DECIMAL_MEMO.get(v)
        if cached is not None:
            return cached
    return decimal_value(v, f"{what}.{key}")


def opt_decimal(d: dict[str, Any], key: str, what: str) -> Decimal | None:
    v = d.get(key)
    return None if v is None else decimal_value(v, f"{what}.{key}")
