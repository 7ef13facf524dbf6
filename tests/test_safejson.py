"""Nesting-depth guard in front of every JSON decoder that reads peer input (see trio_hl.core.safejson)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.core import safejson

# Strings full of the characters the scan must not be fooled by.
_tricky_text = st.text(alphabet=st.sampled_from(list('[]{}"\\ax\u00e9\u4e2d')), max_size=12)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_tricky_text, children, max_size=3),
    max_leaves=20,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_values, st.integers(min_value=0, max_value=8), st.booleans())
def test_refuses_exactly_the_documents_deeper_than_the_limit(value: Any, limit: int, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=False)
    document: str | bytes = text.encode() if as_bytes else text
    if _depth(value) > limit:
        with pytest.raises(safejson.TooDeepError):
            safejson.check_depth(document, limit)
    else:
        safejson.check_depth(document, limit)


def test_the_eth_account_recursion_limit_cannot_turn_a_deep_frame_into_a_crash() -> None:
    # py_ecc (eth-account) raises the recursion limit to 100 000 on import; json would then overflow the C stack.
    import eth_account  # noqa: F401

    assert sys.getrecursionlimit() >= 100_000
    for hostile in ("[" * 200_000 + "]" * 200_000, '{"a":' * 100_000 + "1" + "}" * 100_000, "[1," * 70_000):
        with pytest.raises(safejson.TooDeepError, match="deeper than 64"):
            safejson.loads(hostile)


def test_normal_documents_decode_unchanged() -> None:
    frame = {"channel": "l2Book", "data": {"coin": "BTC", "levels": [[{"px": "1", "sz": "2", "n": 1}] * 30] * 2}}
    assert safejson.loads(json.dumps(frame)) == frame
    assert safejson.loads(json.dumps(frame).encode()) == frame
    with pytest.raises(ValueError):
        safejson.loads("{truncated")


def test_bytes_are_read_as_utf8_only_so_the_check_sees_what_the_decoder_sees() -> None:
    # json.loads(bytes) would guess UTF-16; U+2200 is 00 22 there - a phantom quote for a UTF-8 reading.
    import eth_account  # noqa: F401  (the raised recursion limit is what makes a miss fatal)

    hostile = ("\u2200" + "[" * 99_000 + "]" * 99_000).encode("utf-16-le")
    with pytest.raises(ValueError):
        safejson.loads(hostile)
    assert safejson.loads('{"a": "\u2200"}'.encode()) == {"a": "\u2200"}


def _reference_check(data: bytes, limit: int) -> bool:
    """The scan as first written (regex passes, no shortcuts): True when the document is accepted."""
    import re

    if data.count(b"[") + data.count(b"{") <= limit:
        return True
    skeleton = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, safejson._NOT_STRUCTURE)
    pieces = skeleton.split(b'"')
    outside = pieces[::2]
    if len(pieces) % 2 == 0:
        outside.append(pieces[-1])
    skeleton = b"".join(outside)
    for passes in range(limit + 1):
        if not skeleton:
            return True
        skeleton, removed = re.subn(rb"\[\]|\{\}", b"", skeleton)
        if not removed:
            return passes + skeleton.count(b"[") + skeleton.count(b"{") <= limit
    return False


@given(st.text(alphabet=st.sampled_from(list('[]{}"\\a:,')), max_size=60), st.integers(min_value=0, max_value=6))
def test_any_text_malformed_or_not_is_judged_as_by_the_plain_scan(text: str, limit: int) -> None:
    """The shortcuts (no escape pass without a backslash, adjacent quotes dropped first, replace passes instead
    of a regex) accept and refuse exactly what the plain scan does - on malformed input too."""
    try:
        safejson.check_depth(text, limit)
        accepted = True
    except safejson.TooDeepError:
        accepted = False
    assert accepted == _reference_check(text.encode(), limit)
