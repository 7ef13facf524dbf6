"""MessageReader: two frames per message checked by content; stray frames are rejected, valid messages never lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from event_samples import example_event
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hl.core.events import OrderCreated, OrderFilled
from trio_hl.events.reader import MalformedMessage, MessageReader
from trio_hl.events.schema import Message, decode_message, encode_message


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[Any], MessageReader]]:
    """An XPUB and a subscribed SUB over inproc; the SUB waits at most 5 s for a first frame."""
    ctx: zmq.Context[Any] = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    sub = ctx.socket(zmq.SUB)
    try:
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.bind("inproc://reader")
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.RCVTIMEO, 5000)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect("inproc://reader")
        pub.setsockopt(zmq.RCVTIMEO, 5000)
        assert pub.recv() == b"\x01"  # the subscription reached the publisher: nothing sent later is lost
        yield pub, MessageReader(sub)
    finally:
        pub.close(linger=0)
        sub.close(linger=0)
        ctx.term()


def _frames(seq: int, cls: type = OrderCreated) -> list[bytes]:
    return list(encode_message(example_event(cls), seq=seq, publisher_id="p", ts=1.0, venue="hyperliquid"))


def _read_all(reader: MessageReader, count: int) -> list[Message | MalformedMessage]:
    """``count`` outcomes: the first read of each blocks (RCVTIMEO), so nothing depends on timing."""
    out: list[Message | MalformedMessage] = []
    for _ in range(count):
        try:
            out.append(reader.receive(0))
        except MalformedMessage as exc:
            out.append(exc)
    return out


def test_valid_messages_decode_like_decode_message(pair: tuple[zmq.Socket[Any], MessageReader]) -> None:
    pub, reader = pair
    sent = [_frames(1), _frames(2, OrderFilled)]
    for frames in sent:
        pub.send_multipart(frames)
    got = _read_all(reader, 2)
    assert got == [decode_message(f) for f in sent]
    with pytest.raises(zmq.Again):
        reader.receive()  # NOBLOCK by default: nothing left


def test_a_lonely_frame_is_rejected_and_the_next_message_survives(pair: tuple[zmq.Socket[Any], MessageReader]) -> None:
    pub, reader = pair
    pub.send(b"lonely")
    pub.send_multipart(_frames(1))
    lonely, good = _read_all(reader, 2)
    assert isinstance(lonely, MalformedMessage) and lonely.frames == [b"lonely"]
    assert "expected 2 frames" in str(lonely)
    assert isinstance(good, Message) and good.seq == 1


def test_a_lonely_frame_with_nothing_after_it_is_rejected(pair: tuple[zmq.Socket[Any], MessageReader]) -> None:
    pub, reader = pair
    pub.send(b"orders.hyperliquid.created")
    (lonely,) = _read_all(reader, 1)
    assert isinstance(lonely, MalformedMessage) and lonely.frames == [b"orders.hyperliquid.created"]
    pub.send_multipart(_frames(7))
    (good,) = _read_all(reader, 1)
    assert isinstance(good, Message) and good.seq == 7


def test_a_bad_pair_is_rejected_whole(pair: tuple[zmq.Socket[Any], MessageReader]) -> None:
    pub, reader = pair
    pub.send_multipart([b"orders.hyperliquid.created", b"{broken"])
    pub.send_multipart(_frames(2))
    bad, good = _read_all(reader, 2)
    assert isinstance(bad, MalformedMessage) and bad.frames == [b"orders.hyperliquid.created", b"{broken"]
    assert "undecodable" in str(bad)
    assert isinstance(good, Message) and good.seq == 2


def test_extra_frames_are_rejected_on_their_own(pair: tuple[zmq.Socket[Any], MessageReader]) -> None:
    """A valid pair followed by a third frame: the pair is taken, the stray frame rejected, the next kept."""
    pub, reader = pair
    pub.send_multipart([*_frames(1), b"extra"])
    pub.send_multipart(_frames(2))
    first, stray, second = _read_all(reader, 3)
    assert isinstance(first, Message) and first.seq == 1
    assert isinstance(stray, MalformedMessage) and stray.frames == [b"extra"]
    assert isinstance(second, Message) and second.seq == 2


_junk = st.lists(st.sampled_from([b"x", b"{}", b"orders.hyperliquid.created", b"[1]", b"\xff"]), min_size=1,
                 max_size=4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(1, 3), _junk), max_size=8))
def test_any_mix_of_junk_loses_no_valid_message(script: list[int | list[bytes]]) -> None:
    """Whatever junk (of any frame count) is interleaved, every valid message is read, in order, and every
    junk frame is accounted for in some rejection."""
    ctx: zmq.Context[Any] = zmq.Context()
    pub, sub = ctx.socket(zmq.XPUB), ctx.socket(zmq.SUB)
    try:
        pub.bind("inproc://junk")
        sub.setsockopt(zmq.RCVTIMEO, 5000)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect("inproc://junk")
        pub.setsockopt(zmq.RCVTIMEO, 5000)
        assert pub.recv() == b"\x01"
        reader = MessageReader(sub)
        expected_seqs, junk_frames, seq = [], 0, 0
        for item in script:
            if isinstance(item, int):
                for _ in range(item):
                    seq += 1
                    expected_seqs.append(seq)
                    pub.send_multipart(_frames(seq))
            else:
                junk_frames += len(item)
                pub.send_multipart(item)
        seqs, rejected_frames = [], 0
        while True:
            try:
                message = reader.receive()
            except zmq.Again:
                break
            except MalformedMessage as exc:
                rejected_frames += len(exc.frames)
            else:
                seqs.append(message.seq)
        assert seqs == expected_seqs
        assert rejected_frames == junk_frames
    finally:
        pub.close(linger=0)
        sub.close(linger=0)
        ctx.term()
