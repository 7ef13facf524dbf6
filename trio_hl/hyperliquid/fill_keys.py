"""What makes two venue fills "the same fill": the trade id of a fill that has none, and de-duplication that
never throws a fill away.

Facts (PROTOCOL §8.4).  ``tid`` is a hash of (buyer oid, seller oid): both legs of one trade share it, and a
self-trade gives one account two fills with the same ``tid`` (one per side).  The venue's unique key of a trade
is (time, coin, tid); for one account's fills add the side.  Fills recorded before the venue added ``tid``
(2023) have none, and several fills of one order then share time, coin, oid, side and transaction ``hash``
(one taker order sweeping several price levels) - only price, size and ``startPosition`` tell them apart.

Rules followed.

* A fill without ``tid`` gets a *derived* trade id, computed from the fill's own identifying fields only (a
  digest of time, coin, oid, side, px, sz, startPosition, hash, dir, crossed), so the same fill read twice -
  from a WebSocket snapshot and from ``userFillsByTime`` - gets the same id, and two fills of one sweep get
  different ones (they differ in px or, at one price, in startPosition).  Numbers enter by value ("0.10" and
  "0.1" are one number, an oid as a JSON integer or a digit string is one id) and the hash in lower case:
  another rendering of the same fill must not become a second fill.  ``fee`` and ``closedPnl`` are left out:
  they are amounts derived from the identifying fields (a fee schedule, an entry price), a source may round
  them differently, and they tell no two fills of one sweep apart that px/sz/startPosition do not.  The id
  is ``"x"`` + 16 hex digits: never all digits, so it cannot equal a venue ``tid`` (``messages._id`` turns
  those into decimal strings).
* De-duplication (:class:`FillDeduper`) keys fills by (time, coin, trade id, side).  A second fill with the
  same key *and* the same size, price and oid is a duplicate (dropped, counted).  One with the same key that
  differs in any of those is a **collision**: both are kept, the pair is recorded and counted, and whoever
  consumes them reports it.  Alternative rejected: keep the first and drop the second - that is exactly how
  ``user_fills_by_time`` lost 76 of 500 real fills (its old key (tid, oid, side) was the same for every
  tid-less fill of one order).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

__all__ = ["FillCollision", "FillDeduper", "derived_trade_id", "raw_fill_key", "raw_trade_id"]

#: The fields a derived trade id is computed from, in this order (missing ones count as null).
_DERIVE_FIELDS: Final = ("time", "coin", "oid", "side", "px", "sz", "startPosition", "hash", "dir", "crossed")
#: Of those, the ones compared by value (a decimal string or a JSON number).
_NUMERIC_FIELDS: Final = frozenset({"time", "oid", "px", "sz", "startPosition"})


def _canonical(key: str, v: object) -> object:
    """One field as it enters the digest: a number as its plain normalised decimal text ("0.10", "0.1" and 0.1
    all give "0.1"; "-0.0" gives "0"), the hash in lower case; anything unparseable as it is."""
    if key in _NUMERIC_FIELDS and isinstance(v, (str, int)) and not isinstance(v, bool):
        try:
            d = Decimal(v)
        except InvalidOperation:
            return v
        if not d.is_finite():
            return v
        return "0" if d.is_zero() else format(d.normalize(), "f")
    if key == "hash" and isinstance(v, str):
        return v.lower()
    return v


def derived_trade_id(fill: dict[str, Any]) -> str:
    """A stable trade id for a fill the venue sent without ``tid``: ``"x"`` + 16 hex digits of a SHA-256 over
    the fill's identifying fields, numbers by value (see the module doc).  Deterministic across processes (no
    ``hash()`` salt) and across renderings of the same fill."""
    material = json.dumps([_canonical(k, fill.get(k)) for k in _DERIVE_FIELDS], separators=(",", ":"), default=str)
    return "x" + hashlib.sha256(material.encode()).hexdigest()[:16]


def raw_trade_id(fill: dict[str, Any]) -> str:
    """The trade id of a raw fill: its ``tid`` as a decimal string, or :func:`derived_trade_id` when it has
    none (absent or null).  A ``tid`` of any other type is left to the parser to refuse (returned as text)."""
    tid = fill.get("tid")
    if tid is None:
        return derived_trade_id(fill)
    return str(tid)


def raw_fill_key(fill: dict[str, Any]) -> tuple[Any, Any, str, Any]:
    """One account's unique key of a raw fill: (time, coin, trade id, side)."""
    return (fill.get("time"), fill.get("coin"), raw_trade_id(fill), fill.get("side"))


def _number(v: object) -> object:
    """A venue number compared by value ("1.0" == "1"); anything unparseable as itself."""
    if isinstance(v, str):
        try:
            return Decimal(v)
        except InvalidOperation:
            return v
    return v


def _fingerprint(fill: dict[str, Any]) -> tuple[object, object, object]:
    return (_number(fill.get("sz")), _number(fill.get("px")), _number(fill.get("oid")))


@attrs.frozen
class FillCollision:
    """Two fills with the same key (time, coin, trade id, side) that differ in size, price or oid: both kept."""

    key: tuple[Any, Any, str, Any]
    first: dict[str, Any]
    second: dict[str, Any]

    def describe(self) -> str:
        a, b = self.first, self.second
        return (
            f"fills share time/coin/tid/side {self.key!r} but differ: "
            f"sz {a.get('sz')!r}/{b.get('sz')!r} px {a.get('px')!r}/{b.get('px')!r} "
            f"oid {a.get('oid')!r}/{b.get('oid')!r}"
        )[:600]


class FillDeduper:
    """Accumulates raw fills across pages, dropping exact re-reads and keeping (and recording) collisions."""

    def __init__(self) -> None:
        self.fills: list[dict[str, Any]] = []
        self.duplicates = 0
        self.collisions: list[FillCollision] = []
        self._seen: dict[tuple[Any, Any, str, Any], list[dict[str, Any]]] = {}

    def add(self, fill: dict[str, Any]) -> bool:
        """Keep ``fill`` unless an identical one (same key, size, price, oid) is already kept.  True if kept."""
        key = raw_fill_key(fill)
        same_key = self._seen.get(key)
        if same_key is None:
            self._seen[key] = [fill]
            self.fills.append(fill)
            return True
        mark = _fingerprint(fill)
        if any(_fingerprint(kept) == mark for kept in same_key):
            self.duplicates += 1
            return False
        self.collisions.append(FillCollision(key, same_key[0], fill))
        same_key.append(fill)
        self.fills.append(fill)
        return True
