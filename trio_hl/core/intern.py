"""``DecimalInterner``: one shared object per decimal value *as written*, so a tracker holding 100 000 orders does
not hold 100 000 copies of ``Decimal("0.0100")``.

Prices and sizes repeat heavily in trading (a tick grid, a handful of order sizes, one fee rate), yet every
update that comes off the wire or out of a caller's arithmetic brings its own ``Decimal`` (104 bytes).  The
tracker keeps an order's amount, price, fill prices/sizes/fees and running totals for as long as the order lives;
swapping each for an equal canonical object lets the caller's copies die (measured by ``bench_tracker``'s memory
rows, which count everything the tracker keeps alive).

Rule followed: **interning never changes what a number says.**  ``Decimal("0.0300")`` and ``Decimal("0.03")``
are equal and hash alike, but print differently and keep different exponents through arithmetic.  The table is
keyed by the exact text (``str(d)``: sign, digits and exponent, and nothing else, determine it), so it answers
only with an object of the very same representation.  Decimals are immutable, so sharing one is invisible.

Why the text and not the Decimal as the key: a fresh Decimal computes its hash on first use (a modular power
of ten: ~0.6 us measured, more than everything else here together), while ``str()`` of one and a string hash
cost ~0.1 us.

Bounded: at ``limit`` entries (checked by :meth:`DecimalInterner.trim`) the table is emptied and refilled by
what comes next (objects already handed out stay valid: the orders holding them keep them alive).  A
least-recently-used policy would cost a move per hit on the hot path for no benefit here: a trading session's
working set of prices and sizes is far below the limit.

Alternatives rejected: a table keyed by the Decimal (its hash, above), ``functools.lru_cache`` (a move per
hit, and a Python-level wrapper call) and a module-global table (its size would not be attributable to the
tracker that needs it, nor bounded per tracker).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Final

__all__ = ["DEFAULT_INTERN_LIMIT", "DecimalInterner"]

#: Distinct decimal values a tracker keeps canonical copies of (~250 bytes each with the key and table slot).
DEFAULT_INTERN_LIMIT: Final = 16_384


class DecimalInterner:
    """``share(str(d), d)`` is a Decimal written exactly as ``d`` (``d`` itself the first time), the same object for
    every equal text; ``interner(d)`` says the same for one-off use.

    ``share`` is the table's own ``dict.setdefault``: the hot paths bind it once and pay one C call per number
    (a method of this class would add a Python call, ~70 ns, doubling the cost).  Because ``setdefault`` cannot
    check the bound, the owner calls :meth:`trim` once per operation that may add entries (a handful at most).
    """

    __slots__ = ("_limit", "_table", "share")

    def __init__(self, limit: int = DEFAULT_INTERN_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self._limit = limit
        self._table: dict[str, Decimal] = {}
        self.share: Callable[[str, Decimal], Decimal] = self._table.setdefault

    def __call__(self, value: Decimal) -> Decimal:
        return self._table.setdefault(str(value), value)

    def trim(self) -> None:
        """Empty the table once it holds ``limit`` entries (objects handed out stay valid)."""
        if len(self._table) >= self._limit:
            self._table.clear()

    def __len__(self) -> int:
        return len(self._table)
