"""The checks that let an ``l2Book`` snapshot stay as the venue's strings (see :class:`trio_hl.core.book.BookSide`).

Why not ``DECIMAL_RE`` and ``Decimal()`` per value, as every other parser here does: a book frame carries 80 numbers
per block per coin, and that per-value work cost four times the JSON decode of the frame.  The checks here accept
only plain positive decimals ``digits[.digits]`` (what the per-value parser accepts, minus the forms the venue never
writes) with two C-level passes over all the snapshot's values joined into one JSON array:

* the array text may hold only ASCII digits, dots, commas and brackets (one ``bytes.translate``): no sign, exponent,
  whitespace, escape or any other character;
* msgspec decodes it as a list of floats ``> 0`` of exactly as many items as there are values.  Given the first
  check, a JSON number is exactly ``(0|[1-9][0-9]*)(.[0-9]+)?``, so this refuses an empty value, a lone or
  leading or trailing dot, two dots, a comma or a bracket inside a value (the item count or the array's shape
  would change) and zero (a plain decimal of at most ``MAX_DECIMAL_LEN`` characters is far from float underflow,
  so its float is 0 only when it is 0).  It refuses leading zeros (``"05"``), which the per-value parser accepts:
  such a snapshot takes that slower path, with the same result;
* the prices' floats then verify best-first order: ``float`` is monotonic, so strictly ordered floats prove
  strictly ordered decimals; on a tie (equal floats, which distinct decimals of the venue's 5 significant figures
  never produce) the side is marked unordered and the book sorts its Decimals - exact either way.

The values come from the typed schema below (:class:`Data`), which both paths use: the WS frame decoder decodes the
text into it (``book_frames``), the REST parser converts the decoded answer into it (``msgspec.convert``, in C):
msgspec has then checked every type, that each value is a string of at most ``MAX_DECIMAL_LEN`` characters and each
count an ``int >= 0``.  The structs forbid unknown fields (see ``book_frames`` for why).

A snapshot that fails any check gives ``None``: the caller then runs the per-value parser, which raises the precise
``ProtocolError`` or returns the same levels.  So only the speed differs, never the outcome.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from trio_hl.core.book import BookSide
from trio_hl.hyperliquid._fields import MAX_DECIMAL_LEN

__all__ = ["Data", "Level", "level_sides", "positive_floats", "typed_data"]

_Value = Annotated[str, msgspec.Meta(max_length=MAX_DECIMAL_LEN)]


class Level(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """One level as the venue writes it: ``{"px": "…", "sz": "…", "n": …}``."""

    px: _Value
    sz: _Value
    n: Annotated[int, msgspec.Meta(ge=0)]


class Data(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """The ``l2Book`` data: ``{"coin", "time", "levels": [[bids…], [asks…]]}``."""

    coin: str
    time: Annotated[int, msgspec.Meta(ge=0, lt=2**53)]
    levels: tuple[list[Level], list[Level]]


_ARRAY_CHARS = b"0123456789.,[]"
_decode_positive = msgspec.json.Decoder(list[Annotated[float, msgspec.Meta(gt=0)]]).decode
_N = attrgetter("n")


def positive_floats(values: list[Any]) -> list[float] | None:
    """The floats of ``values`` if every one is a plain positive decimal string with no leading zero (see the
    module doc), else None."""
    try:
        text = ("[" + ",".join(values) + "]").encode()
    except (TypeError, UnicodeEncodeError):  # a non-string value; a lone surrogate
        return None
    if text.translate(None, _ARRAY_CHARS):
        return None
    try:
        floats = _decode_positive(text)
    except msgspec.DecodeError:  # (ValidationError included: a zero)
        return None
    return floats if len(floats) == len(values) else None


def level_sides(bids: list[Level], asks: list[Level]) -> tuple[BookSide, BookSide] | None:
    """Both sides of a snapshot from its typed levels, or None if a price or size is not in the venue's plain
    positive form.  Each side keeps its levels and reads a count only when a level is built."""
    rows = bids + asks
    # Comprehensions, not map(attrgetter): the interpreter specializes ``row.px`` to a slot read (half the time).
    values = [row.px for row in rows]
    values += [row.sz for row in rows]
    floats = positive_floats(values)  # bid prices, ask prices, bid sizes, ask sizes
    if floats is None:
        return None
    nb, levels = len(bids), len(rows)
    # Plain loops: faster than all(map(gt, xs, xs[1:])) for 20 levels.  The floats are finite and > 0.
    bid_order = ask_order = 0
    prev = math.inf
    for x in floats[:nb]:
        if not x < prev:
            break
        prev = x
    else:
        bid_order = -1
    prev = 0.0
    for x in floats[nb:levels]:
        if not x > prev:
            break
        prev = x
    else:
        ask_order = 1
    return (BookSide(values[:nb], values[levels:levels + nb], bids, bid_order, _N),
            BookSide(values[nb:levels], values[levels + nb:], asks, ask_order, _N))  # fmt: skip


def typed_data(d: object) -> Data | None:
    """Already decoded ``l2Book`` data (a REST answer) in the typed schema, or None if it does not fit.

    Only JSON's own containers take this path: ``msgspec.convert`` would also read tuples and other mappings, which
    the per-value parser refuses (``ProtocolError``), so those go to it."""
    if type(d) is not dict:
        return None
    levels = d.get("levels")
    if type(levels) is not list or len(levels) != 2:
        return None
    bids, asks = levels
    if type(bids) is not list or type(asks) is not list or not set(map(type, bids + asks)) <= {dict}:
        return None
    try:
        return msgspec.convert(d, Data)
    except msgspec.ValidationError:
        return None
