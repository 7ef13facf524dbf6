"""Recoverable ECDSA sign and public-key recovery: libsecp256k1 called through coincurve's own cffi binding.

Why not coincurve's public ``PrivateKey.sign_recoverable`` / ``PublicKey.from_signature_and_message``: they are
the same two libsecp256k1 calls, but each call also allocates its cffi structures (``ffi.new`` three or four
times), builds intermediate ``bytes`` and, on recovery, a ``PublicKey`` object that is serialised straight
away.  Every order is signed once by the connector and recovered once by the emulator, so that wrapping is paid
on the hot path: measured with callgrind, it is ~11% of a whole signature and ~9% of a whole recovery.  Here
the structures are allocated once per thread and the C functions are called directly; the results are the
very bytes coincurve returns (tests compare the two on random keys and digests).

Thread safety: cffi releases the GIL around each C call, so two threads sharing one output buffer could read
each other's signature.  The buffers therefore live in a ``threading.local``: each thread gets its own.

Everything coincurve-internal this relies on (``coincurve._libsecp256k1``'s ``ffi``/``lib``, the global
context) is the stable surface coincurve's own modules import; the functions called are libsecp256k1's public,
documented API.  Inputs are checked here (32-byte digest, 64-byte signature, 32-byte secret) because a C
function handed a short ``bytes`` would read past its end.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

__all__ = ["recover_public_key", "sign_recoverable"]

_CTX: Final[Any] = GLOBAL_CONTEXT.ctx
_NULL: Final[Any] = ffi.NULL
_EC_UNCOMPRESSED: Final[int] = lib.SECP256K1_EC_UNCOMPRESSED
_sign = lib.secp256k1_ecdsa_sign_recoverable
_serialize_compact = lib.secp256k1_ecdsa_recoverable_signature_serialize_compact
_parse_compact = lib.secp256k1_ecdsa_recoverable_signature_parse_compact
_recover = lib.secp256k1_ecdsa_recover
_serialize_pubkey = lib.secp256k1_ec_pubkey_serialize


class _Scratch(threading.local):
    """One thread's C buffers, bundled in a tuple so a call pays one thread-local lookup."""

    def __init__(self) -> None:
        recoverable = ffi.new("secp256k1_ecdsa_recoverable_signature *")
        compact = ffi.new("unsigned char[64]")
        recid = ffi.new("int *")
        pubkey = ffi.new("secp256k1_pubkey *")
        serialized = ffi.new("unsigned char[65]")
        length = ffi.new("size_t *")
        self.sign = (recoverable, compact, recid, ffi.buffer(compact))
        self.recover = (recoverable, pubkey, serialized, length, ffi.buffer(serialized))


_scratch: Final = _Scratch()


def sign_recoverable(secret: bytes, digest: bytes) -> tuple[bytes, int]:
    """Deterministic (RFC 6979) low-s signature of a 32-byte ``digest``: ``(r ‖ s as 64 bytes, recovery id)``.

    ``secret`` must be a valid 32-byte key (the caller checked it once, when the key was loaded); the digest
    is signed as is (no hashing).  Raises ``ValueError`` for a digest that is not 32 bytes."""
    if type(digest) is not bytes or len(digest) != 32:
        raise ValueError("digest must be exactly 32 bytes")
    recoverable, compact, recid, view = _scratch.sign
    if not _sign(_CTX, recoverable, digest, secret, _NULL, _NULL):
        raise ValueError("libsecp256k1 refused to sign (invalid private key)")
    _serialize_compact(_CTX, compact, recid, recoverable)
    return view[:], recid[0]


def recover_public_key(signature64: bytes, recovery_id: int, digest: bytes) -> bytes | None:
    """The 64-byte ``x ‖ y`` public key that made ``signature64`` (r ‖ s) over ``digest``, or ``None`` if no
    key did (r or s zero or not below the group order, or no curve point for r).

    ``recovery_id`` must be 0..3 and ``digest`` 32 bytes (``ValueError`` otherwise).  Like eth-account (and
    coincurve) this accepts a high-s signature; the caller decides whether to refuse one."""
    if type(digest) is not bytes or len(digest) != 32:
        raise ValueError("digest must be exactly 32 bytes")
    if type(signature64) is not bytes or len(signature64) != 64:
        raise ValueError("signature must be exactly 64 bytes (r ‖ s)")
    if recovery_id not in (0, 1, 2, 3):
        raise ValueError("recovery id must be 0..3")
    recoverable, pubkey, serialized, length, view = _scratch.recover
    if not _parse_compact(_CTX, recoverable, signature64, recovery_id):
        return None
    if not _recover(_CTX, pubkey, recoverable, digest):
        return None
    length[0] = 65
    _serialize_pubkey(_CTX, serialized, length, pubkey, _EC_UNCOMPRESSED)
    key: bytes = view[1:]
    return key
