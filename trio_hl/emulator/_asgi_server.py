"""A small ASGI server on Trio sockets: HTTP/1.1 (keep-alive, chunked request bodies) and WebSocket (RFC 6455).

Why not hypercorn: under load it was most of the emulator's CPU.  With the emulator in its own process and
20 000 signed orders, py-spy put hypercorn + h11 + wsproto at ~73% of the server's time per HTTP request and
~35% per WebSocket ``post`` (``benchmarks/bench_emulator.py`` has the figures), so the emulator - whose job
is to never be the bottleneck of a measurement - capped out near 1 000 orders/s over HTTP.  This server
speaks exactly the subset the emulator needs, with one receive and one send syscall per request:

* HTTP/1.1 and 1.0; keep-alive (``Connection: close`` honoured); ``Content-Length`` or chunked request
  bodies; ``Expect: 100-continue``; requests processed in order (pipelining works, one at a time).
  Response bodies are buffered until ``more_body`` is false and sent with a ``Content-Length`` (the emulator
  never streams a response).
* WebSocket version 13 without extensions or subprotocols: masked client frames required, fragmentation,
  ping -> pong, the close handshake, strict UTF-8 text, a message size cap (close 1009).
* Malformed requests get 400/413/431/501/505 and the connection closed; a malformed frame closes the
  WebSocket with 1002/1007/1009 - nothing a peer sends can crash the server or another connection.

Hostile peers (:class:`~trio_hl.emulator._server_limits.ServerLimits` has every bound and its default):

* Memory: bodies, heads and WebSocket messages are refused as soon as they pass their caps, before the rest is
  read; connections past ``max_connections`` get 503.  Chunk framing counts too (a body sent in 1-byte
  chunks may take at most twice the body cap on the wire).
* Time: idle, request and send timeouts on Trio's clock, checked by one task per server (see ``ServerLimits``).
* Parsing is strict (RFC 9112): a bare CR or LF, a control byte (NUL...) anywhere in the head, or an HTTP/1.1
  request without exactly one ``Host`` is a 400, and the connection is closed.  Refusals are answered, our
  side is shut down and the rest of the client's bytes are read and dropped for up to a second (so the
  client reads the answer instead of a reset).
* The event loop: no peer makes the server run long without a checkpoint - buffered requests, frames and
  chunks are handed over at most ``_YIELD_EVERY``/``_WS_YIELD_EVERY``/``_CHUNKS_PER_CHECKPOINT`` at a time,
  and a large frame is unmasked in ``_UNMASK_SLICE`` slices (``bytes.translate`` per mask byte, C speed:
  ~0.3 ms per slice measured) with a checkpoint between them.

The application stays a plain ASGI 3 app: ``serve_emulator(server="hypercorn")`` runs the same app under
hypercorn, and tests run the protocol suite against both.  Not supported (the emulator does not need them):
lifespan events, HTTP/2, response streaming, TLS (put a proxy in front).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import logging
import math
import re
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import unquote

import attrs
import trio

from trio_hl.emulator._server_limits import ServerLimits

__all__ = ["ASGIApp", "AsgiServer", "DirectHTTP", "ServerLimits", "ServerStatistics", "serve_asgi"]

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

#: ``direct_http(method, path, body, client, wait_disconnect) -> (status, content_type, body) | None``: an app's
#: entry point for one plain HTTP request whose body was read whole, answering with the response's status,
#: ``Content-Type`` and body (``None``: no answer, close the connection).  ``wait_disconnect()`` returns once the
#: client has gone (whatever it still sends is dropped; the connection then serves no further request).  Why it
#: exists: the ASGI scope, the ``receive``/``send`` pair and the message dicts cost ~6-8 us per request, a tenth
#: of what a plain request costs this server (measured with a trivial app).
DirectHTTP = Callable[
    [str, str, bytes, "tuple[str, int] | None", Callable[[], Awaitable[None]]],
    Awaitable["tuple[int, bytes, bytes] | None"],
]

log = logging.getLogger("trio_hl.emulator.server")

#: How long a closing WebSocket waits for its last frames to drain and for the client's close frame before
#: dropping the TCP connection.
WS_CLOSE_WAIT_S: Final = 1.0
#: Outbound WebSocket bytes queued beyond this make ``send`` wait (a client that does not read pushes back on
#: the app, whose own queue then decides whether to drop it).
WS_HIGH_WATER_BYTES: Final = 256 * 1024
#: After a refusal the server shuts its side and drops what the client still sends for up to this long (or
#: ``_LINGER_BYTES``), so the client reads the answer instead of a connection reset (RFC 9112 9.6).
_LINGER_S: Final = 1.0
_LINGER_BYTES: Final = 4 * 1024 * 1024
#: Connections past the cap being answered 503 at once (each lingers like a refusal); more are dropped bare.
_MAX_OVER_CAP_ANSWERS: Final = 64
_RECV: Final = 65536
_YIELD_EVERY: Final = 16
#: WebSocket frames handed over from the buffer between two forced checkpoints (larger than ``_YIELD_EVERY``:
#: a window of posts answered between two checkpoints leaves in one write).
_WS_YIELD_EVERY: Final = 256
#: Chunks (or trailer lines) of one chunked body parsed between two checkpoints: a body of 1-byte chunks read
#: in 64 KiB gulps held the loop ~1 s per MiB of wire without one (~2 us per chunk).
_CHUNKS_PER_CHECKPOINT: Final = 256
#: Frames larger than this are unmasked slice by slice with a checkpoint between slices (a 1 MiB frame took
#: 2-4 ms in one piece; 15 MiB, before the message cap, 70-140 ms).  A multiple of 4 (the mask's period).
_UNMASK_SLICE: Final = 256 * 1024
#: Below this the one-big-int XOR is cheaper than four ``translate`` passes (measured: 0.7 vs 1.4 us at 200 B,
#: 3.9 vs 3.0 us at 2 KB).
_UNMASK_SMALL: Final = 1024
_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_REASONS: Final = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 400: "Bad Request", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Payload Too Large", 422: "Unprocessable Entity", 426: "Upgrade Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: Control bytes a request head may not hold (RFC 9110 5.5: field values are VCHAR, obs-text, SP and HTAB;
#: CR and LF only as the CRLF ending each line).
_CTL: Final = bytes(range(0, 9)) + bytes(range(10, 32)) + b"\x7f"
#: A line ending that is not CRLF: seen in an incomplete head, it would never complete (RFC 9112 2.2 lets a
#: server refuse bare CR and LF; a bare-LF request used to wait forever for its CRLFCRLF).
_BARE_EOL: Final = re.compile(rb"\r[^\n]|(?<!\r)\n")
_LEADING_CRLF: Final = re.compile(rb"(?:\r\n)*")
#: A chunk-size line (RFC 9112 7.1): hex size (leading zeros allowed, at most 8 significant digits),
#: optional whitespace and extensions, CRLF.
_CHUNK_LINE: Final = re.compile(rb"[ \t]*0*([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?\r\n")

_TOKEN_CHARS: Final = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
#: A well-formed head in one C-level match (the common case): a token method, a target without spaces, HTTP/1.0
#: or 1.1, then header lines each a token name and a colon.  Anything it does not match goes through the
#: line-by-line parser below, which says what is wrong.  Control bytes are refused before either runs.
_WELL_FORMED_HEAD: Final = re.compile(
    rb"(" + _TOKEN_CHARS + rb"+) ([^ \r\n]+) (HTTP/1\.[01])((?:\r\n" + _TOKEN_CHARS + rb"+:[^\r\n]*)*)\Z")
_HEADER_FIELD: Final = re.compile(rb"\r\n(" + _TOKEN_CHARS + rb"+):([^\r\n]*)")
_METHODS: Final = {m.encode(): m for m in ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")}


def _parse_head(head: bytes) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]]]:
    """``(method, target, version, headers)`` of a request head (without its final blank line); header names
    lower-cased, values without surrounding blanks.  :class:`HTTPError` 400/505 for a malformed one."""
    crlf = head.count(b"\r\n")
    if len(head.translate(None, _CTL)) != len(head) - 2 * crlf:
        if head.count(b"\n") != crlf or head.count(b"\r") != crlf:
            raise HTTPError(400, "bare CR or LF in the request head (lines end with CRLF)")
        raise HTTPError(400, "control character in the request head")
    match = _WELL_FORMED_HEAD.match(head)
    if match is not None:
        raw_method, target, version, fields = match.groups()
        headers = [(name.lower(), value.strip(b" \t")) for name, value in _HEADER_FIELD.findall(fields)]
    else:
        raw_method, target, version, headers = _parse_head_strictly(head)
    # RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host.
    if version == b"HTTP/1.1":
        hosts = 0
        for name, _ in headers:
            if name == b"host":
                hosts += 1
        if hosts != 1:
            raise HTTPError(400, "missing Host header" if not hosts else "more than one Host header")
    method = _METHODS.get(raw_method)
    return method if method is not None else raw_method.decode("ascii"), target, version, headers


def _parse_head_strictly(head: bytes) -> tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]]:
    """The line-by-line parser: what :data:`_WELL_FORMED_HEAD` did not match, with the reason it is refused."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HTTPError(400, "malformed request line")
    raw_method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            raise HTTPError(505, "HTTP version not supported")
        raise HTTPError(400, "malformed request line")
    if not _is_token(raw_method):
        raise HTTPError(400, "malformed method")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _is_token(name):
            raise HTTPError(400, "malformed header")
        headers.append((name.lower(), value.strip(b" \t")))
    return raw_method, target, version, headers


# WebSocket opcodes and close codes.
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_PROTOCOL_ERROR, _INVALID_DATA, _TOO_BIG, _ABNORMAL = 1002, 1007, 1009, 1006


class HTTPError(Exception):
    """A request the server refuses before the app sees it; answered with ``status`` and then closed."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


class _WebSocketError(Exception):
    """A peer broke the WebSocket protocol; the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class _PeerGone(Exception):
    """The TCP connection ended (EOF or a socket error)."""


@attrs.frozen
class ServerStatistics:
    """The server's load and what it has refused so far (each refusal is also logged at DEBUG: a hostile
    client must not flood the log).

    ``buffered_bytes``: request bytes read and not yet handed to the app, over all connections (a stalled body
    counts here until its request timeout); ``over_capacity``: connections answered 503 (or dropped) past
    ``max_connections``; ``timed_out``: connections closed by a timeout; ``refused``: requests answered
    4xx/5xx before the app saw them (of which ``too_large`` were 413/431); ``ws_protocol_errors``: WebSockets
    closed for a protocol violation or a message over the cap."""

    open_connections: int
    buffered_bytes: int
    accepted: int
    over_capacity: int
    timed_out: int
    refused: int
    too_large: int
    ws_protocol_errors: int


async def serve_asgi(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    limits: ServerLimits | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``task_status.started(bound_port)``.
    (:class:`AsgiServer` is the same with :meth:`AsgiServer.statistics`.)"""
    await AsgiServer(app, limits).serve(host, port, task_status=task_status)


class AsgiServer:
    """One listening socket and its connections, within :class:`ServerLimits`.

    One listening socket (the first address ``host`` resolves to, like hypercorn's bind); each connection is a
    task in :meth:`serve`'s nursery, so cancelling the caller closes every connection.

    ``direct_http``: when given, plain HTTP requests go to it instead of through the ASGI messages (the app's
    own entry point for them: see :data:`DirectHTTP`); WebSockets always go through the ASGI app."""

    def __init__(self, app: ASGIApp, limits: ServerLimits | None = None, *,
                 direct_http: DirectHTTP | None = None) -> None:
        self.app = app
        self.direct_http = direct_http
        self.limits = limits if limits is not None else ServerLimits()
        self.connections: set[_Connection] = set()
        self._answering_over_cap = 0
        self.accepted = 0
        self.over_capacity = 0
        self.timed_out = 0
        self.refused = 0
        self.too_large = 0
        self.ws_protocol_errors = 0

    def statistics(self) -> ServerStatistics:
        return ServerStatistics(
            open_connections=len(self.connections), buffered_bytes=sum(len(c.buf) for c in self.connections),
            accepted=self.accepted, over_capacity=self.over_capacity,
            timed_out=self.timed_out, refused=self.refused, too_large=self.too_large,
            ws_protocol_errors=self.ws_protocol_errors,
        )

    async def serve(self, host: str, port: int, *,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``task_status.started(bound_port)``."""
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setblocking(False)
            listener.bind(address)
            listener.listen(1024)
            bound_port: int = listener.getsockname()[1]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._expire_forever)
                task_status.started(bound_port)
                await self._accept_forever(listener, nursery)
        finally:
            trio.lowlevel.notify_closing(listener)
            listener.close()

    async def _accept_forever(self, listener: socket.socket, nursery: trio.Nursery) -> None:
        while True:
            await trio.lowlevel.wait_readable(listener)
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                continue
            except OSError as exc:  # out of file descriptors, a connection reset before accept...
                log.warning("accept failed: %s", exc)
                await trio.sleep(0.05)
                continue
            try:
                sock.setblocking(False)
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                sock.close()
                continue
            if len(self.connections) >= self.limits.max_connections:
                self.over_capacity += 1
                log.debug("connection refused: %d open (max_connections)", len(self.connections))
                if self._answering_over_cap < _MAX_OVER_CAP_ANSWERS:
                    self._answering_over_cap += 1
                    nursery.start_soon(self._answer_over_capacity, sock)
                else:
                    sock.close()
                continue
            self.accepted += 1
            connection = _Connection(self, sock)
            self.connections.add(connection)  # here, not in the task: the cap must count it at once
            nursery.start_soon(connection.run)

    async def _answer_over_capacity(self, sock: socket.socket) -> None:
        """503 right away (without reading the request: it costs nothing to answer), then linger."""
        try:
            body = b"too many connections\n"
            head = _response_head(503, [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"retry-after", b"1")], len(body), keep_alive=False)
            try:
                sock.send(head + body)  # ~150 bytes into an empty socket buffer: never blocks
            except OSError:
                return
            await _linger(sock)
        finally:
            self._answering_over_cap -= 1
            trio.lowlevel.notify_closing(sock)
            sock.close()

    async def _expire_forever(self) -> None:
        """Close connections past their deadline (each connection only stores the deadline of what it is
        waiting for: one float per request on the hot path, no cancel scope or timer per request)."""
        interval = self.limits.check_interval_s()
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for connection in self.connections:
                if connection.deadline <= now:
                    connection.expire()


async def _linger(sock: socket.socket) -> None:
    """Shut our side (the client sees the answer, then EOF) and drop what it still sends, briefly."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    scratch = bytearray(_RECV)
    dropped = 0
    with trio.move_on_after(_LINGER_S):
        while dropped < _LINGER_BYTES:
            try:
                n = sock.recv_into(scratch)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                continue
            except OSError:
                return
            if not n:
                return
            dropped += n


def _address(sockname: Any) -> tuple[str, int] | None:
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return str(sockname[0]), int(sockname[1])
    return None


class _Connection:
    """One TCP connection: a sequence of HTTP requests, possibly ending in a WebSocket.

    I/O goes straight to the non-blocking socket and waits with ``trio.lowlevel.wait_readable``/
    ``wait_writable`` only when it would block: ``SocketStream.receive_some``/``send_all`` add scheduler round
    trips (a checkpoint before and after each call, a conflict detector) that measured ~20 us per request -
    a tenth of the server's whole cost per order.  So that a client whose bytes are always ready cannot starve
    other tasks (or a cancellation), every ``_YIELD_EVERY``-th read that did not wait yields anyway.

    ``deadline`` (Trio time) is when the server gives up on what this connection is waiting for (the next
    request, the rest of this one, or the client taking an answer); ``inf`` while the app has the request or
    the connection is a WebSocket.  The server's expiry task cancels ``_cancel`` past it."""

    __slots__ = ("_answered", "_cancel", "_drained", "_eof", "_in_request", "_ready_reads", "_timed_out", "_writers",
                 "_writing", "app", "buf", "client", "deadline", "limits", "server", "server_address", "sock")

    def __init__(self, server: AsgiServer, sock: socket.socket) -> None:
        self.server = server
        self.app = server.app
        self.limits = server.limits
        self.sock = sock
        self.buf = bytearray()
        try:
            self.client = _address(sock.getpeername())
            self.server_address = _address(sock.getsockname())
        except OSError:
            self.client = self.server_address = None
        self._eof = False
        self._ready_reads = 0
        self._answered = False  # a request was answered: the next one comes after the client read that
        self._drained = False  # the app read the connection to its end (direct HTTP: see _drain_until_eof)
        self._writing = False
        self._writers = trio.lowlevel.ParkingLot()
        self.deadline = math.inf
        self._in_request = False
        self._timed_out = False
        self._cancel = trio.CancelScope()

    def expire(self) -> None:
        self._timed_out = True
        self._cancel.cancel()

    # ----------------------------------------------------------------------------------- plumbing
    async def _fill(self, *, wait_first: bool = False) -> None:
        """Read more bytes into ``buf``; :class:`_PeerGone` at EOF or on a socket error.  ``wait_first``: the
        bytes cannot be there yet (the client waits for our answer before it sends more), so wait for them
        rather than first fail a read (a syscall saved per request)."""
        if self._eof:
            raise _PeerGone
        if wait_first:
            self._ready_reads = 0
            await trio.lowlevel.wait_readable(self.sock)
        while True:
            try:
                data = self.sock.recv(_RECV)
            except BlockingIOError:
                self._ready_reads = 0
                await trio.lowlevel.wait_readable(self.sock)
                continue
            except OSError as exc:
                self._eof = True
                raise _PeerGone from exc
            break
        if not data:
            self._eof = True
            raise _PeerGone
        self.buf += data
        self._ready_reads += 1
        if self._ready_reads >= _YIELD_EVERY:
            self._ready_reads = 0
            await trio.lowlevel.checkpoint()

    async def _write(self, data: bytes | bytearray, *, timed: bool = False) -> bool:
        """Send ``data``; False if the peer is gone (the caller treats it as a disconnect, never an error).
        Writers take turns (a WebSocket's flusher and a handshake answer never interleave bytes).  ``timed``:
        an HTTP answer - if the client does not take it within ``send_timeout_s`` the connection expires."""
        if not self._writing:
            # Nobody else is writing: one send, which takes it all unless the client is behind (no wait here,
            # so nobody can interleave; the rest, if any, goes the way below).
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return False
            if sent == len(data):
                return True
            data = data[sent:]
        while self._writing:
            await self._writers.park()
        self._writing = True
        set_deadline = False
        try:
            view = memoryview(data)
            while view:
                try:
                    sent = self.sock.send(view)
                except BlockingIOError:
                    if timed and self.deadline == math.inf:
                        self.deadline = trio.current_time() + self.limits.send_timeout_s
                        set_deadline = True
                    await trio.lowlevel.wait_writable(self.sock)
                    continue
                except OSError:
                    return False
                view = view[sent:]
            return True
        finally:
            if set_deadline:
                self.deadline = math.inf
            self._writing = False
            if self._writers:
                self._writers.unpark()

    async def run(self) -> None:
        server = self.server
        try:
            with self._cancel:
                await self._serve_http()
            if self._timed_out:
                server.timed_out += 1
                log.debug("connection from %s timed out (in a request: %s)", self.client, self._in_request)
                if self._in_request:
                    # The client stalled mid-request: say so, without waiting for it to read.
                    body = b"request timeout\n"
                    with contextlib.suppress(OSError):
                        self.sock.send(_response_head(408, [(b"content-type", b"text/plain; charset=utf-8")],
                                                      len(body), keep_alive=False) + body)
        except Exception:  # one broken connection must never take the server down
            log.exception("connection from %s failed", self.client)
        finally:
            server.connections.discard(self)
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()

    # ----------------------------------------------------------------------------------- HTTP
    async def _serve_http(self) -> None:
        while True:
            try:
                request = await self._read_head()
            except _PeerGone:
                return
            except HTTPError as exc:
                await self._refuse(exc)
                return
            if request is None:
                return
            method, target, version, headers = request
            keep_alive = _wants_keep_alive(version, headers)
            if _header(headers, b"upgrade").lower() == b"websocket":
                self.deadline = math.inf
                self._in_request = False
                await self._websocket(method, target, headers)
                return
            try:
                body = await self._read_body(headers)
            except _PeerGone:
                return
            except HTTPError as exc:
                await self._refuse(exc)
                return
            self.deadline = math.inf  # the app has the request: no timeout of ours runs while it works
            self._in_request = False
            if not await self._run_http_app(method, target, version, headers, body, keep_alive):
                return
            self._answered = True
            if not keep_alive:
                return
            # Pipelined requests are served from ``buf`` without a read: count them as ready reads, so a burst
            # yields every ``_YIELD_EVERY`` requests even when the app never checkpoints.  (A request that had
            # to wait reset the count in ``_fill``: request/answer ping-pong never checkpoints here.)
            self._ready_reads += 1
            if self._ready_reads >= _YIELD_EVERY:
                self._ready_reads = 0
                await trio.lowlevel.checkpoint()

    async def _read_head(self) -> tuple[str, bytes, bytes, list[tuple[bytes, bytes]]] | None:
        """The next request line and headers, or None on a clean EOF between requests."""
        buf = self.buf
        limits = self.limits
        if not buf:
            # Between requests: the next one starts within the keep-alive timeout...
            self.deadline = trio.current_time() + limits.keep_alive_timeout_s
            try:
                await self._fill(wait_first=self._answered)
            except _PeerGone:
                return None
        # ...and, from its first byte, arrives whole within the request timeout.
        self.deadline = trio.current_time() + limits.request_timeout_s
        self._in_request = True
        scan = 0
        while True:
            if buf[:2] == b"\r\n":  # RFC 9112 2.2: ignore empty lines before a request line
                crlfs = _LEADING_CRLF.match(buf)
                assert crlfs is not None
                del buf[: crlfs.end()]
                scan = 0
            end = buf.find(b"\r\n\r\n", scan)
            if end >= 0:
                break
            if _BARE_EOL.search(buf):
                raise HTTPError(400, "bare CR or LF in the request head (lines end with CRLF)")
            if len(buf) > limits.max_head_bytes:
                raise HTTPError(431, "request head too large")
            scan = max(0, len(buf) - 3)
            try:
                await self._fill()
            except _PeerGone:
                if buf:
                    raise HTTPError(400, "connection closed mid-request") from None
                return None
        if end > limits.max_head_bytes:
            raise HTTPError(431, "request head too large")
        head = bytes(buf[:end])
        del buf[: end + 4]
        return _parse_head(head)

    async def _read_body(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        transfer: list[bytes] = []
        lengths: set[bytes] = set()
        for name, value in headers:
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                transfer.append(value.lower())
        if transfer:
            if lengths:
                raise HTTPError(400, "both Content-Length and Transfer-Encoding")
            if transfer != [b"chunked"]:
                raise HTTPError(501, "unsupported transfer encoding")
            await self._continue(headers)
            return await self._read_chunked()
        if not lengths:
            return b""
        if len(lengths) > 1:
            raise HTTPError(400, "conflicting Content-Length")
        raw = lengths.pop()
        if not raw.isdigit() or len(raw) > 12:
            raise HTTPError(400, "malformed Content-Length")
        length = int(raw)
        if length > self.limits.max_body_bytes:
            raise HTTPError(413, f"body too large (max {self.limits.max_body_bytes} bytes)")
        if len(self.buf) < length:
            await self._continue(headers)
        while len(self.buf) < length:
            await self._fill()
        body = bytes(self.buf[:length])
        del self.buf[:length]
        return body

    async def _continue(self, headers: list[tuple[bytes, bytes]]) -> None:
        if _header(headers, b"expect").lower() == b"100-continue":
            await self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _read_chunked(self) -> bytes:
        """A chunked body (RFC 9112 7.1), within the body cap - and the wire within twice that, so chunk
        framing cannot be the payload of a flood."""
        buf = self.buf
        cap = self.limits.max_body_bytes
        wire_cap = 2 * cap + 1024
        body = bytearray()
        wire = 0
        chunks = 0
        while True:
            line = _CHUNK_LINE.match(buf)
            while line is None:
                if b"\n" in buf:
                    raise HTTPError(400, "malformed chunk size")
                if len(buf) > self.limits.max_head_bytes:
                    raise HTTPError(400, "chunk size line too long")
                await self._fill()
                line = _CHUNK_LINE.match(buf)
            size = int(line[1], 16)
            start = line.end()
            wire += start + size + 2
            if size == 0:
                del buf[:start]
                await self._read_trailers(wire - 2, wire_cap)
                return bytes(body)
            if len(body) + size > cap:
                raise HTTPError(413, f"body too large (max {cap} bytes)")
            if wire > wire_cap:
                raise HTTPError(413, "chunk framing too large for the body")
            stop = start + size
            while len(buf) < stop + 2:
                await self._fill()
            if buf[stop:stop + 2] != b"\r\n":
                raise HTTPError(400, "malformed chunk")
            body += buf[start:stop]
            del buf[:stop + 2]
            chunks += 1
            if chunks % _CHUNKS_PER_CHECKPOINT == 0:
                await trio.lowlevel.checkpoint()

    async def _read_trailers(self, wire: int, wire_cap: int) -> None:
        """Trailer lines up to the empty one (dropped: the emulator reads none), within the wire cap."""
        lines = 0
        while True:
            line = await self._read_line()
            wire += len(line) + 2
            if wire > wire_cap:
                raise HTTPError(413, "chunk framing too large for the body")
            if not line:
                return
            if len(line.translate(None, _CTL)) != len(line):
                raise HTTPError(400, "control character in a trailer")
            lines += 1
            if lines % _CHUNKS_PER_CHECKPOINT == 0:
                await trio.lowlevel.checkpoint()

    async def _read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return line
            if b"\n" in self.buf:
                raise HTTPError(400, "bare LF line ending")
            if len(self.buf) > self.limits.max_head_bytes:
                raise HTTPError(431, "line too long")
            await self._fill()

    async def _refuse(self, exc: HTTPError) -> None:
        """Answer ``exc``, shut our side and drop what the client still sends (bounded), then the caller
        closes: the client reads the answer rather than a reset."""
        server = self.server
        server.refused += 1
        if exc.status in (413, 431):
            server.too_large += 1
        log.debug("refused a request from %s: %s", self.client, exc)
        self.deadline = math.inf  # the send timeout applies to the answer; the linger has its own bound
        self._in_request = False
        body = (exc.detail + "\n").encode()
        if await self._write(_response_head(exc.status, [(b"content-type", b"text/plain; charset=utf-8")],
                                            len(body), keep_alive=False) + body, timed=True):
            await _linger(self.sock)

    def _scope(self, kind: str, method: str, target: bytes, version: bytes,
               headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        raw_path, _, query = target.partition(b"?")
        return {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version[5:].decode(),
            "method": method,
            "scheme": "http" if kind == "http" else "ws",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": self.server_address,
            "subprotocols": [],
            "extensions": {},
        }

    async def _run_direct(self, direct: DirectHTTP, method: str, target: bytes, version: bytes, body: bytes,
                          keep_alive: bool) -> bool:
        """:meth:`_run_http_app` through the app's :data:`DirectHTTP` entry point; the same answers, errors and
        connection handling as the ASGI path."""
        raw_path = target.partition(b"?")[0]
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path)
        self._drained = False
        try:
            answer = await direct(method, path, body, self.client, self._drain_until_eof)
        except Exception:
            log.exception("ASGI app failed on %s %s", method, target[:200])
            await self._write(_response_head(500, [], 0, keep_alive=False), timed=True)
            return False
        if answer is None:
            if not self._eof:
                # The app did not answer (its accept-then-timeout hold ran out): a bare 500.
                await self._write(_response_head(500, [], 0, keep_alive=False), timed=True)
            return False
        status, content_type, payload = answer
        keep = keep_alive and not self._drained
        head = _response_head(status, [(b"content-type", content_type)], len(payload), keep_alive=keep,
                              confirm=keep and version == b"HTTP/1.0")
        # RFC 9112 6.3: the answer to HEAD ends with its head (the length is the GET body's).
        sent_ok = await self._write(head if method == "HEAD" else head + payload, timed=True)
        return sent_ok and not self._eof and not self._drained

    async def _drain_until_eof(self) -> None:
        """The app waits for the client to go away (e.g. an accept-then-timeout fault): read until EOF.
        Whatever arrives meanwhile is discarded (bounded memory), so this connection serves no further request
        even if the app answers after all."""
        self._drained = True
        try:
            while True:
                await self._fill()
                self.buf.clear()
        except _PeerGone:
            pass

    async def _run_http_app(self, method: str, target: bytes, version: bytes,
                            headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool) -> bool:
        """Run the app for one request; True if the connection can serve another."""
        direct = self.server.direct_http
        if direct is not None:
            return await self._run_direct(direct, method, target, version, body, keep_alive)
        scope = self._scope("http", method, target, version, headers)
        delivered = False
        done = False
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        sent_ok = True
        drained = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            if not done:
                # The app waits for the client to go away (e.g. an accept-then-timeout fault): read until EOF.
                # Whatever arrives meanwhile is discarded (bounded memory), so this connection serves no further
                # request even if the app answers after all.
                nonlocal drained
                drained = True
                try:
                    while True:
                        await self._fill()
                        self.buf.clear()
                except _PeerGone:
                    pass
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, response_headers, done, sent_ok
            kind = message["type"]
            if kind == "http.response.start":
                if status:
                    raise RuntimeError("http.response.start sent twice")
                status = int(message["status"])
                response_headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
            elif kind == "http.response.body":
                if not status or done:
                    raise RuntimeError("http.response.body outside a response")
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(bytes(chunk))
                if not message.get("more_body", False):
                    done = True
                    payload = b"".join(chunks)
                    keep = keep_alive and not drained
                    head = _response_head(status, [h for h in response_headers if h[0] != b"content-length"],
                                          len(payload), keep_alive=keep, confirm=keep and version == b"HTTP/1.0")
                    # RFC 9112 6.3: the answer to HEAD ends with its head (the length is the GET body's).
                    sent_ok = await self._write(head if method == "HEAD" else head + payload, timed=True)

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("ASGI app failed on %s %s", method, target[:200])
            if not status:
                await self._write(_response_head(500, [], 0, keep_alive=False), timed=True)
            return False
        if not done:
            if not status and not self._eof:
                # The app returned without answering (its accept-then-timeout hold ran out): a bare 500.
                await self._write(_response_head(500, [], 0, keep_alive=False), timed=True)
            return False
        return sent_ok and not self._eof and not drained

    # ----------------------------------------------------------------------------------- WebSocket
    async def _websocket(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        key = _header(headers, b"sec-websocket-key")
        # ``Connection`` is a token list, possibly over several header lines (``keep-alive, Upgrade``).
        connection = {t.strip() for k, v in headers if k == b"connection" for t in v.lower().split(b",")}
        if method != "GET" or b"upgrade" not in connection or not _valid_key(key):
            await self._refuse(HTTPError(400, "bad WebSocket handshake"))
            return
        if _header(headers, b"sec-websocket-version") != b"13":
            await self._write(_response_head(426, [(b"sec-websocket-version", b"13")], 0, keep_alive=False),
                              timed=True)
            return
        ws = _WebSocket(self, key)
        scope = self._scope("websocket", method, target, b"HTTP/1.1", headers)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.flusher)
            try:
                await self.app(scope, ws.receive, ws.send)
            except Exception:
                log.exception("ASGI app failed on WebSocket %s", target[:200])
                if ws.accepted and not ws.close_sent:
                    await ws.close_with(1011, "internal error")
                elif not ws.accepted:
                    await self._write(_response_head(500, [], 0, keep_alive=False), timed=True)
            else:
                if not ws.accepted:
                    if not ws.close_sent:  # the app returned without answering the handshake
                        await self._write(_response_head(403, [], 0, keep_alive=False), timed=True)
                else:
                    if not ws.close_sent and not ws.peer_closed:
                        await ws.close_with(1000, "")
                    await ws.await_peer_close()
            nursery.cancel_scope.cancel()


class _WebSocket:
    """The ASGI ``receive``/``send`` pair of one WebSocket connection.

    Outbound frames are queued and written by one :meth:`flusher` task, so a burst of ``send`` calls between
    two checkpoints (the app answering a batch of posts that arrived in one TCP read) leaves in one syscall
    instead of one each."""

    __slots__ = (
        "_connect_delivered",
        "_disconnect_code",
        "_drained",
        "_flushing",
        "_fragment_opcode",
        "_fragments",
        "_last_fin",
        "_out",
        "_queued",
        "_ready_frames",
        "_write_failed",
        "accepted",
        "close_sent",
        "conn",
        "key",
        "peer_closed",
    )

    def __init__(self, conn: _Connection, key: bytes) -> None:
        self.conn = conn
        self.key = key
        self.accepted = False
        self.close_sent = False
        self.peer_closed = False
        self._connect_delivered = False
        self._disconnect_code: int | None = None
        self._fragments = bytearray()  # the fragments of the message being received so far
        self._fragment_opcode = 0
        self._last_fin = True
        self._out = bytearray()
        self._queued = trio.lowlevel.ParkingLot()  # the flusher waits here for bytes
        self._drained = trio.lowlevel.ParkingLot()  # senders wait here for room / a complete flush
        self._flushing = False
        self._write_failed = False
        self._ready_frames = 0

    async def flusher(self) -> None:
        """Write queued frames until cancelled or the peer is gone.

        Every ``unpark_all`` on the hot path is behind a check that someone is parked: on an empty lot it still
        cost ~2 us (measured), once per frame queued and twice per flush."""
        while True:
            while not self._out:
                if self._drained:
                    self._drained.unpark_all()
                await self._queued.park()
            data = bytes(self._out)
            self._out.clear()
            if self._drained:
                self._drained.unpark_all()
            self._flushing = True
            ok = await self.conn._write(data)
            self._flushing = False
            if not ok:
                self._write_failed = True
                self._drained.unpark_all()
                return

    async def _queue(self, data: bytes) -> None:
        if self._write_failed:
            self._disconnect_code = self._disconnect_code or _ABNORMAL
            return
        self._out += data
        if self._queued:
            self._queued.unpark_all()
        while len(self._out) > WS_HIGH_WATER_BYTES and not self._write_failed:
            await self._drained.park()

    async def _flush(self) -> None:
        """Wait until everything queued so far is written (or the peer is gone)."""
        while (self._out or self._flushing) and not self._write_failed:
            await self._drained.park()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.close_sent or self._disconnect_code is not None:
                return  # the connection is closing: late frames are dropped, as a closed socket would
            text = message.get("text")
            if text is not None:
                await self._queue(_frame(_TEXT, text.encode()))
            else:
                await self._queue(_frame(_BINARY, bytes(message.get("bytes") or b"")))
        elif kind == "websocket.accept":
            if self.accepted or self.close_sent:
                raise RuntimeError("websocket.accept twice or after close")
            self.accepted = True
            accept = base64.b64encode(hashlib.sha1(self.key + _WS_GUID).digest())
            head = (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                    b"sec-websocket-accept: " + accept + b"\r\n\r\n")
            if not await self.conn._write(head):
                self._disconnect_code = _ABNORMAL
        elif kind == "websocket.close":
            if not self.accepted:
                # Refusing the handshake: an HTTP 403, as ASGI specifies.
                if not self.close_sent:
                    self.close_sent = True
                    await self.conn._write(_response_head(403, [], 0, keep_alive=False), timed=True)
                return
            if not self.close_sent:
                await self.close_with(int(message.get("code") or 1000), str(message.get("reason") or ""))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on a WebSocket")

    async def close_with(self, code: int, reason: str) -> None:
        """Send a close frame after everything queued, and wait (bounded) until it is written."""
        self.close_sent = True
        if self._disconnect_code is None:
            # At most 123 bytes of reason, cut on a character boundary (the client checks it is UTF-8).
            payload = code.to_bytes(2, "big") + reason.encode()[:123].decode("utf-8", "ignore").encode()
            self._out += _frame(_CLOSE, payload)
            self._queued.unpark_all()
            with trio.move_on_after(WS_CLOSE_WAIT_S):
                await self._flush()

    async def await_peer_close(self) -> None:
        """After our close frame: give the client a moment to answer with its own (the close handshake),
        then the caller drops the TCP connection."""
        if self.peer_closed or self._disconnect_code is not None:
            return
        with trio.move_on_after(WS_CLOSE_WAIT_S):
            try:
                while True:
                    opcode, _ = await self._read_frame()
                    if opcode == _CLOSE:
                        return
            except (_PeerGone, _WebSocketError):
                return

    async def receive(self) -> Message:
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        while self._disconnect_code is None:
            # Frames already in ``buf`` never read the socket: a flood of tiny ones (or pings) must still let
            # other tasks run.  Before the read, so a cancellation here loses no message.
            self._ready_frames += 1
            if self._ready_frames >= _WS_YIELD_EVERY:
                self._ready_frames = 0
                await trio.lowlevel.checkpoint()
            try:
                message = await self._next_message()
            except _PeerGone:
                self._disconnect_code = _ABNORMAL
                break
            except _WebSocketError as exc:
                self.conn.server.ws_protocol_errors += 1
                log.debug("WebSocket from %s closed: %s", self.conn.client, exc)
                if not self.close_sent:
                    await self.close_with(exc.code, exc.reason)
                self._disconnect_code = exc.code
                break
            if message is not None:
                return message
        return {"type": "websocket.disconnect", "code": self._disconnect_code}

    async def _next_message(self) -> Message | None:
        """One complete data message, or None after a control frame was handled."""
        opcode, payload = await self._read_frame()
        if opcode == _PING:
            if not self.close_sent:
                await self._queue(_frame(_PONG, payload))
            return None
        if opcode == _PONG:
            return None
        if opcode == _CLOSE:
            self.peer_closed = True
            code = 1005
            if len(payload) == 1:
                raise _WebSocketError(_PROTOCOL_ERROR, "bad close frame")
            if len(payload) >= 2:
                code = int.from_bytes(payload[:2], "big")
                if not _valid_close_code(code):
                    raise _WebSocketError(_PROTOCOL_ERROR, f"invalid close code {code}")
                try:
                    payload[2:].decode()
                except UnicodeDecodeError:
                    raise _WebSocketError(_INVALID_DATA, "close reason is not UTF-8") from None
            if not self.close_sent:
                await self.close_with(code if len(payload) >= 2 else 1000, "")
            self._disconnect_code = code
            return None
        if opcode == _CONT:
            if not self._fragment_opcode:
                raise _WebSocketError(_PROTOCOL_ERROR, "continuation without a message")
        elif self._fragment_opcode:
            raise _WebSocketError(_PROTOCOL_ERROR, "new message inside a fragmented one")
        else:
            self._fragment_opcode = opcode
        if not self._last_fin or opcode == _CONT:
            # One growing buffer: memory stays bounded by the cap (``_read_frame`` checked this fragment
            # against what is left of it) and each fragment costs O(its length) even when a peer sends endless
            # empty ones.
            self._fragments += payload
            if not self._last_fin:
                return None
            payload = bytes(self._fragments)
            self._fragments = bytearray()
        kind = self._fragment_opcode
        self._fragment_opcode = 0
        if kind == _TEXT:
            try:
                return {"type": "websocket.receive", "text": payload.decode()}
            except UnicodeDecodeError:
                raise _WebSocketError(_INVALID_DATA, "text frame is not UTF-8") from None
        return {"type": "websocket.receive", "bytes": payload}

    async def _read_frame(self) -> tuple[int, bytes]:
        """One client frame, unmasked: (opcode, payload).  Sets ``_last_fin``."""
        conn = self.conn
        buf = conn.buf
        while len(buf) < 2:
            await conn._fill()
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise _WebSocketError(_PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)")
        if not b1 & 0x80:
            raise _WebSocketError(_PROTOCOL_ERROR, "client frames must be masked")
        opcode = b0 & 0x0F
        if opcode not in (_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG):
            raise _WebSocketError(_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        fin = bool(b0 & 0x80)
        length = b1 & 0x7F
        offset = 2
        if opcode >= _CLOSE and (not fin or length > 125):
            raise _WebSocketError(_PROTOCOL_ERROR, "control frames must be whole and short")
        if length == 126:
            while len(buf) < 4:
                await conn._fill()
            length = int.from_bytes(buf[2:4], "big")
            offset = 4
        elif length == 127:
            while len(buf) < 10:
                await conn._fill()
            length = int.from_bytes(buf[2:10], "big")
            offset = 10
            if length >> 63:
                raise _WebSocketError(_PROTOCOL_ERROR, "64-bit length with the most significant bit set")
        # Refused from the header alone, before the payload is read: a data frame may take what the message
        # cap leaves after the fragments received so far.
        if opcode < _CLOSE and length > conn.limits.max_ws_message_bytes - len(self._fragments):
            raise _WebSocketError(_TOO_BIG, f"message too big (max {conn.limits.max_ws_message_bytes} bytes)")
        end = offset + 4 + length
        while len(buf) < end:
            await conn._fill()
        mask = bytes(buf[offset:offset + 4])
        start = offset + 4
        if length <= _UNMASK_SLICE:
            payload = _unmask(bytes(buf[start:end]), mask)
        else:
            # Slice by slice, a checkpoint between (a cancellation there leaves the frame in ``buf``).
            out = bytearray()
            for at in range(start, end, _UNMASK_SLICE):
                out += _unmask(bytes(buf[at:min(at + _UNMASK_SLICE, end)]), mask)
                await trio.lowlevel.checkpoint()
            payload = bytes(out)
        del buf[:end]
        self._last_fin = fin
        return opcode, payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``mask``, at C speed: short payloads as one big-int XOR, longer
    ones as one ``bytes.translate`` per mask byte over every fourth byte (~2x faster than the big int from
    ~2 KB on: ~2 ms per MiB measured on a busy 2-core box against ~4 ms)."""
    n = len(data)
    if not n:
        return data
    if n < _UNMASK_SMALL:
        key = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")
    out = bytearray(data)
    for k in range(4):
        out[k::4] = data[k::4].translate(_xor_table(mask[k]))
    return bytes(out)


@functools.cache
def _xor_table(byte: int) -> bytes:
    """The ``bytes.translate`` table mapping every byte ``b`` to ``b ^ byte``."""
    return bytes(b ^ byte for b in range(256))


def _frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked server frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def _response_head(status: int, headers: list[tuple[bytes, bytes]], length: int, *, keep_alive: bool,
                   confirm: bool = False) -> bytes:
    """``confirm``: say ``connection: keep-alive`` (an HTTP/1.0 client that asked for it closes otherwise)."""
    key = (status, tuple(headers), keep_alive, confirm)
    parts = _HEAD_PARTS.get(key)
    if parts is None:
        lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown").encode())]
        lines.extend(k + b": " + v for k, v in headers)
        lines.append(b"content-length: ")
        prefix = b"\r\n".join(lines)
        suffix = b"\r\nconnection: close" if not keep_alive else b"\r\nconnection: keep-alive" if confirm else b""
        parts = (prefix, suffix + b"\r\n\r\n")
        if len(_HEAD_PARTS) < _HEAD_CACHE_SIZE:
            _HEAD_PARTS[key] = parts
    return b"%s%d%s" % (parts[0], length, parts[1])


#: The bytes of a response head around its length, by (status, headers, keep-alive, confirm): the app answers
#: with a handful of header sets, so this stays tiny; bounded anyway (an app echoing request data in a header
#: would otherwise grow it).
_HEAD_PARTS: Final[dict[tuple[int, tuple[tuple[bytes, bytes], ...], bool, bool], tuple[bytes, bytes]]] = {}
_HEAD_CACHE_SIZE: Final = 256


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key == name:
            return value
    return b""


def _wants_keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    value = _header(headers, b"connection")
    if not value:
        return version != b"HTTP/1.0"
    tokens = {t.strip().lower() for t in value.split(b",")}
    if version == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


def _valid_close_code(code: int) -> bool:
    """RFC 6455 7.4: the registered codes a peer may send (1004-1006 and 1015 never go on the wire) and
    the application ranges 3000-4999."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


def _is_token(value: bytes) -> bool:
    return _TOKEN.match(value) is not None


def _valid_key(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False
