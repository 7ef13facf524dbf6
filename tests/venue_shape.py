"""Compare the *shape* of an emulator answer with a recorded venue answer: the key set of every object and the
JSON type of every value, recursively.

Rules (issue 16):

- a key the recording has and the emulator lacks fails, unless the venue retired it (:data:`RETIRED`, with the
  reason) or sends it only in a situation the scenario did not create (:data:`CONDITIONAL`, with the condition);
- a key the emulator has and the recording lacks is fine when another recording of the same answer has it or
  today's venue documents it (:data:`DOCUMENTED`, with where); any other extra key fails;
- a value of another JSON type fails, unless another recording of the same answer shows the venue sending that
  type there (``null`` where the recording has a string, say: the venue sends both) or the venue documents it
  (:data:`TYPE_VARIANTS`: a ``cloid`` string where the recorded order had none);
- a list the recording has elements for must have elements in the emulator's answer too (else there is nothing
  to compare: the scenario must make the emulator produce some), unless the emulator has nothing of the kind
  (:data:`EMPTY_BY_DESIGN`, with the reason); each emulator element must match one recorded element (lists
  whose recorded elements differ in type, like ``["day", {...}]`` or a batch's statuses, are compared position
  by position when the lengths agree);
- an object whose keys are data, not fields (``allMids``: coin -> price) is a map (:data:`MAPS`): each of the
  emulator's values must match one recorded value.

A publisher's recorder that wrote numbers as strings (``Sample.numbers_stringified``) is read back: a decimal
string there matches the emulator's number.  Failures read ``$.path.to[0].key: what differs``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

__all__ = ["CONDITIONAL", "DOCUMENTED", "EMPTY_BY_DESIGN", "MAPS", "RETIRED", "TYPE_VARIANTS", "Mismatch",
           "ShapeIndex", "compare_shape", "json_type"]

_MAX_ELEMENTS = 25  # emulator list elements compared per list (every element has the same producer)
_MAX_CANDIDATES = 12  # recorded elements an emulator element is tried against

#: Keys recordings carry that today's venue no longer sends, by ``kind/name`` and abstract path.
RETIRED: Mapping[str, Mapping[str, str]] = {
    "info/clearinghouseState": {
        "$.assetPositions[].position.maxTradeSzs":
            "2023 answers carried it per position; since 2024 it is in activeAssetData (maxTradeSzs) and absent "
            "from every later clearinghouseState recording (HyperLiquid.Net 2025, ccxt 2024-2025)",
    },
    "info/userFills": {
        "$[].liquidationMarkPx":
            "a 2024 fill carries liquidationMarkPx: null; later fills carry a `liquidation` object on "
            "liquidation fills only (ccxt 2026 recording, PROTOCOL §5)",
    },
}

#: Keys the venue sends only in some situations; the emulator may leave them out when the situation is absent.
CONDITIONAL: Mapping[str, Mapping[str, str]] = {
    "info/userFills": {
        "$[].builderFee": "only on fills that paid a builder fee (PROTOCOL §5: 'optional, only if nonzero')",
        "$[].liquidation": "only on fills of a liquidation",
        "$[].cloid": "only on fills of an order that had a cloid",
    },
    "info/userFillsByTime": {
        "$[].builderFee": "only on fills that paid a builder fee",
        "$[].liquidation": "only on fills of a liquidation",
        "$[].cloid": "only on fills of an order that had a cloid",
    },
    "ws/user": {
        "$.data.fills[].builderFee": "only on fills that paid a builder fee",
        "$.data.fills[].liquidation": "only on fills of a liquidation",
    },
    "info/meta": {
        "$.universe[].isDelisted": "only on delisted assets",
        "$.universe[].onlyIsolated": "only on isolated-only assets",
    },
    "info/metaAndAssetCtxs": {
        "$[0].universe[].isDelisted": "only on delisted assets",
        "$[0].universe[].onlyIsolated": "only on isolated-only assets",
    },
    "info/openOrders": {
        "$[].reduceOnly": "only on reduce-only orders (NKTKAS schema: optional, true)",
        "$[].cloid": "only on orders with a cloid",
    },
    "info/clearinghouseState": {
        "$.assetPositions[].position.leverage.rawUsd": "only on isolated positions",
    },
    "info/spotClearinghouseState": {
        "$.tokenToAvailableAfterMaintenance": "only with portfolio margin / borrow-lend state (2025 answers); "
                                              "the emulator has neither",
    },
}

#: Keys the emulator sends that no recording here has, each with where today's venue documents it.
DOCUMENTED: Mapping[str, Mapping[str, str]] = {
    "info/userRateLimit": {"$.nRequestsSurplus": "PROTOCOL §5 (DOC): userRateLimit answer"},
    "info/openOrders": {"$[].origSz": "NKTKAS schema and a 2024 recording (ccxt)",
                        "$[].cloid": "NKTKAS schema", "$[].reduceOnly": "NKTKAS schema"},
    "info/frontendOpenOrders": {"$[].cloid": "PROTOCOL §5 (DOC): frontendOpenOrders"},
    "info/userFills": {"$[].feeToken": "PROTOCOL §5 (DOC) fill object", "$[].tid": "PROTOCOL §5 (DOC)",
                       "$[].twapId": "PROTOCOL §5 (3P live capture)", "$[].cloid": "PROTOCOL §5"},
    "info/userFillsByTime": {"$[].feeToken": "PROTOCOL §5 (DOC) fill object", "$[].tid": "PROTOCOL §5 (DOC)",
                             "$[].twapId": "PROTOCOL §5 (3P live capture)", "$[].cloid": "PROTOCOL §5"},
    "info/meta": {"$.marginTables": "PROTOCOL §5 (DOC): meta", "$.collateralToken": "PROTOCOL §5 (DOC): meta",
                  "$.universe[].marginTableId": "PROTOCOL §5 (DOC): meta"},
    "info/clearinghouseState": {"$.time": "PROTOCOL §5 (DOC + cassette)"},
    "info/metaAndAssetCtxs": {"$[0].collateralToken": "PROTOCOL §5 (DOC): meta"},
    "info/spotMeta": {"$.tokens[].deployerTradingFeeShare": "the same token objects in the SDK's 2025 "
                                                            "spotMetaAndAssetCtxs recording"},
    "info/userFees": {
        "$.feeSchedule.spotCross": "NKTKAS userFees schema", "$.feeSchedule.spotAdd": "NKTKAS userFees schema",
        "$.feeSchedule.stakingDiscountTiers": "NKTKAS userFees schema",
        "$.userSpotCrossRate": "NKTKAS userFees schema", "$.userSpotAddRate": "NKTKAS userFees schema",
        "$.trial": "NKTKAS userFees schema", "$.feeTrialEscrow": "NKTKAS userFees schema",
        "$.nextTrialAvailableTimestamp": "NKTKAS userFees schema", "$.stakingLink": "NKTKAS userFees schema",
        "$.activeStakingDiscount": "NKTKAS userFees schema",
    },
    "ws/orderUpdates": {"$.data[].order.reduceOnly": "NKTKAS schema (the openOrders order shape)",
                        "$.data[].order.cloid": "NKTKAS schema (the openOrders order shape)"},
}

#: JSON types the venue documents at a path beyond those the recordings show, with where.
TYPE_VARIANTS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "info/frontendOpenOrders": {"$[].cloid": ("string", "an order placed with a cloid (PROTOCOL §5)")},
    "info/historicalOrders": {
        "$[].order.cloid": ("string", "an order placed with a cloid (PROTOCOL §5)"),
        "$[].order.tif": ("null", "trigger orders have no tif (SDK recording of frontendOpenOrders)"),
    },
    "info/orderStatus": {
        "$.order.order.cloid": ("string", "an order placed with a cloid (PROTOCOL §5)"),
        "$.order.order.tif": ("null", "trigger orders have no tif (SDK recording of frontendOpenOrders)"),
    },
    "info/userFills": {"$[].twapId": ("integer", "fills of a TWAP suborder carry its id (PROTOCOL §5, NKTKAS)")},
    "info/userFillsByTime": {"$[].twapId": ("integer", "fills of a TWAP suborder carry its id (PROTOCOL §5)")},
    "ws/user": {"$.data.fills[].twapId": ("integer", "fills of a TWAP suborder carry its id (PROTOCOL §5)")},
    "info/spotMetaAndAssetCtxs": {"$[0].tokens[].fullName": ("string", "the same recording, tokens past the "
                                                                       "trimmed three (ASI, VAPOR...)")},
}

#: Lists the emulator leaves empty where the venue fills them, because the emulator has none of the thing.
EMPTY_BY_DESIGN: Mapping[str, Mapping[str, str]] = {
    "info/userFees": {"$.feeSchedule.tiers.vip": "the emulator charges one fee rate: no volume tiers",
                      "$.feeSchedule.tiers.mm": "the emulator charges one fee rate: no maker-share tiers"},
}

#: Objects whose keys are data (a coin, a user), compared value by value.
MAPS: Mapping[str, frozenset[str]] = {
    "info/allMids": frozenset({"$"}),
    "ws/allMids": frozenset({"$.data.mids"}),
}


def json_type(value: Any) -> str:
    """The JSON type of a decoded value: object, array, string, integer, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


@attrs.frozen
class Mismatch:
    """One difference: where (concrete path) and what."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def _positional(items: list[Any]) -> bool:
    """Recorded lists whose elements differ in JSON type are tuples (``["day", {...}]``), compared by position."""
    return len({json_type(x) for x in items}) > 1


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."


def _decimal_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


@attrs.define
class ShapeIndex:
    """What every recording of one answer (``kind/name``) shows together: the JSON types seen at each abstract
    path and the keys seen in each object.  Built from all recordings, so one recording's ``null`` and another's
    string both count as the venue's."""

    types: dict[str, set[str]] = attrs.field(factory=dict)
    keys: dict[str, set[str]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, recordings: Iterable[tuple[Any, bool]]) -> ShapeIndex:
        index = cls()
        for value, stringified in recordings:
            index._add(value, "$", stringified)
        return index

    def _add(self, value: Any, apath: str, stringified: bool) -> None:
        if not (stringified and _decimal_string(value)):
            self.types.setdefault(apath, set()).add(json_type(value))
        if isinstance(value, dict):
            self.keys.setdefault(apath, set()).update(value)
            for key, item in value.items():
                self._add(item, f"{apath}.{key}", stringified)
        elif isinstance(value, list):
            positional = _positional(value)
            for i, item in enumerate(value):
                self._add(item, f"{apath}[{i}]" if positional else f"{apath}[]", stringified)


@attrs.define
class _Comparison:
    label: str
    index: ShapeIndex
    stringified: bool
    retired: Mapping[str, str]
    conditional: Mapping[str, str]
    documented: Mapping[str, str]
    variants: Mapping[str, tuple[str, str]]
    empty: Mapping[str, str]
    maps: frozenset[str]

    def value(self, rec: Any, act: Any, cpath: str, apath: str) -> list[Mismatch]:
        rt, at = json_type(rec), json_type(act)
        if rt != at:
            if self.stringified and rt == "string" and at in ("integer", "number") and _decimal_string(rec):
                return []
            if at in self.index.types.get(apath, ()):
                return []  # another recording shows the venue sending this type here
            if apath in self.variants and self.variants[apath][0] == at:
                return []  # the venue documents this type here
            return [Mismatch(cpath, f"recorded {rt} {_short(rec)}, emulator {at} {_short(act)}")]
        if rt == "object" and apath in self.maps:
            return self.map(rec, act, cpath, apath)
        if rt == "object":
            return self.obj(rec, act, cpath, apath)
        if rt == "array":
            return self.array(rec, act, cpath, apath)
        return []

    def obj(self, rec: dict[str, Any], act: dict[str, Any], cpath: str, apath: str) -> list[Mismatch]:
        out: list[Mismatch] = []
        for key, item in rec.items():
            sub = f"{apath}.{key}"
            if key not in act:
                if sub not in self.retired and sub not in self.conditional:
                    out.append(Mismatch(f"{cpath}.{key}", f"missing (recorded {json_type(item)} {_short(item)})"))
                continue
            out.extend(self.value(item, act[key], f"{cpath}.{key}", sub))
        seen = self.index.keys.get(apath, set())
        for key in act.keys() - rec.keys():
            if key not in seen and f"{apath}.{key}" not in self.documented:
                out.append(Mismatch(f"{cpath}.{key}", f"emulator adds {_short(act[key])}, which no recording "
                                                      "has and DOCUMENTED does not list"))
        return out

    def map(self, rec: dict[str, Any], act: dict[str, Any], cpath: str, apath: str) -> list[Mismatch]:
        if rec and not act:
            return [Mismatch(cpath, f"emulator answered an empty map, recorded {len(rec)} entries")]
        return self.array(list(rec.values()), list(act.values()), cpath, apath, keys=list(act))

    def array(self, rec: list[Any], act: list[Any], cpath: str, apath: str,
              keys: list[str] | None = None) -> list[Mismatch]:
        if not rec:
            return []
        if not act:
            if apath in self.empty:
                return []
            return [Mismatch(cpath, f"emulator answered an empty list, recorded {len(rec)} element(s): the "
                                    "scenario must make the emulator produce some to compare")]
        if _positional(rec) and len(rec) == len(act):
            out: list[Mismatch] = []
            for i, (r, a) in enumerate(zip(rec, act, strict=True)):
                out.extend(self.value(r, a, f"{cpath}[{i}]", f"{apath}[{i}]"))
            return out
        sub = f"{apath}[]"
        out = []
        for i, a in enumerate(act[:_MAX_ELEMENTS]):
            best: list[Mismatch] | None = None
            where = f"{cpath}.{keys[i]}" if keys is not None else f"{cpath}[{i}]"
            for r in rec[:_MAX_CANDIDATES]:
                found = self.value(r, a, where, sub)
                if best is None or len(found) < len(best):
                    best = found
                if not best:
                    break
            out.extend(best or [])
        return out


def compare_shape(recorded: Any, actual: Any, *, label: str, index: ShapeIndex | None = None,
                  numbers_stringified: bool = False) -> list[Mismatch]:
    """Every shape difference of ``actual`` (the emulator's answer) from ``recorded`` (the venue's), under the
    rules of ``label`` (``kind/name``, e.g. ``info/clearinghouseState``) and what all recordings of that answer
    show together (``index``; by default this recording alone)."""
    comparison = _Comparison(
        label=label,
        index=index if index is not None else ShapeIndex.of([(recorded, numbers_stringified)]),
        stringified=numbers_stringified,
        retired=RETIRED.get(label, {}),
        conditional=CONDITIONAL.get(label, {}),
        documented=DOCUMENTED.get(label, {}),
        variants=TYPE_VARIANTS.get(label, {}),
        empty=EMPTY_BY_DESIGN.get(label, {}),
        maps=MAPS.get(label, frozenset()),
    )
    return comparison.value(recorded, actual, "$", "$")
