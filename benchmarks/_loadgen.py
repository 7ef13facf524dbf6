"""A lean, wrk-style load generator on plain Trio sockets: HTTP/1.1 keep-alive and WebSocket (RFC 6455) clients.

Why not httpx / trio-websocket: ``bench_emulator.py`` runs the server and this client on the same small box,
and those stacks cost the *client* ~700-900 µs (httpx) and ~100-190 µs (trio-websocket) of CPU per order
(measured on a 2-core box), as much as or more than a lean server spends answering it: the figure measured
the client.  This module does the least a correct client must do, for ~50-100 µs per order (measured; the
figures are in ``bench_emulator.py``'s docstring):

* **HTTP**: each request's bytes are built before the clock starts (:func:`http_request`); per connection,
  one request in flight (no pipelining): write it, then read the response head up to ``\r\n\r\n`` and
  its body framed by ``Content-Length``, ``Transfer-Encoding: chunked`` (extensions and trailers skipped)
  or, failing both, the connection's end; interim ``1xx`` answers are skipped.  Bytes past the response are
  kept for the next one; ``Connection: close`` (or an HTTP/1.0 answer without keep-alive) reopens the
  connection before the next request (counted in :attr:`LoadResult.reconnects`: a keep-alive server should
  show none).
* **WebSocket**: the Upgrade handshake is done here (random ``Sec-WebSocket-Key``; the ``101``, ``Upgrade``,
  ``Connection`` and ``Sec-WebSocket-Accept`` are verified; no extension is offered, so one in the answer or
  a frame with an RSV bit set is an error).  Client frames are masked as RFC 6455 §5.3 requires, each with
  its own random 4-byte key, all built before the clock starts (:func:`ws_text_frames`; the XOR is one
  big-integer XOR per frame).  Server frames are parsed with 7/16/64-bit lengths, must be unmasked, may be
  fragmented (continuation frames are reassembled, control frames may come between them); a ping is
  answered with a pong carrying its payload, a pong is ignored, a close frame before the run is over fails
  it.  Up to ``window`` messages are in flight; the sender writes every frame the window allows in one
  write (wrk-style batching: one write per batch of answers the server sent together, not one per frame).

What an answer *means* is left to the caller (``on_answer`` / ``answer_id`` callbacks), which must raise
:class:`LoadError` for anything it cannot count.  Everything unexpected at the protocol level raises
:class:`LoadError` too, and a run with no answer for ``stall_s`` seconds fails rather than hangs (a watchdog
task checks progress once per ``stall_s``; it never touches the hot loop).

No threads, no asyncio, no task or timeout scope per request: the HTTP hot path is one write, one wait for
readability, one read and a few ``bytes.find`` calls (see :class:`_Conn` for why it bypasses
``SocketStream.send_all``/``receive_some``); the WS path adds one semaphore and one lock round per batch.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

#: Bytes asked of the kernel per receive: enough for dozens of answers at once, small enough that the
#: allocation ``recv`` makes is cheap (it is trimmed to what arrived).
RECV_SIZE = 65_536
#: A response head (status line + headers) larger than this is an error, not something to wait for.
MAX_HEAD = 65_536
#: A run in which no answer arrives for this long fails (the server hung or lost a request).
STALL_S = 30.0

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class LoadError(Exception):
    """An answer the benchmark cannot count: a protocol violation, an unexpected status or payload, a
    connection the server closed mid-run, or a run that stalled.  The run fails; nothing is counted."""


class ServerClosed(LoadError):
    """The server ended the connection (EOF, or a WebSocket close frame) where an answer was due."""


@dataclass
class LoadResult:
    """One load run: each answer's latency (send → answer parsed, seconds), the wall time from the first
    send to the last answer, and how many times a connection had to be reopened (``Connection: close``)."""

    latencies: list[float]
    elapsed: float
    reconnects: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


# ------------------------------------------------------------------------------------------------- buffering
class _Conn:
    """A connected stream's socket with a receive buffer: bytes past what one parse consumed stay for the next.

    Connecting and closing go through Trio's ``SocketStream`` (``trio.open_tcp_stream``: happy eyeballs,
    ``TCP_NODELAY``, ``notify_closing`` on close), but the hot path reads and writes the non-blocking socket
    directly and parks in ``trio.lowlevel.wait_readable`` / ``wait_writable`` only when the kernel has nothing
    / no room.  Why: ``SocketStream.send_all`` and ``receive_some`` each end in a scheduler round trip
    (``cancel_shielded_checkpoint``) even when the syscall completed at once, and go through a conflict
    detector; on this box that was ~20 µs of client CPU per request/answer pair (measured: echo round trip
    60 µs with the stream methods vs 40 µs this way, client and echo server in one process).  No other task
    waits on the same socket in the same direction, which is all ``wait_readable``/``wait_writable`` require.
    ``os.read``/``os.write`` on the socket's descriptor are ``recv``/``send`` without flags on POSIX (this
    benchmark reads ``/proc`` anyway; Windows is not a target).
    """

    __slots__ = ("buf", "fd", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.fd = stream.socket.fileno()
        self.buf = bytearray()

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self.fd, view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.stream.socket)
                continue
            except OSError as exc:  # EPIPE, ECONNRESET
                raise ServerClosed(f"server closed the connection: send failed: {exc}") from None
            view = view[sent:]

    async def _receive(self) -> bytes:
        """What the kernel has (waiting for some first if nothing); ``b""`` at EOF."""
        while True:
            try:
                return os.read(self.fd, RECV_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.stream.socket)
            except OSError as exc:  # ECONNRESET
                raise ServerClosed(f"server reset the connection: {exc}") from None

    async def fill(self, what: str) -> None:
        data = await self._receive()
        if not data:
            raise ServerClosed(f"server closed the connection {what}")
        self.buf += data

    async def read_head(self) -> bytes:
        """Status line + headers, without the blank line that ends them."""
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise LoadError(f"response head longer than {MAX_HEAD} bytes: {bytes(buf[:200])!r}")
            await self.fill("before the response head was complete")
        head = bytes(buf[:end])
        del buf[:end + 4]
        return head

    async def read_exact(self, n: int) -> bytes:
        buf = self.buf
        while len(buf) < n:
            await self.fill(f"with {n - len(buf)} of {n} body bytes unread")
        data = bytes(buf[:n])
        del buf[:n]
        return data

    async def read_line(self) -> bytes:
        buf = self.buf
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_HEAD:
                raise LoadError(f"line longer than {MAX_HEAD} bytes in a chunked body")
            await self.fill("inside a chunked body")
        line = bytes(buf[:end])
        del buf[:end + 2]
        return line

    async def read_to_eof(self) -> bytes:
        buf = self.buf
        while data := await self._receive():
            buf += data
        body = bytes(buf)
        buf.clear()
        return body


def _parse_head(head: bytes) -> tuple[bytes, int, dict[bytes, bytes]]:
    """``(version, status, headers)``; header names lower-cased, repeated headers joined with ``,`` (RFC 9110
    §5.3), except that differing ``Content-Length`` values are an error (RFC 9112 §6.3)."""
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit() or rest[3:4] not in (b"", b" "):
        raise LoadError(f"malformed status line: {lines[0][:200]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise LoadError(f"malformed header line: {line[:200]!r}")
        name = name.lower()
        value = value.strip()
        if name in headers:
            if name == b"content-length" and headers[name] != value:
                raise LoadError(f"conflicting Content-Length headers: {headers[name]!r}, {value!r}")
            if name != b"content-length":
                headers[name] = headers[name] + b"," + value
        else:
            headers[name] = value
    return version, int(code), headers


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(b",")}


# ------------------------------------------------------------------------------------------------------ HTTP
def http_request(method: str, host: str, path: str, body: bytes, content_type: str = "application/json") -> bytes:
    """The complete bytes of one HTTP/1.1 keep-alive request (built once, before the clock starts)."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, one request in flight at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reconnects = 0
        self._conn: _Conn | None = None

    async def connect(self) -> None:
        self._conn = _Conn(await trio.open_tcp_stream(self.host, self.port))

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.stream.aclose()
            self._conn = None

    async def round_trip(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` (complete bytes) and return the response's ``(status, body)``."""
        conn = self._conn
        if conn is None:
            self.reconnects += 1
            await self.connect()
            conn = self._conn
            assert conn is not None
        await conn.send(request)
        if not conn.buf:  # the answer cannot be here yet: wait, rather than first fail a read (~2 µs)
            await trio.lowlevel.wait_readable(conn.stream.socket)
        while True:
            version, status, headers = _parse_head(await conn.read_head())
            if status >= 200:
                break
            if status == 101:
                raise LoadError("101 Switching Protocols in answer to a plain request")
            # else an interim 1xx (e.g. 100 Continue): the real answer follows
        connection = _tokens(headers.get(b"connection", b""))
        close = b"close" in connection or (version == b"HTTP/1.0" and b"keep-alive" not in connection)
        if (te := headers.get(b"transfer-encoding")) is not None:
            codings = [c for c in _tokens(te) if c]
            if codings != [b"chunked"]:
                raise LoadError(f"unsupported Transfer-Encoding {te!r} (only plain chunked is)")
            body = await self._read_chunked(conn)
        elif (length := headers.get(b"content-length")) is not None:
            if not length.isdigit():
                raise LoadError(f"malformed Content-Length {length!r}")
            body = await conn.read_exact(int(length))
        elif status in (204, 304):
            body = b""
        else:
            body = await conn.read_to_eof()  # RFC 9112 §6.3 rule 8: the body runs to the connection's end
            close = True
        if close:
            await self.aclose()
        return status, body

    @staticmethod
    async def _read_chunked(conn: _Conn) -> bytes:
        parts: list[bytes] = []
        while True:
            line = await conn.read_line()
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise LoadError(f"malformed chunk size line {line[:200]!r}")
            size = int(size_text, 16)
            if size == 0:
                while await conn.read_line():  # trailer fields, up to the blank line
                    pass
                return b"".join(parts)
            chunk = await conn.read_exact(size + 2)
            if chunk[-2:] != b"\r\n":
                raise LoadError(f"chunk of {size} bytes not followed by CRLF")
            parts.append(chunk[:-2])


async def http_load(host: str, port: int, per_connection: Sequence[Sequence[bytes]],
                    on_answer: Callable[[int, bytes], None], stall_s: float = STALL_S) -> LoadResult:
    """One connection per entry of ``per_connection``, each sending its pre-built requests in order, one in
    flight.  ``on_answer(status, body)`` checks every answer (raises :class:`LoadError` to fail the run).

    Connections are opened before the clock starts: the figure is keep-alive request throughput."""
    connections = [HttpConnection(host, port) for _ in per_connection]
    latencies: list[float] = []
    try:
        for conn in connections:
            await conn.connect()

        async def worker(conn: HttpConnection, requests: Sequence[bytes]) -> None:
            perf = time.perf_counter
            append = latencies.append
            round_trip = conn.round_trip
            for request in requests:
                t = perf()
                status, body = await round_trip(request)
                append(perf() - t)
                on_answer(status, body)

        total = sum(len(r) for r in per_connection)
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            watchdog = nursery.cancel_scope
            nursery.start_soon(_stall_watchdog, latencies.__len__, total, stall_s)
            async with trio.open_nursery() as workers:
                for conn, requests in zip(connections, per_connection, strict=True):
                    workers.start_soon(worker, conn, requests)
            watchdog.cancel()
        elapsed = time.perf_counter() - started
    finally:
        for conn in connections:
            with trio.CancelScope(shield=True):
                await conn.aclose()
    return LoadResult(latencies, elapsed, sum(c.reconnects for c in connections))


async def _stall_watchdog(progress: Callable[[], int], total: int, stall_s: float) -> None:
    """Fail the run if no answer arrives for ``stall_s`` seconds (checked once per ``stall_s``, so it costs
    nothing per request; a hung server otherwise hangs the benchmark)."""
    last = -1
    while True:
        await trio.sleep(stall_s)
        done = progress()
        if done == last:
            raise LoadError(f"no answer for {stall_s:.0f} s ({done} of {total} answered): the server stalled")
        last = done


# ------------------------------------------------------------------------------------------------- WebSocket
def _xor_mask(payload: bytes, mask: bytes) -> bytes:
    """RFC 6455 §5.3 masking as one big-integer XOR (tens of times faster than a per-byte loop in Python)."""
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def ws_client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One complete, final, masked client frame (a fresh random mask unless ``mask`` is given)."""
    if mask is None:
        mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + mask + _xor_mask(payload, mask)


def ws_text_frames(texts: Sequence[bytes]) -> list[bytes]:
    """Masked text frames for ``texts`` (UTF-8), each with its own random mask; built before the clock."""
    masks = os.urandom(4 * len(texts))
    return [ws_client_frame(_OP_TEXT, text, masks[4 * i:4 * i + 4]) for i, text in enumerate(texts)]


def ws_accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())


@dataclass
class WebSocket:
    """An open client WebSocket: the connection (with any bytes received past the handshake), and a send lock:
    the reading task answers pings while the sending task may be writing, and two writers could interleave
    partial writes (Trio also forbids two tasks in ``wait_writable`` on one socket)."""

    conn: _Conn
    send_lock: trio.Lock = field(default_factory=trio.Lock)
    closed_by_server: tuple[int | None, str] | None = None

    async def send(self, data: bytes) -> None:
        async with self.send_lock:
            await self.conn.send(data)

    async def aclose(self) -> None:
        await self.conn.stream.aclose()


async def open_websocket(host: str, port: int, path: str) -> WebSocket:
    """TCP connect and the RFC 6455 §4 opening handshake; every handshake check failing is a :class:`LoadError`."""
    stream = await trio.open_tcp_stream(host, port)
    try:
        key = base64.b64encode(os.urandom(16))
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key.decode()}\r\n\r\n".encode("ascii"))
        conn = _Conn(stream)
        head = await conn.read_head()
        _, status, headers = _parse_head(head)
        if status != 101:
            status_line = head.partition(b"\r\n")[0]
            raise LoadError(f"WebSocket handshake refused: {status_line!r}")
        if headers.get(b"upgrade", b"").lower() != b"websocket":
            raise LoadError(f"WebSocket handshake: Upgrade header is {headers.get(b'upgrade')!r}")
        if b"upgrade" not in _tokens(headers.get(b"connection", b"")):
            raise LoadError(f"WebSocket handshake: Connection header is {headers.get(b'connection')!r}")
        if headers.get(b"sec-websocket-accept") != ws_accept_key(key):
            raise LoadError(f"WebSocket handshake: wrong Sec-WebSocket-Accept {headers.get(b'sec-websocket-accept')!r}")
        if headers.get(b"sec-websocket-extensions"):
            raise LoadError(f"WebSocket handshake: unrequested extensions {headers[b'sec-websocket-extensions']!r}")
    except BaseException:
        with trio.CancelScope(shield=True):
            await stream.aclose()
        raise
    return WebSocket(conn)


async def _ws_messages(ws: WebSocket, on_message: Callable[[bytes], bool]) -> None:
    """Parse server frames until ``on_message(text)`` returns ``True`` (done).  Handles fragmentation, pings
    (answered with a pong), pongs (ignored); a close frame, a binary message, a masked frame, an RSV bit or a
    malformed control frame raises :class:`LoadError`."""
    conn = ws.conn
    buf = conn.buf
    fragments: list[bytes] | None = None  # a fragmented text message being reassembled
    while True:
        pos = 0
        avail = len(buf)
        while avail - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            header = 2
            if length == 126:
                if avail - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                header = 4
            elif length == 127:
                if avail - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                header = 10
            if avail - pos < header + length:
                break
            if b1 & 0x80:
                raise LoadError("server sent a masked frame (RFC 6455 §5.1 forbids it)")
            if b0 & 0x70:
                raise LoadError(f"server frame with RSV bits {b0 & 0x70:#x} set, no extension was negotiated")
            payload = bytes(buf[pos + header:pos + header + length])
            pos += header + length
            fin = b0 & 0x80
            opcode = b0 & 0x0F
            if opcode == _OP_TEXT and fin and fragments is None:
                if on_message(payload):
                    del buf[:pos]
                    return
            elif opcode >= 0x8:
                if not fin or length > 125:
                    raise LoadError(f"malformed control frame (opcode {opcode:#x}, fin {bool(fin)}, {length} bytes)")
                if opcode == _OP_PING:
                    await ws.send(ws_client_frame(_OP_PONG, payload))
                elif opcode == _OP_CLOSE:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    ws.closed_by_server = (code, payload[2:].decode("utf-8", "replace"))
                    raise ServerClosed(f"server closed the WebSocket mid-run: code {code}, "
                                       f"reason {ws.closed_by_server[1]!r}")
                elif opcode != _OP_PONG:
                    raise LoadError(f"unknown control opcode {opcode:#x}")
            elif opcode == _OP_TEXT:
                if fragments is not None:
                    raise LoadError("new text message started inside a fragmented one")
                fragments = [payload]
            elif opcode == _OP_CONT:
                if fragments is None:
                    raise LoadError("continuation frame without a message to continue")
                fragments.append(payload)
                if fin:
                    text = b"".join(fragments)
                    fragments = None
                    if on_message(text):
                        del buf[:pos]
                        return
            elif opcode == _OP_BINARY:
                raise LoadError("unexpected binary message (the protocol is JSON text)")
            else:
                raise LoadError(f"unknown data opcode {opcode:#x}")
        del buf[:pos]
        await conn.fill("mid-run (no close frame)")


async def ws_load(ws: WebSocket, frames: Sequence[bytes], window: int, answer_id: Callable[[bytes], int | None],
                  stall_s: float = STALL_S) -> LoadResult:
    """Send ``frames`` (pre-built, masked) with at most ``window`` unanswered.  ``answer_id(text)`` parses
    and checks each server text message and returns the index into ``frames`` of the request it answers, or
    ``None`` for a message that answers none (e.g. a subscription push); it raises :class:`LoadError` for one
    it cannot count.  An answer for a request not in flight (unknown, or answered already) fails the run."""
    n = len(frames)
    sent_at = [-1.0] * n  # < 0: not in flight (not sent yet, or answered)
    latencies: list[float] = []
    slots = trio.Semaphore(window)
    perf = time.perf_counter

    def on_message(text: bytes) -> bool:
        rid = answer_id(text)
        if rid is None:
            return False
        if not 0 <= rid < n or (t0 := sent_at[rid]) < 0:
            raise LoadError(f"answer for request {rid}, which is not in flight")
        sent_at[rid] = -1.0
        latencies.append(perf() - t0)
        slots.release()
        return len(latencies) == n

    async def sender() -> None:
        i = 0
        while i < n:
            await slots.acquire()
            k = 1
            while i + k < n:
                try:
                    slots.acquire_nowait()
                except trio.WouldBlock:
                    break
                k += 1
            now = perf()
            for j in range(i, i + k):
                sent_at[j] = now
            await ws.send(b"".join(frames[i:i + k]))
            i += k

    started = perf()
    if n:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stall_watchdog, latencies.__len__, n, stall_s)
            nursery.start_soon(sender)
            await _ws_messages(ws, on_message)
            nursery.cancel_scope.cancel()
    elapsed = perf() - started
    return LoadResult(latencies, elapsed)


async def ws_close(ws: WebSocket, timeout_s: float = 5.0) -> None:
    """The closing handshake (RFC 6455 §5.5.1): send a close frame (1000), skip messages until the server's
    close frame or EOF (bounded by ``timeout_s``), then close the TCP stream."""
    try:
        await ws.send(ws_client_frame(_OP_CLOSE, (1000).to_bytes(2, "big")))
        # The server's close frame or EOF ends the handshake (ServerClosed); other messages are skipped.
        with trio.move_on_after(timeout_s), contextlib.suppress(ServerClosed):
            await _ws_messages(ws, lambda _text: False)
    finally:
        await ws.aclose()
