"""JSON decoding that a hostile peer cannot turn into a segmentation fault.

Why this exists: ``py_ecc`` (pulled in by ``eth-account``) raises ``sys.setrecursionlimit`` to 100 000 when it
is imported.  Both ``json`` and ``msgspec`` decode nested arrays/objects by C recursion guarded only by that
limit, so with it raised a frame like ``"[" * 100_000`` overflows the C stack and kills the process instead of
raising ``RecursionError``.  A venue, a proxy or a fuzzer can send such a frame; a connector must survive it.

We therefore measure the nesting depth *before* decoding and refuse anything deeper than :data:`MAX_DEPTH`
(Hyperliquid payloads nest at most ~6 levels).  The check is cheap: a document with fewer openers than the limit
cannot be too deep and skips the scan entirely; larger ones are reduced with C-level regexes that first drop
string literals, so brackets inside strings never count (see :func:`check_depth`).
"""

from __future__ import annotations

from typing import Any

import msgspec

#: Deepest nesting accepted.  Far above anything the venue sends, far below what overflows a C stack.
MAX_DEPTH = 64

#: Every byte but brackets and quotes (UTF-8 multi-byte sequences never contain an ASCII byte, so dropping
#: the bytes >= 0x80 can never drop or invent a bracket or a quote).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


class TooDeepError(ValueError):
    """A JSON document nests deeper than :data:`MAX_DEPTH` (refused before decoding)."""


def check_depth(text: str | bytes | bytearray | memoryview, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`TooDeepError` if ``text`` nests arrays/objects deeper than ``limit``.

    How: drop escapes, everything but brackets and quotes, then string literals; then strip innermost
    ``[]``/``{}`` pairs one level per pass (each pass is one C-level regex substitution).  A document of
    depth *d* empties in exactly *d* passes, so we stop after ``limit`` passes and refuse if pairs remain;
    unmatched openers (truncated input) count as depth too: the decoder descends into them before it fails.
    Malformed documents that are not too deep pass: the decoder reports those with its own message.
    Cost: nothing for documents with at most ``limit`` openers (every book frame); a fraction of the decode
    otherwise (bytes-level passes in C).
    """
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= limit:
            return
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = bytes(text)
        if data.count(b"[") + data.count(b"{") <= limit:
            return
    # Escaped backslashes go first so that an escaped quote can never be mistaken for a string's end; what
    # remains are plain `"..."` literals.  All on bytes: bytes.translate with a deletion table is a table scan in
    # C, where str.translate with a mapping looked each character up (~60 ns a character: 0.6 ms for the 10 kB
    # orderUpdates frame of a 40-order batch, twice the time of decoding it).
    # (Only when there is a backslash at all: a 10 kB frame without one - every order frame - costs a memchr
    # instead of two replace scans, which were half the check's time.)
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(None, _NOT_STRUCTURE)
    # Adjacent quotes go first, in one C pass: an empty literal, or the end of one literal and the start of the
    # next with nothing between them (the two merge into one literal).  Either way the quotes after keep their
    # parity, so every bracket stays inside or outside a string as before - and the split below sees only the
    # literals that hold a bracket, not one piece per key and value (that split was the other half).  Only with
    # every quote matched: after an unmatched one the rest counts as outside, and a merge would move that point.
    if not skeleton.count(b'"') % 2:
        skeleton = skeleton.replace(b'""', b"")
    # String literals out: split on the quotes and keep the even pieces (what a left-to-right ``"[^"]*"`` removal
    # keeps, in one C pass instead of a regex substitution per literal); after an unmatched quote the rest is kept.
    pieces = skeleton.split(b'"')
    outside = pieces[::2]
    if len(pieces) % 2 == 0:
        outside.append(pieces[-1])
    skeleton = b"".join(outside)
    for passes in range(limit + 1):
        if not skeleton:
            return
        # One level: every innermost ``[]`` and ``{}`` at once.  The ``[]`` pairs become a placeholder byte first
        # so that the ``{}`` replace cannot see a pair the first one just formed (``{[]}`` loses one level per
        # pass, as with one regex alternation) - three C-level replaces, a twentieth of a regex substitution
        # that builds a match object per pair.
        shorter = skeleton.replace(b"[]", b"\x00").replace(b"{}", b"\x00").replace(b"\x00", b"")
        removed = len(shorter) != len(skeleton)
        skeleton = shorter
        if not removed:
            # Only unmatched brackets are left (a malformed document).  The decoder would still recurse into
            # every unmatched opener before failing, so those count toward the depth too.
            if passes + skeleton.count(b"[") + skeleton.count(b"{") <= limit:
                return
            break
    raise TooDeepError(f"JSON nested deeper than {limit} levels")


#: msgspec's untyped JSON decoder: the same Python values as ``json.loads`` (dict, list, str, int of any size,
#: float, bool, None) in about 0.4x its time; stricter on what is not JSON (``NaN``, ``Infinity``, numbers that
#: overflow a float, lone surrogate escapes are refused), which no venue frame contains.
_decode = msgspec.json.Decoder().decode


def loads(text: str | bytes | bytearray) -> Any:
    """Decode JSON after :func:`check_depth`; raises ``ValueError`` (incl. :class:`TooDeepError`,
    ``UnicodeDecodeError`` and ``msgspec.DecodeError``) on bad input.

    Bytes are decoded as strict UTF-8 *first* and the text is what gets checked and parsed: ``json.loads`` would
    also guess UTF-16/32 for bytes, and a check that read them as UTF-8 would see different brackets than the
    decoder (U+2200 is ``00 22`` in UTF-16: a phantom quote that hides a deep document)."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8")
    check_depth(text)
    return _decode(text)
