"""An ``l2Book`` WebSocket frame decoded straight from its text: the connector's per-block hot path.

Why a typed decoder for this one channel: the generic path (decode the frame into dicts, then read each level's
``px``/``sz``/``n`` from its dict) spends most of its time building objects that are thrown away.  msgspec, given the
frame's shape, checks the types, the value lengths and the order counts in C and hands back the level strings;
:func:`trio_hl.hyperliquid._book_levels.level_sides` checks all the prices and sizes at once and verifies the
order.  The counts are not even copied out: each side keeps its decoded levels and reads a count when a level is
built.  Anything that does not fit - an unexpected shape or field, a value the checks refuse, a decoder error - goes
through the generic path (:func:`trio_hl.core.safejson.loads` + :func:`~trio_hl.hyperliquid.messages.parse_l2_book`),
which accepts exactly what it always did and raises the precise ``ProtocolError`` otherwise.  Same results, one
fast path.

Why no nesting-depth check before the typed decode (``safejson.check_depth``, which every other decode runs): the
structs forbid unknown fields, so the decoder never skips a value it does not know - skipping is what recurses -
and every field it does know has a fixed shape at most five levels deep; a bracket where a string or a number
belongs is refused on the spot.  ``[[[[…`` a million deep anywhere in a frame therefore costs one decoder error,
then the generic path's depth check refuses it (``tests/test_book_frames.py`` runs that under the raised
recursion limit ``eth-account`` sets).  A frame with a field the venue adds one day is still parsed, by the generic
path; the first such frame is logged so that the slower path does not go unnoticed.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec

from trio_hl.core import safejson
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid._book_levels import Data, level_sides
from trio_hl.hyperliquid.messages import L2BookSnapshot, parse_l2_book

__all__ = ["parse_l2_book_frame"]

logger = logging.getLogger(__name__)


class _Frame(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    channel: Literal["l2Book"]
    data: Data


_decode = msgspec.json.Decoder(_Frame).decode
#: Whether a frame the typed decoder refused has been parsed by the generic path yet (logged once).
_generic_noted: list[bool] = [False]


def parse_l2_book_frame(text: str | bytes) -> L2BookSnapshot:
    """``{"channel": "l2Book", "data": {...}}`` text -> snapshot; ``ProtocolError`` for anything malformed."""
    try:
        data = _decode(text).data
    except (msgspec.DecodeError, UnicodeError) as exc:  # (UnicodeError: a str holding a lone surrogate)
        return _generic(text, str(exc))
    sides = level_sides(*data.levels)
    if sides is None:
        return _generic(text, "a price or size outside the venue's plain form")
    return L2BookSnapshot(data.coin, data.time, *sides)


def _generic(text: str | bytes, refused: str) -> L2BookSnapshot:
    try:
        frame: Any = safejson.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"l2Book frame: not JSON ({exc})"[:200]) from None
    if not isinstance(frame, dict) or frame.get("channel") != "l2Book":
        raise ProtocolError("l2Book frame: expected an object with channel 'l2Book'")
    if "data" not in frame:
        raise ProtocolError("l2Book frame: missing 'data'")
    snap = parse_l2_book(frame["data"])
    if not _generic_noted[0]:
        _generic_noted[0] = True
        logger.info("l2Book: a well-formed frame the typed decoder refused (%s) was parsed by the generic path "
                    "(same result, about three times the cost); later ones are not logged", refused[:200])
    return snap
