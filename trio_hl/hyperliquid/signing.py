"""Hyperliquid signing, byte-identical to the official SDK, on a fast path (PROTOCOL.md §1-§2).

Two schemes:

* **L1 actions** (orders, cancels, leverage, ...): ``connectionId = keccak(msgpack(action) ‖ nonce[8] ‖
  vault flag[+20 bytes] ‖ [0x00 ‖ expiresAfter[8]])``; the signer signs the EIP-712 struct
  ``Agent{source: "a" (mainnet) | "b" (testnet), connectionId}`` in the domain ``Exchange/1/1337/0x0``.
* **User-signed actions** (transfers, withdrawals, agent and builder approvals): the action dict itself is
  the EIP-712 message of primary type ``HyperliquidTransaction:<Name>`` in the domain
  ``HyperliquidSignTransaction/1/int(signatureChainId, 16)/0x0``.

Rule followed: the SDK's bytes are the specification — the msgpack of the action dict in the caller's key
order (written by msgspec, byte-identical to msgpack-python for JSON values), signatures as
``{"r": hex(r), "s": hex(s), "v": 27|28}`` with *unpadded* lowercase hex, deterministic RFC 6979 nonces
(libsecp256k1, the same scheme eth-keys uses), so equal inputs give equal signatures.

Rejected alternative: calling ``eth_account.Account.sign_message(encode_typed_data(...))`` like the SDK.  It
is correct but spends most of its time re-parsing the typed-data document; here the domain separators, type
hashes and ``keccak("a")``/``keccak("b")`` are precomputed, keccak is a C binding, and the signature is one
libsecp256k1 call (made through coincurve's cffi binding without its per-call wrapping, ``_secp256k1``), so
signing costs a few tens of microseconds.  Recovery is the mirror image: one libsecp256k1 public-key recovery
instead of eth-keys.

Mainnet vs testnet is always an explicit argument: the SDK signs as testnet for *any* base URL other than the
mainnet one (a local emulator included), and a wrong guess yields a valid signature of the wrong message.

Errors: bad arguments on the signing side raise :class:`~trio_hl.errors.InvalidOrderError` (a ``ValueError``);
anything wrong with a signature or message being *verified* (the emulator's side) raises
:class:`~trio_hl.errors.ProtocolError`.  Private keys never appear in reprs, exceptions or pickles.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final, NoReturn, Protocol, TypedDict, runtime_checkable

import attrs
import coincurve
import msgspec

from trio_hl.errors import ConfigError, InvalidOrderError, ProtocolError
from trio_hl.hyperliquid._eip712 import (
    ZERO_ADDRESS,
    Eip712EncodingError,
    StructType,
    domain_separator,
    hex_body,
    keccak256,
    keccak256_bytes,
    typed_data_digest,
)
from trio_hl.hyperliquid._secp256k1 import recover_public_key, sign_recoverable

__all__ = [
    "AGENT_TYPE",
    "APPROVE_AGENT",
    "APPROVE_BUILDER_FEE",
    "CONVERT_TO_MULTI_SIG_USER",
    "DEFAULT_SIGNATURE_CHAIN_ID",
    "L1_CHAIN_ID",
    "L1_DOMAIN_SEPARATOR",
    "SEND_ASSET",
    "SEND_MULTI_SIG",
    "SPOT_SEND",
    "TOKEN_DELEGATE",
    "USD_CLASS_TRANSFER",
    "USD_SEND",
    "USER_DEX_ABSTRACTION",
    "USER_SET_ABSTRACTION",
    "USER_SIGNED_ACTION_TYPES",
    "WITHDRAW",
    "LocalSigner",
    "Signature",
    "Signer",
    "UserSignedActionType",
    "action_hash",
    "action_preimage",
    "construct_phantom_agent",
    "format_signature",
    "hyperliquid_chain",
    "l1_digest",
    "l1_typed_data",
    "parse_signature",
    "recover_digest_signer",
    "recover_l1_signer",
    "recover_user_signed_signer",
    "sign_l1_action",
    "sign_user_action",
    "sign_user_signed_action",
    "to_checksum_address",
    "user_signed_digest",
    "user_signed_typed_data",
]

# secp256k1 group order.
_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

L1_CHAIN_ID: Final = 1337
"""EIP-712 chainId of the L1 ``Exchange`` domain, on mainnet and testnet alike."""

DEFAULT_SIGNATURE_CHAIN_ID: Final = "0x66eee"
"""The SDK hard-codes 0x66eee (421614) as ``signatureChainId`` for user-signed actions, on mainnet too."""

L1_DOMAIN_SEPARATOR: Final = domain_separator("Exchange", "1", L1_CHAIN_ID, ZERO_ADDRESS)

_EIP712_DOMAIN_FIELDS: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)

AGENT_TYPE: Final = StructType.from_fields("Agent", (("source", "string"), ("connectionId", "bytes32")))

_SOURCE: Final = {True: "a", False: "b"}
_SOURCE_HASH: Final = {True: keccak256(b"a"), False: keccak256(b"b")}


class Signature(TypedDict):
    """The wire form of a signature: ``r``/``s`` lowercase unpadded hex (as the SDK), ``v`` 27 or 28."""

    r: str
    s: str
    v: int


def _network(is_mainnet: Any) -> bool:
    # A truthy/falsy stand-in (None, "testnet", 1) would silently sign for the wrong network.
    if is_mainnet is True or is_mainnet is False:
        return is_mainnet
    raise InvalidOrderError(f"is_mainnet must be True or False, got {str(is_mainnet)[:20]!r}")


def hyperliquid_chain(is_mainnet: bool) -> str:
    """The ``hyperliquidChain`` value of user-signed actions: ``"Mainnet"`` or ``"Testnet"``."""
    return "Mainnet" if _network(is_mainnet) else "Testnet"


# --------------------------------------------------------------------------------------------------- signers


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign a 32-byte digest for one address (a local key, a remote signer, an HSM).

    ``sign_digest`` is called synchronously on the submit path; it must return ``(r, s, v)`` with ``v`` 27
    or 28 and sign the digest *as is* (no further hashing, no EIP-191 prefix).  A signer that needs typed
    data rather than a digest (a hardware wallet's ``eth_signTypedData_v4``) can use :func:`l1_typed_data` /
    :func:`user_signed_typed_data` to get the exact document.
    """

    @property
    def address(self) -> str:
        """The signer's checksummed ``0x`` address."""
        ...

    def sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        """Sign 32 bytes; return ``(r, s, v)``."""
        ...


def to_checksum_address(address: str | bytes) -> str:
    """EIP-55 mixed-case form of a 20-byte address (hex string of any case, or raw bytes)."""
    if isinstance(address, bytes):
        if len(address) != 20:
            raise ValueError(f"address must be 20 bytes, got {len(address)}")
        hex_lower = address.hex()
    else:
        body = hex_body(address, require_prefix=False)
        if body is None or len(body) != 40:
            raise ValueError(f"address must be 40 hex digits (optionally 0x-prefixed), got {str(address)[:60]!r}")
        hex_lower = body.lower()
    digest = keccak256(hex_lower.encode()).hex()
    return "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(hex_lower, digest[:40], strict=True))


_ADDRESS_CACHE_SIZE: Final = 4096
_address_by_key: dict[bytes, str] = {}


def _address_of(public_key: bytes) -> str:
    """The checksummed address of a 64-byte ``x ‖ y`` public key, memoised by those bytes.

    Why: the emulator recovers a signer for every posted action, and a venue sees the same few signers over
    and over; keccak plus the EIP-55 character loop cost ~10 µs on top of the libsecp256k1 recovery (measured
    on a 2-CPU box; a hit costs ~0.3 µs).  The memo is a bounded FIFO (oldest entry evicted), so signatures
    forged to recover random keys cannot grow it; a hit returns the very string a miss would compute."""
    address = _address_by_key.get(public_key)
    if address is None:
        address = to_checksum_address(keccak256(public_key)[-20:])
        if len(_address_by_key) >= _ADDRESS_CACHE_SIZE:
            del _address_by_key[next(iter(_address_by_key))]
        _address_by_key[public_key] = address
    return address


class LocalSigner:
    """A private key held in this process, signing with libsecp256k1 (coincurve).

    ``LocalSigner("0x<64 hex>")`` (or 32 raw bytes).  The key is never shown: ``repr``/``str`` give only the
    address, errors about a malformed key do not echo it, and pickling is refused (a pickled signer is a
    leaked key).  ``copy``/``deepcopy`` return the same object (it is immutable).
    """

    __slots__ = ("__weakref__", "_address", "_secret")

    def __init__(self, private_key: str | bytes) -> None:
        raw = _parse_private_key(private_key)
        try:
            key = coincurve.PrivateKey(raw)  # validates the range once; signing then uses the raw bytes
        except ValueError:
            raise ConfigError("private key is not a valid secp256k1 secret (must be in 1..n-1)") from None
        self._secret = raw
        self._address = _address_of(key.public_key.format(compressed=False)[1:])

    @classmethod
    def generate(cls) -> LocalSigner:
        """A fresh random key (``secrets``), e.g. for a new API wallet to approve with ``approveAgent``."""
        while True:
            raw = secrets.token_bytes(32)
            if 0 < int.from_bytes(raw, "big") < _N:
                return cls(raw)

    @property
    def address(self) -> str:
        """Checksummed ``0x`` address of the key."""
        return self._address

    def export_private_key_hex(self) -> str:
        """The key as ``0x``-prefixed hex.  The one deliberate way to get it out (to store a generated agent)."""
        return "0x" + self._secret.hex()

    def sign_digest(self, digest: bytes) -> tuple[int, int, int]:
        """Deterministic (RFC 6979) low-s ECDSA over a 32-byte digest; returns ``(r, s, v)``, v 27/28."""
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise ValueError("digest must be exactly 32 bytes")
        rs, recovery_id = sign_recoverable(self._secret, bytes(digest))
        return int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"), 27 + recovery_id

    def _sign_wire(self, digest: bytes) -> Signature:
        """:meth:`sign_digest` straight to the wire form (the hot path of :func:`sign_l1_action`): the hex of
        the 64 signature bytes, leading zeros stripped, is exactly ``hex(int)`` of r and s (neither is 0)."""
        rs, recovery_id = sign_recoverable(self._secret, digest)
        if recovery_id > 1:  # R.x >= n: probability ~2**-128, and no Ethereum v exists for it
            raise ConfigError(f"signer {self._address} produced recovery id {recovery_id}: sign another nonce")
        text = rs.hex()
        return {"r": "0x" + text[:64].lstrip("0"), "s": "0x" + text[64:].lstrip("0"), "v": 27 + recovery_id}

    def __repr__(self) -> str:
        return f"LocalSigner(address={self._address!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("LocalSigner holds a private key and cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("LocalSigner holds a private key and cannot be pickled")

    def __copy__(self) -> LocalSigner:
        return self

    def __deepcopy__(self, memo: Any) -> LocalSigner:
        return self


def _parse_private_key(private_key: str | bytes) -> bytes:
    # Every message here is about the *shape* of the key and never includes it; `from None` keeps the
    # underlying exception (which might quote it) out of the chain.
    if isinstance(private_key, bytes | bytearray):
        if len(private_key) != 32:
            raise ConfigError(f"private key must be 32 bytes, got {len(private_key)} bytes")
        return bytes(private_key)
    if not isinstance(private_key, str):
        raise ConfigError(f"private key must be a hex str or 32 bytes, got {type(private_key).__name__}")
    stripped = private_key.strip()
    length = len(stripped) - 2 if stripped[:2] in ("0x", "0X") else len(stripped)
    if length != 64:
        raise ConfigError(f"private key must be 64 hex digits (optionally 0x-prefixed), got {length} characters")
    body = hex_body(stripped, require_prefix=False)
    if body is None:
        raise ConfigError("private key is not valid hex")
    return bytes.fromhex(body)


# --------------------------------------------------------------------------------------------- signature I/O


def _sign(signer: Signer, digest: bytes) -> Signature:
    """Sign through any :class:`Signer`, normalising ``v`` 0/1 to 27/28 and refusing impossible output (a
    remote signer's bug must not turn into a request the venue attributes to some random address)."""
    r, s, v = signer.sign_digest(digest)
    if v in (0, 1):
        v += 27
    if not (0 < r < _N and 0 < s < _N and v in (27, 28)):
        raise ConfigError(f"signer {signer.address} returned an invalid signature (r, s out of range or v={v!r})")
    return format_signature(r, s, v)


def format_signature(r: int, s: int, v: int) -> Signature:
    """``{"r": hex(r), "s": hex(s), "v": v}`` exactly as the SDK (``eth_utils.to_hex``: no zero padding)."""
    return {"r": hex(r), "s": hex(s), "v": v}


_N_BYTES: Final = _N.to_bytes(32, "big")
_ZERO_32: Final = bytes(32)


def _scalar_bytes(name: str, value: Any) -> bytes:
    """A signature scalar as 32 big-endian bytes, checked to be in 1..n-1.

    Hex strings go through ``bytes.fromhex`` of the digits left-padded to 64: ~2.5x cheaper than a regex
    plus ``int(text, 16)`` plus ``to_bytes`` (measured), and just as strict, because ``fromhex`` refuses
    anything but hex digits and whitespace, and a whitespace inside at most 64 characters leaves fewer than
    32 bytes.  Equal-length big-endian bytes compare like the numbers they encode."""
    if type(value) is str:
        body = value[2:] if value[:2] in ("0x", "0X") else value
        if 0 < len(body) <= 64:
            try:
                raw = bytes.fromhex(body.rjust(64, "0"))
            except ValueError:
                raw = b""
            if len(raw) == 32:
                if _ZERO_32 < raw < _N_BYTES:
                    return raw
                raise ProtocolError(f"signature.{name} is out of range (must be in 1..n-1)")
        raise ProtocolError(f"signature.{name} must be hex of 1..64 digits, got {value[:80]!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 < value < _N:
            return value.to_bytes(32, "big")
        raise ProtocolError(f"signature.{name} is out of range (must be in 1..n-1)")
    if isinstance(value, str):  # a str subclass: checked like a str
        return _scalar_bytes(name, str(value))
    raise ProtocolError(f"signature.{name} must be a hex string, got {type(value).__name__}")


def _parse_signature_bytes(signature: Any) -> tuple[bytes, int]:
    """:func:`parse_signature` as ``(r ‖ s in 64 bytes, recovery id)``, the form libsecp256k1 takes."""
    # ``type() is dict`` first: a decoded JSON body is always a dict, and the ``Mapping`` ABC check is slow.
    if type(signature) is not dict and not isinstance(signature, Mapping):
        raise ProtocolError(f"signature must be an object with r, s, v; got {type(signature).__name__}")
    try:
        r_raw, s_raw, v = signature["r"], signature["s"], signature["v"]
    except KeyError:
        missing = [k for k in ("r", "s", "v") if k not in signature]
        raise ProtocolError(f"signature is missing {', '.join(missing)}") from None
    rs = _scalar_bytes("r", r_raw) + _scalar_bytes("s", s_raw)
    if type(v) is int:
        if v == 27 or v == 28:  # noqa: PLR1714 - the JSON case, first
            return rs, v - 27
        if v == 0 or v == 1:  # noqa: PLR1714
            return rs, v
    elif isinstance(v, int) and not isinstance(v, bool) and v in (27, 28, 0, 1):  # an int subclass
        return rs, v - 27 if v >= 27 else v
    raise ProtocolError(f"signature.v must be 27 or 28, got {str(v)[:20]!r}")


def parse_signature(signature: Any) -> tuple[int, int, int]:
    """Validate a wire signature ``{"r", "s", "v"}`` into ``(r, s, recovery_id)``.

    Accepts r/s with or without zero padding (the SDK does not pad, other clients do) and v 27/28 (or the
    raw recovery ids 0/1).  Anything else raises :class:`ProtocolError`.
    """
    rs, recovery_id = _parse_signature_bytes(signature)
    return int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"), recovery_id


def recover_digest_signer(digest: bytes, signature: Any) -> str:
    """The checksummed address whose key produced ``signature`` over ``digest`` (libsecp256k1 recovery)."""
    rs, recovery_id = _parse_signature_bytes(signature)
    try:
        public_key = recover_public_key(rs, recovery_id, digest)
    except ValueError:  # a digest that is not 32 bytes: nothing could have signed it
        public_key = None
    if public_key is None:
        raise ProtocolError("signature does not recover to any public key")
    return _address_of(public_key)


# ---------------------------------------------------------------------------------------------- L1 actions


def _check_uint64(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise InvalidOrderError(f"{name} must be an int in [0, 2**64), got {str(value)[:40]!r}")
    return value


def _vault_bytes(vault_address: Any) -> bytes:
    body = hex_body(vault_address, require_prefix=False)
    if body is not None and len(body) == 40:
        return bytes.fromhex(body)
    raise InvalidOrderError(f"vault_address must be a 0x-prefixed 20-byte hex address, got {str(vault_address)[:60]!r}")


#: The MessagePack encoder of ``msgpack(action)``: msgspec's, which writes msgpack-python's bytes (what the SDK
#: and the venue use) for every JSON value - dicts in key order, lists/tuples, str, int in -2**63..2**64-1 in the
#: shortest form, float as float64, bool, None; tests compare the two on generated values and at every length
#: boundary - in ~40% of msgpack-python's time (~0.35 µs less per signed order).
#:
#: Difference outside JSON: msgspec also encodes Decimal (as its string), UUID, enums, sets, dataclasses/attrs
#: and datetimes, which msgpack-python refuses.  An action is JSON by nature (the venue receives JSON), and those
#: values cannot reach it as signed: the connector and the SDK post with ``json.dumps``, which refuses every one
#: of them, so such an action fails before anything is sent either way (``wire`` builds actions of JSON values
#: only).
_pack: Final = msgspec.msgpack.Encoder().encode
_UINT64_MAX: Final = (1 << 64) - 1


def _pack_action(action: Any) -> bytes:
    try:
        packed: bytes = _pack(action)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise InvalidOrderError(f"action cannot be msgpack-encoded: {exc}") from exc
    return packed


def _preimage_tail(vault_address: Any, nonce: Any, expires_after: Any) -> bytes:
    """``nonce[8 BE] ‖ (0x00 | 0x01 ‖ vault[20]) ‖ [0x00 ‖ expiresAfter[8 BE]]``, each part checked."""
    head = _check_uint64("nonce", nonce).to_bytes(8, "big")
    vault = b"\x00" if vault_address is None else b"\x01" + _vault_bytes(vault_address)
    if expires_after is None:
        return head + vault
    return head + vault + b"\x00" + _check_uint64("expires_after", expires_after).to_bytes(8, "big")


def action_preimage(action: Any, vault_address: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The bytes whose keccak is the ``connectionId`` (PROTOCOL §1.1): ``msgpack(action) ‖ nonce[8 BE] ‖
    (0x00 | 0x01 ‖ vault[20]) ‖ [0x00 ‖ expiresAfter[8 BE]]``.  Exposed for debugging signature mismatches.

    ``action`` is packed with msgpack in its own key order, so it must be built in the SDK's key order
    (``trio_hl.hyperliquid.wire`` does that)."""
    return _pack_action(action) + _preimage_tail(vault_address, nonce, expires_after)


def action_hash(action: Any, vault_address: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The 32-byte ``connectionId`` of an L1 action, byte-identical to the SDK's ``action_hash``."""
    return keccak256(action_preimage(action, vault_address, nonce, expires_after))


def construct_phantom_agent(hash: bytes, is_mainnet: bool) -> dict[str, Any]:
    """The SDK's phantom agent ``{"source": "a"|"b", "connectionId": hash}`` (the signed L1 message)."""
    return {"source": _SOURCE[_network(is_mainnet)], "connectionId": hash}


# The constant parts of the two hashes over a connectionId: ``typeHash(Agent) ‖ keccak(source)`` per network,
# and ``0x19 0x01 ‖ domainSeparator`` (what ``hash_struct`` / ``typed_data_digest`` would rebuild on every call).
_AGENT_PREFIX: Final = {net: AGENT_TYPE.type_hash + _SOURCE_HASH[net] for net in (True, False)}
_AGENT_PREFIX_MAINNET: Final = _AGENT_PREFIX[True]
_AGENT_PREFIX_TESTNET: Final = _AGENT_PREFIX[False]
_L1_DIGEST_PREFIX: Final = b"\x19\x01" + L1_DOMAIN_SEPARATOR


def _packed_l1_digest(packed: bytes, vault_address: Any, nonce: Any, expires_after: Any, is_mainnet: Any) -> bytes:
    """:func:`l1_digest` of an action already msgpack-encoded.

    Written out flat (the three keccaks inline, the network and the common no-vault/no-expiry case tested by
    identity) because it runs once per signed order and once per order the emulator verifies: each Python
    call level it saves is ~0.5% of a signature."""
    if is_mainnet is True:
        agent_prefix = _AGENT_PREFIX_MAINNET
    elif is_mainnet is False:
        agent_prefix = _AGENT_PREFIX_TESTNET
    else:
        agent_prefix = _AGENT_PREFIX[_network(is_mainnet)]  # raises: not a bool
    if vault_address is None and expires_after is None and type(nonce) is int and 0 <= nonce <= _UINT64_MAX:
        preimage = packed + nonce.to_bytes(8, "big") + b"\x00"
    else:
        preimage = packed + _preimage_tail(vault_address, nonce, expires_after)
    return keccak256_bytes(_L1_DIGEST_PREFIX + keccak256_bytes(agent_prefix + keccak256_bytes(preimage)))


def l1_digest(action: Any, vault_address: str | None, nonce: int, expires_after: int | None, is_mainnet: bool) -> bytes:
    """The 32-byte EIP-712 digest a signer signs for an L1 action."""
    return _packed_l1_digest(_pack_action(action), vault_address, nonce, expires_after, is_mainnet)


def _typed_data(
    domain: dict[str, Any], primary_type: str, fields: Sequence[tuple[str, str]], message: Any
) -> dict[str, Any]:
    return {
        "domain": domain,
        "types": {
            primary_type: [{"name": n, "type": t} for n, t in fields],
            "EIP712Domain": [{"name": n, "type": t} for n, t in _EIP712_DOMAIN_FIELDS],
        },
        "primaryType": primary_type,
        "message": message,
    }


def l1_typed_data(
    action: Any, vault_address: str | None, nonce: int, expires_after: int | None, is_mainnet: bool
) -> dict[str, Any]:
    """The full EIP-712 document of an L1 action (the SDK's ``l1_payload``), for wallets that sign typed data.

    ``connectionId`` is ``0x``-hex so the document is JSON-serialisable."""
    connection_id = action_hash(action, vault_address, nonce, expires_after)
    domain = {"chainId": L1_CHAIN_ID, "name": "Exchange", "verifyingContract": ZERO_ADDRESS, "version": "1"}
    message = {"source": _SOURCE[_network(is_mainnet)], "connectionId": "0x" + connection_id.hex()}
    return _typed_data(domain, "Agent", AGENT_TYPE.fields, message)


def sign_l1_action(
    signer: Signer,
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
) -> Signature:
    """Sign an L1 action; the result equals the SDK's ``sign_l1_action`` for the same key and inputs."""
    try:
        packed: bytes = _pack(action)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise InvalidOrderError(f"action cannot be msgpack-encoded: {exc}") from exc
    digest = _packed_l1_digest(packed, vault_address, nonce, expires_after, is_mainnet)
    if type(signer) is LocalSigner:  # our own key: libsecp256k1 straight to the wire form
        return signer._sign_wire(digest)
    return _sign(signer, digest)


def recover_l1_signer(
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
    signature: Any,
) -> str:
    """The checksummed address that signed an L1 action (what the venue treats as the signer).

    A signature over a *different* message still recovers (to some other address), exactly as on the venue;
    only malformed input (bad r/s/v, an action msgpack cannot encode, a bad vault address or nonce) raises
    :class:`ProtocolError`."""
    try:
        packed: bytes = _pack(action)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise ProtocolError(f"action cannot be msgpack-encoded: {exc}") from exc
    try:
        digest = _packed_l1_digest(packed, vault_address, nonce, expires_after, is_mainnet)
    except InvalidOrderError as exc:
        raise ProtocolError(str(exc)) from exc
    return recover_digest_signer(digest, signature)


# ------------------------------------------------------------------------------------- user-signed actions


def _copy_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


@attrs.frozen
class UserSignedActionType:
    """One user-signed action kind: its wire ``type``, EIP-712 primary type and field list (PROTOCOL §2.2).

    ``defaults`` are values the venue assumes for fields a posted action may omit (``agentName`` → ``""``).
    """

    action_type: str | None
    primary_type: str
    fields: tuple[tuple[str, str], ...]
    defaults: Mapping[str, Any] = attrs.field(factory=dict, converter=_copy_mapping)
    struct: StructType = attrs.field(init=False, repr=False, eq=False)

    @struct.default
    def _compile(self) -> StructType:
        return StructType.from_fields(self.primary_type, self.fields)

    @property
    def payload_types(self) -> list[dict[str, str]]:
        """The field list in the SDK/eth-account shape ``[{"name": ..., "type": ...}, ...]`` (a fresh list)."""
        return [{"name": n, "type": t} for n, t in self.fields]


def _ust(
    action_type: str | None, name: str, *fields: str, defaults: Mapping[str, Any] | None = None
) -> UserSignedActionType:
    pairs = tuple((f.split(":")[0], f.split(":")[1]) for f in fields)
    return UserSignedActionType(
        action_type, f"HyperliquidTransaction:{name}", (("hyperliquidChain", "string"), *pairs), defaults or {}
    )


USD_SEND: Final = _ust("usdSend", "UsdSend", "destination:string", "amount:string", "time:uint64")
SPOT_SEND: Final = _ust("spotSend", "SpotSend", "destination:string", "token:string", "amount:string", "time:uint64")
WITHDRAW: Final = _ust("withdraw3", "Withdraw", "destination:string", "amount:string", "time:uint64")
USD_CLASS_TRANSFER: Final = _ust("usdClassTransfer", "UsdClassTransfer", "amount:string", "toPerp:bool", "nonce:uint64")
SEND_ASSET: Final = _ust(
    "sendAsset",
    "SendAsset",
    "destination:string",
    "sourceDex:string",
    "destinationDex:string",
    "token:string",
    "amount:string",
    "fromSubAccount:string",
    "nonce:uint64",
)
APPROVE_AGENT: Final = _ust(
    "approveAgent",
    "ApproveAgent",
    "agentAddress:address",
    "agentName:string",
    "nonce:uint64",
    defaults={"agentName": ""},
)
APPROVE_BUILDER_FEE: Final = _ust(
    "approveBuilderFee", "ApproveBuilderFee", "maxFeeRate:string", "builder:address", "nonce:uint64"
)
TOKEN_DELEGATE: Final = _ust(
    "tokenDelegate", "TokenDelegate", "validator:address", "wei:uint64", "isUndelegate:bool", "nonce:uint64"
)
USER_DEX_ABSTRACTION: Final = _ust(
    "userDexAbstraction", "UserDexAbstraction", "user:address", "enabled:bool", "nonce:uint64"
)
USER_SET_ABSTRACTION: Final = _ust(
    "userSetAbstraction", "UserSetAbstraction", "user:address", "abstraction:string", "nonce:uint64"
)
CONVERT_TO_MULTI_SIG_USER: Final = _ust(
    "convertToMultiSigUser", "ConvertToMultiSigUser", "signers:string", "nonce:uint64"
)
SEND_MULTI_SIG: Final = _ust(None, "SendMultiSig", "multiSigActionHash:bytes32", "nonce:uint64")
"""The multi-sig envelope: its message is ``{multiSigActionHash, nonce}``, not a posted action."""

USER_SIGNED_ACTION_TYPES: Final[Mapping[str, UserSignedActionType]] = {
    t.action_type: t
    for t in (
        USD_SEND,
        SPOT_SEND,
        WITHDRAW,
        USD_CLASS_TRANSFER,
        SEND_ASSET,
        APPROVE_AGENT,
        APPROVE_BUILDER_FEE,
        TOKEN_DELEGATE,
        USER_DEX_ABSTRACTION,
        USER_SET_ABSTRACTION,
        CONVERT_TO_MULTI_SIG_USER,
    )
    if t.action_type is not None
}
"""Every user-signed action kind by its wire ``type``."""

_BY_PRIMARY: Final = {t.struct.name: t for t in (*USER_SIGNED_ACTION_TYPES.values(), SEND_MULTI_SIG)}
_COMPILED: dict[tuple[str, tuple[tuple[str, str], ...]], StructType] = {}


def _struct_for(primary_type: str, payload_types: Sequence[Mapping[str, str]]) -> StructType:
    try:
        key = (primary_type, tuple((entry["name"], entry["type"]) for entry in payload_types))
    except (KeyError, TypeError):
        raise InvalidOrderError("payload_types must be a list of {'name': str, 'type': str} dicts") from None
    known = _BY_PRIMARY.get(primary_type)
    if known is not None and known.fields == key[1]:
        return known.struct
    struct = _COMPILED.get(key)
    if struct is None:
        try:
            struct = StructType.from_fields(primary_type, key[1])
        except Eip712EncodingError as exc:
            raise InvalidOrderError(str(exc)) from None
        if len(_COMPILED) < 256:  # bounded: callers normally pass a handful of static tables
            _COMPILED[key] = struct
    return struct


def _chain_id(signature_chain_id: Any) -> int:
    body = hex_body(signature_chain_id)
    if body is not None and len(body) <= 64:
        return int(body, 16)
    raise ValueError(f"signatureChainId must be a 0x-prefixed hex string, got {str(signature_chain_id)[:40]!r}")


_SEPARATOR_BY_CHAIN_ID: dict[str, bytes] = {}


def _user_signed_separator(signature_chain_id: Any) -> bytes:
    """The domain separator for a ``signatureChainId`` string, memoised by the string itself (a venue sees one
    or two: the SDK always sends ``0x66eee``), so a verification skips the hex parse and the lru_cache call.
    Bounded: strings past 64 entries are computed, not stored (a client can send any spelling)."""
    separator = _SEPARATOR_BY_CHAIN_ID.get(signature_chain_id) if type(signature_chain_id) is str else None
    if separator is None:
        separator = domain_separator("HyperliquidSignTransaction", "1", _chain_id(signature_chain_id), ZERO_ADDRESS)
        if type(signature_chain_id) is str and len(_SEPARATOR_BY_CHAIN_ID) < 64:
            _SEPARATOR_BY_CHAIN_ID[signature_chain_id] = separator
    return separator


def user_signed_digest(
    action: Mapping[str, Any],
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> bytes:
    """The EIP-712 digest of a user-signed action that already carries ``signatureChainId`` and
    ``hyperliquidChain``.  Raises :class:`InvalidOrderError` if a field is missing or mistyped."""
    struct = _struct_for(primary_type, payload_types)
    try:
        separator = _user_signed_separator(action.get("signatureChainId"))
        return typed_data_digest(separator, struct.hash_struct(action, defaults))
    except (Eip712EncodingError, ValueError) as exc:
        raise InvalidOrderError(str(exc)) from None


def user_signed_typed_data(
    action: Mapping[str, Any], payload_types: Sequence[Mapping[str, str]], primary_type: str
) -> dict[str, Any]:
    """The full EIP-712 document (the SDK's ``user_signed_payload``) for wallets that sign typed data."""
    struct = _struct_for(primary_type, payload_types)
    try:
        chain_id = _chain_id(action.get("signatureChainId"))
    except ValueError as exc:
        raise InvalidOrderError(str(exc)) from None
    domain = {
        "name": "HyperliquidSignTransaction",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": ZERO_ADDRESS,
    }
    return _typed_data(domain, primary_type, struct.fields, dict(action))


def sign_user_signed_action(
    signer: Signer,
    action: dict[str, Any],
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
    is_mainnet: bool,
    *,
    signature_chain_id: str = DEFAULT_SIGNATURE_CHAIN_ID,
) -> Signature:
    """Sign a user-signed action like the SDK's ``sign_user_signed_action``.

    **Mutates ``action``** exactly as the SDK does: sets ``action["signatureChainId"]`` (``"0x66eee"`` unless
    ``signature_chain_id`` says otherwise) and ``action["hyperliquidChain"]`` (``"Mainnet"``/``"Testnet"``),
    which land after the other keys, so the dict is then ready to post.
    """
    chain = hyperliquid_chain(is_mainnet)  # validate before mutating
    action["signatureChainId"] = signature_chain_id
    action["hyperliquidChain"] = chain
    return _sign(signer, user_signed_digest(action, payload_types, primary_type))


def sign_user_action(
    signer: Signer,
    action: dict[str, Any],
    is_mainnet: bool,
    *,
    signature_chain_id: str = DEFAULT_SIGNATURE_CHAIN_ID,
) -> Signature:
    """:func:`sign_user_signed_action` with the type table looked up from ``action["type"]`` (mutates)."""
    kind = USER_SIGNED_ACTION_TYPES.get(action.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise InvalidOrderError(f"not a user-signed action type: {str(action.get('type'))[:40]!r}")
    return sign_user_signed_action(
        signer, action, kind.payload_types, kind.primary_type, is_mainnet, signature_chain_id=signature_chain_id
    )


def recover_user_signed_signer(action: Any, signature: Any, is_mainnet: bool | None = None) -> str:
    """The checksummed address that signed a posted user-signed action (the venue's check, PROTOCOL §11.3).

    The domain chainId comes from ``action["signatureChainId"]``, the field list from ``action["type"]``, and
    ``hyperliquidChain`` from the action itself; a missing ``agentName`` counts as ``""``.  If ``is_mainnet``
    is given, an action whose ``hyperliquidChain`` names the other network is rejected.  Malformed input
    raises :class:`ProtocolError`."""
    if type(action) is not dict and not isinstance(action, Mapping):  # decoded JSON: a dict, checked first
        raise ProtocolError(f"action must be an object, got {type(action).__name__}")
    action_type = action.get("type")
    kind = USER_SIGNED_ACTION_TYPES.get(action_type) if isinstance(action_type, str) else None
    if kind is None:
        raise ProtocolError(f"not a user-signed action type: {str(action_type)[:40]!r}")
    if is_mainnet is not None and action.get("hyperliquidChain") != (
        "Mainnet" if is_mainnet is True else "Testnet" if is_mainnet is False else hyperliquid_chain(is_mainnet)
    ):
        raise ProtocolError(
            f"hyperliquidChain {str(action.get('hyperliquidChain'))[:20]!r} does not match this venue "
            f"({hyperliquid_chain(is_mainnet)!r})"
        )
    try:
        separator = _user_signed_separator(action.get("signatureChainId"))
        digest = typed_data_digest(separator, kind.struct.hash_struct(action, kind.defaults))
    except (Eip712EncodingError, ValueError) as exc:
        raise ProtocolError(str(exc)) from None
    return recover_digest_signer(digest, signature)
