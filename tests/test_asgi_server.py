"""The emulator's own ASGI server (``trio_hl.emulator._asgi_server``) at the byte level: HTTP/1.1 framing,
keep-alive, chunked bodies, refusals, and the WebSocket protocol (RFC 6455) incl. malformed frames; plus the
same emulator conversation under both servers (ours and hypercorn) giving the same answers."""

from __future__ import annotations

import base64
import functools
import gc
import itertools
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from trio_hl.emulator import _asgi_server, open_emulator
from trio_hl.emulator._asgi_server import ServerLimits, _frame, _unmask, serve_asgi
from trio_hl.hyperliquid.signing import LocalSigner, sign_l1_action
from trio_hl.hyperliquid.wire import exchange_body

Message = dict[str, Any]


class EchoApp:
    """HTTP: answers ``{"method", "path", "query", "body"}``; ``/raise`` raises, ``/silent`` returns without an
    answer, ``/hold`` waits for ``http.disconnect``.  WebSocket: echoes messages; ``/ws/refuse`` refuses the
    handshake, ``/ws/close`` accepts and closes with 4001; records what it received."""

    def __init__(self) -> None:
        self.disconnects: list[Message] = []
        self.held = trio.Event()
        self.released = trio.Event()
        self.ws_events: list[Message] = []
        self.ws_done = trio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.websocket(scope, receive, send)

    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "http.request"
        if scope["path"] == "/raise":
            raise RuntimeError("app bug")
        if scope["path"] == "/silent":
            return
        if scope["path"] == "/peek":
            # Waits a moment for a disconnect, then answers after all.
            with trio.move_on_after(1):
                self.disconnects.append(await receive())
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"late"})
            return
        if scope["path"] == "/hold":
            self.held.set()
            self.disconnects.append(await receive())
            self.released.set()
            return
        body = json.dumps({"method": scope["method"], "path": scope["path"],
                           "query": scope["query_string"].decode(), "body": message["body"].decode()}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        # Two body parts: the server must join them into one answer with the right length.
        await send({"type": "http.response.body", "body": body[:5], "more_body": True})
        await send({"type": "http.response.body", "body": body[5:]})

    async def websocket(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            assert (await receive())["type"] == "websocket.connect"
            if scope["path"] == "/ws/refuse":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "websocket.accept"})
            if scope["path"] == "/ws/close":
                await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
                return
            while True:
                message = await receive()
                self.ws_events.append(message)
                if message["type"] == "websocket.disconnect":
                    return
                if "text" in message and message["text"] is not None:
                    await send({"type": "websocket.send", "text": message["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": message["bytes"]})
        finally:
            self.ws_done.set()


@asynccontextmanager
async def serving(app: Any, limits: ServerLimits | None = None) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(functools.partial(serve_asgi, app, "127.0.0.1", 0, limits=limits))
        yield port
        nursery.cancel_scope.cancel()


async def raw(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port)


async def read_response(stream: trio.SocketStream, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response off ``stream`` (``buf`` keeps leftovers between calls)."""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in buf:
            data = await stream.receive_some(65536)
            assert data, f"connection closed before a response: {bytes(buf)!r}"
            buf += data
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            data = await stream.receive_some(65536)
            assert data
            rest += data
        buf[:] = rest[length:]
        return status, headers, rest[:length]


async def closed_by_server(stream: trio.SocketStream) -> bool:
    with trio.fail_after(5):
        return await stream.receive_some(100) == b""


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


# ------------------------------------------------------------------------------------------------ HTTP
async def test_keep_alive_serves_many_requests_on_one_connection_with_exact_lengths() -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        for i in range(3):
            await stream.send_all(post(f"/p{i}?q={i}", f"body-{i}".encode()))
            status, headers, body = await read_response(stream, buf)
            assert status == 200
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == {"method": "POST", "path": f"/p{i}", "query": f"q={i}", "body": f"body-{i}"}
        await stream.aclose()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"".join(post(f"/{i}", str(i).encode()) for i in range(5)))
        bodies = [json.loads((await read_response(stream, buf))[2])["body"] for _ in range(5)]
        assert bodies == ["0", "1", "2", "3", "4"]
        await stream.aclose()


async def test_chunked_body_with_extensions_and_trailers_is_reassembled() -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: t\r\n\r\n")
        status, _, body = await read_response(stream, buf)
        assert status == 200 and json.loads(body)["body"] == "hello, world"
        await stream.aclose()


async def test_expect_continue_gets_100_before_the_body_is_sent() -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        with trio.fail_after(5):
            interim = await stream.receive_some(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        await stream.send_all(b"data")
        assert json.loads((await read_response(stream, buf))[2])["body"] == "data"
        await stream.aclose()


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"POST /x HTTP/2.0\r\n\r\n", 505),
    (b"POST /x FTP/1.0\r\n\r\n", 400),
    (b"PO(ST /x HTTP/1.1\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 17_000 + b"\r\n\r\n", 431),
    (b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),  # HTTP/1.1 without Host
    (b"POST /x HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\nHost: x\nContent-Length: 0\n\n", 400),  # bare LF
    (b"POST /x HTTP/1.1\r\nHost: x\nContent-Length: 0\r\n\r\n", 400),  # one bare LF
    (b"POST /x HTTP/1.1\r\nHost: x\rContent-Length: 0\r\n\r\n", 400),  # bare CR
    (b"POST /x HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),  # NUL in a value
    (b"POST /x HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n", 400),  # ESC
    (b"POST /x HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n", 400),  # DEL
    (b"POST /x\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # NUL in the target
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\nbody\r\n0\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\nb\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: \x00\r\n\r\n", 400),
])
async def test_malformed_requests_get_a_clear_status_and_the_server_keeps_serving(
    request_bytes: bytes, status: int
) -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(request_bytes)
        got, headers, _ = await read_response(stream, buf)
        assert got == status
        assert headers["connection"] == "close"
        assert await closed_by_server(stream)
        await stream.aclose()
        # A fresh connection still works.
        other, buf = await raw(port), bytearray()
        await other.send_all(post("/ok", b"1"))
        assert (await read_response(other, buf))[0] == 200
        await other.aclose()


@pytest.mark.parametrize(("version", "connection", "closes"), [
    ("HTTP/1.1", "", False), ("HTTP/1.1", "Connection: close\r\n", True),
    ("HTTP/1.0", "", True), ("HTTP/1.0", "Connection: keep-alive\r\n", False),
])
async def test_connection_persistence_follows_version_and_header(version: str, connection: str, closes: bool) -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(f"POST /k {version}\r\nHost: x\r\nContent-Length: 0\r\n{connection}\r\n".encode())
        status, headers, _ = await read_response(stream, buf)
        assert status == 200
        assert (headers.get("connection") == "close") is closes
        if closes:
            assert await closed_by_server(stream)
        else:
            await stream.send_all(post("/again", b""))
            assert (await read_response(stream, buf))[0] == 200
        await stream.aclose()


async def test_app_errors_and_silent_apps_get_a_bare_500_and_do_not_kill_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(EchoApp()) as port:
        for path in ("/raise", "/silent"):
            stream, buf = await raw(port), bytearray()
            await stream.send_all(post(path, b""))
            status, _, body = await read_response(stream, buf)
            assert (status, body) == (500, b"")
            assert await closed_by_server(stream)
            await stream.aclose()
        assert "app bug" in caplog.text
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://127.0.0.1:{port}/fine", content=b"x")
        assert response.json()["body"] == "x"


async def test_an_app_waiting_for_disconnect_hears_it_when_the_client_goes() -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream = await raw(port)
        await stream.send_all(post("/hold", b""))
        with trio.fail_after(5):
            await app.held.wait()
        assert app.disconnects == []
        await stream.aclose()
        with trio.fail_after(5):
            await app.released.wait()
        assert app.disconnects == [{"type": "http.disconnect"}]


async def test_an_answer_after_waiting_for_disconnect_closes_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Bytes that arrived while the app waited were discarded (bounded memory), so the connection must not
    serve what follows them."""
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(post("/peek", b""))
        await trio.testing.wait_all_tasks_blocked()
        await stream.send_all(post("/next", b"pipelined"))
        status, headers, body = await read_response(stream, buf)
        assert (status, body, headers["connection"]) == (200, b"late", "close")
        assert app.disconnects == []
        assert await closed_by_server(stream)
        await stream.aclose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=4), cuts=st.lists(st.integers(0, 2000)))
async def test_requests_split_at_any_byte_boundaries_arrive_whole(bodies: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(post("/s", base64.b64encode(b).decode().encode()) for b in bodies)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        for a, b in itertools.pairwise(points):
            await stream.send_all(wire[a:b])
            await trio.testing.wait_all_tasks_blocked()
        got = [base64.b64decode(json.loads((await read_response(stream, buf))[2])["body"]) for _ in bodies]
        assert got == bodies
        await stream.aclose()


# ------------------------------------------------------------------------------------------------ WebSocket
async def test_websocket_echo_text_and_binary_of_every_length_encoding() -> None:
    app = EchoApp()
    async with serving(app) as port, open_websocket_url(f"ws://127.0.0.1:{port}/ws",
                                                        max_message_size=1 << 20) as ws:
        for size in (0, 125, 126, 65535, 65536, 300_000):
            text = "é" * (size // 2) + "x" * (size % 2)
            await ws.send_message(text)
            with trio.fail_after(5):
                assert await ws.get_message() == text
        await ws.send_message(b"\x00\xff" * 10)
        with trio.fail_after(5):
            assert await ws.get_message() == b"\x00\xff" * 10


def ws_handshake(key: bytes = b"dGhlIHNhbXBsZSBub25jZQ==", version: bytes = b"13", path: bytes = b"/ws") -> bytes:
    return (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: " + version + b"\r\n\r\n")


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = b"\x01\x02\x03\x04",
                 rsv: int = 0) -> bytes:
    n = len(payload)
    first = bytes([(0x80 if fin else 0) | rsv | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        length = bytes([mask_bit | n])
    elif n < 65536:
        length = bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        length = bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return first + length + payload
    return first + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def open_raw_ws(port: int, path: bytes = b"/ws") -> tuple[trio.SocketStream, bytearray]:
    stream, buf = await raw(port), bytearray()
    await stream.send_all(ws_handshake(path=path))
    with trio.fail_after(5):
        while b"\r\n\r\n" not in buf:
            buf += await stream.receive_some(65536)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    # RFC 6455 section 1.3's worked example.
    assert b"\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    buf[:] = rest
    return stream, buf


async def read_frame(stream: trio.SocketStream, buf: bytearray) -> tuple[int, bytes]:
    """One server frame (servers never mask): (opcode, payload)."""
    with trio.fail_after(5):
        while True:
            if len(buf) >= 2:
                n, offset = buf[1] & 0x7F, 2
                if n == 126 and len(buf) >= 4:
                    n, offset = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127 and len(buf) >= 10:
                    n, offset = int.from_bytes(buf[2:10], "big"), 10
                if n < 126 or offset > 2:
                    assert not buf[1] & 0x80, "server frames must not be masked"
                    if len(buf) >= offset + n:
                        opcode, payload = buf[0] & 0x0F, bytes(buf[offset:offset + n])
                        del buf[:offset + n]
                        return opcode, payload
            data = await stream.receive_some(65536)
            assert data, "connection closed"
            buf += data


async def test_handshake_answers_the_rfc_accept_key() -> None:
    async with serving(EchoApp()) as port:
        stream, _ = await open_raw_ws(port)
        await stream.aclose()


async def test_fragmented_message_ping_and_close_handshake() -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        await stream.send_all(client_frame(0x1, b"hel", fin=False) + client_frame(0x9, b"are you there")
                              + client_frame(0x0, b"lo ", fin=False) + client_frame(0x0, b"world"))
        assert await read_frame(stream, buf) == (0xA, b"are you there")  # pong, mid-message
        assert await read_frame(stream, buf) == (0x1, b"hello world")
        await stream.send_all(client_frame(0x8, (4000).to_bytes(2, "big") + b"done"))
        assert await read_frame(stream, buf) == (0x8, (4000).to_bytes(2, "big"))
        with trio.fail_after(5):
            await app.ws_done.wait()
        assert app.ws_events[-1] == {"type": "websocket.disconnect", "code": 4000}
        assert await closed_by_server(stream)
        await stream.aclose()


@pytest.mark.parametrize(("frames", "code"), [
    (client_frame(0x1, b"x", mask=None), 1002),  # unmasked client frame
    (client_frame(0x1, b"x", rsv=0x40), 1002),  # reserved bit without an extension
    (client_frame(0x3, b"x"), 1002),  # unknown opcode
    (client_frame(0x0, b"x"), 1002),  # continuation of nothing
    (client_frame(0x1, b"a", fin=False) + client_frame(0x1, b"b"), 1002),  # new message mid-message
    (client_frame(0x9, b"p", fin=False), 1002),  # fragmented control frame
    (client_frame(0x9, b"p" * 126), 1002),  # control frame too long
    (client_frame(0x1, b"\xff\xfe"), 1007),  # text that is not UTF-8
    (client_frame(0x8, b"\x03"), 1002),  # one-byte close payload
])
async def test_protocol_violations_close_with_the_right_code(frames: bytes, code: int) -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        await stream.send_all(frames)
        opcode, payload = await read_frame(stream, buf)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == code
        with trio.fail_after(5):
            await app.ws_done.wait()
        assert app.ws_events[-1] == {"type": "websocket.disconnect", "code": code}
        await stream.aclose()


async def test_oversized_message_closes_with_1009() -> None:
    app = EchoApp()
    async with serving(app, ServerLimits(max_ws_message_bytes=1000)) as port:
        for frames in (client_frame(0x1, b"x" * 1001),
                       client_frame(0x1, b"x" * 600, fin=False) + client_frame(0x0, b"x" * 600)):
            stream, buf = await open_raw_ws(port)
            await stream.send_all(frames)
            opcode, payload = await read_frame(stream, buf)
            assert (opcode, int.from_bytes(payload[:2], "big")) == (0x8, 1009)
            await stream.aclose()


async def test_app_close_reaches_the_client_with_code_and_reason() -> None:
    async with serving(EchoApp()) as port, open_websocket_url(f"ws://127.0.0.1:{port}/ws/close") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            with trio.fail_after(5):
                await ws.get_message()
        reason = closed.value.reason
        assert reason is not None and (reason.code, reason.reason) == (4001, "bye now")


# trio-websocket's client leaves its socket to the GC when a handshake is refused (a client-side leak).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
async def test_refused_handshake_is_a_403_and_a_bad_version_a_426() -> None:
    async with serving(EchoApp()) as port:
        with pytest.raises(HandshakeError):
            async with open_websocket_url(f"ws://127.0.0.1:{port}/ws/refuse"):
                pass
        stream, buf = await raw(port), bytearray()
        await stream.send_all(ws_handshake(version=b"8"))
        status, headers, _ = await read_response(stream, buf)
        assert status == 426 and headers["sec-websocket-version"] == "13"
        await stream.aclose()
        stream, buf = await raw(port), bytearray()
        await stream.send_all(ws_handshake(key=b"not-base64-16-bytes"))
        assert (await read_response(stream, buf))[0] == 400
        await stream.aclose()
    gc.collect()


async def test_client_vanishing_is_a_1006_disconnect() -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream, _ = await open_raw_ws(port)
        await stream.aclose()
        with trio.fail_after(5):
            await app.ws_done.wait()
        assert app.ws_events == [{"type": "websocket.disconnect", "code": 1006}]


@given(data=st.binary(max_size=600), mask=st.binary(min_size=4, max_size=4))
def test_unmask_is_the_rfc_xor(data: bytes, mask: bytes) -> None:
    assert _unmask(data, mask) == bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@given(payload=st.binary(max_size=70_000))
@settings(max_examples=30)
def test_server_frame_lengths(payload: bytes) -> None:
    frame = _frame(0x2, payload)
    assert frame[0] == 0x82
    n = frame[1]
    header = 2 if n < 126 else 4 if n == 126 else 10
    assert frame[header:] == payload and len(frame) == header + len(payload)


# ------------------------------------------------------------------------------------------------ both servers
@pytest.mark.parametrize("server", ["trio", "hypercorn"])
async def test_the_emulator_answers_the_same_under_both_servers(server: Any) -> None:
    signer = LocalSigner.generate()
    action = {"type": "order", "orders": [{"a": 0, "b": True, "p": "50000", "s": "0.01", "r": False,
                                           "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
    nonce = 1_700_000_000_000
    body = exchange_body(action, nonce, sign_l1_action(signer, action, None, nonce, None, False), None, None)
    async with open_emulator(server=server, tick_interval_s=3600.0, auto_fund="any",
                             clock_ms=lambda: nonce + 1000) as emu, httpx.AsyncClient(base_url=emu.url) as client:
        meta = (await client.post("/info", json={"type": "meta"})).json()
        assert [a["name"] for a in meta["universe"]][:1] == ["BTC"]
        answer = (await client.post("/exchange", json=body)).json()
        assert answer["status"] == "ok", answer
        assert "resting" in answer["response"]["data"]["statuses"][0]
        again = await client.post("/exchange", json=body)  # the same nonce again
        assert again.json()["status"] == "err"
        bad = await client.post("/info", content=b"{nope")
        assert bad.status_code == 422
        missing = await client.get("/nowhere")
        assert missing.status_code == 404
        async with open_websocket_url(emu.ws_url) as ws:
            await ws.send_message(json.dumps({"method": "ping"}))
            with trio.fail_after(5):
                assert json.loads(await ws.get_message()) == {"channel": "pong"}
            await ws.send_message(json.dumps({"method": "post", "id": 7,
                                              "request": {"type": "info", "payload": {"type": "openOrders",
                                                                                      "user": signer.address}}}))
            with trio.fail_after(5):
                frame = json.loads(await ws.get_message())
            assert frame["channel"] == "post" and frame["data"]["id"] == 7
            assert len(frame["data"]["response"]["payload"]["data"]) == 1


# ------------------------------------------------------------------------------------------------ review findings
async def test_head_response_carries_no_body_so_the_next_response_parses() -> None:
    """RFC 9112 6.3: a response to HEAD ends after its head (the app may still hand us a body)."""
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + post("/after", b"next"))
        with trio.fail_after(5):
            while buf.count(b"\r\n\r\n") < 2:
                buf += await stream.receive_some(65536)
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head
        assert rest.startswith(b"HTTP/1.1 200 "), rest[:80]
        buf[:] = rest
        assert json.loads((await read_response(stream, buf))[2])["body"] == "next"
        await stream.aclose()


async def test_http10_keep_alive_is_confirmed_in_the_answer() -> None:
    """An HTTP/1.0 client keeps the connection only if the answer says ``Connection: keep-alive``."""
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"POST /k HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
        status, headers, _ = await read_response(stream, buf)
        assert (status, headers.get("connection")) == (200, "keep-alive")
        await stream.aclose()


async def test_chunk_sizes_with_leading_zeros_are_accepted() -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"0000000005\r\nhello\r\n000000000000\r\n\r\n")
        status, _, body = await read_response(stream, buf)
        assert status == 200 and json.loads(body)["body"] == "hello"
        await stream.aclose()


async def test_upgrade_token_in_a_second_connection_header_is_honoured() -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(ws_handshake().replace(b"Connection: Upgrade\r\n",
                                                     b"Connection: keep-alive\r\nConnection: Upgrade\r\n"))
        with trio.fail_after(5):
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive_some(65536)
        assert buf.startswith(b"HTTP/1.1 101 ")
        await stream.aclose()


@pytest.mark.parametrize(("frames", "code"), [
    (client_frame(0x8, (1005).to_bytes(2, "big")), 1002),  # reserved: never on the wire
    (client_frame(0x8, (1006).to_bytes(2, "big")), 1002),
    (client_frame(0x8, (999).to_bytes(2, "big")), 1002),
    (client_frame(0x8, (2000).to_bytes(2, "big")), 1002),
    (client_frame(0x8, (5000).to_bytes(2, "big")), 1002),
    # A 64-bit length with the most significant bit set (RFC 6455 5.2: it MUST be 0).
    (b"\x82\xff" + ((1 << 63) | 5).to_bytes(8, "big") + b"\x01\x02\x03\x04" + b"hello", 1002),
])
async def test_invalid_close_codes_and_lengths_are_protocol_errors(frames: bytes, code: int) -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        await stream.send_all(frames)
        opcode, payload = await read_frame(stream, buf)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == code
        with trio.fail_after(5):
            await app.ws_done.wait()
        await stream.aclose()


@pytest.mark.parametrize("code", [1000, 1003, 1011, 1014, 3000, 4999])
async def test_valid_close_codes_are_echoed(code: int) -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        await stream.send_all(client_frame(0x8, code.to_bytes(2, "big")))
        assert await read_frame(stream, buf) == (0x8, code.to_bytes(2, "big"))
        with trio.fail_after(5):
            await app.ws_done.wait()
        assert app.ws_events[-1] == {"type": "websocket.disconnect", "code": code}
        await stream.aclose()


async def test_close_without_payload_is_answered_and_reported_as_1005() -> None:
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        await stream.send_all(client_frame(0x8, b""))
        opcode, payload = await read_frame(stream, buf)
        assert opcode == 0x8 and payload in (b"", (1000).to_bytes(2, "big"))
        with trio.fail_after(5):
            await app.ws_done.wait()
        assert app.ws_events[-1] == {"type": "websocket.disconnect", "code": 1005}
        assert await closed_by_server(stream)
        await stream.aclose()


async def test_a_long_close_reason_is_cut_on_a_character_boundary() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "é" * 100})

    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        opcode, payload = await read_frame(stream, buf)
        assert opcode == 0x8 and len(payload) <= 125
        assert payload[2:].decode() == "é" * ((len(payload) - 2) // 2)
        await stream.aclose()


async def test_endless_empty_fragments_cost_neither_memory_nor_quadratic_time() -> None:
    """Each fragment of a message used to be kept in a list and the list summed per fragment: a peer
    sending empty continuation frames grew the list forever, at O(n^2) CPU."""
    app = EchoApp()
    async with serving(app) as port:
        stream, buf = await open_raw_ws(port)
        await stream.send_all(client_frame(0x1, b"a", fin=False)
                              + client_frame(0x0, b"", fin=False) * 100_000 + client_frame(0x0, b"z"))
        with trio.fail_after(10):
            assert await read_frame(stream, buf) == (0x1, b"az")
        await stream.aclose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(st.binary(max_size=70_000).map(lambda b: b[:300] if len(b) % 3 else b), min_size=1,
                         max_size=3),
       masks=st.lists(st.binary(min_size=4, max_size=4), min_size=3, max_size=3),
       cuts=st.lists(st.integers(0, 1 << 20), max_size=12))
async def test_masked_frames_split_at_any_byte_boundaries_arrive_whole(
    payloads: list[bytes], masks: list[bytes], cuts: list[int]
) -> None:
    """Every message is sent as two fragments with a ping between them."""
    wire = b"".join(client_frame(0x2, p[:len(p) // 2], fin=False, mask=masks[0])
                    + client_frame(0x9, b"pi", mask=masks[1])
                    + client_frame(0x0, p[len(p) // 2:], mask=masks[2]) for p in payloads)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    async with serving(EchoApp()) as port:
        stream, buf = await open_raw_ws(port)
        for a, b in itertools.pairwise(points):
            await stream.send_all(wire[a:b])
            await trio.testing.wait_all_tasks_blocked()
        got = []
        while len(got) < 2 * len(payloads):
            got.append(await read_frame(stream, buf))
        assert [p for op, p in got if op == 0x2] == payloads
        assert [p for op, p in got if op == 0xA] == [b"pi"] * len(payloads)
        await stream.aclose()



@pytest.mark.parametrize("framing", [
    b"Content-Length: 0004\r\n\r\nbody",  # leading zeros
    b"content-LENGTH:4 \r\n\r\nbody",  # any case, no space before the value, trailing whitespace
    b"Transfer-Encoding: \t Chunked \t\r\n\r\n4 ; x=y\r\nbody\r\n0\r\n\r\n",  # whitespace around tokens
    b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nbody",  # a repeated, identical length
])
async def test_framing_variants_clients_send_are_accepted(framing: bytes) -> None:
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"POST /v HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, TE\r\n" + framing)
        status, headers, body = await read_response(stream, buf)
        assert (status, json.loads(body)["body"], headers.get("connection")) == (200, "body", None)
        await stream.aclose()


async def test_obsolete_header_folding_is_refused() -> None:
    """RFC 9112 5.2: a server rejects obs-fold with 400 (or unfolds it); it must not take the continuation
    line for a header of its own."""
    async with serving(EchoApp()) as port:
        stream, buf = await raw(port), bytearray()
        await stream.send_all(b"POST /x HTTP/1.1\r\nX-A: a\r\n Content-Length: 4\r\n\r\nbody")
        assert (await read_response(stream, buf))[0] == 400
        await stream.aclose()


async def test_a_pipelined_burst_lets_other_tasks_run() -> None:
    """Requests already in the buffer are served without reading the socket; with an app that never
    checkpoints (the emulator's fast paths do not) a client pipelining thousands of requests held the
    whole event loop until it had its answers: the server must yield every ``_YIELD_EVERY`` requests."""
    ticks = 0
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        seen.append(ticks)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    n = 2000
    async with serving(app) as port, trio.open_nursery() as nursery:
        stream, buf = await raw(port), bytearray()
        nursery.start_soon(ticker)
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * n)
        for _ in range(n):
            assert (await read_response(stream, buf))[0] == 200
        nursery.cancel_scope.cancel()
        await stream.aclose()
    longest = max(len(list(run)) for _, run in itertools.groupby(seen))
    assert longest <= 2 * _asgi_server._YIELD_EVERY, longest


async def test_a_burst_of_buffered_frames_lets_other_tasks_run() -> None:
    """Frames already in the buffer are handed to the app without reading the socket; a peer sending a
    flood of tiny frames (with an app that never checkpoints) must not hold the event loop: the server
    yields every ``_WS_YIELD_EVERY`` frames (a post window of 64 still leaves in one write)."""
    ticks = 0
    seen: list[int] = []
    n = 20_000

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while len(seen) < n:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            seen.append(ticks)
        await send({"type": "websocket.send", "text": "done"})

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with serving(app) as port, trio.open_nursery() as nursery:
        stream, buf = await open_raw_ws(port)
        nursery.start_soon(ticker)
        await stream.send_all(client_frame(0x1, b"") * n)
        assert await read_frame(stream, buf) == (0x1, b"done")
        nursery.cancel_scope.cancel()
        await stream.aclose()
    longest = max(len(list(run)) for _, run in itertools.groupby(seen))
    assert longest <= 2 * _asgi_server._WS_YIELD_EVERY, longest


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_every_accepted_socket_is_closed_on_setsockopt_failure_app_errors_and_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _open_fds()
    async with serving(EchoApp()) as port:
        # setsockopt failing on an accepted socket: dropped at once.
        real = socket.socket.setsockopt

        def failing(self: socket.socket, *args: Any) -> None:
            if self.getsockname()[1] == port and args[:2] == (socket.IPPROTO_TCP, socket.TCP_NODELAY):
                raise OSError("injected")
            real(self, *args)

        monkeypatch.setattr(socket.socket, "setsockopt", failing)
        stream = await raw(port)
        assert await closed_by_server(stream)
        await stream.aclose()
        monkeypatch.undo()
        # An app error, then connections left open at shutdown: idle keep-alive, mid-request, a WebSocket.
        stream, buf = await raw(port), bytearray()
        await stream.send_all(post("/raise", b""))
        assert (await read_response(stream, buf))[0] == 500
        await stream.aclose()
        idle, buf = await raw(port), bytearray()
        await idle.send_all(post("/x", b""))
        assert (await read_response(idle, buf))[0] == 200
        partial = await raw(port)
        await partial.send_all(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        ws, _ = await open_raw_ws(port)
        await trio.testing.wait_all_tasks_blocked()
    # The server is gone: every one of its sockets is closed (the clients see EOF).
    for client in (idle, partial, ws):
        with trio.fail_after(5):
            assert await client.receive_some(100) == b""
        await client.aclose()
    gc.collect()
    assert _open_fds() == before
