"""What the emulator's built-in HTTP/WebSocket server lets one client cost it: :class:`ServerLimits`.

The emulator is pointed at by other people's clients and strategies, some of them broken, so every resource a
peer can make the server hold is bounded by a named setting with a safe default:

* **Memory per connection** is bounded by ``max_body_bytes`` (a request body is refused with 413 as soon as its
  declared or received size passes the cap, before the rest is read), ``max_head_bytes`` (431) and
  ``max_ws_message_bytes`` (close 1009 as soon as a frame header announces more).  The body and message caps
  default to the app's own cap (``EmulatorApp`` refuses bodies over 1 MiB): a larger server cap would only buffer
  what the app throws away.  Worst case, a connection holds about one cap's worth of bytes.
* **Connections** are capped by ``max_connections``: beyond it a new connection is answered ``503`` and closed,
  so the total memory stays near ``max_connections`` x ``max_body_bytes`` and file descriptors stay available.
* **Time**: a connection that waits for a request sends its first byte within ``keep_alive_timeout_s`` (also
  the wait before the first request); once a request's first byte is in, the whole request (head and body)
  arrives within ``request_timeout_s`` or gets ``408`` and is closed (a slow-loris sending one byte every few
  seconds is closed all the same); an HTTP answer the client does not read within ``send_timeout_s`` closes
  the connection.  WebSocket connections are the app's to time out (``EmulatorApp``'s ``idle_timeout_s``).
  Timeouts run on Trio's clock (tests under ``MockClock`` jump them) and are checked by one task per server
  about once a second (at most ``min(timeouts) / 4``), so each fires up to that much late; the hot path only
  stores a float per request.

Defaults: the venue's own numbers are unknown (PROTOCOL.md has none for the transport); these follow common
server practice (nginx answers 431 past 8-32 KiB of headers, hypercorn keeps idle connections 5 s, nginx 75 s)
with room for a local test client: 16 KiB of head (our clients send ~200 bytes), 512 connections (a test suite
or benchmark opens dozens; 512 x 1 MiB bounds the worst case to 0.5 GiB), 60 s idle (the venue's WebSocket idle
timeout, PROTOCOL.md), 20 s per request (a stalled half-request is gone within 21 s), 30 s to take an answer.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["ServerLimits"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0 or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"ServerLimits.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class ServerLimits:
    """Per-connection and per-server bounds of the built-in server (see the module docstring for why each
    default).  A timeout of ``math.inf`` switches that timeout off."""

    #: A request body larger than this is refused with 413 before more of it is read (``Content-Length``
    #: over it: at once; chunked: when the running total passes it).  The emulator app's own cap.
    max_body_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    #: Request line plus headers; more is refused with 431.
    max_head_bytes: int = attrs.field(default=16 * 1024, validator=_positive)
    #: One WebSocket message (all its fragments); a frame that would pass it closes the connection with 1009
    #: before its payload is read.
    max_ws_message_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    #: Open connections (HTTP and WebSocket); one more is answered 503 and closed.
    max_connections: int = attrs.field(default=512, validator=_positive)
    #: A connection with no request in progress (before its first, between keep-alive requests) is closed
    #: after this long.
    keep_alive_timeout_s: float = attrs.field(default=60.0, validator=_positive)
    #: From a request's first byte to its last (head and body): past it the server answers 408 and closes.
    request_timeout_s: float = attrs.field(default=20.0, validator=_positive)
    #: An HTTP answer the client has not taken (its socket buffer stays full) for this long closes the
    #: connection.
    send_timeout_s: float = attrs.field(default=30.0, validator=_positive)

    def check_interval_s(self) -> float:
        """How often the server looks for expired connections: each timeout fires at most this late."""
        return max(0.01, min(1.0, self.keep_alive_timeout_s / 4, self.request_timeout_s / 4,
                             self.send_timeout_s / 4))
