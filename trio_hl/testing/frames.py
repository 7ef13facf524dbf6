"""Wire-level Hypothesis strategies: the JSON Hyperliquid sends about a user's orders.

Why a wire level next to the order-level strategies (``strategies.py``): the connector's parsers and stream
consumers are where venue reality meets our model, and they can only be fuzzed with what the venue really
sends — ``orderUpdates`` items, fills on ``userFills`` *and* ``userEvents``, ``/info orderStatus`` answers
(PROTOCOL §5, §6.4) — in every documented status, duplicated, reordered and sometimes broken.

Three families, from friendly to hostile:

* **valid frames** (``order_update_frames``, ``fill_frames``, ``user_fills_messages``, ``user_events_messages``,
  ``order_status_answers``): the documented shapes — decimal *strings* for prices and sizes, integer ms
  timestamps, ``0x`` + 32 hex cloids, optional keys sometimes present and sometimes not.  Every argument is a
  value, a strategy, or None ("draw one"), so a test can pin the coin, oid or cloid it cares about.
* **malformed frames** (``malformed_frames``): a valid frame with a *required* field deleted, type-confused
  (``None``, a float where the venue sends a string, ``"NaN"``), oversized, or a wrong top-level type.  Each
  is guaranteed not to parse, so a consumer must count it once and skip it.
* **hostile frames** (``hostile_frames``): free-form junk and random single-node mutations of a sample frame.
  They may or may not parse; a consumer must never crash on them.

``venue_sequences`` ties it together: a hidden truth for one order (its status history and fills, adding up to
no more than its size) and every frame a venue connection would deliver for it — shuffled, duplicated across
channels and reconnect snapshots, interleaved with other orders' traffic — so a test can assert that whatever
consumes them converges to the truth.

The status table here is written from PROTOCOL §5 independently of ``trio_hl.hyperliquid.statuses``, so the
tests can check that parser against it instead of against itself.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, TypeAlias, TypeVar

import attrs
from hypothesis import strategies as st

from trio_hl.core.order import InFlightOrder
from trio_hl.core.types import OrderState, Side

__all__ = [
    "CANCEL_STATUSES",
    "DOCUMENTED_STATUSES",
    "FILLED_STATUS",
    "LIVE_STATUSES",
    "REJECT_STATUSES",
    "STATUS_OUTCOME",
    "USER_CHANNELS",
    "VenueFill",
    "VenueFrame",
    "VenueSequence",
    "addresses",
    "cloids",
    "coins",
    "decimals",
    "fill_frames",
    "hostile_frames",
    "json_values",
    "malformed_frames",
    "ms_timestamps",
    "mutated",
    "oids",
    "order_status_answers",
    "order_update_frames",
    "order_update_items",
    "sample_frame",
    "scalars",
    "user_events_messages",
    "user_fills_messages",
    "venue_sequences",
    "venue_statuses",
    "wire_decimal",
]

T = TypeVar("T")
#: A value, a strategy for it, or None ("draw one from the default").
Given: TypeAlias = T | st.SearchStrategy[T] | None

# ------------------------------------------------------------------------------------------- statuses

#: Statuses of an order that is (still) live: ``triggered`` is a TP/SL that has become a live order.
LIVE_STATUSES: Final = ("open", "triggered")
FILLED_STATUS: Final = "filled"
#: Every documented way an order ends canceled (PROTOCOL §5).  All but ``canceled`` are the venue's own doing.
CANCEL_STATUSES: Final = (
    "canceled", "marginCanceled", "vaultWithdrawalCanceled", "openInterestCapCanceled", "selfTradeCanceled",
    "reduceOnlyCanceled", "siblingFilledCanceled", "delistedCanceled", "liquidatedCanceled", "scheduledCancel",
)
#: Every documented way the venue refuses an order outright (PROTOCOL §5).
REJECT_STATUSES: Final = (
    "rejected", "tickRejected", "minTradeNtlRejected", "perpMarginRejected", "reduceOnlyRejected",
    "badAloPxRejected", "iocCancelRejected", "badTriggerPxRejected", "marketOrderNoLiquidityRejected",
    "positionIncreaseAtOpenInterestCapRejected", "positionFlipAtOpenInterestCapRejected",
    "tooAggressiveAtOpenInterestCapRejected", "openInterestIncreaseRejected", "insufficientSpotBalanceRejected",
    "oracleRejected", "perpMaxPositionRejected",
)
DOCUMENTED_STATUSES: Final = (*LIVE_STATUSES, FILLED_STATUS, *CANCEL_STATUSES, *REJECT_STATUSES)
#: What each documented status means for the order's lifecycle.  Live statuses map to OPEN (the tracker
#: reports PARTIALLY_FILLED instead once fills arrived; see ``VenueSequence.expected_state``).
STATUS_OUTCOME: Final[Mapping[str, OrderState]] = {
    **dict.fromkeys(LIVE_STATUSES, OrderState.OPEN),
    FILLED_STATUS: OrderState.FILLED,
    **dict.fromkeys(CANCEL_STATUSES, OrderState.CANCELED),
    **dict.fromkeys(REJECT_STATUSES, OrderState.FAILED),
}
#: Plausible statuses the venue may add (or near-misses of real ones); a parser must not act on them.
_FUTURE_STATUSES: Final = (
    "waitingForFill", "waitingForTrigger", "twapCanceled", "expiredCanceled", "liquidationRejected", "Open",
    "FILLED", "canceled ", " open", "", "unknownOid",
)


def venue_statuses(*, documented: bool = True, unknown: bool = True) -> st.SearchStrategy[str]:
    """Order status names: every documented one (``documented``) and/or ones the venue might add (``unknown``)."""
    parts: list[st.SearchStrategy[str]] = []
    if documented:
        parts.append(st.sampled_from(DOCUMENTED_STATUSES))
    if unknown:
        parts.append(st.sampled_from(_FUTURE_STATUSES))
        parts.append(st.text(max_size=30).filter(lambda s: s not in STATUS_OUTCOME))
    if not parts:
        raise ValueError("venue_statuses: ask for documented and/or unknown statuses")
    return st.one_of(parts)


# --------------------------------------------------------------------------------------------- scalars


def decimals(min_units: int = 1, max_units: int = 10_000, places: int = 2) -> st.SearchStrategy[Decimal]:
    """Positive Decimals on a ``10**-places`` grid, between ``min_units`` and ``max_units`` grid steps."""
    scale = Decimal(1).scaleb(-places)
    return st.integers(min_units, max_units).map(lambda n: n * scale)


def wire_decimal(d: Decimal, *, trailing_zero: bool = False) -> str:
    """``d`` as the venue writes it: a plain decimal string (never an exponent).  The venue writes some
    integral values with a trailing ``.0`` (``"29792.0"``, ``"0.0"``); ``trailing_zero`` reproduces that."""
    s = format(d, "f")
    if trailing_zero and "." not in s:
        s += ".0"
    return s


def coins() -> st.SearchStrategy[str]:
    """Wire coin names: perps (``BTC``), spot (``PURR/USDC``, ``@107``) and a builder-deployed perp."""
    return st.sampled_from(["BTC", "ETH", "SOL", "kPEPE", "PURR/USDC", "@107", "@1", "xyz:TSLA"])


def oids() -> st.SearchStrategy[int]:
    """Venue order ids (positive JSON integers, well inside 2**53 so JavaScript peers read them exactly)."""
    return st.integers(1, 2**48)


def cloids() -> st.SearchStrategy[str]:
    """Client order ids as Hyperliquid wants them: ``"0x"`` + 32 lowercase hex digits (16 bytes)."""
    return st.integers(1, 2**128 - 1).map(lambda n: f"0x{n:032x}")


def addresses() -> st.SearchStrategy[str]:
    """Lowercase 20-byte hex addresses (user, liquidator)."""
    return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


def ms_timestamps(lo: int = 1_600_000_000_000, hi: int = 1_900_000_000_000) -> st.SearchStrategy[int]:
    """Unix timestamps in integer milliseconds, as every venue timestamp is."""
    return st.integers(lo, hi)


def _given(value: Given[T], default: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


_SIDES: Final = {Side.BUY: "B", Side.SELL: "A"}
_prices = decimals(1, 10_000_000, 2)
_sizes = decimals(1, 1_000_000, 3)
_fees = st.integers(-10_000, 100_000).map(lambda n: n * Decimal("0.000001"))


# --------------------------------------------------------------------------------------- frame builders


def _order_object(
    *, coin: str, side: Side, limit_px: Decimal, sz: Decimal, oid: int, timestamp: int, orig_sz: Decimal | None,
    cloid: str | None, trailing_zero: bool = False,
) -> dict[str, Any]:
    """The WS/basic order object (``orderUpdates[].order``)."""
    o: dict[str, Any] = {
        "coin": coin, "side": _SIDES[side], "limitPx": wire_decimal(limit_px, trailing_zero=trailing_zero),
        "sz": wire_decimal(sz, trailing_zero=trailing_zero), "oid": oid, "timestamp": timestamp,
    }
    if orig_sz is not None:
        o["origSz"] = wire_decimal(orig_sz, trailing_zero=trailing_zero)
    if cloid is not None:
        o["cloid"] = cloid
    return o


def _fill_object(
    *, coin: str, side: Side, px: Decimal, sz: Decimal, oid: int, tid: int, time_ms: int, fee: Decimal,
    crossed: bool, cloid: str | None, fee_token: str | None = "USDC", extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One fill, in the DOC's key order (PROTOCOL §5 "Fill object")."""
    spot = "/" in coin or coin.startswith("@")
    direction = ("Buy" if side is Side.BUY else "Sell") if spot else ("Open Long" if side is Side.BUY else "Open Short")
    d: dict[str, Any] = {
        "closedPnl": "0.0", "coin": coin, "crossed": crossed, "dir": direction, "hash": "0x" + f"{tid:064x}"[-64:],
        "oid": oid, "px": wire_decimal(px), "side": _SIDES[side], "startPosition": "0.0", "sz": wire_decimal(sz),
        "time": time_ms, "fee": wire_decimal(fee),
    }
    if fee_token is not None:
        d["feeToken"] = fee_token
    d["tid"] = tid
    if cloid is not None:
        d["cloid"] = cloid
    if extras:
        d.update(extras)
    return d


# ------------------------------------------------------------------------------------------ valid frames


@st.composite
def order_update_items(
    draw: st.DrawFn, *, coin: Given[str] = None, oid: Given[int] = None, cloid: Given[str | None] = None,
    status: Given[str] = None, side: Given[Side] = None,
) -> dict[str, Any]:
    """One WS ``orderUpdates`` item ``{"order": {...}, "status", "statusTimestamp"}``.

    ``sz`` (what is left) never exceeds ``origSz``; it is 0 for ``filled``.  ``origSz`` and ``cloid`` are
    sometimes absent, as the venue omits them.  ``status`` defaults to any documented status.
    """
    st_ = draw(_given(status, venue_statuses(unknown=False)))
    orig = draw(_sizes)
    left = Decimal(0) if st_ == FILLED_STATUS else draw(st.integers(0, int(orig * 1000))) * Decimal("0.001")
    created = draw(ms_timestamps())
    order = _order_object(
        coin=draw(_given(coin, coins())), side=draw(_given(side, st.sampled_from(Side))), limit_px=draw(_prices),
        sz=left, oid=draw(_given(oid, oids())), timestamp=created,
        orig_sz=draw(st.none() | st.just(orig)), cloid=draw(_given(cloid, st.none() | cloids())),
        trailing_zero=draw(st.booleans()),
    )
    return {"order": order, "status": st_, "statusTimestamp": created + draw(st.integers(0, 86_400_000))}


def order_update_frames(
    *, coin: Given[str] = None, oid: Given[int] = None, cloid: Given[str | None] = None,
    status: Given[str] = None, max_items: int = 3,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """WS ``orderUpdates`` data: a list of 1..``max_items`` items (see ``order_update_items``)."""
    return st.lists(order_update_items(coin=coin, oid=oid, cloid=cloid, status=status), min_size=1,
                    max_size=max_items)


@st.composite
def fill_frames(
    draw: st.DrawFn, *, coin: Given[str] = None, oid: Given[int] = None, cloid: Given[str | None] = None,
    tid: Given[int] = None, side: Given[Side] = None,
) -> dict[str, Any]:
    """One fill object (an item of info ``userFills``, WS ``userFills.fills`` and ``userEvents.fills``).

    Optional keys vary the way live frames do: ``cloid`` only when the order had one, ``feeToken`` (USDC,
    or absent: parsers must default it), ``builderFee`` only when non-zero, ``twapId: null``.  Fees may be
    negative (a maker rebate).
    """
    extras: dict[str, Any] = {}
    if draw(st.booleans()):
        extras["builderFee"] = wire_decimal(draw(decimals(1, 1000, 6)))
    if draw(st.booleans()):
        extras["twapId"] = None
    return _fill_object(
        coin=draw(_given(coin, coins())), side=draw(_given(side, st.sampled_from(Side))), px=draw(_prices),
        sz=draw(_sizes), oid=draw(_given(oid, oids())), tid=draw(_given(tid, st.integers(1, 2**50))),
        time_ms=draw(ms_timestamps()), fee=draw(_fees), crossed=draw(st.booleans()),
        cloid=draw(_given(cloid, st.none() | cloids())), fee_token=draw(st.sampled_from(["USDC", None])),
        extras=extras,
    )


@st.composite
def user_fills_messages(
    draw: st.DrawFn, *, user: Given[str] = None, coin: Given[str] = None, oid: Given[int] = None,
    cloid: Given[str | None] = None, is_snapshot: Given[bool | None] = None, max_fills: int = 4,
) -> dict[str, Any]:
    """WS ``userFills`` data ``{"isSnapshot"?, "user", "fills": [...]}`` with unique trade ids.

    ``is_snapshot`` None draws True, False or *absent* (PROTOCOL appendix: UNSURE whether streaming messages
    carry ``isSnapshot: false`` or omit it).  An empty ``fills`` list is valid (a quiet snapshot).
    """
    tids = draw(st.lists(st.integers(1, 2**50), max_size=max_fills, unique=True))
    fills = [draw(fill_frames(coin=coin, oid=oid, cloid=cloid, tid=t)) for t in tids]
    snap = draw(_given(is_snapshot, st.sampled_from([True, False, None])))
    msg: dict[str, Any] = {} if snap is None else {"isSnapshot": snap}
    msg["user"] = draw(_given(user, addresses()))
    msg["fills"] = fills
    return msg


@st.composite
def user_events_messages(
    draw: st.DrawFn, *, kind: Given[str] = None, coin: Given[str] = None, oid: Given[int] = None,
    cloid: Given[str | None] = None,
) -> dict[str, Any]:
    """WS ``userEvents`` data (channel ``"user"`` on the wire): exactly one of ``fills``, ``funding``,
    ``liquidation``, ``nonUserCancel`` (``kind``; drawn when None)."""
    k = draw(_given(kind, st.sampled_from(["fills", "funding", "liquidation", "nonUserCancel"])))
    if k == "fills":
        tids = draw(st.lists(st.integers(1, 2**50), min_size=1, max_size=3, unique=True))
        return {"fills": [draw(fill_frames(coin=coin, oid=oid, cloid=cloid, tid=t)) for t in tids]}
    if k == "funding":
        return {"funding": {
            "time": draw(ms_timestamps()), "coin": draw(_given(coin, coins())),
            "usdc": wire_decimal(draw(_fees)), "szi": wire_decimal(draw(_sizes) * draw(st.sampled_from([1, -1]))),
            "fundingRate": wire_decimal(draw(st.integers(-1000, 1000)) * Decimal("0.00000001")),
        }}
    if k == "liquidation":
        return {"liquidation": {
            "lid": draw(st.integers(1, 2**40)), "liquidator": draw(addresses()),
            "liquidated_user": draw(addresses()), "liquidated_ntl_pos": wire_decimal(draw(_prices)),
            "liquidated_account_value": wire_decimal(draw(_prices)),
        }}
    if k == "nonUserCancel":
        n = draw(st.integers(1, 3))
        return {"nonUserCancel": [{"coin": draw(_given(coin, coins())), "oid": draw(_given(oid, oids()))}
                                  for _ in range(n)]}
    raise ValueError(f"user_events_messages: unknown kind {k!r}")


@st.composite
def order_status_answers(
    draw: st.DrawFn, *, coin: Given[str] = None, oid: Given[int] = None, cloid: Given[str | None] = None,
    status: Given[str] = None, unknown_oid: bool = True,
) -> dict[str, Any]:
    """The info ``orderStatus`` answer: ``{"status": "order", "order": {"order": <frontend order>, "status",
    "statusTimestamp"}}``, or ``{"status": "unknownOid"}`` when ``unknown_oid`` allows it."""
    if unknown_oid and draw(st.integers(0, 4)) == 0:
        return {"status": "unknownOid"}
    item = draw(order_update_items(coin=coin, oid=oid, cloid=cloid, status=status))
    o = item["order"]
    trigger = draw(st.booleans())
    frontend = {
        "coin": o["coin"], "side": o["side"], "limitPx": o["limitPx"], "sz": o["sz"], "oid": o["oid"],
        "timestamp": o["timestamp"], "triggerCondition": "Price above 10" if trigger else "N/A",
        "isTrigger": trigger, "triggerPx": o["limitPx"] if trigger else "0.0", "children": [],
        "isPositionTpsl": False, "reduceOnly": draw(st.booleans()),
        "orderType": draw(st.sampled_from(["Stop Market", "Take Profit Limit"])) if trigger else "Limit",
        "origSz": o.get("origSz", o["sz"]), "tif": None if trigger else draw(st.sampled_from(["Gtc", "Ioc", "Alo"])),
        "cloid": o.get("cloid"),
    }
    return {"status": "order", "order": {"order": frontend, "status": item["status"],
                                         "statusTimestamp": item["statusTimestamp"]}}


# ------------------------------------------------------------------------------------------ sample frames

_SAMPLE_CLOID: Final = "0x" + "00" * 15 + "01"
_SAMPLES: Final[Mapping[str, Any]] = {
    "orderUpdates": [{
        "order": {"coin": "BTC", "side": "A", "limitPx": "29792.0", "sz": "0.5", "oid": 91490942,
                  "timestamp": 1681247412573, "origSz": "0.5", "cloid": _SAMPLE_CLOID},
        "status": "open", "statusTimestamp": 1681247412600,
    }],
    "userFills": {"user": "0x" + "11" * 20, "isSnapshot": False, "fills": [{
        "closedPnl": "0.0", "coin": "BTC", "crossed": False, "dir": "Open Long", "hash": "0x" + "a1" * 32,
        "oid": 91490942, "px": "29792", "side": "A", "startPosition": "0", "sz": "0.1", "time": 1681247412700,
        "fee": "0.01", "feeToken": "USDC", "tid": 118906512037719, "cloid": _SAMPLE_CLOID,
    }]},
    "l2Book": {
        "coin": "BTC",
        "levels": [[{"px": "29791", "sz": "1.5", "n": 1}, {"px": "29790", "sz": "10", "n": 3}],
                   [{"px": "29792", "sz": "5.5", "n": 2}]],
        "time": 1689630203930,
    },
}
#: The channels that carry a user's order facts (``userEvents`` is called ``"user"`` on the wire).
USER_CHANNELS: Final = ("orderUpdates", "userFills", "userEvents")


def sample_frame(channel: str) -> Any:
    """A fresh copy of one fixed, documented, valid frame for ``channel`` (``orderUpdates``, ``userFills``,
    ``userEvents``, ``l2Book``): the base that ``hostile_frames`` mutates, and a known-good frame to send
    after junk to prove the consumer is still alive."""
    if channel == "userEvents":
        return {"fills": copy.deepcopy(_SAMPLES["userFills"]["fills"])}
    try:
        return copy.deepcopy(_SAMPLES[channel])
    except KeyError:
        raise ValueError(f"no sample frame for channel {channel!r}") from None


# -------------------------------------------------------------------------------------- hostile frames

#: JSON scalars of every type, including the classic poison values (NaN, huge exponents, NUL, RTL mark).
scalars: Final = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-0", "NaN", "nan", "Infinity", "-1e999999", "1e999999", "0x", "B", "A", "open",
                     "filled", "canceled", "9" * 400, "0." + "0" * 300 + "1", "\x00", "\u202e", "BTC", "@107"]),
    st.text(max_size=30),
)
_KEY_VOCABULARY: Final = sorted(
    {*_SAMPLES["userFills"]["fills"][0], *_SAMPLES["orderUpdates"][0]["order"], "order", "status", "fills",
     "levels", "user", "isSnapshot", "funding", "liquidation", "nonUserCancel"}
)
#: Arbitrary JSON documents whose keys are often the venue's own, so junk reaches deep into the parsers.
json_values: Final = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(_KEY_VOCABULARY)), children, max_size=6),
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """``valid`` with one node replaced (type confusion), deleted (truncation) or blown up (oversize).

    The result may still parse (a replacement can be another valid value): use ``malformed_frames`` when
    the frame must be refused.
    """
    frame = copy.deepcopy(valid)
    paths = [p for p in _paths(frame) if p]
    path = draw(st.sampled_from(paths))
    parent = frame
    for key in path[:-1]:
        parent = parent[key]
    how = draw(st.sampled_from(["replace", "delete", "oversize"]))
    if how == "replace":
        parent[path[-1]] = draw(json_values)
    elif how == "delete":
        del parent[path[-1]]
    else:
        # (integers too large for a float are covered by tests of their own: they need a known channel)
        parent[path[-1]] = draw(st.sampled_from(["x" * 1_000_000, [parent[path[-1]]] * 5_000, 2**64 + 1]))
    return frame


def hostile_frames(channel: str, base: Any = None) -> st.SearchStrategy[Any]:
    """Junk for ``channel``: free-form JSON or a one-node mutation of ``base`` (default ``sample_frame``).

    May or may not parse; the contract it tests is "never crash, count what is refused, keep going".
    """
    return st.one_of(json_values, mutated(sample_frame(channel) if base is None else base))


# ------------------------------------------------------------------------------------ malformed frames

_DECIMAL_JUNK: Final = ("NaN", "1e5", " 1", "1_0", "0x10", "", "9" * 400, "Infinity")
_INT_JUNK: Final = ("12", 1.5, True, 2**64 + 1, -1)
#: Refused by every required field (``[]`` is not: an empty ``fills`` list is valid).
_COMMON_JUNK: Final = (None, {"x": 1})
#: Required fields and type confusions each of them must refuse.
_FILL_REQUIRED: Final[Mapping[str, tuple[Any, ...]]] = {
    "coin": (7,), "tid": ("x1", 1.5, -3), "px": (*_DECIMAL_JUNK, "0", "-1", 29792.5),
    "sz": (*_DECIMAL_JUNK, "0", "-0.1", 0.1), "fee": (*_DECIMAL_JUNK, 0.01), "time": _INT_JUNK,
    "oid": ("x1", 1.5, -3), "crossed": ("true", 1),
}
_ORDER_REQUIRED: Final[Mapping[str, tuple[Any, ...]]] = {
    "coin": (7,), "side": ("b", "BUY", 0), "limitPx": (*_DECIMAL_JUNK, 1.5), "sz": (*_DECIMAL_JUNK, 1.5),
    "oid": ("x1", 1.5, -3), "timestamp": _INT_JUNK,
}
_ITEM_REQUIRED: Final[Mapping[str, tuple[Any, ...]]] = {
    "status": (7,), "statusTimestamp": _INT_JUNK, "order": ("order",),
}


#: Fields a fill may lack or send as null (the venue's older fills have no ``tid``; a trade id is derived from
#: the fill's own fields), but that must still be refused when present with the wrong type.
_FILL_OPTIONAL: Final = frozenset({"tid"})


@st.composite
def _corrupt(draw: st.DrawFn, obj: Mapping[str, Any], required: Mapping[str, tuple[Any, ...]],
             optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``obj`` with one required key deleted or replaced by a value its parser must refuse (keys in
    ``optional`` are only replaced: their absence is valid)."""
    out = dict(obj)
    key = draw(st.sampled_from(sorted(required)))
    if key not in optional and draw(st.booleans()):
        del out[key]
    else:
        # (an optional key's null is its absence: valid, so not junk for it)
        junk = [v for v in _COMMON_JUNK if key not in optional or v is not None]
        out[key] = copy.deepcopy(draw(st.sampled_from((*junk, *required[key]))))
    return out


@st.composite
def _corrupt_fills(draw: st.DrawFn, msg: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(msg))
    fills = out.get("fills")
    if isinstance(fills, list) and fills and draw(st.booleans()):
        i = draw(st.integers(0, len(fills) - 1))
        fills[i] = draw(_corrupt(fills[i], _FILL_REQUIRED, _FILL_OPTIONAL))
        return out
    required: dict[str, tuple[Any, ...]] = {"fills": ({}, "fills")}
    if "user" in out:
        required["user"] = (7,)
    return draw(_corrupt(out, required))


@st.composite
def malformed_frames(draw: st.DrawFn, channel: str, base: Any = None) -> Any:
    """A frame for ``channel`` that must be refused — counted once as malformed, never applied.

    ``channel`` is ``orderUpdates``, ``userFills``, ``userEvents`` (a fills message) or ``orderStatus``.
    Built from ``base`` (a valid frame of that channel; drawn when None) by deleting or type-confusing one
    *required* field, or sent with the wrong top-level JSON type.  For ``orderUpdates`` the result is a list
    with exactly one broken item, because consumers count broken items one by one.
    """
    if channel == "orderUpdates":
        if draw(st.integers(0, 4)) == 0:
            return draw(st.sampled_from([None, {"order": {}}, "open", 7, {}]))
        items = draw(order_update_frames()) if base is None else base
        item = copy.deepcopy(draw(st.sampled_from(items)))
        if draw(st.booleans()):
            return [draw(_corrupt(item, _ITEM_REQUIRED))]
        if not isinstance(item.get("order"), dict):
            return [draw(_corrupt(item, _ITEM_REQUIRED))]
        item["order"] = draw(_corrupt(item["order"], _ORDER_REQUIRED))
        return [item]
    if channel in ("userFills", "userEvents"):
        if draw(st.integers(0, 4)) == 0:
            return draw(st.sampled_from([None, [], "fills", 7, [{"fills": []}]]))
        if base is None:
            base = draw(user_fills_messages(is_snapshot=False) if channel == "userFills"
                        else user_events_messages(kind="fills"))
        return draw(_corrupt_fills(base))
    if channel == "orderStatus":
        answer = copy.deepcopy(draw(order_status_answers(unknown_oid=False)) if base is None else base)
        how = draw(st.sampled_from(["status", "order", "inner"]))
        if how == "status":
            answer["status"] = draw(st.sampled_from(["orders", "", None, 1, "unknownoid"]))
        elif how == "order" or not isinstance(answer.get("order"), dict):
            answer["order"] = draw(st.sampled_from([None, [], "order", {}]))
        else:
            answer["order"] = draw(_corrupt(answer["order"], _ITEM_REQUIRED))
        return answer
    raise ValueError(f"malformed_frames: unknown channel {channel!r}")


# --------------------------------------------------------------------------------------- venue sequences


@attrs.frozen
class VenueFill:
    """One truthful fill of the hidden order."""

    tid: int
    price: Decimal
    size: Decimal
    fee: Decimal
    time_ms: int
    crossed: bool


@attrs.frozen
class VenueFrame:
    """One delivered message: the logical ``channel`` and its ``data`` payload, kept as JSON text so the value
    is immutable and every reader gets a fresh copy (``data``).  ``malformed`` marks injected broken frames."""

    channel: str
    text: str
    malformed: bool = False

    @property
    def data(self) -> Any:
        """The decoded payload, as ``consume_user_channel`` receives it (a new object on each access)."""
        return json.loads(self.text)

    def ws_message(self) -> str:
        """The full WebSocket text frame (``userEvents`` data travels on channel ``"user"``)."""
        wire_channel = "user" if self.channel == "userEvents" else self.channel
        return f'{{"channel":{json.dumps(wire_channel)},"data":{self.text}}}'


def _frame(channel: str, data: Any, malformed: bool = False) -> VenueFrame:
    return VenueFrame(channel, json.dumps(data, separators=(",", ":")), malformed)


@attrs.frozen
class VenueSequence:
    """A hidden truth for one order and the frames a venue connection delivers about it.

    The truth: the order (``coin``, ``side``, ``size``, ``limit_price``, ``oid``, ``cloid``), its status
    history ``statuses`` (oldest first; the last is where it is now) and its ``fills`` (summing to at most
    ``size``; exactly ``size`` when it ended ``filled``).

    ``frames``: every fact of the truth on at least one channel, in a shuffled order, with duplicates (the
    same fill on ``userFills`` and ``userEvents``, a reconnect snapshot, repeated frames), sometimes
    ``nonUserCancel`` for venue-initiated cancels, other orders' traffic, and — when asked — malformed frames.

    To check a consumer: track ``tracked_order()``, feed each frame's ``data`` to
    ``trio_hl.hyperliquid.streams.consume_user_channel(frame.channel, ...)`` (or your own parser) in order,
    then compare with ``executed``, ``expected_state`` and ``fills``.
    """

    coin: str
    side: Side
    size: Decimal
    limit_price: Decimal
    oid: int
    cloid: str
    statuses: tuple[str, ...]
    fills: tuple[VenueFill, ...]
    frames: tuple[VenueFrame, ...]

    @property
    def final_status(self) -> str:
        return self.statuses[-1]

    @property
    def executed(self) -> Decimal:
        return sum((f.size for f in self.fills), Decimal(0))

    @property
    def total_fee(self) -> Decimal:
        return sum((f.fee for f in self.fills), Decimal(0))

    @property
    def expected_state(self) -> OrderState:
        """The lifecycle state a correct consumer ends in (PARTIALLY_FILLED for a live order with fills)."""
        state = STATUS_OUTCOME[self.final_status]
        if state is OrderState.OPEN and self.executed:
            return OrderState.PARTIALLY_FILLED
        return state

    @property
    def malformed_count(self) -> int:
        return sum(f.malformed for f in self.frames)

    def tracked_order(self, created_at: float = 0.0) -> InFlightOrder:
        """The order as our side knows it before the venue answers: PENDING_CREATE, keyed by the cloid."""
        return InFlightOrder.new(
            client_order_id=self.cloid, pair=self.coin, side=self.side, amount=self.size, price=self.limit_price,
            created_at=created_at,
        )


def _split_units(draw: st.DrawFn, units: int, max_parts: int) -> list[int]:
    """``units`` as 1..max_parts positive integers summing to it."""
    if units <= 1:
        return [units]
    cuts = sorted(draw(st.lists(st.integers(1, units - 1), max_size=max_parts - 1, unique=True)))
    return [b - a for a, b in itertools.pairwise([0, *cuts, units])]


def _chunks(draw: st.DrawFn, items: Sequence[T]) -> list[list[T]]:
    """``items`` cut into consecutive non-empty runs (how the venue batches one block's fills)."""
    out: list[list[T]] = []
    for item in items:
        join = draw(st.booleans())
        if out and join:
            out[-1].append(item)
        else:
            out.append([item])
    return out


_VENUE_CANCELS: Final = tuple(s for s in CANCEL_STATUSES if s != "canceled")


@st.composite
def venue_sequences(
    draw: st.DrawFn, *, coin: Given[str] = None, final_status: Given[str] = None, size_places: int | None = None,
    max_fills: int = 5, max_duplicates: int = 4, other_orders: bool = True, malformed: bool = False,
    user: str = "0x" + "11" * 20,
) -> VenueSequence:
    """One order's truthful venue history and its delivery, shuffled with duplicates (see ``VenueSequence``).

    ``final_status`` is any documented status by default (live, filled, canceled and rejected equally
    often).  ``size_places`` is the size grid (szDecimals, drawn 0..5).  ``other_orders`` mixes in another
    order's updates and fills (a consumer must not credit them to this one).  ``malformed`` adds up to two
    frames that must be refused.
    """
    # Outcome first, then the status within it: sampling the 29 names uniformly would make more than half
    # the draws rejections (16 of them are) and leave few fully filled orders.
    by_outcome = st.one_of(st.sampled_from(LIVE_STATUSES), st.just(FILLED_STATUS), st.sampled_from(CANCEL_STATUSES),
                           st.sampled_from(REJECT_STATUSES))
    final = draw(_given(final_status, by_outcome))
    if final not in STATUS_OUTCOME:
        raise ValueError(f"venue_sequences: final_status must be a documented status, got {final!r}")
    outcome = STATUS_OUTCOME[final]
    places = draw(st.integers(0, 5)) if size_places is None else size_places
    step = Decimal(1).scaleb(-places)
    units = draw(st.integers(1, 5_000))
    size = units * step
    the_coin = draw(_given(coin, coins()))
    side = draw(st.sampled_from(Side))
    limit_px = draw(_prices)
    oid = draw(oids())
    cloid = draw(cloids())
    t0 = draw(ms_timestamps())

    # The truth: status history and fills.
    if outcome is OrderState.FAILED:
        statuses: tuple[str, ...] = (final,)
        fill_units: list[int] = []
    else:
        history = ["open"]
        if final == "triggered" or (final not in LIVE_STATUSES and draw(st.booleans())):
            history.append("triggered")
        if final not in history:
            history.append(final)
        statuses = tuple(history)
        fill_units = _split_units(draw, units, max_fills)
        if outcome is not OrderState.FILLED:
            fill_units = fill_units[:-1]  # live or canceled: at least one lot was never filled
    tids = draw(st.lists(st.integers(1, 2**50), min_size=len(fill_units), max_size=len(fill_units), unique=True))
    fills = tuple(
        VenueFill(tid=tid, price=limit_px, size=n * step, fee=draw(_fees), time_ms=t0 + 10 + i,
                  crossed=draw(st.booleans()))
        for i, (tid, n) in enumerate(zip(tids, fill_units, strict=True))
    )

    def fill_dict(f: VenueFill, with_cloid: bool) -> dict[str, Any]:
        return _fill_object(coin=the_coin, side=side, px=f.price, sz=f.size, oid=oid, tid=f.tid, time_ms=f.time_ms,
                            fee=f.fee, crossed=f.crossed, cloid=cloid if with_cloid else None)

    def status_item(status: str, ts: int, left: Decimal) -> dict[str, Any]:
        order = _order_object(coin=the_coin, side=side, limit_px=limit_px, sz=left, oid=oid, timestamp=t0,
                              orig_sz=size, cloid=cloid, trailing_zero=draw(st.booleans()))
        return {"order": order, "status": status, "statusTimestamp": ts}

    # The delivery.  Status frames carry what was left at that point: live statuses precede the fills.
    executed = sum((f.size for f in fills), Decimal(0))
    other_cloids = st.none() | cloids().filter(lambda c: c != cloid)
    frames: list[VenueFrame] = []
    for i, status in enumerate(statuses):
        terminal = STATUS_OUTCOME[status] is not OrderState.OPEN
        left = size - executed if terminal else size
        items = [status_item(status, t0 + (100 if terminal else i), left)]
        if other_orders and draw(st.booleans()):
            items.insert(draw(st.integers(0, 1)), draw(order_update_items(oid=oid + 1, cloid=other_cloids)))
        frames.append(_frame("orderUpdates", items))
    for chunk in _chunks(draw, fills):
        with_cloid = draw(st.booleans())
        carriers = draw(st.sampled_from([("userFills",), ("userEvents",), ("userFills", "userEvents")]))
        if "userFills" in carriers:
            frames.append(_frame("userFills", {"isSnapshot": False, "user": user,
                                               "fills": [fill_dict(f, with_cloid) for f in chunk]}))
        if "userEvents" in carriers:
            frames.append(_frame("userEvents", {"fills": [fill_dict(f, draw(st.booleans())) for f in chunk]}))
    reconnect = draw(st.booleans())
    if fills and reconnect:
        # A reconnect: the new subscription's snapshot repeats the recent fills.
        seen = fills[: draw(st.integers(1, len(fills)))]
        frames.append(_frame("userFills", {"isSnapshot": True, "user": user,
                                           "fills": [fill_dict(f, True) for f in seen]}))
    if final in _VENUE_CANCELS and draw(st.booleans()):
        frames.append(_frame("userEvents", {"nonUserCancel": [{"coin": the_coin, "oid": oid}]}))
    if other_orders and draw(st.booleans()):
        other = draw(user_fills_messages(user=user, coin=the_coin, oid=oid + 1, cloid=other_cloids,
                                         is_snapshot=False, max_fills=2).filter(
            lambda m: not {f["tid"] for f in m["fills"]} & set(tids)))
        frames.append(_frame("userFills", other))

    delivered = [*frames, *draw(st.lists(st.sampled_from(frames), max_size=max_duplicates))]
    if malformed:
        for victim in draw(st.lists(st.sampled_from(frames), max_size=2)):
            data = victim.data
            if victim.channel == "userEvents" and "fills" not in data:
                data = {"fills": [fill_dict(fills[0], True)]} if fills else None
            delivered.append(_frame(victim.channel, draw(malformed_frames(victim.channel, base=data)), True))
    shuffled = draw(st.permutations(delivered))
    return VenueSequence(the_coin, side, size, limit_px, oid, cloid, statuses, fills, tuple(shuffled))
