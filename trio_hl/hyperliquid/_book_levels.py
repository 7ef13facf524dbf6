"""The checks that let an ``l2Book`` side stay as the venue's strings (see :class:`trio_hl.core.book.BookSide`).

Why not ``DECIMAL_RE`` and ``Decimal()`` per value, as every other parser here does: a book frame carries 80 numbers
per block per coin, and that per-value work cost four times the JSON decode of the frame.  These checks accept
exactly the same values - plain positive decimals ``digits[.digits]`` of at most ``MAX_DECIMAL_LEN`` characters -
with a handful of C-level passes over the whole side:

* the values joined by commas may hold only ASCII digits, dots and commas (one ``bytes.translate``), and as
  many commas as the join put there;
* no value starts or ends with a dot (``",."`` / ``".,"`` and the two ends);
* no empty value, no value with two dots (the dots alone, digits deleted, never show ``..``);
* no value of zeros and dots only (zeros and dots deleted, an empty value shows as ``,,``): positive;
* the prices' ``float`` s verify best-first order: ``float`` is monotonic, so strictly ordered floats prove strictly
  ordered decimals; on a tie (equal floats, which distinct decimals of this size never produce) the side is marked
  unordered and the book sorts its Decimals - exact either way.

A side that fails any check gives ``None``: the caller then runs the per-value parser, which raises the precise
``ProtocolError``.  So only the speed differs, never the outcome.
"""

from __future__ import annotations

from operator import gt, itemgetter, lt
from typing import Any

from trio_hl.core.book import BookSide
from trio_hl.hyperliquid._fields import MAX_DECIMAL_LEN

__all__ = ["checked_sides", "dict_side"]

_PLAIN = b"0123456789.,"
_PX, _SZ, _N = itemgetter("px"), itemgetter("sz"), itemgetter("n")


def _plain_positive(values: list[Any], check_lengths: bool) -> bool:
    """Whether every value is a plain positive decimal (see the module doc), in a few C passes over the values
    joined by commas: only digits, dots and commas; no empty value, no value starting or ending with a dot, no
    value with two dots or a comma; no value made of zeros and dots only (zero)."""
    try:
        joined = ",".join(values).encode()
    except (TypeError, UnicodeEncodeError):  # a non-string value; a lone surrogate
        return False
    if joined.translate(None, _PLAIN) or joined.count(b",") != len(values) - 1:  # (a comma inside a value)
        return False
    if b",," in joined or b",." in joined or b".," in joined:
        return False
    if joined[:1] in (b"", b".", b",") or joined[-1:] in (b".", b","):
        return False
    if b".." in joined.translate(None, b"0123456789"):  # two dots in one value (values hold no commas)
        return False
    if b",," in b"," + joined.translate(None, b"0.") + b",":  # a value of zeros (and a dot) only
        return False
    return not check_lengths or max(map(len, values)) <= MAX_DECIMAL_LEN


def checked_sides(
    bid_px: list[Any], bid_sz: list[Any], bid_n: list[Any], ask_px: list[Any], ask_sz: list[Any], ask_n: list[Any],
    *, trusted: bool = False,
) -> tuple[BookSide, BookSide] | None:
    """Both sides of a snapshot from parallel lists, or None if any value is not what the venue sends.

    ``trusted``: the caller's decoder already proved every value a string of at most ``MAX_DECIMAL_LEN``
    characters and every count an ``int >= 0`` (the typed frame decoder does), so those checks are skipped.
    """
    nb, na = len(bid_px), len(ask_px)
    if len(bid_sz) != nb or len(bid_n) != nb or len(ask_sz) != na or len(ask_n) != na:
        return None
    if not trusted:
        counts = bid_n + ask_n
        if counts and (not set(map(type, counts)) <= {int} or min(counts) < 0):
            return None
    if (bid_px or ask_px) and not _plain_positive(bid_px + ask_px + bid_sz + ask_sz, not trusted):
        return None
    bk, ak = list(map(float, bid_px)), list(map(float, ask_px))  # cannot fail: plain decimals
    bids_ordered = all(map(gt, bk, bk[1:]))
    asks_ordered = all(map(lt, ak, ak[1:]))
    return (BookSide(bid_px, bid_sz, bid_n, -1 if bids_ordered else 0),
            BookSide(ask_px, ask_sz, ask_n, 1 if asks_ordered else 0))  # fmt: skip


def dict_side(raw: object, descending: bool) -> BookSide | None:
    """A checked side from the decoded levels ``[{"px", "sz", "n"}, ...]``, or None (see :func:`checked_sides`)."""
    if type(raw) is not list or not set(map(type, raw)) <= {dict}:  # what the per-value parser accepts
        return None
    try:
        prices, sizes, counts = list(map(_PX, raw)), list(map(_SZ, raw)), list(map(_N, raw))
    except KeyError:  # a level without one of the three keys
        return None
    sides = checked_sides(prices, sizes, counts, [], [], []) if descending else \
        checked_sides([], [], [], prices, sizes, counts)
    if sides is None:
        return None
    return sides[0] if descending else sides[1]
