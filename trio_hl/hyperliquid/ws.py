"""WebSocket session: one connection to ``/ws`` kept alive, subscribed and usable for ``post`` requests.

Rules followed (PROTOCOL §6): the client sends ``{"method":"ping"}`` (a JSON message, not a WS ping frame) every
50 s because the server closes silent connections after 60 s; every subscribe/unsubscribe is acknowledged with a
``subscriptionResponse``; after a reconnect nothing is remembered server-side, so every subscription is sent again
and its snapshot refills the state; ``post`` requests carry an id and at most 100 may be in flight per IP.

How this session applies them:

* **Reconnect** — any connection loss (close, reset, handshake failure, a stale stream, an ack that never comes)
  ends the connection; the session waits a full-jitter backoff (``backoff.py``: 250 ms → 10 s) and reconnects,
  forever, until its owner cancels it.  The backoff streak resets only once a connection has stayed up for
  ``stable_after`` seconds, so a server that accepts and immediately drops is not hammered every 125 ms.
* **Ready** — a connection is *ready* once every registered subscription has been acked on it.  Each ready
  connection gets a new ``generation`` number and a :class:`Ready` event on :meth:`WsSession.connection_events`;
  a drop emits :class:`Disconnected` at once.  The connector closes its submit gate on ``Disconnected`` and opens it
  after its REST gap-fill that follows ``Ready`` — the session itself never guesses what a gap-fill needs.
* **Staleness** — the server pushes nothing on an idle user-only connection except our pongs, so a socket that
  delivers no frame for ``stale_timeout`` (> ``ping_interval``) seconds is dead even if TCP has not noticed.  The
  clock only runs while the receive loop is waiting on the socket, never while it is blocked delivering to a slow
  lossless consumer (that would turn our own backpressure into reconnect storms).
* **Delivery** — each subscription has its own :class:`SubscriptionStream` (a ``trio.abc.ReceiveChannel``), with a
  documented policy per channel (:data:`DELIVERY_POLICIES`): full-snapshot market data (``l2Book``, ``bbo``,
  ``allMids``, asset contexts) **conflates, latest wins** — a consumer that falls behind sees the newest book, not a
  queue of stale ones; incremental market data (``trades``, ``candle``) keeps a bounded buffer and **drops the
  oldest** (counted); user data (``orderUpdates``, ``userEvents``, ``userFills``, …) is **lossless**: the receive
  loop waits for the consumer (backpressure), because a dropped fill is a wrong position.
* **post** — ids are unique per session; a semaphore holds in-flight posts to 100.  The outcome of a post the
  venue never answered is classified like REST: never sent ⇒ ``TransportError``; sent, then the connection dropped
  or the timeout expired ⇒ ``AmbiguousOutcomeError`` for actions (``TransportError`` for idempotent info).
* **Bad frames** — non-JSON text, the banner ``"Websocket connection established."``, unknown channels, wrong types
  are logged and counted in :meth:`WsSession.statistics`; none of them ends the session.

Rejected alternative: callbacks per channel (the official SDK's model).  A callback runs inside the receive loop,
so one slow callback stalls pongs and post answers, and an exception in it has no owner; channels with explicit
policies make the cost of slowness visible and keep every task in a nursery.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import itertools
import json
import logging
import math
import random
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import msgspec
import trio
import trio.lowlevel
import trio_websocket

from trio_hl.core import safejson
from trio_hl.errors import (
    AmbiguousOutcomeError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
    VenueRejectedError,
)
from trio_hl.hyperliquid.backoff import Backoff, BackoffPolicy

__all__ = [
    "BANNER",
    "DELIVERY_POLICIES",
    "ConnectionEvent",
    "Delivery",
    "Disconnected",
    "Ready",
    "SubscriptionStream",
    "SubscriptionStreamStatistics",
    "VenueErrorFrame",
    "WsSession",
    "WsSettings",
    "WsStatistics",
    "open_ws_session",
    "serve_ws_session",
    "subscription_route",
    "ws_url",
]

log = logging.getLogger(__name__)
#: The post encoder (see ``WsSession.post``).
_encode_json = msgspec.json.Encoder().encode

#: The plain-text frame some servers send right after connecting (the SDK ignores it too).
BANNER = "Websocket connection established."

#: The venue's limit on post requests in flight per IP (PROTOCOL §8.2).
MAX_POSTS_IN_FLIGHT = 100


def ws_url(base_url: str) -> str:
    """``http(s)://host`` → ``ws(s)://host/ws``, exactly as the SDK derives it (PROTOCOL §0)."""
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return "ws" + base_url.rstrip("/")[len("http") :] + "/ws"


class Delivery(enum.Enum):
    """What a subscription stream does when its consumer falls behind."""

    #: Keep only the newest message (full snapshots: a newer one supersedes the older).
    CONFLATE = "conflate"
    #: Bounded buffer; when full the oldest message is discarded and counted.
    DROP_OLDEST = "drop_oldest"
    #: Bounded buffer; when full the session's receive loop waits (nothing is ever lost).
    LOSSLESS = "lossless"


#: Delivery policy by subscription ``type``; unknown types are treated as lossless (the safe default).
DELIVERY_POLICIES: Mapping[str, Delivery] = {
    "l2Book": Delivery.CONFLATE,
    "bbo": Delivery.CONFLATE,
    "allMids": Delivery.CONFLATE,
    "activeAssetCtx": Delivery.CONFLATE,
    "activeAssetData": Delivery.CONFLATE,
    "webData2": Delivery.CONFLATE,
    "trades": Delivery.DROP_OLDEST,
    "candle": Delivery.DROP_OLDEST,
    "orderUpdates": Delivery.LOSSLESS,
    "userEvents": Delivery.LOSSLESS,
    "userFills": Delivery.LOSSLESS,
    "userFundings": Delivery.LOSSLESS,
    "userNonFundingLedgerUpdates": Delivery.LOSSLESS,
    "notification": Delivery.LOSSLESS,
}

# -- routing ----------------------------------------------------------------------------------------------------

Route = tuple[str, str | None]

#: Subscription type -> the channel its data frames arrive on, when the names differ.
_CHANNEL_OF_TYPE = {"userEvents": "user"}
_COIN_TYPES = frozenset({"l2Book", "trades", "bbo", "activeAssetCtx"})
_USER_TYPES = frozenset({"userFills", "userFundings", "userNonFundingLedgerUpdates", "webData2"})
_SINGLETON_TYPES = frozenset({"allMids", "orderUpdates", "userEvents", "notification"})


def _lower(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.lower()


def subscription_route(sub: Mapping[str, Any]) -> Route:
    """The ``(channel, key)`` a subscription's data frames are routed by.

    Data frames carry no subscription id, only their channel and (for most) a coin or user, so two subscriptions
    with the same route cannot be told apart — e.g. two ``l2Book`` subscriptions on one coin with different
    ``nSigFigs``, or ``orderUpdates`` for two users on one connection (the venue omits the user).  The session
    refuses such a second subscription rather than mis-route data.
    """
    sub_type = sub.get("type")
    if not isinstance(sub_type, str) or not sub_type:
        raise ValueError(f"subscription must have a non-empty string 'type', got {dict(sub)!r}")
    channel = _CHANNEL_OF_TYPE.get(sub_type, sub_type)
    if sub_type in _COIN_TYPES:
        return channel, _required_str(sub, "coin")
    if sub_type in _USER_TYPES:
        return channel, _lower(_required_str(sub, "user"))
    if sub_type == "candle":
        return channel, f"{_required_str(sub, 'coin')}:{_required_str(sub, 'interval')}"
    if sub_type == "activeAssetData":
        return channel, f"{_required_str(sub, 'coin')}:{_lower(_required_str(sub, 'user'))}"
    if sub_type in _SINGLETON_TYPES:
        return channel, None
    return channel, None


def _required_str(sub: Mapping[str, Any], field: str) -> str:
    value = sub.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"subscription {sub.get('type')!r} needs a string {field!r}, got {value!r}")
    return value


#: The start of an ``l2Book`` frame as the venue (and the emulator) writes it; the coin literal follows.
_L2_PREFIX = '{"channel":"l2Book","data":{"coin":"'
_L2_COIN_AT = len(_L2_PREFIX)


def _frame_route(channel: str, data: Any) -> Route:
    """The route of an incoming data frame; raises ``ProtocolError`` when the data lacks its routing fields."""
    try:
        if channel in ("l2Book", "bbo", "activeAssetCtx"):
            return channel, _as_str(data["coin"])
        if channel == "activeSpotAssetCtx":
            return "activeAssetCtx", _as_str(data["coin"])
        if channel == "trades":
            if not isinstance(data, list) or not data:
                raise ProtocolError("trades frame without trades")
            return channel, _as_str(data[0]["coin"])
        if channel == "candle":
            return channel, f"{_as_str(data['s'])}:{_as_str(data['i'])}"
        if channel in _USER_TYPES:
            return channel, _as_str(data["user"]).lower()
        if channel == "activeAssetData":
            return channel, f"{_as_str(data['coin'])}:{_as_str(data['user']).lower()}"
    except (KeyError, TypeError, IndexError) as exc:
        raise ProtocolError(f"{channel} frame without its routing fields") from exc
    return channel, None


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string routing field, got {value!r}")
    return value


# -- subscription streams ---------------------------------------------------------------------------------------


@attrs.frozen
class SubscriptionStreamStatistics:
    subscription: Mapping[str, Any]
    delivery: Delivery
    buffer_size: int
    buffered: int
    delivered: int
    #: Messages replaced (conflated) or discarded (drop-oldest) before the consumer saw them.
    dropped: int
    closed: bool


class SubscriptionStream(trio.abc.ReceiveChannel[Any]):
    """The data payloads (``frame["data"]``) of one subscription, in arrival order, under its delivery policy.

    It outlives reconnects: after a reconnect the venue's fresh snapshot simply arrives as the next message.  It
    ends (``trio.EndOfChannel``) when the subscription is removed or the session closes.
    """

    def __init__(self, subscription: Mapping[str, Any], delivery: Delivery, buffer_size: int) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        self.subscription = dict(subscription)
        self.delivery = delivery
        self.buffer_size = 1 if delivery is Delivery.CONFLATE else buffer_size
        self._items: deque[Any] = deque()
        self._getters = trio.lowlevel.ParkingLot()
        self._putters = trio.lowlevel.ParkingLot()
        self._closed = False
        self._receiver_closed = False
        self._delivered = 0
        self._dropped = 0

    async def _put(self, item: Any) -> None:
        if self.delivery is not Delivery.LOSSLESS:
            self._put_nowait(item)
            return
        while len(self._items) >= self.buffer_size and not (self._closed or self._receiver_closed):
            await self._putters.park()
        self._put_nowait(item)

    def _put_nowait(self, item: Any) -> None:
        """Synchronous put that never waits (drops the oldest when full); for the non-lossless policies."""
        if self._closed or self._receiver_closed:
            return
        if len(self._items) >= self.buffer_size:
            self._items.popleft()
            self._dropped += 1
        self._items.append(item)
        self._getters.unpark()

    def _close(self) -> None:
        self._closed = True
        self._getters.unpark_all()
        self._putters.unpark_all()

    async def receive(self) -> Any:
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            if self._receiver_closed:
                raise trio.ClosedResourceError("this SubscriptionStream was closed by its receiver")
            if self._closed:
                raise trio.EndOfChannel
            await self._getters.park()
        item = self._items.popleft()
        self._delivered += 1
        self._putters.unpark()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return item

    def receive_nowait(self) -> Any:
        """The next buffered message, or ``trio.WouldBlock``."""
        if not self._items:
            if self._closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        self._delivered += 1
        self._putters.unpark()
        return self._items.popleft()

    async def aclose(self) -> None:
        """Stop receiving (the subscription stays; unsubscribe through the session to end it)."""
        self._receiver_closed = True
        self._items.clear()
        self._getters.unpark_all()
        self._putters.unpark_all()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> SubscriptionStreamStatistics:
        return SubscriptionStreamStatistics(
            subscription=self.subscription,
            delivery=self.delivery,
            buffer_size=self.buffer_size,
            buffered=len(self._items),
            delivered=self._delivered,
            dropped=self._dropped,
            closed=self._closed or self._receiver_closed,
        )


# -- connection events --------------------------------------------------------------------------------------------


@attrs.frozen
class Ready:
    """A connection is up and every subscription is acked on it.  ``generation`` 1 is the first connection;
    anything higher means "reconnected and resubscribed: gap-fill now"."""

    generation: int


@attrs.frozen
class Disconnected:
    """The connection of ``generation`` (0 if it never became ready) ended; ``reason`` says why."""

    generation: int
    reason: str


@attrs.frozen
class VenueErrorFrame:
    """A ``{"channel":"error","data":…}`` frame, surfaced as-is."""

    message: str


ConnectionEvent = Ready | Disconnected | VenueErrorFrame


# -- settings and statistics ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WsSettings:
    """Tunables; every default is the venue's documented value or a stated choice."""

    #: JSON ping cadence; the venue closes connections silent for 60 s, the SDKs ping every 50 s.
    ping_interval: float = 50.0
    #: No frame for this long while waiting on the socket ⇒ the connection is dead.  Must exceed ping_interval
    #: so an idle but healthy connection (only pongs) is never declared stale.
    stale_timeout: float = 60.0
    #: How long to wait for a subscribe/unsubscribe ack before treating the connection as broken.
    ack_timeout: float = 10.0
    #: TCP + WS handshake limit.
    connect_timeout: float = 10.0
    #: Closing handshake limit.
    disconnect_timeout: float = 2.0
    #: Default time to wait for a post answer.
    post_timeout: float = 30.0
    max_posts_in_flight: int = MAX_POSTS_IN_FLIGHT
    #: A connection up this long resets the reconnect backoff.
    stable_after: float = 10.0
    backoff: BackoffPolicy = attrs.field(factory=BackoffPolicy)
    #: Buffer of DROP_OLDEST streams (trades, candles): ~ a few seconds of a busy coin.
    market_buffer: int = 256
    #: Buffer of LOSSLESS streams before backpressure reaches the socket.
    user_buffer: int = 1024
    #: Connection events kept for a consumer that lags (oldest dropped; ``generation`` is never lost).
    events_buffer: int = 64
    #: Largest frame accepted (webData2 blobs and big snapshots exceed trio-websocket's 1 MiB default).
    max_message_size: int = 16 * 1024 * 1024

    def __attrs_post_init__(self) -> None:
        for name in ("ping_interval", "stale_timeout", "ack_timeout", "connect_timeout", "post_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.stale_timeout <= self.ping_interval:
            raise ValueError(
                f"stale_timeout ({self.stale_timeout}) must exceed ping_interval ({self.ping_interval}), "
                "or an idle healthy connection would be declared stale"
            )
        if not 1 <= self.max_posts_in_flight <= MAX_POSTS_IN_FLIGHT:
            raise ValueError(f"max_posts_in_flight must be in 1..{MAX_POSTS_IN_FLIGHT}, got {self.max_posts_in_flight}")


@attrs.frozen
class WsStatistics:
    connected: bool
    ready: bool
    #: Number of connections that became ready so far.
    generation: int
    #: Connections lost after being established.
    disconnects: int
    #: Reconnect attempts (every connection attempt after the first).
    reconnects: int
    #: Attempts that failed before the handshake completed.
    connect_failures: int
    #: Seconds since the last frame of any kind (None before the first).
    last_frame_age: float | None
    frames_received: int
    malformed_frames: int
    #: Frames for no current subscription (e.g. right after an unsubscribe) or unknown channels.
    unrouted_frames: int
    #: Expected but meaningless frames (the connect banner).
    ignored_frames: int
    error_frames: int
    last_error: str | None
    stale_disconnects: int
    pings_sent: int
    pongs_received: int
    posts_in_flight: int
    posts_sent: int
    subscriptions: int
    #: Messages conflated or dropped across all subscription streams.
    dropped_messages: int


# -- posts ----------------------------------------------------------------------------------------------------


class _Pending:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def resolve(self, result: Any = None, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.result, self.error = result, error
            self.done.set()


_STATUS_PREFIX = re.compile(r"^\s*(\d{3})\b")
_PENDING_ID = re.compile(r"too many pending post requests id=(\d{1,19})\b")


def _post_error(message: str, *, is_action: bool) -> BaseException:
    """Classify a post ``"error"`` payload (a string mirroring the HTTP status and description)."""
    match = _STATUS_PREFIX.match(message)
    status = int(match.group(1)) if match else None
    if status == 429:
        return RateLimitedError(f"post: {message}")
    if status is not None and status >= 500:
        server_error = ServerError(status, message)
        if is_action:
            ambiguous = AmbiguousOutcomeError(f"post: {message}; the action may have been applied")
            ambiguous.__cause__ = server_error
            return ambiguous
        return server_error
    rejected = VenueRejectedError(message)
    if status is None and is_action:
        # No HTTP status to go by (a timeout, an internal error worded some other way): nothing says the action
        # was refused before it applied, and calling it refused would FAIL an order that may rest on the book.
        ambiguous = AmbiguousOutcomeError(f"post: {message!r} (no status); the action may have been applied")
        ambiguous.__cause__ = rejected
        return ambiguous
    return rejected


# -- the session ----------------------------------------------------------------------------------------------


@attrs.define
class _Sub:
    subscription: dict[str, Any]
    stream: SubscriptionStream
    #: Set when acked on the current connection (replaced on each new connection).
    acked: trio.Event = attrs.field(factory=trio.Event)
    rejected: str | None = None
    #: Deliver the frame text instead of its decoded data (``l2Book`` only; see :meth:`WsSession.subscribe`).
    raw: bool = False


class _ConnectionLost(Exception):
    def __init__(self, reason: str, *, stale: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stale = stale


class WsSession:
    """A self-healing WebSocket session.  Create it with :func:`open_ws_session` or :func:`serve_ws_session`."""

    def __init__(self, url: str, *, settings: WsSettings | None = None, rng: random.Random | None = None) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must start with ws:// or wss://, got {url!r}")
        self.url = url
        self.settings = settings if settings is not None else WsSettings()
        self._backoff = Backoff(self.settings.backoff, rng=rng)
        self._subs: dict[Route, _Sub] = {}
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._connected = trio.Event()
        self._ready = False
        self._ready_changed = trio.Event()
        self._generation = 0
        #: Generation of the current connection once it became ready (0 until then); reported by Disconnected.
        self._ready_generation = 0
        self._closed = False
        self._events = SubscriptionStream(
            {"type": "connectionEvents"}, Delivery.DROP_OLDEST, self.settings.events_buffer
        )
        self._post_ids = itertools.count(1)
        self._post_slots = trio.Semaphore(self.settings.max_posts_in_flight)
        self._pending: dict[int, tuple[_Pending, bool]] = {}
        self._unsub_acks: dict[Route, trio.Event] = {}
        # counters
        self._disconnects = 0
        self._attempts = 0
        self._connect_failures = 0
        self._last_frame_at: float | None = None
        self._frames = 0
        self._malformed = 0
        self._unrouted = 0
        self._ignored = 0
        self._error_frames = 0
        self._last_error: str | None = None
        self._stale = 0
        self._pings = 0
        self._pongs = 0
        self._posts_sent = 0

    # -- public API ---------------------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """How many connections have become ready; increases by one per successful (re)connect."""
        return self._generation

    @property
    def is_ready(self) -> bool:
        return self._ready

    async def wait_ready(self, after_generation: int = 0) -> int:
        """Wait until a connection of generation > ``after_generation`` is ready; return its generation.

        ``await session.wait_ready(seen)`` is the race-free way to learn "a reconnect happened since I last
        looked", even if :class:`Ready` events were dropped from a lagging ``connection_events`` consumer.
        """
        while not (self._ready and self._generation > after_generation):
            if self._closed:
                raise trio.ClosedResourceError("the WsSession is closed")
            await self._ready_changed.wait()
        return self._generation

    def connection_events(self) -> SubscriptionStream:
        """:class:`Ready`, :class:`Disconnected` and :class:`VenueErrorFrame` events, oldest first (bounded: the
        oldest are dropped if nobody reads; use :attr:`generation`/:meth:`wait_ready` for the durable state)."""
        return self._events

    async def subscribe(
        self, subscription: Mapping[str, Any], *, ack_timeout: float | None = None, raw_frames: bool = False
    ) -> SubscriptionStream:
        """Register ``subscription`` (kept across reconnects) and wait until the venue acks it.

        ``raw_frames=True`` (``l2Book`` only, the one per-block channel) makes the stream carry the frame *text*
        of frames in the venue's layout (``{"channel":"l2Book","data":{"coin":"<coin>",…``), routed by that
        prefix without decoding them; the subscriber decodes them with a typed decoder
        (:func:`trio_hl.hyperliquid.book_frames.parse_l2_book_frame`), which halves the per-block cost.  A frame
        in any other layout is decoded here and delivered as its data, as usual: such a stream carries ``str``
        and ``dict`` items.

        Raises ``ValueError`` for a malformed subscription or one whose data could not be told apart from an
        existing one (:func:`subscription_route`), ``VenueRejectedError`` if the venue refuses it (then it is not
        kept), ``TransportError`` if no ack arrives within ``ack_timeout`` (default ``settings.ack_timeout``) — the
        subscription then stays registered and is retried on the next connection; unsubscribe to drop it.
        """
        if raw_frames and subscription.get("type") != "l2Book":
            raise ValueError(f"raw_frames is supported for l2Book only, not {subscription.get('type')!r}")
        route, state = self._register(subscription)
        state.raw = raw_frames
        sub = state.subscription
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(trio_websocket.ConnectionClosed):  # if closed, the reconnect will send it
                await ws.send_message(json.dumps({"method": "subscribe", "subscription": sub}))
        with trio.move_on_after(self.settings.ack_timeout if ack_timeout is None else ack_timeout):
            while True:
                acked = state.acked
                await acked.wait()
                if state.rejected is not None:
                    self._subs.pop(route, None)
                    state.stream._close()
                    raise VenueRejectedError(state.rejected)
                if state.acked is acked:
                    return state.stream
        raise TransportError(f"no subscriptionResponse for {sub} within the timeout; it stays registered")

    async def unsubscribe(self, subscription: Mapping[str, Any], *, ack_timeout: float | None = None) -> None:
        """Remove a subscription and end its stream; waits (bounded) for the venue's ack if connected."""
        route = subscription_route(subscription)
        state = self._subs.pop(route, None)
        if state is None:
            raise ValueError(f"not subscribed: {dict(subscription)!r}")
        state.stream._close()
        ws = self._ws
        if ws is None or ws.closed or not state.acked.is_set():
            return
        ack = self._unsub_acks[route] = trio.Event()
        try:
            await ws.send_message(json.dumps({"method": "unsubscribe", "subscription": state.subscription}))
            with trio.move_on_after(self.settings.ack_timeout if ack_timeout is None else ack_timeout):
                await ack.wait()
        except trio_websocket.ConnectionClosed:
            pass  # nothing to undo: a new connection will not resubscribe it
        finally:
            if self._unsub_acks.get(route) is ack:
                del self._unsub_acks[route]

    def subscriptions(self) -> list[dict[str, Any]]:
        return [dict(s.subscription) for s in self._subs.values()]

    def stream(self, subscription: Mapping[str, Any]) -> SubscriptionStream:
        """The stream of a registered subscription, e.g. one passed to ``open_ws_session(subscriptions=…)``
        (the same object :meth:`subscribe` returned).  ``ValueError`` if it is not registered."""
        state = self._subs.get(subscription_route(subscription))
        if state is None:
            raise ValueError(f"not subscribed: {dict(subscription)!r}")
        return state.stream

    async def post(
        self,
        request_type: Literal["info", "action"],
        payload: Mapping[str, Any],
        *,
        response_timeout: float | None = None,
    ) -> Any:
        """Send ``{"method":"post","id":…,"request":{"type":request_type,"payload":payload}}``; return the answer's
        ``payload`` (for ``action`` the venue envelope, ``{"status":"ok"|"err",…}``, as data; for ``info``
        ``{"type":…, "data":…}``).

        Waits for a connection and a free slot (at most ``max_posts_in_flight``).  Raises ``TransportError`` when
        the request was never sent (no connection within ``response_timeout``, or closed before writing), and for an
        unanswered info request; ``AmbiguousOutcomeError`` when an action was sent but no answer came (drop or
        timeout); ``RateLimitedError`` / ``ServerError`` / ``VenueRejectedError`` for ``"error"`` answers by status.
        """
        if request_type not in ("info", "action"):
            raise ValueError(f"request_type must be 'info' or 'action', got {request_type!r}")
        is_action = request_type == "action"
        limit = self.settings.post_timeout if response_timeout is None else response_timeout
        deadline = trio.current_time() + limit
        sent = False
        pending = _Pending()
        post_id = next(self._post_ids)
        try:
            with trio.move_on_at(deadline):
                async with self._post_slots:
                    while True:
                        await self._connected.wait()
                        ws = self._ws
                        if ws is not None and not ws.closed:
                            break
                        await trio.lowlevel.checkpoint()  # between connections: wait for the next one
                    # msgspec: a sixth of json.dumps's time for a 40-order action (same keys in the same order,
                    # compact separators); a text frame, as the venue expects.
                    message = _encode_json(
                        {"method": "post", "id": post_id, "request": {"type": request_type, "payload": payload}}
                    ).decode()
                    self._pending[post_id] = (pending, is_action)
                    try:
                        sent = True
                        await ws.send_message(message)
                    except trio_websocket.ConnectionClosed as exc:
                        # The socket was open a moment ago, so part of the frame may have been written before it
                        # broke: conservatively "possibly sent" (ambiguous for an action).
                        pending.resolve(error=exc)
                    else:
                        self._posts_sent += 1
                    await pending.done.wait()
            if not pending.done.is_set():
                if not sent:
                    raise TransportError(f"post {post_id}: not sent within {limit} s (no connection)")
                if is_action:
                    raise AmbiguousOutcomeError(
                        f"post {post_id}: no answer within {limit} s; the action may have landed"
                    )
                raise TransportError(f"post {post_id}: no answer within {limit} s")
        finally:
            self._pending.pop(post_id, None)
        if pending.error is not None:
            error = pending.error
            if isinstance(error, trio_websocket.ConnectionClosed):
                if is_action:
                    raise AmbiguousOutcomeError(
                        f"post {post_id}: connection lost after sending; the action may have landed"
                    ) from error
                raise TransportError(f"post {post_id}: connection lost") from error
            raise error
        return pending.result

    def statistics(self) -> WsStatistics:
        now = trio.current_time()
        return WsStatistics(
            connected=self._ws is not None and not self._ws.closed,
            ready=self._ready,
            generation=self._generation,
            disconnects=self._disconnects,
            reconnects=max(0, self._attempts - 1),
            connect_failures=self._connect_failures,
            last_frame_age=None if self._last_frame_at is None else now - self._last_frame_at,
            frames_received=self._frames,
            malformed_frames=self._malformed,
            unrouted_frames=self._unrouted,
            ignored_frames=self._ignored,
            error_frames=self._error_frames,
            last_error=self._last_error,
            stale_disconnects=self._stale,
            pings_sent=self._pings,
            pongs_received=self._pongs,
            posts_in_flight=len(self._pending),
            posts_sent=self._posts_sent,
            subscriptions=len(self._subs),
            dropped_messages=sum(s.stream.statistics().dropped for s in self._subs.values()),
        )

    # -- the connection loop ------------------------------------------------------------------------------------

    async def _run(self, task_status: trio.TaskStatus[WsSession]) -> None:
        self._task_status: trio.TaskStatus[WsSession] | None = task_status
        try:
            while True:
                self._attempts += 1
                self._ready_generation = 0
                up_since: float | None = None
                reason = "closed by the server"
                try:
                    async with trio_websocket.open_websocket_url(
                        self.url,
                        connect_timeout=self.settings.connect_timeout,
                        disconnect_timeout=self.settings.disconnect_timeout,
                        max_message_size=self.settings.max_message_size,
                        message_queue_size=64,
                    ) as ws:
                        up_since = trio.current_time()
                        reason = await self._serve_connection(ws)
                except (OSError, trio_websocket.HandshakeError, trio_websocket.ConnectionClosed) as exc:
                    if up_since is None:
                        self._connect_failures += 1
                        reason = f"connect failed: {type(exc).__name__}: {exc}"
                # Not ``self._ready``: the task that noticed the loss has already cleared it.
                generation = self._ready_generation
                self._lose()
                if up_since is not None:
                    self._disconnects += 1
                    if trio.current_time() - up_since >= self.settings.stable_after:
                        self._backoff.reset()
                self._events._put_nowait(Disconnected(generation, reason))
                log.warning("ws %s: connection lost (%s); reconnecting", self.url, reason)
                await self._backoff.wait()
        finally:
            self._close()

    def _lose(self) -> None:
        """The current connection is gone: stop using it and fail the posts that were waiting on it."""
        self._ws = None
        if self._connected.is_set():
            self._connected = trio.Event()
        self._set_ready(False)
        for pending, _ in list(self._pending.values()):
            pending.resolve(error=trio_websocket.ConnectionClosed(None))

    def _set_ready(self, ready: bool) -> None:
        if ready != self._ready:
            self._ready = ready
            self._ready_changed.set()
            self._ready_changed = trio.Event()

    def _close(self) -> None:
        self._lose()
        self._closed = True
        self._ready_changed.set()
        for state in self._subs.values():
            state.stream._close()
            state.acked.set()
        self._events._close()

    def _register(self, subscription: Mapping[str, Any]) -> tuple[Route, _Sub]:
        if self._closed:
            raise trio.ClosedResourceError("the WsSession is closed")
        sub = dict(subscription)
        route = subscription_route(sub)
        if route in self._subs:
            raise ValueError(f"already subscribed with the same route {route}: {self._subs[route].subscription}")
        delivery = DELIVERY_POLICIES.get(sub["type"], Delivery.LOSSLESS)
        size = self.settings.user_buffer if delivery is Delivery.LOSSLESS else self.settings.market_buffer
        state = _Sub(sub, SubscriptionStream(sub, delivery, size))
        self._subs[route] = state
        return route, state

    async def _serve_connection(self, ws: trio_websocket.WebSocketConnection) -> str:
        """Run one connection until it is lost; return why."""
        self._ws = ws
        for state in self._subs.values():
            # Waiters on the previous connection's ack wake up, see a new event and wait for this connection's.
            old, state.acked = state.acked, trio.Event()
            state.rejected = None
            old.set()
        self._connected.set()
        lost: list[_ConnectionLost] = []
        async with trio.open_nursery() as nursery:

            async def guard(fn: Any) -> None:
                try:
                    await fn(ws)
                except _ConnectionLost as exc:
                    lost.append(exc)
                except trio_websocket.ConnectionClosed as exc:
                    lost.append(_ConnectionLost(f"closed: {exc.reason}"))
                self._lose()
                nursery.cancel_scope.cancel()

            nursery.start_soon(guard, self._receive_loop)
            nursery.start_soon(guard, self._ping_loop)
            await guard(self._resubscribe)
        if lost and lost[0].stale:
            self._stale += 1
        return lost[0].reason if lost else "closed"

    async def _resubscribe(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Send every registered subscription, wait for all acks, then mark the connection ready and sleep.

        An ack that does not come within ``ack_timeout`` ends the connection: a half-subscribed session would
        silently miss data, and a fresh connection is the only reliable way to a known state.
        """
        for state in list(self._subs.values()):
            await ws.send_message(json.dumps({"method": "subscribe", "subscription": state.subscription}))
        with trio.move_on_after(self.settings.ack_timeout) as ack_scope:
            for state in list(self._subs.values()):
                await state.acked.wait()
        if ack_scope.cancelled_caught:
            missing = [s.subscription for s in self._subs.values() if not s.acked.is_set()]
            raise _ConnectionLost(f"no subscriptionResponse within {self.settings.ack_timeout} s for {missing}")
        # A subscription the venue refused on this connection (one registered before it, or resent after a
        # reconnect) is dropped and its stream ended: an open stream that can never carry data would hide the
        # refusal.  A subscribe() call waiting on it still raises VenueRejectedError.
        for route, state in list(self._subs.items()):
            if state.rejected is not None:
                log.warning("ws %s: subscription refused, dropped: %s", self.url, state.rejected)
                del self._subs[route]
                state.stream._close()
        self._generation += 1
        self._ready_generation = self._generation
        self._set_ready(True)
        self._events._put_nowait(Ready(self._generation))
        log.info("ws %s: ready (generation %d, %d subscriptions)", self.url, self._generation, len(self._subs))
        if self._task_status is not None:
            task_status, self._task_status = self._task_status, None
            task_status.started(self)
        await trio.sleep_forever()

    async def _ping_loop(self, ws: trio_websocket.WebSocketConnection) -> None:
        ping = json.dumps({"method": "ping"})
        while True:
            await trio.sleep(self.settings.ping_interval)
            await ws.send_message(ping)
            self._pings += 1

    async def _receive_loop(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            with trio.move_on_after(self.settings.stale_timeout) as scope:
                message = await ws.get_message()
            if scope.cancelled_caught:
                raise _ConnectionLost(f"stale: no frame for {self.settings.stale_timeout} s", stale=True)
            self._frames += 1
            self._last_frame_at = trio.current_time()
            try:
                await self._handle_frame(message)
            except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError) as exc:
                # A frame our handlers choke on is the venue's (or a proxy's) bad data, not a reason to drop the
                # session: count it and go on (the parsers should have refused it - this is the backstop).
                log.exception("ws %s: frame handler failed (%s)", self.url, type(exc).__name__)
                self._bad_frame(f"handler error {type(exc).__name__}", message)

    # -- frame handling -----------------------------------------------------------------------------------------

    def _bad_frame(self, why: str, message: str | bytes) -> None:
        self._malformed += 1
        text = message if isinstance(message, str) else repr(message)
        log.warning("ws %s: malformed frame (%s): %.200s", self.url, why, text)

    async def _handle_frame(self, message: str | bytes) -> None:
        if type(message) is str and message.startswith(_L2_PREFIX):
            # Route an l2Book frame by its coin literal without decoding it, when its subscriber takes raw frames.
            # A literal is its own decoded value unless it holds an escape, and no coin we subscribe to does.
            state = self._subs.get(("l2Book", message[_L2_COIN_AT : message.find('"', _L2_COIN_AT)]))
            if state is not None and state.raw:
                await state.stream._put(message)
                return
        if message == BANNER:
            self._ignored += 1
            return
        try:
            frame = safejson.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than json's C stack allows
            self._bad_frame("not JSON", message)
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("channel"), str):
            self._bad_frame("no channel", message)
            return
        channel: str = frame["channel"]
        data = frame.get("data")
        if channel == "pong":
            self._pongs += 1
        elif channel == "subscriptionResponse":
            self._handle_ack(data, message)
        elif channel == "post":
            self._handle_post(data, message)
        elif channel == "error":
            self._handle_error(data, message)
        else:
            try:
                route = _frame_route(channel, data)
            except ProtocolError as exc:
                self._bad_frame(str(exc), message)
                return
            state = self._subs.get(route)
            if state is None:
                self._unrouted += 1
                log.debug("ws %s: frame for no subscription %s", self.url, route)
                return
            await state.stream._put(data)

    def _handle_ack(self, data: Any, message: str | bytes) -> None:
        try:
            method = data["method"]
            route = subscription_route(data["subscription"])
        except (KeyError, TypeError, ValueError, AttributeError):
            self._bad_frame("malformed subscriptionResponse", message)
            return
        if method == "unsubscribe":
            event = self._unsub_acks.get(route)
            if event is not None:
                event.set()
            return
        state = self._subs.get(route)
        if state is None:
            self._unrouted += 1
            return
        state.acked.set()

    def _handle_post(self, data: Any, message: str | bytes) -> None:
        try:
            post_id = data["id"]
            response = data["response"]
            kind = response["type"]
            payload = response["payload"]
        except (KeyError, TypeError):
            self._bad_frame("malformed post response", message)
            return
        entry = self._pending.get(post_id) if isinstance(post_id, int) else None
        if entry is None:
            self._unrouted += 1
            log.warning("ws %s: post answer for unknown id %r", self.url, post_id)
            return
        pending, is_action = entry
        if kind == "error":
            pending.resolve(error=_post_error(str(payload), is_action=is_action))
        elif kind in ("info", "action"):
            pending.resolve(result=payload)
        else:
            self._bad_frame(f"unknown post response type {kind!r}", message)
            pending.resolve(error=ProtocolError(f"post {post_id}: unknown response type {kind!r}"))

    def _handle_error(self, data: Any, message: str | bytes) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self._error_frames += 1
        self._last_error = text
        log.warning("ws %s: venue error frame: %.300s", self.url, text)
        self._events._put_nowait(VenueErrorFrame(text))
        match = _PENDING_ID.search(text)
        if match:
            entry = self._pending.get(int(match.group(1)))
            if entry is not None:
                # The venue refused to take the post at all: nothing was executed.
                entry[0].resolve(error=RateLimitedError(text))
            return
        # "Already subscribed: {json}" means the subscription is active; "Invalid subscription {json}" refuses it.
        for prefix, accepted in (("Already subscribed:", True), ("Invalid subscription", False)):
            if text.startswith(prefix):
                try:
                    # The separator varies ("Invalid subscription: {json}" in the emulator, a space in older text).
                    route = subscription_route(safejson.loads(text[len(prefix) :].lstrip(" :")))
                except (ValueError, TypeError, AttributeError, RecursionError):
                    return
                state = self._subs.get(route)
                if state is not None:
                    if not accepted:
                        state.rejected = text
                    state.acked.set()
                return


async def serve_ws_session(
    url: str,
    *,
    subscriptions: Iterable[Mapping[str, Any]] = (),
    settings: WsSettings | None = None,
    rng: random.Random | None = None,
    task_status: trio.TaskStatus[WsSession] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a :class:`WsSession` until cancelled; ``started(session)`` once the first connection is ready with
    ``subscriptions`` acked.  Use ``await nursery.start(serve_ws_session, url, …)`` to get the session."""
    session = WsSession(url, settings=settings, rng=rng)
    for sub in subscriptions:
        session._register(sub)
    await session._run(task_status)


@asynccontextmanager
async def open_ws_session(
    url: str,
    *,
    subscriptions: Iterable[Mapping[str, Any]] = (),
    settings: WsSettings | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[WsSession]:
    """``async with open_ws_session(url, subscriptions=[…]) as session:`` — connected, subscribed and acked on
    entry (it keeps retrying until then; wrap in ``trio.fail_after`` to bound it), closed on exit."""
    async with trio.open_nursery() as nursery:
        session: WsSession = await nursery.start(
            functools.partial(serve_ws_session, url, subscriptions=subscriptions, settings=settings, rng=rng)
        )
        try:
            yield session
        finally:
            nursery.cancel_scope.cancel()
