"""The emulator's ASGI application: ``POST /info``, ``POST /exchange`` and the ``/ws`` WebSocket.

Rule followed: this layer does exactly what the venue's front end does before an action reaches the
matching engine — parse (malformed → HTTP 422 plain text), charge the IP rate weight (→ 429), recover the
signer from the signature (L1 phantom-agent or user-signed EIP-712, testnet parameters unless
``is_mainnet``), check ``expiresAfter``, whether the signer may act for that account
(``Engine.authorization_refusal``; the one decision point is ``_authz.py``), the acting address's action
budget (``Engine.address_refusal``; rules in ``_ratelimit.py``) and the signer's nonce set — and then hands
the engine a verified ``(signer, action, nonce)``.  A batch of more than ``_rules.SLICE`` items is parsed and
applied in slices with checkpoints between them (:meth:`EmulatorApp.exchange`), so other clients' reads are
served while a 10 000-order action is applied; other actions and ticks wait for it, so it stays one action.
The engine (``engine.py``) is pure and synchronous; everything that waits
(sockets, timers, faults) lives here, and every stream message the engine produces is routed from one
place (:meth:`EmulatorApp.publish`) to the WebSocket connections subscribed to its ``(channel, key)``.

A slow WebSocket client never stalls the engine: each connection has a bounded outbound queue filled with
``send_nowait``; when it overflows the connection is dropped (and the drop logged), as a real venue drops a
consumer that cannot keep up.  Alternative rejected: awaiting each connection's send from the publisher,
which lets one stuck client freeze market data and order acknowledgements for everyone.

Decisions where the venue is undocumented (PROTOCOL appendix, UNSURE):

- HTTP 429 body: plain text ``Too many requests: IP weight limit of N per minute exceeded`` (never JSON, so
  the SDK raises its ``ClientError`` instead of a ``KeyError`` on a JSON body without ``code``/``msg``).
- Expired action: ``{"status":"err","response":"Action already expired: expiresAfter E < now T"}``.
- A user-signed action whose ``nonce``/``time`` field differs from the body's ``nonce``: ``{"status":"err",
  "response":"Nonce in action N does not match request nonce M."}``.
- WS post error payload: ``"<status> <reason>: <body text>"`` (it mirrors the HTTP answer).
- WS malformed request: ``Error parsing JSON into valid websocket request: <text>``; unknown subscription:
  ``Invalid subscription: <json>``.
- Forged signatures under auto-funding: see :class:`AutoFund`.
"""

from __future__ import annotations

import enum
import gc
import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Container, Generator, Iterable, MutableMapping
from functools import partial
from typing import Any, Final, NamedTuple, Protocol

import attrs
import msgspec
import trio

from trio_hl.core import safejson
from trio_hl.emulator._ratelimit import (
    AddressRule,
    Limits,
    TokenBuckets,
    exchange_weight,
    info_base_weight,
    info_extra_weight,
)
from trio_hl.emulator._rules import SLICE, batch_length
from trio_hl.emulator.faults import FaultKind, FaultLog, FaultPlan, HttpFault
from trio_hl.errors import ProtocolError
from trio_hl.hyperliquid.nonce import NonceRegistry, NonceRejected
from trio_hl.hyperliquid.signing import (
    USER_SIGNED_ACTION_TYPES,
    recover_l1_signer,
    recover_user_signed_signer,
)

__all__ = [
    "DESERIALIZE_ERROR",
    "AppStatistics",
    "AutoFund",
    "EmulatorApp",
    "EngineAPI",
    "TrioWallClock",
    "venue_ack",
]

logger = logging.getLogger("trio_hl.emulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DESERIALIZE_ERROR: Final = "Failed to deserialize the JSON body into the target type"
WELCOME_TEXT: Final = "Websocket connection established."
PONG_FRAME: Final = '{"channel":"pong"}'
MAX_BODY_BYTES: Final = 1 << 20
#: Bodies above this size are decoded with checkpoints around the (millisecond-long) steps (see ``_http``).
_LARGE_BODY: Final = 64 << 10
#: Granularity of the WS idle deadline (see ``EmulatorApp._ws_reader``).
_IDLE_PUSH_S: Final = 0.25
_REASONS: Final = {422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
                   502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
# Which field of a user-signed action must repeat the body's nonce.
_TIME_FIELD: Final = {"usdSend": "time", "spotSend": "time", "withdraw3": "time"}

_encode = msgspec.json.Encoder().encode
_msgspec_decode = msgspec.json.Decoder().decode


def _decode(body: str | bytes | bytearray) -> Any:
    """Decode a request body, refusing hostile nesting first (see :mod:`trio_hl.core.safejson`)."""
    safejson.check_depth(body)
    return _msgspec_decode(body)


def _stack_depth() -> int:
    frame = sys._getframe(1)
    depth = 1
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def _decode_large(body: bytes | bytearray) -> Any:
    """Decode a large body (a 10 000-order batch is ~0.9 MB) in one step no longer than the decoding itself.

    The hostile-nesting guard is the interpreter's recursion limit, lowered to about
    ``safejson.MAX_DEPTH`` levels above the current stack while msgspec decodes (it counts its nesting against
    that limit; the process-wide limit is what ``py_ecc`` raises to 100 000, which lets ``[`` * 10^5 overflow
    the C stack - see :mod:`trio_hl.core.safejson`).  Documents nested deeper raise ``TooDeepError`` exactly
    as after ``safejson.check_depth``; the bound is a few levels looser than its exact 64, never tighter.
    Why not ``check_depth`` here: its regex passes over the whole body cost more than the decoding (~15 ms
    for 10 000 orders on an idle box, ~50 ms on a loaded one) in one more step other clients wait behind.
    Nothing else runs meanwhile (msgspec holds the GIL), and the limit is restored before returning.  The
    decoding allocates ~100 000 objects, enough to set off a full collection: the caller pauses the collector
    until its next checkpoint so the two never add up in one step."""
    if sys.version_info >= (3, 12):
        # From 3.12 the recursion counter C extensions use (msgspec's ``Py_EnterRecursiveCall``) is the C recursion
        # limit, which ``sys.setrecursionlimit`` no longer moves: the guard below would let 100 levels through
        # (the C limit still protects the stack, but the venue's 64-level rule needs the scan).
        return _decode(body)
    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(_stack_depth() + safejson.MAX_DEPTH + 8)
    except RecursionError:  # a stack deeper than measured: fall back to the scan
        return _decode(body)
    try:
        return _msgspec_decode(body)
    except RecursionError:
        raise safejson.TooDeepError(f"JSON nested deeper than {safejson.MAX_DEPTH} levels") from None
    finally:
        sys.setrecursionlimit(old)


class StreamMessageLike(Protocol):
    @property
    def channel(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def data(self) -> Any: ...


class EngineAPI(Protocol):
    """The part of ``engine.Engine`` this layer calls (see notes/EMULATOR_INTERFACE.md)."""

    #: Set to this layer's routing table: the engine may skip building messages for routes nobody receives.
    stream_routes: Container[tuple[str, str | None]] | None

    def info(self, req: dict[str, Any], now_ms: int) -> Any: ...
    def action(self, *, signer: str, action: dict[str, Any], nonce: int, vault_address: str | None,
               now_ms: int, user_signed: bool = False) -> dict[str, Any]: ...
    def acting_user(self, signer: str, vault_address: str | None) -> str | None: ...
    def authorization_refusal(self, signer: str, vault_address: str | None, action: dict[str, Any],
                              now_ms: int) -> str | None: ...
    def action_steps(self, *, signer: str, action: dict[str, Any], nonce: int, vault_address: str | None,
                     now_ms: int, user_signed: bool = False, slice_size: int = ...,
                     ) -> Generator[None, None, dict[str, Any]]: ...
    #: The per-address action budget the engine enforces; this layer sets it from its ``Limits``.
    address_rule: AddressRule | None
    def address_refusal(self, signer: str, vault_address: str | None, action: dict[str, Any],
                        now_ms: int) -> str | None: ...
    def tick(self, now_ms: int) -> None: ...
    def drain_messages(self) -> Iterable[StreamMessageLike]: ...
    def subscription_snapshot(self, sub: dict[str, Any], now_ms: int) -> list[tuple[str, Any]]: ...


class AutoFund(enum.Enum):
    """Which unknown signers the emulator funds, and so how a forged signature is told apart.

    A wrong signature recovers *some* address (PROTOCOL §1.4).  If every recovered address were funded, a
    forged request would silently trade from a fresh account instead of failing.  So by default
    (``NAMED``) an address is funded when a client first *names* it: an ``/info`` request or a WS
    subscription with that ``user`` (every client — the SDK's own examples, our connector — reads its
    state before trading), or ``Emulator.fund(address)``.  A signer nobody named gets the venue's
    ``User or API Wallet 0x… does not exist.``.  ``ANY`` funds every recovered signer (forged ones too);
    ``OFF`` funds nobody (accounts come only from ``Emulator.fund``).
    """

    OFF = "off"
    NAMED = "named"
    ANY = "any"

    @classmethod
    def coerce(cls, value: bool | AutoFund | str) -> AutoFund:
        if isinstance(value, AutoFund):
            return value
        if isinstance(value, bool):
            return cls.NAMED if value else cls.OFF
        return cls(value)


class TrioWallClock:
    """Unix ms that follow the Trio clock: a wall-clock base plus ``trio.current_time()`` elapsed.

    Under ``MockClock`` (autojump) the emulator's time jumps with the test, so a 60 s idle timeout or an
    hourly funding payment can be tested in milliseconds of real time.  Must be created inside ``trio.run``.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._base_ms = time.time_ns() // 1_000_000 if start_ms is None else start_ms
        self._base_t = trio.current_time()

    def __call__(self) -> int:
        return self._base_ms + int((trio.current_time() - self._base_t) * 1000)


@attrs.frozen
class AppStatistics:
    http_requests: int
    ws_connections: int
    ws_subscriptions: int
    ws_frames_queued: int
    ws_overflow_drops: int
    rate_limited: int
    #: Stream messages the engine handed to :meth:`EmulatorApp.publish` (routed or not; an ``orderUpdates``
    #: message for a user nobody is subscribed to is not built at all, so it is not counted).
    messages_published: int
    #: Actions refused by the per-address budget (``Too many cumulative requests …``).
    address_limited: int = 0


class _Answer(NamedTuple):
    """An HTTP-shaped answer: JSON for 200, plain text otherwise.  (A ``NamedTuple``, not a frozen attrs class:
    one is built per request, and that cost ~0.6 us more.)"""

    status: int
    payload: Any = None
    text: str = ""

    @classmethod
    def error(cls, status: int, text: str) -> _Answer:
        return cls(status, None, text)

    @classmethod
    def unprocessable(cls, detail: str) -> _Answer:
        return cls(422, None, f"{DESERIALIZE_ERROR}: {detail}")

    def mirror(self) -> str:
        """The WS post ``error`` payload: the HTTP status and body text."""
        return f"{self.status} {_REASONS.get(self.status, 'Error')}: {self.text}"


def _err(message: str) -> _Answer:
    return _Answer(200, {"status": "err", "response": message})


# ------------------------------------------------------------------------------------------ subscriptions
_COIN: Final = ("coin",)
_USER: Final = ("user",)
_SUB_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "allMids": (),
    "l2Book": _COIN,
    "trades": _COIN,
    "bbo": _COIN,
    "candle": ("coin", "interval"),
    "activeAssetCtx": _COIN,
    "activeAssetData": ("user", "coin"),
    "orderUpdates": _USER,
    "userEvents": _USER,
    "userFills": _USER,
    "userFundings": _USER,
    "userNonFundingLedgerUpdates": _USER,
    "webData2": _USER,
    "webData3": _USER,
    "notification": _USER,
    "twapStates": _USER,
    "clearinghouseState": _USER,
    "openOrders": _USER,
    "userTwapSliceFills": _USER,
    "userTwapHistory": _USER,
}


@attrs.frozen
class _Subscription:
    """A parsed subscription: its identity, the (channel, key) routes it receives, and its user if any."""

    ident: str
    sub: dict[str, Any]
    routes: tuple[tuple[str, str | None], ...]
    user: str | None
    aggregation: tuple[tuple[str, Any], ...] | None  # l2Book nSigFigs/mantissa, re-aggregated per message


def _parse_subscription(sub: Any) -> _Subscription | None:
    if not isinstance(sub, dict):
        return None
    kind = sub.get("type")
    fields = _SUB_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return None
    for name in fields:
        if not isinstance(sub.get(name), str) or not sub[name]:
            return None
    canonical = dict(sub)
    user: str | None = None
    if "user" in fields:
        user = sub["user"].lower()
        canonical["user"] = user
    coin: str | None = sub.get("coin")
    assert isinstance(kind, str)
    aggregation = None
    if kind == "allMids":
        routes: tuple[tuple[str, str | None], ...] = (("allMids", None),)
    elif kind == "candle":
        routes = (("candle", f"{coin}:{sub['interval']}"),)
    elif kind == "activeAssetCtx":
        routes = (("activeAssetCtx", coin), ("activeSpotAssetCtx", coin))
    elif kind == "userEvents":
        routes = (("user", user),)
    elif kind == "activeAssetData":
        routes = (("activeAssetData", f"{coin}:{user}"),)
    elif user is not None:
        routes = ((kind, user),)
    else:
        routes = ((kind, coin),)
        if kind == "l2Book":
            extra = tuple((k, sub[k]) for k in ("nSigFigs", "mantissa") if sub.get(k) is not None)
            aggregation = extra or None
    ident = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return _Subscription(ident, sub, routes, user, aggregation)


def venue_ack(sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription as the venue echoes it in ``subscriptionResponse``: an ``l2Book`` one with its
    aggregation defaults filled in (``nSigFigs``/``mantissa`` ``null``, a recorded ack shows), others as sent.
    Clients route acks by type and coin/user (``hyperliquid.ws.subscription_route``), so the extra keys are
    harmless to them."""
    if sub.get("type") == "l2Book":
        return {**sub, "nSigFigs": sub.get("nSigFigs"), "mantissa": sub.get("mantissa")}
    return sub


class _WsConnection:
    """One client connection: its bounded outbound queue, subscriptions and fault state."""

    def __init__(self, conn_id: int, ip: str, queue_size: int, opened_at: float) -> None:
        self.id = conn_id
        self.ip = ip
        self.out_send, self.out_recv = trio.open_memory_channel[str](queue_size)
        self.subs: dict[str, _Subscription] = {}
        self.frames_sent = 0
        self.opened_at = opened_at
        self.close_code: int | None = None
        self.close_reason = ""
        self.client_gone = False
        self.cancel_scope: trio.CancelScope | None = None
        self.stalled = False
        self.unstalled = trio.Event()
        self.held: str | None = None  # a data frame waiting to be swapped with the next (reorder fault)
        self.inflight_posts = 0
        self.nursery: trio.Nursery | None = None

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        if self.cancel_scope is not None:
            self.cancel_scope.cancel()


class EmulatorApp:
    """The ASGI callable plus the clock task that drives the engine; one per emulator.

    ``idle_timeout_s``: a connection that has not sent anything for this long is closed (venue: 60 s).
    ``ws_queue_size``: outbound frames a connection may have waiting before it is dropped (4096: several
    seconds of every market channel at once; a client further behind than that is not coming back).
    ``welcome_message``: send the legacy text frame ``Websocket connection established.`` on connect (off by
    default: the SDK ignores it, but strict JSON clients would not).
    """

    def __init__(
        self,
        engine: EngineAPI,
        *,
        info_error: type[Exception],
        clock_ms: Callable[[], int],
        faults: FaultPlan | None = None,
        log: FaultLog | None = None,
        limits: Limits | None = None,
        auto_fund: bool | AutoFund | str = AutoFund.NAMED,
        is_mainnet: bool = False,
        idle_timeout_s: float = 60.0,
        ws_queue_size: int = 4096,
        welcome_message: bool = False,
        tick_interval_s: float = 0.05,
    ) -> None:
        self.engine = engine
        self.faults = faults if faults is not None else FaultPlan()
        self.log = log if log is not None else FaultLog()
        self.limits = limits if limits is not None else Limits()
        self.auto_fund = AutoFund.coerce(auto_fund)
        self.is_mainnet = is_mainnet
        self.idle_timeout_s = idle_timeout_s
        self.ws_queue_size = ws_queue_size
        self.welcome_message = welcome_message
        self.tick_interval_s = tick_interval_s
        self.nonces = NonceRegistry()
        engine.address_rule = self.limits.address_rule()
        self._info_error = info_error
        self._clock_ms = clock_ms
        self._named: set[str] = set()
        rest = self.limits.rest_weight_per_minute
        wsm = self.limits.ws_messages_per_minute
        self._rest_buckets = TokenBuckets(rest, trio.current_time) if rest is not None else None
        self._ws_buckets = TokenBuckets(wsm, trio.current_time) if wsm is not None else None
        self._routes: dict[tuple[str, str | None], dict[tuple[int, str], tuple[_WsConnection, _Subscription]]] = {}
        engine.stream_routes = self._routes  # a route is in it exactly while some connection is subscribed to it
        self._connections: dict[int, _WsConnection] = {}
        self._ip_connections: Counter[str] = Counter()
        self._ip_subs: Counter[str] = Counter()
        self._ip_users: dict[str, Counter[str]] = {}
        self._next_conn_id = 0
        self._http_requests = 0
        self._frames_queued = 0
        self._overflow_drops = 0
        self._rate_limited = 0
        self._address_limited = 0
        self._published = 0
        #: Held while a batch larger than ``SLICE`` is applied in slices (:meth:`exchange`): other actions and
        #: clock ticks wait for it (fair, in arrival order), reads do not.
        self._engine_lock = trio.Lock()

    # ------------------------------------------------------------------------------------ public helpers
    def now_ms(self) -> int:
        return self._clock_ms()

    def fund(self, address: str) -> None:
        """Let ``address`` act (under ``AutoFund.NAMED`` it is then funded by the engine on first use)."""
        self._named.add(address.lower())

    def statistics(self) -> AppStatistics:
        return AppStatistics(
            http_requests=self._http_requests,
            ws_connections=len(self._connections),
            ws_subscriptions=sum(len(c.subs) for c in self._connections.values()),
            ws_frames_queued=self._frames_queued,
            ws_overflow_drops=self._overflow_drops,
            rate_limited=self._rate_limited,
            messages_published=self._published,
            address_limited=self._address_limited,
        )

    def _record(self, kind: FaultKind, **details: Any) -> None:
        self.log.record(self._clock_ms(), kind, **details)

    # ----------------------------------------------------------------------------------------- clock
    async def run_clock(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Advance the engine every ``tick_interval_s`` of Trio time and push what it produced."""
        task_status.started()
        while True:
            await trio.sleep(self.tick_interval_s)
            if self._engine_lock.locked():
                async with self._engine_lock:
                    self.tick()
            else:
                self.tick()

    def tick(self) -> None:
        self.engine.tick(self._clock_ms())
        self.publish(self.engine.drain_messages())

    def drop_ws_connections(self) -> int:
        """Close every open WebSocket connection now (code 1001, as the injected disconnect fault does);
        returns how many were closed.  For tests that need a disconnect at an exact point."""
        conns = list(self._connections.values())
        for conn in conns:
            self._record(FaultKind.WS_DISCONNECT, conn=conn.id, on_request=True)
            conn.close(1001, "injected disconnect")
        return len(conns)

    # ------------------------------------------------------------------------------------------- ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    def _client_ip(scope: Scope) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    # ------------------------------------------------------------------------------------------- HTTP
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._http_requests += 1
        path = scope.get("path", "")
        if path not in ("/info", "/exchange"):
            await _respond_text(send, 404, "Not Found")
            return
        if scope.get("method") != "POST":
            await _respond_text(send, 405, "Method Not Allowed")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _respond_text(send, 413, "Payload Too Large")
                return
            if not message.get("more_body", False):
                break
        answer = await self._http_answer(path, body, self._client_ip(scope), partial(self._hold_until_disconnect,
                                                                                     receive))
        if answer is not None:
            await _respond(send, answer)

    async def direct_http(self, method: str, path: str, body: bytes, client: tuple[str, int] | None,
                          wait_disconnect: Callable[[], Awaitable[None]]) -> tuple[int, bytes, bytes] | None:
        """The same as the ASGI app for one HTTP request whose body the server has read whole, without the ASGI
        messages: ``(status, content type, body)``, or ``None`` when the app does not answer (an
        accept-then-timeout hold that ran out; ``wait_disconnect`` returns when the client goes away).

        Why: ``_asgi_server`` calls this instead of building a scope, a ``receive``/``send`` pair and four
        message dicts per request (~6-8 us of the server's CPU per request, measured with a trivial app);
        hypercorn, and any other ASGI server, keeps using ``__call__``."""
        self._http_requests += 1
        if path not in ("/info", "/exchange"):
            return _as_http(_Answer.error(404, "Not Found"))
        if method != "POST":
            return _as_http(_Answer.error(405, "Method Not Allowed"))
        if len(body) > MAX_BODY_BYTES:
            return _as_http(_Answer.error(413, "Payload Too Large"))

        async def hold() -> None:
            with trio.move_on_after(self.faults.accept_then_timeout_hold_s):
                await wait_disconnect()

        answer = await self._http_answer(path, body, str(client[0]) if client else "unknown", hold)
        return None if answer is None else _as_http(answer)

    async def _http_answer(self, path: str, body: bytes | bytearray, ip: str,
                           hold: Callable[[], Awaitable[None]]) -> _Answer | None:
        """The answer to a ``POST`` of ``body`` to ``path`` (``/info`` or ``/exchange``) from ``ip``, or ``None``
        after ``hold`` (the accept-then-timeout fault: applied, never answered)."""
        is_action = path == "/exchange"
        if self._no_request_latency():
            fault = self._draw_request_fault(is_action=is_action, via="http")
        else:
            fault = await self._pre_request_faults(is_action=is_action, via="http")
        if isinstance(fault, _Answer):
            return fault
        try:
            if len(body) > _LARGE_BODY:
                # A large batch (the rest is sliced in ``exchange``): decoded in one step, without the separate
                # depth scan (see ``_decode_large``), then a checkpoint before signer recovery.
                collecting = gc.isenabled()
                gc.disable()
                try:
                    request = _decode_large(body)
                    await trio.lowlevel.checkpoint()
                finally:
                    if collecting:
                        gc.enable()
            else:
                request = _decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, safejson.TooDeepError) as exc:
            return _Answer.unprocessable(str(exc))
        if is_action:
            if self._needs_engine_lock(request):
                answer = await self.exchange(request, ip, charge_rest=True)
            else:  # the common case, without the coroutine
                answer = self.handle_exchange(request, ip, charge_rest=True)
        else:
            answer, _ = self.handle_info(request, ip, charge_rest=True)
        if fault is HttpFault.ACCEPT_THEN_TIMEOUT and answer.status == 200:
            self._record(FaultKind.ACCEPT_THEN_TIMEOUT, via="http", answer=answer.payload)
            await hold()
            return None
        return answer

    def _no_request_latency(self) -> bool:
        """True when the plan adds no latency before requests, so ``draw_http_latency()`` would return 0
        without drawing from the RNG: the request can then be handled without awaiting (see ``_on_post``)."""
        plan = self.faults
        return plan.http_latency_s <= 0.0 and plan.http_latency_jitter_s <= 0.0

    async def _pre_request_faults(self, *, is_action: bool, via: str) -> _Answer | HttpFault | None:
        """Latency, then maybe a 5xx/429 answer (returned) or the accept-then-timeout marker."""
        latency = self.faults.draw_http_latency()
        if latency > 0.0:
            self._record(FaultKind.HTTP_LATENCY, via=via, seconds=latency)
            await trio.sleep(latency)
        return self._draw_request_fault(is_action=is_action, via=via)

    def _draw_request_fault(self, *, is_action: bool, via: str) -> _Answer | HttpFault | None:
        """The latency-free part of :meth:`_pre_request_faults`: a 5xx/429 answer, the accept-then-timeout
        marker, or ``None``."""
        plan = self.faults
        fault = plan.draw_http_fault(is_action=is_action)
        if fault is HttpFault.SERVER_ERROR:
            status = plan.http_5xx_status
            self._record(FaultKind.HTTP_5XX, via=via, status=status)
            return _Answer.error(status, _REASONS.get(status, "Server Error"))
        if fault is HttpFault.RATE_LIMIT:
            self._record(FaultKind.HTTP_429, via=via)
            return _Answer.error(429, "Too many requests (injected fault)")
        return fault

    async def _hold_until_disconnect(self, receive: Receive) -> None:
        with trio.move_on_after(self.faults.accept_then_timeout_hold_s):
            while (await receive())["type"] != "http.disconnect":
                pass

    def _rest_allowed(self, ip: str, weight: int) -> _Answer | None:
        if self._rest_buckets is None or self._rest_buckets.try_take(ip, weight):
            return None
        self._rate_limited += 1
        self._record(FaultKind.RATE_LIMITED, ip=ip, weight=weight)
        return _Answer.error(
            429, f"Too many requests: IP weight limit of {self.limits.rest_weight_per_minute} per minute exceeded"
        )

    # ------------------------------------------------------------------------------------------- info
    def handle_info(self, request: Any, ip: str, *, charge_rest: bool) -> tuple[_Answer, str]:
        """Answer one info request (HTTP body or WS post payload); returns the answer and the request type."""
        if not isinstance(request, dict) or not isinstance(request.get("type"), str):
            return _Answer.unprocessable("missing field `type`"), ""
        req_type: str = request["type"]
        if charge_rest:
            limited = self._rest_allowed(ip, info_base_weight(req_type))
            if limited is not None:
                return limited, req_type
        user = request.get("user")
        if isinstance(user, str):
            self._named.add(user.lower())
        try:
            answer = self.engine.info(request, self._clock_ms())
        except self._info_error as exc:
            return _Answer.unprocessable(str(exc)), req_type
        if charge_rest and self._rest_buckets is not None:
            self._rest_buckets.charge(ip, info_extra_weight(req_type, answer))
        return _Answer(200, answer), req_type

    # --------------------------------------------------------------------------------------- exchange
    def _needs_engine_lock(self, request: Any) -> bool:
        """True when this action must go through :meth:`exchange`'s locked path: a sliced batch is being
        applied, or the action is itself a batch larger than ``SLICE``."""
        if self._engine_lock.locked():
            return True
        action = request.get("action") if isinstance(request, dict) else None
        return isinstance(action, dict) and batch_length(action) > SLICE

    async def exchange(self, request: Any, ip: str, *, charge_rest: bool) -> _Answer:
        """:meth:`handle_exchange`, except that a batch of more than ``SLICE`` items is applied a slice at a time
        with a checkpoint between slices, so reads from other clients (``/info``, WS info posts, market data)
        keep being served during a 10 000-order batch.  Other actions and ticks wait until it is done, in
        arrival order, so the batch is still one action to everybody else; it is shielded from cancellation
        (an accepted action is applied whole, as on the venue)."""
        if not self._needs_engine_lock(request):
            return self.handle_exchange(request, ip, charge_rest=charge_rest)
        async with self._engine_lock:
            with trio.CancelScope(shield=True):
                answer = await self._apply_in_slices(request, ip, charge_rest=charge_rest)
        return answer

    async def _apply_in_slices(self, request: Any, ip: str, *, charge_rest: bool) -> _Answer:
        admitted = self._admit_exchange(request, ip, charge_rest=charge_rest)
        if isinstance(admitted, _Answer):
            return admitted
        await trio.lowlevel.checkpoint()  # signer recovery hashed the whole batch: let others in
        steps = self.engine.action_steps(**admitted, slice_size=SLICE)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: dict[str, Any] = done.value
                break
            self.publish(self.engine.drain_messages())
            await trio.lowlevel.checkpoint()
        self.publish(self.engine.drain_messages())
        return _Answer(200, result)

    def handle_exchange(self, request: Any, ip: str, *, charge_rest: bool) -> _Answer:
        """Verify and apply one action (HTTP body or WS post payload), all at once (see :meth:`exchange`)."""
        admitted = self._admit_exchange(request, ip, charge_rest=charge_rest)
        if isinstance(admitted, _Answer):
            return admitted
        result = self.engine.action(**admitted)
        self.publish(self.engine.drain_messages())
        return _Answer(200, result)

    def _admit_exchange(self, request: Any, ip: str, *, charge_rest: bool) -> _Answer | dict[str, Any]:
        """Everything before the engine applies an action: parse, IP weight, signer recovery, expiry, the
        authorization layer (``_authz.py``), the address budget, the nonce.  A refusal (an ``_Answer``) or the
        keyword arguments of ``Engine.action``."""
        if not isinstance(request, dict):
            return _Answer.unprocessable("expected an object")
        action = request.get("action")
        nonce = request.get("nonce")
        signature = request.get("signature")
        vault = request.get("vaultAddress")
        expires_after = request.get("expiresAfter")
        if not isinstance(action, dict) or not isinstance(action.get("type"), str):
            return _Answer.unprocessable("missing field `action` (an object with a `type`)")
        if type(nonce) is not int or not 0 <= nonce < 1 << 64:
            return _Answer.unprocessable("missing field `nonce` (an unsigned 64-bit integer)")
        if signature is None:
            return _Answer.unprocessable("missing field `signature`")
        if vault is not None and not isinstance(vault, str):
            return _Answer.unprocessable("`vaultAddress` must be null or an address string")
        if expires_after is not None and (type(expires_after) is not int or not 0 <= expires_after < 1 << 64):
            return _Answer.unprocessable("`expiresAfter` must be null or an unsigned 64-bit integer")
        if charge_rest:
            limited = self._rest_allowed(ip, exchange_weight(action))
            if limited is not None:
                return limited
        action_type: str = action["type"]
        user_signed = action_type in USER_SIGNED_ACTION_TYPES
        try:
            if user_signed:
                signer = recover_user_signed_signer(action, signature, self.is_mainnet)
            else:
                signer = recover_l1_signer(action, vault, nonce, expires_after, self.is_mainnet, signature)
        except (ProtocolError, ValueError, TypeError, OverflowError):
            return _err("Unable to recover signer.")
        signer = signer.lower()
        now = self._clock_ms()
        if expires_after is not None and not user_signed and expires_after < now:
            return _err(f"Action already expired: expiresAfter {expires_after} < now {now}")
        if user_signed:
            field = _TIME_FIELD.get(action_type, "nonce")
            inner = action.get(field)
            if inner != nonce:
                return _err(f"Nonce in action {inner} does not match request nonce {nonce}.")
        if (
            self.auto_fund is AutoFund.NAMED
            and signer not in self._named
            and self.engine.acting_user(signer, None) is None
        ):
            return _err(f"User or API Wallet {signer} does not exist.")
        vault_address = vault.lower() if isinstance(vault, str) else None
        # who may act for whom, then the address budget, before the nonce: a refused action leaves its nonce
        # unused (see _authz.py, _ratelimit.py)
        denied = self.engine.authorization_refusal(signer, vault_address, action, now)
        if denied is not None:
            return _err(denied)
        refusal = self.engine.address_refusal(signer, vault_address, action, now)
        if refusal is not None:
            self._address_limited += 1
            self._record(FaultKind.RATE_LIMITED, signer=signer, address_budget=refusal)
            return _err(refusal)
        try:
            self.nonces.accept(signer, nonce, now)
        except NonceRejected as exc:
            return _err(str(exc))
        return {"signer": signer, "action": action, "nonce": nonce, "vault_address": vault_address, "now_ms": now,
                "user_signed": user_signed}

    # ----------------------------------------------------------------------------------------- publish
    def publish(self, messages: Iterable[StreamMessageLike]) -> None:
        """Route engine stream messages to subscribed connections (never blocks; slow clients are dropped)."""
        now: int | None = None
        for message in messages:
            self._published += 1
            targets = self._routes.get((message.channel, message.key))
            if not targets:
                continue
            plain: str | None = None
            aggregated: dict[tuple[tuple[str, Any], ...], str] = {}
            for conn, sub in list(targets.values()):
                if sub.aggregation is None:
                    if plain is None:
                        plain = _encode({"channel": message.channel, "data": message.data}).decode()
                    frame = plain
                else:
                    cached = aggregated.get(sub.aggregation)
                    if cached is None:
                        if now is None:
                            now = self._clock_ms()
                        data = self.engine.info({"type": "l2Book", "coin": sub.sub["coin"], **dict(sub.aggregation)},
                                                now)
                        cached = aggregated[sub.aggregation] = _encode({"channel": "l2Book", "data": data}).decode()
                    frame = cached
                self._push_data(conn, frame)

    def _push_data(self, conn: _WsConnection, frame: str) -> None:
        """Queue a stream data frame, applying the duplicate / delay / reorder faults."""
        plan = self.faults
        if not plan.any_stream_fault:
            self._push(conn, frame)
            return
        if plan.draw_delay() and conn.nursery is not None:
            self._record(FaultKind.WS_DELAY, conn=conn.id, seconds=plan.ws_delay_s, frame=frame[:200])
            conn.nursery.start_soon(self._push_later, conn, frame, plan.ws_delay_s)
            return
        if conn.held is not None:
            held, conn.held = conn.held, None
            self._push(conn, frame)
            self._push(conn, held)
            return
        if plan.draw_reorder():
            self._record(FaultKind.WS_REORDER, conn=conn.id, frame=frame[:200])
            conn.held = frame
            return
        self._push(conn, frame)
        if plan.draw_duplicate():
            self._record(FaultKind.WS_DUPLICATE, conn=conn.id, frame=frame[:200])
            self._push(conn, frame)

    async def _push_later(self, conn: _WsConnection, frame: str, delay: float) -> None:
        await trio.sleep(delay)
        self._push(conn, frame)

    def _push(self, conn: _WsConnection, frame: str) -> None:
        if conn.close_code is not None:
            return
        try:
            conn.out_send.send_nowait(frame)
        except trio.WouldBlock:
            self._overflow_drops += 1
            self._record(FaultKind.WS_QUEUE_OVERFLOW, conn=conn.id, ip=conn.ip, queue_size=self.ws_queue_size)
            logger.warning("emulator: dropping WS connection %d (%s): send queue of %d frames overflowed",
                           conn.id, conn.ip, self.ws_queue_size)
            conn.close(1008, "send queue overflow")
            return
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return
        self._frames_queued += 1

    # -------------------------------------------------------------------------------------- websocket
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        ip = self._client_ip(scope)
        cap = self.limits.ws_connections
        if cap is not None and self._ip_connections[ip] >= cap:
            self._record(FaultKind.RATE_LIMITED, ip=ip, ws_connections=cap)
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        self._next_conn_id += 1
        conn = _WsConnection(self._next_conn_id, ip, self.ws_queue_size, trio.current_time())
        self._connections[conn.id] = conn
        self._ip_connections[ip] += 1
        try:
            async with trio.open_nursery() as nursery:
                conn.cancel_scope = nursery.cancel_scope
                conn.nursery = nursery
                nursery.start_soon(self._ws_writer, conn, send)
                nursery.start_soon(self._ws_fault_monitor, conn)
                if self.welcome_message:
                    self._push(conn, WELCOME_TEXT)
                await self._ws_reader(conn, receive)
                nursery.cancel_scope.cancel()
        finally:
            self._forget(conn)
        if conn.close_code is not None and not conn.client_gone:
            await send({"type": "websocket.close", "code": conn.close_code, "reason": conn.close_reason})

    def _forget(self, conn: _WsConnection) -> None:
        for sub in list(conn.subs.values()):
            self._remove_subscription(conn, sub)
        self._connections.pop(conn.id, None)
        self._ip_connections[conn.ip] -= 1
        if self._ip_connections[conn.ip] <= 0:
            del self._ip_connections[conn.ip]
        conn.out_send.close()

    async def _ws_writer(self, conn: _WsConnection, send: Send) -> None:
        async for frame in conn.out_recv:
            if not await self._ws_send_frame(conn, send, frame):
                return
            # Drain what is already queued without a checkpoint per frame, so a server that buffers sends
            # (ours does) writes the burst - e.g. the answers to a batch of posts read at once - in one syscall.
            while True:
                try:
                    queued = conn.out_recv.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                if not await self._ws_send_frame(conn, send, queued):
                    return

    async def _ws_send_frame(self, conn: _WsConnection, send: Send, frame: str) -> bool:
        """One outbound frame through the WS faults; False once the connection is closed by a fault."""
        plan = self.faults
        while conn.stalled:
            await conn.unstalled.wait()
        if plan.ws_latency_s > 0.0:
            self._record(FaultKind.WS_LATENCY, conn=conn.id, seconds=plan.ws_latency_s)
            await trio.sleep(plan.ws_latency_s)
        conn.frames_sent += 1
        nth = plan.ws_disconnect_at_message
        if nth is not None and conn.frames_sent >= nth:
            self._record(FaultKind.WS_DISCONNECT, conn=conn.id, at_message=conn.frames_sent)
            conn.close(1001, "injected disconnect")
            return False
        await send({"type": "websocket.send", "text": frame})
        return True

    async def _ws_fault_monitor(self, conn: _WsConnection) -> None:
        """Time-based WS faults (disconnect every N s, periodic stalls), re-read from the plan every 50 ms so
        a test can switch them on for a live connection."""
        plan = self.faults
        stall_index = 0
        while True:
            await trio.sleep(0.05)
            age = trio.current_time() - conn.opened_at
            every = plan.ws_disconnect_every_s
            if every is not None and age >= every:
                self._record(FaultKind.WS_DISCONNECT, conn=conn.id, after_s=every)
                conn.close(1001, "injected disconnect")
                return
            stall_every = plan.ws_stall_every_s
            if stall_every is None or plan.ws_stall_duration_s <= 0.0:
                continue
            index = int(age // stall_every)
            if index > stall_index and not conn.stalled:
                stall_index = index
                self._record(FaultKind.WS_STALL, conn=conn.id, seconds=plan.ws_stall_duration_s)
                conn.stalled = True
                conn.unstalled = trio.Event()
                await trio.sleep(plan.ws_stall_duration_s)
                conn.stalled = False
                conn.unstalled.set()

    async def _ws_reader(self, conn: _WsConnection, receive: Receive) -> None:
        """Read client frames until disconnect or ``idle_timeout_s`` without one.

        One idle scope per connection whose deadline is pushed forward before ``receive()``, rather than a
        ``move_on_after`` per frame (half the cost: ~3 µs vs ~7 µs per frame, measured).  Everything done for a
        frame between receives is synchronous, so the deadline can only fire inside a ``receive()``.  Setting
        the deadline re-sorts trio's deadline heap (~3% of the server's CPU under a post burst), so it is pushed
        at most every ``_IDLE_PUSH_S``, and by that much extra: the close comes 60 s to 60.25 s after the last
        frame, never early."""
        pushed_at = -math.inf
        with trio.CancelScope() as idle:
            while True:
                now = trio.current_time()
                if now - pushed_at >= _IDLE_PUSH_S:
                    pushed_at = now
                    idle.deadline = now + self.idle_timeout_s + _IDLE_PUSH_S
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    conn.client_gone = True
                    return
                if message["type"] != "websocket.receive":
                    continue
                text = message.get("text")
                if text is None:
                    raw = message.get("bytes") or b""
                    try:
                        text = raw.decode()
                    except UnicodeDecodeError:
                        text = repr(raw[:200])
                deferred = self._on_ws_message(conn, text)
                if deferred is not None:
                    # an action that must wait for (or is) a sliced batch: this connection's later frames wait
                    # behind it, so its actions keep their order; other connections are served meanwhile
                    await deferred()
        if idle.cancelled_caught:
            self._record(FaultKind.WS_IDLE_CLOSE, conn=conn.id, idle_s=self.idle_timeout_s)
            conn.close(1000, "idle timeout")

    def _ws_error(self, conn: _WsConnection, text: str) -> None:
        self._push(conn, _encode({"channel": "error", "data": text}).decode())

    def _on_ws_message(self, conn: _WsConnection, text: str) -> Callable[[], Awaitable[None]] | None:
        """Handle one client frame; returns the rest of its handling when that must wait (see ``_on_post``)."""
        if self._ws_buckets is not None and not self._ws_buckets.try_take(conn.ip, 1):
            self._rate_limited += 1
            self._ws_error(conn, f"Cannot send more than {self.limits.ws_messages_per_minute} messages per minute.")
            return None
        try:
            request = _decode(text)
        except (msgspec.DecodeError, safejson.TooDeepError):
            request = None
        method = request.get("method") if isinstance(request, dict) else None
        if method == "ping":
            self._push(conn, PONG_FRAME)
        elif method in ("subscribe", "unsubscribe"):
            assert isinstance(request, dict)
            self._on_subscription(conn, method, request.get("subscription"))
        elif method == "post":
            assert isinstance(request, dict)
            return self._on_post(conn, request, text)
        else:
            self._ws_error(conn, f"Error parsing JSON into valid websocket request: {text[:1000]}")
        return None

    def _on_subscription(self, conn: _WsConnection, method: str, raw: Any) -> None:
        sub = _parse_subscription(raw)
        shown = json.dumps(raw, separators=(",", ":"))[:1000]
        if sub is None:
            self._ws_error(conn, f"Invalid subscription: {shown}")
            return
        if method == "unsubscribe":
            existing = conn.subs.get(sub.ident)
            if existing is None:
                self._ws_error(conn, f"Already unsubscribed: {shown}")
                return
            self._remove_subscription(conn, existing)
            self._push(conn, _encode({"channel": "subscriptionResponse",
                                      "data": {"method": "unsubscribe", "subscription": venue_ack(raw)}}).decode())
            return
        if sub.ident in conn.subs:
            self._ws_error(conn, f"Already subscribed: {shown}")
            return
        cap = self.limits.ws_subscriptions
        if cap is not None and self._ip_subs[conn.ip] >= cap:
            self._ws_error(conn, f"Cannot subscribe to more than {cap} channels.")
            return
        users = self._ip_users.setdefault(conn.ip, Counter())
        user_cap = self.limits.ws_users
        if sub.user is not None and sub.user not in users and user_cap is not None and len(users) >= user_cap:
            self._ws_error(conn, f"Cannot track more than {user_cap} total users.")
            return
        if sub.user is not None:
            users[sub.user] += 1
            self._named.add(sub.user)
        self._ip_subs[conn.ip] += 1
        conn.subs[sub.ident] = sub
        for route in sub.routes:
            self._routes.setdefault(route, {})[(conn.id, sub.ident)] = (conn, sub)
        self._push(conn, _encode({"channel": "subscriptionResponse",
                                  "data": {"method": "subscribe", "subscription": venue_ack(raw)}}).decode())
        for channel, data in self.engine.subscription_snapshot(raw, self._clock_ms()):
            self._push(conn, _encode({"channel": channel, "data": data}).decode())

    def _remove_subscription(self, conn: _WsConnection, sub: _Subscription) -> None:
        conn.subs.pop(sub.ident, None)
        for route in sub.routes:
            targets = self._routes.get(route)
            if targets is not None:
                targets.pop((conn.id, sub.ident), None)
                if not targets:
                    del self._routes[route]
        self._ip_subs[conn.ip] -= 1
        if self._ip_subs[conn.ip] <= 0:
            del self._ip_subs[conn.ip]
        if sub.user is not None:
            users = self._ip_users.get(conn.ip)
            if users is not None:
                users[sub.user] -= 1
                if users[sub.user] <= 0:
                    del users[sub.user]
                if not users:
                    del self._ip_users[conn.ip]

    # ------------------------------------------------------------------------------------------- post
    def _on_post(self, conn: _WsConnection, request: dict[str, Any], text: str,
                 ) -> Callable[[], Awaitable[None]] | None:
        post_id = request.get("id")
        body = request.get("request")
        kind = body.get("type") if isinstance(body, dict) else None
        if type(post_id) is not int or kind not in ("info", "action") or not isinstance(body, dict):
            self._ws_error(conn, f"Error parsing JSON into valid websocket request: {text[:1000]}")
            return None
        cap = self.limits.ws_inflight_posts
        if cap is not None and conn.inflight_posts >= cap:
            self._ws_error(conn, f"too many pending post requests id={post_id}")
            return None
        payload = body.get("payload")
        if kind == "action" and self._no_request_latency() and self._needs_engine_lock(payload):
            fault = self._draw_request_fault(is_action=True, via="ws")

            async def locked() -> None:
                answer = None if isinstance(fault, _Answer) else await self.exchange(payload, conn.ip,
                                                                                     charge_rest=False)
                self._answer_post(conn, post_id, kind, payload, fault, answer)

            return locked
        if self._no_request_latency():
            # Nothing to wait for, so answer here in the reader: a task per post (spawn, schedule, a
            # coroutine that never suspends) cost ~15-20 µs of a post's ~400 µs of server CPU, and the answer
            # is queued exactly as the task would queue it (after the engine's stream messages).
            fault = self._draw_request_fault(is_action=kind == "action", via="ws")
            self._answer_post(conn, post_id, kind, payload, fault)
            return None
        assert conn.nursery is not None
        conn.inflight_posts += 1
        conn.nursery.start_soon(self._ws_post, conn, post_id, kind, payload)
        return None

    async def _ws_post(self, conn: _WsConnection, post_id: int, kind: str, payload: Any) -> None:
        """A post that waits (injected latency) first; it counts toward ``ws_inflight_posts`` meanwhile."""
        try:
            fault = await self._pre_request_faults(is_action=kind == "action", via="ws")
            answer = None
            if kind == "action" and not isinstance(fault, _Answer) and self._needs_engine_lock(payload):
                answer = await self.exchange(payload, conn.ip, charge_rest=False)
            self._answer_post(conn, post_id, kind, payload, fault, answer)
        finally:
            conn.inflight_posts -= 1

    def _answer_post(
        self, conn: _WsConnection, post_id: int, kind: str, payload: Any, fault: _Answer | HttpFault | None,
        applied: _Answer | None = None,
    ) -> None:
        """Apply one post (unless ``fault`` answers it, or it was ``applied`` already) and queue its ``post``
        answer frame."""
        is_action = kind == "action"
        if isinstance(fault, _Answer):
            response: dict[str, Any] = {"type": "error", "payload": fault.mirror()}
        else:
            if applied is not None:
                answer, req_type = applied, ""
            elif is_action:
                answer = self.handle_exchange(payload, conn.ip, charge_rest=False)
                req_type = ""
            else:
                answer, req_type = self.handle_info(payload, conn.ip, charge_rest=False)
            if answer.status != 200:
                response = {"type": "error", "payload": answer.mirror()}
            elif is_action:
                if fault is HttpFault.ACCEPT_THEN_TIMEOUT:
                    self._record(FaultKind.ACCEPT_THEN_TIMEOUT, via="ws", id=post_id, answer=answer.payload)
                    return
                response = {"type": "action", "payload": answer.payload}
            else:
                response = {"type": "info", "payload": {"type": req_type, "data": answer.payload}}
        self._push(conn, _encode({"channel": "post", "data": {"id": post_id, "response": response}}).decode())


_JSON: Final = b"application/json"
_TEXT: Final = b"text/plain; charset=utf-8"


def _as_http(answer: _Answer) -> tuple[int, bytes, bytes]:
    """``(status, content type, body)``: JSON for 200, plain text otherwise (what :func:`_respond` sends)."""
    if answer.status == 200:
        return 200, _JSON, _encode(answer.payload)
    return answer.status, _TEXT, answer.text.encode()


async def _respond(send: Send, answer: _Answer) -> None:
    if answer.status == 200:
        await _respond_bytes(send, 200, _encode(answer.payload), b"application/json")
    else:
        await _respond_text(send, answer.status, answer.text)


async def _respond_text(send: Send, status: int, text: str) -> None:
    await _respond_bytes(send, status, text.encode(), b"text/plain; charset=utf-8")


async def _respond_bytes(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
