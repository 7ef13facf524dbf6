"""An ``l2Book`` WebSocket frame decoded straight from its text: the connector's per-block hot path.

Why a typed decoder for this one channel: the generic path (decode the frame into dicts, then read each level's
``px``/``sz``/``n`` from its dict) spends most of its time building objects that are thrown away.  msgspec, given the
frame's shape, checks the types, the value lengths and the order counts in C and hands back the level strings;
:func:`trio_hl.hyperliquid._book_levels.checked_sides` checks those as a whole side.  Anything that does not fit -
an unexpected shape, a value the side checks refuse, a decoder error - goes through the generic path
(:func:`trio_hl.core.safejson.loads` + :func:`~trio_hl.hyperliquid.messages.parse_l2_book`), which accepts
exactly what it always did and raises the precise ``ProtocolError`` otherwise.  Same results, one fast path.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec

from trio_hl.core import safejson
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid._book_levels import checked_sides
from trio_hl.hyperliquid._fields import MAX_DECIMAL_LEN
from trio_hl.hyperliquid.messages import L2BookSnapshot, parse_l2_book

__all__ = ["parse_l2_book_frame"]

_Value = Annotated[str, msgspec.Meta(max_length=MAX_DECIMAL_LEN)]


class _Level(msgspec.Struct, gc=False):
    px: _Value
    sz: _Value
    n: Annotated[int, msgspec.Meta(ge=0)]


class _Data(msgspec.Struct, gc=False):
    coin: str
    time: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]
    levels: tuple[list[_Level], list[_Level]]


class _Frame(msgspec.Struct, gc=False):
    channel: Literal["l2Book"]
    data: _Data


_decode = msgspec.json.Decoder(_Frame).decode
_PX, _SZ, _N = attrgetter("px"), attrgetter("sz"), attrgetter("n")


def parse_l2_book_frame(text: str | bytes) -> L2BookSnapshot:
    """``{"channel": "l2Book", "data": {...}}`` text -> snapshot; ``ProtocolError`` for anything malformed."""
    try:
        safejson.check_depth(text)  # a count for any book-sized frame; the typed decoder skips unknown values
        data = _decode(text).data
    except (msgspec.DecodeError, safejson.TooDeepError):
        return _generic(text)
    b, a = data.levels
    sides = checked_sides(list(map(_PX, b)), list(map(_SZ, b)), list(map(_N, b)),
                          list(map(_PX, a)), list(map(_SZ, a)), list(map(_N, a)), trusted=True)  # fmt: skip
    if sides is None:
        return _generic(text)
    return L2BookSnapshot(data.coin, data.time, *sides)


def _generic(text: str | bytes) -> L2BookSnapshot:
    try:
        frame: Any = safejson.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"l2Book frame: not JSON ({exc})"[:200]) from None
    if not isinstance(frame, dict) or frame.get("channel") != "l2Book":
        raise ProtocolError("l2Book frame: expected an object with channel 'l2Book'")
    if "data" not in frame:
        raise ProtocolError("l2Book frame: missing 'data'")
    return parse_l2_book(frame["data"])
