"""Read ``[topic, payload]`` messages off a SUB socket for a fifth of what ``recv_multipart`` costs.

Rule: two plain ``recv()`` per message, and the framing is checked by the content instead of by asking
libzmq after every frame.  ``recv_multipart`` reads ``RCVMORE`` after each frame through pyzmq's generic
``getsockopt``, which converts the option number to an enum first: 25 k instructions per two-frame message
where two plain receives take 4.4 k (callgrind), and half of a subscriber's whole per-event cost.

Why the content is enough: a pair is accepted only when the payload is a valid envelope *and* the first
frame is exactly the topic that envelope names (``decode_frames`` checks both).  A stream that lost its
alignment (a peer sent a message of one frame, or of three) cannot pass that check by accident: a topic
frame is not JSON.  So ``RCVMORE`` is read only on the slow path, after a pair failed, to find where the
message really ends:

* the second frame *ends* a message: the pair was one malformed message, rejected whole;
* the second frame does *not* end a message: the first frame was a message of its own (or the start of
  a longer malformed one) and is rejected alone, while the second frame is kept as the first frame of the next
  pair, so a valid message that follows a stray frame is never lost;
* no second frame at all: multipart messages arrive atomically, so a first frame with nothing after it
  was a one-frame message, rejected.

The one difference from ``recv_multipart``: a message of three frames whose first two are a valid pair is
accepted, and its third frame is then rejected on its own.  Nothing valid is ever dropped and every stray
frame is counted.

Not a Trio construct: ``receive()`` never blocks when given ``zmq.NOBLOCK`` (the default; it raises
``zmq.Again``), so it serves the recorder's Trio loop as well as a plain blocking subscriber (``flags=0``,
with ``RCVTIMEO`` if wanted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import zmq

from trio_hl.errors import ProtocolError
from trio_hl.events.core import int_option
from trio_hl.events.schema import Message, decode_frames

__all__ = ["MalformedMessage", "MessageReader"]

_ONE_FRAME = "expected 2 frames [topic, payload], got 1"


class MalformedMessage(ProtocolError):
    """A message (or a stray frame) that is not a valid event; ``frames`` are what was read, for keeping."""

    def __init__(self, frames: list[bytes], error: str) -> None:
        super().__init__(error)
        self.frames = frames


class MessageReader:
    """Reads validated ``Message`` values from one SUB socket (see the module doc for how frames pair up).

    Only this reader may receive from the socket: it may hold one frame of the next message between calls.
    """

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self._socket = socket
        self._recv: Callable[[int], bytes] = socket.recv
        self._pending: bytes | None = None

    def receive(self, flags: int = zmq.NOBLOCK) -> Message:
        """The next message; ``zmq.Again`` if none is ready (with ``NOBLOCK``, or on ``RCVTIMEO``).

        Raises ``MalformedMessage`` for a message that fails validation; the next call carries on.
        """
        topic = self._pending
        if topic is None:
            topic = self._recv(flags)
        else:
            self._pending = None
        try:
            payload = self._recv(zmq.NOBLOCK)
        except zmq.Again:
            raise MalformedMessage([topic], _ONE_FRAME) from None
        try:
            return decode_frames(topic, payload)
        except ProtocolError as exc:
            error = str(exc)
        if int_option(self._socket, zmq.RCVMORE):
            self._pending = payload
            raise MalformedMessage([topic], _ONE_FRAME)
        raise MalformedMessage([topic, payload], error)
