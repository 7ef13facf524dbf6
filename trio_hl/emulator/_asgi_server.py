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

The application stays a plain ASGI 3 app: ``serve_emulator(server="hypercorn")`` runs the same app under
hypercorn, and tests run the protocol suite against both.  Not supported (the emulator does not need them):
lifespan events, HTTP/2, response streaming, TLS (put a proxy in front), request timeouts (clients under a
jumping ``MockClock`` must keep idle keep-alive connections).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import unquote

import trio

__all__ = ["ASGIApp", "serve_asgi"]

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

log = logging.getLogger("trio_hl.emulator.server")

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
MAX_WS_MESSAGE_BYTES: Final = 16 * 1024 * 1024
#: How long a closing WebSocket waits for its last frames to drain and for the client's close frame before
#: dropping the TCP connection.
WS_CLOSE_WAIT_S: Final = 1.0
#: Outbound WebSocket bytes queued beyond this make ``send`` wait (a client that does not read pushes back on
#: the app, whose own queue then decides whether to drop it).
WS_HIGH_WATER_BYTES: Final = 256 * 1024
_RECV: Final = 65536
_YIELD_EVERY: Final = 16
#: WebSocket frames handed over from the buffer between two forced checkpoints (larger than ``_YIELD_EVERY``:
#: a window of posts answered between two checkpoints leaves in one write).
_WS_YIELD_EVERY: Final = 256
_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_REASONS: Final = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 400: "Bad Request", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
    422: "Unprocessable Entity", 426: "Upgrade Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")

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


async def serve_asgi(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``task_status.started(bound_port)``.

    One listening socket (the first address ``host`` resolves to, like hypercorn's bind); each connection
    is a task in this function's nursery, so cancelling the caller closes every connection."""
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
            task_status.started(bound_port)
            await _accept_forever(app, listener, nursery)
    finally:
        trio.lowlevel.notify_closing(listener)
        listener.close()


async def _accept_forever(app: ASGIApp, listener: socket.socket, nursery: trio.Nursery) -> None:
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
        nursery.start_soon(_Connection(app, sock).run)


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
    other tasks (or a cancellation), every ``_YIELD_EVERY``-th read that did not wait yields anyway."""

    __slots__ = ("_eof", "_ready_reads", "_writers", "_writing", "app", "buf", "client", "server", "sock")

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self.app = app
        self.sock = sock
        self.buf = bytearray()
        try:
            self.client = _address(sock.getpeername())
            self.server = _address(sock.getsockname())
        except OSError:
            self.client = self.server = None
        self._eof = False
        self._ready_reads = 0
        self._writing = False
        self._writers = trio.lowlevel.ParkingLot()

    # ----------------------------------------------------------------------------------- plumbing
    async def _fill(self) -> None:
        """Read more bytes into ``buf``; :class:`_PeerGone` at EOF or on a socket error."""
        if self._eof:
            raise _PeerGone
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

    async def _write(self, data: bytes | bytearray) -> bool:
        """Send ``data``; False if the peer is gone (the caller treats it as a disconnect, never an error).
        Writers take turns (a WebSocket's flusher and a handshake answer never interleave bytes)."""
        while self._writing:
            await self._writers.park()
        self._writing = True
        try:
            view = memoryview(data)
            while view:
                try:
                    sent = self.sock.send(view)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self.sock)
                    continue
                except OSError:
                    return False
                view = view[sent:]
            return True
        finally:
            self._writing = False
            self._writers.unpark()

    async def run(self) -> None:
        try:
            await self._serve_http()
        except Exception:  # one broken connection must never take the server down
            log.exception("connection from %s failed", self.client)
        finally:
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
                await self._websocket(method, target, headers)
                return
            try:
                body = await self._read_body(headers)
            except _PeerGone:
                return
            except HTTPError as exc:
                await self._refuse(exc)
                return
            if not await self._run_http_app(method, target, version, headers, body, keep_alive):
                return
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
        while True:
            # RFC 9112 2.2: ignore empty lines before a request line.
            while self.buf[:2] == b"\r\n":
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_HEAD_BYTES:
                raise HTTPError(431, "request head too large")
            try:
                await self._fill()
            except _PeerGone:
                if self.buf:
                    raise HTTPError(400, "connection closed mid-request") from None
                return None
        if end > MAX_HEAD_BYTES:
            raise HTTPError(431, "request head too large")
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
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
        return raw_method.decode("ascii"), target, version, headers

    async def _read_body(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        transfer = [v.lower() for k, v in headers if k == b"transfer-encoding"]
        lengths = {v for k, v in headers if k == b"content-length"}
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
        if length > MAX_BODY_BYTES:
            raise HTTPError(413, "body too large")
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
        body = bytearray()
        while True:
            line = await self._read_line()
            size_text = line.split(b";", 1)[0].strip()
            size_text = size_text.lstrip(b"0") or size_text[:1]  # leading zeros are allowed (RFC 9112 7.1)
            if not size_text or len(size_text) > 8 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise HTTPError(400, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                while await self._read_line():  # trailers, up to the empty line
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise HTTPError(413, "body too large")
            while len(self.buf) < size + 2:
                await self._fill()
            if self.buf[size:size + 2] != b"\r\n":
                raise HTTPError(400, "malformed chunk")
            body += self.buf[:size]
            del self.buf[: size + 2]

    async def _read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return line
            if len(self.buf) > MAX_HEAD_BYTES:
                raise HTTPError(431, "line too long")
            await self._fill()

    async def _refuse(self, exc: HTTPError) -> None:
        body = (exc.detail + "\n").encode()
        await self._write(_response_head(exc.status, [(b"content-type", b"text/plain; charset=utf-8")],
                                         len(body), keep_alive=False) + body)

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
            "server": self.server,
            "subprotocols": [],
            "extensions": {},
        }

    async def _run_http_app(self, method: str, target: bytes, version: bytes,
                            headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool) -> bool:
        """Run the app for one request; True if the connection can serve another."""
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
                    sent_ok = await self._write(head if method == "HEAD" else head + payload)

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("ASGI app failed on %s %s", method, target[:200])
            if not status:
                await self._write(_response_head(500, [], 0, keep_alive=False))
            return False
        if not done:
            if not status and not self._eof:
                # The app returned without answering (its accept-then-timeout hold ran out): a bare 500.
                await self._write(_response_head(500, [], 0, keep_alive=False))
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
            await self._write(_response_head(426, [(b"sec-websocket-version", b"13")], 0, keep_alive=False))
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
                    await self._write(_response_head(500, [], 0, keep_alive=False))
            else:
                if not ws.accepted:
                    if not ws.close_sent:  # the app returned without answering the handshake
                        await self._write(_response_head(403, [], 0, keep_alive=False))
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
        """Write queued frames until cancelled or the peer is gone."""
        while True:
            while not self._out:
                self._drained.unpark_all()
                await self._queued.park()
            data = bytes(self._out)
            self._out.clear()
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
                    await self.conn._write(_response_head(403, [], 0, keep_alive=False))
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
            # One growing buffer: memory stays bounded by the cap and each fragment costs O(its length) even
            # when a peer sends endless empty ones.
            self._fragments += payload
            if len(self._fragments) > MAX_WS_MESSAGE_BYTES:
                raise _WebSocketError(_TOO_BIG, "message too big")
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
        if length > MAX_WS_MESSAGE_BYTES:
            raise _WebSocketError(_TOO_BIG, "message too big")
        end = offset + 4 + length
        while len(buf) < end:
            await conn._fill()
        mask = bytes(buf[offset:offset + 4])
        payload = _unmask(bytes(buf[offset + 4:end]), mask)
        del buf[:end]
        self._last_fin = fin
        return opcode, payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``mask`` (one big-int XOR: C speed for any length)."""
    n = len(data)
    if not n:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


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
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Unknown").encode())]
    lines.extend(k + b": " + v for k, v in headers)
    lines.append(b"content-length: %d" % length)
    if not keep_alive:
        lines.append(b"connection: close")
    elif confirm:
        lines.append(b"connection: keep-alive")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key == name:
            return value
    return b""


def _wants_keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    tokens = {t.strip().lower() for t in _header(headers, b"connection").split(b",")}
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
