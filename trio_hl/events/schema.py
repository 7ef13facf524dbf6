"""The wire schema of published events: attrs event values <-> versioned JSON, and the topic names.

Rule: one generic codec driven by attrs introspection.  Encoding walks the fields of any attrs value
(msgspec does this in C: Decimal -> exact string, enum -> its value, nested attrs value -> object,
``None``/str/int/float/bool as JSON); decoding (``decode_value``) follows each field's *declared* type.  A
new event class or a new field therefore travels without touching this module; only a new *kind of value*
(say a ``datetime``) would need a line here, and both directions refuse such a value loudly.
Rejected alternatives: hand-written ``to_json``/``from_json`` per class (they drift from the classes the
moment the tracker grows a field, and the drift shows up as a missing column in someone's database weeks
later); the stdlib ``json`` module over ``attrs.asdict`` (measured 17 us per message against 2 us, which
alone would have capped the publisher far below its 100k events/s goal).

Message layout (``docs/EVENTS.md`` is the reference for subscribers in other languages)::

    frame 0  topic    b"<family>.<venue>.<kind>"          e.g. b"orders.hyperliquid.filled"
    frame 1  payload  {"v": 1, "publisher": "...", "family": "orders", "venue": "hyperliquid",
                       "kind": "filled", "type": "OrderFilled", "seq": 17, "ts": <publish wall clock>,
                       "timestamp": <event time>, "event": {...fields...}}

(key order carries no meaning; this is the order ``MessageEncoder`` happens to write).

Decimals are strings (``str(Decimal)``, so ``Decimal(s)`` gives back the identical value, trailing zeros
and all); floats are JSON numbers (Python's shortest round-trip repr, so they come back bit-identical).
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import msgspec
import msgspec.structs

from trio_hl.core.events import EVENT_KINDS, HEALTH_EVENT_KINDS, HEALTH_FAMILY
from trio_hl.errors import ProtocolError

__all__ = [
    "DEFAULT_FAMILY",
    "SCHEMA_VERSION",
    "EventRegistry",
    "EventType",
    "Message",
    "MessageEncoder",
    "UnregisteredEventError",
    "decode_frames",
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


def _refuse(value: Any) -> Any:
    raise TypeError(f"cannot encode a {type(value).__name__} ({value!r}) in an event payload; "
                    "extend trio_hl.events.schema")


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


_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _check_name(value: str, what: str) -> None:
    """Topic parts are plain tokens: a dot would shift the ``family.venue.kind`` split for subscribers."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{what} must be a non-empty token of letters, digits, '_' or '-', got {value!r}")


class UnregisteredEventError(TypeError):
    """An object of a class the registry has no topic for was offered for publishing (a programming error)."""


class EventRegistry:
    """Maps event classes to (family, kind) and back.

    Order events need no registration: any class in ``trio_hl.core.events.EVENT_KINDS`` (looked up at use,
    so classes added there later are found) is family ``orders``.  Other families register explicitly,
    e.g. ``registry.register(PositionUpdate, "update", family="positions")`` -> topic
    ``positions.hyperliquid.update``.  The connector's own health events (``HEALTH_EVENT_KINDS``, family
    ``health``) are registered with the order events: everything ``conn.events()`` yields is publishable.
    """

    def __init__(self, *, include_order_events: bool = True) -> None:
        self._by_class: dict[type, EventType] = {}
        self._by_name: dict[tuple[str, str], EventType] = {}
        self._include_order_events = include_order_events
        if include_order_events:
            for cls, kind in HEALTH_EVENT_KINDS.items():
                self.register(cls, kind, family=HEALTH_FAMILY)

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
            raise UnregisteredEventError(f"{cls.__name__} is not a registered event class (EVENT_KINDS or register())")
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

#: msgspec encodes attrs values natively (fields by introspection, in C): 2-3 us per message where the
#: stdlib ``json`` route measured 17 us on the same machine, the difference between meeting the 100k
#: events/s goal and missing it by 5x.  ``decimal_format="string"`` is ``str(Decimal)``: exact.
_ENCODER = msgspec.json.Encoder(decimal_format="string", enc_hook=_refuse)


def encode_event(event: Any) -> dict[str, Any]:
    """The fields of an attrs value as JSON-ready builtins (exactly what goes under ``"event"``)."""
    result = msgspec.to_builtins(event, enc_hook=_refuse)
    if not isinstance(result, dict):
        raise TypeError(f"{type(event).__name__} is not an attrs value")
    return result


class _Variable(msgspec.Struct, gc=False):
    """The per-message part of a payload (everything else is constant per publisher and class).

    ``gc=False``: it lives for one ``encode_into`` call and references no container that could form a cycle.
    """

    seq: int
    ts: float
    timestamp: Any
    event: Any


class MessageEncoder:
    """Encodes events for one publisher (fixed venue and publisher id), caching each class's topic.

    This is the publisher's hot path.  Per class it precomputes the topic bytes and the constant head of the
    payload (``{"v":1,"publisher":...,"family":...,"venue":...,"kind":...,"type":...``, encoded once by
    msgspec so it is escaped correctly), and keeps one buffer starting with that head.  Per event only the
    variable part (``seq``, ``ts``, ``timestamp``, ``event``) is encoded, straight into the buffer after the
    head: 11 k instructions per event where building and encoding the whole envelope dict took 19 k
    (callgrind, the benchmark's two event kinds).  JSON objects are unordered; the key order is simply the
    order this produces.

    Raises ``UnregisteredEventError`` for a class the registry does not know (before anything else) and
    ``TypeError`` for a field value of a type JSON cannot carry.  Non-finite floats are not refused here
    (checking every float would cost more than the encoding) and travel as ``null``, which
    ``Message.to_event`` rejects; trio-hl never produces them (``to_decimal`` refuses non-finite input).
    """

    def __init__(self, venue: str, publisher_id: str, registry: EventRegistry | None = None) -> None:
        _check_name(venue, "venue")
        self.venue = venue
        self.publisher_id = publisher_id
        self._registry = registry or _DEFAULT_REGISTRY
        self._classes: dict[type, tuple[bytes, bytearray, int]] = {}

    def _prepare(self, cls: type) -> tuple[bytes, bytearray, int]:
        entry = self._registry.for_class(cls)
        head = _ENCODER.encode(
            {
                "v": SCHEMA_VERSION,
                "publisher": self.publisher_id,
                "family": entry.family,
                "venue": self.venue,
                "kind": entry.kind,
                "type": cls.__name__,
            }
        )[:-1]  # without the closing brace: the variable part continues the object
        prepared = (entry.topic(self.venue).encode("ascii"), bytearray(head), len(head))
        self._classes[cls] = prepared
        return prepared

    def encode_shared(self, event: Any, seq: int, ts: float) -> tuple[bytes, bytearray]:
        """Like ``encode`` but the payload is this encoder's own buffer, overwritten by the next call.

        For a sender that copies the payload at once (a ZMQ ``send`` with ``copy=True`` does); it saves
        the copy into a new ``bytes`` object per event.
        """
        cls = type(event)
        topic, buffer, offset = self._classes.get(cls) or self._prepare(cls)
        _ENCODER.encode_into(_Variable(seq, ts, getattr(event, "timestamp", None), event), buffer, offset)
        buffer[offset] = 0x2C  # the variable part's opening brace becomes the comma after the head
        return topic, buffer

    def encode(self, event: Any, seq: int, ts: float) -> tuple[bytes, bytes]:
        """``(topic, payload)`` frames for ``event`` as message number ``seq`` published at wall time ``ts``."""
        topic, buffer = self.encode_shared(event, seq, ts)
        return topic, bytes(buffer)


def encode_message(
    event: Any,
    *,
    seq: int,
    publisher_id: str,
    ts: float,
    venue: str,
    registry: EventRegistry | None = None,
) -> tuple[bytes, bytes]:
    """``(topic, payload)`` frames for one event (one-off form of ``MessageEncoder.encode``)."""
    return MessageEncoder(venue, publisher_id, registry).encode(event, seq, ts)


# --------------------------------------------------------------------------------------------- decoding


class Message(msgspec.Struct, frozen=True):
    """One received message, validated but not bound to a Python class: a recorder must be able to store
    events of kinds newer than itself, so ``event`` stays a dict until ``to_event()`` is asked for.

    The payload is decoded straight into this frozen msgspec struct (validated in C; unknown keys are
    ignored: newer publishers may add), and ``topic`` and ``payload`` are set on it right after.  Reading
    ``message.seq`` is then a slot read: a wrapper around a separate envelope value cost a subscriber an
    object per message and ~100 ns per property read (an attrs wrapper, before that, ~1.1 us to build).
    """

    #: Payload schema version (``"v"`` on the wire).
    version: int = msgspec.field(name="v")
    publisher_id: str = msgspec.field(name="publisher")
    #: Per-publisher message number: 1, 2, 3... across all topics; a jump is a lost message.
    seq: int
    #: Publisher wall-clock time (``time.time()``) when the message was sent.
    ts: float
    family: str
    venue: str
    kind: str
    #: The event's Python class name (``"type"`` on the wire).
    type_name: str = msgspec.field(name="type")
    _event: dict[str, Any] = msgspec.field(name="event")
    #: The event's own time (its ``timestamp`` field).
    timestamp: float | None = None
    # Set by ``decode_frames`` after decoding, never taken from the payload: their wire names are no key a
    # publisher means (and whatever a payload put under them is overwritten).
    topic: str = msgspec.field(default="", name="(topic frame)")
    payload: bytes = msgspec.field(default=b"", name="(payload frame)")

    @property
    def event(self) -> Mapping[str, Any]:
        """The event's fields as decoded JSON (Decimals still strings, enums their values); read-only."""
        return types.MappingProxyType(self._event)

    def __repr__(self) -> str:
        return f"Message({self.topic!r}, publisher={self.publisher_id!r}, seq={self.seq}, event={self.event!r})"

    def to_event(self, registry: EventRegistry | None = None) -> Any:
        """The typed event value; ``ProtocolError`` if the kind is unknown here or a field does not fit."""
        entry = (registry or _DEFAULT_REGISTRY).for_name(self.family, self.kind)
        if entry is None:
            raise ProtocolError(f"unknown event kind {self.family}.{self.kind}")
        try:
            return decode_value(entry.cls, self.event)
        except (TypeError, ValueError, KeyError) as exc:
            raise ProtocolError(f"{self.family}.{self.kind} seq {self.seq}: {exc}") from exc


def decode_message(frames: list[bytes]) -> Message:
    """Validate a ``[topic, payload]`` multipart message; ``ProtocolError`` says what is wrong."""
    if len(frames) != 2:
        raise ProtocolError(f"expected 2 frames [topic, payload], got {len(frames)}")
    return decode_frames(frames[0], frames[1])


_MESSAGE_DECODER = msgspec.json.Decoder(Message)
_force_setattr = msgspec.structs.force_setattr

#: Topics already validated once -> (topic, family, venue, kind): the common case compares three short
#: strings instead of decoding the topic and formatting the expected one per message.  Only topics that
#: matched a valid payload enter, and at most ``_TOPIC_CACHE_SIZE`` of them (a publisher inventing kinds
#: cannot grow it without bound; past the limit the uncached check runs).
_TOPICS: dict[bytes, tuple[str, str, str, str]] = {}
_TOPIC_CACHE_SIZE = 4096


def decode_frames(topic_b: bytes, payload_b: bytes) -> Message:
    """``decode_message([topic_b, payload_b])`` for a caller that holds the two frames separately."""
    known = _TOPICS.get(topic_b) if type(topic_b) is bytes else None
    if known is None:
        try:
            topic = topic_b.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"undecodable message: {exc}") from exc
    try:
        envelope = _MESSAGE_DECODER.decode(payload_b)
    except msgspec.ValidationError as exc:
        raise ProtocolError(_version_problem(payload_b) or f"invalid payload: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"undecodable message: {exc}") from exc
    if envelope.version != SCHEMA_VERSION:
        raise ProtocolError(f"unsupported schema version {envelope.version} (this build reads {SCHEMA_VERSION})")
    if known is not None:
        topic, family, venue, kind = known
        if envelope.family != family or envelope.venue != venue or envelope.kind != kind:
            _topic_mismatch(topic, envelope)
    else:
        if topic != topic_for(envelope.family, envelope.venue, envelope.kind):
            _topic_mismatch(topic, envelope)
        if type(topic_b) is bytes and len(_TOPICS) < _TOPIC_CACHE_SIZE:
            _TOPICS[topic_b] = (topic, envelope.family, envelope.venue, envelope.kind)
    if not 1 <= envelope.seq < 2**63:
        raise ProtocolError(f"seq must be in [1, 2**63), got {envelope.seq}")
    _force_setattr(envelope, "topic", topic)
    _force_setattr(envelope, "payload", payload_b)
    return envelope


def _topic_mismatch(topic: str, envelope: Message) -> typing.NoReturn:
    claimed = f"{envelope.family}.{envelope.venue}.{envelope.kind}"
    raise ProtocolError(f"topic {topic!r} does not match payload {claimed}")


def _version_problem(payload: bytes) -> str | None:
    """If a payload that failed validation is from another schema version, say that instead."""
    try:
        version = msgspec.json.decode(payload).get("v")
    except (msgspec.DecodeError, AttributeError):
        return None
    if version != SCHEMA_VERSION:
        return f"unsupported schema version {version!r} (this build reads {SCHEMA_VERSION})"
    return None


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
                d = Decimal(v)
            except InvalidOperation:
                raise ValueError(f"not a decimal: {v!r}") from None
            if not d.is_finite():
                raise ValueError(f"non-finite decimal {v!r}")
            return d

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
