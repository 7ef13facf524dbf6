"""The emulator's native TWAP: ``twapOrder`` / ``twapCancel`` and a venue-side slicer driven by the engine clock.

Rule followed (PROTOCOL §3.2, §4.3, and the venue's order-type documentation).  A TWAP of ``sz`` over ``m``
minutes sends one suborder every 30 s, ``2·m`` in all, each nominally ``sz / (2·m)``; a suborder is a market
order bounded by 3 % slippage, i.e. an IOC limit at ``mid × (1 ± 0.03)`` (rounded to a valid price on the
passive side, so the bound is never loosened).  What a suborder does not fill is caught up later, a suborder
being at most 3× the nominal size.  Answers: ``{"status":{"running":{"twapId":N}}}`` inside an ``ok``
envelope, a refusal as ``{"status":{"error":"…"}}`` inside that same ``ok`` envelope (``Invalid TWAP duration:
1 min(s)``), ``twapCancel`` ``"success"`` or ``TWAP was never placed, already canceled, or filled.``.
Suborder fills appear in ``userFills`` (info and streams) with ``"twapId": N`` and the all-zero hash the venue
gives TWAP fills, and in the info ``userTwapSliceFills`` as ``{"fill": …, "twapId": N}``.

Sizing rule (the catch-up): suborder ``k`` of ``n`` aims at the cumulative schedule ``floor_lot(sz·k/n)``
minus what has executed, capped at ``max(floor_lot(3·sz/n), one lot)`` and at what is left.  Aiming at the
schedule rather than adding ``sz/n`` each time keeps every suborder a lot multiple, makes the sum exactly
``sz`` when liquidity allows (no rounding dust left at the end) and is the catch-up rule at the same time.
Alternative rejected: a fixed ``sz/n`` per suborder with the remainder on the last one — that last suborder
could be many lots larger than the rest, which is what a TWAP exists to avoid.

Decisions where the venue is undocumented (fixed here; PROTOCOL has no answer):

- Minimum value $10 per minute of duration at the mark (the venue's words, as ccxt's error table records them:
  ``TWAP order value too small. Min is $1200, which is $10 per minute.``); not applied to reduce-only TWAPs
  (*chosen*, as the per-order minimum spares reduce-only orders).
- Duration range 5 … 1440 minutes (the venue documents 5 min to 24 h); out of range →
  ``Invalid TWAP duration: N min(s)``.  Unknown asset → ``Order has invalid asset. asset=N``; a size of no
  whole lot or ≤ 0 → ``Order has invalid size. asset=N`` (the per-order strings), both inside ``data.status``.
- The first suborder is due at placement and runs at the next :meth:`Engine.tick`, then one every 30 s, so the
  last is due at ``m`` minutes − 30 s; the TWAP is ``finished`` right after its last suborder (any shortfall
  stays unexecuted) or as soon as the whole size executed.
- ``randomize`` (``t``) varies each suborder's size (not the last one's) by up to ±20 %, drawn from an RNG
  seeded by the engine seed and the TWAP id (same seed, same run); suborder times stay on the 30 s grid.
- A suborder the account cannot margin (or, on spot, pay for) ends the TWAP with status ``error`` and that
  refusal as its description (a 3P observation of the live venue); reduce-only suborders are capped at the
  opposite position and skipped when there is none; no minimum notional is applied to suborders.
- A tick that jumps several 30 s steps (time travel in tests) runs every due suborder at that tick's time:
  fill times never go backwards, which a client's ``userFillsByTime`` gap-fill relies on.
- Suborders are not user orders: no ``orderUpdates``, ``orderStatus`` or ``historicalOrders`` entries — only
  their fills.  ``twapHistory`` gives one record per TWAP with its latest state (status ``activated``,
  ``finished``, ``terminated`` or ``error``), oldest first; ``userTwapSliceFills`` the 2000 most recent slice
  fills, newest first.  No WS ``twapStates`` / ``userTwapSliceFills`` pushes (clients poll the info types).
"""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Final

from trio_hl.core.types import Side
from trio_hl.emulator._accounts import Account
from trio_hl.emulator._stream import StreamMessage, num
from trio_hl.errors import WireFormatError
from trio_hl.hyperliquid.messages import parse_twap_cancel_action, parse_twap_order_action
from trio_hl.hyperliquid.wire import is_valid_size, round_price

if TYPE_CHECKING:
    from trio_hl.emulator.engine import Engine

__all__ = ["MAX_MINUTES", "MIN_MINUTES", "SLICE_MS", "TwapDesk", "VenueTwap"]

#: The venue's TWAP minimum: this many USD of value per minute of duration.
TWAP_MIN_USD_PER_MINUTE: Final = 10
MIN_MINUTES: Final = 5
MAX_MINUTES: Final = 1440
SLICE_MS: Final = 30_000
MAX_SLIPPAGE: Final = Decimal("0.03")
CATCH_UP: Final = 3
RANDOM_SIZE: Final = Decimal("0.2")
PAGE: Final = 2000
NEVER_PLACED: Final = "TWAP was never placed, already canceled, or filled."
ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)


def _ok(rtype: str, status: Any) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": rtype, "data": {"status": status}}}


class VenueTwap:
    """One native TWAP as the venue keeps it.  Mutable engine-internal state."""

    __slots__ = ("asset", "coin", "description", "executed_ntl", "executed_sz", "is_buy", "minutes", "n_slices",
                 "next_ms", "randomize", "reduce_only", "rng", "slices_done", "status", "sz", "timestamp", "twap_id",
                 "user")

    def __init__(self, *, twap_id: int, user: str, asset: int, coin: str, is_buy: bool, sz: Decimal,
                 reduce_only: bool, minutes: int, randomize: bool, timestamp: int, seed: int) -> None:
        self.twap_id = twap_id
        self.user = user
        self.asset = asset
        self.coin = coin
        self.is_buy = is_buy
        self.sz = sz
        self.reduce_only = reduce_only
        self.minutes = minutes
        self.randomize = randomize
        self.timestamp = timestamp
        self.n_slices = minutes * 2
        self.slices_done = 0
        self.next_ms = timestamp
        self.executed_sz = ZERO
        self.executed_ntl = ZERO
        self.status = "activated"
        self.description: str | None = None
        self.rng = random.Random(f"{seed}:{twap_id}")

    def state(self) -> dict[str, Any]:
        """The venue's ``TwapState`` object (``twapHistory`` / ``twapStates``)."""
        return {
            "coin": self.coin, "executedNtl": num(self.executed_ntl), "executedSz": num(self.executed_sz),
            "minutes": self.minutes, "randomize": self.randomize, "reduceOnly": self.reduce_only,
            "side": "B" if self.is_buy else "A", "sz": num(self.sz), "timestamp": self.timestamp, "user": self.user,
        }


class TwapDesk:
    """Every native TWAP of the engine: the two actions, the slicer :meth:`run_due` (called by ``Engine.tick``)
    and the info answers.  Matching itself stays in the engine (``Engine.twap_suborder``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.twaps: dict[int, VenueTwap] = {}
        self._running: dict[int, VenueTwap] = {}
        self._slice_fills: dict[str, list[dict[str, Any]]] = {}
        #: user -> one record per status change of each of its TWAPs (activated, then finished/terminated/error)
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 1

    @property
    def running(self) -> bool:
        """True while some TWAP still has suborders to send (the engine's tick skips the desk otherwise)."""
        return bool(self._running)

    # ---------------------------------------------------------------------------------------- actions
    def place(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """``twapOrder``: validate, register, answer ``running`` (suborders start at the next tick)."""
        w = parse_twap_order_action(action)
        engine = self._engine
        sfx = f" asset={w.asset}"
        spec = engine.specs.get(w.asset)
        if spec is None:
            return _ok("twapOrder", {"error": f"Order has invalid asset.{sfx}"})
        if not MIN_MINUTES <= w.minutes <= MAX_MINUTES:
            return _ok("twapOrder", {"error": f"Invalid TWAP duration: {w.minutes} min(s)"})
        if w.size <= 0 or not is_valid_size(w.size, spec.sz_decimals):
            return _ok("twapOrder", {"error": f"Order has invalid size.{sfx}"})
        floor = TWAP_MIN_USD_PER_MINUTE * w.minutes
        if not w.reduce_only and w.size * engine.mark(w.asset) < floor:
            return _ok("twapOrder", {"error": f"TWAP order value too small. Min is ${floor}, which is "
                                              f"${TWAP_MIN_USD_PER_MINUTE} per minute."})
        twap_id = self._next_id
        self._next_id += 1
        twap = VenueTwap(twap_id=twap_id, user=acct.address, asset=w.asset, coin=spec.coin, is_buy=w.is_buy,
                         sz=w.size, reduce_only=w.reduce_only and not spec.is_spot, minutes=w.minutes,
                         randomize=w.randomize, timestamp=now, seed=engine.seed)
        self.twaps[twap_id] = self._running[twap_id] = twap
        self._push_history(twap, now)
        return _ok("twapOrder", {"running": {"twapId": twap_id}})

    def cancel(self, acct: Account, action: dict[str, Any], now: int) -> dict[str, Any]:
        """``twapCancel``: stop a running TWAP of this account on this asset (suborders already sent stand)."""
        asset, twap_id = parse_twap_cancel_action(action)
        twap = self._running.get(twap_id)
        if twap is None or twap.user != acct.address or twap.asset != asset:
            return _ok("twapCancel", {"error": NEVER_PLACED})
        self._end(twap, "terminated", now)
        return _ok("twapCancel", "success")

    # ----------------------------------------------------------------------------------------- slicer
    def run_due(self, now: int) -> None:
        """Send every suborder due at or before ``now``, TWAPs in placement order."""
        for twap in list(self._running.values()):
            while twap.status == "activated" and twap.next_ms <= now:
                self._suborder(twap, now)

    def _suborder(self, twap: VenueTwap, now: int) -> None:
        engine = self._engine
        spec = engine.specs[twap.asset]
        twap.slices_done += 1
        k = twap.slices_done
        twap.next_ms = twap.timestamp + SLICE_MS * k
        step = ONE.scaleb(-spec.sz_decimals)
        amount = self._amount(twap, k, step)
        if twap.reduce_only:
            pos = engine.positions_of(twap.user).get(twap.asset)
            opposite = pos is not None and pos.szi != 0 and (pos.szi > 0) != twap.is_buy
            amount = min(amount, abs(pos.szi)) if opposite and pos is not None else ZERO
            amount = _floor(amount, step)
        if amount > 0:
            side = Side.BUY if twap.is_buy else Side.SELL
            ref = engine.mid(twap.asset)
            bound = ref * (ONE + MAX_SLIPPAGE) if twap.is_buy else ref * (ONE - MAX_SLIPPAGE)
            try:
                px = round_price(bound, spec.sz_decimals, spec.is_spot, side=side, aggressive=False)
            except WireFormatError:
                px = None  # a reference price below the asset's smallest tick: nothing sensible to send
            if px is not None:
                filled, notional, fills, error = engine.twap_suborder(
                    twap.user, twap.asset, twap.is_buy, amount, px, twap.reduce_only, twap.twap_id, now)
                if error is not None:
                    self._end(twap, "error", now, error)
                    return
                twap.executed_sz += filled
                twap.executed_ntl += notional
                if fills:
                    # the venue's slice-fill records carry the fill with ``twapId: null`` inside (two recorded
                    # answers, REST and WS); the id is on the record.  userFills keeps the id on the fill.
                    records = [{"fill": {**fill, "twapId": None}, "twapId": twap.twap_id} for fill in fills]
                    self._slice_fills.setdefault(twap.user, []).extend(records)
                    engine.emit(StreamMessage("userTwapSliceFills", twap.user, {
                        "isSnapshot": False, "user": twap.user, "twapSliceFills": records}))
        if twap.executed_sz >= twap.sz or k >= twap.n_slices:
            self._end(twap, "finished", now)

    @staticmethod
    def _amount(twap: VenueTwap, k: int, step: Decimal) -> Decimal:
        """Suborder ``k``'s size: the cumulative schedule minus what executed, capped (see the module doc)."""
        left = twap.sz - twap.executed_sz
        want = _floor(twap.sz * k / twap.n_slices, step) - twap.executed_sz
        if twap.randomize and k < twap.n_slices:
            jitter = Decimal(twap.rng.randint(-1000, 1000)) / 1000 * RANDOM_SIZE
            want = want * (ONE + jitter)
        cap = max(_floor(twap.sz * CATCH_UP / twap.n_slices, step), step)
        return max(ZERO, _floor(min(want, cap, left), step))

    def _end(self, twap: VenueTwap, status: str, now: int, description: str | None = None) -> None:
        twap.status = status
        twap.description = description
        self._running.pop(twap.twap_id, None)
        self._push_history(twap, now)

    def _push_history(self, twap: VenueTwap, now: int) -> None:
        """Record the TWAP's new status (``twapHistory`` keeps one record per change, as the venue's does: a
        recorded snapshot lists ``activated`` then ``terminated`` for one id) and push it on userTwapHistory."""
        record = self._record(twap, now)
        self._history.setdefault(twap.user, []).append(record)
        self._engine.emit(StreamMessage("userTwapHistory", twap.user, {
            "isSnapshot": False, "user": twap.user, "history": [record]}))

    # ------------------------------------------------------------------------------------------- info
    def slice_fills(self, user: str) -> list[dict[str, Any]]:
        """``userTwapSliceFills``: the 2000 most recent, newest first."""
        return list(reversed(self._slice_fills.get(user, [])[-PAGE:]))

    def history(self, user: str) -> list[dict[str, Any]]:
        """``twapHistory``: one record per TWAP of ``user`` (latest state), oldest first."""
        out = []
        for twap in self.twaps.values():
            if twap.user == user:
                out.append({**self._record(twap, twap.timestamp), "twapId": twap.twap_id})
        return out

    def history_records(self, user: str) -> list[dict[str, Any]]:
        """The ``userTwapHistory`` WS snapshot: one record per status change of each TWAP of ``user``, oldest
        first (the 2000 most recent), as a recorded snapshot lists them."""
        return list(self._history.get(user, [])[-PAGE:])

    @staticmethod
    def _record(twap: VenueTwap, now: int) -> dict[str, Any]:
        """``time`` is when the status changed, in seconds (the recorded snapshot's two records of one TWAP
        differ there and nowhere else but in their state)."""
        status: dict[str, Any] = {"status": twap.status}
        if twap.description is not None:
            status["description"] = twap.description
        return {"time": now // 1000, "state": twap.state(), "status": status, "twapId": twap.twap_id}


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step
