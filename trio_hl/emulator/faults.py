"""Fault injection for the emulator: what a hostile network and a struggling venue do to a client.

Rule followed: every fault is a *decision drawn from one seeded RNG* at a well-defined point (an HTTP request
arrives, a WS frame is about to be queued, a connection opens), and every decision that injects something is
recorded in the :class:`FaultLog` with the emulator's clock, so a chaos test can replay a run with the same
seed and compare what the client saw against what was injected.  The plan is a plain mutable object: tests
flip fields on the live handle (``emu.faults.http_5xx_count = 3``) between steps.

Alternative rejected: a proxy in front of a clean emulator (toxiproxy style).  A proxy only sees bytes; it
cannot apply an action and then swallow the answer (accept-then-timeout, the fault that creates ambiguous
order outcomes), nor duplicate or reorder individual stream messages without re-parsing the protocol.

Determinism caveat: the RNG is drawn in the order events reach the emulator, so two runs produce the same
faults when the client issues the same requests in the same order (true for a single-task client, and for
the chaos suite under Trio's mock clock).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterator
from typing import Any

import attrs

__all__ = ["FaultKind", "FaultLog", "FaultPlan", "FaultRecord", "HttpFault"]


class FaultKind(enum.Enum):
    """What was injected (or, for the ``*_event`` kinds, what the emulator did on its own)."""

    HTTP_LATENCY = "http_latency"
    HTTP_5XX = "http_5xx"
    HTTP_429 = "http_429"
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"
    WS_LATENCY = "ws_latency"
    WS_DISCONNECT = "ws_disconnect"
    WS_STALL = "ws_stall"
    WS_DUPLICATE = "ws_duplicate"
    WS_DELAY = "ws_delay"
    WS_REORDER = "ws_reorder"
    # Not injected faults but emulator events worth comparing in tests.
    WS_QUEUE_OVERFLOW = "ws_queue_overflow_event"
    WS_IDLE_CLOSE = "ws_idle_close_event"
    RATE_LIMITED = "rate_limited_event"


@attrs.frozen
class FaultRecord:
    """One entry of the fault log: emulator time (unix ms), kind, and kind-specific details."""

    time_ms: int
    kind: FaultKind
    details: dict[str, Any] = attrs.field(factory=dict)


class FaultLog:
    """Append-only record of injected faults and notable emulator events (bounded: oldest dropped).

    Bounded because a long chaos run with a 1 % duplicate rate would otherwise grow without limit;
    ``dropped`` counts what fell off the front.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._records: list[FaultRecord] = []
        self._capacity = capacity
        self.dropped = 0

    def record(self, time_ms: int, kind: FaultKind, **details: Any) -> FaultRecord:
        entry = FaultRecord(time_ms, kind, details)
        self._records.append(entry)
        if len(self._records) > self._capacity:
            excess = len(self._records) - self._capacity
            del self._records[:excess]
            self.dropped += excess
        return entry

    @property
    def records(self) -> list[FaultRecord]:
        """A copy of the retained records, oldest first."""
        return list(self._records)

    def of_kind(self, kind: FaultKind) -> list[FaultRecord]:
        return [r for r in self._records if r.kind is kind]

    def count(self, kind: FaultKind) -> int:
        return sum(1 for r in self._records if r.kind is kind)

    def clear(self) -> None:
        self._records.clear()

    def __iter__(self) -> Iterator[FaultRecord]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)


class HttpFault(enum.Enum):
    """The fault chosen for one HTTP request (or WS post): answer with an error, or swallow the answer."""

    SERVER_ERROR = "5xx"
    RATE_LIMIT = "429"
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"


def _probability(_instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _non_negative(_instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _positive_or_none(_instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


# Help of each ``--fault-*`` flag (``FaultPlan.add_cli_arguments``); a test checks every field has one.
_CLI_HELP: dict[str, str] = {
    "http_latency_s": "seconds added before every HTTP request (and WS post) is processed",
    "http_latency_jitter_s": "extra uniform random latency, 0..N s, on top of --fault-http-latency-s",
    "http_5xx_prob": "probability (0..1) that a request is answered with --fault-http-5xx-status, unprocessed",
    "http_5xx_count": "answer the next N requests with --fault-http-5xx-status, unprocessed",
    "http_5xx_status": "HTTP status of the injected server errors (default 502)",
    "http_429_prob": "probability (0..1) that a request is answered 429 (rate limited), unprocessed",
    "http_429_count": "answer the next N requests 429, unprocessed",
    "accept_then_timeout_prob": "probability (0..1) that an action is applied but its answer never comes",
    "accept_then_timeout_count": "apply the next N actions and never answer them",
    "accept_then_timeout_hold_s": "seconds a swallowed HTTP answer holds the connection, then a bare 500 (default 120)",
    "ws_latency_s": "seconds every outbound WS frame waits (order kept)",
    "ws_disconnect_every_s": "close each WS connection N s after it opened",
    "ws_disconnect_at_message": "close a WS connection instead of sending its Nth outbound frame",
    "ws_stall_every_s": "every N s of a WS connection's life, go silent (see --fault-ws-stall-duration-s)",
    "ws_stall_duration_s": "how long each WS stall lasts (frames held, socket open)",
    "ws_duplicate_prob": "probability (0..1) that a stream data message is sent twice",
    "ws_delay_prob": "probability (0..1) that a stream data message is held back while later ones pass it",
    "ws_delay_s": "how long a delayed stream message is held back (default 0.5)",
    "ws_reorder_prob": "probability (0..1) that a stream data message is swapped with the next one",
}


def _checked(kind: Callable[[str], Any], field: attrs.Attribute[Any]) -> Callable[[str], Any]:
    """An argparse type that parses with ``kind`` and applies the field's validator, so a bad value is a usage
    error naming the flag (``argument --fault-ws-duplicate-prob: ...``) rather than a traceback at start-up."""

    def parse(text: str) -> Any:
        import argparse

        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if field.validator is not None:
            try:
                field.validator(None, field, value)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc).replace(f"{field.name} must", "must")) from None
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


@attrs.define(on_setattr=attrs.setters.validate)
class FaultPlan:
    """What to inject; all off by default.  Mutable at run time (validated on every assignment).

    Counters (``*_count``) inject the next N occurrences and count down — a deterministic burst; the
    probabilities draw from the plan's RNG (seeded by ``seed``).  Durations are seconds on the Trio clock.

    HTTP (``/info`` and ``/exchange``; the same decisions apply to WS ``post`` requests, whose error answers
    mirror the HTTP status):

    - ``http_latency_s`` (+ uniform ``http_latency_jitter_s``) before a request is processed.
    - ``http_5xx_prob`` / ``http_5xx_count``: answer ``http_5xx_status`` (plain text) without processing.
    - ``http_429_prob`` / ``http_429_count``: answer 429 without processing.
    - ``accept_then_timeout_prob`` / ``accept_then_timeout_count`` (``/exchange`` and WS post actions only):
      the engine applies the action, the answer never comes.  HTTP requests are held until the client
      disconnects (at most ``accept_then_timeout_hold_s``, then the connection gets a bare 500 with no body a
      client could parse as an ack).

    WebSocket (server -> client):

    - ``ws_latency_s``: every outbound frame waits this long (order kept).
    - ``ws_disconnect_every_s``: each connection is closed this long after it opened.
    - ``ws_disconnect_at_message``: a connection is closed instead of sending its Nth outbound frame.
    - ``ws_stall_every_s`` / ``ws_stall_duration_s``: every ``ws_stall_every_s`` of a connection's life it
      goes silent for ``ws_stall_duration_s`` (frames are held, the socket stays open; the bounded send queue
      may overflow, which drops the connection as a real venue would).
    - ``ws_duplicate_prob``: a stream data message is sent twice.
    - ``ws_delay_prob`` / ``ws_delay_s``: a stream data message is held back ``ws_delay_s`` while later ones
      pass it.
    - ``ws_reorder_prob``: a stream data message is swapped with the next one for the same connection.

    Only stream *data* messages are duplicated, delayed or reordered; acks, pongs, errors and post answers
    are not (a venue's request/response path does not reorder).
    """

    seed: int = 0
    http_latency_s: float = attrs.field(default=0.0, validator=_non_negative)
    http_latency_jitter_s: float = attrs.field(default=0.0, validator=_non_negative)
    http_5xx_prob: float = attrs.field(default=0.0, validator=_probability)
    http_5xx_count: int = attrs.field(default=0, validator=_non_negative)
    http_5xx_status: int = 502
    http_429_prob: float = attrs.field(default=0.0, validator=_probability)
    http_429_count: int = attrs.field(default=0, validator=_non_negative)
    accept_then_timeout_prob: float = attrs.field(default=0.0, validator=_probability)
    accept_then_timeout_count: int = attrs.field(default=0, validator=_non_negative)
    accept_then_timeout_hold_s: float = attrs.field(default=120.0, validator=_non_negative)
    ws_latency_s: float = attrs.field(default=0.0, validator=_non_negative)
    ws_disconnect_every_s: float | None = attrs.field(default=None, validator=_positive_or_none)
    ws_disconnect_at_message: int | None = attrs.field(default=None, validator=_positive_or_none)
    ws_stall_every_s: float | None = attrs.field(default=None, validator=_positive_or_none)
    ws_stall_duration_s: float = attrs.field(default=0.0, validator=_non_negative)
    ws_duplicate_prob: float = attrs.field(default=0.0, validator=_probability)
    ws_delay_prob: float = attrs.field(default=0.0, validator=_probability)
    ws_delay_s: float = attrs.field(default=0.5, validator=_non_negative)
    ws_reorder_prob: float = attrs.field(default=0.0, validator=_probability)
    _rng: random.Random = attrs.field(init=False, repr=False, eq=False, on_setattr=attrs.setters.NO_OP)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        """Restart the decision sequence (``seed`` is kept for the record)."""
        self.seed = seed
        self._rng = random.Random(seed)

    def clear(self) -> None:
        """Switch every fault off (the RNG position is kept)."""
        for field in attrs.fields(FaultPlan):
            if field.name not in ("seed", "_rng") and field.init:
                setattr(self, field.name, field.default)

    # ------------------------------------------------------------------------------------ decisions
    def _hit(self, prob: float) -> bool:
        # Draw only when the fault is on, so switching an unrelated fault on does not shift the sequence.
        return prob > 0.0 and self._rng.random() < prob

    def draw_http_latency(self) -> float:
        if self.http_latency_jitter_s > 0.0:
            return self.http_latency_s + self._rng.uniform(0.0, self.http_latency_jitter_s)
        return self.http_latency_s

    def draw_http_fault(self, *, is_action: bool) -> HttpFault | None:
        """The fault for one request, counters first (5xx, 429, accept-then-timeout), then probabilities."""
        if self.http_5xx_count > 0:
            self.http_5xx_count -= 1
            return HttpFault.SERVER_ERROR
        if self.http_429_count > 0:
            self.http_429_count -= 1
            return HttpFault.RATE_LIMIT
        if is_action and self.accept_then_timeout_count > 0:
            self.accept_then_timeout_count -= 1
            return HttpFault.ACCEPT_THEN_TIMEOUT
        if self._hit(self.http_5xx_prob):
            return HttpFault.SERVER_ERROR
        if self._hit(self.http_429_prob):
            return HttpFault.RATE_LIMIT
        if is_action and self._hit(self.accept_then_timeout_prob):
            return HttpFault.ACCEPT_THEN_TIMEOUT
        return None

    def draw_duplicate(self) -> bool:
        return self._hit(self.ws_duplicate_prob)

    def draw_delay(self) -> bool:
        return self._hit(self.ws_delay_prob)

    def draw_reorder(self) -> bool:
        return self._hit(self.ws_reorder_prob)

    @property
    def any_stream_fault(self) -> bool:
        """Fast check on the hot path: nothing per-message to decide."""
        return self.ws_duplicate_prob > 0.0 or self.ws_delay_prob > 0.0 or self.ws_reorder_prob > 0.0

    # ------------------------------------------------------------------------------------------ CLI
    @classmethod
    def add_cli_arguments(cls, parser: Any) -> None:
        """Register one ``--fault-...`` flag per field on an ``argparse`` parser (``from_cli_args`` reads them)."""
        group = parser.add_argument_group("fault injection (all off by default)")
        for field in attrs.fields(cls):
            if not field.init or field.name == "seed":
                continue
            flag = "--fault-" + field.name.replace("_", "-")
            kind: Callable[[str], Any] = int if field.name.endswith(("_count", "_status", "_message")) else float
            group.add_argument(flag, type=_checked(kind, field), default=None, dest="fault_" + field.name,
                               metavar="N", help=_CLI_HELP.get(field.name))
        group.add_argument("--fault-seed", type=int, default=None, dest="fault_seed", metavar="N",
                           help="seed of the fault RNG (default: the emulator seed)")

    @classmethod
    def from_cli_args(cls, args: Any, *, default_seed: int = 0) -> FaultPlan:
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            if not field.init or field.name == "seed":
                continue
            value = getattr(args, "fault_" + field.name, None)
            if value is not None:
                values[field.name] = value
        seed = getattr(args, "fault_seed", None)
        return cls(seed=default_seed if seed is None else seed, **values)
