"""Small ZMQ helpers shared by the publisher and the recorder.

The one rule they encode: a ZMQ socket's ``FD`` is *edge-triggered* and is reset by any operation on the
socket (send, recv, reading ``EVENTS``).  So a task may wait on the FD only right after ``EVENTS`` said
"nothing to read", with no socket call in between; anything else loses wake-ups and hangs with messages
sitting in the socket.  ``readable()`` is that check.
"""

from __future__ import annotations

from typing import Any, cast

import zmq

__all__ = ["int_option", "readable"]


def int_option(socket: zmq.Socket[Any], option: int) -> int:
    """An integer socket option (pyzmq types every option as ``int | bytes``)."""
    return cast(int, socket.get(option))


def readable(socket: zmq.Socket[Any]) -> bool:
    """True if a message can be received now.  Reading ``EVENTS`` also processes pending commands, which is
    what makes waiting on the FD afterwards safe when it returns False."""
    return bool(int_option(socket, zmq.EVENTS) & zmq.POLLIN)
