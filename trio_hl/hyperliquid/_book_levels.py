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

A snapshot that fails any check gives ``None``: the caller then runs the per-value parser, which raises the precise
``ProtocolError`` or returns the same levels.  So only the speed differs, never the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import gt, itemgetter, lt
from typing import Annotated, Any

import msgspec

from trio_hl.core.book import BookSide
from trio_hl.hyperliquid._fields import MAX_DECIMAL_LEN

__all__ = ["checked_sides", "dict_sides", "positive_floats"]

_ARRAY_CHARS = b"0123456789.,[]"
_decode_positive = msgspec.json.Decoder(list[Annotated[float, msgspec.Meta(gt=0)]]).decode
_PX, _SZ, _N = itemgetter("px"), itemgetter("sz"), itemgetter("n")


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


def checked_sides(
    values: list[Any], bid_counts: Sequence[Any], ask_counts: Sequence[Any], *, trusted: bool = False,
    count: Callable[[Any], int] | None = None,
) -> tuple[BookSide, BookSide] | None:
    """Both sides of a snapshot, or None if any value is not what the venue sends.

    ``values``: the bid prices, the ask prices, the bid sizes, the ask sizes, each best-first as sent, in one list
    (one join checks them all).  ``bid_counts`` / ``ask_counts``: the order counts, or (with ``count``) the objects
    it reads them from, handed to :class:`BookSide` as they are.  ``trusted``: the caller's decoder already proved
    every value a string of at most ``MAX_DECIMAL_LEN`` characters and every count an ``int >= 0`` (the typed frame
    decoder does), so those checks are skipped.
    """
    nb, na = len(bid_counts), len(ask_counts)
    levels = nb + na
    if len(values) != 2 * levels:
        return None
    if not trusted:
        counts = [*bid_counts, *ask_counts]
        if counts and (not set(map(type, counts)) <= {int} or min(counts) < 0):
            return None
    floats = positive_floats(values)
    if floats is None:
        return None
    if not trusted and levels and max(map(len, values)) > MAX_DECIMAL_LEN:
        return None
    bk, ak = floats[:nb], floats[nb:levels]
    return (BookSide(values[:nb], values[levels:levels + nb], bid_counts, -1 if all(map(gt, bk, bk[1:])) else 0,
                     count),
            BookSide(values[nb:levels], values[levels + nb:], ask_counts, 1 if all(map(lt, ak, ak[1:])) else 0,
                     count))  # fmt: skip


def dict_sides(raw_bids: object, raw_asks: object) -> tuple[BookSide, BookSide] | None:
    """Checked sides from the decoded levels ``[{"px", "sz", "n"}, ...]`` of each side, or None (see
    :func:`checked_sides`)."""
    if type(raw_bids) is not list or type(raw_asks) is not list:
        return None
    rows = raw_bids + raw_asks
    if not set(map(type, rows)) <= {dict}:  # what the per-value parser accepts
        return None
    try:
        values = list(map(_PX, rows))
        values += map(_SZ, rows)
        bid_counts, ask_counts = list(map(_N, raw_bids)), list(map(_N, raw_asks))
    except KeyError:  # a level without one of the three keys
        return None
    return checked_sides(values, bid_counts, ask_counts)
