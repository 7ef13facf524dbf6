"""The wire schema of published events: attrs event values <-> versioned JSON, and the topic names.

Rule: one generic codec driven by attrs introspection.  Every field of an event class is encoded by the
*runtime* type of its value (Decimal -> exact string, enum -> its value, nested attrs value -> object,
``None``/str/int/float/bool as JSON), and decoded by the field's *declared* type.  A new event class or a
new field therefore travels without touching this module; only a new *kind of value* (say a ``datetime``)
would need a line here, and the encoder refuses such a value loudly rather than guess.
Rejected alternative: hand-written ``to_json``/``from_json`` per class.  They drift from the classes the
moment the tracker grows a field, and the drift shows up as a missing column in someone's database weeks
later.

Message layout (``docs/EVENTS.md`` is the reference for subscribers in other languages)::

    frame 0  topic    b"<family>.<venue>.<kind>"          e.g. b"orders.hyperliquid.filled"
    frame 1  payload  {"v": 1, "publisher": "...", "seq": 17, "ts": <publish wall clock>,
                       "family": "orders", "venue": "hyperliquid", "kind": "filled",
                       "type": "OrderFilled", "timestamp": <event time>, "event": {...fields...}}

Decimals are strings (``str(Decimal)``, so ``Decimal(s)`` gives back the identical value, trailing zeros
and all); floats are JSON numbers (Python's shortest round-trip repr, so they come back bit-identical).
"""

from __future__ import annotations

import enum
import json
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from trio_hl.core.events import EVENT_KINDS
from trio_hl.errors import ProtocolError

__all__ = [
    "DEFAULT_FAMILY",
    "SCHEMA_VERSION",
    "EventRegistry",
    "EventType",
    "Message",
    "decode_message",
    "decode_value",
    "default_registry",
    "encode_event",
    "encode_message",
    "topic_for",
]

#: Version of the payload layout; bumped only for incompatible changes (new fields are not such a change).
SCHEMA_VERSION = 1
#: Topic family of order lifecycle events.
DEFAULT_FAMILY = "orders"

_JSON_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


@attrs.frozen
class EventType:
    """How one event class is named on the wire: topic ``<family>.<venue>.<kind>``."""

    cls: type
    family: str
    kind: str

    def topic(self, venue: str) -> str:
        return topic_for(self.family, venue, self.kind)


def topic_for(family: str, venue: str, kind: str) -> str:
    """``orders.hyperliquid.filled``: the ZMQ topic (a subscriber filters on any prefix of it)."""
    return f"{family}.{venue}.{kind}"


def _check_name(value: str, what: str) -> None:
    if not value or "." in value or not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError(f"{what} must be a non-empty ASCII token without dots or spaces, got {value!r}")


class EventRegistry:
    """Maps event classes to (family, kind) and back.

    Order events need no registration: any class in ``trio_hl.core.events.EVENT_KINDS`` (looked up at use,
    so classes added there later are found) is family ``orders``.  Other families register explicitly,
    e.g. ``registry.register(PositionUpdate, "update", family="positions")`` -> topic
    ``positions.hyperliquid.update``.
    """

    def __init__(self, *, include_order_events: bool = True) -> None:
        self._by_class: dict[type, EventType] = {}
        self._by_name: dict[tuple[str, str], EventType] = {}
        self._include_order_events = include_order_events

    def register(self, cls: type, kind: str, *, family: str = DEFAULT_FAMILY) -> EventType:
        """Give ``cls`` (a frozen attrs class) the topic kind ``kind`` within ``family``."""
        if not attrs.has(cls):
            raise TypeError(f"{cls.__name__} is not an attrs class; only attrs values can be published")
        _check_name(kind, "kind")
        _check_name(family, "family")
        entry = EventType(cls, family, kind)
        existing = self._by_name.get((family, kind))
        if existing is None and self._include_order_events and family == DEFAULT_FAMILY:
            builtin = next((c for c, k in EVENT_KINDS.items() if k == kind), None)
            if builtin is not None:
                existing = EventType(builtin, family, kind)
        if existing is not None and existing.cls is not cls:
            raise ValueError(f"{family}.{kind} is already registered to {existing.cls.__name__}")
        self._by_class[cls] = entry
        self._by_name[(family, kind)] = entry
        return entry

    def for_class(self, cls: type) -> EventType:
        entry = self._by_class.get(cls)
        if entry is None and self._include_order_events:
            kind = EVENT_KINDS.get(cls)
            if kind is not None:
                entry = self.register(cls, kind, family=DEFAULT_FAMILY)
        if entry is None:
            raise TypeError(f"{cls.__name__} is not a registered event class (EVENT_KINDS or register())")
        return entry

    def for_name(self, family: str, kind: str) -> EventType | None:
        entry = self._by_name.get((family, kind))
        if entry is None and self._include_order_events and family == DEFAULT_FAMILY:
            for cls, k in EVENT_KINDS.items():
                if k == kind:
                    return self.for_class(cls)
        return entry

    def __iter__(self) -> Iterator[EventType]:
        if self._include_order_events:
            for cls in list(EVENT_KINDS):
                self.for_class(cls)
        return iter(list(self._by_class.values()))


_DEFAULT_REGISTRY = EventRegistry()


def default_registry() -> EventRegistry:
    """The process-wide registry (order events built in; register other families on it or on your own)."""
    return _DEFAULT_REGISTRY


# --------------------------------------------------------------------------------------------- encoding


def _encode_value(value: Any) -> Any:
    t = type(value)
    if t in _JSON_SCALARS:
        if t is float and not math.isfinite(value):
            raise ValueError(f"non-finite float {value!r} cannot be published as JSON")
        return value
    if t is Decimal:
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal {value!r} cannot be published")
        return str(value)
    if isinstance(value, enum.Enum):
        return _encode_value(value.value)
    if attrs.has(t):
        return encode_event(value)
    if isinstance(value, tuple | list | frozenset | set):
        return [_encode_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode_value(v) for k, v in value.items()}
    raise TypeError(f"cannot encode a {t.__name__} ({value!r}) in an event payload; extend trio_hl.events.schema")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(a.name for a in attrs.fields(cls))
        _FIELD_NAMES[cls] = names
    return names


def encode_event(event: Any) -> dict[str, Any]:
    """The fields of an attrs value as a JSON-ready dict (recursive; see the module docstring)."""
    return {name: _encode_value(getattr(event, name)) for name in _field_names(type(event))}


def encode_message(
    event: Any,
    *,
    seq: int,
    publisher_id: str,
    ts: float,
    venue: str,
    registry: EventRegistry | None = None,
) -> tuple[bytes, bytes]:
    """``(topic, payload)`` frames for one event.  Raises ``TypeError`` for an unregistered class."""
    entry = (registry or _DEFAULT_REGISTRY).for_class(type(event))
    fields = encode_event(event)
    payload = {
        "v": SCHEMA_VERSION,
        "publisher": publisher_id,
        "seq": seq,
        "ts": ts,
        "family": entry.family,
        "venue": venue,
        "kind": entry.kind,
        "type": type(event).__name__,
        "timestamp": fields.get("timestamp"),
        "event": fields,
    }
    return (
        entry.topic(venue).encode("ascii"),
        json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8"),
    )


# --------------------------------------------------------------------------------------------- decoding


@attrs.frozen
class Message:
    """One received message, validated but not bound to a Python class: a recorder must be able to store
    events of kinds newer than itself, so ``event`` stays a dict until ``to_event()`` is asked for."""

    topic: str
    version: int
    publisher_id: str
    seq: int
    ts: float
    family: str
    venue: str
    kind: str
    type_name: str
    timestamp: float | None
    event: Mapping[str, Any]
    payload: bytes = attrs.field(repr=False)

    def to_event(self, registry: EventRegistry | None = None) -> Any:
        """The typed event value; ``ProtocolError`` if the kind is unknown here or a field does not fit."""
        entry = (registry or _DEFAULT_REGISTRY).for_name(self.family, self.kind)
        if entry is None:
            raise ProtocolError(f"unknown event kind {self.family}.{self.kind}")
        try:
            return decode_value(entry.cls, self.event)
        except (TypeError, ValueError, KeyError) as exc:
            raise ProtocolError(f"{self.family}.{self.kind} seq {self.seq}: {exc}") from exc


def _require(payload: Mapping[str, Any], key: str, types_: type | tuple[type, ...]) -> Any:
    value = payload.get(key)
    # bool is an int subclass in Python, but a JSON ``true`` is never a sequence number or a clock
    if not isinstance(value, types_) or isinstance(value, bool):
        raise ProtocolError(f"payload field {key!r} missing or not {types_}: {value!r}")
    return value


def decode_message(frames: list[bytes]) -> Message:
    """Validate a ``[topic, payload]`` multipart message; ``ProtocolError`` says what is wrong."""
    if len(frames) != 2:
        raise ProtocolError(f"expected 2 frames [topic, payload], got {len(frames)}")
    topic_b, payload_b = frames
    try:
        topic = topic_b.decode("ascii")
        payload = json.loads(payload_b)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"undecodable message: {exc}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError("payload is not a JSON object")
    version = _require(payload, "v", int)
    if version != SCHEMA_VERSION:
        raise ProtocolError(f"unsupported schema version {version} (this build reads {SCHEMA_VERSION})")
    family = _require(payload, "family", str)
    venue = _require(payload, "venue", str)
    kind = _require(payload, "kind", str)
    if topic != topic_for(family, venue, kind):
        raise ProtocolError(f"topic {topic!r} does not match payload {family}.{venue}.{kind}")
    seq = _require(payload, "seq", int)
    if seq < 1:
        raise ProtocolError(f"seq must be >= 1, got {seq}")
    timestamp = payload.get("timestamp")
    if timestamp is not None and (not isinstance(timestamp, int | float) or isinstance(timestamp, bool)):
        raise ProtocolError(f"timestamp is not a number: {timestamp!r}")
    return Message(
        topic=topic,
        version=version,
        publisher_id=_require(payload, "publisher", str),
        seq=seq,
        ts=float(_require(payload, "ts", (int, float))),
        family=family,
        venue=venue,
        kind=kind,
        type_name=_require(payload, "type", str),
        timestamp=None if timestamp is None else float(timestamp),
        event=_require(payload, "event", dict),
        payload=payload_b,
    )


_Decoder = Callable[[Any], Any]
_DECODERS: dict[Any, _Decoder] = {}


def _decoder_for(tp: Any) -> _Decoder:
    decoder = _DECODERS.get(tp)
    if decoder is None:
        decoder = _build_decoder(tp)
        _DECODERS[tp] = decoder
    return decoder


def _build_decoder(tp: Any) -> _Decoder:
    if tp is Any:
        return lambda v: v
    if tp is type(None):

        def none(v: Any) -> None:
            if v is not None:
                raise TypeError(f"expected null, got {v!r}")

        return none
    if tp is Decimal:

        def dec(v: Any) -> Decimal:
            if not isinstance(v, str):  # numbers would have passed through float: refuse, never guess
                raise TypeError(f"expected a decimal string, got {v!r}")
            try:
                return Decimal(v)
            except InvalidOperation:
                raise ValueError(f"not a decimal: {v!r}") from None

        return dec
    if tp is float:

        def flt(v: Any) -> float:
            if not isinstance(v, int | float) or isinstance(v, bool):
                raise TypeError(f"expected a number, got {v!r}")
            return float(v)

        return flt
    if tp in (str, int, bool):

        def scalar(v: Any) -> Any:
            if type(v) is not tp:
                raise TypeError(f"expected {tp.__name__}, got {v!r}")
            return v

        return scalar
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if isinstance(tp, type) and attrs.has(tp):
        return lambda v: decode_value(tp, v)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        decoders = [_decoder_for(a) for a in args]
        allows_none = type(None) in args

        def union(v: Any) -> Any:
            if v is None and allows_none:
                return None
            errors = []
            for d in decoders:
                try:
                    return d(v)
                except (TypeError, ValueError) as exc:
                    errors.append(str(exc))
            raise TypeError(f"{v!r} fits none of {tp}: {'; '.join(errors)}")

        return union
    if origin is typing.Literal:
        allowed = args

        def literal(v: Any) -> Any:
            if v not in allowed:
                raise ValueError(f"{v!r} not one of {allowed}")
            return v

        return literal
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder_for(args[0])
            return lambda v: tuple(item(x) for x in _as_list(v))
        items = [_decoder_for(a) for a in args]
        return lambda v: tuple(d(x) for d, x in zip(items, _as_list(v), strict=True))
    if origin in (list, frozenset, set):
        item = _decoder_for(args[0]) if args else _decoder_for(Any)
        return lambda v: origin(item(x) for x in _as_list(v))
    if origin in (dict, Mapping) or tp is dict:
        value_decoder = _decoder_for(args[1]) if len(args) == 2 else _decoder_for(Any)

        def mapping(v: Any) -> Any:
            if not isinstance(v, dict):
                raise TypeError(f"expected an object, got {v!r}")
            return {k: value_decoder(x) for k, x in v.items()}

        return mapping
    raise TypeError(f"no decoder for field type {tp!r}; extend trio_hl.events.schema")


def _as_list(v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise TypeError(f"expected an array, got {v!r}")
    return v


_FIELD_DECODERS: dict[type, tuple[tuple[str, str, _Decoder, bool], ...]] = {}


def _field_decoders(cls: type) -> tuple[tuple[str, str, _Decoder, bool], ...]:
    """``(wire name, __init__ keyword, decoder, required)`` per init field of ``cls``."""
    cached = _FIELD_DECODERS.get(cls)
    if cached is None:
        hints = typing.get_type_hints(cls)
        cached = tuple(
            (a.name, a.alias or a.name, _decoder_for(hints.get(a.name, Any)), a.default is attrs.NOTHING)
            for a in attrs.fields(cls)
            if a.init
        )
        _FIELD_DECODERS[cls] = cached
    return cached


def decode_value(cls: type, data: Any) -> Any:
    """Build an attrs value of ``cls`` from its encoded dict (the inverse of ``encode_event``).

    Unknown keys are ignored (a newer publisher may have added fields); a missing key is an error unless
    the field has a default (a newer *subscriber* reading an older publisher).
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__}: expected an object, got {data!r}")
    kwargs: dict[str, Any] = {}
    for name, keyword, decoder, required in _field_decoders(cls):
        if name in data:
            try:
                kwargs[keyword] = decoder(data[name])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{cls.__name__}.{name}: {exc}") from None
        elif required:
            raise KeyError(f"{cls.__name__}.{name} missing")
    return cls(**kwargs)
