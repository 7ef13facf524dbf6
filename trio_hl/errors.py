"""The one exception tree of trio-hl.

Why one tree: a strategy needs to tell apart four situations that call for different reactions, and
must be able to do so without importing httpx, trio-websocket or knowing venue strings:

``TrioHLError``
├── ``InvalidOrderError`` (also a ``ValueError``) — the caller's arguments are wrong; raised at the call,
│   before anything is tracked or sent.  ``WireFormatError``, ``RiskLimitError`` and ``UnknownOrderError``
│   refine it.
├── ``ConfigError`` — the connector is mis-configured (identity, URLs, unknown pair).
│   └── ``UnknownPairError``
├── ``TransportError`` — we could not talk to the venue (connect, read, 5xx, 429).  Transient by nature.
│   ├── ``RateLimitedError``
│   └── ``ServerError``
├── ``ProtocolError`` — the venue (or a peer) sent something we cannot parse; logged, counted, never fatal
│   to a stream.
├── ``AmbiguousOutcomeError`` — a request was sent and we do not know whether it took effect.
├── ``JournalError`` — the order journal cannot be opened, read or written (its path and the cause are named);
│   once writing fails the connector stops accepting orders and winds down what rests.
└── ``VenueRejectedError`` — the venue answered definitively "no", with its message.

Lower layers translate their own exceptions into these in a single place each (``raise … from exc``).
"""

from __future__ import annotations


class TrioHLError(Exception):
    """Base of every error trio-hl raises on purpose."""


class InvalidOrderError(TrioHLError, ValueError):
    """Bad arguments for an order or a wire value; raised before anything is tracked."""


class WireFormatError(InvalidOrderError):
    """A number cannot be represented on the wire without silently losing precision."""


class RiskLimitError(InvalidOrderError):
    """A pre-trade risk limit refused the order."""


class UnknownOrderError(InvalidOrderError):
    """No order with this client order id is tracked (``cancel``/``modify`` of an id never placed here).

    The caller's mistake, so it is raised at the call; what the *venue* refuses stays an event
    (``CancelRejected``, ``ModifyRejected``).
    """

    def __init__(self, client_order_id: str) -> None:
        super().__init__(f"no order {client_order_id!r} is tracked by this connector")
        self.client_order_id = client_order_id


class ConfigError(TrioHLError):
    """The connector configuration is inconsistent (identity, pairs, URLs)."""


class UnknownPairError(ConfigError):
    """A pair in ``ConnectorConfig.pairs`` is not listed by the venue's meta.

    ``pair`` is the name asked for; ``suggestions`` the closest names the venue does list (or a few of them when
    nothing is close), so a command line can say what to type instead.
    """

    def __init__(self, pair: str, suggestions: tuple[str, ...] = ()) -> None:
        hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
        super().__init__(f"pair {pair!r} is not listed by the venue{hint}")
        self.pair = pair
        self.suggestions = suggestions


class TransportError(TrioHLError):
    """The request could not be delivered or its answer could not be read."""


class RateLimitedError(TransportError):
    """The venue answered HTTP 429 (or the WS equivalent)."""


class ServerError(TransportError):
    """The venue answered with a 5xx status."""

    def __init__(self, status_code: int, body: str) -> None:
        super().__init__(f"server error {status_code}: {body[:200]}")
        self.status_code = status_code
        self.body = body


class ProtocolError(TrioHLError):
    """A frame or response did not have the shape the protocol promises (malformed, truncated, wrong types)."""


class AmbiguousOutcomeError(TrioHLError):
    """A request left our process but no definitive answer came back (timeout, broken connection)."""


class VenueRejectedError(TrioHLError):
    """The venue definitively refused a request; ``message`` is its text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JournalError(TrioHLError):
    """The order journal could not be opened, read or written.  ``path`` names the file, ``cause`` the underlying
    error (also the ``__cause__``): a full disk, a read-only directory, a file that is not a journal."""

    def __init__(self, path: str, action: str, cause: BaseException, hint: str = "") -> None:
        super().__init__(f"journal {path}: {action} failed: {type(cause).__name__}: {cause}{hint}")
        self.path = path
        self.action = action
        self.cause = cause
