"""The direct libsecp256k1 path (``_secp256k1``) against coincurve's public API, and the strict signature parser.

coincurve's ``PrivateKey.sign_recoverable`` / ``PublicKey.from_signature_and_message`` are the reference: the
direct calls must give the very same bytes for any key and digest, refuse what they refuse, and stay correct when
several threads sign at once (cffi releases the GIL during each C call, so shared buffers would mix results).
"""

from __future__ import annotations

import threading
from typing import Any

import coincurve
import pytest
import trio
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from trio_hl.errors import ConfigError, ProtocolError
from trio_hl.hyperliquid import _secp256k1
from trio_hl.hyperliquid import signing as S

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
secrets_ = st.integers(1, N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)


@given(secret=secrets_, digest=digests)
def test_direct_sign_equals_coincurve(secret: bytes, digest: bytes) -> None:
    rs, recovery_id = _secp256k1.sign_recoverable(secret, digest)
    assert rs + bytes([recovery_id]) == coincurve.PrivateKey(secret).sign_recoverable(digest, hasher=None)


@given(secret=secrets_, digest=digests)
def test_wire_signature_equals_sign_digest_and_recovers(secret: bytes, digest: bytes) -> None:
    """The hot path's hex (leading zeros stripped from the 64 bytes) is exactly the SDK's ``hex(int)`` form."""
    signer = S.LocalSigner(secret)
    r, s, v = signer.sign_digest(digest)
    assert signer._sign_wire(digest) == {"r": hex(r), "s": hex(s), "v": v}
    assert S.recover_digest_signer(digest, {"r": hex(r), "s": hex(s), "v": v}) == signer.address


def test_wire_signature_strips_leading_zero_digits_like_hex() -> None:
    """A signature whose r has leading zero nibbles (1 in 16 do) is written unpadded, like ``hex(int)``."""
    signer = S.LocalSigner("0x" + "4f" * 32)
    for i in range(400):
        digest = i.to_bytes(32, "big")
        r, s, v = signer.sign_digest(digest)
        if r < 1 << 252 or s < 1 << 252:
            wire = signer._sign_wire(digest)
            assert wire == {"r": hex(r), "s": hex(s), "v": v}
            assert not wire["r"].startswith("0x0") and not wire["s"].startswith("0x0")
            return
    pytest.fail("no signature with a short r or s in 400 tries (expected about 50)")


@given(
    r=st.integers(0, 2**256 - 1), s=st.integers(0, 2**256 - 1), recovery_id=st.integers(0, 3), digest=digests
)
def test_direct_recover_equals_coincurve(r: int, s: int, recovery_id: int, digest: bytes) -> None:
    sig64 = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    try:
        expected = coincurve.PublicKey.from_signature_and_message(
            sig64 + bytes([recovery_id]), digest, hasher=None
        ).format(compressed=False)[1:]
    except ValueError:
        expected = None
    assert _secp256k1.recover_public_key(sig64, recovery_id, digest) == expected


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((bytes(64), 0, bytes(31)), "digest"),
        ((bytes(64), 0, bytearray(32)), "digest"),
        ((bytes(63), 0, bytes(32)), "64 bytes"),
        ((bytes(64), 4, bytes(32)), "recovery id"),
        ((bytes(64), -1, bytes(32)), "recovery id"),
    ],
)
def test_direct_recover_checks_lengths_before_calling_c(args: tuple[Any, ...], fragment: str) -> None:
    """A short ``bytes`` handed to the C function would be read past its end: refused first."""
    with pytest.raises(ValueError, match=fragment):
        _secp256k1.recover_public_key(*args)


def test_direct_sign_checks_the_digest() -> None:
    for bad in (bytes(31), bytes(33), bytearray(32), "00" * 16):
        with pytest.raises(ValueError, match="32 bytes"):
            _secp256k1.sign_recoverable(b"\x01" * 32, bad)  # type: ignore[arg-type]


def test_sign_digest_accepts_a_bytes_subclass() -> None:
    class Digest(bytes):
        pass

    signer = S.LocalSigner("0x" + "4f" * 32)
    assert signer.sign_digest(Digest(bytes(range(32)))) == signer.sign_digest(bytes(range(32)))


def test_recovery_id_2_from_libsecp256k1_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """R.x >= n (probability ~2**-128) has no Ethereum v: the signer says so rather than send v=29."""
    signer = S.LocalSigner("0x" + "4f" * 32)
    monkeypatch.setattr(S, "sign_recoverable", lambda secret, digest: (b"\x01" * 64, 2))
    with pytest.raises(ConfigError, match="recovery id 2"):
        S.sign_l1_action(signer, {"type": "noop"}, None, 1, None, True)


async def test_threads_signing_at_once_each_get_their_own_signatures() -> None:
    """cffi releases the GIL inside libsecp256k1: per-thread buffers keep concurrent results apart.

    The threads start together (a barrier) and each signs 1 000 digests, so their C calls overlap on the
    2-CPU box; with one shared buffer this test fails (checked when it was written)."""
    keys = [S.LocalSigner(bytes([i + 1]) * 32) for i in range(4)]
    digests = [n.to_bytes(32, "big") for n in range(1000)]
    start = threading.Barrier(len(keys))
    results: dict[int, list[dict[str, Any]]] = {}

    def work(i: int) -> None:
        start.wait()
        results[i] = [keys[i]._sign_wire(digest) for digest in digests]

    async with trio.open_nursery() as nursery:
        for i in range(len(keys)):
            nursery.start_soon(trio.to_thread.run_sync, work, i)
    for i in range(len(keys)):
        reference = coincurve.PrivateKey(bytes([i + 1]) * 32)
        for digest, wire in zip(digests, results[i], strict=True):
            rs = reference.sign_recoverable(digest, hasher=None)
            assert wire == {
                "r": hex(int.from_bytes(rs[:32], "big")),
                "s": hex(int.from_bytes(rs[32:64], "big")),
                "v": 27 + rs[64],
            }


# ----------------------------------------------------------------------------------- the signature parser

GOOD_R = "0x" + "1f" * 32


@pytest.mark.parametrize(
    ("r", "fragment"),
    [
        ("0x" + "1f" * 31 + " 1", "hex"),  # whitespace inside 64 characters: fromhex would skip it
        ("0x" + "1f " * 21 + "1", "hex"),  # 64 characters, spaces between bytes
        ("0x" + "1" * 65, "hex"),
        ("0x" + "0" * 64, "out of range"),
        ("0x" + "0" * 63 + "0", "out of range"),
        (hex(N), "out of range"),
        ("0x" + "f" * 64, "out of range"),
        ("0x" + "１" * 4, "hex"),  # full-width digits: int() would take them, the venue would not
        ("0X0x12", "hex"),
        ("+0x12", "hex"),
        ("0x", "hex"),
        ("", "hex"),
        (0, "out of range"),
        (N, "out of range"),
        (-5, "out of range"),
        (b"\x12", "hex string"),
        (1.0, "hex string"),
        (True, "hex string"),
    ],
)
def test_bad_scalars_are_refused_and_named(r: Any, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=rf"signature\.r .*{fragment}"):
        S.parse_signature({"r": r, "s": GOOD_R, "v": 27})
    with pytest.raises(ProtocolError, match=rf"signature\.s .*{fragment}"):
        S.recover_digest_signer(bytes(32), {"r": GOOD_R, "s": r, "v": 27})


@given(value=st.integers(1, N - 1), pad=st.booleans(), upper=st.booleans(), prefix=st.sampled_from(["0x", "0X", ""]))
def test_scalar_spellings_parse_to_the_same_number(value: int, pad: bool, upper: bool, prefix: str) -> None:
    digits = f"{value:064x}" if pad else f"{value:x}"
    text = prefix + (digits.upper() if upper else digits)
    assert S.parse_signature({"r": text, "s": value, "v": 28}) == (value, value, 1)


@pytest.mark.parametrize("v", [27, 28, 0, 1])
def test_v_forms(v: int) -> None:
    class Int(int):
        pass

    assert S.parse_signature({"r": GOOD_R, "s": GOOD_R, "v": v})[2] == v % 27
    assert S.parse_signature({"r": GOOD_R, "s": GOOD_R, "v": Int(v)})[2] == v % 27


@pytest.mark.parametrize("v", [29, 2, -1, 26, True, False, 27.0, "27", None])
def test_invalid_v_is_refused_and_named(v: Any) -> None:
    with pytest.raises(ProtocolError, match=r"signature\.v must be 27 or 28"):
        S.recover_digest_signer(bytes(32), {"r": GOOD_R, "s": GOOD_R, "v": v})


def test_high_s_recovers_like_eth_account() -> None:
    """The parser takes any s in 1..n-1, as eth-account's ``recover_message`` does (the SDK's recovery):
    libsecp256k1 signs low-s, and the high-s twin ``(r, n - s, v ^ 1)`` recovers the same address there.
    Whether Hyperliquid refuses high-s is not established (PROTOCOL.md says nothing), so this keeps
    eth-account's behaviour rather than guess."""
    signer = S.LocalSigner("0x" + "4f" * 32)
    digest = bytes(range(32))
    r, s, v = signer.sign_digest(digest)
    twin = {"r": hex(r), "s": hex(N - s), "v": 55 - v}
    assert N - s > N // 2
    assert S.recover_digest_signer(digest, twin) == signer.address
    assert Account._recover_hash(digest, vrs=(twin["v"], r, N - s)) == signer.address


def test_a_digest_of_the_wrong_length_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="does not recover"):
        S.recover_digest_signer(bytes(31), {"r": GOOD_R, "s": GOOD_R, "v": 27})
